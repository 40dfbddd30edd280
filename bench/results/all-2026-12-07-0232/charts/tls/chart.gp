set terminal pngcairo size 1100,1050 font 'sans,10'
set output "../../tls.png"
set termoption noenhanced
set datafile separator '\t'
set multiplot layout 3,2 title "TLS termination: portico vs peers (higher is better)" font 'sans,12'
set style fill solid 0.9 border -1
set boxwidth 0.65
set grid ytics
unset key
set xtics scale 0
set xrange [-0.6:3.6]
set title "full handshakes per CPU-second"
set yrange [0:5229.906735751295]
set format y '%.0f'
set arrow 1 from graph 0, first 4432.124352331606 to graph 1, first 4432.124352331606 nohead dt 2 lw 2 lc rgb '#cc0000' front
set label 1 "target: 2x nginx" at graph 0.99, first 4432.124352331606 right offset 0,0.7 tc rgb '#cc0000' front
plot 'data' using 0:3:2:xtic(1) with boxes lc rgb variable, '' using 0:4:5 with labels offset 0,0.7
unset arrow 1
unset label 1
set title "full handshakes/s"
set yrange [0:1087.8527272727272]
set format y '%.0f'
plot 'data' using 0:6:2:xtic(1) with boxes lc rgb variable, '' using 0:7:8 with labels offset 0,0.7
unset arrow 1
unset label 1
set title "resumed handshakes per CPU-second"
set yrange [0:7434.858181818182]
set format y '%.0f'
set arrow 1 from graph 0, first 6300.727272727273 to graph 1, first 6300.727272727273 nohead dt 2 lw 2 lc rgb '#cc0000' front
set label 1 "target: 2x nginx" at graph 0.99, first 6300.727272727273 right offset 0,0.7 tc rgb '#cc0000' front
plot 'data' using 0:9:2:xtic(1) with boxes lc rgb variable, '' using 0:10:11 with labels offset 0,0.7
unset arrow 1
unset label 1
set title "resumed handshakes/s"
set yrange [0:2208.530909090909]
set format y '%.0f'
plot 'data' using 0:12:2:xtic(1) with boxes lc rgb variable, '' using 0:13:14 with labels offset 0,0.7
unset arrow 1
unset label 1
set title "keep-alive requests per CPU-second"
set yrange [0:240755.19716885738]
set format y '%.0f'
set arrow 1 from graph 0, first 204029.8281092012 to graph 1, first 204029.8281092012 nohead dt 2 lw 2 lc rgb '#cc0000' front
set label 1 "target: 1.4x nginx" at graph 0.99, first 204029.8281092012 right offset 0,0.7 tc rgb '#cc0000' front
plot 'data' using 0:15:2:xtic(1) with boxes lc rgb variable, '' using 0:16:17 with labels offset 0,0.7
unset arrow 1
unset label 1
set title "keep-alive requests/s"
set yrange [0:181370.20594059405]
set format y '%.0f'
plot 'data' using 0:18:2:xtic(1) with boxes lc rgb variable, '' using 0:19:20 with labels offset 0,0.7
unset arrow 1
unset label 1
unset multiplot

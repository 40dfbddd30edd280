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
set yrange [0:6494.321126760563]
set format y '%.0f'
set arrow 1 from graph 0, first 5503.661971830986 to graph 1, first 5503.661971830986 nohead dt 2 lw 2 lc rgb '#cc0000' front
set label 1 "target: 2x nginx" at graph 0.99, first 5503.661971830986 right offset 0,0.7 tc rgb '#cc0000' front
plot 'data' using 0:3:2:xtic(1) with boxes lc rgb variable, '' using 0:4:5 with labels offset 0,0.7
unset arrow 1
unset label 1
set title "full handshakes/s"
set yrange [0:1132.1563636363637]
set format y '%.0f'
plot 'data' using 0:6:2:xtic(1) with boxes lc rgb variable, '' using 0:7:8 with labels offset 0,0.7
unset arrow 1
unset label 1
set title "resumed handshakes per CPU-second"
set yrange [0:8146.306569343066]
set format y '%.0f'
set arrow 1 from graph 0, first 6903.649635036497 to graph 1, first 6903.649635036497 nohead dt 2 lw 2 lc rgb '#cc0000' front
set label 1 "target: 2x nginx" at graph 0.99, first 6903.649635036497 right offset 0,0.7 tc rgb '#cc0000' front
plot 'data' using 0:9:2:xtic(1) with boxes lc rgb variable, '' using 0:10:11 with labels offset 0,0.7
unset arrow 1
unset label 1
set title "resumed handshakes/s"
set yrange [0:2455.6872727272726]
set format y '%.0f'
plot 'data' using 0:12:2:xtic(1) with boxes lc rgb variable, '' using 0:13:14 with labels offset 0,0.7
unset arrow 1
unset label 1
set title "keep-alive requests per CPU-second"
set yrange [0:268510.5789581205]
set format y '%.0f'
set arrow 1 from graph 0, first 227551.33810010212 to graph 1, first 227551.33810010212 nohead dt 2 lw 2 lc rgb '#cc0000' front
set label 1 "target: 1.4x nginx" at graph 0.99, first 227551.33810010212 right offset 0,0.7 tc rgb '#cc0000' front
plot 'data' using 0:15:2:xtic(1) with boxes lc rgb variable, '' using 0:16:17 with labels offset 0,0.7
unset arrow 1
unset label 1
set title "keep-alive requests/s"
set yrange [0:205773.30693069304]
set format y '%.0f'
plot 'data' using 0:18:2:xtic(1) with boxes lc rgb variable, '' using 0:19:20 with labels offset 0,0.7
unset arrow 1
unset label 1
unset multiplot

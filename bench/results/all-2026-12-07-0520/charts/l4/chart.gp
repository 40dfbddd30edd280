set terminal pngcairo size 1100,720 font 'sans,10'
set output "../../l4.png"
set termoption noenhanced
set datafile separator '\t'
set multiplot layout 2,2 title "L4 (TCP) proxying: portico vs peers (higher is better)" font 'sans,12'
set style fill solid 0.9 border -1
set boxwidth 0.65
set grid ytics
unset key
set xtics scale 0
set xrange [-0.6:4.6]
set title "stream: GiB per CPU-second"
set yrange [0:3.277777777777777]
set format y '%.2f'
set arrow 1 from graph 0, first 2.6666666666666665 to graph 1, first 2.6666666666666665 nohead dt 2 lw 2 lc rgb '#cc0000' front
set label 1 "target: 1.2x nginx" at graph 0.99, first 2.6666666666666665 right offset 0,0.7 tc rgb '#cc0000' front
plot 'data' using 0:3:2:xtic(1) with boxes lc rgb variable, '' using 0:4:5 with labels offset 0,0.7
unset arrow 1
unset label 1
set title "stream: MiB/s"
set yrange [0:1843.34998]
set format y '%.0f'
plot 'data' using 0:6:2:xtic(1) with boxes lc rgb variable, '' using 0:7:8 with labels offset 0,0.7
unset arrow 1
unset label 1
set title "storm: connections per CPU-second"
set yrange [0:51767.77489177488]
set format y '%.0f'
set arrow 1 from graph 0, first 43246.666666666664 to graph 1, first 43246.666666666664 nohead dt 2 lw 2 lc rgb '#cc0000' front
set label 1 "target: 1.2x haproxy" at graph 0.99, first 43246.666666666664 right offset 0,0.7 tc rgb '#cc0000' front
plot 'data' using 0:9:2:xtic(1) with boxes lc rgb variable, '' using 0:10:11 with labels offset 0,0.7
unset arrow 1
unset label 1
set title "storm: connections/s"
set yrange [0:47828.231999999996]
set format y '%.0f'
plot 'data' using 0:12:2:xtic(1) with boxes lc rgb variable, '' using 0:13:14 with labels offset 0,0.7
unset arrow 1
unset label 1
unset multiplot

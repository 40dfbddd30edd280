set terminal pngcairo size 1100,390 font 'sans,10'
set output "../../dns.png"
set termoption noenhanced
set datafile separator '\t'
set multiplot layout 1,2 title "DNS caching forwarder (cache hits): portico vs peers (higher is better)" font 'sans,12'
set style fill solid 0.9 border -1
set boxwidth 0.65
set grid ytics
unset key
set xtics scale 0
set xrange [-0.6:3.6]
set title "queries per CPU-second"
set yrange [0:790913.677148847]
set format y '%.0f'
set arrow 1 from graph 0, first 670265.8280922433 to graph 1, first 670265.8280922433 nohead dt 2 lw 2 lc rgb '#cc0000' front
set label 1 "target: 2x unbound" at graph 0.99, first 670265.8280922433 right offset 0,0.7 tc rgb '#cc0000' front
plot 'data' using 0:3:2:xtic(1) with boxes lc rgb variable, '' using 0:4:5 with labels offset 0,0.7
unset arrow 1
unset label 1
set title "queries/s"
set yrange [0:447476.60874838]
set format y '%.0f'
plot 'data' using 0:6:2:xtic(1) with boxes lc rgb variable, '' using 0:7:8 with labels offset 0,0.7
unset arrow 1
unset label 1
unset multiplot

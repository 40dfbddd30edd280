set terminal pngcairo size 1100,390 font 'sans,10'
set output "../../http.png"
set termoption noenhanced
set datafile separator '\t'
set multiplot layout 1,2 title "HTTP/1.1 reverse proxying: portico vs peers (higher is better)" font 'sans,12'
set style fill solid 0.9 border -1
set boxwidth 0.65
set grid ytics
unset key
set xtics scale 0
set xrange [-0.6:3.6]
set title "keep-alive: requests per CPU-second"
set yrange [0:177677.2121827411]
set format y '%.0f'
set arrow 1 from graph 0, first 150573.9086294416 to graph 1, first 150573.9086294416 nohead dt 2 lw 2 lc rgb '#cc0000' front
set label 1 "target: 1.4x nginx" at graph 0.99, first 150573.9086294416 right offset 0,0.7 tc rgb '#cc0000' front
plot 'data' using 0:3:2:xtic(1) with boxes lc rgb variable, '' using 0:4:5 with labels offset 0,0.7
unset arrow 1
unset label 1
set title "keep-alive: requests/s"
set yrange [0:137884.7936]
set format y '%.0f'
plot 'data' using 0:6:2:xtic(1) with boxes lc rgb variable, '' using 0:7:8 with labels offset 0,0.7
unset arrow 1
unset label 1
unset multiplot

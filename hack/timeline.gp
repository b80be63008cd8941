# gnuplot script for make run's timeline: gnuplot -e "in='timeline.csv'; out='timeline.png'" timeline.gp
set datafile separator ","
set terminal pngcairo size 1100,700 noenhanced
set output out
set multiplot layout 3,1 title "mcp-autoscaler: make run"
set key top left
set grid
set xlabel "seconds"
set ylabel "requests/s"
plot in using 1:2 skip 1 with lines lw 2 title "load (sent)"
set ylabel "count"
plot in using 1:3 skip 1 with steps lw 2 title "replicas (spec)", \
     in using 1:4 skip 1 with steps lw 1 dt 2 title "ready", \
     in using 1:5 skip 1 with steps lw 2 title "pool size per pod"
set ylabel "ms"
plot in using 1:6 skip 1 with lines lw 2 title "client p99 latency"
unset multiplot

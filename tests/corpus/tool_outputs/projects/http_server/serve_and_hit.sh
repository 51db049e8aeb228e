python -m http.server 8799 --bind 127.0.0.1 --directory more-itertools > access.log 2>&1 &
pid=$!
sleep 1
for i in $(seq 1 120); do curl -s -o /dev/null http://127.0.0.1:8799/README.rst; done
for i in $(seq 1 40); do curl -s -o /dev/null http://127.0.0.1:8799/missing-$((i % 4)).txt; done
for i in $(seq 1 60); do curl -s -o /dev/null http://127.0.0.1:8799/more_itertools/; done
kill $pid
cat access.log

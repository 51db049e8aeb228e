uvicorn app:app --port 8798 --host 127.0.0.1 > app.log 2>&1 &
pid=$!
sleep 3
for i in $(seq 1 150); do curl -s -o /dev/null http://127.0.0.1:8798/items/$i; done
curl -s -o /dev/null http://127.0.0.1:8798/items/not-a-number
kill $pid
sleep 1
cat app.log

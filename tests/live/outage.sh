#!/usr/bin/env bash
# Exporter outage check, driven by tests/export_outage.rs: in a fresh network namespace, an
# HTTP server and a client that keeps calling it while wirespan captures the loopback device
# as an agent exporting to tests/otlp/outage_collector.py, whose endpoint first refuses, then
# hangs, then answers 503, then works (REFUSE_S, HANG_S, FAIL_S). wirespan's resident memory is
# sampled every 0.5 s. After TRAFFIC_S seconds of calls wirespan is stopped with SIGTERM: at
# once (DRAIN=0), or once the endpoint works and has taken nothing new for 3 s (DRAIN=1).
#
#   outage.sh WIRESPAN OUTDIR REFUSE_S HANG_S FAIL_S TRAFFIC_S DRAIN [WIRESPAN ARGS...]
#
# Writes OUTDIR/live.jsonl (spans), live.stderr, collected.jsonl(.phases), rss (kB per sample),
# calls (the client's count), stop_s (seconds from SIGTERM to exit). Needs root and iproute2.
set -euo pipefail
WIRESPAN=$1
OUT=$2
REFUSE=$3 HANG=$4 FAIL=$5 TRAFFIC=$6 DRAIN=$7
shift 7
HERE=$(cd "$(dirname "$0")/.." && pwd)
NS=wso-$$
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  ip netns del "$NS" 2>/dev/null || true
}
trap cleanup EXIT
mkdir -p "$OUT"
ip netns add "$NS"
ip -n "$NS" link set lo up
in_ns=(ip netns exec "$NS")

cat > "$OUT/server.py" <<'PY'
import http.server
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b"x" * 200
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", 8080), H).serve_forever()
PY
cat > "$OUT/client.py" <<'PY'
import http.client, sys, time
end = time.monotonic() + float(sys.argv[1])
calls = 0
while time.monotonic() < end:
    c = http.client.HTTPConnection("127.0.0.1", 8080, timeout=5)
    for i in range(20):
        c.request("GET", "/item/%d" % calls)
        c.getresponse().read()
        calls += 1
        time.sleep(0.005)
    c.close()
open(sys.argv[2], "w").write(str(calls))
PY
"${in_ns[@]}" python3 "$OUT/server.py" &
PIDS+=($!)
"${in_ns[@]}" "$WIRESPAN" capture -i lo -o "$OUT/live.jsonl" --host-name test \
  --export http://127.0.0.1:4318/v1/traces "$@" tcp port 8080 2>"$OUT/live.stderr" &
WS=$!
PIDS+=($WS)
for _ in $(seq 1 100); do
  if grep -q "capturing on" "$OUT/live.stderr" 2>/dev/null \
     && "${in_ns[@]}" python3 -c "import socket; socket.create_connection(('127.0.0.1', 8080), 0.2)" 2>/dev/null; then
    break
  fi
  sleep 0.1
done
( while kill -0 "$WS" 2>/dev/null; do
    awk '/VmRSS/ {print $2}' /proc/"$WS"/status 2>/dev/null || true
    sleep 0.5
  done > "$OUT/rss" ) &
PIDS+=($!)
# The endpoint's timeline starts with the traffic.
"${in_ns[@]}" python3 "$HERE/otlp/outage_collector.py" 4318 "$OUT/collected.jsonl" "$REFUSE" "$HANG" "$FAIL" &
PIDS+=($!)
"${in_ns[@]}" python3 "$OUT/client.py" "$TRAFFIC" "$OUT/calls"
if [ "$DRAIN" = 1 ]; then
  # Until the endpoint works and the queue has drained into it (nothing new for 3 s).
  last=-1 still=0
  for _ in $(seq 1 240); do
    now=0
    [ -f "$OUT/collected.jsonl" ] && now=$(wc -l < "$OUT/collected.jsonl")
    if [ "$now" -gt 0 ] && [ "$now" = "$last" ]; then still=$((still + 1)); else still=0; fi
    [ "$still" -ge 6 ] && break
    last=$now
    sleep 0.5
  done
fi
t0=$(date +%s.%N)
kill -TERM "$WS"
code=0
wait "$WS" || code=$?
python3 -c "print(round($(date +%s.%N) - $t0, 2))" > "$OUT/stop_s"
echo "$code" > "$OUT/exit"

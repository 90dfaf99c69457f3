#!/usr/bin/env bash
# Live-capture check, driven by tests/live_capture.rs: two network namespaces joined by a veth
# pair and by a real VXLAN overlay on top of it (VNI 4343), a real HTTP server (nginx when it is
# installed, else Python's http.server; HTTP/1.1 keep-alive) in one, a client in the other that
# calls the server both
# directly and across the overlay. wirespan captures live on the client's veth (underlay: plain
# and VXLAN-encapsulated traffic) and on its VXLAN device at once, while one tcpdump per
# interface records the same.
#
#   WS_ARGS="--threads 2" WS_IFACE=any run-live.sh WIRESPAN OUTDIR [FILTER...]
#
# WS_APP_SPANS=URL also posts the calls' app spans to wirespan's OTLP receiver; WS_METRICS=ADDR
# scrapes wirespan's metrics endpoint before stopping it (OUTDIR/metrics.txt). With
# WS_COLLECTOR_PORT, an OTLP collector listens there in the client's namespace first.
#
# Writes OUTDIR/live.jsonl (wirespan's spans), OUTDIR/veth.pcap and OUTDIR/vx.pcap (tcpdump),
# OUTDIR/live.stderr, OUTDIR/ifaces (the two interface names) and OUTDIR/client.json (what the
# client sent and got). Needs root and iproute2; cleans up whatever happens.
set -euo pipefail
WIRESPAN=$1
OUT=$2
shift 2
FILTER=("$@")
NS_A=wsl-cli-$$
NS_B=wsl-srv-$$
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  ip netns del "$NS_A" 2>/dev/null || true
  ip netns del "$NS_B" 2>/dev/null || true
}
trap cleanup EXIT
mkdir -p "$OUT"
ip netns add "$NS_A"
ip netns add "$NS_B"
# No IPv6 autoconfiguration chatter: every packet on the wire is the test's own.
for ns in "$NS_A" "$NS_B"; do
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip link add wsl-a$$ type veth peer name wsl-b$$
ip link set wsl-a$$ netns "$NS_A"
ip link set wsl-b$$ netns "$NS_B"
ip -n "$NS_A" addr add 10.203.0.1/24 dev wsl-a$$
ip -n "$NS_B" addr add 10.203.0.2/24 dev wsl-b$$
ip -n "$NS_A" link set wsl-a$$ up
ip -n "$NS_B" link set wsl-b$$ up
ip -n "$NS_A" link set lo up
ip -n "$NS_B" link set lo up
ip -n "$NS_A" link add vxa$$ type vxlan id 4343 local 10.203.0.1 remote 10.203.0.2 dstport 4789 dev wsl-a$$
ip -n "$NS_B" link add vxb$$ type vxlan id 4343 local 10.203.0.2 remote 10.203.0.1 dstport 4789 dev wsl-b$$
ip -n "$NS_A" addr add 10.204.0.1/24 dev vxa$$
ip -n "$NS_B" addr add 10.204.0.2/24 dev vxb$$
ip -n "$NS_A" link set vxa$$ up
ip -n "$NS_B" link set vxb$$ up
echo "wsl-a$$ vxa$$" > "$OUT/ifaces"

cat > "$OUT/server.py" <<'PY'
import http.server, socketserver, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path.startswith("/missing"):
            self.reply(404, b"no such thing")
        else:
            self.reply(200, b"x" * int(self.path.rsplit("/", 1)[-1] or 1))
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(n)
        self.reply(201, b"created")
    def log_message(self, *a):
        pass
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer(("0.0.0.0", 8080), H).serve_forever()
PY
cat > "$OUT/client.py" <<'PY'
import http.client, json, sys, time
calls = []
for conn_no in range(4):
    # Connections 0 and 2 go straight over the veth, 1 and 3 across the VXLAN overlay.
    server = "10.203.0.2" if conn_no % 2 == 0 else "10.204.0.2"
    c = http.client.HTTPConnection(server, 8080, timeout=5)
    for i, (method, path, body) in enumerate([("GET", "/bytes/%d" % (100 + conn_no), None),
                                               ("POST", "/items", b"p" * 50),
                                               ("GET", "/missing/thing", None),
                                               ("GET", "/bytes/20000", None)]):
        traceparent = "00-%032x-%016x-01" % (conn_no * 10 + i + 1, conn_no * 10 + i + 1)
        start = time.time_ns()
        c.request(method, path, body=body, headers={"traceparent": traceparent})
        r = c.getresponse()
        data = r.read()
        end = time.time_ns()
        calls.append({"method": method, "path": path, "status": r.status, "response_body_size": len(data),
                      "request_body_size": len(body or b""), "client_port": c.sock.getsockname()[1],
                      "server_address": server, "traceparent": traceparent, "start_ns": start, "end_ns": end})
    # Held a moment, as a client's pool holds its connections: long enough for the owner of
    # its socket to be looked up (a connection of a few milliseconds is gone before that).
    time.sleep(0.2)
    c.close()
    time.sleep(0.05)
json.dump({"calls": calls}, open(sys.argv[1], "w"), indent=2, sort_keys=True)
PY
if command -v nginx >/dev/null 2>&1; then
  # nginx serves the same answers: files of the requested sizes, 201 for POST, 404 otherwise.
  mkdir -p "$OUT/www/bytes" "$OUT/nginx"
  for n in 100 101 102 103 20000; do head -c "$n" /dev/zero | tr '\0' x > "$OUT/www/bytes/$n"; done
  cat > "$OUT/nginx/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $OUT/nginx/nginx.pid;
error_log $OUT/nginx/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $OUT/nginx/body;
  proxy_temp_path $OUT/nginx/proxy;
  fastcgi_temp_path $OUT/nginx/fastcgi;
  uwsgi_temp_path $OUT/nginx/uwsgi;
  scgi_temp_path $OUT/nginx/scgi;
  keepalive_requests 1000;
  server {
    listen 8080;
    root $OUT/www;
    default_type application/octet-stream;
    location = /items { if (\$request_method = POST) { return 201 "created"; } }
    location /missing { return 404 "no such thing"; }
  }
}
NGX
  ip netns exec "$NS_B" nginx -c "$OUT/nginx/nginx.conf" -p "$OUT/nginx" &
  echo nginx > "$OUT/server"
else
  ip netns exec "$NS_B" python3 "$OUT/server.py" &
  echo python > "$OUT/server"
fi
PIDS+=($!)
ip netns exec "$NS_A" tcpdump -i wsl-a$$ -s 0 -U --immediate-mode --time-stamp-precision=nano -w "$OUT/veth.pcap" 2>"$OUT/tcpdump.stderr" &
TD=$!
PIDS+=($TD)
ip netns exec "$NS_A" tcpdump -i vxa$$ -s 0 -U --immediate-mode --time-stamp-precision=nano -w "$OUT/vx.pcap" 2>"$OUT/tcpdump2.stderr" &
TD2=$!
PIDS+=($TD2)
if [ -n "${WS_COLLECTOR_PORT:-}" ]; then
  # An OTLP collector beside wirespan for its exports (OUTDIR/collector.jsonl: the metrics).
  ip netns exec "$NS_A" python3 "$(dirname "$0")/../metrics/collector.py" "$WS_COLLECTOR_PORT" 0 "$OUT/collector.jsonl" 2>"$OUT/collector.stderr" &
  PIDS+=($!)
  for _ in $(seq 1 50); do
    ip netns exec "$NS_A" python3 -c "import socket; socket.create_connection(('127.0.0.1', $WS_COLLECTOR_PORT), 0.2)" 2>/dev/null && break
    sleep 0.1
  done
fi
# shellcheck disable=SC2086
ip netns exec "$NS_A" "$WIRESPAN" capture -i "${WS_IFACE:-wsl-a$$,vxa$$}" -o "$OUT/live.jsonl" --stats --host-name test ${WS_ARGS:-} "${FILTER[@]}" 2>"$OUT/live.stderr" &
WS=$!
PIDS+=($WS)
# Both capturers ready, and the server listening.
for _ in $(seq 1 100); do
  if grep -q "capturing on" "$OUT/live.stderr" 2>/dev/null && grep -q "listening on" "$OUT/tcpdump.stderr" 2>/dev/null \
     && grep -q "listening on" "$OUT/tcpdump2.stderr" 2>/dev/null \
     && ip netns exec "$NS_B" python3 -c "import socket; socket.create_connection(('10.203.0.2', 8080), 0.2)" 2>/dev/null; then
    break
  fi
  sleep 0.1
done
# The capture's effective capabilities, every thread, once it runs (it drops them all).
for t in /proc/"$WS"/task/*; do echo "$(cat "$t/comm") $(grep CapEff "$t/status")"; done > "$OUT/capeff" 2>/dev/null || true
ip netns exec "$NS_A" python3 "$OUT/client.py" "$OUT/client.json"
if [ -n "${WS_APP_SPANS:-}" ]; then
  # The apps' spans, as their SDKs would export them, to wirespan's receiver.
  ip netns exec "$NS_A" python3 "$(dirname "$0")/send_app_spans.py" "$OUT/client.json" "$WS_APP_SPANS" >/dev/null
fi
if [ -n "${WS_METRICS:-}" ]; then
  # A Prometheus scrape once the correlation window has let everything go (3 s in the test:
  # longer than the client runs, ~1.1 s with its connections held, so that the first calls
  # still wait when the apps' spans come, sent after the last; 1 s lost that race under load).
  sleep 4.5
  ip netns exec "$NS_A" python3 -c "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen('http://$WS_METRICS/metrics', timeout=5).read().decode())" > "$OUT/metrics.txt"
fi
sleep 0.3
kill -TERM "$WS"
wait "$WS"
echo "wirespan exit 0"
kill -INT "$TD" "$TD2"
wait "$TD" || true
wait "$TD2" || true

#!/usr/bin/env bash
# Regenerate pcaps/push/: HTTP/2 server push from a real server to a real client.
#
#   sudo bash pcaps/push/gen-push.sh
#
# Two network namespaces joined by a veth pair: the client (10.206.0.1, nghttp from
# nghttp2-client, which accepts pushes) and the server (10.206.0.2) running nginx 1.22 with
# HTTP/2 prior knowledge on :8080, which answers /index.html and pushes /style.css with it.
# Captured on the server's veth: push.pcap; the files' sizes: push.expected.json.
# Needs root, iproute2, tcpdump, nginx (http_v2, http2_push), nghttp, python3.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NS_CLI=wpu-cli
NS_SRV=wpu-srv
SERVER=10.206.0.2
WORK="$(mktemp -d /tmp/wirespan-push.XXXXXX)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    ip netns del "$NS_CLI" 2>/dev/null || true
    ip netns del "$NS_SRV" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
ip netns del "$NS_CLI" 2>/dev/null || true
ip netns del "$NS_SRV" 2>/dev/null || true
ip netns add "$NS_CLI"
ip netns add "$NS_SRV"
ip link add wpu-c type veth peer name wpu-s
ip link set wpu-c netns "$NS_CLI"
ip link set wpu-s netns "$NS_SRV"
ip -n "$NS_CLI" addr add 10.206.0.1/24 dev wpu-c
ip -n "$NS_SRV" addr add "$SERVER"/24 dev wpu-s
for ns in "$NS_CLI" "$NS_SRV"; do ip -n "$ns" link set lo up; done
ip -n "$NS_CLI" link set wpu-c up
ip -n "$NS_SRV" link set wpu-s up

NGX="$WORK/nginx"
mkdir -p "$NGX/logs" "$NGX/tmp" "$NGX/html"
printf '<html><link rel="stylesheet" href="/style.css">pushed</html>\n' >"$NGX/html/index.html"
printf 'body { color: teal; }\n' >"$NGX/html/style.css"
ip netns exec "$NS_SRV" nginx -p "$NGX/" -c "$HERE/nginx.conf" -g 'daemon off;' >"$WORK/nginx.out" 2>&1 &
PIDS+=($!)
ip netns exec "$NS_SRV" tcpdump -i wpu-s -s 0 -U --immediate-mode -w "$WORK/push.pcap" tcp \
    >"$WORK/tcpdump.out" 2>&1 &
TCPDUMP=$!
for _ in $(seq 50); do
    ip netns exec "$NS_SRV" ss -ltn | grep -q ':8080 ' && break
    sleep 0.1
done
sleep 0.5
ip netns exec "$NS_CLI" nghttp -nv "http://$SERVER:8080/index.html" >"$WORK/nghttp.out" 2>&1
grep -q "recv PUSH_PROMISE" "$WORK/nghttp.out" || { cat "$WORK/nghttp.out" >&2; exit 1; }
sleep 1.5
kill -INT "$TCPDUMP"
wait "$TCPDUMP" || true
python3 - "$NGX/html" "$HERE/push.expected.json" <<'PY'
import json, os, sys
html = sys.argv[1]
size = lambda f: os.path.getsize(os.path.join(html, f))
json.dump({"requested": {"path": "/index.html", "size": size("index.html")},
           "pushed": {"path": "/style.css", "size": size("style.css")}},
          open(sys.argv[2], "w"), indent=1)
PY
cp "$WORK/push.pcap" "$HERE/"
echo "gen-push.sh: wrote $HERE/push.pcap and push.expected.json"

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
# shellcheck source=../netns-pair.sh
. "$HERE/../netns-pair.sh"
pair_up "$NS_CLI" "$NS_SRV" 10.206.0.1 "$SERVER" wpu

NGX="$WORK/nginx"
mkdir -p "$NGX/logs" "$NGX/tmp" "$NGX/html"
printf '<html><link rel="stylesheet" href="/style.css">pushed</html>\n' >"$NGX/html/index.html"
printf 'body { color: teal; }\n' >"$NGX/html/style.css"
ip netns exec "$NS_SRV" nginx -p "$NGX/" -c "$HERE/nginx.conf" -g 'daemon off;' >"$WORK/nginx.out" 2>&1 &
PIDS+=($!)
capture_start "$NS_SRV" wpu-s "$WORK/push.pcap"
wait_listening "$NS_SRV" 8080
ip netns exec "$NS_CLI" nghttp -nv "http://$SERVER:8080/index.html" >"$WORK/nghttp.out" 2>&1
grep -q "recv PUSH_PROMISE" "$WORK/nghttp.out" || { cat "$WORK/nghttp.out" >&2; exit 1; }
capture_stop
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

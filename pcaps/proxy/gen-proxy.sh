#!/usr/bin/env bash
# Regenerate pcaps/proxy/: HTTP/2 through a real forward proxy's CONNECT tunnel.
#
#   sudo bash pcaps/proxy/gen-proxy.sh
#
# Two network namespaces joined by a veth pair: the client (10.205.0.1, curl) and the server
# (10.205.0.2) running tinyproxy on :8888 and nginx on :8080 speaking HTTP/2 with prior
# knowledge. curl asks the proxy to CONNECT to 10.205.0.2:8080 and speaks HTTP/2 through the
# tunnel; twice, one path each. Captured on the server's veth (the client-proxy connection; the proxy reaches nginx
# over loopback): connect.pcap; what curl sent and got: connect.expected.json.
# Needs root, iproute2, tcpdump, tinyproxy, nginx (with http_v2), curl, python3.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NS_CLI=wp-cli
NS_SRV=wp-srv
SERVER=10.205.0.2
WORK="$(mktemp -d /tmp/wirespan-proxy.XXXXXX)"
PIDS=()
# shellcheck source=../netns-pair.sh
. "$HERE/../netns-pair.sh"
pair_up "$NS_CLI" "$NS_SRV" 10.205.0.1 "$SERVER" wp

NGX="$WORK/nginx"
mkdir -p "$NGX/logs" "$NGX/tmp" "$NGX/html"
printf 'through the tunnel\n' >"$NGX/html/index.html"
printf 'second\n' >"$NGX/html/two.txt"
ip netns exec "$NS_SRV" nginx -p "$NGX/" -c "$HERE/nginx.conf" -g 'daemon off;' >"$WORK/nginx.out" 2>&1 &
PIDS+=($!)
cat >"$WORK/tinyproxy.conf" <<CONF
Port 8888
Listen $SERVER
Timeout 30
MaxClients 8
Allow 10.205.0.0/24
ConnectPort 8080
LogLevel Info
CONF
ip netns exec "$NS_SRV" tinyproxy -d -c "$WORK/tinyproxy.conf" >"$WORK/tinyproxy.out" 2>&1 &
PIDS+=($!)
capture_start "$NS_SRV" wp-s "$WORK/connect.pcap"
wait_listening "$NS_SRV" 8888 8080
run() {  # name curl-args...: one curl run, its line to the expected calls
    local name="$1"; shift
    ip netns exec "$NS_CLI" curl -sS --max-time 10 -x "http://$SERVER:8888" --proxytunnel \
        -o /dev/null -w "%{local_port} %{http_code} %{http_version}\n" "$@" \
        | while read -r port code version; do
            printf '{"name": "%s", "client_port": %s, "status": %s, "http_version": "%s"}\n' \
                "$name" "$port" "$code" "$version"
        done
}
# One request per tunnel: curl 7.88 fails a second prior-knowledge request through a tunnel.
{
    run /index.html --http2-prior-knowledge "http://$SERVER:8080/index.html"
    run /two.txt --http2-prior-knowledge "http://$SERVER:8080/two.txt"
} >"$WORK/calls.jsonl"
capture_stop
python3 - "$WORK/calls.jsonl" "$WORK/connect.expected.json" <<'PY'
import json, sys
calls = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
json.dump({"calls": calls, "tunnel_to": "10.205.0.2:8080"}, open(sys.argv[2], "w"), indent=1)
PY
cat "$WORK/calls.jsonl"
cp "$WORK/connect.pcap" "$WORK/connect.expected.json" "$HERE/"
echo "gen-proxy.sh: wrote $HERE/connect.pcap and connect.expected.json"

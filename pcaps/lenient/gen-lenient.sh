#!/usr/bin/env bash
# Regenerate pcaps/lenient/: requests a strict HTTP/1 parser refuses but real servers answer.
#
#   sudo bash pcaps/lenient/gen-lenient.sh
#
# Two network namespaces joined by a veth pair: the client (10.203.0.1, lenient_client.py)
# and the server (10.203.0.2) running nginx on :80 (answers most with a status, HTTP/0.9
# with the body alone, malformed lines with 400) and lenient_server.py on :8081 (answers
# anything 200, as a lenient application server does). Captured on the server's veth with
# tcpdump: lenient.pcap; what the client sent and got back: lenient.expected.json.
# Needs root, iproute2, tcpdump, nginx, python3. Removes what it made, also on failure.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NS_CLI=wl-cli
NS_SRV=wl-srv
SERVER=10.203.0.2
WORK="$(mktemp -d /tmp/wirespan-lenient.XXXXXX)"
PIDS=()
# shellcheck source=../netns-pair.sh
. "$HERE/../netns-pair.sh"
pair_up "$NS_CLI" "$NS_SRV" 10.203.0.1 "$SERVER" wl

NGX="$WORK/nginx"
mkdir -p "$NGX/logs" "$NGX/tmp" "$NGX/html"
printf 'lenient\n' >"$NGX/html/index.html"
ip netns exec "$NS_SRV" nginx -p "$NGX/" -c "$HERE/nginx.conf" -g 'daemon off;' >"$WORK/nginx.out" 2>&1 &
PIDS+=($!)
ip netns exec "$NS_SRV" python3 "$HERE/lenient_server.py" 8081 >"$WORK/app.out" 2>&1 &
PIDS+=($!)
capture_start "$NS_SRV" wl-s "$WORK/lenient.pcap"
wait_listening "$NS_SRV" 80 8081
ip netns exec "$NS_CLI" python3 "$HERE/lenient_client.py" "$SERVER" 80 8081 "$WORK/lenient.expected.json"
capture_stop
cp "$WORK/lenient.pcap" "$WORK/lenient.expected.json" "$HERE/"
echo "gen-lenient.sh: wrote $HERE/lenient.pcap and lenient.expected.json"

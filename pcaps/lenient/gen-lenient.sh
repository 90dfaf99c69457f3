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

cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    ip netns del "$NS_CLI" 2>/dev/null || true
    ip netns del "$NS_SRV" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
cleanup_ns() { ip netns del "$NS_CLI" 2>/dev/null || true; ip netns del "$NS_SRV" 2>/dev/null || true; }
cleanup_ns

ip netns add "$NS_CLI"
ip netns add "$NS_SRV"
ip link add wl-c type veth peer name wl-s
ip link set wl-c netns "$NS_CLI"
ip link set wl-s netns "$NS_SRV"
ip -n "$NS_CLI" addr add 10.203.0.1/24 dev wl-c
ip -n "$NS_SRV" addr add "$SERVER"/24 dev wl-s
for ns in "$NS_CLI" "$NS_SRV"; do
    ip -n "$ns" link set lo up
done
ip -n "$NS_CLI" link set wl-c up
ip -n "$NS_SRV" link set wl-s up
# Real wire sizes: no segmentation offload on either end.
if command -v ethtool >/dev/null; then
    ip netns exec "$NS_CLI" ethtool -K wl-c tso off gso off gro off >/dev/null 2>&1 || true
    ip netns exec "$NS_SRV" ethtool -K wl-s tso off gso off gro off >/dev/null 2>&1 || true
fi

NGX="$WORK/nginx"
mkdir -p "$NGX/logs" "$NGX/tmp" "$NGX/html"
printf 'lenient\n' >"$NGX/html/index.html"
ip netns exec "$NS_SRV" nginx -p "$NGX/" -c "$HERE/nginx.conf" -g 'daemon off;' >"$WORK/nginx.out" 2>&1 &
PIDS+=($!)
ip netns exec "$NS_SRV" python3 "$HERE/lenient_server.py" 8081 >"$WORK/app.out" 2>&1 &
PIDS+=($!)
ip netns exec "$NS_SRV" tcpdump -i wl-s -s 0 -U -w "$WORK/lenient.pcap" tcp >"$WORK/tcpdump.out" 2>&1 &
TCPDUMP=$!
for _ in $(seq 50); do
    ip netns exec "$NS_SRV" ss -ltn | grep -q ':8081 ' && ip netns exec "$NS_SRV" ss -ltn | grep -q ':80 ' && break
    sleep 0.1
done
sleep 0.5
ip netns exec "$NS_CLI" python3 "$HERE/lenient_client.py" "$SERVER" 80 8081 "$WORK/lenient.expected.json"
sleep 0.5
kill -INT "$TCPDUMP"
wait "$TCPDUMP" || true
cp "$WORK/lenient.pcap" "$WORK/lenient.expected.json" "$HERE/"
echo "gen-lenient.sh: wrote $HERE/lenient.pcap and lenient.expected.json"

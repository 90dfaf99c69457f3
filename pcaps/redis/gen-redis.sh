#!/usr/bin/env bash
# Regenerate pcaps/redis/: real Redis traffic from real clients.
#
#   sudo bash pcaps/redis/gen-redis.sh
#
# Two network namespaces joined by a veth pair: the client (10.208.0.1; redis_client.py with
# redis-py, then redis-cli) and the server (10.208.0.2) running redis-server (Debian's) on
# :6379 and a second one with a password on :6380. Captured on the server's veth:
# redis.pcap; every command redis-py sent and what came back: redis.expected.json.
# Needs root, iproute2, tcpdump, redis-server, redis-cli, python3 with redis (redis-py).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NS_CLI=wrd-cli
NS_SRV=wrd-srv
SERVER=10.208.0.2
WORK="$(mktemp -d /tmp/wirespan-redis.XXXXXX)"
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
ip link add wrd-c type veth peer name wrd-s
ip link set wrd-c netns "$NS_CLI"
ip link set wrd-s netns "$NS_SRV"
ip -n "$NS_CLI" addr add 10.208.0.1/24 dev wrd-c
ip -n "$NS_SRV" addr add "$SERVER"/24 dev wrd-s
for ns in "$NS_CLI" "$NS_SRV"; do ip -n "$ns" link set lo up; done
ip -n "$NS_CLI" link set wrd-c up
ip -n "$NS_SRV" link set wrd-s up
if command -v ethtool >/dev/null; then
    ip netns exec "$NS_CLI" ethtool -K wrd-c tso off gso off gro off >/dev/null 2>&1 || true
    ip netns exec "$NS_SRV" ethtool -K wrd-s tso off gso off gro off >/dev/null 2>&1 || true
fi
for port in 6379 6380; do
    extra=()
    [ "$port" = 6380 ] && extra=(--requirepass right)
    ip netns exec "$NS_SRV" redis-server --bind "$SERVER" --port "$port" --save '' \
        --appendonly no --dir "$WORK" --protected-mode no "${extra[@]}" \
        >"$WORK/redis-$port.out" 2>&1 &
    PIDS+=($!)
done
ip netns exec "$NS_SRV" tcpdump -i wrd-s -s 0 -U --immediate-mode -w "$WORK/redis.pcap" tcp \
    >"$WORK/tcpdump.out" 2>&1 &
TCPDUMP=$!
for i in $(seq 100); do
    ip netns exec "$NS_SRV" ss -ltn | grep -q ':6380 ' && ip netns exec "$NS_SRV" ss -ltn | grep -q ':6379 ' && break
    [ "$i" = 100 ] && { cat "$WORK"/redis-*.out >&2; exit 1; }
    sleep 0.1
done
sleep 0.5
ip netns exec "$NS_CLI" python3 "$HERE/redis_client.py" "$SERVER" 6379 6380 "$WORK/redis.expected.json"
ip netns exec "$NS_CLI" redis-cli -h "$SERVER" PING >/dev/null
ip netns exec "$NS_CLI" redis-cli -h "$SERVER" INCR cli-counter >/dev/null
sleep 1.5
kill -INT "$TCPDUMP"
wait "$TCPDUMP" || true
cp "$WORK/redis.pcap" "$WORK/redis.expected.json" "$HERE/"
echo "gen-redis.sh: wrote $HERE/redis.pcap and redis.expected.json"

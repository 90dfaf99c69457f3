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
# shellcheck source=../netns-pair.sh
. "$HERE/../netns-pair.sh"
pair_up "$NS_CLI" "$NS_SRV" 10.208.0.1 "$SERVER" wrd
for port in 6379 6380; do
    extra=()
    [ "$port" = 6380 ] && extra=(--requirepass right)
    ip netns exec "$NS_SRV" redis-server --bind "$SERVER" --port "$port" --save '' \
        --appendonly no --dir "$WORK" --protected-mode no "${extra[@]}" \
        >"$WORK/redis-$port.out" 2>&1 &
    PIDS+=($!)
done
capture_start "$NS_SRV" wrd-s "$WORK/redis.pcap"
wait_listening "$NS_SRV" 6379 6380
ip netns exec "$NS_CLI" python3 "$HERE/redis_client.py" "$SERVER" 6379 6380 "$WORK/redis.expected.json"
ip netns exec "$NS_CLI" redis-cli -h "$SERVER" PING >/dev/null
ip netns exec "$NS_CLI" redis-cli -h "$SERVER" INCR cli-counter >/dev/null
capture_stop
cp "$WORK/redis.pcap" "$WORK/redis.expected.json" "$HERE/"
echo "gen-redis.sh: wrote $HERE/redis.pcap and redis.expected.json"

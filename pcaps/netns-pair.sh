# Sourced by the generators that put a client and a server in two network namespaces joined
# by one veth pair (pcaps/lenient, mysql-odd, proxy, push, grpcweb, redis, dns). The caller sets
# WORK (a temporary directory) and PIDS=() first, and appends every process it starts to PIDS.
#
#   pair_up NS_CLI NS_SRV CLI_IP SRV_IP DEV   the namespaces (leftovers of a run removed
#       first), the veth DEV-c (client side) / DEV-s (server side), the /24 addresses,
#       offloads off (frames at wire size); an EXIT trap stops PIDS and removes the
#       namespaces and WORK, also on failure.
#   wait_listening NS PORT...                 until every TCP port listens in NS (10 s)
#   capture_start NS DEV FILE [FILTER]        tcpdump on DEV, each packet written at once, of
#       the packets FILTER (a tcpdump expression, one argument) selects; without it: TCP
#   capture_stop                              lets the last packets in, stops tcpdump
# shellcheck shell=bash

pair_up() {
    PAIR_NS=("$1" "$2")
    local cli_ip="$3" srv_ip="$4" dev="$5" ns
    trap pair_down EXIT
    for ns in "${PAIR_NS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    ip netns add "$1"
    ip netns add "$2"
    ip link add "$dev-c" type veth peer name "$dev-s"
    ip link set "$dev-c" netns "$1"
    ip link set "$dev-s" netns "$2"
    ip -n "$1" addr add "$cli_ip/24" dev "$dev-c"
    ip -n "$2" addr add "$srv_ip/24" dev "$dev-s"
    for ns in "${PAIR_NS[@]}"; do ip -n "$ns" link set lo up; done
    ip -n "$1" link set "$dev-c" up
    ip -n "$2" link set "$dev-s" up
    if command -v ethtool >/dev/null; then
        ip netns exec "$1" ethtool -K "$dev-c" tso off gso off gro off >/dev/null 2>&1 || true
        ip netns exec "$2" ethtool -K "$dev-s" tso off gso off gro off >/dev/null 2>&1 || true
    fi
}

pair_down() {
    local pid ns
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    for ns in "${PAIR_NS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$WORK"
}

wait_listening() {
    local ns="$1" port i
    shift
    for port in "$@"; do
        for i in $(seq 100); do
            ip netns exec "$ns" ss -ltn | grep -q ":$port " && break
            [ "$i" = 100 ] && { echo "nothing listens on $port in $ns" >&2; return 1; }
            sleep 0.1
        done
    done
}

capture_start() {
    ip netns exec "$1" tcpdump -i "$2" -s 0 -U --immediate-mode -w "$3" "${4:-tcp}" \
        >"$WORK/tcpdump.out" 2>&1 &
    CAPTURE_PID=$!
    sleep 0.5
}

capture_stop() {
    sleep 1.5
    kill -INT "$CAPTURE_PID"
    wait "$CAPTURE_PID" || true
}

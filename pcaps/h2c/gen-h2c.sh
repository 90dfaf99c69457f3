#!/usr/bin/env bash
# Regenerate the real HTTP/1.1 -> HTTP/2 cleartext upgrade capture (h2c,
# RFC 7540 section 3.2) in pcaps/h2c/.
#
#   sudo bash pcaps/h2c/gen-h2c.sh
#
# Needs root, iproute2, tcpdump, tshark (for check.sh), python3 with the h2
# library (pip install h2; 4.x tested); ethtool is optional but recommended
# (offloads off => captured frames carry real checksums and wire sizes).
#
# Topology: two network namespaces joined by one veth pair, nothing else.
#
#   ws-h2c-a (client)                       ws-h2c-b (server)
#   h2c-a 10.201.0.1/24  <----- veth ----->  h2c-b 10.201.0.2/24
#   02:00:0a:c9:00:01                        02:00:0a:c9:00:02
#   h2c_client.py                            h2c_server.py :8080
#
# Both sides have permanent neighbour entries for each other, so no ARP is
# ever sent, and IPv6 is off, so the capture holds the one TCP connection
# and nothing else.  tcpdump -s 0 -U (pcap, Ethernet) runs on h2c-a.
#
# Outputs (overwritten):
#   h2c-upgrade.pcap     the capture
#   h2c.expected.json    written by h2c_client.py, cross-checked here against
#                        what h2c_server.py saw
# Then runs check.sh.  Idempotent: removes leftovers of an interrupted run
# first; a trap removes the namespaces and stops what it started, also on
# failure.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NS_A=ws-h2c-a
NS_B=ws-h2c-b
IF_A=h2c-a
IF_B=h2c-b
MAC_A=02:00:0a:c9:00:01
MAC_B=02:00:0a:c9:00:02
IP_A=10.201.0.1
IP_B=10.201.0.2
PORT=8080

if [ "$(id -u)" -ne 0 ]; then
    echo "gen-h2c.sh: must run as root (network namespaces, tcpdump)" >&2
    exit 1
fi
for tool in ip tcpdump tshark python3; do
    command -v "$tool" >/dev/null || { echo "gen-h2c.sh: missing $tool" >&2; exit 1; }
done
# the real interpreter (pyenv shims etc. resolved once, outside the namespaces)
PY="$(python3 -c 'import sys; print(sys.executable)')"
"$PY" -c 'import h2' 2>/dev/null || {
    echo "gen-h2c.sh: python3 lacks the h2 library: pip install h2" >&2; exit 1; }

WORK="$(mktemp -d /tmp/wirespan-gen-h2c.XXXXXX)"
PIDS=()

nsx() { local ns="$1"; shift; ip netns exec "$ns" "$@"; }

alive() {  # running and not a zombie waiting to be reaped
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

stop_pid() {  # stop one process we started: signal, bounded wait, KILL
    local pid="$1" sig="${2:-TERM}" i
    if alive "$pid"; then
        kill -s "$sig" "$pid" 2>/dev/null || true
        for i in $(seq 1 50); do
            alive "$pid" || break
            sleep 0.1
        done
        alive "$pid" && kill -s KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null || true
}

del_ns() {  # remove one of OUR namespaces, ending processes still inside it
    local ns="$1" pid
    ip netns list | grep -qw "^$ns" || return 0
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
        kill -TERM "$pid" 2>/dev/null || true
    done
    sleep 0.2
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
        kill -KILL "$pid" 2>/dev/null || true
    done
    ip netns del "$ns" 2>/dev/null || true
}

cleanup() {
    local rc=$? pid
    set +e
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    del_ns "$NS_A"; del_ns "$NS_B"
    if [ $rc -ne 0 ]; then
        echo "gen-h2c.sh: FAILED (rc=$rc); logs in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- leftovers from an interrupted run ------------------------------------------
del_ns "$NS_A"; del_ns "$NS_B"

# --- namespaces + veth ---------------------------------------------------------------
for ns in "$NS_A" "$NS_B"; do
    ip netns add "$ns"
    nsx "$ns" ip link set lo up
    nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 2>/dev/null || true
    nsx "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
done
ip link add "$IF_A" netns "$NS_A" address "$MAC_A" type veth \
    peer name "$IF_B" netns "$NS_B" address "$MAC_B"
nsx "$NS_A" sysctl -qw "net.ipv6.conf.$IF_A.disable_ipv6=1" 2>/dev/null || true
nsx "$NS_B" sysctl -qw "net.ipv6.conf.$IF_B.disable_ipv6=1" 2>/dev/null || true
nsx "$NS_A" ip addr add "$IP_A/24" dev "$IF_A"
nsx "$NS_B" ip addr add "$IP_B/24" dev "$IF_B"
nsx "$NS_A" ip link set "$IF_A" up
nsx "$NS_B" ip link set "$IF_B" up
# no ARP in the capture
nsx "$NS_A" ip neigh replace "$IP_B" lladdr "$MAC_B" dev "$IF_A" nud permanent
nsx "$NS_B" ip neigh replace "$IP_A" lladdr "$MAC_A" dev "$IF_B" nud permanent

# --- offloads off: captured frames = wire frames, with real checksums -------------
offloads_off() {
    local ns="$1" dev="$2"
    if command -v ethtool >/dev/null; then
        nsx "$ns" ethtool -K "$dev" tx off rx off tso off gso off gro off \
            >/dev/null 2>&1 || true
        nsx "$ns" ethtool -K "$dev" sg off >/dev/null 2>&1 || true
    else
        echo "gen-h2c.sh: warning: ethtool not found; TCP checksums in the" \
             "capture may be partial (offloaded)" >&2
    fi
    nsx "$ns" ip link set "$dev" gso_max_size 1500 gro_max_size 1500 \
        >/dev/null 2>&1 || \
    nsx "$ns" ip link set "$dev" gso_max_size 1500 >/dev/null 2>&1 || true
}
offloads_off "$NS_A" "$IF_A"
offloads_off "$NS_B" "$IF_B"

# --- server ------------------------------------------------------------------------------
# (background processes are started with "ip netns exec" itself, not through
# nsx, so that $! is the process and not a subshell)
ip netns exec "$NS_B" timeout 60 "$PY" "$HERE/h2c_server.py" --listen "$IP_B" --port "$PORT" \
    --ready-file "$WORK/server.ready" --log "$WORK/server.json" \
    >"$WORK/server.out" 2>&1 &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
for i in $(seq 1 100); do
    [ -s "$WORK/server.ready" ] && break
    alive "$SERVER_PID" || { echo "gen-h2c.sh: server died" >&2; cat "$WORK/server.out" >&2; exit 1; }
    [ "$i" = 100 ] && { echo "gen-h2c.sh: server not ready" >&2; exit 1; }
    sleep 0.1
done

# --- capture ---------------------------------------------------------------------------------
ip netns exec "$NS_A" tcpdump -i "$IF_A" -s 0 -U -n -Z root -w "$WORK/h2c-upgrade.pcap" \
    2>"$WORK/tcpdump.err" &
PIDS+=($!)
for i in $(seq 1 100); do
    grep -q "listening on" "$WORK/tcpdump.err" 2>/dev/null && break
    [ "$i" = 100 ] && { echo "gen-h2c.sh: tcpdump did not start" >&2;
                       cat "$WORK/tcpdump.err" >&2; exit 1; }
    sleep 0.1
done
sleep 0.5

# --- the client --------------------------------------------------------------------------------
nsx "$NS_A" timeout 60 "$PY" "$HERE/h2c_client.py" --server "$IP_B" --port "$PORT" \
    --out "$WORK/h2c.expected.json"

# the server exits after the connection is closed
for i in $(seq 1 100); do
    alive "$SERVER_PID" || break
    [ "$i" = 100 ] && { echo "gen-h2c.sh: server did not exit" >&2; exit 1; }
    sleep 0.1
done
wait "$SERVER_PID" || { echo "gen-h2c.sh: server failed" >&2; cat "$WORK/server.out" >&2; exit 1; }
cat "$WORK/server.out"
sleep 1   # let the last ACK reach the capture
for pid in "${PIDS[@]:1}"; do stop_pid "$pid" INT; done
PIDS=()
cat "$WORK/tcpdump.err" | grep -v "listening on" || true

# --- client record vs. server record -----------------------------------------------------------
"$PY" - "$WORK/h2c.expected.json" "$WORK/server.json" <<'PY'
import json, sys
calls = json.load(open(sys.argv[1]))["calls"]
srv = json.load(open(sys.argv[2]))
keys = ["stream_id", "method", "path", "query", "status", "request_body_size",
        "response_body_size", "traceparent", "via"]
a = [{k: c[k] for k in keys} for c in calls]
b = [{k: s[k] for k in keys} for s in srv["streams"]]
if a != b:
    sys.exit("gen-h2c.sh: client and server records differ:\n%s\n%s" % (a, b))
if srv["peer"] != [calls[0]["client_address"], calls[0]["client_port"]]:
    sys.exit("gen-h2c.sh: server saw peer %r" % srv["peer"])
if not (srv["client_preface_seen"] and srv["goaway_received"]):
    sys.exit("gen-h2c.sh: server did not see preface/GOAWAY: %r" % srv)
print("ok: client and server agree on %d calls" % len(calls))
PY

# --- outputs + check ---------------------------------------------------------------------------------
cp "$WORK/h2c-upgrade.pcap" "$HERE/h2c-upgrade.pcap"
cp "$WORK/h2c.expected.json" "$HERE/h2c.expected.json"
bash "$HERE/check.sh"
ls -l "$HERE/h2c-upgrade.pcap" "$HERE/h2c.expected.json"

# The same connection as a capture that starts between the upgrade request and its 101.
(cd "$(dirname "$0")/../.." && python3 pcaps/h2c/cut.py)

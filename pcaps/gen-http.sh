#!/usr/bin/env bash
# Regenerate the real HTTP/1 test captures under pcaps/http/.
#
#   sudo bash pcaps/gen-http.sh
#
# Needs root, iproute2, tcpdump, dumpcap/mergecap/tshark (Debian: tshark),
# nginx (Debian nginx-light or nginx-core), python3; ethtool is optional but
# recommended (offloads off => captured frames are real wire sizes).
#
# Topology (three network namespaces, all addresses private to them):
#
#   ws-cli                 ws-rtr (ip_forward=1)                 ws-srv
#  +-----------+  veth   +---------------------+  veth "underlay"  +-----------------+
#  | cli0      |---------| rtr-cli             |                   |                 |
#  |10.200.1.2 |         |10.200.1.1           |                   |                 |
#  +-----------+         | rtr-ul 10.200.0.1/30|-------------------| srv-ul 10.200.0.2/30
#   default via          |  (mtu 1550)         |                   |  (mtu 1550)     |
#   10.200.1.1           | vx-rtr  VXLAN 4242  |==== UDP 4789 =====| vx-srv VXLAN 4242
#                        | 10.200.2.1/24       |   over rtr-ul/    | 10.200.2.2/24   |
#                        +---------------------+   srv-ul          | nginx :80 :8080 |
#                                                                  +-----------------+
#
# client 10.200.1.2 -> router (TTL 64 -> 63) -> VXLAN VNI 4242 -> 10.200.2.2.
# The VXLAN devices get mtu 1500 (underlay 1550 - 50) so the client's
# 1500-byte frames cross the tunnel without fragmentation or PMTU games.
#
# Capture points (tcpdump -s 0 -U, pcap):
#   http/client-veth.pcap    cli0   in ws-cli  (TTL 64 out / 63 in)
#   http/server-veth.pcap    vx-srv in ws-srv  (inner, decapsulated frames;
#                                              TTL 63 in / 64 out)
#   http/underlay-vxlan.pcap srv-ul in ws-srv  (outer IPv4/UDP 4789/VXLAN)
#   http/multi-point.pcapng  the same three points captured by dumpcap and
#                            merged with mergecap: one IDB per point, named
#                            cli0 / vx-srv / srv-ul.
#   http/http.expected.json  written by http_client.py: every call, in order.
#
# Idempotent: removes leftovers of a previous run first; a trap removes the
# namespaces and stops every process it started, also on failure.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="$HERE/http"
NS_CLI=ws-cli
NS_RTR=ws-rtr
NS_SRV=ws-srv
SERVER_IP=10.200.2.2
BIG_SIZE=120000
FIXED_MTIME="2024-01-02 03:04:05 UTC"   # http_client.py uses it for If-Modified-Since

if [ "$(id -u)" -ne 0 ]; then
    echo "gen-http.sh: must run as root (network namespaces, tcpdump)" >&2
    exit 1
fi
for tool in ip tcpdump dumpcap mergecap tshark nginx python3; do
    command -v "$tool" >/dev/null || { echo "gen-http.sh: missing $tool" >&2; exit 1; }
done

WORK="$(mktemp -d /tmp/wirespan-gen-http.XXXXXX)"
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
    del_ns "$NS_CLI"; del_ns "$NS_RTR"; del_ns "$NS_SRV"
    if [ $rc -ne 0 ]; then
        echo "gen-http.sh: FAILED (rc=$rc); logs in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- leftovers from an interrupted run -------------------------------------
del_ns "$NS_CLI"; del_ns "$NS_RTR"; del_ns "$NS_SRV"

# --- namespaces ------------------------------------------------------------
for ns in "$NS_CLI" "$NS_RTR" "$NS_SRV"; do
    ip netns add "$ns"
    nsx "$ns" ip link set lo up
    # no IPv6 router solicitations / MLD noise in the captures
    nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 2>/dev/null || true
    nsx "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
done
nsx "$NS_RTR" sysctl -qw net.ipv4.ip_forward=1

# client <-> router
ip link add cli0 netns "$NS_CLI" address 02:00:0a:c8:01:02 type veth \
    peer name rtr-cli netns "$NS_RTR" address 02:00:0a:c8:01:01
# router <-> server node: the underlay
ip link add rtr-ul netns "$NS_RTR" address 02:00:0a:c8:00:01 mtu 1550 type veth \
    peer name srv-ul netns "$NS_SRV" address 02:00:0a:c8:00:02 mtu 1550

nsx "$NS_CLI" ip addr add 10.200.1.2/24 dev cli0
nsx "$NS_RTR" ip addr add 10.200.1.1/24 dev rtr-cli
nsx "$NS_RTR" ip addr add 10.200.0.1/30 dev rtr-ul
nsx "$NS_SRV" ip addr add 10.200.0.2/30 dev srv-ul
nsx "$NS_CLI" ip link set cli0 up
nsx "$NS_RTR" ip link set rtr-cli up
nsx "$NS_RTR" ip link set rtr-ul up
nsx "$NS_SRV" ip link set srv-ul up

# the overlay: a real point-to-point VXLAN tunnel, VNI 4242, UDP 4789
nsx "$NS_RTR" ip link add vx-rtr address 02:00:0a:c8:02:01 type vxlan id 4242 \
    local 10.200.0.1 remote 10.200.0.2 dstport 4789 dev rtr-ul
nsx "$NS_SRV" ip link add vx-srv address 02:00:0a:c8:02:02 type vxlan id 4242 \
    local 10.200.0.2 remote 10.200.0.1 dstport 4789 dev srv-ul
nsx "$NS_RTR" ip link set vx-rtr mtu 1500
nsx "$NS_SRV" ip link set vx-srv mtu 1500
nsx "$NS_RTR" ip addr add 10.200.2.1/24 dev vx-rtr
nsx "$NS_SRV" ip addr add "$SERVER_IP/24" dev vx-srv
nsx "$NS_RTR" ip link set vx-rtr up
nsx "$NS_SRV" ip link set vx-srv up

nsx "$NS_CLI" ip route add default via 10.200.1.1
nsx "$NS_SRV" ip route add 10.200.1.0/24 via 10.200.2.1

# --- offloads off: captured frames = wire frames, with real checksums ------
offloads_off() {
    local ns="$1" dev="$2"
    if command -v ethtool >/dev/null; then
        nsx "$ns" ethtool -K "$dev" tx off rx off tso off gso off gro off \
            >/dev/null 2>&1 || true
        nsx "$ns" ethtool -K "$dev" sg off >/dev/null 2>&1 || true
    fi
    # without ethtool (or as a second guard): cap the GSO/GRO sizes so the
    # stack cannot build super-segments larger than the MTU
    nsx "$ns" ip link set "$dev" gso_max_size 1500 gro_max_size 1500 \
        >/dev/null 2>&1 || \
    nsx "$ns" ip link set "$dev" gso_max_size 1500 >/dev/null 2>&1 || true
}
offloads_off "$NS_CLI" cli0
offloads_off "$NS_RTR" rtr-cli
offloads_off "$NS_RTR" rtr-ul
offloads_off "$NS_RTR" vx-rtr
offloads_off "$NS_SRV" srv-ul
offloads_off "$NS_SRV" vx-srv
if ! command -v ethtool >/dev/null; then
    echo "gen-http.sh: warning: ethtool not found; only gso_max_size capped," \
         "checksums in captures may be partial (offloaded)" >&2
fi

# --- nginx in the server namespace -------------------------------------------
NGX="$WORK/nginx"
mkdir -p "$NGX/logs" "$NGX/tmp" "$NGX/html/static"
printf 'small static file\n' > "$NGX/html/static/small.txt"
python3 - "$NGX/html/static" "$BIG_SIZE" <<'PY'
import sys
d, big = sys.argv[1], int(sys.argv[2])
# >100 kB body: deterministic text, numbered lines
out = bytearray()
i = 0
while len(out) < big:
    out += b"wirespan big body line %06d abcdefghijklmnopqrstuvwxyz\n" % i
    i += 1
open(d + "/big.bin", "wb").write(bytes(out[:big]))
# input for the chunked (sub_filter) response
open(d + "/page.html", "w").write(
    "".join("<p>@@NAME@@ line %04d</p>\n" % i for i in range(200)))
PY
touch -d "$FIXED_MTIME" "$NGX/html/static/"*
nsx "$NS_SRV" nginx -p "$NGX/" -c "$HERE/nginx.conf" -t -q
ip netns exec "$NS_SRV" nginx -p "$NGX/" -c "$HERE/nginx.conf" -g 'daemon off;' \
    >"$WORK/nginx.out" 2>&1 &
PIDS+=($!)
# nginx up, and reachable from the client across router + VXLAN; this also
# warms up ARP (inner and outer) so the captures hold the calls only
for i in $(seq 1 50); do
    nsx "$NS_CLI" python3 -c '
import socket, sys
for port in (80, 8080):
    socket.create_connection((sys.argv[1], port), timeout=1).close()
' "$SERVER_IP" 2>/dev/null && break
    [ "$i" = 50 ] && { echo "gen-http.sh: nginx unreachable from $NS_CLI" >&2;
                      cat "$WORK/nginx.out" "$NGX/logs/error.log" >&2; exit 1; }
    sleep 0.2
done

# --- captures -------------------------------------------------------------
CAP="$WORK/cap"
mkdir -p "$CAP"
# (background processes are started with "ip netns exec" itself, not through
# the nsx function, so that $! is the capture process and not a subshell)
start_capture() {  # ns dev name
    local ns="$1" dev="$2" name="$3"
    ip netns exec "$ns" tcpdump -i "$dev" -s 0 -U -n -Z root -w "$CAP/$name.pcap" \
        2>"$CAP/$name.tcpdump.err" &
    PIDS+=($!)
    ip netns exec "$ns" dumpcap -i "$dev" -s 0 -q -w "$CAP/$name.pcapng" \
        2>"$CAP/$name.dumpcap.err" &
    PIDS+=($!)
}
start_capture "$NS_CLI" cli0   client-veth
start_capture "$NS_SRV" vx-srv server-veth
start_capture "$NS_SRV" srv-ul underlay-vxlan
for name in client-veth server-veth underlay-vxlan; do
    for i in $(seq 1 100); do
        grep -q "listening on" "$CAP/$name.tcpdump.err" 2>/dev/null && \
        grep -q "Capturing on" "$CAP/$name.dumpcap.err" 2>/dev/null && break
        [ "$i" = 100 ] && { echo "gen-http.sh: capture $name did not start" >&2;
                           cat "$CAP/$name".*.err >&2; exit 1; }
        sleep 0.1
    done
done
sleep 0.5

# --- the calls --------------------------------------------------------------
nsx "$NS_CLI" python3 "$HERE/http_client.py" --server "$SERVER_IP" \
    --big-size "$BIG_SIZE" --out "$WORK/http.expected.json"

sleep 1   # let the last FIN/ACKs reach every capture point
for pid in "${PIDS[@]:1}"; do stop_pid "$pid" INT; done
PIDS=("${PIDS[0]}")

# --- assemble the outputs -----------------------------------------------------
mkdir -p "$OUT"
for name in client-veth server-veth underlay-vxlan; do
    cp "$CAP/$name.pcap" "$OUT/$name.pcap"
done
mergecap -F pcapng -w "$OUT/multi-point.pcapng" \
    "$CAP/client-veth.pcapng" "$CAP/server-veth.pcapng" "$CAP/underlay-vxlan.pcapng"
cp "$WORK/http.expected.json" "$OUT/http.expected.json"

# --- verify with tshark -----------------------------------------------------------
CALLS=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["calls"]))' \
        "$OUT/http.expected.json")
fail=0
check_eq() {  # what got want
    if [ "$2" != "$3" ]; then echo "gen-http.sh: CHECK FAILED $1: got $2 want $3" >&2; fail=1
    else echo "ok: $1 = $2"; fi
}
# Count HTTP PDUs, not frames: the three pipelined requests share one segment.
count_pdus() {  # file field [tshark args...]
    local file="$1" field="$2"; shift 2
    tshark -r "$file" -d udp.port==4789,vxlan "$@" -T fields -e "$field" 2>/dev/null \
        | tr ',' '\n' | grep -c . || true
}
for f in client-veth server-veth underlay-vxlan; do
    n=$(count_pdus "$OUT/$f.pcap" http.request.method)
    check_eq "$f.pcap HTTP requests" "$n" "$CALLS"
    n=$(count_pdus "$OUT/$f.pcap" http.response.code)
    check_eq "$f.pcap HTTP responses (finals + one 100 Continue)" "$n" "$((CALLS + 1))"
    n=$(tshark -r "$OUT/$f.pcap" -d udp.port==4789,vxlan -Y 'http.transfer_encoding == "chunked"' 2>/dev/null | wc -l)
    check_eq "$f.pcap chunked responses" "$n" 2
    max=$(tshark -r "$OUT/$f.pcap" -T fields -e frame.len 2>/dev/null | sort -n | tail -1)
    lim=1514; [ "$f" = underlay-vxlan ] && lim=1564
    if [ "$max" -le "$lim" ]; then echo "ok: $f.pcap largest frame $max <= $lim"
    else echo "gen-http.sh: CHECK FAILED $f.pcap has a $max-byte frame (offloads still on?)" >&2; fail=1; fi
done
# tshark's TCP analysis sees the same connection three times in the merged
# file (later copies look like retransmissions), so count per interface.
for ifname in cli0 vx-srv srv-ul; do
    tshark -r "$OUT/multi-point.pcapng" -Y "frame.interface_name == \"$ifname\"" \
        -w "$WORK/split-$ifname.pcapng" 2>/dev/null
    n=$(count_pdus "$WORK/split-$ifname.pcapng" http.request.method)
    check_eq "multi-point.pcapng interface $ifname HTTP requests" "$n" "$CALLS"
done
names=$(tshark -r "$OUT/multi-point.pcapng" -T fields -e frame.interface_name 2>/dev/null | sort -u | tr '\n' ' ')
check_eq "multi-point.pcapng interface names" "$names" "cli0 srv-ul vx-srv "
ttl_cli=$(tshark -r "$OUT/client-veth.pcap" -Y "http.response && ip.src==$SERVER_IP" -T fields -e ip.ttl 2>/dev/null | sort -u | tr '\n' ' ')
ttl_srv=$(tshark -r "$OUT/server-veth.pcap" -Y "http.request && ip.dst==$SERVER_IP" -T fields -e ip.ttl 2>/dev/null | sort -u | tr '\n' ' ')
check_eq "TTL of responses at the client" "$ttl_cli" "63 "
check_eq "TTL of requests at the server" "$ttl_srv" "63 "
[ $fail -eq 0 ] || exit 1
ls -l "$OUT"
echo "gen-http.sh: $CALLS calls captured at 3 points"

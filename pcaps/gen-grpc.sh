#!/usr/bin/env bash
# Regenerate the real gRPC (HTTP/2 cleartext) test captures under pcaps/grpc/.
#
#   sudo bash pcaps/gen-grpc.sh
#
# Needs root, iproute2, tcpdump, tshark/editcap (Debian: tshark), python3 with
# grpcio and grpcio-tools (pip install grpcio grpcio-tools); ethtool is
# optional but recommended (offloads off => captured frames are wire sizes).
#
# Topology: the one of gen-http.sh, in namespaces of its own (wsg-*), so both
# scripts can run at the same time:
#
#   wsg-cli                wsg-rtr (ip_forward=1)                wsg-srv
#   cli0 10.200.1.2 -veth- rtr-cli 10.200.1.1
#                          rtr-ul 10.200.0.1/30 ---veth "underlay"--- srv-ul 10.200.0.2/30 (mtu 1550)
#                          vx-rtr 10.200.2.1/24 == VXLAN VNI 4242 == vx-srv 10.200.2.2/24 (mtu 1500)
#                                                 UDP 4789           grpc server :50051 :9000
#
# Capture points (tcpdump -s 0 -U, pcap):
#   grpc/client-veth.pcap    cli0   in wsg-cli  (TTL 64 out / 63 in)
#   grpc/server-veth.pcap    vx-srv in wsg-srv  (inner frames; TTL 63 in / 64 out)
#   grpc/underlay-vxlan.pcap srv-ul in wsg-srv  (outer IPv4/UDP 4789/VXLAN 4242)
#   grpc/midstream.pcap      client-veth.pcap from the request HEADERS of
#                            call 3 on (connection 0 joined mid-connection)
#   grpc/grpc.expected.json  grpc_app.py client record + server peer ports
#   grpc/midstream.expected.json  which calls the cut holds and which header
#                            fields of them refer to HPACK dynamic-table
#                            entries made before the cut (grpc_app.py hpack-report)
#
# Idempotent: removes leftovers of a previous run first; a trap removes the
# namespaces and stops every process it started, also on failure.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="$HERE/grpc"
NS_CLI=wsg-cli
NS_RTR=wsg-rtr
NS_SRV=wsg-srv
SERVER_IP=10.200.2.2
PORT=50051
PORT2=9000
CUT_CALL=3          # midstream.pcap starts at the request HEADERS of this call

if [ "$(id -u)" -ne 0 ]; then
    echo "gen-grpc.sh: must run as root (network namespaces, tcpdump)" >&2
    exit 1
fi
for tool in ip tcpdump tshark editcap python3; do
    command -v "$tool" >/dev/null || { echo "gen-grpc.sh: missing $tool" >&2; exit 1; }
done
python3 -c 'import grpc, grpc_tools' 2>/dev/null || {
    echo "gen-grpc.sh: needs python3 grpcio and grpcio-tools (pip install grpcio grpcio-tools)" >&2
    exit 1; }

WORK="$(mktemp -d /tmp/wirespan-gen-grpc.XXXXXX)"
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
        echo "gen-grpc.sh: FAILED (rc=$rc); logs in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- leftovers from an interrupted run -------------------------------------
del_ns "$NS_CLI"; del_ns "$NS_RTR"; del_ns "$NS_SRV"

# --- namespaces (copied from gen-http.sh, other namespace names) ------------
for ns in "$NS_CLI" "$NS_RTR" "$NS_SRV"; do
    ip netns add "$ns"
    nsx "$ns" ip link set lo up
    # no IPv6 router solicitations / MLD noise in the captures
    nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 2>/dev/null || true
    nsx "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
done
nsx "$NS_RTR" sysctl -qw net.ipv4.ip_forward=1

# client <-> router (the links are created directly inside the namespaces,
# so the names cannot collide with gen-http.sh's)
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
    echo "gen-grpc.sh: warning: ethtool not found; only gso_max_size capped," \
         "checksums in captures may be partial (offloaded)" >&2
fi

# --- the gRPC server in the server namespace ------------------------------------
GEN="$WORK/gen"
mkdir -p "$GEN"
python3 -m grpc_tools.protoc -I "$OUT" --python_out="$GEN" --grpc_python_out="$GEN" \
    "$OUT/shop.proto"
# bounded: the server stops by itself after --max-seconds
ip netns exec "$NS_SRV" python3 "$HERE/grpc_app.py" server --gen "$GEN" \
    --bind "$SERVER_IP" --ports "$PORT,$PORT2" --log "$WORK/server.jsonl" \
    --max-seconds 300 >"$WORK/server.out" 2>&1 &
PIDS+=($!)
# reachable from the client across router + VXLAN (plain TCP connects, before
# the captures start; this also warms up ARP, inner and outer)
for i in $(seq 1 100); do
    nsx "$NS_CLI" python3 -c '
import socket, sys
for port in sys.argv[2:]:
    socket.create_connection((sys.argv[1], int(port)), timeout=1).close()
' "$SERVER_IP" "$PORT" "$PORT2" 2>/dev/null && break
    [ "$i" = 100 ] && { echo "gen-grpc.sh: grpc server unreachable from $NS_CLI" >&2;
                       cat "$WORK/server.out" >&2; exit 1; }
    sleep 0.2
done

# --- captures -------------------------------------------------------------
CAP="$WORK/cap"
mkdir -p "$CAP"
start_capture() {  # ns dev name
    local ns="$1" dev="$2" name="$3"
    ip netns exec "$ns" tcpdump -i "$dev" -s 0 -U -n -Z root -w "$CAP/$name.pcap" \
        2>"$CAP/$name.tcpdump.err" &
    PIDS+=($!)
}
start_capture "$NS_CLI" cli0   client-veth
start_capture "$NS_SRV" vx-srv server-veth
start_capture "$NS_SRV" srv-ul underlay-vxlan
for name in client-veth server-veth underlay-vxlan; do
    for i in $(seq 1 100); do
        grep -q "listening on" "$CAP/$name.tcpdump.err" 2>/dev/null && break
        [ "$i" = 100 ] && { echo "gen-grpc.sh: capture $name did not start" >&2;
                           cat "$CAP/$name".*.err >&2; exit 1; }
        sleep 0.1
    done
done
sleep 0.5

# --- the calls --------------------------------------------------------------
# server.jsonl holds only the calls made from here on (the probes above were
# plain TCP connects, no RPC)
nsx "$NS_CLI" timeout 120 python3 "$HERE/grpc_app.py" client --gen "$GEN" \
    --server "$SERVER_IP" --port "$PORT" --port2 "$PORT2" --out "$WORK/client.json"

sleep 1   # let the last FIN/ACKs reach every capture point
for pid in "${PIDS[@]:1}"; do stop_pid "$pid" INT; done
PIDS=("${PIDS[0]}")

# --- assemble the outputs -----------------------------------------------------
mkdir -p "$OUT"
for name in client-veth server-veth underlay-vxlan; do
    cp "$CAP/$name.pcap" "$OUT/$name.pcap"
done
python3 "$HERE/grpc_app.py" merge --client "$WORK/client.json" \
    --server-log "$WORK/server.jsonl" --out "$OUT/grpc.expected.json"

# midstream.pcap: client-veth.pcap from the frame that carries the request
# HEADERS of call $CUT_CALL (the first call after the pause) on.
DEC=(-d "tcp.port==$PORT,http2" -d "tcp.port==$PORT2,http2")
CUT_FRAME=$(tshark -r "$OUT/client-veth.pcap" "${DEC[@]}" \
    -Y "ip.src==10.200.1.2 && tcp.dstport==$PORT && http2.headers.path" \
    -T fields -e frame.number 2>/dev/null | sed -n "$((CUT_CALL + 1))p")
[ -n "$CUT_FRAME" ] || { echo "gen-grpc.sh: no request HEADERS for call $CUT_CALL" >&2; exit 1; }
tshark -r "$OUT/client-veth.pcap" -Y "frame.number >= $CUT_FRAME" -F pcap \
    -w "$OUT/midstream.pcap" 2>/dev/null
python3 "$HERE/grpc_app.py" hpack-report --pcap "$OUT/client-veth.pcap" \
    --cut-frame "$CUT_FRAME" --expected "$OUT/grpc.expected.json" \
    --ports "$PORT,$PORT2" --out "$OUT/midstream.expected.json"

# --- verify with tshark -----------------------------------------------------------
bash "$OUT/check.sh"
ls -l "$OUT"
echo "gen-grpc.sh: $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["calls"]))' \
    "$OUT/grpc.expected.json") calls captured at 3 points; midstream.pcap from frame $CUT_FRAME"

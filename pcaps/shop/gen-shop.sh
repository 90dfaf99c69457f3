#!/usr/bin/env bash
# The wirespan end-to-end demo: a small "shop" of OpenTelemetry-instrumented
# Python services in a flannel-like two-node pod network, with the packets
# captured at six points and every OTLP export body recorded.
#
#   sudo bash pcaps/shop/gen-shop.sh
#
# Needs root, iproute2 (ip, bridge), tcpdump, tshark, ethtool (recommended),
# Debian's MariaDB server binaries (mariadbd, mariadb-install-db, mariadb),
# curl, python3 with grpcio, grpcio-tools, PyMySQL, flask, requests and the
# OpenTelemetry packages (see README.md).
#
# Topology (all namespaces are created here; nothing leaves them):
#
#  node1 (wse-node1, ip_forward)              node2 (wse-node2, ip_forward)
#  cni0 10.244.1.1/24 (bridge)                cni0 10.244.2.1/24 (bridge)
#   |- veth-frontend == eth0 frontend          |- veth-cart    == eth0 cart    10.244.2.10 :50051 gRPC
#   |                   10.244.1.10 :8080      |- veth-catalog == eth0 catalog 10.244.2.20 :9090  HTTP
#   '- veth-loadgen  == eth0 loadgen           '- veth-db      == eth0 db      10.244.2.30 :3306  MariaDB
#                       10.244.1.20 (curl)
#  flannel.1 10.244.1.0/32 VXLAN VNI 1 ====== UDP 8472 ====== flannel.1 10.244.2.0/32
#  eth0 192.168.50.1/24 ------------- veth "underlay" ------------- eth0 192.168.50.2/24
#  recorder on 10.244.1.1:38086               recorder on 10.244.2.1:38086
#
# Pod MTU 1450, underlay MTU 1500 (as flannel's vxlan backend); offloads off.
#
# Outputs (in this directory): node1-veth-frontend.pcap, node1-veth-loadgen.pcap,
# node1-underlay.pcap, node2-veth-cart.pcap, node2-veth-catalog.pcap,
# node2-veth-db.pcap, otlp/<node>-<seq>.pb, otlp/index.json, shop.expected.json.
# check.sh is run at the end.
#
# Idempotent: removes leftovers of a previous run first; a trap removes the
# namespaces and stops every process it started, also on failure.
#
# The topology, MariaDB, the services, the probes and the load generator are in
# lib.sh, shared with live-shop.sh (the same shop with wirespan as the live agent).
set -euo pipefail

ME=gen-shop.sh
NSP=wse                   # namespaces wse-node1, wse-node2, wse-<pod>
# shellcheck source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
OUT="$HERE"

shop_preflight tcpdump tshark
WORK="$(mktemp -d /tmp/wirespan-gen-shop.XXXXXX)"
shop_install_cleanup     # the trap; also removes leftovers of an interrupted run

# --- the topology (lib.sh) ---------------------------------------------------------
shop_topology

# --- the OTLP recorders, one per node, on the bridge IP -----------------------
REC="$WORK/otlp"
mkdir -p "$REC"
for n in 1 2; do
    ip netns exec "$(node_ns $n)" "$PY" "$APP/recorder.py" --bind "10.244.$n.1" \
        --port "$OTLP_PORT" --node "node$n" --out "$REC" --max-seconds "$MAX_SECONDS" \
        >"$WORK/recorder-node$n.out" 2>&1 &
    PIDS+=($!)
done

# --- MariaDB and the services (lib.sh), then readiness before the captures ------------
shop_start_db
shop_start_services
shop_probe_edges
shop_probe_collectors
[ -z "$(ls "$REC"/*.pb 2>/dev/null)" ] || { echo "gen-shop.sh: spans before the calls?" >&2; exit 1; }

# --- LATE_JOIN=1: one checkout before the captures start, so that the frontend's gRPC
# channel to the cart (one long-lived HTTP/2 connection), its HPACK tables and the services'
# DB connections are older than the capture, as when an agent starts or restarts ----------
if [ -n "${LATE_JOIN:-}" ]; then
    shop_request 0
    sleep 1
fi

# --- captures -----------------------------------------------------------------
CAP="$WORK/cap"
mkdir -p "$CAP"
CAP_NAMES=()
start_capture() {  # node dev name filter
    local ns="$1" dev="$2" name="$3" filter="$4"
    ip netns exec "$ns" tcpdump -i "$dev" -s 0 -U -n -Z root \
        --time-stamp-precision=nano -w "$CAP/$name.pcap" "$filter" \
        2>"$CAP/$name.tcpdump.err" &
    PIDS+=($!)
    CAP_PIDS+=($!)
    CAP_NAMES+=("$name")
}
CAP_PIDS=()
POD_FILTER="tcp and not port $OTLP_PORT"
# outer UDP 8472 carrying inner IPv4 (ethertype at udp[28]) TCP (proto at udp[39])
UL_FILTER="udp port 8472 and udp[28:2] = 0x0800 and udp[39] = 6"
start_capture "$(node_ns 1)" veth-frontend node1-veth-frontend "$POD_FILTER"
start_capture "$(node_ns 1)" veth-loadgen  node1-veth-loadgen  "$POD_FILTER"
start_capture "$(node_ns 1)" eth0          node1-underlay      "$UL_FILTER"
start_capture "$(node_ns 2)" veth-cart     node2-veth-cart     "$POD_FILTER"
start_capture "$(node_ns 2)" veth-catalog  node2-veth-catalog  "$POD_FILTER"
start_capture "$(node_ns 2)" veth-db       node2-veth-db       "$POD_FILTER"
for name in "${CAP_NAMES[@]}"; do
    for i in $(seq 1 100); do
        grep -q "listening on" "$CAP/$name.tcpdump.err" 2>/dev/null && break
        [ "$i" = 100 ] && { echo "gen-shop.sh: capture $name did not start" >&2;
                           cat "$CAP/$name.tcpdump.err" >&2; exit 1; }
        sleep 0.1
    done
done
sleep 0.5

# --- the load: N sequential, uninstrumented requests (lib.sh) ------------------------
shop_loadgen "$WORK/loadgen.jsonl"

# --- wait until every span reached a recorder (batch delay 300 ms) ------------------
WANT=$((REQUESTS * SPANS_PER_REQUEST))
for i in $(seq 1 100); do
    got=$("$PY" - "$REC" <<'PY'
import glob, sys
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
n = 0
for f in glob.glob(sys.argv[1] + "/*.pb"):
    r = ExportTraceServiceRequest()
    try:
        r.ParseFromString(open(f, "rb").read())
    except Exception:   # being written right now
        continue
    n += sum(len(ss.spans) for rs in r.resource_spans for ss in rs.scope_spans)
print(n)
PY
)
    [ "$got" -ge "$WANT" ] && break
    [ "$i" = 100 ] && { echo "gen-shop.sh: only $got of $WANT spans recorded" >&2; exit 1; }
    sleep 0.2
done
echo "recorded $got spans (want >= $WANT)"

# stop the services (SIGTERM: close the gRPC channel and the DB connection,
# flush the span processor) while the captures still run, so the
# connections' ends are captured too
shop_stop_services
sleep 1
for pid in "${CAP_PIDS[@]}"; do stop_pid "$pid" INT; done
for name in "${CAP_NAMES[@]}"; do
    grep -q "^0 packets dropped by kernel" "$CAP/$name.tcpdump.err" || {
        echo "gen-shop.sh: warning: $name:" "$(grep dropped "$CAP/$name.tcpdump.err")" >&2; }
done

# --- the load mode (gen-load.sh): the captures, the bodies, the load generator's log and the
# services' own records go to $SHOP_LOAD_OUT as they are; check_load.py checks them -------
if [ -n "${SHOP_LOAD_OUT:-}" ]; then
    mkdir -p "$SHOP_LOAD_OUT"
    rm -rf "$SHOP_LOAD_OUT/otlp"
    mkdir -p "$SHOP_LOAD_OUT/otlp"
    for name in "${CAP_NAMES[@]}"; do cp "$CAP/$name.pcap" "$SHOP_LOAD_OUT/$name.pcap"; done
    cp "$REC"/*.pb "$SHOP_LOAD_OUT/otlp/"
    cp "$WORK/loadgen.jsonl" "$WORK/cart-records.jsonl" "$WORK/catalog-records.jsonl" \
        "$SHOP_LOAD_OUT/"
    echo "gen-shop.sh: $REQUESTS requests, $CONCURRENCY at once, $got spans -> $SHOP_LOAD_OUT"
    exit 0
fi

# --- assemble the outputs: first in $WORK/out, checked there, and only then
# moved over the previous ones (a failed run leaves those untouched) --------------
STAGE="$WORK/out"
mkdir -p "$STAGE/otlp"
for name in "${CAP_NAMES[@]}"; do cp "$CAP/$name.pcap" "$STAGE/$name.pcap"; done
cp "$REC"/*.pb "$STAGE/otlp/"
"$PY" "$HERE/build_expected.py" --dir "$STAGE" --recorder-index "$REC" \
    --loadgen "$WORK/loadgen.jsonl"
bash "$HERE/check.sh" "$STAGE" >"$WORK/check-stage.log" 2>&1 || {
    cat "$WORK/check-stage.log" >&2; exit 1; }

for name in "${CAP_NAMES[@]}"; do cp "$STAGE/$name.pcap" "$OUT/$name.pcap"; done
rm -rf "$OUT/otlp"
cp -r "$STAGE/otlp" "$OUT/otlp"
cp "$STAGE/shop.expected.json" "$OUT/shop.expected.json"

# --- verify ---------------------------------------------------------------------
bash "$HERE/check.sh"
du -sh "$OUT" | sed 's/^/total size: /'
echo "gen-shop.sh: $REQUESTS requests, $got spans in $(ls "$OUT"/otlp/*.pb | wc -l) OTLP bodies," \
     "6 capture points"

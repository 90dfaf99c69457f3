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
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
APP="$HERE/app"
OUT="$HERE"
REQUESTS=${REQUESTS:-5}
SPANS_PER_REQUEST=6
DB_USER=shop
DB_PASS=shop-secret-1
OTLP_PORT=38086
OTLP_PATH=/api/v1/otel/trace
MAX_SECONDS=300       # every server we start stops by itself after this

NODES=(wse-node1 wse-node2)
PODS=(frontend loadgen cart catalog db)
declare -A POD_NODE=([frontend]=1 [loadgen]=1 [cart]=2 [catalog]=2 [db]=2)
declare -A POD_IP=([frontend]=10.244.1.10 [loadgen]=10.244.1.20
                   [cart]=10.244.2.10 [catalog]=10.244.2.20 [db]=10.244.2.30)
FRONTEND_IP=${POD_IP[frontend]}
CART_IP=${POD_IP[cart]}
CATALOG_IP=${POD_IP[catalog]}
DB_IP=${POD_IP[db]}

if [ "$(id -u)" -ne 0 ]; then
    echo "gen-shop.sh: must run as root (network namespaces, tcpdump)" >&2
    exit 1
fi
for tool in ip bridge tcpdump tshark python3 curl mariadbd mariadb-install-db mariadb; do
    command -v "$tool" >/dev/null || { echo "gen-shop.sh: missing $tool" >&2; exit 1; }
done
PY="$(python3 -c 'import sys; print(sys.executable)')"
"$PY" -c '
import grpc, grpc_tools, pymysql, flask, requests
import opentelemetry.sdk, opentelemetry.proto
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.grpc import GrpcInstrumentorClient
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.instrumentation.pymysql import PyMySQLInstrumentor
' 2>/dev/null || {
    echo "gen-shop.sh: python packages missing; see README.md (pip install ...)" >&2; exit 1; }

export PYTHONDONTWRITEBYTECODE=1   # no __pycache__ in the repository

WORK="$(mktemp -d /tmp/wirespan-gen-shop.XXXXXX)"
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

del_all_ns() {
    local p n
    for p in "${PODS[@]}"; do del_ns "wse-$p"; done
    for n in "${NODES[@]}"; do del_ns "$n"; done
}

cleanup() {
    local rc=$? i
    set +e
    for ((i=${#PIDS[@]}-1; i>=0; i--)); do stop_pid "${PIDS[$i]}"; done
    del_all_ns
    if [ $rc -ne 0 ]; then
        echo "gen-shop.sh: FAILED (rc=$rc); logs in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- leftovers from an interrupted run -------------------------------------
del_all_ns

# --- namespaces ------------------------------------------------------------
new_ns() {
    ip netns add "$1"
    nsx "$1" ip link set lo up
    # no IPv6 router solicitations / MLD noise
    nsx "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 2>/dev/null || true
    nsx "$1" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
}

offloads_off() {  # (copied from gen-http.sh)
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
if ! command -v ethtool >/dev/null; then
    echo "gen-shop.sh: warning: ethtool not found (apt-get install -y ethtool);" \
         "only gso_max_size capped" >&2
fi

# the nodes: a bridge cni0 each, joined by the underlay veth (eth0 <-> eth0)
for n in 1 2; do
    new_ns "wse-node$n"
    nsx "wse-node$n" sysctl -qw net.ipv4.ip_forward=1
    nsx "wse-node$n" ip link add cni0 address "02:00:0a:f4:0$n:01" type bridge
    nsx "wse-node$n" ip link set cni0 mtu 1450
    nsx "wse-node$n" ip addr add "10.244.$n.1/24" dev cni0
    nsx "wse-node$n" ip link set cni0 up
done
ip link add eth0 netns wse-node1 address 02:00:c0:a8:32:01 mtu 1500 type veth \
    peer name eth0 netns wse-node2 address 02:00:c0:a8:32:02 mtu 1500
for n in 1 2; do
    nsx "wse-node$n" ip addr add "192.168.50.$n/24" dev eth0
    nsx "wse-node$n" ip link set eth0 up
done

# flannel's vxlan backend: flannel.1 (VNI 1, UDP 8472, no learning), the
# other node's subnet routed via its flannel.1 address (onlink), with a
# permanent neighbour entry and an FDB entry pointing at its underlay IP
for n in 1 2; do
    nsx "wse-node$n" ip link add flannel.1 address "02:fe:0a:f4:0$n:00" type vxlan id 1 \
        local "192.168.50.$n" dev eth0 dstport 8472 nolearning
    nsx "wse-node$n" ip link set flannel.1 mtu 1450
    nsx "wse-node$n" ip addr add "10.244.$n.0/32" dev flannel.1
    nsx "wse-node$n" ip link set flannel.1 up
done
for n in 1 2; do
    o=$((3 - n))
    nsx "wse-node$n" ip route add "10.244.$o.0/24" via "10.244.$o.0" dev flannel.1 onlink
    nsx "wse-node$n" ip neigh replace "10.244.$o.0" lladdr "02:fe:0a:f4:0$o:00" \
        dev flannel.1 nud permanent
    nsx "wse-node$n" bridge fdb append "02:fe:0a:f4:0$o:00" dev flannel.1 dst "192.168.50.$o"
done

# the pods: eth0 in the pod, veth-<pod> on the node's bridge
for p in "${PODS[@]}"; do
    n=${POD_NODE[$p]}
    ipa=${POD_IP[$p]}
    h=${ipa##*.}
    new_ns "wse-$p"
    ip link add eth0 netns "wse-$p" address "$(printf '02:00:0a:f4:%02x:%02x' "$n" "$h")" \
        mtu 1450 type veth peer name "veth-$p" netns "wse-node$n" \
        address "$(printf '02:01:0a:f4:%02x:%02x' "$n" "$h")" mtu 1450
    nsx "wse-$p" ip addr add "$ipa/24" dev eth0
    nsx "wse-$p" ip link set eth0 up
    nsx "wse-$p" ip route add default via "10.244.$n.1"
    nsx "wse-node$n" ip link set "veth-$p" master cni0
    nsx "wse-node$n" ip link set "veth-$p" up
    offloads_off "wse-$p" eth0
    offloads_off "wse-node$n" "veth-$p"
done
for n in 1 2; do
    for dev in cni0 flannel.1 eth0; do offloads_off "wse-node$n" "$dev"; done
done

# --- the OTLP recorders, one per node, on the bridge IP -----------------------
REC="$WORK/otlp"
mkdir -p "$REC"
for n in 1 2; do
    ip netns exec "wse-node$n" "$PY" "$APP/recorder.py" --bind "10.244.$n.1" \
        --port "$OTLP_PORT" --node "node$n" --out "$REC" --max-seconds "$MAX_SECONDS" \
        >"$WORK/recorder-node$n.out" 2>&1 &
    PIDS+=($!)
done

# --- a private MariaDB in the db pod (as gen-mysql.sh) -------------------------
DATA="$WORK/data"
SOCK="$WORK/mysqld.sock"
mariadb-install-db --no-defaults --user=root --datadir="$DATA" --skip-test-db \
    --auth-root-authentication-method=socket --skip-name-resolve \
    >"$WORK/install-db.log" 2>&1 || { cat "$WORK/install-db.log" >&2; exit 1; }
ip netns exec wse-db mariadbd --no-defaults --user=root --datadir="$DATA" \
    --socket="$SOCK" --pid-file="$WORK/mysqld.pid" --log-error="$WORK/mysqld.err" \
    --bind-address="$DB_IP" --port=3306 \
    --skip-ssl --skip-name-resolve --skip-log-bin --performance-schema=OFF \
    --innodb-buffer-pool-size=32M --max-connections=20 --thread-cache-size=0 \
    --skip-external-locking >"$WORK/mysqld.out" 2>&1 &
MYSQLD_PID=$!
PIDS+=($MYSQLD_PID)
for i in $(seq 1 150); do
    [ -S "$SOCK" ] && nsx wse-db mariadb --no-defaults -S "$SOCK" -u root \
        -e 'SELECT 1' >/dev/null 2>&1 && break
    [ "$i" = 150 ] && { echo "gen-shop.sh: mariadbd did not start" >&2;
                       cat "$WORK/mysqld.err" >&2; exit 1; }
    alive "$MYSQLD_PID" || { echo "gen-shop.sh: mariadbd exited" >&2;
                             cat "$WORK/mysqld.err" >&2; exit 1; }
    sleep 0.2
done
nsx wse-db mariadb --no-defaults -S "$SOCK" -u root <<SQL
CREATE DATABASE shop;
CREATE USER '$DB_USER'@'%' IDENTIFIED BY '$DB_PASS';
GRANT SELECT ON shop.* TO '$DB_USER'@'%';
USE shop;
CREATE TABLE items (sku VARCHAR(16) PRIMARY KEY, name VARCHAR(64) NOT NULL,
                    price_cents INT NOT NULL);
CREATE TABLE cart_items (user_id INT NOT NULL, sku VARCHAR(16) NOT NULL,
                         qty INT NOT NULL, PRIMARY KEY (user_id, sku));
INSERT INTO items VALUES ('sku-1','teapot',1999), ('sku-2','mug',499),
    ('sku-3','kettle',3499), ('sku-4','tea, green, 100 g',650), ('sku-5','strainer',299);
INSERT INTO cart_items VALUES (1,'sku-1',1), (1,'sku-2',2), (2,'sku-3',1),
    (3,'sku-2',4), (3,'sku-4',2), (3,'sku-5',1), (4,'sku-1',1), (5,'sku-4',3);
SQL

# --- the services ----------------------------------------------------------------
GEN="$WORK/gen"
mkdir -p "$GEN"
"$PY" -m grpc_tools.protoc -I "$APP" --python_out="$GEN" --grpc_python_out="$GEN" \
    "$APP/cart.proto"
collector() { echo "http://10.244.$1.1:$OTLP_PORT$OTLP_PATH"; }

ip netns exec wse-cart "$PY" "$APP/cart.py" --gen "$GEN" --bind "$CART_IP" \
    --db "$DB_IP" --user "$DB_USER" --password "$DB_PASS" \
    --collector "$(collector 2)" --pod cart --node node2 --max-seconds "$MAX_SECONDS" \
    >"$WORK/cart.out" 2>&1 &
CART_PID=$!; PIDS+=($CART_PID)
ip netns exec wse-catalog "$PY" "$APP/catalog.py" --bind "$CATALOG_IP" \
    --db "$DB_IP" --user "$DB_USER" --password "$DB_PASS" \
    --collector "$(collector 2)" --pod catalog --node node2 --max-seconds "$MAX_SECONDS" \
    >"$WORK/catalog.out" 2>&1 &
CATALOG_PID=$!; PIDS+=($CATALOG_PID)
ip netns exec wse-frontend "$PY" "$APP/frontend.py" --gen "$GEN" --bind "$FRONTEND_IP" \
    --cart "$CART_IP:50051" --catalog "http://$CATALOG_IP:9090" \
    --collector "$(collector 1)" --pod frontend --node node1 --max-seconds "$MAX_SECONDS" \
    >"$WORK/frontend.out" 2>&1 &
FRONTEND_PID=$!; PIDS+=($FRONTEND_PID)

# --- readiness, before the captures: plain TCP connects along every edge (and
# a real DB login from the two DB clients); this also warms up ARP on both
# bridges and the underlay, so the captures hold the shop's calls only
probe() {  # from-pod ip port [mysql]
    local from="$1" ip="$2" port="$3" kind="${4:-tcp}" i
    for i in $(seq 1 100); do
        nsx "wse-$from" "$PY" -c '
import socket, sys
ip, port, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if kind == "mysql":
    import pymysql
    pymysql.connect(host=ip, port=port, user=sys.argv[4], password=sys.argv[5],
                    database="shop", connect_timeout=2).close()
else:
    socket.create_connection((ip, port), timeout=1).close()
' "$ip" "$port" "$kind" "$DB_USER" "$DB_PASS" 2>"$WORK/probe.err" && return 0
        for pid in "$CART_PID" "$CATALOG_PID" "$FRONTEND_PID" "$MYSQLD_PID"; do
            alive "$pid" || { echo "gen-shop.sh: a service exited early" >&2;
                              tail -n 30 "$WORK"/*.out >&2; exit 1; }
        done
        sleep 0.2
    done
    echo "gen-shop.sh: $ip:$port unreachable from $from" >&2
    cat "$WORK/probe.err" >&2; tail -n 30 "$WORK"/*.out >&2
    exit 1
}
probe cart "$DB_IP" 3306 mysql
probe catalog "$DB_IP" 3306 mysql
probe frontend "$CART_IP" 50051          # across the VXLAN
probe frontend "$CATALOG_IP" 9090        # across the VXLAN
probe cart "${POD_IP[frontend]}" 8080    # the other direction across the VXLAN
probe loadgen "$FRONTEND_IP" 8080
for p in frontend cart catalog; do probe "$p" "10.244.${POD_NODE[$p]}.1" "$OTLP_PORT"; done
[ -z "$(ls "$REC"/*.pb 2>/dev/null)" ] || { echo "gen-shop.sh: spans before the calls?" >&2; exit 1; }

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
start_capture wse-node1 veth-frontend node1-veth-frontend "$POD_FILTER"
start_capture wse-node1 veth-loadgen  node1-veth-loadgen  "$POD_FILTER"
start_capture wse-node1 eth0          node1-underlay      "$UL_FILTER"
start_capture wse-node2 veth-cart     node2-veth-cart     "$POD_FILTER"
start_capture wse-node2 veth-catalog  node2-veth-catalog  "$POD_FILTER"
start_capture wse-node2 veth-db       node2-veth-db       "$POD_FILTER"
for name in "${CAP_NAMES[@]}"; do
    for i in $(seq 1 100); do
        grep -q "listening on" "$CAP/$name.tcpdump.err" 2>/dev/null && break
        [ "$i" = 100 ] && { echo "gen-shop.sh: capture $name did not start" >&2;
                           cat "$CAP/$name.tcpdump.err" >&2; exit 1; }
        sleep 0.1
    done
done
sleep 0.5

# --- the load: N sequential, uninstrumented requests --------------------------------
: >"$WORK/loadgen.jsonl"
for k in $(seq 1 "$REQUESTS"); do
    url="http://$FRONTEND_IP:8080/shop?user=$k"
    w=$(nsx wse-loadgen curl -sS --max-time 15 -o "$WORK/response-$k.json" \
        -w '%{http_code} %{local_ip} %{local_port} %{remote_ip} %{remote_port}' "$url")
    read -r code lip lport rip rport <<<"$w"
    [ "$code" = 200 ] || { echo "gen-shop.sh: $url -> $code" >&2;
                           cat "$WORK/response-$k.json" >&2; tail -n 30 "$WORK"/*.out >&2; exit 1; }
    "$PY" -c 'import json,sys; print(json.dumps({"k": int(sys.argv[1]), "url": sys.argv[2],
        "status": int(sys.argv[3]), "client": sys.argv[4] + ":" + sys.argv[5],
        "server": sys.argv[6] + ":" + sys.argv[7],
        "response": json.load(open(sys.argv[8]))}, sort_keys=True))' \
        "$k" "$url" "$code" "$lip" "$lport" "$rip" "$rport" "$WORK/response-$k.json" \
        >>"$WORK/loadgen.jsonl"
    echo "loadgen: GET $url -> $code (from $lip:$lport)"
    sleep 0.5
done

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
for pid in "$FRONTEND_PID" "$CATALOG_PID" "$CART_PID"; do stop_pid "$pid" TERM; done
sleep 1
for pid in "${CAP_PIDS[@]}"; do stop_pid "$pid" INT; done
for name in "${CAP_NAMES[@]}"; do
    grep -q "^0 packets dropped by kernel" "$CAP/$name.tcpdump.err" || {
        echo "gen-shop.sh: warning: $name:" "$(grep dropped "$CAP/$name.tcpdump.err")" >&2; }
done

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

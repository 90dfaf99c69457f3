# Shared by gen-shop.sh (pcaps + recorded OTLP bodies) and live-shop.sh (wirespan as the
# agent on both nodes): the shop's topology, its database, its services, the readiness
# probes and the load generator.  Sourced, not run.
#
# Before sourcing, set:
#   ME    the script's name, for messages ("gen-shop.sh")
#   NSP   the namespace prefix: the namespaces are $NSP-node1, $NSP-node2 and
#         $NSP-<pod> (gen-shop.sh: wse, live-shop.sh: wsv, so both can run at once)
#   WORK  a scratch directory of the run (logs, the MariaDB datadir, generated modules)
# Then call, in this order: shop_preflight, shop_install_cleanup, shop_topology,
# shop_start_db, shop_start_services COLLECTOR_NODE1 COLLECTOR_NODE2, shop_probe_edges,
# shop_loadgen JSONL, shop_stop_services.  Every process started goes into PIDS, which the
# cleanup (an EXIT trap) stops in reverse order before it removes the namespaces.

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
APP="$HERE/app"
REQUESTS=${REQUESTS:-5}
CONCURRENCY=${CONCURRENCY:-1}    # checkouts at once: the load generator sends in rounds of this many
CATALOG_PREFORK=${CATALOG_PREFORK:-0}   # >0: the catalog runs under gunicorn with this many workers
SHOP_TLS=${SHOP_TLS:-0}   # 1: the catalog serves HTTPS; the frontend logs its TLS keys to $SHOP_KEYLOG
SPANS_PER_REQUEST=6
DB_USER=shop
DB_PASS=shop-secret-1
OTLP_PORT=38086
OTLP_PATH=/api/v1/otel/trace
MAX_SECONDS=300       # every server we start stops by itself after this

NODES=("$NSP-node1" "$NSP-node2")
PODS=(frontend loadgen cart catalog db)
declare -A POD_NODE=([frontend]=1 [loadgen]=1 [cart]=2 [catalog]=2 [db]=2)
declare -A POD_IP=([frontend]=10.244.1.10 [loadgen]=10.244.1.20
                   [cart]=10.244.2.10 [catalog]=10.244.2.20 [db]=10.244.2.30)
FRONTEND_IP=${POD_IP[frontend]}
CART_IP=${POD_IP[cart]}
CATALOG_IP=${POD_IP[catalog]}
DB_IP=${POD_IP[db]}

PIDS=()

node_ns() { echo "$NSP-node$1"; }          # node_ns 1 -> wse-node1
pod_ns() { echo "$NSP-$1"; }                # pod_ns cart -> wse-cart
nsx() { local ns="$1"; shift; ip netns exec "$ns" "$@"; }
die() { echo "$ME: $*" >&2; exit 1; }

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
    for p in "${PODS[@]}"; do del_ns "$(pod_ns "$p")"; done
    for n in "${NODES[@]}"; do del_ns "$n"; done
}

shop_cleanup() {
    local rc=$? i
    set +e
    for ((i=${#PIDS[@]}-1; i>=0; i--)); do stop_pid "${PIDS[$i]}"; done
    del_all_ns
    if [ $rc -ne 0 ]; then
        echo "$ME: FAILED (rc=$rc); logs in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit $rc
}

shop_install_cleanup() {
    trap shop_cleanup EXIT
    trap 'exit 130' INT TERM
    # leftovers from an interrupted run
    del_all_ns
}

# --- requirements --------------------------------------------------------------------
shop_preflight() {  # extra tools to require...
    local tool
    [ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces, packet capture)"
    for tool in ip bridge python3 curl mariadbd mariadb-install-db mariadb "$@"; do
        command -v "$tool" >/dev/null || die "missing $tool"
    done
    PY="$(python3 -c 'import sys; print(sys.executable)')"
    "$PY" -c '
import grpc, grpc_tools, pymysql, flask, gunicorn, requests
import opentelemetry.sdk, opentelemetry.proto
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.grpc import GrpcInstrumentorClient
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.instrumentation.pymysql import PyMySQLInstrumentor
' 2>/dev/null || die "python packages missing; see README.md (pip install ...)"
    export PYTHONDONTWRITEBYTECODE=1   # no __pycache__ in the repository
}

# --- namespaces ------------------------------------------------------------------
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

shop_topology() {
    local n o p ipa h nn dev
    if ! command -v ethtool >/dev/null; then
        echo "$ME: warning: ethtool not found (apt-get install -y ethtool);" \
             "only gso_max_size capped" >&2
    fi
    # the nodes: a bridge cni0 each, joined by the underlay veth (eth0 <-> eth0)
    for n in 1 2; do
        nn=$(node_ns $n)
        new_ns "$nn"
        nsx "$nn" sysctl -qw net.ipv4.ip_forward=1
        nsx "$nn" ip link add cni0 address "02:00:0a:f4:0$n:01" type bridge
        nsx "$nn" ip link set cni0 mtu 1450
        nsx "$nn" ip addr add "10.244.$n.1/24" dev cni0
        nsx "$nn" ip link set cni0 up
    done
    ip link add eth0 netns "$(node_ns 1)" address 02:00:c0:a8:32:01 mtu 1500 type veth \
        peer name eth0 netns "$(node_ns 2)" address 02:00:c0:a8:32:02 mtu 1500
    for n in 1 2; do
        nsx "$(node_ns $n)" ip addr add "192.168.50.$n/24" dev eth0
        nsx "$(node_ns $n)" ip link set eth0 up
    done

    # flannel's vxlan backend: flannel.1 (VNI 1, UDP 8472, no learning), the
    # other node's subnet routed via its flannel.1 address (onlink), with a
    # permanent neighbour entry and an FDB entry pointing at its underlay IP
    for n in 1 2; do
        nn=$(node_ns $n)
        nsx "$nn" ip link add flannel.1 address "02:fe:0a:f4:0$n:00" type vxlan id 1 \
            local "192.168.50.$n" dev eth0 dstport 8472 nolearning
        nsx "$nn" ip link set flannel.1 mtu 1450
        nsx "$nn" ip addr add "10.244.$n.0/32" dev flannel.1
        nsx "$nn" ip link set flannel.1 up
    done
    for n in 1 2; do
        o=$((3 - n))
        nn=$(node_ns $n)
        nsx "$nn" ip route add "10.244.$o.0/24" via "10.244.$o.0" dev flannel.1 onlink
        nsx "$nn" ip neigh replace "10.244.$o.0" lladdr "02:fe:0a:f4:0$o:00" \
            dev flannel.1 nud permanent
        nsx "$nn" bridge fdb append "02:fe:0a:f4:0$o:00" dev flannel.1 dst "192.168.50.$o"
    done

    # the pods: eth0 in the pod, veth-<pod> on the node's bridge
    for p in "${PODS[@]}"; do
        n=${POD_NODE[$p]}
        nn=$(node_ns "$n")
        ipa=${POD_IP[$p]}
        h=${ipa##*.}
        new_ns "$(pod_ns "$p")"
        ip link add eth0 netns "$(pod_ns "$p")" \
            address "$(printf '02:00:0a:f4:%02x:%02x' "$n" "$h")" \
            mtu 1450 type veth peer name "veth-$p" netns "$nn" \
            address "$(printf '02:01:0a:f4:%02x:%02x' "$n" "$h")" mtu 1450
        nsx "$(pod_ns "$p")" ip addr add "$ipa/24" dev eth0
        nsx "$(pod_ns "$p")" ip link set eth0 up
        nsx "$(pod_ns "$p")" ip route add default via "10.244.$n.1"
        nsx "$nn" ip link set "veth-$p" master cni0
        nsx "$nn" ip link set "veth-$p" up
        offloads_off "$(pod_ns "$p")" eth0
        offloads_off "$nn" "veth-$p"
    done
    for n in 1 2; do
        for dev in cni0 flannel.1 eth0; do offloads_off "$(node_ns $n)" "$dev"; done
    done
}

# --- a private MariaDB in the db pod (as gen-mysql.sh) -------------------------------
shop_start_db() {
    local i
    DATA="$WORK/data"
    SOCK="$WORK/mysqld.sock"
    mariadb-install-db --no-defaults --user=root --datadir="$DATA" --skip-test-db \
        --auth-root-authentication-method=socket --skip-name-resolve \
        >"$WORK/install-db.log" 2>&1 || { cat "$WORK/install-db.log" >&2; exit 1; }
    ip netns exec "$(pod_ns db)" mariadbd --no-defaults --user=root --datadir="$DATA" \
        --socket="$SOCK" --pid-file="$WORK/mysqld.pid" --log-error="$WORK/mysqld.err" \
        --bind-address="$DB_IP" --port=3306 \
        --skip-ssl --skip-name-resolve --skip-log-bin --performance-schema=OFF \
        --innodb-buffer-pool-size=32M --max-connections=20 --thread-cache-size=0 \
        --skip-external-locking >"$WORK/mysqld.out" 2>&1 &
    MYSQLD_PID=$!
    PIDS+=($MYSQLD_PID)
    for i in $(seq 1 150); do
        [ -S "$SOCK" ] && nsx "$(pod_ns db)" mariadb --no-defaults -S "$SOCK" -u root \
            -e 'SELECT 1' >/dev/null 2>&1 && break
        [ "$i" = 150 ] && { echo "$ME: mariadbd did not start" >&2;
                           cat "$WORK/mysqld.err" >&2; exit 1; }
        alive "$MYSQLD_PID" || { echo "$ME: mariadbd exited" >&2;
                                 cat "$WORK/mysqld.err" >&2; exit 1; }
        sleep 0.2
    done
    nsx "$(pod_ns db)" mariadb --no-defaults -S "$SOCK" -u root <<SQL
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
-- users 6..64 for the load mode: one or two lines each
INSERT INTO cart_items SELECT seq, CONCAT('sku-', 1 + seq % 5), 1 + seq % 3 FROM seq_6_to_64;
INSERT INTO cart_items SELECT seq, CONCAT('sku-', 1 + (seq + 2) % 5), 1 FROM seq_6_to_64 WHERE seq % 2 = 0;
SQL
}

# --- the services ----------------------------------------------------------------------
collector() { echo "http://10.244.$1.1:$OTLP_PORT$OTLP_PATH"; }

shop_start_services() {  # each exports to its node's collector: collector 1 / collector 2
    local catalog_url="http://$CATALOG_IP:9090" catalog_tls=() frontend_env=()
    if [ "$SHOP_TLS" = 1 ]; then
        # A throwaway certificate for the catalog's address; the frontend trusts it and, like
        # any Python client through urllib3, writes its TLS secrets where SSLKEYLOGFILE says.
        SHOP_KEYLOG="$WORK/tls-keys.log"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
            -subj "/CN=catalog.shop.test" -addext "subjectAltName=IP:$CATALOG_IP" \
            -keyout "$WORK/catalog-key.pem" -out "$WORK/catalog-cert.pem" 2>/dev/null
        chmod 644 "$WORK/catalog-key.pem"
        catalog_url="https://$CATALOG_IP:9090"
        catalog_tls=(--tls-cert "$WORK/catalog-cert.pem" --tls-key "$WORK/catalog-key.pem")
        frontend_env=(REQUESTS_CA_BUNDLE="$WORK/catalog-cert.pem" SSLKEYLOGFILE="$SHOP_KEYLOG")
    fi
    GEN="$WORK/gen"
    mkdir -p "$GEN"
    "$PY" -m grpc_tools.protoc -I "$APP" --python_out="$GEN" --grpc_python_out="$GEN" \
        "$APP/cart.proto"
    ip netns exec "$(pod_ns cart)" "$PY" "$APP/cart.py" --gen "$GEN" --bind "$CART_IP" \
        --db "$DB_IP" --user "$DB_USER" --password "$DB_PASS" \
        --collector "$(collector 2)" --pod cart --node node2 --max-seconds "$MAX_SECONDS" \
        --records "$WORK/cart-records.jsonl" >"$WORK/cart.out" 2>&1 &
    CART_PID=$!; PIDS+=($CART_PID)
    ip netns exec "$(pod_ns catalog)" "$PY" "$APP/catalog.py" --bind "$CATALOG_IP" \
        --db "$DB_IP" --user "$DB_USER" --password "$DB_PASS" \
        --collector "$(collector 2)" --pod catalog --node node2 --max-seconds "$MAX_SECONDS" \
        --records "$WORK/catalog-records.jsonl" --prefork "$CATALOG_PREFORK" "${catalog_tls[@]}" \
        >"$WORK/catalog.out" 2>&1 &
    CATALOG_PID=$!; PIDS+=($CATALOG_PID)
    ip netns exec "$(pod_ns frontend)" env "${frontend_env[@]}" "$PY" "$APP/frontend.py" --gen "$GEN" \
        --bind "$FRONTEND_IP" --cart "$CART_IP:50051" --catalog "$catalog_url" \
        --collector "$(collector 1)" --pod frontend --node node1 --max-seconds "$MAX_SECONDS" \
        >"$WORK/frontend.out" 2>&1 &
    FRONTEND_PID=$!; PIDS+=($FRONTEND_PID)
}

# --- readiness: plain TCP connects along every edge (and a real DB login from the two DB
# clients); this also warms up ARP on both bridges and the underlay, so what is captured
# afterwards is the shop's calls only
probe() {  # from-pod ip port [mysql]
    local from="$1" ip="$2" port="$3" kind="${4:-tcp}" i pid
    for i in $(seq 1 100); do
        nsx "$(pod_ns "$from")" "$PY" -c '
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
            alive "$pid" || { echo "$ME: a service exited early" >&2;
                              tail -n 30 "$WORK"/*.out >&2; exit 1; }
        done
        sleep 0.2
    done
    echo "$ME: $ip:$port unreachable from $from" >&2
    cat "$WORK/probe.err" >&2; tail -n 30 "$WORK"/*.out >&2
    exit 1
}

shop_probe_edges() {
    probe cart "$DB_IP" 3306 mysql
    probe catalog "$DB_IP" 3306 mysql
    probe frontend "$CART_IP" 50051          # across the VXLAN
    probe frontend "$CATALOG_IP" 9090        # across the VXLAN
    probe cart "${POD_IP[frontend]}" 8080    # the other direction across the VXLAN
    probe loadgen "$FRONTEND_IP" 8080
}

shop_probe_collectors() {  # every instrumented pod reaches its node's OTLP port
    local p
    for p in frontend cart catalog; do probe "$p" "10.244.${POD_NODE[$p]}.1" "$OTLP_PORT"; done
}

# --- the load: uninstrumented requests for users 1..REQUESTS, in rounds of CONCURRENCY at
# once (1: one after the other), 0.5 s between rounds; one JSON line each to $1 -------------
shop_request() {  # k: one checkout for user k, its line to $WORK/request-$k.jsonl
    local k="$1" url w code lip lport rip rport
    url="http://$FRONTEND_IP:8080/shop?user=$k"
    w=$(nsx "$(pod_ns loadgen)" curl -sS --max-time 30 -o "$WORK/response-$k.json" \
        -w '%{http_code} %{local_ip} %{local_port} %{remote_ip} %{remote_port}' "$url")
    read -r code lip lport rip rport <<<"$w"
    [ "$code" = 200 ] || { echo "$ME: $url -> $code" >&2; cat "$WORK/response-$k.json" >&2;
                           return 1; }
    "$PY" -c 'import json,sys; print(json.dumps({"k": int(sys.argv[1]), "url": sys.argv[2],
        "status": int(sys.argv[3]), "client": sys.argv[4] + ":" + sys.argv[5],
        "server": sys.argv[6] + ":" + sys.argv[7],
        "response": json.load(open(sys.argv[8]))}, sort_keys=True))' \
        "$k" "$url" "$code" "$lip" "$lport" "$rip" "$rport" "$WORK/response-$k.json" \
        >"$WORK/request-$k.jsonl"
    echo "loadgen: GET $url -> $code (from $lip:$lport)"
}

shop_loadgen() {
    local jsonl="$1" k first last pids pid failed=0
    : >"$jsonl"
    for ((first = 1; first <= REQUESTS; first += CONCURRENCY)); do
        last=$((first + CONCURRENCY - 1))
        [ "$last" -le "$REQUESTS" ] || last=$REQUESTS
        pids=()
        for k in $(seq "$first" "$last"); do
            shop_request "$k" &
            pids+=($!)
        done
        for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
        [ "$failed" = 0 ] || { tail -n 30 "$WORK"/*.out >&2; exit 1; }
        for k in $(seq "$first" "$last"); do cat "$WORK/request-$k.jsonl" >>"$jsonl"; done
        sleep 0.5
    done
}

# --- stop the services: SIGTERM closes the gRPC channel and the DB connection, then
# shuts the span processor down, which exports what is still queued --------------------
shop_stop_services() {
    local pid
    for pid in "$FRONTEND_PID" "$CATALOG_PID" "$CART_PID"; do stop_pid "$pid" TERM; done
}

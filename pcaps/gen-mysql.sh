#!/usr/bin/env bash
# Regenerate the real MariaDB (MySQL protocol) test captures under pcaps/mysql/.
#
#   sudo bash pcaps/gen-mysql.sh
#
# Needs root, iproute2, tcpdump, tshark (Debian: tshark), Debian's MariaDB
# server (apt-get install -y mariadb-server; only its binaries are used, no
# system service is started or touched), python3 with PyMySQL and
# mysql-connector-python (pip install PyMySQL mysql-connector-python);
# ethtool is optional but recommended (offloads off => wire-size frames).
#
# Topology: the one of gen-http.sh, in namespaces of its own (wsm-*), so it
# can run at the same time as gen-http.sh and gen-grpc.sh:
#
#   wsm-cli                wsm-rtr (ip_forward=1)                wsm-srv
#   cli0 10.200.1.2 -veth- rtr-cli 10.200.1.1
#                          rtr-ul 10.200.0.1/30 ---veth "underlay"--- srv-ul 10.200.0.2/30 (mtu 1550)
#                          vx-rtr 10.200.2.1/24 == VXLAN VNI 4242 == vx-srv 10.200.2.2/24 (mtu 1500)
#                                                 UDP 4789           mariadbd :3306 (+ extra_port :3307)
#
# The server is a private mariadbd: a datadir made by mariadb-install-db in a
# temporary directory, its own socket and pid file, bound to 10.200.2.2,
# SSL off (--skip-ssl), one user with a password (mysql_native_password).
# Port 3307 is the same server's extra_port (a second listener).
#
# Capture points (tcpdump -s 0 -U, pcap):
#   mysql/client-veth.pcap    cli0   in wsm-cli  (TTL 64 out / 63 in)
#   mysql/server-veth.pcap    vx-srv in wsm-srv  (inner frames; TTL 63 in / 64 out)
#   mysql/underlay-vxlan.pcap srv-ul in wsm-srv  (outer IPv4/UDP 4789/VXLAN 4242)
#   mysql/mysql.expected.json written by mysql_client.py: every command, in order
#
# Idempotent: removes leftovers of a previous run first; a trap removes the
# namespaces and stops every process it started, also on failure.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="$HERE/mysql"
NS_CLI=wsm-cli
NS_RTR=wsm-rtr
NS_SRV=wsm-srv
SERVER_IP=10.200.2.2
PORT=3306
PORT2=3307
DB_USER=wirespan
DB_PASS=ws-secret-1

if [ "$(id -u)" -ne 0 ]; then
    echo "gen-mysql.sh: must run as root (network namespaces, tcpdump)" >&2
    exit 1
fi
for tool in ip tcpdump tshark python3 mariadbd mariadb-install-db mariadb; do
    command -v "$tool" >/dev/null || { echo "gen-mysql.sh: missing $tool" >&2; exit 1; }
done
python3 -c 'import pymysql, mysql.connector' 2>/dev/null || {
    echo "gen-mysql.sh: needs python3 PyMySQL and mysql-connector-python" >&2; exit 1; }

WORK="$(mktemp -d /tmp/wirespan-gen-mysql.XXXXXX)"
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
        echo "gen-mysql.sh: FAILED (rc=$rc); logs in $WORK" >&2
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
    echo "gen-mysql.sh: warning: ethtool not found; only gso_max_size capped," \
         "checksums in captures may be partial (offloaded)" >&2
fi

# --- a private MariaDB server in the server namespace -----------------------
DATA="$WORK/data"
SOCK="$WORK/mysqld.sock"
mariadb-install-db --no-defaults --user=root --datadir="$DATA" --skip-test-db \
    --auth-root-authentication-method=socket --skip-name-resolve \
    >"$WORK/install-db.log" 2>&1 || { cat "$WORK/install-db.log" >&2; exit 1; }
ip netns exec "$NS_SRV" mariadbd --no-defaults --user=root --datadir="$DATA" \
    --socket="$SOCK" --pid-file="$WORK/mysqld.pid" --log-error="$WORK/mysqld.err" \
    --bind-address="$SERVER_IP" --port="$PORT" --extra-port="$PORT2" \
    --skip-ssl --skip-name-resolve --skip-log-bin --performance-schema=OFF \
    --innodb-buffer-pool-size=32M --max-connections=20 --thread-cache-size=0 \
    --skip-external-locking >"$WORK/mysqld.out" 2>&1 &
PIDS+=($!)
for i in $(seq 1 150); do
    [ -S "$SOCK" ] && nsx "$NS_SRV" mariadb --no-defaults -S "$SOCK" -u root \
        -e 'SELECT 1' >/dev/null 2>&1 && break
    [ "$i" = 150 ] && { echo "gen-mysql.sh: mariadbd did not start" >&2;
                       cat "$WORK/mysqld.err" >&2; exit 1; }
    alive "${PIDS[-1]}" || { echo "gen-mysql.sh: mariadbd exited" >&2;
                             cat "$WORK/mysqld.err" >&2; exit 1; }
    sleep 0.2
done
nsx "$NS_SRV" mariadb --no-defaults -S "$SOCK" -u root <<SQL
CREATE DATABASE shop;
CREATE DATABASE audit;
CREATE USER '$DB_USER'@'%' IDENTIFIED BY '$DB_PASS';
GRANT ALL PRIVILEGES ON shop.* TO '$DB_USER'@'%';
GRANT ALL PRIVILEGES ON audit.* TO '$DB_USER'@'%';
SQL
# reachable from the client across router + VXLAN on both ports (a real
# login, before the captures start; this also warms up ARP, inner and outer)
for i in $(seq 1 50); do
    nsx "$NS_CLI" python3 -c '
import sys, pymysql
for port in sys.argv[2:4]:
    c = pymysql.connect(host=sys.argv[1], port=int(port), user=sys.argv[4],
                        password=sys.argv[5], connect_timeout=2)
    c.close()
' "$SERVER_IP" "$PORT" "$PORT2" "$DB_USER" "$DB_PASS" 2>"$WORK/probe.err" && break
    [ "$i" = 50 ] && { echo "gen-mysql.sh: mariadbd unreachable from $NS_CLI" >&2;
                      cat "$WORK/probe.err" "$WORK/mysqld.err" >&2; exit 1; }
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
        [ "$i" = 100 ] && { echo "gen-mysql.sh: capture $name did not start" >&2;
                           cat "$CAP/$name".*.err >&2; exit 1; }
        sleep 0.1
    done
done
sleep 0.5

# --- the commands -------------------------------------------------------------
nsx "$NS_CLI" timeout 120 python3 "$HERE/mysql_client.py" run --server "$SERVER_IP" \
    --port "$PORT" --port2 "$PORT2" --user "$DB_USER" --password "$DB_PASS" \
    --out "$WORK/mysql.expected.json"

sleep 1   # let the last FIN/ACKs reach every capture point
for pid in "${PIDS[@]:1}"; do stop_pid "$pid" INT; done
PIDS=("${PIDS[0]}")

# --- assemble the outputs -----------------------------------------------------
mkdir -p "$OUT"
for name in client-veth server-veth underlay-vxlan; do
    cp "$CAP/$name.pcap" "$OUT/$name.pcap"
done
cp "$WORK/mysql.expected.json" "$OUT/mysql.expected.json"

# --- verify with tshark -----------------------------------------------------------
bash "$OUT/check.sh"
ls -l "$OUT"
echo "gen-mysql.sh: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["connections"]; print(len(d), "connections,", sum(len(c["commands"]) for c in d), "commands")' \
    "$OUT/mysql.expected.json") captured at 3 points"

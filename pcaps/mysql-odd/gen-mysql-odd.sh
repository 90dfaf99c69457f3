#!/usr/bin/env bash
# Regenerate pcaps/mysql-odd/: MySQL commands the main MySQL captures do not have.
#
#   sudo bash pcaps/mysql-odd/gen-mysql-odd.sh
#
# Two network namespaces joined by a veth pair: the client (10.204.0.1, odd_client.py) and
# the server (10.204.0.2) running a private MariaDB (its own datadir, skip-ssl; users alice
# and bob with mysql_native_password) on :3306 and mysql8_stub.py on :3308. Captured on the
# server's veth: mysql-odd.pcap; what the clients sent and got: mysql-odd.expected.json.
# Needs root, iproute2, tcpdump, MariaDB's server binaries, python3 with PyMySQL and
# mysql-connector-python. Removes what it made, also on failure.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NS_CLI=wmo-cli
NS_SRV=wmo-srv
SERVER=10.204.0.2
WORK="$(mktemp -d /tmp/wirespan-mysql-odd.XXXXXX)"
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
ip link add wmo-c type veth peer name wmo-s
ip link set wmo-c netns "$NS_CLI"
ip link set wmo-s netns "$NS_SRV"
ip -n "$NS_CLI" addr add 10.204.0.1/24 dev wmo-c
ip -n "$NS_SRV" addr add "$SERVER"/24 dev wmo-s
for ns in "$NS_CLI" "$NS_SRV"; do ip -n "$ns" link set lo up; done
ip -n "$NS_CLI" link set wmo-c up
ip -n "$NS_SRV" link set wmo-s up
if command -v ethtool >/dev/null; then
    ip netns exec "$NS_CLI" ethtool -K wmo-c tso off gso off gro off >/dev/null 2>&1 || true
    ip netns exec "$NS_SRV" ethtool -K wmo-s tso off gso off gro off >/dev/null 2>&1 || true
fi

DATA="$WORK/data"
SOCK="$WORK/mysqld.sock"
mariadb-install-db --no-defaults --user=root --datadir="$DATA" --skip-test-db \
    --auth-root-authentication-method=socket --skip-name-resolve >"$WORK/install-db.log" 2>&1 \
    || { cat "$WORK/install-db.log" >&2; exit 1; }
ip netns exec "$NS_SRV" mariadbd --no-defaults --user=root --datadir="$DATA" \
    --socket="$SOCK" --pid-file="$WORK/mysqld.pid" --log-error="$WORK/mysqld.err" \
    --bind-address="$SERVER" --port=3306 --skip-ssl --skip-name-resolve --skip-log-bin \
    --performance-schema=OFF --innodb-buffer-pool-size=32M --max-connections=20 \
    --skip-external-locking >"$WORK/mysqld.out" 2>&1 &
PIDS+=($!)
for i in $(seq 1 150); do
    [ -S "$SOCK" ] && ip netns exec "$NS_SRV" mariadb --no-defaults -S "$SOCK" -u root \
        -e 'SELECT 1' >/dev/null 2>&1 && break
    [ "$i" = 150 ] && { echo "gen-mysql-odd.sh: mariadbd did not start" >&2; cat "$WORK/mysqld.err" >&2; exit 1; }
    sleep 0.2
done
ip netns exec "$NS_SRV" mariadb --no-defaults -S "$SOCK" -u root <<'SQL'
CREATE DATABASE shop;
CREATE DATABASE audit;
CREATE TABLE shop.people (id INT PRIMARY KEY, name VARCHAR(40), seen INT);
CREATE USER 'alice'@'%' IDENTIFIED BY 'pw-alice';
CREATE USER 'bob'@'%' IDENTIFIED BY 'pw-bob';
GRANT ALL PRIVILEGES ON shop.* TO 'alice'@'%';
GRANT ALL PRIVILEGES ON audit.* TO 'bob'@'%';
SQL
ip netns exec "$NS_SRV" python3 "$HERE/mysql8_stub.py" 3308 >"$WORK/stub.out" 2>&1 &
PIDS+=($!)
ip netns exec "$NS_SRV" tcpdump -i wmo-s -s 0 -U --immediate-mode -w "$WORK/mysql-odd.pcap" tcp >"$WORK/tcpdump.out" 2>&1 &
TCPDUMP=$!
sleep 1
ip netns exec "$NS_CLI" python3 "$HERE/odd_client.py" "$SERVER" 3306 3308 "$WORK/mysql-odd.expected.json"
sleep 1.5
kill -INT "$TCPDUMP"
sleep 0.2
wait "$TCPDUMP" || true
cat "$WORK/tcpdump.out" >&2
cp "$WORK/mysql-odd.pcap" "$WORK/mysql-odd.expected.json" "$HERE/"
echo "gen-mysql-odd.sh: wrote $HERE/mysql-odd.pcap and mysql-odd.expected.json"

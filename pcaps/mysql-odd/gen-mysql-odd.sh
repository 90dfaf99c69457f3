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
# shellcheck source=../netns-pair.sh
. "$HERE/../netns-pair.sh"
pair_up "$NS_CLI" "$NS_SRV" 10.204.0.1 "$SERVER" wmo

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
capture_start "$NS_SRV" wmo-s "$WORK/mysql-odd.pcap"
wait_listening "$NS_SRV" 3306 3308
ip netns exec "$NS_CLI" python3 "$HERE/odd_client.py" "$SERVER" 3306 3308 "$WORK/mysql-odd.expected.json"
capture_stop
cp "$WORK/mysql-odd.pcap" "$WORK/mysql-odd.expected.json" "$HERE/"
echo "gen-mysql-odd.sh: wrote $HERE/mysql-odd.pcap and mysql-odd.expected.json"

#!/usr/bin/env bash
# A real PostgreSQL conversation: PostgreSQL 15 (Debian) in a network namespace of its own
# (wsq-db), clients in another (wsq-cli), one veth between them, tcpdump on the client's side.
# The PostgreSQL parser's test traffic, and the detector's (psycopg's `Q` + length 10 +
# "BEGIN" once looked like a MySQL greeting). pg_client.py logs every psycopg call it makes and
# what came back: pgsql.expected.json.
#
#   sudo bash pcaps/pgsql/gen-pgsql.sh        # writes pcaps/pgsql/psycopg.pcap, ~10 s
#
# Needs root, iproute2, tcpdump, Debian's postgresql (its binaries only: no system service is
# started or touched), python3 with psycopg 3 (pip install "psycopg[binary]").
# The client session: psql's simple queries, then psycopg (pg_client.py): a failed login, SSL
# "prefer" (the server has none and answers N), parameterised queries (extended protocol),
# server-side prepared statements, an error, several statements in one simple query, COPY, a
# pipeline.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NS_CLI=wsq-cli
NS_DB=wsq-db
CLI_IP=10.201.0.1
DB_IP=10.201.0.2
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

[ "$(id -u)" -eq 0 ] || { echo "gen-pgsql.sh: must run as root" >&2; exit 1; }
for tool in ip tcpdump python3 "$PG_BIN/initdb" "$PG_BIN/postgres" psql; do
    command -v "$tool" >/dev/null || { echo "gen-pgsql.sh: missing $tool" >&2; exit 1; }
done
python3 -c 'import psycopg' 2>/dev/null || { echo "gen-pgsql.sh: needs psycopg 3" >&2; exit 1; }

WORK="$(mktemp -d /tmp/wirespan-gen-pgsql.XXXXXX)"
PIDS=()
cleanup() {
    local rc=$? pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 0.5
    ip netns del "$NS_CLI" 2>/dev/null || true
    ip netns del "$NS_DB" 2>/dev/null || true
    [ $rc -eq 0 ] && rm -rf "$WORK" || echo "gen-pgsql.sh: FAILED; logs in $WORK" >&2
    exit $rc
}
trap cleanup EXIT
ip netns del "$NS_CLI" 2>/dev/null || true
ip netns del "$NS_DB" 2>/dev/null || true
ip netns add "$NS_CLI"
ip netns add "$NS_DB"
ip link add eth0 netns "$NS_CLI" type veth peer name eth0 netns "$NS_DB"
ip -n "$NS_CLI" addr add "$CLI_IP/24" dev eth0
ip -n "$NS_DB" addr add "$DB_IP/24" dev eth0
for ns in "$NS_CLI" "$NS_DB"; do
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    ip netns exec "$ns" ethtool -K eth0 tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
done

chown postgres "$WORK"
su postgres -s /bin/sh -c "$PG_BIN/initdb -D $WORK/data -A trust -U postgres" >"$WORK/initdb.log" 2>&1
# alice logs in with a password (scram-sha-256), everyone else from the client without one.
sed -i '/^host/d' "$WORK/data/pg_hba.conf"
printf 'host all alice %s/32 scram-sha-256\nhost all all %s/32 trust\n' "$CLI_IP" "$CLI_IP" \
    >>"$WORK/data/pg_hba.conf"
ip netns exec "$NS_DB" su postgres -s /bin/sh -c \
    "exec $PG_BIN/postgres -D $WORK/data -k $WORK -c listen_addresses=$DB_IP -c port=5432" \
    >"$WORK/postgres.log" 2>&1 &
PIDS+=($!)
for i in $(seq 1 100); do
    ip netns exec "$NS_CLI" psql -h "$DB_IP" -U postgres -Atc 'select 1' >/dev/null 2>&1 && break
    [ "$i" = 100 ] && { tail -n 5 "$WORK/postgres.log" >&2; exit 1; }
    sleep 0.2
done
ip netns exec "$NS_CLI" psql -h "$DB_IP" -U postgres -qc "create user alice password 'right'"

ip netns exec "$NS_CLI" tcpdump -i eth0 -s 0 -U -n --immediate-mode -w "$WORK/psycopg.pcap" 'tcp port 5432' \
    2>"$WORK/tcpdump.err" &
PIDS+=($!)
for i in $(seq 1 50); do grep -q "listening on" "$WORK/tcpdump.err" && break; sleep 0.1; done
sleep 0.3

ip netns exec "$NS_CLI" psql -h "$DB_IP" -U postgres -q \
    -c "create table items (id int primary key, name text)" \
    -c "insert into items values (1, 'teapot'), (2, 'mug')" -c "select * from items" >/dev/null
ip netns exec "$NS_CLI" python3 "$HERE/pg_client.py" "$DB_IP" "$WORK/pgsql.expected.json"
sleep 1.5
kill -INT "${PIDS[1]}"; wait "${PIDS[1]}" 2>/dev/null || true
cp "$WORK/psycopg.pcap" "$HERE/psycopg.pcap"
cp "$WORK/pgsql.expected.json" "$HERE/pgsql.expected.json"
echo "gen-pgsql.sh: $(tcpdump -r "$HERE/psycopg.pcap" 2>/dev/null | wc -l) packets -> $HERE/psycopg.pcap"

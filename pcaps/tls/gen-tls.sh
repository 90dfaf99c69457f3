#!/usr/bin/env bash
# Regenerate pcaps/tls/: real TLS traffic (HTTP/1.1, HTTP/2 and MariaDB inside TLS 1.2 and 1.3)
# from real clients that log their keys.
#
#   sudo bash pcaps/tls/gen-tls.sh
#
# Two network namespaces joined by a veth pair: the client wtl-cli (10.212.0.1, wtl-c) and the
# server wtl-srv (10.212.0.2, wtl-s). A throwaway CA and two server certificates are made with
# the openssl CLI, valid for 7 days from the run (not_before/not_after recorded in the JSON):
# web.pem (ECDSA P-256; SANs web/api/db.wirespan.test and IP 10.212.0.2; served with the CA
# as its chain) and rsa.pem (RSA 2048; SAN rsa.wirespan.test; served alone). In wtl-srv:
#   nginx (Debian's nginx-light: ssl, http2), session cache on, tickets on unless said:
#     8443  ECDSA, TLS 1.2 + 1.3, http2 (ALPN h2 and http/1.1)
#     8444  ECDSA, TLS 1.2 only, ECDHE AES-GCM and CHACHA20 ciphers only, http2
#     8445  ECDSA, TLS 1.3 only, HTTP/1.1
#     8446  RSA,   TLS 1.2 + 1.3, HTTP/1.1, no session tickets (resumption by session id),
#           groups P-256/P-384 only (TLS 1.3 clients offering X25519 first get a
#           HelloRetryRequest)
#   static files index.html, small.txt, data.json (1.5 KB), big.bin (20 KB), a 404 for
#   anything else, and /api/echo (200, any method, the request body read and dropped);
#   mariadbd (a private instance as in pcaps/gen-mysql.sh) on 3306 with ssl_cert/ssl_key/
#   ssl_ca (web.pem), a user that must use TLS (REQUIRE SSL).
# tls_client.py runs in wtl-cli: curl cases, then Python (ssl, http.client, h2), then PyMySQL;
# every client appends its secrets to one key log (curl: SSLKEYLOGFILE; Python:
# SSLContext.keylog_filename) and every connection is logged by the client to the JSON (its
# header says which cases and the schema). Captured on wtl-s, filter "tcp":
#   tls.pcap             the capture
#   tls.keys             the NSS key log (CLIENT_RANDOM for TLS 1.2, OpenSSL's RSA line for
#                        the RSA key exchange; the five TLS 1.3 secrets)
#   tls-dsb.pcapng       tls.pcap with tls.keys inside, a Decryption Secrets Block (editcap
#                        --inject-secrets)
#   tls.expected.json    every connection as the clients saw it
# Then check.py reads the capture with tshark and the keys and compares it with the JSON
# (connections, SNI, versions, ciphers, ALPN, resumption, alerts, decrypted HTTP/1.1 requests,
# HTTP/2 streams and MySQL queries), and prints a summary; it fails when the keys do not work.
#
# The keys, certificates and the CA are throwaway test material made by this script for this
# capture; nothing else trusts them. Offloads (TSO/GSO/GRO and checksums) are off, so frames have
# wire sizes. Client ports, times, random values, keys and certificates change from run to run;
# the JSON records them. The run takes 10-15 s; it can be run again, and removes its
# namespaces and processes when it ends, also on failure (logs are printed first then).
#
# Needs root, iproute2, ethtool, tcpdump, openssl, curl (built with OpenSSL), nginx
# (nginx-light), mariadb-server (only its binaries: mariadbd, mariadb-install-db, mariadb),
# tshark and editcap (Debian: tshark, wireshark-common), python3 with h2 and PyMySQL
# (pip install h2 PyMySQL).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NS_CLI=wtl-cli
NS_SRV=wtl-srv
CLIENT=10.212.0.1
SERVER=10.212.0.2
DB_USER=wirespan
DB_PASS=ws-tls-secret-1
T0=$(date +%s)

if [ "$(id -u)" -ne 0 ]; then
    echo "gen-tls.sh: must run as root (network namespaces, tcpdump)" >&2
    exit 1
fi
for tool in ip tcpdump openssl curl nginx mariadbd mariadb-install-db mariadb tshark editcap \
    python3; do
    command -v "$tool" >/dev/null || { echo "gen-tls.sh: missing $tool" >&2; exit 1; }
done
python3 -c 'import h2, pymysql' 2>/dev/null || {
    echo "gen-tls.sh: needs python3 h2 and PyMySQL (pip install h2 PyMySQL)" >&2; exit 1; }

WORK="$(mktemp -d /tmp/wirespan-tls.XXXXXX)"
chmod 755 "$WORK"
PIDS=()
# shellcheck source=../netns-pair.sh
. "$HERE/../netns-pair.sh"

# What an interrupted run may have left running in its namespaces (pair_up removes them).
for ns in "$NS_CLI" "$NS_SRV"; do
    if [ -e "/run/netns/$ns" ]; then
        for pid in $(ip netns pids "$ns"); do kill "$pid" 2>/dev/null || true; done
    fi
done
pair_up "$NS_CLI" "$NS_SRV" "$CLIENT" "$SERVER" wtl
on_exit() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "gen-tls.sh: FAILED (rc=$rc); the servers' logs:" >&2
        for f in "$WORK"/nginx/logs/error.log "$WORK"/mysqld.err "$WORK"/tcpdump.out; do
            [ -s "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }
        done
    fi
    pair_down
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM # so that on_exit runs then too
for pair in "$NS_CLI wtl-c" "$NS_SRV wtl-s"; do
    read -r ns dev <<<"$pair"
    ip netns exec "$ns" ethtool -K "$dev" tx off rx off sg off tso off gso off gro off \
        >/dev/null 2>&1 || true
    # no IPv6 (router solicitations, MLD) on the link
    ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1"
done

# --- the throwaway PKI --------------------------------------------------------------------
PKI="$WORK/pki"
mkdir -p "$PKI"
(
    cd "$PKI"
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
        -keyout ca.key -out ca.pem -days 7 -subj "/O=wirespan test/CN=wirespan test CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    cat >web.ext <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:web.wirespan.test,DNS:api.wirespan.test,DNS:db.wirespan.test,IP:$SERVER
EOF
    cat >rsa.ext <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:rsa.wirespan.test
EOF
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout web.key \
        -out web.csr -subj "/O=wirespan test/CN=web.wirespan.test" 2>/dev/null
    openssl req -new -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.csr \
        -subj "/O=wirespan test/CN=rsa.wirespan.test" 2>/dev/null
    openssl x509 -req -in web.csr -CA ca.pem -CAkey ca.key -set_serial 0x5e01 -days 7 \
        -sha256 -extfile web.ext -out web.pem 2>/dev/null
    openssl x509 -req -in rsa.csr -CA ca.pem -CAkey ca.key -set_serial 0x5e02 -days 7 \
        -sha256 -extfile rsa.ext -out rsa.pem 2>/dev/null
    cat web.pem ca.pem >web-chain.pem
    openssl verify -CAfile ca.pem web.pem rsa.pem >/dev/null
    chmod 644 ./*.key
)

# --- nginx ------------------------------------------------------------------------------------
NGX="$WORK/nginx"
mkdir -p "$NGX/logs" "$NGX/tmp" "$NGX/html/api"
printf '<!doctype html>\n<title>wirespan tls</title>\n<p>served over TLS by nginx</p>\n' \
    >"$NGX/html/index.html"
printf 'small\n' >"$NGX/html/small.txt"
python3 - "$NGX/html" <<'EOF'
import json, sys
d = sys.argv[1]
items = [{"id": i, "name": f"item-{i:03d}", "price": round(1.25 * i, 2)} for i in range(1, 31)]
with open(f"{d}/data.json", "w") as f:
    json.dump({"items": items}, f)
with open(f"{d}/big.bin", "wb") as f:
    f.write(b"".join(b"%07d wirespan tls test body line\n" % i for i in range(600))[:20000])
EOF
cat >"$NGX/nginx.conf" <<EOF
worker_processes 1;
user root;
pid logs/nginx.pid;
error_log logs/error.log info;
events { worker_connections 128; }
http {
    types { text/html html; text/plain txt; application/json json; }
    default_type application/octet-stream;
    log_format tls '\$remote_addr:\$remote_port \$server_port "\$request" \$status '
                   '\$ssl_protocol \$ssl_cipher sni=\$ssl_server_name reused=\$ssl_session_reused '
                   'alpn=\$ssl_alpn_protocol';
    access_log logs/access.log tls;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    sendfile off;
    server_tokens off;
    keepalive_timeout 30s;
    ssl_session_cache shared:TLS:1m;
    ssl_session_timeout 10m;
    ssl_prefer_server_ciphers off;
    root html;
    server {
        listen $SERVER:8443 ssl http2;
        server_name web.wirespan.test api.wirespan.test;
        ssl_certificate $PKI/web-chain.pem;
        ssl_certificate_key $PKI/web.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / { }
        location = /api/echo { return 200 "echo ok\n"; }
    }
    server {
        listen $SERVER:8444 ssl http2;
        server_name web.wirespan.test api.wirespan.test;
        ssl_certificate $PKI/web-chain.pem;
        ssl_certificate_key $PKI/web.key;
        ssl_protocols TLSv1.2;
        ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305;
        location / { }
        location = /api/echo { return 200 "echo ok\n"; }
    }
    server {
        listen $SERVER:8445 ssl;
        server_name web.wirespan.test;
        ssl_certificate $PKI/web-chain.pem;
        ssl_certificate_key $PKI/web.key;
        ssl_protocols TLSv1.3;
        location / { }
    }
    server {
        listen $SERVER:8446 ssl;
        server_name rsa.wirespan.test;
        ssl_certificate $PKI/rsa.pem;
        ssl_certificate_key $PKI/rsa.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets off;
        ssl_ecdh_curve prime256v1:secp384r1;
        location / { }
    }
}
EOF
ip netns exec "$NS_SRV" nginx -t -q -p "$NGX/" -c "$NGX/nginx.conf"
ip netns exec "$NS_SRV" nginx -p "$NGX/" -c "$NGX/nginx.conf" -g 'daemon off;' \
    >"$WORK/nginx.out" 2>&1 &
PIDS+=($!)

# --- MariaDB with TLS ---------------------------------------------------------------------------
DATA="$WORK/db"
SOCK="$WORK/mysqld.sock"
mariadb-install-db --no-defaults --user=root --datadir="$DATA" --skip-test-db \
    --auth-root-authentication-method=socket --skip-name-resolve \
    >"$WORK/install-db.log" 2>&1 || { cat "$WORK/install-db.log" >&2; exit 1; }
ip netns exec "$NS_SRV" mariadbd --no-defaults --user=root --datadir="$DATA" \
    --socket="$SOCK" --pid-file="$WORK/mysqld.pid" --log-error="$WORK/mysqld.err" \
    --bind-address="$SERVER" --port=3306 --skip-name-resolve --skip-log-bin \
    --performance-schema=OFF --innodb-buffer-pool-size=32M --max-connections=20 \
    --ssl-cert="$PKI/web.pem" --ssl-key="$PKI/web.key" --ssl-ca="$PKI/ca.pem" \
    --skip-external-locking >"$WORK/mysqld.out" 2>&1 &
MYSQLD=$!
PIDS+=("$MYSQLD")
for i in $(seq 1 150); do
    [ -S "$SOCK" ] && ip netns exec "$NS_SRV" mariadb --no-defaults -S "$SOCK" -u root \
        -e 'SELECT 1' >/dev/null 2>&1 && break
    [ "$i" = 150 ] && { echo "gen-tls.sh: mariadbd did not start" >&2; exit 1; }
    kill -0 "$MYSQLD" 2>/dev/null || { echo "gen-tls.sh: mariadbd exited" >&2; exit 1; }
    sleep 0.1
done
ip netns exec "$NS_SRV" mariadb --no-defaults -S "$SOCK" -u root <<SQL
CREATE DATABASE shop;
CREATE USER '$DB_USER'@'%' IDENTIFIED BY '$DB_PASS' REQUIRE SSL;
GRANT ALL PRIVILEGES ON shop.* TO '$DB_USER'@'%';
SQL
have_ssl=$(ip netns exec "$NS_SRV" mariadb --no-defaults -S "$SOCK" -u root -N \
    -e "SELECT @@have_ssl")
[ "$have_ssl" = YES ] || { echo "gen-tls.sh: mariadbd has no TLS (have_ssl=$have_ssl)" >&2; exit 1; }
wait_listening "$NS_SRV" 8443 8444 8445 8446 3306

# --- the capture and the clients ----------------------------------------------------------
KEYS="$WORK/tls.keys"
: >"$KEYS"
capture_start "$NS_SRV" wtl-s "$WORK/tls.pcap" "tcp"
PIDS+=("$CAPTURE_PID")
ip netns exec "$NS_CLI" timeout 60 python3 "$HERE/tls_client.py" "$SERVER" "$PKI" "$KEYS" \
    "$WORK/tls.expected.json" "$WORK" "$DB_USER" "$DB_PASS"
capture_stop

cp "$WORK/tls.pcap" "$WORK/tls.expected.json" "$HERE/"
cp "$KEYS" "$HERE/tls.keys"
rm -f "$HERE/tls-dsb.pcapng"
editcap --inject-secrets "tls,$HERE/tls.keys" "$HERE/tls.pcap" "$HERE/tls-dsb.pcapng"
echo "gen-tls.sh: nginx's view (access log):"
sed 's/^/  /' "$NGX/logs/access.log"
python3 "$HERE/check.py" "$HERE"
ls -l "$HERE"/tls.pcap "$HERE"/tls.keys "$HERE"/tls-dsb.pcapng "$HERE"/tls.expected.json
echo "gen-tls.sh: wrote $HERE/tls.pcap, tls.keys, tls-dsb.pcapng and tls.expected.json" \
    "in $(($(date +%s) - T0)) s"

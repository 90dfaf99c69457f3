#!/usr/bin/env bash
# Live TLS with a key log followed as it grows: nginx serving HTTP/1.1 and h2 over TLS 1.3 and
# TLS 1.2 in one network namespace, curl in another writing SSLKEYLOGFILE, wirespan capturing
# the client's veth with --tls-keylog on that file, which does not exist yet when the capture
# starts (curl creates it, and appends each connection's secrets as it makes the connection).
#
#   bash tests/live/tls-live.sh WIRESPAN OUTDIR
#
# Writes OUTDIR/live.jsonl and live.stderr (wirespan), OUTDIR/calls.jsonl (what curl sent and
# got: one line per transfer, its local port, method, URL, HTTP version, status, TLS version),
# OUTDIR/keys.log. Needs root, iproute2, openssl, nginx (with ssl and http2), curl. Cleans up.
set -euo pipefail
WIRESPAN="$(readlink -f "$1")"
OUT="$(readlink -f "$2")"
mkdir -p "$OUT"
HERE="$(cd "$(dirname "$0")" && pwd)"
WORK="$(mktemp -d /tmp/wirespan-tls-live.XXXXXX)"
chmod 755 "$WORK"
PIDS=()
# shellcheck source=../../pcaps/netns-pair.sh
. "$HERE/../../pcaps/netns-pair.sh"
pair_up wtv-cli$$ wtv-srv$$ 10.213.0.1 10.213.0.2 wtv
NS_CLI=wtv-cli$$
NS_SRV=wtv-srv$$

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=live.wirespan.test" -addext "subjectAltName=DNS:live.wirespan.test" \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
mkdir -p "$WORK/html" "$WORK/logs"
printf 'hello over tls\n' >"$WORK/html/index.html"
head -c 30000 /dev/zero | tr '\0' y >"$WORK/html/big.txt"
cat >"$WORK/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $WORK/body;
  proxy_temp_path $WORK/proxy;
  fastcgi_temp_path $WORK/fastcgi;
  uwsgi_temp_path $WORK/uwsgi;
  scgi_temp_path $WORK/scgi;
  server {
    listen 8443 ssl http2;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    root $WORK/html;
    location /missing { return 404 "no such thing"; }
  }
}
NGX
ip netns exec "$NS_SRV" nginx -c "$WORK/nginx.conf" -p "$WORK" &
PIDS+=($!)
wait_listening "$NS_SRV" 8443

KEYS="$OUT/keys.log"
rm -f "$KEYS"
ip netns exec "$NS_CLI" "$WIRESPAN" capture -i wtv-c -o "$OUT/live.jsonl" --stats \
    --host-name tls-live --correlation-window-ms 500 --tls-keylog "$KEYS" tcp port 8443 \
    2>"$OUT/live.stderr" &
WS=$!
PIDS+=($WS)
for _ in $(seq 1 100); do
    grep -q "capturing on" "$OUT/live.stderr" 2>/dev/null && break
    sleep 0.1
done

: >"$OUT/calls.jsonl"
call() {  # curl arguments…: one connection, its transfers logged (each body to /dev/null)
    local args=() a
    for a in "$@"; do
        case "$a" in https://*) args+=(-o /dev/null "$a") ;; *) args+=("$a") ;; esac
    done
    ip netns exec "$NS_CLI" env SSLKEYLOGFILE="$KEYS" curl -sk --resolve live.wirespan.test:8443:10.213.0.2 \
        -w '{"port": %{local_port}, "method": "%{method}", "url": "%{url_effective}", "http_version": "%{http_version}", "status": %{http_code}}\n' \
        "${args[@]}" >>"$OUT/calls.jsonl"
    sleep 0.2
}
call --http1.1 https://live.wirespan.test:8443/index.html https://live.wirespan.test:8443/missing/x
call --http2 https://live.wirespan.test:8443/index.html https://live.wirespan.test:8443/big.txt
call --http1.1 --tls-max 1.2 https://live.wirespan.test:8443/big.txt
call --http2 --tls-max 1.2 -X POST -d 'a=1' https://live.wirespan.test:8443/index.html
sleep 0.5
kill -TERM "$WS"
wait "$WS"
echo "tls-live: done; outputs in $OUT"

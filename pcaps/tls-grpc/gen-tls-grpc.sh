#!/usr/bin/env bash
# Regenerate pcaps/tls-grpc/: real gRPC over TLS (1.2 and 1.3, ALPN h2) between a Python
# grpcio server and a Node.js @grpc/grpc-js client that logs its TLS keys.
#
#   sudo bash pcaps/tls-grpc/gen-tls-grpc.sh
#
# Two network namespaces joined by a veth pair (../netns-pair.sh): the client wtg-cli
# (10.213.0.1, wtg-c) and the server wtg-srv (10.213.0.2, wtg-s); offloads off (frames at wire
# size), no IPv6 on the link. A throwaway CA and an ECDSA P-256 server certificate (SAN
# grpc.wirespan.test), valid for 7 days from the run, are made with the openssl CLI.
#   server.py serve   in wtg-srv: grpcio with ssl_server_credentials on 10.213.0.2:50443
#                     (TLS 1.2 and 1.3, ALPN h2), wirespan.test.Echo of echo.proto (compiled
#                     at run time by grpc_tools.protoc into the temporary directory); it logs
#                     every call (peer port, method, messages, status)
#   client.js         in wtg-cli: node --tls-keylog=tls-grpc.keys, @grpc/grpc-js and
#                     @grpc/proto-loader as package-lock.json pins them (npm ci into the
#                     temporary directory: no node_modules in the repository); three
#                     connections, SNI grpc.wirespan.test (its header says which calls)
#   server.py merge   checks that the server saw every call the client logged, on the same
#                     connection, with the same messages and status, and writes the expected
#                     JSON
# Captured on wtg-s, filter "tcp port 50443":
#   tls-grpc.pcap            the capture
#   tls-grpc.keys            the key log Node wrote (TLS 1.3 secrets, CLIENT_RANDOM for 1.2)
#   tls-grpc.expected.json   every connection and call as the client saw it, with the
#                            server's view of each call (client.js's header has the schema)
# Then check.py decrypts the capture with tshark and the key log and compares every gRPC call
# (and every connection's handshake) with the JSON; it fails when they disagree.
#
# The keys, the certificate and the CA are throwaway test material made by this script for this
# capture; nothing trusts them. Client ports, times, keys and certificates change from run to
# run; the JSON records them. The run takes about 10 s (plus npm ci); it can be run again, and
# removes its namespaces and processes when it ends, also on failure (logs printed first).
#
# Needs root, iproute2, ethtool, tcpdump, openssl, tshark, node (20 tested) and npm (the npm
# registry reachable for npm ci), python3 with grpcio and grpcio-tools.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NS_CLI=wtg-cli
NS_SRV=wtg-srv
CLIENT=10.213.0.1
SERVER=10.213.0.2
PORT=50443
SNI=grpc.wirespan.test
T0=$(date +%s)

if [ "$(id -u)" -ne 0 ]; then
    echo "gen-tls-grpc.sh: must run as root (network namespaces, tcpdump)" >&2
    exit 1
fi
for tool in ip ethtool tcpdump openssl tshark node npm python3; do
    command -v "$tool" >/dev/null || { echo "gen-tls-grpc.sh: missing $tool" >&2; exit 1; }
done
python3 -c 'import grpc, grpc_tools' 2>/dev/null || {
    echo "gen-tls-grpc.sh: needs python3 grpcio and grpcio-tools" \
        "(pip install grpcio grpcio-tools)" >&2; exit 1; }

WORK="$(mktemp -d /tmp/wirespan-tls-grpc.XXXXXX)"
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
pair_up "$NS_CLI" "$NS_SRV" "$CLIENT" "$SERVER" wtg
on_exit() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "gen-tls-grpc.sh: FAILED (rc=$rc); the logs:" >&2
        for f in "$WORK"/server.out "$WORK"/server.jsonl "$WORK"/tcpdump.out "$WORK"/npm.log; do
            [ -s "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }
        done
    fi
    pair_down
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM # so that on_exit runs then too
for pair in "$NS_CLI wtg-c" "$NS_SRV wtg-s"; do
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
        -keyout ca.key -out ca.pem -days 7 -subj "/O=wirespan test/CN=wirespan grpc test CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    cat >server.ext <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:$SNI
EOF
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key \
        -out server.csr -subj "/O=wirespan test/CN=$SNI" 2>/dev/null
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 0x6e01 -days 7 \
        -sha256 -extfile server.ext -out server.pem 2>/dev/null
    cat server.pem ca.pem >server-chain.pem
    openssl verify -CAfile ca.pem server.pem >/dev/null
)

# --- the client's packages (pinned by package-lock.json), the server's generated modules -----
NODE_DIR="$WORK/node"
mkdir -p "$NODE_DIR" "$WORK/gen"
cp "$HERE/package.json" "$HERE/package-lock.json" "$HERE/client.js" "$HERE/echo.proto" \
    "$NODE_DIR/"
(cd "$NODE_DIR" && npm ci --no-audit --no-fund --ignore-scripts >"$WORK/npm.log" 2>&1)
python3 -m grpc_tools.protoc -I "$HERE" --python_out="$WORK/gen" --grpc_python_out="$WORK/gen" \
    "$HERE/echo.proto"

# --- the server, the capture, the client -------------------------------------------------------
ip netns exec "$NS_SRV" python3 "$HERE/server.py" serve --gen "$WORK/gen" \
    --bind "$SERVER:$PORT" --cert "$PKI/server-chain.pem" --key "$PKI/server.key" \
    --log "$WORK/server.jsonl" >"$WORK/server.out" 2>&1 &
PIDS+=($!)
wait_listening "$NS_SRV" "$PORT"

KEYS="$WORK/tls-grpc.keys"
: >"$KEYS"
capture_start "$NS_SRV" wtg-s "$WORK/tls-grpc.pcap" "tcp port $PORT"
PIDS+=("$CAPTURE_PID")
ip netns exec "$NS_CLI" timeout 60 node --tls-keylog="$KEYS" "$NODE_DIR/client.js" \
    "$SERVER:$PORT" "$PKI/ca.pem" "$SNI" "$WORK/client.json"
capture_stop

python3 "$HERE/server.py" merge --client "$WORK/client.json" --server-log "$WORK/server.jsonl" \
    --out "$WORK/tls-grpc.expected.json"
cp "$WORK/tls-grpc.pcap" "$WORK/tls-grpc.expected.json" "$HERE/"
cp "$KEYS" "$HERE/tls-grpc.keys"
python3 "$HERE/check.py" "$HERE"
ls -l "$HERE"/tls-grpc.pcap "$HERE"/tls-grpc.keys "$HERE"/tls-grpc.expected.json
echo "gen-tls-grpc.sh: wrote $HERE/tls-grpc.pcap, tls-grpc.keys and tls-grpc.expected.json" \
    "in $(($(date +%s) - T0)) s"

#!/usr/bin/env bash
# Regenerate pcaps/grpcweb/: gRPC-Web over HTTP/1.1 between real implementations.
#
#   sudo bash pcaps/grpcweb/gen-grpcweb.sh
#
# Two network namespaces joined by a veth pair: the client (10.207.0.1, sonora's gRPC-Web
# channel, and one call in text mode with requests) and the server (10.207.0.2, sonora's WSGI
# gRPC-Web application under gunicorn on :8080) serving pcaps/grpc/shop.proto's shop.Cart.
# Captured on the server's veth: grpcweb.pcap; what the client sent and got:
# grpcweb.expected.json. Needs root, iproute2, tcpdump, python3 with grpcio-tools, sonora,
# requests and gunicorn.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NS_CLI=wgw-cli
NS_SRV=wgw-srv
SERVER=10.207.0.2
WORK="$(mktemp -d /tmp/wirespan-grpcweb.XXXXXX)"
PIDS=()
# shellcheck source=../netns-pair.sh
. "$HERE/../netns-pair.sh"
pair_up "$NS_CLI" "$NS_SRV" 10.207.0.1 "$SERVER" wgw

GEN="$WORK/gen"
mkdir -p "$GEN"
python3 -m grpc_tools.protoc -I "$HERE/../grpc" --python_out="$GEN" --grpc_python_out="$GEN" \
    "$HERE/../grpc/shop.proto"
ip netns exec "$NS_SRV" env GRPCWEB_GEN="$GEN" python3 -m gunicorn --chdir "$HERE" \
    --bind "$SERVER:8080" --workers 1 grpcweb_app:app >"$WORK/gunicorn.out" 2>&1 &
PIDS+=($!)
capture_start "$NS_SRV" wgw-s "$WORK/grpcweb.pcap"
wait_listening "$NS_SRV" 8080
ip netns exec "$NS_CLI" python3 "$HERE/grpcweb_app.py" client --gen "$GEN" \
    --url "http://$SERVER:8080" --out "$WORK/grpcweb.expected.json"
capture_stop
cp "$WORK/grpcweb.pcap" "$WORK/grpcweb.expected.json" "$HERE/"
echo "gen-grpcweb.sh: wrote $HERE/grpcweb.pcap and grpcweb.expected.json"

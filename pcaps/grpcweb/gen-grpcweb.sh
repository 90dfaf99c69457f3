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
ip link add wgw-c type veth peer name wgw-s
ip link set wgw-c netns "$NS_CLI"
ip link set wgw-s netns "$NS_SRV"
ip -n "$NS_CLI" addr add 10.207.0.1/24 dev wgw-c
ip -n "$NS_SRV" addr add "$SERVER"/24 dev wgw-s
for ns in "$NS_CLI" "$NS_SRV"; do ip -n "$ns" link set lo up; done
ip -n "$NS_CLI" link set wgw-c up
ip -n "$NS_SRV" link set wgw-s up

GEN="$WORK/gen"
mkdir -p "$GEN"
python3 -m grpc_tools.protoc -I "$HERE/../grpc" --python_out="$GEN" --grpc_python_out="$GEN" \
    "$HERE/../grpc/shop.proto"
ip netns exec "$NS_SRV" env GRPCWEB_GEN="$GEN" python3 -m gunicorn --chdir "$HERE" \
    --bind "$SERVER:8080" --workers 1 grpcweb_app:app >"$WORK/gunicorn.out" 2>&1 &
PIDS+=($!)
ip netns exec "$NS_SRV" tcpdump -i wgw-s -s 0 -U --immediate-mode -w "$WORK/grpcweb.pcap" tcp \
    >"$WORK/tcpdump.out" 2>&1 &
TCPDUMP=$!
for i in $(seq 100); do
    ip netns exec "$NS_SRV" ss -ltn | grep -q ':8080 ' && break
    [ "$i" = 100 ] && { cat "$WORK/gunicorn.out" >&2; exit 1; }
    sleep 0.1
done
sleep 0.5
ip netns exec "$NS_CLI" python3 "$HERE/grpcweb_app.py" client --gen "$GEN" \
    --url "http://$SERVER:8080" --out "$WORK/grpcweb.expected.json"
sleep 1.5
kill -INT "$TCPDUMP"
wait "$TCPDUMP" || true
cp "$WORK/grpcweb.pcap" "$WORK/grpcweb.expected.json" "$HERE/"
echo "gen-grpcweb.sh: wrote $HERE/grpcweb.pcap and grpcweb.expected.json"

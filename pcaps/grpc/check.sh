#!/usr/bin/env bash
# Cross-check the gRPC captures in this directory against grpc.expected.json
# with tshark.  Exits non-zero on any mismatch.
#
#   bash pcaps/grpc/check.sh
#
# Needs tshark (Wireshark 4.0 tested) and python3 (standard library only).
# gRPC runs on non-standard ports here, so tshark is told to decode them as
# HTTP/2 (-d tcp.port==50051,http2 -d tcp.port==9000,http2); tshark then
# dissects the gRPC messages itself (content-type application/grpc).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
APP="$HERE/../grpc_app.py"
EXP="$HERE/grpc.expected.json"
PORTS="50051,9000"
D=(-d "tcp.port==50051,http2" -d "tcp.port==9000,http2")
CLIENT_IP=10.200.1.2
SERVER_IP=10.200.2.2
fail=0

check_eq() {  # what got want
    if [ "$2" != "$3" ]; then
        echo "grpc/check.sh: CHECK FAILED $1: got [$2] want [$3]" >&2; fail=1
    else
        echo "ok: $1 = $2"
    fi
}
expect() {  # python expression over the list of calls `c`
    python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["calls"]; print(eval(sys.argv[2]))' \
        "$EXP" "$1"
}

CALLS=$(expect 'len(c)')
PATHS=$(expect '" ".join(x["path"] for x in c)')
STATUSES=$(expect '" ".join(str(x["grpc_status"]) for x in c)')
REQ_MSGS=$(expect 'sum(x["request_messages"] for x in c)')
RSP_MSGS=$(expect 'sum(x["response_messages"] for x in c)')
REQ_BYTES=$(expect 'sum(x["request_bytes"] for x in c)')
RSP_BYTES=$(expect 'sum(x["response_bytes"] for x in c)')
CONNS=$(expect 'len({x["connection"] for x in c})')

for f in client-veth server-veth underlay-vxlan; do
    P="$HERE/$f.pcap"
    # one request HEADERS (with :path) per call; tshark decodes the full HPACK
    # state because each capture holds the connections from their SYN on
    paths=$(tshark -r "$P" "${D[@]}" -Y 'http2.headers.path' -T fields \
              -e http2.headers.path 2>/dev/null | tr ',' '\n' | grep . | tr '\n' ' ' | sed 's/ $//')
    check_eq "$f.pcap gRPC requests" "$(wc -w <<<"$paths")" "$CALLS"
    check_eq "$f.pcap request paths in order" "$paths" "$PATHS"
    # grpc-status: in the trailers (or the Trailers-Only HEADERS) of each call
    statuses=$(tshark -r "$P" "${D[@]}" -Y 'http2.header.name == "grpc-status"' -T fields \
                 -E aggregator='|' -e http2.header.name -e http2.header.value 2>/dev/null |
               python3 -c '
import sys
out = []
for line in sys.stdin:
    names, values = line.rstrip("\n").split("\t")
    out += [v for n, v in zip(names.split("|"), values.split("|")) if n == "grpc-status"]
print(" ".join(out))')
    check_eq "$f.pcap grpc-status values in order" "$statuses" "$STATUSES"
    # the gRPC messages tshark reassembles (-Y grpc), per direction
    msgs=$(tshark -r "$P" "${D[@]}" -Y grpc -T fields -e tcp.dstport -e grpc.message_length \
             2>/dev/null | python3 -c '
import sys
n = {True: [0, 0], False: [0, 0]}
for line in sys.stdin:
    port, lens = line.rstrip("\n").split("\t")
    req = int(port) in (50051, 9000)
    for l in lens.split(","):
        n[req][0] += 1; n[req][1] += int(l)
print(n[True][0], n[True][1], n[False][0], n[False][1])')
    check_eq "$f.pcap gRPC messages req/bytes rsp/bytes" "$msgs" \
        "$REQ_MSGS $REQ_BYTES $RSP_MSGS $RSP_BYTES"
    n=$(tshark -r "$P" "${D[@]}" -Y 'tcp.flags.syn==1 && tcp.flags.ack==0' 2>/dev/null | wc -l)
    check_eq "$f.pcap TCP connections" "$n" "$CONNS"
    max=$(tshark -r "$P" -T fields -e frame.len 2>/dev/null | sort -n | tail -1)
    lim=1514; [ "$f" = underlay-vxlan ] && lim=1564
    if [ "$max" -le "$lim" ]; then echo "ok: $f.pcap largest frame $max <= $lim"
    else echo "grpc/check.sh: CHECK FAILED $f.pcap has a $max-byte frame (offloads on?)" >&2; fail=1; fi
    # call by call: path, ports, status, message, trace headers, counts, bytes
    python3 "$APP" verify --pcap "$P" --expected "$EXP" --ports "$PORTS" || fail=1
done
ttl_cli=$(tshark -r "$HERE/client-veth.pcap" -Y "ip.src==$SERVER_IP" -T fields -e ip.ttl 2>/dev/null | sort -u | tr '\n' ' ')
ttl_srv=$(tshark -r "$HERE/server-veth.pcap" -Y "ip.dst==$SERVER_IP" -T fields -e ip.ttl 2>/dev/null | sort -u | tr '\n' ' ')
check_eq "TTL of server packets at the client" "$ttl_cli" "63 "
check_eq "TTL of client packets at the server" "$ttl_srv" "63 "
vni=$(tshark -r "$HERE/underlay-vxlan.pcap" -T fields -e vxlan.vni 2>/dev/null | sort -u | tr '\n' ' ')
check_eq "underlay VXLAN VNIs" "$vni" "4242 "

# midstream.pcap = client-veth.pcap from frame CUT on
M="$HERE/midstream.pcap"
CUT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cut_frame"])' \
      "$HERE/midstream.expected.json")
total=$(tshark -r "$HERE/client-veth.pcap" 2>/dev/null | wc -l)
check_eq "midstream.pcap frames" "$(tshark -r "$M" 2>/dev/null | wc -l)" "$((total - CUT + 1))"
a=$(tshark -r "$HERE/client-veth.pcap" -Y "frame.number==$CUT" -T fields -e tcp.srcport -e tcp.seq_raw -e tcp.len 2>/dev/null)
b=$(tshark -r "$M" -Y "frame.number==1" -T fields -e tcp.srcport -e tcp.seq_raw -e tcp.len 2>/dev/null)
check_eq "midstream.pcap frame 1 = client-veth.pcap frame $CUT" "$b" "$a"
first=$(tshark -r "$M" "${D[@]}" -Y "frame.number==1" -T fields -e http2.type 2>/dev/null | cut -d, -f1)
check_eq "midstream.pcap frame 1 starts with an HTTP/2 frame of type" "$first" "1"
n=$(tshark -r "$M" -Y 'tcp.flags.syn==1 && tcp.flags.ack==0' 2>/dev/null | wc -l)
check_eq "midstream.pcap connections opened inside the cut" "$n" "$((CONNS - 1))"
tmp=$(mktemp)
python3 "$APP" hpack-report --pcap "$HERE/client-veth.pcap" --cut-frame "$CUT" \
    --expected "$EXP" --ports "$PORTS" --out "$tmp" >/dev/null
if cmp -s "$tmp" "$HERE/midstream.expected.json"; then
    echo "ok: midstream.expected.json reproduced from client-veth.pcap"
else
    echo "grpc/check.sh: CHECK FAILED midstream.expected.json differs from a fresh hpack-report" >&2
    fail=1
fi
rm -f "$tmp"

for f in "$HERE"/*.pcap; do
    s=$(stat -c %s "$f")
    [ "$s" -lt 1000000 ] || { echo "grpc/check.sh: CHECK FAILED $f is $s bytes" >&2; fail=1; }
done
if [ $fail -ne 0 ]; then
    echo "grpc/check.sh: FAILED" >&2
    exit 1
fi
echo "grpc/check.sh: all checks passed ($CALLS calls, $CONNS connections)"

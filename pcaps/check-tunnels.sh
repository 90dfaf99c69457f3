#!/usr/bin/env bash
# Verify with tshark that every pcaps/tunnels/*.pcap is dissected down through
# its tunnel to the inner HTTP, and that the edge files hold what edge.json
# says.  Exits non-zero on the first kind of disagreement (all are reported).
#
#   bash pcaps/check-tunnels.sh        (after gen-http.sh and reencap.py)
#
# The expected number of HTTP requests per tunnel file is the number of calls
# in pcaps/http/http.expected.json (every tunnel file re-encapsulates all
# frames of http/client-veth.pcap).  Requests are counted as HTTP PDUs, not
# frames: the three pipelined requests share one TCP segment.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v tshark >/dev/null || { echo "check-tunnels.sh: tshark missing" >&2; exit 1; }
CALLS=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["calls"]))' \
        "$HERE/http/http.expected.json")
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }

ts() { tshark "$@" 2>/dev/null; }

count_requests() {  # file [tshark opts...]
    local f="$1"; shift
    ts -r "$f" "$@" -T fields -e http.request.method | tr ',' '\n' | grep -c . || true
}

# file | tshark decode-as (or -) | filter every frame must match |
# protocol chain every request frame must start with
while IFS='|' read -r file decode filter chain; do
    [ -z "$file" ] && continue
    f="$HERE/tunnels/$file"
    [ -f "$f" ] || { bad "$file missing"; continue; }
    opts=()
    [ "$decode" != "-" ] && opts=(-d "$decode")
    total=$(ts -r "$f" "${opts[@]}" | wc -l)
    match=$(ts -r "$f" "${opts[@]}" -Y "$filter" | wc -l)
    n=$(count_requests "$f" "${opts[@]}")
    chains=$(ts -r "$f" "${opts[@]}" -Y http.request -T fields -e frame.protocols \
             | sed 's/:data$//' | sort -u | tr '\n' ' ')
    before=$fail; fail=0
    [ "$total" -gt 0 ] || bad "$file: no frames"
    [ "$match" = "$total" ] || bad "$file: only $match of $total frames match '$filter'"
    [ "$n" = "$CALLS" ] || bad "$file: $n HTTP requests, want $CALLS"
    [ "$chains" = "$chain " ] || bad "$file: request frames dissect as '$chains', want '$chain'"
    [ "$fail" -eq 0 ] && printf 'ok  %-20s %3d frames, %2d requests, %s\n' "$file" "$total" "$n" "$chain"
    [ "$before" -eq 0 ] || fail=1
done <<'EOF'
vlan.pcap|-|vlan.id == 100|eth:ethertype:vlan:ethertype:ip:tcp:http
qinq.pcap|-|ieee8021ad.id == 200 && vlan.id == 100|eth:ethertype:ieee8021ad:ethertype:vlan:ethertype:ip:tcp:http
ipip-4in4.pcap|-|ip.proto == 4 && ip.addr == 192.0.2.10 && ip.addr == 192.0.2.11 && ip.addr == 10.200.1.2|eth:ethertype:ip:ip:tcp:http
ipip-6in4.pcap|-|ip.proto == 41 && ip.addr == 192.0.2.10 && ipv6.addr == fd00::1 && ipv6.addr == fd00::2|eth:ethertype:ip:ipv6:tcp:http
ipip-4in6.pcap|-|ipv6.nxt == 4 && ipv6.addr == 2001:db8:1::a && ipv6.addr == 2001:db8:1::b && ip.addr == 10.200.1.2|eth:ethertype:ipv6:ip:tcp:http
ipip-6in6.pcap|-|ipv6.addr == 2001:db8:1::a && ipv6.addr == 2001:db8:1::b && ipv6.addr == fd00::1 && ipv6.addr == fd00::2|eth:ethertype:ipv6:ipv6:tcp:http
gre.pcap|-|gre.key == 4097 && gre.sequence_number && gre.proto == 0x0800|eth:ethertype:ip:gre:ip:tcp:http
gre-teb.pcap|-|gre.proto == 0x6558 && !gre.key|eth:ethertype:ip:gre:eth:ethertype:ip:tcp:http
erspan2.pcap|-|gre.proto == 0x88be && erspan.version == 1 && erspan.spanid == 77|eth:ethertype:ip:gre:erspan:eth:ethertype:ip:tcp:http
geneve.pcap|-|udp.dstport == 6081 && geneve.vni == 777|eth:ethertype:ip:udp:geneve:eth:ethertype:ip:tcp:http
vxlan-in-qinq.pcap|-|ieee8021ad.id == 200 && vlan.id == 100 && udp.dstport == 4789 && vxlan.vni == 4242|eth:ethertype:ieee8021ad:ethertype:vlan:ethertype:ip:udp:vxlan:eth:ethertype:ip:tcp:http
vxlan-8472.pcap|udp.port==8472,vxlan|udp.dstport == 8472 && vxlan.vni == 4242|eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:tcp:http
EOF

# Checksums of the re-encapsulated (and, for 6in4/6in6, recomputed) headers.
for f in "$HERE"/tunnels/*.pcap; do
    opts=(); case "$f" in *vxlan-8472*) opts=(-d udp.port==8472,vxlan);; esac
    nbad=$(ts -r "$f" "${opts[@]}" -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE \
           -o udp.check_checksum:TRUE \
           -Y 'ip.checksum.status == 0 || tcp.checksum.status == 0 || udp.checksum.status == 0' | wc -l)
    [ "$nbad" = 0 ] || bad "$(basename "$f"): $nbad frames with a bad checksum"
done
echo "ok  checksums of all tunnel files"

# ---- edge files: the facts tshark can confirm ------------------------------
E="$HERE/edge"
n=$(ts -r "$E/ipv4-fragments.pcap" -Y 'ip.flags.mf == 1 || ip.frag_offset > 0' | wc -l)
[ "$n" = 3 ] || bad "ipv4-fragments.pcap: $n fragment frames, want 3"
n=$(count_requests "$E/ipv4-fragments.pcap")
want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["files"]["ipv4-fragments.pcap"]["expect"]["complete_exchanges"])' "$E/edge.json")
[ "$n" = "$want" ] || bad "ipv4-fragments.pcap: $n requests after reassembly, want $want"
echo "ok  edge/ipv4-fragments.pcap: 3 fragments, $n requests after reassembly"

n=$(ts -r "$E/truncated-frames.pcap" -Y 'frame.cap_len < frame.len' | wc -l)
[ "$n" = 4 ] || bad "truncated-frames.pcap: $n frames with caplen < len, want 4"
n=$(ts -r "$E/truncated-frames.pcap" -Y 'ip.len > frame.len' | wc -l)
[ "$n" = 1 ] || bad "truncated-frames.pcap: $n frames with IPv4 total length beyond the frame, want 1"
echo "ok  edge/truncated-frames.pcap: 4 cut frames, 1 bad IPv4 total length"

n=$(ts -r "$E/tcp-hole.pcap" -Y 'tcp.analysis.lost_segment' | wc -l)
[ "$n" = 1 ] || bad "tcp-hole.pcap: tshark sees $n lost segments, want 1"
echo "ok  edge/tcp-hole.pcap: one lost segment"

oo=(-o tcp.reassemble_out_of_order:TRUE)
n=$(count_requests "$E/out-of-order.pcap" "${oo[@]}")
[ "$n" = 2 ] || bad "out-of-order.pcap: $n requests, want 2"
n=$(ts -r "$E/out-of-order.pcap" "${oo[@]}" -Y 'http.response.code == 200' -T fields -e http.content_length \
    | grep -c '^120000$' || true)
[ "$n" = 1 ] || bad "out-of-order.pcap: big response (Content-Length 120000) not reassembled"
n=$(ts -r "$E/out-of-order.pcap" -Y 'tcp.analysis.retransmission || tcp.analysis.out_of_order || tcp.analysis.lost_segment' | wc -l)
[ "$n" -ge 2 ] || bad "out-of-order.pcap: tshark flags only $n frames as out of order/retransmitted"
echo "ok  edge/out-of-order.pcap: 2 requests, 120000-byte body reassembled"

if [ "$fail" -ne 0 ]; then echo "check-tunnels.sh: FAILED" >&2; exit 1; fi
echo "check-tunnels.sh: all files agree with tshark"

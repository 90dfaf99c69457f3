#!/usr/bin/env bash
# Regenerate pcaps/dns/: real DNS traffic (UDP and TCP, plain and inside VXLAN) from a real
# server.
#
#   sudo bash pcaps/dns/gen-dns.sh
#
# Two network namespaces joined by a veth pair, the underlay: the client wdn-cli (10.210.0.1,
# wdn-c) and the server wdn-srv (10.210.0.2, wdn-s). Over it a real point-to-point VXLAN
# tunnel (VNI 4242, UDP 4789): vx0 10.211.0.1 <-> vx0 10.211.0.2. In wdn-srv, dnsmasq
# (Debian's dnsmasq-base, no upstream) listens on 10.210.0.2 and 10.211.0.2, port 53, UDP and
# TCP, and on fd00:210::2 of the underlay (IPv6), and answers from its own data for svc.test
# (anything else there is NXDOMAIN): A, three A, AAAA, an 800-byte TXT (four strings: truncated
# over UDP without EDNS), a 2.8 KB TXT (its EDNS answer is larger than the MTU: IP fragments,
# inside the tunnel too), SRV, MX, PTR;
# a name outside svc.test gets REFUSED (no upstream). The server also has 10.210.0.3, where an
# nft rule drops UDP port 53 (no ICMP comes back): the timeout case.
#
# dns_client.py (dnspython, its own sockets) runs in wdn-cli three times, against 10.210.0.2
# ("plain"), 10.211.0.2 ("vxlan") and fd00:210::2 ("ipv6"; the timeout case only runs in
# "plain"), then unbound (below) resolves a few names through dnsmasq, then dig asks
# the plain server a few questions (not logged: compare them with tshark). Captured on wdn-s,
# filter "udp or tcp", so the overlay traffic is seen VXLAN-encapsulated: dns.pcap; every
# transaction dns_client.py made, as it went on the wire: dns.expected.json.
#
# Offloads (TSO/GSO/GRO and checksums) are off on the veths and the VXLAN devices, so the
# frames have wire sizes and valid checksums (the outer VXLAN UDP checksum is 0, as Linux
# sends it). Client ports, DNS ids, timestamps and the outer UDP source port change from run
# to run; dns.expected.json records them. The run takes about 10 s; it can be run again, and
# removes its namespaces and processes when it ends, also on failure.
#
# Needs root, iproute2, nftables, ethtool, tcpdump, dnsmasq-base (/usr/sbin/dnsmasq), dig
# (bind9-dnsutils), unbound, python3 with dnspython (pip install dnspython).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NS_CLI=wdn-cli
NS_SRV=wdn-srv
SERVER=10.210.0.2
OVERLAY_SERVER=10.211.0.2
SILENT=10.210.0.3
V6_CLIENT=fd00:210::1
V6_SERVER=fd00:210::2
WORK="$(mktemp -d /tmp/wirespan-dns.XXXXXX)"
PIDS=()
# shellcheck source=../netns-pair.sh
. "$HERE/../netns-pair.sh"

# What an interrupted run may have left running in its namespaces (pair_up removes them).
for ns in "$NS_CLI" "$NS_SRV"; do
    if [ -e "/run/netns/$ns" ]; then
        for pid in $(ip netns pids "$ns"); do kill "$pid" 2>/dev/null || true; done
    fi
done
pair_up "$NS_CLI" "$NS_SRV" 10.210.0.1 "$SERVER" wdn
trap 'exit 130' INT TERM # so that pair_down (the EXIT trap) runs then too

# the overlay: VXLAN VNI 4242 over the veth, fixed MACs
ip -n "$NS_CLI" link add vx0 address 02:00:0a:d3:00:01 type vxlan id 4242 \
    remote "$SERVER" local 10.210.0.1 dstport 4789 dev wdn-c
ip -n "$NS_SRV" link add vx0 address 02:00:0a:d3:00:02 type vxlan id 4242 \
    remote 10.210.0.1 local "$SERVER" dstport 4789 dev wdn-s
# no IPv6 on the overlay (its DAD/MLD/RS would be captured inside the tunnel)
ip netns exec "$NS_CLI" sysctl -qw net.ipv6.conf.vx0.disable_ipv6=1
ip netns exec "$NS_SRV" sysctl -qw net.ipv6.conf.vx0.disable_ipv6=1
ip -n "$NS_CLI" addr add 10.211.0.1/24 dev vx0
ip -n "$NS_SRV" addr add "$OVERLAY_SERVER/24" dev vx0
ip -n "$NS_CLI" link set vx0 up
ip -n "$NS_SRV" link set vx0 up
# static overlay neighbours: no ARP inside the tunnel (the underlay's ARP is not captured)
ip -n "$NS_CLI" neigh add "$OVERLAY_SERVER" lladdr 02:00:0a:d3:00:02 dev vx0 nud permanent
ip -n "$NS_SRV" neigh add 10.211.0.1 lladdr 02:00:0a:d3:00:01 dev vx0 nud permanent
for pair in "$NS_CLI wdn-c" "$NS_SRV wdn-s" "$NS_CLI vx0" "$NS_SRV vx0"; do
    read -r ns dev <<<"$pair"
    ip netns exec "$ns" ethtool -K "$dev" tx off rx off sg off tso off gso off gro off \
        >/dev/null 2>&1 || true
done

# IPv6 on the underlay: the third path
ip -n "$NS_CLI" addr add "$V6_CLIENT/64" dev wdn-c nodad
ip -n "$NS_SRV" addr add "$V6_SERVER/64" dev wdn-s nodad

# the silent address: UDP to port 53 dropped, no ICMP back
ip -n "$NS_SRV" addr add "$SILENT/24" dev wdn-s
ip netns exec "$NS_SRV" nft -f - <<EOF
table inet wdn {
    chain input {
        type filter hook input priority filter; policy accept;
        ip daddr $SILENT udp dport 53 drop
    }
}
EOF

# the server's data
cat >"$WORK/hosts" <<'EOF'
10.1.0.11 catalog.svc.test
10.1.0.12 catalog.svc.test
10.1.0.13 catalog.svc.test
10.1.0.20 db.svc.test
fd00::20 db.svc.test
EOF
txt=()
for part in 1 2 3 4; do
    s="part$part-"
    while [ ${#s} -lt 200 ]; do s+="abcdefghijklmnopqrstuvwxyz0123456789"; done
    txt+=("${s:0:200}")
done
huge=()
for part in $(seq 1 14); do
    s="chunk$part-"
    while [ ${#s} -lt 200 ]; do s+="0123456789abcdefghijklmnopqrstuvwxyz"; done
    huge+=("${s:0:200}")
done
chmod 755 "$WORK"
chmod 644 "$WORK/hosts"
ip netns exec "$NS_SRV" /usr/sbin/dnsmasq --keep-in-foreground --conf-file=/dev/null \
    --pid-file= --no-resolv --no-hosts --bind-interfaces --port=53 \
    --listen-address="$SERVER" --listen-address="$OVERLAY_SERVER" \
    --listen-address="$V6_SERVER" \
    --local=/svc.test/ --local-ttl=30 --edns-packet-max=4096 \
    --host-record=cart.svc.test,10.1.0.7,fd00::7 \
    --host-record=orders.svc.test,10.1.0.8 \
    --host-record=mail.svc.test,10.1.0.25 \
    --addn-hosts="$WORK/hosts" \
    --txt-record="big.svc.test,$(IFS=,; echo "${txt[*]}")" \
    --txt-record="huge.svc.test,$(IFS=,; echo "${huge[*]}")" \
    --srv-host=_http._tcp.cart.svc.test,cart.svc.test,8080,0,10 \
    --mx-host=svc.test,mail.svc.test,10 \
    --ptr-record=9.0.1.10.in-addr.arpa,legacy.svc.test \
    --log-queries=extra --log-facility="$WORK/dnsmasq.log" \
    >"$WORK/dnsmasq.out" 2>&1 &
PIDS+=($!)
wait_listening "$NS_SRV" 53

capture_start "$NS_SRV" wdn-s "$WORK/dns.pcap" "udp or tcp"
PIDS+=("$CAPTURE_PID")
ip netns exec "$NS_CLI" python3 "$HERE/dns_client.py" plain "$SERVER" \
    "$WORK/dns.expected.json" "$SILENT"
ip netns exec "$NS_CLI" python3 "$HERE/dns_client.py" vxlan "$OVERLAY_SERVER" \
    "$WORK/dns.expected.json"
ip netns exec "$NS_CLI" python3 "$HERE/dns_client.py" ipv6 "$V6_SERVER" \
    "$WORK/dns.expected.json"
# another client: unbound, a caching resolver in the client's namespace (as a node-local DNS
# cache runs) forwarding svc.test to dnsmasq with 0x20 (the case of each name randomised),
# asked by dig on the namespace's loopback (not captured): its queries to dnsmasq are.
cat >"$WORK/unbound.conf" <<EOF
server:
    interface: 127.0.0.1
    port: 53
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "$WORK"
    pidfile: ""
    use-syslog: no
    logfile: ""
    do-ip6: no
    use-caps-for-id: yes
    qname-minimisation: no
    domain-insecure: "svc.test"
    local-zone: "test." nodefault
    module-config: "iterator"
forward-zone:
    name: "svc.test."
    forward-addr: $SERVER
EOF
ip netns exec "$NS_CLI" /usr/sbin/unbound -d -c "$WORK/unbound.conf" >"$WORK/unbound.out" 2>&1 &
PIDS+=($!)
wait_listening "$NS_CLI" 53
for q in "cart.svc.test A" "db.svc.test AAAA" "catalog.svc.test A" "nope.svc.test A" \
    "big.svc.test TXT"; do
    # shellcheck disable=SC2086 # the words of $q are dig's arguments
    ip netns exec "$NS_CLI" dig +tries=1 +time=2 @127.0.0.1 $q >>"$WORK/dig-unbound.out"
    sleep 0.02
done
for q in "cart.svc.test A" "+tcp cart.svc.test AAAA" "+noedns big.svc.test TXT" \
    "nope.svc.test A"; do
    # shellcheck disable=SC2086 # the words of $q are dig's arguments
    ip netns exec "$NS_CLI" dig +tries=1 +time=2 @"$SERVER" $q >>"$WORK/dig.out"
    sleep 0.02
done
capture_stop
cp "$WORK/dns.pcap" "$WORK/dns.expected.json" "$HERE/"
echo "gen-dns.sh: wrote $HERE/dns.pcap and dns.expected.json"

#!/usr/bin/env bash
# Cross-check the MariaDB captures in this directory against
# mysql.expected.json with tshark.  Exits non-zero on any mismatch.
#
#   bash pcaps/mysql/check.sh
#
# Needs tshark (Wireshark 4.0 tested) and python3 (standard library only).
# tshark decodes tcp/3306 as MySQL by itself; the second port needs
# -d tcp.port==3307,mysql.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CLIENT="$HERE/../mysql_client.py"
EXP="$HERE/mysql.expected.json"
D=(-d "tcp.port==3307,mysql")
SERVER_IP=10.200.2.2
fail=0

check_eq() {  # what got want
    if [ "$2" != "$3" ]; then
        echo "mysql/check.sh: CHECK FAILED $1: got [$2] want [$3]" >&2; fail=1
    else
        echo "ok: $1 = $2"
    fi
}
expect() {  # python expression over the connections `c` and all commands `k`
    python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))["connections"]
k = [x for conn in c for x in conn["commands"]]
print(eval(sys.argv[2]))' "$EXP" "$1"
}
# tshark prints one line per frame; a frame can hold several MySQL PDUs
fields() {  # file field [filter]
    tshark -r "$1" "${D[@]}" -Y "${3:-$2}" -T fields -e "$2" 2>/dev/null | tr ',' '\n' | grep . || true
}

CONNS=$(expect 'len(c)')
CMDS=$(expect 'len(k)')
ERRS=$(expect '" ".join(str(x["error_code"]) for x in k if x["response"] == "ERR")')
VERSION=$(expect 'sorted({x["server_version"] for x in c})[0]')
PORTS=$(expect '" ".join(str(x["server_port"]) for x in c)')
PREPARES=$(expect 'sum(x["command"] == "COM_STMT_PREPARE" for x in k)')
EXECUTES=$(expect 'sum(x["command"] == "COM_STMT_EXECUTE" for x in k)')
RESETS=$(expect 'sum(x["command"] == "COM_STMT_RESET" for x in k)')

for f in client-veth server-veth underlay-vxlan; do
    P="$HERE/$f.pcap"
    n=$(tshark -r "$P" "${D[@]}" -Y 'tcp.flags.syn==1 && tcp.flags.ack==0' -T fields -e tcp.dstport 2>/dev/null | tr '\n' ' ' | sed 's/ $//')
    check_eq "$f.pcap connections (server ports)" "$n" "$PORTS"
    # every command, including the zlib-compressed one (tshark shows it as "Unknown (96)")
    check_eq "$f.pcap MySQL commands (-Y mysql.command)" "$(fields "$P" mysql.command | wc -l)" "$CMDS"
    check_eq "$f.pcap COM_STMT_PREPARE" "$(fields "$P" mysql.command 'mysql.command==22' | grep -cx 22)" "$PREPARES"
    check_eq "$f.pcap COM_STMT_EXECUTE" "$(fields "$P" mysql.command 'mysql.command==23' | grep -cx 23)" "$EXECUTES"
    check_eq "$f.pcap COM_STMT_RESET" "$(fields "$P" mysql.command 'mysql.command==26' | grep -cx 26)" "$RESETS"
    check_eq "$f.pcap error codes in order" "$(fields "$P" mysql.error_code | tr '\n' ' ' | sed 's/ $//')" "$ERRS"
    check_eq "$f.pcap server version(s)" "$(fields "$P" mysql.version | sort -u | tr '\n' ' ' | sed 's/ $//')" "$VERSION"
    # SSL never offered by the server; CLIENT_DEPRECATE_EOF asked by no client
    check_eq "$f.pcap server SSL capability" "$(fields "$P" mysql.caps.sl 'mysql.version' | sort -u | tr '\n' ' ')" "0 "
    check_eq "$f.pcap client DEPRECATE_EOF" "$(fields "$P" mysql.caps.deprecate_eof 'mysql.user' | sort -u | tr '\n' ' ')" "0 "
    max=$(tshark -r "$P" -T fields -e frame.len 2>/dev/null | sort -n | tail -1)
    lim=1514; [ "$f" = underlay-vxlan ] && lim=1564
    if [ "$max" -le "$lim" ]; then echo "ok: $f.pcap largest frame $max <= $lim"
    else echo "mysql/check.sh: CHECK FAILED $f.pcap has a $max-byte frame (offloads on?)" >&2; fail=1; fi
    # command by command (tshark PDML): command, SQL, statement id, response,
    # error code and message, affected/returned rows
    python3 "$CLIENT" verify --pcap "$P" --expected "$EXP" || fail=1
done
ttl_cli=$(tshark -r "$HERE/client-veth.pcap" -Y "ip.src==$SERVER_IP" -T fields -e ip.ttl 2>/dev/null | sort -u | tr '\n' ' ')
ttl_srv=$(tshark -r "$HERE/server-veth.pcap" -Y "ip.dst==$SERVER_IP" -T fields -e ip.ttl 2>/dev/null | sort -u | tr '\n' ' ')
check_eq "TTL of server packets at the client" "$ttl_cli" "63 "
check_eq "TTL of client packets at the server" "$ttl_srv" "63 "
vni=$(tshark -r "$HERE/underlay-vxlan.pcap" -T fields -e vxlan.vni 2>/dev/null | sort -u | tr '\n' ' ')
check_eq "underlay VXLAN VNIs" "$vni" "4242 "
for f in "$HERE"/*.pcap; do
    s=$(stat -c %s "$f")
    [ "$s" -lt 1000000 ] || { echo "mysql/check.sh: CHECK FAILED $f is $s bytes" >&2; fail=1; }
done
if [ $fail -ne 0 ]; then
    echo "mysql/check.sh: FAILED" >&2
    exit 1
fi
echo "mysql/check.sh: all checks passed ($CONNS connections, $CMDS commands)"

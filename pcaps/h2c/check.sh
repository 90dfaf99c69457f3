#!/usr/bin/env bash
# Cross-check h2c-upgrade.pcap against h2c.expected.json with tshark.
# Exits non-zero on any mismatch.
#
#   bash pcaps/h2c/check.sh
#
# Needs tshark (Wireshark 4.0 tested) and python3 (standard library only).
# Port 8080 is decoded as HTTP (-d tcp.port==8080,http); tshark's HTTP
# dissector follows the `Upgrade: h2c` + 101 and hands the rest of the
# connection, including the bytes after the 101 in the same segment, to its
# HTTP/2 dissector.  The checks:
#   - the capture is one TCP connection, nothing else; IPv4/TCP checksums valid
#   - exactly one HTTP/1.1 request: GET /upgrade?x=1 with Upgrade: h2c,
#     Connection: Upgrade, HTTP2-Settings, HTTP2-Settings and traceparent
#   - exactly one HTTP/1.x response: 101 Switching Protocols, Upgrade: h2c
#   - the client's connection preface (Magic + SETTINGS) comes after the 101
#   - HEADERS on streams 1 (response only), 3 and 5 (request + response):
#     methods, paths, queries, statuses, traceparents, DATA byte counts per
#     direction, addresses and ports all equal to h2c.expected.json
#   - a GOAWAY from the client, a FIN from each side, no RST
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PCAP="$HERE/h2c-upgrade.pcap"
EXP="$HERE/h2c.expected.json"
D=(-d "tcp.port==8080,http")
fail=0

check_eq() {  # what got want
    if [ "$2" != "$3" ]; then
        echo "h2c/check.sh: CHECK FAILED $1: got [$2] want [$3]" >&2; fail=1
    else
        echo "ok: $1 = $2"
    fi
}

[ -s "$PCAP" ] || { echo "h2c/check.sh: missing $PCAP" >&2; exit 1; }
[ -s "$EXP" ] || { echo "h2c/check.sh: missing $EXP" >&2; exit 1; }

# --- quick looks with plain tshark filters ---------------------------------------
check_eq "non-TCP frames" "$(tshark -r "$PCAP" -Y '!tcp' 2>/dev/null | wc -l)" 0
check_eq "TCP connections (SYN)" \
    "$(tshark -r "$PCAP" -Y 'tcp.flags.syn==1 && tcp.flags.ack==0' 2>/dev/null | wc -l)" 1
# checksum status: 0 bad, 1 good, 2 unverified
check_eq "frames whose IPv4/TCP checksums are not verified good" \
    "$(tshark -r "$PCAP" -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE \
         -Y 'tcp.checksum.status != 1 || ip.checksum.status != 1' 2>/dev/null | wc -l)" 0
check_eq "RST frames" "$(tshark -r "$PCAP" -Y 'tcp.flags.reset==1' 2>/dev/null | wc -l)" 0
check_eq "FIN frames" "$(tshark -r "$PCAP" -Y 'tcp.flags.fin==1' 2>/dev/null | wc -l)" 2
check_eq "HTTP/1.1 responses" \
    "$(tshark -r "$PCAP" "${D[@]}" -Y 'http.response' -T fields -e http.response.code 2>/dev/null | tr '\n' ' ')" "101 "
check_eq "HTTP/1.1 Upgrade headers (request, 101)" \
    "$(tshark -r "$PCAP" "${D[@]}" -Y 'http.upgrade' -T fields -e http.upgrade 2>/dev/null | tr '\n' ' ')" "h2c h2c "
check_eq "HTTP/2 streams carrying HEADERS" \
    "$(tshark -r "$PCAP" "${D[@]}" -Y 'http2.type==1' -T fields -e http2.streamid 2>/dev/null |
       tr ',' '\n' | grep -v '^0$' | sort -un | tr '\n' ' ')" "1 3 5 "

# --- call by call, from tshark's EK output ----------------------------------------------
tshark -r "$PCAP" "${D[@]}" -T ek 2>/dev/null | python3 -c '
import json, sys

exp = json.load(open(sys.argv[1]))["calls"]
fail = []

def check(what, got, want):
    if got != want:
        fail.append("%s: got %r want %r" % (what, got, want))
    else:
        print("ok: %s = %r" % (what, got))

def as_list(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]

def ws_unescape(s):  # EK keeps the HTTP/1 header lines with a literal CRLF
    return s.rstrip("\r\n")

packets = []
for line in sys.stdin:
    d = json.loads(line)
    if "layers" in d:
        packets.append(d["layers"])

c0 = exp[0]
cli = (c0["client_address"], c0["client_port"])
srv = (c0["server_address"], c0["server_port"])
for c in exp:
    check("stream %d endpoints" % c["stream_id"],
          ((c["client_address"], c["client_port"]), (c["server_address"], c["server_port"])),
          (cli, srv))

http1_req, http1_rsp = [], []
frames = []       # (frame number, direction, http2 frame dict)
magic_at = None
for L in packets:
    num = int(L["frame"]["frame_frame_number"])
    ip, tcp = L["ip"], L["tcp"]
    src = (ip["ip_ip_src"], int(tcp["tcp_tcp_srcport"]))
    dst = (ip["ip_ip_dst"], int(tcp["tcp_tcp_dstport"]))
    if {src, dst} != {cli, srv}:
        fail.append("frame %d: foreign endpoints %r -> %r" % (num, src, dst))
        continue
    direction = "c2s" if src == cli else "s2c"
    if "http" in L:
        h = L["http"]
        if h.get("http_http_request"):
            http1_req.append((num, direction, h))
        if h.get("http_http_response"):
            http1_rsp.append((num, direction, h))
    for f in as_list(L.get("http2")):
        if "http2_http2_magic" in f:
            magic_at = (num, direction)
        if "http2_http2_type" in f:
            frames.append((num, direction, f))

# HTTP/1.1 part
check("HTTP/1.1 requests", len(http1_req), 1)
check("HTTP/1.1 responses", len(http1_rsp), 1)
up = next(c for c in exp if c["via"] == "http1-upgrade")
if http1_req and http1_rsp:
    num, direction, h = http1_req[0]
    lines = [ws_unescape(x) for x in as_list(h.get("http_http_request_line"))]
    hdr = {}
    for x in lines:
        n, _, v = x.partition(":")
        hdr[n.strip().lower()] = v.strip()
    check("upgrade request direction", direction, "c2s")
    check("upgrade request method", h.get("http_http_request_method"), up["method"])
    check("upgrade request version", h.get("http_http_request_version"), "HTTP/1.1")
    check("upgrade request path", h.get("http_http_request_uri_path"), up["path"])
    check("upgrade request query", h.get("http_http_request_uri_query"), up["query"])
    check("upgrade request Upgrade", hdr.get("upgrade"), "h2c")
    check("upgrade request Connection tokens",
          sorted(t.strip().lower() for t in hdr.get("connection", "").split(",")),
          ["http2-settings", "upgrade"])
    check("upgrade request has HTTP2-Settings", "http2-settings" in hdr, True)
    check("upgrade request traceparent", hdr.get("traceparent"), up["traceparent"])
    rnum, rdirection, r = http1_rsp[0]
    check("101 direction", rdirection, "s2c")
    check("101 status", r.get("http_http_response_code"), "101")
    check("101 Upgrade", r.get("http_http_upgrade"), "h2c")
    check("101 Connection", r.get("http_http_connection"), "Upgrade")
    check("101 answers frame", r.get("http_http_request_in"), str(num))
    check("client preface after the 101", bool(magic_at and magic_at[1] == "c2s"
                                               and magic_at[0] > rnum), True)

# HTTP/2 part
first_s2c = next((f for n, d, f in frames if d == "s2c"), None)
check("first server HTTP/2 frame is SETTINGS (no ACK)",
      ((first_s2c or {}).get("http2_http2_type"),
       (first_s2c or {}).get("http2_http2_flags_ack_settings")), ("4", False))
first_c2s = next((f for n, d, f in frames if d == "c2s"), None)
check("first client HTTP/2 frame is SETTINGS (no ACK)",
      ((first_c2s or {}).get("http2_http2_type"),
       (first_c2s or {}).get("http2_http2_flags_ack_settings")), ("4", False))
streams = {}
for num, direction, f in frames:
    sid = int(f["http2_http2_streamid"])
    typ = int(f["http2_http2_type"])
    if sid == 0:
        continue
    s = streams.setdefault(sid, {"req": None, "rsp": None, "req_data": 0, "rsp_data": 0,
                                 "req_end": False, "rsp_end": False})
    side = "req" if direction == "c2s" else "rsp"
    if typ == 1:
        names = as_list(f.get("http2_http2_header_name"))
        values = as_list(f.get("http2_http2_header_value"))
        if s[side] is not None:
            fail.append("stream %d: second %s HEADERS (trailers?) in frame %d" % (sid, side, num))
        s[side] = dict(zip(names, values))
    elif typ == 0:
        s[side + "_data"] += int(f["http2_http2_length"])
    if f.get("http2_http2_flags_end_stream") is True:
        s[side + "_end"] = True
    if typ == 3:
        fail.append("RST_STREAM on stream %d in frame %d" % (sid, num))
check("HTTP/2 stream ids", sorted(streams), sorted(c["stream_id"] for c in exp))
for c in exp:
    sid = c["stream_id"]
    s = streams.get(sid)
    if s is None:
        continue
    rsp = s["rsp"] or {}
    check("stream %d response :status" % sid, rsp.get(":status"), str(c["status"]))
    check("stream %d response DATA bytes" % sid, s["rsp_data"], c["response_body_size"])
    check("stream %d response ends" % sid, s["rsp_end"], True)
    if c["via"] == "http1-upgrade":
        check("stream %d has no HTTP/2 request HEADERS" % sid, s["req"], None)
        check("stream %d has no HTTP/2 request DATA" % sid, s["req_data"], 0)
        continue
    req = s["req"] or {}
    p, _, q = req.get(":path", "").partition("?")
    check("stream %d :method" % sid, req.get(":method"), c["method"])
    check("stream %d :path" % sid, p, c["path"])
    check("stream %d query" % sid, q or None, c["query"])
    check("stream %d traceparent" % sid, req.get("traceparent"), c["traceparent"])
    check("stream %d request DATA bytes" % sid, s["req_data"], c["request_body_size"])
    check("stream %d request ends" % sid, s["req_end"], True)
goaway = [(d, f) for n, d, f in frames if f["http2_http2_type"] == "7"]
check("GOAWAY frames (direction, error)",
      [(d, f.get("http2_http2_goaway_error")) for d, f in goaway], [("c2s", "0")])

if fail:
    for x in fail:
        print("h2c/check.sh: CHECK FAILED " + x, file=sys.stderr)
    sys.exit(1)
' "$EXP" || fail=1

s=$(stat -c %s "$PCAP")
[ "$s" -lt 100000 ] || { echo "h2c/check.sh: CHECK FAILED $PCAP is $s bytes" >&2; fail=1; }
if [ $fail -ne 0 ]; then
    echo "h2c/check.sh: FAILED" >&2
    exit 1
fi
echo "h2c/check.sh: all checks passed ($(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["calls"]))' "$EXP") calls)"

#!/usr/bin/env python3
"""Generated benchmark captures for wirespan (and for benches/compare.sh).

    python3 benches/workloads.py OUTDIR [--scale S] [--only NAME[,NAME...]] [--list]

Writes classic pcap files (little-endian, microsecond timestamps, linktype 1 Ethernet,
snaplen 262144) into OUTDIR and prints one line per file: name, packets, bytes. `--scale`
multiplies the number of connections (default 1.0); `--only` makes a subset. Standard library
only; the files are large and not committed (compare.sh looks in target/workloads/).

Every frame is Ethernet II / IPv4 (IHL 5, DF, TTL 64, correct header checksum) / TCP (data
offset 5, no options, checksum 0), and vxlan-http adds an outer Ethernet/IPv4/UDP 4789/VXLAN
(VNI 42) layer. Sequence and acknowledgement numbers are consistent per direction, so a
reassembler sees whole in-order streams with no holes, no retransmissions and no
out-of-order segments. Segments carry at most MSS 1448 bytes (1398 inside VXLAN), so no frame
exceeds 1514 bytes. Timestamps start at 1 700 000 000 s and advance 1 µs per packet. All
addresses are in 10.0.0.0/8. Output is deterministic (fixed seeds).

Workloads (sizes at scale 1):

  small-mix      packets-per-second and flow-table stress: 100 000 short HTTP/1.1 connections
                 (SYN, SYN-ACK, ACK, a tiny GET, ACK, a tiny 204/304/200 response, ACK, FIN/ACK,
                 FIN/ACK, ACK), 1000 open at once, round-robin one packet per connection, so
                 every packet belongs to a different flow than the one before. Frames are
                 60-128 bytes: control segments are padded to the 60-byte Ethernet minimum
                 (64 on the wire with the FCS), the way a NIC delivers them. ~1 M packets.
  http-small     HTTP/1.1 keep-alive: 20 000 connections x 20 GETs, JSON bodies of 100-300 bytes
                 with Content-Length (about 3 % are 404s); request, response, ACK; 200
                 connections interleaved. The request/response parser and span path.
  http-large     HTTP/1.1 keep-alive with big bodies: 800 connections x 1-3 downloads of
                 64 KiB-1 MiB (most near the low end), a quarter of them chunked; responses
                 segmented at MSS 1448 with an ACK every two segments. Reassembly and body
                 skipping throughput.
  grpc-stream    gRPC over HTTP/2 with prior knowledge on port 50051: preface, SETTINGS both
                 ways, SETTINGS ACKs, a connection WINDOW_UPDATE, then two rounds of 4-8
                 concurrent server-streaming calls to /shop.Cart/Watch (odd stream ids). Each
                 call: request HEADERS (HPACK, static-table and literal-without-indexing
                 fields, no Huffman) and one DATA message with END_STREAM; response HEADERS,
                 20-250 messages in DATA frames of 1-3 messages interleaved across the
                 streams, trailers with grpc-status 0. Frames cross TCP segment boundaries.
                 600 connections, 24 interleaved. HTTP/2 framing, HPACK and gRPC message paths.
  mysql-results  MySQL/MariaDB protocol on port 3306: greeting (protocol 10, 10.11.6-MariaDB,
                 CLIENT_PROTOCOL_41, no CLIENT_DEPRECATE_EOF: result sets end with classic EOF
                 packets), login, OK, then 20-40 COM_QUERY SELECTs per connection answered by
                 text result sets of 10-500 rows over 4-6 columns, about 8 % answered by ERR
                 1146 (#42S02); then COM_QUIT. 400 connections, 32 interleaved. Packet
                 framing across segments and row counting.
  vxlan-http     http-small's traffic (8 000 connections x 20 GETs) with every frame wrapped in
                 outer Ethernet/IPv4/UDP (dst 4789, src port per inner flow)/VXLAN (flags 0x08,
                 VNI 42). The tunnel decode path.
  churn          flow churn: 500 000 one-request connections (handshake, GET, ~200-byte
                 response, ACK, FIN/ACK both ways, ACK), only 50 open at a time, so the flow
                 table sees constant creation and close.

At scale 1 (packets, bytes; generation time on one busy core):

  small-mix      1.00 M packets   81 MB   2 s
  http-small     1.32 M          244 MB   3 s
  http-large     0.23 M          229 MB   1 s
  grpc-stream    0.18 M          185 MB   1.5 s
  mysql-results  0.22 M          212 MB   1 s
  vxlan-http     0.53 M          124 MB   1.5 s
  churn          4.50 M          469 MB   7 s

Generation is single-threaded Python: headers are packed straight into one bytearray per file
(no per-packet objects beyond the packed headers), written out in 8 MiB chunks. Counts of what
was generated (requests, responses, gRPC messages, queries, errors, rows) go to stderr, to
compare with tshark:

  tshark -r http-small.pcap -Y http.response | wc -l                      # = responses
  tshark -r grpc-stream.pcap -d tcp.port==50051,http2 -Y grpc -T fields \
      -e grpc.message_length | tr , '\n' | grep -c .                      # = grpc_messages
  tshark -r mysql-results.pcap -Y mysql.query | wc -l                     # = queries
  tshark -r mysql-results.pcap -Y mysql.error_code | wc -l                # = errors
  tshark -r vxlan-http.pcap -Y 'vxlan && http.request' | wc -l            # = requests
"""

import argparse
import itertools
import os
import random
import struct
import sys
import time

# ---------------------------------------------------------------------------------------------
# Constants

T0 = 1_700_000_000                     # first timestamp, seconds
MASK32 = 0xFFFFFFFF
MSS = 1448                             # 14 + 20 + 20 + 1448 = 1502-byte frames
VXLAN_MSS = 1398                       # + 50 bytes of outer headers = 1502-byte frames
FLUSH_AT = 8 << 20                     # write the output buffer in chunks of about 8 MiB

FIN, SYN, PSH, ACK = 0x01, 0x02, 0x08, 0x10
C, S = 0, 1                            # directions: client -> server, server -> client

PCAP_HEADER = struct.pack('<IHHiIII', 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
PCAP_RECORD = struct.Struct('<IIII')   # ts_sec, ts_usec, incl_len, orig_len
# IPv4 from its total-length field on (after version/IHL and TOS) + the TCP header: 38 bytes.
IP_TCP = struct.Struct('>HHHBBH4s4sHHIIBBHHH')
# Outer IPv4 from total length on + UDP header: 26 bytes.
IP_UDP = struct.Struct('>HHHBBH4s4sHHHH')
VXLAN_PORT = 4789
VXLAN_HEADER = struct.pack('>II', 0x08 << 24, 42 << 8)   # flags I, VNI 42


# ---------------------------------------------------------------------------------------------
# Addresses and checksums

def ip4(a, b, c, d):
    return bytes((a, b, c, d))


def mac_for(ip):
    """A locally administered MAC derived from an IPv4 address."""
    return b'\x02\x00' + ip


def eth_ipv4_prefix(dst_mac, src_mac):
    """Ethernet II header (ethertype IPv4) + the IPv4 version/IHL and TOS bytes."""
    return dst_mac + src_mac + b'\x08\x00\x45\x00'


def ipv4_partial_sum(a, b, proto):
    """One's-complement sum of the IPv4 header words that do not change within a flow
    (version/IHL/TOS, flags DF, TTL 64 + protocol, both addresses); symmetric in a and b.
    Adding total length and identification and folding gives the checksum."""
    return (0x4500 + 0x4000 + (64 << 8 | proto)
            + (a[0] << 8 | a[1]) + (a[2] << 8 | a[3]) + (b[0] << 8 | b[1]) + (b[2] << 8 | b[3]))


# ---------------------------------------------------------------------------------------------
# pcap writer and frame builders

class PcapWriter:
    """Appends records to a bytearray and writes it out in big chunks.

    Every packet gets the next microsecond; its IPv4 identification is the packet number."""

    def __init__(self, path, min_frame=0):
        self.path = path
        self.f = open(path, 'wb')
        self.buf = bytearray(PCAP_HEADER)
        self.packets = 0
        self.size = len(PCAP_HEADER)
        self.min_frame = min_frame       # pad shorter frames with zeros (Ethernet trailer)

    def tcp(self, eth, src, dst, psum, sport, dport, seq, ack, flags, payload):
        """Ethernet/IPv4/TCP frame. eth: eth_ipv4_prefix(); psum: ipv4_partial_sum()."""
        tot = 40 + len(payload)
        flen = 14 + tot
        pad = self.min_frame - flen
        if pad > 0:
            flen += pad
        p = self.packets
        self.packets = p + 1
        self.size += 16 + flen
        sec, usec = divmod(p, 1_000_000)
        ident = p & 0xFFFF
        s = psum + tot + ident
        s = (s & 0xFFFF) + (s >> 16)
        s = (s & 0xFFFF) + (s >> 16)
        buf = self.buf
        buf += PCAP_RECORD.pack(T0 + sec, usec, flen, flen)
        buf += eth
        buf += IP_TCP.pack(tot, ident, 0x4000, 64, 6, s ^ 0xFFFF, src, dst,
                           sport, dport, seq, ack, 0x50, flags, 65535, 0, 0)
        buf += payload
        if pad > 0:
            buf += bytes(pad)
        if len(buf) >= FLUSH_AT:
            self.flush()

    def tcp_vxlan(self, outer, eth, src, dst, psum, sport, dport, seq, ack, flags, payload):
        """The same TCP frame inside outer Ethernet/IPv4/UDP/VXLAN.
        outer: (eth prefix, outer src, outer dst, outer partial sum, UDP source port)."""
        oeth, osrc, odst, opsum, usport = outer
        tot = 40 + len(payload)
        utot = 16 + 14 + tot             # UDP + VXLAN headers + inner frame
        otot = 20 + utot
        flen = 14 + otot
        p = self.packets
        self.packets = p + 1
        self.size += 16 + flen
        sec, usec = divmod(p, 1_000_000)
        ident = p & 0xFFFF
        s = psum + tot + ident
        s = (s & 0xFFFF) + (s >> 16)
        s = (s & 0xFFFF) + (s >> 16)
        o = opsum + otot + ident
        o = (o & 0xFFFF) + (o >> 16)
        o = (o & 0xFFFF) + (o >> 16)
        buf = self.buf
        buf += PCAP_RECORD.pack(T0 + sec, usec, flen, flen)
        buf += oeth
        buf += IP_UDP.pack(otot, ident, 0x4000, 64, 17, o ^ 0xFFFF, osrc, odst,
                           usport, VXLAN_PORT, utot, 0)
        buf += VXLAN_HEADER
        buf += eth
        buf += IP_TCP.pack(tot, ident, 0x4000, 64, 6, s ^ 0xFFFF, src, dst,
                           sport, dport, seq, ack, 0x50, flags, 65535, 0, 0)
        buf += payload
        if len(buf) >= FLUSH_AT:
            self.flush()

    def flush(self):
        self.f.write(self.buf)
        self.buf.clear()

    def close(self):
        self.flush()
        self.f.close()


def vxlan_outer(vtep_client, vtep_server, udp_sport):
    """Per-direction outer-header parameters for TcpFlow(vxlan=...)."""
    cmac, smac = mac_for(vtep_client), mac_for(vtep_server)
    psum = ipv4_partial_sum(vtep_client, vtep_server, 17)
    return ((eth_ipv4_prefix(smac, cmac), vtep_client, vtep_server, psum, udp_sport),
            (eth_ipv4_prefix(cmac, smac), vtep_server, vtep_client, psum, udp_sport))


# ---------------------------------------------------------------------------------------------
# TCP connections

class TcpFlow:
    """One TCP connection. Tracks the next sequence number of each side; every segment but the
    SYN acknowledges everything the other side sent, and data is segmented at the MSS with the
    receiver ACKing every `ack_every` segments."""

    __slots__ = ('w', 'eth', 'src', 'dst', 'sport', 'dport', 'psum', 'nxt', 'unacked', 'mss',
                 'vx')

    def __init__(self, w, client, server, cport, sport, isn_c, isn_s, mss=MSS, vxlan=None):
        cmac, smac = mac_for(client), mac_for(server)
        self.w = w
        self.eth = (eth_ipv4_prefix(smac, cmac), eth_ipv4_prefix(cmac, smac))
        self.src = (client, server)
        self.dst = (server, client)
        self.sport = (cport, sport)
        self.dport = (sport, cport)
        self.psum = ipv4_partial_sum(client, server, 6)
        self.nxt = [isn_c & MASK32, isn_s & MASK32]
        self.unacked = [0, 0]            # data segments each side has received, not yet ACKed
        self.mss = mss
        self.vx = vxlan

    def seg(self, d, flags, payload=b''):
        """One segment from side d (C or S)."""
        nxt = self.nxt
        seq = nxt[d]
        ack = nxt[1 - d] if flags & ACK else 0
        if self.vx is None:
            self.w.tcp(self.eth[d], self.src[d], self.dst[d], self.psum, self.sport[d],
                       self.dport[d], seq, ack, flags, payload)
        else:
            self.w.tcp_vxlan(self.vx[d], self.eth[d], self.src[d], self.dst[d], self.psum,
                             self.sport[d], self.dport[d], seq, ack, flags, payload)
        n = len(payload)
        if flags & (SYN | FIN):
            n += 1
        nxt[d] = (seq + n) & MASK32
        if flags & ACK:
            self.unacked[d] = 0
        if payload:
            self.unacked[1 - d] += 1

    def handshake(self):
        self.seg(C, SYN)
        self.seg(S, SYN | ACK)
        self.seg(C, ACK)

    def ack(self, d):
        self.seg(d, ACK)

    def write(self, d, data, ack_every=2, push=True):
        """Send data from side d in MSS-sized segments (PSH on the last one)."""
        mss = self.mss
        peer = 1 - d
        n = len(data)
        if n <= mss:
            self.seg(d, PSH | ACK if push else ACK, data)
            if self.unacked[peer] >= ack_every:
                self.seg(peer, ACK)
            return
        mv = memoryview(data)
        unacked = self.unacked
        for off in range(0, n, mss):
            end = off + mss
            self.seg(d, PSH | ACK if push and end >= n else ACK, mv[off:end])
            if unacked[peer] >= ack_every:
                self.seg(peer, ACK)

    def stream(self, d, data, pieces=16, ack_every=2):
        """Like write(), but a generator yielding every `pieces` segments so that other
        connections' packets interleave with a long transfer."""
        step = pieces * self.mss
        n = len(data)
        if n <= step:
            self.write(d, data, ack_every)
            yield
            return
        mv = memoryview(data)
        for off in range(0, n, step):
            self.write(d, mv[off:off + step], ack_every, push=off + step >= n)
            yield

    def close(self, first=C):
        """FIN/ACK from `first`, FIN/ACK back, final ACK."""
        self.seg(first, FIN | ACK)
        self.seg(1 - first, FIN | ACK)
        self.seg(first, ACK)


def run_window(connections, window):
    """Runs connection generators (each yields between steps) round-robin, `window` at a time;
    a finished connection's slot goes to the next one."""
    it = iter(connections)
    active = list(itertools.islice(it, window))
    done = object()
    while active:
        still = []
        for g in active:
            if next(g, done) is done:
                g = next(it, None)
                if g is None:
                    continue
            still.append(g)
        active = still


def client_endpoint(i, nclients, net):
    """Client address and port of connection i: nclients hosts in 10.net.0.0/16 (and up),
    ports counting up from 32768, so 4-tuples stay distinct."""
    j = i % nclients
    ip = ip4(10, net + j // 64000, (j // 250) % 256, j % 250 + 1)
    return ip, 32768 + (i // nclients) % 28000


def text_blob(n, seed, alphabet=b'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'):
    """n pseudo-random bytes from an alphabet (no quotes, backslashes or control bytes)."""
    rng = random.Random(seed)
    table = bytes(alphabet[i % len(alphabet)] for i in range(256))
    return rng.randbytes(n).translate(table)


# ---------------------------------------------------------------------------------------------
# HTTP/1.1 payloads

def http_request(path, host, headers=()):
    lines = [b'GET %s HTTP/1.1' % path, b'Host: ' + host]
    lines += [b'%s: %s' % h for h in headers]
    return b'\r\n'.join(lines) + b'\r\n\r\n'


def http_response(status, reason, body, content_type, chunk=None, extra=()):
    """A response with Content-Length, or chunked in `chunk`-byte chunks."""
    head = [b'HTTP/1.1 %d %s' % (status, reason), b'Content-Type: ' + content_type]
    head += [b'%s: %s' % h for h in extra]
    if chunk is None:
        head.append(b'Content-Length: %d' % len(body))
        return b'\r\n'.join(head) + b'\r\n\r\n' + body
    head.append(b'Transfer-Encoding: chunked')
    out = [b'\r\n'.join(head), b'\r\n\r\n']
    for off in range(0, len(body), chunk):
        part = body[off:off + chunk]
        out += [b'%x\r\n' % len(part), part, b'\r\n']
    out.append(b'0\r\n\r\n')
    return b''.join(out)


def json_body(length, ident, filler):
    """A valid JSON object of exactly `length` bytes (length >= 40)."""
    head = b'{"id":%d,"sku":"sku-%06d","note":"' % (ident, ident % 1_000_000)
    tail = b'"}'
    n = length - len(head) - len(tail)
    return head + filler[:n] + tail


class HttpSmallPool:
    """Prebuilt keep-alive requests and 100-300-byte JSON responses (about 3 % 404s)."""

    def __init__(self, seed):
        rng = random.Random(seed)
        filler = text_blob(400, seed + 1)
        paths = [b'/api/v1/items/%d' % rng.randrange(100000) for _ in range(400)]
        paths += [b'/api/v1/cart/%d' % rng.randrange(100000) for _ in range(200)]
        paths += [b'/api/v1/users/%d/orders?limit=%d' % (rng.randrange(100000), rng.choice((10, 20, 50)))
                  for _ in range(200)]
        self.requests = [http_request(p, b'shop.internal', ((b'User-Agent', b'bench/1.0'),
                                                              (b'Accept', b'application/json')))
                         for p in paths]
        self.ok = [http_response(200, b'OK', json_body(n, n * 7919, filler), b'application/json')
                   for n in range(100, 301)]
        self.missing = [http_response(404, b'Not Found', json_body(n, n, filler), b'application/json')
                        for n in range(100, 130)]


# ---------------------------------------------------------------------------------------------
# HTTP/2, HPACK and gRPC payloads

H2_DATA, H2_HEADERS, H2_SETTINGS, H2_WINDOW_UPDATE = 0x0, 0x1, 0x4, 0x8
H2_END_STREAM, H2_ACK, H2_END_HEADERS = 0x1, 0x1, 0x4
H2_PREFACE = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'


def h2_frame(ftype, flags, stream, payload=b''):
    """9-byte frame header (24-bit length, type, flags, 31-bit stream id) + payload."""
    n = len(payload)
    return struct.pack('>BHBBI', n >> 16, n & 0xFFFF, ftype, flags, stream & 0x7FFFFFFF) + payload


def h2_settings(pairs):
    return h2_frame(H2_SETTINGS, 0, 0, b''.join(struct.pack('>HI', k, v) for k, v in pairs))


def hpack_int(value, prefix_bits, first=0):
    """HPACK integer (RFC 7541 5.1) with an N-bit prefix; `first` holds the pattern bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((first | value,))
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_str(s):
    return hpack_int(len(s), 7) + s            # H = 0: no Huffman


def hpack_indexed(index):
    """Indexed header field (static table)."""
    return hpack_int(index, 7, 0x80)


def hpack_literal(name, value):
    """Literal without indexing. name: static-table index (int) or a literal name (bytes)."""
    if isinstance(name, int):
        return hpack_int(name, 4) + hpack_str(value)
    return b'\x00' + hpack_str(name) + hpack_str(value)


# Static table (RFC 7541 appendix A): 1 :authority, 3 :method POST, 4 :path, 6 :scheme http,
# 8 :status 200, 31 content-type, 58 user-agent.
GRPC_REQUEST_HEADERS = (hpack_indexed(3) + hpack_indexed(6)
                        + hpack_literal(4, b'/shop.Cart/Watch')
                        + hpack_literal(1, b'cart.internal:50051')
                        + hpack_literal(31, b'application/grpc')
                        + hpack_literal(b'te', b'trailers')
                        + hpack_literal(58, b'grpc-go/1.60.1')
                        + hpack_literal(b'grpc-timeout', b'30S'))
GRPC_RESPONSE_HEADERS = hpack_indexed(8) + hpack_literal(31, b'application/grpc')
GRPC_TRAILERS = hpack_literal(b'grpc-status', b'0')


def pb_varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def pb_field_varint(field, n):
    return pb_varint(field << 3) + pb_varint(n)


def pb_field_bytes(field, b):
    return pb_varint(field << 3 | 2) + pb_varint(len(b)) + b


def grpc_message(msg):
    """Length-prefixed message: compressed flag 0, 4-byte big-endian length."""
    return struct.pack('>BI', 0, len(msg)) + msg


class GrpcPool:
    """Prebuilt HTTP/2 frames and protobuf-encoded gRPC messages."""

    def __init__(self, seed):
        rng = random.Random(seed)
        filler = text_blob(1024, seed + 1)
        self.client_open = (H2_PREFACE
                            + h2_settings(((0x2, 0), (0x4, 4 << 20), (0x6, 16 << 10)))
                            + h2_frame(H2_WINDOW_UPDATE, 0, 0, struct.pack('>I', (16 << 20) - 65535)))
        self.server_open = (h2_settings(((0x3, 100), (0x4, 1 << 20), (0x5, 16384)))
                            + h2_frame(H2_WINDOW_UPDATE, 0, 0, struct.pack('>I', (4 << 20) - 65535))
                            + h2_frame(H2_SETTINGS, H2_ACK, 0))
        self.settings_ack = h2_frame(H2_SETTINGS, H2_ACK, 0)
        # CartEvent { string sku = 1; uint32 quantity = 2; uint64 price_cents = 3;
        #             string description = 4; uint64 version = 5; }
        self.messages = []
        for _ in range(512):
            off = rng.randrange(len(filler) - 300)
            msg = (pb_field_bytes(1, b'sku-%06d' % rng.randrange(1_000_000))
                   + pb_field_varint(2, rng.randrange(1, 20))
                   + pb_field_varint(3, rng.randrange(100, 500_000))
                   + pb_field_bytes(4, filler[off:off + rng.randrange(20, 260)])
                   + pb_field_varint(5, rng.randrange(1, 1 << 40)))
            self.messages.append(grpc_message(msg))

    def request(self, stream, cart):
        """HEADERS + DATA (one WatchRequest { string cart_id = 1; bool include_items = 2; })."""
        msg = grpc_message(pb_field_bytes(1, b'cart-%d' % cart) + pb_field_varint(2, 1))
        return (h2_frame(H2_HEADERS, H2_END_HEADERS, stream, GRPC_REQUEST_HEADERS)
                + h2_frame(H2_DATA, H2_END_STREAM, stream, msg))

    def responses(self, streams, counts, rng):
        """The server's byte stream for concurrent calls: HEADERS for each stream, then DATA
        frames of 1-3 messages round-robin across the streams, each stream's trailers as
        soon as its last message is out. Returns (bytes, DATA frames, messages)."""
        out = [h2_frame(H2_HEADERS, H2_END_HEADERS, s, GRPC_RESPONSE_HEADERS) for s in streams]
        left = dict(zip(streams, counts))
        active = list(streams)
        msgs = self.messages
        nmsgs = len(msgs)
        frames = messages = 0
        while active:
            still = []
            for s in active:
                k = min(left[s], rng.randint(1, 3))
                start = rng.randrange(nmsgs - 3)
                out.append(h2_frame(H2_DATA, 0, s, b''.join(msgs[start:start + k])))
                frames += 1
                messages += k
                left[s] -= k
                if left[s]:
                    still.append(s)
                else:
                    out.append(h2_frame(H2_HEADERS, H2_END_HEADERS | H2_END_STREAM, s,
                                        GRPC_TRAILERS))
            active = still
        return b''.join(out), frames, messages


# ---------------------------------------------------------------------------------------------
# MySQL payloads

CLIENT_LONG_PASSWORD = 0x1
CLIENT_FOUND_ROWS = 0x2
CLIENT_LONG_FLAG = 0x4
CLIENT_CONNECT_WITH_DB = 0x8
CLIENT_PROTOCOL_41 = 0x200
CLIENT_TRANSACTIONS = 0x2000
CLIENT_SECURE_CONNECTION = 0x8000
CLIENT_MULTI_STATEMENTS = 0x10000
CLIENT_MULTI_RESULTS = 0x20000
CLIENT_PS_MULTI_RESULTS = 0x40000
CLIENT_PLUGIN_AUTH = 0x80000
CLIENT_PLUGIN_AUTH_LENENC = 0x200000
# CLIENT_DEPRECATE_EOF (0x1000000) is deliberately not negotiated: result sets use EOF packets.
MYSQL_SERVER_CAPS = (CLIENT_LONG_PASSWORD | CLIENT_FOUND_ROWS | CLIENT_LONG_FLAG
                     | CLIENT_CONNECT_WITH_DB | CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS
                     | CLIENT_SECURE_CONNECTION | CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS
                     | CLIENT_PS_MULTI_RESULTS | CLIENT_PLUGIN_AUTH | CLIENT_PLUGIN_AUTH_LENENC)
MYSQL_CLIENT_CAPS = (CLIENT_LONG_PASSWORD | CLIENT_LONG_FLAG | CLIENT_CONNECT_WITH_DB
                     | CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS | CLIENT_SECURE_CONNECTION
                     | CLIENT_MULTI_RESULTS | CLIENT_PLUGIN_AUTH | CLIENT_PLUGIN_AUTH_LENENC)
SERVER_STATUS_AUTOCOMMIT = 0x2
UTF8MB4_GENERAL_CI, BINARY = 45, 63
MYSQL_TYPE_LONG, MYSQL_TYPE_LONGLONG, MYSQL_TYPE_DATETIME = 0x03, 0x08, 0x0C
MYSQL_TYPE_NEWDECIMAL, MYSQL_TYPE_VAR_STRING = 0xF6, 0xFD
NOT_NULL, PRI_KEY, UNSIGNED, AUTO_INCREMENT = 0x1, 0x2, 0x20, 0x200


def mysql_packet(seq, payload):
    """3-byte little-endian length, sequence id, payload."""
    n = len(payload)
    return bytes((n & 0xFF, n >> 8 & 0xFF, n >> 16, seq & 0xFF)) + payload


def lenenc_int(n):
    if n < 0xFB:
        return bytes((n,))
    if n < 1 << 16:
        return b'\xfc' + struct.pack('<H', n)
    if n < 1 << 24:
        return b'\xfd' + struct.pack('<I', n)[:3]
    return b'\xfe' + struct.pack('<Q', n)


def lenenc_str(b):
    return lenenc_int(len(b)) + b


def mysql_greeting(conn_id, scramble):
    """Protocol 10 handshake (seq 0)."""
    payload = (b'\x0a' + b'10.11.6-MariaDB\x00' + struct.pack('<I', conn_id) + scramble[:8] + b'\x00'
               + struct.pack('<HBHH', MYSQL_SERVER_CAPS & 0xFFFF, UTF8MB4_GENERAL_CI,
                             SERVER_STATUS_AUTOCOMMIT, MYSQL_SERVER_CAPS >> 16)
               + bytes((len(scramble) + 1,)) + bytes(10) + scramble[8:] + b'\x00'
               + b'mysql_native_password\x00')
    return mysql_packet(0, payload)


def mysql_login(user, auth, db):
    """HandshakeResponse41 (seq 1)."""
    payload = (struct.pack('<IIB', MYSQL_CLIENT_CAPS, 16 << 20, UTF8MB4_GENERAL_CI) + bytes(23)
               + user + b'\x00' + lenenc_str(auth) + db + b'\x00' + b'mysql_native_password\x00')
    return mysql_packet(1, payload)


def mysql_ok(seq, affected=0, status=SERVER_STATUS_AUTOCOMMIT):
    return mysql_packet(seq, b'\x00' + lenenc_int(affected) + b'\x00' + struct.pack('<HH', status, 0))


def mysql_eof(seq, status=SERVER_STATUS_AUTOCOMMIT):
    return mysql_packet(seq, b'\xfe' + struct.pack('<HH', 0, status))


def mysql_err(seq, code, state, message):
    return mysql_packet(seq, b'\xff' + struct.pack('<H', code) + b'#' + state + message)


def mysql_column(schema, table, name, ctype, length, flags=0, decimals=0, charset=UTF8MB4_GENERAL_CI):
    """ColumnDefinition41 payload."""
    return (lenenc_str(b'def') + lenenc_str(schema) + lenenc_str(table) + lenenc_str(table)
            + lenenc_str(name) + lenenc_str(name) + b'\x0c'
            + struct.pack('<HIBHB', charset, length, ctype, flags, decimals) + b'\x00\x00')


class MysqlTable:
    """A table's result-set header (column count, definitions, EOF) and a block of prebuilt
    row packets whose sequence ids line up when a result starts at a multiple of 256 rows."""

    BLOCK = 5 * 256

    def __init__(self, name, columns, make_row, rng):
        self.name = name
        self.select = b'SELECT ' + b', '.join(c[0] for c in columns) + b' FROM ' + name
        defs = [mysql_column(b'shop', name, *c) for c in columns]
        seq = 1
        head = [mysql_packet(seq, lenenc_int(len(defs)))]
        for d in defs:
            seq += 1
            head.append(mysql_packet(seq, d))
        seq += 1
        head.append(mysql_eof(seq))
        self.header = b''.join(head)
        self.first_row_seq = seq + 1
        rows = [mysql_packet(self.first_row_seq + k, b''.join(
            b'\xfb' if v is None else lenenc_str(v) for v in make_row(rng)))
            for k in range(self.BLOCK)]
        self.rows = b''.join(rows)
        self.offsets = list(itertools.accumulate((len(r) for r in rows), initial=0))

    def result(self, nrows, rng):
        """Column count, definitions, EOF, nrows rows (<= BLOCK - 3*256), EOF."""
        start = 256 * rng.randrange((self.BLOCK - nrows) // 256 + 1)
        rows = self.rows[self.offsets[start]:self.offsets[start + nrows]]
        return self.header + rows + mysql_eof(self.first_row_seq + nrows)


def mysql_tables(seed):
    rng = random.Random(seed)
    words = [b'red', b'blue', b'steel', b'oak', b'linen', b'wool', b'glass', b'brass', b'mini',
             b'large', b'classic', b'travel', b'kitchen', b'garden', b'desk', b'lamp', b'mug',
             b'chair', b'shelf', b'bag', b'bottle', b'kettle', b'rug', b'clock']
    countries = [b'DE', b'FR', b'US', b'JP', b'BR', b'IN', b'NL', b'SE', b'ES', b'IT']
    statuses = [b'new', b'paid', b'shipped', b'delivered', b'cancelled', b'refunded']

    def stamp(r):
        return b'2024-%02d-%02d %02d:%02d:%02d' % (r.randint(1, 12), r.randint(1, 28),
                                                   r.randrange(24), r.randrange(60), r.randrange(60))

    def item(r):
        return (b'%d' % r.randrange(1, 10_000_000), b'SKU-%08d' % r.randrange(10 ** 8),
                b' '.join(r.choice(words) for _ in range(r.randint(2, 5))),
                b'%d.%02d' % (r.randrange(1, 2000), r.randrange(100)),
                b'%d' % r.randrange(0, 500) if r.random() > 0.05 else None, stamp(r))

    def order(r):
        return (b'%d' % r.randrange(1, 10 ** 9), b'%d' % r.randrange(1, 10 ** 6),
                b'%d.%02d' % (r.randrange(1, 5000), r.randrange(100)), r.choice(statuses), stamp(r))

    def user(r):
        name = r.choice(words) + b'.' + r.choice(words)
        return (b'%d' % r.randrange(1, 10 ** 6), name + b'%d@example.com' % r.randrange(1000),
                name.title(), r.choice(countries), stamp(r))

    ll = (MYSQL_TYPE_LONGLONG, 20, NOT_NULL | UNSIGNED, 0, BINARY)
    pk = (MYSQL_TYPE_LONGLONG, 20, NOT_NULL | PRI_KEY | UNSIGNED | AUTO_INCREMENT, 0, BINARY)
    dt = (MYSQL_TYPE_DATETIME, 19, NOT_NULL, 0, BINARY)
    return [
        MysqlTable(b'items', [(b'id',) + pk, (b'sku', MYSQL_TYPE_VAR_STRING, 128, NOT_NULL),
                              (b'name', MYSQL_TYPE_VAR_STRING, 1020, NOT_NULL),
                              (b'price', MYSQL_TYPE_NEWDECIMAL, 12, NOT_NULL, 2, BINARY),
                              (b'stock', MYSQL_TYPE_LONG, 11, 0, 0, BINARY),
                              (b'updated_at',) + dt], item, rng),
        MysqlTable(b'orders', [(b'id',) + pk, (b'user_id',) + ll,
                               (b'total', MYSQL_TYPE_NEWDECIMAL, 12, NOT_NULL, 2, BINARY),
                               (b'status', MYSQL_TYPE_VAR_STRING, 64, NOT_NULL),
                               (b'created_at',) + dt], order, rng),
        MysqlTable(b'users', [(b'id',) + pk, (b'email', MYSQL_TYPE_VAR_STRING, 1020, NOT_NULL),
                              (b'name', MYSQL_TYPE_VAR_STRING, 400, NOT_NULL),
                              (b'country', MYSQL_TYPE_VAR_STRING, 8, 0),
                              (b'created_at',) + dt], user, rng),
    ]


# ---------------------------------------------------------------------------------------------
# Workloads: each takes (writer, scale, stats) and writes its connections.

def n_of(base, scale):
    return max(1, round(base * scale))


def small_mix(w, scale, stats):
    rng = random.Random(1)
    requests = [b'GET /%s HTTP/1.1\r\nHost: h%d\r\n\r\n' % (p, h)
                for p in (b'a', b'b/1', b'img/x.png', b'api/ping', b'c?q=1', b's/12345')
                for h in range(1, 6)]
    responses = [b'HTTP/1.1 204 No Content\r\n\r\n', b'HTTP/1.1 304 Not Modified\r\n\r\n',
                 b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok']
    nconn = n_of(100_000, scale)
    servers = [ip4(10, 0, 0, k) for k in range(1, 9)]

    def conn(i):
        client, port = client_endpoint(i, 5000, 1)
        f = TcpFlow(w, client, servers[i % 8], port, 80, rng.getrandbits(32), rng.getrandbits(32))
        f.seg(C, SYN)
        yield
        f.seg(S, SYN | ACK)
        yield
        f.seg(C, ACK)
        yield
        f.seg(C, PSH | ACK, requests[i % len(requests)])
        yield
        f.seg(S, ACK)
        yield
        f.seg(S, PSH | ACK, responses[i % 7 % 3])
        yield
        f.seg(C, ACK)
        yield
        f.seg(C, FIN | ACK)
        yield
        f.seg(S, FIN | ACK)
        yield
        f.seg(C, ACK)

    run_window((conn(i) for i in range(nconn)), 1000)
    stats.update(connections=nconn, requests=nconn, responses=nconn)


def _http_keepalive(w, nconn, calls, stats, vxlan):
    rng = random.Random(2 if vxlan else 3)
    pool = HttpSmallPool(4)
    servers = [ip4(10, 0, 1, k) for k in range(1, 17)]
    vteps = [ip4(10, 200, 1, k) for k in range(1, 33)]
    vtep_server = ip4(10, 200, 0, 1)
    counts = {'404': 0}

    def conn(i):
        client, port = client_endpoint(i, 2000, 2)
        server = servers[i % len(servers)]
        if vxlan:
            outer = vxlan_outer(vteps[i % len(vteps)], vtep_server,
                                49152 + (i * 2654435761 >> 8) % 16384)
            f = TcpFlow(w, client, server, port, 8080, rng.getrandbits(32), rng.getrandbits(32),
                        mss=VXLAN_MSS, vxlan=outer)
        else:
            f = TcpFlow(w, client, server, port, 8080, rng.getrandbits(32), rng.getrandbits(32))
        f.handshake()
        yield
        for _ in range(calls):
            f.write(C, pool.requests[rng.randrange(len(pool.requests))])
            if rng.random() < 0.03:
                f.write(S, pool.missing[rng.randrange(len(pool.missing))])
                counts['404'] += 1
            else:
                f.write(S, pool.ok[rng.randrange(len(pool.ok))])
            f.ack(C)
            yield
        f.close(C)

    run_window((conn(i) for i in range(nconn)), 200)
    stats.update(connections=nconn, requests=nconn * calls, responses=nconn * calls,
                 not_found=counts['404'])


def http_small(w, scale, stats):
    _http_keepalive(w, n_of(20_000, scale), 20, stats, vxlan=False)


def vxlan_http(w, scale, stats):
    _http_keepalive(w, n_of(8_000, scale), 20, stats, vxlan=True)


def http_large(w, scale, stats):
    rng = random.Random(5)
    blob = text_blob((1 << 20) + (64 << 10), 6)
    nconn = n_of(800, scale)
    servers = [ip4(10, 0, 2, k) for k in range(1, 5)]
    totals = {'responses': 0, 'chunked': 0, 'body_bytes': 0}

    def body_size():
        u = rng.random()
        if u < 0.7:
            return rng.randint(64 << 10, 96 << 10)
        if u < 0.95:
            return rng.randint(96 << 10, 256 << 10)
        return rng.randint(256 << 10, 1 << 20)

    def conn(i):
        client, port = client_endpoint(i, 500, 3)
        f = TcpFlow(w, client, servers[i % len(servers)], port, 80,
                    rng.getrandbits(32), rng.getrandbits(32))
        f.handshake()
        yield
        for _ in range(rng.randint(1, 3)):
            size = body_size()
            off = rng.randrange(len(blob) - size + 1)
            body = blob[off:off + size]
            name = b'/files/%08x.bin' % rng.getrandbits(32)
            f.write(C, http_request(name, b'files.internal', ((b'User-Agent', b'bench/1.0'),
                                                               (b'Accept', b'*/*'))))
            if rng.random() < 0.25:
                resp = http_response(200, b'OK', body, b'application/octet-stream', chunk=16384)
                totals['chunked'] += 1
            else:
                resp = http_response(200, b'OK', body, b'application/octet-stream')
            totals['responses'] += 1
            totals['body_bytes'] += size
            yield from f.stream(S, resp)
        f.close(C)

    run_window((conn(i) for i in range(nconn)), 16)
    stats.update(connections=nconn, requests=totals['responses'], **totals)


def grpc_stream(w, scale, stats):
    rng = random.Random(7)
    pool = GrpcPool(8)
    nconn = n_of(600, scale)
    servers = [ip4(10, 0, 3, k) for k in range(1, 5)]
    totals = {'calls': 0, 'data_frames': 0, 'response_messages': 0}

    def conn(i):
        client, port = client_endpoint(i, 300, 4)
        f = TcpFlow(w, client, servers[i % len(servers)], port, 50051,
                    rng.getrandbits(32), rng.getrandbits(32))
        f.handshake()
        yield
        f.write(C, pool.client_open)
        f.write(S, pool.server_open)
        yield
        stream_id = 1
        for rnd in range(2):
            streams = list(range(stream_id, stream_id + 2 * rng.randint(4, 8), 2))
            stream_id = streams[-1] + 2
            req = b''.join(pool.request(s, rng.randrange(10 ** 6)) for s in streams)
            f.write(C, (pool.settings_ack if rnd == 0 else b'') + req)
            yield
            data, frames, msgs = pool.responses(streams, [rng.randint(20, 250) for _ in streams], rng)
            totals['calls'] += len(streams)
            totals['data_frames'] += frames
            totals['response_messages'] += msgs
            yield from f.stream(S, data)
        f.close(C)

    run_window((conn(i) for i in range(nconn)), 24)
    stats.update(connections=nconn, **totals,
                 grpc_messages=totals['calls'] + totals['response_messages'])


def mysql_results(w, scale, stats):
    rng = random.Random(9)
    tables = mysql_tables(10)
    nconn = n_of(400, scale)
    servers = [ip4(10, 0, 4, k) for k in range(1, 5)]
    totals = {'queries': 0, 'errors': 0, 'rows': 0}
    conditions = [b'WHERE category_id = %d', b'WHERE updated_at > NOW() - INTERVAL %d DAY',
                  b'WHERE id > %d', b'WHERE shard = %d']

    def conn(i):
        client, port = client_endpoint(i, 200, 5)
        f = TcpFlow(w, client, servers[i % len(servers)], port, 3306,
                    rng.getrandbits(32), rng.getrandbits(32))
        f.handshake()
        yield
        f.write(S, mysql_greeting(1000 + i, text_blob(20, i)))
        f.write(C, mysql_login(b'app', rng.randbytes(20), b'shop'))
        f.write(S, mysql_ok(2))
        yield
        for _ in range(rng.randint(20, 40)):
            totals['queries'] += 1
            if rng.random() < 0.08:
                missing = b'%s_archive_%d' % (rng.choice(tables).name, rng.randint(2015, 2022))
                f.write(C, mysql_packet(0, b'\x03SELECT * FROM ' + missing + b' LIMIT 100'))
                f.write(S, mysql_err(1, 1146, b'42S02', b"Table 'shop.%s' doesn't exist" % missing))
                totals['errors'] += 1
                yield
                continue
            t = rng.choice(tables)
            nrows = rng.randint(10, 500)
            totals['rows'] += nrows
            sql = (t.select + b' ' + rng.choice(conditions) % rng.randrange(1, 1000)
                   + b' ORDER BY id LIMIT %d' % nrows)
            f.write(C, mysql_packet(0, b'\x03' + sql))
            yield from f.stream(S, t.result(nrows, rng))
        f.write(C, mysql_packet(0, b'\x01'))            # COM_QUIT
        f.close(C)

    run_window((conn(i) for i in range(nconn)), 32)
    stats.update(connections=nconn, **totals)


def churn(w, scale, stats):
    rng = random.Random(11)
    filler = text_blob(400, 12)
    responses = [http_response(200, b'OK', filler[k:k + n], b'text/plain')
                 for k, n in enumerate(range(180, 221))]
    requests = [b'GET /s/%d HTTP/1.1\r\nHost: svc.internal\r\n\r\n' % k for k in range(100)]
    nconn = n_of(500_000, scale)
    servers = [ip4(10, 0, 5, k) for k in range(1, 9)]

    def conn(i):
        client, port = client_endpoint(i, 10000, 6)
        f = TcpFlow(w, client, servers[i % 8], port, 80, rng.getrandbits(32), rng.getrandbits(32))
        f.handshake()
        yield
        f.seg(C, PSH | ACK, requests[i % 100])
        yield
        f.seg(S, PSH | ACK, responses[i % 41])
        f.seg(C, ACK)
        yield
        f.close(C)

    run_window((conn(i) for i in range(nconn)), 50)
    stats.update(connections=nconn, requests=nconn, responses=nconn)


# name -> (function, minimum frame length)
WORKLOADS = {
    'small-mix': (small_mix, 60),
    'http-small': (http_small, 0),
    'http-large': (http_large, 0),
    'grpc-stream': (grpc_stream, 0),
    'mysql-results': (mysql_results, 0),
    'vxlan-http': (vxlan_http, 0),
    'churn': (churn, 0),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('outdir', nargs='?', help='directory for the .pcap files (created if needed)')
    ap.add_argument('--scale', type=float, default=1.0, help='multiply connection counts (default 1.0)')
    ap.add_argument('--only', default='', metavar='NAME[,NAME]', help='generate only these workloads')
    ap.add_argument('--list', action='store_true', help='print the workload names and exit')
    args = ap.parse_args(argv)
    if args.list:
        print('\n'.join(WORKLOADS))
        return 0
    if not args.outdir:
        ap.error('OUTDIR is required')
    if args.scale <= 0:
        ap.error('--scale must be positive')
    only = [n.strip().removesuffix('.pcap') for n in args.only.split(',') if n.strip()]
    unknown = [n for n in only if n not in WORKLOADS]
    if unknown:
        ap.error('unknown workload(s): %s (known: %s)' % (', '.join(unknown), ', '.join(WORKLOADS)))
    os.makedirs(args.outdir, exist_ok=True)
    for name, (fn, min_frame) in WORKLOADS.items():
        if only and name not in only:
            continue
        path = os.path.join(args.outdir, name + '.pcap')
        t0 = time.perf_counter()
        w = PcapWriter(path, min_frame)
        stats = {}
        try:
            fn(w, args.scale, stats)
        finally:
            w.close()
        elapsed = time.perf_counter() - t0
        print(f'{name}.pcap {w.packets} packets {w.size} bytes', flush=True)
        detail = ' '.join(f'{k}={v}' for k, v in stats.items())
        print(f'  {name}: {elapsed:.1f} s, {detail}', file=sys.stderr, flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())

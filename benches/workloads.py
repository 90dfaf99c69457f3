#!/usr/bin/env python3
"""Generated benchmark captures for wirespan (and for benches/compare.sh).

    python3 benches/workloads.py OUTDIR [--scale S] [--only NAME[,NAME...]] [--list]

Writes classic pcap files (little-endian, microsecond timestamps, linktype 1 Ethernet,
snaplen 262144) into OUTDIR and prints one line per file: name, packets, bytes. `--scale`
multiplies the number of connections (of lookups for dns-udp; default 1.0); `--only` makes a
subset. Standard library only; the files are large and not committed (compare.sh looks in
target/workloads/).

Every frame is Ethernet II / IPv4 (IHL 5, DF, TTL 64, correct header checksum) / TCP (data
offset 5, no options, checksum 0) but dns-udp's, which are UDP (checksum 0, which IPv4
allows); vxlan-http adds an outer Ethernet/IPv4/UDP 4789/VXLAN (VNI 42) layer. Sequence and
acknowledgement numbers are consistent per direction, so a reassembler sees whole in-order
streams with no holes, no retransmissions and no out-of-order segments. Segments carry at
most MSS 1448 bytes (1398 inside VXLAN), so no frame exceeds 1514 bytes. Timestamps start at
1 700 000 000 s and advance 1 µs per packet. All addresses are in 10.0.0.0/8. Output is
deterministic (fixed seeds).

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
  dns-udp        DNS over UDP port 53: 200 000 lookups from 2 000 client sockets (8 hosts in
                 10.7.0.0/16 x 250 ephemeral ports) to 3 servers (10.96.0.10-12). Each a query
                 (RD; a random id, never reused on its socket; a third with an EDNS OPT record)
                 and its answer (the question echoed, the OPT echoed): 55 % A, 30 % AAAA, 6 % SRV,
                 5 % TXT, 4 % PTR with 1-4 answer records named by the pointer 0xc00c, about 5 %
                 NXDOMAIN (search-path expansions; no answers, an SOA in authority) and 1 %
                 SERVFAIL (no answers). Names are cluster services and pods
                 (cart.shop.svc.cluster.local, postgres-0.postgres.data.svc.cluster.local),
                 internal.example.com hosts and public API names. Answers come 1-60 packets after
                 their queries, so about 15 lookups are outstanding at any time and answers
                 overtake each other. The datagram table's pairing by 5-tuple and id.
  pgsql          PostgreSQL protocol 3.0 on port 5432: StartupMessage (user app, database shop),
                 AuthenticationOk, 8 ParameterStatus, BackendKeyData, ReadyForQuery; then 20-40
                 rounds per connection: simple Query SELECTs answered by RowDescription, 5-200
                 DataRows (text format), CommandComplete "SELECT n", ReadyForQuery; about 8 %
                 answered by ErrorResponse (ERROR 42P01, relation does not exist) and
                 ReadyForQuery; about 15 % extended-protocol batches (Parse, Bind, Describe
                 portal, Execute, Sync; ParseComplete, BindComplete, RowDescription, DataRows,
                 CommandComplete, ReadyForQuery), half of them of a named statement parsed once
                 per connection and afterwards only bound; then Terminate. 400 connections, 32
                 interleaved. Message framing across segments, statement names, row counting.
  redis          Redis RESP2 on port 6379: 50-100 commands per connection (a quarter of the
                 connections SELECT a database first), GET/SET/HGETALL/LRANGE/INCR/MGET as arrays
                 of bulk strings; replies of their types: bulk strings of 10-2000 bytes (most
                 short) or nil, +OK, integers, arrays of bulk strings (empty ones too), about 2 %
                 -WRONGTYPE errors. One write in ten is a pipeline of 2-10 commands, answered by
                 one write of all their replies. 600 connections, 32 interleaved. RESP streaming
                 and in-order pairing of pipelines.

At scale 1 (packets, bytes; generation time on one busy core):

  small-mix      1.00 M packets   81 MB   2 s
  http-small     1.32 M          244 MB   3 s
  http-large     0.23 M          229 MB   1 s
  grpc-stream    0.18 M          185 MB   1.5 s
  mysql-results  0.22 M          212 MB   1 s
  vxlan-http     0.53 M          124 MB   1.5 s
  churn          4.50 M          469 MB   7 s
  dns-udp        0.40 M           55 MB   2 s
  pgsql          0.13 M          111 MB   1 s
  redis          0.08 M           27 MB   1 s

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
  tshark -r dns-udp.pcap -Y 'dns.flags.response == 1' | wc -l             # = lookups
  tshark -r dns-udp.pcap -Y 'dns.flags.rcode == 3' | wc -l                # = nxdomain
  tshark -r pgsql.pcap -T fields -e pgsql.type | tr , '\n' \
      | grep -c 'Ready for query'                                         # = exchanges
  tshark -r pgsql.pcap -T fields -e pgsql.type | tr , '\n' | grep -c 'Data row'   # = rows
  tshark -r redis.pcap -Y 'tcp.srcport == 6379' -T fields -e resp.error \
      | grep -o WRONGTYPE | wc -l                                         # = errors

(tshark counts Redis commands one too many wherever a segment ends inside a command: the
part is shown as an array as well as the whole one in the next frame.)
"""

import argparse
import heapq
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
# IPv4 from total length on + UDP header: 26 bytes (VXLAN's outer headers; dns-udp's frames).
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

    def udp(self, eth, src, dst, psum, sport, dport, payload):
        """Ethernet/IPv4/UDP frame (UDP checksum 0: none, which IPv4 allows).
        eth: eth_ipv4_prefix(); psum: ipv4_partial_sum(..., 17)."""
        ulen = 8 + len(payload)
        tot = 20 + ulen
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
        buf += IP_UDP.pack(tot, ident, 0x4000, 64, 17, s ^ 0xFFFF, src, dst, sport, dport, ulen, 0)
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


class UdpPair:
    """Both directions of one UDP client socket and its server (datagrams, no state)."""

    __slots__ = ('w', 'eth', 'src', 'dst', 'sport', 'dport', 'psum')

    def __init__(self, w, client, server, cport, sport):
        cmac, smac = mac_for(client), mac_for(server)
        self.w = w
        self.eth = (eth_ipv4_prefix(smac, cmac), eth_ipv4_prefix(cmac, smac))
        self.src = (client, server)
        self.dst = (server, client)
        self.sport = (cport, sport)
        self.dport = (sport, cport)
        self.psum = ipv4_partial_sum(client, server, 17)

    def send(self, d, payload):
        """One datagram from side d (C or S)."""
        self.w.udp(self.eth[d], self.src[d], self.dst[d], self.psum, self.sport[d],
                   self.dport[d], payload)


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


SHOP_WORDS = [b'red', b'blue', b'steel', b'oak', b'linen', b'wool', b'glass', b'brass', b'mini',
              b'large', b'classic', b'travel', b'kitchen', b'garden', b'desk', b'lamp', b'mug',
              b'chair', b'shelf', b'bag', b'bottle', b'kettle', b'rug', b'clock']
SHOP_COUNTRIES = [b'DE', b'FR', b'US', b'JP', b'BR', b'IN', b'NL', b'SE', b'ES', b'IT']
SHOP_STATUSES = [b'new', b'paid', b'shipped', b'delivered', b'cancelled', b'refunded']


def shop_stamp(r):
    return b'2024-%02d-%02d %02d:%02d:%02d' % (r.randint(1, 12), r.randint(1, 28),
                                               r.randrange(24), r.randrange(60), r.randrange(60))


def shop_item(r):
    """(id, sku, name, price, stock or None, updated_at) as text."""
    return (b'%d' % r.randrange(1, 10_000_000), b'SKU-%08d' % r.randrange(10 ** 8),
            b' '.join(r.choice(SHOP_WORDS) for _ in range(r.randint(2, 5))),
            b'%d.%02d' % (r.randrange(1, 2000), r.randrange(100)),
            b'%d' % r.randrange(0, 500) if r.random() > 0.05 else None, shop_stamp(r))


def shop_order(r):
    """(id, user_id, total, status, created_at) as text."""
    return (b'%d' % r.randrange(1, 10 ** 9), b'%d' % r.randrange(1, 10 ** 6),
            b'%d.%02d' % (r.randrange(1, 5000), r.randrange(100)), r.choice(SHOP_STATUSES),
            shop_stamp(r))


def shop_user(r):
    """(id, email, name, country, created_at) as text."""
    name = r.choice(SHOP_WORDS) + b'.' + r.choice(SHOP_WORDS)
    return (b'%d' % r.randrange(1, 10 ** 6), name + b'%d@example.com' % r.randrange(1000),
            name.title(), r.choice(SHOP_COUNTRIES), shop_stamp(r))


def mysql_tables(seed):
    rng = random.Random(seed)
    ll = (MYSQL_TYPE_LONGLONG, 20, NOT_NULL | UNSIGNED, 0, BINARY)
    pk = (MYSQL_TYPE_LONGLONG, 20, NOT_NULL | PRI_KEY | UNSIGNED | AUTO_INCREMENT, 0, BINARY)
    dt = (MYSQL_TYPE_DATETIME, 19, NOT_NULL, 0, BINARY)
    return [
        MysqlTable(b'items', [(b'id',) + pk, (b'sku', MYSQL_TYPE_VAR_STRING, 128, NOT_NULL),
                              (b'name', MYSQL_TYPE_VAR_STRING, 1020, NOT_NULL),
                              (b'price', MYSQL_TYPE_NEWDECIMAL, 12, NOT_NULL, 2, BINARY),
                              (b'stock', MYSQL_TYPE_LONG, 11, 0, 0, BINARY),
                              (b'updated_at',) + dt], shop_item, rng),
        MysqlTable(b'orders', [(b'id',) + pk, (b'user_id',) + ll,
                               (b'total', MYSQL_TYPE_NEWDECIMAL, 12, NOT_NULL, 2, BINARY),
                               (b'status', MYSQL_TYPE_VAR_STRING, 64, NOT_NULL),
                               (b'created_at',) + dt], shop_order, rng),
        MysqlTable(b'users', [(b'id',) + pk, (b'email', MYSQL_TYPE_VAR_STRING, 1020, NOT_NULL),
                              (b'name', MYSQL_TYPE_VAR_STRING, 400, NOT_NULL),
                              (b'country', MYSQL_TYPE_VAR_STRING, 8, 0),
                              (b'created_at',) + dt], shop_user, rng),
    ]


# ---------------------------------------------------------------------------------------------
# DNS payloads

DNS_A, DNS_SOA, DNS_PTR, DNS_TXT, DNS_AAAA, DNS_SRV, DNS_OPT = 1, 6, 12, 16, 28, 33, 41
DNS_IN = 1
DNS_SERVFAIL, DNS_NXDOMAIN = 2, 3
DNS_QUERY_FLAGS = 0x0100               # RD
DNS_ANSWER_FLAGS = 0x8180              # QR, RD, RA; | the response code
DNS_HEADER = struct.Struct('>HHHHHH')  # id, flags, QD, AN, NS, AR counts
DNS_RR = struct.Struct('>HHIH')        # after the owner name: type, class, TTL, RDLENGTH
DNS_QNAME_PTR = b'\xc0\x0c'            # compression pointer to the question's name (offset 12)
# EDNS OPT pseudo-record: root owner, UDP payload size 1232, extended rcode/version/DO 0, no
# options.
DNS_OPT_RR = b'\x00' + DNS_RR.pack(DNS_OPT, 1232, 0, 0)


def dns_name(name):
    """Uncompressed wire form of a dotted name."""
    return b''.join(bytes((len(label),)) + label for label in name.split(b'.')) + b'\x00'


def dns_rr(owner, rtype, ttl, rdata):
    return owner + DNS_RR.pack(rtype, DNS_IN, ttl, len(rdata)) + rdata


def dns_question(name, qtype):
    return dns_name(name) + struct.pack('>HH', qtype, DNS_IN)


class DnsPool:
    """Prebuilt questions and answer sections. by_type[qtype] is a list of (question, answer
    records, count) whose records name the question by the pointer 0xc00c; nx is a list of
    (question, SOA authority record) for names that do not exist (a resolver's search-path
    expansions and a few typos), the SOA's owner a pointer to the zone inside the question."""

    SERVICES = [b'cart', b'catalog', b'checkout', b'payments', b'users', b'search', b'recommend',
                b'inventory', b'shipping', b'auth', b'frontend', b'reviews', b'pricing', b'ads',
                b'session', b'gateway', b'notifications', b'currency', b'email', b'quotes']
    NAMESPACES = [b'shop', b'platform', b'data', b'payments', b'monitoring']
    EXTERNAL = [b'api.stripe.com', b's3.eu-west-1.amazonaws.com', b'sqs.eu-west-1.amazonaws.com',
                b'www.googleapis.com', b'oauth2.googleapis.com', b'registry-1.docker.io',
                b'github.com', b'api.github.com', b'hooks.slack.com', b'api.sendgrid.com',
                b'sentry.io', b'o123456.ingest.sentry.io', b'login.microsoftonline.com',
                b'cdn.jsdelivr.net', b'fonts.gstatic.com', b'pypi.org']

    def __init__(self, seed):
        rng = random.Random(seed)
        cluster = [b'%s.%s.svc.cluster.local' % (s, n) for s in self.SERVICES
                   for n in self.NAMESPACES if rng.random() < 0.45]
        pods = ([b'postgres-%d.postgres.data.svc.cluster.local' % k for k in range(3)]
                + [b'kafka-%d.kafka.data.svc.cluster.local' % k for k in range(5)]
                + [b'redis-%d.redis.platform.svc.cluster.local' % k for k in range(3)])
        internal = ([b'db-%d.eu-west-1.internal.example.com' % k for k in range(1, 7)]
                    + [b'%s.internal.example.com' % s for s in (b'vault', b'ldap', b'git', b'ci',
                                                                 b'grafana', b'artifacts')])
        hosts = [(n, 30) for n in cluster + pods] + [(n, 300) for n in internal]
        hosts += [(n, rng.choice((60, 300, 3600))) for n in self.EXTERNAL]

        def addresses(name, qtype, ttl):
            k = rng.choices((1, 2, 3, 4), (50, 25, 15, 10))[0]
            if qtype == DNS_A:
                rdatas = [ip4(10, 96 + rng.randrange(4), rng.randrange(256), rng.randrange(1, 255))
                          for _ in range(k)]
            else:
                rdatas = [b'\xfd\x00\x00\x10\x00\x96' + rng.randbytes(10) for _ in range(k)]
            return (dns_question(name, qtype),
                    b''.join(dns_rr(DNS_QNAME_PTR, qtype, ttl, r) for r in rdatas), k)

        self.by_type = {
            DNS_A: [addresses(n, DNS_A, ttl) for n, ttl in hosts],
            DNS_AAAA: [addresses(n, DNS_AAAA, ttl) for n, ttl in hosts],
        }
        srv = []
        for name in cluster[:24] + [b'postgres.data.svc.cluster.local',
                                    b'kafka.data.svc.cluster.local']:
            svc = name.split(b'.')[0]
            port, proto = rng.choice(((80, b'_http'), (443, b'_https'), (5432, b'_postgresql'),
                                      (6379, b'_redis'), (9092, b'_kafka'), (50051, b'_grpc')))
            k = rng.randint(1, 4)
            records = b''.join(
                dns_rr(DNS_QNAME_PTR, DNS_SRV, 30,
                       struct.pack('>HHH', 0, 100 // k, port)
                       + dns_name(b'%s-%05x.%s' % (svc, rng.getrandbits(20), name)))
                for _ in range(k))
            srv.append((dns_question(b'%s._tcp.%s' % (proto, name), DNS_SRV), records, k))
        self.by_type[DNS_SRV] = srv
        txt = []
        for name in (b'example.com', b'shop.example.net', b'_dmarc.example.com',
                     b'selector1._domainkey.example.com', b'_acme-challenge.shop.example.net',
                     b'_github-challenge-shop.example.com', b'google._domainkey.example.net'):
            k = rng.randint(1, 3)
            records = b''.join(
                dns_rr(DNS_QNAME_PTR, DNS_TXT, 300,
                       b''.join(bytes((len(s),)) + s
                                for s in [text_blob(rng.randint(20, 120), rng.getrandbits(32))
                                          for _ in range(rng.randint(1, 2))]))
                for _ in range(k))
            txt.append((dns_question(name, DNS_TXT), records, k))
        self.by_type[DNS_TXT] = txt
        ptr = []
        for _ in range(60):
            a, b, c = 96 + rng.randrange(4), rng.randrange(256), rng.randrange(1, 255)
            target = b'10-%d-%d-%d.%s' % (a, b, c, rng.choice(cluster))
            ptr.append((dns_question(b'%d.%d.%d.10.in-addr.arpa' % (c, b, a), DNS_PTR),
                        dns_rr(DNS_QNAME_PTR, DNS_PTR, 30, dns_name(target)), 1))
        self.by_type[DNS_PTR] = ptr
        self.nx = []
        soa = {b'cluster.local': (dns_name(b'ns.dns.cluster.local')
                                  + dns_name(b'hostmaster.cluster.local')
                                  + struct.pack('>IIIII', 1700000000, 7200, 1800, 86400, 30)),
               b'example.com': (dns_name(b'ns1.example.com') + dns_name(b'hostmaster.example.com')
                                + struct.pack('>IIIII', 2024010101, 3600, 600, 604800, 300))}
        misses = [b'%s.%s.svc.cluster.local' % (e, n) for e in self.EXTERNAL[:8]
                  for n in (b'shop', b'data')]
        misses += [b'%s.svc.cluster.local' % e for e in self.EXTERNAL[:8]]
        misses += [b'%s.cluster.local' % e for e in self.EXTERNAL[:8]]
        misses += [b'%s-v2.shop.svc.cluster.local' % s for s in self.SERVICES[:6]]
        misses += [b'db-%d.eu-west-2.internal.example.com' % k for k in range(1, 5)]
        for name in misses:
            zone = b'example.com' if name.endswith(b'example.com') else b'cluster.local'
            offset = 12 + len(name) - len(zone)          # the zone's labels inside the question
            for qtype in (DNS_A, DNS_AAAA):
                self.nx.append((dns_question(name, qtype),
                                dns_rr(struct.pack('>H', 0xC000 | offset), DNS_SOA, 30, soa[zone])))


# ---------------------------------------------------------------------------------------------
# PostgreSQL payloads

PG_INT4, PG_INT8, PG_NUMERIC, PG_TIMESTAMP, PG_VARCHAR = 23, 20, 1700, 1114, 1043
PG_LEN = struct.Struct('>I')
PG_FIELD = struct.Struct('>IhIhih')    # table OID, column number, type OID, size, modifier, format


def pg_msg(tag, body=b''):
    """Type byte, 4-byte big-endian length (counting itself), body."""
    return tag + PG_LEN.pack(len(body) + 4) + body


def pg_startup(params):
    """StartupMessage: no type byte, protocol 3.0, name/value pairs, a final NUL."""
    body = PG_LEN.pack(3 << 16) + b''.join(k + b'\x00' + v + b'\x00' for k, v in params) + b'\x00'
    return PG_LEN.pack(len(body) + 4) + body


PG_AUTH_OK = pg_msg(b'R', PG_LEN.pack(0))
PG_READY = pg_msg(b'Z', b'I')
PG_PARSE_COMPLETE = pg_msg(b'1')
PG_BIND_COMPLETE = pg_msg(b'2')
PG_DESCRIBE_PORTAL = pg_msg(b'D', b'P\x00')
PG_EXECUTE = pg_msg(b'E', b'\x00' + PG_LEN.pack(0))    # unnamed portal, all rows
PG_SYNC = pg_msg(b'S')
PG_TERMINATE = pg_msg(b'X')
PG_NULL = b'\xff\xff\xff\xff'


def pg_parameter_status(name, value):
    return pg_msg(b'S', name + b'\x00' + value + b'\x00')


def pg_query(sql):
    return pg_msg(b'Q', sql + b'\x00')


def pg_parse(name, sql, oids):
    return pg_msg(b'P', name + b'\x00' + sql + b'\x00' + struct.pack('>H', len(oids))
                  + b''.join(PG_LEN.pack(o) for o in oids))


def pg_bind(statement, params):
    """Unnamed portal, text parameters, text results."""
    return pg_msg(b'B', b'\x00' + statement + b'\x00' + struct.pack('>HH', 0, len(params))
                  + b''.join(PG_LEN.pack(len(p)) + p for p in params) + struct.pack('>H', 0))


def pg_command_complete(tag):
    return pg_msg(b'C', tag + b'\x00')


def pg_error(fields):
    return pg_msg(b'E', b''.join(k + v + b'\x00' for k, v in fields) + b'\x00')


def pg_data_row(values):
    return pg_msg(b'D', struct.pack('>H', len(values)) + b''.join(
        PG_NULL if v is None else PG_LEN.pack(len(v)) + v for v in values))


class PgTable:
    """A table's RowDescription and a block of prebuilt DataRow messages (text format)."""

    BLOCK = 512

    def __init__(self, name, oid, columns, make_row, rng):
        """columns: (name, type OID, size, modifier)."""
        self.name = name
        self.select = b'SELECT ' + b', '.join(c[0] for c in columns) + b' FROM ' + name
        self.row_description = pg_msg(b'T', struct.pack('>H', len(columns)) + b''.join(
            c[0] + b'\x00' + PG_FIELD.pack(oid, k + 1, c[1], c[2], c[3], 0)
            for k, c in enumerate(columns)))
        rows = [pg_data_row(make_row(rng)) for _ in range(self.BLOCK)]
        self.rows = b''.join(rows)
        self.offsets = list(itertools.accumulate((len(r) for r in rows), initial=0))

    def result(self, nrows, rng):
        """nrows DataRows (<= BLOCK), CommandComplete, ReadyForQuery."""
        start = rng.randrange(self.BLOCK - nrows + 1)
        return (self.rows[self.offsets[start]:self.offsets[start + nrows]]
                + pg_command_complete(b'SELECT %d' % nrows) + PG_READY)


def pg_tables(seed):
    rng = random.Random(seed)
    pk = (PG_INT8, 8, -1)
    ts = (PG_TIMESTAMP, 8, -1)
    money = (PG_NUMERIC, -1, (12 << 16 | 2) + 4)

    def varchar(n):
        return (PG_VARCHAR, -1, n + 4)

    return [
        PgTable(b'items', 16401, [(b'id',) + pk, (b'sku',) + varchar(32), (b'name',) + varchar(255),
                                  (b'price',) + money, (b'stock', PG_INT4, 4, -1),
                                  (b'updated_at',) + ts], shop_item, rng),
        PgTable(b'orders', 16412, [(b'id',) + pk, (b'user_id',) + pk, (b'total',) + money,
                                   (b'status',) + varchar(16), (b'created_at',) + ts],
                shop_order, rng),
        PgTable(b'users', 16423, [(b'id',) + pk, (b'email',) + varchar(255),
                                  (b'name',) + varchar(100), (b'country',) + varchar(2),
                                  (b'created_at',) + ts], shop_user, rng),
    ]


PG_SERVER_PARAMS = b''.join(pg_parameter_status(k, v) for k, v in (
    (b'application_name', b''), (b'client_encoding', b'UTF8'), (b'DateStyle', b'ISO, MDY'),
    (b'integer_datetimes', b'on'), (b'server_encoding', b'UTF8'),
    (b'server_version', b'16.2 (Debian 16.2-1.pgdg120+2)'),
    (b'standard_conforming_strings', b'on'), (b'TimeZone', b'Etc/UTC')))


# ---------------------------------------------------------------------------------------------
# Redis (RESP2) payloads

RESP_OK = b'+OK\r\n'
RESP_NIL = b'$-1\r\n'
RESP_WRONGTYPE = b'-WRONGTYPE Operation against a key holding the wrong kind of value\r\n'


def resp_command(*args):
    """A command as clients send it: an array of bulk strings."""
    return b'*%d\r\n' % len(args) + b''.join(b'$%d\r\n%s\r\n' % (len(a), a) for a in args)


def resp_bulk(value):
    return RESP_NIL if value is None else b'$%d\r\n%s\r\n' % (len(value), value)


def resp_array(values):
    return b'*%d\r\n' % len(values) + b''.join(resp_bulk(v) for v in values)


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


def dns_udp(w, scale, stats):
    rng = random.Random(13)
    pool = DnsPool(14)
    nlookups = n_of(200_000, scale)
    servers = [ip4(10, 96, 0, 10), ip4(10, 96, 0, 11), ip4(10, 96, 0, 12)]
    # 2000 client sockets: 8 hosts (nodes' resolvers and pods) x 250 ephemeral ports, each
    # socket talking to one server.
    sockets = []
    for h in range(8):
        host = ip4(10, 7, h // 4, h % 4 + 1)
        # (not 33434-33534, where tshark's UDP dissector reports a possible traceroute)
        for port in rng.sample([p for p in range(32768, 61000) if not 33434 <= p <= 33534], 250):
            sockets.append(UdpPair(w, host, servers[len(sockets) % len(servers)], port, 53))
    used_ids = [set() for _ in sockets]
    types = (DNS_A, DNS_AAAA, DNS_SRV, DNS_TXT, DNS_PTR)
    type_weights = (55, 30, 6, 5, 4)
    by_type = pool.by_type
    header = DNS_HEADER.pack
    totals = dict.fromkeys(('lookups', 'edns', 'nxdomain', 'servfail', 'answer_records'), 0)
    per_type = dict.fromkeys(('A', 'AAAA', 'SRV', 'TXT', 'PTR'), 0)
    type_name = {DNS_A: 'A', DNS_AAAA: 'AAAA', DNS_SRV: 'SRV', DNS_TXT: 'TXT', DNS_PTR: 'PTR'}
    waiting = []                         # heap of (packet number due, lookup, socket, answer)

    for i in range(nlookups):
        while waiting and waiting[0][0] <= w.packets:
            _, _, k, answer = heapq.heappop(waiting)
            sockets[k].send(S, answer)
        k = rng.randrange(len(sockets))
        used = used_ids[k]
        qid = rng.getrandbits(16)
        while qid in used:               # a resolver does not reuse an id on one socket
            qid = rng.getrandbits(16)
        used.add(qid)
        edns = rng.random() < 1 / 3
        opt = DNS_OPT_RR if edns else b''
        u = rng.random()
        if u < 0.05:
            question, authority = pool.nx[rng.randrange(len(pool.nx))]
            qtype = DNS_A if question[-3] == DNS_A else DNS_AAAA
            answer = (header(qid, DNS_ANSWER_FLAGS | DNS_NXDOMAIN, 1, 0, 1, edns) + question
                      + authority + opt)
            totals['nxdomain'] += 1
        elif u < 0.06:
            qtype = DNS_A if rng.random() < 0.6 else DNS_AAAA
            question = rng.choice(by_type[qtype])[0]
            answer = header(qid, DNS_ANSWER_FLAGS | DNS_SERVFAIL, 1, 0, 0, edns) + question + opt
            totals['servfail'] += 1
        else:
            qtype = rng.choices(types, type_weights)[0]
            entries = by_type[qtype]
            question, records, count = entries[rng.randrange(len(entries))]
            answer = header(qid, DNS_ANSWER_FLAGS, 1, count, 0, edns) + question + records + opt
            totals['answer_records'] += count
        sockets[k].send(C, header(qid, DNS_QUERY_FLAGS, 1, 0, 0, edns) + question + opt)
        heapq.heappush(waiting, (w.packets + rng.randint(1, 60), i, k, answer))
        totals['edns'] += edns
        per_type[type_name[qtype]] += 1
    while waiting:
        _, _, k, answer = heapq.heappop(waiting)
        sockets[k].send(S, answer)
    totals['lookups'] = nlookups
    stats.update(sockets=len(sockets), **totals, **per_type)


def pgsql(w, scale, stats):
    rng = random.Random(15)
    tables = pg_tables(16)
    nconn = n_of(400, scale)
    servers = [ip4(10, 0, 7, k) for k in range(1, 5)]
    totals = dict.fromkeys(('logins', 'queries', 'errors', 'extended', 'parses', 'rows'), 0)
    conditions = [b'WHERE category_id = %d', b"WHERE updated_at > now() - interval '%d days'",
                  b'WHERE id > %d', b'WHERE shard = %d']

    def conn(i):
        client, port = client_endpoint(i, 200, 8)
        f = TcpFlow(w, client, servers[i % len(servers)], port, 5432,
                    rng.getrandbits(32), rng.getrandbits(32))
        f.handshake()
        yield
        f.write(C, pg_startup(((b'user', b'app'), (b'database', b'shop'),
                               (b'application_name', b'checkout-%d' % (i % 8)),
                               (b'client_encoding', b'UTF8'))))
        f.write(S, PG_AUTH_OK + PG_SERVER_PARAMS
                + pg_msg(b'K', struct.pack('>II', 10_000 + i, rng.getrandbits(32))) + PG_READY)
        totals['logins'] += 1
        yield
        prepared = set()
        for _ in range(rng.randint(20, 40)):
            u = rng.random()
            if u < 0.08:
                missing = b'%s_archive_%d' % (rng.choice(tables).name, rng.randint(2015, 2022))
                f.write(C, pg_query(b'SELECT * FROM ' + missing + b' LIMIT 100'))
                f.write(S, pg_error(((b'S', b'ERROR'), (b'V', b'ERROR'), (b'C', b'42P01'),
                                     (b'M', b'relation "%s" does not exist' % missing),
                                     (b'P', b'15'), (b'F', b'parse_relation.c'), (b'L', b'1449'),
                                     (b'R', b'parserOpenTable'))) + PG_READY)
                totals['queries'] += 1
                totals['errors'] += 1
                yield
                continue
            t = rng.choice(tables)
            nrows = rng.randint(5, 200)
            totals['rows'] += nrows
            if u < 0.23:
                # Extended protocol: a named statement is parsed once per connection and then
                # only bound; the unnamed one is parsed every time (libpq's PQexecParams).
                name = b'ws_%s_by_id' % t.name if rng.random() < 0.5 else b''
                bind = (pg_bind(name, (b'%d' % rng.randrange(1, 10 ** 6), b'%d' % nrows))
                        + PG_DESCRIBE_PORTAL + PG_EXECUTE + PG_SYNC)
                if name in prepared:
                    f.write(C, bind)
                    head = PG_BIND_COMPLETE
                else:
                    f.write(C, pg_parse(name, t.select + b' WHERE id > $1 ORDER BY id LIMIT $2',
                                        (PG_INT8, PG_INT8)) + bind)
                    head = PG_PARSE_COMPLETE + PG_BIND_COMPLETE
                    totals['parses'] += 1
                    if name:
                        prepared.add(name)
                totals['extended'] += 1
            else:
                sql = (t.select + b' ' + rng.choice(conditions) % rng.randrange(1, 1000)
                       + b' ORDER BY id LIMIT %d' % nrows)
                f.write(C, pg_query(sql))
                head = b''
                totals['queries'] += 1
            yield from f.stream(S, head + t.row_description + t.result(nrows, rng))
        f.write(C, PG_TERMINATE)
        f.close(C)

    run_window((conn(i) for i in range(nconn)), 32)
    stats.update(connections=nconn, **totals,
                 exchanges=totals['logins'] + totals['queries'] + totals['extended'])


def redis(w, scale, stats):
    rng = random.Random(17)
    blob = text_blob(8192, 18)
    nconn = n_of(600, scale)
    servers = [ip4(10, 0, 8, k) for k in range(1, 5)]
    totals = dict.fromkeys(('commands', 'pipelines', 'pipelined_commands', 'errors', 'nils',
                            'reply_bytes'), 0)
    ops = (b'GET', b'SET', b'HGETALL', b'LRANGE', b'INCR', b'MGET')
    op_weights = (35, 20, 10, 10, 15, 10)
    per_op = dict.fromkeys((o.decode() for o in ops + (b'SELECT',)), 0)
    fields = (b'name', b'email', b'country', b'plan', b'created_at', b'last_login', b'visits',
              b'locale', b'theme', b'cart_id')

    def value(lo=10, hi=2000):
        """A value of lo-hi bytes, log-uniform (most are short)."""
        n = int(lo * (hi / lo) ** rng.random())
        off = rng.randrange(len(blob) - n)
        return blob[off:off + n]

    def string_key():
        return rng.choice((b'session:%016x' % rng.getrandbits(64),
                           b'user:%d:profile' % rng.randrange(10 ** 6),
                           b'product:SKU-%08d' % rng.randrange(10 ** 8),
                           b'cache:/api/v1/items/%d' % rng.randrange(10 ** 5)))

    def command(op):
        """(command, reply) for one op."""
        if op == b'SET':
            key = string_key()
            if rng.random() < 0.5:
                v = value()
                ttl = b'%d' % rng.choice((60, 300, 3600))
                return resp_command(b'SET', key, v, b'EX', ttl), RESP_OK
            return resp_command(b'SET', key, value()), RESP_OK
        if op == b'MGET':
            keys = [string_key() for _ in range(rng.randint(2, 6))]
            vals = [value() if rng.random() < 0.8 else None for _ in keys]
            totals['nils'] += vals.count(None)
            return resp_command(b'MGET', *keys), resp_array(vals)
        if op == b'GET':
            cmd = resp_command(b'GET', string_key())
        elif op == b'HGETALL':
            cmd = resp_command(b'HGETALL', b'user:%d' % rng.randrange(10 ** 6))
        elif op == b'LRANGE':
            n = rng.choice((10, 20, 50))
            cmd = resp_command(b'LRANGE', b'feed:%d' % rng.randrange(10 ** 6), b'0',
                               b'%d' % (n - 1))
        else:
            kind = rng.choice((b'views', b'likes', b'api'))
            cmd = resp_command(b'INCR', b'counter:%s:%d' % (kind, rng.randrange(10 ** 5)))
        if rng.random() < 0.03:          # GET, HGETALL, LRANGE and INCR: ~2 % of all commands
            totals['errors'] += 1
            return cmd, RESP_WRONGTYPE
        if op == b'GET':
            if rng.random() < 0.15:
                totals['nils'] += 1
                return cmd, RESP_NIL
            return cmd, resp_bulk(value())
        if op == b'HGETALL':
            k = rng.randint(0, len(fields)) if rng.random() < 0.9 else 0
            return cmd, resp_array([x for fld in fields[:k] for x in (fld, value(1, 60))])
        if op == b'LRANGE':
            return cmd, resp_array([value(10, 200) for _ in range(rng.randint(0, n))])
        return cmd, b':%d\r\n' % rng.randrange(1, 10 ** 6)

    def conn(i):
        client, port = client_endpoint(i, 300, 9)
        f = TcpFlow(w, client, servers[i % len(servers)], port, 6379,
                    rng.getrandbits(32), rng.getrandbits(32))
        f.handshake()
        yield
        left = rng.randint(50, 100)
        if rng.random() < 0.25:
            f.write(C, resp_command(b'SELECT', b'%d' % rng.randint(1, 3)))
            f.write(S, RESP_OK)
            per_op['SELECT'] += 1
            totals['commands'] += 1
            left -= 1
            yield
        while left > 0:
            n = min(left, rng.randint(2, 10)) if rng.random() < 0.1 else 1
            if n > 1:
                totals['pipelines'] += 1
                totals['pipelined_commands'] += n
            pairs = []
            for op in rng.choices(ops, op_weights, k=n):
                pairs.append(command(op))
                per_op[op.decode()] += 1
            left -= n
            totals['commands'] += n
            replies = b''.join(r for _, r in pairs)
            totals['reply_bytes'] += len(replies)
            f.write(C, b''.join(c for c, _ in pairs))
            yield from f.stream(S, replies)
        f.close(C)

    run_window((conn(i) for i in range(nconn)), 32)
    stats.update(connections=nconn, **totals, **per_op)


# name -> (function, minimum frame length)
WORKLOADS = {
    'small-mix': (small_mix, 60),
    'http-small': (http_small, 0),
    'http-large': (http_large, 0),
    'grpc-stream': (grpc_stream, 0),
    'mysql-results': (mysql_results, 0),
    'vxlan-http': (vxlan_http, 0),
    'churn': (churn, 0),
    'dns-udp': (dns_udp, 0),
    'pgsql': (pgsql, 0),
    'redis': (redis, 0),
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

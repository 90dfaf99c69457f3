"""Benchmark workloads for benches/compare.sh, written as pcaps (not committed: they are large).

    python3 benches/workloads.py OUTDIR [--scale S] [--only NAME,...]

Every frame is Ethernet/IPv4/TCP with correct IPv4 checksums and consistent sequence numbers,
so a reassembler sees whole, in-order streams; timestamps are 1 µs apart.

  small-mix   64–128-byte frames over 100 000 concurrent connections: handshake, a tiny HTTP
              request and a 204, FIN (the packets-per-second stress)
  http-small  HTTP/1.1 keep-alive, 20 requests per connection, 100–300-byte bodies
  churn       short connections one after another, ~50 open at a time (flow-table churn)
  vxlan-http  http-small inside VXLAN (VNI 42, UDP 4789)

`--scale` multiplies the number of connections (1.0: files of roughly 100–300 MB).
"""
import argparse
import os
import struct

TS0 = 1_700_000_000
SERVER = bytes([10, 255, 0, 1])


def ip_checksum(header):
    total = sum(struct.unpack('!10H', header))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return (~total) & 0xffff


def ipv4(src, dst, proto, payload, ident=0):
    h = bytearray(struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), ident & 0xffff, 0x4000,
                              64, proto, 0, src, dst))
    struct.pack_into('!H', h, 10, ip_checksum(bytes(h)))
    return bytes(h) + payload


def ether(payload, ethertype=0x0800):
    return b'\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01' + struct.pack('!H', ethertype) + payload


def tcp(sport, dport, seq, ack, flags, payload=b''):
    return struct.pack('!HHIIBBHHH', sport, dport, seq & 0xffffffff, ack & 0xffffffff, 0x50, flags,
                       65535, 0, 0) + payload


class Pcap:
    def __init__(self, path, wrap=None):
        self.f = open(path, 'wb')
        self.f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
        self.n = 0
        self.bytes = 0
        self.buf = bytearray()
        self.wrap = wrap

    def frame(self, data):
        if self.wrap:
            data = self.wrap(data)
        us = self.n
        self.buf += struct.pack('<IIII', TS0 + us // 1_000_000, us % 1_000_000, len(data), len(data))
        self.buf += data
        self.n += 1
        self.bytes += len(data)
        if len(self.buf) > 1 << 22:
            self.f.write(self.buf)
            self.buf.clear()

    def close(self):
        self.f.write(self.buf)
        self.f.close()


class Conn:
    """One TCP connection: emits its frames with consistent sequence numbers."""
    SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01

    def __init__(self, n):
        self.client = bytes([10, (n >> 16) & 0x7f, (n >> 8) & 0xff, n & 0xff or 1])
        self.port = 1024 + n % 60000
        self.cseq, self.sseq = 1000, 500000

    def pkt(self, to_server, flags, payload=b''):
        if to_server:
            seg = tcp(self.port, 80, self.cseq, self.sseq, flags, payload)
            frame = ether(ipv4(self.client, SERVER, 6, seg))
            self.cseq += len(payload) + (1 if flags & (self.SYN | self.FIN) else 0)
        else:
            seg = tcp(80, self.port, self.sseq, self.cseq, flags, payload)
            frame = ether(ipv4(SERVER, self.client, 6, seg))
            self.sseq += len(payload) + (1 if flags & (self.SYN | self.FIN) else 0)
        return frame

    def open(self):
        return [self.pkt(True, self.SYN), self.pkt(False, self.SYN | self.ACK), self.pkt(True, self.ACK)]

    def call(self, request, response):
        return [self.pkt(True, self.PSH | self.ACK, request), self.pkt(False, self.ACK),
                self.pkt(False, self.PSH | self.ACK, response), self.pkt(True, self.ACK)]

    def close(self):
        return [self.pkt(True, self.FIN | self.ACK), self.pkt(False, self.FIN | self.ACK),
                self.pkt(True, self.ACK)]


def interleave(out, conns, script, window):
    """Runs `script(conn)` (a list of frame groups) for every connection, `window` at a time."""
    active = []
    it = iter(conns)
    while True:
        while len(active) < window:
            c = next(it, None)
            if c is None:
                break
            active.append(iter(script(c)))
        if not active:
            return
        still = []
        for steps in active:
            group = next(steps, None)
            if group is not None:
                for f in group:
                    out.frame(f)
                still.append(steps)
        active = still


def response(body_len):
    body = b'x' * body_len
    return b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n' % body_len + body


def keepalive(c, calls=20):
    yield c.open()
    for i in range(calls):
        req = b'GET /item/%d HTTP/1.1\r\nHost: shop\r\nUser-Agent: bench\r\n\r\n' % i
        yield c.call(req, response(100 + (i * 37) % 200))
    yield c.close()


def small(c):
    yield c.open()
    yield c.call(b'GET /a HTTP/1.1\r\nHost: h\r\n\r\n', b'HTTP/1.1 204 No Content\r\n\r\n')
    yield c.close()


def churn(c):
    yield c.open()
    yield c.call(b'GET /s HTTP/1.1\r\nHost: h\r\n\r\n', response(200)) + c.close()


def vxlan(inner):
    sport = 49152 + (inner[29] ^ inner[33] ^ inner[34]) % 16384
    udp = struct.pack('!HHHH', sport, 4789, 8 + 8 + len(inner), 0) + struct.pack('!II', 0x08000000, 42 << 8) + inner
    return ether(ipv4(bytes([192, 168, 0, 1]), bytes([192, 168, 0, 2]), 17, udp))


WORKLOADS = {
    'small-mix': (lambda s: int(100_000 * s), small, 1000, None),
    'http-small': (lambda s: int(20_000 * s), keepalive, 200, None),
    'churn': (lambda s: int(500_000 * s), churn, 50, None),
    'vxlan-http': (lambda s: int(15_000 * s), keepalive, 200, vxlan),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('outdir')
    ap.add_argument('--scale', type=float, default=1.0)
    ap.add_argument('--only', default='')
    args = ap.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    only = [n for n in args.only.split(',') if n]
    for name, (count, script, window, wrap) in WORKLOADS.items():
        if only and name not in only:
            continue
        out = Pcap(os.path.join(args.outdir, name + '.pcap'), wrap)
        interleave(out, (Conn(n) for n in range(max(1, count(args.scale)))), script, window)
        out.close()
        print(f'{name}.pcap: {out.n} packets, {out.bytes} bytes')


if __name__ == '__main__':
    main()

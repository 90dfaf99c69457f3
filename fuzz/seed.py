"""Seed corpora for every fuzz target, made from the bundled captures and OTLP bodies, in the
input formats that `wirespan::fuzz` documents.

    python3 fuzz/seed.py CORPUS_DIR

TCP streams are taken out of the captures by tshark (one record per segment payload)."""
import collections
import glob
import gzip
import os
import struct
import subprocess
import sys

corpus = sys.argv[1]
LINKS = {1: 0, 113: 1, 276: 2, 101: 3, 0: 4, 108: 5}  # the order of fuzz::LINKS
MAX = 60_000


def put(target, name, data):
    os.makedirs(f'{corpus}/{target}', exist_ok=True)
    with open(f'{corpus}/{target}/{name}', 'wb') as f:
        f.write(data[:MAX])


def records(body_iter, head=b''):
    return b''.join(h + struct.pack('>H', len(b)) + b for h, b in body_iter)


def tcp_streams(path):
    """(client→server?, payload) per segment of each TCP connection, by tshark."""
    out = subprocess.run(
        ['tshark', '-r', path, '-Y', 'tcp.len > 0', '-T', 'fields', '-e', 'tcp.stream',
         '-e', 'tcp.srcport', '-e', 'tcp.dstport', '-e', 'tcp.payload'],
        capture_output=True, text=True, check=True).stdout
    streams = collections.defaultdict(list)
    for line in out.splitlines():
        parts = line.split('\t')
        if len(parts) < 4 or not parts[3]:
            continue
        # The well-known (lower) port is the server's.
        to_server = int(parts[1].split(',')[-1]) > int(parts[2].split(',')[-1])
        streams[parts[0].split(',')[-1]].append((to_server, bytes.fromhex(parts[3].split(',')[-1])))
    return streams.values()


pcaps = sorted(glob.glob('pcaps/**/*.pcap', recursive=True))
pcapngs = sorted(glob.glob('pcaps/**/*.pcapng', recursive=True))
for path in pcaps + pcapngs:
    data = open(path, 'rb').read()
    name = path.replace('/', '-')
    put('capture', name, data)
    put('pcapng' if path.endswith('.pcapng') else 'pcap', name, data)
    if data[:4] != b'\xd4\xc3\xb2\xa1':
        continue
    frames, pos = [], 24
    while pos + 16 <= len(data) and pos < MAX:
        incl = struct.unpack('<I', data[pos + 8:pos + 12])[0]
        frames.append((b'', data[pos + 16:pos + 16 + incl]))
        pos += 16 + incl
    link = LINKS.get(struct.unpack('<I', data[20:24])[0], 0)
    put('frames', name, bytes([link]) + records(frames))

for path in ['pcaps/http/client-veth.pcap', 'pcaps/grpc/client-veth.pcap',
             'pcaps/h2c/h2c-upgrade.pcap', 'pcaps/mysql/client-veth.pcap',
             'pcaps/pgsql/psycopg.pcap', 'pcaps/redis/redis.pcap', 'pcaps/dns/dns.pcap',
             'pcaps/tls/tls.pcap']:
    proto = path.split('/')[1]
    for i, segs in enumerate(tcp_streams(path)):
        body = records((bytes([0 if to_server else 1]), p) for to_server, p in segs)
        name = f'{proto}-{i}'
        put('stream', name, b'\x01' + body)
        target = {'http': 'http1', 'grpc': 'http2', 'h2c': 'http1', 'mysql': 'mysql',
                  'pgsql': 'pgsql', 'redis': 'redis', 'dns': 'dns', 'tls': 'tls'}[proto]
        # The flags byte a parser starts from: PostgreSQL's startup (0), the others' 1.
        put(target, name, (b'\x00' if proto == 'pgsql' else b'\x01') + body)
        if proto == 'tls':
            # Each side's bytes alone are record streams for the wire reader.
            put('tls_decrypt', name, b'\x01' + body)
            for side in (True, False):
                put('tls_wire', f'{name}-{int(side)}', b''.join(p for s, p in segs if s == side))
        if proto == 'grpc':
            # DATA frame payloads are gRPC messages; the whole client stream seeds framing.
            put('grpc', name, b'\x07' + b''.join(p for s, p in segs if s))

# DNS datagrams in capture order, queries and answers, 1 ms apart (control byte 0/1).
out = subprocess.run(
    ['tshark', '-r', 'pcaps/dns/dns.pcap', '-Y', 'dns && udp', '-T', 'fields',
     '-e', 'dns.flags.response', '-e', 'udp.payload', '-E', 'occurrence=l'],
    capture_output=True, text=True, check=True).stdout
datagrams = [(bytes([1 if r in ('1', 'True') else 0]), bytes.fromhex(p))
             for r, p in (line.split('\t') for line in out.splitlines()) if p]
for i in range(0, len(datagrams), 8):
    put('dns_udp', f'dns-{i}', records(datagrams[i:i + 8]))

# RFC 7541 C.3 and C.4 request header blocks, one decoder each.
for i, blocks in enumerate([
        ['828684410f7777772e6578616d706c652e636f6d', '828684be58086e6f2d6361636865',
         '828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565'],
        ['828684418cf1e3c2e5f23a6ba0ab90f4ff', '828684be5886a8eb10649cbf',
         '828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf']]):
    put('hpack', f'rfc7541-c{3 + i}', b'\x01' + records((b'', bytes.fromhex(b)) for b in blocks))

for path in sorted(glob.glob('pcaps/shop/otlp/*.pb')):
    body = open(path, 'rb').read()
    put('otlp_body', os.path.basename(path), b'\x00' + body)
    put('otlp_body', os.path.basename(path) + '.gz', b'\x02' + gzip.compress(body))
put('otlp_body', 'json', b'\x01' + b'{"resourceSpans":[{"resource":{"attributes":[{"key":'
    b'"service.name","value":{"stringValue":"a"}}]},"scopeSpans":[{"spans":[{"traceId":'
    b'"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","parentSpanId":'
    b'"eee19b7ec3c1b173","name":"GET /","kind":2,"startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}')

# A stream from its SYN: in order, out of order, a retransmit, an ACK past a hole.
put('reassembly', 'mixed', b'\xff\xff\xff\xf0\x01' + b''.join(
    bytes([kind]) + struct.pack('>HH', off, n) + b'\x00' * n
    for kind, off, n in [(0, 0, 100), (1, 40, 50), (0, 20, 30), (3, 80, 0), (0, 14, 60)]))

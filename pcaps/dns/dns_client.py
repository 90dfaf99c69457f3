"""The client of pcaps/dns/gen-dns.sh: DNS queries put on the wire by hand (dnspython builds and
parses the messages, the sockets are our own so the source port is known), each transaction
logged with what really went out and came back, appended to a JSON list file.

    python3 dns_client.py PATH SERVER OUT [SILENT]

PATH is "plain", "vxlan" or "ipv6" (only a label in the records), SERVER the dnsmasq address
(IPv4 or IPv6: the sockets follow it), OUT the
JSON list file (created, or extended), SILENT an address where UDP port 53 is dropped: the
timeout case is run only when it is given.

Cases, in this order: A (one record), AAAA, A (three records); NXDOMAIN; TXT too big for 512
bytes without EDNS (TC=1) then the same query (same id) over TCP; the same TXT with EDNS 4096
over UDP; a 2.8 KB TXT with EDNS 4096 over UDP, whose answer is larger than the link's MTU and
comes in IP fragments; MX, SRV, PTR; a name outside every local domain (dnsmasq has no upstream: REFUSED);
one query's bytes sent twice on one socket (retransmit); A and AAAA from one socket at once (as
glibc does); three queries pipelined on one TCP connection and one alone on another; and a
query to SILENT sent three times, 300 ms apart, that gets no answer.

One record per transaction: path, transport, server, server_port, client_port, id, qname (no
trailing dot), qtype, edns (the query had an OPT record), outcome ("answered"/"timeout"),
rcode, answers (ANCOUNT), truncated (TC bit) — these three from the first answer, null on a
timeout —, sent (times that exact query went on the wire), answers_received (answer messages
that came back for it), start_ns (before the first send) and end_ns (after the last receive, or
when the client gave up)."""

import json
import os
import socket
import struct
import sys
import time

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

PATH, SERVER, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
SILENT = sys.argv[4] if len(sys.argv) > 4 else None
PORT = 53
FAMILY = socket.AF_INET6 if ":" in SERVER else socket.AF_INET
ANY = "::" if FAMILY == socket.AF_INET6 else "0.0.0.0"
records = []


def query(qname, qtype, edns=False):
    if edns:
        return dns.message.make_query(qname, qtype, use_edns=0, payload=4096)
    return dns.message.make_query(qname, qtype, use_edns=False)


def record(q, transport, server, client_port, answers, sent, start_ns, end_ns):
    """answers: the wire answers received for q (the first one gives rcode/ANCOUNT/TC)."""
    first = dns.message.from_wire(answers[0]) if answers else None
    if first is not None:
        assert first.id == q.id, (first.id, q.id)
        assert first.question == q.question, (first.question, q.question)
    rec = {
        "path": PATH,
        "transport": transport,
        "server": server,
        "server_port": PORT,
        "client_port": client_port,
        "id": q.id,
        "qname": q.question[0].name.to_text(omit_final_dot=True),
        "qtype": dns.rdatatype.to_text(q.question[0].rdtype),
        "edns": q.edns >= 0,
        "outcome": "answered" if answers else "timeout",
        "rcode": dns.rcode.to_text(first.rcode()) if first is not None else None,
        "answers": struct.unpack("!H", answers[0][6:8])[0] if answers else None,
        "truncated": bool(first.flags & dns.flags.TC) if first is not None else None,
        "sent": sent,
        "answers_received": len(answers),
        "start_ns": start_ns,
        "end_ns": end_ns,
    }
    records.append(rec)
    return first


def udp_socket():
    s = socket.socket(FAMILY, socket.SOCK_DGRAM)
    s.bind((ANY, 0))
    return s, s.getsockname()[1]


def udp_receive(s, want, timeout, server=None):
    """Answers from server:53 until `want` arrived or `timeout` s of silence: {id: [wire...]}."""
    got = {}
    n = 0
    s.settimeout(timeout)
    while n < want:
        try:
            wire, peer = s.recvfrom(65535)
        except socket.timeout:
            break
        if peer[:2] != (server or SERVER, PORT):
            continue
        got.setdefault(struct.unpack("!H", wire[:2])[0], []).append(wire)
        n += 1
    return got


def udp(qname, qtype, edns=False, server=None):
    server = server or SERVER
    q = query(qname, qtype, edns)
    s, cport = udp_socket()
    start = time.time_ns()
    s.sendto(q.to_wire(), (server, PORT))
    got = udp_receive(s, 1, 2.0, server)
    end = time.time_ns()
    s.close()
    return q, record(q, "udp", server, cport, got.get(q.id, []), 1, start, end)


def tcp_send(s, q):
    wire = q.to_wire()
    s.sendall(struct.pack("!H", len(wire)) + wire)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("server closed the TCP connection")
        buf += chunk
    return buf


def tcp_receive(s):
    (length,) = struct.unpack("!H", recv_exact(s, 2))
    return recv_exact(s, length)


def tcp_connect():
    s = socket.socket(FAMILY, socket.SOCK_STREAM)
    s.bind((ANY, 0))
    s.settimeout(5.0)
    s.connect((SERVER, PORT))
    return s, s.getsockname()[1]


def tcp(queries):
    """All `queries` pipelined on one new TCP connection, then their answers read."""
    s, cport = tcp_connect()
    starts = []
    for q in queries:
        starts.append(time.time_ns())
        tcp_send(s, q)
    got = {}
    for _ in queries:
        wire = tcp_receive(s)
        got[struct.unpack("!H", wire[:2])[0]] = (wire, time.time_ns())
    s.close()
    out = []
    for q, start in zip(queries, starts):
        wire, end = got[q.id]
        out.append(record(q, "tcp", SERVER, cport, [wire], 1, start, end))
    return out


def pause():
    time.sleep(0.02)


# a. plain answers
_, r = udp("cart.svc.test", "A")
assert r.rcode() == dns.rcode.NOERROR and len(r.answer[0]) == 1, r
pause()
_, r = udp("db.svc.test", "AAAA")
assert r.rcode() == dns.rcode.NOERROR and r.answer[0].rdtype == dns.rdatatype.AAAA, r
pause()
_, r = udp("catalog.svc.test", "A")
assert len(r.answer[0]) == 3, r
pause()

# b. NXDOMAIN under the local domain
_, r = udp("nope.svc.test", "A")
assert r.rcode() == dns.rcode.NXDOMAIN, r
pause()

# c. TXT too big for 512 bytes without EDNS: TC=1, then the same query over TCP
q, r = udp("big.svc.test", "TXT")
assert r.flags & dns.flags.TC, r
(r,) = tcp([q])
assert not r.flags & dns.flags.TC and len(r.answer[0][0].strings) > 1, r
pause()

# d. the same with EDNS (payload 4096): all of it over UDP
_, r = udp("big.svc.test", "TXT", edns=True)
assert not r.flags & dns.flags.TC and len(r.answer[0][0].strings) > 1, r
pause()

# k. a TXT answer larger than the MTU (EDNS 4096): it comes in IP fragments
_, r = udp("huge.svc.test", "TXT", edns=True)
assert not r.flags & dns.flags.TC and len(r.answer[0][0].strings) > 10, r
pause()

# e. MX, SRV, PTR
for name, qtype in (
    ("svc.test", "MX"),
    ("_http._tcp.cart.svc.test", "SRV"),
    ("9.0.1.10.in-addr.arpa", "PTR"),
):
    _, r = udp(name, qtype)
    assert r.rcode() == dns.rcode.NOERROR and r.answer, r
    pause()

# f. outside every local domain, and dnsmasq has no upstream
_, r = udp("example.org", "A")
assert r.rcode() != dns.rcode.NOERROR, r
pause()

# g. retransmission: the same bytes twice on one socket, then both answers read
q = query("orders.svc.test", "A")
s, cport = udp_socket()
start = time.time_ns()
s.sendto(q.to_wire(), (SERVER, PORT))
s.sendto(q.to_wire(), (SERVER, PORT))
got = udp_receive(s, 2, 1.0)
end = time.time_ns()
s.close()
record(q, "udp", SERVER, cport, got.get(q.id, []), 2, start, end)
pause()

# h. A and AAAA at once from one socket (glibc's way), both answers read after
qa, qaaaa = query("cart.svc.test", "A"), query("cart.svc.test", "AAAA")
if qaaaa.id == qa.id:
    qaaaa.id = (qa.id + 1) & 0xFFFF
s, cport = udp_socket()
start_a = time.time_ns()
s.sendto(qa.to_wire(), (SERVER, PORT))
start_aaaa = time.time_ns()
s.sendto(qaaaa.to_wire(), (SERVER, PORT))
got = {}
s.settimeout(2.0)
while len(got) < 2:
    wire, _ = s.recvfrom(65535)
    got[struct.unpack("!H", wire[:2])[0]] = (wire, time.time_ns())
s.close()
record(qa, "udp", SERVER, cport, [got[qa.id][0]], 1, start_a, got[qa.id][1])
record(qaaaa, "udp", SERVER, cport, [got[qaaaa.id][0]], 1, start_aaaa, got[qaaaa.id][1])
pause()

# i. three queries pipelined on one TCP connection, then one alone on its own connection
tcp([query("cart.svc.test", "A"), query("db.svc.test", "AAAA"), query("big.svc.test", "TXT")])
pause()
tcp([query("catalog.svc.test", "A")])
pause()

# j. nothing answers: the same bytes three times, 300 ms apart, then give up
if SILENT:
    q = query("cart.svc.test", "A")
    s, cport = udp_socket()
    start = time.time_ns()
    got = {}
    for _ in range(3):
        s.sendto(q.to_wire(), (SILENT, PORT))
        for k, v in udp_receive(s, 1, 0.3, SILENT).items():
            got.setdefault(k, []).extend(v)
    end = time.time_ns()
    s.close()
    record(q, "udp", SILENT, cport, got.get(q.id, []), 3, start, end)
    assert not got, got
    pause()

old = []
if os.path.exists(OUT) and os.path.getsize(OUT) > 0:
    with open(OUT) as f:
        old = json.load(f)
with open(OUT, "w") as f:
    json.dump(old + records, f, indent=1)
    f.write("\n")
print(f"dns_client.py {PATH}: {len(records)} transactions logged to {OUT}")

#!/usr/bin/env python3
"""gRPC test server and client for pcaps/gen-grpc.sh (grpcio, cleartext h2c).

    python3 grpc_app.py server --gen DIR --bind 10.200.2.2 --ports 50051,9000 --log server.jsonl
    python3 grpc_app.py client --gen DIR --server 10.200.2.2 --out client.json
    python3 grpc_app.py merge  --client client.json --server-log server.jsonl --out grpc.expected.json

DIR holds the Python modules generated from pcaps/grpc/shop.proto by
grpc_tools.protoc (shop_pb2.py, shop_pb2_grpc.py); gen-grpc.sh makes them in
a temporary directory, they are not part of the repository.

The client makes every call in order, one at a time, and records what it
sent and received (message counts, serialized payload sizes without the
5-byte gRPC prefix, status code and message, trace metadata).  The server
records, per call, the peer address (ipv4:ADDR:PORT) that grpc-core reports
for the connection, the metadata it got and its own message counts.  `merge`
joins both by order (checking that path and counts agree) and writes the
expected file; the client port comes from the server's peer address.

Connections (one per channel; "grpc.use_local_subchannel_pool" so the two
channels to port 50051 do not share a subchannel/connection):
  0  port 50051  the long-lived channel: calls 0..8
  1  port 50051  a second channel: calls 9..10
  2  port 9000   the same service on another port: calls 11..12
There is a pause of PAUSE_BEFORE_CUT seconds before call 3, where gen-grpc.sh
cuts midstream.pcap.
"""
import argparse
import hashlib
import json
import os
import queue
import sys
import threading
import time
from concurrent import futures

SERVICE = "shop.Cart"
KINDS = {
    "GetCart": "unary",
    "ListItems": "server_stream",
    "Upload": "client_stream",
    "Chat": "bidi",
}

TRACEPARENT_A = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACEPARENT_B = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACEPARENT_C = "00-5d9b4a8e6c2f41a3b7e0d1c2f3a4b5c6-1a2b3c4d5e6f7081-01"
B3_SINGLE = "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"

NOT_FOUND_MSG = "cart c-404 not found: 100% gone"   # '%' is sent as %25
QUOTA_MSG = "quota exceeded after 2 items"
LARGE = 200000
PAUSE_BEFORE_CUT = 0.5
# Only call 9 has a deadline (grpc-timeout header).  Its value jitters with
# timing ("15S" or "15100m"), and as grpc-core adds it to the HPACK dynamic
# table, a deadline on connection 0 would make the table (and so
# midstream.expected.json) differ from run to run.  The other calls are
# bounded by gen-grpc.sh's `timeout 120` around the client.
DEADLINE_CALL9 = 15.0


def load_gen(path):
    sys.path.insert(0, path)
    import shop_pb2          # noqa: E402
    import shop_pb2_grpc     # noqa: E402
    return shop_pb2, shop_pb2_grpc


def det_bytes(n, seed):
    line = ("wirespan-grpc-%s-" % seed).encode()
    out = bytearray()
    i = 0
    while len(out) < n:
        out += line + b"%06d\n" % i
        i += 1
    return bytes(out[:n])


# --------------------------------------------------------------------------
# server
# --------------------------------------------------------------------------
def run_server(args):
    import grpc
    pb, pb_grpc = load_gen(args.gen)
    grpc_status = grpc.StatusCode
    lock = threading.Lock()
    logf = open(args.log, "a")
    seq = [0]

    def start(context, method):
        md = {k: v for k, v in context.invocation_metadata()}
        with lock:
            rec = {"order": seq[0], "path": "/%s/%s" % (SERVICE, method),
                   "peer": context.peer(),
                   "traceparent": md.get("traceparent"), "b3": md.get("b3"),
                   "user_agent": md.get("user-agent"),
                   "request_messages": 0, "request_bytes": 0,
                   "response_messages": 0, "response_bytes": 0,
                   "grpc_status": 0}
            seq[0] += 1
        return rec

    def finish(rec, status=0):
        rec["grpc_status"] = status
        with lock:
            logf.write(json.dumps(rec, sort_keys=True) + "\n")
            logf.flush()

    def items(cart_id, n):
        return [pb.Item(sku="%s-sku-%d" % (cart_id, i), name="item %d" % i,
                        qty=i + 1, price_cents=199 * (i + 1)) for i in range(n)]

    class Cart(pb_grpc.CartServicer):
        def GetCart(self, request, context):
            rec = start(context, "GetCart")
            rec["request_messages"] = 1
            rec["request_bytes"] = request.ByteSize()
            if request.cart_id == "c-404":
                finish(rec, grpc_status.NOT_FOUND.value[0])
                context.abort(grpc_status.NOT_FOUND, NOT_FOUND_MSG)
            its = items(request.cart_id, 2)
            reply = pb.CartReply(cart_id=request.cart_id, items=its,
                                 total_cents=sum(i.price_cents * i.qty for i in its),
                                 blob=det_bytes(request.pad_bytes, "reply"))
            rec["response_messages"] = 1
            rec["response_bytes"] = reply.ByteSize()
            finish(rec)
            return reply

        def ListItems(self, request, context):
            rec = start(context, "ListItems")
            rec["request_messages"] = 1
            rec["request_bytes"] = request.ByteSize()
            for n, it in enumerate(items(request.cart_id, request.count)):
                if request.fail_after and n >= request.fail_after:
                    finish(rec, grpc_status.RESOURCE_EXHAUSTED.value[0])
                    context.abort(grpc_status.RESOURCE_EXHAUSTED, QUOTA_MSG)
                rec["response_messages"] += 1
                rec["response_bytes"] += it.ByteSize()
                yield it
            finish(rec)

        def Upload(self, request_iterator, context):
            rec = start(context, "Upload")
            h = hashlib.sha256()
            total = 0
            for chunk in request_iterator:
                rec["request_messages"] += 1
                rec["request_bytes"] += chunk.ByteSize()
                h.update(chunk.data)
                total += len(chunk.data)
            reply = pb.UploadSummary(chunks=rec["request_messages"],
                                     total_bytes=total, sha256=h.hexdigest())
            rec["response_messages"] = 1
            rec["response_bytes"] = reply.ByteSize()
            finish(rec)
            return reply

        def Chat(self, request_iterator, context):
            rec = start(context, "Chat")
            for m in request_iterator:
                rec["request_messages"] += 1
                rec["request_bytes"] += m.ByteSize()
                out = pb.Msg(seq=m.seq, text="re: " + m.text)
                rec["response_messages"] += 1
                rec["response_bytes"] += out.ByteSize()
                yield out
            finish(rec)

    # 16 kB DATA frames from the client (its 200 kB upload spans 13 frames);
    # the client keeps grpc-core's default of 4 MB, so the 200 kB response
    # goes out in a few large DATA frames that span many TCP segments.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                         options=[("grpc.http2.max_frame_size", 16384),
                                  ("grpc.http2.bdp_probe", 0)])
    pb_grpc.add_CartServicer_to_server(Cart(), server)
    for port in args.ports.split(","):
        if server.add_insecure_port("%s:%s" % (args.bind, port)) == 0:
            raise SystemExit("cannot bind %s:%s" % (args.bind, port))
    server.start()
    print("grpc server listening on %s ports %s" % (args.bind, args.ports), flush=True)
    stop = threading.Event()
    import signal
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    stop.wait(args.max_seconds)
    server.stop(grace=1).wait(5)
    logf.close()


# --------------------------------------------------------------------------
# client
# --------------------------------------------------------------------------
class Recorder:
    def __init__(self, server):
        self.server = server
        self.calls = []

    def add(self, conn, port, method, status, message, req_msgs, rsp_msgs,
            traceparent=None, b3=None):
        import grpc  # noqa: F401
        code, name = status
        self.calls.append({
            "index": len(self.calls),
            "service": SERVICE,
            "method": method,
            "path": "/%s/%s" % (SERVICE, method),
            "kind": KINDS[method],
            "grpc_status": code,
            "grpc_status_name": name,
            "grpc_message": message if message else None,
            "request_messages": len(req_msgs),
            "response_messages": len(rsp_msgs),
            "request_bytes": sum(m.ByteSize() for m in req_msgs),
            "response_bytes": sum(m.ByteSize() for m in rsp_msgs),
            "traceparent": traceparent,
            "b3": b3,
            "server_address": self.server,
            "server_port": port,
            "authority": "%s:%d" % (self.server, port),
            "connection": conn,
        })
        c = self.calls[-1]
        print("call %2d conn %d %-22s %-13s status %d %s req %d/%dB rsp %d/%dB" % (
            c["index"], conn, c["path"], c["kind"], code, name,
            c["request_messages"], c["request_bytes"],
            c["response_messages"], c["response_bytes"]), flush=True)


def run_client(args):
    import grpc
    pb, pb_grpc = load_gen(args.gen)
    rec = Recorder(args.server)
    failures = []

    def expect(what, got, want):
        if got != want:
            failures.append("%s: got %r want %r" % (what, got, want))

    def st(code):
        return (code.value[0], code.name)

    def md(traceparent=None, b3=None):
        m = []
        if traceparent:
            m.append(("traceparent", traceparent))
        if b3:
            m.append(("b3", b3))
        return m or None

    def channel(port):
        ch = grpc.insecure_channel(
            "%s:%d" % (args.server, port),
            options=[("grpc.use_local_subchannel_pool", 1),
                     ("grpc.enable_http_proxy", 0),
                     ("grpc.enable_retries", 0)])
        # connect now, so connections are opened in the documented order
        grpc.channel_ready_future(ch).result(timeout=10)
        return ch

    def unary(conn, port, stub, req, tp=None, b3=None, want=grpc.StatusCode.OK,
              want_msg=None, timeout=None):
        rsp = []
        try:
            rsp.append(stub.GetCart(req, metadata=md(tp, b3), timeout=timeout))
            status, msg = st(grpc.StatusCode.OK), None
        except grpc.RpcError as e:
            status, msg = st(e.code()), e.details()
        expect("GetCart status", status[1], want.name)
        expect("GetCart message", msg, want_msg)
        rec.add(conn, port, "GetCart", status, msg, [req], rsp, tp, b3)
        return rsp

    def server_stream(conn, port, stub, req, tp=None, b3=None,
                      want=grpc.StatusCode.OK, want_msg=None, want_n=None):
        rsp = []
        try:
            for it in stub.ListItems(req, metadata=md(tp, b3)):
                rsp.append(it)
            status, msg = st(grpc.StatusCode.OK), None
        except grpc.RpcError as e:
            status, msg = st(e.code()), e.details()
        expect("ListItems status", status[1], want.name)
        expect("ListItems message", msg, want_msg)
        expect("ListItems count", len(rsp), want_n)
        rec.add(conn, port, "ListItems", status, msg, [req], rsp, tp, b3)

    def client_stream(conn, port, stub, chunks, tp=None, b3=None):
        reply = stub.Upload(iter(chunks), metadata=md(tp, b3))
        expect("Upload chunks", reply.chunks, len(chunks))
        expect("Upload sha256", reply.sha256,
               hashlib.sha256(b"".join(c.data for c in chunks)).hexdigest())
        rec.add(conn, port, "Upload", st(grpc.StatusCode.OK), None, chunks, [reply],
                tp, b3)

    def bidi(conn, port, stub, texts, tp=None, b3=None):
        """Ping-pong: the next message is sent only after the previous reply."""
        sent, got = [], []
        turn = queue.Queue()

        def requests():
            for i, t in enumerate(texts):
                m = pb.Msg(seq=i, text=t)
                sent.append(m)
                yield m
                try:
                    turn.get(timeout=10)
                except queue.Empty:
                    return
        for m in stub.Chat(requests(), metadata=md(tp, b3)):
            got.append(m)
            expect("Chat reply", m.text, "re: " + texts[m.seq])
            turn.put(True)
        expect("Chat replies", len(got), len(texts))
        rec.add(conn, port, "Chat", st(grpc.StatusCode.OK), None, sent, got, tp, b3)

    # ---- connection 0: port 50051, long-lived ----------------------------
    P = args.port
    ch0 = channel(P)
    s0 = pb_grpc.CartStub(ch0)
    unary(0, P, s0, pb.CartRequest(cart_id="c-1001"), tp=TRACEPARENT_A)
    unary(0, P, s0, pb.CartRequest(cart_id="c-404"), tp=TRACEPARENT_B,
          want=grpc.StatusCode.NOT_FOUND, want_msg=NOT_FOUND_MSG)
    server_stream(0, P, s0, pb.ListRequest(cart_id="c-1001", count=5),
                  tp=TRACEPARENT_A, want_n=5)
    time.sleep(PAUSE_BEFORE_CUT)   # midstream.pcap starts at the next HEADERS
    client_stream(0, P, s0, [pb.Chunk(seq=i, data=det_bytes(1000 * (i + 1), "up%d" % i))
                             for i in range(3)])
    bidi(0, P, s0, ["hello", "how many items?", "bye"])
    unary(0, P, s0, pb.CartRequest(cart_id="c-1001"), tp=TRACEPARENT_A)
    unary(0, P, s0, pb.CartRequest(cart_id="c-big", pad_bytes=LARGE))
    client_stream(0, P, s0, [pb.Chunk(seq=0, data=det_bytes(LARGE, "bigup"))])
    server_stream(0, P, s0, pb.ListRequest(cart_id="c-1001", count=5, fail_after=2),
                  want=grpc.StatusCode.RESOURCE_EXHAUSTED, want_msg=QUOTA_MSG, want_n=2)

    # ---- connection 1: a second channel to port 50051 ----------------------
    ch1 = channel(P)
    s1 = pb_grpc.CartStub(ch1)
    unary(1, P, s1, pb.CartRequest(cart_id="c-2002"), b3=B3_SINGLE, timeout=DEADLINE_CALL9)
    bidi(1, P, s1, ["one", "two", "three"], tp=TRACEPARENT_C)

    # ---- connection 2: the same server on port 9000 ------------------------
    P2 = args.port2
    ch2 = channel(P2)
    s2 = pb_grpc.CartStub(ch2)
    unary(2, P2, s2, pb.CartRequest(cart_id="c-3003"), tp=TRACEPARENT_C)
    server_stream(2, P2, s2, pb.ListRequest(cart_id="c-3003", count=3), want_n=3)

    for ch in (ch0, ch1, ch2):
        ch.close()
    with open(args.out, "w") as f:
        json.dump({"calls": rec.calls}, f, indent=2, sort_keys=True)
        f.write("\n")
    if failures:
        for m in failures:
            print("grpc client: UNEXPECTED " + m, file=sys.stderr)
        sys.exit(1)


# --------------------------------------------------------------------------
# merge
# --------------------------------------------------------------------------
def run_merge(args):
    calls = json.load(open(args.client))["calls"]
    srv = [json.loads(l) for l in open(args.server_log) if l.strip()]
    srv.sort(key=lambda r: r["order"])
    if len(srv) != len(calls):
        raise SystemExit("merge: %d client calls, %d server records" % (len(calls), len(srv)))
    conn_port = {}
    for c, s in zip(calls, srv):
        for k in ("path", "traceparent", "b3", "request_messages", "request_bytes",
                  "response_messages", "response_bytes", "grpc_status"):
            if c[k] != s[k]:
                raise SystemExit("merge: call %d %s: client %r server %r"
                                 % (c["index"], k, c[k], s[k]))
        fam, addr_port = s["peer"].split(":", 1)
        if fam != "ipv4":
            raise SystemExit("merge: unexpected peer %r" % s["peer"])
        addr, port = addr_port.rsplit(":", 1)
        c["client_address"] = addr
        c["client_port"] = int(port)
        c["user_agent"] = s["user_agent"]
        key = c["connection"]
        if conn_port.setdefault(key, c["client_port"]) != c["client_port"]:
            raise SystemExit("merge: connection %d has two client ports" % key)
    if len(set(conn_port.values())) != len(conn_port):
        raise SystemExit("merge: two connections share a client port: %r" % conn_port)
    with open(args.out, "w") as f:
        json.dump({"calls": calls}, f, indent=2, sort_keys=True)
        f.write("\n")


# --------------------------------------------------------------------------
# reading the captures back with tshark (verify, hpack-report)
# --------------------------------------------------------------------------
CLIENT_NET = "10.200.1."


def _tshark(pcap, ports, *args):
    import subprocess
    dec = []
    for p in ports:
        dec += ["-d", "tcp.port==%d,http2" % p]
    return subprocess.run(["tshark", "-r", pcap] + dec + list(args), check=True,
                          capture_output=True, text=True).stdout


def _as_list(x):
    if x is None:
        return []
    return x if isinstance(x, list) else [x]


def read_capture(pcap, ports):
    """Per HTTP/2 stream (= gRPC call) what tshark sees, in order of the
    request HEADERS.  Also returns the raw header events for hpack-report."""
    data = json.loads(_tshark(pcap, ports, "-Y", "http2", "-T", "json",
                              "--no-duplicate-keys", "-J", "frame tcp http2"))
    streams = {}      # (tcp.stream, stream id) -> record
    events = []       # (frame, tcp.stream, dir, stream id, [header dicts])
    for pkt in data:
        L = pkt["_source"]["layers"]
        frame = int(L["frame"]["frame.number"])
        tcp = L["tcp"]
        tstream = int(tcp["tcp.stream"])
        sport, dport = int(tcp["tcp.srcport"]), int(tcp["tcp.dstport"])
        to_server = dport in ports
        for h2 in _as_list(L.get("http2")):
            for st in _as_list(h2.get("http2.stream")):
                if st.get("http2.type") not in ("1", "9"):
                    continue
                sid = int(st["http2.streamid"])
                hdrs = _as_list(st.get("http2.header"))
                events.append((frame, tstream, "request" if to_server else "response",
                               sid, hdrs))
                key = (tstream, sid)
                if key not in streams:
                    streams[key] = {"tcp_stream": tstream, "stream_id": sid,
                                    "first_frame": frame, "request_headers": [],
                                    "response_headers": [],
                                    "client_port": sport if to_server else dport,
                                    "server_port": dport if to_server else sport,
                                    "request_messages": 0, "request_bytes": 0,
                                    "response_messages": 0, "response_bytes": 0}
                side = "request_headers" if to_server else "response_headers"
                streams[key][side] += [(h.get("http2.header.name"),
                                        h.get("http2.header.unescaped",
                                              h.get("http2.header.value", "")))
                                       for h in hdrs]
    # gRPC messages: the frame where tshark finished reassembling a message
    out = _tshark(pcap, ports, "-Y", "grpc", "-T", "fields", "-E", "occurrence=a",
                  "-e", "frame.number", "-e", "tcp.stream", "-e", "tcp.dstport",
                  "-e", "http2.streamid", "-e", "http2.type", "-e", "http2.length",
                  "-e", "grpc.message_length")
    for line in out.splitlines():
        f = line.split("\t")
        frame, tstream, dport = int(f[0]), int(f[1]), int(f[2])
        sids, types, lens = f[3].split(","), f[4].split(","), f[5].split(",")
        cand = {int(s) for s, t, n in zip(sids, types, lens) if t == "0" and int(n) > 0}
        if len(cand) != 1:
            raise SystemExit("%s frame %d: gRPC message of streams %r" % (pcap, frame, cand))
        rec = streams[(tstream, cand.pop())]
        side = "request" if dport in ports else "response"
        for n in f[6].split(","):
            rec[side + "_messages"] += 1
            rec[side + "_bytes"] += int(n)
    calls = sorted(streams.values(), key=lambda r: r["first_frame"])
    for r in calls:
        req, rsp = dict(r["request_headers"]), r["response_headers"]
        r["path"] = req.get(":path")
        r["authority"] = req.get(":authority")
        r["traceparent"] = req.get("traceparent")
        r["b3"] = req.get("b3")
        r["user_agent"] = req.get("user-agent")
        status = [v for k, v in rsp if k == "grpc-status"]
        msg = [v for k, v in rsp if k == "grpc-message"]
        r["grpc_status"] = int(status[-1]) if status else None
        r["grpc_message"] = (msg[-1] or None) if msg else None
    return calls, events


def run_verify(args):
    """Compare one capture with the expected file, call by call."""
    ports = [int(p) for p in args.ports.split(",")]
    exp = json.load(open(args.expected))["calls"]
    got, _ = read_capture(args.pcap, ports)
    bad = []
    if len(got) != len(exp):
        bad.append("%d gRPC calls in capture, %d expected" % (len(got), len(exp)))
    for e, g in zip(exp, got):
        for k in ("path", "authority", "traceparent", "b3", "user_agent", "client_port",
                  "server_port", "grpc_status", "grpc_message", "request_messages",
                  "request_bytes", "response_messages", "response_bytes"):
            if e[k] != g[k]:
                bad.append("call %d %s: capture %r expected %r" % (e["index"], k, g[k], e[k]))
    conns = {}
    for e, g in zip(exp, got):
        if conns.setdefault(g["tcp_stream"], e["connection"]) != e["connection"]:
            bad.append("call %d: connection mismatch" % e["index"])
    for m in bad:
        print("verify %s: MISMATCH %s" % (args.pcap, m), file=sys.stderr)
    if bad:
        sys.exit(1)
    print("ok: %s: %d calls match (path, ports, status, message, trace headers, "
          "message counts and bytes)" % (os.path.basename(args.pcap), len(got)))


STATIC_TABLE_SIZE = 61


def run_hpack_report(args):
    """Replay the HPACK dynamic tables of every connection/direction of the
    full capture (from tshark's per-field representation and index) and list,
    for the calls in the cut, the header fields that refer to entries
    inserted before the cut frame."""
    ports = [int(p) for p in args.ports.split(",")]
    exp = json.load(open(args.expected))["calls"]
    calls, events = read_capture(args.pcap, ports)
    if len(calls) != len(exp):
        raise SystemExit("hpack-report: %d calls in capture, %d expected" % (len(calls), len(exp)))
    by_stream = {(c["tcp_stream"], c["stream_id"]): (c, e) for c, e in zip(calls, exp)}
    tables = {}     # (tcp.stream, dir) -> [[name, value, frame], ...] newest first
    refs = {}       # call index -> {"request": [...], "response": [...]}
    for frame, tstream, side, sid, hdrs in events:
        table = tables.setdefault((tstream, side), [])
        for h in hdrs:
            name = h.get("http2.header.name")
            value = h.get("http2.header.value", "")
            rep = h.get("http2.header.repr", "")
            idx = int(h.get("http2.header.index", "0"))
            ref = None
            if idx > STATIC_TABLE_SIZE:
                ent = table[idx - STATIC_TABLE_SIZE - 1]
                if rep.startswith("Indexed"):
                    if (ent[0], ent[1]) != (name, value):
                        raise SystemExit("hpack-report: frame %d: table replay %r != %r"
                                         % (frame, ent[:2], (name, value)))
                    ref = "indexed (name and value)"
                else:
                    if ent[0] != name:
                        raise SystemExit("hpack-report: frame %d: table replay name %r != %r"
                                         % (frame, ent[0], name))
                    ref = "indexed name, literal value"
                if frame >= args.cut_frame and ent[2] < args.cut_frame:
                    c, e = by_stream[(tstream, sid)]
                    refs.setdefault(e["index"], {"request": [], "response": []})[side].append(
                        {"name": name, "value": h.get("http2.header.unescaped", value),
                         "hpack_index": idx, "representation": rep, "reference": ref,
                         "entry_inserted_in_frame": ent[2]})
            if "Incremental Indexing" in rep:
                table.insert(0, [name, value, frame])
                # evict past the default 4096-byte table (SETTINGS_HEADER_TABLE_SIZE
                # is not changed by grpc-core)
                while sum(len(n.encode()) + len(v.encode()) + 32 for n, v, _ in table) > 4096:
                    table.pop()
            elif "Size Update" in rep:
                raise SystemExit("hpack-report: dynamic table size update not handled")
    cut_conn = None
    out_calls = []
    for c, e in zip(calls, exp):
        if c["first_frame"] < args.cut_frame:
            cut_conn = e["connection"]
            continue
        r = refs.get(e["index"], {"request": [], "response": []})
        out_calls.append({
            "index": e["index"], "connection": e["connection"], "path": e["path"],
            "stream_id": c["stream_id"],
            "request_fields_from_pre_cut_table": r["request"],
            "response_fields_from_pre_cut_table": r["response"],
            "decodable_without_pre_cut_state": not (r["request"] or r["response"]),
        })
    before = [e["index"] for c, e in zip(calls, exp) if c["first_frame"] < args.cut_frame]
    doc = {
        "source": os.path.basename(args.pcap),
        "cut_frame": args.cut_frame,
        "joined_connection": cut_conn,
        "calls_before_cut": before,
        "calls": out_calls,
    }
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")
    for oc in out_calls:
        print("midstream call %2d conn %d %-22s pre-cut table refs: request %s response %s" % (
            oc["index"], oc["connection"], oc["path"],
            [x["name"] for x in oc["request_fields_from_pre_cut_table"]] or "-",
            [x["name"] for x in oc["response_fields_from_pre_cut_table"]] or "-"))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("server")
    s.add_argument("--gen", required=True)
    s.add_argument("--bind", required=True)
    s.add_argument("--ports", default="50051,9000")
    s.add_argument("--log", required=True)
    s.add_argument("--max-seconds", type=float, default=300.0)
    c = sub.add_parser("client")
    c.add_argument("--gen", required=True)
    c.add_argument("--server", required=True)
    c.add_argument("--port", type=int, default=50051)
    c.add_argument("--port2", type=int, default=9000)
    c.add_argument("--out", required=True)
    m = sub.add_parser("merge")
    m.add_argument("--client", required=True)
    m.add_argument("--server-log", required=True)
    m.add_argument("--out", required=True)
    v = sub.add_parser("verify")
    v.add_argument("--pcap", required=True)
    v.add_argument("--expected", required=True)
    v.add_argument("--ports", default="50051,9000")
    h = sub.add_parser("hpack-report")
    h.add_argument("--pcap", required=True)
    h.add_argument("--expected", required=True)
    h.add_argument("--ports", default="50051,9000")
    h.add_argument("--cut-frame", type=int, required=True)
    h.add_argument("--out", required=True)
    args = ap.parse_args()
    for var in ("http_proxy", "https_proxy", "grpc_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                "no_grpc_proxy", "no_proxy"):
        os.environ.pop(var, None)
    {"server": run_server, "client": run_client, "merge": run_merge,
     "verify": run_verify, "hpack-report": run_hpack_report}[args.cmd](args)


if __name__ == "__main__":
    main()

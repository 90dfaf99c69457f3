#!/usr/bin/env python3
"""HTTP/1.1 -> HTTP/2 cleartext upgrade client (RFC 7540 section 3.2) for
pcaps/h2c/gen-h2c.sh.  Real TCP socket, Python `h2` library (pip install h2).

    python3 h2c_client.py --server 10.201.0.2 --port 8080 --out h2c.expected.json

One TCP connection, one send() per step, TCP_NODELAY:

  1. HTTP/1.1   GET /upgrade?x=1 with Upgrade: h2c, HTTP2-Settings (base64url of
                h2's SETTINGS payload, '=' padding stripped as RFC 7540 asks)
                and a W3C traceparent.  The request becomes HTTP/2 stream 1.
  2. waits for `101 Switching Protocols`, then sends the connection preface
                (PRI * HTTP/2.0 ... + SETTINGS) together with the ACK of the
                server's SETTINGS if it already arrived; reads the response on
                stream 1 (200, 11 bytes).
  3. stream 3   GET  /after/one                 -> 200, 5-byte body
     stream 5   POST /after/two, 7-byte body    -> 201, empty body
     Each request waits for the previous response (no concurrency).
  4. GOAWAY (NO_ERROR, last stream 0), shutdown(SHUT_WR) = FIN, read to EOF.

Every call is written to --out in stream order (sorted keys, 2-space indent).
Exits non-zero if anything differs from what the server should answer.
"""
import argparse
import json
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events

TIMEOUT = 10.0
DEADLINE = 30.0
MAX_RECV_LOOPS = 1000
MAX_HEAD = 16384

UA = "wirespan-h2c-client/1.0"
TRACEPARENT_UPGRADE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACEPARENT_ONE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
POST_BODY = b"payload"  # 7 bytes


class ProtocolError(Exception):
    pass


class Client:
    def __init__(self, sock, conn):
        self.sock = sock
        self.conn = conn
        self.start = time.monotonic()
        self.responses = {}  # stream id -> {"status", "body", "ended"}

    def flush(self):
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def feed(self, data):
        for ev in self.conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                r = self.responses.setdefault(ev.stream_id, {"body": b"", "ended": False})
                r["status"] = int(dict(ev.headers)[":status"])
            elif isinstance(ev, h2.events.DataReceived):
                self.responses[ev.stream_id]["body"] += ev.data
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                self.responses[ev.stream_id]["ended"] = True
            elif isinstance(ev, h2.events.StreamReset):
                raise ProtocolError("stream %d reset by server" % ev.stream_id)
            elif isinstance(ev, h2.events.ConnectionTerminated):
                raise ProtocolError("server sent GOAWAY: %r" % ev)
        self.flush()

    def wait_stream(self, stream_id):
        for _ in range(MAX_RECV_LOOPS):
            r = self.responses.get(stream_id)
            if r and r["ended"]:
                return r
            if time.monotonic() - self.start > DEADLINE:
                raise ProtocolError("deadline exceeded")
            data = self.sock.recv(65536)
            if not data:
                raise ProtocolError("EOF while waiting for stream %d" % stream_id)
            self.feed(data)
        raise ProtocolError("too many recv loops for stream %d" % stream_id)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    authority = "%s:%d" % (args.server, args.port)

    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(
        client_side=True, header_encoding="utf-8"))
    settings_b64 = conn.initiate_upgrade_connection().rstrip(b"=").decode("ascii")
    preface = conn.data_to_send()  # PRI * HTTP/2.0 ... + SETTINGS: only after the 101

    sock = socket.create_connection((args.server, args.port), timeout=TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    caddr, cport = sock.getsockname()
    saddr, sport = sock.getpeername()
    c = Client(sock, conn)

    # --- 1. HTTP/1.1 request with Upgrade: h2c -------------------------------
    req = ("GET /upgrade?x=1 HTTP/1.1\r\n"
           "Host: %s\r\n"
           "User-Agent: %s\r\n"
           "Accept: */*\r\n"
           "Connection: Upgrade, HTTP2-Settings\r\n"
           "Upgrade: h2c\r\n"
           "HTTP2-Settings: %s\r\n"
           "traceparent: %s\r\n"
           "\r\n") % (authority, UA, settings_b64, TRACEPARENT_UPGRADE)
    sock.sendall(req.encode("ascii"))

    # --- 2. 101, then preface; response on stream 1 --------------------------------
    buf = b""
    for _ in range(MAX_RECV_LOOPS):
        if b"\r\n\r\n" in buf:
            break
        if len(buf) > MAX_HEAD:
            raise ProtocolError("101 head too long")
        data = sock.recv(65536)
        if not data:
            raise ProtocolError("EOF before the 101 (%r)" % buf[:200])
        buf += data
    else:
        raise ProtocolError("too many recv loops for the 101")
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/1.1 101 "):
        raise ProtocolError("no 101: %r" % lines[0])
    hdrs = {l.partition(":")[0].strip().lower(): l.partition(":")[2].strip() for l in lines[1:]}
    if hdrs.get("upgrade", "").lower() != "h2c":
        raise ProtocolError("101 without Upgrade: h2c: %r" % hdrs)
    sock.sendall(preface)
    if rest:
        c.feed(rest)   # server SETTINGS (+ maybe the stream 1 response); ACK goes out
    calls = []
    r = c.wait_stream(1)
    calls.append({"stream_id": 1, "method": "GET", "path": "/upgrade", "query": "x=1",
                  "status": r["status"], "request_body_size": 0,
                  "response_body_size": len(r["body"]),
                  "traceparent": TRACEPARENT_UPGRADE, "via": "http1-upgrade"})

    # --- 3. two more requests over HTTP/2 -------------------------------------------
    def request(method, path, body, traceparent):
        sid = conn.get_next_available_stream_id()
        h = [(":method", method), (":scheme", "http"), (":authority", authority),
             (":path", path), ("user-agent", UA), ("accept", "*/*")]
        if body:
            h += [("content-type", "text/plain"), ("content-length", str(len(body)))]
        if traceparent:
            h.append(("traceparent", traceparent))
        conn.send_headers(sid, h, end_stream=not body)
        if body:
            conn.send_data(sid, body, end_stream=True)
        c.flush()  # HEADERS (+ DATA) in one send()
        r = c.wait_stream(sid)
        p, _, q = path.partition("?")
        calls.append({"stream_id": sid, "method": method, "path": p, "query": q or None,
                      "status": r["status"], "request_body_size": len(body),
                      "response_body_size": len(r["body"]),
                      "traceparent": traceparent, "via": "h2"})
        return r

    request("GET", "/after/one", b"", TRACEPARENT_ONE)
    request("POST", "/after/two", POST_BODY, None)

    # --- 4. clean close: GOAWAY, FIN, read to the server's FIN ------------------------
    conn.close_connection()
    c.flush()
    sock.shutdown(socket.SHUT_WR)
    for _ in range(MAX_RECV_LOOPS):
        data = sock.recv(65536)
        if not data:
            break
        # the server sends nothing after our GOAWAY; feed it anyway
        conn.receive_data(data)
    else:
        raise ProtocolError("server did not close")
    sock.close()

    want = [(1, 200, 11), (3, 200, 5), (5, 201, 0)]
    got = [(x["stream_id"], x["status"], x["response_body_size"]) for x in calls]
    if got != want:
        raise ProtocolError("unexpected results %r, want %r" % (got, want))
    for x in calls:
        x.update({"client_address": caddr, "client_port": cport,
                  "server_address": saddr, "server_port": sport})
    with open(args.out, "w") as f:
        json.dump({"calls": calls}, f, indent=2, sort_keys=True)
        f.write("\n")
    print("h2c_client: %d calls on %s:%d -> %s:%d" % (len(calls), caddr, cport, saddr, sport))


if __name__ == "__main__":
    try:
        main()
    except (ProtocolError, socket.timeout, OSError) as e:
        print("h2c_client: FAILED: %s" % e, file=sys.stderr)
        sys.exit(1)

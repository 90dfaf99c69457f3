#!/usr/bin/env python3
"""Deterministic HTTP/1.1 test client for pcaps/gen-http.sh (stdlib only).

Runs inside the client network namespace and talks raw sockets to the nginx
in the server namespace.  Every call it makes is written, in the order sent,
to the expected-result file:

    python3 http_client.py --server 10.200.2.2 --out http.expected.json

Connections (all keep-alive, TCP_NODELAY, one send() per request unless
noted):
  0  port 80   nine sequential calls: query strings, traceparent, b3 single,
               B3 multi, X-Request-ID, two 304s (If-None-Match and
               If-Modified-Since), HEAD, 204, 301, 404, 500
  1  port 80   POST with a small body; POST with a 4000-byte body (three
               segments); GET; POST with "Expect: 100-continue" (headers
               sent, wait for the interim 100, then the body)
  2  port 80   three GETs pipelined in ONE send()
  3  port 80   >100 kB static body; chunked response (sub_filter)
  4  port 8080 GET, POST, chunked GET on the non-standard port

Trace ids are hard-coded so the expected file only changes in client ports.
The script exits non-zero if any response differs from what the server is
expected to answer.
"""
import argparse
import json
import socket
import sys

UA = "wirespan-test-client/1.0"
HOST = "app.wirespan.test"
HOST_8080 = "app.wirespan.test:8080"

TRACEPARENT_A = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACEPARENT_B = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACEPARENT_C = "00-5d9b4a8e6c2f41a3b7e0d1c2f3a4b5c6-1a2b3c4d5e6f7081-01"
B3_SINGLE = "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"
B3_TRACEID = "463ac35c9f6413ad48485a3953bb6124"
B3_SPANID = "a2fb4a1d1a96d312"
B3_SAMPLED = "1"
REQUEST_ID = "7c0a6d1e-5b8f-4c1e-9a7d-2f3e4d5c6b7a"
REQUEST_ID_PIPE = "pipelined-req-0002"

IMS_DATE = "Tue, 02 Jan 2024 03:04:05 GMT"  # = mtime set by gen-http.sh

TIMEOUT = 10.0
MAX_RECV_LOOPS = 100000


class ProtocolError(Exception):
    pass


def det_body(n, seed):
    """Deterministic ASCII request body of n bytes."""
    line = ("wirespan-body-%s-" % seed).encode()
    out = bytearray()
    i = 0
    while len(out) < n:
        out += line + b"%06d\n" % i
        i += 1
    return bytes(out[:n])


class Conn:
    def __init__(self, index, server, port):
        self.index = index
        self.server = server
        self.port = port
        self.sock = socket.create_connection((server, port), timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.local = self.sock.getsockname()
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ProtocolError("connection %d closed by server" % self.index)
        self.buf += chunk

    def _read_until(self, marker):
        for _ in range(MAX_RECV_LOOPS):
            pos = self.buf.find(marker)
            if pos >= 0:
                out = self.buf[:pos]
                self.buf = self.buf[pos + len(marker):]
                return out
            self._fill()
        raise ProtocolError("no %r after %d reads" % (marker, MAX_RECV_LOOPS))

    def _read_exact(self, n):
        for _ in range(MAX_RECV_LOOPS):
            if len(self.buf) >= n:
                out = self.buf[:n]
                self.buf = self.buf[n:]
                return out
            self._fill()
        raise ProtocolError("short body after %d reads" % MAX_RECV_LOOPS)

    def read_head(self):
        """Read one response head. Returns (status, headers{lower: value})."""
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ProtocolError("bad status line %r" % lines[0])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(parts[1]), headers

    def read_response(self, method):
        """Read a final response (skipping nothing: 1xx must be handled by
        the caller). Returns (status, headers, body_len, chunked)."""
        status, headers = self.read_head()
        if 100 <= status < 200:
            return status, headers, 0, False
        if method == "HEAD" or status in (204, 304):
            return status, headers, 0, False
        te = headers.get("transfer-encoding", "").lower()
        if "chunked" in te:
            total = 0
            for _ in range(MAX_RECV_LOOPS):
                size_line = self._read_until(b"\r\n").decode("latin-1")
                size = int(size_line.split(";")[0].strip(), 16)
                if size == 0:
                    # trailers (none expected) end with an empty line
                    for _ in range(100):
                        if self._read_until(b"\r\n") == b"":
                            break
                    return status, headers, total, True
                total += len(self._read_exact(size))
                if self._read_exact(2) != b"\r\n":
                    raise ProtocolError("bad chunk terminator")
            raise ProtocolError("too many chunks")
        if "content-length" in headers:
            n = int(headers["content-length"])
            return status, headers, len(self._read_exact(n)), False
        raise ProtocolError("response without length on keep-alive conn")

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_WR)
            # drain until the server's FIN so the capture has a clean close
            for _ in range(1000):
                if not self.sock.recv(65536):
                    break
        finally:
            self.sock.close()


def build_request(method, path, query, host, headers, body):
    target = path + ("?" + query if query is not None else "")
    lines = ["%s %s HTTP/1.1" % (method, target), "Host: %s" % host]
    for name, value in headers:
        lines.append("%s: %s" % (name, value))
    if body is not None:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Runner:
    def __init__(self, server):
        self.server = server
        self.calls = []
        self.errors = []

    def record(self, conn, method, path, query, host, headers, body,
               status, resp_len, chunked, pipelined, expect_continue):
        hmap = {k.lower(): v for k, v in headers}
        self.calls.append({
            "method": method,
            "path": path,
            "query": query,
            "host": host,
            "user_agent": hmap.get("user-agent"),
            "status": status,
            "request_body_size": len(body) if body is not None else 0,
            "response_body_size": resp_len,
            "response_chunked": chunked,
            "expect_continue": expect_continue,
            "traceparent": hmap.get("traceparent"),
            "b3": hmap.get("b3"),
            "x_b3_traceid": hmap.get("x-b3-traceid"),
            "x_b3_spanid": hmap.get("x-b3-spanid"),
            "x_b3_sampled": hmap.get("x-b3-sampled"),
            "x_request_id": hmap.get("x-request-id"),
            "client_address": conn.local[0],
            "client_port": conn.local[1],
            "server_address": conn.server,
            "server_port": conn.port,
            "connection": conn.index,
            "pipelined": pipelined,
        })

    def check(self, what, got, want):
        if got != want:
            self.errors.append("%s: got %r, want %r" % (what, got, want))

    def call(self, conn, method, path, query=None, host=HOST, headers=(),
             body=None, want_status=200, want_len=None, want_chunked=False):
        headers = list(headers)
        req = build_request(method, path, query, host, headers, body)
        conn.send(req + (body or b""))
        status, rh, n, chunked = conn.read_response(method)
        self.record(conn, method, path, query, host, headers, body,
                    status, n, chunked, False, False)
        label = "%s %s" % (method, path)
        self.check(label + " status", status, want_status)
        self.check(label + " chunked", chunked, want_chunked)
        if want_len is not None:
            self.check(label + " body length", n, want_len)
        return rh

    def call_expect_continue(self, conn, path, body, host=HOST, headers=()):
        headers = list(headers) + [("Expect", "100-continue")]
        req = build_request("POST", path, None, host, headers, body)
        conn.send(req)
        status, _ = conn.read_head()
        self.check("Expect: 100-continue interim status", status, 100)
        conn.send(body)
        status, _, n, chunked = conn.read_response("POST")
        self.record(conn, "POST", path, None, host, headers, body,
                    status, n, chunked, False, True)
        self.check("POST (100-continue) status", status, 201)

    def pipeline(self, conn, reqs):
        """reqs: list of (method, path, query, headers, want_status).
        All requests go out in one send()."""
        wire = b"".join(build_request(m, p, q, HOST, list(h), None)
                        for m, p, q, h, _ in reqs)
        conn.send(wire)
        for m, p, q, h, want in reqs:
            status, _, n, chunked = conn.read_response(m)
            self.record(conn, m, p, q, HOST, list(h), None,
                        status, n, chunked, True, False)
            self.check("pipelined %s %s status" % (m, p), status, want)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default="10.200.2.2")
    ap.add_argument("--out", required=True)
    ap.add_argument("--big-size", type=int, default=120000)
    args = ap.parse_args()
    r = Runner(args.server)
    s = args.server
    ua = [("User-Agent", UA)]

    # --- connection 0: sequential keep-alive calls on port 80 -------------
    c = Conn(0, s, 80)
    r.call(c, "GET", "/ok", "x=1&y=two", headers=ua + [
        ("traceparent", TRACEPARENT_A),
        ("tracestate", "wirespan=test")], want_len=3)
    rh = r.call(c, "GET", "/static/small.txt",
                headers=ua + [("b3", B3_SINGLE)], want_len=18)
    etag = rh.get("etag", '"missing"')
    r.call(c, "GET", "/static/small.txt", headers=ua + [
        ("X-B3-TraceId", B3_TRACEID), ("X-B3-SpanId", B3_SPANID),
        ("X-B3-Sampled", B3_SAMPLED), ("If-None-Match", etag)],
        want_status=304, want_len=0)
    r.call(c, "GET", "/static/small.txt", headers=[
        ("X-Request-ID", REQUEST_ID), ("If-Modified-Since", IMS_DATE)],
        want_status=304, want_len=0)
    r.call(c, "HEAD", "/static/big.bin", headers=ua, want_len=0)
    r.call(c, "GET", "/nothing", headers=ua, want_status=204, want_len=0)
    r.call(c, "GET", "/old", "keep=1", headers=ua, want_status=301)
    r.call(c, "GET", "/missing.html", "from=test", headers=ua,
           want_status=404)
    r.call(c, "GET", "/boom", headers=ua + [("traceparent", TRACEPARENT_B)],
           want_status=500)
    c.close()

    # --- connection 1: request bodies --------------------------------------
    c = Conn(1, s, 80)
    r.call(c, "POST", "/api/items", "kind=small", headers=ua + [
        ("Content-Type", "application/octet-stream")],
        body=det_body(512, "post"), want_status=201, want_len=8)
    # headers + 4000-byte body in one send(): three TCP segments (the middle
    # one is what reencap.py removes for edge/tcp-hole.pcap)
    r.call(c, "POST", "/api/items", "kind=large", headers=ua + [
        ("Content-Type", "application/octet-stream")],
        body=det_body(4000, "large"), want_status=201, want_len=8)
    r.call(c, "GET", "/ok", "after=large", headers=ua, want_len=3)
    r.call_expect_continue(c, "/api/items", det_body(3000, "expect"),
                           headers=ua + [
                               ("Content-Type", "application/octet-stream"),
                               ("X-Request-ID", "expect-continue-0001")])
    c.close()

    # --- connection 2: three pipelined requests in one send ----------------
    c = Conn(2, s, 80)
    r.pipeline(c, [
        ("GET", "/ok", "p=1", ua + [("traceparent", TRACEPARENT_C)], 200),
        ("GET", "/static/small.txt", "p=2",
         ua + [("X-Request-ID", REQUEST_ID_PIPE)], 200),
        ("GET", "/nothing", "p=3", ua, 204),
    ])
    c.close()

    # --- connection 3: big body and chunked body ---------------------------
    c = Conn(3, s, 80)
    r.call(c, "GET", "/static/big.bin", headers=ua, want_len=args.big_size)
    r.call(c, "GET", "/chunked/page.html", headers=ua, want_chunked=True)
    c.close()

    # --- connection 4: port 8080 ---------------------------------------------
    c = Conn(4, s, 8080)
    r.call(c, "GET", "/ok", "port=8080", host=HOST_8080, headers=[
        ("User-Agent", "wirespan-test-client/1.0 (alt-port)"),
        ("traceparent", TRACEPARENT_A)], want_len=3)
    r.call(c, "POST", "/api/items", None, host=HOST_8080, headers=ua,
           body=det_body(100, "alt"), want_status=201, want_len=8)
    r.call(c, "GET", "/chunked/page.html", "port=8080", host=HOST_8080,
           headers=ua, want_chunked=True)
    c.close()

    with open(args.out, "w") as f:
        json.dump({"calls": r.calls}, f, indent=2, sort_keys=True)
        f.write("\n")
    for e in r.errors:
        print("http_client: MISMATCH " + e, file=sys.stderr)
    print("http_client: %d calls on 5 connections -> %s"
          % (len(r.calls), args.out), file=sys.stderr)
    return 1 if r.errors else 0


if __name__ == "__main__":
    sys.exit(main())

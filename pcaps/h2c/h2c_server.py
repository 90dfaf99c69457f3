#!/usr/bin/env python3
"""HTTP/1.1 -> HTTP/2 cleartext upgrade server (RFC 7540 section 3.2) for
pcaps/h2c/gen-h2c.sh.  Real TCP socket, Python `h2` library (pip install h2).

    python3 h2c_server.py --listen 10.201.0.2 --port 8080 \
        --ready-file /tmp/x/ready --log /tmp/x/server.json

Serves exactly ONE connection, then exits:

  1. reads an HTTP/1.1 request head (bounded), which must carry
     `Upgrade: h2c`, `Connection: Upgrade, HTTP2-Settings` and exactly one
     `HTTP2-Settings` header (base64url, padding optional);
  2. answers, in ONE send() (so usually one TCP segment):
        HTTP/1.1 101 Switching Protocols   (Connection: Upgrade, Upgrade: h2c)
        SETTINGS                           (server preface)
        HEADERS stream 1  :status 200, content-type, content-length 11
        DATA    stream 1  "upgraded ok" (11 bytes, END_STREAM)
  3. then speaks HTTP/2 until the client sends GOAWAY and closes:
        GET  /after/one -> 200, body "five\\n" (5 bytes)
        POST /after/two -> 201, no body (HEADERS with END_STREAM)
        anything else   -> 404, no body

Everything the server saw is written to --log (JSON) so gen-h2c.sh can
cross-check it against the client's record.  Every loop is bounded and the
socket has a timeout; the script exits non-zero on any protocol surprise.
"""
import argparse
import base64
import json
import os
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events

TIMEOUT = 10.0          # per recv/accept
DEADLINE = 30.0         # whole connection
MAX_HEAD = 16384        # HTTP/1.1 request head
MAX_RECV_LOOPS = 1000

UPGRADE_BODY = b"upgraded ok"          # 11 bytes
ONE_BODY = b"five\n"                   # 5 bytes
SERVER_NAME = "wirespan-h2c-server/1.0"


class ProtocolError(Exception):
    pass


def read_request_head(sock):
    buf = b""
    for _ in range(MAX_RECV_LOOPS):
        i = buf.find(b"\r\n\r\n")
        if i >= 0:
            return buf[:i], buf[i + 4:]
        if len(buf) > MAX_HEAD:
            raise ProtocolError("request head too long")
        chunk = sock.recv(4096)
        if not chunk:
            raise ProtocolError("EOF before end of request head (%d bytes)" % len(buf))
        buf += chunk
    raise ProtocolError("too many recv loops for the request head")


def parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    return method, target, version, headers


def tokens(headers, name):
    out = []
    for n, v in headers:
        if n == name:
            out += [t.strip().lower() for t in v.split(",") if t.strip()]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()

    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((args.listen, args.port))
    lsock.listen(1)
    lsock.settimeout(TIMEOUT * 3)
    with open(args.ready_file, "w") as f:
        f.write("%d\n" % os.getpid())

    sock, peer = lsock.accept()
    lsock.close()
    sock.settimeout(TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    start = time.monotonic()
    log = {"peer": list(peer), "streams": [], "goaway_received": False,
           "client_preface_seen": False}

    # --- 1. the HTTP/1.1 upgrade request ------------------------------------
    head, rest = read_request_head(sock)
    method, target, version, headers = parse_head(head)
    if version != "HTTP/1.1":
        raise ProtocolError("not HTTP/1.1: %r" % version)
    if tokens(headers, "upgrade") != ["h2c"]:
        raise ProtocolError("no Upgrade: h2c")
    conn_tokens = tokens(headers, "connection")
    if "upgrade" not in conn_tokens or "http2-settings" not in conn_tokens:
        raise ProtocolError("Connection header lacks Upgrade/HTTP2-Settings: %r" % conn_tokens)
    settings = [v for n, v in headers if n == "http2-settings"]
    if len(settings) != 1:
        raise ProtocolError("need exactly one HTTP2-Settings header")
    if any(n in ("content-length", "transfer-encoding") for n, _ in headers) or rest:
        raise ProtocolError("upgrade request with a body is not expected here")
    s = settings[0].encode("ascii")
    s += b"=" * (-len(s) % 4)  # token68 may omit padding; base64 needs it
    base64.urlsafe_b64decode(s)  # validate
    path, _, query = target.partition("?")
    log["streams"].append({
        "stream_id": 1, "method": method, "path": path, "query": query or None,
        "request_body_size": 0,
        "traceparent": next((v for n, v in headers if n == "traceparent"), None),
        "via": "http1-upgrade", "status": 200, "response_body_size": len(UPGRADE_BODY),
    })

    # --- 2. 101 + server preface + response on stream 1, one send() -----------
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(
        client_side=False, header_encoding="utf-8"))
    conn.initiate_upgrade_connection(settings_header=s)
    conn.send_headers(1, [
        (":status", "200"),
        ("content-type", "text/plain"),
        ("content-length", str(len(UPGRADE_BODY))),
        ("server", SERVER_NAME),
    ])
    conn.send_data(1, UPGRADE_BODY, end_stream=True)
    switching = (b"HTTP/1.1 101 Switching Protocols\r\n"
                 b"Connection: Upgrade\r\n"
                 b"Upgrade: h2c\r\n"
                 b"\r\n")
    sock.sendall(switching + conn.data_to_send())

    # --- 3. HTTP/2 until GOAWAY + EOF --------------------------------------------
    # the client's connection preface must be the first thing after the request
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    pending = {}  # stream id -> request record
    pre_buf = b""
    eof = False
    for _ in range(MAX_RECV_LOOPS):
        if time.monotonic() - start > DEADLINE:
            raise ProtocolError("deadline exceeded")
        data = sock.recv(65536)
        if not data:
            eof = True
            break
        if not log["client_preface_seen"]:
            pre_buf += data
            if len(pre_buf) < len(preface):
                continue
            if not pre_buf.startswith(preface):
                raise ProtocolError("bad client preface: %r" % pre_buf[:24])
            log["client_preface_seen"] = True
            data = pre_buf
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.RequestReceived):
                h = dict(ev.headers)
                p, _, q = h[":path"].partition("?")
                pending[ev.stream_id] = {
                    "stream_id": ev.stream_id, "method": h[":method"], "path": p,
                    "query": q or None, "request_body_size": 0,
                    "traceparent": h.get("traceparent"), "via": "h2",
                }
            elif isinstance(ev, h2.events.DataReceived):
                pending[ev.stream_id]["request_body_size"] += len(ev.data)
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                rec = pending.pop(ev.stream_id)
                if rec["method"] == "GET" and rec["path"] == "/after/one":
                    status, body = 200, ONE_BODY
                elif rec["method"] == "POST" and rec["path"] == "/after/two":
                    status, body = 201, b""
                else:
                    status, body = 404, b""
                hdrs = [(":status", str(status)), ("server", SERVER_NAME),
                        ("content-length", str(len(body)))]
                if body:
                    hdrs.insert(1, ("content-type", "text/plain"))
                conn.send_headers(ev.stream_id, hdrs, end_stream=not body)
                if body:
                    conn.send_data(ev.stream_id, body, end_stream=True)
                rec["status"] = status
                rec["response_body_size"] = len(body)
                log["streams"].append(rec)
            elif isinstance(ev, h2.events.ConnectionTerminated):
                log["goaway_received"] = True
                log["goaway_error_code"] = int(ev.error_code)
                log["goaway_last_stream_id"] = ev.last_stream_id
            elif isinstance(ev, h2.events.StreamReset):
                raise ProtocolError("stream %d reset by client" % ev.stream_id)
        out = conn.data_to_send()
        if out:
            sock.sendall(out)
    if not eof:
        raise ProtocolError("too many recv loops")
    sock.close()  # FIN after the client's FIN
    if pending:
        raise ProtocolError("unanswered streams: %r" % sorted(pending))
    if not log["goaway_received"]:
        raise ProtocolError("client closed without GOAWAY")
    with open(args.log, "w") as f:
        json.dump(log, f, indent=2, sort_keys=True)
        f.write("\n")
    print("h2c_server: served %d streams" % len(log["streams"]))


if __name__ == "__main__":
    try:
        main()
    except (ProtocolError, socket.timeout, OSError) as e:
        print("h2c_server: FAILED: %s" % e, file=sys.stderr)
        sys.exit(1)

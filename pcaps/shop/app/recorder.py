#!/usr/bin/env python3
"""A minimal OTLP/HTTP receiver that records request bodies, one per file.

    python3 recorder.py --bind 10.244.1.1 --port 38086 --node node1 --out DIR

POST /api/v1/otel/trace or /v1/traces: the raw body (gunzipped / inflated
if Content-Encoding says so) is written to DIR/<node>-<seq>.pb (seq from
000, in arrival order) and one JSON line describing it is appended to
DIR/index-<node>.jsonl.  The answer is 200 with an empty body and
Content-Type application/x-protobuf (an empty ExportTraceServiceResponse).
Anything else gets 404.  The recorder stops by itself after --max-seconds.
"""
import argparse
import gzip
import json
import os
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATHS = ("/api/v1/otel/trace", "/v1/traces")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", required=True)
    ap.add_argument("--port", type=int, default=38086)
    ap.add_argument("--node", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-seconds", type=float, default=300)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    lock = threading.Lock()
    seq = [0]
    index = open(os.path.join(a.out, "index-%s.jsonl" % a.node), "a")

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def _answer(self, code):
            self.send_response(code)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self):
            received = time.time_ns()
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            path = self.path.split("?", 1)[0]
            if path not in PATHS:
                self._answer(404)
                return
            enc = (self.headers.get("Content-Encoding") or "").strip().lower()
            raw = body
            if enc == "gzip":
                raw = gzip.decompress(body)
            elif enc == "deflate":
                raw = zlib.decompress(body)
            with lock:
                name = "%s-%03d.pb" % (a.node, seq[0])
                seq[0] += 1
                with open(os.path.join(a.out, name), "wb") as f:
                    f.write(raw)
                index.write(json.dumps({
                    "file": name,
                    "node": a.node,
                    "path": path,
                    "content_type": self.headers.get("Content-Type"),
                    "content_encoding": enc or None,
                    "wire_bytes": len(body),
                    "bytes": len(raw),
                    "received_unix_nano": received,
                    "peer": "%s:%d" % self.client_address[:2],
                    "user_agent": self.headers.get("User-Agent"),
                }, sort_keys=True) + "\n")
                index.flush()
            self._answer(200)

    srv = ThreadingHTTPServer((a.bind, a.port), H)
    srv.daemon_threads = True
    t = threading.Timer(a.max_seconds, srv.shutdown)
    t.daemon = True
    t.start()
    print("recorder %s listening on %s:%d" % (a.node, a.bind, a.port), flush=True)
    srv.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()

"""An OTLP/HTTP endpoint for export tests, decoding with the opentelemetry-proto package
(independent of wirespan's own decoder).

    python3 fake_collector.py PORT OUT_JSONL FAIL_FIRST FAIL_STATUS DURATION_S

Answers the first FAIL_FIRST requests with FAIL_STATUS (and Retry-After: 1), then 200. Every
accepted request's spans go to OUT_JSONL, one line per span: trace id, span id, name, service.
"""
import http.server
import sys
import threading

from accept import accept

port, out_path, fail_first, fail_status, duration = (
    int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
state = {"requests": 0}
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with lock:
            state["requests"] += 1
            n = state["requests"]
        if n <= fail_first:
            self.send_response(fail_status)
            self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        accept(self, body, out_path, lock)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
threading.Timer(duration, server.shutdown).start()
server.serve_forever()

"""An OTLP/HTTP endpoint with an outage timeline, for the exporter outage tests.

    python3 outage_collector.py PORT OUT_JSONL REFUSE_S HANG_S FAIL_S

For REFUSE_S seconds nothing listens (connections are refused); for the next HANG_S seconds
requests are read and never answered (the connection is dropped when the phase ends); for
the next FAIL_S seconds every request gets 503; after that requests are accepted and their
spans recorded by accept.py, one line per span in OUT_JSONL. Requests
per phase are counted in OUT_JSONL.phases (JSON, with a log of when each came), rewritten as
they come. Runs until killed.
"""
import http.server
import json
import sys
import threading
import time

from accept import accept

port, out_path = int(sys.argv[1]), sys.argv[2]
refuse_s, hang_s, fail_s = (float(a) for a in sys.argv[3:6])
start = time.monotonic()
hang_end = start + refuse_s + hang_s
fail_end = hang_end + fail_s
phases = {"hang": 0, "fail": 0, "ok": 0, "log": []}
lock = threading.Lock()


def count(phase):
    with lock:
        phases[phase] += 1
        phases["log"].append([round(time.monotonic() - start, 2), phase])
        with open(out_path + ".phases", "w") as f:
            json.dump(phases, f)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        now = time.monotonic()
        if now < hang_end:
            count("hang")
            time.sleep(hang_end - now)
            self.close_connection = True
            return
        if now < fail_end:
            count("fail")
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        accept(self, body, out_path, lock)
        count("ok")

    def log_message(self, *args):
        pass


time.sleep(refuse_s)
http.server.ThreadingHTTPServer.daemon_threads = True
http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()

"""An OTLP/HTTP endpoint with an outage timeline, for the exporter outage tests.

    python3 outage_collector.py PORT OUT_JSONL REFUSE_S HANG_S FAIL_S

For REFUSE_S seconds nothing listens (connections are refused); for the next HANG_S seconds
requests are read and never answered (the connection is dropped when the phase ends); for
the next FAIL_S seconds every request gets 503; after that requests are accepted and their
spans decoded with the opentelemetry-proto package, one line per span in OUT_JSONL. Requests
per phase are counted in OUT_JSONL.phases (JSON, with a log of when each came), rewritten as
they come. Runs until killed.
"""
import gzip
import http.server
import json
import sys
import threading
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest, ExportTraceServiceResponse)

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
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        req = ExportTraceServiceRequest()
        req.ParseFromString(body)
        with lock, open(out_path, "a") as out:
            for rs in req.resource_spans:
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        out.write(json.dumps({"trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(),
                                              "name": s.name}) + "\n")
        count("ok")
        resp = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(resp)))
        self.end_headers()
        self.wfile.write(resp)

    def log_message(self, *args):
        pass


time.sleep(refuse_s)
http.server.ThreadingHTTPServer.daemon_threads = True
http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()

"""An OTLP/HTTP endpoint for export tests, decoding with the opentelemetry-proto package
(independent of wirespan's own decoder).

    python3 fake_collector.py PORT OUT_JSONL FAIL_FIRST FAIL_STATUS DURATION_S

Answers the first FAIL_FIRST requests with FAIL_STATUS (and Retry-After: 1), then 200. Every
accepted request's spans go to OUT_JSONL, one line per span: trace id, span id, name, service.
"""
import gzip
import http.server
import json
import sys
import threading

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest, ExportTraceServiceResponse)

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
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        req = ExportTraceServiceRequest()
        req.ParseFromString(body)
        with lock, open(out_path, "a") as out:
            for rs in req.resource_spans:
                service = next((a.value.string_value for a in rs.resource.attributes if a.key == "service.name"), "")
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        out.write(json.dumps({"trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(),
                                              "name": s.name, "service": service}) + "\n")
        resp = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(resp)))
        self.end_headers()
        self.wfile.write(resp)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
threading.Timer(duration, server.shutdown).start()
server.serve_forever()

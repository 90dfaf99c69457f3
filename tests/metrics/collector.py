"""An OTLP collector for the metrics tests, decoding with the opentelemetry-proto package
(independent of wirespan's encoder): OTLP/HTTP on HTTP_PORT (`/v1/traces` accepted and
dropped, `/v1/metrics` recorded) and, when GRPC_PORT is not 0, the same over gRPC
(TraceService and MetricsService).

    python3 collector.py HTTP_PORT GRPC_PORT OUT_JSONL

Every metrics request becomes one JSON line in OUT_JSONL: its transport, the resource's
attributes, and each data point as {metric, kind, labels, value | count, sum, buckets, bounds,
temporality, monotonic, start, time}. Runs until killed.
"""
import gzip
import http.server
import json
import sys
import threading

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from points import points

http_port, grpc_port, out_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()


def record(req, transport):
    with lock, open(out_path, "a") as out:
        out.write(json.dumps(dict(transport=transport, **points(req))) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path == "/v1/metrics":
            req = metrics_service_pb2.ExportMetricsServiceRequest()
            req.ParseFromString(body)
            record(req, "http")
            resp = metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()
        elif self.path == "/v1/traces":
            trace_service_pb2.ExportTraceServiceRequest().ParseFromString(body)
            resp = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(resp)))
        self.end_headers()
        self.wfile.write(resp)

    def log_message(self, *args):
        pass


if grpc_port:
    from concurrent import futures

    import grpc
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

    class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
        def Export(self, request, context):
            record(request, "grpc")
            return metrics_service_pb2.ExportMetricsServiceResponse()

    class Traces(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
    server.add_insecure_port(f"127.0.0.1:{grpc_port}")
    server.start()

http.server.ThreadingHTTPServer(("127.0.0.1", http_port), Handler).serve_forever()

"""What both test collectors do with an accepted OTLP/HTTP export: decode it with the
opentelemetry-proto package (independent of wirespan's own decoder), append one JSON line per
span to a file (trace id, span id, name, service), and answer 200 with an empty response."""
import gzip
import json

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest, ExportTraceServiceResponse)


def accept(handler, body, out_path, lock):
    """Records the spans of `body` (a request read by `handler`) and answers it."""
    if handler.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    req = ExportTraceServiceRequest()
    req.ParseFromString(body)
    with lock, open(out_path, "a") as out:
        for rs in req.resource_spans:
            service = next((a.value.string_value for a in rs.resource.attributes
                            if a.key == "service.name"), "")
            for ss in rs.scope_spans:
                for s in ss.spans:
                    out.write(json.dumps({"trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(),
                                          "name": s.name, "service": service}) + "\n")
    resp = ExportTraceServiceResponse().SerializeToString()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/x-protobuf")
    handler.send_header("Content-Length", str(len(resp)))
    handler.end_headers()
    handler.wfile.write(resp)

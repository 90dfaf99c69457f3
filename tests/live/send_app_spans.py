"""Plays the apps of the live test: for every call in client.json (which carried a W3C
traceparent), posts to wirespan's OTLP receiver the caller's CLIENT span (the traceparent's
parent id) and the server's SERVER span (a child of it), as an instrumented client and server
would. Protobuf encoded with the opentelemetry-proto package.

    python3 send_app_spans.py CLIENT_JSON URL
"""
import json
import sys
import urllib.request

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

calls = json.load(open(sys.argv[1]))["calls"]
url = sys.argv[2]


def resource(name):
    rs = ResourceSpans()
    rs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value=name)))
    return rs


client, server = resource("live-client"), resource("live-server")
cs, ss = ScopeSpans(), ScopeSpans()
for call in calls:
    _, trace, parent, _ = call["traceparent"].split("-")
    c = cs.spans.add()
    c.trace_id, c.span_id, c.name, c.kind = bytes.fromhex(trace), bytes.fromhex(parent), "call " + call["path"], Span.SPAN_KIND_CLIENT
    c.start_time_unix_nano, c.end_time_unix_nano = call["start_ns"] - 1000, call["end_ns"] + 1000
    s = ss.spans.add()
    s.trace_id, s.parent_span_id, s.name, s.kind = bytes.fromhex(trace), bytes.fromhex(parent), call["method"] + " " + call["path"], Span.SPAN_KIND_SERVER
    s.span_id = bytes.fromhex("%016x" % (int(parent, 16) + 0x1000))
    s.start_time_unix_nano, s.end_time_unix_nano = call["start_ns"] + 1000, call["end_ns"] - 1000
client.scope_spans.append(cs)
server.scope_spans.append(ss)
req = ExportTraceServiceRequest(resource_spans=[client, server])
r = urllib.request.urlopen(urllib.request.Request(url, data=req.SerializeToString(),
                                                  headers={"Content-Type": "application/x-protobuf"}), timeout=10)
assert r.status == 200, r.status
print(len(calls) * 2)

"""Sends real OpenTelemetry SDK spans to wirespan's OTLP receiver, as an app would.

    python3 send_spans.py DEEPFLOW_URL HTTP_URL GRPC_ENDPOINT

Three tracer providers, one per exporter: OTLP/HTTP protobuf to the DeepFlow-style path,
OTLP/HTTP protobuf (gzip) to /v1/traces, OTLP/gRPC. Each makes a SERVER span with a CLIENT
child named after the exporter. Prints a JSON line per span sent: name, trace id, span id.
"""
import json
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

deepflow_url, http_url, grpc_endpoint = sys.argv[1:4]
exporters = {
    "deepflow": HttpExporter(endpoint=deepflow_url),
    "http-gzip": HttpExporter(endpoint=http_url, compression=HttpCompression.Gzip),
    "grpc": GrpcExporter(endpoint=grpc_endpoint, insecure=True),
}
for name, exporter in exporters.items():
    provider = TracerProvider(resource=Resource.create({"service.name": "sender-" + name, "k8s.pod.ip": "10.9.0.1"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("send_spans")
    with tracer.start_as_current_span("GET /" + name, kind=SpanKind.SERVER, attributes={"client.address": "10.9.0.2", "client.port": 4242}) as server:
        with tracer.start_as_current_span("call " + name, kind=SpanKind.CLIENT) as client:
            pass
    provider.shutdown()
    for span in (server, client):
        ctx = span.get_span_context()
        print(json.dumps({"name": span.name, "trace_id": "%032x" % ctx.trace_id, "span_id": "%016x" % ctx.span_id, "service": "sender-" + name}))

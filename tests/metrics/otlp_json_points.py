"""Reads an OTLP/JSON metrics file (one ExportMetricsServiceRequest per line) with protobuf's
own JSON parser into opentelemetry-proto's message, and prints each request's points as a
JSON line (see points.py). Exits non-zero when a line is not a valid request.

    python3 otlp_json_points.py FILE
"""
import json
import sys

from google.protobuf.json_format import Parse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from points import points

for line in open(sys.argv[1]):
    if line.strip():
        print(json.dumps(points(Parse(line, ExportMetricsServiceRequest()))))

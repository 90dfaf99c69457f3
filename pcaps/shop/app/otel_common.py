"""OpenTelemetry set-up shared by the shop services (frontend, cart, catalog).

Each service exports its spans with the OTLP/HTTP protobuf exporter to the
recorder of its node (http://<node bridge IP>:38086/api/v1/otel/trace).
A BatchSpanProcessor with a short delay is used; `flush_and_exit` (called on
SIGTERM/SIGINT and by the lifetime watchdog) shuts the provider down, which
exports whatever is still queued, so nothing is lost.
"""
import os
import signal
import sys
import threading

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_provider = None
_closers = []


def setup(service, pod, pod_ip, node, collector):
    global _provider
    resource = Resource.create({
        "service.name": service,
        "k8s.pod.ip": pod_ip,
        "host.name": pod,
        "k8s.pod.name": pod,
        "k8s.node.name": node,
        "k8s.namespace.name": "shop",
    })
    _provider = TracerProvider(resource=resource)
    exporter = OTLPSpanExporter(endpoint=collector, timeout=5)
    _provider.add_span_processor(BatchSpanProcessor(
        exporter, schedule_delay_millis=300, max_export_batch_size=64))
    trace.set_tracer_provider(_provider)
    return _provider


def on_exit(fn):
    """Register a closer run before the final flush (close DB, channel...)."""
    _closers.append(fn)


def flush():
    """Run the closers, then shut the provider down (which exports what is queued)."""
    for fn in _closers:
        try:
            fn()
        except Exception as e:  # noqa: BLE001
            print("closer failed: %r" % e, file=sys.stderr)
    if _provider is not None:
        _provider.shutdown()
    sys.stderr.flush()
    sys.stdout.flush()


def flush_and_exit(code=0):
    flush()
    os._exit(code)


def install_exit_handlers(max_seconds):
    def handler(signum, frame):
        flush_and_exit(0)
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    # bounded lifetime: the service stops by itself
    t = threading.Timer(max_seconds, flush_and_exit, args=(3,))
    t.daemon = True
    t.start()


class Records:
    """The service's own record of each call it handled (one JSON line each): which user,
    the trace and span it ran in, and the local port of the DB connection it used. The load
    check (check_load.py) holds wirespan's joins against it."""

    def __init__(self, path):
        self._f = open(path, "a") if path else None
        self._lock = threading.Lock()

    def write(self, **fields):
        if self._f is None:
            return
        import json
        ctx = trace.get_current_span().get_span_context()
        fields["trace_id"] = "%032x" % ctx.trace_id
        fields["span_id"] = "%016x" % ctx.span_id
        with self._lock:
            self._f.write(json.dumps(fields, sort_keys=True) + "\n")
            self._f.flush()


def load_gen(path):
    sys.path.insert(0, path)
    import cart_pb2          # noqa: E402
    import cart_pb2_grpc     # noqa: E402
    return cart_pb2, cart_pb2_grpc

"""The data points of an OTLP ExportMetricsServiceRequest (opentelemetry-proto's message) as
plain JSON: {"resource": {key: value}, "points": [{metric, kind, labels, value | count, sum,
buckets, bounds, temporality, monotonic, start, time}]}. Shared by the test collector and the
reader of OTLP/JSON metric files."""


def attrs(kvs):
    return {kv.key: kv.value.string_value for kv in kvs}


def points(req):
    out = []
    resource = {}
    for rm in req.resource_metrics:
        resource = attrs(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                if kind == "sum":
                    for p in m.sum.data_points:
                        out.append({"metric": m.name, "kind": kind, "labels": attrs(p.attributes),
                                    "value": p.as_int if p.HasField("as_int") else p.as_double,
                                    "temporality": m.sum.aggregation_temporality,
                                    "monotonic": m.sum.is_monotonic,
                                    "start": p.start_time_unix_nano, "time": p.time_unix_nano})
                elif kind == "histogram":
                    for p in m.histogram.data_points:
                        out.append({"metric": m.name, "kind": kind, "labels": attrs(p.attributes),
                                    "count": p.count, "sum": p.sum, "buckets": list(p.bucket_counts),
                                    "bounds": list(p.explicit_bounds),
                                    "temporality": m.histogram.aggregation_temporality,
                                    "start": p.start_time_unix_nano, "time": p.time_unix_nano})
                else:
                    out.append({"metric": m.name, "kind": kind})
    return {"resource": resource, "points": out}

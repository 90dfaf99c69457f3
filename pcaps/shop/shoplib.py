"""Helpers shared by build_expected.py and check_shop.py: the topology,
reading the recorded OTLP bodies (opentelemetry-proto) and reading the
captures with tshark.

tshark needs to be told the non-standard ports: gRPC (HTTP/2 cleartext) on
50051, HTTP on 9090 and 8080, and flannel's VXLAN on UDP 8472 (Wireshark
decodes 8472 as OTV by default; only 4789 is VXLAN).
"""
import json
import os
import subprocess

PODS = {
    "frontend": {"ip": "10.244.1.10", "node": "node1"},
    "loadgen": {"ip": "10.244.1.20", "node": "node1"},
    "cart": {"ip": "10.244.2.10", "node": "node2"},
    "catalog": {"ip": "10.244.2.20", "node": "node2"},
    "db": {"ip": "10.244.2.30", "node": "node2"},
}
NODES = {
    "node1": {"underlay_ip": "192.168.50.1", "bridge_ip": "10.244.1.1",
              "pod_cidr": "10.244.1.0/24", "vtep_ip": "10.244.1.0",
              "vtep_mac": "02:fe:0a:f4:01:00"},
    "node2": {"underlay_ip": "192.168.50.2", "bridge_ip": "10.244.2.1",
              "pod_cidr": "10.244.2.0/24", "vtep_ip": "10.244.2.0",
              "vtep_mac": "02:fe:0a:f4:02:00"},
}
VXLAN = {"device": "flannel.1", "vni": 1, "udp_dstport": 8472}
PORTS = {"frontend": 8080, "cart": 50051, "catalog": 9090, "db": 3306}
OTLP_PORT = 38086

# capture file -> (node, interface, what it sees)
CAPTURES = {
    "node1-veth-frontend.pcap": ("node1", "veth-frontend", "pod"),
    "node1-veth-loadgen.pcap": ("node1", "veth-loadgen", "pod"),
    "node1-underlay.pcap": ("node1", "eth0", "underlay"),
    "node2-veth-cart.pcap": ("node2", "veth-cart", "pod"),
    "node2-veth-catalog.pcap": ("node2", "veth-catalog", "pod"),
    "node2-veth-db.pcap": ("node2", "veth-db", "pod"),
}

DECODE = ["-d", "tcp.port==50051,http2", "-d", "tcp.port==9090,http",
          "-d", "tcp.port==8080,http", "-d", "udp.port==8472,vxlan"]

SPAN_KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT",
              4: "PRODUCER", 5: "CONSUMER"}


# --------------------------------------------------------------------------
# OTLP
# --------------------------------------------------------------------------
def _any_value(v):
    k = v.WhichOneof("value")
    if k is None:
        return None
    if k == "array_value":
        return [_any_value(x) for x in v.array_value.values]
    if k == "kvlist_value":
        return {x.key: _any_value(x.value) for x in v.kvlist_value.values}
    if k == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, k)


def attrs(kvs):
    return {kv.key: _any_value(kv.value) for kv in kvs}


def decode_body(path):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest)
    req = ExportTraceServiceRequest()
    with open(path, "rb") as f:
        req.ParseFromString(f.read())
    return req


def load_spans(otlp_dir):
    """Every span of every otlp/*.pb, as plain dicts, in file order."""
    out = []
    for name in sorted(os.listdir(otlp_dir)):
        if not name.endswith(".pb"):
            continue
        req = decode_body(os.path.join(otlp_dir, name))
        for rs in req.resource_spans:
            res = attrs(rs.resource.attributes)
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    out.append({
                        "file": name,
                        "resource": res,
                        "service": res.get("service.name"),
                        "scope": ss.scope.name,
                        "scope_version": ss.scope.version,
                        "trace_id": sp.trace_id.hex(),
                        "span_id": sp.span_id.hex(),
                        "parent_span_id": sp.parent_span_id.hex() or None,
                        "name": sp.name,
                        "kind": SPAN_KINDS.get(sp.kind, str(sp.kind)),
                        "start": sp.start_time_unix_nano,
                        "end": sp.end_time_unix_nano,
                        "attributes": attrs(sp.attributes),
                        "status": sp.status.code,
                        "flags": sp.flags,
                    })
    return out


# --------------------------------------------------------------------------
# tshark
# --------------------------------------------------------------------------
def ns(epoch):
    """'1716212345.123456789' -> int nanoseconds (exact, no float)."""
    sec, _, frac = epoch.partition(".")
    return int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])


def tshark(pcap, fields, display_filter=None, extra=()):
    """One list of field values per frame; each value is the list of the
    field's occurrences (outer first, e.g. outer then inner IP on the
    underlay)."""
    cmd = ["tshark", "-n", "-r", pcap] + DECODE + list(extra)
    if display_filter:
        cmd += ["-Y", display_filter]
    cmd += ["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
            "-E", "aggregator=\x1f"]
    for f in fields:
        cmd += ["-e", f]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    rows = []
    for line in res.stdout.splitlines():
        cols = line.split("\t")
        cols += [""] * (len(fields) - len(cols))
        rows.append([c.split("\x1f") if c != "" else [] for c in cols])
    return rows


def _last(vals):
    return vals[-1] if vals else None


BASE = ["frame.number", "frame.time_epoch", "tcp.stream", "ip.src", "tcp.srcport",
        "ip.dst", "tcp.dstport"]


def _base(row):
    d = {
        "frame": int(row[0][0]),
        "t": ns(row[1][0]),
        "stream": int(_last(row[2])) if row[2] else None,
        "src": "%s:%s" % (_last(row[3]), _last(row[4])),
        "dst": "%s:%s" % (_last(row[5]), _last(row[6])),
    }
    return d


def packets(pcap):
    """Every frame: time, inner 5-tuple, TCP flags, sizes, TTLs, VXLAN."""
    fields = BASE + ["frame.len", "ip.ttl", "tcp.flags.syn", "tcp.flags.ack",
                     "tcp.flags.fin", "tcp.flags.reset", "udp.dstport", "vxlan.vni",
                     "tcp.len", "ip.proto"]
    out = []
    for row in tshark(pcap, fields):
        d = _base(row)
        d.update({
            "len": int(row[7][0]),
            "ttl": [int(x) for x in row[8]],
            "syn": _last(row[9]) in ("1", "True"),
            "ack": _last(row[10]) in ("1", "True"),
            "fin": _last(row[11]) in ("1", "True"),
            "rst": _last(row[12]) in ("1", "True"),
            "udp_dstport": [int(x) for x in row[13]],
            "vni": [int(x) for x in row[14]],
            "tcp_len": int(_last(row[15]) or 0),
            "ip_proto": [int(x) for x in row[16]],
        })
        out.append(d)
    return out


def http_requests(pcap):
    fields = BASE + ["http.request.method", "http.request.uri", "http.request.line"]
    out = []
    for row in tshark(pcap, fields, "http.request"):
        d = _base(row)
        headers = {}
        for line in row[9]:
            line = line.replace("\\r\\n", "").rstrip("\r\n")
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        d.update({"method": _last(row[7]), "target": _last(row[8]), "headers": headers})
        out.append(d)
    return out


def http_responses(pcap):
    fields = BASE + ["http.response.code", "http.request_in"]
    out = []
    for row in tshark(pcap, fields, "http.response"):
        d = _base(row)
        d.update({"status": int(_last(row[7])),
                  "request_frame": int(_last(row[8])) if row[8] else None})
        out.append(d)
    return out


def grpc_requests(pcap):
    """Request HEADERS frames carrying a :path (one per gRPC call here)."""
    fields = BASE + ["http2.streamid", "http2.headers.path", "http2.header.name",
                     "http2.header.value"]
    out = []
    for row in tshark(pcap, fields, "http2.headers.path"):
        d = _base(row)
        sids = sorted({int(x) for x in row[7]} - {0})
        names, values = row[9], row[10]
        headers = {}
        if len(names) == len(values):
            for k, v in zip(names, values):
                headers.setdefault(k, v)
        paths = row[8]
        if len(paths) != 1 or len(sids) != 1:
            raise ValueError("%s frame %d: %d paths / stream ids %s; not handled"
                             % (pcap, d["frame"], len(paths), sids))
        d.update({"h2_stream_id": sids[0], "path": paths[0], "headers": headers})
        out.append(d)
    return out


def mysql_queries(pcap):
    fields = BASE + ["mysql.query"]
    out = []
    for row in tshark(pcap, fields, "mysql.command == 3"):
        d = _base(row)
        if len(row[7]) != 1:
            raise ValueError("%s frame %d: %d queries in one frame; not handled"
                             % (pcap, d["frame"], len(row[7])))
        d["sql"] = row[7][0]
        out.append(d)
    return out


def pcap_magic(pcap):
    with open(pcap, "rb") as f:
        return f.read(4).hex()


def dump_json(obj, path):
    with open(path, "w") as f:
        json.dump(obj, f, sort_keys=True, indent=2)
        f.write("\n")

#!/usr/bin/env python3
"""Write shop.expected.json and otlp/index.json from a gen-shop.sh run.

    python3 build_expected.py --dir pcaps/shop --recorder-index WORK/otlp \
        --loadgen WORK/loadgen.jsonl

The span facts come from the recorded OTLP bodies (decoded with
opentelemetry-proto), following the parent links from each frontend SERVER
span.  The wire facts come from tshark on the captures, matched to the spans
by the traceparent seen on the wire where there is one, and otherwise by
time: the uninstrumented cart -> db query is the MySQL COM_QUERY from the
cart pod inside the cart's gRPC SERVER span, the catalog -> db query the one
from the catalog pod inside the pymysql CLIENT span.  Every step asserts
that exactly one candidate matches.
"""
import argparse
import glob
import json
import os
import platform
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shoplib as L  # noqa: E402

ROLES = ["frontend_server", "frontend_grpc_client", "cart_grpc_server",
         "frontend_http_client", "catalog_server", "catalog_db_client"]


def one(cands, what):
    if len(cands) != 1:
        raise SystemExit("build_expected: %s: %d candidates, want 1: %r"
                         % (what, len(cands), cands))
    return cands[0]


def ep(pod, port=None):
    return "%s:%d" % (L.PODS[pod]["ip"], port or L.PORTS[pod])


def versions():
    from importlib.metadata import version, PackageNotFoundError
    out = {}
    for p in ["opentelemetry-api", "opentelemetry-sdk", "opentelemetry-proto",
              "opentelemetry-exporter-otlp-proto-http", "opentelemetry-instrumentation",
              "opentelemetry-instrumentation-flask", "opentelemetry-instrumentation-grpc",
              "opentelemetry-instrumentation-requests", "opentelemetry-instrumentation-pymysql",
              "flask", "werkzeug", "requests", "grpcio", "protobuf", "PyMySQL"]:
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            out[p] = None
    out["python"] = platform.python_version()
    try:
        out["mariadb"] = subprocess.run(["mariadbd", "--version"], capture_output=True,
                                        text=True).stdout.split()[2]
    except Exception:  # noqa: BLE001
        out["mariadb"] = None
    out["tshark"] = subprocess.run(["tshark", "--version"], capture_output=True,
                                   text=True).stdout.split("\n")[0]
    out["kernel"] = platform.release()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--recorder-index", required=True,
                    help="directory with the recorders' index-<node>.jsonl")
    ap.add_argument("--loadgen", required=True)
    a = ap.parse_args()
    D = a.dir
    otlp = os.path.join(D, "otlp")

    # ---- otlp/index.json ---------------------------------------------------
    entries = []
    for f in sorted(glob.glob(os.path.join(a.recorder_index, "index-*.jsonl"))):
        for line in open(f):
            entries.append(json.loads(line))
    entries.sort(key=lambda e: e["file"])
    have = sorted(os.path.basename(p) for p in glob.glob(os.path.join(otlp, "*.pb")))
    if [e["file"] for e in entries] != have:
        raise SystemExit("build_expected: index and otlp/*.pb differ")
    spans = L.load_spans(otlp)
    per_file = {}
    for s in spans:
        per_file.setdefault(s["file"], []).append(s)
    for e in entries:
        fs = per_file.get(e["file"], [])
        e["spans"] = len(fs)
        e["services"] = sorted({s["service"] for s in fs})
        e["message"] = "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest"
    L.dump_json({"bodies": entries}, os.path.join(otlp, "index.json"))

    # ---- spans -----------------------------------------------------------------
    by_id = {}
    for s in spans:
        if s["span_id"] in by_id:
            raise SystemExit("build_expected: span id %s twice" % s["span_id"])
        by_id[s["span_id"]] = s
    kids = {}
    for s in spans:
        kids.setdefault(s["parent_span_id"], []).append(s)

    def child(parent, pred, what):
        return one([s for s in kids.get(parent["span_id"], []) if pred(s)], what)

    fe_servers = sorted([s for s in spans if s["service"] == "frontend" and s["kind"] == "SERVER"],
                        key=lambda s: s["start"])

    # ---- captures ------------------------------------------------------------------
    P = {name: os.path.join(D, name) for name in L.CAPTURES}
    pk = {name: L.packets(p) for name, p in P.items()}
    lg_http = L.http_requests(P["node1-veth-loadgen.pcap"])
    fe_http = L.http_requests(P["node1-veth-frontend.pcap"])
    fe_grpc = L.grpc_requests(P["node1-veth-frontend.pcap"])
    db_sql = L.mysql_queries(P["node2-veth-db.pcap"])
    lg_rsp = L.http_responses(P["node1-veth-loadgen.pcap"])
    fe_rsp = L.http_responses(P["node1-veth-frontend.pcap"])

    def tuples_in(name):
        out = set()
        for p in pk[name]:
            if p["stream"] is None:
                continue
            out.add((p["src"], p["dst"]))
            out.add((p["dst"], p["src"]))
        return out
    tup = {name: tuples_in(name) for name in L.CAPTURES}

    def captured_in(client, server):
        return sorted(n for n in L.CAPTURES if (client, server) in tup[n])

    def syn_time(name, client, server):
        ts = [p["t"] for p in pk[name] if p["syn"] and not p["ack"]
              and p["src"] == client and p["dst"] == server]
        return ts[0] if ts else None

    def status_of(rsps, req):
        return one([r["status"] for r in rsps if r["request_frame"] == req["frame"]],
                   "response to frame %d" % req["frame"])

    loadgen = [json.loads(line) for line in open(a.loadgen)]
    if len(lg_http) != len(loadgen) or len(fe_servers) != len(loadgen):
        raise SystemExit("build_expected: %d loadgen requests, %d on the wire, %d frontend "
                         "SERVER spans" % (len(loadgen), len(lg_http), len(fe_servers)))

    requests = []
    used_sql = set()
    for k, (lg, wire, fe) in enumerate(zip(loadgen, lg_http, fe_servers)):
        target = "/shop?user=%d" % lg["k"]
        if wire["target"] != target or wire["src"] != lg["client"] or wire["dst"] != lg["server"]:
            raise SystemExit("build_expected: request %d: wire %r vs loadgen %r" % (k, wire, lg))
        fa = fe["attributes"]
        if "user=%d" % lg["k"] not in (fa.get("url.query") or fa.get("http.target") or ""):
            raise SystemExit("build_expected: request %d: frontend span %r" % (k, fa))
        if not wire["t"] <= fe["start"]:
            raise SystemExit("build_expected: request %d: span starts before the request" % k)
        sp = {"frontend_server": fe}
        sp["frontend_grpc_client"] = child(
            fe, lambda s: s["kind"] == "CLIENT" and s["attributes"].get("rpc.system") == "grpc",
            "gRPC CLIENT span of request %d" % k)
        sp["frontend_http_client"] = child(
            fe, lambda s: s["kind"] == "CLIENT" and s["attributes"].get("rpc.system") is None
            and s["scope"].startswith("opentelemetry.instrumentation.requests"),
            "HTTP CLIENT span of request %d" % k)
        gc = sp["frontend_grpc_client"]
        cart_linked = [s for s in kids.get(gc["span_id"], [])
                       if s["service"] == "cart" and s["kind"] == "SERVER"]
        if cart_linked:
            sp["cart_grpc_server"] = one(cart_linked, "cart SERVER span of request %d" % k)
            grpc_propagated = True
        else:   # no traceparent in the gRPC metadata: match by time
            sp["cart_grpc_server"] = one(
                [s for s in spans if s["service"] == "cart" and s["kind"] == "SERVER"
                 and gc["start"] <= s["start"] and s["end"] <= gc["end"]],
                "cart SERVER span of request %d (by time)" % k)
            grpc_propagated = False
        sp["catalog_server"] = child(
            sp["frontend_http_client"],
            lambda s: s["service"] == "catalog" and s["kind"] == "SERVER",
            "catalog SERVER span of request %d" % k)
        sp["catalog_db_client"] = child(
            sp["catalog_server"],
            lambda s: s["kind"] == "CLIENT" and s["attributes"].get("db.system",
                                                                    s["attributes"].get("db.system.name")) == "mysql",
            "catalog DB CLIENT span of request %d" % k)
        trace_id = fe["trace_id"]
        for role, s in sp.items():
            if s["trace_id"] != trace_id and not (role == "cart_grpc_server" and not grpc_propagated):
                raise SystemExit("build_expected: %s of request %d in trace %s, not %s"
                                 % (role, k, s["trace_id"], trace_id))

        def tp(role):   # traceparent minus version and flags: trace-id-parent-id
            s = sp[role]
            return "%s-%s" % (s["trace_id"], s["span_id"])

        def tp_of(headers):
            v = headers.get("traceparent")
            return "-".join(v.split("-")[1:3]) if v else None

        calls = {}
        # loadgen -> frontend
        calls["loadgen_to_frontend"] = {
            "protocol": "http", "client": wire["src"], "server": wire["dst"],
            "client_span": None, "server_span": "frontend_server", "parent_span": None,
            "method": wire["method"], "target": wire["target"],
            "traceparent": wire["headers"].get("traceparent"),
            "status": status_of(lg_rsp, wire),
        }
        # frontend -> cart (gRPC): the GetCart HEADERS whose traceparent is the
        # gRPC CLIENT span's; without one, the HEADERS inside that span
        gw = [g for g in fe_grpc if tp_of(g["headers"]) == tp("frontend_grpc_client")]
        if not any(tp_of(g["headers"]) for g in fe_grpc):
            gw = [g for g in fe_grpc if gc["start"] <= g["t"] <= gc["end"]]
        g = one(gw, "GetCart HEADERS of request %d" % k)
        calls["frontend_to_cart"] = {
            "protocol": "grpc", "client": g["src"], "server": g["dst"],
            "client_span": "frontend_grpc_client", "server_span": "cart_grpc_server",
            "parent_span": "frontend_server",
            "path": g["path"], "h2_stream_id": g["h2_stream_id"],
            "traceparent": g["headers"].get("traceparent"),
        }
        # frontend -> catalog (HTTP)
        hc = sp["frontend_http_client"]
        hw = [h for h in fe_http if h["dst"] == ep("catalog")
              and tp_of(h["headers"]) == tp("frontend_http_client")]
        if not any(tp_of(h["headers"]) for h in fe_http):
            hw = [h for h in fe_http if h["dst"] == ep("catalog")
                  and hc["start"] <= h["t"] <= hc["end"]]
        h = one(hw, "GET /items of request %d" % k)
        calls["frontend_to_catalog"] = {
            "protocol": "http", "client": h["src"], "server": h["dst"],
            "client_span": "frontend_http_client", "server_span": "catalog_server",
            "parent_span": "frontend_server",
            "method": h["method"], "target": h["target"],
            "traceparent": h["headers"].get("traceparent"),
            "status": status_of(fe_rsp, h),
        }
        # cart -> db (uninstrumented): COM_QUERYs from the cart pod inside the
        # cart SERVER span
        cs = sp["cart_grpc_server"]
        q = [x for x in db_sql if x["src"].startswith(L.PODS["cart"]["ip"] + ":")
             and cs["start"] <= x["t"] <= cs["end"]]
        conn = one(sorted({(x["src"], x["dst"]) for x in q}), "cart DB connection of request %d" % k)
        calls["cart_to_db"] = {
            "protocol": "mysql", "client": conn[0], "server": conn[1],
            "client_span": None, "server_span": None, "parent_span": "cart_grpc_server",
            "sql": [x["sql"] for x in q],
        }
        used_sql.update(x["frame"] for x in q)
        # catalog -> db (instrumented): COM_QUERYs from the catalog pod inside
        # the catalog SERVER span (the connection's set-up, done by the first
        # request, lies outside the pymysql CLIENT span), and which of them
        # lie inside the pymysql CLIENT span
        cat = sp["catalog_server"]
        dc = sp["catalog_db_client"]
        q = [x for x in db_sql if x["src"].startswith(L.PODS["catalog"]["ip"] + ":")
             and cat["start"] <= x["t"] <= cat["end"]]
        conn = one(sorted({(x["src"], x["dst"]) for x in q}),
                   "catalog DB connection of request %d" % k)
        da = dc["attributes"]
        calls["catalog_to_db"] = {
            "protocol": "mysql", "client": conn[0], "server": conn[1],
            "client_span": "catalog_db_client", "server_span": None,
            "parent_span": "catalog_server",
            "sql": [x["sql"] for x in q],
            "sql_in_client_span": [x["sql"] for x in q if dc["start"] <= x["t"] <= dc["end"]],
            "span_statement": da.get("db.statement", da.get("db.query.text")),
        }
        if len(calls["catalog_to_db"]["sql_in_client_span"]) != 1:
            raise SystemExit("build_expected: request %d: %r" % (k, calls["catalog_to_db"]))
        used_sql.update(x["frame"] for x in q)

        for name, c in calls.items():
            c["transport"] = "tcp"
            c["captured_in"] = captured_in(c["client"], c["server"])
            # did this call open its TCP connection?  (its SYN lies between
            # the loadgen's request and the end of the frontend SERVER span)
            cap = [n for n in c["captured_in"] if n != "node1-underlay.pcap"][0]
            st = syn_time(cap, c["client"], c["server"])
            c["new_connection"] = st is not None and wire["t"] - 100_000_000 <= st <= fe["end"]

        requests.append({
            "index": k,
            "url": lg["url"],
            "trace_id": trace_id,
            "grpc_traceparent_propagated": grpc_propagated,
            "spans": {role: {
                "span_id": s["span_id"], "parent_span_id": s["parent_span_id"],
                "trace_id": s["trace_id"], "service": s["service"], "kind": s["kind"],
                "name": s["name"], "scope": s["scope"], "flags": s["flags"],
                "start_unix_nano": s["start"], "end_unix_nano": s["end"],
                "otlp_file": s["file"],
            } for role, s in sp.items()},
            "calls": calls,
            "response": lg["response"],
        })

    unmatched = [x["sql"] for x in db_sql if x["frame"] not in used_sql]
    if unmatched:
        raise SystemExit("build_expected: queries not matched to a request: %r" % unmatched)
    per_req = {len(kids_all) for kids_all in [[s for s in spans if s["trace_id"] == r["trace_id"]]
                                              for r in requests]}

    captures = {}
    for name, (node, dev, kind) in L.CAPTURES.items():
        ps = pk[name]
        captures[name] = {
            "node": node, "interface": dev, "kind": kind,
            "packets": len(ps),
            "tcp_connections": len({p["stream"] for p in ps}),
            "max_frame_len": max(p["len"] for p in ps),
            "pcap_magic": L.pcap_magic(P[name]),
            "bytes": os.path.getsize(P[name]),
        }
    expected = {
        "description": "wirespan shop demo (pcaps/shop/gen-shop.sh): per loadgen request, "
                       "the app spans (from otlp/*.pb) and the calls on the wire (from the "
                       "pcaps); see README.md",
        "topology": {"pods": L.PODS, "nodes": L.NODES, "vxlan": L.VXLAN,
                     "service_ports": L.PORTS, "otlp_port": L.OTLP_PORT,
                     "pod_mtu": 1450, "underlay_mtu": 1500},
        "captures": captures,
        "otlp": {"bodies": len(entries), "spans": len(spans),
                 "spans_per_request": sorted(per_req)},
        "requests": requests,
        "environment": versions(),
    }
    L.dump_json(expected, os.path.join(D, "shop.expected.json"))
    print("build_expected: %d requests, %d spans in %d bodies" % (len(requests), len(spans),
                                                                 len(entries)))


if __name__ == "__main__":
    main()

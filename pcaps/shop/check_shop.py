#!/usr/bin/env python3
"""Verify shop.expected.json (in this directory, or in DIR) against the captures (tshark) and the recorded
OTLP bodies (opentelemetry-proto).  Prints one line per group of checks and
exits 1 on any mismatch.  Run by check.sh.

It re-reads everything from the files and checks each stated fact:
  * otlp/index.json lists exactly otlp/*.pb; every body is an
    ExportTraceServiceRequest with the stated content type and size;
  * per request: each span exists with the stated ids, service, kind, name,
    times and file; the parent links form the stated tree, in one trace;
    the resource says which pod sent it (k8s.pod.ip, host.name);
  * per call: the 5-tuple is seen in exactly the stated captures; the
    request on it (HTTP request line / gRPC HEADERS / MySQL COM_QUERYs) is
    the stated one, with the stated traceparent; on the wire it lies inside
    the client span and before the server span starts (same host clock);
    the server-side span's own peer address names the same client port
    where the instrumentation records one;
  * the captures: nanosecond pcap, stated packet counts, only the shop's
    TCP (no OTLP port 38086), frame sizes within the MTUs, and the underlay
    holds VXLAN VNI 1 on UDP 8472 between the two nodes' underlay IPs,
    carrying exactly the cross-node calls;
  * the outputs stay under 2 MB.
"""
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shoplib as L  # noqa: E402

D = os.path.dirname(os.path.abspath(__file__))
if len(sys.argv) > 1:          # check.sh [DIR]: another copy of the outputs
    D = os.path.abspath(sys.argv[1])
FAIL = []
OK = [0]


def check(cond, what):
    if cond:
        OK[0] += 1
    else:
        FAIL.append(what)
        print("CHECK FAILED: %s" % what, file=sys.stderr)


def eq(got, want, what):
    check(got == want, "%s: got %r want %r" % (what, got, want))


def main():
    exp = json.load(open(os.path.join(D, "shop.expected.json")))
    otlp = os.path.join(D, "otlp")

    # ---- OTLP bodies -------------------------------------------------------
    idx = json.load(open(os.path.join(otlp, "index.json")))["bodies"]
    files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(otlp, "*.pb")))
    eq(sorted(e["file"] for e in idx), files, "otlp/index.json lists otlp/*.pb")
    spans = L.load_spans(otlp)
    for e in idx:
        eq(e["content_type"], "application/x-protobuf", "%s content type" % e["file"])
        eq(e["bytes"], os.path.getsize(os.path.join(otlp, e["file"])), "%s size" % e["file"])
        eq(e["spans"], sum(1 for s in spans if s["file"] == e["file"]), "%s spans" % e["file"])
        check(e["path"] in ("/api/v1/otel/trace", "/v1/traces"), "%s path" % e["file"])
        check(e["file"].startswith(e["node"] + "-"), "%s node" % e["file"])
    by_id = {s["span_id"]: s for s in spans}
    eq(len(by_id), len(spans), "span ids unique")
    eq(len(idx), exp["otlp"]["bodies"], "OTLP bodies")
    eq(len(spans), exp["otlp"]["spans"], "OTLP spans")
    # every span sent by a pod reached the recorder of that pod's node
    for s in spans:
        pod = s["resource"].get("host.name")
        check(pod in L.PODS, "span %s host.name %r" % (s["span_id"], pod))
        if pod in L.PODS:
            eq(s["resource"].get("k8s.pod.ip"), L.PODS[pod]["ip"], "span %s k8s.pod.ip" % s["span_id"])
            check(s["file"].startswith(L.PODS[pod]["node"] + "-"),
                  "span %s of %s recorded on %s" % (s["span_id"], pod, s["file"]))
            eq(s["service"], pod, "span %s service.name" % s["span_id"])
    print("ok: %d OTLP bodies, %d spans, index.json consistent" % (len(idx), len(spans)))

    # ---- captures ------------------------------------------------------------
    P = {n: os.path.join(D, n) for n in L.CAPTURES}
    pk = {n: L.packets(p) for n, p in P.items()}
    for n, (node, dev, kind) in L.CAPTURES.items():
        c = exp["captures"][n]
        eq(L.pcap_magic(P[n]), "4d3cb2a1", "%s is a nanosecond pcap" % n)
        eq(len(pk[n]), c["packets"], "%s packets" % n)
        eq(len({p["stream"] for p in pk[n]}), c["tcp_connections"], "%s TCP connections" % n)
        check(all(p["stream"] is not None for p in pk[n]), "%s: only TCP" % n)
        check(not any(str(L.OTLP_PORT) in (p["src"].split(":")[1], p["dst"].split(":")[1])
                      for p in pk[n]), "%s: no OTLP traffic" % n)
        if kind == "underlay":
            check(all(p["len"] <= 1514 for p in pk[n]), "%s frames <= 1514" % n)
            check(all(p["vni"] == [L.VXLAN["vni"]] and p["udp_dstport"] == [L.VXLAN["udp_dstport"]]
                      for p in pk[n]), "%s: all VXLAN VNI 1 / UDP 8472" % n)
            check(all(p["ip_proto"] == [17, 6] for p in pk[n]), "%s: outer UDP, inner TCP" % n)
            # inner TTL: routed once by the sending node (64 -> 63)
            check(all(p["ttl"][1] == 63 for p in pk[n]), "%s: inner TTL 63" % n)
        else:
            check(all(p["len"] <= 1464 for p in pk[n]), "%s frames <= 1464 (MTU 1450)" % n)
        print("ok: %s: %d packets, %d TCP connections" % (n, c["packets"], c["tcp_connections"]))
    # outer addresses of the underlay
    outer = set()
    for row in L.tshark(P["node1-underlay.pcap"], ["ip.src", "ip.dst"]):
        outer.add((row[0][0], row[1][0]))
    eq(outer, {("192.168.50.1", "192.168.50.2"), ("192.168.50.2", "192.168.50.1")},
       "underlay outer addresses")

    def tuples(n):
        return {(p["src"], p["dst"]) for p in pk[n]}
    tup = {n: tuples(n) for n in L.CAPTURES}

    http = {n: L.http_requests(P[n]) for n in L.CAPTURES}
    rsp = {n: L.http_responses(P[n]) for n in L.CAPTURES}
    grpc = {n: L.grpc_requests(P[n]) for n in L.CAPTURES}
    sql = {n: L.mysql_queries(P[n]) for n in L.CAPTURES}
    underlay_tuples = set()

    # ---- requests ---------------------------------------------------------------
    eq(len(http["node1-veth-loadgen.pcap"]), len(exp["requests"]), "loadgen requests on the wire")
    tree = {
        "frontend_server": (None, "frontend", "SERVER"),
        "frontend_grpc_client": ("frontend_server", "frontend", "CLIENT"),
        "frontend_http_client": ("frontend_server", "frontend", "CLIENT"),
        "cart_grpc_server": ("frontend_grpc_client", "cart", "SERVER"),
        "catalog_server": ("frontend_http_client", "catalog", "SERVER"),
        "catalog_db_client": ("catalog_server", "catalog", "CLIENT"),
    }
    seen_spans = set()
    for r in exp["requests"]:
        k = r["index"]
        user = k + 1
        eq(r["url"], "http://%s:8080/shop?user=%d" % (L.PODS["frontend"]["ip"], user),
           "request %d url" % k)
        eq(sorted(r["spans"]), sorted(tree), "request %d span roles" % k)
        S = {}
        for role, (parent, svc, kind) in tree.items():
            e = r["spans"][role]
            s = by_id.get(e["span_id"])
            check(s is not None, "request %d %s span %s in the bodies" % (k, role, e["span_id"]))
            if s is None:
                continue
            S[role] = s
            seen_spans.add(s["span_id"])
            eq(s["trace_id"], r["trace_id"], "request %d %s trace id" % (k, role))
            eq(s["service"], svc, "request %d %s service" % (k, role))
            eq(s["kind"], kind, "request %d %s kind" % (k, role))
            for f, g in [("trace_id", "trace_id"), ("parent_span_id", "parent_span_id"),
                         ("name", "name"), ("scope", "scope"), ("flags", "flags"),
                         ("start_unix_nano", "start"), ("end_unix_nano", "end"),
                         ("otlp_file", "file"), ("service", "service"), ("kind", "kind")]:
                eq(s[g], e[f], "request %d %s %s" % (k, role, f))
            want_parent = r["spans"][parent]["span_id"] if parent else None
            eq(s["parent_span_id"], want_parent, "request %d %s parent" % (k, role))
            check(s["start"] <= s["end"], "request %d %s start <= end" % (k, role))
            if parent and parent in S:
                p = S[parent]
                if s["service"] == p["service"]:   # same process: nested in time
                    check(p["start"] <= s["start"] and s["end"] <= p["end"],
                          "request %d %s inside %s" % (k, role, parent))
        if len(S) != len(tree):
            continue
        fa = S["frontend_server"]["attributes"]
        eq(fa.get("http.target", fa.get("url.query")), "/shop?user=%d" % user,
           "request %d frontend SERVER target" % k)
        eq(S["frontend_http_client"]["attributes"].get("http.url",
           S["frontend_http_client"]["attributes"].get("url.full")),
           "http://%s/items?user=%d" % ("%s:9090" % L.PODS["catalog"]["ip"], user),
           "request %d requests CLIENT url" % k)
        eq(S["frontend_grpc_client"]["attributes"].get("rpc.method"), "GetCart",
           "request %d gRPC CLIENT method" % k)
        eq(S["catalog_db_client"]["attributes"].get("db.system"), "mysql",
           "request %d DB CLIENT db.system" % k)

        # ---- the calls ----
        C = r["calls"]
        eq(sorted(C), sorted(["loadgen_to_frontend", "frontend_to_cart", "cart_to_db",
                              "frontend_to_catalog", "catalog_to_db"]), "request %d calls" % k)
        for name, c in C.items():
            t = (c["client"], c["server"])
            got = sorted(n for n in L.CAPTURES if t in tup[n] and (t[1], t[0]) in tup[n])
            eq(got, c["captured_in"], "request %d %s captured in" % (k, name))
            eq(c["transport"], "tcp", "request %d %s transport" % (k, name))
            if "node1-underlay.pcap" in got:
                underlay_tuples.add(t)
            cli_pod = [p for p, v in L.PODS.items() if c["client"].startswith(v["ip"] + ":")]
            srv_pod = [p for p, v in L.PODS.items() if c["server"] == "%s:%d" % (v["ip"], L.PORTS.get(p, -1))]
            check(len(cli_pod) == 1 and len(srv_pod) == 1 and
                  name == "%s_to_%s" % (cli_pod[0], srv_pod[0]),
                  "request %d %s endpoints %s -> %s" % (k, name, c["client"], c["server"]))
            cross = L.PODS[cli_pod[0]]["node"] != L.PODS[srv_pod[0]]["node"] if cli_pod and srv_pod else None
            eq("node1-underlay.pcap" in got, cross, "request %d %s on the underlay iff cross-node" % (k, name))
            # pod-side captures of the two ends
            cli_cap = "%s-veth-%s.pcap" % (L.PODS[cli_pod[0]]["node"], cli_pod[0])
            srv_cap = "%s-veth-%s.pcap" % (L.PODS[srv_pod[0]]["node"], srv_pod[0])

            def span_of(role):
                return S[role] if role else None
            cs, ss = span_of(c["client_span"]), span_of(c["server_span"])
            ps = span_of(c["parent_span"])

            if c["protocol"] == "http":
                for cap in (cli_cap, srv_cap):
                    reqs = [h for h in http[cap] if (h["src"], h["dst"]) == t]
                    # one request per connection here
                    check(len(reqs) == 1, "request %d %s: one HTTP request in %s" % (k, name, cap))
                    if len(reqs) != 1:
                        continue
                    h = reqs[0]
                    eq((h["method"], h["target"]), (c["method"], c["target"]),
                       "request %d %s request line in %s" % (k, name, cap))
                    eq(h["headers"].get("traceparent"), c["traceparent"],
                       "request %d %s traceparent in %s" % (k, name, cap))
                    st = [x["status"] for x in rsp[cap] if x["request_frame"] == h["frame"]]
                    eq(st, [c["status"]], "request %d %s status in %s" % (k, name, cap))
                    if cap == cli_cap and cs:
                        check(cs["start"] <= h["t"] <= cs["end"],
                              "request %d %s: wire request inside the client span" % (k, name))
                    if cap == srv_cap and ss:
                        check(h["t"] <= ss["start"],
                              "request %d %s: wire request before the server span" % (k, name))
                        sa = ss["attributes"]
                        peer = "%s:%s" % (sa.get("net.peer.ip", sa.get("client.address")),
                                          sa.get("net.peer.port", sa.get("client.port")))
                        eq(peer, c["client"], "request %d %s: server span's peer" % (k, name))
            elif c["protocol"] == "grpc":
                for cap in (cli_cap, srv_cap):
                    gs = [g for g in grpc[cap] if (g["src"], g["dst"]) == t
                          and g["h2_stream_id"] == c["h2_stream_id"]]
                    check(len(gs) == 1, "request %d %s: HEADERS of stream %d in %s"
                          % (k, name, c["h2_stream_id"], cap))
                    if len(gs) != 1:
                        continue
                    g = gs[0]
                    eq(g["path"], c["path"], "request %d %s path in %s" % (k, name, cap))
                    eq(g["headers"].get("traceparent"), c["traceparent"],
                       "request %d %s traceparent in %s" % (k, name, cap))
                    if cap == cli_cap:
                        check(cs["start"] <= g["t"] <= cs["end"],
                              "request %d %s: wire request inside the client span" % (k, name))
                    else:
                        check(g["t"] <= ss["start"],
                              "request %d %s: wire request before the server span" % (k, name))
                        eq("%s:%s" % (ss["attributes"].get("net.peer.ip"),
                                      ss["attributes"].get("net.peer.port")),
                           c["client"], "request %d %s: server span's peer" % (k, name))
                # the traceparent names the gRPC CLIENT span
                if r["grpc_traceparent_propagated"]:
                    eq(c["traceparent"].split("-")[1:3], [r["trace_id"], cs["span_id"]],
                       "request %d %s traceparent names the CLIENT span" % (k, name))
            elif c["protocol"] == "mysql":
                for cap in (cli_cap, srv_cap):
                    qs = [q for q in sql[cap] if (q["src"], q["dst"]) == t
                          and ps["start"] <= q["t"] <= ps["end"]]
                    eq([q["sql"] for q in qs], c["sql"], "request %d %s SQL in %s" % (k, name, cap))
                    if cs:
                        inside = [q["sql"] for q in qs if cs["start"] <= q["t"] <= cs["end"]]
                        eq(inside, c["sql_in_client_span"],
                           "request %d %s SQL inside the DB CLIENT span in %s" % (k, name, cap))
                if cs:
                    stmt = cs["attributes"].get("db.statement")
                    eq(stmt, c["span_statement"], "request %d %s db.statement" % (k, name))
                    eq(stmt.replace("%s", str(user)), c["sql_in_client_span"][0],
                       "request %d %s statement vs wire" % (k, name))
                    eq(cs["attributes"].get("net.peer.port"), int(c["server"].split(":")[1]),
                       "request %d %s DB span server port" % (k, name))
            else:
                check(False, "request %d %s protocol %r" % (k, name, c["protocol"]))
            # new_connection: the SYN lies inside this request
            syn = [p["t"] for p in pk[cli_cap] if p["syn"] and not p["ack"]
                   and (p["src"], p["dst"]) == t]
            lo = http["node1-veth-loadgen.pcap"][k]["t"] - 100_000_000
            eq(bool(syn) and lo <= syn[0] <= S["frontend_server"]["end"], c["new_connection"],
               "request %d %s new connection" % (k, name))
        # the loadgen call is the k-th on the loadgen's veth
        h = http["node1-veth-loadgen.pcap"][k]
        eq((h["src"], h["dst"]), (C["loadgen_to_frontend"]["client"], C["loadgen_to_frontend"]["server"]),
           "request %d is the %d-th loadgen request" % (k, k))
        print("ok: request %d (%s): trace %s, 6 spans, 5 calls" % (k, r["url"], r["trace_id"]))

    eq(seen_spans, set(by_id), "every recorded span belongs to a request")
    # the underlay carries exactly the cross-node calls
    inner = {(p["src"], p["dst"]) for p in pk["node1-underlay.pcap"]}
    inner |= {(b, a) for a, b in inner}
    want = underlay_tuples | {(b, a) for a, b in underlay_tuples}
    eq(inner, want, "underlay holds exactly the cross-node calls")
    # every COM_QUERY on the db's veth is stated by some call
    stated = sorted(q for r in exp["requests"] for c in r["calls"].values()
                    if c["protocol"] == "mysql" for q in c["sql"])
    eq(sorted(q["sql"] for q in sql["node2-veth-db.pcap"]), stated, "all SQL on the db veth stated")

    # ---- size ----------------------------------------------------------------------
    total = 0
    for root, _, fs in os.walk(D):
        if "__pycache__" in root:
            continue
        total += sum(os.path.getsize(os.path.join(root, f)) for f in fs)
    check(total < 2 * 1024 * 1024, "pcaps/shop is %d bytes, limit 2 MB" % total)
    print("ok: pcaps/shop is %d bytes" % total)

    if FAIL:
        print("check_shop: %d checks passed, %d FAILED" % (OK[0], len(FAIL)), file=sys.stderr)
        sys.exit(1)
    print("check_shop: %d checks passed, 0 failed" % OK[0])


if __name__ == "__main__":
    main()

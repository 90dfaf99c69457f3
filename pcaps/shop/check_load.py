#!/usr/bin/env python3
"""Holds wirespan's joins on the shop under load against what really happened.

    python3 check_load.py [--json] [--label L] LOADDIR OUTPUT.jsonl [OUTPUT.jsonl ...]

LOADDIR holds what gen-load.sh (or live-shop.sh) recorded: `loadgen.jsonl` (the load
generator's requests: user, its client ip:port) and `cart-records.jsonl` /
`catalog-records.jsonl` (each service's own record of every call it served: user, the trace
and span it ran in, the local port of its DB connection, whether it opened that connection).
The outputs are wirespan's OTLP/JSON lines (the union is read, so the two live agents'
files can be given together).

Every network span gets the user it was really for, from the records alone, never from
wirespan's ids:
  loadgen -> frontend   the loadgen's client port
  frontend -> cart      the user id in the gRPC request message (the bytes the client sent)
  frontend -> catalog   `user=` in the query string
  cart -> db            the DB connection's port, from cart's record (a connection per call);
                        a SELECT must also name that user
  catalog -> db         a SELECT names its user; the connection's first commands (login,
                        SET NAMES) belong to the call that opened it; its COM_QUIT at
                        shutdown belongs to no request
The user's trace is the trace of the frontend SERVER span whose target asks for that user.

A span is RIGHT when it is in its user's trace and, for a call made by an app, its nearest app
ancestor is a span of that app; WRONG when it is in another user's trace or under another
app; AMBIGUOUS when wirespan left it out with links to candidates (each must list the right
one); UNJOINED otherwise. A span that belongs to no request is right when unjoined, wrong
when joined. Precision = right / (right + wrong); recall = right / all.
Prints a table per call kind (or --json); exits 1 on any wrong span or an ambiguous one
whose links miss the right candidate.
"""
import argparse
import json
import re
import sys
from collections import defaultdict

KINDS = ["loadgen->frontend", "frontend->cart", "frontend->catalog", "cart->db", "catalog->db"]
CALLER = {"frontend->cart": "frontend", "frontend->catalog": "frontend",
          "cart->db": "cart", "catalog->db": "catalog"}
PORT_KIND = {8080: "loadgen->frontend", 50051: "frontend->cart", 9090: "frontend->catalog"}
CART_IP, CATALOG_IP = "10.244.2.10", "10.244.2.20"


def attrs(obj):
    out = {}
    for a in obj.get("attributes", []):
        v = a.get("value", {})
        out[a["key"]] = next(iter(v.values()), None) if v else None
    return out


def load_spans(paths):
    spans = []
    for p in paths:
        for line in open(p):
            if not line.strip():
                continue
            for rs in json.loads(line).get("resourceSpans", []):
                service = attrs(rs.get("resource", {})).get("service.name")
                for ss in rs.get("scopeSpans", []):
                    for s in ss.get("spans", []):
                        s["_a"] = attrs(s)
                        s["_service"] = service
                        s["_net"] = any(k.startswith("wirespan.") and k not in (
                            "wirespan.reparented_from",) for k in s["_a"])
                        spans.append(s)
    return spans


def read_jsonl(path):
    try:
        return [json.loads(l) for l in open(path) if l.strip()]
    except FileNotFoundError:
        return []


def user_in_sql(sql):
    m = re.search(r"user_id\s*=\s*(\d+)", sql or "")
    return int(m.group(1)) if m else None


def check(loaddir, outputs):
    spans = load_spans(outputs)
    by_id = {(s["traceId"], s["spanId"]): s for s in spans}
    loadgen = read_jsonl(loaddir + "/loadgen.jsonl")
    cart = read_jsonl(loaddir + "/cart-records.jsonl")
    catalog = read_jsonl(loaddir + "/catalog-records.jsonl")
    user_of_loadgen_port = {int(r["client"].rsplit(":", 1)[1]): r["k"] for r in loadgen}
    cart_port_user = {r["db_port"]: r["user"] for r in cart}
    catalog_opener = {r["db_port"]: r["user"] for r in catalog if r["opened_connection"]}

    trace_of_user = {}
    for s in spans:
        if s["_net"] or s["_service"] != "frontend" or s.get("kind") != 2:
            continue
        target = s["_a"].get("http.target") or s["_a"].get("url.query") or ""
        m = re.search(r"user=(\d+)", target)
        if m:
            trace_of_user[int(m.group(1))] = s["traceId"]
    user_of_trace = {t: u for u, t in trace_of_user.items()}
    problems = []
    missing = [r["k"] for r in loadgen if r["k"] not in trace_of_user]
    if missing:
        problems.append("no frontend SERVER span for users %s" % missing)

    def truth(s):
        """(kind, user or None for 'no request', or 'skip')."""
        a = s["_a"]
        port = a.get("server.port")
        port = int(port) if port is not None else None
        client = a.get("client.address")
        cport = int(a.get("client.port", 0))
        if port in PORT_KIND:
            kind = PORT_KIND[port]
            if kind == "loadgen->frontend":
                return kind, user_of_loadgen_port.get(cport, "skip")
            if kind == "frontend->cart":
                ids = a.get("wirespan.request.identifiers")
                return kind, int(ids.split(",")[0]) if ids else "skip"
            m = re.search(r"user=(\d+)", a.get("url.query") or "")
            return kind, int(m.group(1)) if m else "skip"
        if port == 3306 and client == CART_IP:
            u = cart_port_user.get(cport)
            q = user_in_sql(a.get("db.query.text"))
            if u is None:
                return "cart->db", "skip"
            if q is not None and q != u:
                problems.append("cart SQL for user %s on user %s's connection" % (q, u))
            return "cart->db", u
        if port == 3306 and client == CATALOG_IP:
            q = user_in_sql(a.get("db.query.text"))
            if q is not None:
                return "catalog->db", q
            if a.get("db.operation.name") == "COM_QUIT":
                return "catalog->db", None
            return "catalog->db", catalog_opener.get(cport, "skip")
        return None, "skip"

    def app_ancestor(s):
        seen = 0
        while seen < 64:
            p = by_id.get((s["traceId"], s.get("parentSpanId", "")))
            if p is None:
                return None
            if not p["_net"]:
                return p
            s = p
            seen += 1
        return None

    fields = ("spans", "right", "wrong", "ambiguous", "ambiguous_missing_right", "unjoined")
    table = {k: dict.fromkeys(fields, 0) for k in KINDS}
    for s in spans:
        if not s["_net"]:
            continue
        kind, user = truth(s)
        if kind is None or user == "skip":
            continue
        row = table[kind]
        row["spans"] += 1
        joined_user = user_of_trace.get(s["traceId"])
        ambiguous = s["_a"].get("wirespan.join.ambiguous")
        where = "%s span %s (%s %s) for user %s" % (
            kind, s["spanId"], s.get("name"), s["_a"].get("wirespan.capture.point"), user)
        if user is None:
            if joined_user is None:
                row["right"] += 1
            else:
                row["wrong"] += 1
                problems.append("%s: belongs to no request, joined to user %s's trace"
                                % (where, joined_user))
            continue
        if joined_user is None:
            if ambiguous:
                row["ambiguous"] += 1
                links = {l["traceId"] for l in s.get("links", [])}
                if s.get("links") and trace_of_user.get(user) not in links:
                    row["ambiguous_missing_right"] += 1
                    problems.append("%s: ambiguous, but no link to the right trace" % where)
            else:
                row["unjoined"] += 1
            continue
        if joined_user != user:
            row["wrong"] += 1
            problems.append("%s: in user %s's trace" % (where, joined_user))
            continue
        caller = CALLER.get(kind)
        anc = app_ancestor(s)
        if caller and (anc is None or anc["_service"] != caller):
            row["wrong"] += 1
            problems.append("%s: right trace, but under %s" % (
                where, anc and "%s %r" % (anc["_service"], anc.get("name"))))
            continue
        row["right"] += 1
    return table, problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("loaddir")
    ap.add_argument("outputs", nargs="+")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    table, problems = check(a.loaddir, a.outputs)
    total = defaultdict(int)
    for row in table.values():
        for k, v in row.items():
            total[k] += v
    right, wrong = total["right"], total["wrong"]
    precision = right / (right + wrong) if right + wrong else 1.0
    recall = right / total["spans"] if total["spans"] else 0.0
    if a.json:
        print(json.dumps({"label": a.label, "kinds": table, "total": total,
                          "precision": precision, "recall": recall,
                          "problems": problems}, sort_keys=True))
    else:
        print("%-20s %6s %6s %6s %9s %8s" % ("call", "spans", "right", "wrong", "ambiguous",
                                            "unjoined"))
        for k in KINDS:
            r = table[k]
            print("%-20s %6d %6d %6d %9d %8d" % (k, r["spans"], r["right"], r["wrong"],
                                                 r["ambiguous"], r["unjoined"]))
        print("%-20s %6d %6d %6d %9d %8d" % ("all", total["spans"], right, wrong,
                                             total["ambiguous"], total["unjoined"]))
        print("precision %.3f  recall %.3f" % (precision, recall))
        for p in problems:
            print("PROBLEM: " + p)
    if problems or total["spans"] == 0:
        sys.exit(1)


if __name__ == "__main__":
    main()

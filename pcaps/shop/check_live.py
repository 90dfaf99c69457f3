#!/usr/bin/env python3
"""Check what the two live agents of live-shop.sh wrote: is every request one trace?

    python3 pcaps/shop/check_live.py OUTDIR

OUTDIR holds node1.jsonl and node2.jsonl (each agent's OTLP/JSON lines) and loadgen.json
(what the load generator sent). Each app exports to its own node's agent only, and each
agent only makes network spans of its own node's interfaces, so neither file alone holds a
whole request. The checks run on the union of both files: spans are keyed by
(trace id, span id) and parent links are followed across the files.

For each request (found by its frontend SERVER span, whose http.target is the loadgen's URL
and whose net.peer.port is the loadgen's port) all six app spans must be in one trace T, and
these five links must hold:

  loadgen->frontend   the network spans of the loadgen's connection are in T, hang together
                      from the trace root, and the frontend SERVER span's parent is one of
                      them (the loadgen is not instrumented: the network spans are the root)
  frontend->cart      the network spans of this gRPC stream (the one inside the frontend's
                      gRPC CLIENT span) are in T and all hang (through each other) under that
                      CLIENT span; the cart SERVER span's parent is one of them
  cart->db            the SELECT of this user on the cart's DB connections (PyMySQL is not
                      instrumented there) has network spans in T, each with the cart SERVER
                      span as an ancestor
  frontend->catalog   as frontend->cart, for GET /items?user=N: the frontend's HTTP CLIENT
                      span -> network spans -> the catalog SERVER span
  catalog->db         the SELECT of this user on the catalog's DB connection has network
                      spans in T, all hanging (through each other) under the catalog's
                      pymysql DB CLIENT span

Also checked: every app span arrived exactly once, at its own node's agent; no (trace id,
span id) is used twice; no span of T names a parent that is in neither file.

Prints a table (per request and link: OK and how many network spans each node contributed),
the shape of each link (which capture points, on which node, in what order), and notes on
what else the agents did (calls joined to no request, DB spans attached to a span that does
not enclose them). Exits 1 with the reasons when a link or a check fails. Stdlib only.
"""
import json
import os
import sys

KIND = {1: "INTERNAL", 2: "SERVER", 3: "CLIENT"}
NODES = ("node1", "node2")
# Which node each instrumented service runs on (its agent receives its spans).
SERVICE_NODE = {"frontend": "node1", "cart": "node2", "catalog": "node2"}
FRONTEND = "10.244.1.10"
CART = ("10.244.2.10", 50051)
CATALOG = ("10.244.2.20", 9090)
DB = ("10.244.2.30", 3306)
CART_SQL = "SELECT sku, qty FROM cart_items WHERE user_id = {k} ORDER BY sku"
CATALOG_SQL = ("SELECT i.sku, i.name, i.price_cents FROM items i JOIN cart_items c "
               "ON c.sku = i.sku WHERE c.user_id = {k} ORDER BY i.sku")
LINKS = ("loadgen->frontend", "frontend->cart", "cart->db", "frontend->catalog",
         "catalog->db")


def value(v):
    for k in ("stringValue", "boolValue", "doubleValue"):
        if k in v:
            return v[k]
    if "intValue" in v:
        return int(v["intValue"])
    return None


class Span:
    def __init__(self, node, resource, raw):
        self.node = node
        self.service = resource.get("service.name")
        self.resource = resource
        self.trace = raw.get("traceId", "")
        self.id = raw.get("spanId", "")
        self.parent = raw.get("parentSpanId", "") or ""
        self.name = raw.get("name", "")
        self.kind = raw.get("kind", 0)
        self.start = int(raw.get("startTimeUnixNano", 0))
        self.end = int(raw.get("endTimeUnixNano", 0))
        self.attrs = {a["key"]: value(a.get("value", {})) for a in raw.get("attributes", [])}
        self.network = "wirespan.capture.point" in self.attrs

    @property
    def key(self):
        return (self.trace, self.id)

    @property
    def parent_key(self):
        return (self.trace, self.parent) if self.parent else None

    def a(self, k):
        return self.attrs.get(k)

    def client(self):
        return (self.a("client.address"), self.a("client.port"))

    def server(self):
        return (self.a("server.address"), self.a("server.port"))

    def label(self):
        if self.network:
            return "%s:%s" % (self.node, self.a("wirespan.capture.point"))
        return "%s %s %r" % (self.service, KIND.get(self.kind, self.kind), self.name)


def load(outdir):
    spans = []
    for node in NODES:
        path = os.path.join(outdir, node + ".jsonl")
        with open(path) as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    doc = json.loads(line)
                except ValueError as e:
                    raise SystemExit("check_live: %s line %d is not JSON: %s" % (path, n, e))
                for rs in doc.get("resourceSpans", []):
                    res = {a["key"]: value(a.get("value", {}))
                           for a in (rs.get("resource") or {}).get("attributes", [])}
                    for ss in rs.get("scopeSpans", []):
                        for raw in ss.get("spans", []):
                            spans.append(Span(node, res, raw))
    return spans


class Checker:
    def __init__(self, spans):
        self.spans = spans
        self.failures = []
        self.notes = []
        self.by_key = {}
        for s in spans:
            if s.key in self.by_key:
                other = self.by_key[s.key]
                self.fail("span id %s/%s is used twice (%s, %s)"
                          % (s.trace, s.id, other.label(), s.label()))
            self.by_key[s.key] = s

    def fail(self, msg):
        self.failures.append(msg)

    def parent(self, s):
        return self.by_key.get(s.parent_key) if s.parent_key else None

    def ancestors(self, s, limit=64):
        out = []
        cur = self.parent(s)
        while cur is not None and len(out) < limit:
            out.append(cur)
            cur = self.parent(cur)
        return out

    def hangs_under(self, s, members, top):
        """Whether s reaches `top` (a span, or None for "the trace root") going up through
        `members` only. Returns the path from top down to s as a list of spans, or None."""
        path = [s]
        cur = s
        for _ in range(64):
            if top is None and not cur.parent:
                return list(reversed(path))
            if top is not None and cur.parent_key == top.key:
                return [top] + list(reversed(path))
            p = self.parent(cur)
            if p is None or p.key not in members:
                return None
            path.append(p)
            cur = p
        return None

    def branches(self, top, members, server):
        """Paths from `top` (None: the trace root) through `members`, down to leaves or to
        `server`: the link's shape. Each path is a list of labels."""
        children = {}
        for s in list(members.values()) + ([server] if server else []):
            children.setdefault(s.parent_key, []).append(s)
        for c in children.values():
            c.sort(key=lambda x: (x.start, x.node))
        paths = []

        def walk(span_key, acc):
            kids = children.get(span_key, [])
            if not kids or (server is not None and span_key == server.key):
                paths.append(acc)
                return
            for k in kids:
                walk(k.key, acc + [k.label()])

        if top is None:
            for s in children.get(None, []):
                walk(s.key, ["(trace root)", s.label()])
        else:
            walk(top.key, [top.label()])
        return paths


def fmt_paths(paths):
    return "\n".join("      " + " -> ".join(p) for p in paths)


def one(cands, what, fail):
    if len(cands) != 1:
        fail("%s: %d candidates, want 1" % (what, len(cands)))
        return None
    return cands[0]


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: check_live.py OUTDIR")
    outdir = sys.argv[1]
    spans = load(outdir)
    with open(os.path.join(outdir, "loadgen.json")) as f:
        requests = json.load(f)["requests"]
    c = Checker(spans)
    apps = [s for s in spans if not s.network]
    net = [s for s in spans if s.network]

    # --- every app span once, at its own node's agent -------------------------------------
    for s in apps:
        want = SERVICE_NODE.get(s.service)
        if want != s.node:
            c.fail("app span %s arrived at %s's agent, want %s" % (s.label(), s.node, want))
    if len(apps) != 6 * len(requests):
        c.fail("%d app spans in the outputs, want %d (6 per request)"
               % (len(apps), 6 * len(requests)))

    table = []
    shapes = {}
    in_requests = set()
    for r in requests:
        k = r["k"]
        row = {"k": k}
        table.append(row)
        pfx = "request %d (%s)" % (k, r["url"])

        def fail(msg, pfx=pfx):
            c.fail("%s: %s" % (pfx, msg))

        lg_ip, lg_port = r["client"].rsplit(":", 1)
        lg_port = int(lg_port)
        target = r["url"].split("10.244.1.10:8080", 1)[1]
        fe_server = one([s for s in apps if s.service == "frontend" and s.kind == 2
                         and s.a("http.target") == target],
                        "frontend SERVER span for %s" % target, fail)
        if fe_server is None:
            for name in LINKS:
                row[name] = "MISSING"
            continue
        T = fe_server.trace
        row["trace"] = T
        if fe_server.a("net.peer.port") != lg_port:
            fail("frontend SERVER net.peer.port %r, loadgen used %d"
                 % (fe_server.a("net.peer.port"), lg_port))
        in_trace = [s for s in spans if s.trace == T]
        tapp = [s for s in in_trace if not s.network]

        def app1(service, kind, what, pred=lambda s: True):
            return one([s for s in tapp if s.service == service and s.kind == kind
                        and pred(s)], what, fail)

        grpc_client = app1("frontend", 3, "frontend gRPC CLIENT span",
                           lambda s: s.name == "/shop.Cart/GetCart")
        http_client = app1("frontend", 3, "frontend HTTP CLIENT span",
                           lambda s: "/items" in str(s.a("http.url")))
        cart_server = app1("cart", 2, "cart SERVER span")
        catalog_server = app1("catalog", 2, "catalog SERVER span")
        catalog_db = app1("catalog", 3, "catalog pymysql DB CLIENT span",
                          lambda s: str(s.a("db.statement") or "").startswith("SELECT"))
        if len(tapp) != 6:
            fail("trace %s holds %d app spans, want 6" % (T, len(tapp)))
        for s in (grpc_client, http_client):
            if s is not None and s.parent != fe_server.id:
                fail("%s is not a child of the frontend SERVER span" % s.label())
        for s in in_trace:
            in_requests.add(s.key)
            if s.parent and s.parent_key not in c.by_key:
                fail("%s names parent %s, which is in neither output" % (s.label(), s.parent))

        # The network spans of each of the five calls, found without looking at ids.
        def on(s, client=None, server=None):
            return ((client is None or s.client() == client)
                    and (server is None or s.server() == server))

        calls = {}
        calls["loadgen->frontend"] = [s for s in net if on(s, (lg_ip, lg_port),
                                                            (FRONTEND, 8080))]
        grpc = []
        if grpc_client is not None:
            # One HTTP/2 connection carries all five calls: the stream sent inside this
            # request's CLIENT span (one clock: every capture point and app is on this host).
            grpc = [s for s in net if on(s, server=CART)
                    and grpc_client.start <= s.start <= grpc_client.end]
            streams = {(s.a("client.port"), s.a("wirespan.http2.stream_id")) for s in grpc}
            if len(streams) > 1:
                fail("frontend->cart: %d gRPC streams inside the CLIENT span" % len(streams))
        calls["frontend->cart"] = grpc
        calls["cart->db"] = [s for s in net if on(s, (CART[0], s.a("client.port")), DB)
                             and s.a("db.query.text") == CART_SQL.format(k=k)]
        calls["frontend->catalog"] = [s for s in net if on(s, server=CATALOG)
                                      and s.a("url.path") == "/items"
                                      and s.a("url.query") == "user=%d" % k]
        calls["catalog->db"] = [s for s in net if on(s, (CATALOG[0], s.a("client.port")), DB)
                                and s.a("db.query.text") == CATALOG_SQL.format(k=k)]
        # top (what the spans hang under) and bottom (the callee's span under them).
        ends = {
            "loadgen->frontend": (None, fe_server),
            "frontend->cart": (grpc_client, cart_server),
            "cart->db": (cart_server, None),
            "frontend->catalog": (http_client, catalog_server),
            "catalog->db": (catalog_db, None),
        }
        for name in LINKS:
            members = {s.key: s for s in calls[name]}
            top, bottom = ends[name]
            why = []
            if not members:
                why.append("no network spans")
            wrong = [s for s in members.values() if s.trace != T]
            if wrong:
                why.append("%d network span(s) in another trace (%s)"
                           % (len(wrong), ", ".join(sorted({s.trace for s in wrong}))))
            if name != "loadgen->frontend" and top is None:
                why.append("no app span to hang under")
            elif name == "cart->db":
                # Uninstrumented DB client: anywhere under the span open on its host.
                for s in members.values():
                    if top not in c.ancestors(s):
                        why.append("%s does not have the cart SERVER span as ancestor "
                                   "(parent %s)" % (s.label(), s.parent or "none"))
            else:
                for s in members.values():
                    if c.hangs_under(s, members, top) is None:
                        p = c.parent(s)
                        why.append("%s does not hang under %s (its parent: %s)"
                                   % (s.label(), top.label() if top else "the trace root",
                                      p.label() if p else (s.parent or "none")))
            if bottom is not None:
                if bottom.parent_key not in members:
                    p = c.parent(bottom)
                    why.append("the parent of %s is %s, not a network span of the call"
                               % (bottom.label(), p.label() if p else (bottom.parent or "none")))
            counts = {n: sum(1 for s in members.values() if s.node == n) for n in NODES}
            row[name] = ("OK" if not why else "FAIL") + " %d+%d" % (counts["node1"],
                                                                     counts["node2"])
            for w in why:
                fail("%s: %s" % (name, w))
            if top is not None or name == "loadgen->frontend":
                shape = c.branches(top, members, bottom)
                shape_key = tuple(tuple(p) for p in shape)
                shapes.setdefault(name, {}).setdefault(shape_key, (shape, []))[1].append(k)

    # --- notes: what the agents did besides the five links ---------------------------------
    stray = [s for s in net if s.key not in in_requests]
    for s in sorted(stray, key=lambda s: s.start):
        c.notes.append("%s %s %s:%s -> %s:%s is in no request's trace (parent: %s)"
                       % (s.label(), s.name, *s.client(), *s.server(), s.parent or "none"))
    for s in sorted(net, key=lambda s: s.start):
        p = c.parent(s)
        if s.server() != DB or p is None or p.network:
            continue
        if not (p.start <= s.start and s.end <= p.end):
            c.notes.append(
                "%s %r at %s:%s (trace %s...) is under %s, which does not enclose it: the "
                "span starts %.3f ms after the statement's first byte"
                % (s.label(), s.a("db.query.text") or s.name, *s.client(), s.trace[:8],
                   p.label(), (p.start - s.start) / 1e6))

    # --- report ----------------------------------------------------------------------------
    print("check_live: %d spans (%d app, %d network: node1 %d, node2 %d), %d requests"
          % (len(spans), len(apps), len(net), sum(1 for s in net if s.node == "node1"),
             sum(1 for s in net if s.node == "node2"), len(requests)))
    print("cells: link status, then network spans of that call in node1+node2's output")
    hdr = "%-3s %-34s" % ("req", "trace") + "".join(" %-18s" % n for n in LINKS)
    print(hdr)
    for row in table:
        print("%-3s %-34s" % (row["k"], row.get("trace", "?"))
              + "".join(" %-18s" % row.get(n, "?") for n in LINKS))
    print("shapes (top -> ... ; each line one branch of the union, in parent->child order):")
    for name in LINKS:
        for shape, ks in shapes.get(name, {}).values():
            print("  %s, requests %s:" % (name, ",".join(map(str, ks))))
            print(fmt_paths(shape))
    for n in c.notes:
        print("note: " + n)
    if c.failures:
        print("check_live: FAILED (%d problem(s)):" % len(c.failures), file=sys.stderr)
        for f in c.failures:
            print("  " + f, file=sys.stderr)
        return 1
    print("check_live: OK: every request is one trace holding all five links")
    return 0


if __name__ == "__main__":
    sys.exit(main())

//! Names in `wirespan show` and the service map of the HTML page (`show --html`, `#map`).
//!
//! The terminal waterfall names both ends of every network call on the bundled demo (the
//! instrumented pods by service, the rest by address) and `--addresses` gives the 5-tuple
//! instead, both checked against the demo's own record of its calls. The page's map is drawn by
//! headless Chromium from generated spans whose edges and call counts are known, at 10 and at
//! 200 services: every node and every edge is in the DOM with its calls and errors, edges run
//! from their caller's box to their server's, left to right but for the edges that close a
//! cycle, no two boxes and no two shown labels overlap, and at 10 services every edge is
//! labelled. Screenshots are kept under `target/tmp/` and their paths printed.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

// ---------------------------------------------------------------------------------------------
// Running `show`

fn show(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wirespan"))
        .arg("show")
        .args(args)
        .output()
        .expect("run wirespan show");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The network-span lines of a waterfall: those that name a capture point.
fn network_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.contains("(net ")).collect()
}

/// The demo's calls, from its own record (`shop.expected.json`), give the waterfall's words:
/// each call seen at each of its capture points is a line `client → server (net pcap:FILE#0)`,
/// with the instrumented pods (those that sent spans: frontend, cart, catalog) by service and
/// the others (the load generator, MariaDB) by address; with `--addresses`, the call's own
/// client and server address and port.
#[test]
fn show_names_the_ends_of_every_call_and_addresses_on_demand() {
    let out = shop_output();
    let file = out.to_string_lossy().into_owned();
    let expected = read_json("pcaps/shop/shop.expected.json");
    let pods = expected["topology"]["pods"].as_object().expect("pods");
    let instrumented = ["frontend", "cart", "catalog"];
    // Pod IP → the name a call's end gets.
    let name_of = |ip: &str| {
        pods.iter()
            .find(|(pod, p)| p["ip"] == ip && instrumented.contains(&pod.as_str()))
            .map(|(pod, _)| pod.clone())
    };
    let (code, names) = show(&[&file]);
    assert_eq!(code, 0);
    let (code, addresses) = show(&[&file, "--addresses"]);
    assert_eq!(code, 0);
    let mut checked = 0;
    for request in expected["requests"].as_array().expect("requests") {
        for (what, call) in request["calls"].as_object().expect("calls") {
            let client = call["client"].as_str().expect("client");
            let server = call["server"].as_str().expect("server");
            let (client_ip, _) = client.rsplit_once(':').expect("client ip:port");
            let (server_ip, _) = server.rsplit_once(':').expect("server ip:port");
            let by_name = format!(
                "{} → {}",
                name_of(client_ip).unwrap_or_else(|| client_ip.to_owned()),
                name_of(server_ip).unwrap_or_else(|| server.to_owned())
            );
            let by_address = format!("{client} → {server}");
            for point in call["captured_in"].as_array().expect("captured_in") {
                let seen = format!(" (net pcap:{}#0)", point.as_str().expect("file"));
                assert!(
                    names.contains(&format!(" {by_name}{seen}")),
                    "{what}: no '{by_name}{seen}' in\n{names}"
                );
                assert!(
                    addresses.contains(&format!(" {by_address}{seen}")),
                    "{what}: no '{by_address}{seen}' in\n{addresses}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 50, "{checked} calls checked");
    // Every network span says who called whom, by name where an app named the end.
    let named = network_lines(&names);
    assert_eq!(named.len(), network_lines(&addresses).len());
    assert!(!named.is_empty());
    for line in &named {
        assert!(line.contains(" → "), "{line}");
        for pod in instrumented {
            let ip = pods[pod]["ip"].as_str().expect("ip");
            assert!(!line.contains(ip), "{pod} by address: {line}");
        }
    }
    for line in network_lines(&addresses) {
        for pod in instrumented {
            assert!(!line.contains(&format!("{pod} →")), "{line}");
            assert!(!line.contains(&format!("→ {pod} ")), "{line}");
        }
    }
    // The terminal map by address: the same calls, ends as the network saw them.
    let (code, map) = show(&[&file, "--map", "--addresses"]);
    assert_eq!(code, 0);
    assert!(
        map.lines()
            .any(|l| l.starts_with("10.244.1.10 → 10.244.2.10:50051 ")),
        "{map}"
    );
    assert!(!map.contains("frontend"), "{map}");
    let _ = std::fs::remove_file(&out);
}

// ---------------------------------------------------------------------------------------------
// Generated topologies

/// What names an end of a call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// `peer.service` / `wirespan.client.service.name`.
    Service,
    /// `wirespan.server.process.executable.name` / `wirespan.client.process.executable.name`.
    Process,
    /// Nothing: the map shows its address.
    Address,
}

#[derive(Clone, Debug)]
struct End {
    name: String,
    kind: Kind,
    ip: String,
    port: i64,
}

impl End {
    /// The map's node for this end as a caller.
    fn as_client(&self) -> String {
        match self.kind {
            Kind::Address => self.ip.clone(),
            _ => self.name.clone(),
        }
    }

    /// The map's node for this end as a server.
    fn as_server(&self) -> String {
        match self.kind {
            Kind::Address => format!("{}:{}", self.ip, self.port),
            _ => self.name.clone(),
        }
    }

    fn kind_word(&self) -> &'static str {
        match self.kind {
            Kind::Service => "service",
            Kind::Process => "process",
            Kind::Address => "address",
        }
    }
}

struct Link {
    client: usize,
    server: usize,
    protocol: &'static str,
    calls: u64,
    errors: u64,
}

struct Topology {
    ends: Vec<End>,
    links: Vec<Link>,
}

type EdgeKey = (String, String, String);

impl Topology {
    fn end(&mut self, name: &str, kind: Kind) -> usize {
        let i = self.ends.len();
        self.ends.push(End {
            name: name.to_owned(),
            kind,
            ip: format!("10.{}.{}.{}", 1 + i / 62_500, (i / 250) % 250, i % 250 + 1),
            port: 8000 + (i % 1000) as i64,
        });
        i
    }

    fn link(&mut self, client: usize, server: usize, protocol: &'static str, calls: u64) {
        self.links.push(Link {
            client,
            server,
            protocol,
            calls,
            errors: 0,
        });
    }

    /// The map's nodes: name → kind.
    fn nodes(&self) -> BTreeMap<String, &'static str> {
        let mut nodes = BTreeMap::new();
        for l in &self.links {
            let (c, s) = (&self.ends[l.client], &self.ends[l.server]);
            nodes.insert(c.as_client(), c.kind_word());
            nodes.insert(s.as_server(), s.kind_word());
        }
        nodes
    }

    /// The map's edges: (caller, server, protocol) → (calls, errors).
    fn edges(&self) -> BTreeMap<EdgeKey, (u64, u64)> {
        self.links
            .iter()
            .map(|l| {
                let key = (
                    self.ends[l.client].as_client(),
                    self.ends[l.server].as_server(),
                    l.protocol.to_owned(),
                );
                (key, (l.calls, l.errors))
            })
            .collect()
    }

    /// OTLP/JSON lines of network spans, one trace per call. Every third call is seen at two
    /// capture points (the same 5-tuple and request sequence: one call), and at the second the
    /// names are left out (an agent on another node, which knows neither the services nor the
    /// processes): `show` learns them from the first.
    fn write(&self, path: &Path) {
        let mut lines = String::new();
        let mut call_no: u64 = 0;
        for (li, l) in self.links.iter().enumerate() {
            let (c, s) = (&self.ends[l.client], &self.ends[l.server]);
            let mut spans = Vec::new();
            for k in 0..l.calls {
                call_no += 1;
                let start = 1_700_000_000_000_000_000 + call_no * 10_000_000;
                let took = 1_000_000 + (li as u64 * 7919 + k * 104_729) % 50_000_000;
                let failed = k < l.errors;
                let points = if call_no % 3 == 0 { 2 } else { 1 };
                for point in 0..points {
                    let mut attrs = vec![
                        ("client.address", json!({ "stringValue": c.ip })),
                        (
                            "client.port",
                            json!({ "intValue": (20_000 + call_no % 40_000).to_string() }),
                        ),
                        ("server.address", json!({ "stringValue": s.ip })),
                        ("server.port", json!({ "intValue": s.port.to_string() })),
                        (
                            "wirespan.capture.point",
                            json!({ "stringValue": format!("pcap:gen-{point}.pcap#0") }),
                        ),
                        (
                            "wirespan.tcp.req_seq",
                            json!({ "intValue": (call_no * 1000 + 1).to_string() }),
                        ),
                    ];
                    match l.protocol {
                        "grpc" => {
                            attrs.push(("rpc.system", json!({ "stringValue": "grpc" })));
                            attrs.push(("network.protocol.name", json!({ "stringValue": "http" })));
                        }
                        "mysql" | "redis" | "postgresql" => {
                            attrs.push(("db.system", json!({ "stringValue": l.protocol })));
                        }
                        other => {
                            attrs.push(("network.protocol.name", json!({ "stringValue": other })));
                        }
                    }
                    let blind = point == 1;
                    match c.kind {
                        Kind::Service if !blind => attrs.push((
                            "wirespan.client.service.name",
                            json!({ "stringValue": c.name }),
                        )),
                        Kind::Process if !blind => attrs.push((
                            "wirespan.client.process.executable.name",
                            json!({ "stringValue": c.name }),
                        )),
                        _ => {}
                    }
                    match s.kind {
                        Kind::Service if !blind => {
                            attrs.push(("peer.service", json!({ "stringValue": s.name })))
                        }
                        Kind::Process if !blind => attrs.push((
                            "wirespan.server.process.executable.name",
                            json!({ "stringValue": s.name }),
                        )),
                        _ => {}
                    }
                    let attributes: Vec<Value> = attrs
                        .into_iter()
                        .map(|(k, v)| json!({ "key": k, "value": v }))
                        .collect();
                    // The second point is nearer the server: later in, earlier out.
                    let inset = point * 20_000;
                    spans.push(json!({
                        "traceId": format!("{call_no:032x}"),
                        "spanId": format!("{:016x}", call_no * 4 + point),
                        "parentSpanId": if point == 0 { String::new() } else { format!("{:016x}", call_no * 4) },
                        "name": format!("{} {}", l.protocol, s.name),
                        "kind": if point == 0 { 3 } else { 2 },
                        "startTimeUnixNano": (start + inset).to_string(),
                        "endTimeUnixNano": (start + took - inset).to_string(),
                        "attributes": attributes,
                        "status": if failed { json!({ "code": 2 }) } else { json!({}) },
                    }));
                }
            }
            let line = json!({ "resourceSpans": [{
                "resource": { "attributes": [
                    { "key": "service.name", "value": { "stringValue": "wirespan" } }
                ] },
                "scopeSpans": [{ "scope": { "name": "wirespan" }, "spans": spans }],
            }] });
            lines.push_str(&line.to_string());
            lines.push('\n');
        }
        std::fs::write(path, lines).expect("write spans");
    }
}

/// Ten nodes: an uninstrumented load generator and a `curl` (by address, by process), seven
/// services, MariaDB by its process and Redis by address; two protocols between one pair, a
/// cycle (recommend ⇄ catalog), a service calling itself, errors on three edges.
fn ten() -> Topology {
    let mut t = Topology {
        ends: Vec::new(),
        links: Vec::new(),
    };
    let loadgen = t.end("loadgen", Kind::Address);
    let curl = t.end("curl", Kind::Process);
    let frontend = t.end("frontend", Kind::Service);
    let cart = t.end("cart", Kind::Service);
    let catalog = t.end("catalog", Kind::Service);
    let checkout = t.end("checkout", Kind::Service);
    let payment = t.end("payment", Kind::Service);
    let recommend = t.end("recommend", Kind::Service);
    let mariadbd = t.end("mariadbd", Kind::Process);
    let redis = t.end("redis", Kind::Address);
    t.link(loadgen, frontend, "http", 40);
    t.link(curl, frontend, "http", 5);
    t.link(frontend, cart, "grpc", 30);
    t.link(frontend, cart, "http", 4);
    t.link(frontend, catalog, "http", 25);
    t.link(frontend, recommend, "grpc", 12);
    t.link(frontend, checkout, "http", 8);
    t.link(checkout, payment, "grpc", 8);
    t.link(checkout, cart, "grpc", 7);
    t.link(cart, mariadbd, "mysql", 60);
    t.link(catalog, mariadbd, "mysql", 25);
    t.link(cart, redis, "redis", 45);
    t.link(recommend, catalog, "http", 12);
    t.link(catalog, recommend, "grpc", 3);
    t.link(payment, payment, "http", 2);
    t.links[0].errors = 2;
    t.links[6].errors = 1;
    t.links[7].errors = 3;
    t
}

/// Names the waterfall learns: every call of the ten-node topology is drawn with its ends as
/// the map names them, at both capture points, though the second point's spans carry no
/// names (the services' are learned from other spans to the same address, the processes'
/// from the other span of the same connection).
#[test]
fn show_names_ends_from_other_spans_and_processes() {
    let t = ten();
    let spans = tmp("ten.jsonl");
    t.write(&spans);
    let (code, text) = show(&[spans.to_str().expect("path")]);
    assert_eq!(code, 0);
    for l in &t.links {
        let (c, s) = (&t.ends[l.client], &t.ends[l.server]);
        let call = format!("{} → {}", c.as_client(), s.as_server());
        for point in 0..2 {
            let line = format!(" {call} (net pcap:gen-{point}.pcap#0)");
            assert!(text.contains(&line), "no '{line}' in\n{text}");
        }
    }
    let (_, addresses) = show(&[spans.to_str().expect("path"), "--addresses"]);
    for name in ["frontend", "mariadbd", "curl"] {
        assert!(!addresses.contains(&format!("{name} →")), "{addresses}");
    }
    let _ = std::fs::remove_file(&spans);
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// Two hundred nodes, shaped as a company's services are: 3 load generators (by address) call
/// 7 gateways, each the front of a domain of 5 services that call 15 more, which call the
/// domain's databases (processes and addresses); 10 shared services (auth, users, …) that
/// every domain calls, with back ends of their own; a few calls across domains, a few back up
/// (cycles), one service calling itself; 1 to 9 calls an edge, errors on about one in ten.
fn two_hundred() -> Topology {
    struct Gen {
        t: Topology,
        rng: Rng,
        pairs: BTreeSet<(usize, usize)>,
    }
    impl Gen {
        fn tier(&mut self, n: usize, prefix: &str, kind: Kind) -> Vec<usize> {
            (0..n)
                .map(|i| self.t.end(&format!("{prefix}-{i}"), kind))
                .collect()
        }
        fn one(&mut self, of: &[usize]) -> usize {
            of[self.rng.below(of.len())]
        }
        fn add(&mut self, c: usize, s: usize, protocols: &[&'static str]) {
            let protocol = protocols[self.rng.below(protocols.len())];
            if self.pairs.insert((c, s)) {
                let calls = 1 + self.rng.below(9) as u64;
                self.t.link(c, s, protocol, calls);
                if self.rng.below(10) == 0 {
                    let errors = 1 + self.rng.below(calls as usize) as u64;
                    if let Some(l) = self.t.links.last_mut() {
                        l.errors = errors;
                    }
                }
            }
        }
        /// Every callee gets a caller; every caller calls `fan` more at random.
        fn wire(&mut self, from: &[usize], to: &[usize], fan: usize, protocols: &[&'static str]) {
            for (i, &s) in to.iter().enumerate() {
                self.add(from[i % from.len()], s, protocols);
            }
            for &c in from {
                for _ in 0..fan {
                    let s = self.one(to);
                    self.add(c, s, protocols);
                }
            }
        }
    }
    let mut g = Gen {
        t: Topology {
            ends: Vec::new(),
            links: Vec::new(),
        },
        rng: Rng(0x2545_f491_4f6c_dd1d),
        pairs: BTreeSet::new(),
    };
    let web = ["http", "grpc"];
    let db = ["mysql", "postgresql", "redis"];
    let processes = [
        "mariadbd",
        "postgres",
        "redis-server",
        "memcached",
        "etcd",
        "kafka",
        "zookeeper",
        "mongod",
        "clickhouse-server",
        "rabbitmq-server",
    ];
    let loadgens = g.tier(3, "loadgen", Kind::Address);
    let shared: Vec<usize> = [
        "auth", "users", "config", "flags", "audit", "search", "mail", "geo", "pricing", "tax",
    ]
    .iter()
    .map(|n| g.t.end(n, Kind::Service))
    .collect();
    let shared_dbs = g.tier(4, "shared-db", Kind::Address);
    g.wire(&shared, &shared_dbs, 1, &db);
    let domains = ["shop", "pay", "ship", "ads", "media", "social", "ledger"];
    let mut mids_all = Vec::new();
    for (d, domain) in domains.iter().enumerate() {
        let gateway = g.t.end(&format!("{domain}-gateway"), Kind::Service);
        g.add(loadgens[d % loadgens.len()], gateway, &["http"]);
        let mids = g.tier(5, &format!("{domain}-api"), Kind::Service);
        let leaves = g.tier(15, &format!("{domain}-svc"), Kind::Service);
        let mut dbs: Vec<usize> = processes[d..]
            .iter()
            .chain(processes.iter())
            .take(if d < 3 { 2 } else { 1 })
            .map(|p| g.t.end(&format!("{p}-{domain}"), Kind::Process))
            .collect();
        dbs.extend(g.tier(
            if d < 5 { 4 } else { 3 },
            &format!("{domain}-db"),
            Kind::Address,
        ));
        g.wire(&[gateway], &mids, 0, &web);
        g.wire(&mids, &leaves, 2, &web);
        g.wire(&leaves, &dbs, 0, &db);
        let auth = shared[0];
        g.add(gateway, auth, &["grpc"]);
        for &m in &mids {
            if g.rng.below(3) == 0 {
                let s = g.one(&shared);
                g.add(m, s, &["grpc"]);
            }
        }
        // Back up a tier, to a caller: a cycle.
        let down =
            g.t.links
                .iter()
                .find(|l| mids.contains(&l.client) && leaves.contains(&l.server))
                .map(|l| (l.server, l.client));
        if let Some((c, s)) = down {
            g.add(c, s, &["http"]);
        }
        mids_all.push(mids);
    }
    // Across domains.
    for _ in 0..8 {
        let a = g.rng.below(mids_all.len());
        let b = (a + 1 + g.rng.below(mids_all.len() - 1)) % mids_all.len();
        let (c, s) = (g.one(&mids_all[a]), g.one(&mids_all[b]));
        g.add(c, s, &["grpc"]);
    }
    let me = shared[5];
    g.add(me, me, &["http"]);
    g.t
}

// ---------------------------------------------------------------------------------------------
// Headless Chromium and the DOM it gives

/// One start tag of the DOM, with the text that follows it up to the next tag (start or end).
struct Tag {
    name: String,
    attrs: HashMap<String, String>,
    text: String,
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// The start tags of a serialised DOM (as Chromium writes it: attribute values in double
/// quotes, `<`, `>`, `&` and `"` escaped).
fn tags(dom: &str) -> Vec<Tag> {
    let mut out = Vec::new();
    for chunk in dom.split('<').skip(1) {
        if chunk.starts_with('/') || chunk.starts_with('!') {
            continue;
        }
        let Some((inside, text)) = chunk.split_once('>') else {
            continue;
        };
        let name: String = inside
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '/')
            .collect();
        let mut attrs = HashMap::new();
        let mut rest = &inside[name.len()..];
        while let Some(eq) = rest.find("=\"") {
            let key = rest[..eq].trim().to_owned();
            let after = &rest[eq + 2..];
            let Some(end) = after.find('"') else {
                break;
            };
            attrs.insert(key, unescape(&after[..end]));
            rest = &after[end + 1..];
        }
        out.push(Tag {
            name,
            attrs,
            text: unescape(text),
        });
    }
    out
}

#[derive(Clone, Copy, Debug)]
struct Rect {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl Rect {
    fn of(tag: &Tag) -> Option<Rect> {
        let num = |k: &str| tag.attrs.get(k)?.parse::<f64>().ok();
        Some(Rect {
            x: num("x")?,
            y: num("y")?,
            w: num("width")?,
            h: num("height")?,
        })
    }

    fn overlaps(&self, o: &Rect) -> bool {
        self.x < o.x + o.w && o.x < self.x + self.w && self.y < o.y + o.h && o.y < self.y + self.h
    }

    /// Whether a point lies on the box's left or right side.
    fn on_side(&self, (x, y): (f64, f64)) -> bool {
        let side = (x - self.x).abs() < 0.6 || (x - self.x - self.w).abs() < 0.6;
        side && y >= self.y - 0.6 && y <= self.y + self.h + 0.6
    }
}

struct DrawnNode {
    kind: String,
    rect: Rect,
    label: String,
}

struct DrawnEdge {
    key: EdgeKey,
    calls: u64,
    errors: u64,
    classes: String,
    path: String,
}

struct DrawnLabel {
    edge: String,
    hidden: bool,
    rect: Rect,
    text: String,
}

#[derive(Default)]
struct Drawing {
    nodes: BTreeMap<String, DrawnNode>,
    edges: Vec<DrawnEdge>,
    /// By `data-edge`.
    edge_ids: Vec<String>,
    labels: Vec<DrawnLabel>,
    view: String,
}

/// The map as drawn: every node box, edge path and edge label in the DOM.
fn drawing(dom: &str) -> Drawing {
    let all = tags(dom);
    let mut d = Drawing::default();
    let class = |t: &Tag| t.attrs.get("class").cloned().unwrap_or_default();
    let next = |from: usize, name: &str, class_is: Option<&str>| {
        all.iter().skip(from + 1).find(|t| {
            t.name == name && class_is.is_none_or(|c| t.attrs.get("class").is_some_and(|k| k == c))
        })
    };
    for (i, t) in all.iter().enumerate() {
        if t.name == "body" {
            d.view = t.attrs.get("data-view").cloned().unwrap_or_default();
        }
        if t.name != "g" {
            continue;
        }
        let cls = class(t);
        let data = |k: &str| t.attrs.get(k).cloned().unwrap_or_default();
        if cls.split(' ').next() == Some("node") {
            let rect = next(i, "rect", None).and_then(Rect::of).expect("node box");
            let label = next(i, "text", None).map_or(String::new(), |t| t.text.clone());
            d.nodes.insert(
                data("data-name"),
                DrawnNode {
                    kind: data("data-kind"),
                    rect,
                    label,
                },
            );
        } else if cls.split(' ').next() == Some("edge") {
            let path = next(i, "path", Some("line"))
                .and_then(|p| p.attrs.get("d").cloned())
                .expect("edge path");
            d.edge_ids.push(data("data-edge"));
            d.edges.push(DrawnEdge {
                key: (
                    data("data-client"),
                    data("data-server"),
                    data("data-protocol"),
                ),
                calls: data("data-calls").parse().expect("calls"),
                errors: data("data-errors").parse().expect("errors"),
                classes: cls,
                path,
            });
        } else if cls.split(' ').next() == Some("label") {
            let rect = next(i, "rect", None).and_then(Rect::of).expect("label box");
            // The text, and the errors in a tspan inside it.
            let text = all
                .iter()
                .skip(i + 1)
                .skip_while(|t| t.name != "text")
                .take_while(|t| t.name == "text" || t.name == "tspan")
                .map(|t| t.text.as_str())
                .collect::<String>();
            d.labels.push(DrawnLabel {
                edge: data("data-edge"),
                hidden: cls.contains("hidden"),
                rect,
                text,
            });
        }
    }
    d
}

/// The first and last points of an SVG path.
fn ends_of(path: &str) -> ((f64, f64), (f64, f64)) {
    let nums: Vec<f64> = path
        .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("number in path"))
        .collect();
    assert!(nums.len() >= 4, "path {path}");
    let n = nums.len();
    ((nums[0], nums[1]), (nums[n - 2], nums[n - 1]))
}

/// Runs `show --html` on the topology's spans, has Chromium draw the page's map (`#map`), and
/// checks the drawing against the topology. Gives the drawing, or `None` without Chromium.
fn check_map(t: &Topology, tag: &str, window: &str) -> Option<Drawing> {
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let spans = keep.join(format!("show-map-{tag}.jsonl"));
    let page = keep.join(format!("show-map-{tag}.html"));
    t.write(&spans);
    let (code, _) = show(&[
        spans.to_str().expect("path"),
        "--html",
        page.to_str().expect("path"),
    ]);
    assert_eq!(code, 0);
    let html = std::fs::read_to_string(&page).expect("page");
    for outside in ["src=", "href=", "@import", "url("] {
        assert!(
            !html.contains(outside),
            "the page loads something: {outside}"
        );
    }
    // The terminal map agrees with the topology (the page's numbers come from it).
    let (_, terminal) = show(&["--map", spans.to_str().expect("path")]);
    assert_eq!(terminal.lines().count(), t.edges().len() + 2, "{terminal}");

    let browser = chromium()?;
    let profile = tmp(&format!("chromium-{tag}"));
    let url = format!("file://{}#map", page.display());
    let dom = headless(browser, &profile, &["--dump-dom", &url]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    let d = drawing(&dom);
    assert_eq!(d.view, "map", "#map opens the map view");

    // Every node once, with what names it.
    let want_nodes = t.nodes();
    let drawn: BTreeMap<String, String> = d
        .nodes
        .iter()
        .map(|(k, n)| (k.clone(), n.kind.clone()))
        .collect();
    let want: BTreeMap<String, String> = want_nodes
        .iter()
        .map(|(k, v)| (k.clone(), (*v).to_owned()))
        .collect();
    assert_eq!(drawn, want, "{tag}: the nodes");
    for (name, n) in &d.nodes {
        assert!(
            n.label == *name
                || (n.label.ends_with('…') && name.starts_with(n.label.trim_end_matches('…'))),
            "{name} labelled {}",
            n.label
        );
        // Sized to its label: at least 5 px a character.
        assert!(
            n.rect.w >= 5.0 * n.label.chars().count() as f64,
            "{name}: {:?}",
            n.rect
        );
    }
    // Every edge once, with its calls and errors.
    let want_edges = t.edges();
    let drawn_edges: BTreeMap<EdgeKey, (u64, u64)> = d
        .edges
        .iter()
        .map(|e| (e.key.clone(), (e.calls, e.errors)))
        .collect();
    assert_eq!(d.edges.len(), want_edges.len(), "{tag}: one path per edge");
    assert_eq!(drawn_edges, want_edges, "{tag}: the edges and their calls");
    // Edges run from the caller's box to the server's: left to right, or back for the few
    // that close a cycle; a call to oneself loops on its own box's side.
    let mut back = 0;
    for e in &d.edges {
        let (client, server) = (&d.nodes[&e.key.0].rect, &d.nodes[&e.key.1].rect);
        let (from, to) = ends_of(&e.path);
        assert!(
            client.on_side(from),
            "{:?} starts at {from:?}, not on {client:?}",
            e.key
        );
        assert!(
            server.on_side(to),
            "{:?} ends at {to:?}, not on {server:?}",
            e.key
        );
        if e.key.0 == e.key.1 {
            assert!(e.classes.contains("self"), "{:?}", e.key);
        } else if e.classes.contains("back") {
            back += 1;
            assert!(server.x + server.w < client.x, "{:?} drawn back", e.key);
        } else {
            assert!(client.x + client.w < server.x, "{:?} left to right", e.key);
        }
    }
    // No two boxes overlap.
    let boxes: Vec<(&String, &Rect)> = d.nodes.iter().map(|(k, n)| (k, &n.rect)).collect();
    for (i, (a, ra)) in boxes.iter().enumerate() {
        for (b, rb) in &boxes[i + 1..] {
            assert!(!ra.overlaps(rb), "{a} {ra:?} overlaps {b} {rb:?}");
        }
    }
    // One label per edge, saying its protocol and calls; those shown overlap nothing.
    assert_eq!(d.labels.len(), d.edges.len());
    let by_id: HashMap<&String, &DrawnEdge> = d.edge_ids.iter().zip(&d.edges).collect();
    let shown: Vec<&DrawnLabel> = d.labels.iter().filter(|l| !l.hidden).collect();
    for l in &d.labels {
        let e = by_id.get(&l.edge).expect("a label's edge");
        let calls = format!("{} · {} call", e.key.2, e.calls);
        assert!(
            l.text.starts_with(&calls),
            "{:?}: label '{}'",
            e.key,
            l.text
        );
        assert_eq!(l.text.contains("error"), e.errors > 0, "{}", l.text);
    }
    for (i, a) in shown.iter().enumerate() {
        for b in &shown[i + 1..] {
            assert!(
                !a.rect.overlaps(&b.rect),
                "labels '{}' and '{}' overlap",
                a.text,
                b.text
            );
        }
        for (name, n) in &d.nodes {
            assert!(
                !a.rect.overlaps(&n.rect),
                "label '{}' covers {name}",
                a.text
            );
        }
    }
    println!(
        "{tag}: {} nodes, {} edges ({back} drawn back), {} of {} labels shown",
        d.nodes.len(),
        d.edges.len(),
        shown.len(),
        d.labels.len()
    );

    // The screenshot, kept for people to look at.
    let png = keep.join(format!("show-map-{tag}.png"));
    let _ = std::fs::remove_file(&png);
    let shot = headless(
        browser,
        &profile,
        &[
            &format!("--window-size={window}"),
            &format!("--screenshot={}", png.display()),
            &url,
        ],
    );
    assert!(png.exists(), "{}", String::from_utf8_lossy(&shot.stderr));
    println!("screenshot: {}", png.display());
    println!("page: {}#map", page.display());
    let _ = std::fs::remove_dir_all(&profile);
    Some(d)
}

/// Pixels near each colour in a PNG, with its size; `None` without pillow (off CI).
fn colour_counts(png: &Path, colours: &[(u8, u8, u8)]) -> Option<Vec<u64>> {
    let list: Vec<String> = colours
        .iter()
        .map(|(r, g, b)| format!("({r},{g},{b})"))
        .collect();
    let out = Command::new("python3")
        .args([
            "-c",
            &format!(
                "import sys; from PIL import Image\n\
                 im = Image.open(sys.argv[1]).convert('RGB'); px = list(im.getdata())\n\
                 near = lambda c, t: all(abs(a - b) < 10 for a, b in zip(c, t))\n\
                 print(im.size[0], im.size[1], *[sum(near(p, t) for p in px) for t in [{}]])",
                list.join(",")
            ),
            png.to_str().expect("path"),
        ])
        .output()
        .expect("python3");
    let n: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    if n.len() != colours.len() + 2 {
        assert!(
            std::env::var_os("CI").is_none(),
            "pillow: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("SKIPPED: screenshot check needs pillow");
        return None;
    }
    Some(n)
}

const SERVICE_FILL: (u8, u8, u8) = (0xe8, 0xef, 0xff);
const PROCESS_FILL: (u8, u8, u8) = (0xe3, 0xf5, 0xf3);
const ERROR_RED: (u8, u8, u8) = (0xdd, 0x33, 0x33);

/// Ten services: the whole map in the window, every edge labelled.
#[test]
fn the_html_map_draws_ten_services_with_every_edge_labelled() {
    let t = ten();
    let Some(d) = check_map(&t, "10", "1400,900") else {
        return;
    };
    assert_eq!(d.nodes.len(), 10);
    assert_eq!(d.edges.len(), 15);
    assert!(
        d.labels.iter().all(|l| !l.hidden),
        "at 10 services every edge is labelled"
    );
    // recommend ⇄ catalog is one cycle: one edge of it drawn back.
    assert_eq!(
        d.edges
            .iter()
            .filter(|e| e.classes.contains("back"))
            .count(),
        1
    );
    let png = Path::new(env!("CARGO_TARGET_TMPDIR")).join("show-map-10.png");
    if let Some(n) = colour_counts(&png, &[SERVICE_FILL, PROCESS_FILL, ERROR_RED]) {
        assert_eq!((n[0], n[1]), (1400, 900));
        // Seven service boxes and two process boxes of 26 px height; red edges and labels.
        assert!(n[2] > 7 * 40 * 20, "service-box pixels: {}", n[2]);
        assert!(n[3] > 2 * 40 * 20, "process-box pixels: {}", n[3]);
        assert!(n[4] > 200, "error-red pixels: {}", n[4]);
    }
}

/// Two hundred services: every node and edge drawn, nothing overlapping, at a readable scale
/// (the window shows part of the map at once; it scrolls and zooms).
#[test]
fn the_html_map_draws_two_hundred_services_without_overlaps() {
    let t = two_hundred();
    let Some(d) = check_map(&t, "200", "1600,1000") else {
        return;
    };
    assert_eq!(d.nodes.len(), 200);
    assert!(d.edges.len() > 250, "{} edges", d.edges.len());
    let shown = d.labels.iter().filter(|l| !l.hidden).count();
    assert!(
        shown * 3 >= d.labels.len(),
        "only {shown} of {} edge labels fit",
        d.labels.len()
    );
    let png = Path::new(env!("CARGO_TARGET_TMPDIR")).join("show-map-200.png");
    if let Some(n) = colour_counts(&png, &[SERVICE_FILL]) {
        assert_eq!((n[0], n[1]), (1600, 1000));
        // Drawn at a readable size: many service boxes in view, each of them large.
        assert!(n[2] > 20 * 60 * 18, "service-box pixels: {}", n[2]);
    }
}

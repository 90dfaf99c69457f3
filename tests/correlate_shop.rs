//! The end-to-end demo, offline: a shop of OpenTelemetry-instrumented Python services on two
//! "nodes" joined by a flannel-style VXLAN (pcaps/shop/gen-shop.sh), six capture points and the
//! OTLP bodies the apps exported. `wirespan replay --otel` must give, for every request, the
//! five links of one trace, checked against pcaps/shop/shop.expected.json.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::HashMap;

fn shop_run() -> (Vec<Value>, Run) {
    let files: Vec<_> = [
        "node1-veth-loadgen.pcap",
        "node1-veth-frontend.pcap",
        "node1-underlay.pcap",
        "node2-veth-cart.pcap",
        "node2-veth-catalog.pcap",
        "node2-veth-db.pcap",
    ]
    .iter()
    .map(|f| repo(&format!("pcaps/shop/{f}")))
    .collect();
    let otel = repo("pcaps/shop/otlp");
    let otel = otel.to_string_lossy();
    let run = replay(&files, &["--otel", &otel]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    (run.spans(), run)
}

#[test]
fn every_request_is_one_trace_app_network_app() {
    let (spans, run) = shop_run();
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(repo("pcaps/shop/shop.expected.json")).expect("expected"),
    )
    .expect("json");
    let requests = expected["requests"].as_array().expect("requests");
    let by_id: HashMap<&str, &Value> = spans
        .iter()
        .filter_map(|s| Some((s["spanId"].as_str()?, s)))
        .collect();
    let is_network = |s: &Value| attr_str(s, "wirespan.capture.point").is_some();
    // Every app span passes through, once.
    let app_spans = spans.iter().filter(|s| !is_network(s)).count();
    assert_eq!(
        app_spans,
        requests
            .iter()
            .map(|r| r["spans"].as_object().map_or(0, |o| o.len()))
            .sum::<usize>()
    );
    for r in requests {
        let trace = r["trace_id"].as_str().expect("trace id");
        let span_id = |name: &str| r["spans"][name]["span_id"].as_str().map(str::to_owned);
        for (call_name, call) in r["calls"].as_object().expect("calls") {
            let ctx = format!("request {} {call_name}", r["index"]);
            let client = call["client"].as_str().expect("client");
            let server = call["server"].as_str().expect("server");
            let mut net: Vec<&Value> = spans
                .iter()
                .filter(|s| {
                    is_network(s)
                        && format!(
                            "{}:{}",
                            attr_str(s, "client.address").unwrap_or_default(),
                            attr_int(s, "client.port").unwrap_or(0)
                        ) == client
                        && format!(
                            "{}:{}",
                            attr_str(s, "server.address").unwrap_or_default(),
                            attr_int(s, "server.port").unwrap_or(0)
                        ) == server
                })
                .collect();
            // One gRPC connection carries every request's call: the stream tells them apart.
            if let Some(stream) = call["h2_stream_id"].as_i64() {
                net.retain(|s| attr_int(s, "wirespan.http2.stream_id") == Some(stream));
            }
            // The catalog keeps its database connection: its statements inside this request's
            // DB span are this call's.
            if let Some(sqls) = call["sql_in_client_span"].as_array() {
                net.retain(|s| {
                    sqls.iter()
                        .any(|q| attr_str(s, "db.query.text").as_deref() == q.as_str())
                });
            }
            assert!(!net.is_empty(), "{ctx}: no network spans");
            let points: std::collections::BTreeSet<String> = net
                .iter()
                .filter_map(|s| attr_str(s, "wirespan.capture.point"))
                .collect();
            let want: std::collections::BTreeSet<String> = call["captured_in"]
                .as_array()
                .expect("captured_in")
                .iter()
                .filter_map(|p| p.as_str().map(|p| format!("pcap:{p}#0")))
                .collect();
            assert_eq!(points, want, "{ctx}: one span per capture point");
            for s in &net {
                assert_eq!(
                    s["traceId"].as_str(),
                    Some(trace),
                    "{ctx}: joined into the request's trace"
                );
            }
            // Each command (MySQL) or the one exchange (HTTP, gRPC) is a chain along the path:
            // find its head (parent outside the call) and walk it.
            let ids: Vec<&str> = net.iter().filter_map(|s| s["spanId"].as_str()).collect();
            let heads: Vec<&&Value> = net
                .iter()
                .filter(|s| !s["parentSpanId"].as_str().is_some_and(|p| ids.contains(&p)))
                .collect();
            let parent_name = call["client_span"]
                .as_str()
                .or(call["parent_span"].as_str());
            for head in heads {
                let parent = head["parentSpanId"].as_str().map(str::to_owned);
                let want_parent = match (
                    call["client_span"].as_str(),
                    call["parent_span"].as_str(),
                    call["server_span"].as_str(),
                ) {
                    // Instrumented caller: under its CLIENT span.
                    (Some(c), _, _) => span_id(c),
                    // Uninstrumented caller, instrumented callee: the callee's original parent.
                    (None, _, Some(srv)) => r["spans"][srv]["parent_span_id"]
                        .as_str()
                        .map(str::to_owned),
                    // Uninstrumented database client: under the span open on its host.
                    (None, Some(p), None) => span_id(p),
                    _ => None,
                };
                assert_eq!(parent, want_parent, "{ctx}: head under {parent_name:?}");
                let mut chain = vec![*head];
                while let Some(next) = net
                    .iter()
                    .find(|s| s["parentSpanId"] == chain[chain.len() - 1]["spanId"])
                {
                    chain.push(next);
                }
                let times: Vec<u64> = chain.iter().map(|s| ns(s, "startTimeUnixNano")).collect();
                let mut sorted = times.clone();
                sorted.sort_unstable();
                assert_eq!(
                    times, sorted,
                    "{ctx}: ordered from the client's side to the server's"
                );
                if let Some(srv) = call["server_span"].as_str() {
                    let last = chain
                        .last()
                        .and_then(|s| s["spanId"].as_str())
                        .expect("last");
                    let server = by_id[span_id(srv).as_deref().expect("server span id")];
                    assert_eq!(
                        server["parentSpanId"].as_str(),
                        Some(last),
                        "{ctx}: callee under the last hop"
                    );
                    assert_eq!(
                        attr_str(server, "wirespan.reparented_from").as_deref(),
                        Some(r["spans"][srv]["parent_span_id"].as_str().unwrap_or("")),
                        "{ctx}: the old parent is kept"
                    );
                }
            }
        }
    }
    assert!(
        run.counter("correlation_joined_by_context") >= 10,
        "{}",
        run.stderr
    );
    assert!(
        run.counter("correlation_joined_by_peer") >= 5,
        "{}",
        run.stderr
    );
}

#[test]
fn correlated_output_is_byte_identical_across_runs() {
    let (_, a) = shop_run();
    let (_, b) = shop_run();
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout);
}

/// `--print` draws each request as a tree: the cart's SERVER span sits deeper than the network
/// span that carried its call, which sits deeper than the frontend's gRPC CLIENT span.
#[test]
fn print_draws_each_trace_as_a_tree() {
    let files: Vec<_> = std::fs::read_dir(repo("pcaps/shop"))
        .expect("shop dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    let otel = repo("pcaps/shop/otlp");
    let run = replay(&files, &["--otel", &otel.to_string_lossy(), "--print"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(repo("pcaps/shop/shop.expected.json")).expect("expected"),
    )
    .expect("json");
    for r in expected["requests"].as_array().expect("requests") {
        let trace = r["trace_id"].as_str().expect("trace");
        let block: Vec<&str> = run
            .stderr
            .split("trace ")
            .find(|b| b.starts_with(trace))
            .unwrap_or_else(|| panic!("trace {trace} not drawn"))
            .lines()
            .collect();
        let indent = |needle: &str| {
            block
                .iter()
                .find(|l| l.contains(needle))
                .map(|l| {
                    l.split(" ms ")
                        .nth(2)
                        .map_or(0, |rest| rest.len() - rest.trim_start().len())
                })
                .unwrap_or_else(|| panic!("{needle} missing in trace {trace}"))
        };
        let client = indent("/shop.Cart/GetCart CLIENT (frontend)");
        let hop = indent("(net pcap:node2-veth-cart.pcap#0)");
        let server = indent("/shop.Cart/GetCart SERVER (cart)");
        assert!(
            client < hop && hop < server,
            "{client} < {hop} < {server} in trace {trace}"
        );
    }
}

/// Both ends of every network span by name, from the apps' own spans. The services that sent
/// spans are the instrumented ones; the demo's topology (shop.expected.json) says where each
/// listens and calls from. A span to or from such an end carries its name (`peer.service`,
/// `wirespan.client.service.name`), joined or not; ends no app speaks for (the uninstrumented
/// load generator, MariaDB) carry none.
#[test]
fn every_span_names_the_ends_the_apps_speak_for() {
    let (_, run) = shop_run();
    let topology = read_json("pcaps/shop/shop.expected.json")["topology"].clone();
    let mut callers: HashMap<String, String> = HashMap::new();
    let mut servers: HashMap<(String, i64), String> = HashMap::new();
    let mut network = Vec::new();
    for line in run.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let req: Value = serde_json::from_slice(line).expect("json");
        for rs in req["resourceSpans"].as_array().expect("resourceSpans") {
            let resource = json!({"attributes": rs["resource"]["attributes"]});
            let service = attr_str(&resource, "service.name").expect("service.name");
            if service == "wirespan" {
                for ss in rs["scopeSpans"].as_array().expect("scopeSpans") {
                    network.extend(ss["spans"].as_array().expect("spans").iter().cloned());
                }
                continue;
            }
            let ip = topology["pods"][&service]["ip"].as_str().expect("pod ip");
            let port = topology["service_ports"][&service].as_i64().expect("port");
            callers.insert(ip.to_owned(), service.clone());
            servers.insert((ip.to_owned(), port), service);
        }
    }
    assert_eq!(callers.len(), 3, "frontend, cart and catalog: {callers:?}");
    let mut edges: HashMap<(String, String), usize> = HashMap::new();
    for s in &network {
        let client = attr_str(s, "client.address").expect("client.address");
        let server = (
            attr_str(s, "server.address").expect("server.address"),
            attr_int(s, "server.port").expect("server.port"),
        );
        let client_name = attr_str(s, "wirespan.client.service.name");
        let server_name = attr_str(s, "peer.service");
        assert_eq!(client_name.as_ref(), callers.get(&client), "{s}");
        assert_eq!(server_name.as_ref(), servers.get(&server), "{s}");
        *edges
            .entry((
                client_name.unwrap_or(client),
                server_name.unwrap_or(format!("{}:{}", server.0, server.1)),
            ))
            .or_default() += 1;
    }
    for edge in [
        ("frontend", "cart"),
        ("frontend", "catalog"),
        ("cart", "10.244.2.30:3306"),
        ("catalog", "10.244.2.30:3306"),
        ("10.244.1.20", "frontend"),
    ] {
        assert!(
            edges.contains_key(&(edge.0.to_owned(), edge.1.to_owned())),
            "{edge:?} in {edges:?}"
        );
    }
    assert_eq!(run.counter("names_endpoint_conflicts"), 0);
    assert_eq!(
        run.counter("names_spans_named") as usize,
        network
            .iter()
            .filter(|s| attr_str(s, "peer.service").is_some()
                || attr_str(s, "wirespan.client.service.name").is_some())
            .count()
    );
}

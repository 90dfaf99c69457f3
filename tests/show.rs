//! `wirespan show` and latency attribution on the bundled end-to-end demo (pcaps/shop): every
//! app-to-app call's CLIENT span is split into the caller's time, each network leg between
//! capture points and the callee's SERVER span, recomputed here from the raw span times; the
//! waterfall draws every span of every trace, and its filters keep exactly the traces they say.

mod common;

use common::*;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Every span with its resource's service name.
fn spans_with_service(path: &Path) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for line in std::fs::read_to_string(path).expect("output").lines() {
        let req: Value = serde_json::from_str(line).expect("json line");
        for rs in req["resourceSpans"].as_array().expect("resourceSpans") {
            let service = rs["resource"]["attributes"]
                .as_array()
                .and_then(|a| a.iter().find(|kv| kv["key"] == "service.name"))
                .and_then(|kv| kv["value"]["stringValue"].as_str())
                .unwrap_or("?")
                .to_owned();
            for ss in rs["scopeSpans"].as_array().expect("scopeSpans") {
                for s in ss["spans"].as_array().expect("spans") {
                    out.push((service.clone(), s.clone()));
                }
            }
        }
    }
    out
}

fn show(args: &[&str], stdin: Option<&[u8]>) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wirespan"))
        .arg("show")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wirespan show");
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.unwrap_or_default()).expect("stdin");
    }
    let out = child.wait_with_output().expect("show exits");
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

fn drawn_traces(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("trace "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn times(s: &Value) -> (i64, i64) {
    (
        ns(s, "startTimeUnixNano") as i64,
        ns(s, "endTimeUnixNano") as i64,
    )
}

/// The done-when of the attribution: for every app-to-app call of the demo (a CLIENT span, the
/// network hops under it, the callee's SERVER span under them), the parts are what the raw
/// timestamps say, none is negative (one clock, nanosecond captures), and they add up to the
/// CLIENT span's duration.
#[test]
fn every_app_to_app_call_splits_into_client_network_and_server_time() {
    let out = shop_output();
    let spans = spans_with_service(&out);
    let by_id: HashMap<(String, String), &Value> = spans
        .iter()
        .map(|(_, s)| {
            (
                (
                    s["traceId"].as_str().unwrap_or("").to_owned(),
                    s["spanId"].as_str().unwrap_or("").to_owned(),
                ),
                s,
            )
        })
        .collect();
    let parent = |s: &Value| {
        by_id
            .get(&(
                s["traceId"].as_str().unwrap_or("").to_owned(),
                s["parentSpanId"].as_str().unwrap_or("").to_owned(),
            ))
            .copied()
    };
    let is_network = |s: &Value| attr_str(s, "wirespan.capture.point").is_some();
    let mut calls = 0;
    for (_, server) in spans
        .iter()
        .filter(|(_, s)| s["kind"] == 2 && !is_network(s))
    {
        // Up from the callee through the network hops to the caller.
        let mut hops = Vec::new();
        let mut at = parent(server);
        while let Some(p) = at.filter(|p| is_network(p)) {
            hops.push(p);
            at = parent(p);
        }
        let Some(client) = at.filter(|c| c["kind"] == 3 && !hops.is_empty()) else {
            continue;
        };
        calls += 1;
        hops.reverse();
        let (c0, c1) = times(client);
        let (s0, s1) = times(server);
        let (f0, f1) = times(hops[0]);
        let want_client = (f0 - c0) + (c1 - f1);
        let mut points: Vec<(i64, i64)> = hops.iter().map(|h| times(h)).collect();
        points.push((s0, s1));
        let legs: Vec<i64> = points
            .windows(2)
            .map(|w| (w[1].0 - w[0].0) + (w[0].1 - w[1].1))
            .collect();
        let ctx = format!("{} {}", client["name"], client["spanId"]);
        assert_eq!(
            attr_int(client, "wirespan.latency.client_ns"),
            Some(want_client),
            "{ctx}"
        );
        assert_eq!(
            attr_int(client, "wirespan.latency.server_ns"),
            Some(s1 - s0),
            "{ctx}"
        );
        assert_eq!(
            attr_int(client, "wirespan.latency.network_ns"),
            Some(legs.iter().sum::<i64>()),
            "{ctx}"
        );
        for (hop, leg) in hops.iter().zip(&legs) {
            assert_eq!(
                attr_int(hop, "wirespan.latency.hop_ns"),
                Some(*leg),
                "{ctx}"
            );
            assert!(*leg >= 0, "{ctx}: a leg of {leg} ns");
        }
        assert!(want_client >= 0, "{ctx}");
        assert_eq!(
            want_client + legs.iter().sum::<i64>() + (s1 - s0),
            c1 - c0,
            "{ctx}: the parts add up to the CLIENT span"
        );
        // The overlay call crosses the VXLAN underlay on its way.
        assert!(
            hops.iter()
                .any(|h| attr_str(h, "wirespan.tunnel").is_some()),
            "{ctx}: no tunnel hop"
        );
    }
    // Five requests, each frontend → cart (gRPC) and frontend → catalog (HTTP).
    assert_eq!(calls, 10);
    let _ = std::fs::remove_file(&out);
}

#[test]
fn show_draws_every_span_and_filters_traces() {
    let out = shop_output();
    let file = out.to_string_lossy().into_owned();
    let spans = spans_with_service(&out);
    let mut per_trace: HashMap<String, Vec<(String, &Value)>> = HashMap::new();
    let mut order = Vec::new();
    for (service, s) in &spans {
        let id = s["traceId"].as_str().unwrap_or("").to_owned();
        if !per_trace.contains_key(&id) {
            order.push(id.clone());
        }
        per_trace.entry(id).or_default().push((service.clone(), s));
    }
    let (code, text) = show(&[&file, "--bar-width", "30"], None);
    assert_eq!(code, 0);
    assert_eq!(
        drawn_traces(&text),
        order,
        "every trace, in order of appearance"
    );
    // One line per span, each with a 30-character bar; app and network spans drawn apart.
    let span_lines: Vec<&str> = text.lines().filter(|l| l.ends_with('|')).collect();
    assert_eq!(span_lines.len(), spans.len());
    for l in &span_lines {
        let bar = l
            .split_once("  |")
            .map_or("", |(_, b)| b.strip_suffix('|').unwrap_or(b));
        assert_eq!(bar.chars().count(), 30, "{l}");
        let fill = if l.contains("(net ") { '▒' } else { '█' };
        assert!(bar.contains(fill), "{l}");
    }
    // The attribution of each of the ten calls, under its CLIENT span.
    assert_eq!(text.matches("↳ GetCart ").count(), 5);
    assert_eq!(text.matches("↳ GET ").count(), 5);
    assert!(text.contains("[vxlan:1"));
    // Standard input gives the same.
    let bytes = std::fs::read(&out).expect("output");
    assert_eq!(show(&["--bar-width", "30"], Some(&bytes)).1, text);

    let duration = |id: &str| {
        let t = &per_trace[id];
        let start = t
            .iter()
            .map(|(_, s)| ns(s, "startTimeUnixNano"))
            .min()
            .unwrap_or(0);
        let end = t
            .iter()
            .map(|(_, s)| ns(s, "endTimeUnixNano"))
            .max()
            .unwrap_or(0);
        end - start
    };
    let filtered = |args: &[&str]| {
        let mut all = vec![file.as_str()];
        all.extend_from_slice(args);
        let (code, text) = show(&all, None);
        (code, drawn_traces(&text))
    };
    let want = |keep: &dyn Fn(&str) -> bool| -> Vec<String> {
        order.iter().filter(|id| keep(id)).cloned().collect()
    };
    let first = &order[0];
    assert_eq!(
        filtered(&["--trace-id", &first[..8]]).1,
        vec![first.clone()]
    );
    let cart = want(&|id| per_trace[id].iter().any(|(svc, _)| svc == "cart"));
    assert!(!cart.is_empty() && cart.len() < order.len(), "{cart:?}");
    assert_eq!(filtered(&["--service", "cart"]).1, cart);
    let items = want(&|id| {
        per_trace[id]
            .iter()
            .any(|(_, s)| attr_str(s, "url.path").is_some_and(|p| p.contains("/items")))
    });
    assert_eq!(filtered(&["--path", "/items"]).1, items);
    let mut durations: Vec<u64> = order.iter().map(|id| duration(id)).collect();
    durations.sort_unstable();
    let cut = durations[durations.len() / 2];
    let long = want(&|id| duration(id) >= cut);
    assert_eq!(
        filtered(&["--min-duration-ms", &format!("{}", cut as f64 / 1e6)]).1,
        long
    );
    let failed: HashSet<String> = want(&|id| {
        per_trace[id].iter().any(|(_, s)| {
            s["status"]["code"] == 2
                || attr_int(s, "http.response.status_code").is_some_and(|c| c >= 500)
                || attr_int(s, "rpc.grpc.status_code").is_some_and(|c| c != 0)
        })
    })
    .into_iter()
    .collect();
    let (code, errors) = filtered(&["--errors"]);
    assert_eq!(errors.into_iter().collect::<HashSet<_>>(), failed);
    assert_eq!(code, if failed.is_empty() { 1 } else { 0 });
    // Nothing matches: nothing drawn, exit 1.
    assert_eq!(filtered(&["--trace-id", "ffffffffffffffff"]), (1, vec![]));
    let _ = std::fs::remove_file(&out);
}

#[test]
fn show_says_what_is_wrong_with_its_input() {
    let out = Command::new(env!("CARGO_BIN_EXE_wirespan"))
        .args(["show", "-"])
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let mut child = Command::new(env!("CARGO_BIN_EXE_wirespan"))
        .args(["show"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run");
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(b"{\"resourceSpans\": []}\nnot json\n")
            .expect("stdin");
    }
    let out = child.wait_with_output().expect("exit");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("standard input: line 2"), "{stderr}");
}

/// `show --html`: one page with no outside assets, drawn by headless Chromium: every span a
/// row with a bar, the first span's details open, and in the screenshot both kinds of bar.
#[test]
fn the_html_view_renders_in_a_browser() {
    let out = shop_output();
    let page = tmp("shop.html");
    let (code, _) = show(
        &[
            out.to_str().expect("path"),
            "--html",
            page.to_str().expect("path"),
        ],
        None,
    );
    assert_eq!(code, 0);
    let html = std::fs::read_to_string(&page).expect("page");
    for outside in ["src=", "href=", "@import", "url("] {
        assert!(
            !html.contains(outside),
            "the page loads something: {outside}"
        );
    }
    let Some(browser) = chromium() else {
        return;
    };
    let spans = spans_with_service(&out).len();
    let profile = tmp("chromium-profile");
    let url = format!("file://{}", page.display());
    let dom = headless(browser, &profile, &["--dump-dom", &url]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains(&format!("data-rendered=\"{spans}\"")),
        "not every span was drawn:\n{}",
        &dom[..dom.len().min(2000)]
    );
    assert_eq!(dom.matches("class=\"bar ").count(), spans);
    assert_eq!(
        dom.matches("class=\"row split\"").count(),
        10,
        "the ten calls' splits"
    );
    assert!(
        dom.contains("<td>wirespan.capture.point</td>"),
        "details of the first span"
    );
    // The screenshot shows app bars and network bars in their colours.
    let png = tmp("shop.png");
    let shot = headless(
        browser,
        &profile,
        &[
            "--window-size=1400,1000",
            &format!("--screenshot={}", png.display()),
            &url,
        ],
    );
    assert!(png.exists(), "{}", String::from_utf8_lossy(&shot.stderr));
    let count = Command::new("python3")
        .args([
            "-c",
            "import sys; from PIL import Image\n\
             im = Image.open(sys.argv[1]).convert('RGB'); px = list(im.getdata())\n\
             near = lambda c, t: all(abs(a - b) < 12 for a, b in zip(c, t))\n\
             print(im.size[0], im.size[1], sum(near(p, (0x3b, 0x6f, 0xd4)) for p in px),\n\
                   sum(near(p, (0x2a, 0xa1, 0x98)) for p in px))",
            png.to_str().expect("path"),
        ])
        .output()
        .expect("python3");
    let counts = String::from_utf8_lossy(&count.stdout);
    let n: Vec<u64> = counts
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    if n.len() != 4 {
        assert!(
            std::env::var_os("CI").is_none(),
            "pillow: {}",
            String::from_utf8_lossy(&count.stderr)
        );
        eprintln!("SKIPPED: screenshot check needs pillow");
        return;
    }
    assert_eq!((n[0], n[1]), (1400, 1000));
    // Bars are 12 px high: thousands of pixels of each colour, far from noise.
    assert!(n[2] > 5_000, "app-bar pixels: {}", n[2]);
    assert!(n[3] > 5_000, "network-bar pixels: {}", n[3]);
    let _ = std::fs::remove_file(&page);
    let _ = std::fs::remove_file(&png);
    let _ = std::fs::remove_dir_all(&profile);
}

/// `show --map` on the demo: the real edges by name (loadgen, uninstrumented, and MariaDB,
/// which no app speaks for, by address), each gRPC and HTTP edge with one call per request,
/// and each edge's calls and server-side median recomputed here from the network spans.
#[test]
fn the_map_has_the_demo_edges_with_their_calls_and_latency() {
    let out = shop_output();
    let (code, text) = show(&["--map", &out.to_string_lossy()], None);
    assert_eq!(code, 0, "{text}");
    let expected = read_json("pcaps/shop/shop.expected.json");
    let requests = expected["requests"].as_array().expect("requests").len();
    // Each call once (its spans at every capture point share 5-tuple and req_seq), with the
    // shortest time any capture point saw.
    type Edge = (String, String, String);
    type Call = (String, i64, i64);
    let mut calls: HashMap<Edge, HashMap<Call, u64>> = HashMap::new();
    for (_, s) in spans_with_service(&out) {
        if attr_str(&s, "wirespan.capture.point").is_none() {
            continue;
        }
        let client = attr_str(&s, "wirespan.client.service.name")
            .unwrap_or_else(|| attr_str(&s, "client.address").unwrap());
        let server = attr_str(&s, "peer.service").unwrap_or_else(|| {
            format!(
                "{}:{}",
                attr_str(&s, "server.address").unwrap(),
                attr_int(&s, "server.port").unwrap()
            )
        });
        let protocol = attr_str(&s, "rpc.system")
            .or_else(|| attr_str(&s, "db.system"))
            .or_else(|| attr_str(&s, "network.protocol.name"))
            .unwrap();
        let took = ns(&s, "endTimeUnixNano") - ns(&s, "startTimeUnixNano");
        let call = (
            attr_str(&s, "client.address").unwrap(),
            attr_int(&s, "client.port").unwrap(),
            attr_int(&s, "wirespan.tcp.req_seq").unwrap(),
        );
        let slot = calls
            .entry((client, server, protocol))
            .or_default()
            .entry(call)
            .or_insert(u64::MAX);
        *slot = (*slot).min(took);
    }
    let lines: Vec<&str> = text.lines().skip(2).collect();
    assert_eq!(lines.len(), calls.len(), "{text}");
    for ((client, server, protocol), by_call) in &calls {
        let line = lines
            .iter()
            .find(|l| {
                l.starts_with(&format!("{client} → {server} ")) && l.contains(protocol.as_str())
            })
            .unwrap_or_else(|| panic!("no edge {client} → {server} {protocol} in\n{text}"));
        let cols: Vec<&str> = line.split_whitespace().collect();
        // caller → server protocol calls errors p50 p95 p99 client-p50
        assert_eq!(cols[4].parse::<usize>().unwrap(), by_call.len(), "{line}");
        let mut times: Vec<u64> = by_call.values().copied().collect();
        times.sort_unstable();
        let p50 = times[(times.len() as f64 * 0.5).ceil() as usize - 1];
        assert_eq!(cols[6], format!("{:.3}", p50 as f64 / 1e6), "{line}");
    }
    for (client, server, protocol) in [
        ("10.244.1.20", "frontend", "http"),
        ("frontend", "cart", "grpc"),
        ("frontend", "catalog", "http"),
    ] {
        let n = calls[&(client.to_owned(), server.to_owned(), protocol.to_owned())].len();
        assert_eq!(n, requests, "{client} → {server}");
    }
    for client in ["cart", "catalog"] {
        assert!(calls.contains_key(&(
            client.to_owned(),
            "10.244.2.30:3306".to_owned(),
            "mysql".to_owned()
        )));
    }
}

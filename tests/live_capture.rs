//! Live capture against real traffic: two network namespaces, a real HTTP server, wirespan
//! capturing on a veth while tcpdump records the same interface (tests/live/run-live.sh).
//! Needs root, iproute2 and tcpdump: skipped with a message elsewhere, required on CI.

mod common;

use common::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

struct LiveRun {
    dir: PathBuf,
    stderr: String,
    /// The veth (underlay) and VXLAN device the capture ran on.
    veth: String,
    vx: String,
}

fn run_live(name: &str, ws_args: &str, iface: Option<&str>, filter: &[&str]) -> LiveRun {
    run_live_with(name, ws_args, iface, filter, None)
}

fn run_live_with(
    name: &str,
    ws_args: &str,
    iface: Option<&str>,
    filter: &[&str],
    app_spans_url: Option<&str>,
) -> LiveRun {
    let dir = std::env::temp_dir().join(format!("wirespan-live-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new("bash")
        .arg(repo("tests/live/run-live.sh"))
        .arg(env!("CARGO_BIN_EXE_wirespan"))
        .arg(&dir)
        .args(filter)
        .env("WS_ARGS", ws_args)
        .envs(iface.map(|i| ("WS_IFACE", i)))
        .envs(app_spans_url.map(|u| ("WS_APP_SPANS", u)))
        .envs(metrics_addr(ws_args).map(|a| ("WS_METRICS", a)))
        .envs(collector_port(ws_args).map(|p| ("WS_COLLECTOR_PORT", p)))
        .output()
        .expect("run the live script");
    let stderr = std::fs::read_to_string(dir.join("live.stderr")).unwrap_or_default();
    assert!(
        out.status.success(),
        "live script failed: {}\n{}\nwirespan: {stderr}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let ifaces = std::fs::read_to_string(dir.join("ifaces")).unwrap_or_default();
    let mut it = ifaces.split_whitespace().map(str::to_owned);
    let (veth, vx) = (it.next().unwrap_or_default(), it.next().unwrap_or_default());
    LiveRun {
        dir,
        stderr,
        veth,
        vx,
    }
}

/// The port of `--export http://127.0.0.1:PORT/…` in wirespan's arguments, if any: a test
/// collector listens there.
fn collector_port(ws_args: &str) -> Option<&str> {
    let mut words = ws_args.split_whitespace();
    words.find(|w| *w == "--export")?;
    let url = words.next()?.strip_prefix("http://127.0.0.1:")?;
    url.split('/').next()
}

/// The address of `--metrics-listen ADDR` in wirespan's arguments, if any.
fn metrics_addr(ws_args: &str) -> Option<&str> {
    let mut words = ws_args.split_whitespace();
    words.find(|w| *w == "--metrics-listen")?;
    words.next()
}

/// A Prometheus text exposition as `metric{labels}` → value.
fn scrape(text: &str) -> std::collections::HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// What must agree between the live and the replayed span of one call.
/// Every field but the capture point and the tap side (kind and `wirespan.tap_side`), which
/// [`same_tap_side`] compares.
fn comparable(s: &Value) -> Vec<String> {
    let mut v = vec![
        s["name"].to_string(),
        s["traceId"].to_string(),
        s["parentSpanId"].to_string(),
        s["status"].to_string(),
    ];
    for a in s["attributes"].as_array().into_iter().flatten() {
        let key = a["key"].as_str().unwrap_or("");
        // Where it was seen, and who owns the sockets (only a live capture can tell).
        if key != "wirespan.capture.point"
            && key != "wirespan.tap_side"
            && !key.contains(".process.")
        {
            v.push(a.to_string());
        }
    }
    v
}

/// Every live span names both processes of its call: the client script and the server
/// (nginx's worker, or Python's http.server where nginx is missing), each in its own network
/// namespace.
fn check_process_names(live: &LiveRun, spans: &[Value]) {
    let server = match std::fs::read_to_string(live.dir.join("server")).as_deref() {
        Ok("nginx\n") => "nginx",
        _ => "python3",
    };
    for s in spans {
        let name = |end: &str| attr_str(s, &format!("wirespan.{end}.process.executable.name"));
        let pid = |end: &str| attr_int(s, &format!("wirespan.{end}.process.pid"));
        assert_eq!(name("client").as_deref(), Some("python3"), "{s}");
        assert_eq!(name("server").as_deref(), Some(server), "{s}");
        assert!(pid("client").is_some_and(|p| p > 1) && pid("server").is_some_and(|p| p > 1));
        assert_ne!(pid("client"), pid("server"));
    }
}

/// The tap side of both spans agrees. Between two namespaces on this host both TTLs are
/// initial, so the side comes from handshake timing alone (microseconds here); with two
/// fanout sockets the kernel stamps each socket's packets separately, and under load that
/// can tip the SYN/SYN-ACK/ACK ratio into "unknown". So with `two_sockets`, unknown on one
/// side is accepted; a contradiction (client against server) never is.
fn same_tap_side(a: &Value, b: &Value, two_sockets: bool) -> bool {
    let side = |s: &Value| (attr_str(s, "wirespan.tap_side"), s["kind"].clone());
    let (sa, sb) = (side(a), side(b));
    let unknown = |s: &(Option<String>, Value)| s.0.as_deref() == Some("unknown") && s.1 == 1;
    sa == sb || (two_sockets && (unknown(&sa) || unknown(&sb)))
}

fn at_point(spans: &[Value], point: &str) -> Vec<Value> {
    let mut mine: Vec<Value> = spans
        .iter()
        .filter(|s| attr_str(s, "wirespan.capture.point").as_deref() == Some(point))
        .cloned()
        .collect();
    mine.sort_by_key(|s| ns(s, "startTimeUnixNano"));
    mine
}

/// Live spans of both interfaces equal the replay of tcpdump's captures of them, and the
/// client's own account of each call.
/// Returns wirespan's standard error.
fn check_live_equals_replay(name: &str, ws_args: &str, iface: Option<&str>) -> String {
    let live = run_live(
        name,
        ws_args,
        iface,
        &["tcp", "port", "8080", "or", "udp", "port", "4789"],
    );
    let client: Value = serde_json::from_str(
        &std::fs::read_to_string(live.dir.join("client.json")).expect("client log"),
    )
    .expect("client json");
    let calls = client["calls"].as_array().expect("calls");
    let live_spans = spans_of(&std::fs::read(live.dir.join("live.jsonl")).expect("live output"));
    assert_eq!(counter(&live.stderr, "kernel_drops"), 0, "{}", live.stderr);
    assert_eq!(counter(&live.stderr, "queue_drops"), 0, "{}", live.stderr);
    let replayed = replay(&[live.dir.join("veth.pcap"), live.dir.join("vx.pcap")], &[]);
    assert_eq!(replayed.code, 0, "{}", replayed.stderr);
    let replay_spans = replayed.spans();
    let overlay_calls = calls
        .iter()
        .filter(|c| c["server_address"] == "10.204.0.2")
        .count();
    // The veth sees every call (overlay ones inside VXLAN); the VXLAN device sees the overlay's.
    for (point, pcap, expected) in [
        (&live.veth, "pcap:veth.pcap#0", calls.len()),
        (&live.vx, "pcap:vx.pcap#0", overlay_calls),
    ] {
        let ours = at_point(&live_spans, point);
        check_process_names(&live, &ours);
        let reference = at_point(&replay_spans, pcap);
        assert_eq!(
            ours.len(),
            expected,
            "{point}: one span per call\n{}",
            live.stderr
        );
        assert_eq!(reference.len(), expected, "{pcap}");
        for (a, b) in ours.iter().zip(&reference) {
            assert_eq!(comparable(a), comparable(b), "{point}");
            assert!(
                same_tap_side(a, b, ws_args.contains("--threads 2")),
                "{point}: tap side {a} vs {b}"
            );
            // Each packet socket stamps the packets it is given; two sockets on one interface
            // may differ by microseconds for packets this host sends.
            for key in ["startTimeUnixNano", "endTimeUnixNano"] {
                assert!(
                    ns(a, key).abs_diff(ns(b, key)) < 1_000_000,
                    "{key}: {} vs {}",
                    ns(a, key),
                    ns(b, key)
                );
            }
        }
    }
    let underlay = at_point(&live_spans, &live.veth);
    let tunnelled = underlay
        .iter()
        .filter(|s| attr_str(s, "wirespan.tunnel").is_some_and(|t| t.starts_with("vxlan:4343,")))
        .count();
    assert_eq!(
        tunnelled, overlay_calls,
        "overlay calls carry their tunnel at the underlay"
    );
    for call in calls {
        let port = call["client_port"].as_i64();
        let span = underlay.iter().find(|s| {
            attr_int(s, "client.port") == port
                && attr_str(s, "url.path").as_deref() == call["path"].as_str()
        });
        let span = span.unwrap_or_else(|| panic!("no span for {call}"));
        assert_eq!(
            span["name"],
            format!(
                "{} {}",
                call["method"].as_str().unwrap_or(""),
                call["path"].as_str().unwrap_or("")
            )
        );
        assert_eq!(
            attr_int(span, "http.response.status_code"),
            call["status"].as_i64()
        );
        assert_eq!(
            attr_int(span, "http.response.body.size"),
            call["response_body_size"].as_i64()
        );
        assert_eq!(
            attr_int(span, "http.request.body.size"),
            call["request_body_size"].as_i64()
        );
        assert_eq!(
            attr_str(span, "server.address").as_deref(),
            call["server_address"].as_str()
        );
    }
    // The kernel filter let through exactly what tcpdump's same filter matches.
    let count = |pcap: &str| {
        let filtered = live.dir.join(format!("filtered-{pcap}"));
        let ok = Command::new("tcpdump")
            .arg("-r")
            .arg(live.dir.join(pcap))
            .arg("-w")
            .arg(&filtered)
            .arg("tcp port 8080 or udp port 4789")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(ok, "tcpdump -r {pcap}");
        replay(&[filtered], &[]).counter("packets")
    };
    assert_eq!(
        counter(&live.stderr, "packets"),
        count("veth.pcap") + count("vx.pcap")
    );
    let _ = std::fs::remove_dir_all(&live.dir);
    live.stderr
}

#[test]
fn live_spans_equal_replay_spans_of_the_same_traffic() {
    if live_capable() {
        check_live_equals_replay("one", "", None);
    }
}

#[test]
fn two_fanout_readers_and_workers_give_the_same_spans() {
    if live_capable() {
        let live =
            check_live_equals_replay("two", "--threads 2 --cpus 0,1 --stats-interval 0.5", None);
        // Counters every half second while it ran, as well as at the end.
        assert!(live.contains("wirespan: after"), "{live}");
    }
}

/// `-i any`: cooked frames from every interface, each named after the interface it came from.
#[test]
fn any_interface_captures_every_interface_under_its_own_name() {
    if live_capable() {
        check_live_equals_replay("any", "", Some("any"));
    }
}

#[test]
fn the_kernel_filter_keeps_out_what_it_should() {
    if !live_capable() {
        return;
    }
    let live = run_live("filter", "", None, &["tcp", "port", "9999"]);
    let spans = spans_of(&std::fs::read(live.dir.join("live.jsonl")).unwrap_or_default());
    assert!(spans.is_empty());
    // Nothing reached the ring at all: the filter ran in the kernel.
    assert_eq!(
        counter(&live.stderr, "kernel_packets"),
        0,
        "{}",
        live.stderr
    );
    assert_eq!(counter(&live.stderr, "packets"), 0);
    let _ = std::fs::remove_dir_all(&live.dir);
}

#[test]
fn bad_setups_fail_at_once_with_one_line() {
    let wirespan = env!("CARGO_BIN_EXE_wirespan");
    let missing = Command::new(wirespan)
        .args(["capture", "-i", "nosuch0", "-o", "/dev/null"])
        .output()
        .expect("run");
    assert_eq!(missing.status.code(), Some(1));
    let msg = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(msg.trim(), "wirespan: interface nosuch0 does not exist");

    let bad = Command::new(wirespan)
        .args(["capture", "-i", "lo", "tcp", "prot", "80"])
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(1));
    let msg = String::from_utf8_lossy(&bad.stderr);
    assert!(
        msg.starts_with("wirespan: bad filter 'tcp prot 80'") && msg.trim().lines().count() == 1,
        "{msg}"
    );

    // -d prints the program as tcpdump does and exits.
    let dump = Command::new(wirespan)
        .args(["capture", "-i", "lo", "-d", "tcp", "port", "80"])
        .output()
        .expect("run");
    assert!(dump.status.success());
    let ours = String::from_utf8_lossy(&dump.stdout).into_owned();
    assert!(ours.starts_with("(000) ldh      [12]"), "{ours}");
    if let Ok(t) = Command::new("tcpdump")
        .args(["-i", "lo", "-d", "tcp", "port", "80"])
        .output()
    {
        if t.status.success() {
            assert_eq!(ours, String::from_utf8_lossy(&t.stdout));
        }
    }

    // Without CAP_NET_RAW (as nobody, all capabilities dropped), when setpriv is there to say so.
    let unprivileged = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ])
        .args([wirespan, "capture", "-i", "lo", "-o", "/dev/null"])
        .output();
    match unprivileged {
        Ok(o) if !String::from_utf8_lossy(&o.stderr).contains("setpriv:") => {
            assert_eq!(o.status.code(), Some(1));
            let msg = String::from_utf8_lossy(&o.stderr);
            assert!(
                msg.contains("CAP_NET_RAW") && msg.trim().lines().count() == 1,
                "{msg}"
            );
        }
        _ => eprintln!("SKIPPED: setpriv is not available to drop privileges"),
    }
}

/// The live agent: the apps' spans arrive over OTLP while wirespan captures; the output is one
/// trace per call — CLIENT span → network spans along the path → SERVER span.
#[test]
fn live_capture_joins_the_apps_otlp_spans() {
    if !live_capable() {
        return;
    }
    if !proto_package() {
        return;
    }
    let live = run_live_with(
        "agent",
        "--otlp --listen-deepflow 127.0.0.1:38086 --listen-http off --listen-grpc off --correlation-window-ms 3000 --metrics-listen 127.0.0.1:9477 --export http://127.0.0.1:4318/v1/traces --export-metrics-interval-s 1",
        None,
        &["tcp", "port", "8080", "or", "udp", "port", "4789"],
        Some("http://127.0.0.1:38086/api/v1/otel/trace"),
    );
    let client: Value = serde_json::from_str(
        &std::fs::read_to_string(live.dir.join("client.json")).expect("client log"),
    )
    .expect("client json");
    let calls = client["calls"].as_array().expect("calls");
    let spans = spans_of(&std::fs::read(live.dir.join("live.jsonl")).expect("live output"));
    assert!(
        live.stderr
            .contains(&format!("{} spans received", calls.len() * 2)),
        "{}",
        live.stderr
    );
    check_metrics(&live, &spans, calls.len());
    check_service_graph(&live, &spans, calls.len());
    // Once its sockets and listeners were open it kept no capability, in any thread, but
    // for the namer's two that read other processes' descriptors (DAC_READ_SEARCH, SYS_PTRACE).
    let caps = std::fs::read_to_string(live.dir.join("capeff")).unwrap_or_default();
    assert!(caps.lines().count() >= 3, "threads seen: {caps}");
    for line in caps.lines() {
        let want = if line.starts_with("namer ") {
            "CapEff:\t0000000000080004"
        } else {
            "CapEff:\t0000000000000000"
        };
        assert!(line.ends_with(want), "{line}\n{caps}");
    }
    assert_eq!(
        caps.lines().filter(|l| l.starts_with("namer ")).count(),
        1,
        "{caps}"
    );
    let by_id: std::collections::HashMap<(String, String), &Value> = spans
        .iter()
        .map(|s| {
            (
                (
                    s["traceId"].as_str().unwrap_or("").to_owned(),
                    s["spanId"].as_str().unwrap_or("").to_owned(),
                ),
                s,
            )
        })
        .collect();
    for call in calls {
        let tp: Vec<&str> = call["traceparent"]
            .as_str()
            .expect("traceparent")
            .split('-')
            .collect();
        let (trace, client_span) = (tp[1], tp[2]);
        let server_span = format!(
            "{:016x}",
            u64::from_str_radix(client_span, 16).unwrap_or(0) + 0x1000
        );
        // Walk from the SERVER span up: network spans, then the CLIENT span.
        let mut at = by_id
            .get(&(trace.to_owned(), server_span.clone()))
            .copied()
            .unwrap_or_else(|| panic!("SERVER span of {call} not in the output"));
        assert!(
            attr_str(at, "wirespan.reparented_from").as_deref() == Some(client_span),
            "{call}"
        );
        let mut hops = Vec::new();
        loop {
            let parent = at["parentSpanId"].as_str().unwrap_or("").to_owned();
            at = by_id
                .get(&(trace.to_owned(), parent.clone()))
                .copied()
                .unwrap_or_else(|| panic!("{call}: parent {parent} missing"));
            if at["spanId"] == client_span {
                break;
            }
            hops.push(attr_str(at, "wirespan.capture.point").unwrap_or_default());
        }
        let overlay = call["server_address"] == "10.204.0.2";
        // Inner traffic is seen on the VXLAN device before the veth carries it encapsulated.
        let want = if overlay {
            vec![live.veth.clone(), live.vx.clone()]
        } else {
            vec![live.veth.clone()]
        };
        assert_eq!(hops, want, "{call}: network hops from the server's side up");
    }
    let _ = std::fs::remove_dir_all(&live.dir);
}

/// The service graph of the agent run, in the scrape (read by prometheus_client's parser) and
/// in the OTLP metrics the test collector received: every call once (the overlay's calls were
/// seen at two capture points), between the names the apps gave themselves.
fn check_service_graph(live: &LiveRun, spans: &[Value], calls: usize) {
    // The calls, worked out from the spans: all between the two apps' names.
    let edges = service_graph_edges(spans);
    let by_call = edges
        .get(&("live-client".into(), "live-server".into(), String::new()))
        .unwrap_or_else(|| panic!("{edges:?}"));
    assert_eq!(edges.len(), 1, "{edges:?}");
    assert_eq!(by_call.len(), calls);
    let server_sum: f64 = by_call.values().map(|c| c.0 as f64 / 1e9).sum();
    let client_sum: f64 = by_call.values().map(|c| c.1 as f64 / 1e9).sum();
    let failed = by_call.values().filter(|c| c.2).count() as f64;
    let edge = [
        ("client", "live-client"),
        ("server", "live-server"),
        ("connection_type", ""),
    ];

    let samples = prometheus_samples(&live.dir.join("metrics.txt"));
    let get = |name: &str, labels: &[(&str, &str)]| sample_sum(&samples, name, labels);
    assert_eq!(get("traces_service_graph_request_total", &[]), calls as f64);
    assert_eq!(
        get("traces_service_graph_request_total", &edge),
        calls as f64,
        "{samples:?}"
    );
    assert_eq!(
        get("traces_service_graph_request_failed_total", &edge),
        failed
    );
    for (name, sum) in [
        ("traces_service_graph_request_server_seconds", server_sum),
        ("traces_service_graph_request_client_seconds", client_sum),
    ] {
        assert_eq!(get(&format!("{name}_count"), &edge), calls as f64);
        let got = get(&format!("{name}_sum"), &edge);
        assert!((got - sum).abs() < 1e-6, "{name}: {got} vs {sum}");
        let inf = [edge.as_slice(), &[("le", "+Inf")]].concat();
        assert_eq!(get(&format!("{name}_bucket"), &inf), calls as f64);
    }
    // Per endpoint: the server's operations, each call once.
    let server = [
        ("service", "live-server"),
        ("span_kind", "SPAN_KIND_SERVER"),
    ];
    assert_eq!(get("traces_spanmetrics_calls_total", &server), calls as f64);
    let mut by_operation: std::collections::BTreeMap<&str, std::collections::BTreeSet<String>> =
        Default::default();
    for s in spans
        .iter()
        .filter(|s| attr_str(s, "wirespan.capture.point").is_some())
    {
        let call = ["client.address", "client.port", "wirespan.tcp.req_seq"]
            .map(|k| format!("{:?}", attr(s, k)))
            .join(" ");
        by_operation
            .entry(s["name"].as_str().unwrap_or(""))
            .or_default()
            .insert(call);
    }
    for (operation, calls) in by_operation {
        let op = [("service", "live-server"), ("span_name", operation)];
        assert_eq!(
            get("traces_spanmetrics_calls_total", &op),
            calls.len() as f64,
            "{op:?}"
        );
    }

    // The same numbers, pushed over OTLP/HTTP every second and once at the end: the last push
    // has them all, cumulative since the start.
    let pushed = json_lines(
        &std::fs::read(live.dir.join("collector.jsonl")).expect("the collector got metrics"),
    );
    assert!(pushed.len() >= 2, "pushes: {}", pushed.len());
    assert!(live
        .stderr
        .contains(&format!("metrics push: {} sent, 0 failed", pushed.len())));
    let last = pushed.last().expect("a push");
    assert_eq!(last["transport"], "http");
    assert_eq!(last["resource"]["service.name"], "wirespan");
    assert_eq!(last["resource"]["host.name"], "test");
    let points = last["points"].as_array().expect("points");
    let point = |metric: &str| {
        points
            .iter()
            .find(|p| {
                p["metric"] == metric
                    && p["labels"]["client"] == "live-client"
                    && p["labels"]["server"] == "live-server"
            })
            .unwrap_or_else(|| panic!("no {metric} in {last}"))
    };
    let total = point("traces_service_graph_request_total");
    assert_eq!(total["kind"], "sum");
    assert_eq!(total["value"], calls as u64);
    assert_eq!(total["monotonic"], true);
    assert_eq!(total["temporality"], 2, "cumulative");
    assert!(total["start"].as_u64() < total["time"].as_u64());
    assert_eq!(
        point("traces_service_graph_request_failed_total")["value"],
        failed as u64
    );
    let server_seconds = point("traces_service_graph_request_server_seconds");
    assert_eq!(server_seconds["kind"], "histogram");
    assert_eq!(server_seconds["count"], calls as u64);
    let got = server_seconds["sum"].as_f64().unwrap_or(-1.0);
    assert!((got - server_sum).abs() < 1e-6, "{got} vs {server_sum}");
    let buckets: u64 = server_seconds["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(buckets, calls as u64);
    assert_eq!(
        server_seconds["buckets"].as_array().map(Vec::len),
        server_seconds["bounds"].as_array().map(|b| b.len() + 1)
    );
}

/// The Prometheus scrape taken during the agent run, against what the run produced.
fn check_metrics(live: &LiveRun, spans: &[Value], calls: usize) {
    let text = std::fs::read_to_string(live.dir.join("metrics.txt")).expect("metrics scraped");
    let m = scrape(&text);
    let get = |k: &str| *m.get(k).unwrap_or_else(|| panic!("no {k} in\n{text}"));
    let network: Vec<&Value> = spans
        .iter()
        .filter(|s| attr_str(s, "wirespan.capture.point").is_some())
        .collect();
    // Every call crossed the veth (the overlay ones the VXLAN device too): one span per point.
    assert!(network.len() > calls, "{} network spans", network.len());
    assert_eq!(
        get(r#"wirespan_spans_by_protocol_total{protocol="http",status="ok"}"#),
        network.len() as f64
    );
    assert_eq!(
        get(r#"wirespan_request_duration_seconds_count{protocol="http"}"#),
        network.len() as f64
    );
    // The histogram's sum is the spans' durations; its buckets count up to +Inf.
    let sum: f64 = network
        .iter()
        .map(|s| (ns(s, "endTimeUnixNano") - ns(s, "startTimeUnixNano")) as f64 / 1e9)
        .sum();
    let got = get(r#"wirespan_request_duration_seconds_sum{protocol="http"}"#);
    assert!((got - sum).abs() < 1e-6, "sum {got} vs {sum}");
    let mut last = 0.0;
    for le in ["0.0005", "0.001", "0.01", "0.1", "1", "10", "+Inf"] {
        let n = get(&format!(
            r#"wirespan_request_duration_seconds_bucket{{protocol="http",le="{le}"}}"#
        ));
        assert!(n >= last, "bucket {le}: {n} < {last}");
        last = n;
    }
    assert_eq!(last, network.len() as f64);
    let under_1ms = network
        .iter()
        .filter(|s| ns(s, "endTimeUnixNano") - ns(s, "startTimeUnixNano") <= 1_000_000)
        .count();
    assert_eq!(
        get(r#"wirespan_request_duration_seconds_bucket{protocol="http",le="0.001"}"#),
        under_1ms as f64
    );
    // The pipeline's own counters, the receiver's and the correlator's.
    assert!(get("wirespan_packets_total") > 0.0);
    assert_eq!(get("wirespan_kernel_drops_total"), 0.0);
    assert_eq!(
        get(r#"wirespan_exchanges_total{protocol="http1"}"#),
        network.len() as f64
    );
    assert_eq!(
        get(r#"wirespan_otlp_received_spans_total{result="accepted"}"#),
        (calls * 2) as f64
    );
    assert_eq!(
        get(r#"wirespan_correlation_calls_total{joined_by="context"}"#),
        calls as f64,
        "{text}"
    );
    assert!(m.contains_key(r#"wirespan_parse_errors_total{reason="http1_parse_errors"}"#));
}

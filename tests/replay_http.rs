//! Replays the bundled captures of real nginx traffic (pcaps/gen-http.sh) and their
//! re-encapsulated copies (pcaps/reencap.py), and checks every span field against what the
//! client logged it sent and received, and timestamps/sequence numbers against tshark.

mod common;

use common::*;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

fn expected_calls() -> Vec<Value> {
    let text =
        std::fs::read_to_string(repo("pcaps/http/http.expected.json")).expect("expected file");
    let v: Value = serde_json::from_str(&text).expect("expected JSON");
    v["calls"].as_array().expect("calls").clone()
}

/// What a capture point should add to each span.
struct Point<'a> {
    file: &'a str,
    capture_point: String,
    tap_side: &'a str,
    kind: i64,
    tunnel: Option<&'a str>,
    vlan: Option<&'a str>,
    /// Inner addresses when the re-encapsulation translated them to IPv6.
    client_addr: Option<&'a str>,
    server_addr: Option<&'a str>,
}

fn point<'a>(file: &'a str, tap_side: &'a str, tunnel: Option<&'a str>) -> Point<'a> {
    let name = Path::new(file)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(file);
    Point {
        file,
        capture_point: format!("pcap:{name}#0"),
        tap_side,
        kind: match tap_side {
            "client" => 3,
            "server" => 2,
            _ => 1,
        },
        tunnel,
        vlan: None,
        client_addr: None,
        server_addr: None,
    }
}

fn hex_lower(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// The trace id and parent span id the client's headers carried.
fn expected_trace(call: &Value) -> (Option<String>, Option<String>) {
    if let Some(tp) = call["traceparent"].as_str() {
        let parts: Vec<&str> = tp.split('-').collect();
        return (Some(parts[1].to_owned()), Some(parts[2].to_owned()));
    }
    if let Some(b3) = call["b3"].as_str() {
        let parts: Vec<&str> = b3.split('-').collect();
        let trace = format!("{:0>32}", parts[0]);
        return (Some(hex_lower(&trace)), Some(hex_lower(parts[1])));
    }
    if let Some(t) = call["x_b3_traceid"].as_str() {
        let trace = format!("{:0>32}", t);
        return (
            Some(hex_lower(&trace)),
            call["x_b3_spanid"].as_str().map(hex_lower),
        );
    }
    if let Some(id) = call["x_request_id"].as_str() {
        let hex: String = id.chars().filter(|c| *c != '-').collect();
        if hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return (Some(hex_lower(&hex)), None);
        }
    }
    (None, None)
}

/// Checks every span of one capture against the client's log.
fn check_capture(p: &Point<'_>) -> Vec<Value> {
    let calls = expected_calls();
    let run = replay(&[repo(p.file)], &[]);
    assert_eq!(run.code, 0, "{}: {}", p.file, run.stderr);
    let mut spans = run.spans();
    spans.sort_by_key(|s| ns(s, "startTimeUnixNano"));
    assert_eq!(
        spans.len(),
        calls.len(),
        "{}: one span per call\n{}",
        p.file,
        run.stderr
    );
    for (i, (span, call)) in spans.iter().zip(&calls).enumerate() {
        let ctx = format!("{} call #{i} {}", p.file, call["path"]);
        let method = call["method"].as_str().unwrap_or_default();
        let path = call["path"].as_str().unwrap_or_default();
        assert_eq!(span["name"], format!("{method} {path}"), "{ctx}");
        assert_eq!(
            attr_str(span, "http.request.method").as_deref(),
            Some(method),
            "{ctx}"
        );
        assert_eq!(attr_str(span, "url.path").as_deref(), Some(path), "{ctx}");
        assert_eq!(
            attr_str(span, "url.query"),
            call["query"].as_str().map(str::to_owned),
            "{ctx}"
        );
        assert_eq!(
            attr_int(span, "http.response.status_code"),
            call["status"].as_i64(),
            "{ctx}"
        );
        assert_eq!(
            attr_int(span, "http.request.body.size"),
            call["request_body_size"].as_i64(),
            "{ctx}"
        );
        assert_eq!(
            attr_int(span, "http.response.body.size"),
            call["response_body_size"].as_i64(),
            "{ctx}"
        );
        assert_eq!(
            attr_str(span, "user_agent.original"),
            call["user_agent"].as_str().map(str::to_owned),
            "{ctx}"
        );
        assert_eq!(
            attr_str(span, "http.request.header.host"),
            call["host"].as_str().map(str::to_owned),
            "{ctx}"
        );
        assert_eq!(
            attr_str(span, "http.request.header.x-request-id"),
            call["x_request_id"].as_str().map(str::to_owned),
            "{ctx}"
        );
        let client = p.client_addr.or(call["client_address"].as_str());
        let server = p.server_addr.or(call["server_address"].as_str());
        assert_eq!(attr_str(span, "client.address").as_deref(), client, "{ctx}");
        assert_eq!(
            attr_int(span, "client.port"),
            call["client_port"].as_i64(),
            "{ctx}"
        );
        assert_eq!(attr_str(span, "server.address").as_deref(), server, "{ctx}");
        assert_eq!(
            attr_int(span, "server.port"),
            call["server_port"].as_i64(),
            "{ctx}"
        );
        assert_eq!(
            attr_str(span, "network.transport").as_deref(),
            Some("tcp"),
            "{ctx}"
        );
        assert_eq!(
            attr_str(span, "network.protocol.name").as_deref(),
            Some("http"),
            "{ctx}"
        );
        assert_eq!(
            attr_str(span, "network.protocol.version").as_deref(),
            Some("1.1"),
            "{ctx}"
        );
        let (trace, parent) = expected_trace(call);
        let trace_id = span["traceId"].as_str().unwrap_or_default();
        assert_eq!(trace_id.len(), 32, "{ctx}");
        if let Some(t) = trace {
            assert_eq!(trace_id, t, "{ctx}");
        }
        assert_eq!(
            span["parentSpanId"].as_str().map(str::to_owned),
            parent,
            "{ctx}"
        );
        assert_eq!(span["spanId"].as_str().map_or(0, str::len), 16, "{ctx}");
        let error = call["status"].as_i64().unwrap_or(0) >= 500;
        assert_eq!(span["status"]["code"].as_i64() == Some(2), error, "{ctx}");
        assert_eq!(span["kind"].as_i64(), Some(p.kind), "{ctx}");
        assert_eq!(
            attr_str(span, "wirespan.tap_side").as_deref(),
            Some(p.tap_side),
            "{ctx}"
        );
        assert_eq!(
            attr_str(span, "wirespan.capture.point"),
            Some(p.capture_point.clone()),
            "{ctx}"
        );
        assert_eq!(
            attr_str(span, "wirespan.tunnel").as_deref(),
            p.tunnel,
            "{ctx}"
        );
        assert_eq!(attr_str(span, "wirespan.vlan").as_deref(), p.vlan, "{ctx}");
        assert_eq!(attr_str(span, "wirespan.incomplete"), None, "{ctx}");
        assert!(
            ns(span, "endTimeUnixNano") >= ns(span, "startTimeUnixNano"),
            "{ctx}"
        );
    }
    spans
}

#[test]
fn client_veth_spans_match_client_log() {
    check_capture(&point("pcaps/http/client-veth.pcap", "client", None));
}

#[test]
fn server_veth_spans_match_client_log() {
    check_capture(&point("pcaps/http/server-veth.pcap", "server", None));
}

#[test]
fn vxlan_underlay_spans_match_client_log() {
    check_capture(&point(
        "pcaps/http/underlay-vxlan.pcap",
        "server",
        Some("vxlan:4242,outer=10.200.0.1>10.200.0.2"),
    ));
}

#[test]
fn reencapsulated_copies_give_the_same_spans_with_the_tunnel() {
    let v4 = "outer=192.0.2.10>192.0.2.11";
    let v6 = "outer=2001:db8:1::a>2001:db8:1::b";
    let cases: Vec<(&str, Option<String>, Option<&str>, bool)> = vec![
        ("vlan.pcap", None, Some("100"), false),
        ("qinq.pcap", None, Some("200.100"), false),
        ("ipip-4in4.pcap", Some(format!("ipip,{v4}")), None, false),
        ("ipip-6in4.pcap", Some(format!("ipip,{v4}")), None, true),
        ("ipip-4in6.pcap", Some(format!("ipip,{v6}")), None, false),
        ("ipip-6in6.pcap", Some(format!("ipip,{v6}")), None, true),
        ("gre.pcap", Some(format!("gre:4097,{v4}")), None, false),
        ("gre-teb.pcap", Some(format!("gre,{v4}")), None, false),
        (
            "erspan2.pcap",
            Some(format!("erspan2:77,{v4}")),
            None,
            false,
        ),
        ("geneve.pcap", Some(format!("geneve:777,{v4}")), None, false),
        (
            "vxlan-8472.pcap",
            Some(format!("vxlan:4242,{v4}")),
            None,
            false,
        ),
        (
            "vxlan-in-qinq.pcap",
            Some(format!("vxlan:4242,{v4}")),
            Some("200.100"),
            false,
        ),
        // pcaps/encap-more.py: mobile cores, IPv6 transition, overlays over UDP.
        ("gtpu.pcap", Some(format!("gtpu:4660,{v4}")), None, false),
        (
            "gtpu-fragments.pcap",
            Some(format!("gtpu:4660,{v4}")),
            None,
            false,
        ),
        ("teredo.pcap", Some(format!("teredo,{v4}")), None, true),
        ("ayiya.pcap", Some(format!("ayiya,{v4}")), None, true),
        (
            "gre-udp.pcap",
            Some(format!("gre-udp:4097,{v4}")),
            None,
            false,
        ),
    ];
    let plain = check_capture(&point("pcaps/http/client-veth.pcap", "client", None));
    for (file, tunnel, vlan, v6_inner) in &cases {
        let path = format!("pcaps/tunnels/{file}");
        let mut p = point(&path, "client", tunnel.as_deref());
        p.vlan = *vlan;
        if *v6_inner {
            p.client_addr = Some("fd00::1");
            p.server_addr = Some("fd00::2");
        }
        let spans = check_capture(&p);
        // Same call, same sequence numbers and times as the unencapsulated capture.
        for (a, b) in spans.iter().zip(&plain) {
            for key in ["wirespan.tcp.req_seq", "wirespan.tcp.resp_seq"] {
                assert_eq!(attr_int(a, key), attr_int(b, key), "{file} {key}");
            }
            assert_eq!(a["startTimeUnixNano"], b["startTimeUnixNano"], "{file}");
            assert_eq!(a["endTimeUnixNano"], b["endTimeUnixNano"], "{file}");
        }
    }
}

/// A frame's time as Unix nanoseconds, from tshark's `frame.time_epoch`.
fn epoch_ns(s: &str) -> u64 {
    let (sec, frac) = s.split_once('.').unwrap_or((s, "0"));
    let frac = format!("{frac:0<9}");
    sec.parse::<u64>().unwrap_or(0) * 1_000_000_000 + frac[..9].parse::<u64>().unwrap_or(0)
}

/// Start and end times and the TCP sequence numbers of each span agree with tshark: the
/// request starts in the frame holding its first byte, the response ends in the frame where
/// tshark completes its reassembly.
fn check_against_tshark(file: &str, extra: &[&str]) {
    if tshark().is_none() {
        return;
    }
    let path = repo(file);
    let frames = tshark_fields(
        &path,
        Some("tcp.len > 0"),
        &[
            "frame.number",
            "frame.time_epoch",
            "tcp.seq_raw",
            "tcp.len",
            "tcp.srcport",
        ],
        extra,
    );
    struct Frame {
        number: u64,
        ns: u64,
        seq: u64,
        len: u64,
        src_port: u64,
    }
    let frames: Vec<Frame> = frames
        .iter()
        .map(|r| Frame {
            number: r[0].parse().unwrap_or(0),
            ns: epoch_ns(&r[1]),
            seq: r[2].parse().unwrap_or(0),
            len: r[3].parse().unwrap_or(0),
            src_port: r[4].parse().unwrap_or(0),
        })
        .collect();
    let responses = tshark_fields(
        &path,
        Some("http.response"),
        &["frame.number", "tcp.segment", "frame.time_epoch"],
        extra,
    );
    // Frame number of each segment → frame where tshark reports the response it belongs to.
    let mut response_end: HashMap<u64, u64> = HashMap::new();
    for r in &responses {
        let at: u64 = r[0].parse().unwrap_or(0);
        response_end.insert(at, epoch_ns(&r[2]));
        for seg in r[1].split(',').filter(|s| !s.is_empty()) {
            response_end.insert(seg.parse().unwrap_or(0), epoch_ns(&r[2]));
        }
    }
    let containing = |seq: i64, port: i64| {
        frames.iter().find(|f| {
            f.src_port == port as u64 && f.seq <= seq as u64 && (seq as u64) < f.seq + f.len
        })
    };
    let run = replay(std::slice::from_ref(&path), &[]);
    let spans = run.spans();
    assert!(!spans.is_empty());
    for span in &spans {
        let name = span["name"].as_str().unwrap_or_default();
        let req_seq = attr_int(span, "wirespan.tcp.req_seq").expect("req_seq");
        let resp_seq = attr_int(span, "wirespan.tcp.resp_seq").expect("resp_seq");
        let client_port = attr_int(span, "client.port").unwrap_or(0);
        let server_port = attr_int(span, "server.port").unwrap_or(0);
        let req = containing(req_seq, client_port)
            .unwrap_or_else(|| panic!("{file} {name}: no frame holds request byte {req_seq}"));
        assert_eq!(
            ns(span, "startTimeUnixNano"),
            req.ns,
            "{file} {name}: start"
        );
        let resp = containing(resp_seq, server_port)
            .unwrap_or_else(|| panic!("{file} {name}: no frame holds response byte {resp_seq}"));
        let end = response_end.get(&resp.number).unwrap_or_else(|| {
            panic!(
                "{file} {name}: tshark has no response at frame {}",
                resp.number
            )
        });
        assert_eq!(ns(span, "endTimeUnixNano"), *end, "{file} {name}: end");
    }
}

#[test]
fn times_and_sequence_numbers_agree_with_tshark() {
    check_against_tshark("pcaps/http/client-veth.pcap", &[]);
    check_against_tshark("pcaps/http/server-veth.pcap", &[]);
    check_against_tshark("pcaps/http/underlay-vxlan.pcap", &[]);
}

#[test]
fn each_capture_point_sees_the_call_with_the_same_trace_and_sequence_numbers() {
    let files = [
        repo("pcaps/http/client-veth.pcap"),
        repo("pcaps/http/server-veth.pcap"),
        repo("pcaps/http/underlay-vxlan.pcap"),
    ];
    let run = replay(&files, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let spans = run.spans();
    let n = expected_calls().len();
    assert_eq!(spans.len(), 3 * n);
    let mut by_call: HashMap<(i64, i64), Vec<&Value>> = HashMap::new();
    for s in &spans {
        let key = (
            attr_int(s, "wirespan.tcp.req_seq").unwrap_or(-1),
            attr_int(s, "wirespan.tcp.resp_seq").unwrap_or(-1),
        );
        by_call.entry(key).or_default().push(s);
    }
    assert_eq!(by_call.len(), n, "each call has its own sequence numbers");
    for group in by_call.values() {
        assert_eq!(group.len(), 3);
        assert!(group.iter().all(|s| s["traceId"] == group[0]["traceId"]));
        let mut points: Vec<_> = group
            .iter()
            .filter_map(|s| attr_str(s, "wirespan.capture.point"))
            .collect();
        points.sort();
        assert_eq!(
            points,
            [
                "pcap:client-veth.pcap#0",
                "pcap:server-veth.pcap#0",
                "pcap:underlay-vxlan.pcap#0"
            ]
        );
        let ids: std::collections::HashSet<_> = group.iter().map(|s| s["spanId"].clone()).collect();
        assert_eq!(ids.len(), 3, "span ids differ per capture point");
    }
}

#[test]
fn pcapng_interfaces_are_capture_points() {
    let run = replay(&[repo("pcaps/http/multi-point.pcapng")], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let spans = run.spans();
    let mut per_point: HashMap<String, usize> = HashMap::new();
    for s in &spans {
        *per_point
            .entry(attr_str(s, "wirespan.capture.point").unwrap_or_default())
            .or_default() += 1;
    }
    // The pcapng holds three interfaces, each seeing every call the client made. (tshark is no
    // referee here: it reassembles the three interfaces' copies of a connection as one.)
    let calls = expected_calls().len();
    let mut names: Vec<&String> = per_point.keys().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "pcap:multi-point.pcapng#cli0",
            "pcap:multi-point.pcapng#srv-ul",
            "pcap:multi-point.pcapng#vx-srv"
        ]
    );
    assert!(per_point.values().all(|&c| c == calls), "{per_point:?}");
}

#[test]
fn output_is_byte_identical_across_runs() {
    let files = [
        repo("pcaps/http/client-veth.pcap"),
        repo("pcaps/tunnels/vxlan-in-qinq.pcap"),
    ];
    let a = replay(&files, &[]);
    let b = replay(&files, &[]);
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn output_file_and_summary() {
    let dir = std::env::temp_dir().join(format!("wirespan-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let out = dir.join("spans.jsonl");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_wirespan"))
        .args(["replay", "--output"])
        .arg(&out)
        .arg(repo("pcaps/http/client-veth.pcap"))
        .output()
        .expect("run");
    assert!(status.status.success());
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(stderr.contains("21 spans written to"), "{stderr}");
    let spans = spans_of(&std::fs::read(&out).expect("output file"));
    assert_eq!(spans.len(), 21);
    let line: Value = serde_json::from_slice(
        std::fs::read(&out)
            .expect("read")
            .split(|&b| b == b'\n')
            .next()
            .expect("a line"),
    )
    .expect("json");
    let res = &line["resourceSpans"][0]["resource"]["attributes"];
    assert!(res.as_array().is_some_and(|a| a
        .iter()
        .any(|x| x["key"] == "service.name" && x["value"]["stringValue"] == "wirespan")));
    std::fs::remove_dir_all(&dir).ok();
}

/// The same frames under every link type and pcap flavour (pcaps/relink.py) give the same
/// spans; each SLL2 interface index is a capture point of its own.
#[test]
fn link_types_and_timestamp_formats_give_the_same_spans() {
    let reference = check_capture(&point("pcaps/http/client-veth.pcap", "client", None));
    let comparable = |s: &Value| span_without(s, &["wirespan.capture.point"]);
    for file in [
        "sll.pcap",
        "raw-ip.pcap",
        "nanosec.pcap",
        "big-endian.pcap",
        "nflog.pcap",
    ] {
        let spans = check_capture(&point(&format!("pcaps/links/{file}"), "client", None));
        for (a, b) in spans.iter().zip(&reference) {
            assert_eq!(comparable(a), comparable(b), "{file}");
        }
    }
    let run = replay(&[repo("pcaps/links/sll2.pcap")], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let spans = run.spans();
    for index in ["3", "7"] {
        let name = format!("pcap:sll2.pcap#{index}");
        let mut mine: Vec<&Value> = spans
            .iter()
            .filter(|s| attr_str(s, "wirespan.capture.point").as_deref() == Some(name.as_str()))
            .collect();
        mine.sort_by_key(|s| ns(s, "startTimeUnixNano"));
        assert_eq!(mine.len(), reference.len(), "{name}");
        for (a, b) in mine.iter().zip(&reference) {
            assert_eq!(comparable(a), comparable(b), "{name}");
        }
    }
}

/// `--discard` builds and counts every span but writes none: the same counters as a run that
/// writes them, nothing on standard output, and the summary says where they went.
#[test]
fn discard_counts_the_spans_it_does_not_write() {
    let file = repo("pcaps/http/underlay-vxlan.pcap");
    let written = replay(std::slice::from_ref(&file), &[]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wirespan"))
        .arg("replay")
        .arg(&file)
        .args(["--discard", "--stats"])
        .output()
        .expect("run wirespan");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(out.stdout.is_empty(), "--discard wrote output");
    let spans = spans_of(&written.stdout).len() as u64;
    assert!(spans > 0);
    assert_eq!(counter(&stderr, "spans"), spans);
    assert_eq!(counter(&stderr, "packets"), written.counter("packets"));
    assert!(
        stderr.contains(&format!("{spans} spans written to nowhere (--discard)")),
        "{stderr}"
    );
}

/// The encapsulations of pcaps/encap-more.py are counted, each under its own name, and tshark
/// finds in each the HTTP requests it finds in the capture they were made from (so the
/// framing is real, not only wirespan's reading of it).
#[test]
fn new_encapsulations_are_counted_and_tshark_reads_them_too() {
    let cases = [
        ("tunnels/gtpu.pcap", "tunnel_gtpu"),
        ("tunnels/gtpu-fragments.pcap", "tunnel_gtpu"),
        ("tunnels/teredo.pcap", "tunnel_teredo"),
        ("tunnels/ayiya.pcap", "tunnel_ayiya"),
        ("tunnels/gre-udp.pcap", "tunnel_gre_udp"),
        ("links/nflog.pcap", "frames_nflog"),
    ];
    let requests =
        |file: &str| tshark_fields(&repo(file), Some("http.request"), &["frame.number"], &[]).len();
    let plain = tshark().map(|_| requests("pcaps/http/client-veth.pcap"));
    for (file, counter) in cases {
        let run = replay(&[repo(&format!("pcaps/{file}"))], &[]);
        assert_eq!(run.code, 0, "{file}: {}", run.stderr);
        assert!(run.counter(counter) > 0, "{file}: {counter}");
        assert_eq!(run.counter("decode_truncated"), 0, "{file}");
        assert_eq!(run.counter("decode_malformed"), 0, "{file}");
        if let Some(plain) = plain {
            assert_eq!(requests(&format!("pcaps/{file}")), plain, "{file}: tshark");
        }
    }
    // GTP-U's echo request and Teredo's bubbles carry no user packet: counted as not TCP.
    for file in ["tunnels/gtpu.pcap", "tunnels/teredo.pcap"] {
        let run = replay(&[repo(&format!("pcaps/{file}"))], &[]);
        assert_eq!(run.counter("skipped_not_tcp"), 1, "{file}");
    }
    let run = replay(&[repo("pcaps/tunnels/gtpu-fragments.pcap")], &[]);
    assert!(run.counter("ip_reassembled") > 0, "outer fragments rebuilt");
}

/// The PostgreSQL and Redis captures re-encapsulated in VXLAN (pcaps/encap-more.py) give the
/// spans the plain captures give, each with its tunnel.
#[test]
fn database_captures_inside_vxlan_give_the_same_spans() {
    let comparable = |s: &Value| span_without(s, &["wirespan.capture.point", "wirespan.tunnel"]);
    for (plain, wrapped) in [
        ("pcaps/pgsql/psycopg.pcap", "pcaps/tunnels/pgsql-vxlan.pcap"),
        ("pcaps/redis/redis.pcap", "pcaps/tunnels/redis-vxlan.pcap"),
    ] {
        let a = replay(&[repo(plain)], &[]).spans();
        let run = replay(&[repo(wrapped)], &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let b = run.spans();
        assert!(!a.is_empty());
        assert_eq!(a.len(), b.len(), "{wrapped}");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(comparable(x), comparable(y), "{wrapped}");
            assert_eq!(
                attr_str(y, "wirespan.tunnel").as_deref(),
                Some("vxlan:4242,outer=192.0.2.10>192.0.2.11"),
                "{wrapped}"
            );
        }
    }
}

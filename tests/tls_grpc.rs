//! gRPC inside TLS: pcaps/tls-grpc (gen-tls-grpc.sh: a Python grpcio server, a Node.js
//! @grpc/grpc-js client run with `node --tls-keylog`; TLS 1.3 with AES-256-GCM and with
//! ChaCha20-Poly1305, TLS 1.2 with ECDHE-ECDSA AES-128-GCM; unary, server- and client-streaming
//! calls, NOT_FOUND and ABORTED statuses, calls in flight at once on one connection) read with
//! the client's key log, call by call against what the client logged
//! (pcaps/tls-grpc/tls-grpc.expected.json) and against tshark's decryption; and read without
//! it: the handshakes alone.

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::process::Command;

const PCAP: &str = "pcaps/tls-grpc/tls-grpc.pcap";
const KEYS: &str = "pcaps/tls-grpc/tls-grpc.keys";

fn expected() -> Value {
    read_json("pcaps/tls-grpc/tls-grpc.expected.json")
}

fn bool_of(s: &Value, key: &str) -> Option<bool> {
    attr(s, key).and_then(|v| v.as_bool())
}

fn is_handshake(s: &Value) -> bool {
    attr_str(s, "network.protocol.name").as_deref() == Some("tls")
}

/// The connections of the expected JSON by id.
fn connections(exp: &Value) -> BTreeMap<String, Value> {
    exp["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .map(|c| (c["id"].as_str().expect("id").to_owned(), c.clone()))
        .collect()
}

/// Each call with the HTTP/2 stream it went on: grpc-js opens streams 1, 3, 5, … in the order
/// it starts the calls, the order of each connection's calls in the JSON (check.py verified it
/// against tshark when the capture was made, and `calls_agree_with_tsharks_decryption` does).
fn calls_with_streams(exp: &Value) -> Vec<(Value, i64, i64)> {
    let conns = connections(exp);
    let mut next: HashMap<String, i64> = HashMap::new();
    exp["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .map(|call| {
            let id = call["connection"].as_str().expect("connection").to_owned();
            let port = conns[&id]["client_port"].as_i64().expect("port");
            let sid = next.entry(id).or_insert(1);
            let stream = *sid;
            *sid += 2;
            (call.clone(), port, stream)
        })
        .collect()
}

fn keys_arg() -> String {
    repo(KEYS).to_string_lossy().into_owned()
}

/// Trace id and parent span id of a `traceparent`.
fn traceparent(tp: &str) -> (String, String) {
    let p: Vec<&str> = tp.split('-').collect();
    (p[1].to_owned(), p[2].to_owned())
}

/// With the key log, every call the client made is exactly one gRPC span on its connection,
/// with the service, method, status, messages and times the client logged, and its
/// connection's TLS facts; each connection has one handshake span.
#[test]
fn every_call_is_one_span_with_what_the_client_saw() {
    let run = replay(&[repo(PCAP)], &["--tls-keylog", &keys_arg()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let exp = expected();
    let conns = connections(&exp);
    let calls = calls_with_streams(&exp);
    let spans = run.spans();
    let (handshakes, inside): (Vec<&Value>, Vec<&Value>) = spans.iter().partition(|s| {
        // A handshake span is not a call.
        is_handshake(s)
    });

    // Every call one span, nothing more: compared as multisets of what tells calls apart.
    let key = |port: i64, path: &str, status: i64, req: i64, resp: i64| {
        format!("{port} {path} status={status} req={req} resp={resp}")
    };
    let mut want: Vec<String> = calls
        .iter()
        .map(|(c, port, _)| {
            key(
                *port,
                c["path"].as_str().expect("path"),
                c["grpc_status"].as_i64().expect("status"),
                c["request_messages"].as_i64().expect("req"),
                c["response_messages"].as_i64().expect("resp"),
            )
        })
        .collect();
    let mut got: Vec<String> = inside
        .iter()
        .map(|s| {
            key(
                attr_int(s, "client.port").unwrap_or(-1),
                &attr_str(s, "url.path").unwrap_or_default(),
                attr_int(s, "rpc.grpc.status_code").unwrap_or(-1),
                attr_int(s, "wirespan.grpc.request_messages").unwrap_or(-1),
                attr_int(s, "wirespan.grpc.response_messages").unwrap_or(-1),
            )
        })
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "the calls read inside TLS\n{}", run.stderr);

    // Call by call, on its connection and stream.
    let mut by_stream: HashMap<(i64, i64), &Value> = HashMap::new();
    for s in &inside {
        let k = (
            attr_int(s, "client.port").expect("client port"),
            attr_int(s, "wirespan.http2.stream_id").expect("stream id"),
        );
        assert!(by_stream.insert(k, s).is_none(), "two spans for {k:?}");
    }
    for (call, port, stream) in &calls {
        let ctx = format!(
            "call {} {} (port {port}, stream {stream})",
            call["id"], call["path"]
        );
        let conn = &conns[call["connection"].as_str().expect("connection")];
        let s = by_stream
            .get(&(*port, *stream))
            .unwrap_or_else(|| panic!("{ctx}: no span"));
        let service = call["service"].as_str().expect("service");
        let method = call["method"].as_str().expect("method");
        let a = |k: &str| attr_str(s, k);
        assert_eq!(s["name"], format!("{service}/{method}"), "{ctx}");
        assert_eq!(a("rpc.system").as_deref(), Some("grpc"), "{ctx}");
        assert_eq!(a("rpc.service").as_deref(), Some(service), "{ctx}");
        assert_eq!(a("rpc.method").as_deref(), Some(method), "{ctx}");
        assert_eq!(a("url.path").as_deref(), call["path"].as_str(), "{ctx}");
        assert_eq!(a("http.request.method").as_deref(), Some("POST"), "{ctx}");
        assert_eq!(a("network.protocol.version").as_deref(), Some("2"), "{ctx}");
        let status = call["grpc_status"].as_i64().expect("status");
        assert_eq!(attr_int(s, "rpc.grpc.status_code"), Some(status), "{ctx}");
        assert_eq!(
            a("rpc.grpc.status_message").as_deref(),
            call["grpc_message"].as_str(),
            "{ctx}"
        );
        if status == 0 {
            assert_eq!(s["status"]["code"], Value::Null, "{ctx}: {s}");
        } else {
            assert_eq!(s["status"]["code"], 2, "{ctx}: {s}");
            assert_eq!(
                s["status"]["message"].as_str(),
                call["grpc_message"].as_str(),
                "{ctx}"
            );
        }
        // DATA carries each message behind a 5-byte prefix.
        for (dir, msgs, bytes, size) in [
            (
                "request",
                "request_messages",
                "request_bytes",
                "http.request.body.size",
            ),
            (
                "response",
                "response_messages",
                "response_bytes",
                "http.response.body.size",
            ),
        ] {
            let n = call[msgs].as_i64().expect("messages");
            assert_eq!(
                attr_int(s, &format!("wirespan.grpc.{dir}_messages")),
                Some(n),
                "{ctx}"
            );
            let body = call[bytes].as_i64().expect("bytes") + 5 * n;
            assert_eq!(attr_int(s, size), Some(body), "{ctx} {dir}");
        }
        assert_eq!(
            a("client.address").as_deref(),
            conn["client_address"].as_str(),
            "{ctx}"
        );
        assert_eq!(
            a("server.address").as_deref(),
            conn["server_address"].as_str(),
            "{ctx}"
        );
        assert_eq!(
            attr_int(s, "server.port"),
            conn["server_port"].as_i64(),
            "{ctx}"
        );
        // The connection's TLS, read through the key log.
        assert_eq!(bool_of(s, "wirespan.tls.decrypted"), Some(true), "{ctx}");
        assert_eq!(a("tls.next_protocol").as_deref(), Some("h2"), "{ctx}");
        assert_eq!(
            a("tls.protocol.version").as_deref(),
            conn["tls_version"].as_str(),
            "{ctx}"
        );
        assert_eq!(a("tls.cipher").as_deref(), conn["cipher"].as_str(), "{ctx}");
        assert_eq!(
            a("tls.server_name").as_deref(),
            conn["sni"].as_str(),
            "{ctx}"
        );
        match call["traceparent"].as_str() {
            Some(tp) => {
                let (trace, parent) = traceparent(tp);
                assert_eq!(s["traceId"].as_str(), Some(trace.as_str()), "{ctx}");
                assert_eq!(s["parentSpanId"].as_str(), Some(parent.as_str()), "{ctx}");
            }
            None => assert!(s.get("parentSpanId").is_none(), "{ctx}"),
        }
        assert_eq!(a("wirespan.incomplete"), None, "{ctx}");
        assert_eq!(attr_int(s, "wirespan.hpack.unknown_fields"), None, "{ctx}");
        // On the wire inside the client's own account of the call (1 ms for the clocks).
        let (start, end) = (ns(s, "startTimeUnixNano"), ns(s, "endTimeUnixNano"));
        let (from, to) = (
            call["start_ns"].as_u64().expect("start"),
            call["end_ns"].as_u64().expect("end"),
        );
        assert!(
            start + 1_000_000 >= from && start <= end && end <= to + 1_000_000,
            "{ctx}: {start}..{end} outside the client's {from}..{to}"
        );
    }

    // The calls the client had in flight together overlap on the wire too.
    let mut groups: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for (call, port, stream) in &calls {
        if let Some(g) = call["concurrent"].as_str() {
            groups
                .entry(g)
                .or_default()
                .push(by_stream[&(*port, *stream)]);
        }
    }
    assert!(groups.len() >= 2, "{groups:?}");
    for (g, spans) in &groups {
        assert!(spans.len() >= 2, "{g}");
        let last_start = spans.iter().map(|s| ns(s, "startTimeUnixNano")).max();
        let first_end = spans.iter().map(|s| ns(s, "endTimeUnixNano")).min();
        assert!(last_start < first_end, "{g}: not in flight together");
    }

    // One handshake per connection, with the ALPN TLS 1.3 sends encrypted.
    assert_eq!(handshakes.len(), conns.len());
    for c in conns.values() {
        let port = c["client_port"].as_i64();
        let hs: Vec<_> = handshakes
            .iter()
            .filter(|s| attr_int(s, "client.port") == port)
            .collect();
        assert_eq!(hs.len(), 1, "{}: handshakes {hs:?}", c["id"]);
        let s = hs[0];
        assert_eq!(
            s["name"],
            format!("TLS handshake {}", c["sni"].as_str().expect("sni"))
        );
        assert_eq!(bool_of(s, "tls.established"), Some(true));
        assert_eq!(
            attr_str(s, "tls.protocol.version").as_deref(),
            c["tls_version"].as_str()
        );
        assert_eq!(attr_str(s, "tls.cipher").as_deref(), c["cipher"].as_str());
        assert_eq!(attr_str(s, "tls.server_name").as_deref(), c["sni"].as_str());
        assert_eq!(
            attr_str(s, "tls.next_protocol").as_deref(),
            c["alpn"].as_str()
        );
    }

    // The variety the capture is for.
    let versions: Vec<&str> = conns
        .values()
        .filter_map(|c| c["tls_version"].as_str())
        .collect();
    assert!(
        versions.contains(&"1.2") && versions.contains(&"1.3"),
        "{versions:?}"
    );
    for status in [0, 5, 10] {
        assert!(
            calls.iter().any(|(c, _, _)| c["grpc_status"] == status),
            "no call with status {status}"
        );
    }

    assert_eq!(run.counter("tls_handshakes"), conns.len() as u64);
    assert_eq!(run.counter("tls_connections_decrypted"), conns.len() as u64);
    assert_eq!(run.counter("tls_connections_without_keys"), 0);
    assert_eq!(run.counter("tls_records_unauthenticated"), 0);
    assert_eq!(run.counter("tls_records_dropped_waiting_for_keys"), 0);
    assert_eq!(run.counter("tls_parse_errors"), 0);
    assert_eq!(run.counter("http2_hpack_errors"), 0);
    assert_eq!(run.counter("http2_frame_errors"), 0);
    assert_eq!(run.counter("tls_decrypt_missing_secrets"), 0);
    assert_eq!(run.counter("tls_plaintext_unrecognised"), 0);
    assert_eq!(run.counter("http2_exchanges"), calls.len() as u64);
    assert_eq!(run.counter("http2_streams_unfinished"), 0);
    assert_eq!(run.counter("http2_streams_dropped"), 0);
    // No secret reaches the output.
    let out = String::from_utf8_lossy(&run.stdout);
    let keys = std::fs::read_to_string(repo(KEYS)).expect("keys");
    for secret in keys.lines().filter_map(|l| l.split_whitespace().nth(2)) {
        assert!(!out.contains(secret) && !run.stderr.contains(secret));
    }
}

/// Every dict under `v` (depth first, in order) that has `key`.
fn dicts_with<'a>(v: &'a Value, key: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            if m.contains_key(key) {
                out.push(v);
            }
            for x in m.values() {
                dicts_with(x, key, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| dicts_with(x, key, out)),
        _ => {}
    }
}

fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    match &v[key] {
        Value::Array(a) => a.first().and_then(Value::as_str).unwrap_or(""),
        x => x.as_str().unwrap_or(""),
    }
}

/// gRPC's percent-encoding of grpc-message undone.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let hex = (b[i] == b'%')
            .then(|| s.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(x) => {
                out.push(x);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("UTF-8")
}

/// (messages, bytes without their 5-byte prefixes) of one direction's DATA.
fn grpc_messages(data: &[u8]) -> (i64, i64) {
    let (mut n, mut size, mut i) = (0, 0, 0);
    while i + 5 <= data.len() {
        let len = u32::from_be_bytes([data[i + 1], data[i + 2], data[i + 3], data[i + 4]]);
        n += 1;
        size += i64::from(len);
        i += 5 + len as usize;
    }
    assert_eq!(i, data.len(), "DATA that is not whole gRPC messages");
    (n, size)
}

#[derive(Default, Debug)]
struct Stream {
    path: String,
    grpc_status: Option<i64>,
    grpc_message: Option<String>,
    req: Vec<u8>,
    resp: Vec<u8>,
}

/// Per (client port, stream id) what the stream carried.
type Streams = BTreeMap<(i64, i64), Stream>;
/// Per client port the ServerHello's (version, cipher suite).
type Hellos = BTreeMap<i64, (u16, u16)>;

/// What tshark decrypts with the key log: per (client port, stream id), the request's :path,
/// the response's grpc-status and grpc-message and the DATA each way; and per client port the
/// ServerHello's version and cipher suite.
fn tshark_streams(server_port: i64) -> (Streams, Hellos) {
    let out = Command::new("tshark")
        .arg("-n")
        .arg("-r")
        .arg(repo(PCAP))
        .args(["-d", &format!("tcp.port=={server_port},tls")])
        .args(["-o", &format!("tls.keylog_file:{}", keys_arg())])
        .args(["-T", "json", "--no-duplicate-keys", "-J", "tcp tls http2"])
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let packets: Value = serde_json::from_slice(&out.stdout).expect("tshark JSON");
    let mut streams = Streams::new();
    let mut hellos = BTreeMap::new();
    for p in packets.as_array().expect("packets") {
        let layers = &p["_source"]["layers"];
        let sport: i64 = str_at(&layers["tcp"], "tcp.srcport").parse().expect("port");
        let dport: i64 = str_at(&layers["tcp"], "tcp.dstport").parse().expect("port");
        let from_client = dport == server_port;
        let client = if from_client { sport } else { dport };
        let mut hs = Vec::new();
        dicts_with(&layers["tls"], "tls.handshake.type", &mut hs);
        // ServerHellos (a ClientHello's suites sit under tls.handshake.ciphersuites).
        for h in hs
            .into_iter()
            .filter(|h| str_at(h, "tls.handshake.type") == "2")
        {
            let mut sv = Vec::new();
            dicts_with(h, "tls.handshake.extensions.supported_version", &mut sv);
            let version = sv
                .first()
                .map(|d| str_at(d, "tls.handshake.extensions.supported_version"))
                .unwrap_or_else(|| str_at(h, "tls.handshake.version"));
            let hex = |s: &str| u16::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex");
            hellos.insert(
                client,
                (hex(version), hex(str_at(h, "tls.handshake.ciphersuite"))),
            );
        }
        let mut frames = Vec::new();
        dicts_with(&layers["http2"], "http2.streamid", &mut frames);
        for f in frames {
            let sid: i64 = str_at(f, "http2.streamid").parse().expect("stream id");
            if sid == 0 {
                continue;
            }
            let s = streams.entry((client, sid)).or_default();
            match str_at(f, "http2.type") {
                "1" => {
                    let mut hdrs = Vec::new();
                    dicts_with(f, "http2.header.name", &mut hdrs);
                    for h in hdrs {
                        let value = str_at(h, "http2.header.value");
                        match str_at(h, "http2.header.name") {
                            ":path" if from_client => s.path = value.to_owned(),
                            "grpc-status" if !from_client => {
                                s.grpc_status = Some(value.parse().expect("grpc-status"))
                            }
                            "grpc-message" if !from_client && !value.is_empty() => {
                                s.grpc_message = Some(percent_decode(value))
                            }
                            _ => {}
                        }
                    }
                }
                "0" => {
                    let hex = str_at(f, "http2.data.data").replace(':', "");
                    let data: Vec<u8> = (0..hex.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                        .collect();
                    if from_client {
                        s.req.extend(data);
                    } else {
                        s.resp.extend(data);
                    }
                }
                _ => {}
            }
        }
    }
    (streams, hellos)
}

/// The gRPC calls tshark decrypts with the same key log are the spans wirespan read inside,
/// stream by stream: path, status, message and message counts; and the handshakes' version
/// and cipher suite.
#[test]
fn calls_agree_with_tsharks_decryption() {
    let Some(_) = tshark() else {
        return;
    };
    let exp = expected();
    let server_port = connections(&exp).values().next().expect("a connection")["server_port"]
        .as_i64()
        .expect("port");
    let (streams, hellos) = tshark_streams(server_port);
    let row = |port: i64,
               sid: i64,
               path: &str,
               status: Option<i64>,
               msg: Option<&str>,
               req: (i64, i64),
               resp: (i64, i64)| {
        format!("{port}/{sid} {path} {status:?} {msg:?} req={req:?} resp={resp:?}")
    };
    let want: Vec<String> = streams
        .iter()
        .map(|((port, sid), s)| {
            row(
                *port,
                *sid,
                &s.path,
                s.grpc_status,
                s.grpc_message.as_deref(),
                grpc_messages(&s.req),
                grpc_messages(&s.resp),
            )
        })
        .collect();
    assert_eq!(want.len(), exp["calls"].as_array().expect("calls").len());
    let run = replay(&[repo(PCAP)], &["--tls-keylog", &keys_arg()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut got: Vec<(i64, i64, String)> = run
        .spans()
        .iter()
        .filter(|s| !is_handshake(s))
        .map(|s| {
            let port = attr_int(s, "client.port").unwrap_or(-1);
            let sid = attr_int(s, "wirespan.http2.stream_id").unwrap_or(-1);
            let body = |n: &str, size: &str| {
                let n = attr_int(s, n).unwrap_or(-1);
                (n, attr_int(s, size).unwrap_or(-1) - 5 * n)
            };
            let r = row(
                port,
                sid,
                &attr_str(s, "url.path").unwrap_or_default(),
                attr_int(s, "rpc.grpc.status_code"),
                attr_str(s, "rpc.grpc.status_message").as_deref(),
                body("wirespan.grpc.request_messages", "http.request.body.size"),
                body("wirespan.grpc.response_messages", "http.response.body.size"),
            );
            (port, sid, r)
        })
        .collect();
    got.sort();
    let got: Vec<String> = got.into_iter().map(|(_, _, r)| r).collect();
    assert_eq!(got, want);

    // grpc-js opened each connection's streams in the order the JSON lists its calls.
    for (call, port, stream) in calls_with_streams(&exp) {
        let s = &streams[&(port, stream)];
        assert_eq!(Some(s.path.as_str()), call["path"].as_str(), "{call}");
        assert_eq!(s.grpc_status, call["grpc_status"].as_i64(), "{call}");
        let msgs = |n: &str, b: &str| {
            (
                call[n].as_i64().unwrap_or(-1),
                call[b].as_i64().unwrap_or(-1),
            )
        };
        assert_eq!(
            grpc_messages(&s.req),
            msgs("request_messages", "request_bytes"),
            "{call}"
        );
        assert_eq!(
            grpc_messages(&s.resp),
            msgs("response_messages", "response_bytes"),
            "{call}"
        );
    }

    // The handshakes as tshark reads them.
    let iana: HashMap<&str, u16> = [
        ("TLS_AES_128_GCM_SHA256", 0x1301),
        ("TLS_AES_256_GCM_SHA384", 0x1302),
        ("TLS_CHACHA20_POLY1305_SHA256", 0x1303),
        ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 0xc02b),
        ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", 0xc02c),
        ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", 0xcca9),
    ]
    .into_iter()
    .collect();
    let handshakes: Vec<Value> = run.spans().into_iter().filter(is_handshake).collect();
    assert_eq!(handshakes.len(), hellos.len());
    for s in &handshakes {
        let port = attr_int(s, "client.port").expect("port");
        let (version, suite) = hellos[&port];
        let v = match version {
            0x0303 => "1.2",
            0x0304 => "1.3",
            _ => "?",
        };
        assert_eq!(attr_str(s, "tls.protocol.version").as_deref(), Some(v));
        let cipher = attr_str(s, "tls.cipher").expect("cipher");
        assert_eq!(iana.get(cipher.as_str()), Some(&suite), "{cipher}");
    }
}

/// Without the key log: one handshake span per connection (the server's ALPN choice seen
/// only where TLS 1.2 sends it in the clear), no gRPC span, nothing decrypted, no failure.
#[test]
fn without_the_key_log_only_the_handshakes() {
    let run = replay(&[repo(PCAP)], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let exp = expected();
    let conns = connections(&exp);
    let spans = run.spans();
    assert_eq!(spans.len(), conns.len(), "{spans:?}");
    for c in conns.values() {
        let port = c["client_port"].as_i64();
        let mine: Vec<&Value> = spans
            .iter()
            .filter(|s| attr_int(s, "client.port") == port)
            .collect();
        assert_eq!(mine.len(), 1, "{}: {mine:?}", c["id"]);
        let s = mine[0];
        assert!(is_handshake(s), "{s}");
        assert_eq!(attr_str(s, "rpc.system"), None);
        assert_eq!(bool_of(s, "wirespan.tls.decrypted"), None);
        assert_eq!(bool_of(s, "tls.established"), Some(true));
        assert_eq!(s["status"]["code"], Value::Null, "{s}");
        assert_eq!(attr_str(s, "tls.server_name").as_deref(), c["sni"].as_str());
        assert_eq!(
            attr_str(s, "tls.protocol.version").as_deref(),
            c["tls_version"].as_str()
        );
        assert_eq!(attr_str(s, "tls.cipher").as_deref(), c["cipher"].as_str());
        let alpn = (c["tls_version"] == "1.2").then_some("h2");
        assert_eq!(
            attr_str(s, "tls.next_protocol").as_deref(),
            alpn,
            "{}",
            c["id"]
        );
    }
    assert!(spans.iter().all(|s| attr_str(s, "rpc.system").is_none()));
    assert_eq!(run.counter("tls_handshakes"), conns.len() as u64);
    assert_eq!(run.counter("tls_handshakes_failed"), 0);
    assert_eq!(run.counter("tls_connections_decrypted"), 0);
    assert_eq!(run.counter("tls_records_decrypted"), 0);
    assert_eq!(run.counter("http2_exchanges"), 0);
    assert_eq!(run.counter("tls_parse_errors"), 0);
}

/// One connection's secrets unlock that connection's calls and no other's.
#[test]
fn one_connections_keys_unlock_only_its_calls() {
    let exp = expected();
    let conns = connections(&exp);
    let c2 = conns
        .values()
        .find(|c| c["tls_version"] == "1.2")
        .expect("a TLS 1.2 connection");
    // TLS 1.2: one CLIENT_RANDOM line, the only one of the log.
    let text = std::fs::read_to_string(repo(KEYS)).expect("keys");
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("CLIENT_RANDOM "))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    let partial = tmp("tls-grpc-one.keys");
    std::fs::write(&partial, format!("{}\n", lines[0])).expect("write");
    let run = replay(&[repo(PCAP)], &["--tls-keylog", &partial.to_string_lossy()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let calls: Vec<&Value> = exp["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .filter(|c| c["connection"] == c2["id"])
        .collect();
    let inside: Vec<Value> = run
        .spans()
        .into_iter()
        .filter(|s| !is_handshake(s))
        .collect();
    assert_eq!(inside.len(), calls.len(), "{}", run.stderr);
    assert!(!calls.is_empty());
    for s in &inside {
        assert_eq!(attr_int(s, "client.port"), c2["client_port"].as_i64());
        assert_eq!(attr_str(s, "rpc.system").as_deref(), Some("grpc"));
    }
    assert_eq!(run.counter("tls_connections_decrypted"), 1);
    assert_eq!(
        run.counter("tls_connections_without_keys"),
        conns.len() as u64 - 1
    );
}

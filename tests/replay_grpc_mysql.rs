//! Replays the bundled captures of a real gRPC server and client (pcaps/gen-grpc.sh), a real
//! MariaDB driven by PyMySQL and mysql-connector-python with server-side prepared statements
//! (pcaps/gen-mysql.sh) and an h2c upgrade (pcaps/h2c), and checks every span field against
//! what the clients logged.

mod common;

use common::*;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

fn sorted_spans(file: &str) -> (Vec<Value>, Run) {
    let run = replay(&[repo(file)], &[]);
    assert_eq!(run.code, 0, "{file}: {}", run.stderr);
    let mut spans = run.spans();
    spans.sort_by_key(|s| ns(s, "startTimeUnixNano"));
    (spans, run)
}

/// Trace id and parent span id from a `traceparent` or `b3` value.
fn trace_of(call: &Value) -> Option<(String, String)> {
    if let Some(tp) = call["traceparent"].as_str() {
        let p: Vec<&str> = tp.split('-').collect();
        return Some((p[1].to_owned(), p[2].to_owned()));
    }
    if let Some(b3) = call["b3"].as_str() {
        let p: Vec<&str> = b3.split('-').collect();
        return Some((format!("{:0>32}", p[0]), p[1].to_owned()));
    }
    None
}

fn check_grpc_capture(file: &str, tap_side: &str) -> Vec<Value> {
    let calls = read_json("pcaps/grpc/grpc.expected.json")["calls"]
        .as_array()
        .expect("calls")
        .clone();
    let (spans, run) = sorted_spans(file);
    assert_eq!(
        spans.len(),
        calls.len(),
        "{file}: one span per call\n{}",
        run.stderr
    );
    assert_eq!(run.counter("http2_hpack_errors"), 0);
    assert_eq!(run.counter("http2_frame_errors"), 0);
    for (i, (span, call)) in spans.iter().zip(&calls).enumerate() {
        let ctx = format!("{file} call #{i} {}", call["path"]);
        let service = call["service"].as_str().expect("service");
        let method = call["method"].as_str().expect("method");
        assert_eq!(span["name"], format!("{service}/{method}"), "{ctx}");
        assert_eq!(
            attr_str(span, "rpc.system").as_deref(),
            Some("grpc"),
            "{ctx}"
        );
        assert_eq!(
            attr_str(span, "rpc.service").as_deref(),
            Some(service),
            "{ctx}"
        );
        assert_eq!(
            attr_str(span, "rpc.method").as_deref(),
            Some(method),
            "{ctx}"
        );
        assert_eq!(
            attr_str(span, "url.path").as_deref(),
            call["path"].as_str(),
            "{ctx}"
        );
        assert_eq!(
            attr_str(span, "http.request.method").as_deref(),
            Some("POST"),
            "{ctx}"
        );
        assert_eq!(
            attr_str(span, "network.protocol.version").as_deref(),
            Some("2"),
            "{ctx}"
        );
        let status = call["grpc_status"].as_i64().expect("status");
        assert_eq!(
            attr_int(span, "rpc.grpc.status_code"),
            Some(status),
            "{ctx}"
        );
        assert_eq!(
            attr_str(span, "rpc.grpc.status_message").as_deref(),
            call["grpc_message"].as_str(),
            "{ctx}"
        );
        assert_eq!(
            span["status"]["code"].as_i64() == Some(2),
            status != 0,
            "{ctx}"
        );
        if status != 0 {
            assert_eq!(
                span["status"]["message"].as_str(),
                call["grpc_message"].as_str(),
                "{ctx}"
            );
        }
        let req_msgs = call["request_messages"].as_i64().expect("req msgs");
        let resp_msgs = call["response_messages"].as_i64().expect("resp msgs");
        assert_eq!(
            attr_int(span, "wirespan.grpc.request_messages"),
            Some(req_msgs),
            "{ctx}"
        );
        assert_eq!(
            attr_int(span, "wirespan.grpc.response_messages"),
            Some(resp_msgs),
            "{ctx}"
        );
        // DATA carries each message behind a 5-byte prefix.
        let req_bytes = call["request_bytes"].as_i64().expect("req bytes") + 5 * req_msgs;
        let resp_bytes = call["response_bytes"].as_i64().expect("resp bytes") + 5 * resp_msgs;
        assert_eq!(
            attr_int(span, "http.request.body.size"),
            Some(req_bytes),
            "{ctx}"
        );
        assert_eq!(
            attr_int(span, "http.response.body.size"),
            Some(resp_bytes),
            "{ctx}"
        );
        assert_eq!(
            attr_str(span, "client.address").as_deref(),
            call["client_address"].as_str(),
            "{ctx}"
        );
        assert_eq!(
            attr_int(span, "client.port"),
            call["client_port"].as_i64(),
            "{ctx}"
        );
        assert_eq!(
            attr_str(span, "server.address").as_deref(),
            call["server_address"].as_str(),
            "{ctx}"
        );
        assert_eq!(
            attr_int(span, "server.port"),
            call["server_port"].as_i64(),
            "{ctx}"
        );
        match trace_of(call) {
            Some((trace, parent)) => {
                assert_eq!(span["traceId"].as_str(), Some(trace.as_str()), "{ctx}");
                assert_eq!(
                    span["parentSpanId"].as_str(),
                    Some(parent.as_str()),
                    "{ctx}"
                );
            }
            None => assert!(span.get("parentSpanId").is_none(), "{ctx}"),
        }
        assert_eq!(
            attr_str(span, "wirespan.tap_side").as_deref(),
            Some(tap_side),
            "{ctx}"
        );
        assert_eq!(attr_str(span, "wirespan.incomplete"), None, "{ctx}");
        assert_eq!(
            attr_int(span, "wirespan.hpack.unknown_fields"),
            None,
            "{ctx}"
        );
    }
    spans
}

#[test]
fn grpc_calls_match_the_client_log_at_every_capture_point() {
    let client = check_grpc_capture("pcaps/grpc/client-veth.pcap", "client");
    let server = check_grpc_capture("pcaps/grpc/server-veth.pcap", "server");
    let underlay = check_grpc_capture("pcaps/grpc/underlay-vxlan.pcap", "server");
    for ((a, b), c) in client.iter().zip(&server).zip(&underlay) {
        for key in [
            "wirespan.tcp.req_seq",
            "wirespan.tcp.resp_seq",
            "wirespan.http2.stream_id",
        ] {
            assert_eq!(attr_int(a, key), attr_int(b, key), "{key}");
            assert_eq!(attr_int(a, key), attr_int(c, key), "{key}");
        }
        assert_eq!(a["traceId"], b["traceId"]);
        assert!(attr_str(c, "wirespan.tunnel").is_some_and(|t| t.starts_with("vxlan:4242,")));
    }
}

#[test]
fn grpc_requests_and_statuses_agree_with_tshark() {
    if tshark().is_none() {
        return;
    }
    let rows = tshark_fields(
        &repo("pcaps/grpc/client-veth.pcap"),
        Some("http2.header.name == \":path\""),
        &["http2.header.name", "http2.header.value"],
        &["-d", "tcp.port==50051,http2", "-d", "tcp.port==9000,http2"],
    );
    let mut tshark_paths: HashMap<String, usize> = HashMap::new();
    for r in &rows {
        let names: Vec<&str> = r[0].split(',').collect();
        let values: Vec<&str> = r[1].split(',').collect();
        for (n, v) in names.iter().zip(&values) {
            if *n == ":path" {
                *tshark_paths.entry((*v).to_owned()).or_default() += 1;
            }
        }
    }
    let (spans, _) = sorted_spans("pcaps/grpc/client-veth.pcap");
    let mut ours: HashMap<String, usize> = HashMap::new();
    for s in &spans {
        *ours
            .entry(attr_str(s, "url.path").unwrap_or_default())
            .or_default() += 1;
    }
    assert_eq!(ours, tshark_paths);
}

#[test]
fn grpc_mid_stream_join_marks_what_the_dynamic_table_hid() {
    let mid = read_json("pcaps/grpc/midstream.expected.json");
    let calls = mid["calls"].as_array().expect("calls");
    let (spans, run) = sorted_spans("pcaps/grpc/midstream.pcap");
    let (full, _) = sorted_spans("pcaps/grpc/client-veth.pcap");
    assert_eq!(spans.len(), calls.len(), "{}", run.stderr);
    assert!(run.counter("http2_hpack_unknown_fields") > 0);
    assert_eq!(run.counter("http2_hpack_errors"), 0);
    for (span, call) in spans.iter().zip(calls) {
        let index = call["index"].as_u64().expect("index") as usize;
        let reference = &full[index];
        let ctx = format!("midstream call {index} {}", call["path"]);
        assert_eq!(
            attr_int(span, "wirespan.http2.stream_id"),
            call["stream_id"].as_i64(),
            "{ctx}"
        );
        assert_eq!(
            attr_int(span, "wirespan.tcp.req_seq"),
            attr_int(reference, "wirespan.tcp.req_seq"),
            "{ctx}"
        );
        assert_eq!(
            span["startTimeUnixNano"], reference["startTimeUnixNano"],
            "{ctx}"
        );
        assert_eq!(
            span["endTimeUnixNano"], reference["endTimeUnixNano"],
            "{ctx}"
        );
        let hidden_fields: Vec<&str> = call["request_fields_from_pre_cut_table"]
            .as_array()
            .into_iter()
            .chain(call["response_fields_from_pre_cut_table"].as_array())
            .flatten()
            .filter_map(|f| f.as_str().or_else(|| f["name"].as_str()))
            .collect();
        let hidden: HashSet<&str> = hidden_fields.iter().copied().collect();
        if call["decodable_without_pre_cut_state"].as_bool() == Some(true) {
            assert_eq!(
                attr_int(span, "wirespan.hpack.unknown_fields"),
                None,
                "{ctx}"
            );
            assert_eq!(span["name"], reference["name"], "{ctx}");
            assert_eq!(
                attr_int(span, "rpc.grpc.status_code"),
                attr_int(reference, "rpc.grpc.status_code"),
                "{ctx}"
            );
            continue;
        }
        assert_eq!(
            attr_int(span, "wirespan.hpack.unknown_fields"),
            Some(hidden_fields.len() as i64),
            "{ctx}: {hidden_fields:?}"
        );
        // What literals and the static table carried is still right; what they did not is absent.
        assert_eq!(
            attr_str(span, "http.request.method").as_deref(),
            Some("POST"),
            "{ctx}"
        );
        if hidden.contains(":path") {
            assert_eq!(attr_str(span, "url.path"), None, "{ctx}");
        } else {
            assert_eq!(
                attr_str(span, "url.path").as_deref(),
                call["path"].as_str(),
                "{ctx}"
            );
            assert_eq!(span["name"], reference["name"], "{ctx}");
        }
        if hidden.contains("grpc-status") {
            assert_eq!(attr_int(span, "rpc.grpc.status_code"), None, "{ctx}");
        } else if attr_str(span, "rpc.system").is_some() {
            assert_eq!(
                attr_int(span, "rpc.grpc.status_code"),
                attr_int(reference, "rpc.grpc.status_code"),
                "{ctx}"
            );
        }
    }
}

#[test]
fn h2c_upgrade_and_the_streams_after_it() {
    let calls = read_json("pcaps/h2c/h2c.expected.json")["calls"]
        .as_array()
        .expect("calls")
        .clone();
    let (spans, run) = sorted_spans("pcaps/h2c/h2c-upgrade.pcap");
    assert_eq!(run.counter("http1_h2c_upgrades"), 1);
    assert_eq!(spans.len(), calls.len(), "{}", run.stderr);
    for (span, call) in spans.iter().zip(&calls) {
        let ctx = format!("h2c {}", call["path"]);
        let method = call["method"].as_str().expect("method");
        let path = call["path"].as_str().expect("path");
        assert_eq!(span["name"], format!("{method} {path}"), "{ctx}");
        assert_eq!(
            attr_int(span, "wirespan.http2.stream_id"),
            call["stream_id"].as_i64(),
            "{ctx}"
        );
        assert_eq!(
            attr_str(span, "url.query").as_deref(),
            call["query"].as_str(),
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
            attr_int(span, "client.port"),
            call["client_port"].as_i64(),
            "{ctx}"
        );
        assert_eq!(
            attr_int(span, "server.port"),
            call["server_port"].as_i64(),
            "{ctx}"
        );
        if let Some((trace, parent)) = trace_of(call) {
            assert_eq!(span["traceId"].as_str(), Some(trace.as_str()), "{ctx}");
            assert_eq!(
                span["parentSpanId"].as_str(),
                Some(parent.as_str()),
                "{ctx}"
            );
        }
    }
}

fn check_mysql_capture(file: &str, tap_side: &str) -> Vec<Value> {
    let conns = read_json("pcaps/mysql/mysql.expected.json")["connections"]
        .as_array()
        .expect("connections")
        .clone();
    let (spans, run) = sorted_spans(file);
    assert_eq!(run.counter("mysql_parse_errors"), 0, "{}", run.stderr);
    let compressed = conns.iter().filter(|c| c["compressed"] == true).count() as u64;
    assert_eq!(run.counter("mysql_compressed_connections"), compressed);
    let mut checked = Vec::new();
    for conn in &conns {
        let port = conn["client_port"].as_i64();
        let (logins, mine): (Vec<&Value>, Vec<&Value>) = spans
            .iter()
            .filter(|s| attr_int(s, "client.port") == port)
            .partition(|s| s["name"] == "CONNECT");
        // Every connection's login (still uncompressed) is a span of its own.
        assert_eq!(logins.len(), 1, "{file} {port:?}: one login");
        let login = logins[0];
        assert_eq!(attr_str(login, "db.user").as_deref(), conn["user"].as_str());
        assert_eq!(
            attr_str(login, "db.namespace").as_deref(),
            conn["database"].as_str()
        );
        assert_eq!(attr_int(login, "db.response.status_code"), Some(0));
        checked.push(login.clone());
        if conn["compressed"] == true {
            assert!(
                mine.is_empty(),
                "a compressed connection is counted, not parsed"
            );
            continue;
        }
        let commands = conn["commands"].as_array().expect("commands");
        assert_eq!(mine.len(), commands.len(), "{file} connection {port:?}");
        let mut namespace = conn["database"].as_str().map(str::to_owned);
        for (span, cmd) in mine.iter().zip(commands) {
            let command = cmd["command"].as_str().expect("command");
            let ctx = format!("{file} {port:?} {command} {}", cmd["sql"]);
            let operation = cmd["operation"].as_str().expect("operation");
            let name = if command == "COM_QUERY" {
                operation
            } else {
                command
            };
            assert_eq!(span["name"].as_str(), Some(name), "{ctx}");
            assert_eq!(
                attr_str(span, "db.system").as_deref(),
                Some("mysql"),
                "{ctx}"
            );
            assert_eq!(
                attr_str(span, "db.operation.name").as_deref(),
                Some(operation),
                "{ctx}"
            );
            assert_eq!(
                attr_str(span, "wirespan.mysql.command").as_deref(),
                Some(command),
                "{ctx}"
            );
            assert_eq!(
                attr_str(span, "db.query.text").as_deref(),
                cmd["sql"].as_str(),
                "{ctx}"
            );
            assert_eq!(
                attr_int(span, "wirespan.mysql.statement_id"),
                cmd["statement_id"].as_i64(),
                "{ctx}"
            );
            // COM_INIT_DB and `USE db` name their target; the commands after them use it.
            let target = match (command, cmd["sql"].as_str()) {
                ("COM_INIT_DB", _) => cmd["schema"].as_str().map(str::to_owned),
                (_, Some(sql)) if operation == "USE" => {
                    sql.split_whitespace().nth(1).map(str::to_owned)
                }
                _ => None,
            };
            if let Some(t) = target {
                namespace = Some(t);
            }
            assert_eq!(attr_str(span, "db.namespace"), namespace, "{ctx}");
            assert_eq!(
                attr_str(span, "db.user").as_deref(),
                conn["user"].as_str(),
                "{ctx}"
            );
            assert_eq!(
                attr_str(span, "network.protocol.version").as_deref(),
                conn["server_version"].as_str(),
                "{ctx}"
            );
            assert_eq!(
                attr_str(span, "server.address").as_deref(),
                conn["server_address"].as_str(),
                "{ctx}"
            );
            assert_eq!(
                attr_int(span, "server.port"),
                conn["server_port"].as_i64(),
                "{ctx}"
            );
            let code = cmd["error_code"].as_i64().expect("error code");
            if cmd["response"] == "none" {
                assert_eq!(attr_int(span, "db.response.status_code"), None, "{ctx}");
                assert_eq!(attr_int(span, "wirespan.tcp.resp_seq"), None, "{ctx}");
            } else {
                assert_eq!(
                    attr_int(span, "db.response.status_code"),
                    Some(code),
                    "{ctx}"
                );
            }
            assert_eq!(
                span["status"]["code"].as_i64() == Some(2),
                code != 0,
                "{ctx}"
            );
            match cmd["rows_kind"].as_str() {
                Some("returned") => assert_eq!(
                    attr_int(span, "db.response.returned_rows"),
                    cmd["rows"].as_i64(),
                    "{ctx}"
                ),
                Some("affected") => assert_eq!(
                    attr_int(span, "wirespan.mysql.affected_rows"),
                    cmd["rows"].as_i64(),
                    "{ctx}"
                ),
                _ => assert_eq!(attr_int(span, "db.response.returned_rows"), None, "{ctx}"),
            }
            assert_eq!(
                attr_str(span, "wirespan.tap_side").as_deref(),
                Some(tap_side),
                "{ctx}"
            );
            assert_eq!(attr_str(span, "wirespan.incomplete"), None, "{ctx}");
            checked.push((*span).clone());
        }
    }
    assert_eq!(
        checked.len(),
        spans.len(),
        "{file}: no spans beyond the logged commands"
    );
    checked
}

#[test]
fn mysql_commands_match_the_client_log_at_every_capture_point() {
    let client = check_mysql_capture("pcaps/mysql/client-veth.pcap", "client");
    let server = check_mysql_capture("pcaps/mysql/server-veth.pcap", "server");
    let underlay = check_mysql_capture("pcaps/mysql/underlay-vxlan.pcap", "server");
    for ((a, b), c) in client.iter().zip(&server).zip(&underlay) {
        for key in ["wirespan.tcp.req_seq", "wirespan.tcp.resp_seq"] {
            assert_eq!(attr_int(a, key), attr_int(b, key), "{key}");
            assert_eq!(attr_int(a, key), attr_int(c, key), "{key}");
        }
    }
}

#[test]
fn mysql_commands_agree_with_tshark() {
    if tshark().is_none() {
        return;
    }
    let rows = tshark_fields(
        &repo("pcaps/mysql/client-veth.pcap"),
        Some("mysql.command"),
        &["mysql.command", "tcp.srcport"],
        &["-d", "tcp.port==3307,mysql"],
    );
    let (spans, run) = sorted_spans("pcaps/mysql/client-veth.pcap");
    // tshark cannot read the compressed connection either; compare the others by command count.
    let compressed: HashSet<i64> = read_json("pcaps/mysql/mysql.expected.json")["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .filter(|c| c["compressed"] == true)
        .filter_map(|c| c["client_port"].as_i64())
        .collect();
    let tshark_count = rows
        .iter()
        .filter(|r| !compressed.contains(&r[1].parse::<i64>().unwrap_or(0)))
        .map(|r| r[0].split(',').count())
        .sum::<usize>();
    // Logins are spans of ours but not commands to tshark.
    let commands = spans.iter().filter(|s| s["name"] != "CONNECT").count();
    assert_eq!(commands, tshark_count, "{}", run.stderr);
}

/// The same connection from the first frame after the upgrade request (pcaps/h2c/cut.py): a
/// `101` to `h2c` whose request the capture missed is still followed by HTTP/2, and every
/// stream after it gives the span it gives in the whole capture.
#[test]
fn a_101_without_its_request_is_followed_by_http2() {
    let (whole, _) = sorted_spans("pcaps/h2c/h2c-upgrade.pcap");
    let (cut, run) = sorted_spans("pcaps/h2c/h2c-upgrade-no-request.pcap");
    assert_eq!(run.counter("http1_h2c_upgrades"), 1, "{}", run.stderr);
    assert_eq!(run.counter("http1_responses_without_request"), 1);
    let after: Vec<&Value> = whole
        .iter()
        .filter(|s| attr_int(s, "wirespan.http2.stream_id") != Some(1))
        .collect();
    assert!(!after.is_empty());
    assert_eq!(cut.len(), after.len(), "{}", run.stderr);
    for (a, b) in cut.iter().zip(after) {
        assert_eq!(a["name"], b["name"]);
        for key in [
            "http.request.method",
            "url.path",
            "network.protocol.version",
        ] {
            assert_eq!(attr_str(a, key), attr_str(b, key), "{key}");
        }
        for key in [
            "wirespan.http2.stream_id",
            "http.response.status_code",
            "wirespan.tcp.req_seq",
            "wirespan.tcp.resp_seq",
        ] {
            assert_eq!(attr_int(a, key), attr_int(b, key), "{key}");
        }
    }
}

/// HTTP/2 through a real forward proxy (tinyproxy) in a CONNECT tunnel (pcaps/proxy/,
/// gen-proxy.sh: curl with --proxytunnel and prior knowledge, nginx behind): the CONNECT is
/// one span, and the tunnel's bytes are recognised afresh as HTTP/2, one span per request.
#[test]
fn http2_inside_a_connect_tunnel_gives_its_own_spans() {
    let expected = read_json("pcaps/proxy/connect.expected.json");
    let (spans, run) = sorted_spans("pcaps/proxy/connect.pcap");
    let calls = expected["calls"].as_array().expect("calls");
    assert_eq!(run.counter("flows_tunnels_opened"), calls.len() as u64);
    assert_eq!(spans.len(), 2 * calls.len(), "{}", run.stderr);
    for call in calls {
        let port = call["client_port"].as_i64();
        let mine: Vec<&Value> = spans
            .iter()
            .filter(|s| attr_int(s, "client.port") == port)
            .collect();
        assert_eq!(mine.len(), 2, "{call}");
        let connect = mine[0];
        assert_eq!(
            attr_str(connect, "http.request.method").as_deref(),
            Some("CONNECT")
        );
        assert_eq!(attr_int(connect, "http.response.status_code"), Some(200));
        assert_eq!(
            attr_str(connect, "url.path").as_deref(),
            expected["tunnel_to"].as_str()
        );
        let inner = mine[1];
        assert_eq!(
            attr_str(inner, "url.path").as_deref(),
            call["name"].as_str()
        );
        assert_eq!(
            attr_int(inner, "http.response.status_code"),
            call["status"].as_i64()
        );
        assert_eq!(
            attr_str(inner, "network.protocol.version").as_deref(),
            call["http_version"].as_str()
        );
    }
}

/// Server push from nginx to nghttp (pcaps/push/, gen-push.sh): the pushed response is an
/// exchange of its own, its request the server's PUSH_PROMISE, marked pushed; the request
/// that caused it is not.
#[test]
fn a_pushed_response_is_its_own_exchange_marked_pushed() {
    let expected = read_json("pcaps/push/push.expected.json");
    let (spans, run) = sorted_spans("pcaps/push/push.pcap");
    assert_eq!(run.counter("http2_pushed_streams"), 1);
    assert_eq!(run.counter("http2_responses_without_request"), 0);
    assert_eq!(spans.len(), 2, "{}", run.stderr);
    for (kind, pushed) in [("requested", false), ("pushed", true)] {
        let path = expected[kind]["path"].as_str();
        let span = spans
            .iter()
            .find(|s| attr_str(s, "url.path").as_deref() == path)
            .unwrap_or_else(|| panic!("no span for {path:?}"));
        assert_eq!(attr_int(span, "http.response.status_code"), Some(200));
        assert_eq!(
            attr_int(span, "http.response.body.size"),
            expected[kind]["size"].as_i64(),
            "{kind}"
        );
        assert_eq!(
            attr(span, "wirespan.http2.pushed").and_then(|v| v.as_bool()),
            pushed.then_some(true),
            "{kind}"
        );
    }
}

/// gRPC-Web over HTTP/1.1 between real implementations (pcaps/grpcweb/, gen-grpcweb.sh:
/// sonora's channel and WSGI application under gunicorn; one call in text mode): the status
/// and message come from the trailer frame inside the body (or a chunked body), which is not
/// counted as a message; base64 bodies are read as their frames.
#[test]
fn grpc_web_calls_read_their_status_from_the_trailer_frame() {
    let expected = read_json("pcaps/grpcweb/grpcweb.expected.json");
    let (spans, run) = sorted_spans("pcaps/grpcweb/grpcweb.pcap");
    let calls = expected["calls"].as_array().expect("calls");
    assert_eq!(spans.len(), calls.len(), "{}", run.stderr);
    assert_eq!(run.counter("http1_grpc_web_calls"), calls.len() as u64);
    for call in calls {
        let port = call["client_port"].as_i64();
        let span = spans
            .iter()
            .find(|s| attr_int(s, "client.port") == port)
            .unwrap_or_else(|| panic!("no span for {call}"));
        let path = call["path"].as_str().expect("path");
        assert_eq!(span["name"], path.trim_start_matches('/'), "{call}");
        assert_eq!(attr_str(span, "rpc.system").as_deref(), Some("grpc"));
        assert_eq!(
            attr_str(span, "wirespan.grpc.web").as_deref(),
            call["mode"].as_str()
        );
        assert_eq!(
            attr_int(span, "rpc.grpc.status_code"),
            call["status"].as_i64(),
            "{call}"
        );
        assert_eq!(
            attr_str(span, "rpc.grpc.status_message").as_deref(),
            call["message"].as_str(),
            "{call}"
        );
        assert_eq!(
            attr_int(span, "wirespan.grpc.request_messages"),
            call["request_messages"].as_i64()
        );
        if let Some(n) = call["response_messages"].as_i64() {
            assert_eq!(
                attr_int(span, "wirespan.grpc.response_messages"),
                Some(n),
                "{call}"
            );
        }
        let failed = call["status"].as_i64() != Some(0);
        assert_eq!(span["status"]["code"] == 2, failed, "{call}");
    }
}

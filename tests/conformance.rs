//! The peer's test captures (../shared/conformance/deepflow): tunnels, TCP edge cases and
//! HTTP/1, against the facts in fixtures/conformance/*.json (derived from the captures' bytes
//! with tshark and from DeepFlow's `.result` files by fixtures/conformance/extract.py).

mod common;

use common::*;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let text =
        std::fs::read_to_string(repo(&format!("fixtures/conformance/{name}"))).expect("fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

/// `--vxlan-port` flags for tshark's decode-as entries (`udp.port==N,vxlan`), keeping defaults.
fn decode_as_args(capture: &Value) -> Vec<String> {
    let mut args = Vec::new();
    for d in capture["decode_as"].as_array().into_iter().flatten() {
        if let Some(port) = d
            .as_str()
            .and_then(|s| s.strip_prefix("udp.port=="))
            .and_then(|s| s.strip_suffix(",vxlan"))
        {
            for p in ["4789", "8472", port] {
                args.push("--vxlan-port".to_owned());
                args.push(p.to_owned());
            }
        }
    }
    args
}

fn run_capture(rel: &str, capture: &Value) -> Run {
    let args = decode_as_args(capture);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = replay(&[deepflow(rel)], &args);
    assert_eq!(run.code, 0, "{rel}: {}", run.stderr);
    run
}

/// Tunnel layers and frame kinds that tshark's stack shapes say the decoder must find.
#[derive(Debug, Default, PartialEq)]
struct ShapeCounts {
    packets: u64,
    tcp: u64,
    vlan_tagged: u64,
    tunnelled: u64,
    vxlan: u64,
    vxlan_gpe: u64,
    geneve: u64,
    gre: u64,
    erspan: u64,
    nsh: u64,
    ipip: u64,
}

fn counts_from_shapes(capture: &Value) -> ShapeCounts {
    let mut c = ShapeCounts {
        packets: capture["frames"].as_u64().expect("frames"),
        ..Default::default()
    };
    for s in capture["stack_shapes"].as_array().expect("stack_shapes") {
        let n = s["frames"].as_u64().expect("frames");
        let shape: Vec<&str> = s["shape"]
            .as_array()
            .expect("shape")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        if shape.last() == Some(&"tcp") {
            c.tcp += n;
        }
        if shape.iter().any(|t| t.starts_with("vlan:")) {
            c.vlan_tagged += n;
        }
        let mut tunnels = 0;
        for (i, t) in shape.iter().enumerate() {
            let layer = if t.starts_with("vxlan-gpe") {
                &mut c.vxlan_gpe
            } else if t.starts_with("vxlan") {
                &mut c.vxlan
            } else if t.starts_with("geneve") {
                &mut c.geneve
            } else if t.starts_with("erspan") {
                &mut c.erspan
            } else if t.starts_with("gre") && !t.contains("0x88be") && !t.contains("0x22eb") {
                &mut c.gre
            } else if t.starts_with("nsh") {
                &mut c.nsh
            } else if t.starts_with("ipv")
                && shape.get(i + 1).is_some_and(|next| next.starts_with("ipv"))
            {
                &mut c.ipip
            } else {
                continue;
            };
            *layer += n;
            tunnels += 1;
        }
        if tunnels > 0 {
            c.tunnelled += n;
        }
    }
    c
}

#[test]
fn tunnel_and_tcp_captures_decode_as_tshark_sees_them() {
    let fx = fixture("deepflow_tunnels.json");
    let captures = fx["captures"].as_object().expect("captures");
    assert!(captures.len() >= 14);
    for (rel, capture) in captures {
        let run = run_capture(rel, capture);
        let want = counts_from_shapes(capture);
        let got = ShapeCounts {
            packets: run.counter("packets"),
            tcp: run.counter("tcp_segments"),
            vlan_tagged: run.counter("frames_vlan_tagged"),
            tunnelled: run.counter("frames_tunnelled"),
            vxlan: run.counter("tunnel_vxlan"),
            vxlan_gpe: run.counter("tunnel_vxlan_gpe"),
            geneve: run.counter("tunnel_geneve"),
            gre: run.counter("tunnel_gre"),
            erspan: run.counter("tunnel_erspan"),
            nsh: run.counter("tunnel_nsh"),
            ipip: run.counter("tunnel_ipip"),
        };
        assert_eq!(got, want, "{rel}");
        assert_eq!(run.counter("decode_malformed"), 0, "{rel}");

        // Inner TCP flows and the payload bytes they carried.
        let tcp_flows: Vec<&Value> = capture["inner_flows"]
            .as_array()
            .expect("inner_flows")
            .iter()
            .filter(|f| f["proto"] == "tcp")
            .collect();
        if let Some(summary) = capture["tcp_summary"].as_array() {
            assert_eq!(run.counter("flows_created"), summary.len() as u64, "{rel}");
            let payload: u64 = summary
                .iter()
                .flat_map(|s| s["payload_bytes"].as_object().into_iter().flatten())
                .filter_map(|(_, v)| v.as_u64())
                .sum();
            assert_eq!(run.counter("tcp_payload_bytes"), payload, "{rel}");
        } else if !tcp_flows.is_empty() {
            assert!(run.counter("flows_created") >= 1, "{rel}");
        }
        if let Some(datagrams) = capture["ip_reassembly"]["datagrams"].as_array() {
            assert_eq!(
                run.counter("ip_reassembled"),
                datagrams.len() as u64,
                "{rel}"
            );
            let fragments: usize = datagrams
                .iter()
                .map(|d| d["fragment_frames"].as_array().map_or(0, Vec::len))
                .sum();
            assert_eq!(run.counter("ip_fragments"), fragments as u64, "{rel}");
            assert_eq!(run.counter("ip_fragments_dropped"), 0, "{rel}");
        }
    }
}

#[test]
fn http1_captures_give_the_expected_exchanges() {
    let fx = fixture("deepflow_http1.json");
    let captures = fx["captures"].as_object().expect("captures");
    for (rel, capture) in captures {
        let run = run_capture(rel, capture);
        let spans = run.spans();
        let exchanges = capture["exchanges"].as_array().expect("exchanges");
        for ex in exchanges {
            let path = ex["path"].as_str().unwrap_or_default();
            let ctx = format!("{rel} {path}");
            let (client_addr, client_port) = ex["client"]
                .as_str()
                .and_then(|c| c.rsplit_once(':'))
                .map(|(a, p)| (a.to_owned(), p.parse::<i64>().ok()))
                .expect("client ip:port");
            let seq = ex["request_first_byte_seq_raw"]
                .as_i64()
                .expect("request seq");
            let matching: Vec<&Value> = spans
                .iter()
                .filter(|s| {
                    attr_str(s, "client.address").as_deref() == Some(client_addr.as_str())
                        && attr_int(s, "client.port") == client_port
                        && attr_int(s, "wirespan.tcp.req_seq") == Some(seq)
                })
                .collect();
            assert_eq!(
                matching.len(),
                1,
                "{ctx}: one span for the request\n{}",
                run.stderr
            );
            let span = matching[0];
            assert_eq!(
                attr_str(span, "http.request.method").as_deref(),
                ex["method"].as_str(),
                "{ctx}"
            );
            assert_eq!(attr_str(span, "url.path").as_deref(), Some(path), "{ctx}");
            assert_eq!(
                attr_str(span, "url.query").as_deref(),
                ex["query"].as_str(),
                "{ctx}"
            );
            if let Some(host) = ex["host"].as_str() {
                assert_eq!(
                    attr_str(span, "http.request.header.host").as_deref(),
                    Some(host),
                    "{ctx}"
                );
            }
            assert_eq!(
                attr_int(span, "http.response.status_code"),
                ex["status"].as_i64(),
                "{ctx}"
            );
            if let Some(server) = ex["server"].as_str() {
                let got = format!(
                    "{}:{}",
                    attr_str(span, "server.address").unwrap_or_default(),
                    attr_int(span, "server.port").unwrap_or(0)
                );
                assert_eq!(got, server, "{ctx}");
            }
            if let Some(size) = ex["request_body_size"].as_i64() {
                assert_eq!(
                    attr_int(span, "http.request.body.size"),
                    Some(size),
                    "{ctx}"
                );
            }
            if let (Some(size), Some(_)) =
                (ex["response_body_size"].as_i64(), ex["status"].as_i64())
            {
                assert_eq!(
                    attr_int(span, "http.response.body.size"),
                    Some(size),
                    "{ctx}"
                );
            }
            if let Some(ua) = ex["user_agent"].as_str() {
                assert_eq!(
                    attr_str(span, "user_agent.original").as_deref(),
                    Some(ua),
                    "{ctx}"
                );
            }
        }
        let http_spans = spans
            .iter()
            .filter(|s| attr_str(s, "http.request.method").is_some())
            .count();
        assert_eq!(
            http_spans,
            exchanges.len(),
            "{rel}: no spans beyond the expected exchanges"
        );
    }
}

/// One span per exchange, found by client and the sequence number of its first request byte.
fn span_for<'a>(spans: &'a [Value], ex: &Value, ctx: &str, stderr: &str) -> &'a Value {
    let (addr, port) = ex["client"]
        .as_str()
        .and_then(|c| c.rsplit_once(':'))
        .map(|(a, p)| (a.to_owned(), p.parse::<i64>().ok()))
        .expect("client ip:port");
    let seq = ex["request_first_byte_seq_raw"]
        .as_i64()
        .expect("request seq");
    let matching: Vec<&Value> = spans
        .iter()
        .filter(|s| {
            attr_str(s, "client.address").as_deref() == Some(addr.as_str())
                && attr_int(s, "client.port") == port
                && attr_int(s, "wirespan.tcp.req_seq") == Some(seq)
        })
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "{ctx}: one span for the request\n{stderr}"
    );
    matching[0]
}

#[test]
fn http2_and_grpc_captures_give_the_expected_exchanges() {
    let fx = fixture("deepflow_h2.json");
    let captures = fx["captures"].as_object().expect("captures");
    assert!(captures.len() >= 8);
    for (rel, capture) in captures {
        let run = run_capture(rel, capture);
        let spans = run.spans();
        let exchanges = capture["exchanges"].as_array().expect("exchanges");
        assert_eq!(spans.len(), exchanges.len(), "{rel}\n{}", run.stderr);
        assert_eq!(run.counter("http2_hpack_errors"), 0, "{rel}");
        for ex in exchanges {
            let ctx = format!("{rel} stream {}", ex["stream_id"]);
            let span = span_for(&spans, ex, &ctx, &run.stderr);
            assert_eq!(
                attr_int(span, "wirespan.http2.stream_id"),
                ex["stream_id"].as_i64(),
                "{ctx}"
            );
            assert_eq!(
                attr_str(span, "http.request.method").as_deref(),
                ex["method"].as_str(),
                "{ctx}"
            );
            assert_eq!(
                attr_str(span, "url.path").as_deref(),
                ex["path"].as_str(),
                "{ctx}"
            );
            assert_eq!(
                attr_int(span, "http.response.status_code"),
                ex["status"].as_i64(),
                "{ctx}"
            );
            assert_eq!(
                attr_int(span, "wirespan.tcp.resp_seq"),
                ex["response_first_byte_seq_raw"].as_i64(),
                "{ctx}"
            );
            if let Some(status) = ex["grpc_status"].as_i64() {
                assert_eq!(
                    attr_int(span, "rpc.grpc.status_code"),
                    Some(status),
                    "{ctx}"
                );
            }
            if let (Some(service), Some(method)) =
                (ex["rpc_service"].as_str(), ex["rpc_method"].as_str())
            {
                assert_eq!(span["name"], format!("{service}/{method}"), "{ctx}");
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
                for (key, field) in [
                    ("wirespan.grpc.request_messages", "request_messages"),
                    ("wirespan.grpc.response_messages", "response_messages"),
                ] {
                    if let Some(n) = ex[field].as_i64() {
                        assert_eq!(attr_int(span, key), Some(n), "{ctx} {field}");
                    }
                }
            }
            if let Some(tp) = ex["traceparent"].as_str() {
                let trace = tp.split('-').nth(1).unwrap_or_default();
                assert_eq!(span["traceId"].as_str(), Some(trace), "{ctx}");
            }
        }
    }
}

#[test]
fn mysql_captures_give_the_expected_commands() {
    let fx = fixture("deepflow_mysql.json");
    let captures = fx["captures"].as_object().expect("captures");
    assert!(captures.len() >= 20);
    for (rel, capture) in captures {
        let run = run_capture(rel, capture);
        let spans = run.spans();
        assert_eq!(run.counter("mysql_parse_errors"), 0, "{rel}");
        if capture["compressed"] == true {
            // Recognised and counted, not misparsed into spans.
            assert!(spans.is_empty(), "{rel}");
            assert_eq!(
                run.counter("mysql_compressed_connections"),
                capture["tcp_connections"].as_u64().unwrap_or(1),
                "{rel}"
            );
            continue;
        }
        let commands = capture["commands"].as_array().expect("commands");
        assert_eq!(spans.len(), commands.len(), "{rel}\n{}", run.stderr);
        for cmd in commands {
            let command = cmd["command"].as_str().expect("command");
            let ctx = format!("{rel} {command} {}", cmd["sql"]);
            let span = span_for(&spans, cmd, &ctx, &run.stderr);
            let ours = if command == "LOGIN" {
                "CONNECT"
            } else {
                command
            };
            assert_eq!(
                attr_str(span, "wirespan.mysql.command").as_deref(),
                Some(ours),
                "{ctx}"
            );
            assert_eq!(
                attr_str(span, "db.system").as_deref(),
                Some("mysql"),
                "{ctx}"
            );
            if let Some(sql) = cmd["sql"].as_str() {
                let ours = attr_str(span, "db.query.text").unwrap_or_default();
                if cmd["sql_utf8_valid"] == false {
                    // Binary bytes in the SQL: the text is UTF-8 with replacement characters,
                    // the same up to the first byte that is not UTF-8.
                    let valid: String = sql.chars().take_while(|c| c.is_ascii()).collect();
                    assert!(ours.starts_with(&valid), "{ctx}");
                } else {
                    assert_eq!(ours, sql, "{ctx}");
                }
                if let Some(op) = cmd["operation"].as_str() {
                    assert_eq!(
                        attr_str(span, "db.operation.name").as_deref(),
                        Some(op),
                        "{ctx}"
                    );
                }
            }
            assert_eq!(
                attr_int(span, "wirespan.mysql.statement_id"),
                cmd["statement_id"].as_i64(),
                "{ctx}"
            );
            assert_eq!(
                attr_int(span, "wirespan.tcp.resp_seq"),
                cmd["response_first_byte_seq_raw"].as_i64(),
                "{ctx}"
            );
            match cmd["response"].as_str() {
                Some("ERR") => {
                    assert_eq!(
                        attr_int(span, "db.response.status_code"),
                        cmd["error_code"].as_i64(),
                        "{ctx}"
                    );
                    assert_eq!(span["status"]["code"].as_i64(), Some(2), "{ctx}");
                }
                Some("OK" | "RESULTSET" | "EOF") => {
                    assert_eq!(attr_int(span, "db.response.status_code"), Some(0), "{ctx}");
                }
                _ => assert_eq!(attr_int(span, "db.response.status_code"), None, "{ctx}"),
            }
            if cmd["response"] == "RESULTSET" && cmd["response_complete"] == true {
                assert_eq!(
                    attr_int(span, "db.response.returned_rows"),
                    cmd["row_count"].as_i64(),
                    "{ctx}"
                );
            }
            // A login's OK carries an affected-row count of 0 that means nothing.
            if let (Some(n), false) = (cmd["affected_rows"].as_i64(), command == "LOGIN") {
                assert_eq!(
                    attr_int(span, "wirespan.mysql.affected_rows"),
                    Some(n),
                    "{ctx}"
                );
            }
        }
    }
}

//! Redis from a real server (Debian's redis-server) and real clients (redis-py, redis-cli),
//! captured by pcaps/redis/gen-redis.sh: every command redis-py logged (redis.expected.json)
//! has its span, in order on its connection, with the database and the error it got; pub/sub
//! messages are counted, never paired; error replies agree with tshark's RESP dissection.

mod common;

use common::*;
use serde_json::Value;

#[test]
fn every_logged_command_has_its_span_in_order() {
    let pcap = repo("pcaps/redis/redis.pcap");
    let expected = read_json("pcaps/redis/redis.expected.json");
    let run = replay(std::slice::from_ref(&pcap), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut spans = run.spans();
    spans.sort_by_key(|s| ns(s, "startTimeUnixNano"));
    for s in &spans {
        assert_eq!(attr_str(s, "db.system").as_deref(), Some("redis"), "{s}");
        assert!(attr_str(s, "wirespan.incomplete").is_none(), "{s}");
    }
    // Each connection's logged commands are a subsequence of its spans (clients add their
    // own: HELLO, CLIENT SETINFO, PING on connect).
    let mut next: std::collections::HashMap<i64, usize> = Default::default();
    for call in expected["calls"].as_array().expect("calls") {
        let port = call["client_port"].as_i64().expect("port");
        let command = call["command"].as_str().expect("command");
        let mine: Vec<&Value> = spans
            .iter()
            .filter(|s| attr_int(s, "client.port") == Some(port))
            .collect();
        let from = next.entry(port).or_default();
        let at = mine
            .iter()
            .skip(*from)
            .position(|s| attr_str(s, "db.operation.name").as_deref() == Some(command))
            .map(|i| i + *from)
            .unwrap_or_else(|| panic!("no {command} span on :{port} after #{from}"));
        *from = at + 1;
        let span = mine[at];
        assert_eq!(span["name"], command);
        assert_eq!(
            attr_str(span, "db.namespace"),
            Some(call["db"].as_i64().expect("db").to_string()),
            "{call}"
        );
        assert_eq!(
            attr_str(span, "db.response.status_code").as_deref(),
            call["error"].as_str(),
            "{call}"
        );
        assert_eq!(
            span["status"]["code"] == 2,
            call["error"].is_string(),
            "{call}"
        );
    }
    assert_eq!(
        run.counter("redis_pushes"),
        expected["pushes"].as_u64().expect("pushes")
    );
    assert_eq!(
        run.counter("redis_commands"),
        run.counter("redis_exchanges")
    );
    assert_eq!(run.counter("redis_parse_errors"), 0);
    // redis-cli's two commands, on connections of their own.
    for text in ["PING", "INCR cli-counter"] {
        assert!(
            spans
                .iter()
                .any(|s| attr_str(s, "db.query.text").as_deref() == Some(text)),
            "{text}"
        );
    }
    if tshark().is_none() {
        return;
    }
    // The second server listens on 6380, which tshark does not know as RESP by itself.
    let decode = ["-d", "tcp.port==6380,resp"];
    let errors: usize = tshark_fields(&pcap, Some("resp.error"), &["resp.error"], &decode)
        .iter()
        .map(|r| r[0].split(',').count())
        .sum();
    let error_spans = spans
        .iter()
        .filter(|s| attr_str(s, "db.response.status_code").is_some())
        .count();
    assert_eq!(error_spans, errors);
}

/// Values are redacted by default (the key stays); `--redis-values` keeps them as sent.
#[test]
fn values_are_redacted_unless_asked_for() {
    let pcap = repo("pcaps/redis/redis.pcap");
    let texts = |extra: &[&str]| -> Vec<String> {
        let run = replay(std::slice::from_ref(&pcap), extra);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.spans()
            .iter()
            .filter_map(|s| attr_str(s, "db.query.text"))
            .collect()
    };
    let redacted = texts(&[]);
    assert!(redacted.iter().any(|t| t == "SET user:1 ?"), "{redacted:?}");
    assert!(!redacted.iter().any(|t| t.contains("alice")));
    let kept = texts(&["--redis-values"]);
    assert!(kept.iter().any(|t| t == "SET user:1 alice"), "{kept:?}");
}

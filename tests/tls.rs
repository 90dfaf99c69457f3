//! TLS handshakes, without keys: pcaps/tls (pcaps/tls/gen-tls.sh: nginx with TLS 1.2 and 1.3,
//! h2 and HTTP/1.1, ECDSA and RSA certificates, resumption, a HelloRetryRequest, refused
//! handshakes; MariaDB over TLS), one span per connection, checked against what each client
//! logged it negotiated (pcaps/tls/tls.expected.json) and against tshark's dissection.

mod common;

use common::*;
use serde_json::Value;
use std::collections::HashMap;

fn expected() -> Value {
    read_json("pcaps/tls/tls.expected.json")
}

/// The TLS spans of a replay of `file`, by client port.
fn spans_by_client_port(file: &str) -> (Run, HashMap<i64, Value>) {
    let run = replay(&[repo(file)], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut by_port = HashMap::new();
    for s in run.spans() {
        if attr_str(&s, "network.protocol.name").as_deref() == Some("tls") {
            let port = attr_int(&s, "client.port").expect("client port");
            assert!(by_port.insert(port, s).is_none(), "one span per connection");
        }
    }
    (run, by_port)
}

fn bool_of(s: &Value, key: &str) -> Option<bool> {
    attr(s, key).and_then(|v| v.as_bool())
}

#[test]
fn every_connection_has_one_span_with_what_its_client_negotiated() {
    let (run, spans) = spans_by_client_port("pcaps/tls/tls.pcap");
    let exp = expected();
    let conns = exp["connections"].as_array().expect("connections");
    assert_eq!(spans.len(), conns.len());
    let mut established = 0;
    let mut curl_offset: Option<i64> = None;
    for c in conns {
        let id = c["id"].as_str().unwrap_or("?");
        let port = c["client_port"].as_i64().expect("port");
        let s = spans
            .get(&port)
            .unwrap_or_else(|| panic!("{id}: no span for client port {port}"));
        let a = |k: &str| attr_str(s, k);
        assert_eq!(a("server.address").as_deref(), c["server_address"].as_str());
        assert_eq!(
            attr_int(s, "server.port"),
            c["server_port"].as_i64(),
            "{id}"
        );
        assert_eq!(a("tls.protocol.name").as_deref(), Some("tls"));
        assert_eq!(a("tls.server_name").as_deref(), c["sni"].as_str(), "{id}");
        let name = match c["sni"].as_str() {
            Some(sni) => format!("TLS handshake {sni}"),
            None => "TLS handshake".to_owned(),
        };
        assert_eq!(s["name"], name.as_str(), "{id}");
        let offered: Option<Vec<&str>> = c["alpn_offered"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect());
        assert_eq!(
            a("wirespan.tls.alpn_offered"),
            offered.map(|o| o.join(",")),
            "{id}"
        );
        let ok = c["outcome"] == "established";
        assert_eq!(bool_of(s, "tls.established"), Some(ok), "{id}");
        if ok {
            established += 1;
            assert_eq!(
                a("tls.protocol.version").as_deref(),
                c["tls_version"].as_str()
            );
            assert_eq!(a("tls.cipher").as_deref(), c["cipher"].as_str(), "{id}");
            assert_eq!(
                bool_of(s, "tls.resumed"),
                c["session_reused"].as_bool(),
                "{id}"
            );
            assert_eq!(s["status"]["code"], Value::Null, "{id}: {s}");
            // TLS 1.3 sends the server's ALPN choice encrypted: only 1.2 shows it.
            if c["tls_version"] == "1.2" {
                assert_eq!(
                    a("tls.next_protocol").as_deref(),
                    c["alpn"].as_str(),
                    "{id}"
                );
            } else {
                assert_eq!(a("tls.next_protocol"), None, "{id}");
            }
        } else {
            assert_eq!(s["status"]["code"], 2, "{id}: {s}");
        }
        if let Some(hrr) = c["hello_retry_request"].as_bool() {
            assert_eq!(
                bool_of(s, "wirespan.tls.hello_retry").unwrap_or(false),
                hrr,
                "{id}"
            );
        }
        // The certificate travels in the clear up to TLS 1.2 only, and not when a session
        // is resumed (the abbreviated handshake sends none).
        let cert = &c["server_cert"];
        let version = a("tls.protocol.version");
        let resumed = bool_of(s, "tls.resumed") == Some(true);
        if version.as_deref() == Some("1.2") && !resumed {
            let subject = a("tls.server.subject").unwrap_or_else(|| panic!("{id}: {s}"));
            if cert.is_object() {
                assert_eq!(Some(subject.as_str()), cert["subject"].as_str(), "{id}");
                assert_eq!(a("tls.server.issuer").as_deref(), cert["issuer"].as_str());
                assert_eq!(
                    a("tls.server.not_after").as_deref(),
                    cert["not_after"].as_str(),
                    "{id}"
                );
            }
        } else {
            assert_eq!(a("tls.server.subject"), None, "{id}");
        }
        match c["alert"].as_object() {
            Some(alert) if alert["encrypted"] == false => {
                assert_eq!(
                    a("wirespan.tls.alert").as_deref(),
                    alert["description"].as_str()
                );
                assert_eq!(
                    a("wirespan.tls.alert_sender").as_deref(),
                    alert["sent_by"].as_str(),
                    "{id}"
                );
            }
            _ => assert_eq!(a("wirespan.tls.alert"), None, "{id}"),
        }
        // Inside the client's own handshake call. curl's --trace-time clock is the wall
        // clock's whole seconds at its start plus its monotonic clock: off by one constant
        // below a second, the same in every curl run; measured on the first and applied.
        let (start, end) = (ns(s, "startTimeUnixNano"), ns(s, "endTimeUnixNano"));
        let (mut from, mut to) = (
            c["handshake_start_ns"].as_u64().expect("start"),
            c["handshake_end_ns"].as_u64().expect("end"),
        );
        if c["client"] == "curl" {
            let offset = *curl_offset.get_or_insert(start as i64 - from as i64);
            assert!(
                (0..1_000_000_000).contains(&offset),
                "{id}: curl off by {offset} ns"
            );
            from = (from as i64 + offset) as u64;
            to = (to as i64 + offset) as u64;
        }
        // (curl logs microseconds: 2 ms of slack.)
        assert!(
            start + 2_000_000 >= from && end <= to + 2_000_000,
            "{id}: {start}..{end} outside {from}..{to}"
        );
        assert!(start <= end);
    }
    let failed = conns.len() - established;
    assert_eq!(counter(&run.stderr, "tls_handshakes"), conns.len() as u64);
    assert_eq!(counter(&run.stderr, "tls_handshakes_failed"), failed as u64);
    assert_eq!(counter(&run.stderr, "tls_parse_errors"), 0);
    // MariaDB's two connections switch to TLS inside the protocol and are read on.
    let mysql = conns.iter().filter(|c| c["server_port"] == 3306).count();
    assert_eq!(counter(&run.stderr, "mysql_tls_connections"), mysql as u64);
    assert!(mysql >= 2);
}

/// The hellos and alerts as tshark dissects them: server name, ALPN offered, negotiated
/// version and suite, the server's ALPN (TLS 1.2), alerts in the clear.
#[test]
fn every_handshake_agrees_with_tshark() {
    let Some(_) = tshark() else {
        return;
    };
    let (_, spans) = spans_by_client_port("pcaps/tls/tls.pcap");
    let file = repo("pcaps/tls/tls.pcap");
    // MariaDB's TLS starts inside its protocol: tshark reads it from port 3306 on.
    let decode = ["-d", "tcp.port==3306,mysql"];
    let hellos = tshark_fields(
        &file,
        Some("tls.handshake.type == 1"),
        &[
            "tcp.srcport",
            "tls.handshake.extensions_server_name",
            "tls.handshake.extensions_alpn_str",
        ],
        &decode,
    );
    let mut seen = std::collections::HashSet::new();
    for row in &hellos {
        let port: i64 = row[0].parse().expect("port");
        // A HelloRetryRequest brings a second ClientHello on the same connection.
        if !seen.insert(port) {
            continue;
        }
        let s = &spans[&port];
        let sni = (!row[1].is_empty()).then(|| row[1].clone());
        assert_eq!(attr_str(s, "tls.server_name"), sni, "{port}");
        let alpn = (!row[2].is_empty()).then(|| row[2].clone());
        assert_eq!(attr_str(s, "wirespan.tls.alpn_offered"), alpn, "{port}");
    }
    assert_eq!(seen.len(), spans.len());
    let server_hellos = tshark_fields(
        &file,
        Some("tls.handshake.type == 2"),
        &[
            "tcp.dstport",
            "tls.handshake.ciphersuite",
            "tls.handshake.extensions.supported_version",
            "tls.handshake.version",
            "tls.handshake.extensions_alpn_str",
            "tls.handshake.random",
        ],
        &decode,
    );
    // tshark's names of the suites (IANA's): "Cipher Suite: TLS_AES_256_GCM_SHA384 (0x1302)".
    let verbose = std::process::Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&file)
        .args(decode)
        .args(["-Y", "tls.handshake.type == 2", "-O", "tls"])
        .output()
        .expect("tshark");
    let mut names: HashMap<String, String> = HashMap::new();
    for line in String::from_utf8_lossy(&verbose.stdout).lines() {
        if let Some(rest) = line.trim().strip_prefix("Cipher Suite: ") {
            if let Some((name, code)) = rest.rsplit_once(" (") {
                names.insert(
                    code.trim_end_matches(')').to_ascii_lowercase(),
                    name.to_owned(),
                );
            }
        }
    }
    assert!(names.len() >= 8, "{names:?}");
    // RFC 8446 4.1.3: the random of a HelloRetryRequest.
    const HRR: &str = "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c";
    let mut checked = 0;
    for row in server_hellos.iter().filter(|r| r[5] != HRR) {
        let port: i64 = row[0].parse().expect("port");
        let s = &spans[&port];
        let version = if row[2].is_empty() { &row[3] } else { &row[2] };
        let version = match version.as_str() {
            "0x0304" => "1.3",
            "0x0303" => "1.2",
            other => panic!("{port}: version {other}"),
        };
        assert_eq!(
            attr_str(s, "tls.protocol.version").as_deref(),
            Some(version)
        );
        let suite = row[1].to_ascii_lowercase();
        assert_eq!(
            names.get(&suite).map(String::as_str),
            attr_str(s, "tls.cipher").as_deref(),
            "{port}: suite {suite}"
        );
        if version == "1.2" {
            let alpn = (!row[4].is_empty()).then(|| row[4].clone());
            assert_eq!(attr_str(s, "tls.next_protocol"), alpn, "{port}");
        }
        checked += 1;
    }
    assert!(checked >= 25, "{checked} server hellos");
    let alerts = tshark_fields(
        &file,
        Some("tls.alert_message.desc"),
        &["tcp.srcport", "tcp.dstport", "tls.alert_message.desc"],
        &decode,
    );
    let mut fatal = 0;
    for row in &alerts {
        let (src, dst): (i64, i64) = (row[0].parse().expect("src"), row[1].parse().expect("dst"));
        let desc: u8 = row[2].parse().expect("desc");
        // close_notify ends a connection, not a handshake.
        if desc == 0 {
            continue;
        }
        fatal += 1;
        let (port, by) = if spans.contains_key(&src) {
            (src, "client")
        } else {
            (dst, "server")
        };
        let s = &spans[&port];
        assert_eq!(
            attr_int(s, "wirespan.tls.alert_code"),
            Some(i64::from(desc))
        );
        assert_eq!(
            attr_str(s, "wirespan.tls.alert_sender").as_deref(),
            Some(by)
        );
    }
    assert_eq!(fatal, 5);
}

/// The pcapng with the key log inside (a Decryption Secrets Block) reads the same: its
/// secrets are not in any span.
#[test]
fn the_pcapng_with_secrets_gives_the_same_spans_and_no_secret() {
    let (_, plain) = spans_by_client_port("pcaps/tls/tls.pcap");
    let (run, dsb) = spans_by_client_port("pcaps/tls/tls-dsb.pcapng");
    assert_eq!(plain.len(), dsb.len());
    for (port, s) in &plain {
        let keys = [
            "tls.cipher",
            "tls.server_name",
            "tls.protocol.version",
            "tls.resumed",
        ];
        for k in keys {
            assert_eq!(attr(s, k), attr(&dsb[port], k), "{port} {k}");
        }
    }
    let keys = std::fs::read_to_string(repo("pcaps/tls/tls.keys")).expect("keys");
    let secret = keys
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .next()
        .expect("a secret");
    assert!(!String::from_utf8_lossy(&run.stdout).contains(secret));
    assert!(!run.stderr.contains(secret));
}

/// The spans of a replay with `extra` arguments, by client port: (TLS handshake spans, the
/// calls read inside).
fn replay_with(file: &str, extra: &[&str]) -> (Run, HashMap<i64, Vec<Value>>) {
    let run = replay(&[repo(file)], extra);
    let mut inside: HashMap<i64, Vec<Value>> = HashMap::new();
    for s in run.spans() {
        if attr_str(&s, "network.protocol.name").as_deref() != Some("tls") {
            let port = attr_int(&s, "client.port").expect("client port");
            inside.entry(port).or_default().push(s);
        }
    }
    (run, inside)
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// With the clients' key log, every request each client made is a span of its own inside its
/// connection (HTTP/1.1, HTTP/2 streams, MariaDB statements), with what the client sent and
/// got, the connection's TLS facts and `wirespan.tls.decrypted`.
#[test]
fn with_the_key_log_every_call_inside_is_read() {
    let keys = repo("pcaps/tls/tls.keys");
    let (run, inside) = replay_with(
        "pcaps/tls/tls.pcap",
        &["--tls-keylog", &keys.to_string_lossy()],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let exp = expected();
    let mut calls = 0;
    for c in exp["connections"].as_array().expect("connections") {
        let id = c["id"].as_str().unwrap_or("?");
        let port = c["client_port"].as_i64().expect("port");
        let spans = inside.get(&port).cloned().unwrap_or_default();
        for s in &spans {
            assert_eq!(
                bool_of(s, "wirespan.tls.decrypted"),
                Some(true),
                "{id}: {s}"
            );
            assert_eq!(
                attr_str(s, "tls.protocol.version").as_deref(),
                c["tls_version"].as_str()
            );
            assert_eq!(
                attr_str(s, "tls.cipher").as_deref(),
                c["cipher"].as_str(),
                "{id}"
            );
            assert_eq!(
                attr_str(s, "tls.server_name").as_deref(),
                c["sni"].as_str(),
                "{id}"
            );
        }
        if let Some(requests) = c["requests"].as_array() {
            // HTTP/2 streams run at once: compare each connection's calls as sets. An HTTP/2
            // server may answer and reset a stream before the request's body has come (nginx
            // did so to curl's POST here): its span, given at the response's end, counts the
            // body seen by then, so HTTP/2 request bodies are left out of the comparison.
            let h2 = c["alpn"] == "h2";
            let want = sorted(
                requests
                    .iter()
                    .map(|r| {
                        format!(
                            "{} {} {} {} {}",
                            r["method"].as_str().unwrap_or(""),
                            r["path"].as_str().unwrap_or(""),
                            r["status"],
                            if h2 {
                                -1
                            } else {
                                r["request_body_size"].as_i64().unwrap_or(0)
                            },
                            r["response_body_size"]
                        )
                    })
                    .collect(),
            );
            let got = sorted(
                spans
                    .iter()
                    .map(|s| {
                        format!(
                            "{} {} {} {} {}",
                            attr_str(s, "http.request.method").unwrap_or_default(),
                            attr_str(s, "url.path").unwrap_or_default()
                                + &attr_str(s, "url.query")
                                    .map(|q| format!("?{q}"))
                                    .unwrap_or_default(),
                            attr_int(s, "http.response.status_code").unwrap_or(0),
                            if h2 {
                                -1
                            } else {
                                attr_int(s, "http.request.body.size").unwrap_or(0)
                            },
                            attr_int(s, "http.response.body.size").unwrap_or(0)
                        )
                    })
                    .collect(),
            );
            assert_eq!(got, want, "{id}");
            // Each call inside the client's own account of it (curl's clock is off by the
            // constant measured for the handshakes: spans are compared by order only there).
            if c["client"] != "curl" {
                for r in requests {
                    let path = r["path"].as_str().unwrap_or("");
                    let s = spans
                        .iter()
                        .find(|s| path.starts_with(&attr_str(s, "url.path").unwrap_or_default()))
                        .expect("span");
                    let (from, to) = (
                        r["start_ns"].as_u64().unwrap_or(0),
                        r["end_ns"].as_u64().unwrap_or(0),
                    );
                    assert!(
                        ns(s, "startTimeUnixNano") >= from
                            && ns(s, "endTimeUnixNano") <= to + 1_000_000,
                        "{id} {path}"
                    );
                }
            }
            calls += requests.len();
        }
        if let Some(queries) = c["queries"].as_array() {
            let statements: Vec<&Value> = spans
                .iter()
                .filter(|s| attr_str(s, "db.query.text").is_some_and(|q| !q.is_empty()))
                .collect();
            assert_eq!(statements.len(), queries.len(), "{id}");
            for (s, q) in statements.iter().zip(queries) {
                assert_eq!(
                    attr_str(s, "db.query.text").as_deref(),
                    q["statement"].as_str()
                );
                if let Some(rows) = q["rows"].as_i64() {
                    assert_eq!(attr_int(s, "db.response.returned_rows"), Some(rows), "{id}");
                }
                if let Some(code) = q["error_code"].as_i64() {
                    assert_eq!(attr_int(s, "db.response.status_code"), Some(code), "{id}");
                }
            }
            calls += queries.len();
        }
        if c["outcome"] != "established" {
            assert!(spans.is_empty(), "{id}: nothing inside a refused handshake");
        }
    }
    assert!(calls >= 50, "{calls} calls");
    // TLS 1.3 sends ALPN and the certificate encrypted: with the keys they are on the span.
    let (_, handshakes) = spans_by_client_port_with(
        "pcaps/tls/tls.pcap",
        &["--tls-keylog", &keys.to_string_lossy()],
    );
    for c in exp["connections"].as_array().expect("connections") {
        if c["tls_version"] == "1.3" && c["outcome"] == "established" && !c["alpn"].is_null() {
            let s = &handshakes[&c["client_port"].as_i64().expect("port")];
            assert_eq!(
                attr_str(s, "tls.next_protocol").as_deref(),
                c["alpn"].as_str()
            );
        }
    }
    assert_eq!(counter(&run.stderr, "tls_records_unauthenticated"), 0);
    assert!(counter(&run.stderr, "tls_connections_decrypted") >= 24);
    // No secret reaches the output.
    let keys = std::fs::read_to_string(keys).expect("keys");
    for secret in keys.lines().filter_map(|l| l.split_whitespace().nth(2)) {
        assert!(!String::from_utf8_lossy(&run.stdout).contains(secret));
    }
}

/// The spans of a replay with `extra`, handshake spans by client port.
fn spans_by_client_port_with(file: &str, extra: &[&str]) -> (Run, HashMap<i64, Value>) {
    let run = replay(&[repo(file)], extra);
    let mut by_port = HashMap::new();
    for s in run.spans() {
        if attr_str(&s, "network.protocol.name").as_deref() == Some("tls") {
            by_port.insert(attr_int(&s, "client.port").expect("port"), s);
        }
    }
    (run, by_port)
}

/// The requests tshark decrypts with the same key log are the spans read inside.
#[test]
fn the_calls_inside_agree_with_tsharks_decryption() {
    let Some(_) = tshark() else {
        return;
    };
    let keys = repo("pcaps/tls/tls.keys");
    let (_, inside) = replay_with(
        "pcaps/tls/tls.pcap",
        &["--tls-keylog", &keys.to_string_lossy()],
    );
    let file = repo("pcaps/tls/tls.pcap");
    let opt = format!("tls.keylog_file:{}", keys.display());
    let rows = tshark_fields(
        &file,
        Some("http.request || http2.headers.method"),
        &[
            "tcp.srcport",
            "http.request.method",
            "http.request.uri",
            "http2.headers.method",
            "http2.headers.path",
        ],
        &["-o", &opt],
    );
    let mut want: Vec<String> = Vec::new();
    for r in &rows {
        if !r[1].is_empty() {
            want.push(format!("{} {} {}", r[0], r[1], r[2]));
        }
        // One frame may carry several HTTP/2 streams' headers.
        for (m, p) in r[3].split(',').zip(r[4].split(',')) {
            if !m.is_empty() {
                want.push(format!("{} {m} {p}", r[0]));
            }
        }
    }
    let got: Vec<String> = inside
        .iter()
        .flat_map(|(port, spans)| {
            spans
                .iter()
                .filter(|s| attr_str(s, "http.request.method").is_some())
                .map(move |s| {
                    let path = attr_str(s, "url.path").unwrap_or_default();
                    let query = attr_str(s, "url.query")
                        .map(|q| format!("?{q}"))
                        .unwrap_or_default();
                    format!(
                        "{port} {} {path}{query}",
                        attr_str(s, "http.request.method").unwrap_or_default()
                    )
                })
        })
        .collect();
    assert_eq!(sorted(got), sorted(want));
}

/// The pcapng's own Decryption Secrets Block unlocks the same calls, with no key log given.
#[test]
fn the_pcapngs_secrets_unlock_the_same_calls() {
    let keys = repo("pcaps/tls/tls.keys");
    let (_, with_file) = replay_with(
        "pcaps/tls/tls.pcap",
        &["--tls-keylog", &keys.to_string_lossy()],
    );
    let (run, with_dsb) = replay_with("pcaps/tls/tls-dsb.pcapng", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let count = |m: &HashMap<i64, Vec<Value>>| m.values().map(Vec::len).sum::<usize>();
    assert_eq!(count(&with_dsb), count(&with_file));
    assert!(count(&with_dsb) >= 50);
}

/// Without the key log, with half of it, or with its secrets damaged: the handshake spans stay,
/// the calls inside are read only where the right secrets are, and the counters say why.
#[test]
fn missing_partial_or_corrupted_keys_cost_only_the_calls_they_hid() {
    let missing = replay(
        &[repo("pcaps/tls/tls.pcap")],
        &["--tls-keylog", "/nonexistent/keys.log"],
    );
    assert_ne!(missing.code, 0);
    assert!(
        missing
            .stderr
            .contains("cannot read the TLS key log /nonexistent/keys.log"),
        "{}",
        missing.stderr
    );

    let text = std::fs::read_to_string(repo("pcaps/tls/tls.keys")).expect("keys");
    let lines: Vec<&str> = text.lines().collect();
    let half = tmp("half.keys");
    std::fs::write(&half, lines[..lines.len() / 2].join("\n")).expect("write");
    let (run, inside) = replay_with(
        "pcaps/tls/tls.pcap",
        &["--tls-keylog", &half.to_string_lossy()],
    );
    let decrypted = counter(&run.stderr, "tls_connections_decrypted");
    let without = counter(&run.stderr, "tls_connections_without_keys");
    assert!(decrypted > 0 && without > 0, "{}", run.stderr);
    assert!(!inside.is_empty());
    assert_eq!(counter(&run.stderr, "tls_handshakes"), 30);

    // Every secret's last hex digit changed: the right connections, the wrong keys.
    let corrupted = tmp("corrupted.keys");
    let damaged: Vec<String> = lines
        .iter()
        .map(|l| {
            let mut s = l.to_string();
            if let Some(last) = s.pop() {
                s.push(if last == '0' { '1' } else { '0' });
            }
            s
        })
        .collect();
    std::fs::write(&corrupted, damaged.join("\n")).expect("write");
    let (run, inside) = replay_with(
        "pcaps/tls/tls.pcap",
        &["--tls-keylog", &corrupted.to_string_lossy()],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        inside.is_empty(),
        "nothing unauthenticated is parsed: {inside:?}"
    );
    assert!(
        counter(&run.stderr, "tls_records_unauthenticated") >= 20,
        "{}",
        run.stderr
    );
    assert_eq!(counter(&run.stderr, "tls_handshakes"), 30);
    for line in damaged {
        if let Some(secret) = line.split_whitespace().nth(2) {
            assert!(
                !run.stderr.contains(secret)
                    && !String::from_utf8_lossy(&run.stdout).contains(secret)
            );
        }
    }
}

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

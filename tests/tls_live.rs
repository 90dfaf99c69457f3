//! TLS live: `capture --tls-keylog FILE` follows a key log that curl creates and appends to
//! while the capture runs (tests/live/tls-live.sh), and reads the calls inside each TLS
//! connection to nginx (HTTP/1.1 and h2, TLS 1.3 and 1.2) as curl made them. Needs root,
//! network namespaces, nginx, openssl and curl: skipped with a message elsewhere, required on CI.

mod common;

use common::*;
use serde_json::Value;
use std::process::Command;

#[test]
fn a_key_log_written_during_the_capture_opens_the_calls_inside() {
    if !live_capable() {
        return;
    }
    let out = std::env::temp_dir().join(format!("wirespan-tls-live-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let run = Command::new("bash")
        .arg(repo("tests/live/tls-live.sh"))
        .arg(env!("CARGO_BIN_EXE_wirespan"))
        .arg(&out)
        .output()
        .expect("run tls-live.sh");
    let stderr = std::fs::read_to_string(out.join("live.stderr")).unwrap_or_default();
    assert!(
        run.status.success(),
        "{}\n{}\nwirespan: {stderr}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let calls = json_lines(&std::fs::read(out.join("calls.jsonl")).expect("curl's log"));
    assert_eq!(calls.len(), 6);
    let spans = spans_of(&std::fs::read(out.join("live.jsonl")).expect("live output"));
    let handshakes: Vec<&Value> = spans
        .iter()
        .filter(|s| attr_str(s, "network.protocol.name").as_deref() == Some("tls"))
        .collect();
    assert_eq!(handshakes.len(), 4, "one per curl connection");
    for h in &handshakes {
        assert_eq!(
            attr(h, "tls.established").and_then(|v| v.as_bool()),
            Some(true)
        );
        assert_eq!(
            attr_str(h, "tls.server_name").as_deref(),
            Some("live.wirespan.test")
        );
    }
    for c in &calls {
        let port = c["port"].as_i64().expect("port");
        let url = c["url"].as_str().expect("url");
        let path = url.trim_start_matches("https://live.wirespan.test:8443");
        let s = spans
            .iter()
            .find(|s| {
                attr_int(s, "client.port") == Some(port)
                    && attr_str(s, "url.path").as_deref() == Some(path)
            })
            .unwrap_or_else(|| panic!("no span inside for {c}\n{stderr}"));
        assert_eq!(
            attr(s, "wirespan.tls.decrypted").and_then(|v| v.as_bool()),
            Some(true)
        );
        assert_eq!(
            attr_str(s, "http.request.method").as_deref(),
            c["method"].as_str(),
            "{c}"
        );
        assert_eq!(
            attr_int(s, "http.response.status_code"),
            c["status"].as_i64(),
            "{c}"
        );
        let version = if c["http_version"] == "2" { "2" } else { "1.1" };
        assert_eq!(
            attr_str(s, "network.protocol.version").as_deref(),
            Some(version)
        );
        let tls = attr_str(s, "tls.protocol.version").expect("tls version");
        assert!(tls == "1.2" || tls == "1.3", "{tls}");
    }
    assert_eq!(
        counter(&stderr, "tls_records_unauthenticated"),
        0,
        "{stderr}"
    );
    assert_eq!(counter(&stderr, "tls_connections_decrypted"), 4, "{stderr}");
    // The keys were read from the file curl wrote, and are nowhere in the output.
    assert!(counter(&stderr, "tls_keylog_secrets") >= 4 * 2);
    let keys = std::fs::read_to_string(out.join("keys.log")).expect("keys");
    let output = std::fs::read_to_string(out.join("live.jsonl")).expect("output");
    for secret in keys.lines().filter_map(|l| l.split_whitespace().nth(2)) {
        assert!(!output.contains(secret) && !stderr.contains(secret));
    }
    let _ = std::fs::remove_dir_all(&out);
}

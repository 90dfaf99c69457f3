//! The OTLP receiver against the real OpenTelemetry Python SDK (OTLP/HTTP protobuf on the
//! DeepFlow path and on /v1/traces with gzip, OTLP/gRPC), OTLP/JSON, and hostile bodies.

mod common;

use common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Receiver {
    child: Child,
    out: std::path::PathBuf,
    ports: [u16; 3],
}

impl Receiver {
    fn start(name: &str, extra: &[&str]) -> Receiver {
        let ports = [free_port(), free_port(), free_port()];
        let out =
            std::env::temp_dir().join(format!("wirespan-otlp-{name}-{}.jsonl", std::process::id()));
        let child = Command::new(env!("CARGO_BIN_EXE_wirespan"))
            .args(["receive", "-o"])
            .arg(&out)
            .args(["--listen-deepflow", &format!("127.0.0.1:{}", ports[0])])
            .args(["--listen-http", &format!("127.0.0.1:{}", ports[1])])
            .args(["--listen-grpc", &format!("127.0.0.1:{}", ports[2])])
            .args(["--duration", "60"])
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wirespan receive");
        let deadline = Instant::now() + Duration::from_secs(10);
        while ports
            .iter()
            .any(|p| TcpStream::connect(("127.0.0.1", *p)).is_err())
        {
            assert!(
                Instant::now() < deadline,
                "the receiver did not start listening"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Receiver { child, out, ports }
    }

    /// SIGTERM; returns (exit code, stderr, spans written).
    fn stop(mut self) -> (i32, String, Vec<Value>) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        let code = self
            .child
            .wait()
            .map(|s| s.code().unwrap_or(-1))
            .unwrap_or(-1);
        let spans = spans_of(&std::fs::read(&self.out).unwrap_or_default());
        let _ = std::fs::remove_file(&self.out);
        (code, stderr, spans)
    }
}

/// A raw HTTP/1.1 POST; returns (status, body).
fn post(port: u16, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("write head");
    let _ = s.write_all(body);
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    (status, body)
}

fn python_sdk() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http, opentelemetry.exporter.otlp.proto.grpc"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("the OpenTelemetry Python SDK and OTLP exporters are required on CI (.ci/run installs them)");
        }
        eprintln!("SKIPPED: pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http opentelemetry-exporter-otlp-proto-grpc");
    }
    ok
}

#[test]
fn real_sdk_exporters_are_received_over_http_and_grpc() {
    if !python_sdk() {
        return;
    }
    let r = Receiver::start("sdk", &[]);
    let [deepflow, http, grpc] = r.ports;
    let out = Command::new("python3")
        .arg(repo("tests/otlp/send_spans.py"))
        .arg(format!("http://127.0.0.1:{deepflow}/api/v1/otel/trace"))
        .arg(format!("http://127.0.0.1:{http}/v1/traces"))
        .arg(format!("127.0.0.1:{grpc}"))
        .output()
        .expect("run the SDK sender");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("sender line"))
        .collect();
    assert_eq!(sent.len(), 6);
    std::thread::sleep(Duration::from_millis(300));
    let (code, stderr, spans) = r.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("6 spans received"), "{stderr}");
    assert_eq!(spans.len(), 6);
    for s in &sent {
        let got = spans
            .iter()
            .find(|x| x["spanId"] == s["span_id"])
            .unwrap_or_else(|| panic!("{s} not received"));
        assert_eq!(got["traceId"], s["trace_id"]);
        assert_eq!(got["name"], s["name"]);
    }
    // App spans pass through untouched: the SERVER span keeps its attributes.
    let server = spans
        .iter()
        .find(|x| x["name"] == "GET /grpc")
        .expect("grpc SERVER span");
    assert_eq!(server["kind"], 2);
    assert_eq!(
        attr_str(server, "client.address").as_deref(),
        Some("10.9.0.2")
    );
    assert_eq!(attr_int(server, "client.port"), Some(4242));
}

#[test]
fn json_bodies_and_hostile_bodies_get_the_right_answers() {
    let r = Receiver::start("hostile", &["--max-body", "100000"]);
    let [deepflow, http, _] = r.ports;
    let json = br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"json-app"}}]},"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":"from json","kind":2,"startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}"#;
    assert_eq!(
        post(
            http,
            "/v1/traces",
            &[("Content-Type", "application/json")],
            json
        ),
        (200, "{}".into())
    );
    let (status, body) = post(
        deepflow,
        "/api/v1/otel/trace",
        &[("Content-Type", "application/x-protobuf")],
        b"\xff\xff\xff garbage",
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not OTLP protobuf"), "{body}");
    let (status, _) = post(
        http,
        "/v1/traces",
        &[("Content-Type", "application/json")],
        b"{\"resourceSpans\": [[[[[[",
    );
    assert_eq!(status, 400);
    let (status, _) = post(
        http,
        "/v1/traces",
        &[("Content-Type", "text/plain")],
        b"hello",
    );
    assert_eq!(status, 415);
    let (status, _) = post(
        http,
        "/v1/traces",
        &[("Content-Type", "application/x-protobuf")],
        &vec![0u8; 200_000],
    );
    assert_eq!(status, 413);
    // A gzip bomb: 50 MB of zeros in a few kB.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    for _ in 0..50 {
        gz.write_all(&[0u8; 1 << 20]).expect("compress");
    }
    let bomb = gz.finish().expect("gzip");
    assert!(bomb.len() < 100_000);
    let (status, body) = post(
        http,
        "/v1/traces",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "gzip"),
        ],
        &bomb,
    );
    assert_eq!(status, 413, "{body}");
    // Deeply nested JSON is refused, not followed.
    let deep = format!(
        "{{\"resourceSpans\":{}{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let (status, _) = post(
        http,
        "/v1/traces",
        &[("Content-Type", "application/json")],
        deep.as_bytes(),
    );
    assert_eq!(status, 400);
    let (code, stderr, spans) = r.stop();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0]["name"], "from json");
    assert!(stderr.contains("2 too large"), "{stderr}");
}

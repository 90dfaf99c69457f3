//! The OTLP exporter: spans delivered to an OTLP/HTTP endpoint (read back with the
//! opentelemetry-proto Python package) and over OTLP/gRPC (to wirespan's own receiver); an
//! endpoint that is down, then answers 503, then works; one that never works. Every span is
//! delivered or counted as dropped.

mod common;

use common::*;
use serde_json::Value;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn collector(
    port: u16,
    out: &std::path::Path,
    fail_first: u32,
    status: u16,
    duration: f64,
) -> Child {
    let child = Command::new("python3")
        .arg(repo("tests/otlp/fake_collector.py"))
        .arg(port.to_string())
        .arg(out)
        .arg(fail_first.to_string())
        .arg(status.to_string())
        .arg(duration.to_string())
        .spawn()
        .expect("start the fake collector");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the fake collector did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn replay_export(url: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wirespan"))
        .arg("replay")
        .arg(repo("pcaps/http/client-veth.pcap"))
        .args(["-o", "/dev/null", "--host-name", "test", "--export", url])
        .args(extra)
        .output()
        .expect("run wirespan")
}

fn received(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("collector line"))
        .collect()
}

fn reference_spans() -> Vec<Value> {
    replay(&[repo("pcaps/http/client-veth.pcap")], &[]).spans()
}

#[test]
fn spans_reach_an_http_endpoint_through_an_outage_and_503s() {
    if !proto_package() {
        return;
    }
    let port = free_port();
    let out = std::env::temp_dir().join(format!("wirespan-export-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&out);
    // Nothing listens for the first two seconds, then two 503s, then it works.
    let url = format!("http://127.0.0.1:{port}/v1/traces");
    let exporter = std::thread::spawn({
        let url = url.clone();
        move || replay_export(&url, &["--export-max-retry-s", "30"])
    });
    std::thread::sleep(Duration::from_secs(2));
    let mut fake = collector(port, &out, 2, 503, 30.0);
    let result = exporter.join().expect("exporter thread");
    let _ = fake.kill();
    let _ = fake.wait();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(0), "{stderr}");
    let got = received(&out);
    let want = reference_spans();
    assert_eq!(got.len(), want.len(), "{stderr}");
    for w in &want {
        assert!(
            got.iter().any(|g| g["span_id"] == w["spanId"]
                && g["trace_id"] == w["traceId"]
                && g["name"] == w["name"]),
            "{w}"
        );
    }
    assert!(got.iter().all(|g| g["service"] == "wirespan"));
    assert_eq!(summary_number(&stderr, "spans exported"), want.len() as u64);
    assert!(summary_number(&stderr, "retries)") >= 3, "{stderr}");
    let _ = std::fs::remove_file(&out);
}

#[test]
fn an_endpoint_that_never_works_costs_counted_spans_and_an_exit_code() {
    if !proto_package() {
        return;
    }
    let port = free_port();
    let out =
        std::env::temp_dir().join(format!("wirespan-export-503-{}.jsonl", std::process::id()));
    let mut fake = collector(port, &out, 1_000_000, 503, 30.0);
    let started = Instant::now();
    let result = replay_export(
        &format!("http://127.0.0.1:{port}/v1/traces"),
        &["--export-max-retry-s", "2"],
    );
    let _ = fake.kill();
    let _ = fake.wait();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(1), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20), "bounded time");
    let total = reference_spans().len() as u64;
    assert_eq!(summary_number(&stderr, "spans exported"), 0);
    assert_eq!(summary_number(&stderr, "after retries"), total, "{stderr}");
    let _ = std::fs::remove_file(&out);
}

#[test]
fn spans_reach_a_grpc_endpoint() {
    let ports = [free_port(), free_port(), free_port()];
    let out =
        std::env::temp_dir().join(format!("wirespan-export-grpc-{}.jsonl", std::process::id()));
    let mut receiver = Command::new(env!("CARGO_BIN_EXE_wirespan"))
        .args(["receive", "-o"])
        .arg(&out)
        .args(["--listen-deepflow", &format!("127.0.0.1:{}", ports[0])])
        .args(["--listen-http", &format!("127.0.0.1:{}", ports[1])])
        .args(["--listen-grpc", &format!("127.0.0.1:{}", ports[2])])
        .args(["--duration", "30"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the receiver");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", ports[2])).is_err() {
        assert!(Instant::now() < deadline, "the receiver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let result = replay_export(&format!("grpc://127.0.0.1:{}", ports[2]), &[]);
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(receiver.id() as i32, libc::SIGTERM);
    }
    let _ = receiver.wait();
    assert_eq!(
        result.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let got = spans_of(&std::fs::read(&out).unwrap_or_default());
    let want = reference_spans();
    assert_eq!(got.len(), want.len());
    for w in &want {
        assert!(got.iter().any(|g| g == w), "{w} arrives unchanged");
    }
    let _ = std::fs::remove_file(&out);
}

//! Live capture against real traffic: two network namespaces, a real HTTP server, wirespan
//! capturing on a veth while tcpdump records the same interface (tests/live/run-live.sh).
//! Needs root, iproute2 and tcpdump: skipped with a message elsewhere, required on CI.

mod common;

use common::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

/// Whether this machine can run the live tests; on CI it must.
fn live_capable() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let tools = ["ip", "tcpdump", "python3"].iter().all(|t| {
        Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if root && tools {
        return true;
    }
    let why = if root {
        "ip, tcpdump or python3 is missing"
    } else {
        "not running as root"
    };
    if std::env::var_os("CI").is_some() {
        panic!("the live capture tests must run on CI, but {why}");
    }
    eprintln!("SKIPPED: live capture tests need root, network namespaces and tcpdump ({why})");
    false
}

struct LiveRun {
    dir: PathBuf,
    stderr: String,
}

fn run_live(name: &str, filter: &[&str]) -> LiveRun {
    let dir = std::env::temp_dir().join(format!("wirespan-live-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new("bash")
        .arg(repo("tests/live/run-live.sh"))
        .arg(env!("CARGO_BIN_EXE_wirespan"))
        .arg(&dir)
        .args(filter)
        .output()
        .expect("run the live script");
    let stderr = std::fs::read_to_string(dir.join("live.stderr")).unwrap_or_default();
    assert!(
        out.status.success(),
        "live script failed: {}\n{}\nwirespan: {stderr}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    LiveRun { dir, stderr }
}

fn counter(stderr: &str, name: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| {
            let mut it = l.split_whitespace();
            (it.next() == Some(name)).then(|| it.next()?.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no counter {name} in:\n{stderr}"))
}

/// What must agree between the live and the replayed span of one call.
fn comparable(s: &Value) -> Vec<String> {
    let mut v = vec![
        s["name"].to_string(),
        s["traceId"].to_string(),
        s["parentSpanId"].to_string(),
        s["kind"].to_string(),
        s["status"].to_string(),
    ];
    for a in s["attributes"].as_array().into_iter().flatten() {
        if a["key"] != "wirespan.capture.point" {
            v.push(a.to_string());
        }
    }
    v
}

#[test]
fn live_spans_equal_replay_spans_of_the_same_traffic() {
    if !live_capable() {
        return;
    }
    let live = run_live("equal", &["tcp", "port", "8080"]);
    let client: Value = serde_json::from_str(
        &std::fs::read_to_string(live.dir.join("client.json")).expect("client log"),
    )
    .expect("client json");
    let calls = client["calls"].as_array().expect("calls");
    let mut live_spans =
        spans_of(&std::fs::read(live.dir.join("live.jsonl")).expect("live output"));
    assert_eq!(
        live_spans.len(),
        calls.len(),
        "one span per call\n{}",
        live.stderr
    );
    assert_eq!(counter(&live.stderr, "kernel_drops"), 0);
    assert_eq!(counter(&live.stderr, "queue_drops"), 0);
    let replayed = replay(&[live.dir.join("live.pcap")], &[]);
    assert_eq!(replayed.code, 0, "{}", replayed.stderr);
    let mut replay_spans = replayed.spans();
    live_spans.sort_by_key(|s| ns(s, "startTimeUnixNano"));
    replay_spans.sort_by_key(|s| ns(s, "startTimeUnixNano"));
    assert_eq!(live_spans.len(), replay_spans.len());
    for (a, b) in live_spans.iter().zip(&replay_spans) {
        assert_eq!(comparable(a), comparable(b));
        // Each packet socket stamps the packets it is given; two sockets on one interface may
        // differ by microseconds for packets sent from this host.
        for key in ["startTimeUnixNano", "endTimeUnixNano"] {
            assert!(
                ns(a, key).abs_diff(ns(b, key)) < 1_000_000,
                "{key}: {} vs {}",
                ns(a, key),
                ns(b, key)
            );
        }
        assert!(attr_str(a, "wirespan.capture.point").is_some_and(|p| p.starts_with("wsl-a")));
    }
    // And the client's own account of each call.
    for (span, call) in live_spans.iter().zip(calls) {
        assert_eq!(
            span["name"],
            format!(
                "{} {}",
                call["method"].as_str().unwrap_or(""),
                call["path"].as_str().unwrap_or("")
            )
        );
        assert_eq!(
            attr_int(span, "http.response.status_code"),
            call["status"].as_i64()
        );
        assert_eq!(
            attr_int(span, "http.response.body.size"),
            call["response_body_size"].as_i64()
        );
        assert_eq!(
            attr_int(span, "http.request.body.size"),
            call["request_body_size"].as_i64()
        );
        assert_eq!(attr_int(span, "client.port"), call["client_port"].as_i64());
    }
    // The kernel filter let through exactly the TCP packets tcpdump saw on port 8080.
    let tcpdump_packets = Command::new("tcpdump")
        .args(["-r"])
        .arg(live.dir.join("live.pcap"))
        .args(["-n", "tcp port 8080"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().count() as u64)
        .expect("tcpdump -r");
    assert_eq!(counter(&live.stderr, "packets"), tcpdump_packets);
    let _ = std::fs::remove_dir_all(&live.dir);
}

#[test]
fn the_kernel_filter_keeps_out_what_it_should() {
    if !live_capable() {
        return;
    }
    let live = run_live("filter", &["tcp", "port", "9999"]);
    let spans = spans_of(&std::fs::read(live.dir.join("live.jsonl")).unwrap_or_default());
    assert!(spans.is_empty());
    // Nothing reached the ring at all: the filter ran in the kernel.
    assert_eq!(
        counter(&live.stderr, "kernel_packets"),
        0,
        "{}",
        live.stderr
    );
    assert_eq!(counter(&live.stderr, "packets"), 0);
    let _ = std::fs::remove_dir_all(&live.dir);
}

#[test]
fn bad_setups_fail_at_once_with_one_line() {
    let wirespan = env!("CARGO_BIN_EXE_wirespan");
    let missing = Command::new(wirespan)
        .args(["capture", "-i", "nosuch0", "-o", "/dev/null"])
        .output()
        .expect("run");
    assert_eq!(missing.status.code(), Some(1));
    let msg = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(msg.trim(), "wirespan: interface nosuch0 does not exist");

    let bad = Command::new(wirespan)
        .args(["capture", "-i", "lo", "tcp", "prot", "80"])
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(1));
    let msg = String::from_utf8_lossy(&bad.stderr);
    assert!(
        msg.starts_with("wirespan: bad filter 'tcp prot 80'") && msg.trim().lines().count() == 1,
        "{msg}"
    );

    // -d prints the program as tcpdump does and exits.
    let dump = Command::new(wirespan)
        .args(["capture", "-i", "lo", "-d", "tcp", "port", "80"])
        .output()
        .expect("run");
    assert!(dump.status.success());
    let ours = String::from_utf8_lossy(&dump.stdout).into_owned();
    assert!(ours.starts_with("(000) ldh      [12]"), "{ours}");
    if let Ok(t) = Command::new("tcpdump")
        .args(["-i", "lo", "-d", "tcp", "port", "80"])
        .output()
    {
        if t.status.success() {
            assert_eq!(ours, String::from_utf8_lossy(&t.stdout));
        }
    }

    // Without CAP_NET_RAW (as nobody, all capabilities dropped), when setpriv is there to say so.
    let unprivileged = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ])
        .args([wirespan, "capture", "-i", "lo", "-o", "/dev/null"])
        .output();
    match unprivileged {
        Ok(o) if !String::from_utf8_lossy(&o.stderr).contains("setpriv:") => {
            assert_eq!(o.status.code(), Some(1));
            let msg = String::from_utf8_lossy(&o.stderr);
            assert!(
                msg.contains("CAP_NET_RAW") && msg.trim().lines().count() == 1,
                "{msg}"
            );
        }
        _ => eprintln!("SKIPPED: setpriv is not available to drop privileges"),
    }
}

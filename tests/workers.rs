//! `replay --workers N`: dealing flows out to worker threads changes nothing but the order of
//! spans across flows: the same spans, the same counters, on every bundled capture.

mod common;

use common::{replay, repo, spans_of};
use std::path::PathBuf;

/// Every bundled capture file, each replayed on its own.
fn bundled() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![repo("pcaps")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read pcaps/") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e == "pcap" || e == "pcapng")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Spans as canonical JSON text, sorted: the run's spans regardless of their order.
fn span_set(out: &[u8]) -> Vec<String> {
    let mut spans: Vec<String> = spans_of(out).iter().map(|s| s.to_string()).collect();
    spans.sort();
    spans
}

/// The `--stats` block: every counter line after the summary.
fn counters(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| !l.starts_with("wirespan:"))
        .collect()
}

#[test]
fn workers_give_the_same_spans_and_counters_on_every_bundled_capture() {
    let files = bundled();
    assert!(files.len() >= 20, "bundled captures: {files:?}");
    let mut spans = 0;
    for file in &files {
        let one = replay(std::slice::from_ref(file), &[]);
        // Two and three: how a worker is chosen must not decide the spans (a fragmented tunnel
        // split its flows with two workers once, and not with three).
        for n in ["2", "3"] {
            let many = replay(std::slice::from_ref(file), &["--workers", n]);
            assert_eq!(one.code, many.code, "{file:?}: exit codes");
            assert_eq!(
                span_set(&one.stdout),
                span_set(&many.stdout),
                "{file:?}: spans differ with {n} workers"
            );
            assert_eq!(
                counters(&one.stderr),
                counters(&many.stderr),
                "{file:?}: counters differ with {n} workers"
            );
        }
        spans += spans_of(&one.stdout).len();
    }
    assert!(spans > 500, "only {spans} spans in all bundled captures");
}

#[test]
fn workers_correlate_the_demo_into_the_same_traces() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo("pcaps/shop"))
        .expect("pcaps/shop")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    files.sort();
    let otel = repo("pcaps/shop/otlp");
    let otel = otel.to_str().expect("utf-8 path");
    let one = replay(&files, &["--otel", otel]);
    let two = replay(&files, &["--otel", otel, "--workers", "2"]);
    assert_eq!(one.code, 0, "{}", one.stderr);
    assert_eq!(two.code, 0, "{}", two.stderr);
    let spans = span_set(&one.stdout);
    assert!(spans.len() > 50, "{} spans", spans.len());
    assert_eq!(spans, span_set(&two.stdout));
}

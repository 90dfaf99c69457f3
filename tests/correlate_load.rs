//! The shop under load, offline: N checkouts at once (N = 1, 2, 4, 8, 16; pcaps/shop/gen-load.sh),
//! six capture points and the apps' OTLP bodies. Whatever wirespan joins must be joined right:
//! pcaps/shop/check_load.py holds every network span against the user its call was really for
//! (the SQL, the query string, the gRPC message, the load generator's port) and against the
//! cart's and catalog's own records of each call, and fails on any span in another user's trace
//! or under another app. Calls the evidence cannot single out stay unjoined, linked to every
//! candidate, the right one among them.

mod common;

use common::*;
use serde_json::Value;
use std::process::Command;

fn level(name: &str) -> (Value, Run) {
    let dir = repo(&format!("pcaps/shop/load/{name}"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("load dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 6, "six capture points in {}", dir.display());
    let otel = dir.join("otlp");
    let run = replay(&files, &["--otel", &otel.to_string_lossy()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out =
        std::env::temp_dir().join(format!("wirespan-load-{name}-{}.jsonl", std::process::id()));
    std::fs::write(&out, &run.stdout).expect("write output");
    let check = Command::new("python3")
        .arg(repo("pcaps/shop/check_load.py"))
        .arg("--json")
        .arg(&dir)
        .arg(&out)
        .output()
        .expect("run check_load.py");
    let _ = std::fs::remove_file(&out);
    let report: Value = serde_json::from_slice(&check.stdout).unwrap_or_else(|e| {
        panic!(
            "check_load.py: {e}\n{}",
            String::from_utf8_lossy(&check.stderr)
        )
    });
    assert!(
        check.status.success(),
        "{name}: {}",
        serde_json::to_string_pretty(&report["problems"]).unwrap_or_default()
    );
    (report, run)
}

/// N checkouts at once; `prefork-n8`: eight at once with the catalog under gunicorn, three
/// sync worker processes each keeping its own DB connection.
#[test]
fn no_network_span_has_a_wrong_parent_at_any_load() {
    for (name, n) in [
        ("n1", 1),
        ("n2", 2),
        ("n4", 4),
        ("n8", 8),
        ("n16", 16),
        ("prefork-n8", 8),
    ] {
        let (report, run) = level(name);
        let total = &report["total"];
        assert_eq!(total["wrong"], 0, "{name}: {report}");
        assert_eq!(report["precision"], 1.0, "{name}");
        // Calls with trace context are always joined, at every load.
        for kind in ["frontend->cart", "frontend->catalog", "loadgen->frontend"] {
            let row = &report["kinds"][kind];
            assert!(row["spans"].as_u64() > Some(0), "{name}: {kind}");
            assert_eq!(row["right"], row["spans"], "{name}: {kind}: {report}");
        }
        // The cart's query names its user and runs on a connection of its own: the values and
        // the connection single out its calls, but for user 1 (a 1 tells nothing apart), whose
        // calls are linked to every candidate instead. None is left without a word.
        let cart = &report["kinds"]["cart->db"];
        assert_eq!(cart["unjoined"], 0, "{name}: cart->db: {report}");
        if n > 1 {
            let right = cart["right"].as_u64().unwrap_or(0);
            let all = cart["spans"].as_u64().unwrap_or(0);
            assert!(right * 2 >= all, "{name}: cart->db: {report}");
        }
        assert!(
            report["recall"].as_f64() >= Some(0.8),
            "{name}: recall: {report}"
        );
        // What is left out is said: linked, counted, never silently dropped.
        let ambiguous = total["ambiguous"].as_u64().unwrap_or(0);
        let counted = run.counter("correlation_ambiguous_concurrent_spans");
        assert_eq!(ambiguous > 0, counted > 0, "{name}: {}", run.stderr);
        if n == 1 {
            assert_eq!(ambiguous, 0, "one at a time leaves nothing ambiguous");
        }
        if n >= 4 {
            assert!(
                run.counter("correlation_evidence_values") > 0
                    && run.counter("correlation_evidence_connection") > 0,
                "{name}: values and connections do the work: {}",
                run.stderr
            );
        }
    }
}

/// The shop on connections opened before the capture (pcaps/shop/load/late-join: a checkout,
/// then the captures): the frontend's gRPC channel to the cart hides `:path` and
/// `content-type` in HPACK entries never captured. Alone, the network spans say gRPC (by its
/// framing) and that the method is unknown; joined with the apps' spans, every one names its
/// service and method, learned from the app span its trace context joined, and nothing is
/// joined wrong.
#[test]
fn a_late_join_names_every_grpc_call_from_the_apps_and_guesses_nothing_alone() {
    let (report, run) = level("late-join");
    assert_eq!(report["total"]["wrong"], 0, "{report}");
    let grpc: Vec<Value> = run
        .spans()
        .into_iter()
        .filter(|s| {
            attr_str(s, "rpc.system").as_deref() == Some("grpc")
                && attr_str(s, "wirespan.capture.point").is_some()
        })
        .collect();
    assert!(!grpc.is_empty());
    let unknown = run.counter("grpc_calls_method_unknown");
    assert!(
        unknown > 0,
        "the capture really joined late: {}",
        run.stderr
    );
    assert_eq!(run.counter("correlation_names_learned"), unknown);
    for s in &grpc {
        assert_eq!(
            attr_str(s, "rpc.service").as_deref(),
            Some("shop.Cart"),
            "{s}"
        );
        assert_eq!(attr_str(s, "rpc.method").as_deref(), Some("GetCart"), "{s}");
        assert!(attr_str(s, "wirespan.grpc.method").is_none(), "{s}");
    }
    let learned = grpc
        .iter()
        .filter(|s| attr_str(s, "wirespan.learned_from").as_deref() == Some("app_span"))
        .count() as u64;
    assert_eq!(learned, unknown);

    // Without the apps' spans: gRPC by its framing, the method said to be unknown.
    let dir = repo("pcaps/shop/load/late-join");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    files.sort();
    let alone = replay(&files, &[]);
    let alone_grpc: Vec<Value> = alone
        .spans()
        .into_iter()
        .filter(|s| attr_str(s, "rpc.system").as_deref() == Some("grpc"))
        .collect();
    assert_eq!(alone_grpc.len() as u64, unknown);
    for s in &alone_grpc {
        assert_eq!(
            attr_str(s, "wirespan.grpc.method").as_deref(),
            Some("unknown")
        );
        assert_eq!(
            attr_str(s, "wirespan.grpc.recognised_by").as_deref(),
            Some("framing")
        );
        assert!(attr_str(s, "rpc.method").is_none());
    }
}

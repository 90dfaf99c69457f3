//! The service-graph and per-endpoint metrics of a replay (`--metrics-out`), read by
//! prometheus_client's parser and by protobuf's OTLP/JSON parser into opentelemetry-proto's
//! message, against the calls the shop demo's spans show.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;

/// The shop demo replayed with its apps' spans; the metrics written in `format` to a file
/// named after `test`.
fn replay_shop(test: &str, format: &str) -> (Vec<Value>, std::path::PathBuf) {
    let metrics = tmp(&format!("{test}.{format}"));
    let files: Vec<std::path::PathBuf> = [
        "node1-underlay.pcap",
        "node1-veth-frontend.pcap",
        "node1-veth-loadgen.pcap",
        "node2-veth-cart.pcap",
        "node2-veth-catalog.pcap",
        "node2-veth-db.pcap",
    ]
    .iter()
    .map(|f| repo(&format!("pcaps/shop/{f}")))
    .collect();
    let otel = repo("pcaps/shop/otlp");
    let run = replay(
        &files,
        &[
            "--otel",
            &otel.to_string_lossy(),
            "--metrics-out",
            &metrics.to_string_lossy(),
            "--metrics-format",
            format,
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    (run.spans(), metrics)
}

#[test]
fn the_prometheus_file_has_every_edge_of_the_shop_with_its_calls_and_times() {
    let (spans, path) = replay_shop("edges", "prometheus");
    let edges = service_graph_edges(&spans);
    let samples = prometheus_samples(&path);
    let expected = read_json("pcaps/shop/shop.expected.json");
    let requests = expected["requests"].as_array().expect("requests").len() as f64;
    // The demo's edges: the load generator (no SDK: its address) → frontend → cart and
    // catalog → MariaDB (no SDK: its address and port, a database).
    for (client, server, kind) in [
        ("10.244.1.20", "frontend", ""),
        ("frontend", "cart", ""),
        ("frontend", "catalog", ""),
        ("cart", "10.244.2.30:3306", "database"),
        ("catalog", "10.244.2.30:3306", "database"),
    ] {
        assert!(
            edges.contains_key(&(client.to_owned(), server.to_owned(), kind.to_owned())),
            "{client} → {server} in {edges:?}"
        );
        if kind.is_empty() {
            let labels = [("client", client), ("server", server)];
            assert_eq!(
                sample_sum(&samples, "traces_service_graph_request_total", &labels),
                requests,
                "{client} → {server}: one call per request"
            );
        }
    }
    let series = samples
        .iter()
        .filter(|s| s["name"] == "traces_service_graph_request_total")
        .count();
    assert_eq!(series, edges.len(), "{samples:?}");
    for ((client, server, kind), calls) in &edges {
        let labels = [
            ("client", client.as_str()),
            ("server", server.as_str()),
            ("connection_type", kind.as_str()),
        ];
        let get = |name: &str| sample_sum(&samples, name, &labels);
        let n = calls.len() as f64;
        assert_eq!(get("traces_service_graph_request_total"), n, "{labels:?}");
        let failed = calls.values().filter(|c| c.2).count() as f64;
        assert_eq!(get("traces_service_graph_request_failed_total"), failed);
        let server_sum: f64 = calls.values().map(|c| c.0 as f64 / 1e9).sum();
        let client_sum: f64 = calls.values().map(|c| c.1 as f64 / 1e9).sum();
        let got = get("traces_service_graph_request_server_seconds_sum");
        assert!(
            (got - server_sum).abs() < 1e-6,
            "{labels:?}: {got} {server_sum}"
        );
        let got = get("traces_service_graph_request_client_seconds_sum");
        assert!(
            (got - client_sum).abs() < 1e-6,
            "{labels:?}: {got} {client_sum}"
        );
        assert_eq!(get("traces_service_graph_request_server_seconds_count"), n);
        // Buckets: cumulative, ending at every call; the 1 ms bucket holds the calls that
        // took at most 1 ms at the server's side.
        let bucket = |le: &str| {
            let with_le = [labels.as_slice(), &[("le", le)]].concat();
            sample_sum(
                &samples,
                "traces_service_graph_request_server_seconds_bucket",
                &with_le,
            )
        };
        assert_eq!(bucket("+Inf"), n);
        let within_1ms = calls.values().filter(|c| c.0 <= 1_000_000).count() as f64;
        assert_eq!(bucket("0.001"), within_1ms, "{labels:?}");
    }
    // Per endpoint: each server's calls by operation (the spans of one call share its name).
    let mut by_endpoint: BTreeMap<(String, String), BTreeMap<String, ()>> = BTreeMap::new();
    for s in spans
        .iter()
        .filter(|s| attr_str(s, "wirespan.capture.point").is_some())
    {
        let server = attr_str(s, "peer.service").unwrap_or_else(|| {
            format!(
                "{}:{}",
                attr_str(s, "server.address").unwrap_or_default(),
                attr_int(s, "server.port").unwrap_or_default()
            )
        });
        let call = ["client.address", "client.port", "wirespan.tcp.req_seq"]
            .map(|k| format!("{:?}", attr(s, k)))
            .join(" ");
        by_endpoint
            .entry((server, s["name"].as_str().unwrap_or("").to_owned()))
            .or_default()
            .insert(call, ());
    }
    assert!(by_endpoint.len() >= 5, "{by_endpoint:?}");
    for ((service, operation), calls) in &by_endpoint {
        let labels = [
            ("service", service.as_str()),
            ("span_name", operation.as_str()),
            ("span_kind", "SPAN_KIND_SERVER"),
        ];
        let n = calls.len() as f64;
        assert_eq!(
            sample_sum(&samples, "traces_spanmetrics_calls_total", &labels),
            n,
            "{labels:?}"
        );
        assert_eq!(
            sample_sum(&samples, "traces_spanmetrics_latency_count", &labels),
            n
        );
    }
    assert_eq!(
        sample_sum(&samples, "wirespan_metrics_series_overflow_total", &[]),
        0.0
    );
}

#[test]
fn the_otlp_json_file_has_the_same_series_as_the_prometheus_one() {
    let (_, prom) = replay_shop("same", "prometheus");
    let (_, json) = replay_shop("same", "otlp-json");
    let samples = prometheus_samples(&prom);
    let out = std::process::Command::new("python3")
        .arg(repo("tests/metrics/otlp_json_points.py"))
        .arg(&json)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let requests = json_lines(&out.stdout);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["resource"]["service.name"], "wirespan");
    let points = requests[0]["points"].as_array().expect("points");
    let mut seen = 0;
    for p in points {
        let labels: Vec<(&str, &str)> = p["labels"]
            .as_object()
            .expect("labels")
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
            .collect();
        let name = p["metric"].as_str().expect("name");
        assert_eq!(p["temporality"], 2, "cumulative: {p}");
        match p["kind"].as_str() {
            Some("sum") => {
                assert_eq!(p["monotonic"], true);
                assert_eq!(
                    p["value"].as_f64(),
                    Some(sample_sum(&samples, name, &labels)),
                    "{p}"
                );
            }
            Some("histogram") => {
                let count = sample_sum(&samples, &format!("{name}_count"), &labels);
                assert_eq!(p["count"].as_f64(), Some(count), "{p}");
                let sum = sample_sum(&samples, &format!("{name}_sum"), &labels);
                assert!((p["sum"].as_f64().unwrap_or(-1.0) - sum).abs() < 1e-9);
                let buckets: Vec<u64> = p["buckets"]
                    .as_array()
                    .expect("buckets")
                    .iter()
                    .filter_map(Value::as_u64)
                    .collect();
                assert_eq!(buckets.iter().sum::<u64>() as f64, count);
            }
            other => panic!("{other:?}: {p}"),
        }
        assert!(p["start"].as_u64() <= p["time"].as_u64());
        seen += 1;
    }
    let prom_series = samples
        .iter()
        .filter(|s| {
            let n = s["name"].as_str().unwrap_or("");
            n.starts_with("traces_") && !n.ends_with("_bucket") && !n.ends_with("_sum")
        })
        .count();
    assert_eq!(seen, prom_series);
}

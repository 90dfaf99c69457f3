//! Prometheus metrics of a running capture.
//!
//! Takes the pipeline's [`Counters`] (merged from every worker at scrape time), the spans as
//! they leave the workers ([`SpanMetrics::observe`]: count by protocol and status, a latency
//! histogram per protocol), the correlator's counters, the OTLP receiver's and exporter's
//! results and the [`graph`] of the calls; gives them in the Prometheus text exposition format,
//! served over HTTP at `/metrics` on `--metrics-listen`, and the graph as OTLP metrics
//! ([`otlp`]).

pub mod graph;
pub mod otlp;

use crate::otlp::export::ExportStats;
use crate::otlp::receiver::ReceiverStats;
use crate::span::{AttrValue, NetworkSpan};
use crate::stats::Counters;
use graph::{Histogram, ServiceGraph};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The protocol labels; `other` for a span of a protocol not named here, so that a new
/// protocol is never counted as another.
const PROTOCOLS: [&str; 8] = [
    "http",
    "grpc",
    "mysql",
    "postgresql",
    "redis",
    "dns",
    "tls",
    "other",
];
const STATUSES: [&str; 3] = ["ok", "error", "incomplete"];
/// Upper bounds of the latency buckets, in seconds.
pub const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Spans counted as they are made; lock-free, shared by the threads that make them.
#[derive(Default)]
pub struct SpanMetrics {
    /// By protocol, then status.
    spans: [[AtomicU64; STATUSES.len()]; PROTOCOLS.len()],
    /// By protocol: per bucket (the last is +Inf), the sum in nanoseconds, the count.
    buckets: [[AtomicU64; BUCKETS.len() + 1]; PROTOCOLS.len()],
    sum_ns: [AtomicU64; PROTOCOLS.len()],
}

impl SpanMetrics {
    pub fn observe(&self, span: &NetworkSpan) {
        let is = |key: &str, value: &str| matches!(span.attr(key), Some(AttrValue::Str(s)) if &**s == value);
        let protocol = if is("rpc.system", "grpc") {
            1
        } else if is("network.protocol.name", "mysql") {
            2
        } else if is("network.protocol.name", "http") {
            0
        } else if is("network.protocol.name", "postgresql") {
            3
        } else if is("network.protocol.name", "redis") {
            4
        } else if is("network.protocol.name", "dns") {
            5
        } else if is("network.protocol.name", "tls") {
            6
        } else {
            7
        };
        let status = if span.attr("wirespan.incomplete").is_some() {
            2
        } else if span.error.is_some() {
            1
        } else {
            0
        };
        if let Some(counter) = self.spans.get(protocol).and_then(|p| p.get(status)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let took = span.end_ns.saturating_sub(span.start_ns);
        let bucket = BUCKETS
            .iter()
            .position(|&le| took as f64 <= le * 1e9)
            .unwrap_or(BUCKETS.len());
        if let Some(b) = self.buckets.get(protocol).and_then(|p| p.get(bucket)) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(sum) = self.sum_ns.get(protocol) {
            sum.fetch_add(took, Ordering::Relaxed);
        }
    }
}

/// Everything a scrape reads.
#[derive(Clone, Default)]
pub struct Sources {
    /// Each worker's counters, as published.
    pub workers: Option<Arc<Mutex<Vec<Counters>>>>,
    /// The correlator's counters.
    pub correlation: Option<Arc<Mutex<Counters>>>,
    pub spans: Arc<SpanMetrics>,
    pub receiver: Option<Arc<ReceiverStats>>,
    pub export: Option<Arc<ExportStats>>,
    /// The calls, by edge and endpoint.
    pub graph: Option<Arc<Mutex<ServiceGraph>>>,
    /// What became of the OTLP metrics pushed.
    pub metrics_export: Option<Arc<otlp::MetricsExportStats>>,
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A counter family with one label: its HELP and TYPE lines, then a sample per label value.
fn labelled<'a>(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    samples: impl IntoIterator<Item = (&'a str, u64)>,
) {
    family(out, name, "counter", help);
    for (value, n) in samples {
        let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {n}");
    }
}

fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// The Prometheus text exposition of everything in `sources`.
pub fn render(sources: &Sources) -> String {
    let mut out = String::new();
    let mut totals = Counters::default();
    if let Some(workers) = &sources.workers {
        if let Ok(all) = workers.lock() {
            all.iter().for_each(|c| totals.merge(c));
        }
    }
    if let Some(c) = &sources.correlation {
        if let Ok(c) = c.lock() {
            totals.merge(&c);
        }
    }
    // Every pipeline counter, under its own name (see `wirespan capture --stats` for the list).
    for (name, help, value) in totals.described() {
        let metric = format!("wirespan_{name}_total");
        let help = if help.is_empty() { name } else { help };
        family(&mut out, &metric, "counter", help);
        let _ = writeln!(out, "{metric} {value}");
    }
    labelled(
        &mut out,
        "wirespan_exchanges_total",
        "Request/response exchanges parsed, by protocol.",
        "protocol",
        crate::protocol::REGISTRY
            .iter()
            .map(|p| (p.name, (p.exchanges)(&totals))),
    );
    labelled(
        &mut out,
        "wirespan_parse_errors_total",
        "Input that could not be parsed or was dropped, by reason.",
        "reason",
        totals.iter().filter(|(name, _)| {
            name.starts_with("decode_")
                || name.ends_with("_errors")
                || name.ends_with("_overflow")
                || name.ends_with("_rejected")
                || name.ends_with("_mismatch")
                || name.ends_with("_too_large")
                || name.ends_with("_resyncs")
        }),
    );
    labelled(
        &mut out,
        "wirespan_correlation_calls_total",
        "Calls offered to the correlator, by how they were joined to the apps' traces.",
        "joined_by",
        [
            ("context", totals.correlation_joined_by_context),
            ("peer", totals.correlation_joined_by_peer),
            (
                "enclosing_span",
                totals.correlation_joined_by_enclosing_span,
            ),
            ("request_id", totals.correlation_joined_by_request_id),
            ("setup", totals.correlation_joined_by_setup),
            (
                "ambiguous",
                totals.correlation_ambiguous_concurrent_spans
                    + totals.correlation_ambiguous_concurrent_server_spans
                    + totals.correlation_ambiguous_request_id,
            ),
            ("unjoined", totals.correlation_calls_unjoined),
        ],
    );
    labelled(
        &mut out,
        "wirespan_correlation_ambiguous_total",
        "Calls left unjoined with links to every candidate parent, by reason.",
        "reason",
        [
            (
                "concurrent_spans",
                totals.correlation_ambiguous_concurrent_spans,
            ),
            (
                "concurrent_server_spans",
                totals.correlation_ambiguous_concurrent_server_spans,
            ),
            (
                "several_request_id_calls",
                totals.correlation_ambiguous_request_id,
            ),
            ("callee", totals.correlation_ambiguous_callee),
        ],
    );
    labelled(
        &mut out,
        "wirespan_correlation_evidence_total",
        "Joins by time, by the evidence that singled out the parent.",
        "evidence",
        [
            ("time", totals.correlation_evidence_time),
            ("statement", totals.correlation_evidence_statement),
            ("values", totals.correlation_evidence_values),
            ("connection", totals.correlation_evidence_connection),
        ],
    );
    render_spans(&mut out, &sources.spans);
    if let Some(r) = &sources.receiver {
        labelled(
            &mut out,
            "wirespan_otlp_received_spans_total",
            "App spans posted to the OTLP receiver, by result.",
            "result",
            [
                ("accepted", load(&r.spans_accepted)),
                ("rejected_queue_full", load(&r.spans_rejected_queue_full)),
            ],
        );
        labelled(
            &mut out,
            "wirespan_otlp_requests_total",
            "OTLP requests received, by result.",
            "result",
            [
                ("all", load(&r.requests)),
                ("bad_request", load(&r.bad_requests)),
                ("too_large", load(&r.too_large)),
            ],
        );
    }
    if let Some(e) = &sources.export {
        labelled(
            &mut out,
            "wirespan_export_spans_total",
            "Spans given to the OTLP exporter, by what became of them.",
            "result",
            [
                ("exported", load(&e.spans_exported)),
                ("dropped_queue_full", load(&e.spans_dropped_queue_full)),
                (
                    "dropped_after_retries",
                    load(&e.spans_dropped_after_retries),
                ),
                ("dropped_rejected", load(&e.spans_dropped_rejected)),
                ("dropped_at_shutdown", load(&e.spans_dropped_at_shutdown)),
            ],
        );
        labelled(
            &mut out,
            "wirespan_export_requests_total",
            "Export requests sent, and how many of them were retries.",
            "kind",
            [("all", load(&e.requests)), ("retry", load(&e.retries))],
        );
    }
    if let Some(graph) = &sources.graph {
        if let Ok(graph) = graph.lock() {
            render_graph(&mut out, &graph);
        }
    }
    if let Some(m) = &sources.metrics_export {
        labelled(
            &mut out,
            "wirespan_export_metrics_requests_total",
            "OTLP metrics pushes, by result.",
            "result",
            [("exported", load(&m.exported)), ("failed", load(&m.failed))],
        );
    }
    out
}

/// A label value as the exposition format quotes it.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A histogram's `_bucket`, `_sum` and `_count` lines; `labels` is `k="v",…` (escaped).
fn histogram_lines(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    let mut cumulative = 0;
    for (le, n) in BUCKETS.iter().zip(&h.counts) {
        cumulative += n;
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum_seconds);
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
}

/// How `replay --metrics-out` writes the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsFormat {
    /// One OTLP/JSON `ExportMetricsServiceRequest` line.
    OtlpJson,
    /// The Prometheus text exposition.
    Prometheus,
}

/// The graph alone in the Prometheus text exposition.
pub fn render_graph_text(g: &ServiceGraph) -> String {
    let mut out = String::new();
    render_graph(&mut out, g);
    out
}

fn render_graph(out: &mut String, g: &ServiceGraph) {
    let mut edges: Vec<_> = g.edges.iter().collect();
    edges.sort_by(|a, b| a.0.cmp(b.0));
    let labels: Vec<String> = edges
        .iter()
        .map(|((client, server, connection_type), _)| {
            format!(
                "client=\"{}\",server=\"{}\",connection_type=\"{connection_type}\"",
                escape(client),
                escape(server)
            )
        })
        .collect();
    family(
        out,
        "traces_service_graph_request_total",
        "counter",
        "Calls from client to server, each counted once however many capture points saw it.",
    );
    for (l, (_, e)) in labels.iter().zip(&edges) {
        let _ = writeln!(
            out,
            "traces_service_graph_request_total{{{l}}} {}",
            e.requests
        );
    }
    family(
        out,
        "traces_service_graph_request_failed_total",
        "counter",
        "Calls from client to server that failed.",
    );
    for (l, (_, e)) in labels.iter().zip(&edges) {
        let _ = writeln!(
            out,
            "traces_service_graph_request_failed_total{{{l}}} {}",
            e.failed
        );
    }
    for (name, help, server_side) in [
        (
            "traces_service_graph_request_server_seconds",
            "Call time at the capture point nearest the server.",
            true,
        ),
        (
            "traces_service_graph_request_client_seconds",
            "Call time at the capture point nearest the client.",
            false,
        ),
    ] {
        family(out, name, "histogram", help);
        for (l, (_, e)) in labels.iter().zip(&edges) {
            histogram_lines(
                out,
                name,
                l,
                if server_side { &e.server } else { &e.client },
            );
        }
    }
    let mut endpoints: Vec<_> = g.endpoints.iter().collect();
    endpoints.sort_by(|a, b| a.0.cmp(b.0));
    let labels: Vec<String> = endpoints
        .iter()
        .map(|((service, operation, status), _)| {
            format!(
                "service=\"{}\",span_name=\"{}\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"{status}\"",
                escape(service),
                escape(operation)
            )
        })
        .collect();
    family(
        out,
        "traces_spanmetrics_calls_total",
        "counter",
        "Calls each endpoint served, by operation and status, as the network saw them.",
    );
    for (l, (_, e)) in labels.iter().zip(&endpoints) {
        let _ = writeln!(out, "traces_spanmetrics_calls_total{{{l}}} {}", e.calls);
    }
    family(
        out,
        "traces_spanmetrics_latency",
        "histogram",
        "Call time at the capture point nearest the server, by endpoint, operation and status.",
    );
    for (l, (_, e)) in labels.iter().zip(&endpoints) {
        histogram_lines(out, "traces_spanmetrics_latency", l, &e.latency);
    }
    labelled(
        out,
        "wirespan_metrics_series_overflow_total",
        "Calls summed into an `other` series because a label limit was reached, by limit.",
        "limit",
        [
            ("edges", g.overflow.edges),
            ("operations", g.overflow.operations),
            ("endpoint_series", g.overflow.endpoint_series),
        ],
    );
    family(
        out,
        "wirespan_metrics_series",
        "gauge",
        "Service-graph and endpoint series held.",
    );
    let _ = writeln!(out, "wirespan_metrics_series {}", g.series());
}

fn render_spans(out: &mut String, m: &SpanMetrics) {
    family(
        out,
        "wirespan_spans_by_protocol_total",
        "counter",
        "Network spans made, by protocol and status.",
    );
    for (p, protocol) in PROTOCOLS.iter().enumerate() {
        for (s, status) in STATUSES.iter().enumerate() {
            let n = m.spans[p][s].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "wirespan_spans_by_protocol_total{{protocol=\"{protocol}\",status=\"{status}\"}} {n}"
            );
        }
    }
    family(
        out,
        "wirespan_request_duration_seconds",
        "histogram",
        "Time from a request's first byte to its response's last, as seen on the wire.",
    );
    for (p, protocol) in PROTOCOLS.iter().enumerate() {
        let mut cumulative = 0;
        for (b, le) in BUCKETS.iter().enumerate() {
            cumulative += m.buckets[p][b].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "wirespan_request_duration_seconds_bucket{{protocol=\"{protocol}\",le=\"{le}\"}} {cumulative}"
            );
        }
        cumulative += m.buckets[p][BUCKETS.len()].load(Ordering::Relaxed);
        let sum = m.sum_ns[p].load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(
            out,
            "wirespan_request_duration_seconds_bucket{{protocol=\"{protocol}\",le=\"+Inf\"}} {cumulative}"
        );
        let _ = writeln!(
            out,
            "wirespan_request_duration_seconds_sum{{protocol=\"{protocol}\"}} {sum}"
        );
        let _ = writeln!(
            out,
            "wirespan_request_duration_seconds_count{{protocol=\"{protocol}\"}} {cumulative}"
        );
    }
}

/// Serves `/metrics` on `listener` from a thread of its own until the process ends.
pub fn serve(listener: std::net::TcpListener, sources: Sources) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let app = axum::Router::new().route(
                    "/metrics",
                    axum::routing::get(move || {
                        let text = render(&sources);
                        async move {
                            (
                                [(
                                    axum::http::header::CONTENT_TYPE,
                                    "text/plain; version=0.0.4",
                                )],
                                text,
                            )
                        }
                    }),
                );
                let _ = axum::serve(listener, app).await;
            });
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{Attribute, SpanKind};

    fn span(protocol: &'static str) -> NetworkSpan {
        NetworkSpan {
            trace_id: [1; 16],
            span_id: [2; 8],
            parent_span_id: None,
            name: String::new(),
            kind: SpanKind::Internal,
            start_ns: 0,
            end_ns: 1_000,
            error: None,
            attributes: vec![Attribute {
                key: "network.protocol.name",
                value: AttrValue::Str(protocol.into()),
            }],
        }
    }

    /// A protocol the metrics do not name is counted as `other`, never as another one.
    #[test]
    fn spans_are_labelled_by_their_own_protocol() {
        let m = SpanMetrics::default();
        for p in ["http", "mysql", "memcached", "memcached"] {
            m.observe(&span(p));
        }
        let mut out = String::new();
        render_spans(&mut out, &m);
        for (protocol, n) in [("http", 1), ("mysql", 1), ("grpc", 0), ("other", 2)] {
            let line = format!(
                "wirespan_spans_by_protocol_total{{protocol=\"{protocol}\",status=\"ok\"}} {n}"
            );
            assert!(out.contains(&line), "{line} in\n{out}");
        }
    }
}

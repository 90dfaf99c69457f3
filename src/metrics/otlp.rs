//! The service graph as OTLP metrics.
//!
//! Takes a [`ServiceGraph`] and the time its series started; gives an OTLP metrics request
//! (cumulative sums and explicit-bucket histograms, the names and labels of the Prometheus
//! exposition), written to a file as OTLP/JSON by `replay --metrics-out`, or pushed every
//! interval to the `--export` endpoint's `/v1/metrics` (OTLP/HTTP) or MetricsService
//! (OTLP/gRPC) by [`push`]. Cumulative series need no queue: a push that fails is counted and
//! the next one carries everything since the start.

use super::graph::{Histogram, ServiceGraph};
use super::BUCKETS;
use crate::otlp::{agent_resource, agent_scope, kv_str, KeyValue};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
pub use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use prost::Message;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;

/// When the series started and when they were read, in Unix nanoseconds.
#[derive(Debug, Clone, Copy)]
pub struct Interval {
    pub start_ns: u64,
    pub now_ns: u64,
}

fn sum(name: &str, description: &str, points: Vec<(Vec<KeyValue>, u64)>, at: Interval) -> Metric {
    Metric {
        name: name.into(),
        description: description.into(),
        unit: "1".into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: points
                .into_iter()
                .map(|(attributes, n)| NumberDataPoint {
                    attributes,
                    start_time_unix_nano: at.start_ns,
                    time_unix_nano: at.now_ns,
                    value: Some(number_data_point::Value::AsInt(
                        i64::try_from(n).unwrap_or(i64::MAX),
                    )),
                    ..Default::default()
                })
                .collect(),
            aggregation_temporality: CUMULATIVE,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn histogram(
    name: &str,
    description: &str,
    points: Vec<(Vec<KeyValue>, &Histogram)>,
    at: Interval,
) -> Metric {
    Metric {
        name: name.into(),
        description: description.into(),
        unit: "s".into(),
        data: Some(metric::Data::Histogram(
            opentelemetry_proto::tonic::metrics::v1::Histogram {
                data_points: points
                    .into_iter()
                    .map(|(attributes, h)| HistogramDataPoint {
                        attributes,
                        start_time_unix_nano: at.start_ns,
                        time_unix_nano: at.now_ns,
                        count: h.count,
                        sum: Some(h.sum_seconds),
                        bucket_counts: h.counts.to_vec(),
                        explicit_bounds: BUCKETS.to_vec(),
                        ..Default::default()
                    })
                    .collect(),
                aggregation_temporality: CUMULATIVE,
            },
        )),
        ..Default::default()
    }
}

/// The graph's series as one OTLP metrics request from this host's agent.
pub fn request(g: &ServiceGraph, host_name: &str, at: Interval) -> ExportMetricsServiceRequest {
    let mut edges: Vec<_> = g.edges.iter().collect();
    edges.sort_by(|a, b| a.0.cmp(b.0));
    let edge_labels = |(client, server, connection_type): &(String, String, &str)| {
        vec![
            kv_str("client", client),
            kv_str("server", server),
            kv_str("connection_type", connection_type),
        ]
    };
    let mut endpoints: Vec<_> = g.endpoints.iter().collect();
    endpoints.sort_by(|a, b| a.0.cmp(b.0));
    let endpoint_labels = |(service, operation, status): &(String, String, &str)| {
        vec![
            kv_str("service", service),
            kv_str("span_name", operation),
            kv_str("span_kind", "SPAN_KIND_SERVER"),
            kv_str("status_code", status),
        ]
    };
    let metrics =
        vec![
        sum(
            "traces_service_graph_request_total",
            "Calls from client to server, each counted once however many capture points saw it.",
            edges.iter().map(|(k, e)| (edge_labels(k), e.requests)).collect(),
            at,
        ),
        sum(
            "traces_service_graph_request_failed_total",
            "Calls from client to server that failed.",
            edges.iter().map(|(k, e)| (edge_labels(k), e.failed)).collect(),
            at,
        ),
        histogram(
            "traces_service_graph_request_server_seconds",
            "Call time at the capture point nearest the server.",
            edges.iter().map(|(k, e)| (edge_labels(k), &e.server)).collect(),
            at,
        ),
        histogram(
            "traces_service_graph_request_client_seconds",
            "Call time at the capture point nearest the client.",
            edges.iter().map(|(k, e)| (edge_labels(k), &e.client)).collect(),
            at,
        ),
        sum(
            "traces_spanmetrics_calls_total",
            "Calls each endpoint served, by operation and status, as the network saw them.",
            endpoints
                .iter()
                .map(|(k, e)| (endpoint_labels(k), e.calls))
                .collect(),
            at,
        ),
        histogram(
            "traces_spanmetrics_latency",
            "Call time at the capture point nearest the server, by endpoint, operation and status.",
            endpoints
                .iter()
                .map(|(k, e)| (endpoint_labels(k), &e.latency))
                .collect(),
            at,
        ),
    ];
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(agent_resource(host_name)),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(agent_scope()),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// What became of the pushes.
#[derive(Debug, Default)]
pub struct MetricsExportStats {
    pub exported: AtomicU64,
    pub failed: AtomicU64,
}

impl MetricsExportStats {
    pub fn summary(&self) -> String {
        format!(
            "{} sent, {} failed",
            self.exported.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed)
        )
    }
}

/// Where metrics go: the traces endpoint's sibling.
#[derive(Debug, Clone)]
pub enum MetricsEndpoint {
    Http(String),
    Grpc(String),
}

impl MetricsEndpoint {
    /// From the span export endpoint: `http://h:4318/v1/traces` → `http://h:4318/v1/metrics`
    /// (any other path gets `/v1/metrics` beside its root), `grpc://h:4317` → the same
    /// server's MetricsService.
    pub fn beside(traces: &str) -> Result<MetricsEndpoint, String> {
        if let Some(rest) = traces.strip_prefix("grpc://") {
            return Ok(MetricsEndpoint::Grpc(format!("http://{rest}")));
        }
        let Some(rest) = traces.strip_prefix("http://") else {
            return Err(format!(
                "export endpoint '{traces}' must start with http:// or grpc://"
            ));
        };
        let url = match rest.strip_suffix("/v1/traces") {
            Some(base) => format!("http://{base}/v1/metrics"),
            None => {
                let authority = rest.split('/').next().unwrap_or(rest);
                format!("http://{authority}/v1/metrics")
            }
        };
        Ok(MetricsEndpoint::Http(url))
    }
}

async fn send_once(
    endpoint: &MetricsEndpoint,
    http: &reqwest::Client,
    req: ExportMetricsServiceRequest,
    timeout: Duration,
) -> Result<(), String> {
    match endpoint {
        MetricsEndpoint::Http(url) => {
            let resp = http
                .post(url.as_str())
                .timeout(timeout)
                .header("Content-Type", "application/x-protobuf")
                .body(req.encode_to_vec())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if resp.status().is_success() {
                Ok(())
            } else {
                Err(format!("HTTP {}", resp.status().as_u16()))
            }
        }
        MetricsEndpoint::Grpc(uri) => {
            let connect = MetricsServiceClient::connect(uri.clone());
            let mut client = tokio::time::timeout(timeout, connect)
                .await
                .map_err(|_| "connect timed out".to_owned())?
                .map_err(|e| e.to_string())?;
            let mut request = tonic::Request::new(req);
            request.set_timeout(timeout);
            client
                .export(request)
                .await
                .map(|_| ())
                .map_err(|s| format!("gRPC {:?}", s.code()))
        }
    }
}

/// What the pusher reads and where it sends.
pub struct Push {
    pub graph: Arc<Mutex<ServiceGraph>>,
    pub endpoint: MetricsEndpoint,
    pub interval: Duration,
    /// How long one push may take.
    pub timeout: Duration,
    /// How long the last push may take, once the capture is over.
    pub grace: Duration,
    pub host_name: String,
    pub start_ns: u64,
    pub stats: Arc<MetricsExportStats>,
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl Push {
    async fn once(&self, http: &reqwest::Client, timeout: Duration) {
        let req = match self.graph.lock() {
            Ok(g) => request(
                &g,
                &self.host_name,
                Interval {
                    start_ns: self.start_ns,
                    now_ns: now_ns(),
                },
            ),
            Err(_) => return,
        };
        match send_once(&self.endpoint, http, req, timeout).await {
            Ok(()) => {
                self.stats.exported.fetch_add(1, Ordering::Relaxed);
            }
            Err(why) => {
                let failed = self.stats.failed.fetch_add(1, Ordering::Relaxed);
                // Said once, then counted: an endpoint without metrics should not flood the log.
                if failed == 0 {
                    eprintln!(
                        "wirespan: cannot push metrics to {:?}: {why}",
                        self.endpoint
                    );
                }
            }
        }
    }
}

/// Pushes the graph every interval until `stop` resolves, then once more (the last counts).
pub async fn push(p: Push, stop: impl std::future::Future<Output = ()>) {
    let http = reqwest::Client::new();
    let mut tick = tokio::time::interval(p.interval);
    tick.tick().await;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                // A push that hangs must not hold up the end: the last push follows.
                tokio::select! {
                    () = p.once(&http, p.timeout.min(p.interval)) => {}
                    () = &mut stop => break,
                }
            }
            () = &mut stop => break,
        }
    }
    p.once(&http, p.timeout.min(p.grace)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_endpoint_is_beside_the_traces_one() {
        let http = |s: &str| match MetricsEndpoint::beside(s) {
            Ok(MetricsEndpoint::Http(u)) => u,
            other => panic!("{other:?}"),
        };
        assert_eq!(http("http://c:4318/v1/traces"), "http://c:4318/v1/metrics");
        assert_eq!(
            http("http://c:4318/otlp/v1/traces"),
            "http://c:4318/otlp/v1/metrics"
        );
        assert_eq!(http("http://c:9999/ingest"), "http://c:9999/v1/metrics");
        assert!(matches!(
            MetricsEndpoint::beside("grpc://c:4317"),
            Ok(MetricsEndpoint::Grpc(u)) if u == "http://c:4317"
        ));
        assert!(MetricsEndpoint::beside("ftp://c").is_err());
    }
}

//! The service graph and per-endpoint RED series, as Grafana reads them.
//!
//! Takes network spans as they leave the correlator (named by then); gives cumulative series in
//! the names Tempo's metrics generator and the OpenTelemetry Collector's servicegraph and
//! spanmetrics connectors emit, so Grafana's service-graph and RED views work unchanged:
//! `traces_service_graph_request_total`, `…_request_failed_total`,
//! `…_request_server_seconds` and `…_request_client_seconds` by `client`, `server`,
//! `connection_type`; `traces_spanmetrics_calls_total` and `traces_spanmetrics_latency` by
//! `service`, `span_name`, `span_kind`, `status_code`. Each call counts once however many
//! capture points saw it ([`crate::calls`]). The label sets are bounded: past the limits an
//! edge's ends, an operation or a whole endpoint series become `other`, counted.

use super::BUCKETS;
use crate::calls::{self, Call, CallKey};
use crate::hash::StableHasher;
use crate::otlp::Span;
use hashbrown::{HashMap, HashSet};
use std::collections::VecDeque;

/// Bounds on the series kept (each is a few hundred bytes).
#[derive(Debug, Clone, Copy)]
pub struct GraphLimits {
    /// Client → server edges; more are summed into one `other` → `other` edge.
    pub max_edges: usize,
    /// Operations (span names) per service; more are summed as `other`.
    pub max_operations_per_service: usize,
    /// Endpoint series in all; more are summed into the service `other`.
    pub max_endpoint_series: usize,
    /// Calls remembered so that one released again later is not counted twice.
    pub max_recent_calls: usize,
}

impl Default for GraphLimits {
    fn default() -> Self {
        GraphLimits {
            max_edges: 10_000,
            max_operations_per_service: 64,
            max_endpoint_series: 20_000,
            max_recent_calls: 65_536,
        }
    }
}

pub const OTHER: &str = "other";

/// A cumulative histogram over [`BUCKETS`] (the last count is +Inf).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    pub counts: [u64; BUCKETS.len() + 1],
    pub sum_seconds: f64,
    pub count: u64,
}

impl Histogram {
    fn observe(&mut self, ns: u64) {
        let seconds = ns as f64 / 1e9;
        let bucket = BUCKETS
            .iter()
            .position(|&le| seconds <= le)
            .unwrap_or(BUCKETS.len());
        if let Some(c) = self.counts.get_mut(bucket) {
            *c += 1;
        }
        self.sum_seconds += seconds;
        self.count += 1;
    }
}

/// `(client, server, connection_type)`: `connection_type` is `database` for a database's
/// protocol and empty otherwise, as Tempo labels it.
pub type EdgeKey = (String, String, &'static str);

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EdgeSeries {
    pub requests: u64,
    pub failed: u64,
    pub server: Histogram,
    pub client: Histogram,
}

/// `(service, span_name, status_code)`; the span kind is always the server's: a network call
/// measures the endpoint it reached.
pub type EndpointKey = (String, String, &'static str);

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointSeries {
    pub calls: u64,
    pub latency: Histogram,
}

/// What the limits cut, for wirespan's own counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GraphOverflow {
    pub edges: u64,
    pub operations: u64,
    pub endpoint_series: u64,
    /// Calls released again after they were counted (not counted twice).
    pub calls_repeated: u64,
}

#[derive(Debug, Default)]
pub struct ServiceGraph {
    limits: GraphLimits,
    pub edges: HashMap<EdgeKey, EdgeSeries>,
    pub endpoints: HashMap<EndpointKey, EndpointSeries>,
    operations: HashSet<(String, String)>,
    operations_per_service: HashMap<String, usize>,
    /// The calls counted lately, by a 64-bit hash of their key (24 bytes each, not the key's
    /// strings: two calls sharing a hash, about 2^-64 a pair, would count as one).
    recent: HashSet<u64>,
    recent_order: VecDeque<u64>,
    pub overflow: GraphOverflow,
}

impl ServiceGraph {
    pub fn new(limits: GraphLimits) -> Self {
        ServiceGraph {
            limits,
            ..Default::default()
        }
    }

    /// Counts the calls of the network spans among `spans`.
    pub fn observe<'a>(&mut self, spans: impl IntoIterator<Item = &'a Span>) {
        for (key, call) in calls::calls(spans) {
            if let Some(key) = key {
                if !self.remember(key) {
                    self.overflow.calls_repeated += 1;
                    continue;
                }
            }
            self.count(call);
        }
    }

    /// False when the call was counted already.
    fn remember(&mut self, key: CallKey) -> bool {
        let mut h = StableHasher::new();
        for (address, port) in [(&key.0, key.1), (&key.2, key.3)] {
            h.write_u64(address.len() as u64);
            h.write(address.as_bytes());
            h.write_u64(port as u64);
        }
        h.write_u64(key.4 as u64);
        let key = h.finish();
        if self.recent.contains(&key) {
            return false;
        }
        if self.recent_order.len() >= self.limits.max_recent_calls {
            if let Some(old) = self.recent_order.pop_front() {
                self.recent.remove(&old);
            }
        }
        self.recent.insert(key);
        self.recent_order.push_back(key);
        true
    }

    fn count(&mut self, call: Call) {
        let connection_type = if call.database { "database" } else { "" };
        let mut edge_key = (call.client, call.server.clone(), connection_type);
        if !self.edges.contains_key(&edge_key) && self.edges.len() >= self.limits.max_edges {
            self.overflow.edges += 1;
            edge_key = (OTHER.to_owned(), OTHER.to_owned(), connection_type);
        }
        let edge = self.edges.entry(edge_key).or_default();
        edge.requests += 1;
        edge.failed += u64::from(call.failed);
        edge.server.observe(call.server_ns);
        edge.client.observe(call.client_ns);

        let status = if call.failed {
            "STATUS_CODE_ERROR"
        } else {
            "STATUS_CODE_UNSET"
        };
        let service = call.server;
        let operation = self.operation(&service, call.operation);
        let mut key = (service, operation, status);
        if !self.endpoints.contains_key(&key)
            && self.endpoints.len() >= self.limits.max_endpoint_series
        {
            self.overflow.endpoint_series += 1;
            key = (OTHER.to_owned(), OTHER.to_owned(), status);
        }
        let series = self.endpoints.entry(key).or_default();
        series.calls += 1;
        series.latency.observe(call.server_ns);
    }

    /// The operation's label: itself while the service has room for another, else `other`.
    fn operation(&mut self, service: &str, operation: String) -> String {
        let known = (service.to_owned(), operation);
        if self.operations.contains(&known) {
            return known.1;
        }
        if self.operations.len() >= self.limits.max_endpoint_series {
            self.overflow.operations += 1;
            return OTHER.to_owned();
        }
        let n = self
            .operations_per_service
            .entry(known.0.clone())
            .or_default();
        if *n >= self.limits.max_operations_per_service {
            self.overflow.operations += 1;
            return OTHER.to_owned();
        }
        *n += 1;
        let operation = known.1.clone();
        self.operations.insert(known);
        operation
    }

    /// Series held, for the bound's test and the operator.
    pub fn series(&self) -> usize {
        self.edges.len() + self.endpoints.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::{kv_str, KeyValue};
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};

    fn int(key: &str, i: i64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::IntValue(i)),
            }),
            ..Default::default()
        }
    }

    /// A network span of the call `client_port`/`seq` from 10.0.0.1 to 10.0.0.2:80, seen at
    /// `point`, lasting `took` ns.
    fn span(point: &str, client_port: i64, seq: i64, took: u64, extra: Vec<KeyValue>) -> Span {
        let mut attributes = vec![
            kv_str("wirespan.capture.point", point),
            kv_str("network.protocol.name", "http"),
            kv_str("client.address", "10.0.0.1"),
            int("client.port", client_port),
            kv_str("server.address", "10.0.0.2"),
            int("server.port", 80),
            int("wirespan.tcp.req_seq", seq),
        ];
        attributes.extend(extra);
        Span {
            name: "GET /a".into(),
            start_time_unix_nano: 1_000,
            end_time_unix_nano: 1_000 + took,
            attributes,
            ..Default::default()
        }
    }

    #[test]
    fn a_call_seen_at_two_points_counts_once_with_both_sides_times() {
        let mut g = ServiceGraph::new(GraphLimits::default());
        let named = || {
            vec![
                kv_str("peer.service", "api"),
                kv_str("wirespan.client.service.name", "web"),
            ]
        };
        g.observe(&[
            span("veth-web", 40000, 7, 3_000_000, named()),
            span("veth-api", 40000, 7, 2_000_000, vec![]),
            span("veth-web", 40001, 9, 1_000_000, named()),
        ]);
        let edge = &g.edges[&("web".to_owned(), "api".to_owned(), "")];
        assert_eq!(edge.requests, 2);
        assert_eq!(edge.server.count, 2);
        assert!((edge.server.sum_seconds - 0.003).abs() < 1e-12);
        assert!((edge.client.sum_seconds - 0.004).abs() < 1e-12);
        // The same call released again later (another tick) is not counted twice.
        g.observe(&[span("veth-api", 40000, 7, 2_000_000, named())]);
        assert_eq!(
            g.edges[&("web".to_owned(), "api".to_owned(), "")].requests,
            2
        );
        assert_eq!(g.overflow.calls_repeated, 1);
        let endpoint = &g.endpoints[&("api".to_owned(), "GET /a".to_owned(), "STATUS_CODE_UNSET")];
        assert_eq!(endpoint.calls, 2);
    }

    #[test]
    fn database_calls_and_failures_are_labelled() {
        let mut g = ServiceGraph::new(GraphLimits::default());
        let mut failed = span("p", 1, 1, 10, vec![kv_str("db.system", "mysql")]);
        failed.status = Some(crate::otlp::Status {
            code: 2,
            ..Default::default()
        });
        g.observe(&[failed]);
        let edge = &g.edges[&("10.0.0.1".to_owned(), "10.0.0.2:80".to_owned(), "database")];
        assert_eq!((edge.requests, edge.failed), (1, 1));
        assert!(g.endpoints.contains_key(&(
            "10.0.0.2:80".to_owned(),
            "GET /a".to_owned(),
            "STATUS_CODE_ERROR"
        )));
    }

    /// A flood of distinct clients, servers and operations: the series stay within their
    /// bounds, the rest is summed as `other` and counted, and no call is lost.
    #[test]
    fn a_flood_of_names_stays_within_the_bounds() {
        let limits = GraphLimits {
            max_edges: 100,
            max_operations_per_service: 5,
            max_endpoint_series: 300,
            max_recent_calls: 1_000,
        };
        let mut g = ServiceGraph::new(limits);
        let calls = 20_000u64;
        for i in 0..calls {
            let mut s = span(
                "p",
                i as i64,
                i as i64,
                1_000,
                vec![
                    kv_str("peer.service", &format!("svc{}", i % 500)),
                    kv_str("wirespan.client.service.name", &format!("c{i}")),
                ],
            );
            s.name = format!("GET /item/{i}");
            g.observe(&[s]);
        }
        assert!(g.edges.len() <= limits.max_edges + 1, "{}", g.edges.len());
        assert!(g.endpoints.len() <= limits.max_endpoint_series + 2);
        assert!(g.operations.len() <= limits.max_endpoint_series);
        assert!(g.recent.len() <= limits.max_recent_calls);
        assert_eq!(g.edges.values().map(|e| e.requests).sum::<u64>(), calls);
        assert_eq!(g.endpoints.values().map(|e| e.calls).sum::<u64>(), calls);
        let other = &g.edges[&(OTHER.to_owned(), OTHER.to_owned(), "")];
        assert_eq!(other.requests, calls - limits.max_edges as u64);
        assert_eq!(g.overflow.edges, other.requests);
        assert!(g.overflow.operations > 0 && g.overflow.endpoint_series > 0);
        // Every series in the Prometheus text is one of those held.
        let text = super::super::render_graph_text(&g);
        let lines = text
            .lines()
            .filter(|l| l.starts_with("traces_service_graph_request_total{"))
            .count();
        assert_eq!(lines, g.edges.len());
    }
}

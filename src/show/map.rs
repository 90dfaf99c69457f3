//! The service map, for people.
//!
//! Takes spans (wirespan's network spans among the apps'); gives one edge per caller → server
//! and protocol with its calls, errors and latency percentiles, summed over the calls
//! [`crate::calls`] reads from them (a call seen at several capture points counts once, ends
//! named by what any input says of them, so several agents' outputs name each other's ends).

use crate::calls;
use crate::otlp::ResourceSpans;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One caller → server pair and protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub client: String,
    pub server: String,
    pub protocol: String,
    pub calls: u64,
    pub errors: u64,
    /// Server-side durations (ns), sorted.
    pub server_ns: Vec<u64>,
    /// Client-side durations (ns), sorted.
    pub client_ns: Vec<u64>,
}

impl Edge {
    pub fn server_percentile(&self, p: f64) -> u64 {
        percentile(&self.server_ns, p)
    }

    pub fn client_percentile(&self, p: f64) -> u64 {
        percentile(&self.client_ns, p)
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn edges(groups: &[ResourceSpans]) -> Vec<Edge> {
    let spans = groups
        .iter()
        .flat_map(|g| &g.scope_spans)
        .flat_map(|ss| &ss.spans);
    let mut edges: BTreeMap<(String, String, String), Edge> = BTreeMap::new();
    for (_, call) in calls::calls(spans) {
        let edge = edges
            .entry((
                call.client.clone(),
                call.server.clone(),
                call.protocol.clone(),
            ))
            .or_insert_with(|| Edge {
                client: call.client,
                server: call.server,
                protocol: call.protocol,
                calls: 0,
                errors: 0,
                server_ns: Vec::new(),
                client_ns: Vec::new(),
            });
        edge.calls += 1;
        edge.errors += u64::from(call.failed);
        edge.server_ns.push(call.server_ns);
        edge.client_ns.push(call.client_ns);
    }
    let mut out: Vec<Edge> = edges.into_values().collect();
    for e in &mut out {
        e.server_ns.sort_unstable();
        e.client_ns.sort_unstable();
    }
    out.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.client.cmp(&b.client)));
    out
}

fn ms(ns: u64) -> String {
    format!("{:.3}", ns as f64 / 1e6)
}

/// The map as a table: one line per edge.
pub fn render(edges: &[Edge]) -> String {
    let mut out = String::new();
    let calls: u64 = edges.iter().map(|e| e.calls).sum();
    let _ = writeln!(out, "service map: {} edges, {calls} calls", edges.len());
    let width = edges
        .iter()
        .map(|e| e.client.chars().count() + e.server.chars().count() + 3)
        .max()
        .unwrap_or(0)
        .max(12);
    let _ = writeln!(
        out,
        "{:<width$}  {:<10} {:>7} {:>7} {:>10} {:>10} {:>10} {:>12}",
        "caller → server",
        "protocol",
        "calls",
        "errors",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "client p50"
    );
    for e in edges {
        let pair = format!("{} → {}", e.client, e.server);
        let _ = writeln!(
            out,
            "{pair:<width$}  {:<10} {:>7} {:>7} {:>10} {:>10} {:>10} {:>12}",
            e.protocol,
            e.calls,
            e.errors,
            ms(e.server_percentile(50.0)),
            ms(e.server_percentile(95.0)),
            ms(e.server_percentile(99.0)),
            ms(e.client_percentile(50.0)),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 95.0), 95);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }
}

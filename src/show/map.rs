//! The service map, for people.
//!
//! Takes spans (wirespan's network spans among the apps'); gives one edge per caller → server
//! and protocol with its calls, errors and latency percentiles. A call seen at several capture
//! points counts once: its server-side time is the shortest any point saw (the point nearest
//! the server), its client-side time the longest; the difference is the network. Ends are
//! named by service where any span names them (`peer.service`, `wirespan.client.service.name`,
//! learned from every input, so several agents' outputs name each other's ends), else by
//! address.

use crate::otlp::{attr_int, attr_str, ResourceSpans, Span};
use std::collections::{BTreeMap, HashMap};
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

fn protocol(a: &[crate::otlp::KeyValue]) -> &str {
    if attr_str(a, "rpc.system") == Some("grpc") {
        return "grpc";
    }
    attr_str(a, "db.system")
        .or_else(|| attr_str(a, "network.protocol.name"))
        .unwrap_or("tcp")
}

/// The call a network span observed: its 5-tuple and where its request starts (or its DNS
/// id); `None` for a span that cannot be told from others (it is its own call).
fn call_key(s: &Span) -> Option<(String, i64, String, i64, i64)> {
    let a = &s.attributes;
    let at = attr_int(a, "wirespan.tcp.req_seq")
        .or_else(|| attr_int(a, "wirespan.dns.id").map(|id| -1 - id))?;
    Some((
        attr_str(a, "client.address")?.to_owned(),
        attr_int(a, "client.port")?,
        attr_str(a, "server.address")?.to_owned(),
        attr_int(a, "server.port")?,
        at,
    ))
}

/// The edges of every network span in `groups`, busiest first.
pub fn edges(groups: &[ResourceSpans]) -> Vec<Edge> {
    let network: Vec<&Span> = groups
        .iter()
        .flat_map(|g| &g.scope_spans)
        .flat_map(|ss| &ss.spans)
        // The apps' spans carry `wirespan.` attributes too once joined: a network span is
        // one a capture point saw.
        .filter(|s| attr_str(&s.attributes, "wirespan.capture.point").is_some())
        .collect();
    // Names any span gave an end, for the spans that did not name it.
    let mut server_names: HashMap<(&str, i64), &str> = HashMap::new();
    let mut client_names: HashMap<&str, &str> = HashMap::new();
    for s in &network {
        let a = &s.attributes;
        if let (Some(addr), Some(port), Some(name)) = (
            attr_str(a, "server.address"),
            attr_int(a, "server.port"),
            attr_str(a, "peer.service"),
        ) {
            server_names.insert((addr, port), name);
        }
        if let (Some(addr), Some(name)) = (
            attr_str(a, "client.address"),
            attr_str(a, "wirespan.client.service.name"),
        ) {
            client_names.insert(addr, name);
        }
    }
    // Calls: the spans of one call at every capture point.
    let mut calls: Vec<Vec<&Span>> = Vec::new();
    let mut by_key: HashMap<(String, i64, String, i64, i64), usize> = HashMap::new();
    for s in network {
        match call_key(s) {
            Some(key) => match by_key.get(&key) {
                Some(&i) => calls[i].push(s),
                None => {
                    by_key.insert(key, calls.len());
                    calls.push(vec![s]);
                }
            },
            None => calls.push(vec![s]),
        }
    }
    let mut edges: BTreeMap<(String, String, String), Edge> = BTreeMap::new();
    for members in calls {
        let Some(first) = members.first() else {
            continue;
        };
        let a = &first.attributes;
        let client_addr = attr_str(a, "client.address").unwrap_or("?");
        let server_addr = attr_str(a, "server.address").unwrap_or("?");
        let server_port = attr_int(a, "server.port").unwrap_or(0);
        let client = attr_str(a, "wirespan.client.service.name")
            .or_else(|| client_names.get(client_addr).copied())
            .or_else(|| attr_str(a, "wirespan.client.process.executable.name"))
            .map_or_else(|| client_addr.to_owned(), str::to_owned);
        let server = attr_str(a, "peer.service")
            .or_else(|| server_names.get(&(server_addr, server_port)).copied())
            .or_else(|| attr_str(a, "wirespan.server.process.executable.name"))
            .map_or_else(|| format!("{server_addr}:{server_port}"), str::to_owned);
        let proto = protocol(a).to_owned();
        let took = |s: &&Span| s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano);
        let server_ns = members.iter().map(took).min().unwrap_or(0);
        let client_ns = members.iter().map(took).max().unwrap_or(0);
        let failed = members
            .iter()
            .any(|s| s.status.as_ref().is_some_and(|st| st.code == 2));
        let edge = edges
            .entry((client.clone(), server.clone(), proto.clone()))
            .or_insert_with(|| Edge {
                client,
                server,
                protocol: proto,
                calls: 0,
                errors: 0,
                server_ns: Vec::new(),
                client_ns: Vec::new(),
            });
        edge.calls += 1;
        edge.errors += u64::from(failed);
        edge.server_ns.push(server_ns);
        edge.client_ns.push(client_ns);
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

//! Calls, from network spans.
//!
//! Takes network spans as OTLP spans (released by the correlator, or read back from files);
//! gives one [`Call`] per call they observed. The spans one call left at several capture points
//! are grouped by 5-tuple and where its request starts (or its DNS id), so a call counts once:
//! its server-side time is the shortest any point saw (the point nearest the server), its
//! client-side time the longest; the difference is the network. Its ends are named by service
//! where any span of the input names them (`peer.service`, `wirespan.client.service.name`),
//! else by the process that owns the socket, else by address. The service map ([`crate::show`])
//! and the service-graph metrics ([`crate::metrics`]) both read calls from here.

use crate::otlp::{attr_int, attr_str, KeyValue, Span};
use std::collections::HashMap;

/// One call, wherever it was seen.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The caller's name (service, process or address).
    pub client: String,
    /// The server's name (service, process or `address:port`).
    pub server: String,
    /// `http`, `grpc`, `mysql`, `postgresql`, `redis`, `dns`, …
    pub protocol: String,
    /// The span name: the operation (`GET /items`, `SELECT`, `shop.Cart/GetCart`).
    pub operation: String,
    pub server_ns: u64,
    pub client_ns: u64,
    pub failed: bool,
    /// A database's protocol: the service graph marks the edge `database`.
    pub database: bool,
}

/// A span a capture point saw (the apps' spans carry `wirespan.` attributes too once joined).
pub fn is_network_span(s: &Span) -> bool {
    attr_str(&s.attributes, "wirespan.capture.point").is_some()
}

/// The call a network span observed: its 5-tuple and where its request starts (or its DNS
/// id); `None` for a span that cannot be told from others (it is its own call).
pub type CallKey = (String, i64, String, i64, i64);

pub fn call_key(s: &Span) -> Option<CallKey> {
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

fn protocol(a: &[KeyValue]) -> &str {
    if attr_str(a, "rpc.system") == Some("grpc") {
        return "grpc";
    }
    attr_str(a, "db.system")
        .or_else(|| attr_str(a, "network.protocol.name"))
        .unwrap_or("tcp")
}

/// The calls of the network spans among `spans`, in the order their first span came.
pub fn calls<'a>(spans: impl IntoIterator<Item = &'a Span>) -> Vec<(Option<CallKey>, Call)> {
    let network: Vec<&Span> = spans.into_iter().filter(|s| is_network_span(s)).collect();
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
    let mut groups: Vec<(Option<CallKey>, Vec<&Span>)> = Vec::new();
    let mut by_key: HashMap<CallKey, usize> = HashMap::new();
    for s in network {
        match call_key(s) {
            Some(key) => match by_key.get(&key) {
                Some(&i) => groups[i].1.push(s),
                None => {
                    by_key.insert(key.clone(), groups.len());
                    groups.push((Some(key), vec![s]));
                }
            },
            None => groups.push((None, vec![s])),
        }
    }
    groups
        .into_iter()
        .filter_map(|(key, members)| {
            let first = members.first()?;
            let a = &first.attributes;
            let named = |key: &str| members.iter().find_map(|s| attr_str(&s.attributes, key));
            let client_addr = attr_str(a, "client.address").unwrap_or("?");
            let server_addr = attr_str(a, "server.address").unwrap_or("?");
            let server_port = attr_int(a, "server.port").unwrap_or(0);
            let client = named("wirespan.client.service.name")
                .or_else(|| client_names.get(client_addr).copied())
                .or_else(|| named("wirespan.client.process.executable.name"))
                .map_or_else(|| client_addr.to_owned(), str::to_owned);
            let server = named("peer.service")
                .or_else(|| server_names.get(&(server_addr, server_port)).copied())
                .or_else(|| named("wirespan.server.process.executable.name"))
                .map_or_else(|| format!("{server_addr}:{server_port}"), str::to_owned);
            let took = |s: &&Span| s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano);
            let call = Call {
                client,
                server,
                protocol: protocol(a).to_owned(),
                operation: first.name.clone(),
                server_ns: members.iter().map(took).min().unwrap_or(0),
                client_ns: members.iter().map(took).max().unwrap_or(0),
                failed: members
                    .iter()
                    .any(|s| s.status.as_ref().is_some_and(|st| st.code == 2)),
                database: attr_str(a, "db.system").is_some(),
            };
            Some((key, call))
        })
        .collect()
}

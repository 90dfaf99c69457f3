//! Latency attribution: where the time of an app-to-app call went.
//!
//! Takes correlated traces (the apps' spans and wirespan's network spans, joined so that a
//! callee's SERVER span hangs under the network hops of the call, which hang under the caller's
//! CLIENT span); gives, on each such CLIENT span, its duration split into the caller's own time
//! (before its request reached the first capture point and after the response left it), the
//! network's (between capture points, and from the last one to the callee) and the callee's
//! SERVER span; and on each network hop span, the time spent from it to the next point along
//! the path, both directions. The parts add up to the CLIENT span's duration exactly, since
//! each is a difference of the same timestamps; on hosts whose clocks disagree a part can be
//! negative, and is reported as measured.

use crate::otlp::{any_value, AnyValue, KeyValue, ResourceSpans, Span};
use hashbrown::HashMap;

const KIND_SERVER: i32 = 2;
const KIND_CLIENT: i32 = 3;

/// Attribute names, on the CLIENT span and on each hop.
pub const CLIENT_NS: &str = "wirespan.latency.client_ns";
pub const NETWORK_NS: &str = "wirespan.latency.network_ns";
pub const SERVER_NS: &str = "wirespan.latency.server_ns";
pub const HOP_NS: &str = "wirespan.latency.hop_ns";

/// Where a span is: an app span (group, scope, index) or a network span (index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    App(usize, usize, usize),
    Network(usize),
}

fn span<'a>(network: &'a [Span], apps: &'a [ResourceSpans], at: At) -> Option<&'a Span> {
    match at {
        At::App(r, s, k) => apps.get(r)?.scope_spans.get(s)?.spans.get(k),
        At::Network(i) => network.get(i),
    }
}

fn span_mut<'a>(
    network: &'a mut [Span],
    apps: &'a mut [ResourceSpans],
    at: At,
) -> Option<&'a mut Span> {
    match at {
        At::App(r, s, k) => apps.get_mut(r)?.scope_spans.get_mut(s)?.spans.get_mut(k),
        At::Network(i) => network.get_mut(i),
    }
}

fn set_int(span: &mut Span, key: &str, value: i64) {
    span.attributes.retain(|a| a.key != key);
    span.attributes.push(KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    });
}

fn ns(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

/// One app-to-app call: the caller's CLIENT span, the hops from its side to the callee's, the
/// callee's SERVER span.
struct Call {
    client: At,
    hops: Vec<At>,
    server: At,
}

/// Finds every CLIENT → network hops → SERVER chain and writes its attribution.
pub fn attribute(network: &mut [Span], apps: &mut [ResourceSpans]) {
    let mut by_id: HashMap<(&[u8], &[u8]), At> = HashMap::new();
    for (i, s) in network.iter().enumerate() {
        by_id.insert((&s.trace_id, &s.span_id), At::Network(i));
    }
    let mut servers = Vec::new();
    for (r, rs) in apps.iter().enumerate() {
        for (k, ss) in rs.scope_spans.iter().enumerate() {
            for (n, s) in ss.spans.iter().enumerate() {
                by_id.insert((&s.trace_id, &s.span_id), At::App(r, k, n));
                if s.kind == KIND_SERVER {
                    servers.push(At::App(r, k, n));
                }
            }
        }
    }
    let mut calls = Vec::new();
    for server in servers {
        let mut hops = Vec::new();
        let mut at = server;
        let client = loop {
            let Some(s) = span(network, apps, at) else {
                break None;
            };
            let Some(&parent) = by_id.get(&(&s.trace_id[..], &s.parent_span_id[..])) else {
                break None;
            };
            // A chain longer than the spans there are is a cycle in hostile input.
            if hops.len() > network.len() {
                break None;
            }
            match parent {
                At::Network(_) => hops.push(parent),
                At::App(..) => {
                    let caller = span(network, apps, parent);
                    break caller.filter(|c| c.kind == KIND_CLIENT).map(|_| parent);
                }
            }
            at = parent;
        };
        if let Some(client) = client.filter(|_| !hops.is_empty()) {
            hops.reverse();
            calls.push(Call {
                client,
                hops,
                server,
            });
        }
    }
    drop(by_id);
    for call in calls {
        write_call(network, apps, &call);
    }
}

fn write_call(network: &mut [Span], apps: &mut [ResourceSpans], call: &Call) {
    let times = |at: At| {
        span(network, apps, at).map(|s| (ns(s.start_time_unix_nano), ns(s.end_time_unix_nano)))
    };
    let (Some(client), Some(server)) = (times(call.client), times(call.server)) else {
        return;
    };
    let hops: Option<Vec<(i64, i64)>> = call.hops.iter().map(|&h| times(h)).collect();
    let Some(hops) = hops else {
        return;
    };
    let Some(first) = hops.first() else {
        return;
    };
    // Each point to the next: the request's way there plus the response's way back.
    let points: Vec<(i64, i64)> = hops.iter().copied().chain([server]).collect();
    let legs: Vec<i64> = points
        .windows(2)
        .map(|w| match w {
            [(s0, e0), (s1, e1)] => (s1 - s0) + (e0 - e1),
            _ => 0,
        })
        .collect();
    let client_ns = (first.0 - client.0) + (client.1 - first.1);
    let server_ns = server.1 - server.0;
    let network_ns: i64 = legs.iter().sum();
    debug_assert_eq!(
        client_ns + network_ns + server_ns,
        client.1 - client.0,
        "the parts of a call add up to it"
    );
    for (&hop, &leg) in call.hops.iter().zip(&legs) {
        if let Some(s) = span_mut(network, apps, hop) {
            set_int(s, HOP_NS, leg);
        }
    }
    if let Some(s) = span_mut(network, apps, call.client) {
        set_int(s, CLIENT_NS, client_ns);
        set_int(s, NETWORK_NS, network_ns);
        set_int(s, SERVER_NS, server_ns);
    }
}

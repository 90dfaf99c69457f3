//! The same view as one self-contained HTML page, for a browser.
//!
//! Takes OTLP resource spans, a [`Filter`] for the traces and how to tell the ends of calls
//! ([`Ends`]); gives one page (no external assets) with two views: the traces that pass the
//! filter, zoomable, each span's attributes on click; and the service map of every network
//! span ([`super::map_edges`]): one node per service (or process, or address), one edge per
//! caller → server and protocol with its calls, errors and latency, laid out by the page's
//! inline script in SVG (`page.html` says how). The data goes into the page as JSON;
//! `#map` in the page's address opens the map.

use super::{attribution, kind, map_edges, traces, EndKind, Ends, Filter, Names, Node};
use crate::otlp::{any_value, ResourceSpans};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const PAGE: &str = include_str!("page.html");

fn text(v: Option<&any_value::Value>) -> String {
    match v {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::BytesValue(b)) => b.iter().map(|x| format!("{x:02x}")).collect(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The service map of `groups` as the page's script reads it: `nodes` (name and what it is:
/// `service`, `process` or `address`) and `edges` (caller, server, protocol, calls, errors,
/// server-side p50/p95/p99 and client-side p50 in ns), busiest first.
fn map(groups: &[ResourceSpans], ends: Ends) -> Value {
    let edges = map_edges(groups, ends);
    let names = Names::learn(groups);
    let ends_of: BTreeSet<&str> = edges
        .iter()
        .flat_map(|e| [e.client.as_str(), e.server.as_str()])
        .collect();
    let nodes: Vec<Value> = ends_of
        .into_iter()
        .map(|name| {
            let what = match ends {
                Ends::Names => names.kind(name),
                Ends::Addresses => EndKind::Address,
            };
            json!({ "name": name, "kind": what.as_str() })
        })
        .collect();
    let edges: Vec<Value> = edges
        .iter()
        .map(|e| {
            json!({
                "client": e.client,
                "server": e.server,
                "protocol": e.protocol,
                "calls": e.calls,
                "errors": e.errors,
                "p50": e.server_percentile(50.0),
                "p95": e.server_percentile(95.0),
                "p99": e.server_percentile(99.0),
                "clientP50": e.client_percentile(50.0),
            })
        })
        .collect();
    json!({ "nodes": nodes, "edges": edges })
}

/// The page for the traces of `groups` that pass `filter`, and the map of all of `groups`.
pub fn page(groups: &[ResourceSpans], filter: &Filter, ends: Ends) -> String {
    let traces: Vec<Value> = traces(groups, ends)
        .iter()
        .filter(|t| t.matches(filter))
        .map(|t| {
            let spans: Vec<Value> = t
                .walk()
                .into_iter()
                .filter_map(|(i, depth)| {
                    let n: &Node<'_> = t.nodes.get(i)?;
                    let s = n.span;
                    let attributes: Vec<(String, String)> = s
                        .attributes
                        .iter()
                        .map(|kv| {
                            let v = kv.value.as_ref().and_then(|v| v.value.as_ref());
                            (kv.key.clone(), text(v))
                        })
                        .collect();
                    Some(json!({
                        "id": hex(&s.span_id),
                        "name": s.name,
                        "kind": kind(s.kind),
                        "who": n.who(),
                        "call": n.call,
                        "depth": depth,
                        "start": s.start_time_unix_nano.saturating_sub(t.start),
                        "duration": s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano),
                        "network": n.point.is_some(),
                        "failed": n.failed(),
                        "split": attribution(t, i),
                        "attributes": attributes,
                    }))
                })
                .collect();
            json!({
                "id": t.hex_id(),
                "duration": t.end.saturating_sub(t.start),
                "failed": t.nodes.iter().filter(|n| n.failed()).count(),
                "spans": spans,
            })
        })
        .collect();
    // Inside <script>, `</` could end the element: escape it (JSON allows `\/`).
    let data = json!({ "traces": traces, "map": map(groups, ends) })
        .to_string()
        .replace("</", "<\\/");
    PAGE.replacen("/*WIRESPAN_DATA*/", &data, 1)
}

//! The same view as one self-contained HTML page: the traces as JSON inside the page, drawn by
//! a small inline script (no external assets), zoomable, with each span's attributes on click.

use super::{attribution, kind, traces, Filter, Node};
use crate::otlp::{any_value, ResourceSpans};
use serde_json::{json, Value};

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

/// The page for the traces of `groups` that pass `filter`.
pub fn page(groups: &[ResourceSpans], filter: &Filter) -> String {
    let traces: Vec<Value> = traces(groups)
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
    let data = json!({ "traces": traces })
        .to_string()
        .replace("</", "<\\/");
    PAGE.replacen("/*WIRESPAN_DATA*/", &data, 1)
}

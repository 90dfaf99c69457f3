//! Traces for people: spans drawn as indented trees, one trace at a time.
//!
//! Takes OTLP resource spans (the apps' and wirespan's); gives text: per trace, each span on
//! its own line under its parent, with when it started (relative to the trace), how long it
//! took, who made it (the app's service, or the capture point for a network span) and the
//! tunnel it crossed.

use crate::otlp::{attr_int, attr_str, ResourceSpans, Span};
use hashbrown::HashMap;
use std::fmt::Write as _;

struct Node<'a> {
    span: &'a Span,
    who: String,
}

fn kind(k: i32) -> &'static str {
    match k {
        2 => "SERVER",
        3 => "CLIENT",
        4 => "PRODUCER",
        5 => "CONSUMER",
        _ => "INTERNAL",
    }
}

/// Every trace in `groups`, in order of first appearance, drawn as a tree.
pub fn trees(groups: &[ResourceSpans]) -> String {
    let mut traces: Vec<Vec<u8>> = Vec::new();
    let mut by_trace: HashMap<Vec<u8>, Vec<Node<'_>>> = HashMap::new();
    for rs in groups {
        let service = rs
            .resource
            .as_ref()
            .and_then(|r| attr_str(&r.attributes, "service.name"))
            .unwrap_or("?");
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                let who = match attr_str(&span.attributes, "wirespan.capture.point") {
                    Some(point) => format!("net {point}"),
                    None => service.to_owned(),
                };
                let entry = by_trace.entry(span.trace_id.clone()).or_default();
                if entry.is_empty() {
                    traces.push(span.trace_id.clone());
                }
                entry.push(Node { span, who });
            }
        }
    }
    let mut out = String::new();
    for trace in traces {
        let Some(nodes) = by_trace.get(&trace) else {
            continue;
        };
        let start = nodes
            .iter()
            .map(|n| n.span.start_time_unix_nano)
            .min()
            .unwrap_or(0);
        let ids: HashMap<&[u8], usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (&n.span.span_id[..], i))
            .collect();
        let mut children: HashMap<Option<usize>, Vec<usize>> = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            let parent = ids
                .get(&n.span.parent_span_id[..])
                .copied()
                .filter(|&p| p != i);
            children.entry(parent).or_default().push(i);
        }
        for list in children.values_mut() {
            list.sort_by_key(|&i| (nodes[i].span.start_time_unix_nano, i));
        }
        let hex: String = trace.iter().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(out, "trace {hex}");
        let mut stack: Vec<(usize, usize)> = children
            .get(&None)
            .map_or_else(Vec::new, |r| r.iter().rev().map(|&i| (i, 1)).collect());
        while let Some((i, depth)) = stack.pop() {
            let n = &nodes[i];
            let s = n.span;
            let took = s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano) as f64 / 1e6;
            let at = s.start_time_unix_nano.saturating_sub(start) as f64 / 1e6;
            let mut extra = String::new();
            if let Some(code) = attr_int(&s.attributes, "http.response.status_code") {
                let _ = write!(extra, " {code}");
            }
            if let Some(code) = attr_int(&s.attributes, "rpc.grpc.status_code") {
                let _ = write!(extra, " grpc={code}");
            }
            if let Some(t) = attr_str(&s.attributes, "wirespan.tunnel") {
                let _ = write!(extra, " [{t}]");
            }
            if s.status.as_ref().is_some_and(|st| st.code == 2) {
                extra.push_str(" ERROR");
            }
            let _ = writeln!(
                out,
                "{:>9.3} ms {:>9.3} ms {}{} {} ({}){extra}",
                at,
                took,
                "  ".repeat(depth),
                s.name,
                kind(s.kind),
                n.who
            );
            if let Some(kids) = children.get(&Some(i)) {
                stack.extend(kids.iter().rev().map(|&k| (k, depth + 1)));
            }
        }
    }
    out
}

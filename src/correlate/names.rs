//! Names a call's network spans could not read, learned where the evidence is exact.
//!
//! Takes a call's network spans (one per capture point) and, once the call is joined by its
//! trace context, the app span on either end; gives the spans that lacked them the RPC's
//! service and method (or the request path), marked `wirespan.learned_from`. A connection
//! older than the capture hides `:path` in an HPACK table entry never seen, for as long as the
//! connection lives; the same call seen at another capture point, or the app's own span of
//! it, names it. Nothing is learned by time or address alone.

use crate::otlp::{attr_str, kv_str, KeyValue, Span};
use crate::stats::Counters;

/// What names a call: a gRPC service and method, or an HTTP path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CallName {
    Rpc { service: String, method: String },
    Path(String),
}

/// The name a network span read, if it read one.
fn read_name(span: &Span) -> Option<CallName> {
    let a = &span.attributes;
    if let (Some(service), Some(method)) = (attr_str(a, "rpc.service"), attr_str(a, "rpc.method")) {
        return Some(CallName::Rpc {
            service: service.to_owned(),
            method: method.to_owned(),
        });
    }
    attr_str(a, "url.path").map(|p| CallName::Path(p.to_owned()))
}

/// Whether a network span is missing its name: an HTTP or gRPC call whose path was not
/// readable.
fn lacks_name(span: &Span) -> bool {
    let a = &span.attributes;
    attr_str(a, "url.path").is_none()
        && (attr_str(a, "http.request.method").is_some()
            || attr_str(a, "rpc.system") == Some("grpc"))
}

/// The name an app span gives its call: the RPC (OTel's `rpc.*`) or the path it served.
fn app_name(span: &Span) -> Option<CallName> {
    let a = &span.attributes;
    if attr_str(a, "rpc.system") == Some("grpc") {
        if let (Some(service), Some(method)) =
            (attr_str(a, "rpc.service"), attr_str(a, "rpc.method"))
        {
            return Some(CallName::Rpc {
                service: service.to_owned(),
                method: method.to_owned(),
            });
        }
    }
    ["url.path", "http.target"]
        .iter()
        .find_map(|k| attr_str(a, k))
        .map(|p| CallName::Path(p.split('?').next().unwrap_or(p).to_owned()))
}

/// Gives `span` the name, says where it came from. A gRPC name goes only to a call the
/// network saw as gRPC, a path only to one it did not.
fn give(span: &mut Span, name: &CallName, from: &str) -> bool {
    let grpc = attr_str(&span.attributes, "rpc.system") == Some("grpc");
    let a = &mut span.attributes;
    match name {
        CallName::Rpc { service, method } if grpc => {
            a.retain(|kv: &KeyValue| kv.key != "wirespan.grpc.method");
            a.push(kv_str("url.path", &format!("/{service}/{method}")));
            a.push(kv_str("rpc.service", service));
            a.push(kv_str("rpc.method", method));
            span.name = format!("{service}/{method}");
        }
        CallName::Path(path) if !grpc => {
            a.push(kv_str("url.path", path));
            let method = attr_str(a, "http.request.method")
                .unwrap_or("HTTP")
                .to_owned();
            span.name = format!("{method} {path}");
        }
        _ => return false,
    }
    span.attributes.push(kv_str("wirespan.learned_from", from));
    true
}

/// Within one call, the spans that could not read the name take it from a capture point that
/// could (the same request, by its TCP sequence number, so the same name). Spans that read
/// different names are left as they are.
pub fn share_across_points(network: &mut [Span], members: &[usize], stats: &mut Counters) {
    // Nearly every call read its name everywhere: nothing to compare, nothing to copy.
    if !members.iter().any(|&m| lacks_name(&network[m])) {
        return;
    }
    let mut known = members.iter().filter_map(|&m| read_name(&network[m]));
    let Some(name) = known.next() else {
        return;
    };
    if known.any(|other| other != name) {
        return;
    }
    for &m in members {
        if lacks_name(&network[m]) && give(&mut network[m], &name, "capture_point") {
            stats.correlation_names_learned += 1;
        }
    }
}

/// The call was joined by its trace context to `app`: the app's name for it goes to the
/// network spans that could not read one.
pub fn learn_from_app(network: &mut [Span], members: &[usize], app: &Span, stats: &mut Counters) {
    if !members.iter().any(|&m| lacks_name(&network[m])) {
        return;
    }
    let Some(name) = app_name(app) else {
        return;
    };
    for &m in members {
        if lacks_name(&network[m]) && give(&mut network[m], &name, "app_span") {
            stats.correlation_names_learned += 1;
        }
    }
}

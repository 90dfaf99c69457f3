//! OTLP, in and out.
//!
//! Takes network spans and the applications' OTLP trace data (protobuf or JSON); gives both as
//! OTLP protobuf messages, and OTLP/JSON in a fixed field order (so the same spans always give
//! the same bytes). The message types are those of the `opentelemetry-proto` crate.

pub mod export;
pub mod json;
pub mod receiver;

use crate::span::{AttrValue, NetworkSpan};
pub use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
pub use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, InstrumentationScope, KeyValue,
};
pub use opentelemetry_proto::tonic::resource::v1::Resource;
pub use opentelemetry_proto::tonic::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use std::io::Read;
use std::path::Path;

pub fn kv_str(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

pub fn kv_int(key: &str, value: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(value))
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// The resource of every span wirespan makes.
pub fn agent_resource(host_name: &str) -> Resource {
    Resource {
        attributes: vec![
            kv_str("service.name", "wirespan"),
            kv_str("host.name", host_name),
            kv_str("telemetry.sdk.name", "wirespan"),
            kv_str("telemetry.sdk.language", "rust"),
            kv_str("service.version", env!("CARGO_PKG_VERSION")),
        ],
        ..Default::default()
    }
}

pub fn agent_scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "wirespan".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    }
}

/// A network span as an OTLP span.
pub fn to_proto(s: &NetworkSpan) -> Span {
    let attributes = s
        .attributes
        .iter()
        .map(|a| {
            kv(
                a.key,
                match &a.value {
                    AttrValue::Str(v) => any_value::Value::StringValue(v.to_string()),
                    AttrValue::Int(i) => any_value::Value::IntValue(*i),
                    AttrValue::Bool(b) => any_value::Value::BoolValue(*b),
                },
            )
        })
        .collect();
    Span {
        trace_id: s.trace_id.to_vec(),
        span_id: s.span_id.to_vec(),
        parent_span_id: s.parent_span_id.map(|p| p.to_vec()).unwrap_or_default(),
        name: s.name.clone(),
        kind: s.kind as i32,
        start_time_unix_nano: s.start_ns,
        end_time_unix_nano: s.end_ns,
        attributes,
        status: s.error.as_ref().map(|message| Status {
            code: status::StatusCode::Error as i32,
            message: message.clone().unwrap_or_default(),
        }),
        ..Default::default()
    }
}

/// The value of a string or integer attribute, as text.
pub fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

pub fn attr_str<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attrs, key)? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

pub fn attr_int(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attrs, key)? {
        any_value::Value::IntValue(i) => Some(*i),
        any_value::Value::StringValue(s) => s.parse().ok(),
        _ => None,
    }
}

/// Whether a span is one of wirespan's network spans (it has a `wirespan.` attribute).
pub fn is_network_span(span: &Span) -> bool {
    span.attributes
        .iter()
        .any(|a| a.key.starts_with("wirespan."))
}

/// Decodes an OTLP trace export body: protobuf, or JSON when `json` says so.
/// Why a gzip body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GunzipError {
    Invalid,
    TooLarge,
}

/// Inflates a gzip body without letting it grow past `limit` (a gzip bomb stops there).
pub fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, GunzipError> {
    let mut out = Vec::new();
    let mut reader = flate2::read::GzDecoder::new(body).take(limit as u64 + 1);
    reader
        .read_to_end(&mut out)
        .map_err(|_| GunzipError::Invalid)?;
    if out.len() > limit {
        return Err(GunzipError::TooLarge);
    }
    Ok(out)
}

pub fn decode_body(body: &[u8], json: bool) -> Result<ExportTraceServiceRequest, String> {
    if json {
        serde_json::from_slice(body).map_err(|e| format!("not OTLP/JSON: {e}"))
    } else {
        ExportTraceServiceRequest::decode(body).map_err(|e| format!("not OTLP protobuf: {e}"))
    }
}

/// Reads recorded app spans: a file of OTLP/JSON lines (or one JSON document), a protobuf
/// body (`.pb`, `.bin`, `.protobuf`), or a directory of those, read in name order.
pub fn read_path(path: &Path) -> Result<Vec<ResourceSpans>, String> {
    let shown = path.display();
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| format!("{shown}: {e}"))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x != "md"))
            .collect();
        entries.sort();
        let mut all = Vec::new();
        for p in entries {
            if p.file_name().is_some_and(|n| n == "index.json") {
                continue;
            }
            all.extend(read_path(&p)?);
        }
        return Ok(all);
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
    let protobuf = path
        .extension()
        .and_then(|x| x.to_str())
        .is_some_and(|x| matches!(x, "pb" | "bin" | "protobuf"));
    if protobuf {
        return decode_body(&bytes, false)
            .map(|r| r.resource_spans)
            .map_err(|e| format!("{shown}: {e}"));
    }
    decode_json_lines(&bytes, &shown.to_string())
}

/// OTLP/JSON lines, one export request each, as wirespan writes them; `name` names the source
/// in errors.
pub fn decode_json_lines(bytes: &[u8], name: &str) -> Result<Vec<ResourceSpans>, String> {
    let mut all = Vec::new();
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let req = decode_body(line, true).map_err(|e| format!("{name}: line {}: {e}", n + 1))?;
        all.extend(req.resource_spans);
    }
    Ok(all)
}

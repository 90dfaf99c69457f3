//! The OTLP/JSON encoding, written by hand in a fixed field order: lowerCamelCase names, hex
//! ids, 64-bit integers as decimal strings, enums as numbers, empty and default fields left
//! out. Reading uses the protobuf types' serde support.

use super::{any_value, AnyValue, ExportTraceServiceRequest, KeyValue, Span};
use crate::span::{AttrValue, Attribute, NetworkSpan};
use std::io::{self, Write};

fn hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0xf)]);
    }
}

fn string(out: &mut Vec<u8>, s: &str) -> io::Result<()> {
    // Almost every string needs no escape: copy those whole.
    // Without an early exit the test compiles to vector code.
    if !s.bytes().fold(false, |escape, b| {
        escape | (b < 0x20) | (b == b'"') | (b == b'\\')
    }) {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return Ok(());
    }
    serde_json::to_writer(&mut *out, s).map_err(io::Error::other)
}

fn integer(out: &mut Vec<u8>, i: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
}

/// A 64-bit integer, which OTLP/JSON writes as a decimal string.
fn quoted_integer(out: &mut Vec<u8>, i: impl itoa::Integer) {
    out.push(b'"');
    integer(out, i);
    out.push(b'"');
}

/// The members of an AnyValue object for the three value types network spans carry.
fn string_value(out: &mut Vec<u8>, s: &str) -> io::Result<()> {
    out.extend_from_slice(b"\"stringValue\":");
    string(out, s)
}

fn int_value(out: &mut Vec<u8>, i: i64) {
    out.extend_from_slice(b"\"intValue\":");
    quoted_integer(out, i);
}

fn bool_value(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b {
        b"\"boolValue\":true"
    } else {
        b"\"boolValue\":false"
    });
}

fn base64(out: &mut Vec<u8>, bytes: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    out.push(b'"');
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |a, &b| a << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
    out.push(b'"');
}

fn any(out: &mut Vec<u8>, v: &AnyValue) -> io::Result<()> {
    out.push(b'{');
    match &v.value {
        Some(any_value::Value::StringValue(s)) => string_value(out, s)?,
        Some(any_value::Value::BoolValue(b)) => bool_value(out, *b),
        Some(any_value::Value::IntValue(i)) => int_value(out, *i),
        Some(any_value::Value::DoubleValue(d)) => {
            if d.is_finite() {
                write!(out, "\"doubleValue\":{d}")?;
            } else {
                write!(
                    out,
                    "\"doubleValue\":\"{}\"",
                    if d.is_nan() {
                        "NaN"
                    } else if *d > 0.0 {
                        "Infinity"
                    } else {
                        "-Infinity"
                    }
                )?;
            }
        }
        Some(any_value::Value::ArrayValue(a)) => {
            out.extend_from_slice(b"\"arrayValue\":{\"values\":[");
            for (i, x) in a.values.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                any(out, x)?;
            }
            out.extend_from_slice(b"]}");
        }
        Some(any_value::Value::KvlistValue(l)) => {
            out.extend_from_slice(b"\"kvlistValue\":{\"values\":");
            attributes(out, &l.values)?;
            out.push(b'}');
        }
        Some(any_value::Value::BytesValue(b)) => {
            out.extend_from_slice(b"\"bytesValue\":");
            base64(out, b);
        }
        // A dictionary index of the profiles signal; never seen in traces, kept as it came.
        Some(any_value::Value::StringValueStrindex(i)) => {
            write!(out, "\"stringValueStrindex\":{i}")?
        }
        None => {}
    }
    out.push(b'}');
    Ok(())
}

fn attributes(out: &mut Vec<u8>, attrs: &[KeyValue]) -> io::Result<()> {
    out.push(b'[');
    for (i, a) in attrs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"key\":");
        string(out, &a.key)?;
        out.extend_from_slice(b",\"value\":");
        match &a.value {
            Some(v) => any(out, v)?,
            None => out.extend_from_slice(b"{}"),
        }
        out.push(b'}');
    }
    out.push(b']');
    Ok(())
}

/// The fields a span opens with, in the order both span encoders write them.
struct Head<'a> {
    trace_id: &'a [u8],
    span_id: &'a [u8],
    trace_state: &'a str,
    parent_span_id: &'a [u8],
    flags: u32,
    name: &'a str,
    kind: i32,
    start_ns: u64,
    end_ns: u64,
}

/// Writes a span's opening fields, up to and including the `"attributes":` key.
fn head(out: &mut Vec<u8>, h: &Head<'_>) -> io::Result<()> {
    out.extend_from_slice(b"{\"traceId\":\"");
    hex(out, h.trace_id);
    out.extend_from_slice(b"\",\"spanId\":\"");
    hex(out, h.span_id);
    out.push(b'"');
    if !h.trace_state.is_empty() {
        out.extend_from_slice(b",\"traceState\":");
        string(out, h.trace_state)?;
    }
    if !h.parent_span_id.is_empty() {
        out.extend_from_slice(b",\"parentSpanId\":\"");
        hex(out, h.parent_span_id);
        out.push(b'"');
    }
    if h.flags != 0 {
        out.extend_from_slice(b",\"flags\":");
        integer(out, h.flags);
    }
    out.extend_from_slice(b",\"name\":");
    string(out, h.name)?;
    out.extend_from_slice(b",\"kind\":");
    integer(out, h.kind);
    out.extend_from_slice(b",\"startTimeUnixNano\":");
    quoted_integer(out, h.start_ns);
    out.extend_from_slice(b",\"endTimeUnixNano\":");
    quoted_integer(out, h.end_ns);
    out.extend_from_slice(b",\"attributes\":");
    Ok(())
}

/// Writes `,"status":{…}` and closes the span.
fn status_and_end(out: &mut Vec<u8>, code: i32, message: &str) -> io::Result<()> {
    out.extend_from_slice(b",\"status\":{");
    if code != 0 {
        out.extend_from_slice(b"\"code\":");
        integer(out, code);
        if !message.is_empty() {
            out.extend_from_slice(b",\"message\":");
            string(out, message)?;
        }
    } else if !message.is_empty() {
        out.extend_from_slice(b"\"message\":");
        string(out, message)?;
    }
    out.extend_from_slice(b"}}");
    Ok(())
}

/// A network span, written straight from wirespan's own type: the same bytes as converting it
/// to the protobuf type first, without the allocations.
pub fn network_span(out: &mut Vec<u8>, s: &NetworkSpan) -> io::Result<()> {
    head(
        out,
        &Head {
            trace_id: &s.trace_id,
            span_id: &s.span_id,
            trace_state: "",
            parent_span_id: s.parent_span_id.as_ref().map_or(&[], |p| &p[..]),
            flags: 0,
            name: &s.name,
            kind: s.kind as i32,
            start_ns: s.start_ns,
            end_ns: s.end_ns,
        },
    )?;
    network_attributes(out, &s.attributes)?;
    match &s.error {
        Some(message) => status_and_end(
            out,
            super::status::StatusCode::Error as i32,
            message.as_deref().unwrap_or(""),
        ),
        None => status_and_end(out, 0, ""),
    }
}

fn network_attributes(out: &mut Vec<u8>, attrs: &[Attribute]) -> io::Result<()> {
    out.push(b'[');
    for (i, a) in attrs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Keys are wirespan's own constant names: none needs escaping.
        out.extend_from_slice(b"{\"key\":\"");
        out.extend_from_slice(a.key.as_bytes());
        out.extend_from_slice(b"\",\"value\":{");
        match &a.value {
            AttrValue::Str(v) => string_value(out, v)?,
            AttrValue::Int(v) => int_value(out, *v),
            AttrValue::Bool(v) => bool_value(out, *v),
        }
        out.extend_from_slice(b"}}");
    }
    out.push(b']');
    Ok(())
}

/// A span of the protobuf type (an application's, or a network span after correlation).
pub fn span(out: &mut Vec<u8>, s: &Span) -> io::Result<()> {
    head(
        out,
        &Head {
            trace_id: &s.trace_id,
            span_id: &s.span_id,
            trace_state: &s.trace_state,
            parent_span_id: &s.parent_span_id,
            flags: s.flags,
            name: &s.name,
            kind: s.kind,
            start_ns: s.start_time_unix_nano,
            end_ns: s.end_time_unix_nano,
        },
    )?;
    attributes(out, &s.attributes)?;
    if s.dropped_attributes_count != 0 {
        write!(
            out,
            ",\"droppedAttributesCount\":{}",
            s.dropped_attributes_count
        )?;
    }
    if !s.events.is_empty() {
        out.extend_from_slice(b",\"events\":[");
        for (i, e) in s.events.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write!(out, "{{\"timeUnixNano\":\"{}\",\"name\":", e.time_unix_nano)?;
            string(out, &e.name)?;
            out.extend_from_slice(b",\"attributes\":");
            attributes(out, &e.attributes)?;
            out.push(b'}');
        }
        out.push(b']');
    }
    if !s.links.is_empty() {
        out.extend_from_slice(b",\"links\":[");
        for (i, l) in s.links.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"traceId\":\"");
            hex(out, &l.trace_id);
            out.extend_from_slice(b"\",\"spanId\":\"");
            hex(out, &l.span_id);
            out.extend_from_slice(b"\",\"attributes\":");
            attributes(out, &l.attributes)?;
            out.push(b'}');
        }
        out.push(b']');
    }
    match &s.status {
        Some(st) => status_and_end(out, st.code, &st.message),
        None => status_and_end(out, 0, ""),
    }
}

/// One request as one line of OTLP/JSON (newline included).
pub fn encode_line(out: &mut Vec<u8>, req: &ExportTraceServiceRequest) -> io::Result<()> {
    out.extend_from_slice(b"{\"resourceSpans\":[");
    for (i, rs) in req.resource_spans.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"resource\":{\"attributes\":");
        attributes(out, rs.resource.as_ref().map_or(&[], |r| &r.attributes[..]))?;
        out.extend_from_slice(b"},\"scopeSpans\":[");
        for (j, ss) in rs.scope_spans.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"scope\":{");
            if let Some(scope) = &ss.scope {
                out.extend_from_slice(b"\"name\":");
                string(out, &scope.name)?;
                if !scope.version.is_empty() {
                    out.extend_from_slice(b",\"version\":");
                    string(out, &scope.version)?;
                }
            }
            out.extend_from_slice(b"},\"spans\":[");
            for (k, s) in ss.spans.iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                span(out, s)?;
            }
            out.push(b']');
            if !ss.schema_url.is_empty() {
                out.extend_from_slice(b",\"schemaUrl\":");
                string(out, &ss.schema_url)?;
            }
            out.push(b'}');
        }
        out.push(b']');
        if !rs.schema_url.is_empty() {
            out.extend_from_slice(b",\"schemaUrl\":");
            string(out, &rs.schema_url)?;
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;

    /// What we write, the protobuf types' own JSON reader reads back unchanged.
    #[test]
    fn round_trips_through_the_serde_reader() {
        let span = Span {
            trace_id: vec![0xab; 16],
            span_id: vec![0xcd; 8],
            parent_span_id: vec![1; 8],
            name: "GET /x \"quoted\"".into(),
            kind: 2,
            start_time_unix_nano: 1_795_565_189_903_985_000,
            end_time_unix_nano: 1_795_565_189_903_985_999,
            attributes: vec![
                kv_str("s", "v"),
                kv("i", any_value::Value::IntValue(-5)),
                kv("b", any_value::Value::BoolValue(true)),
                kv("d", any_value::Value::DoubleValue(1.5)),
                kv("bytes", any_value::Value::BytesValue(vec![0, 255, 7])),
            ],
            status: Some(Status {
                code: 2,
                message: "boom".into(),
            }),
            ..Default::default()
        };
        let req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(agent_resource("h")),
                scope_spans: vec![ScopeSpans {
                    scope: Some(agent_scope()),
                    spans: vec![span],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let mut line = Vec::new();
        encode_line(&mut line, &req).expect("encode");
        let back = decode_body(&line, true).expect("decode");
        assert_eq!(back, req);
    }
}

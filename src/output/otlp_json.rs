//! The OTLP/JSON encoding (lowerCamelCase names, hex ids, 64-bit integers as strings).

use crate::span::{AttrValue, Attribute, NetworkSpan};
use std::io::{self, Write};

/// Spans per line: keeps lines readable while amortising the resource block.
const SPANS_PER_LINE: usize = 256;

/// What identifies this agent on every line.
#[derive(Debug, Clone)]
pub struct Resource {
    pub host_name: String,
}

pub struct OtlpJsonWriter<W: Write> {
    out: W,
    resource: Resource,
    batch: Vec<NetworkSpan>,
    /// Spans written so far.
    pub written: u64,
}

impl<W: Write> OtlpJsonWriter<W> {
    pub fn new(out: W, resource: Resource) -> Self {
        OtlpJsonWriter {
            out,
            resource,
            batch: Vec::with_capacity(SPANS_PER_LINE),
            written: 0,
        }
    }

    pub fn push(&mut self, span: NetworkSpan) -> io::Result<()> {
        self.batch.push(span);
        if self.batch.len() >= SPANS_PER_LINE {
            self.write_line()?;
        }
        Ok(())
    }

    /// Writes what is batched and flushes the writer.
    pub fn flush(&mut self) -> io::Result<()> {
        if !self.batch.is_empty() {
            self.write_line()?;
        }
        self.out.flush()
    }

    pub fn into_inner(mut self) -> io::Result<W> {
        self.flush()?;
        Ok(self.out)
    }

    fn write_line(&mut self) -> io::Result<()> {
        let mut line = Vec::with_capacity(1024 * self.batch.len());
        line.extend_from_slice(b"{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
        let res = [
            attr_str("service.name", "wirespan"),
            attr_str("host.name", &self.resource.host_name),
            attr_str("telemetry.sdk.name", "wirespan"),
            attr_str("telemetry.sdk.language", "rust"),
            attr_str("service.version", env!("CARGO_PKG_VERSION")),
        ];
        for (i, a) in res.iter().enumerate() {
            if i > 0 {
                line.push(b',');
            }
            write_attr(&mut line, a)?;
        }
        line.extend_from_slice(
            b"]},\"scopeSpans\":[{\"scope\":{\"name\":\"wirespan\",\"version\":\"",
        );
        line.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
        line.extend_from_slice(b"\"},\"spans\":[");
        for (i, span) in self.batch.iter().enumerate() {
            if i > 0 {
                line.push(b',');
            }
            write_span(&mut line, span)?;
        }
        line.extend_from_slice(b"]}]}]}\n");
        self.out.write_all(&line)?;
        self.written += self.batch.len() as u64;
        self.batch.clear();
        Ok(())
    }
}

fn attr_str(key: &'static str, v: &str) -> Attribute {
    Attribute {
        key,
        value: AttrValue::Str(v.to_owned()),
    }
}

fn hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0xf)]);
    }
}

fn json_str(out: &mut Vec<u8>, s: &str) -> io::Result<()> {
    serde_json::to_writer(&mut *out, s).map_err(io::Error::other)
}

fn write_attr(out: &mut Vec<u8>, a: &Attribute) -> io::Result<()> {
    out.extend_from_slice(b"{\"key\":");
    json_str(out, a.key)?;
    out.extend_from_slice(b",\"value\":{");
    match &a.value {
        AttrValue::Str(s) => {
            out.extend_from_slice(b"\"stringValue\":");
            json_str(out, s)?;
        }
        AttrValue::Int(i) => {
            write!(out, "\"intValue\":\"{i}\"")?;
        }
        AttrValue::Bool(b) => {
            write!(out, "\"boolValue\":{b}")?;
        }
    }
    out.extend_from_slice(b"}}");
    Ok(())
}

fn write_span(out: &mut Vec<u8>, s: &NetworkSpan) -> io::Result<()> {
    out.extend_from_slice(b"{\"traceId\":\"");
    hex(out, &s.trace_id);
    out.extend_from_slice(b"\",\"spanId\":\"");
    hex(out, &s.span_id);
    out.push(b'"');
    if let Some(p) = &s.parent_span_id {
        out.extend_from_slice(b",\"parentSpanId\":\"");
        hex(out, p);
        out.push(b'"');
    }
    out.extend_from_slice(b",\"name\":");
    json_str(out, &s.name)?;
    write!(
        out,
        ",\"kind\":{},\"startTimeUnixNano\":\"{}\",\"endTimeUnixNano\":\"{}\",\"attributes\":[",
        s.kind as u8, s.start_ns, s.end_ns
    )?;
    for (i, a) in s.attributes.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_attr(out, a)?;
    }
    out.extend_from_slice(b"],\"status\":{");
    if let Some(message) = &s.error {
        out.extend_from_slice(b"\"code\":2");
        if let Some(m) = message {
            out.extend_from_slice(b",\"message\":");
            json_str(out, m)?;
        }
    }
    out.extend_from_slice(b"}}");
    Ok(())
}

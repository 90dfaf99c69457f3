//! OTLP/JSON lines: network spans batched under the agent's resource, and other resources'
//! spans (the applications', after correlation) passed through as they are.

use crate::otlp::{self, ExportTraceServiceRequest, ResourceSpans, ScopeSpans, Span};
use crate::span::NetworkSpan;
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
    batch: Vec<Span>,
    line: Vec<u8>,
    /// Spans written so far.
    pub written: u64,
}

impl<W: Write> OtlpJsonWriter<W> {
    pub fn new(out: W, resource: Resource) -> Self {
        OtlpJsonWriter {
            out,
            resource,
            batch: Vec::with_capacity(SPANS_PER_LINE),
            line: Vec::new(),
            written: 0,
        }
    }

    pub fn push(&mut self, span: NetworkSpan) -> io::Result<()> {
        self.push_proto(otlp::to_proto(&span))
    }

    /// A network span already in OTLP form (after correlation).
    pub fn push_proto(&mut self, span: Span) -> io::Result<()> {
        self.batch.push(span);
        if self.batch.len() >= SPANS_PER_LINE {
            self.write_batch()?;
        }
        Ok(())
    }

    /// Other resources' spans, one line.
    pub fn write_resource_spans(&mut self, resource_spans: Vec<ResourceSpans>) -> io::Result<()> {
        if resource_spans.is_empty() {
            return Ok(());
        }
        let spans: usize = resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.write_line(&ExportTraceServiceRequest { resource_spans })?;
        self.written += spans as u64;
        Ok(())
    }

    /// Writes what is batched and flushes the writer.
    pub fn flush(&mut self) -> io::Result<()> {
        if !self.batch.is_empty() {
            self.write_batch()?;
        }
        self.out.flush()
    }

    pub fn into_inner(mut self) -> io::Result<W> {
        self.flush()?;
        Ok(self.out)
    }

    fn write_batch(&mut self) -> io::Result<()> {
        let spans = std::mem::take(&mut self.batch);
        let n = spans.len() as u64;
        let req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(otlp::agent_resource(&self.resource.host_name)),
                scope_spans: vec![ScopeSpans {
                    scope: Some(otlp::agent_scope()),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        self.write_line(&req)?;
        self.written += n;
        Ok(())
    }

    fn write_line(&mut self, req: &ExportTraceServiceRequest) -> io::Result<()> {
        self.line.clear();
        otlp::json::encode_line(&mut self.line, req)?;
        self.out.write_all(&self.line)
    }
}

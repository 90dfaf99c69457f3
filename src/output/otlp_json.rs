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
    /// The line up to the first span of the agent's resource and scope, and the rest after
    /// the last: written once, so a batch is only ever its spans.
    batch_open: Vec<u8>,
    batch_close: Vec<u8>,
    /// The line being filled with network spans.
    batch: Vec<u8>,
    batched: usize,
    line: Vec<u8>,
    /// Spans written so far.
    pub written: u64,
}

impl<W: Write> OtlpJsonWriter<W> {
    pub fn new(out: W, resource: Resource) -> Self {
        let empty = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(otlp::agent_resource(&resource.host_name)),
                scope_spans: vec![ScopeSpans {
                    scope: Some(otlp::agent_scope()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let mut batch_open = Vec::new();
        // Encoding into a Vec cannot fail.
        let _ = otlp::json::encode_line(&mut batch_open, &empty);
        const SPANS: &[u8] = b"\"spans\":[";
        let split = batch_open
            .windows(SPANS.len())
            .rposition(|w| w == SPANS)
            .map_or(batch_open.len(), |i| i + SPANS.len());
        let batch_close = batch_open.split_off(split);
        OtlpJsonWriter {
            out,
            batch_open,
            batch_close,
            batch: Vec::new(),
            batched: 0,
            line: Vec::new(),
            written: 0,
        }
    }

    pub fn push(&mut self, span: &NetworkSpan) -> io::Result<()> {
        self.next_in_batch();
        otlp::json::network_span(&mut self.batch, span)?;
        self.batched_one()
    }

    /// A network span already in OTLP form (after correlation).
    pub fn push_proto(&mut self, span: &Span) -> io::Result<()> {
        self.next_in_batch();
        otlp::json::span(&mut self.batch, span)?;
        self.batched_one()
    }

    fn next_in_batch(&mut self) {
        if self.batched == 0 {
            self.batch.clear();
            self.batch.extend_from_slice(&self.batch_open);
        } else {
            self.batch.push(b',');
        }
    }

    fn batched_one(&mut self) -> io::Result<()> {
        self.batched += 1;
        if self.batched >= SPANS_PER_LINE {
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
        self.line.clear();
        otlp::json::encode_line(
            &mut self.line,
            &ExportTraceServiceRequest { resource_spans },
        )?;
        self.out.write_all(&self.line)?;
        self.written += spans as u64;
        Ok(())
    }

    /// Writes what is batched and flushes the writer.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.batched > 0 {
            self.write_batch()?;
        }
        self.out.flush()
    }

    pub fn into_inner(mut self) -> io::Result<W> {
        self.flush()?;
        Ok(self.out)
    }

    fn write_batch(&mut self) -> io::Result<()> {
        self.batch.extend_from_slice(&self.batch_close);
        self.out.write_all(&self.batch)?;
        self.written += self.batched as u64;
        self.batched = 0;
        Ok(())
    }
}

//! Span output.
//!
//! Takes [`crate::span::NetworkSpan`]s; gives OTLP/JSON lines as `SPANS.md` fixes them: each line one
//! `ExportTraceServiceRequest` with the agent's resource, written in a fixed field order so the
//! same spans always give the same bytes.

mod otlp_json;

pub use otlp_json::{OtlpJsonWriter, Resource};

//! The agent's jobs as library functions: replay capture files, capture live, receive OTLP.
//!
//! Takes a job's settings (plain data, no command-line types) and gives its report: the run's
//! counters, the spans written and what could not be delivered. What a job has to say while it
//! runs (progress, a file that broke off, "capturing now") reaches the caller as events; the
//! caller decides what people see. Each job wires the stages in their one direction:
//! capture → decode → flow → protocol → span → correlate → output and export.

pub mod capture;
pub mod receive;
pub mod replay;

use crate::otlp::export::{self, ExportStats, ExporterConfig};
use crate::otlp::ResourceSpans;
use std::fs::File;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

/// Where a job writes its OTLP/JSON lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    StandardOutput,
    File(String),
}

impl Destination {
    /// `-` is standard output, anything else a file path.
    pub fn from_arg(path: &str) -> Destination {
        if path == "-" {
            Destination::StandardOutput
        } else {
            Destination::File(path.to_owned())
        }
    }

    pub(crate) fn open(&self) -> anyhow::Result<Box<dyn Write + Send>> {
        Ok(match self {
            Destination::StandardOutput => Box::new(io::stdout()),
            Destination::File(path) => Box::new(
                File::create(path).map_err(|e| anyhow::anyhow!("cannot create {path}: {e}"))?,
            ),
        })
    }

    /// How the summary line names it.
    pub fn describe(&self) -> &str {
        match self {
            Destination::StandardOutput => "standard output",
            Destination::File(path) => path,
        }
    }
}

/// Sending spans on to an OTLP endpoint.
#[derive(Debug, Clone)]
pub struct ExportJob {
    pub exporter: ExporterConfig,
    /// How long the exporter may keep sending once there is nothing new to send.
    pub grace: Duration,
}

/// This machine's name, for the `host.name` resource attribute.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Sends every group to the exporter and waits for it to finish (within its grace period).
fn export_all(job: &ExportJob, groups: Vec<ResourceSpans>) -> anyhow::Result<Arc<ExportStats>> {
    let mut cfg = job.exporter.clone();
    // A replay already holds every span in memory: queue them all.
    let total: u64 = groups
        .iter()
        .flat_map(|g| &g.scope_spans)
        .map(|s| s.spans.len() as u64)
        .sum();
    cfg.max_queued_spans = cfg.max_queued_spans.max(total);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let grace = job.grace;
    runtime.block_on(async move {
        let (exporter, task) = export::start(cfg, grace).map_err(|e| anyhow::anyhow!(e))?;
        for g in groups {
            exporter.send(g);
        }
        let stats = Arc::clone(&exporter.stats);
        drop(exporter);
        task.await?;
        anyhow::Ok(stats)
    })
}

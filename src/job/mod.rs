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

/// Reads a TLS key log file into the process's key log (and says keys are expected, so TLS
/// parsers keep encrypted records for them). A file that cannot be read is an error that names
/// it; its lines are never quoted.
pub fn load_tls_keylog(path: &std::path::Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("cannot read the TLS key log {}: {e}", path.display()))?;
    crate::protocol::tls::keylog::expect_keys();
    if let Ok(mut log) = crate::protocol::tls::keylog::shared().write() {
        log.add_bytes(&bytes);
        log.finish();
    }
    Ok(())
}

/// The key log's counts, into a run's counters.
pub fn add_tls_keylog_counts(stats: &mut crate::stats::Counters) {
    if let Ok(log) = crate::protocol::tls::keylog::shared().read() {
        let s = log.stats();
        stats.tls_keylog_secrets = s.secrets;
        stats.tls_keylog_malformed = s.malformed;
        stats.tls_keylog_evicted = s.evicted;
    }
}

/// Follows a TLS key log file as it grows (clients append a connection's secrets as they make
/// it), from its start: secrets written before the capture began
/// unlock connections older than it. Reads every 10 ms (a connection's records wait for its
/// keys; a short one may end soon after its handshake) until `stop`; a file that does not
/// exist yet is waited for.
pub fn follow_tls_keylog(
    path: std::path::PathBuf,
    stop: &'static std::sync::atomic::AtomicBool,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    crate::protocol::tls::keylog::follow(path);
    std::thread::Builder::new()
        .name("tls-keylog".into())
        .spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                crate::protocol::tls::keylog::refresh();
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        })
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

//! Live capture: interfaces in, network spans out until SIGINT/SIGTERM or the set duration.
//!
//! Takes a [`CaptureJob`] and an observer; gives a [`CaptureReport`]. Everything that can fail
//! (a missing interface or capability, a filter the kernel refuses, a port in use) does so
//! before any thread starts; then privileges go, and spans flow to the output directly or,
//! with the apps' spans to join or an endpoint to feed, through the [`agent`].

use super::{Destination, ExportJob};
use crate::agent::{self, AgentConfig};
use crate::capture::bpf::{self, Filter};
use crate::capture::privileges;
use crate::capture::ring::RingConfig;
use crate::correlate::CorrelationConfig;
use crate::host::namer::{self, NamerConfig, NamingQueue};
use crate::metrics;
use crate::metrics::graph::{GraphLimits, ServiceGraph};
use crate::metrics::otlp::{MetricsEndpoint, MetricsExportStats};
use crate::otlp::export::ExportStats;
use crate::otlp::receiver::{self, ReceiverConfig, ReceiverStats};
use crate::output::{OtlpJsonWriter, Resource};
use crate::pipeline::live::{self, LiveConfig};
use crate::pipeline::PipelineConfig;
use crate::stats::Counters;
use std::io::{self, BufWriter};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Spans waiting for their processes' names at most (with names and nothing else to join).
const MAX_SPANS_NAMING: usize = 65_536;

#[derive(Debug, Clone)]
pub struct CaptureJob {
    /// Interface names; `any` alone for every interface.
    pub interfaces: Vec<String>,
    /// A tcpdump filter expression, run in the kernel; empty for none.
    pub filter: String,
    /// Reader threads (one fanout socket per interface each), and as many flow workers.
    pub threads: usize,
    /// Cores to pin the threads to, in order; empty for none.
    pub cpus: Vec<usize>,
    pub ring: RingConfig,
    pub promiscuous: bool,
    pub pipeline: PipelineConfig,
    pub output: Destination,
    pub host_name: String,
    /// Stop by itself after this long.
    pub duration: Option<Duration>,
    /// Tell the observer the counters this often.
    pub stats_interval: Option<Duration>,
    /// Once the sockets are open, run as this user (every capability is dropped either way).
    pub user: Option<String>,
    /// Receive the apps' spans on these listeners and join them with the network spans.
    pub receiver: Option<ReceiverConfig>,
    pub export: Option<ExportJob>,
    pub correlation: CorrelationConfig,
    /// Spans held for correlation at most.
    pub correlation_max_spans: usize,
    /// Serve Prometheus metrics here.
    pub metrics_listen: Option<SocketAddr>,
    /// Push the service-graph metrics to the export endpoint this often (`None`: never).
    pub metrics_push_interval: Option<Duration>,
    /// Name the processes that own the calls' sockets on this host (spans then go through
    /// the agent, which holds them while the lookups run).
    pub process_names: bool,
    /// A TLS key log followed as it grows: the calls inside TLS connections are read with it.
    pub tls_keylog: Option<std::path::PathBuf>,
}

/// What a capture tells while it runs. Every method has a default that says nothing.
pub trait CaptureObserver {
    /// The rings are open: traffic from now on is seen.
    fn capturing(&mut self, _job: &CaptureJob) {}
    /// Every `stats_interval`: the counters so far.
    fn counters(&mut self, _elapsed: Duration, _stats: &Counters) {}
}

#[derive(Debug)]
pub struct CaptureReport {
    pub stats: Counters,
    pub written: u64,
    pub receiver: Option<Arc<ReceiverStats>>,
    pub export: Option<Arc<ExportStats>>,
    pub metrics_export: Option<Arc<MetricsExportStats>>,
    pub elapsed: Duration,
}

impl CaptureReport {
    pub fn undelivered(&self) -> u64 {
        self.export.as_ref().map_or(0, |e| e.undelivered())
    }

    /// 0 when every span was delivered, else 1.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.undelivered() > 0)
    }
}

/// Compiles the job's filter for the link type its interfaces give (`any` gives raw IP).
pub fn filter(job: &CaptureJob) -> anyhow::Result<Option<Filter>> {
    let any = job.interfaces.iter().any(|i| i == "any");
    if any && job.interfaces.len() > 1 {
        anyhow::bail!("-i any already covers every interface; name no others with it");
    }
    if job.filter.trim().is_empty() {
        return Ok(None);
    }
    let dlt = if any { bpf::DLT_RAW } else { bpf::DLT_EN10MB };
    Ok(Some(
        bpf::compile(&job.filter, dlt).map_err(|e| anyhow::anyhow!(e))?,
    ))
}

/// Raised by SIGINT/SIGTERM (or the duration): readers stop, everything in flight drains.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

pub fn run(job: &CaptureJob, observer: &mut dyn CaptureObserver) -> anyhow::Result<CaptureReport> {
    let mut cfg = LiveConfig {
        interfaces: job.interfaces.clone(),
        threads: job.threads.max(1),
        cpus: job.cpus.clone(),
        ring: job.ring,
        promiscuous: job.promiscuous,
        filter: filter(job)?.map(|f| f.instructions),
        queue_frames: 16_384,
        queue_spans: 65_536,
        pipeline: job.pipeline.clone(),
        namer: None,
    };
    cfg.pipeline.flows.note_new_connections = job.process_names;
    let rings = live::open_rings(&cfg).map_err(|e| anyhow::anyhow!(e))?;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let shared: live::SharedCounters = Arc::new(Mutex::new(Vec::new()));
    observer.capturing(job);
    let started = Instant::now();
    // Everything privileged happens now: listeners bound, output opened; then privileges go,
    // before any further thread starts (capabilities are per thread; new threads inherit them).
    let bound = match &job.receiver {
        Some(cfg) => Some(receiver::bind(cfg)?),
        None => None,
    };
    let resource = Resource {
        host_name: job.host_name.clone(),
    };
    let writer = OtlpJsonWriter::new(
        BufWriter::with_capacity(1 << 16, job.output.open()?),
        resource,
    );
    let metrics_listener = match job.metrics_listen {
        Some(addr) => Some(
            std::net::TcpListener::bind(addr)
                .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {addr}: {e}"))?,
        ),
        None => None,
    };
    // The namer's thread starts before the rest give up their privileges: it keeps the two
    // that read other processes' descriptors, and nothing else.
    let namer_cfg = NamerConfig::default();
    let patience = namer_cfg.patience();
    // Without a receiver no app span will come to join: spans wait only for their names.
    let window = match job.receiver {
        Some(_) => job.correlation,
        None => CorrelationConfig {
            window_ns: (job.correlation.window_ns)
                .min(patience.as_nanos().try_into().unwrap_or(u64::MAX)),
        },
    };
    let namer = match job.process_names {
        true => Some(namer::start(namer_cfg)?),
        false => None,
    };
    cfg.namer = namer.as_ref().map(|(n, _)| n.clone());
    privileges::drop_privileges(job.user.as_deref()).map_err(|e| anyhow::anyhow!(e))?;
    // Calls are counted for the metrics once the correlator has named their ends.
    let graph = (job.metrics_listen.is_some() || job.export.is_some())
        .then(|| Arc::new(Mutex::new(ServiceGraph::new(GraphLimits::default()))));
    let metrics_push = match (&job.export, job.metrics_push_interval) {
        (Some(export), Some(every)) => Some((
            MetricsEndpoint::beside(&export.exporter.endpoint).map_err(|e| anyhow::anyhow!(e))?,
            every,
            export.exporter.timeout,
        )),
        _ => None,
    };
    // With app spans to join, an endpoint to feed or metrics to serve, spans go through the
    // agent (which names their processes too); with names alone, only past the namer.
    let (agent, direct) = if job.receiver.is_some() || graph.is_some() {
        let agent = agent::start(
            AgentConfig {
                receiver: bound,
                exporter: job.export.as_ref().map(|e| e.exporter.clone()),
                export_grace: job.export.as_ref().map_or(Duration::ZERO, |e| e.grace),
                window,
                max_spans: job.correlation_max_spans,
                host_name: job.host_name.clone(),
                graph: graph.clone(),
                metrics_push,
                namer: cfg.namer.clone(),
            },
            writer,
        )?;
        (Some(agent), None)
    } else {
        (None, Some(writer))
    };
    // Counted only when served: the attribute scans cost about a tenth of a span's writing.
    let span_metrics = metrics_listener
        .is_some()
        .then(|| Arc::new(metrics::SpanMetrics::default()));
    if let (Some(listener), Some(spans)) = (metrics_listener, &span_metrics) {
        let sources = metrics::Sources {
            workers: Some(Arc::clone(&shared)),
            correlation: agent.as_ref().map(|a| Arc::clone(&a.counters)),
            spans: Arc::clone(spans),
            receiver: agent.as_ref().and_then(|a| a.receiver.clone()),
            export: agent.as_ref().and_then(|a| a.export.clone()),
            graph: graph.clone(),
            metrics_export: agent.as_ref().and_then(|a| a.metrics_export.clone()),
        };
        metrics::serve(listener, sources)?;
    }
    let keylog = match &job.tls_keylog {
        Some(path) => Some(super::follow_tls_keylog(path.clone(), &STOP)?),
        None => None,
    };
    let to_agent = agent.as_ref().map(|a| a.network.clone());
    let mut naming = match (&agent, &cfg.namer) {
        (None, Some(namer)) => Some(NamingQueue::new(namer.clone(), patience, MAX_SPANS_NAMING)),
        _ => None,
    };
    let run_shared = Arc::clone(&shared);
    let worker = std::thread::spawn(move || -> anyhow::Result<(Counters, u64)> {
        let mut direct = direct;
        let mut handed = 0u64;
        let mut dropped = 0u64;
        let mut totals = live::run(&cfg, rings, &STOP, run_shared, |span| {
            if let (Some(q), Some(w)) = (naming.as_mut(), direct.as_mut()) {
                let now = Instant::now();
                if let Some(span) = span {
                    if let Some(m) = &span_metrics {
                        m.observe(&span);
                    }
                    q.push(span, now, |s| w.push(s))?;
                }
                return q.release(now, false, |s| w.push(s));
            }
            let Some(span) = span else {
                return Ok(());
            };
            if let Some(m) = &span_metrics {
                m.observe(&span);
            }
            if let Some(tx) = &to_agent {
                match tx.try_send(span) {
                    Ok(()) => handed += 1,
                    Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => dropped += 1,
                    Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => {
                        return Err(io::Error::other("the correlation thread stopped"))
                    }
                }
                Ok(())
            } else if let Some(w) = direct.as_mut() {
                w.push(&span)
            } else {
                Ok(())
            }
        })?;
        totals.spans_dropped_queue_full += dropped;
        if let (Some(q), Some(w)) = (naming.as_mut(), direct.as_mut()) {
            q.release(Instant::now(), true, |s| w.push(s))?;
            totals.process_spans_released_early += q.released_early;
        }
        let written = match direct.as_mut() {
            Some(w) => {
                w.flush()?;
                w.written
            }
            None => handed,
        };
        Ok((totals, written))
    });
    let mut last_stats = Instant::now();
    while !worker.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
        if job.duration.is_some_and(|d| started.elapsed() >= d) {
            STOP.store(true, Ordering::SeqCst);
        }
        if let Some(every) = job.stats_interval {
            if last_stats.elapsed() >= every {
                last_stats = Instant::now();
                let mut now = Counters::default();
                if let Ok(all) = shared.lock() {
                    all.iter().for_each(|c| now.merge(c));
                }
                observer.counters(started.elapsed(), &now);
            }
        }
    }
    let (mut stats, mut written) = worker
        .join()
        .map_err(|_| anyhow::anyhow!("the capture thread panicked"))??;
    let (mut receiver, mut export, mut metrics_export) = (None, None, None);
    if let Some(agent) = agent {
        let report = agent.finish()?;
        stats.merge(&report.stats);
        written = report.written;
        receiver = report.receiver;
        export = report.export;
        metrics_export = report.metrics_export;
    }
    if let Some(thread) = keylog {
        let _ = thread.join();
        super::add_tls_keylog_counts(&mut stats);
    }
    if let Some((namer, thread)) = namer {
        namer.add_counters_to(&mut stats);
        drop(namer);
        thread
            .join()
            .map_err(|_| anyhow::anyhow!("the namer thread panicked"))?;
    }
    Ok(CaptureReport {
        stats,
        written,
        receiver,
        export,
        metrics_export,
        elapsed: started.elapsed(),
    })
}

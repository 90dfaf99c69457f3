//! Replay: capture files in, network spans out, joined with the apps' spans when given.
//!
//! Takes a [`ReplayJob`] and an observer; gives a [`ReplayReport`]. Without the apps' spans or
//! an export endpoint, spans stream straight to the output as the files are read; with them,
//! the whole run's spans are held, correlated, written and exported at the end.

use super::{export_all, Destination, ExportJob};
use crate::capture::CaptureError;
use crate::correlate::{self, CorrelationConfig};
use crate::metrics::graph::{GraphLimits, ServiceGraph};
use crate::metrics::otlp::{self as metrics_otlp, Interval};
use crate::metrics::{self, MetricsFormat};
use crate::otlp::export::ExportStats;
use crate::otlp::{self, ResourceSpans};
use crate::output::{OtlpJsonWriter, Resource};
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::span::NetworkSpan;
use crate::stats::Counters;
use std::cell::RefCell;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct ReplayJob {
    /// pcap or pcapng files, read one after the other.
    pub files: Vec<PathBuf>,
    pub pipeline: PipelineConfig,
    /// Threads that each read every file and take their share of the flows.
    pub workers: usize,
    /// Where the OTLP/JSON lines go; `None` builds and counts every span but writes none.
    pub output: Option<Destination>,
    pub host_name: String,
    /// The apps' spans to join with (OTLP/JSON lines, protobuf bodies, directories of them).
    pub otel: Vec<PathBuf>,
    pub correlation: CorrelationConfig,
    pub export: Option<ExportJob>,
    /// Write the service-graph metrics of the run here.
    pub metrics_out: Option<(PathBuf, MetricsFormat)>,
    /// A TLS key log: the calls inside TLS connections are read with it (pcapng files' own
    /// Decryption Secrets Blocks are read in any case).
    pub tls_keylog: Option<PathBuf>,
}

/// What a replay tells while it runs. Every method has a default that says nothing.
pub trait ReplayObserver {
    /// Every so often while a file is read: bytes of it read so far, the run's counters.
    fn progress(&mut self, _offset: u64, _stats: &Counters) {}
    fn file_done(&mut self, _path: &Path) {}
    /// A file broke off (damaged or missing); its spans up to the damage are kept.
    fn file_failed(&mut self, _error: &CaptureError) {}
    /// A span as it leaves the pipeline, when nothing is correlated.
    fn span(&mut self, _span: &NetworkSpan) -> io::Result<()> {
        Ok(())
    }
    /// The correlated run (apps' spans and network spans), once joined.
    fn traces(&mut self, _groups: &[ResourceSpans]) -> io::Result<()> {
        Ok(())
    }
}

/// An observer that says nothing.
pub struct Quiet;

impl ReplayObserver for Quiet {}

#[derive(Debug)]
pub struct ReplayReport {
    pub stats: Counters,
    pub files: usize,
    /// Files that were damaged or missing.
    pub failed_files: usize,
    /// Spans written to the output (built and counted, with no output).
    pub written: u64,
    pub export: Option<Arc<ExportStats>>,
    pub elapsed: Duration,
}

impl ReplayReport {
    pub fn undelivered(&self) -> u64 {
        self.export.as_ref().map_or(0, |e| e.undelivered())
    }

    /// 0 when every file was read to its end and every span delivered, else 1.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.failed_files > 0 || self.undelivered() > 0)
    }
}

pub fn run(job: &ReplayJob, observer: &mut dyn ReplayObserver) -> anyhow::Result<ReplayReport> {
    let started = Instant::now();
    let sink: Box<dyn Write + Send> = match &job.output {
        Some(destination) => destination.open()?,
        None => Box::new(io::sink()),
    };
    let resource = Resource {
        host_name: job.host_name.clone(),
    };
    let mut writer = OtlpJsonWriter::new(BufWriter::with_capacity(1 << 16, sink), resource);
    if let Some(path) = &job.tls_keylog {
        super::load_tls_keylog(path)?;
    }
    for path in &job.files {
        // Secrets inside a pcapng file come before the packets they unlock.
        if let Ok(file) = crate::capture::CaptureFile::open(path) {
            let secrets = file.decryption_secrets();
            if !secrets.is_empty() {
                crate::protocol::tls::keylog::expect_keys();
            }
            if let Ok(mut log) = crate::protocol::tls::keylog::shared().write() {
                for body in secrets {
                    // A block of another kind of secrets is not a TLS key log: left.
                    let _ = log.add_dsb(&body);
                }
            }
        }
    }
    let mut pipeline = Pipeline::new(job.pipeline.clone());
    pipeline.replay_workers = job.workers;
    let correlating = !job.otel.is_empty();
    // Correlating, exporting and the metrics all work on the whole run's spans.
    let collecting = correlating || job.export.is_some() || job.metrics_out.is_some();
    let mut apps = Vec::new();
    for path in &job.otel {
        apps.extend(otlp::read_path(path).map_err(|e| anyhow::anyhow!(e))?);
    }
    let mut network = Vec::new();
    let mut failed_files = 0;
    // The pipeline calls the sink and the progress hook in turn, never one inside the other.
    let mut observer = RefCell::new(observer);
    for path in &job.files {
        let mut sink = |span: NetworkSpan| {
            if !correlating {
                observer.borrow_mut().span(&span)?;
            }
            if collecting {
                network.push(otlp::to_proto(&span));
                Ok(())
            } else if job.output.is_none() {
                Ok(())
            } else {
                writer.push(&span)
            }
        };
        let result =
            pipeline.replay_file_with_progress(path, &mut sink, &mut |offset, stats| {
                observer.borrow_mut().progress(offset, stats)
            })?;
        observer.get_mut().file_done(path);
        if let Err(e) = result {
            observer.get_mut().file_failed(&e);
            failed_files += 1;
        }
    }
    let observer = observer.into_inner();
    let mut export = None;
    if collecting {
        if correlating {
            pipeline.stats.correlation_app_spans += apps
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len() as u64)
                .sum::<u64>();
            correlate::correlate(
                job.correlation,
                &mut network,
                &[],
                &mut apps,
                &mut correlate::EndpointNames::new(correlate::EndpointLimits::default()),
                &mut pipeline.stats,
            );
        }
        for chunk in apps.chunks(64) {
            writer.write_resource_spans(chunk.to_vec())?;
        }
        let mut groups = apps;
        for chunk in network.chunks(256) {
            groups.push(ResourceSpans {
                resource: Some(otlp::agent_resource(&job.host_name)),
                scope_spans: vec![otlp::ScopeSpans {
                    scope: Some(otlp::agent_scope()),
                    spans: chunk.to_vec(),
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
        if correlating {
            observer.traces(&groups)?;
        }
        for span in &network {
            writer.push_proto(span)?;
        }
        writer.flush()?;
        if let Some((path, format)) = &job.metrics_out {
            let mut graph = ServiceGraph::new(GraphLimits::default());
            graph.observe(&network);
            let at = Interval {
                start_ns: network
                    .iter()
                    .map(|s| s.start_time_unix_nano)
                    .min()
                    .unwrap_or(0),
                now_ns: network
                    .iter()
                    .map(|s| s.end_time_unix_nano)
                    .max()
                    .unwrap_or(0),
            };
            write_metrics(path, *format, &graph, &job.host_name, at)?;
        }
        if let Some(export_job) = &job.export {
            export = Some(export_all(export_job, groups)?);
        }
    }
    writer.flush()?;
    super::add_tls_keylog_counts(&mut pipeline.stats);
    let written = if job.output.is_none() {
        pipeline.stats.spans
    } else {
        writer.written
    };
    Ok(ReplayReport {
        stats: pipeline.stats,
        files: job.files.len(),
        failed_files,
        written,
        export,
        elapsed: started.elapsed(),
    })
}

fn write_metrics(
    path: &Path,
    format: MetricsFormat,
    graph: &ServiceGraph,
    host_name: &str,
    at: Interval,
) -> anyhow::Result<()> {
    let text = match format {
        MetricsFormat::Prometheus => metrics::render_graph_text(graph),
        MetricsFormat::OtlpJson => {
            let mut line = serde_json::to_string(&metrics_otlp::request(graph, host_name, at))?;
            line.push('\n');
            line
        }
    };
    std::fs::write(path, text)
        .map_err(|e| anyhow::anyhow!("cannot write metrics to {}: {e}", path.display()))
}

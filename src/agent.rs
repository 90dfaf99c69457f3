//! The live agent's back half: network spans from the capture and the apps' spans from the
//! OTLP receiver meet in the correlation window, then go to the output file and the exporter.
//!
//! Takes network spans over a bounded queue (the capture never waits: a full queue drops and
//! counts); gives joined traces to an OTLP/JSON writer and, when configured, an OTLP endpoint.
//! Runs on its own thread with its own tokio runtime; ends when the network queue closes,
//! releasing everything still in the window.

use crate::correlate::{CorrelationConfig, Window};
use crate::host::namer::Namer;
use crate::metrics::graph::ServiceGraph;
use crate::metrics::otlp::{self as metrics_otlp, MetricsEndpoint, MetricsExportStats};
use crate::otlp::export::{self, ExportStats, ExporterConfig};
use crate::otlp::receiver::{self, ReceiverStats};
use crate::otlp::{self, ResourceSpans, ScopeSpans, Span};
use crate::output::OtlpJsonWriter;
use crate::span::NetworkSpan;
use crate::stats::Counters;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

pub struct AgentConfig {
    /// The OTLP receiver's listeners, already bound.
    pub receiver: Option<receiver::Bound>,
    pub exporter: Option<ExporterConfig>,
    pub export_grace: Duration,
    pub window: CorrelationConfig,
    /// Spans held in the correlation window at most.
    pub max_spans: usize,
    pub host_name: String,
    /// Where released calls are counted for the metrics, if anyone reads them.
    pub graph: Option<Arc<Mutex<ServiceGraph>>>,
    /// Push the graph as OTLP metrics there, this often, each push taking at most this long.
    pub metrics_push: Option<(MetricsEndpoint, Duration, Duration)>,
    /// Asked who owns each network span's sockets as it arrives; its answers are on the span
    /// when it leaves the window.
    pub namer: Option<Namer>,
}

/// What the agent did, once it has finished.
pub struct AgentReport {
    pub stats: Counters,
    pub written: u64,
    pub receiver: Option<Arc<ReceiverStats>>,
    pub export: Option<Arc<ExportStats>>,
    pub metrics_export: Option<Arc<MetricsExportStats>>,
}

pub struct Agent {
    pub network: mpsc::Sender<NetworkSpan>,
    /// The correlator's counters, as of its last tick.
    pub counters: Arc<std::sync::Mutex<Counters>>,
    pub receiver: Option<Arc<ReceiverStats>>,
    pub export: Option<Arc<ExportStats>>,
    pub metrics_export: Option<Arc<MetricsExportStats>>,
    thread: std::thread::JoinHandle<anyhow::Result<AgentReport>>,
}

impl Agent {
    /// Waits for the agent to drain (call after dropping every network sender).
    pub fn finish(self) -> anyhow::Result<AgentReport> {
        drop(self.network);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("the correlation thread panicked"))?
    }
}

fn realtime_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Names the processes of what leaves the window (if asked), then sends it to the metrics (if
/// any), the exporter (if any) and the writer.
fn release<W: Write>(
    namer: Option<&Namer>,
    graph: Option<&Mutex<ServiceGraph>>,
    exporter: Option<&export::Exporter>,
    host: &str,
    apps: Vec<ResourceSpans>,
    mut network: Vec<Span>,
    writer: &mut OtlpJsonWriter<W>,
) -> std::io::Result<()> {
    if let Some(namer) = namer {
        network.iter_mut().for_each(|s| namer.annotate(s));
    }
    if let Some(graph) = graph {
        if let Ok(mut g) = graph.lock() {
            g.observe(&network);
        }
    }
    if let Some(e) = exporter {
        for g in &apps {
            e.send(g.clone());
        }
        for chunk in network.chunks(256) {
            e.send(ResourceSpans {
                resource: Some(otlp::agent_resource(host)),
                scope_spans: vec![ScopeSpans {
                    scope: Some(otlp::agent_scope()),
                    spans: chunk.to_vec(),
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
    }
    writer.write_resource_spans(apps)?;
    for s in &network {
        writer.push_proto(s)?;
    }
    writer.flush()
}

/// Starts the agent (its runtime, its threads) on listeners the caller bound.
pub fn start<W: Write + Send + 'static>(
    cfg: AgentConfig,
    mut writer: OtlpJsonWriter<W>,
) -> anyhow::Result<Agent> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (net_tx, mut net_rx) = mpsc::channel::<NetworkSpan>(65_536);
    let (app_tx, mut app_rx) = mpsc::channel::<Vec<ResourceSpans>>(1024);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let receiver_stats = cfg
        .receiver
        .as_ref()
        .map(|_| Arc::new(ReceiverStats::default()));
    let server = match (cfg.receiver, &receiver_stats) {
        (Some(bound), Some(rstats)) => {
            let rstats = Arc::clone(rstats);
            Some(
                runtime.spawn(receiver::serve(bound, app_tx, rstats, async move {
                    let _ = stop_rx.await;
                })),
            )
        }
        _ => {
            drop(app_tx);
            None
        }
    };
    let exporter = match cfg.exporter.clone() {
        Some(ecfg) => {
            let _guard = runtime.enter();
            Some(export::start(ecfg, cfg.export_grace).map_err(|e| anyhow::anyhow!(e))?)
        }
        None => None,
    };
    let counters = Arc::new(std::sync::Mutex::new(Counters::default()));
    let published = Arc::clone(&counters);
    let export_stats = exporter.as_ref().map(|(e, _)| Arc::clone(&e.stats));
    let receiver = receiver_stats.clone();
    let (stop_push_tx, stop_push_rx) = tokio::sync::oneshot::channel::<()>();
    let metrics_export = cfg
        .metrics_push
        .as_ref()
        .map(|_| Arc::new(MetricsExportStats::default()));
    let push_task = match (&cfg.metrics_push, &cfg.graph, &metrics_export) {
        (Some((endpoint, interval, timeout)), Some(graph), Some(stats)) => {
            Some(runtime.spawn(metrics_otlp::push(
                metrics_otlp::Push {
                    graph: Arc::clone(graph),
                    endpoint: endpoint.clone(),
                    interval: *interval,
                    timeout: *timeout,
                    grace: cfg.export_grace,
                    host_name: cfg.host_name.clone(),
                    start_ns: realtime_ns(),
                    stats: Arc::clone(stats),
                },
                async move {
                    let _ = stop_push_rx.await;
                },
            )))
        }
        _ => None,
    };
    let graph = cfg.graph.clone();
    let namer = cfg.namer.clone();
    let report_metrics = metrics_export.clone();
    let thread = std::thread::spawn(move || -> anyhow::Result<AgentReport> {
        let mut stats = Counters::default();
        let mut window = Window::new(cfg.window, cfg.max_spans);
        let export_stats = exporter.as_ref().map(|(e, _)| Arc::clone(&e.stats));
        let (exporter, export_task) = match exporter {
            Some((e, t)) => (Some(e), Some(t)),
            None => (None, None),
        };
        let host = cfg.host_name.clone();
        runtime.block_on(async {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut network_open = true;
            let mut apps_open = server.is_some();
            while network_open {
                tokio::select! {
                    span = net_rx.recv() => match span {
                        Some(span) => {
                            let span = otlp::to_proto(&span);
                            if let Some(n) = &namer {
                                n.request_span(&span);
                            }
                            window.add_network(span);
                        }
                        None => network_open = false,
                    },
                    groups = app_rx.recv(), if apps_open => match groups {
                        Some(groups) => window.add_apps(groups, &mut stats),
                        None => apps_open = false,
                    },
                    _ = tick.tick() => {
                        let (apps, network) = window.tick(realtime_ns(), false, &mut stats);
                        release(namer.as_ref(), graph.as_deref(), exporter.as_ref(), &host, apps, network, &mut writer)?;
                        if let Ok(mut c) = published.lock() {
                            c.clone_from(&stats);
                            if let Some(n) = &namer {
                                n.add_counters_to(&mut c);
                            }
                        }
                    }
                }
            }
            // The capture is over: stop receiving, take what the apps already sent, let all go.
            let _ = stop_tx.send(());
            if let Some(server) = server {
                server.await??;
            }
            while let Ok(groups) = app_rx.try_recv() {
                window.add_apps(groups, &mut stats);
            }
            let (apps, network) = window.tick(realtime_ns(), true, &mut stats);
            release(namer.as_ref(), graph.as_deref(), exporter.as_ref(), &host, apps, network, &mut writer)?;
            drop(exporter);
            let _ = stop_push_tx.send(());
            if let Some(task) = push_task {
                task.await?;
            }
            if let Some(task) = export_task {
                task.await?;
            }
            anyhow::Ok(())
        })?;
        Ok(AgentReport {
            stats,
            written: writer.written,
            receiver: receiver_stats,
            export: export_stats,
            metrics_export: report_metrics,
        })
    });
    Ok(Agent {
        network: net_tx,
        counters,
        receiver,
        export: export_stats,
        metrics_export,
        thread,
    })
}

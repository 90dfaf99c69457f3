//! The command line.
//!
//! Takes arguments; runs `wirespan replay` and returns the process exit code: 0 when every file
//! was read to its end, 1 when a file was damaged or missing (its spans up to the damage are
//! still written), 2 for usage errors (from clap).

use crate::agent::{self, AgentConfig};
use crate::capture::bpf;
use crate::capture::live::{self, LiveConfig};
use crate::capture::privileges;
use crate::capture::ring::RingConfig;
use crate::config;
use crate::correlate::{self, CorrelationConfig};
use crate::metrics;
use crate::otlp;
use crate::otlp::export::{self, ExporterConfig};
use crate::otlp::receiver::{self, ReceiverConfig, ReceiverStats};
use crate::output::{OtlpJsonWriter, Resource};
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::show;
use crate::span::{AttrValue, NetworkSpan};
use crate::stats::Counters;
use clap::{Args, Parser, Subcommand};
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Diagnostics to standard error. A closed stderr (`… 2>&1 | head`) is not worth a panic:
/// whatever was left to say is dropped.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(io::stderr().lock(), $($arg)*);
    }};
}

macro_rules! say_raw {
    ($($arg:tt)*) => {{
        let _ = write!(io::stderr().lock(), $($arg)*);
    }};
}

#[derive(Parser, Debug)]
#[command(
    name = "wirespan",
    version,
    about = "Turns packets on the wire into OpenTelemetry network spans"
)]
pub struct Cli {
    /// A TOML file of settings, one table per command (`wirespan config --print-default`).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// The command line, under the config file and `WIRESPAN_*` variables ([`config`]); exits
/// with clap's message (code 2) on a bad command line or config file.
pub fn parse() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let args: Vec<String> = std::env::args().collect();
    let mut cmd = config::with_env(Cli::command());
    if let Some(path) = config::config_path(&args) {
        let loaded = std::fs::read_to_string(&path)
            .map_err(|e| format!("config {path}: {e}"))
            .and_then(|text| config::with_file(cmd, &path, &text));
        cmd = match loaded {
            Ok(cmd) => cmd,
            Err(e) => {
                say!("wirespan: {e}");
                std::process::exit(2);
            }
        };
    }
    let matches = cmd.try_get_matches_from(args).unwrap_or_else(|e| e.exit());
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Replay pcap/pcapng files and write one network span per call per capture point.
    Replay(ReplayArgs),
    /// Capture live from network interfaces (AF_PACKET rings) until SIGINT/SIGTERM.
    Capture(CaptureArgs),
    /// Receive the apps' OTLP spans (HTTP on 38086 and 4318, gRPC on 4317) and write them as
    /// OTLP/JSON lines until SIGINT/SIGTERM: a recorder for `replay --otel`.
    Receive(ReceiveArgs),
    /// Draw traces from OTLP/JSON lines (what replay and capture write) as waterfalls.
    Show(ShowArgs),
    /// Configuration files: print one with every option at its default.
    Config(ConfigArgs),
}

#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// Print a config file with every option, commented out at its default.
    #[arg(long)]
    pub print_default: bool,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// OTLP/JSON files (or directories of them, or OTLP protobuf `.pb`); `-` reads standard input.
    #[arg(default_value = "-")]
    pub files: Vec<PathBuf>,
    /// Only the trace(s) whose id starts with this (hex).
    #[arg(long)]
    pub trace_id: Option<String>,
    /// Only traces with a span from this service.
    #[arg(long)]
    pub service: Option<String>,
    /// Only traces with a span whose path, RPC method or name contains this.
    #[arg(long)]
    pub path: Option<String>,
    /// Only traces that lasted at least this long.
    #[arg(long, value_name = "MS", default_value_t = 0.0, value_parser = seconds)]
    pub min_duration_ms: f64,
    /// Only traces with a failed span (error status, HTTP 5xx, gRPC status other than OK).
    #[arg(long)]
    pub errors: bool,
    /// Width of the time bars, in characters.
    #[arg(long, default_value_t = 40)]
    pub bar_width: usize,
    /// Colours: auto (when standard output is a terminal), always or never.
    #[arg(long, default_value = "auto", value_parser = ["auto", "always", "never"])]
    pub color: String,
    /// Also write the traces as one self-contained HTML page (zoomable, details on click).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct OtlpListenArgs {
    /// DeepFlow-style OTLP/HTTP listener (`/api/v1/otel/trace`), or `off`.
    #[arg(long, default_value = "0.0.0.0:38086")]
    pub listen_deepflow: String,
    /// OTLP/HTTP listener (`/v1/traces`), or `off`.
    #[arg(long, default_value = "0.0.0.0:4318")]
    pub listen_http: String,
    /// OTLP/gRPC listener, or `off`.
    #[arg(long, default_value = "0.0.0.0:4317")]
    pub listen_grpc: String,
    /// Largest OTLP request body accepted (before and after gzip), in bytes.
    #[arg(long, default_value_t = 16 << 20)]
    pub max_body: usize,
}

impl OtlpListenArgs {
    fn config(&self) -> anyhow::Result<ReceiverConfig> {
        let addr = |s: &str| -> anyhow::Result<Option<std::net::SocketAddr>> {
            if s == "off" {
                return Ok(None);
            }
            s.parse()
                .map(Some)
                .map_err(|_| anyhow::anyhow!("'{s}' is not an address:port (or off)"))
        };
        Ok(ReceiverConfig {
            deepflow: addr(&self.listen_deepflow)?,
            http: addr(&self.listen_http)?,
            grpc: addr(&self.listen_grpc)?,
            max_body: self.max_body,
        })
    }
}

#[derive(Args, Debug)]
pub struct ReceiveArgs {
    #[command(flatten)]
    pub listen: OtlpListenArgs,
    /// Where the received spans go, as OTLP/JSON lines: a file, or `-` for standard output.
    #[arg(short, long, default_value = "-")]
    pub output: String,
    /// Stop by itself after this many seconds.
    #[arg(long, value_parser = seconds)]
    pub duration: Option<f64>,
    /// Print the receiver's counters at the end.
    #[arg(long)]
    pub stats: bool,
}

#[derive(Args, Debug)]
pub struct CaptureArgs {
    /// Interfaces to capture on, comma-separated or repeated; `any` for all of them.
    #[arg(short, long, value_delimiter = ',', required = true)]
    pub interface: Vec<String>,
    /// A tcpdump filter expression, compiled to classic BPF and run in the kernel.
    pub filter: Vec<String>,
    /// Print the compiled BPF program (as `tcpdump -d`) and exit.
    #[arg(short = 'd')]
    pub dump_filter: bool,
    /// Where the OTLP/JSON lines go: a file, or `-` for standard output.
    #[arg(short, long, default_value = "-")]
    pub output: String,
    /// Reader threads (one fanout socket per interface each), and as many flow workers.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Cores to pin the threads to, e.g. `0,1`.
    #[arg(long, value_delimiter = ',')]
    pub cpus: Vec<usize>,
    /// Put the interfaces into promiscuous mode.
    #[arg(long)]
    pub promisc: bool,
    /// Stop by itself after this many seconds.
    #[arg(long, value_parser = seconds)]
    pub duration: Option<f64>,
    /// Print every counter at the end.
    #[arg(long)]
    pub stats: bool,
    /// Also print the counters every this many seconds.
    #[arg(long, value_parser = seconds)]
    pub stats_interval: Option<f64>,
    /// Ring block size in bytes (a power of two, a multiple of the page size).
    #[arg(long, default_value_t = 1 << 20)]
    pub block_size: u32,
    /// Ring blocks per socket.
    #[arg(long, default_value_t = 64)]
    pub block_count: u32,
    /// Milliseconds after which the kernel hands over a block that is not full.
    #[arg(long, default_value_t = 50)]
    pub block_timeout_ms: u32,
    /// The `host.name` resource attribute (default: this machine's hostname).
    #[arg(long)]
    pub host_name: Option<String>,
    /// Most TCP flows tracked at once per worker.
    #[arg(long, default_value_t = 262_144)]
    pub max_flows: usize,
    /// Receive the apps' OTLP spans and join them with the network spans (listeners below).
    #[arg(long)]
    pub otlp: bool,
    /// Once the sockets are open, run as this user. Every capability is dropped either way.
    #[arg(long)]
    pub user: Option<String>,
    #[command(flatten)]
    pub listen: OtlpListenArgs,
    #[command(flatten)]
    pub export: ExportArgs,
    /// How long spans wait for their partners (apps export in batches, seconds late).
    #[arg(long, default_value_t = 10_000)]
    pub correlation_window_ms: u64,
    /// Spans held for correlation at most; past it the oldest leave early (counted).
    #[arg(long, default_value_t = 200_000)]
    pub correlation_max_spans: usize,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. `0.0.0.0:9477`); off by default.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// Capture files (pcap or pcapng), read one after the other.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Where the OTLP/JSON lines go: a file, or `-` for standard output.
    #[arg(short, long, default_value = "-")]
    pub output: String,
    /// Print every counter (packets, flows, spans, drops and errors by reason) at the end.
    #[arg(long)]
    pub stats: bool,
    /// Print one line per span to standard error, for people.
    #[arg(long)]
    pub print: bool,
    /// The `host.name` resource attribute (default: this machine's hostname).
    #[arg(long)]
    pub host_name: Option<String>,
    /// UDP ports that carry VXLAN (replaces the defaults 4789 and 8472).
    #[arg(long = "vxlan-port", value_name = "PORT")]
    pub vxlan_ports: Vec<u16>,
    /// UDP ports that carry Geneve (replaces the default 6081).
    #[arg(long = "geneve-port", value_name = "PORT")]
    pub geneve_ports: Vec<u16>,
    /// Most TCP flows tracked at once; new flows beyond it are dropped and counted.
    #[arg(long, default_value_t = 262_144)]
    pub max_flows: usize,
    /// Out-of-order bytes buffered per flow direction before a hole is given up on.
    #[arg(long, default_value_t = 256 * 1024)]
    pub max_reassembly_bytes: usize,
    /// Apps' spans to correlate with: OTLP/JSON lines files, protobuf bodies (.pb), or
    /// directories of them. The output is then one trace per call: app → network → app.
    #[arg(long = "otel", value_name = "PATH")]
    pub otel: Vec<PathBuf>,
    /// How far apart the apps' clocks and the capture's may be when joining by time.
    #[arg(long, default_value_t = 2000)]
    pub correlation_window_ms: u64,
    /// Threads that replay each file, each reading all of it and taking its share of the flows
    /// (by address pair); this thread writes the spans. Spans of different flows may then come
    /// out in a different order each run, and --max-flows applies to each worker.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub workers: u16,
    /// Build and count every span but write none: the pipeline without its OTLP/JSON encoding,
    /// for measuring (benches/compare.sh).
    #[arg(long, conflicts_with_all = ["output", "otel", "export", "print"])]
    pub discard: bool,
    #[command(flatten)]
    pub export: ExportArgs,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Also send every span to this OTLP endpoint: `http://host:4318/v1/traces` (OTLP/HTTP
    /// protobuf) or `grpc://host:4317` (OTLP/gRPC).
    #[arg(long, value_name = "URL")]
    pub export: Option<String>,
    /// Do not gzip OTLP/HTTP export bodies.
    #[arg(long)]
    pub export_no_gzip: bool,
    /// Seconds one export batch is retried (429/5xx/unavailable) before it is dropped.
    #[arg(long, default_value_t = 60.0, value_parser = seconds)]
    pub export_max_retry_s: f64,
    /// Seconds the exporter may keep sending once there is nothing new to send.
    #[arg(long, default_value_t = 30.0, value_parser = seconds)]
    pub export_grace_s: f64,
    /// Seconds one export request may take (an endpoint that hangs is retried after this).
    #[arg(long, default_value_t = 10.0, value_parser = seconds)]
    pub export_timeout_s: f64,
    /// Spans waiting for the endpoint (about 1 KiB each) before new ones are dropped, counted.
    #[arg(long, default_value_t = 65_536)]
    pub export_queue_spans: u64,
}

impl ExportArgs {
    fn config(&self) -> Option<ExporterConfig> {
        Some(ExporterConfig {
            endpoint: self.export.clone()?,
            gzip: !self.export_no_gzip,
            max_elapsed: Duration::from_secs_f64(self.export_max_retry_s),
            timeout: Duration::from_secs_f64(self.export_timeout_s),
            max_queued_spans: self.export_queue_spans,
            ..Default::default()
        })
    }
}

/// Sends everything to the exporter and waits for it to finish (within its grace period);
/// returns the number of spans that could not be delivered.
fn export_all(args: &ExportArgs, groups: Vec<otlp::ResourceSpans>) -> anyhow::Result<u64> {
    let Some(mut cfg) = args.config() else {
        return Ok(0);
    };
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
    let grace = Duration::from_secs_f64(args.export_grace_s);
    let stats = runtime.block_on(async move {
        let (exporter, task) = export::start(cfg, grace).map_err(|e| anyhow::anyhow!(e))?;
        for g in groups {
            exporter.send(g);
        }
        let stats = Arc::clone(&exporter.stats);
        drop(exporter);
        task.await?;
        anyhow::Ok(stats)
    })?;
    say!("wirespan: export: {}", stats.summary());
    let l = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    Ok(l(&stats.spans_dropped_queue_full)
        + l(&stats.spans_dropped_after_retries)
        + l(&stats.spans_dropped_rejected)
        + l(&stats.spans_dropped_at_shutdown))
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

pub fn run(cli: Cli) -> i32 {
    let result = match cli.command {
        Command::Replay(args) => replay(&args),
        Command::Capture(args) => capture(&args),
        Command::Receive(args) => receive(&args),
        Command::Show(args) => show_traces(&args),
        Command::Config(args) => print_config(&args),
    };
    match result {
        Ok(code) => code,
        // The reader of the output went away (`wirespan replay … | head`): a normal end.
        Err(e) if is_broken_pipe(&e) => 0,
        Err(e) => {
            say!("wirespan: {e}");
            1
        }
    }
}

/// A number of seconds: finite, not negative, at most a year.
fn seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if (0.0..=31_536_000.0).contains(&s) => Ok(s),
        Ok(_) => Err("must be between 0 and 31536000 seconds".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn say_undelivered(spans: u64) {
    if spans > 0 {
        say!("wirespan: {spans} spans could not be delivered to the export endpoint");
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Raised by SIGINT/SIGTERM (or `--duration`): readers stop, everything in flight drains.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn open_output(path: &str) -> anyhow::Result<Box<dyn Write + Send>> {
    Ok(if path == "-" {
        Box::new(io::stdout())
    } else {
        Box::new(File::create(path).map_err(|e| anyhow::anyhow!("cannot create {path}: {e}"))?)
    })
}

fn receive(args: &ReceiveArgs) -> anyhow::Result<i32> {
    let cfg = args.listen.config()?;
    let out = open_output(&args.output)?;
    let mut writer = OtlpJsonWriter::new(
        BufWriter::with_capacity(1 << 16, out),
        Resource {
            host_name: host_name(),
        },
    );
    let stats = Arc::new(ReceiverStats::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let duration = args.duration;
    let result = runtime.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<otlp::ResourceSpans>>(1024);
        let shutdown = async move {
            let ctrl_c = tokio::signal::ctrl_c();
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(t) => t,
                    Err(_) => return,
                };
            let timeout = async {
                match duration {
                    Some(d) => tokio::time::sleep(Duration::from_secs_f64(d)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
                _ = timeout => {}
            }
        };
        let bound = receiver::bind(&cfg)?;
        let server = tokio::spawn(receiver::serve(bound, tx, Arc::clone(&stats), shutdown));
        // Listening (or failed to bind) before saying so.
        tokio::time::sleep(Duration::from_millis(100)).await;
        if server.is_finished() {
            return server
                .await
                .map_err(anyhow::Error::from)?
                .map_err(anyhow::Error::from);
        }
        say!("wirespan: receiving OTLP");
        while let Some(batch) = rx.recv().await {
            writer.write_resource_spans(batch)?;
            writer.flush()?;
        }
        server
            .await
            .map_err(anyhow::Error::from)?
            .map_err(anyhow::Error::from)
    });
    result?;
    writer.flush()?;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    say!(
        "wirespan: {} OTLP requests, {} spans received, {} rejected (queue full), {} bad requests, {} too large",
        load(&stats.requests),
        load(&stats.spans_accepted),
        load(&stats.spans_rejected_queue_full),
        load(&stats.bad_requests),
        load(&stats.too_large)
    );
    Ok(0)
}

fn capture(args: &CaptureArgs) -> anyhow::Result<i32> {
    let any = args.interface.iter().any(|i| i == "any");
    if any && args.interface.len() > 1 {
        anyhow::bail!("-i any already covers every interface; name no others with it");
    }
    let expr = args.filter.join(" ");
    let filter = if expr.trim().is_empty() {
        None
    } else {
        let dlt = if any { bpf::DLT_RAW } else { bpf::DLT_EN10MB };
        Some(bpf::compile(&expr, dlt).map_err(|e| anyhow::anyhow!(e))?)
    };
    if args.dump_filter {
        let mut out = io::stdout().lock();
        match &filter {
            Some(f) => {
                for line in &f.listing {
                    writeln!(out, "{line}")?;
                }
            }
            None => writeln!(out, "(000) ret      #262144")?,
        }
        return Ok(0);
    }
    let threads = args.threads.max(1);
    let mut pcfg = PipelineConfig::default();
    pcfg.flows.max_flows = args.max_flows;
    let cfg = LiveConfig {
        interfaces: args.interface.clone(),
        threads,
        cpus: args.cpus.clone(),
        ring: RingConfig {
            block_size: args.block_size,
            block_count: args.block_count,
            frame_size: 2048,
            block_timeout_ms: args.block_timeout_ms,
        },
        promiscuous: args.promisc,
        filter: filter.map(|f| f.instructions),
        queue_frames: 16_384,
        queue_spans: 65_536,
        pipeline: pcfg,
    };
    // Everything that can fail does so here, before any thread starts.
    let rings = live::open_rings(&cfg).map_err(|e| anyhow::anyhow!(e))?;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let resource = Resource {
        host_name: args.host_name.clone().unwrap_or_else(host_name),
    };
    let shared: live::SharedCounters = Arc::new(Mutex::new(Vec::new()));
    say!(
        "wirespan: capturing on {} with {threads} thread(s){}",
        args.interface.join(","),
        if expr.is_empty() {
            String::new()
        } else {
            format!(", filter '{expr}'")
        }
    );
    let started = Instant::now();
    let run_shared = Arc::clone(&shared);
    // Everything privileged happens now: listeners bound, output opened; then privileges go,
    // before any further thread starts (capabilities are per thread; new threads inherit them).
    let bound = if args.otlp {
        Some(receiver::bind(&args.listen.config()?)?)
    } else {
        None
    };
    let writer = OtlpJsonWriter::new(
        BufWriter::with_capacity(1 << 16, open_output(&args.output)?),
        resource.clone(),
    );
    let metrics_listener = match args.metrics_listen {
        Some(addr) => Some(
            std::net::TcpListener::bind(addr)
                .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {addr}: {e}"))?,
        ),
        None => None,
    };
    privileges::drop_privileges(args.user.as_deref()).map_err(|e| anyhow::anyhow!(e))?;
    // With app spans to join or an endpoint to feed, spans go through the agent.
    let (agent, direct) = if args.otlp || args.export.export.is_some() {
        let agent = agent::start(
            AgentConfig {
                receiver: bound,
                exporter: args.export.config(),
                export_grace: Duration::from_secs_f64(args.export.export_grace_s),
                window: CorrelationConfig {
                    window_ns: args.correlation_window_ms * 1_000_000,
                },
                max_spans: args.correlation_max_spans,
                host_name: resource.host_name.clone(),
            },
            writer,
        )?;
        (Some(agent), None)
    } else {
        (None, Some(writer))
    };
    let span_metrics = Arc::new(metrics::SpanMetrics::default());
    if let Some(listener) = metrics_listener {
        let sources = metrics::Sources {
            workers: Some(Arc::clone(&shared)),
            correlation: agent.as_ref().map(|a| Arc::clone(&a.counters)),
            spans: Arc::clone(&span_metrics),
            receiver: agent.as_ref().and_then(|a| a.receiver.clone()),
            export: agent.as_ref().and_then(|a| a.export.clone()),
        };
        metrics::serve(listener, sources)?;
    }
    let to_agent = agent.as_ref().map(|a| a.network.clone());
    let worker = std::thread::spawn(move || -> anyhow::Result<(Counters, u64)> {
        let mut direct = direct;
        let mut handed = 0u64;
        let mut dropped = 0u64;
        let mut totals = live::run(&cfg, rings, &STOP, run_shared, |span| {
            span_metrics.observe(&span);
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
        if args
            .duration
            .is_some_and(|d| started.elapsed().as_secs_f64() >= d)
        {
            STOP.store(true, Ordering::SeqCst);
        }
        if let Some(every) = args.stats_interval {
            if last_stats.elapsed().as_secs_f64() >= every {
                last_stats = Instant::now();
                let mut now = Counters::default();
                if let Ok(all) = shared.lock() {
                    all.iter().for_each(|c| now.merge(c));
                }
                say!("wirespan: after {:.1} s", started.elapsed().as_secs_f64());
                say_raw!("{now}");
            }
        }
    }
    let (mut totals, mut written) = worker
        .join()
        .map_err(|_| anyhow::anyhow!("the capture thread panicked"))??;
    let mut undelivered = 0;
    if let Some(agent) = agent {
        let report = agent.finish()?;
        totals.merge(&report.stats);
        written = report.written;
        if let Some(r) = &report.receiver {
            let l = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
            say!(
                "wirespan: OTLP in: {} requests, {} spans received, {} rejected (queue full), {} bad requests, {} too large",
                l(&r.requests),
                l(&r.spans_accepted),
                l(&r.spans_rejected_queue_full),
                l(&r.bad_requests),
                l(&r.too_large)
            );
        }
        if let Some(e) = &report.export {
            say!("wirespan: export: {}", e.summary());
            let l = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
            undelivered = l(&e.spans_dropped_queue_full)
                + l(&e.spans_dropped_after_retries)
                + l(&e.spans_dropped_rejected)
                + l(&e.spans_dropped_at_shutdown);
        }
    }
    let target = if args.output == "-" {
        "standard output"
    } else {
        args.output.as_str()
    };
    say!(
        "wirespan: {} packets ({} bytes), {} kernel drops, {} queue drops, {} flows → {written} spans written to {target} in {:.1} s",
        totals.packets,
        totals.bytes,
        totals.kernel_drops,
        totals.queue_drops,
        totals.flows_created,
        started.elapsed().as_secs_f64()
    );
    if args.stats {
        say_raw!("{totals}");
    }
    say_undelivered(undelivered);
    Ok(if undelivered > 0 { 1 } else { 0 })
}

/// A progress line on standard error while files are replayed: bytes read of the total,
/// packets per second, spans so far. Only on a terminal (and not under `--print`).
struct Progress {
    on: bool,
    total: u64,
    done_before: u64,
    started: Instant,
    last: Instant,
    shown: bool,
}

impl Progress {
    fn new(files: &[PathBuf], on: bool) -> Progress {
        let total = files
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum();
        let now = Instant::now();
        Progress {
            on,
            total,
            done_before: 0,
            started: now,
            last: now,
            shown: false,
        }
    }

    fn show(&mut self, offset: u64, stats: &Counters) {
        if !self.on || self.last.elapsed() < Duration::from_millis(200) {
            return;
        }
        self.last = Instant::now();
        let done = self.done_before + offset;
        let fraction = (done as f64 / self.total.max(1) as f64).clamp(0.0, 1.0);
        let width = 24;
        let filled = (fraction * width as f64) as usize;
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        say_raw!(
            "\r\x1b[K[{}{}] {:>3.0}%  {:.1}/{:.1} MB  {:.0} packets/s  {} spans",
            "#".repeat(filled),
            ".".repeat(width - filled),
            fraction * 100.0,
            done as f64 / 1e6,
            self.total as f64 / 1e6,
            stats.packets as f64 / secs,
            stats.spans
        );
        self.shown = true;
    }

    fn file_done(&mut self, path: &PathBuf) {
        self.done_before += std::fs::metadata(path).map_or(0, |m| m.len());
    }

    /// Takes the line away before anything else is said.
    fn clear(&mut self) {
        if std::mem::take(&mut self.shown) {
            say_raw!("\r\x1b[K");
        }
    }
}

fn print_config(args: &ConfigArgs) -> anyhow::Result<i32> {
    use clap::CommandFactory;
    if !args.print_default {
        say!("wirespan: config: say what to do (--print-default)");
        return Ok(2);
    }
    let text = config::default_file(&Cli::command());
    io::stdout().lock().write_all(text.as_bytes())?;
    Ok(0)
}

fn show_traces(args: &ShowArgs) -> anyhow::Result<i32> {
    use std::io::Read;
    let mut groups = Vec::new();
    for path in &args.files {
        if path.as_os_str() == "-" {
            let mut bytes = Vec::new();
            io::stdin().lock().read_to_end(&mut bytes)?;
            groups.extend(
                otlp::decode_json_lines(&bytes, "standard input")
                    .map_err(|e| anyhow::anyhow!(e))?,
            );
        } else {
            groups.extend(otlp::read_path(path).map_err(|e| anyhow::anyhow!(e))?);
        }
    }
    let filter = show::Filter {
        trace_id: args.trace_id.clone(),
        service: args.service.clone(),
        path: args.path.clone(),
        min_duration_ns: (args.min_duration_ms * 1e6) as u64,
        errors_only: args.errors,
    };
    let style = show::Style {
        bar_width: args.bar_width.clamp(1, 1000),
        color: match args.color.as_str() {
            "always" => true,
            "never" => false,
            _ => io::stdout().is_terminal(),
        },
    };
    if let Some(path) = &args.html {
        std::fs::write(path, show::html::page(&groups, &filter))
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    let text = show::render(&groups, &filter, style);
    io::stdout().lock().write_all(text.as_bytes())?;
    Ok(if text.is_empty() { 1 } else { 0 })
}

fn replay(args: &ReplayArgs) -> anyhow::Result<i32> {
    let mut cfg = PipelineConfig::default();
    if !args.vxlan_ports.is_empty() {
        cfg.decode.vxlan_ports = args.vxlan_ports.clone();
    }
    if !args.geneve_ports.is_empty() {
        cfg.decode.geneve_ports = args.geneve_ports.clone();
    }
    cfg.flows.max_flows = args.max_flows;
    cfg.flows.max_ooo_bytes = args.max_reassembly_bytes;
    let sink: Box<dyn Write> = if args.output == "-" {
        Box::new(io::stdout().lock())
    } else {
        let f = File::create(&args.output)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", args.output))?;
        Box::new(f)
    };
    let resource = Resource {
        host_name: args.host_name.clone().unwrap_or_else(host_name),
    };
    let writer_host = resource.host_name.clone();
    let mut writer = OtlpJsonWriter::new(BufWriter::with_capacity(1 << 16, sink), resource);
    let mut pipeline = Pipeline::new(cfg);
    pipeline.replay_workers = usize::from(args.workers);
    let mut failures = 0;
    let started = std::time::Instant::now();
    let correlating = !args.otel.is_empty();
    // Correlating and exporting both work on the whole run's spans.
    let collecting = correlating || args.export.export.is_some();
    let mut apps = Vec::new();
    for path in &args.otel {
        apps.extend(otlp::read_path(path).map_err(|e| anyhow::anyhow!(e))?);
    }
    // Correlation needs every span of the run; without it spans stream straight out.
    let mut network = Vec::new();
    let mut progress = Progress::new(&args.files, !args.print && io::stderr().is_terminal());
    for path in &args.files {
        // Correlated runs print whole traces at the end instead.
        let print = args.print && !correlating;
        let mut sink = |span: NetworkSpan| {
            if print {
                print_span(&span)?;
            }
            if collecting {
                network.push(otlp::to_proto(&span));
                Ok(())
            } else if args.discard {
                Ok(())
            } else {
                writer.push(&span)
            }
        };
        let result =
            pipeline.replay_file_with_progress(path, &mut sink, &mut |offset, stats| {
                progress.show(offset, stats)
            })?;
        progress.file_done(path);
        if let Err(e) = result {
            progress.clear();
            say!("wirespan: {e}");
            failures += 1;
        }
    }
    progress.clear();
    let mut undelivered = 0;
    if collecting {
        if correlating {
            let ccfg = CorrelationConfig {
                window_ns: args.correlation_window_ms * 1_000_000,
            };
            pipeline.stats.correlation_app_spans += apps
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len() as u64)
                .sum::<u64>();
            correlate::correlate(ccfg, &mut network, &[], &mut apps, &mut pipeline.stats);
        }
        for chunk in apps.chunks(64) {
            writer.write_resource_spans(chunk.to_vec())?;
        }
        let mut groups = apps;
        for chunk in network.chunks(256) {
            groups.push(otlp::ResourceSpans {
                resource: Some(otlp::agent_resource(&writer_host)),
                scope_spans: vec![otlp::ScopeSpans {
                    scope: Some(otlp::agent_scope()),
                    spans: chunk.to_vec(),
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
        if args.print && correlating {
            write!(io::stderr().lock(), "{}", show::trees(&groups))?;
        }
        for span in &network {
            writer.push_proto(span)?;
        }
        writer.flush()?;
        undelivered = export_all(&args.export, groups)?;
    }
    writer.flush()?;
    let elapsed = started.elapsed();
    let s = &pipeline.stats;
    let (written, target) = if args.discard {
        (s.spans, "nowhere (--discard)")
    } else if args.output == "-" {
        (writer.written, "standard output")
    } else {
        (writer.written, args.output.as_str())
    };
    say!(
        "wirespan: {} packets ({} bytes) in {} file(s), {} flows → {} spans written to {} in {:.3} s",
        s.packets,
        s.bytes,
        args.files.len(),
        s.flows_created,
        written,
        target,
        elapsed.as_secs_f64()
    );
    if args.stats {
        say_raw!("{s}");
    }
    say_undelivered(undelivered);
    Ok(if failures > 0 || undelivered > 0 {
        1
    } else {
        0
    })
}

/// `  12.345 ms  GET /index.html  200  client  pcap:x.pcap#0  vxlan:42,…`
fn print_span(span: &NetworkSpan) -> io::Result<()> {
    let text = |k: &str| match span.attr(k) {
        Some(AttrValue::Str(s)) => s.to_string(),
        Some(AttrValue::Int(i)) => i.to_string(),
        Some(AttrValue::Bool(b)) => b.to_string(),
        None => String::new(),
    };
    let status = text("http.response.status_code");
    let tunnel = text("wirespan.tunnel");
    let trace: String = span
        .trace_id
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect();
    writeln!(
        io::stderr().lock(),
        "{trace}… {:>9.3} ms  {:<30} {:>4}  {:<7} {}:{} → {}:{}  {} {}",
        span.end_ns.saturating_sub(span.start_ns) as f64 / 1e6,
        span.name,
        status,
        text("wirespan.tap_side"),
        text("client.address"),
        text("client.port"),
        text("server.address"),
        text("server.port"),
        text("wirespan.capture.point"),
        tunnel,
    )
}

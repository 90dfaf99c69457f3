//! The command line.
//!
//! Takes arguments (under the config file and `WIRESPAN_*` variables); turns them into a job
//! of [`crate::job`], runs it, says what it did on standard error and returns the process exit
//! code: 0 when every file was read to its end and every span delivered, 1 when a file was
//! damaged or missing (its spans up to the damage are still written) or spans could not be
//! delivered, 2 for usage errors (from clap).

use crate::capture::ring::RingConfig;
use crate::capture::CaptureError;
use crate::config;
use crate::correlate::CorrelationConfig;
use crate::job::capture::{CaptureJob, CaptureObserver};
use crate::job::receive::ReceiveJob;
use crate::job::replay::{ReplayJob, ReplayObserver};
use crate::job::{self, Destination, ExportJob};
use crate::metrics::MetricsFormat;
use crate::otlp;
use crate::otlp::export::ExporterConfig;
use crate::otlp::receiver::ReceiverConfig;
use crate::pipeline::PipelineConfig;
use crate::show;
use crate::span::{AttrValue, NetworkSpan};
use crate::stats::Counters;
use clap::{Args, Parser, Subcommand};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
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
    /// Also write the traces and the service map as one self-contained HTML page (zoomable,
    /// details on click; `FILE#map` opens the map).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Print the service map instead of the traces: one line per caller → server and
    /// protocol, with calls, errors and server-side p50/p95/p99 latency.
    #[arg(long)]
    pub map: bool,
    /// Tell the ends of network calls by address and port, not by service or process name.
    #[arg(long)]
    pub addresses: bool,
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
    /// Milliseconds after which the kernel hands over a block that is not full: at low rates
    /// how late a packet is seen (the owner of a short connection's socket is looked up when
    /// its SYN is seen, while the socket still exists); at high rates blocks fill first.
    #[arg(long, default_value_t = 10)]
    pub block_timeout_ms: u32,
    /// The `host.name` resource attribute (default: this machine's hostname).
    #[arg(long)]
    pub host_name: Option<String>,
    /// Most TCP flows tracked at once per worker.
    #[arg(long, default_value_t = 262_144)]
    pub max_flows: usize,
    /// Redis: put every argument of a command in `db.query.text` as sent (by default all but
    /// the first, the key for most commands, are `?`).
    #[arg(long)]
    pub redis_values: bool,
    /// UDP ports read as DNS, either end (replaces the default 53; DNS over TCP is recognised
    /// on any port).
    #[arg(long = "dns-port", value_name = "PORT")]
    pub dns_ports: Vec<u16>,
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
    /// With --export: seconds between pushes of the service-graph metrics to the same endpoint
    /// (`/v1/metrics` beside `/v1/traces`, or the gRPC MetricsService), and once at the end;
    /// 0 for none.
    #[arg(long, default_value_t = 10.0, value_parser = seconds)]
    pub export_metrics_interval_s: f64,
    /// Do not name the processes that own the calls' sockets on this host
    /// (`wirespan.{client,server}.process.*`). Naming holds spans in the correlation window while
    /// the lookups run (a thread of its own keeps CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE to read
    /// /proc/<pid>/fd); without it, and without --otlp, --export or --metrics-listen, spans are
    /// written as they are made.
    #[arg(long)]
    pub no_process_names: bool,
    /// A TLS key log (NSS format, as SSLKEYLOGFILE writes it), followed as it grows: the
    /// calls inside TLS connections whose secrets it has are read like cleartext ones.
    #[arg(long, value_name = "FILE")]
    pub tls_keylog: Option<PathBuf>,
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
    /// Redis: put every argument of a command in `db.query.text` as sent (by default all but
    /// the first, the key for most commands, are `?`).
    #[arg(long)]
    pub redis_values: bool,
    /// UDP ports read as DNS, either end (replaces the default 53; DNS over TCP is recognised
    /// on any port).
    #[arg(long = "dns-port", value_name = "PORT")]
    pub dns_ports: Vec<u16>,
    /// Apps' spans to correlate with: OTLP/JSON lines files, protobuf bodies (.pb), or
    /// directories of them. The output is then one trace per call: app → network → app.
    #[arg(long = "otel", value_name = "PATH")]
    pub otel: Vec<PathBuf>,
    /// How far apart the apps' clocks and the capture's may be when joining by time.
    #[arg(long, default_value_t = 2000)]
    pub correlation_window_ms: u64,
    /// Threads that replay each file, each reading all of it and taking its share of the flows
    /// (by connection; each reassembles every fragment); this thread writes the spans. Spans of different flows may then come
    /// out in a different order each run, and --max-flows applies to each worker.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub workers: u16,
    /// Build and count every span but write none: the pipeline without its OTLP/JSON encoding,
    /// for measuring (benches/compare.sh).
    #[arg(long, conflicts_with_all = ["output", "otel", "export", "print"])]
    pub discard: bool,
    /// Write the run's service-graph and per-endpoint metrics to this file (calls counted
    /// once however many capture points saw them, ends named as in the spans).
    #[arg(long, value_name = "FILE")]
    pub metrics_out: Option<PathBuf>,
    /// How --metrics-out is written: `otlp-json` (one ExportMetricsServiceRequest line) or
    /// `prometheus` (the text exposition).
    #[arg(long, value_enum, default_value_t = MetricsFormatArg::OtlpJson)]
    pub metrics_format: MetricsFormatArg,
    /// A TLS key log (NSS format, as SSLKEYLOGFILE writes it): the calls inside TLS
    /// connections whose secrets it has are read like cleartext ones (a pcapng file's own
    /// Decryption Secrets Blocks are read without it).
    #[arg(long, value_name = "FILE")]
    pub tls_keylog: Option<PathBuf>,
    #[command(flatten)]
    pub export: ExportArgs,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum MetricsFormatArg {
    OtlpJson,
    Prometheus,
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
    fn job(&self) -> Option<ExportJob> {
        let exporter = ExporterConfig {
            endpoint: self.export.clone()?,
            gzip: !self.export_no_gzip,
            max_elapsed: Duration::from_secs_f64(self.export_max_retry_s),
            timeout: Duration::from_secs_f64(self.export_timeout_s),
            max_queued_spans: self.export_queue_spans,
            ..Default::default()
        };
        Some(ExportJob {
            exporter,
            grace: Duration::from_secs_f64(self.export_grace_s),
        })
    }
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

fn receive(args: &ReceiveArgs) -> anyhow::Result<i32> {
    let job = ReceiveJob {
        listen: args.listen.config()?,
        output: Destination::from_arg(&args.output),
        host_name: job::host_name(),
        duration: args.duration.map(Duration::from_secs_f64),
    };
    let stats = job::receive::run(&job, &mut || say!("wirespan: receiving OTLP"))?;
    say!("wirespan: {}", stats.summary());
    Ok(0)
}

impl CaptureArgs {
    fn job(&self) -> anyhow::Result<CaptureJob> {
        let mut pipeline = PipelineConfig::default();
        pipeline.flows.max_flows = self.max_flows;
        pipeline.flows.parsers.redis_values = self.redis_values;
        if !self.dns_ports.is_empty() {
            pipeline.dns_ports = self.dns_ports.clone();
        }
        Ok(CaptureJob {
            interfaces: self.interface.clone(),
            filter: self.filter.join(" "),
            threads: self.threads.max(1),
            cpus: self.cpus.clone(),
            ring: RingConfig {
                block_size: self.block_size,
                block_count: self.block_count,
                frame_size: 2048,
                block_timeout_ms: self.block_timeout_ms,
            },
            promiscuous: self.promisc,
            pipeline,
            output: Destination::from_arg(&self.output),
            host_name: self.host_name.clone().unwrap_or_else(job::host_name),
            duration: self.duration.map(Duration::from_secs_f64),
            stats_interval: self.stats_interval.map(Duration::from_secs_f64),
            user: self.user.clone(),
            receiver: if self.otlp {
                Some(self.listen.config()?)
            } else {
                None
            },
            export: self.export.job(),
            correlation: CorrelationConfig {
                window_ns: self.correlation_window_ms * 1_000_000,
            },
            correlation_max_spans: self.correlation_max_spans,
            metrics_listen: self.metrics_listen,
            metrics_push_interval: (self.export_metrics_interval_s > 0.0)
                .then(|| Duration::from_secs_f64(self.export_metrics_interval_s)),
            process_names: !self.no_process_names,
            tls_keylog: self.tls_keylog.clone(),
        })
    }
}

/// Says what a live capture is doing, on standard error.
struct CaptureSay;

impl CaptureObserver for CaptureSay {
    fn capturing(&mut self, job: &CaptureJob) {
        say!(
            "wirespan: capturing on {} with {} thread(s){}",
            job.interfaces.join(","),
            job.threads,
            if job.filter.is_empty() {
                String::new()
            } else {
                format!(", filter '{}'", job.filter)
            }
        );
    }

    fn counters(&mut self, elapsed: Duration, stats: &Counters) {
        say!("wirespan: after {:.1} s", elapsed.as_secs_f64());
        say_raw!("{stats}");
    }
}

fn capture(args: &CaptureArgs) -> anyhow::Result<i32> {
    let job = args.job()?;
    if args.dump_filter {
        let mut out = io::stdout().lock();
        match job::capture::filter(&job)? {
            Some(f) => {
                for line in &f.listing {
                    writeln!(out, "{line}")?;
                }
            }
            None => writeln!(out, "(000) ret      #262144")?,
        }
        return Ok(0);
    }
    let report = job::capture::run(&job, &mut CaptureSay)?;
    if let Some(r) = &report.receiver {
        say!("wirespan: OTLP in: {}", r.summary());
    }
    if let Some(m) = &report.metrics_export {
        say!("wirespan: metrics push: {}", m.summary());
    }
    if let Some(e) = &report.export {
        say!("wirespan: export: {}", e.summary());
    }
    let s = &report.stats;
    say!(
        "wirespan: {} packets ({} bytes), {} kernel drops, {} queue drops, {} flows → {} spans written to {} in {:.1} s",
        s.packets,
        s.bytes,
        s.kernel_drops,
        s.queue_drops,
        s.flows_created,
        report.written,
        job.output.describe(),
        report.elapsed.as_secs_f64()
    );
    if args.stats {
        say_raw!("{s}");
    }
    say_undelivered(report.undelivered());
    Ok(report.exit_code())
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

    fn file_done(&mut self, path: &Path) {
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
    let ends = if args.addresses {
        show::Ends::Addresses
    } else {
        show::Ends::Names
    };
    let style = show::Style {
        ends,
        bar_width: args.bar_width.clamp(1, 1000),
        color: match args.color.as_str() {
            "always" => true,
            "never" => false,
            _ => io::stdout().is_terminal(),
        },
    };
    if let Some(path) = &args.html {
        std::fs::write(path, show::html::page(&groups, &filter, ends))
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    let text = if args.map {
        let edges = show::map_edges(&groups, ends);
        if edges.is_empty() {
            String::new()
        } else {
            show::map::render(&edges)
        }
    } else {
        show::render(&groups, &filter, style)
    };
    io::stdout().lock().write_all(text.as_bytes())?;
    Ok(if text.is_empty() { 1 } else { 0 })
}

impl ReplayArgs {
    fn job(&self) -> ReplayJob {
        let mut pipeline = PipelineConfig::default();
        if !self.vxlan_ports.is_empty() {
            pipeline.decode.vxlan_ports = self.vxlan_ports.clone();
        }
        if !self.geneve_ports.is_empty() {
            pipeline.decode.geneve_ports = self.geneve_ports.clone();
        }
        pipeline.flows.max_flows = self.max_flows;
        pipeline.flows.max_ooo_bytes = self.max_reassembly_bytes;
        pipeline.flows.parsers.redis_values = self.redis_values;
        if !self.dns_ports.is_empty() {
            pipeline.dns_ports = self.dns_ports.clone();
        }
        ReplayJob {
            files: self.files.clone(),
            pipeline,
            workers: usize::from(self.workers),
            output: (!self.discard).then(|| Destination::from_arg(&self.output)),
            host_name: self.host_name.clone().unwrap_or_else(job::host_name),
            otel: self.otel.clone(),
            correlation: CorrelationConfig {
                window_ns: self.correlation_window_ms * 1_000_000,
            },
            export: self.export.job(),
            metrics_out: self.metrics_out.clone().map(|path| {
                let format = match self.metrics_format {
                    MetricsFormatArg::OtlpJson => MetricsFormat::OtlpJson,
                    MetricsFormatArg::Prometheus => MetricsFormat::Prometheus,
                };
                (path, format)
            }),
            tls_keylog: self.tls_keylog.clone(),
        }
    }
}

/// Says what a replay is doing, on standard error: progress on a terminal, files that broke
/// off, and with `--print` every span (or, correlated, every trace).
struct ReplaySay {
    progress: Progress,
    print: bool,
}

impl ReplayObserver for ReplaySay {
    fn progress(&mut self, offset: u64, stats: &Counters) {
        self.progress.show(offset, stats);
    }

    fn file_done(&mut self, path: &Path) {
        self.progress.file_done(path);
    }

    fn file_failed(&mut self, error: &CaptureError) {
        self.progress.clear();
        say!("wirespan: {error}");
    }

    fn span(&mut self, span: &NetworkSpan) -> io::Result<()> {
        if self.print {
            print_span(span)?;
        }
        Ok(())
    }

    fn traces(&mut self, groups: &[otlp::ResourceSpans]) -> io::Result<()> {
        self.progress.clear();
        if self.print {
            write!(io::stderr().lock(), "{}", show::trees(groups))?;
        }
        Ok(())
    }
}

fn replay(args: &ReplayArgs) -> anyhow::Result<i32> {
    let job = args.job();
    let mut observer = ReplaySay {
        progress: Progress::new(&args.files, !args.print && io::stderr().is_terminal()),
        print: args.print,
    };
    let result = job::replay::run(&job, &mut observer);
    observer.progress.clear();
    let report = result?;
    if let Some(e) = &report.export {
        say!("wirespan: export: {}", e.summary());
    }
    let s = &report.stats;
    let target = match &job.output {
        Some(destination) => destination.describe(),
        None => "nowhere (--discard)",
    };
    say!(
        "wirespan: {} packets ({} bytes) in {} file(s), {} flows → {} spans written to {} in {:.3} s",
        s.packets,
        s.bytes,
        report.files,
        s.flows_created,
        report.written,
        target,
        report.elapsed.as_secs_f64()
    );
    if args.stats {
        say_raw!("{s}");
    }
    say_undelivered(report.undelivered());
    Ok(report.exit_code())
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

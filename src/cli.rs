//! The command line.
//!
//! Takes arguments; runs `wirespan replay` and returns the process exit code: 0 when every file
//! was read to its end, 1 when a file was damaged or missing (its spans up to the damage are
//! still written), 2 for usage errors (from clap).

use crate::output::{OtlpJsonWriter, Resource};
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::span::{AttrValue, NetworkSpan};
use clap::{Args, Parser, Subcommand};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "wirespan",
    version,
    about = "Turns packets on the wire into OpenTelemetry network spans"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Replay pcap/pcapng files and write one network span per call per capture point.
    Replay(ReplayArgs),
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
    match cli.command {
        Command::Replay(args) => match replay(&args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("wirespan: {e}");
                1
            }
        },
    }
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
    let mut writer = OtlpJsonWriter::new(BufWriter::with_capacity(1 << 16, sink), resource);
    let mut pipeline = Pipeline::new(cfg);
    let mut failures = 0;
    let started = std::time::Instant::now();
    for path in &args.files {
        let print = args.print;
        let result = pipeline.replay_file(path, &mut |span| {
            if print {
                print_span(&span);
            }
            writer.push(span)
        })?;
        if let Err(e) = result {
            eprintln!("wirespan: {e}");
            failures += 1;
        }
    }
    writer.flush()?;
    let elapsed = started.elapsed();
    let s = &pipeline.stats;
    let target = if args.output == "-" {
        "standard output"
    } else {
        args.output.as_str()
    };
    eprintln!(
        "wirespan: {} packets ({} bytes) in {} file(s), {} flows → {} spans written to {} in {:.3} s",
        s.packets,
        s.bytes,
        args.files.len(),
        s.flows_created,
        writer.written,
        target,
        elapsed.as_secs_f64()
    );
    if args.stats {
        eprint!("{s}");
    }
    Ok(if failures > 0 { 1 } else { 0 })
}

/// `  12.345 ms  GET /index.html  200  client  pcap:x.pcap#0  vxlan:42,…`
fn print_span(span: &NetworkSpan) {
    let text = |k: &str| match span.attr(k) {
        Some(AttrValue::Str(s)) => s.clone(),
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
    eprintln!(
        "{trace}… {:>9.3} ms  {:<30} {:>4}  {:<7} {}:{} → {}:{}  {} {}",
        (span.end_ns - span.start_ns) as f64 / 1e6,
        span.name,
        status,
        text("wirespan.tap_side"),
        text("client.address"),
        text("client.port"),
        text("server.address"),
        text("server.port"),
        text("wirespan.capture.point"),
        tunnel,
    );
}

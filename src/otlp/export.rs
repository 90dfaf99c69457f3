//! The OTLP exporter: spans out to a collector or backend.
//!
//! Takes resource spans through a queue bounded in spans (full: dropped and counted, the caller
//! never waits); gives them to an OTLP/HTTP (protobuf, gzip optional) or OTLP/gRPC endpoint in
//! batches, retrying with exponential backoff on 429/502/503/504 (honouring Retry-After),
//! UNAVAILABLE/RESOURCE_EXHAUSTED and connection failures, for at most a set time per batch.
//! Every span ends up exported or counted as dropped, by reason. Once the senders are gone the
//! exporter has a grace period; when it runs out, an attempt in flight (a hung endpoint) or a
//! backoff is cut short and whatever is left is counted as dropped at shutdown.

use super::{ExportTraceServiceRequest, ResourceSpans};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

#[derive(Debug, Clone)]
pub struct ExporterConfig {
    /// `http://host:4318/v1/traces` (OTLP/HTTP) or `grpc://host:4317` (OTLP/gRPC).
    pub endpoint: String,
    pub gzip: bool,
    /// Spans per export request.
    pub batch_spans: usize,
    /// Spans waiting to be sent (about 1 KiB each) before new ones are dropped: the bound on
    /// the exporter's memory while the endpoint is down.
    pub max_queued_spans: u64,
    /// Time per attempt.
    pub timeout: Duration,
    /// How long one batch is retried before it is dropped.
    pub max_elapsed: Duration,
}

impl Default for ExporterConfig {
    fn default() -> Self {
        ExporterConfig {
            endpoint: "http://127.0.0.1:4318/v1/traces".into(),
            gzip: true,
            batch_spans: 512,
            max_queued_spans: 65_536,
            timeout: Duration::from_secs(10),
            max_elapsed: Duration::from_secs(60),
        }
    }
}

/// What became of every span given to the exporter.
#[derive(Debug, Default)]
pub struct ExportStats {
    pub spans_exported: AtomicU64,
    pub spans_dropped_queue_full: AtomicU64,
    pub spans_dropped_after_retries: AtomicU64,
    pub spans_dropped_rejected: AtomicU64,
    pub spans_dropped_at_shutdown: AtomicU64,
    pub requests: AtomicU64,
    pub retries: AtomicU64,
}

impl ExportStats {
    pub fn summary(&self) -> String {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "{} spans exported in {} requests ({} retries); dropped: {} queue full, {} after retries, {} rejected by the endpoint, {} at shutdown",
            l(&self.spans_exported),
            l(&self.requests),
            l(&self.retries),
            l(&self.spans_dropped_queue_full),
            l(&self.spans_dropped_after_retries),
            l(&self.spans_dropped_rejected),
            l(&self.spans_dropped_at_shutdown)
        )
    }

    /// Spans that never reached the endpoint, for whatever reason.
    pub fn undelivered(&self) -> u64 {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        l(&self.spans_dropped_queue_full)
            + l(&self.spans_dropped_after_retries)
            + l(&self.spans_dropped_rejected)
            + l(&self.spans_dropped_at_shutdown)
    }
}

fn count(rs: &[ResourceSpans]) -> u64 {
    rs.iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len() as u64)
        .sum()
}

/// The sending side of a running exporter. Dropping it starts the exporter's shutdown.
pub struct Exporter {
    tx: mpsc::UnboundedSender<ResourceSpans>,
    /// Spans sent and not yet taken into a batch; never above `max_queued_spans`.
    queued: Arc<AtomicU64>,
    max_queued_spans: u64,
    pub stats: Arc<ExportStats>,
    /// Closed when this is dropped: cuts short what the exporter is waiting on after the grace.
    _closing: tokio::sync::watch::Sender<()>,
}

impl Exporter {
    /// Queues spans; a full queue drops them (counted) instead of waiting.
    pub fn send(&self, rs: ResourceSpans) {
        let n = count(std::slice::from_ref(&rs));
        let room = self
            .queued
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| {
                (q + n <= self.max_queued_spans).then_some(q + n)
            })
            .is_ok();
        if !room {
            self.stats
                .spans_dropped_queue_full
                .fetch_add(n, Ordering::Relaxed);
        } else if self.tx.send(rs).is_err() {
            self.queued.fetch_sub(n, Ordering::Relaxed);
            self.stats
                .spans_dropped_at_shutdown
                .fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// What one attempt came to.
enum Attempt {
    Done,
    /// Worth trying again, after at least this long.
    Retry(Option<Duration>),
    Rejected(String),
}

enum Client {
    Http(reqwest::Client, String),
    Grpc(
        String,
        Option<TraceServiceClient<tonic::transport::Channel>>,
    ),
}

impl Client {
    async fn send(&mut self, req: &ExportTraceServiceRequest, cfg: &ExporterConfig) -> Attempt {
        match self {
            Client::Http(client, url) => {
                let mut body = req.encode_to_vec();
                let mut builder = client
                    .post(url.as_str())
                    .timeout(cfg.timeout)
                    .header("Content-Type", "application/x-protobuf");
                if cfg.gzip {
                    let mut gz =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    if gz.write_all(&body).is_ok() {
                        if let Ok(z) = gz.finish() {
                            body = z;
                            builder = builder.header("Content-Encoding", "gzip");
                        }
                    }
                }
                match builder.body(body).send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let after = resp
                            .headers()
                            .get("Retry-After")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .map(Duration::from_secs);
                        match status {
                            200..=299 => Attempt::Done,
                            429 | 502 | 503 | 504 => Attempt::Retry(after),
                            _ => Attempt::Rejected(format!("HTTP {status}")),
                        }
                    }
                    Err(_) => Attempt::Retry(None),
                }
            }
            Client::Grpc(uri, conn) => {
                if conn.is_none() {
                    let connect = TraceServiceClient::connect(uri.clone());
                    match tokio::time::timeout(cfg.timeout, connect).await {
                        Ok(Ok(c)) => *conn = Some(c),
                        _ => return Attempt::Retry(None),
                    }
                }
                let Some(c) = conn.as_mut() else {
                    return Attempt::Retry(None);
                };
                let mut request = tonic::Request::new(req.clone());
                request.set_timeout(cfg.timeout);
                match c.export(request).await {
                    Ok(_) => Attempt::Done,
                    Err(s) => match s.code() {
                        tonic::Code::Unavailable
                        | tonic::Code::ResourceExhausted
                        | tonic::Code::DeadlineExceeded
                        | tonic::Code::Aborted
                        | tonic::Code::Cancelled => {
                            *conn = None;
                            Attempt::Retry(None)
                        }
                        code => Attempt::Rejected(format!("gRPC {code:?}")),
                    },
                }
            }
        }
    }
}

/// Starts the exporter on the current tokio runtime. The returned future ends when every
/// `Exporter` is dropped and the queue is sent (or `shutdown_grace` after that, counting
/// what is left as dropped).
pub fn start(
    cfg: ExporterConfig,
    shutdown_grace: Duration,
) -> Result<(Exporter, tokio::task::JoinHandle<()>), String> {
    let client = if let Some(rest) = cfg.endpoint.strip_prefix("grpc://") {
        Client::Grpc(format!("http://{rest}"), None)
    } else if cfg.endpoint.starts_with("http://") {
        let c = reqwest::Client::builder()
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Client::Http(c, cfg.endpoint.clone())
    } else {
        return Err(format!(
            "export endpoint '{}' must start with http:// (OTLP/HTTP) or grpc:// (OTLP/gRPC)",
            cfg.endpoint
        ));
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let (closing_tx, closing) = tokio::sync::watch::channel(());
    let queued = Arc::new(AtomicU64::new(0));
    let stats = Arc::new(ExportStats::default());
    let exporter = Exporter {
        tx,
        queued: Arc::clone(&queued),
        max_queued_spans: cfg.max_queued_spans,
        stats: Arc::clone(&stats),
        _closing: closing_tx,
    };
    let queue = Queue { rx, queued };
    let task = tokio::spawn(run(cfg, client, queue, closing, stats, shutdown_grace));
    Ok((exporter, task))
}

/// The receiving side of the span queue.
struct Queue {
    rx: mpsc::UnboundedReceiver<ResourceSpans>,
    queued: Arc<AtomicU64>,
}

impl Queue {
    fn taken(&self, rs: &ResourceSpans) -> u64 {
        let n = count(std::slice::from_ref(rs));
        self.queued.fetch_sub(n, Ordering::Relaxed);
        n
    }
}

/// Resolves once the senders are gone and `grace` has passed since.
async fn shutdown_deadline(mut closing: tokio::sync::watch::Receiver<()>, grace: Duration) {
    while closing.changed().await.is_ok() {}
    tokio::time::sleep(grace).await;
}

async fn run(
    cfg: ExporterConfig,
    mut client: Client,
    mut queue: Queue,
    closing: tokio::sync::watch::Receiver<()>,
    stats: Arc<ExportStats>,
    shutdown_grace: Duration,
) {
    let mut closed_at: Option<Instant> = None;
    let out_of_time = shutdown_deadline(closing, shutdown_grace);
    tokio::pin!(out_of_time);
    loop {
        // Gather a batch: up to batch_spans, or whatever came within a second.
        let mut batch: Vec<ResourceSpans> = Vec::new();
        let mut spans = 0u64;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while spans < cfg.batch_spans as u64 {
            match tokio::time::timeout_at(deadline, queue.rx.recv()).await {
                Ok(Some(rs)) => {
                    spans += queue.taken(&rs);
                    batch.push(rs);
                }
                Ok(None) => {
                    closed_at.get_or_insert_with(Instant::now);
                    break;
                }
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            if closed_at.is_some() {
                return;
            }
            continue;
        }
        let req = ExportTraceServiceRequest {
            resource_spans: batch,
        };
        let started = Instant::now();
        let mut backoff = Duration::from_millis(100);
        loop {
            stats.requests.fetch_add(1, Ordering::Relaxed);
            let attempt = tokio::select! {
                a = client.send(&req, &cfg) => a,
                () = &mut out_of_time => {
                    stats.spans_dropped_at_shutdown.fetch_add(spans, Ordering::Relaxed);
                    return drop_the_rest(queue, &stats);
                }
            };
            match attempt {
                Attempt::Done => {
                    stats.spans_exported.fetch_add(spans, Ordering::Relaxed);
                    break;
                }
                Attempt::Rejected(why) => {
                    eprintln!("wirespan: the export endpoint refused {spans} spans: {why}");
                    stats
                        .spans_dropped_rejected
                        .fetch_add(spans, Ordering::Relaxed);
                    break;
                }
                Attempt::Retry(after) => {
                    let shutting_down = closed_at.is_some_and(|t| t.elapsed() >= shutdown_grace);
                    if shutting_down {
                        stats
                            .spans_dropped_at_shutdown
                            .fetch_add(spans, Ordering::Relaxed);
                        break;
                    }
                    if started.elapsed() >= cfg.max_elapsed {
                        stats
                            .spans_dropped_after_retries
                            .fetch_add(spans, Ordering::Relaxed);
                        break;
                    }
                    stats.retries.fetch_add(1, Ordering::Relaxed);
                    let pause = after.unwrap_or(backoff).min(Duration::from_secs(30));
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = &mut out_of_time => {
                            stats.spans_dropped_at_shutdown.fetch_add(spans, Ordering::Relaxed);
                            return drop_the_rest(queue, &stats);
                        }
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        if closed_at.is_some_and(|t| t.elapsed() >= shutdown_grace) {
            return drop_the_rest(queue, &stats);
        }
    }
}

/// Out of time: what is still queued will not be sent.
fn drop_the_rest(mut queue: Queue, stats: &ExportStats) {
    let mut left = 0;
    while let Ok(rs) = queue.rx.try_recv() {
        left += queue.taken(&rs);
    }
    stats
        .spans_dropped_at_shutdown
        .fetch_add(left, Ordering::Relaxed);
}

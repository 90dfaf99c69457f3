//! The OTLP receiver: what applications (or an OpenTelemetry Collector) send wirespan.
//!
//! Takes HTTP POSTs on `/api/v1/otel/trace` (the path DeepFlow's agent serves, port 38086) and
//! `/v1/traces` (OTLP/HTTP, port 4318), protobuf or JSON, gzip or not, and OTLP/gRPC `Export`
//! calls (port 4317); gives their resource spans to a bounded queue. Answers as OTLP says:
//! the response in the request's encoding, partial success with the rejected count when the
//! queue was full, 400/413/415 with a message for bodies it cannot take.

use super::{
    decode_body, gunzip, ExportTraceServiceRequest, ExportTraceServiceResponse, GunzipError,
    ResourceSpans,
};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess;
use prost::Message;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Listeners (each can be off) and limits.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    pub deepflow: Option<SocketAddr>,
    pub http: Option<SocketAddr>,
    pub grpc: Option<SocketAddr>,
    /// Largest body accepted, before and after gzip.
    pub max_body: usize,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            deepflow: Some(([0, 0, 0, 0], 38086).into()),
            http: Some(([0, 0, 0, 0], 4318).into()),
            grpc: Some(([0, 0, 0, 0], 4317).into()),
            max_body: 16 << 20,
        }
    }
}

/// What the receiver saw, for `--stats`.
#[derive(Debug, Default)]
pub struct ReceiverStats {
    pub requests: AtomicU64,
    pub spans_accepted: AtomicU64,
    pub spans_rejected_queue_full: AtomicU64,
    pub bad_requests: AtomicU64,
    pub too_large: AtomicU64,
}

impl ReceiverStats {
    pub fn summary(&self) -> String {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "{} requests, {} spans received, {} rejected (queue full), {} bad requests, {} too large",
            l(&self.requests),
            l(&self.spans_accepted),
            l(&self.spans_rejected_queue_full),
            l(&self.bad_requests),
            l(&self.too_large)
        )
    }
}

#[derive(Clone)]
struct Shared {
    tx: mpsc::Sender<Vec<ResourceSpans>>,
    stats: Arc<ReceiverStats>,
    max_body: usize,
}

fn span_count(rs: &[ResourceSpans]) -> i64 {
    rs.iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len() as i64)
        .sum()
}

impl Shared {
    /// Queues the spans; returns how many were rejected because the queue was full.
    fn accept(&self, req: ExportTraceServiceRequest) -> i64 {
        let n = span_count(&req.resource_spans);
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        if n == 0 {
            return 0;
        }
        match self.tx.try_send(req.resource_spans) {
            Ok(()) => {
                self.stats
                    .spans_accepted
                    .fetch_add(n as u64, Ordering::Relaxed);
                0
            }
            Err(_) => {
                self.stats
                    .spans_rejected_queue_full
                    .fetch_add(n as u64, Ordering::Relaxed);
                n
            }
        }
    }
}

fn response(json: bool, rejected: i64) -> Response {
    let resp = ExportTraceServiceResponse {
        partial_success: (rejected > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: rejected,
            error_message: "wirespan's queue is full".into(),
        }),
    };
    if json {
        let body = match resp.partial_success {
            Some(p) => format!(
                "{{\"partialSuccess\":{{\"rejectedSpans\":\"{}\",\"errorMessage\":{}}}}}",
                p.rejected_spans,
                serde_json::to_string(&p.error_message).unwrap_or_default()
            ),
            None => "{}".to_owned(),
        };
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            resp.encode_to_vec(),
        )
            .into_response()
    }
}

fn refuse(shared: &Shared, status: StatusCode, msg: String) -> Response {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        shared.stats.too_large.fetch_add(1, Ordering::Relaxed);
    } else {
        shared.stats.bad_requests.fetch_add(1, Ordering::Relaxed);
    }
    (status, [(header::CONTENT_TYPE, "text/plain")], msg).into_response()
}

async fn export_http(State(shared): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    // Read no more than the limit: a larger body is refused without being held in memory.
    let body: Bytes = match axum::body::to_bytes(body, shared.max_body).await {
        Ok(b) => b,
        Err(_) => {
            return refuse(
                &shared,
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body is over the {} byte limit", shared.max_body),
            )
        }
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let json = content_type.starts_with("application/json");
    if !json && !content_type.starts_with("application/x-protobuf") && !content_type.is_empty() {
        return refuse(&shared, StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("unsupported content type {content_type}; send application/x-protobuf or application/json"));
    }
    if body.len() > shared.max_body {
        return refuse(
            &shared,
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "body of {} bytes is over the {} byte limit",
                body.len(),
                shared.max_body
            ),
        );
    }
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let inflated;
    let raw: &[u8] = if gzip {
        match gunzip(&body, shared.max_body) {
            Ok(b) => {
                inflated = b;
                &inflated
            }
            Err(GunzipError::TooLarge) => {
                return refuse(
                    &shared,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("gzip body inflates past the {} byte limit", shared.max_body),
                )
            }
            Err(GunzipError::Invalid) => {
                return refuse(
                    &shared,
                    StatusCode::BAD_REQUEST,
                    "body is not valid gzip".into(),
                )
            }
        }
    } else {
        &body
    };
    match decode_body(raw, json) {
        Ok(req) => response(json, shared.accept(req)),
        Err(e) => refuse(&shared, StatusCode::BAD_REQUEST, e),
    }
}

struct Grpc(Shared);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let rejected = self.0.accept(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: (rejected > 0).then(|| ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message: "wirespan's queue is full".into(),
            }),
        }))
    }
}

/// Binds every configured listener (failing at once if one cannot be bound), then serves
/// until `shutdown` resolves.
/// The receiver's sockets, bound before any thread or runtime starts (so that privileges can
/// be dropped before the threads that serve them exist).
pub struct Bound {
    http: Vec<std::net::TcpListener>,
    grpc: Option<std::net::TcpListener>,
    max_body: usize,
}

fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(addr)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Binds every configured listener; a port in use is an error here.
pub fn bind(cfg: &ReceiverConfig) -> std::io::Result<Bound> {
    let mut http = Vec::new();
    for addr in [cfg.deepflow, cfg.http].into_iter().flatten() {
        http.push(listen(addr)?);
    }
    let grpc = cfg.grpc.map(listen).transpose()?;
    Ok(Bound {
        http,
        grpc,
        max_body: cfg.max_body,
    })
}

/// Serves the bound listeners until `shutdown` resolves.
pub async fn serve(
    bound: Bound,
    tx: mpsc::Sender<Vec<ResourceSpans>>,
    stats: Arc<ReceiverStats>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let shared = Shared {
        tx,
        stats,
        max_body: bound.max_body,
    };
    let app = Router::new()
        .route("/api/v1/otel/trace", post(export_http))
        .route("/v1/traces", post(export_http))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(shared.clone());
    let mut listeners = Vec::new();
    for l in bound.http {
        listeners.push(tokio::net::TcpListener::from_std(l)?);
    }
    let grpc_listener = bound
        .grpc
        .map(tokio::net::TcpListener::from_std)
        .transpose()?;
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = tokio::task::JoinSet::new();
    for l in listeners {
        let app = app.clone();
        let mut stop = stop_tx.subscribe();
        tasks.spawn(async move {
            axum::serve(l, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.recv().await;
                })
                .await
        });
    }
    if let Some(l) = grpc_listener {
        let max_body = shared.max_body;
        let svc = TraceServiceServer::new(Grpc(shared))
            .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
            .max_decoding_message_size(max_body);
        let mut stop = stop_tx.subscribe();
        tasks.spawn(async move {
            tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming_shutdown(Incoming(l), async move {
                    let _ = stop.recv().await;
                })
                .await
                .map_err(std::io::Error::other)
        });
    }
    shutdown.await;
    let _ = stop_tx.send(());
    while let Some(r) = tasks.join_next().await {
        r.map_err(std::io::Error::other)??;
    }
    Ok(())
}

/// A TCP listener as the stream of connections tonic serves.
struct Incoming(tokio::net::TcpListener);

impl futures_core::Stream for Incoming {
    type Item = std::io::Result<tokio::net::TcpStream>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_accept(cx).map(|r| Some(r.map(|(s, _)| s)))
    }
}

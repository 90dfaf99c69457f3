//! Receive: the apps' OTLP spans in (HTTP on the DeepFlow and standard paths, gRPC), OTLP/JSON
//! lines out, until SIGINT/SIGTERM or the set duration: a recorder for `replay --otel`.
//!
//! Takes a [`ReceiveJob`] and a hook called once the listeners are bound; gives the
//! receiver's counters.

use super::Destination;
use crate::otlp;
use crate::otlp::receiver::{self, ReceiverConfig, ReceiverStats};
use crate::output::{OtlpJsonWriter, Resource};
use std::io::BufWriter;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ReceiveJob {
    pub listen: ReceiverConfig,
    pub output: Destination,
    pub host_name: String,
    /// Stop by itself after this long.
    pub duration: Option<Duration>,
}

pub fn run(job: &ReceiveJob, on_listening: &mut dyn FnMut()) -> anyhow::Result<Arc<ReceiverStats>> {
    let mut writer = OtlpJsonWriter::new(
        BufWriter::with_capacity(1 << 16, job.output.open()?),
        Resource {
            host_name: job.host_name.clone(),
        },
    );
    let stats = Arc::new(ReceiverStats::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let duration = job.duration;
    runtime.block_on(async {
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
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
                _ = timeout => {}
            }
        };
        let bound = receiver::bind(&job.listen)?;
        let server = tokio::spawn(receiver::serve(bound, tx, Arc::clone(&stats), shutdown));
        // Listening (or failed to bind) before saying so.
        tokio::time::sleep(Duration::from_millis(100)).await;
        if server.is_finished() {
            return server
                .await
                .map_err(anyhow::Error::from)?
                .map_err(anyhow::Error::from);
        }
        on_listening();
        while let Some(batch) = rx.recv().await {
            writer.write_resource_spans(batch)?;
            writer.flush()?;
        }
        server
            .await
            .map_err(anyhow::Error::from)?
            .map_err(anyhow::Error::from)
    })?;
    writer.flush()?;
    Ok(stats)
}

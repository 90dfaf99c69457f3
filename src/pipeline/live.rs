//! Live capture: reader threads on rings, flow workers, one span writer.
//!
//! Takes interfaces, a thread count and a stop flag; gives network spans to a sink until the
//! flag is raised, then drains everything in flight and returns the run's counters. Each
//! reader thread owns one fanout socket per interface (the kernel spreads flows across them),
//! pinned to a core when asked. Readers decode only to find the inner connection, then copy each
//! ring block's frames into one batch per worker and hand it over a bounded lock-free queue to
//! the worker owning those connections (so both directions of a tunnelled flow meet, whatever
//! the outer hash did; an IP fragment goes to every worker). With one thread the reader is its own
//! worker and frames are never copied. A reader waits for room in a full queue (counted) while
//! its ring, far larger, buffers in the kernel; only a full ring drops.

use super::{frame_owner, Pipeline, PipelineConfig};
use crate::capture::ring::{Ring, RingConfig, RingError, SockFilter};
use crate::capture::LinkType;
use crate::decode::Encap;
use crate::host::namer::Namer;
use crate::host::{CallEnds, Transport};
use crate::span::NetworkSpan;
use crate::stats::Counters;
use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Everything a live capture needs.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub interfaces: Vec<String>,
    pub threads: usize,
    /// Cores to pin reader threads to, in order; empty = no pinning.
    pub cpus: Vec<usize>,
    pub ring: RingConfig,
    pub promiscuous: bool,
    pub filter: Option<Vec<SockFilter>>,
    /// Frames queued per worker before new ones are dropped.
    pub queue_frames: usize,
    /// Spans queued for the writer before new ones are dropped.
    pub queue_spans: usize,
    pub pipeline: PipelineConfig,
    /// Asked for the owners of every new connection's sockets (with
    /// `pipeline.flows.note_new_connections`).
    pub namer: Option<Namer>,
}

/// Where one frame of a [`FrameBatch`] is, and what the ring said of it.
#[derive(Clone, Copy)]
struct BatchedFrame {
    ts_ns: u64,
    wire_len: u32,
    ifindex: u32,
    link: LinkType,
    start: usize,
    len: usize,
}

/// The frames of one ring block bound for one worker, copied out of the ring end to end (in
/// capture order): one hand-over per block and worker, not per frame. Batches go back to the
/// readers for reuse.
#[derive(Default)]
struct FrameBatch {
    bytes: Vec<u8>,
    frames: Vec<BatchedFrame>,
}

impl FrameBatch {
    fn push(&mut self, frame: &crate::capture::ring::RingFrame<'_>) {
        self.frames.push(BatchedFrame {
            ts_ns: frame.ts_ns,
            wire_len: frame.wire_len,
            ifindex: frame.ifindex,
            link: frame.link,
            start: self.bytes.len(),
            len: frame.data.len(),
        });
        self.bytes.extend_from_slice(frame.data);
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.frames.clear();
    }

    fn get(&self, i: usize) -> Option<(BatchedFrame, &[u8])> {
        let f = *self.frames.get(i)?;
        Some((f, self.bytes.get(f.start..f.start + f.len)?))
    }
}

/// Counters every thread publishes about once a second, for `--stats-interval` and the end.
pub type SharedCounters = Arc<Mutex<Vec<Counters>>>;

/// Opens every ring up front, so that a missing interface, a missing capability or a filter
/// the kernel refuses is an error before any thread starts.
pub fn open_rings(cfg: &LiveConfig) -> Result<Vec<Vec<Ring>>, RingError> {
    let group_base = (std::process::id() & 0xff) as u16;
    let mut per_thread: Vec<Vec<Ring>> = (0..cfg.threads).map(|_| Vec::new()).collect();
    for (i, iface) in cfg.interfaces.iter().enumerate() {
        // One fanout group per interface: its sockets share that interface's traffic.
        let group = (group_base << 8) | (i as u16 & 0xff);
        for rings in per_thread.iter_mut() {
            let fanout = (cfg.threads > 1).then_some(group);
            rings.push(Ring::open(
                iface,
                cfg.ring,
                fanout,
                cfg.promiscuous,
                cfg.filter.as_deref(),
            )?);
        }
    }
    Ok(per_thread)
}

fn pin_to(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; CPU_SET writes within it; sched_setaffinity(0) applies
    // to the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// How often the writer calls its sink while no span comes (for spans it holds back).
const SINK_IDLE: Duration = Duration::from_millis(50);

/// Runs the capture until `stop` is raised; every span goes to `sink` (on the writer thread),
/// which is also called with `None` when no span came for [`SINK_IDLE`]. Returns the counters
/// of all threads, merged.
pub fn run(
    cfg: &LiveConfig,
    rings: Vec<Vec<Ring>>,
    stop: &'static AtomicBool,
    shared: SharedCounters,
    mut sink: impl FnMut(Option<NetworkSpan>) -> std::io::Result<()> + Send,
) -> std::io::Result<Counters> {
    let threads = rings.len();
    let (span_tx, span_rx) = bounded::<NetworkSpan>(cfg.queue_spans);
    if let Ok(mut s) = shared.lock() {
        *s = vec![Counters::default(); threads * 2];
    }
    let mut totals = Counters::default();
    thread::scope(|scope| -> std::io::Result<()> {
        let writer = scope.spawn(move || -> std::io::Result<u64> {
            let mut written = 0;
            loop {
                match span_rx.recv_timeout(SINK_IDLE) {
                    Ok(span) => {
                        sink(Some(span))?;
                        written += 1;
                    }
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => sink(None)?,
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                }
            }
            Ok(written)
        });
        // Batch queues to workers (only with more than one thread), and the batches' way back.
        // A batch holds one block's frames for a worker (a few hundred at high rates): the
        // queue's frames are bounded as `queue_frames` over an average of 1024 per batch.
        let batches = (cfg.queue_frames / 1024).max(4);
        let mut work_tx: Vec<Sender<FrameBatch>> = Vec::new();
        let mut workers = Vec::new();
        let (free_tx, free_rx) = bounded::<FrameBatch>(batches * threads.max(1));
        if threads > 1 {
            for w in 0..threads {
                let (tx, rx) = bounded::<FrameBatch>(batches);
                work_tx.push(tx);
                let span_tx = Outbox {
                    spans: span_tx.clone(),
                    namer: cfg.namer.clone(),
                };
                let free_tx = free_tx.clone();
                let shared = Arc::clone(&shared);
                let pcfg = cfg.pipeline.clone();
                let cpu = cfg.cpus.get((w + threads) % cfg.cpus.len().max(1)).copied();
                // A reader may sit on a block for up to its timeout; twice that, and then some.
                let reorder_ns = u64::from(cfg.ring.block_timeout_ms) * 2_000_000 + 20_000_000;
                workers.push(scope.spawn(move || {
                    worker(
                        w, threads, reorder_ns, rx, span_tx, free_tx, shared, pcfg, cpu,
                    )
                }));
            }
        }
        let mut readers = Vec::new();
        for (t, thread_rings) in rings.into_iter().enumerate() {
            let span_tx = Outbox {
                spans: span_tx.clone(),
                namer: cfg.namer.clone(),
            };
            let work_tx = work_tx.clone();
            let free_rx = free_rx.clone();
            let shared = Arc::clone(&shared);
            let pcfg = cfg.pipeline.clone();
            let cpu = cfg.cpus.get(t % cfg.cpus.len().max(1)).copied();
            readers.push(scope.spawn(move || {
                reader(
                    t,
                    thread_rings,
                    stop,
                    work_tx,
                    free_rx,
                    span_tx,
                    shared,
                    pcfg,
                    cpu,
                )
            }));
        }
        drop(span_tx);
        drop(work_tx);
        drop(free_tx);
        for r in readers {
            if let Ok(c) = r.join() {
                totals.merge(&c);
            }
        }
        for w in workers {
            if let Ok(c) = w.join() {
                totals.merge(&c);
            }
        }
        match writer.join() {
            Ok(result) => {
                result?;
            }
            Err(_) => return Err(std::io::Error::other("the span writer thread panicked")),
        }
        Ok(())
    })?;
    Ok(totals)
}

fn publish(shared: &SharedCounters, slot: usize, c: &Counters) {
    if let Ok(mut s) = shared.lock() {
        if let Some(x) = s.get_mut(slot) {
            *x = c.clone();
        }
    }
}

/// Where a reader's or worker's results go: spans to the writer, new connections' ends to
/// the namer.
struct Outbox {
    spans: Sender<NetworkSpan>,
    namer: Option<Namer>,
}

fn send_spans(pipeline: &mut Pipeline, out: &Outbox) {
    let mut dropped = 0;
    for span in pipeline.take_spans() {
        if let Err(TrySendError::Full(_)) = out.spans.try_send(span) {
            dropped += 1;
        }
    }
    pipeline.stats.spans_dropped_queue_full += dropped;
    if let Some(namer) = &out.namer {
        for (client, server) in pipeline.take_new_connections() {
            namer.request(CallEnds {
                transport: Transport::Tcp,
                client,
                server,
            });
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn reader(
    t: usize,
    mut rings: Vec<Ring>,
    stop: &AtomicBool,
    work_tx: Vec<Sender<FrameBatch>>,
    free_rx: Receiver<FrameBatch>,
    span_tx: Outbox,
    shared: SharedCounters,
    pcfg: PipelineConfig,
    cpu: Option<usize>,
) -> Counters {
    if let Some(cpu) = cpu {
        pin_to(cpu);
    }
    let decode_cfg = pcfg.decode.clone();
    // With one thread the reader is the worker.
    let mut pipeline = work_tx.is_empty().then(|| Pipeline::new(pcfg));
    let mut own = Counters::default();
    let mut encap = Encap::default();
    let mut last_publish = Instant::now();
    let workers = work_tx.len() as u64;
    let mut batches: Vec<FrameBatch> = work_tx.iter().map(|_| FrameBatch::default()).collect();
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        let mut got_any = false;
        for ring in rings.iter_mut() {
            let Ok(Some(mut block)) = ring.next_block(0) else {
                continue;
            };
            got_any = true;
            while let Some(frame) = block.next_frame() {
                match pipeline.as_mut() {
                    Some(p) => {
                        p.live_frame(
                            frame.ts_ns,
                            frame.link,
                            frame.ifindex,
                            frame.wire_len,
                            frame.data,
                        );
                    }
                    None => {
                        own.packets_handed_off += 1;
                        let owner = frame_owner(
                            frame.link,
                            frame.data,
                            frame.wire_len,
                            &decode_cfg,
                            &mut encap,
                        );
                        match owner {
                            Some(hash) => {
                                if let Some(batch) = batches.get_mut((hash % workers) as usize) {
                                    batch.push(&frame);
                                }
                            }
                            // A fragment goes to every worker (see `Pipeline::set_worker`).
                            None => batches.iter_mut().for_each(|b| b.push(&frame)),
                        }
                    }
                }
            }
            if let Some(p) = pipeline.as_mut() {
                send_spans(p, &span_tx);
            }
            for (batch, tx) in batches.iter_mut().zip(&work_tx) {
                if batch.frames.is_empty() {
                    continue;
                }
                let mut next = free_rx.try_recv().unwrap_or_default();
                next.clear();
                let full = std::mem::replace(batch, next);
                let frames = full.frames.len() as u64;
                // A full worker queue is waited for: meanwhile the ring holds what comes
                // (64 MiB by default, far more than a queue), and only a full ring drops, in
                // the kernel, counted as tcpdump's drops are.
                let queued = match tx.try_send(full) {
                    Err(TrySendError::Full(full)) => {
                        own.queue_full_waits += 1;
                        tx.send(full).is_ok()
                    }
                    sent => sent.is_ok(),
                };
                if !queued {
                    own.queue_drops += frames;
                }
            }
        }
        if last_publish.elapsed() >= Duration::from_secs(1) || stopping {
            for ring in &rings {
                let k = ring.kernel_stats();
                own.kernel_packets += k.packets;
                own.kernel_drops += k.drops;
            }
            let mut view = own.clone();
            if let Some(p) = &pipeline {
                view.merge(&p.stats);
            }
            publish(&shared, t, &view);
            last_publish = Instant::now();
        }
        if stopping && !got_any {
            break;
        }
        if !got_any {
            wait_for_any(&rings, 100);
        }
    }
    if let Some(p) = pipeline.as_mut() {
        p.flush();
        send_spans(p, &span_tx);
        own.merge(&p.stats);
    }
    publish(&shared, t, &own);
    own
}

/// Sleeps until one of the rings has a block ready, or `timeout_ms` passes.
fn wait_for_any(rings: &[Ring], timeout_ms: i32) {
    let mut fds: Vec<libc::pollfd> = rings
        .iter()
        .map(|r| libc::pollfd {
            fd: r.raw_fd(),
            events: libc::POLLIN | libc::POLLERR,
            revents: 0,
        })
        .collect();
    // SAFETY: `fds` is a valid array of `fds.len()` pollfd structures.
    unsafe {
        libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms);
    }
}

/// Frames held for reordering at most; beyond it the oldest go on at once.
const MAX_REORDER: usize = 65_536;

/// A batch being merged into capture order: its next frame.
struct Merging {
    batch: FrameBatch,
    next: usize,
}

fn realtime_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[allow(clippy::too_many_arguments)]
fn worker(
    w: usize,
    readers: usize,
    reorder_ns: u64,
    rx: Receiver<FrameBatch>,
    span_tx: Outbox,
    free_tx: Sender<FrameBatch>,
    shared: SharedCounters,
    pcfg: PipelineConfig,
    cpu: Option<usize>,
) -> Counters {
    if let Some(cpu) = cpu {
        pin_to(cpu);
    }
    let mut pipeline = Pipeline::new(pcfg);
    pipeline.set_worker(w, readers);
    let mut last_publish = Instant::now();
    // The two directions of a tunnelled flow can reach this worker through different readers
    // (the kernel hashes the outer headers), each handing over whole ring blocks: batches wait
    // here and their frames are merged by capture time (each batch is in capture order), until
    // no reader can still deliver an earlier one.
    let mut merging: Vec<Option<Merging>> = Vec::new();
    let mut heap: BinaryHeap<Reverse<(u64, u64, usize)>> = BinaryHeap::new();
    let mut held = 0usize;
    let mut arrivals = 0u64;
    let mut take = |batch: FrameBatch,
                    merging: &mut Vec<Option<Merging>>,
                    heap: &mut BinaryHeap<Reverse<(u64, u64, usize)>>,
                    held: &mut usize| {
        let Some((first, _)) = batch.get(0) else {
            let _ = free_tx.try_send(batch);
            return;
        };
        arrivals += 1;
        *held += batch.frames.len();
        let slot = match merging.iter().position(Option::is_none) {
            Some(free) => free,
            None => {
                merging.push(None);
                merging.len() - 1
            }
        };
        if let Some(m) = merging.get_mut(slot) {
            *m = Some(Merging { batch, next: 0 });
        }
        heap.push(Reverse((first.ts_ns, arrivals, slot)));
    };
    loop {
        let mut disconnected = match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(batch) => {
                take(batch, &mut merging, &mut heap, &mut held);
                false
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => false,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => true,
        };
        // Take whatever else is queued in one go.
        loop {
            match rx.try_recv() {
                Ok(batch) => take(batch, &mut merging, &mut heap, &mut held),
                Err(crossbeam_channel::TryRecvError::Empty) => break,
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    disconnected = true;
                    break;
                }
            }
        }
        let horizon = realtime_ns().saturating_sub(reorder_ns);
        while let Some(&Reverse((ts, order, slot))) = heap.peek() {
            if ts > horizon && held <= MAX_REORDER && !disconnected {
                break;
            }
            heap.pop();
            let Some(Some(m)) = merging.get_mut(slot) else {
                continue;
            };
            if let Some((f, data)) = m.batch.get(m.next) {
                pipeline.live_frame(f.ts_ns, f.link, f.ifindex, f.wire_len, data);
            }
            m.next += 1;
            held = held.saturating_sub(1);
            match m.batch.get(m.next) {
                Some((f, _)) => heap.push(Reverse((f.ts_ns, order, slot))),
                None => {
                    if let Some(done) = merging.get_mut(slot).and_then(Option::take) {
                        // Back to the readers for reuse; if the pool is full it is freed.
                        let _ = free_tx.try_send(done.batch);
                    }
                }
            }
        }
        send_spans(&mut pipeline, &span_tx);
        if disconnected {
            break;
        }
        if last_publish.elapsed() >= Duration::from_secs(1) {
            publish(&shared, readers + w, &pipeline.stats);
            last_publish = Instant::now();
        }
    }
    pipeline.flush();
    send_spans(&mut pipeline, &span_tx);
    publish(&shared, readers + w, &pipeline.stats);
    pipeline.stats.clone()
}

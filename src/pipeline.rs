//! The replay pipeline.
//!
//! Takes raw packets (from [`crate::capture`]); runs them through decode, fragment reassembly
//! and the flow table; gives network spans and the counters of the run. One `Pipeline` is one
//! worker: it owns its flow table, so nothing in it is shared or locked.

use crate::capture::{
    CaptureError, CaptureFile, CapturePointId, CapturePoints, LinkType, PacketReader, RawPacket,
};
use crate::decode::defrag::{DefragLimits, DefragOutcome, Defragmenter};
use crate::decode::{self, DecodeConfig, DecodeError, Decoded, Encap, Skip, TunnelKind};
use crate::flow::{FlowLimits, FlowTable, SeenAt};
use crate::span::NetworkSpan;
use crate::stats::Counters;
use crossbeam_channel::{bounded, Receiver, Select, Sender};
use std::path::Path;

/// Packets the reader hands a replay worker at once: one channel operation per batch.
const BATCH_PACKETS: usize = 1024;

/// Everything that tunes a pipeline.
#[derive(Debug, Clone, Default)]
pub struct PipelineConfig {
    pub decode: DecodeConfig,
    pub flows: FlowLimits,
    pub defrag: DefragLimits,
}

pub struct Pipeline {
    cfg: PipelineConfig,
    pub points: CapturePoints,
    flows: FlowTable,
    defrag: Defragmenter,
    encap: Encap,
    pub stats: Counters,
    spans: Vec<NetworkSpan>,
    /// SLL2 frames name their interface: (file's capture point, ifindex) → capture point.
    sll2_points: Vec<(CapturePointId, u32, CapturePointId)>,
    /// Live frames: interface index → capture point.
    ifindex_points: Vec<(u32, CapturePointId)>,
    /// Threads a replay deals its flows out to; 1 means this thread does all the work.
    pub replay_workers: usize,
}

impl Pipeline {
    pub fn new(cfg: PipelineConfig) -> Pipeline {
        Pipeline {
            flows: FlowTable::new(cfg.flows),
            defrag: Defragmenter::new(cfg.defrag),
            cfg,
            points: CapturePoints::default(),
            encap: Encap::default(),
            stats: Counters::default(),
            spans: Vec::new(),
            sll2_points: Vec::new(),
            ifindex_points: Vec::new(),
            replay_workers: 1,
        }
    }

    /// Spans completed so far, in the order their exchanges completed.
    pub fn take_spans(&mut self) -> std::vec::Drain<'_, NetworkSpan> {
        self.spans.drain(..)
    }

    pub fn packet(&mut self, pkt: &RawPacket<'_>) {
        self.stats.packets += 1;
        self.stats.bytes += pkt.data.len() as u64;
        let snapped = (pkt.data.len() as u32) < pkt.wire_len;
        if snapped {
            self.stats.packets_snapped += 1;
        }
        let point = if pkt.link == LinkType::LinuxSll2 {
            self.sll2_point(pkt.point, pkt.data)
        } else {
            pkt.point
        };
        let decoded = decode::decode(
            pkt.link,
            pkt.data,
            snapped,
            &self.cfg.decode,
            &mut self.encap,
        );
        self.count_encap();
        self.decoded(decoded, point, pkt.ts_ns);
    }

    fn decoded(&mut self, decoded: Decoded<'_>, point: CapturePointId, ts_ns: u64) {
        if self.encap.overflowed {
            self.stats.decode_too_deep += 1;
        }
        match decoded {
            Decoded::Tcp(seg) => self.flows.segment(
                SeenAt { point, ts_ns },
                &self.encap,
                &seg,
                &self.points,
                &mut self.stats,
                &mut self.spans,
            ),
            Decoded::Fragment(frag) => {
                self.stats.ip_fragments += 1;
                let dropped_before = self.defrag.dropped;
                let outcome = self.defrag.push(&frag, ts_ns);
                self.stats.ip_fragments_dropped += self.defrag.dropped - dropped_before;
                if let DefragOutcome::Complete {
                    payload,
                    protocol,
                    src,
                    dst,
                    ttl,
                } = outcome
                {
                    self.stats.ip_reassembled += 1;
                    // The rebuilt datagram keeps the encapsulation its last fragment came in.
                    let mut encap = self.encap;
                    let inner = decode::decode_ip_payload(
                        protocol,
                        src,
                        dst,
                        ttl,
                        &payload,
                        &self.cfg.decode,
                        &mut encap,
                    );
                    let saved = std::mem::replace(&mut self.encap, encap);
                    self.decoded(inner, point, ts_ns);
                    self.encap = saved;
                }
            }
            Decoded::Skipped(Skip::NotTcp) => self.stats.skipped_not_tcp += 1,
            Decoded::Skipped(Skip::LinkType) => self.stats.skipped_link_type += 1,
            Decoded::Skipped(Skip::UnknownProtocol) => self.stats.skipped_unknown_protocol += 1,
            Decoded::Error(DecodeError::Truncated) => self.stats.decode_truncated += 1,
            Decoded::Error(DecodeError::Malformed) => self.stats.decode_malformed += 1,
            Decoded::Error(DecodeError::TooDeep) => self.stats.decode_too_deep += 1,
        }
    }

    fn count_encap(&mut self) {
        if self.encap.is_empty() {
            return;
        }
        let s = &mut self.stats;
        if !self.encap.vlans().is_empty() {
            s.frames_vlan_tagged += 1;
        }
        let mut tunnelled = false;
        for t in self.encap.tunnels() {
            tunnelled = true;
            let counter = match t.kind {
                TunnelKind::Vxlan { .. } => &mut s.tunnel_vxlan,
                TunnelKind::VxlanGpe { .. } => &mut s.tunnel_vxlan_gpe,
                TunnelKind::Geneve { .. } => &mut s.tunnel_geneve,
                TunnelKind::Gre { .. } => &mut s.tunnel_gre,
                TunnelKind::Erspan { .. } => &mut s.tunnel_erspan,
                TunnelKind::Nsh { .. } => &mut s.tunnel_nsh,
                TunnelKind::Ipip => &mut s.tunnel_ipip,
                TunnelKind::Mpls { .. } => &mut s.tunnel_mpls,
            };
            *counter += 1;
        }
        if tunnelled {
            s.frames_tunnelled += 1;
        }
    }

    fn sll2_point(&mut self, base: CapturePointId, frame: &[u8]) -> CapturePointId {
        let Some(ifindex) = decode::sll2_interface_index(frame) else {
            return base;
        };
        if let Some(&(_, _, p)) = self
            .sll2_points
            .iter()
            .find(|&&(b, i, _)| b == base && i == ifindex)
        {
            return p;
        }
        let base_name = self.points.name(base);
        let file = base_name.rsplit_once('#').map_or(base_name, |(f, _)| f);
        let name = format!("{file}#{ifindex}");
        let p = self.points.intern(&name);
        self.sll2_points.push((base, ifindex, p));
        p
    }

    /// One frame from a live ring; `ifindex` names its capture point (the interface).
    pub fn live_frame(
        &mut self,
        ts_ns: u64,
        link: LinkType,
        ifindex: u32,
        wire_len: u32,
        data: &[u8],
    ) {
        let point = match self.ifindex_points.iter().find(|&&(i, _)| i == ifindex) {
            Some(&(_, p)) => p,
            None => {
                let p = self.points.intern(&crate::capture::live::name_of(ifindex));
                self.ifindex_points.push((ifindex, p));
                p
            }
        };
        self.packet(&RawPacket {
            ts_ns,
            link,
            point,
            wire_len,
            data,
        });
    }

    /// Ends every open flow: their pending exchanges become spans.
    pub fn flush(&mut self) {
        self.flows
            .flush(&self.points, &mut self.stats, &mut self.spans);
        let pending = self.defrag.pending() as u64;
        if pending > 0 {
            self.defrag.expire(u64::MAX);
            self.stats.ip_fragments_dropped += pending;
        }
    }

    /// Replays one capture file, handing spans to `sink` as they complete. Flows end with the
    /// file. A damaged file stops at the damage; what came before it is still processed.
    pub fn replay_file(
        &mut self,
        path: &Path,
        sink: &mut dyn FnMut(NetworkSpan) -> std::io::Result<()>,
    ) -> Result<Result<(), CaptureError>, std::io::Error> {
        self.replay_file_with_progress(path, sink, &mut |_, _| {})
    }

    /// [`Pipeline::replay_file`], telling `progress` every so many packets how far into the
    /// file it is (bytes) and what it has counted so far.
    pub fn replay_file_with_progress(
        &mut self,
        path: &Path,
        sink: &mut dyn FnMut(NetworkSpan) -> std::io::Result<()>,
        progress: &mut dyn FnMut(u64, &Counters),
    ) -> Result<Result<(), CaptureError>, std::io::Error> {
        match CaptureFile::open(path) {
            Ok(file) => self.replay_capture(file.bytes(), &file.name, &file.path, sink, progress),
            Err(e) => Ok(Err(e)),
        }
    }

    /// Replays a capture file's bytes, pcap or pcapng; `name` names its capture points and
    /// `path` its errors.
    pub fn replay_capture(
        &mut self,
        data: &[u8],
        name: &str,
        path: &str,
        sink: &mut dyn FnMut(NetworkSpan) -> std::io::Result<()>,
        progress: &mut dyn FnMut(u64, &Counters),
    ) -> Result<Result<(), CaptureError>, std::io::Error> {
        let mut reader = match PacketReader::new(data, name, path, &mut self.points) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        if self.replay_workers > 1 {
            return self.replay_in_workers(reader, sink, progress);
        }
        let result = loop {
            match reader.next_packet(&mut self.points) {
                Ok(Some(pkt)) => {
                    self.packet(&pkt);
                    for span in self.spans.drain(..) {
                        sink(span)?;
                    }
                    if self.stats.packets % PROGRESS_EVERY == 0 {
                        progress(reader.offset(), &self.stats);
                    }
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.flush();
        for span in self.spans.drain(..) {
            sink(span)?;
        }
        Ok(result)
    }
}

/// Packets between progress reports: rare enough to cost nothing.
const PROGRESS_EVERY: u64 = 16_384;

/// Packets for one replay worker, with the capture point names when they grew since its last.
struct Batch<'a> {
    points: Option<CapturePoints>,
    packets: Vec<RawPacket<'a>>,
}

impl Pipeline {
    /// The rest of [`Pipeline::replay_capture`] over `replay_workers` pipelines on their own
    /// threads. This thread reads the records and deals them out by [`flow_hash`], so each
    /// flow lives in one worker; spans come back here in batches for `sink`, so their order
    /// across flows varies from run to run (within a flow it is kept). The workers' counters
    /// are added to this pipeline's.
    fn replay_in_workers(
        &mut self,
        mut reader: PacketReader<'_>,
        sink: &mut dyn FnMut(NetworkSpan) -> std::io::Result<()>,
        progress: &mut dyn FnMut(u64, &Counters),
    ) -> Result<Result<(), CaptureError>, std::io::Error> {
        let n = self.replay_workers;
        let cfg = self.cfg.clone();
        let mut encap = Encap::default();
        // What this thread counts: records read and spans received, for the progress line.
        let mut seen = Counters::default();
        std::thread::scope(|scope| {
            let (span_tx, span_rx) = bounded::<Vec<NetworkSpan>>(4 * n);
            let (free_tx, free_rx) = bounded::<Vec<RawPacket<'_>>>(4 * n);
            let mut work = Vec::with_capacity(n);
            let mut workers = Vec::with_capacity(n);
            for _ in 0..n {
                let (tx, rx) = bounded::<Batch<'_>>(4);
                let (cfg, points) = (cfg.clone(), self.points.clone());
                let (span_tx, free_tx) = (span_tx.clone(), free_tx.clone());
                workers.push(scope.spawn(move || replay_worker(cfg, points, rx, span_tx, free_tx)));
                work.push((tx, Vec::with_capacity(BATCH_PACKETS), self.points.len()));
            }
            drop((span_tx, free_tx));
            let mut deliver = |spans: Vec<NetworkSpan>, seen: &mut Counters| {
                seen.spans += spans.len() as u64;
                spans.into_iter().try_for_each(&mut *sink)
            };
            let result = loop {
                let pkt = match reader.next_packet(&mut self.points) {
                    Ok(Some(pkt)) => pkt,
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e),
                };
                seen.packets += 1;
                if seen.packets % PROGRESS_EVERY == 0 {
                    progress(reader.offset(), &seen);
                }
                let w = (flow_hash(pkt.link, pkt.data, pkt.wire_len, &cfg.decode, &mut encap)
                    % n as u64) as usize;
                let Some((tx, packets, points_sent)) = work.get_mut(w) else {
                    continue;
                };
                packets.push(pkt);
                if packets.len() < BATCH_PACKETS {
                    continue;
                }
                let next = free_rx
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(BATCH_PACKETS));
                let batch = Batch {
                    points: (*points_sent < self.points.len()).then(|| self.points.clone()),
                    packets: std::mem::replace(packets, next),
                };
                *points_sent = self.points.len();
                send_batch(tx, batch, &span_rx, &mut |spans| deliver(spans, &mut seen))?;
            };
            for (tx, packets, points_sent) in work {
                if !packets.is_empty() {
                    let batch = Batch {
                        points: (points_sent < self.points.len()).then(|| self.points.clone()),
                        packets,
                    };
                    send_batch(&tx, batch, &span_rx, &mut |spans| deliver(spans, &mut seen))?;
                }
            }
            // The work senders are gone: each worker flushes its flows and ends.
            for spans in span_rx.iter() {
                deliver(spans, &mut seen)?;
            }
            for w in workers {
                let stats = w
                    .join()
                    .map_err(|_| std::io::Error::other("a replay worker panicked"))?;
                self.stats.merge(&stats);
            }
            Ok(result)
        })
    }
}

/// Sends `batch`, handing spans that arrive meanwhile to `deliver`: a worker blocked on a full
/// span queue would otherwise never take the batch.
fn send_batch<'a>(
    tx: &Sender<Batch<'a>>,
    batch: Batch<'a>,
    spans: &Receiver<Vec<NetworkSpan>>,
    deliver: &mut dyn FnMut(Vec<NetworkSpan>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut sel = Select::new();
    let send = sel.send(tx);
    let recv = sel.recv(spans);
    loop {
        let op = sel.select();
        if op.index() == send {
            return op
                .send(tx, batch)
                .map_err(|_| std::io::Error::other("a replay worker stopped"));
        }
        if op.index() == recv {
            match op.recv(spans) {
                Ok(s) => deliver(s)?,
                // Every worker has ended: the send will fail at once.
                Err(_) => sel.remove(recv),
            }
        }
    }
}

/// One replay worker: its own pipeline over the flows dealt to it, spans sent back per batch.
fn replay_worker<'a>(
    cfg: PipelineConfig,
    points: CapturePoints,
    work: Receiver<Batch<'a>>,
    spans: Sender<Vec<NetworkSpan>>,
    free: Sender<Vec<RawPacket<'a>>>,
) -> Counters {
    let mut p = Pipeline::new(cfg);
    p.points = points;
    for mut batch in work.iter() {
        if let Some(points) = batch.points.take() {
            p.points = points;
        }
        for pkt in &batch.packets {
            p.packet(pkt);
        }
        batch.packets.clear();
        // The reader makes a new buffer when none comes back.
        let _ = free.try_send(batch.packets);
        if !p.spans.is_empty() && spans.send(std::mem::take(&mut p.spans)).is_err() {
            break;
        }
    }
    p.flush();
    if !p.spans.is_empty() {
        let _ = spans.send(std::mem::take(&mut p.spans));
    }
    p.stats
}

/// Symmetric hash of a frame's innermost address pair: the same for both directions of a
/// connection, and for the fragments of its datagrams, so a worker chosen by it sees all of a
/// flow (ports would split a fragmented segment from its flow).
pub(crate) fn flow_hash(
    link: LinkType,
    data: &[u8],
    wire_len: u32,
    cfg: &DecodeConfig,
    encap: &mut Encap,
) -> u64 {
    // Decoded as the worker will decode it, snapped frames included.
    let snapped = (data.len() as u32) < wire_len;
    let (a, b) = match decode::decode(link, data, snapped, cfg, encap) {
        Decoded::Tcp(seg) => (seg.src, seg.dst),
        Decoded::Fragment(frag) => (frag.src, frag.dst),
        // Non-TCP frames carry no flow; any worker will do.
        _ => return 0,
    };
    let (a, b) = (decode::ip_bits(a), decode::ip_bits(b));
    let mut h = crate::span::StableHasher::new();
    h.write_u128(a.min(b));
    h.write_u128(a.max(b));
    h.finish()
}

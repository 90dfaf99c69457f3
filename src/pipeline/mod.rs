//! The replay pipeline.
//!
//! Takes raw packets (from [`crate::capture`]); runs them through decode, fragment reassembly
//! and the flow table; gives network spans and the counters of the run. One `Pipeline` is one
//! worker: it owns its flow table, so nothing in it is shared or locked.

pub mod live;

use crate::capture::{
    CaptureError, CaptureFile, CapturePointId, CapturePoints, LinkType, PacketReader, RawPacket,
};
use crate::decode::defrag::{DefragLimits, DefragOutcome, Defragmenter};
use crate::decode::{self, DecodeConfig, DecodeError, Decoded, Encap, Skip, TunnelKind};
use crate::flow::{DatagramLimits, DatagramTable, FlowLimits, FlowTable, SeenAt};
use crate::span::{self, NetworkSpan};
use crate::stats::Counters;
use crossbeam_channel::{bounded, RecvTimeoutError, Sender};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Everything that tunes a pipeline.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub decode: DecodeConfig,
    pub flows: FlowLimits,
    pub defrag: DefragLimits,
    pub datagrams: DatagramLimits,
    /// UDP ports whose datagrams are read as DNS (either end).
    pub dns_ports: Vec<u16>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            decode: DecodeConfig::default(),
            flows: FlowLimits::default(),
            defrag: DefragLimits::default(),
            datagrams: DatagramLimits::default(),
            dns_ports: vec![53],
        }
    }
}

pub struct Pipeline {
    cfg: PipelineConfig,
    pub points: CapturePoints,
    flows: FlowTable,
    datagrams: DatagramTable,
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
    /// The flows this pipeline takes when it is one of several workers.
    share: Share,
}

impl Pipeline {
    pub fn new(cfg: PipelineConfig) -> Pipeline {
        Pipeline {
            flows: FlowTable::new(cfg.flows),
            datagrams: DatagramTable::new(cfg.datagrams),
            defrag: Defragmenter::new(cfg.defrag),
            cfg,
            points: CapturePoints::default(),
            encap: Encap::default(),
            stats: Counters::default(),
            spans: Vec::new(),
            sll2_points: Vec::new(),
            ifindex_points: Vec::new(),
            replay_workers: 1,
            share: Share::ALL,
        }
    }

    /// The (client, server) ends of TCP connections opened since the last call (kept with
    /// `flows.note_new_connections`).
    pub fn take_new_connections(
        &mut self,
    ) -> std::vec::Drain<'_, (std::net::SocketAddr, std::net::SocketAddr)> {
        self.flows.take_new_connections()
    }

    /// Spans completed so far, in the order their exchanges completed.
    pub fn take_spans(&mut self) -> std::vec::Drain<'_, NetworkSpan> {
        self.spans.drain(..)
    }

    pub fn packet(&mut self, pkt: &RawPacket<'_>) {
        let snapped = (pkt.data.len() as u32) < pkt.wire_len;
        let decoded = decode::decode(
            pkt.link,
            pkt.data,
            snapped,
            &self.cfg.decode,
            &mut self.encap,
        );
        // Frames of other workers' flows are decoded and left; a frame every worker takes (a
        // fragment) is counted by the first.
        let Some(counts) = self.share.takes(&decoded) else {
            return;
        };
        let point = match pkt.link {
            LinkType::LinuxSll2 => self.sll2_point(pkt.point, pkt.data),
            _ => pkt.point,
        };
        if counts {
            self.stats.packets += 1;
            self.stats.bytes += pkt.data.len() as u64;
            if snapped {
                self.stats.packets_snapped += 1;
            }
            if pkt.link == LinkType::Nflog {
                self.stats.frames_nflog += 1;
            }
            self.count_encap();
            if self.encap.overflowed {
                self.stats.decode_too_deep += 1;
            }
        }
        self.decoded(decoded, point, pkt.ts_ns);
    }

    /// Makes this pipeline worker `index` of `of`: it takes the frames of its share of the
    /// flows (by [`flow_owner`]), and every fragment.
    pub fn set_worker(&mut self, index: usize, of: usize) {
        self.share = Share {
            index: index as u64,
            of: of.max(1) as u64,
        };
    }

    fn decoded(&mut self, decoded: Decoded<'_>, point: CapturePointId, ts_ns: u64) {
        let spans = &mut self.spans;
        match decoded {
            Decoded::Tcp(seg) => self.flows.segment(
                SeenAt { point, ts_ns },
                &self.encap,
                &seg,
                &self.points,
                &mut self.stats,
                &mut |ex, facts| spans.push(span::build(ex, facts)),
            ),
            Decoded::Udp(dgram) => {
                let ports = &self.cfg.dns_ports;
                if ports.contains(&dgram.dst_port) || ports.contains(&dgram.src_port) {
                    self.datagrams.dns(
                        point,
                        ts_ns,
                        &self.encap,
                        &dgram,
                        &self.points,
                        &mut self.stats,
                        &mut |ex, facts| spans.push(span::build(ex, facts)),
                    );
                } else {
                    self.stats.skipped_udp += 1;
                }
            }
            Decoded::Fragment(frag) => {
                // Every worker reassembles every fragment (only a datagram's first fragment
                // has its ports); the first counts them, the flow's worker takes the datagram.
                let counts = self.share.index == 0;
                let dropped_before = self.defrag.dropped;
                let outcome = self.defrag.push(&frag, ts_ns);
                if counts {
                    self.stats.ip_fragments += 1;
                    self.stats.ip_fragments_dropped += self.defrag.dropped - dropped_before;
                }
                if let DefragOutcome::Complete {
                    payload,
                    protocol,
                    src,
                    dst,
                    ttl,
                } = outcome
                {
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
                    let Some(counts) = self.share.takes(&inner) else {
                        return;
                    };
                    if counts {
                        self.stats.ip_reassembled += 1;
                        if encap.overflowed {
                            self.stats.decode_too_deep += 1;
                        }
                    }
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
        self.stats.frames_llc_snap += u64::from(self.encap.llc_snap);
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
                TunnelKind::Gtpu { .. } => &mut s.tunnel_gtpu,
                TunnelKind::Teredo => &mut s.tunnel_teredo,
                TunnelKind::Ayiya => &mut s.tunnel_ayiya,
                TunnelKind::GreUdp { .. } => &mut s.tunnel_gre_udp,
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
        let base_name: &str = self.points.name(base);
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
                let p = self.points.intern(&crate::capture::name_of(ifindex));
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
        let spans = &mut self.spans;
        self.flows
            .flush(&self.points, &mut self.stats, &mut |ex, facts| {
                spans.push(span::build(ex, facts))
            });
        self.datagrams
            .flush(&self.points, &mut self.stats, &mut |ex, facts| {
                spans.push(span::build(ex, facts))
            });
        let pending = self.defrag.pending() as u64;
        if pending > 0 {
            self.defrag.expire(u64::MAX);
            // Every worker holds every fragment: the first counts them, as it counts the rest.
            if self.share.index == 0 {
                self.stats.ip_fragments_dropped += pending;
            }
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
            return self.replay_in_workers(data, name, path, sink, progress);
        }
        let result = self.run(
            &mut reader,
            &mut |offset, _, stats| progress(offset, stats),
            &mut |spans| spans.drain(..).try_for_each(&mut *sink),
        )?;
        self.flush();
        for span in self.spans.drain(..) {
            sink(span)?;
        }
        Ok(result)
    }

    /// Runs the records of `reader` that are in this pipeline's share through it. After each
    /// packet `spans` is given the spans completed so far; `progress` hears every so many
    /// records how far into the file the reader is (bytes), how many records it has read, and
    /// what this pipeline has counted.
    fn run(
        &mut self,
        reader: &mut PacketReader<'_>,
        progress: &mut dyn FnMut(u64, u64, &Counters),
        spans: &mut dyn FnMut(&mut Vec<NetworkSpan>) -> std::io::Result<()>,
    ) -> Result<Result<(), CaptureError>, std::io::Error> {
        let mut records = 0u64;
        loop {
            match reader.next_packet(&mut self.points) {
                Ok(Some(pkt)) => {
                    self.packet(&pkt);
                    spans(&mut self.spans)?;
                    records += 1;
                    if records % PROGRESS_EVERY == 0 {
                        progress(reader.offset(), records, &self.stats);
                    }
                }
                Ok(None) => return Ok(Ok(())),
                Err(e) => return Ok(Err(e)),
            }
        }
    }

    /// The rest of [`Pipeline::replay_capture`] over `replay_workers` pipelines on their own
    /// threads. Each reads the whole file (it is mapped, so the pages are shared) and takes its
    /// share of the flows by [`flow_owner`]: nothing is handed from thread to thread
    /// but spans, which come back here in batches for `sink`, so their order across flows
    /// varies from run to run (within a flow it is kept). The workers' counters are added to
    /// this pipeline's.
    fn replay_in_workers(
        &mut self,
        data: &[u8],
        name: &str,
        path: &str,
        sink: &mut dyn FnMut(NetworkSpan) -> std::io::Result<()>,
        progress: &mut dyn FnMut(u64, &Counters),
    ) -> Result<Result<(), CaptureError>, std::io::Error> {
        let n = self.replay_workers;
        // How far the first worker has read: for the progress line.
        let (read_offset, read_records) = (AtomicU64::new(0), AtomicU64::new(0));
        std::thread::scope(|scope| {
            let (span_tx, span_rx) = bounded::<Vec<NetworkSpan>>(4 * n);
            let workers: Vec<_> = (0..n)
                .map(|index| {
                    let share = Share {
                        index: index as u64,
                        of: n as u64,
                    };
                    let mut worker = Pipeline::new(self.cfg.clone());
                    worker.points = self.points.clone();
                    let span_tx = span_tx.clone();
                    let (read_offset, read_records) = (&read_offset, &read_records);
                    scope.spawn(move || {
                        let result =
                            worker.replay_share(data, name, path, share, &span_tx, &mut |o, r| {
                                read_offset.store(o, Ordering::Relaxed);
                                read_records.store(r, Ordering::Relaxed);
                            });
                        (worker, result)
                    })
                })
                .collect();
            drop(span_tx);
            // What this thread knows: records read and spans received, for the progress line.
            let mut seen = Counters::default();
            loop {
                match span_rx.recv_timeout(PROGRESS_POLL) {
                    Ok(spans) => {
                        seen.spans += spans.len() as u64;
                        spans.into_iter().try_for_each(&mut *sink)?;
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                seen.packets = read_records.load(Ordering::Relaxed);
                progress(read_offset.load(Ordering::Relaxed), &seen);
            }
            let mut result = Ok(());
            for w in workers {
                let (worker, worker_result) = w
                    .join()
                    .map_err(|_| std::io::Error::other("a replay worker panicked"))?;
                self.stats.merge(&worker.stats);
                if result.is_ok() {
                    // Every worker read the same records: the first one's points and end stand.
                    self.points = worker.points;
                    result = worker_result?;
                }
            }
            Ok(result)
        })
    }

    /// One replay worker: the flows of `share` in the file, flushed at its end, their spans
    /// sent in batches.
    fn replay_share(
        &mut self,
        data: &[u8],
        name: &str,
        path: &str,
        share: Share,
        spans: &Sender<Vec<NetworkSpan>>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Result<(), CaptureError>, std::io::Error> {
        let mut reader = match PacketReader::new(data, name, path, &mut self.points) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let stopped = || std::io::Error::other("replay stopped");
        let report = share.index == 0;
        self.share = share;
        let result = self.run(
            &mut reader,
            &mut |offset, records, _| {
                if report {
                    progress(offset, records)
                }
            },
            &mut |done| {
                if done.len() < SPANS_PER_BATCH {
                    return Ok(());
                }
                spans.send(std::mem::take(done)).map_err(|_| stopped())
            },
        )?;
        self.flush();
        if !self.spans.is_empty() {
            spans
                .send(std::mem::take(&mut self.spans))
                .map_err(|_| stopped())?;
        }
        Ok(result)
    }
}

/// Packets between progress reports: rare enough to cost nothing.
const PROGRESS_EVERY: u64 = 16_384;

/// How often a replay with workers looks at their progress while no spans come.
const PROGRESS_POLL: Duration = Duration::from_millis(100);

/// Spans a replay worker gathers before it sends them: one channel operation per batch.
const SPANS_PER_BATCH: usize = 256;

/// The frames one of several pipelines takes: those whose [`flow_owner`] hash falls to its
/// `index` of `of` (frames of no flow, not TCP or UDP or undecodable, to the first), and every
/// fragment.
#[derive(Debug, Clone, Copy)]
struct Share {
    index: u64,
    of: u64,
}

impl Share {
    const ALL: Share = Share { index: 0, of: 1 };

    /// `None` when the frame is another share's; else whether this share counts it (a frame
    /// every share takes is counted by the first).
    fn takes(self, decoded: &Decoded<'_>) -> Option<bool> {
        if self.of == 1 {
            return Some(true);
        }
        match flow_owner(decoded) {
            None => Some(self.index == 0),
            Some(hash) => (hash % self.of == self.index).then_some(true),
        }
    }
}

/// The [`flow_owner`] of a frame, decoded as a pipeline will decode it (snapped frames
/// included).
pub(crate) fn frame_owner(
    link: LinkType,
    data: &[u8],
    wire_len: u32,
    cfg: &DecodeConfig,
    encap: &mut Encap,
) -> Option<u64> {
    let snapped = (data.len() as u32) < wire_len;
    flow_owner(&decode::decode(link, data, snapped, cfg, encap))
}

/// Which worker a decoded frame is for: a symmetric hash of its innermost addresses and ports
/// (the same for both directions of a connection or a lookup, so that a worker chosen by it
/// sees all of a flow, and connections between the same two hosts spread over the workers);
/// frames of no flow hash to 0. `None` for a fragment: only a datagram's first fragment holds
/// its ports, so every worker reassembles every datagram and keeps those whose ports are its.
fn flow_owner(decoded: &Decoded<'_>) -> Option<u64> {
    let (a, b) = match decoded {
        Decoded::Tcp(seg) => ((seg.src, seg.src_port), (seg.dst, seg.dst_port)),
        Decoded::Udp(dgram) => ((dgram.src, dgram.src_port), (dgram.dst, dgram.dst_port)),
        Decoded::Fragment(_) => return None,
        _ => return Some(0),
    };
    let a = (decode::ip_bits(a.0), a.1);
    let b = (decode::ip_bits(b.0), b.1);
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    let mut h = crate::hash::StableHasher::new();
    h.write_u128(low.0);
    h.write_u64(u64::from(low.1));
    h.write_u128(high.0);
    h.write_u64(u64::from(high.1));
    Some(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Fragment, TcpFlags, TcpSegment};
    use std::net::{IpAddr, Ipv4Addr};

    fn segment(src: (u8, u16), dst: (u8, u16)) -> Decoded<'static> {
        Decoded::Tcp(TcpSegment {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, src.0)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, dst.0)),
            src_port: src.1,
            dst_port: dst.1,
            seq: 1,
            ack: 1,
            flags: TcpFlags(TcpFlags::ACK),
            ttl: 64,
            payload: &[],
            missing_tail: 0,
        })
    }

    #[test]
    fn connections_between_two_hosts_spread_over_the_workers_each_whole() {
        let owner = |d: &Decoded<'_>| flow_owner(d).expect("a flow");
        let mut taken = [0usize; 2];
        for port in 40_000..40_064 {
            let out = owner(&segment((1, port), (2, 80)));
            // Both directions of a connection go to one worker.
            assert_eq!(out, owner(&segment((2, 80), (1, port))));
            taken[(out % 2) as usize] += 1;
        }
        assert!(
            taken.iter().all(|&n| n >= 16),
            "64 connections between the same two hosts went {taken:?}"
        );
    }

    #[test]
    fn every_worker_takes_a_fragment_and_the_first_counts_it() {
        let fragment = Decoded::Fragment(Fragment {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            id: 7,
            protocol: 6,
            ttl: 64,
            offset: 8,
            more: true,
            payload: &[0; 8],
        });
        assert_eq!(flow_owner(&fragment), None);
        let takes: Vec<Option<bool>> = (0..3)
            .map(|index| Share { index, of: 3 }.takes(&fragment))
            .collect();
        assert_eq!(takes, [Some(true), Some(false), Some(false)]);
        // A segment is one worker's, counted by it.
        let seg = segment((1, 40_000), (2, 80));
        let takers: Vec<Option<bool>> = (0..3)
            .map(|index| Share { index, of: 3 }.takes(&seg))
            .filter(Option::is_some)
            .collect();
        assert_eq!(takers, [Some(true)]);
    }

    #[test]
    fn a_datagram_left_unfinished_is_dropped_once_across_the_workers() {
        // An IPv4 frame holding the first fragment of a datagram whose rest never comes.
        let mut frame = vec![0x45, 0, 0, 28, 0, 7, 0x20, 0, 64, 6, 0, 0];
        frame.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        frame.extend_from_slice(&[0; 8]);
        let packet = RawPacket {
            ts_ns: 1,
            link: LinkType::RawIp,
            point: 0,
            wire_len: frame.len() as u32,
            data: &frame,
        };
        let counted = |of: usize| -> (u64, u64) {
            let (mut fragments, mut dropped) = (0, 0);
            for index in 0..of {
                let mut p = Pipeline::new(PipelineConfig::default());
                p.set_worker(index, of);
                p.packet(&packet);
                p.flush();
                fragments += p.stats.ip_fragments;
                dropped += p.stats.ip_fragments_dropped;
            }
            (fragments, dropped)
        };
        assert_eq!(counted(1), (1, 1));
        assert_eq!(counted(3), (1, 1));
    }
}

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
use std::path::Path;

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
        /// Packets between progress reports: rare enough to cost nothing.
        const EVERY: u64 = 16_384;
        let mut reader = match PacketReader::new(data, name, path, &mut self.points) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let result = loop {
            match reader.next_packet(&mut self.points) {
                Ok(Some(pkt)) => {
                    self.packet(&pkt);
                    for span in self.spans.drain(..) {
                        sink(span)?;
                    }
                    if self.stats.packets % EVERY == 0 {
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

//! One direction of a TCP stream put back in order.
//!
//! Takes segments as they were captured; gives [`StreamEvent`]s in stream order: bytes of the
//! current segment (borrowed, the common case), bytes of earlier out-of-order segments (copied
//! while they waited), and holes. Retransmitted bytes are trimmed; a hole is given up on when
//! the receiver acknowledges past it, when the buffer limit is reached, or at the end.

// Segments come off the wire: no index may panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use crate::protocol::SegmentMeta;
use crate::stats::Counters;

/// A segment this far ahead of the stream cannot belong to it (a stale or reused flow).
const MAX_WINDOW: u32 = 64 << 20;

/// The next piece of the stream, in order.
#[derive(Debug)]
pub enum StreamEvent {
    /// The current segment's payload from `offset` on.
    Current { offset: usize, meta: SegmentMeta },
    /// A segment that had arrived early, from `offset` on.
    Buffered {
        data: Vec<u8>,
        offset: usize,
        meta: SegmentMeta,
    },
    /// Bytes that were never captured.
    Gap(u32),
}

struct Early {
    meta: SegmentMeta,
    data: Vec<u8>,
    /// Bytes after `data` that the capture cut off.
    missing: u32,
}

#[derive(Default)]
pub struct HalfStream {
    next: Option<u32>,
    fin: bool,
    ttl: Option<u8>,
    /// Early segments, sorted by their distance from `next`.
    early: Vec<Early>,
    early_bytes: usize,
    /// The peer acknowledged past a hole: the bytes were sent, so they are lost to us unless
    /// the capture itself reordered them. One more packet decides.
    hole_acked: Option<u32>,
}

/// `a - b` as a signed distance in sequence space.
fn distance(a: u32, b: u32) -> i64 {
    i64::from(a.wrapping_sub(b) as i32)
}

impl HalfStream {
    pub fn next_seq(&self) -> Option<u32> {
        self.next
    }

    pub fn fin_seen(&self) -> bool {
        self.fin
    }

    /// Payload bytes of early segments held until the stream reaches them.
    pub fn buffered_bytes(&self) -> usize {
        self.early_bytes
    }

    pub fn ttl(&self) -> Option<u8> {
        self.ttl
    }

    pub fn note_ttl(&mut self, ttl: u8) {
        self.ttl.get_or_insert(ttl);
    }

    pub fn on_syn(&mut self, seq: u32) {
        if self.next.is_none() {
            self.next = Some(seq.wrapping_add(1));
        }
    }

    pub fn on_fin(&mut self) {
        self.fin = true;
    }

    /// A segment's payload (`meta.seq` is the sequence number of its first byte), of which
    /// `missing` trailing bytes were cut off by the capture.
    pub fn on_data(
        &mut self,
        meta: SegmentMeta,
        payload: &[u8],
        missing: u32,
        max_early_bytes: usize,
        events: &mut Vec<StreamEvent>,
        stats: &mut Counters,
    ) {
        let acked = self.hole_acked;
        self.receive(meta, payload, missing, max_early_bytes, events, stats);
        if let Some(ack) = acked {
            self.skip_acked_holes(ack, events, stats);
        }
    }

    fn receive(
        &mut self,
        meta: SegmentMeta,
        payload: &[u8],
        missing: u32,
        max_early_bytes: usize,
        events: &mut Vec<StreamEvent>,
        stats: &mut Counters,
    ) {
        let len = payload.len() as u32 + missing;
        // A stream joined mid-way starts at the first byte we see.
        let next = *self.next.get_or_insert(meta.seq);
        let d = distance(meta.seq, next);
        if d < 0 {
            let overlap = (-d) as u32;
            if overlap >= len {
                stats.tcp_retransmitted_segments += 1;
                return;
            }
            stats.tcp_overlap_bytes_trimmed += u64::from(overlap);
            self.in_order(meta, payload, overlap, missing, events);
        } else if d == 0 {
            self.in_order(meta, payload, 0, missing, events);
        } else if d as u32 > MAX_WINDOW {
            stats.tcp_segments_out_of_window += 1;
            return;
        } else {
            stats.tcp_out_of_order_segments += 1;
            while self.early_bytes + payload.len() > max_early_bytes && !self.early.is_empty() {
                stats.tcp_reassembly_overflow += 1;
                self.skip_first_hole(events, stats);
            }
            if self.early_bytes + payload.len() > max_early_bytes {
                stats.tcp_reassembly_overflow += 1;
                return;
            }
            let next = self.next.unwrap_or(meta.seq);
            if distance(meta.seq, next) <= 0 {
                // Giving up on holes brought the stream up to this segment.
                return self.receive(meta, payload, missing, max_early_bytes, events, stats);
            }
            self.store_early(meta, payload, missing);
            return;
        }
        self.drain_early(events, stats);
    }

    /// Delivers the current segment from `skip` on and advances the stream.
    fn in_order(
        &mut self,
        meta: SegmentMeta,
        payload: &[u8],
        skip: u32,
        missing: u32,
        events: &mut Vec<StreamEvent>,
    ) {
        let plen = payload.len() as u32;
        if skip < plen {
            events.push(StreamEvent::Current {
                offset: skip as usize,
                meta: SegmentMeta {
                    seq: meta.seq.wrapping_add(skip),
                    ..meta
                },
            });
        }
        let lost_tail = (plen + missing).saturating_sub(skip.max(plen));
        if lost_tail > 0 {
            events.push(StreamEvent::Gap(lost_tail));
        }
        self.next = Some(meta.seq.wrapping_add(plen + missing));
    }

    fn store_early(&mut self, meta: SegmentMeta, payload: &[u8], missing: u32) {
        let next = self.next.unwrap_or(meta.seq);
        let d = distance(meta.seq, next);
        let at = self
            .early
            .partition_point(|e| distance(e.meta.seq, next) < d);
        if self
            .early
            .get(at)
            .is_some_and(|e| e.meta.seq == meta.seq && e.data.len() >= payload.len())
        {
            return;
        }
        self.early_bytes += payload.len();
        self.early.insert(
            at,
            Early {
                meta,
                data: payload.to_vec(),
                missing,
            },
        );
    }

    /// Hands on every early segment that the stream has now reached.
    fn drain_early(&mut self, events: &mut Vec<StreamEvent>, stats: &mut Counters) {
        if self.early.is_empty() {
            self.hole_acked = None;
        }
        while let Some(first) = self.early.first() {
            let Some(next) = self.next else { return };
            let d = distance(first.meta.seq, next);
            if d > 0 {
                return;
            }
            let e = self.early.remove(0);
            self.early_bytes -= e.data.len();
            let overlap = (-d) as usize;
            let len = e.data.len() + e.missing as usize;
            if overlap >= len {
                stats.tcp_retransmitted_segments += 1;
                continue;
            }
            stats.tcp_overlap_bytes_trimmed += overlap as u64;
            self.next = Some(e.meta.seq.wrapping_add(len as u32));
            let lost_tail = len - overlap.max(e.data.len());
            if overlap < e.data.len() {
                let meta = SegmentMeta {
                    seq: e.meta.seq.wrapping_add(overlap as u32),
                    ..e.meta
                };
                events.push(StreamEvent::Buffered {
                    data: e.data,
                    offset: overlap,
                    meta,
                });
            }
            if lost_tail > 0 {
                events.push(StreamEvent::Gap(lost_tail as u32));
            }
        }
    }

    /// Gives up on the hole before the first early segment.
    fn skip_first_hole(&mut self, events: &mut Vec<StreamEvent>, stats: &mut Counters) {
        let (Some(first), Some(next)) = (self.early.first(), self.next) else {
            return;
        };
        let gap = first.meta.seq.wrapping_sub(next);
        stats.tcp_gaps += 1;
        stats.tcp_gap_bytes += u64::from(gap);
        events.push(StreamEvent::Gap(gap));
        self.next = Some(first.meta.seq);
        self.drain_early(events, stats);
    }

    /// The other side acknowledged up to `ack`, in a segment that carried data or not. A hole
    /// the peer acknowledged is given up on when the peer also sends data (it has moved on to
    /// its answer) or at the next packet that does not fill it; the grace of one packet keeps
    /// segments that the capture itself reordered.
    pub fn on_peer_ack(
        &mut self,
        ack: u32,
        peer_sent_data: bool,
        events: &mut Vec<StreamEvent>,
        stats: &mut Counters,
    ) {
        let covers = |h: &Self| {
            h.early
                .first()
                .is_some_and(|e| distance(ack, e.meta.seq) >= 0)
        };
        if !covers(self) {
            return;
        }
        if peer_sent_data || self.hole_acked.is_some() {
            self.skip_acked_holes(ack, events, stats);
        } else {
            self.hole_acked = Some(ack);
        }
    }

    fn skip_acked_holes(&mut self, ack: u32, events: &mut Vec<StreamEvent>, stats: &mut Counters) {
        self.hole_acked = None;
        while self
            .early
            .first()
            .is_some_and(|e| distance(ack, e.meta.seq) >= 0)
        {
            self.skip_first_hole(events, stats);
        }
    }

    /// End of the stream: whatever is buffered is delivered, holes and all.
    pub fn flush(&mut self, events: &mut Vec<StreamEvent>, stats: &mut Counters) {
        self.hole_acked = None;
        while !self.early.is_empty() {
            self.skip_first_hole(events, stats);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(seq: u32) -> SegmentMeta {
        SegmentMeta {
            ts_ns: 0,
            seq,
            ack: 0,
        }
    }

    /// Replays segments and returns the stream as text, holes as `_` per byte.
    fn replay(segs: &[(u32, &str)], ack_at_end: Option<u32>) -> (String, Counters) {
        let mut h = HalfStream::default();
        h.on_syn(99);
        let mut stats = Counters::default();
        let mut text = String::new();
        let collect = |events: Vec<StreamEvent>, payload: &str, text: &mut String| {
            for e in events {
                match e {
                    StreamEvent::Current { offset, .. } => text.push_str(&payload[offset..]),
                    StreamEvent::Buffered { data, offset, .. } => {
                        text.push_str(std::str::from_utf8(&data[offset..]).unwrap_or("?"))
                    }
                    StreamEvent::Gap(n) => text.push_str(&"_".repeat(n as usize)),
                }
            }
        };
        for &(seq, data) in segs {
            let mut ev = Vec::new();
            h.on_data(meta(seq), data.as_bytes(), 0, 1024, &mut ev, &mut stats);
            collect(ev, data, &mut text);
        }
        let mut ev = Vec::new();
        if let Some(ack) = ack_at_end {
            h.on_peer_ack(ack, true, &mut ev, &mut stats);
        }
        h.flush(&mut ev, &mut stats);
        collect(ev, "", &mut text);
        (text, stats)
    }

    #[test]
    fn orders_and_trims() {
        let (text, stats) = replay(
            &[
                (100, "abc"),
                (106, "ghi"),
                (103, "def"),
                (101, "bcdX"),
                (109, "j"),
            ],
            None,
        );
        assert_eq!(text, "abcdefghij");
        assert_eq!(stats.tcp_out_of_order_segments, 1);
        assert_eq!(stats.tcp_retransmitted_segments, 1);
    }

    #[test]
    fn partial_overlap_is_trimmed() {
        let (text, stats) = replay(&[(100, "abc"), (102, "cde")], None);
        assert_eq!(text, "abcde");
        assert_eq!(stats.tcp_overlap_bytes_trimmed, 1);
    }

    #[test]
    fn hole_is_skipped_on_ack() {
        let (text, stats) = replay(&[(100, "abc"), (105, "fg")], Some(107));
        assert_eq!(text, "abc__fg");
        assert_eq!((stats.tcp_gaps, stats.tcp_gap_bytes), (1, 2));
    }

    #[test]
    fn reordered_by_the_capture_is_not_a_hole() {
        let mut h = HalfStream::default();
        let mut stats = Counters::default();
        let mut ev = Vec::new();
        h.on_data(meta(0), b"ab", 0, 1024, &mut ev, &mut stats);
        h.on_data(meta(4), b"ef", 0, 1024, &mut ev, &mut stats);
        // A pure ACK past the hole arrives before the segment that fills it.
        h.on_peer_ack(6, false, &mut ev, &mut stats);
        h.on_data(meta(2), b"cd", 0, 1024, &mut ev, &mut stats);
        assert_eq!(stats.tcp_gaps, 0);
        assert_eq!(h.next_seq(), Some(6));
        // A second ACK past a hole that stays open gives it up.
        h.on_data(meta(10), b"kl", 0, 1024, &mut ev, &mut stats);
        h.on_peer_ack(12, false, &mut ev, &mut stats);
        h.on_peer_ack(12, false, &mut ev, &mut stats);
        assert_eq!((stats.tcp_gaps, stats.tcp_gap_bytes), (1, 4));
    }

    #[test]
    fn wraps_around_sequence_space() {
        let mut h = HalfStream::default();
        let mut stats = Counters::default();
        let mut ev = Vec::new();
        h.on_data(meta(u32::MAX - 1), b"ab", 0, 1024, &mut ev, &mut stats);
        h.on_data(meta(2), b"e", 0, 1024, &mut ev, &mut stats);
        h.on_data(meta(0), b"cd", 0, 1024, &mut ev, &mut stats);
        assert_eq!(ev.len(), 3);
        assert_eq!(h.next_seq(), Some(3));
    }

    #[test]
    fn buffer_limit_gives_up_holes() {
        let mut h = HalfStream::default();
        let mut stats = Counters::default();
        let mut ev = Vec::new();
        h.on_data(meta(0), b"a", 0, 8, &mut ev, &mut stats);
        for i in 0..10u32 {
            h.on_data(meta(10 + i * 10), b"xxxx", 0, 8, &mut ev, &mut stats);
        }
        assert!(h.early_bytes <= 8);
        assert!(stats.tcp_reassembly_overflow > 0);
        assert!(stats.tcp_gaps > 0);
    }
}

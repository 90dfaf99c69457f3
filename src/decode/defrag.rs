//! IP fragment reassembly with bounded memory.
//!
//! Takes [`Fragment`]s; gives the rebuilt datagram's payload once every byte from 0 to the last
//! fragment's end has arrived, in any order. Datagrams that never complete are dropped after a
//! timeout; when the byte budget is spent, new fragments are dropped. Every drop is counted.

// Every byte here comes off the wire or out of a file: no index may panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::Fragment;
use hashbrown::HashMap;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy)]
pub struct DefragLimits {
    /// Datagrams under reassembly at once.
    pub max_datagrams: usize,
    /// Bytes held for all datagrams under reassembly.
    pub max_bytes: usize,
    /// Capture-time nanoseconds after which an incomplete datagram is dropped.
    pub timeout_ns: u64,
}

impl Default for DefragLimits {
    fn default() -> Self {
        DefragLimits {
            max_datagrams: 4096,
            max_bytes: 16 << 20,
            timeout_ns: 30_000_000_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct DatagramKey {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    protocol: u8,
}

struct Partial {
    data: Vec<u8>,
    /// Byte ranges received so far, sorted and merged.
    have: Vec<(u32, u32)>,
    /// Total payload length, known once the last fragment (more = false) arrived.
    total: Option<u32>,
    first_ts: u64,
}

/// What one fragment did.
pub enum DefragOutcome {
    /// Held; the datagram is not complete yet.
    Held,
    /// The datagram is complete: its payload, protocol, addresses and TTL.
    Complete {
        payload: Vec<u8>,
        protocol: u8,
        src: IpAddr,
        dst: IpAddr,
        ttl: u8,
    },
    /// Dropped: over a limit or inconsistent with earlier fragments.
    Dropped,
}

/// The datagrams under reassembly.
#[derive(Default)]
pub struct Defragmenter {
    limits: DefragLimits,
    partial: HashMap<DatagramKey, Partial>,
    bytes: usize,
    /// Datagrams dropped so far (incomplete at timeout, or over a limit).
    pub dropped: u64,
}

/// No IP datagram is larger than this.
const MAX_DATAGRAM: u32 = 65_535;

impl Defragmenter {
    pub fn new(limits: DefragLimits) -> Defragmenter {
        Defragmenter {
            limits,
            ..Default::default()
        }
    }

    pub fn push(&mut self, f: &Fragment<'_>, ts_ns: u64) -> DefragOutcome {
        let key = DatagramKey {
            src: f.src,
            dst: f.dst,
            id: f.id,
            protocol: f.protocol,
        };
        let len = f.payload.len() as u32;
        let end = f.offset.saturating_add(len);
        if end > MAX_DATAGRAM || (f.more && len % 8 != 0) {
            self.dropped += 1;
            return DefragOutcome::Dropped;
        }
        if !self.partial.contains_key(&key) {
            if self.partial.len() >= self.limits.max_datagrams {
                self.expire(ts_ns);
            }
            if self.partial.len() >= self.limits.max_datagrams {
                self.dropped += 1;
                return DefragOutcome::Dropped;
            }
        }
        let grow = {
            let p = self.partial.get(&key);
            (end as usize).saturating_sub(p.map_or(0, |p| p.data.len()))
        };
        if self.bytes + grow > self.limits.max_bytes {
            self.dropped += 1;
            return DefragOutcome::Dropped;
        }
        let p = self.partial.entry(key).or_insert_with(|| Partial {
            data: Vec::new(),
            have: Vec::new(),
            total: None,
            first_ts: ts_ns,
        });
        if !f.more {
            if p.total.is_some_and(|t| t != end) {
                self.bytes -= p.data.len();
                self.partial.remove(&key);
                self.dropped += 1;
                return DefragOutcome::Dropped;
            }
            p.total = Some(end);
        }
        if p.data.len() < end as usize {
            p.data.resize(end as usize, 0);
        }
        self.bytes += grow;
        if let Some(hole) = p.data.get_mut(f.offset as usize..end as usize) {
            hole.copy_from_slice(f.payload);
        }
        insert_range(&mut p.have, (f.offset, end));
        let complete = p.total.is_some_and(|t| p.have.first() == Some(&(0, t)));
        if !complete {
            return DefragOutcome::Held;
        }
        let Some(mut p) = self.partial.remove(&key) else {
            return DefragOutcome::Held;
        };
        self.bytes -= p.data.len();
        p.data.truncate(p.total.unwrap_or(0) as usize);
        DefragOutcome::Complete {
            payload: p.data,
            protocol: f.protocol,
            src: f.src,
            dst: f.dst,
            ttl: f.ttl,
        }
    }

    /// Drops datagrams older than the timeout; returns how many.
    pub fn expire(&mut self, now_ns: u64) -> u64 {
        let timeout = self.limits.timeout_ns;
        let before = self.partial.len();
        let mut freed = 0;
        self.partial.retain(|_, p| {
            let keep = now_ns.saturating_sub(p.first_ts) < timeout;
            if !keep {
                freed += p.data.len();
            }
            keep
        });
        self.bytes -= freed;
        let n = (before - self.partial.len()) as u64;
        self.dropped += n;
        n
    }

    /// Datagrams still incomplete (at the end of input they count as dropped).
    pub fn pending(&self) -> usize {
        self.partial.len()
    }
}

/// Adds `r` to a sorted list of disjoint ranges, merging neighbours.
fn insert_range(ranges: &mut Vec<(u32, u32)>, r: (u32, u32)) {
    ranges.push(r);
    ranges.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
    for &(s, e) in ranges.iter() {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    *ranges = merged;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(offset: u32, more: bool, payload: &[u8]) -> Fragment<'_> {
        Fragment {
            src: [10, 0, 0, 1].into(),
            dst: [10, 0, 0, 2].into(),
            id: 7,
            protocol: 6,
            ttl: 64,
            offset,
            more,
            payload,
        }
    }

    #[test]
    fn rebuilds_out_of_order_fragments() {
        let mut d = Defragmenter::new(DefragLimits::default());
        let a = [1u8; 8];
        let b = [2u8; 8];
        let c = [3u8; 3];
        assert!(matches!(
            d.push(&frag(16, false, &c), 0),
            DefragOutcome::Held
        ));
        assert!(matches!(d.push(&frag(0, true, &a), 1), DefragOutcome::Held));
        match d.push(&frag(8, true, &b), 2) {
            DefragOutcome::Complete { payload, .. } => {
                assert_eq!(payload, [a.as_slice(), &b, &c].concat());
            }
            _ => panic!("datagram should be complete"),
        }
        assert_eq!(d.pending(), 0);
        assert_eq!(d.bytes, 0);
    }

    #[test]
    fn budget_and_timeout_drop_and_count() {
        let mut d = Defragmenter::new(DefragLimits {
            max_datagrams: 1,
            max_bytes: 16,
            timeout_ns: 10,
        });
        let a = [0u8; 8];
        assert!(matches!(d.push(&frag(0, true, &a), 0), DefragOutcome::Held));
        // A second datagram does not fit while the first is young…
        let mut other = frag(0, true, &a);
        other.id = 8;
        assert!(matches!(d.push(&other, 5), DefragOutcome::Dropped));
        // …and replaces it once the first has timed out.
        assert!(matches!(d.push(&other, 20), DefragOutcome::Held));
        assert_eq!(d.dropped, 2);
        // Over the byte budget.
        assert!(matches!(
            d.push(&frag(64, true, &a), 21),
            DefragOutcome::Dropped
        ));
    }
}

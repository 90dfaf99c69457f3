//! Packet sources.
//!
//! Takes capture files (pcap or pcapng, memory-mapped) and gives [`RawPacket`]s: a frame borrowed
//! from the file, its timestamp in Unix nanoseconds, its link type and the [`CapturePointId`] of
//! the interface that saw it. Nothing is copied; a damaged file yields a [`CaptureError`] naming
//! the byte offset, after every packet before it has been handed out.

pub mod bpf;
mod file;
pub(crate) mod pcap;
pub(crate) mod pcapng;
pub mod privileges;
pub mod ring;

pub use file::{CaptureFile, PacketReader};

use std::fmt;
use std::sync::{Arc, LazyLock};

/// Index into [`CapturePoints`]: which interface saw a packet.
pub type CapturePointId = u16;

/// The names of the capture points of a run, e.g. `pcap:client.pcap#0` or `pcap:x.pcapng#eth0`.
#[derive(Debug, Default, Clone)]
pub struct CapturePoints {
    /// Shared with every span written at the point.
    names: Vec<Arc<str>>,
}

impl CapturePoints {
    /// Returns the id of `name`, registering it on first use.
    pub fn intern(&mut self, name: &str) -> CapturePointId {
        if let Some(i) = self.names.iter().position(|n| &**n == name) {
            return i as CapturePointId;
        }
        self.names.push(name.into());
        (self.names.len() - 1) as CapturePointId
    }

    pub fn name(&self, id: CapturePointId) -> &Arc<str> {
        static UNKNOWN: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from("unknown"));
        self.names.get(id as usize).unwrap_or(&UNKNOWN)
    }
}

/// Link-layer header type of a frame (the pcap LINKTYPE_ values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    Ethernet,
    /// Linux cooked capture v1 (`tcpdump -i any` before libpcap 1.10).
    LinuxSll,
    /// Linux cooked capture v2: carries the interface index.
    LinuxSll2,
    /// Raw IP; the version nibble tells v4 from v6.
    RawIp,
    /// BSD loopback: a 4-byte address family in host byte order.
    Null,
    /// OpenBSD loopback: a 4-byte address family in network byte order.
    Loop,
    /// A cooked live frame (`-i any`): it starts at the network layer, with this EtherType.
    Ethertype(u16),
    /// Linux NFLOG records (`tcpdump -i nflog`): a family byte, then TLVs, the packet in one.
    Nflog,
    Other(u32),
}

impl LinkType {
    pub fn from_linktype(v: u32) -> LinkType {
        match v {
            1 => LinkType::Ethernet,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            12 | 14 | 101 | 228 | 229 => LinkType::RawIp,
            0 => LinkType::Null,
            108 => LinkType::Loop,
            239 => LinkType::Nflog,
            other => LinkType::Other(other),
        }
    }
}

/// One captured frame, borrowed from the capture file.
#[derive(Debug, Clone, Copy)]
pub struct RawPacket<'a> {
    pub ts_ns: u64,
    pub link: LinkType,
    pub point: CapturePointId,
    /// Length of the frame on the wire; more than `data.len()` when the capture was snapped.
    pub wire_len: u32,
    pub data: &'a [u8],
}

/// A capture file that cannot be read on: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureError {
    pub file: String,
    pub offset: u64,
    pub reason: String,
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: at byte offset {}: {}",
            self.file, self.offset, self.reason
        )
    }
}

impl std::error::Error for CaptureError {}

/// A record cannot be larger than this: anything bigger is a corrupt length field.
pub(crate) const MAX_RECORD_LEN: u32 = 256 * 1024;

/// Reads integers in the byte order a capture file declared.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ByteOrder {
    pub big_endian: bool,
}

impl ByteOrder {
    pub fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        let bytes: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
        Some(if self.big_endian {
            u16::from_be_bytes(bytes)
        } else {
            u16::from_le_bytes(bytes)
        })
    }

    pub fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        let bytes: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if self.big_endian {
            u32::from_be_bytes(bytes)
        } else {
            u32::from_le_bytes(bytes)
        })
    }
}

/// The capture point name of the interface a live frame came from (its index names it).
pub fn name_of(ifindex: u32) -> String {
    ring::interface_name(ifindex).unwrap_or_else(|| format!("ifindex{ifindex}"))
}

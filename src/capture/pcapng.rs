//! The pcapng format: blocks of (type, length, body, length). Sections may switch byte order;
//! each Interface Description Block declares a link type, a name (the capture point) and a
//! timestamp resolution that the Enhanced/Simple Packet Blocks refer to.

// Every byte here comes off the wire or out of a file: no index may panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::{
    ByteOrder, CaptureError, CapturePointId, CapturePoints, LinkType, RawPacket, MAX_RECORD_LEN,
};

const SHB: u32 = 0x0a0d_0d0a;
const IDB: u32 = 0x0000_0001;
const OPB: u32 = 0x0000_0002;
const SPB: u32 = 0x0000_0003;
const EPB: u32 = 0x0000_0006;
/// Decryption Secrets Block: key material (a TLS key log) for the packets that follow.
const DSB: u32 = 0x0000_000a;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
const OPT_IF_NAME: u16 = 2;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;
/// A block cannot be larger than this: anything bigger is a corrupt length field.
const MAX_BLOCK_LEN: u32 = MAX_RECORD_LEN + 64 * 1024;

struct Interface {
    link: LinkType,
    point: CapturePointId,
    snaplen: u32,
    /// Timestamp units per second (10^6 unless if_tsresol says otherwise).
    units_per_sec: u64,
    offset_sec: i64,
}

pub struct PcapngReader<'a> {
    data: &'a [u8],
    pos: usize,
    order: ByteOrder,
    interfaces: Vec<Interface>,
    /// How many sections came before, so that a second section's interfaces get their own names.
    section: u32,
    name: String,
    path: String,
    /// The bodies of the Decryption Secrets Blocks read so far.
    secrets: Vec<&'a [u8]>,
}

impl<'a> PcapngReader<'a> {
    /// The bodies of the Decryption Secrets Blocks read so far (their secrets type and
    /// data; the protocol that uses them reads them).
    pub fn secrets(&self) -> &[&'a [u8]] {
        &self.secrets
    }

    pub fn new(data: &'a [u8], name: &str, path: &str) -> PcapngReader<'a> {
        PcapngReader {
            data,
            pos: 0,
            order: ByteOrder { big_endian: false },
            interfaces: Vec::new(),
            section: 0,
            name: name.to_owned(),
            path: path.to_owned(),
            secrets: Vec::new(),
        }
    }

    pub fn offset(&self) -> u64 {
        self.pos as u64
    }

    fn fail(&self, reason: String) -> CaptureError {
        CaptureError {
            file: self.path.clone(),
            offset: self.pos as u64,
            reason,
        }
    }

    pub fn next_packet(
        &mut self,
        points: &mut CapturePoints,
    ) -> Result<Option<RawPacket<'a>>, CaptureError> {
        loop {
            let rest = self.data.len() - self.pos;
            if rest == 0 {
                return Ok(None);
            }
            if rest < 12 {
                return Err(self.fail(format!("block header truncated ({rest} bytes left)")));
            }
            let head = self.data.get(self.pos..).unwrap_or(&[]);
            let block_type = ByteOrder { big_endian: false }.u32(head, 0);
            if block_type == Some(SHB) {
                // The byte-order magic decides how this block's own length is read.
                let bom = head.get(8..12).unwrap_or(&[]);
                self.order = match bom {
                    [0x4d, 0x3c, 0x2b, 0x1a] => ByteOrder { big_endian: false },
                    [0x1a, 0x2b, 0x3c, 0x4d] => ByteOrder { big_endian: true },
                    _ => {
                        return Err(self.fail(format!(
                            "section header byte-order magic {:02x?} is not {BYTE_ORDER_MAGIC:#x}",
                            bom
                        )))
                    }
                };
                if self.pos > 0 {
                    self.section += 1;
                }
                self.interfaces.clear();
            }
            let o = self.order;
            let block_type = o.u32(head, 0).unwrap_or(0);
            let len = o.u32(head, 4).unwrap_or(0);
            if len < 12 || len % 4 != 0 || len > MAX_BLOCK_LEN {
                return Err(self.fail(format!(
                    "block length {len} is invalid (must be a multiple of 4 between 12 and {MAX_BLOCK_LEN})"
                )));
            }
            let Some(block) = head.get(..len as usize) else {
                return Err(self.fail(format!("block truncated: needs {len} bytes, {rest} left")));
            };
            if o.u32(block, len as usize - 4) != Some(len) {
                return Err(self.fail("block trailing length does not match its header".into()));
            }
            let body = block.get(8..len as usize - 4).unwrap_or(&[]);
            let packet = match block_type {
                IDB => {
                    self.read_interface(body, points)?;
                    None
                }
                EPB => Some(self.read_epb(body)?),
                SPB => Some(self.read_spb(body)?),
                OPB => Some(self.read_opb(body)?),
                DSB => {
                    self.secrets.push(body);
                    None
                }
                // Section headers were handled above; name resolution, statistics and custom
                // blocks carry nothing a span needs.
                _ => None,
            };
            self.pos += len as usize;
            if let Some(p) = packet {
                return Ok(Some(p));
            }
        }
    }

    fn read_interface(
        &mut self,
        body: &[u8],
        points: &mut CapturePoints,
    ) -> Result<(), CaptureError> {
        let o = self.order;
        let (Some(linktype), Some(snaplen)) = (o.u16(body, 0), o.u32(body, 4)) else {
            return Err(self.fail("interface description block too short".into()));
        };
        let index = self.interfaces.len();
        let mut if_name = None;
        let mut units_per_sec = 1_000_000u64;
        let mut offset_sec = 0i64;
        let mut at = 8;
        while let (Some(code), Some(olen)) = (o.u16(body, at), o.u16(body, at + 2)) {
            let Some(value) = body.get(at + 4..at + 4 + olen as usize) else {
                break;
            };
            match code {
                0 => break,
                OPT_IF_NAME => {
                    let name = String::from_utf8_lossy(value);
                    if_name = Some(name.trim_end_matches('\0').to_owned());
                }
                OPT_IF_TSRESOL => {
                    if let Some(&r) = value.first() {
                        units_per_sec = tsresol_units(r).ok_or_else(|| {
                            self.fail(format!("interface {index}: unsupported if_tsresol {r:#x}"))
                        })?;
                    }
                }
                OPT_IF_TSOFFSET => {
                    if let Some(v) = value.get(..8).and_then(|v| <[u8; 8]>::try_from(v).ok()) {
                        offset_sec = if o.big_endian {
                            i64::from_be_bytes(v)
                        } else {
                            i64::from_le_bytes(v)
                        };
                    }
                }
                _ => {}
            }
            at += 4 + (olen as usize).div_ceil(4) * 4;
        }
        let label = if_name.unwrap_or_else(|| index.to_string());
        let point_name = if self.section == 0 {
            format!("pcap:{}#{label}", self.name)
        } else {
            format!("pcap:{}#{}.{label}", self.name, self.section)
        };
        self.interfaces.push(Interface {
            link: LinkType::from_linktype(u32::from(linktype)),
            point: points.intern(&point_name),
            snaplen,
            units_per_sec,
            offset_sec,
        });
        Ok(())
    }

    fn interface(&self, id: u32) -> Result<&Interface, CaptureError> {
        self.interfaces.get(id as usize).ok_or_else(|| {
            self.fail(format!(
                "packet refers to interface {id}, but only {} are declared",
                self.interfaces.len()
            ))
        })
    }

    fn packet(
        &self,
        iface: &Interface,
        ts_units: u64,
        wire_len: u32,
        data: &'a [u8],
    ) -> RawPacket<'a> {
        let secs = ts_units / iface.units_per_sec;
        let frac = ts_units % iface.units_per_sec;
        // A timestamp past what nanoseconds in a u64 hold (the year 2554) is garbage: saturate.
        let secs = i64::try_from(secs)
            .unwrap_or(i64::MAX)
            .saturating_add(iface.offset_sec)
            .max(0) as u64;
        let ns = secs.saturating_mul(1_000_000_000).saturating_add(
            (u128::from(frac) * 1_000_000_000 / u128::from(iface.units_per_sec)) as u64,
        );
        RawPacket {
            ts_ns: ns,
            link: iface.link,
            point: iface.point,
            wire_len: wire_len.max(data.len() as u32),
            data,
        }
    }

    /// The body of a block, borrowed for the reader's whole lifetime rather than this call's.
    fn body_at(&self, body: &[u8]) -> &'a [u8] {
        let start = body.as_ptr() as usize - self.data.as_ptr() as usize;
        self.data.get(start..start + body.len()).unwrap_or(&[])
    }

    fn read_epb(&self, body: &[u8]) -> Result<RawPacket<'a>, CaptureError> {
        let o = self.order;
        let (Some(id), Some(hi), Some(lo), Some(caplen), Some(wire)) = (
            o.u32(body, 0),
            o.u32(body, 4),
            o.u32(body, 8),
            o.u32(body, 12),
            o.u32(body, 16),
        ) else {
            return Err(self.fail("enhanced packet block too short".into()));
        };
        let iface = self.interface(id)?;
        let data = self
            .body_at(body)
            .get(20..20 + caplen as usize)
            .ok_or_else(|| {
                self.fail(format!(
                    "enhanced packet block declares {caplen} captured bytes but holds {}",
                    body.len().saturating_sub(20)
                ))
            })?;
        Ok(self.packet(iface, (u64::from(hi) << 32) | u64::from(lo), wire, data))
    }

    fn read_opb(&self, body: &[u8]) -> Result<RawPacket<'a>, CaptureError> {
        let o = self.order;
        let (Some(id), Some(hi), Some(lo), Some(caplen), Some(wire)) = (
            o.u16(body, 0),
            o.u32(body, 4),
            o.u32(body, 8),
            o.u32(body, 12),
            o.u32(body, 16),
        ) else {
            return Err(self.fail("packet block too short".into()));
        };
        let iface = self.interface(u32::from(id))?;
        let data = self
            .body_at(body)
            .get(20..20 + caplen as usize)
            .ok_or_else(|| {
                self.fail(format!(
                    "packet block declares {caplen} captured bytes but holds fewer"
                ))
            })?;
        Ok(self.packet(iface, (u64::from(hi) << 32) | u64::from(lo), wire, data))
    }

    fn read_spb(&self, body: &[u8]) -> Result<RawPacket<'a>, CaptureError> {
        let Some(wire) = self.order.u32(body, 0) else {
            return Err(self.fail("simple packet block too short".into()));
        };
        let iface = self.interface(0)?;
        let snap = if iface.snaplen == 0 {
            u32::MAX
        } else {
            iface.snaplen
        };
        let caplen = wire.min(snap).min(body.len().saturating_sub(4) as u32) as usize;
        let data = self.body_at(body).get(4..4 + caplen).unwrap_or(&[]);
        // Simple packet blocks carry no timestamp.
        Ok(self.packet(iface, 0, wire, data))
    }
}

/// Units per second for an if_tsresol value: 10^-v, or 2^-v when the top bit is set.
fn tsresol_units(r: u8) -> Option<u64> {
    if r & 0x80 == 0 {
        10u64.checked_pow(u32::from(r))
    } else {
        1u64.checked_shl(u32::from(r & 0x7f))
    }
}

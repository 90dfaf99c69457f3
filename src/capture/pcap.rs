//! The classic pcap format: a 24-byte file header, then 16-byte record headers each followed by
//! the captured bytes. Both byte orders, microsecond and nanosecond timestamps.

// Every byte here comes off the wire or out of a file: no index may panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::{
    ByteOrder, CaptureError, CapturePointId, CapturePoints, LinkType, RawPacket, MAX_RECORD_LEN,
};

const FILE_HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;

pub struct PcapReader<'a> {
    data: &'a [u8],
    pos: usize,
    order: ByteOrder,
    /// Nanoseconds per unit of the sub-second timestamp field.
    ns_per_frac: u64,
    link: LinkType,
    point: CapturePointId,
    path: String,
}

impl<'a> PcapReader<'a> {
    pub fn new(
        data: &'a [u8],
        name: &str,
        path: &str,
        points: &mut CapturePoints,
    ) -> Result<PcapReader<'a>, CaptureError> {
        let fail = |offset: u64, reason: String| CaptureError {
            file: path.to_owned(),
            offset,
            reason,
        };
        let magic: [u8; 4] = data
            .get(..4)
            .and_then(|m| m.try_into().ok())
            .ok_or_else(|| fail(0, "too short for a pcap header".into()))?;
        let (big_endian, ns_per_frac) = match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] => (false, 1_000),
            [0xa1, 0xb2, 0xc3, 0xd4] => (true, 1_000),
            [0x4d, 0x3c, 0xb2, 0xa1] => (false, 1),
            [0xa1, 0xb2, 0x3c, 0x4d] => (true, 1),
            other => {
                return Err(fail(
                    0,
                    format!("not a pcap or pcapng file (magic {:02x?})", other),
                ))
            }
        };
        if data.len() < FILE_HEADER_LEN {
            return Err(fail(
                data.len() as u64,
                format!("pcap file header truncated ({} of 24 bytes)", data.len()),
            ));
        }
        let order = ByteOrder { big_endian };
        // The upper bits of the link-type field carry FCS information (pcap spec §4).
        let linktype = order.u32(data, 20).unwrap_or(0) & 0x0fff_ffff;
        Ok(PcapReader {
            data,
            pos: FILE_HEADER_LEN,
            order,
            ns_per_frac,
            link: LinkType::from_linktype(linktype),
            point: points.intern(&format!("pcap:{name}#0")),
            path: path.to_owned(),
        })
    }

    pub fn offset(&self) -> u64 {
        self.pos as u64
    }

    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'a>>, CaptureError> {
        let rest = self.data.len() - self.pos;
        if rest == 0 {
            return Ok(None);
        }
        let fail = |reason: String| CaptureError {
            file: self.path.clone(),
            offset: self.pos as u64,
            reason,
        };
        if rest < RECORD_HEADER_LEN {
            return Err(fail(format!(
                "record header truncated ({rest} of 16 bytes left)"
            )));
        }
        let h = self
            .data
            .get(self.pos..self.pos + RECORD_HEADER_LEN)
            .unwrap_or(&[]);
        let o = self.order;
        let (Some(sec), Some(frac), Some(incl), Some(orig)) =
            (o.u32(h, 0), o.u32(h, 4), o.u32(h, 8), o.u32(h, 12))
        else {
            return Err(fail("record header unreadable".into()));
        };
        if incl > MAX_RECORD_LEN {
            return Err(fail(format!(
                "record length {incl} is larger than any frame ({MAX_RECORD_LEN}): corrupt file"
            )));
        }
        let start = self.pos + RECORD_HEADER_LEN;
        let end = start + incl as usize;
        let Some(frame) = self.data.get(start..end) else {
            return Err(fail(format!(
                "record truncated: needs {incl} bytes, {} left",
                self.data.len() - start
            )));
        };
        self.pos = end;
        Ok(Some(RawPacket {
            ts_ns: u64::from(sec) * 1_000_000_000 + u64::from(frac) * self.ns_per_frac,
            link: self.link,
            point: self.point,
            wire_len: orig.max(incl),
            data: frame,
        }))
    }
}

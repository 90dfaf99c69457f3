//! Tunnel headers: VXLAN, VXLAN-GPE, Geneve, NSH, GRE (key, sequence, checksum; also in UDP),
//! ERSPAN types I, II and III, GTP-U, Teredo and AYIYA. Each records itself in the [`super::Encap`] and hands on its payload.

// Every byte here comes off the wire or out of a file: no index may panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::ip::IpContext;
use super::link::{ETH_NSH, ETH_TEB};
use super::{be16, be32, Cursor, DecodeError, Decoded, Skip, Tunnel, TunnelKind};

const GRE_CSUM: u16 = 0x8000;
const GRE_ROUTING: u16 = 0x4000;
const GRE_KEY: u16 = 0x2000;
const GRE_SEQ: u16 = 0x1000;
const GRE_ERSPAN_2: u16 = 0x88be;
const GRE_ERSPAN_3: u16 = 0x22eb;

impl<'c> Cursor<'c> {
    pub(crate) fn vxlan<'a>(&mut self, ip: IpContext, data: &'a [u8]) -> Decoded<'a> {
        let (Some(flags), Some(word)) = (data.first(), be32(data, 4)) else {
            return Decoded::Error(DecodeError::Truncated);
        };
        // The I flag says the VNI is valid; without it this is not VXLAN.
        if flags & 0x08 == 0 {
            return Decoded::Skipped(Skip::UnknownProtocol);
        }
        self.push(TunnelKind::Vxlan { vni: word >> 8 }, ip);
        self.ethernet(super::from(data, 8))
    }

    pub(crate) fn vxlan_gpe<'a>(&mut self, ip: IpContext, data: &'a [u8]) -> Decoded<'a> {
        let (Some(&next), Some(word)) = (data.get(3), be32(data, 4)) else {
            return Decoded::Error(DecodeError::Truncated);
        };
        self.push(TunnelKind::VxlanGpe { vni: word >> 8 }, ip);
        self.gpe_next(next, super::from(data, 8))
    }

    /// The next-protocol numbering shared by VXLAN-GPE and NSH.
    fn gpe_next<'a>(&mut self, next: u8, data: &'a [u8]) -> Decoded<'a> {
        match next {
            1 => self.ipv4(data),
            2 => self.ipv6(data),
            3 => self.ethernet(data),
            4 => self.nsh(data),
            5 => self.ethertype(0x8847, data),
            _ => Decoded::Skipped(Skip::UnknownProtocol),
        }
    }

    pub(crate) fn geneve<'a>(&mut self, ip: IpContext, data: &'a [u8]) -> Decoded<'a> {
        let (Some(&b0), Some(proto), Some(word)) = (data.first(), be16(data, 2), be32(data, 4))
        else {
            return Decoded::Error(DecodeError::Truncated);
        };
        let header_len = 8 + usize::from(b0 & 0x3f) * 4;
        let Some(inner) = data.get(header_len..) else {
            return Decoded::Error(DecodeError::Truncated);
        };
        self.push(TunnelKind::Geneve { vni: word >> 8 }, ip);
        self.ethertype(proto, inner)
    }

    /// Network Service Header (RFC 8300): base, service path and context headers.
    pub(crate) fn nsh<'a>(&mut self, data: &'a [u8]) -> Decoded<'a> {
        if !self.enter() {
            return Decoded::Error(DecodeError::TooDeep);
        }
        // Base header: ver(2) O U TTL(6) length(6, in 4-byte words) | U(4) MD type(4) | next.
        let (Some(&b1), Some(&next), Some(path)) = (data.get(1), data.get(3), be32(data, 4)) else {
            return Decoded::Error(DecodeError::Truncated);
        };
        let len = usize::from(b1 & 0x3f) * 4;
        let Some(inner) = data.get(len.max(8)..) else {
            return Decoded::Error(DecodeError::Truncated);
        };
        let any: std::net::IpAddr = std::net::Ipv4Addr::UNSPECIFIED.into();
        let (outer_src, outer_dst) = self
            .encap
            .tunnels()
            .last()
            .map_or((any, any), |t| (t.outer_src, t.outer_dst));
        self.encap.push_tunnel(Tunnel {
            kind: TunnelKind::Nsh {
                spi: path >> 8,
                si: (path & 0xff) as u8,
            },
            outer_src,
            outer_dst,
        });
        self.gpe_next(next, inner)
    }

    /// GRE, directly in IP or (`in_udp`) in UDP.
    pub(crate) fn gre<'a>(&mut self, ip: IpContext, data: &'a [u8], in_udp: bool) -> Decoded<'a> {
        if !self.enter() {
            return Decoded::Error(DecodeError::TooDeep);
        }
        let (Some(flags), Some(proto)) = (be16(data, 0), be16(data, 2)) else {
            return Decoded::Error(DecodeError::Truncated);
        };
        let version = flags & 0x7;
        if version != 0 || flags & GRE_ROUTING != 0 {
            // Enhanced GRE (PPTP) carries PPP, and source routing is obsolete (RFC 2784).
            return Decoded::Skipped(Skip::UnknownProtocol);
        }
        let mut at = 4;
        if flags & GRE_CSUM != 0 {
            at += 4;
        }
        let key = if flags & GRE_KEY != 0 {
            let k = be32(data, at);
            at += 4;
            match k {
                Some(k) => Some(k),
                None => return Decoded::Error(DecodeError::Truncated),
            }
        } else {
            None
        };
        let has_seq = flags & GRE_SEQ != 0;
        if has_seq {
            at += 4;
        }
        let Some(payload) = data.get(at..) else {
            return Decoded::Error(DecodeError::Truncated);
        };
        match proto {
            // ERSPAN type II has the sequence bit and an 8-byte header; type I has neither.
            GRE_ERSPAN_2 if has_seq => {
                let Some(word) = be32(payload, 0) else {
                    return Decoded::Error(DecodeError::Truncated);
                };
                let version = (word >> 28) as u8;
                let session = (word & 0x3ff) as u16;
                let header = if version == 1 { 8 } else { 0 };
                let Some(inner) = payload.get(header..) else {
                    return Decoded::Error(DecodeError::Truncated);
                };
                self.push(
                    TunnelKind::Erspan {
                        version: 2,
                        session: Some(session),
                    },
                    ip,
                );
                self.ethernet(inner)
            }
            GRE_ERSPAN_2 => {
                self.push(
                    TunnelKind::Erspan {
                        version: 1,
                        session: None,
                    },
                    ip,
                );
                self.ethernet(payload)
            }
            GRE_ERSPAN_3 => {
                let (Some(word), Some(word3)) = (be32(payload, 0), be32(payload, 8)) else {
                    return Decoded::Error(DecodeError::Truncated);
                };
                let session = (word & 0x3ff) as u16;
                // The O bit announces an 8-byte platform-specific subheader.
                let header = if word3 & 1 != 0 { 20 } else { 12 };
                let Some(inner) = payload.get(header..) else {
                    return Decoded::Error(DecodeError::Truncated);
                };
                self.push(
                    TunnelKind::Erspan {
                        version: 3,
                        session: Some(session),
                    },
                    ip,
                );
                self.ethernet(inner)
            }
            _ => {
                let kind = if in_udp {
                    TunnelKind::GreUdp { key }
                } else {
                    TunnelKind::Gre { key }
                };
                self.push(kind, ip);
                match proto {
                    ETH_NSH => self.nsh(payload),
                    ETH_TEB => self.ethernet(payload),
                    _ => self.ethertype(proto, payload),
                }
            }
        }
    }

    /// GTP-U (3GPP TS 29.281): an 8-byte header, optional sequence number, N-PDU number and
    /// extension headers (5G's PDU session container among them), then the user's IP packet.
    /// Signalling messages (echo, error indication, end marker) carry no user packet.
    pub(crate) fn gtpu<'a>(&mut self, ip: IpContext, data: &'a [u8]) -> Decoded<'a> {
        const G_PDU: u8 = 0xff;
        const MAX_EXTENSIONS: usize = 16;
        let (Some(&flags), Some(&kind), Some(len), Some(teid)) =
            (data.first(), data.get(1), be16(data, 2), be32(data, 4))
        else {
            return Decoded::Error(DecodeError::Truncated);
        };
        // Version 1 and protocol type GTP (GTP' has PT 0).
        if flags >> 5 != 1 || flags & 0x10 == 0 {
            return Decoded::Skipped(Skip::UnknownProtocol);
        }
        if kind != G_PDU {
            return Decoded::Skipped(Skip::NotTcp);
        }
        // The length counts the bytes after the mandatory 8.
        let data = data.get(..8 + usize::from(len)).unwrap_or(data);
        let mut at = 8;
        if flags & 0x07 != 0 {
            let Some(&first) = data.get(11) else {
                return Decoded::Error(DecodeError::Truncated);
            };
            at = 12;
            let mut next = first;
            for _ in 0..MAX_EXTENSIONS {
                if next == 0 {
                    break;
                }
                // Each extension: its length in 4-byte units, content, the next type last.
                let Some(&units) = data.get(at) else {
                    return Decoded::Error(DecodeError::Truncated);
                };
                if units == 0 {
                    return Decoded::Error(DecodeError::Malformed);
                }
                at += usize::from(units) * 4;
                let Some(&n) = data.get(at - 1) else {
                    return Decoded::Error(DecodeError::Truncated);
                };
                next = n;
            }
            if next != 0 {
                return Decoded::Error(DecodeError::TooDeep);
            }
        }
        let Some(inner) = data.get(at..) else {
            return Decoded::Error(DecodeError::Truncated);
        };
        self.push(TunnelKind::Gtpu { teid }, ip);
        self.ip_by_version(inner)
    }

    /// Teredo (RFC 4380): an IPv6 packet in UDP, after an optional authentication header
    /// (`00 01`) and origin indication (`00 00`). A bubble is an IPv6 packet with no payload.
    pub(crate) fn teredo<'a>(&mut self, ip: IpContext, data: &'a [u8]) -> Decoded<'a> {
        let mut data = data;
        if let [0x00, 0x01, id_len, au_len, ..] = *data {
            // Client identifier, authentication value, 8-byte nonce, confirmation byte.
            let len = 4 + usize::from(id_len) + usize::from(au_len) + 8 + 1;
            let Some(rest) = data.get(len..) else {
                return Decoded::Error(DecodeError::Truncated);
            };
            data = rest;
        }
        if let [0x00, 0x00, ..] = *data {
            let Some(rest) = data.get(8..) else {
                return Decoded::Error(DecodeError::Truncated);
            };
            data = rest;
        }
        if data.first().is_none_or(|&b| b >> 4 != 6) {
            return Decoded::Skipped(Skip::UnknownProtocol);
        }
        self.push(TunnelKind::Teredo, ip);
        self.ipv6(data)
    }

    /// AYIYA ("Anything In Anything", SixXS): identity and signature sized by the header's
    /// first two bytes, then the packet its next-header byte names. Only `forward` carries one.
    pub(crate) fn ayiya<'a>(&mut self, ip: IpContext, data: &'a [u8]) -> Decoded<'a> {
        const FORWARD: u8 = 1;
        let (Some(&ids), Some(&sig), Some(&op), Some(&next)) =
            (data.first(), data.get(1), data.get(2), data.get(3))
        else {
            return Decoded::Error(DecodeError::Truncated);
        };
        if op & 0x0f != FORWARD {
            return Decoded::Skipped(Skip::NotTcp);
        }
        let header = 8 + (1usize << (ids >> 4)) + usize::from(sig >> 4) * 4;
        let Some(inner) = data.get(header..) else {
            return Decoded::Error(DecodeError::Truncated);
        };
        self.push(TunnelKind::Ayiya, ip);
        match next {
            4 => self.ipv4(inner),
            41 => self.ipv6(inner),
            _ => Decoded::Skipped(Skip::NotTcp),
        }
    }

    fn push(&mut self, kind: TunnelKind, ip: IpContext) {
        self.encap.push_tunnel(Tunnel {
            kind,
            outer_src: ip.src,
            outer_dst: ip.dst,
        });
    }
}

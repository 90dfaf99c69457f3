//! IPv4 (options, fragments) and IPv6 (extension headers, fragments), then the transport:
//! TCP segments, UDP datagrams and tunnels, IP-in-IP and GRE.

// Every byte here comes off the wire or out of a file: no index may panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::{
    be16, Cursor, DecodeConfig, DecodeError, Decoded, Encap, Fragment, Skip, TcpFlags, TcpSegment,
    Tunnel, TunnelKind, UdpDatagram,
};
use etherparse::{Ipv4HeaderSlice, Ipv6HeaderSlice, TcpHeaderSlice};
use std::net::IpAddr;

const PROTO_IPIP: u8 = 4;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_IPV6: u8 = 41;
const PROTO_GRE: u8 = 47;
const PROTO_NO_NEXT: u8 = 59;

/// The innermost IP header's facts, carried to the transport layer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IpContext {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: u8,
    /// Payload bytes of this IP packet that the capture cut off.
    pub missing: u32,
}

/// Continues decoding a datagram rebuilt from fragments, from its transport header on.
pub fn decode_ip_payload<'a>(
    protocol: u8,
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    payload: &'a [u8],
    cfg: &DecodeConfig,
    encap: &mut Encap,
) -> Decoded<'a> {
    let mut cx = Cursor {
        cfg,
        encap,
        layers: 0,
        snapped: false,
    };
    let ip = IpContext {
        src,
        dst,
        ttl,
        missing: 0,
    };
    cx.transport(protocol, ip, payload)
}

impl<'c> Cursor<'c> {
    pub(crate) fn ip_by_version<'a>(&mut self, data: &'a [u8]) -> Decoded<'a> {
        match data.first().map(|b| b >> 4) {
            Some(4) => self.ipv4(data),
            Some(6) => self.ipv6(data),
            Some(_) => Decoded::Error(DecodeError::Malformed),
            None => Decoded::Error(DecodeError::Truncated),
        }
    }

    pub(crate) fn ipv4<'a>(&mut self, data: &'a [u8]) -> Decoded<'a> {
        if !self.enter() {
            return Decoded::Error(DecodeError::TooDeep);
        }
        let h = match Ipv4HeaderSlice::from_slice(data) {
            Ok(h) => h,
            Err(etherparse::err::ipv4::HeaderSliceError::Len(_)) => {
                return Decoded::Error(DecodeError::Truncated)
            }
            Err(etherparse::err::ipv4::HeaderSliceError::Content(_)) => {
                return Decoded::Error(DecodeError::Malformed)
            }
        };
        let header_len = h.slice().len();
        let total = usize::from(h.total_len());
        if total < header_len {
            return Decoded::Error(DecodeError::Malformed);
        }
        // Ethernet pads short frames; the IP total length says where the packet really ends.
        let end = total.min(data.len());
        let payload = data.get(header_len..end).unwrap_or(&[]);
        let missing = (total - end) as u32;
        if self.claimed_beyond_frame(missing) {
            return Decoded::Error(DecodeError::Malformed);
        }
        let src = IpAddr::from(h.source());
        let dst = IpAddr::from(h.destination());
        let offset = u32::from(h.fragments_offset().value()) * 8;
        if h.more_fragments() || offset != 0 {
            if missing != 0 {
                return Decoded::Error(DecodeError::Truncated);
            }
            return Decoded::Fragment(Fragment {
                src,
                dst,
                id: u32::from(h.identification()),
                protocol: h.protocol().0,
                ttl: h.ttl(),
                offset,
                more: h.more_fragments(),
                payload,
            });
        }
        let ip = IpContext {
            src,
            dst,
            ttl: h.ttl(),
            missing,
        };
        self.transport(h.protocol().0, ip, payload)
    }

    pub(crate) fn ipv6<'a>(&mut self, data: &'a [u8]) -> Decoded<'a> {
        if !self.enter() {
            return Decoded::Error(DecodeError::TooDeep);
        }
        let h = match Ipv6HeaderSlice::from_slice(data) {
            Ok(h) => h,
            Err(etherparse::err::ipv6::HeaderSliceError::Len(_)) => {
                return Decoded::Error(DecodeError::Truncated)
            }
            Err(etherparse::err::ipv6::HeaderSliceError::Content(_)) => {
                return Decoded::Error(DecodeError::Malformed)
            }
        };
        let declared = usize::from(h.payload_length());
        let body = super::from(data, 40);
        // A payload length of 0 means a jumbogram (RFC 2675): the frame length rules.
        let (mut rest, missing) = if declared == 0 {
            (body, 0)
        } else {
            let end = declared.min(body.len());
            (body.get(..end).unwrap_or(body), (declared - end) as u32)
        };
        if self.claimed_beyond_frame(missing) {
            return Decoded::Error(DecodeError::Malformed);
        }
        let src = IpAddr::from(h.source());
        let dst = IpAddr::from(h.destination());
        let mut next = h.next_header().0;
        loop {
            if !self.enter() {
                return Decoded::Error(DecodeError::TooDeep);
            }
            match next {
                // Hop-by-hop, routing, destination options, mobility, HIP, shim6: skip by length.
                0 | 43 | 60 | 135 | 139 | 140 => {
                    let (Some(&header), Some(&len)) = (rest.first(), rest.get(1)) else {
                        return Decoded::Error(DecodeError::Truncated);
                    };
                    let Some(after) = rest.get((usize::from(len) + 1) * 8..) else {
                        return Decoded::Error(DecodeError::Truncated);
                    };
                    next = header;
                    rest = after;
                }
                // Authentication header: its length is in 4-byte units, minus 2.
                51 => {
                    let (Some(&header), Some(&len)) = (rest.first(), rest.get(1)) else {
                        return Decoded::Error(DecodeError::Truncated);
                    };
                    let Some(after) = rest.get((usize::from(len) + 2) * 4..) else {
                        return Decoded::Error(DecodeError::Truncated);
                    };
                    next = header;
                    rest = after;
                }
                44 => {
                    let (Some(&proto), Some(off_flags), Some(id)) =
                        (rest.first(), be16(rest, 2), super::be32(rest, 4))
                    else {
                        return Decoded::Error(DecodeError::Truncated);
                    };
                    let offset = u32::from(off_flags & 0xfff8);
                    let more = off_flags & 1 != 0;
                    rest = super::from(rest, 8);
                    // An atomic fragment (offset 0, no more) is just the packet itself.
                    if offset != 0 || more {
                        if missing != 0 {
                            return Decoded::Error(DecodeError::Truncated);
                        }
                        return Decoded::Fragment(Fragment {
                            src,
                            dst,
                            id,
                            protocol: proto,
                            ttl: h.hop_limit(),
                            offset,
                            more,
                            payload: rest,
                        });
                    }
                    next = proto;
                }
                PROTO_NO_NEXT => return Decoded::Skipped(Skip::NotTcp),
                _ => break,
            }
        }
        let ip = IpContext {
            src,
            dst,
            ttl: h.hop_limit(),
            missing,
        };
        self.transport(next, ip, rest)
    }

    pub(crate) fn transport<'a>(
        &mut self,
        protocol: u8,
        ip: IpContext,
        data: &'a [u8],
    ) -> Decoded<'a> {
        match protocol {
            PROTO_TCP => tcp(ip, data),
            PROTO_UDP => self.udp(ip, data),
            // A snapped outer packet still carries the inner one's first bytes: decode on, the
            // inner headers account for what is missing.
            PROTO_IPIP | PROTO_IPV6 => {
                self.encap.push_tunnel(Tunnel {
                    kind: TunnelKind::Ipip,
                    outer_src: ip.src,
                    outer_dst: ip.dst,
                });
                if protocol == PROTO_IPIP {
                    self.ipv4(data)
                } else {
                    self.ipv6(data)
                }
            }
            PROTO_GRE => self.gre(ip, data, false),
            _ => Decoded::Skipped(Skip::NotTcp),
        }
    }

    fn udp<'a>(&mut self, ip: IpContext, data: &'a [u8]) -> Decoded<'a> {
        let (Some(src_port), Some(dst_port), Some(len), true) =
            (be16(data, 0), be16(data, 2), be16(data, 4), data.len() >= 8)
        else {
            return Decoded::Error(DecodeError::Truncated);
        };
        let end = usize::from(len).clamp(8, data.len());
        let payload = data.get(8..end).unwrap_or(&[]);
        let cfg = self.cfg;
        if cfg.vxlan_ports.contains(&dst_port) {
            self.vxlan(ip, payload)
        } else if cfg.geneve_ports.contains(&dst_port) {
            self.geneve(ip, payload)
        } else if cfg.vxlan_gpe_ports.contains(&dst_port) {
            self.vxlan_gpe(ip, payload)
        } else if cfg.gtpu_ports.contains(&dst_port) {
            self.gtpu(ip, payload)
        } else if cfg.gre_udp_ports.contains(&dst_port) {
            self.gre(ip, payload, true)
        } else if cfg.teredo_ports.contains(&dst_port) || cfg.teredo_ports.contains(&src_port) {
            // A Teredo server or relay listens on 3544; its clients' ports are any.
            self.teredo(ip, payload)
        } else if cfg.ayiya_ports.contains(&dst_port) || cfg.ayiya_ports.contains(&src_port) {
            self.ayiya(ip, payload)
        } else {
            // The UDP length beyond the bytes present is what the capture cut off.
            let cut = usize::from(len).saturating_sub(8 + payload.len());
            Decoded::Udp(UdpDatagram {
                src: ip.src,
                dst: ip.dst,
                src_port,
                dst_port,
                ttl: ip.ttl,
                payload,
                missing_tail: u32::try_from(cut).unwrap_or(u32::MAX),
            })
        }
    }
}

fn tcp(ip: IpContext, data: &[u8]) -> Decoded<'_> {
    let h = match TcpHeaderSlice::from_slice(data) {
        Ok(h) => h,
        Err(etherparse::err::tcp::HeaderSliceError::Len(_)) => {
            return Decoded::Error(DecodeError::Truncated)
        }
        Err(etherparse::err::tcp::HeaderSliceError::Content(_)) => {
            return Decoded::Error(DecodeError::Malformed)
        }
    };
    let flags = data.get(13).copied().unwrap_or(0);
    Decoded::Tcp(TcpSegment {
        src: ip.src,
        dst: ip.dst,
        src_port: h.source_port(),
        dst_port: h.destination_port(),
        seq: h.sequence_number(),
        ack: h.acknowledgment_number(),
        flags: TcpFlags(flags),
        ttl: ip.ttl,
        payload: super::from(data, h.slice().len()),
        missing_tail: ip.missing,
    })
}

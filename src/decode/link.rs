//! Link layers: Ethernet II, 802.1Q/802.1ad VLAN tags, MPLS, Linux cooked capture v1/v2 and BSD
//! loopback. Each hands its payload on by EtherType.

// Every byte here comes off the wire or out of a file: no index may panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::{be16, be32, Cursor, DecodeError, Decoded, Skip, Tunnel, TunnelKind};
use etherparse::{Ethernet2HeaderSlice, SingleVlanHeaderSlice};

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88a8;
const ETH_QINQ_OLD: u16 = 0x9100;
const ETH_MPLS: u16 = 0x8847;
const ETH_MPLS_MC: u16 = 0x8848;
pub(crate) const ETH_NSH: u16 = 0x894f;
pub(crate) const ETH_TEB: u16 = 0x6558;

impl<'c> Cursor<'c> {
    pub(crate) fn ethernet<'a>(&mut self, frame: &'a [u8]) -> Decoded<'a> {
        if !self.enter() {
            return Decoded::Error(DecodeError::TooDeep);
        }
        match Ethernet2HeaderSlice::from_slice(frame) {
            Ok(eth) => {
                let rest = super::from(frame, eth.slice().len());
                self.ethertype(eth.ether_type().0, rest)
            }
            Err(_) => Decoded::Error(DecodeError::Truncated),
        }
    }

    /// Dispatches on an EtherType; VLAN tags and MPLS labels loop back here.
    pub(crate) fn ethertype<'a>(&mut self, ethertype: u16, data: &'a [u8]) -> Decoded<'a> {
        if !self.enter() {
            return Decoded::Error(DecodeError::TooDeep);
        }
        match ethertype {
            ETH_IPV4 => self.ipv4(data),
            ETH_IPV6 => self.ipv6(data),
            ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD => match SingleVlanHeaderSlice::from_slice(data) {
                Ok(tag) => {
                    self.encap.push_vlan(tag.vlan_identifier().value());
                    self.ethertype(tag.ether_type().0, super::from(data, tag.slice().len()))
                }
                Err(_) => Decoded::Error(DecodeError::Truncated),
            },
            ETH_MPLS | ETH_MPLS_MC => self.mpls(data),
            ETH_NSH => self.nsh(data),
            ETH_TEB => self.ethernet(data),
            // An 802.3 length field: an LLC header follows.
            0..=0x05dc => self.llc(data.get(..usize::from(ethertype)).unwrap_or(data)),
            // ARP, LLDP: ordinary traffic that is not TCP.
            0x05dd..=0x05ff | 0x0806 | 0x88cc => Decoded::Skipped(Skip::NotTcp),
            _ => Decoded::Skipped(Skip::UnknownProtocol),
        }
    }

    /// IEEE 802.2 LLC after an 802.3 length: SNAP (`AA AA 03`, an OUI and an EtherType)
    /// carries IP as Ethernet II would; other service access points (STP, NetBIOS, …) are
    /// not TCP.
    fn llc<'a>(&mut self, data: &'a [u8]) -> Decoded<'a> {
        match data {
            [0xaa, 0xaa, 0x03, _, _, _, t0, t1, rest @ ..] => {
                self.encap.llc_snap = true;
                self.ethertype(u16::from_be_bytes([*t0, *t1]), rest)
            }
            [_, _, _, ..] => Decoded::Skipped(Skip::NotTcp),
            _ => Decoded::Error(DecodeError::Truncated),
        }
    }

    /// Linux NFLOG (link type 239): address family, version and resource id, then TLVs whose
    /// length and type are in the writing host's byte order; the packet is the NFULA_PAYLOAD
    /// (type 9) value.
    pub(crate) fn nflog<'a>(&mut self, frame: &'a [u8]) -> Decoded<'a> {
        const NFULA_PAYLOAD: u16 = 9;
        let Some(&family) = frame.first() else {
            return Decoded::Error(DecodeError::Truncated);
        };
        let mut at = 4;
        while let Some(&[l0, l1, t0, t1]) = frame.get(at..at + 4) {
            let left = frame.len() - at;
            // The writer's byte order is not recorded: the reading that fits the record wins.
            let little = usize::from(u16::from_le_bytes([l0, l1]));
            let (len, kind) = if (4..=left).contains(&little) {
                (little, u16::from_le_bytes([t0, t1]))
            } else {
                (
                    usize::from(u16::from_be_bytes([l0, l1])),
                    u16::from_be_bytes([t0, t1]),
                )
            };
            if len < 4 {
                return Decoded::Error(DecodeError::Malformed);
            }
            // The top bits of the type are netlink flags.
            if kind & 0x3fff == NFULA_PAYLOAD {
                let Some(packet) = frame.get(at + 4..at + len) else {
                    return Decoded::Error(DecodeError::Truncated);
                };
                return match family {
                    2 => self.ipv4(packet),
                    10 => self.ipv6(packet),
                    _ => self.ip_by_version(packet),
                };
            }
            at += (len + 3) & !3;
        }
        Decoded::Skipped(Skip::NotTcp)
    }

    /// An MPLS label stack: labels until bottom-of-stack, then IP told by its version nibble.
    fn mpls<'a>(&mut self, mut data: &'a [u8]) -> Decoded<'a> {
        loop {
            if !self.enter() {
                return Decoded::Error(DecodeError::TooDeep);
            }
            let Some(entry) = be32(data, 0) else {
                return Decoded::Error(DecodeError::Truncated);
            };
            data = super::from(data, 4);
            if entry & 0x100 != 0 {
                // The outer addresses of an MPLS path are not known here; record the label.
                self.encap.push_tunnel(Tunnel {
                    kind: TunnelKind::Mpls { label: entry >> 12 },
                    outer_src: std::net::Ipv4Addr::UNSPECIFIED.into(),
                    outer_dst: std::net::Ipv4Addr::UNSPECIFIED.into(),
                });
                return self.ip_by_version(data);
            }
        }
    }

    /// Linux cooked capture v1: 16-byte header, EtherType at offset 14.
    pub(crate) fn linux_sll<'a>(&mut self, frame: &'a [u8]) -> Decoded<'a> {
        let (Some(hatype), Some(proto)) = (be16(frame, 2), be16(frame, 14)) else {
            return Decoded::Error(DecodeError::Truncated);
        };
        self.cooked(hatype, proto, super::from(frame, 16))
    }

    /// Linux cooked capture v2: 20-byte header, EtherType first.
    pub(crate) fn linux_sll2<'a>(&mut self, frame: &'a [u8]) -> Decoded<'a> {
        let (Some(proto), Some(hatype)) = (be16(frame, 0), be16(frame, 8)) else {
            return Decoded::Error(DecodeError::Truncated);
        };
        match frame.get(20..) {
            Some(rest) => self.cooked(hatype, proto, rest),
            None => Decoded::Error(DecodeError::Truncated),
        }
    }

    fn cooked<'a>(&mut self, hatype: u16, proto: u16, rest: &'a [u8]) -> Decoded<'a> {
        // ARPHRD_IPGRE (778) cooked frames carry a GRE payload whose protocol field is the
        // EtherType; ARPHRD_NETLINK (824) frames are netlink messages, not packets.
        match hatype {
            824 => Decoded::Skipped(Skip::NotTcp),
            _ => self.ethertype(proto, rest),
        }
    }

    /// BSD loopback: a 4-byte address family, host order (`Null`) or network order (`Loop`).
    pub(crate) fn bsd_loopback<'a>(&mut self, frame: &'a [u8], network_order: bool) -> Decoded<'a> {
        let Some((&bytes, rest)) = frame.split_first_chunk::<4>() else {
            return Decoded::Error(DecodeError::Truncated);
        };
        let family = if network_order {
            u32::from_be_bytes(bytes)
        } else {
            // The writer's byte order is unknown; a family value is small either way.
            let le = u32::from_le_bytes(bytes);
            if le > 0xffff {
                u32::from_be_bytes(bytes)
            } else {
                le
            }
        };
        match family {
            2 => self.ipv4(rest),
            // AF_INET6 is 10, 24, 28 or 30 depending on the operating system.
            10 | 24 | 28 | 30 => self.ipv6(rest),
            _ => Decoded::Skipped(Skip::NotTcp),
        }
    }
}

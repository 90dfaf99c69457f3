//! Frame decoding.
//!
//! Takes a borrowed frame and its link type; gives a [`Decoded`] view: a TCP segment (addresses,
//! ports, sequence numbers and a payload slice into the frame), a UDP datagram, an IP fragment to be rebuilt by
//! [`defrag`], or the reason the frame carries nothing for the flow table. Tunnels (IPIP, GRE,
//! ERSPAN, VXLAN, Geneve, NSH, MPLS) and VLAN tags are peeled recursively and recorded in an
//! [`Encap`] so that the span can say where the call travelled. Nothing is allocated.

// Every byte here comes off the wire or out of a file: no index may panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

pub mod defrag;
mod ip;
mod link;
mod tunnel;

use crate::capture::LinkType;
use std::fmt::Write as _;
use std::net::IpAddr;

pub use ip::decode_ip_payload;

/// How many tunnels and VLAN tags are recorded; deeper nesting is counted as `decode_too_deep`.
pub const MAX_TUNNELS: usize = 4;
pub const MAX_VLANS: usize = 4;
/// Headers followed per frame before giving up (guards against crafted recursion).
const MAX_LAYERS: u8 = 24;

/// Which UDP ports carry which UDP tunnel.
#[derive(Debug, Clone)]
pub struct DecodeConfig {
    pub vxlan_ports: Vec<u16>,
    pub vxlan_gpe_ports: Vec<u16>,
    pub geneve_ports: Vec<u16>,
    pub gtpu_ports: Vec<u16>,
    pub teredo_ports: Vec<u16>,
    pub ayiya_ports: Vec<u16>,
    pub gre_udp_ports: Vec<u16>,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        DecodeConfig {
            vxlan_ports: vec![4789, 8472],
            vxlan_gpe_ports: vec![4790],
            geneve_ports: vec![6081],
            gtpu_ports: vec![2152],
            teredo_ports: vec![3544],
            ayiya_ports: vec![5072],
            gre_udp_ports: vec![4754],
        }
    }
}

/// One tunnel layer: what kind, its identifier, and the outer addresses that carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunnel {
    pub kind: TunnelKind,
    pub outer_src: IpAddr,
    pub outer_dst: IpAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelKind {
    Vxlan {
        vni: u32,
    },
    VxlanGpe {
        vni: u32,
    },
    Geneve {
        vni: u32,
    },
    Gre {
        key: Option<u32>,
    },
    /// ERSPAN type I has no header of its own, so no session id.
    Erspan {
        version: u8,
        session: Option<u16>,
    },
    Nsh {
        spi: u32,
        si: u8,
    },
    /// IP directly in IP (4in4, 6in4, 4in6, 6in6).
    Ipip,
    /// GTP-U (UDP 2152): a mobile core's user plane, one tunnel endpoint id per bearer.
    Gtpu {
        teid: u32,
    },
    /// Teredo (UDP 3544): IPv6 in UDP over IPv4 (RFC 4380).
    Teredo,
    /// AYIYA (UDP 5072): IPv6 (or IPv4) in UDP from a tunnel broker.
    Ayiya,
    /// GRE in UDP (UDP 4754, RFC 8086).
    GreUdp {
        key: Option<u32>,
    },
    Mpls {
        label: u32,
    },
}

/// The tunnels and VLAN tags around the innermost packet, outermost first.
#[derive(Debug, Clone, Copy)]
pub struct Encap {
    tunnels: [Option<Tunnel>; MAX_TUNNELS],
    vlans: [u16; MAX_VLANS],
    n_tunnels: u8,
    n_vlans: u8,
    /// Set when nesting went deeper than the arrays hold.
    pub overflowed: bool,
    /// The frame was IEEE 802.3 with an LLC/SNAP header (counted; not a tunnel).
    pub llc_snap: bool,
}

impl Default for Encap {
    fn default() -> Self {
        Encap {
            tunnels: [None; MAX_TUNNELS],
            vlans: [0; MAX_VLANS],
            n_tunnels: 0,
            n_vlans: 0,
            overflowed: false,
            llc_snap: false,
        }
    }
}

impl Encap {
    pub fn clear(&mut self) {
        self.n_tunnels = 0;
        self.n_vlans = 0;
        self.overflowed = false;
        self.llc_snap = false;
    }

    fn push_tunnel(&mut self, t: Tunnel) {
        match self.tunnels.get_mut(self.n_tunnels as usize) {
            Some(slot) => {
                *slot = Some(t);
                self.n_tunnels += 1;
            }
            None => self.overflowed = true,
        }
    }

    fn push_vlan(&mut self, id: u16) {
        match self.vlans.get_mut(self.n_vlans as usize) {
            Some(slot) => {
                *slot = id;
                self.n_vlans += 1;
            }
            None => self.overflowed = true,
        }
    }

    pub fn tunnels(&self) -> impl Iterator<Item = &Tunnel> {
        self.tunnels
            .get(..self.n_tunnels as usize)
            .unwrap_or(&[])
            .iter()
            .flatten()
    }

    pub fn vlans(&self) -> &[u16] {
        self.vlans.get(..self.n_vlans as usize).unwrap_or(&[])
    }

    pub fn is_empty(&self) -> bool {
        self.n_tunnels == 0 && self.n_vlans == 0
    }

    /// The same tunnels (kinds, ids, outer addresses) and VLANs, in the same order.
    pub fn same_layers(&self, other: &Encap) -> bool {
        self.vlans() == other.vlans() && self.tunnels().eq(other.tunnels())
    }

    /// A hash of what [`Encap::same_layers`] compares: equal layers hash equally.
    pub fn layers_hash(&self) -> u64 {
        let mut h = crate::hash::StableHasher::new();
        for &vlan in self.vlans() {
            h.write_u64(u64::from(vlan));
        }
        for t in self.tunnels() {
            h.write_u64(t.kind.id_for_hash());
            h.write_u128(ip_bits(t.outer_src));
            h.write_u128(ip_bits(t.outer_dst));
        }
        h.finish()
    }

    /// What of the encapsulation separates flows: the virtual network ids (VXLAN, VXLAN-GPE,
    /// Geneve VNIs), so that the same inner 5-tuple in two tenants' overlays is two flows.
    /// VLAN tags, GRE keys, ERSPAN sessions and outer addresses are left out on purpose: real
    /// mirrors tag the two directions of one connection differently (the DeepFlow ERSPAN
    /// capture has an inner VLAN on one direction only; VMware GRE uses a key per direction),
    /// and keying on them would split every such connection in two.
    pub fn context_hash(&self) -> u64 {
        let mut h = crate::hash::StableHasher::new();
        let mut any = false;
        for t in self.tunnels() {
            if let TunnelKind::Vxlan { .. }
            | TunnelKind::VxlanGpe { .. }
            | TunnelKind::Geneve { .. } = t.kind
            {
                h.write_u64(t.kind.id_for_hash());
                any = true;
            }
        }
        if any {
            h.finish().max(1)
        } else {
            0
        }
    }

    /// `vxlan:4242,outer=10.10.0.1>10.10.0.2`, layers outermost first joined by `|`; `None`
    /// when the packet was not tunnelled.
    pub fn describe_tunnels(&self) -> Option<String> {
        let mut out = String::new();
        for t in self.tunnels() {
            if !out.is_empty() {
                out.push('|');
            }
            let _ = match t.kind {
                TunnelKind::Vxlan { vni } => write!(out, "vxlan:{vni}"),
                TunnelKind::VxlanGpe { vni } => write!(out, "vxlan-gpe:{vni}"),
                TunnelKind::Geneve { vni } => write!(out, "geneve:{vni}"),
                TunnelKind::Gre { key: Some(k) } => write!(out, "gre:{k}"),
                TunnelKind::Gre { key: None } => write!(out, "gre"),
                TunnelKind::Erspan {
                    version,
                    session: Some(s),
                } => write!(out, "erspan{version}:{s}"),
                TunnelKind::Erspan {
                    version,
                    session: None,
                } => write!(out, "erspan{version}"),
                TunnelKind::Nsh { spi, si } => write!(out, "nsh:{spi}.{si}"),
                TunnelKind::Ipip => write!(out, "ipip"),
                TunnelKind::Gtpu { teid } => write!(out, "gtpu:{teid}"),
                TunnelKind::Teredo => write!(out, "teredo"),
                TunnelKind::Ayiya => write!(out, "ayiya"),
                TunnelKind::GreUdp { key: Some(k) } => write!(out, "gre-udp:{k}"),
                TunnelKind::GreUdp { key: None } => write!(out, "gre-udp"),
                TunnelKind::Mpls { label } => write!(out, "mpls:{label}"),
            };
            let _ = write!(out, ",outer={}>{}", t.outer_src, t.outer_dst);
        }
        (!out.is_empty()).then_some(out)
    }

    /// VLAN ids outermost first, `200.100` for QinQ; `None` when untagged.
    pub fn describe_vlans(&self) -> Option<String> {
        let mut out = String::new();
        for v in self.vlans() {
            if !out.is_empty() {
                out.push('.');
            }
            let _ = write!(out, "{v}");
        }
        (!out.is_empty()).then_some(out)
    }
}

impl TunnelKind {
    fn id_for_hash(&self) -> u64 {
        match *self {
            TunnelKind::Vxlan { vni } => 1 << 40 | u64::from(vni),
            TunnelKind::VxlanGpe { vni } => 2 << 40 | u64::from(vni),
            TunnelKind::Geneve { vni } => 3 << 40 | u64::from(vni),
            TunnelKind::Gre { key } => 4 << 40 | key.map_or(1 << 33, u64::from),
            TunnelKind::Erspan { session, .. } => 5 << 40 | session.map_or(1 << 17, u64::from),
            TunnelKind::Nsh { spi, si } => 6 << 40 | u64::from(spi) << 8 | u64::from(si),
            TunnelKind::Ipip => 7 << 40,
            TunnelKind::Mpls { label } => 8 << 40 | u64::from(label),
            TunnelKind::Gtpu { teid } => 9 << 40 | u64::from(teid),
            TunnelKind::Teredo => 10 << 40,
            TunnelKind::Ayiya => 11 << 40,
            TunnelKind::GreUdp { key } => 12 << 40 | key.map_or(1 << 33, u64::from),
        }
    }
}

pub(crate) fn ip_bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// TCP header flags, as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const ACK: u8 = 0x10;

    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
}

/// A TCP segment inside a decoded frame; `payload` borrows from the frame.
#[derive(Debug, Clone, Copy)]
pub struct TcpSegment<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    /// IPv4 TTL or IPv6 hop limit of the innermost IP header.
    pub ttl: u8,
    pub payload: &'a [u8],
    /// Payload bytes the sender put on the wire but the capture cut off (snaplen).
    pub missing_tail: u32,
}

/// A UDP datagram that no tunnel port claimed; `payload` borrows from the frame.
#[derive(Debug, Clone, Copy)]
pub struct UdpDatagram<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    /// IPv4 TTL or IPv6 hop limit of the innermost IP header.
    pub ttl: u8,
    pub payload: &'a [u8],
    /// Payload bytes the sender put on the wire but the capture cut off (snaplen).
    pub missing_tail: u32,
}

/// An IP fragment, with what [`defrag`] needs to rebuild its datagram.
#[derive(Debug, Clone, Copy)]
pub struct Fragment<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub id: u32,
    pub protocol: u8,
    pub ttl: u8,
    /// Byte offset of this fragment's payload in the datagram.
    pub offset: u32,
    pub more: bool,
    pub payload: &'a [u8],
}

/// Why a frame yields no TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// A well-formed frame that is neither TCP nor UDP (ICMP, ARP, …).
    NotTcp,
    LinkType,
    UnknownProtocol,
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    Truncated,
    Malformed,
    TooDeep,
}

/// What one frame carries.
#[derive(Debug, Clone, Copy)]
pub enum Decoded<'a> {
    Tcp(TcpSegment<'a>),
    Udp(UdpDatagram<'a>),
    Fragment(Fragment<'a>),
    Skipped(Skip),
    Error(DecodeError),
}

/// Decodes one frame. `encap` is cleared and then filled with the tunnels and VLANs peeled.
///
/// `snapped` says the capture cut the frame short (captured length below wire length): an IP
/// length beyond the frame is then the cut, not a lie, and the segment says how much is missing.
pub fn decode<'a>(
    link: LinkType,
    frame: &'a [u8],
    snapped: bool,
    cfg: &DecodeConfig,
    encap: &mut Encap,
) -> Decoded<'a> {
    encap.clear();
    let mut cx = Cursor {
        cfg,
        encap,
        layers: 0,
        snapped,
    };
    match link {
        LinkType::Ethernet => cx.ethernet(frame),
        LinkType::LinuxSll => cx.linux_sll(frame),
        LinkType::LinuxSll2 => cx.linux_sll2(frame),
        LinkType::RawIp => cx.ip_by_version(frame),
        LinkType::Null | LinkType::Loop => cx.bsd_loopback(frame, link == LinkType::Loop),
        LinkType::Ethertype(ethertype) => cx.ethertype(ethertype, frame),
        LinkType::Nflog => cx.nflog(frame),
        LinkType::Other(_) => Decoded::Skipped(Skip::LinkType),
    }
}

/// The interface index an SLL2 frame carries, which makes it its own capture point.
pub fn sll2_interface_index(frame: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(frame.get(4..8)?.try_into().ok()?))
}

/// State shared by the layers of one frame's decode.
pub(crate) struct Cursor<'c> {
    pub cfg: &'c DecodeConfig,
    pub encap: &'c mut Encap,
    layers: u8,
    snapped: bool,
}

impl Cursor<'_> {
    /// Checks an IP length against the bytes present: more bytes claimed than captured is a
    /// malformed packet unless the capture was snapped.
    fn claimed_beyond_frame(&self, missing: u32) -> bool {
        missing > 0 && !self.snapped
    }

    /// Counts a layer; false once the frame nests deeper than any real traffic does.
    fn enter(&mut self) -> bool {
        self.layers += 1;
        self.layers <= MAX_LAYERS
    }
}

/// The bytes of `b` from `at` on; none when `at` is past the end (the next header then finds
/// itself truncated).
pub(crate) fn from(b: &[u8], at: usize) -> &[u8] {
    b.get(at..).unwrap_or(&[])
}

/// Big-endian u16 at `at`, or `None` past the end.
pub(crate) fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// Big-endian u32 at `at`, or `None` past the end.
pub(crate) fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn vxlan(vni: u32, src: [u8; 4], dst: [u8; 4], vlan: Option<u16>) -> Encap {
        let mut e = Encap::default();
        if let Some(id) = vlan {
            e.push_vlan(id);
        }
        e.push_tunnel(Tunnel {
            kind: TunnelKind::Vxlan { vni },
            outer_src: Ipv4Addr::from(src).into(),
            outer_dst: Ipv4Addr::from(dst).into(),
        });
        e
    }

    #[test]
    fn same_layers_compares_kind_id_outer_addresses_and_vlans_and_hashes_alike() {
        let a = vxlan(42, [10, 0, 0, 1], [10, 0, 0, 2], None);
        assert!(a.same_layers(&vxlan(42, [10, 0, 0, 1], [10, 0, 0, 2], None)));
        assert!(!a.same_layers(&vxlan(43, [10, 0, 0, 1], [10, 0, 0, 2], None)));
        // The other direction of the same tunnel is described the other way round.
        assert!(!a.same_layers(&vxlan(42, [10, 0, 0, 2], [10, 0, 0, 1], None)));
        assert!(!a.same_layers(&vxlan(42, [10, 0, 0, 1], [10, 0, 0, 2], Some(7))));
        // Slots left over from a deeper packet before `clear` do not count.
        let mut reused = vxlan(7, [1, 1, 1, 1], [2, 2, 2, 2], Some(9));
        reused.clear();
        reused.push_tunnel(Tunnel {
            kind: TunnelKind::Vxlan { vni: 42 },
            outer_src: Ipv4Addr::new(10, 0, 0, 1).into(),
            outer_dst: Ipv4Addr::new(10, 0, 0, 2).into(),
        });
        assert!(a.same_layers(&reused));
        assert_eq!(a.layers_hash(), reused.layers_hash());
        assert_ne!(
            a.layers_hash(),
            vxlan(42, [10, 0, 0, 2], [10, 0, 0, 1], None).layers_hash()
        );
    }
}

//! The flow table.
//!
//! Takes decoded TCP segments; gives ordered byte streams to each connection's protocol parser
//! and hands the exchanges they complete on, with the [`FlowFacts`] of their flow, to an
//! [`ExchangeSink`] (the pipeline's makes spans of them). Flows are keyed by capture
//! point, encapsulation and the 5-tuple; the client is known from the SYN, else from what the
//! first payload looks like, else from the ports. Idle flows are evicted, a full table refuses
//! new flows, and every such event is counted.

pub mod datagram;
mod facts;
pub(crate) mod reassembly;

pub use datagram::{DatagramLimits, DatagramTable};
pub use facts::{infer_tap_side, Endpoints, FlowFacts, TapSide, Transport};

use crate::capture::{CapturePointId, CapturePoints};
use crate::decode::{ip_bits, Encap, TcpSegment};
use crate::protocol::{self, AppParser, Direction, Exchange, Role, SegmentMeta};
use crate::stats::Counters;
use hashbrown::{DefaultHashBuilder, HashTable};
use reassembly::{HalfStream, StreamEvent};
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Where the flow table hands each completed exchange, with what its flow knows.
pub type ExchangeSink<'s> = dyn FnMut(Exchange, &FlowFacts<'_>) + 's;

/// Least packet time between two sweeps forced by a full table (10 ms).
const FULL_TABLE_SWEEP_NS: u64 = 10_000_000;

/// Bounds on the flow table.
#[derive(Debug, Clone, Copy)]
pub struct FlowLimits {
    pub max_flows: usize,
    /// A flow with no packet for this long (capture time) is evicted.
    pub idle_timeout_ns: u64,
    /// A closed flow is kept this long to absorb trailing ACKs and retransmissions.
    pub closed_linger_ns: u64,
    /// Out-of-order bytes buffered per direction before the hole is given up on.
    pub max_ooo_bytes: usize,
    /// Payload bytes a flow may carry without being recognised before it is ignored.
    pub max_detect_bytes: u64,
    /// What the parsers keep.
    pub parsers: protocol::ParserOptions,
    /// Keep the ends of every connection whose opening SYN is seen, for the caller to take
    /// ([`FlowTable::take_new_connections`]): live, the namer looks up their sockets' owners
    /// while a short-lived client still holds its socket.
    pub note_new_connections: bool,
}

impl Default for FlowLimits {
    fn default() -> Self {
        FlowLimits {
            max_flows: 262_144,
            idle_timeout_ns: 120_000_000_000,
            closed_linger_ns: 5_000_000_000,
            max_ooo_bytes: 256 * 1024,
            max_detect_bytes: 64 * 1024,
            parsers: protocol::ParserOptions::default(),
            note_new_connections: false,
        }
    }
}

/// Capture point, encapsulation and the two endpoints in a canonical order, so that both
/// directions of a connection find the same flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FlowKey {
    point: CapturePointId,
    encap: u64,
    lo: (IpAddr, u16),
    hi: (IpAddr, u16),
}

/// Hashed as four words, which is cheaper than the derived hash of two `IpAddr`s (their
/// discriminants and slices); equal keys still hash equally.
impl Hash for FlowKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(
            u64::from(self.point) << 32 | u64::from(self.lo.1) << 16 | u64::from(self.hi.1),
        );
        h.write_u64(self.encap);
        h.write_u128(ip_bits(self.lo.0));
        h.write_u128(ip_bits(self.hi.0));
    }
}

impl FlowKey {
    fn new(point: CapturePointId, encap: u64, seg: &TcpSegment<'_>) -> FlowKey {
        let a = (seg.src, seg.src_port);
        let b = (seg.dst, seg.dst_port);
        let (lo, hi) = if (ip_bits(a.0), a.1) <= (ip_bits(b.0), b.1) {
            (a, b)
        } else {
            (b, a)
        };
        FlowKey {
            point,
            encap,
            lo,
            hi,
        }
    }
}

/// Where and when a segment was captured.
#[derive(Debug, Clone, Copy)]
pub struct SeenAt {
    pub point: CapturePointId,
    pub ts_ns: u64,
}

/// What the flow knows of its application protocol.
enum App {
    /// `held`: first bytes that came in pieces too short to tell (boxed: rare).
    Detecting {
        seen: u64,
        held: Option<Box<Held>>,
    },
    Parsing(AppParser),
    Unrecognised,
}

/// Most bytes held per direction while a protocol is not yet recognised: enough for a request
/// line or a MySQL greeting written in pieces, little enough for a table of unknown flows.
const MAX_HELD: usize = 256;

/// Each direction's first bytes, held while the pieces they came in were too short for any
/// probe to decide, with where the first of them was.
#[derive(Default)]
struct Held {
    pieces: [Option<(SegmentMeta, Vec<u8>)>; 2],
}

struct Flow {
    /// Creation order: decides the order of end-of-input flushing, so output is deterministic.
    id: u64,
    point: CapturePointId,
    client: (IpAddr, u16),
    server: (IpAddr, u16),
    /// False while the client/server roles are only a guess that the first payload may correct.
    roles_known: bool,
    /// Index 0 carries client→server bytes, index 1 server→client.
    halves: [HalfStream; 2],
    app: App,
    last_ns: u64,
    syn_ns: Option<u64>,
    synack_ns: Option<u64>,
    ack_ns: Option<u64>,
    tunnel: Option<Arc<str>>,
    vlan: Option<Arc<str>>,
    /// The endpoints as every span of the flow writes them, from its first span on.
    endpoints: Option<Box<Endpoints>>,
}

/// Every TCP connection being followed, at every capture point.
pub struct FlowTable {
    limits: FlowLimits,
    /// Looked up by a hash computed once per segment, shared with `closed`.
    flows: HashTable<(FlowKey, Flow)>,
    /// Connections that ended (both FINs or a RST), with the time of their last packet, kept
    /// while they linger so that trailing ACKs are absorbed. Only the key's 64-bit hash is
    /// kept (16 bytes an entry, not the flow's buffers and parser): two live keys sharing one
    /// hash, about 2^-64 per pair, would cost one absorbed segment.
    closed: HashTable<(u64, u64)>,
    hasher: DefaultHashBuilder,
    next_id: u64,
    last_sweep_ns: u64,
    exchanges: Vec<Exchange>,
    events: Vec<StreamEvent>,
    described: DescribedEncaps,
    /// (client, server) of connections opened since the caller last took them.
    new_connections: Vec<(SocketAddr, SocketAddr)>,
}

/// Encapsulations described as text, shared by the flows that came in them: an overlay's
/// flows ride a few tunnels (one per pair of nodes), and formatting the text afresh for each
/// flow cost more than the rest of its first packet. Forgotten all at once when full.
#[derive(Default)]
struct DescribedEncaps {
    texts: HashTable<(u64, Encap, EncapText)>,
}

/// Tunnels and VLANs as the spans write them.
type EncapText = (Option<Arc<str>>, Option<Arc<str>>);

const MOST_DESCRIBED_ENCAPS: usize = 1024;

impl DescribedEncaps {
    fn of(&mut self, encap: &Encap) -> EncapText {
        let hash = encap.layers_hash();
        let same = |(h, e, _): &(u64, Encap, EncapText)| *h == hash && e.same_layers(encap);
        if let Some((_, _, text)) = self.texts.find(hash, same) {
            return text.clone();
        }
        if self.texts.len() >= MOST_DESCRIBED_ENCAPS {
            self.texts.clear();
        }
        let text = (
            encap.describe_tunnels().map(Arc::from),
            encap.describe_vlans().map(Arc::from),
        );
        self.texts
            .insert_unique(hash, (hash, *encap, text.clone()), |(h, _, _)| *h);
        text
    }
}

/// Ports that a server is much more likely to own than a client.
fn is_server_port(port: u16) -> bool {
    matches!(
        port,
        80 | 81
            | 443
            | 3000
            | 3306
            | 4000
            | 5000
            | 5432
            | 6379
            | 8000
            | 8008
            | 8080
            | 8081
            | 8443
            | 8888
            | 9000
            | 9090
            | 50051
    ) || port < 1024
}

impl FlowTable {
    pub fn new(limits: FlowLimits) -> FlowTable {
        FlowTable {
            limits,
            flows: HashTable::new(),
            closed: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            next_id: 0,
            last_sweep_ns: 0,
            exchanges: Vec::new(),
            events: Vec::new(),
            described: DescribedEncaps::default(),
            new_connections: Vec::new(),
        }
    }

    /// The (client, server) ends of the connections opened since the last call (kept only
    /// with `note_new_connections`).
    pub fn take_new_connections(&mut self) -> std::vec::Drain<'_, (SocketAddr, SocketAddr)> {
        self.new_connections.drain(..)
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Feeds one segment; completed exchanges go to `out`.
    pub fn segment(
        &mut self,
        at: SeenAt,
        encap: &Encap,
        seg: &TcpSegment<'_>,
        points: &CapturePoints,
        stats: &mut Counters,
        out: &mut ExchangeSink<'_>,
    ) {
        let SeenAt { point, ts_ns } = at;
        stats.tcp_segments += 1;
        stats.tcp_payload_bytes += seg.payload.len() as u64;
        if ts_ns >= self.last_sweep_ns.saturating_add(1_000_000_000) {
            self.sweep(ts_ns, points, stats, out);
        }
        let key = FlowKey::new(point, encap.context_hash(), seg);
        let hash = self.hasher.hash_one(key);
        let flags = seg.flags;
        let new_syn = flags.syn() && !flags.ack();
        if new_syn {
            if let Ok(entry) = self.flows.find_entry(hash, |(k, _)| *k == key) {
                // A SYN that does not repeat the flow's own is a new connection on its ports.
                let reused = entry.get().1.halves[0]
                    .next_seq()
                    .is_some_and(|next| next != seg.seq.wrapping_add(1));
                if reused {
                    let ((_, flow), _) = entry.remove();
                    self.finish(flow, points, stats, out);
                }
            }
        }
        // One probe for the segments of a known flow, which is nearly all of them.
        let flow = match self.flows.find_mut(hash, |(k, _)| *k == key) {
            Some((_, flow)) => flow,
            None => {
                if !self.admit(hash, seg, ts_ns, points, stats, out) {
                    return;
                }
                stats.flows_created += 1;
                if new_syn && self.limits.note_new_connections {
                    self.new_connections.push((
                        SocketAddr::new(seg.src, seg.src_port),
                        SocketAddr::new(seg.dst, seg.dst_port),
                    ));
                }
                self.next_id += 1;
                let flow = new_flow(self.next_id, point, seg, ts_ns);
                let hasher = &self.hasher;
                &mut self
                    .flows
                    .insert_unique(hash, (key, flow), |(k, _)| hasher.hash_one(k))
                    .into_mut()
                    .1
            }
        };
        let limits = self.limits;
        let exchanges = &mut self.exchanges;
        // Reused for every segment, so that reassembly allocates nothing per packet.
        let events = &mut self.events;
        flow.last_ns = ts_ns;
        let mut d = usize::from((seg.src, seg.src_port) != flow.client);
        // Handshake: the SYN's sender is the client, whatever the ports say.
        if flags.syn() {
            let syn_sender_is_client = !flags.ack();
            let sender_is_current_client = d == 0;
            if syn_sender_is_client != sender_is_current_client {
                flow.swap_roles();
                d = 1 - d;
            }
            flow.roles_known = true;
            if flags.ack() {
                flow.synack_ns.get_or_insert(ts_ns);
            } else {
                flow.syn_ns.get_or_insert(ts_ns);
            }
            flow.halves[d].on_syn(seg.seq);
        } else if d == 0 && flags.ack() && flow.synack_ns.is_some() && flow.ack_ns.is_none() {
            flow.ack_ns = Some(ts_ns);
        }
        flow.halves[d].note_ttl(seg.ttl);
        if d == 0 && flow.tunnel.is_none() && flow.vlan.is_none() && !encap.is_empty() {
            (flow.tunnel, flow.vlan) = self.described.of(encap);
        }
        if !seg.payload.is_empty() && !flow.roles_known {
            if let App::Detecting { .. } = flow.app {
                if let Some(protocol::Probe {
                    role: Some(sender), ..
                }) = protocol::probe(seg.payload)
                {
                    let sender_is_client = sender == Role::Client;
                    if sender_is_client != (d == 0) {
                        flow.swap_roles();
                        d = 1 - d;
                    }
                    flow.roles_known = true;
                }
            }
        }
        // The peer acknowledging bytes beyond a hole means those bytes were sent but not captured.
        if flags.ack() {
            let other = 1 - d;
            events.clear();
            flow.halves[other].on_peer_ack(seg.ack, !seg.payload.is_empty(), events, stats);
            flow.deliver(other, events, exchanges, stats, limits);
        }
        events.clear();
        let meta = SegmentMeta {
            ts_ns,
            seq: seg.seq,
            ack: seg.ack,
        };
        let payload_seq = if flags.syn() {
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };
        if !seg.payload.is_empty() || seg.missing_tail > 0 {
            flow.halves[d].on_data(
                SegmentMeta {
                    seq: payload_seq,
                    ..meta
                },
                seg.payload,
                seg.missing_tail,
                limits.max_ooo_bytes,
                events,
                stats,
            );
        }
        flow.deliver_borrowed(d, seg.payload, events, exchanges, stats, limits);
        if flags.fin() {
            flow.halves[d].on_fin();
            if let App::Parsing(p) = &mut flow.app {
                p.on_fin(Direction::of_index(d), ts_ns, exchanges, stats);
            }
        }
        if flags.rst() || (flow.halves[0].fin_seen() && flow.halves[1].fin_seen()) {
            stats.flows_closed += 1;
            if let Ok(entry) = self.flows.find_entry(hash, |(k, _)| *k == key) {
                let ((_, flow), _) = entry.remove();
                self.finish(flow, points, stats, out);
                self.linger(hash, ts_ns, stats);
            }
            return;
        }
        emit(flow, exchanges, points, stats, out);
    }

    /// Decides whether a segment with no open flow may open one: not when it trails a
    /// connection that ended, carries nothing, or finds the table full.
    fn admit(
        &mut self,
        hash: u64,
        seg: &TcpSegment<'_>,
        ts_ns: u64,
        points: &CapturePoints,
        stats: &mut Counters,
        out: &mut ExchangeSink<'_>,
    ) -> bool {
        let flags = seg.flags;
        let new_syn = flags.syn() && !flags.ack();
        // Only a key with no open flow can be a closed one: live flows never probe this.
        if !self.closed.is_empty() {
            if let Ok(entry) = self.closed.find_entry(hash, |&(h, _)| h == hash) {
                if !new_syn {
                    entry.into_mut().1 = ts_ns;
                    stats.tcp_segments_after_close += 1;
                    return false;
                }
                // A new SYN on a finished connection is a new connection reusing the ports.
                entry.remove();
            }
        }
        // A segment that carries no bytes (an ACK, a FIN, a RST) cannot start anything
        // worth following: typically the last ACK of a connection already closed and
        // forgotten. Creating flows for them would fill the table with empty ones.
        if !flags.syn() && seg.payload.is_empty() && seg.missing_tail == 0 {
            stats.tcp_segments_without_flow += 1;
            return false;
        }
        // A full table is what a SYN flood looks like: sweeping it for every refused
        // packet would cost O(table) each, so forced sweeps are rate-limited too.
        if self.flows.len() >= self.limits.max_flows
            && ts_ns >= self.last_sweep_ns.saturating_add(FULL_TABLE_SWEEP_NS)
        {
            self.sweep(ts_ns, points, stats, out);
        }
        if self.flows.len() >= self.limits.max_flows {
            stats.flows_dropped_table_full += 1;
            return false;
        }
        true
    }

    /// Remembers a closed connection for its linger time, within the table bound. A full
    /// table forgets the newest (counted) rather than sweeping: the periodic sweep makes room,
    /// and a forgotten close costs at most a flow for a late retransmission (its ACKs and
    /// FINs open none).
    fn linger(&mut self, hash: u64, ts_ns: u64, stats: &mut Counters) {
        if self.closed.len() >= self.limits.max_flows {
            stats.flows_closed_forgotten += 1;
            return;
        }
        self.closed.insert_unique(hash, (hash, ts_ns), |&(h, _)| h);
    }

    /// Evicts flows idle past the timeout (closed flows sooner), oldest first.
    fn sweep(
        &mut self,
        now_ns: u64,
        points: &CapturePoints,
        stats: &mut Counters,
        out: &mut ExchangeSink<'_>,
    ) {
        self.last_sweep_ns = now_ns;
        let linger = self.limits.closed_linger_ns;
        self.closed
            .retain(|(_, last_ns)| now_ns.saturating_sub(*last_ns) < linger);
        let idle = self.limits.idle_timeout_ns;
        let expired = |f: &Flow| now_ns.saturating_sub(f.last_ns) >= idle;
        if !self.flows.iter().any(|(_, f)| expired(f)) {
            return;
        }
        let mut gone: Vec<Flow> = self
            .flows
            .extract_if(|(_, f)| expired(f))
            .map(|(_, f)| f)
            .collect();
        gone.sort_by_key(|f| f.id);
        for flow in gone {
            stats.flows_evicted_idle += 1;
            self.finish(flow, points, stats, out);
        }
    }

    /// Ends every flow (end of input), in creation order.
    pub fn flush(
        &mut self,
        points: &CapturePoints,
        stats: &mut Counters,
        out: &mut ExchangeSink<'_>,
    ) {
        self.closed.clear();
        let mut all: Vec<Flow> = self.flows.drain().map(|(_, f)| f).collect();
        all.sort_by_key(|f| f.id);
        for flow in all {
            self.finish(flow, points, stats, out);
        }
    }

    fn finish(
        &mut self,
        mut flow: Flow,
        points: &CapturePoints,
        stats: &mut Counters,
        out: &mut ExchangeSink<'_>,
    ) {
        flow.close(self.limits, &mut self.events, &mut self.exchanges, stats);
        if matches!(flow.app, App::Detecting { seen, .. } if seen > 0) {
            stats.flows_unrecognised += 1;
        }
        emit(&mut flow, &mut self.exchanges, points, stats, out);
    }
}

fn new_flow(id: u64, point: CapturePointId, seg: &TcpSegment<'_>, ts_ns: u64) -> Flow {
    let src = (seg.src, seg.src_port);
    let dst = (seg.dst, seg.dst_port);
    // Until a SYN or a payload says otherwise: the side on a server port is the server.
    let src_is_server = is_server_port(src.1) && !is_server_port(dst.1);
    let (client, server) = if src_is_server {
        (dst, src)
    } else {
        (src, dst)
    };
    Flow {
        id,
        point,
        client,
        server,
        roles_known: false,
        halves: [HalfStream::default(), HalfStream::default()],
        app: App::Detecting {
            seen: 0,
            held: None,
        },
        last_ns: ts_ns,
        syn_ns: None,
        synack_ns: None,
        ack_ns: None,
        tunnel: None,
        vlan: None,
        endpoints: None,
    }
}

impl Flow {
    fn swap_roles(&mut self) {
        std::mem::swap(&mut self.client, &mut self.server);
        self.halves.swap(0, 1);
        self.endpoints = None;
    }

    /// Hands reassembly events of direction `d` to the parser; `payload` is the current
    /// segment, which in-order events borrow from instead of copying.
    fn deliver_borrowed(
        &mut self,
        d: usize,
        payload: &[u8],
        events: &[StreamEvent],
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
        limits: FlowLimits,
    ) {
        for ev in events {
            match ev {
                StreamEvent::Current { offset, meta } => {
                    self.data(d, &payload[*offset..], *meta, out, stats, limits)
                }
                StreamEvent::Buffered { data, offset, meta } => {
                    self.data(d, &data[*offset..], *meta, out, stats, limits)
                }
                StreamEvent::Gap(len) => match &mut self.app {
                    App::Parsing(p) => p.on_gap(Direction::of_index(d), *len, stats),
                    // Held bytes and what follows the hole are not one stream.
                    App::Detecting {
                        held: Some(held), ..
                    } => {
                        held.pieces[d] = None;
                    }
                    _ => {}
                },
            }
        }
    }

    fn deliver(
        &mut self,
        d: usize,
        events: &[StreamEvent],
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
        limits: FlowLimits,
    ) {
        self.deliver_borrowed(d, &[], events, out, stats, limits);
    }

    fn data(
        &mut self,
        d: usize,
        data: &[u8],
        meta: SegmentMeta,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
        limits: FlowLimits,
    ) {
        if data.is_empty() {
            return;
        }
        let roles_known = self.roles_known;
        let mut joined = Vec::new();
        let (mut data, mut meta) = (data, meta);
        if let App::Detecting { seen, held } = &mut self.app {
            // Only this piece is new: what was held was counted when it came.
            *seen += data.len() as u64;
            // Pieces too short to tell before these: probed together with them first.
            let mut first = None;
            if let Some((at, bytes)) = held.as_mut().and_then(|h| h.pieces[d].take()) {
                joined = bytes;
                joined.extend_from_slice(data);
                first = Some(at);
            }
            let together = if joined.is_empty() {
                None
            } else {
                protocol::probe(&joined)
            };
            let found = match together {
                Some(p) => {
                    data = &joined;
                    meta = first.unwrap_or(meta);
                    Some(p)
                }
                None => protocol::probe(data),
            };
            match found {
                // The probe says the other side sent these bytes: with the roles known from
                // the handshake (or earlier bytes), that is a guess the stream contradicts.
                Some(protocol::Probe {
                    role: Some(sender), ..
                }) if roles_known && (sender == Role::Client) != (d == 0) => {
                    stats.detect_rejected_wrong_side += 1;
                    return;
                }
                Some(found) => self.app = App::Parsing(protocol::start(found, limits.parsers)),
                None => {
                    // Too short to tell: keep them for the next piece, within the bound.
                    let keep = if joined.len() <= MAX_HELD && !joined.is_empty() {
                        Some((first.unwrap_or(meta), joined))
                    } else {
                        if !joined.is_empty() {
                            stats.detect_held_bytes_given_up += 1;
                        }
                        (data.len() < MAX_HELD).then(|| (meta, data.to_vec()))
                    };
                    if let Some(piece) = keep {
                        held.get_or_insert_with(Box::default).pieces[d] = Some(piece);
                    }
                    if *seen > limits.max_detect_bytes {
                        stats.flows_unrecognised += 1;
                        self.app = App::Unrecognised;
                    }
                    return;
                }
            }
        }
        if let App::Parsing(p) = &mut self.app {
            p.on_data(Direction::of_index(d), data, meta, out, stats);
            if p.tunnelled() {
                // A proxy's tunnel: what flows through it is recognised afresh.
                p.on_close(out, stats);
                stats.flows_tunnels_opened += 1;
                self.app = App::Detecting {
                    seen: 0,
                    held: None,
                };
                return;
            }
            if p.gave_up() {
                // The stream stopped making sense as that protocol: it was never it.
                stats.flows_given_back += 1;
                self.app = App::Unrecognised;
            }
        }
    }

    /// Flushes buffered out-of-order data (with its holes) and ends the parser.
    fn close(
        &mut self,
        limits: FlowLimits,
        events: &mut Vec<StreamEvent>,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        for d in 0..2 {
            events.clear();
            self.halves[d].flush(events, stats);
            self.deliver(d, events, out, stats, limits);
        }
        if let App::Parsing(p) = &mut self.app {
            p.on_close(out, stats);
        }
    }

    fn tap_side(&self) -> TapSide {
        infer_tap_side(
            self.halves[0].ttl(),
            self.halves[1].ttl(),
            self.syn_ns.zip(self.synack_ns).zip(self.ack_ns),
        )
    }
}

fn emit(
    flow: &mut Flow,
    exchanges: &mut Vec<Exchange>,
    points: &CapturePoints,
    stats: &mut Counters,
    out: &mut ExchangeSink<'_>,
) {
    if exchanges.is_empty() {
        return;
    }
    let tap_side = flow.tap_side();
    let (client, server) = (flow.client, flow.server);
    let facts = FlowFacts {
        capture_point: points.name(flow.point),
        transport: Transport::Tcp,
        client,
        server,
        endpoints: flow
            .endpoints
            .get_or_insert_with(|| Box::new(Endpoints::new(client, server))),
        tap_side,
        tunnel: flow.tunnel.as_ref(),
        vlan: flow.vlan.as_ref(),
    };
    for ex in exchanges.drain(..) {
        // Counted here, for every protocol alike.
        if ex.incomplete == Some(protocol::Incomplete::Gap) {
            stats.exchanges_with_gap += 1;
        }
        stats.spans += 1;
        out(ex, &facts);
    }
}

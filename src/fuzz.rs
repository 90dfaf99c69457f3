//! Entry points for the fuzz targets in `fuzz/` and for `tests/fuzz_corpus.rs`, which replays
//! the saved corpora through the same functions on stable Rust.
//!
//! Each takes arbitrary bytes and drives one component the way the pipeline does. A panic is a
//! bug: either the component's own, or a broken invariant asserted here (stream bytes delivered
//! out of place, a buffer over its bound, a span that ends before it starts).

use crate::capture::{pcap::PcapReader, pcapng::PcapngReader, CapturePoints, LinkType, RawPacket};
use crate::correlate::{correlate, CorrelationConfig};
use crate::flow::reassembly::{HalfStream, StreamEvent};
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::protocol::{
    self, grpc, http2, AppParser, Direction, Exchange, ParserOptions, Protocol, SegmentMeta,
    REGISTRY,
};
use crate::stats::Counters;

/// Link types a `frames` input can choose from with its first byte: Ethernet, SLL, SLL2, raw
/// IP, BSD loopback and OpenBSD loopback.
const LINKS: [u32; 6] = [1, 113, 276, 101, 0, 108];
const START_NS: u64 = 1_700_000_000_000_000_000;

/// Splits `data` into records of a two-byte big-endian length and that many bytes (fewer at
/// the end); `head` bytes before each length are handed over too.
fn records<const HEAD: usize>(mut data: &[u8]) -> impl Iterator<Item = ([u8; HEAD], &[u8])> {
    std::iter::from_fn(move || {
        let (head, rest) = data.split_first_chunk::<HEAD>()?;
        let (len, rest) = rest.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*len)).min(rest.len());
        let (body, next) = rest.split_at(len);
        data = next;
        Some((*head, body))
    })
}

/// Frames through the whole pipeline: decode, defragmentation, the flow table, reassembly and
/// every protocol parser. Input: a link-type byte, then length-prefixed frames 1 ms apart.
pub fn frames(data: &[u8]) {
    let Some((&link, rest)) = data.split_first() else {
        return;
    };
    let mut pipeline = Pipeline::new(PipelineConfig::default());
    let point = pipeline.points.intern("fuzz");
    let link = LinkType::from_linktype(LINKS[usize::from(link) % LINKS.len()]);
    let mut ts_ns = START_NS;
    for (_, frame) in records::<0>(rest) {
        pipeline.packet(&RawPacket {
            ts_ns,
            link,
            point,
            wire_len: frame.len() as u32,
            data: frame,
        });
        pipeline.take_spans().for_each(check_span);
        ts_ns += 1_000_000;
    }
    pipeline.flush();
    pipeline.take_spans().for_each(check_span);
}

fn check_span(span: crate::span::NetworkSpan) {
    assert!(span.start_ns <= span.end_ns, "span ends before it starts");
}

/// DNS datagrams through the datagram table: pairing, retransmissions, timeouts, its bound.
/// Input: records of a control byte (bit 0: the server sends it; bits 1–7: milliseconds since
/// the one before, times 64, so timeouts pass) and the datagram's payload.
pub fn dns_udp(data: &[u8]) {
    use crate::decode::{Encap, UdpDatagram};
    use crate::flow::{DatagramLimits, DatagramTable};
    use std::net::Ipv4Addr;
    let mut table = DatagramTable::new(DatagramLimits {
        max_pending: 16,
        ..DatagramLimits::default()
    });
    let mut points = CapturePoints::default();
    let point = points.intern("fuzz");
    let mut stats = Counters::default();
    let (client, server) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 53));
    let mut ts_ns = START_NS;
    let mut sink = |ex, facts: &crate::flow::FlowFacts<'_>| {
        check_span(crate::span::build(ex, facts));
    };
    for ([ctrl], payload) in records::<1>(data) {
        ts_ns += u64::from(ctrl >> 1) * 64_000_000;
        let from_server = ctrl & 1 != 0;
        let (src, dst) = if from_server {
            ((server, 53), (client, 40_000))
        } else {
            ((client, 40_000), (server, 53))
        };
        let dgram = UdpDatagram {
            src: src.0.into(),
            dst: dst.0.into(),
            src_port: src.1,
            dst_port: dst.1,
            ttl: 64,
            payload,
            missing_tail: 0,
        };
        let encap = Encap::default();
        table.dns(point, ts_ns, &encap, &dgram, &points, &mut stats, &mut sink);
        assert!(table.len() <= 16, "the datagram table is over its bound");
    }
    table.flush(&points, &mut stats, &mut sink);
    assert!(table.is_empty());
}

/// A capture file held in memory, pcap or pcapng by its magic, replayed through the pipeline
/// as `wirespan replay` replays a mapped file.
pub fn capture(data: &[u8]) {
    let mut pipeline = Pipeline::new(PipelineConfig::default());
    let mut sink = |span| {
        check_span(span);
        Ok(())
    };
    let _ = pipeline.replay_capture(data, "fuzz", "fuzz", &mut sink, &mut |_, _| {});
}

/// The pcap reader alone: every record up to the end or the first error.
pub fn pcap(data: &[u8]) {
    let mut points = CapturePoints::default();
    if let Ok(mut reader) = PcapReader::new(data, "fuzz", "fuzz", &mut points) {
        while let Ok(Some(pkt)) = reader.next_packet() {
            assert!(reader.offset() <= data.len() as u64);
            std::hint::black_box(pkt);
        }
    }
}

/// The pcapng reader alone: every packet up to the end or the first error.
pub fn pcapng(data: &[u8]) {
    let mut points = CapturePoints::default();
    let mut reader = PcapngReader::new(data, "fuzz", "fuzz");
    while let Ok(Some(pkt)) = reader.next_packet(&mut points) {
        assert!(reader.offset() <= data.len() as u64);
        std::hint::black_box(pkt);
    }
}

/// The byte at stream position `pos` of the stream the `reassembly` target cuts segments from.
fn stream_byte(pos: u32) -> u8 {
    (pos ^ (pos >> 8) ^ (pos >> 16)) as u8
}

/// One direction of a TCP stream put back in order from segments cut out of one known stream
/// (out of order, overlapping, retransmitted, their tails cut by the capture) and the peer's
/// acknowledgements. Asserts that every byte delivered is the stream's byte at that position,
/// that the events follow each other without overlap or skip, and that the buffer of early
/// segments stays under its limit.
///
/// Input: a 4-byte initial sequence number, then records of a kind byte, a 2-byte offset
/// into the stream and a 2-byte length (`records`' length is the segment's payload source).
pub fn reassembly(data: &[u8]) {
    const MAX_EARLY: usize = 4096;
    let Some((isn, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let isn = u32::from_be_bytes(*isn);
    let mut half = HalfStream::default();
    let mut stats = Counters::default();
    let mut events = Vec::new();
    // Sequence number the next event must start at, once the stream has started.
    let mut expect: Option<u32> = None;
    let mut segment = Vec::new();
    let check = |events: &mut Vec<StreamEvent>, current: &[u8], expect: &mut Option<u32>| {
        for event in events.drain(..) {
            let (seq, bytes) = match &event {
                StreamEvent::Current { offset, meta } => (meta.seq, current.get(*offset..)),
                StreamEvent::Buffered { data, offset, meta } => (meta.seq, data.get(*offset..)),
                StreamEvent::Gap(n) => {
                    let Some(at) = *expect else {
                        panic!("a gap before the stream started");
                    };
                    *expect = Some(at.wrapping_add(*n));
                    continue;
                }
            };
            let Some(bytes) = bytes else {
                panic!("an event offset past its data");
            };
            if let Some(at) = *expect {
                assert_eq!(seq, at, "stream bytes delivered out of place");
            }
            for (i, &b) in bytes.iter().enumerate() {
                let pos = seq.wrapping_add(i as u32).wrapping_sub(isn);
                assert_eq!(b, stream_byte(pos), "wrong byte delivered at {pos}");
            }
            *expect = Some(seq.wrapping_add(bytes.len() as u32));
        }
    };
    if rest.first().is_some_and(|b| b & 1 == 1) {
        half.on_syn(isn.wrapping_sub(1));
        expect = Some(isn);
    }
    for ([kind, o1, o2], body) in records::<3>(rest.get(1..).unwrap_or(&[])) {
        let offset = u32::from(u16::from_be_bytes([o1, o2])) * 7;
        let seq = isn.wrapping_add(offset);
        match kind % 4 {
            0..=2 => {
                let missing = if kind & 0x80 != 0 {
                    u32::from(kind >> 2 & 0x1f)
                } else {
                    0
                };
                segment.clear();
                segment.extend((0..body.len() as u32).map(|i| stream_byte(offset + i)));
                let meta = SegmentMeta {
                    ts_ns: 0,
                    seq,
                    ack: 0,
                };
                // A stream joined mid-way starts at the first segment seen, data or not.
                expect.get_or_insert(seq);
                half.on_data(meta, &segment, missing, MAX_EARLY, &mut events, &mut stats);
                check(&mut events, &segment, &mut expect);
            }
            _ => {
                half.on_peer_ack(seq, kind & 0x40 != 0, &mut events, &mut stats);
                check(&mut events, &[], &mut expect);
            }
        }
        assert!(
            half.buffered_bytes() <= MAX_EARLY,
            "reassembly buffer over its limit"
        );
    }
    half.flush(&mut events, &mut stats);
    check(&mut events, &[], &mut expect);
}

/// Which parser a `stream` input starts with.
#[derive(Clone, Copy)]
pub enum StreamParser {
    /// Chosen from the first bytes, as the flow table does.
    Detect,
    /// One protocol of the registry: every protocol is a fuzz target under its own name.
    Protocol(&'static Protocol),
}

/// One connection's two byte streams through a protocol parser, in chunks of any size, with
/// holes and FINs, ending in a close. Input: a flags byte (handed to the protocol's `start`:
/// bit 0, the HTTP/2 parser starts at a preface, the MySQL one at a greeting; bit 1, MySQL
/// compressed), then records of a control byte (bit 0: to the client; bit 7: a hole of the
/// record's length instead of data; bit 6: a FIN after it) and the chunk.
pub fn stream(parser: StreamParser, data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut app: Option<AppParser> = match parser {
        StreamParser::Detect => None,
        StreamParser::Protocol(p) => Some((p.start)(flags, ParserOptions::default())),
    };
    let mut stats = Counters::default();
    let mut out = Vec::new();
    let mut seq = [1_000u32, 2_000_000_000u32];
    let mut ts_ns = START_NS;
    for ([ctrl], chunk) in records::<1>(rest) {
        let dir = if ctrl & 1 == 0 {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        let side = usize::from(ctrl & 1);
        if app.is_none() {
            app = protocol::detect(chunk).map(|(p, _)| p);
        }
        let Some(parser) = app.as_mut() else {
            continue;
        };
        if ctrl & 0x80 != 0 {
            parser.on_gap(dir, chunk.len() as u32, &mut stats);
        } else {
            let meta = SegmentMeta {
                ts_ns,
                seq: seq[side],
                ack: seq[1 - side],
            };
            parser.on_data(dir, chunk, meta, &mut out, &mut stats);
        }
        seq[side] = seq[side].wrapping_add(chunk.len() as u32);
        if ctrl & 0x40 != 0 {
            parser.on_fin(dir, ts_ns, &mut out, &mut stats);
        }
        out.drain(..).for_each(check_exchange);
        ts_ns += 1_000_000;
    }
    if let Some(parser) = app.as_mut() {
        parser.on_close(&mut out, &mut stats);
    }
    out.drain(..).for_each(check_exchange);
}

fn check_exchange(x: Exchange) {
    assert!(
        x.start_ns <= x.end_ns,
        "exchange ends before it starts: {x:?}"
    );
}

/// gRPC message framing: the count of messages must not depend on how DATA frames split the
/// bytes. Input: a split-size byte, then the DATA bytes. Also `:path`, `grpc-message` and
/// `grpc-trace-bin` decoding of the same bytes.
pub fn grpc(data: &[u8]) {
    let Some((&split, body)) = data.split_first() else {
        return;
    };
    let mut whole = grpc::MessageCounter::default();
    whole.feed(body);
    let mut pieces = grpc::MessageCounter::default();
    for piece in body.chunks(usize::from(split).max(1)) {
        pieces.feed(piece);
    }
    assert_eq!(whole, pieces, "message count depends on the split");
    if let Ok(path) = std::str::from_utf8(body) {
        std::hint::black_box(grpc::split_path(path));
    }
    std::hint::black_box(grpc::percent_decode(body));
    std::hint::black_box(grpc::parse_grpc_trace_bin(body));
}

/// HPACK header blocks through one decoder, as the HTTP/2 parser hands them over. Input:
/// length-prefixed blocks; the dynamic table must stay within its size bound.
pub fn hpack(data: &[u8]) {
    let mut decoder = http2::hpack::Decoder::new(data.first().is_some_and(|b| b & 1 == 1));
    for (_, block) in records::<0>(data.get(1..).unwrap_or(&[])) {
        let _ = decoder.decode(block, &mut |field| {
            std::hint::black_box(field);
        });
        assert!(decoder.table_size() <= http2::hpack::MAX_TABLE_SIZE);
    }
}

/// An OTLP request body as the receiver decodes it (first byte: bit 0 JSON, bit 1 gzip),
/// then correlated: its network spans (those wirespan made) joined into its app spans, and
/// the result drawn as trees. Parent links in hostile input may form cycles.
pub fn otlp_body(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    let inflated;
    let body = if kind & 2 != 0 {
        match crate::otlp::gunzip(body, 1 << 20) {
            Ok(b) => {
                inflated = b;
                &inflated[..]
            }
            Err(_) => return,
        }
    } else {
        body
    };
    let Ok(req) = crate::otlp::decode_body(body, kind & 1 == 1) else {
        return;
    };
    let mut apps = req.resource_spans;
    let mut network = Vec::new();
    for ss in apps.iter_mut().flat_map(|r| &mut r.scope_spans) {
        let (net, app): (Vec<_>, Vec<_>) = std::mem::take(&mut ss.spans)
            .into_iter()
            .partition(crate::otlp::is_network_span);
        network.extend(net);
        ss.spans = app;
    }
    correlate(
        CorrelationConfig::default(),
        &mut network,
        &[],
        &mut apps,
        &mut crate::correlate::EndpointNames::default(),
        &mut Counters::default(),
    );
    std::hint::black_box(crate::show::trees(&apps));
}

/// The TLS wire reader alone: records one after another (or, when the bytes are not records,
/// the bytes themselves as handshake data), every handshake message read as what its type
/// says (hellos, certificate chains of both shapes and the first certificate's X.509, a
/// ServerHello also as a resumption of the ClientHello), alerts.
fn tls_wire(data: &[u8]) {
    use crate::protocol::tls::wire::{
        handshake_messages, handshake_type, looks_like_tls, read_certificate, Alert, Certificates,
        ClientHello, ContentType, Record, ServerHello,
    };
    std::hint::black_box(looks_like_tls(data));
    let mut handshake = Vec::new();
    let mut rest = data;
    while let Ok((record, after)) = Record::read(rest) {
        match record.header.content_type {
            ContentType::Handshake => handshake.extend_from_slice(record.payload),
            ContentType::Alert => {
                std::hint::black_box(
                    Alert::parse(record.payload).map(|a| (a.name(), a.is_error())),
                );
            }
            _ => {}
        }
        rest = after;
    }
    if handshake.is_empty() {
        handshake.extend_from_slice(data);
    }
    let mut client = None;
    for m in handshake_messages(&handshake) {
        match m.msg_type {
            handshake_type::CLIENT_HELLO => {
                if let Ok(c) = ClientHello::parse(m.body) {
                    std::hint::black_box((
                        c.cipher_suites().count(),
                        c.alpn_protocols().count(),
                        c.max_version(),
                        c.key_share_groups().count(),
                        c.offers_ticket(),
                    ));
                    client = Some(c);
                }
            }
            handshake_type::SERVER_HELLO => {
                if let Ok(s) = ServerHello::parse(m.body) {
                    std::hint::black_box((s.negotiated_version(), s.alpn_str()));
                    if let Some(c) = &client {
                        std::hint::black_box(s.resumes(c));
                    }
                }
            }
            handshake_type::CERTIFICATE => {
                for tls13 in [false, true] {
                    if let Ok(chain) = Certificates::parse(m.body, tls13) {
                        std::hint::black_box(chain.iter().count());
                        if let Some(der) = chain.first() {
                            std::hint::black_box(read_certificate(der).ok());
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// Both streams of a connection through the TLS parser with the key log of `pcaps/tls` loaded,
/// so that records of the captured connections (mutated) are decrypted, authenticated or
/// refused, held for keys, and their plaintext parsed. Input as for [`stream`].
fn tls_decrypt(data: &[u8]) {
    static LOADED: std::sync::Once = std::sync::Once::new();
    LOADED.call_once(|| {
        crate::protocol::tls::keylog::expect_keys();
        if let Ok(mut log) = crate::protocol::tls::keylog::shared().write() {
            log.add_text(include_str!("../pcaps/tls/tls.keys"));
        }
    });
    if let Some(&p) = REGISTRY.iter().find(|p| p.name == "tls") {
        stream(StreamParser::Protocol(p), data);
    }
}

/// A fuzz entry point: takes any bytes, panics only on a bug.
pub type Entry = fn(&[u8]);

/// The names `tests/fuzz_corpus.rs` and `fuzz/` use for each entry point.
pub const TARGETS: &[(&str, Entry)] = &[
    ("frames", frames),
    ("capture", capture),
    ("pcap", pcap),
    ("pcapng", pcapng),
    ("reassembly", reassembly),
    ("stream", |d| stream(StreamParser::Detect, d)),
    ("grpc", grpc),
    ("hpack", hpack),
    ("otlp_body", otlp_body),
    ("dns_udp", dns_udp),
    ("tls_wire", tls_wire),
    ("tls_decrypt", tls_decrypt),
];

/// Every target's name: those of [`TARGETS`], then one per protocol of the registry.
pub fn target_names() -> impl Iterator<Item = &'static str> {
    TARGETS
        .iter()
        .map(|(name, _)| *name)
        .chain(REGISTRY.iter().map(|p| p.name))
}

/// Runs the entry point named `target` on `data`; false when there is no such target.
pub fn run(target: &str, data: &[u8]) -> bool {
    if let Some((_, entry)) = TARGETS.iter().find(|(name, _)| *name == target) {
        entry(data);
        return true;
    }
    match REGISTRY.iter().find(|p| p.name == target) {
        Some(&p) => {
            stream(StreamParser::Protocol(p), data);
            true
        }
        None => false,
    }
}

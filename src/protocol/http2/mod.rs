//! HTTP/2 (RFC 9113) and gRPC on top of it.
//!
//! Takes both directions of a connection (prior knowledge with the client preface, or joined
//! mid-connection); gives one [`Exchange`] per stream: request HEADERS (+CONTINUATION)(+DATA),
//! response up to END_STREAM, RST_STREAM or a GOAWAY that refuses it. Frames are read as the
//! bytes arrive; DATA is streamed through the gRPC message counter, never stored. Header
//! blocks are decompressed by one [`hpack::Decoder`] per direction; a decoder that joined late
//! reports unknown fields, which the exchange counts and the span marks.

// Every byte here comes off the wire: no index may panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

pub mod hpack;
mod tables;

use super::frame::{FrameReader, Read};
use super::grpc::{self, MessageCounter};
use super::trace_context::{has_traceparent_shape, TraceHeaders};
use super::{
    side, AppParser, ConnectionParser, Direction, Exchange, ExchangeDetail, GrpcCall, HttpExchange,
    Incomplete, Protocol, SegmentMeta, TraceContext,
};
use crate::stats::Counters;
use hashbrown::HashMap;
use std::sync::Arc;

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// SETTINGS_MAX_FRAME_SIZE before any SETTINGS (RFC 9113 §6.5.2).
const DEFAULT_MAX_FRAME: u32 = 16_384;
/// The limit assumed for a connection joined mid-way, whose SETTINGS were not seen.
const UNKNOWN_MAX_FRAME: u32 = 1 << 20;
/// Non-DATA frame payloads and header blocks are buffered up to this size.
const MAX_BLOCK: usize = 256 * 1024;
/// Streams in flight per connection before the oldest are given up.
const MAX_STREAMS: usize = 1024;

const DATA: u8 = 0;
const HEADERS: u8 = 1;
const PRIORITY: u8 = 2;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PUSH_PROMISE: u8 = 5;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const WINDOW_UPDATE: u8 = 8;
const CONTINUATION: u8 = 9;

const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY_FLAG: u8 = 0x20;

#[derive(Debug, Clone, Copy)]
struct FrameHeader {
    len: u32,
    kind: u8,
    flags: u8,
    stream: u32,
}

fn frame_header(b: &[u8]) -> Option<FrameHeader> {
    let h: &[u8; 9] = b.get(..9)?.try_into().ok()?;
    Some(FrameHeader {
        len: u32::from_be_bytes([0, h[0], h[1], h[2]]),
        kind: h[3],
        flags: h[4],
        stream: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff,
    })
}

/// A frame header that real HTTP/2 could send: a known type, a sane length, and a stream id
/// where the type needs one (and none where it must not have one).
fn plausible(h: &FrameHeader) -> bool {
    let needs_stream = matches!(
        h.kind,
        DATA | HEADERS | PRIORITY | RST_STREAM | PUSH_PROMISE | CONTINUATION
    );
    let connection_only = matches!(h.kind, SETTINGS | PING | GOAWAY);
    h.kind <= CONTINUATION
        && h.len <= UNKNOWN_MAX_FRAME
        && (!needs_stream || h.stream != 0)
        && (!connection_only || h.stream == 0)
        && (h.kind != SETTINGS || h.len % 6 == 0)
        && (h.kind != PING || h.len == 8)
        && (h.kind != WINDOW_UPDATE || h.len == 4)
        && (h.kind != RST_STREAM || h.len == 4)
}

/// Do these bytes start with HTTP/2 frames? Either the preface, or a run of plausible frames
/// that ends exactly at the end of the segment (or runs past it after at least two frames).
pub fn looks_like_frames(data: &[u8]) -> bool {
    if data.starts_with(PREFACE)
        || (data.len() < PREFACE.len() && PREFACE.starts_with(data) && data.len() >= 8)
    {
        return true;
    }
    let mut pos = 0;
    let mut frames = 0;
    while let Some(h) = data.get(pos..).and_then(frame_header) {
        if !plausible(&h) {
            return false;
        }
        frames += 1;
        pos += 9 + h.len as usize;
        if pos == data.len() {
            return true;
        }
        if pos > data.len() {
            return frames >= 2;
        }
    }
    false
}

/// Which side sent these frames, when the first HEADERS block begins with a static-table
/// `:method`/`:scheme`/`:path` (a request) or `:status` (a response).
pub fn sender_hint(data: &[u8]) -> Option<super::Role> {
    if data.starts_with(PREFACE) {
        return Some(super::Role::Client);
    }
    let mut pos = 0;
    while let Some(h) = data.get(pos..).and_then(frame_header) {
        if h.kind == HEADERS {
            let mut at = pos + 9;
            if h.flags & PADDED != 0 {
                at += 1;
            }
            if h.flags & PRIORITY_FLAG != 0 {
                at += 5;
            }
            return match data.get(at)? {
                0x82..=0x87 => Some(super::Role::Client),
                0x88..=0x8e => Some(super::Role::Server),
                _ => None,
            };
        }
        pos += 9 + h.len as usize;
    }
    None
}

/// A header block begun in HEADERS or PUSH_PROMISE, until END_HEADERS.
#[derive(Debug, Clone, Copy)]
struct OpenBlock {
    stream: u32,
    end_stream: bool,
    /// Capture time and sequence number of the frame that began it.
    start: (u64, u32),
    /// The stream a PUSH_PROMISE promises.
    promised: Option<u32>,
}

/// Where one direction's reader stands.
struct SideReader {
    preface_left: usize,
    frames: FrameReader<9>,
    /// The header of the frame being read.
    frame: Option<FrameHeader>,
    /// DATA padding length (read from the first payload byte when PADDED).
    pad: u32,
    payload: Vec<u8>,
    /// A header block waiting for CONTINUATION, and where it began.
    block: Vec<u8>,
    block_open: Option<OpenBlock>,
    /// After a hole: waiting for a segment that starts with a frame.
    resync: bool,
    /// Longest frame this side may send: the peer's SETTINGS_MAX_FRAME_SIZE. A longer one
    /// means the reader lost the frame boundaries (or the peer lies).
    max_frame: u32,
}

impl SideReader {
    fn new(preface: bool, max_frame: u32) -> SideReader {
        SideReader {
            max_frame,
            preface_left: if preface { PREFACE.len() } else { 0 },
            frames: FrameReader::default(),
            frame: None,
            pad: 0,
            payload: Vec::new(),
            block: Vec::new(),
            block_open: None,
            resync: false,
        }
    }
}

/// One stream's exchange under construction.
#[derive(Default)]
struct Stream {
    seen_request: bool,
    start: (u64, u32),
    resp_seq: Option<u32>,
    request_ended: bool,
    info: HttpExchange,
    trace: TraceHeaders,
    /// Trace context already resolved (the HTTP/1.1 request of an h2c upgrade).
    resolved_trace: Option<TraceContext>,
    grpc_trace: Option<TraceContext>,
    is_grpc: bool,
    /// `grpc-web` or `grpc-web-text`, from the request's content-type.
    grpc_web: Option<&'static str>,
    /// grpc-web-text: each direction's base64, decoded before the messages are counted.
    web_text: Option<Box<[grpc::Base64Stream; 2]>>,
    grpc_status: Option<u32>,
    grpc_message: Option<String>,
    messages: [MessageCounter; 2],
    /// The start of the request's DATA ([`grpc::REQUEST_HEAD_BYTES`]), for its identifiers.
    request_head: Vec<u8>,
    last_ns: u64,
    gap: bool,
    /// Order of creation, to give streams up oldest first.
    order: u64,
}

/// Both directions of one HTTP/2 connection.
pub struct Http2Parser {
    readers: [SideReader; 2],
    hpack: [hpack::Decoder; 2],
    streams: HashMap<u32, Stream>,
    created: u64,
    /// Whether any header block was decoded yet (after that, the history cannot be complete).
    decoded_any: bool,
}

impl Default for Http2Parser {
    fn default() -> Self {
        Http2Parser::new(true)
    }
}

impl Http2Parser {
    /// `from_preface`: the capture saw the connection start (client preface); otherwise the
    /// parser joins mid-connection with unknown dynamic tables.
    pub fn new(from_preface: bool) -> Http2Parser {
        Http2Parser {
            // The client side may still send the preface even when the server spoke first.
            readers: {
                let limit = if from_preface {
                    DEFAULT_MAX_FRAME
                } else {
                    UNKNOWN_MAX_FRAME
                };
                [SideReader::new(true, limit), SideReader::new(false, limit)]
            },
            hpack: [
                hpack::Decoder::new(from_preface),
                hpack::Decoder::new(from_preface),
            ],
            streams: HashMap::new(),
            created: 0,
            decoded_any: false,
        }
    }

    /// Parses the rest of a connection that switched from HTTP/1.1 (`Upgrade: h2c`): the client
    /// still sends the preface; the server answers the upgrade request on stream 1, whose
    /// request is the HTTP/1.1 one.
    pub fn after_upgrade(up: super::http1::H2cUpgrade) -> Http2Parser {
        let mut p = Http2Parser::new(true);
        // Without the request, stream 1's answer is a response without one, as in HTTP/1.
        let Some(mut info) = up.request else {
            return p;
        };
        info.version = "2";
        p.created += 1;
        p.streams.insert(
            1,
            Stream {
                seen_request: true,
                request_ended: true,
                start: (up.start_ns, up.req_seq.unwrap_or(0)),
                last_ns: up.start_ns,
                info,
                resolved_trace: Some(up.trace),
                order: p.created,
                ..Default::default()
            },
        );
        p
    }
}

/// HTTP/2 with prior knowledge: the client's connection preface, or frames (joined
/// mid-connection).
pub const PROTOCOL: Protocol = Protocol {
    name: "http2",
    probe: |data| {
        if !looks_like_frames(data) {
            return None;
        }
        let from_preface = PREFACE.starts_with(data.get(..PREFACE.len()).unwrap_or(data));
        Some((u8::from(from_preface), sender_hint(data)))
    },
    start: |from_preface, _| AppParser::Http2(Box::new(Http2Parser::new(from_preface == 1))),
    exchanges: |c| c.http2_exchanges,
};

impl ConnectionParser for Http2Parser {
    #[inline]
    fn on_data(
        &mut self,
        dir: Direction,
        data: &[u8],
        meta: SegmentMeta,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        let d = dir.index();
        let mut data = data;
        let mut seq = meta.seq;
        if side(&mut self.readers, d).resync {
            if !looks_like_frames(data) {
                return;
            }
            let r = side(&mut self.readers, d);
            r.resync = false;
            r.frames.reset();
            r.frame = None;
            r.block_open = None;
            r.block.clear();
        }
        while !data.is_empty() {
            let r = side(&mut self.readers, d);
            if r.preface_left > 0 {
                let done = PREFACE.len() - r.preface_left;
                let n = r.preface_left.min(data.len());
                if data.get(..n) != PREFACE.get(done..done + n) {
                    // Not the preface after all: read frames from here.
                    r.preface_left = 0;
                    continue;
                }
                r.preface_left -= n;
                data = data.get(n..).unwrap_or(&[]);
                seq = seq.wrapping_add(n as u32);
                if r.preface_left == 0 && !self.decoded_any {
                    // The connection's start is in the capture: every table entry will be seen.
                    self.hpack = [hpack::Decoder::new(true), hpack::Decoder::new(true)];
                }
                continue;
            }
            let Some(read) = r.frames.read(&mut data, meta.ts_ns, &mut seq) else {
                break;
            };
            let (bytes, first, last) = match read {
                Read::Header(header) => {
                    let Some(h) = frame_header(&header) else {
                        continue;
                    };
                    if h.len > r.max_frame || h.kind > CONTINUATION && h.len > MAX_BLOCK as u32 {
                        stats.http2_frame_errors += 1;
                        r.resync = true;
                        return;
                    }
                    stats.http2_frames += 1;
                    r.pad = 0;
                    r.payload.clear();
                    if r.frames.begin(h.len) {
                        r.frame = None;
                        self.frame_done(d, h, meta.ts_ns, out, stats);
                    } else {
                        r.frame = Some(h);
                    }
                    continue;
                }
                Read::Payload {
                    bytes,
                    offset,
                    last,
                } => (bytes, offset, last),
            };
            let Some(frame) = r.frame else {
                continue;
            };
            if frame.kind == DATA {
                let n = bytes.len() as u32;
                if first == 0 && frame.flags & PADDED != 0 {
                    r.pad = bytes.first().map_or(0, |&p| u32::from(p));
                }
                let header = u32::from(frame.flags & PADDED != 0);
                let body_end = frame.len.saturating_sub(r.pad);
                let from = header.max(first) - first;
                let to = body_end.min(first + n).saturating_sub(first);
                if to > from {
                    self.data_bytes(
                        d,
                        frame.stream,
                        bytes.get(from as usize..to as usize).unwrap_or(&[]),
                        meta.ts_ns,
                    );
                }
            } else if r.payload.len() + bytes.len() <= MAX_BLOCK {
                r.payload.extend_from_slice(bytes);
            }
            if last {
                side(&mut self.readers, d).frame = None;
                self.frame_done(d, frame, meta.ts_ns, out, stats);
            }
        }
    }

    /// A hole of `len` bytes: inside a DATA payload the reader stays in step; elsewhere the
    /// frame boundaries are lost, and so is HPACK's history.
    fn on_gap(&mut self, dir: Direction, len: u32, stats: &mut Counters) {
        let d = dir.index();
        let r = side(&mut self.readers, d);
        if let Some(frame) = r.frame {
            if frame.kind == DATA && r.frames.skip_inside(len) {
                if let Some(s) = self.streams.get_mut(&frame.stream) {
                    s.gap = true;
                }
                return;
            }
        }
        stats.http2_resyncs += 1;
        r.resync = true;
        r.frame = None;
        r.frames.reset();
        for s in self.streams.values_mut() {
            s.gap = true;
        }
        // Entries inserted in the hole are unknown: start a table that only trusts what follows.
        *side(&mut self.hpack, d) = hpack::Decoder::new(false);
    }

    fn on_close(&mut self, out: &mut Vec<Exchange>, stats: &mut Counters) {
        let mut open: Vec<(u32, Stream)> = self.streams.drain().collect();
        open.sort_by_key(|(_, s)| s.order);
        for (id, s) in open {
            if s.seen_request {
                stats.http2_streams_unfinished += 1;
                let end = s.last_ns;
                out.push(finish(id, s, end, Some(Incomplete::NoResponse), stats));
            }
        }
    }
}

impl Http2Parser {
    fn stream(&mut self, id: u32, stats: &mut Counters) -> &mut Stream {
        if !self.streams.contains_key(&id) && self.streams.len() >= MAX_STREAMS {
            if let Some(oldest) = self
                .streams
                .iter()
                .min_by_key(|(_, s)| s.order)
                .map(|(&k, _)| k)
            {
                self.streams.remove(&oldest);
                stats.http2_streams_dropped += 1;
            }
        }
        self.created += 1;
        let order = self.created;
        self.streams.entry(id).or_insert_with(|| Stream {
            order,
            ..Default::default()
        })
    }

    fn data_bytes(&mut self, d: usize, stream: u32, body: &[u8], ts: u64) {
        if let Some(s) = self.streams.get_mut(&stream) {
            if d == 0 {
                s.info.request_body_size += body.len() as u64;
                if s.request_head.len() < grpc::REQUEST_HEAD_BYTES {
                    keep_request_head(&mut s.request_head, body);
                }
            } else {
                s.info.response_body_size += body.len() as u64;
            }
            match s.web_text.as_deref_mut() {
                Some(text) => side(text, d).feed(body, side(&mut s.messages, d)),
                None => side(&mut s.messages, d).feed(body),
            }
            s.last_ns = ts;
        }
    }

    fn frame_done(
        &mut self,
        d: usize,
        h: FrameHeader,
        ts: u64,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        let payload = std::mem::take(&mut side(&mut self.readers, d).payload);
        match h.kind {
            HEADERS | PUSH_PROMISE => {
                let mut body: &[u8] = &payload;
                let mut pad = 0usize;
                if h.flags & PADDED != 0 {
                    pad = usize::from(body.first().copied().unwrap_or(0));
                    body = body.get(1..).unwrap_or(&[]);
                }
                if h.kind == HEADERS && h.flags & PRIORITY_FLAG != 0 {
                    body = body.get(5..).unwrap_or(&[]);
                }
                // A PUSH_PROMISE's block is the request of the stream it promises.
                let mut promised = None;
                if h.kind == PUSH_PROMISE {
                    promised = body
                        .get(..4)
                        .and_then(|b| b.try_into().ok())
                        .map(|b| u32::from_be_bytes(b) & 0x7fff_ffff);
                    body = body.get(4..).unwrap_or(&[]);
                }
                let fragment = body.get(..body.len().saturating_sub(pad)).unwrap_or(&[]);
                let r = side(&mut self.readers, d);
                r.block.clear();
                r.block.extend_from_slice(fragment);
                r.block_open = Some(OpenBlock {
                    stream: h.stream,
                    end_stream: h.flags & END_STREAM != 0,
                    start: r.frames.start(),
                    promised,
                });
                if h.flags & END_HEADERS != 0 {
                    self.block_done(d, ts, out, stats);
                }
            }
            CONTINUATION => {
                let r = side(&mut self.readers, d);
                if r.block_open.is_some_and(|b| b.stream == h.stream)
                    && r.block.len() + payload.len() <= MAX_BLOCK
                {
                    r.block.extend_from_slice(&payload);
                    if h.flags & END_HEADERS != 0 {
                        self.block_done(d, ts, out, stats);
                    }
                } else {
                    stats.http2_frame_errors += 1;
                    r.block_open = None;
                }
            }
            DATA if h.flags & END_STREAM != 0 => self.end_stream(d, h.stream, ts, out, stats),
            SETTINGS if h.flags & 0x1 == 0 => {
                // SETTINGS_MAX_FRAME_SIZE bounds what the *other* side may send.
                for setting in payload.chunks_exact(6) {
                    let &[i0, i1, v0, v1, v2, v3] = setting else {
                        continue;
                    };
                    let id = u16::from_be_bytes([i0, i1]);
                    let value = u32::from_be_bytes([v0, v1, v2, v3]);
                    if id == 0x5 && (DEFAULT_MAX_FRAME..1 << 24).contains(&value) {
                        side(&mut self.readers, 1 - d).max_frame = value;
                    }
                }
            }
            RST_STREAM => {
                let code = payload
                    .get(..4)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_be_bytes)
                    .unwrap_or(0);
                if let Some(mut s) = self.streams.remove(&h.stream) {
                    if s.seen_request {
                        s.info.reset_code = Some(code);
                        out.push(finish(h.stream, s, ts, None, stats));
                        stats.http2_exchanges += 1;
                    }
                }
            }
            GOAWAY => {
                let last = payload
                    .get(..4)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_be_bytes)
                    .unwrap_or(0)
                    & 0x7fff_ffff;
                // Streams the sender of GOAWAY never processed: refused (RFC 9113 §6.8).
                let refused: Vec<u32> = self
                    .streams
                    .iter()
                    .filter(|(&id, s)| id > last && s.seen_request && id % 2 == 1)
                    .map(|(&id, _)| id)
                    .collect();
                let mut refused: Vec<(u32, Stream)> = refused
                    .into_iter()
                    .filter_map(|id| self.streams.remove(&id).map(|s| (id, s)))
                    .collect();
                refused.sort_by_key(|(_, s)| s.order);
                for (id, mut s) in refused {
                    // Never processed: as if reset with REFUSED_STREAM, whatever GOAWAY's code.
                    s.info.reset_code = Some(7);
                    out.push(finish(id, s, ts, None, stats));
                    stats.http2_exchanges += 1;
                }
            }
            _ => {}
        }
        // Keep the buffer's allocation for the next frame.
        let mut payload = payload;
        payload.clear();
        side(&mut self.readers, d).payload = payload;
    }

    fn block_done(&mut self, d: usize, ts: u64, out: &mut Vec<Exchange>, stats: &mut Counters) {
        let r = side(&mut self.readers, d);
        let Some(OpenBlock {
            stream: stream_id,
            end_stream,
            start,
            promised,
        }) = r.block_open.take()
        else {
            return;
        };
        let block = std::mem::take(&mut r.block);
        self.decoded_any = true;
        let mut fields: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut unknown = 0u32;
        let mut by_shape = 0u64;
        let result = side(&mut self.hpack, d).decode(&block, &mut |f| match f {
            hpack::Field::Known { name, value } => fields.push((name.to_vec(), value.to_vec())),
            hpack::Field::Unknown => unknown += 1,
            hpack::Field::UnknownName { value } => {
                unknown += 1;
                // A value sent as a literal under a name from before the capture: a
                // traceparent's exact shape says what it is.
                if has_traceparent_shape(value) {
                    by_shape += 1;
                    fields.push((b"traceparent".to_vec(), value.to_vec()));
                }
            }
        });
        stats.http2_traceparent_by_shape += by_shape;
        side(&mut self.readers, d).block = block;
        if let Err(e) = result {
            stats.http2_hpack_errors += 1;
            if e == hpack::HpackError::TableSizeTooLarge {
                stats.http2_hpack_table_size_rejected += 1;
            }
            // The table can no longer be trusted: rebuild it from what follows.
            *side(&mut self.hpack, d) = hpack::Decoder::new(false);
        }
        stats.http2_hpack_unknown_fields += u64::from(unknown);
        if let Some(promised) = promised {
            // Server push: the promised request, answered on its own stream.
            self.request_headers(promised, &fields, unknown, start, true, ts, stats);
            if let Some(s) = self.streams.get_mut(&promised) {
                s.info.pushed = true;
            }
            stats.http2_pushed_streams += 1;
            return;
        }
        if d == 0 {
            self.request_headers(stream_id, &fields, unknown, start, end_stream, ts, stats);
        } else {
            self.response_headers(stream_id, &fields, unknown, start, stats);
            if end_stream {
                self.end_stream(d, stream_id, ts, out, stats);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn request_headers(
        &mut self,
        id: u32,
        fields: &[(Vec<u8>, Vec<u8>)],
        unknown: u32,
        start: (u64, u32),
        end_stream: bool,
        ts: u64,
        stats: &mut Counters,
    ) {
        let s = self.stream(id, stats);
        if s.seen_request {
            // Request trailers.
            s.info.unknown_headers += unknown;
            s.request_ended |= end_stream;
            return;
        }
        s.seen_request = true;
        s.start = start;
        s.last_ns = ts;
        s.request_ended = end_stream;
        s.info.version = "2";
        s.info.stream_id = Some(id);
        s.info.unknown_headers += unknown;
        for (name, value) in fields {
            let v = || super::header_str(value).into_owned();
            let shared = || Arc::from(super::header_str(value).as_ref());
            match name.as_slice() {
                b":method" => s.info.method = Some(super::method_text(value)),
                b":path" => {
                    let target = v();
                    match target.split_once('?') {
                        Some((p, q)) => {
                            s.info.path = p.to_owned();
                            s.info.query = Some(q.to_owned());
                        }
                        None => s.info.path = target,
                    }
                }
                b":authority" => s.info.host = Some(shared()),
                b"host" if s.info.host.is_none() => s.info.host = Some(shared()),
                b"user-agent" => s.info.user_agent = Some(shared()),
                b"x-request-id" => {
                    s.info.x_request_id = Some(v());
                    s.trace.offer("x-request-id", value);
                }
                b"content-type" => {
                    s.is_grpc |= value.starts_with(b"application/grpc");
                    s.grpc_web = grpc::web_mode(value);
                    if s.grpc_web == Some("grpc-web-text") {
                        s.web_text = Some(Box::default());
                    }
                }
                b"grpc-trace-bin" => s.grpc_trace = grpc::parse_grpc_trace_bin(value),
                _ => {
                    if let Ok(name) = std::str::from_utf8(name) {
                        s.trace.offer(name, value);
                    }
                }
            }
        }
        if !s.is_grpc
            && s.info.method.as_deref() == Some("POST")
            && grpc::split_path(&s.info.path).is_some()
            && unknown > 0
        {
            // content-type may be among the unknown fields; a gRPC-shaped path decides.
            s.is_grpc = true;
        }
    }

    fn response_headers(
        &mut self,
        id: u32,
        fields: &[(Vec<u8>, Vec<u8>)],
        unknown: u32,
        start: (u64, u32),
        stats: &mut Counters,
    ) {
        let Some(s) = self.streams.get_mut(&id) else {
            stats.http2_responses_without_request += 1;
            return;
        };
        s.info.unknown_headers += unknown;
        if s.resp_seq.is_none() {
            s.resp_seq = Some(start.1);
        }
        for (name, value) in fields {
            match name.as_slice() {
                b":status" => {
                    let status = std::str::from_utf8(value)
                        .ok()
                        .and_then(|v| v.parse::<u16>().ok());
                    // Interim 1xx responses precede the real one.
                    if status.is_some_and(|c| c >= 200) || s.info.status.is_none() {
                        s.info.status = status;
                    }
                }
                b"content-type" => s.is_grpc |= value.starts_with(b"application/grpc"),
                b"grpc-status" => {
                    s.grpc_status = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok())
                }
                b"grpc-message" => s.grpc_message = Some(grpc::percent_decode(value)),
                _ => {}
            }
        }
    }

    fn end_stream(
        &mut self,
        d: usize,
        id: u32,
        ts: u64,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        if d == 0 {
            if let Some(s) = self.streams.get_mut(&id) {
                s.request_ended = true;
                s.last_ns = ts;
            }
            return;
        }
        match self.streams.remove(&id) {
            Some(s) if s.seen_request => {
                stats.http2_exchanges += 1;
                out.push(finish(id, s, ts, None, stats));
            }
            _ => stats.http2_responses_without_request += 1,
        }
    }
}

/// gRPC status for a stream reset before its trailers (gRPC over HTTP/2, "Errors").
fn grpc_status_for_reset(code: u32) -> u32 {
    match code {
        8 => 1,  // CANCEL → CANCELLED
        7 => 14, // REFUSED_STREAM → UNAVAILABLE
        11 => 8, // ENHANCE_YOUR_CALM → RESOURCE_EXHAUSTED
        12 => 7, // INADEQUATE_SECURITY → PERMISSION_DENIED
        _ => 13, // INTERNAL
    }
}

/// Kept out of line: once per request, and the DATA path stays as lean as it was.
#[inline(never)]
fn keep_request_head(head: &mut Vec<u8>, body: &[u8]) {
    let room = grpc::REQUEST_HEAD_BYTES.saturating_sub(head.len());
    head.extend_from_slice(body.get(..room.min(body.len())).unwrap_or(&[]));
}

fn finish(
    id: u32,
    mut s: Stream,
    end_ns: u64,
    incomplete: Option<Incomplete>,
    stats: &mut Counters,
) -> Exchange {
    s.info.stream_id = Some(id);
    // A connection older than the capture hides `:path` and `content-type` in table entries
    // never seen; gRPC's own framing still tells (every body byte in 5-byte-prefixed messages).
    let by_framing = !s.is_grpc
        && s.info.path.is_empty()
        && s.info.unknown_headers > 0
        && s.messages[0].frames_exactly(s.info.request_body_size)
        && (s.info.response_body_size == 0
            || s.messages[1].frames_exactly(s.info.response_body_size));
    if by_framing {
        s.is_grpc = true;
        stats.grpc_recognised_by_framing += 1;
    }
    if s.is_grpc {
        if s.info.path.is_empty() {
            stats.grpc_calls_method_unknown += 1;
        }
        let (service, method) = grpc::split_path(&s.info.path).unwrap_or(("", ""));
        // gRPC-Web's trailers come in the body's trailer frame.
        let (web_status, web_message) = s.messages[1].web_trailers().unwrap_or_default();
        stats.grpc_web_trailers_cut += u64::from(s.messages[1].trailer_cut);
        let status = s
            .grpc_status
            .or(web_status)
            .or(s.info.reset_code.map(grpc_status_for_reset));
        s.info.grpc = Some(Box::new(GrpcCall {
            service: service.to_owned(),
            method: method.to_owned(),
            status,
            message: s.grpc_message.or(web_message),
            web: s.grpc_web,
            request_messages: s.messages[0].messages,
            response_messages: s.messages[1].messages,
            compressed_messages: s.messages[0].compressed + s.messages[1].compressed,
            request_identifiers: grpc::first_message_identifiers(&s.request_head),
            recognised_by_framing: by_framing,
        }));
    }
    let mut trace = s.resolved_trace.unwrap_or_else(|| s.trace.resolve());
    if trace.trace_id.is_none() {
        if let Some(bin) = s.grpc_trace {
            trace = bin;
        }
    }
    Exchange {
        start_ns: s.start.0,
        end_ns: end_ns.max(s.start.0),
        req_seq: Some(s.start.1),
        resp_seq: s.resp_seq,
        trace,
        incomplete: incomplete.or(s.gap.then_some(Incomplete::Gap)),
        detail: ExchangeDetail::Http(Box::new(s.info)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn literal(name: &str, value: &str) -> Vec<u8> {
        let mut b = vec![0x40, name.len() as u8];
        b.extend_from_slice(name.as_bytes());
        b.push(value.len() as u8);
        b.extend_from_slice(value.as_bytes());
        b
    }

    fn grpc_message(len: usize) -> Vec<u8> {
        let mut m = vec![0];
        m.extend_from_slice(&(len as u32).to_be_bytes());
        m.extend(std::iter::repeat_n(1u8, len));
        m
    }

    fn run(client: &[u8], server: &[u8], split: usize) -> (Vec<Exchange>, Counters) {
        let mut p = Http2Parser::new(true);
        let mut out = Vec::new();
        let mut stats = Counters::default();
        for (i, chunk) in client.chunks(split).enumerate() {
            let meta = SegmentMeta {
                ts_ns: 10 + i as u64,
                seq: (i * split) as u32,
                ack: 0,
            };
            p.on_data(Direction::ToServer, chunk, meta, &mut out, &mut stats);
        }
        for (i, chunk) in server.chunks(split).enumerate() {
            let meta = SegmentMeta {
                ts_ns: 100 + i as u64,
                seq: 5000 + (i * split) as u32,
                ack: 0,
            };
            p.on_data(Direction::ToClient, chunk, meta, &mut out, &mut stats);
        }
        p.on_close(&mut out, &mut stats);
        (out, stats)
    }

    #[test]
    fn grpc_unary_and_streaming_in_any_split() {
        let mut client = PREFACE.to_vec();
        client.extend(frame(SETTINGS, 0, 0, &[]));
        let mut req = vec![0x83, 0x86]; // :method POST, :scheme http
        req.extend(literal(":path", "/shop.Cart/GetCart"));
        req.extend(literal("content-type", "application/grpc"));
        req.extend(literal(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ));
        client.extend(frame(HEADERS, END_HEADERS, 1, &req));
        // Padded DATA: pad length 3.
        let mut data = vec![3];
        data.extend(grpc_message(10));
        data.extend([0, 0, 0]);
        client.extend(frame(DATA, END_STREAM | PADDED, 1, &data));
        // A second call on stream 3 reuses the dynamic table (index 62..64).
        client.extend(frame(HEADERS, END_HEADERS, 3, &[0x83, 0x86, 0xc0, 0xbf]));
        client.extend(frame(DATA, END_STREAM, 3, &grpc_message(1)));

        let mut server = frame(SETTINGS, 0, 0, &[]);
        let mut resp = vec![0x88];
        resp.extend(literal("content-type", "application/grpc"));
        server.extend(frame(HEADERS, END_HEADERS, 1, &resp));
        let mut body = grpc_message(20_000);
        body.extend(grpc_message(5));
        for part in body.chunks(16_384) {
            server.extend(frame(DATA, 0, 1, part));
        }
        let mut trailers = literal("grpc-status", "0");
        trailers.extend(literal("grpc-message", ""));
        server.extend(frame(HEADERS, END_HEADERS | END_STREAM, 1, &trailers));
        // Trailers-only error response on stream 3, split with CONTINUATION.
        let mut err = vec![0x88, 0xc0]; // :status 200, content-type (dynamic 64)
        err.extend(literal("grpc-status", "5"));
        err.extend(literal("grpc-message", "cart%20not%20found"));
        server.extend(frame(HEADERS, END_STREAM, 3, &err[..4]));
        server.extend(frame(CONTINUATION, END_HEADERS, 3, &err[4..]));

        for split in [1usize, 7, 100, 1 << 20] {
            let (out, stats) = run(&client, &server, split);
            assert_eq!(out.len(), 2, "split {split}");
            let a = out[0].http().expect("http");
            let g = a.grpc.as_ref().expect("grpc");
            assert_eq!(
                (g.service.as_str(), g.method.as_str(), g.status),
                ("shop.Cart", "GetCart", Some(0))
            );
            assert_eq!((g.request_messages, g.response_messages), (1, 2));
            assert_eq!(a.request_body_size, 15);
            assert_eq!(a.status, Some(200));
            assert_eq!(out[0].req_seq, Some(PREFACE.len() as u32 + 9));
            assert_eq!(
                out[0].trace.parent_span_id,
                Some([0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7])
            );
            let b = out[1].http().expect("http");
            let g = b.grpc.as_ref().expect("grpc");
            assert_eq!(b.path, "/shop.Cart/GetCart");
            assert_eq!(
                (g.status, g.message.as_deref()),
                (Some(5), Some("cart not found"))
            );
            assert_eq!(stats.http2_hpack_errors, 0);
        }
    }

    /// gRPC-Web in text mode over HTTP/2 (as a browser's fetch through a proxy carries it):
    /// the DATA is base64; the status comes from the trailer frame inside it.
    #[test]
    fn grpc_web_text_over_http2() {
        let mut p = Http2Parser::new(false);
        let mut out = Vec::new();
        let mut stats = Counters::default();
        let meta = SegmentMeta {
            ts_ns: 1,
            seq: 0,
            ack: 0,
        };
        let mut req = vec![0x83];
        req.extend(literal(":path", "/shop.Cart/GetCart"));
        req.extend(literal("content-type", "application/grpc-web-text"));
        let mut client = frame(HEADERS, END_HEADERS, 1, &req);
        client.extend(frame(
            DATA,
            END_STREAM,
            1,
            &grpc::encode_base64(&grpc_message(7)),
        ));
        p.on_data(Direction::ToServer, &client, meta, &mut out, &mut stats);
        let mut body = grpc::encode_base64(&grpc_message(9));
        let trailer = b"grpc-status: 7\r\ngrpc-message: denied\r\n";
        let mut frame_80 = vec![0x80];
        frame_80.extend((trailer.len() as u32).to_be_bytes());
        frame_80.extend(trailer);
        body.extend(grpc::encode_base64(&frame_80));
        let mut server = frame(HEADERS, END_HEADERS, 1, &[0x88]);
        server.extend(frame(DATA, END_STREAM, 1, &body));
        p.on_data(Direction::ToClient, &server, meta, &mut out, &mut stats);
        assert_eq!(out.len(), 1);
        let g = out[0]
            .http()
            .and_then(|h| h.grpc.as_deref())
            .expect("gRPC-Web");
        assert_eq!(g.web, Some("grpc-web-text"));
        assert_eq!((g.request_messages, g.response_messages), (1, 1));
        assert_eq!(g.status, Some(7));
        assert_eq!(g.message.as_deref(), Some("denied"));
    }

    /// Joined late: a gRPC call whose `:path`, `content-type` and `traceparent` name are all in
    /// table entries from before the capture. The traceparent value (a literal) is read by its
    /// shape, and the DATA's 5-byte-prefixed messages say gRPC; the method stays unknown.
    #[test]
    fn a_late_join_reads_the_trace_context_by_shape_and_grpc_by_framing() {
        let mut p = Http2Parser::new(false);
        let mut out = Vec::new();
        let mut stats = Counters::default();
        let meta = SegmentMeta {
            ts_ns: 1,
            seq: 0,
            ack: 0,
        };
        let traceparent = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        // :method POST, two unknown indexed fields, then a literal (incremental indexing)
        // whose name is unknown dynamic entry 62.
        let mut block = vec![0x83, 0xbe, 0xbf, 0x7e, traceparent.len() as u8];
        block.extend(traceparent);
        let mut client = frame(HEADERS, END_HEADERS, 7, &block);
        client.extend(frame(DATA, END_STREAM, 7, &grpc_message(12)));
        p.on_data(Direction::ToServer, &client, meta, &mut out, &mut stats);
        let mut server = frame(HEADERS, END_HEADERS, 7, &[0x88, 0xbe]);
        server.extend(frame(DATA, 0, 7, &grpc_message(30)));
        server.extend(frame(HEADERS, END_HEADERS | END_STREAM, 7, &[0xbf]));
        p.on_data(Direction::ToClient, &server, meta, &mut out, &mut stats);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].trace.trace_id.map(|t| t[0]), Some(0x4b));
        let h = out[0].http().expect("http");
        let g = h.grpc.as_deref().expect("gRPC by its framing");
        assert!(g.recognised_by_framing);
        assert!(g.service.is_empty(), "not guessed");
        assert_eq!((g.request_messages, g.response_messages), (1, 1));
        assert_eq!(stats.http2_traceparent_by_shape, 1);
        assert_eq!(stats.grpc_recognised_by_framing, 1);
        assert_eq!(stats.grpc_calls_method_unknown, 1);
    }

    #[test]
    fn mid_stream_join_marks_unknown_fields_and_resets_end_streams() {
        let mut p = Http2Parser::new(false);
        let mut out = Vec::new();
        let mut stats = Counters::default();
        let meta = SegmentMeta {
            ts_ns: 1,
            seq: 0,
            ack: 0,
        };
        // :method POST, then two dynamic references from before the join.
        p.on_data(
            Direction::ToServer,
            &frame(HEADERS, END_HEADERS | END_STREAM, 5, &[0x83, 0xbe, 0xbf]),
            meta,
            &mut out,
            &mut stats,
        );
        p.on_data(
            Direction::ToClient,
            &frame(RST_STREAM, 0, 5, &8u32.to_be_bytes()),
            meta,
            &mut out,
            &mut stats,
        );
        assert_eq!(out.len(), 1);
        let h = out[0].http().expect("http");
        assert_eq!(h.method.as_deref(), Some("POST"));
        assert_eq!(h.unknown_headers, 2);
        assert_eq!(h.reset_code, Some(8));
        assert_eq!(stats.http2_hpack_unknown_fields, 2);
    }

    #[test]
    fn malformed_frames_are_counted_and_later_streams_still_parse() {
        let mut p = Http2Parser::new(true);
        let mut out = Vec::new();
        let mut stats = Counters::default();
        let meta = SegmentMeta {
            ts_ns: 1,
            seq: 0,
            ack: 0,
        };
        let mut client = PREFACE.to_vec();
        // An HPACK index far beyond both tables on a connection seen from its start.
        client.extend(frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            1,
            &[0x83, 0xff, 0x80, 0x01],
        ));
        p.on_data(Direction::ToServer, &client, meta, &mut out, &mut stats);
        assert_eq!(stats.http2_hpack_errors, 1);
        // A frame claiming 2 MiB where the limit is 16 KiB: the reader resyncs.
        let mut bogus = vec![0x20, 0x00, 0x00, DATA, 0, 0, 0, 0, 3];
        bogus.extend_from_slice(b"junk");
        p.on_data(Direction::ToClient, &bogus, meta, &mut out, &mut stats);
        assert_eq!(stats.http2_frame_errors, 1);
        // The next segments start with frames again and parse.
        p.on_data(
            Direction::ToServer,
            &frame(HEADERS, END_HEADERS | END_STREAM, 3, &[0x82, 0x86, 0x84]),
            meta,
            &mut out,
            &mut stats,
        );
        p.on_data(
            Direction::ToClient,
            &frame(HEADERS, END_HEADERS | END_STREAM, 3, &[0x88]),
            meta,
            &mut out,
            &mut stats,
        );
        let last = out.last().and_then(|e| e.http()).expect("stream 3");
        assert_eq!(
            (last.stream_id, last.status, last.path.as_str()),
            (Some(3), Some(200), "/")
        );
    }

    #[test]
    fn frame_detection() {
        assert!(looks_like_frames(PREFACE));
        assert!(looks_like_frames(&frame(SETTINGS, 0, 0, &[0; 6])));
        assert!(!looks_like_frames(b"GET / HTTP/1.1\r\n\r\n"));
        assert!(!looks_like_frames(&frame(PING, 0, 1, &[0; 8])));
        assert_eq!(
            sender_hint(&frame(HEADERS, 4, 1, &[0x88])),
            Some(super::super::Role::Server)
        );
        assert_eq!(
            sender_hint(&frame(HEADERS, 4, 1, &[0x83])),
            Some(super::super::Role::Client)
        );
    }
}

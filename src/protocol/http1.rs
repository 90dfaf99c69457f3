//! HTTP/1.0 and HTTP/1.1.
//!
//! Takes both directions of a connection; gives one [`Exchange`] per request/response pair, with
//! keep-alive and pipelining (responses pair with requests in order), Content-Length, chunked
//! and read-until-close bodies, HEAD/1xx/204/304 without bodies, `100 Continue` interim
//! responses and `101` upgrades. Message heads are parsed with `httparse` straight from the
//! segment when a head fits in one; only heads split across segments are buffered. Bodies are
//! counted, never stored. A hole in the stream marks the exchange it hits; the parser skips to
//! the next message start it can find.

// Every byte here comes off the wire: no index may panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::grpc;
use super::trace_context::TraceHeaders;
use super::{
    AppParser, ConnectionParser, Direction, Exchange, ExchangeDetail, GrpcCall, HttpExchange,
    Incomplete, Protocol, RepeatedHeaders, Role, SegmentMeta, TraceContext,
};
use crate::stats::Counters;
use std::collections::VecDeque;
use std::mem::MaybeUninit;

/// A message head larger than this is not HTTP we can follow (nginx's default is 8 KiB).
const MAX_HEAD: usize = 64 * 1024;
/// Requests in flight on one connection before the oldest are given up.
const MAX_PIPELINE: usize = 64;
/// Headers per message that httparse is given room for.
const MAX_HEADERS: usize = 96;

const METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"PUT",
    b"DELETE",
    b"HEAD",
    b"OPTIONS",
    b"PATCH",
    b"CONNECT",
    b"TRACE",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"PURGE",
    b"REPORT",
    b"SEARCH",
];

/// Is this the start of an HTTP/1 request line? A registered method and a space, or a
/// whole request line of any other token method (RFC 9110 §9.1: a method is a token).
pub fn looks_like_request(data: &[u8]) -> bool {
    METHODS.iter().any(|m| {
        data.strip_prefix(*m)
            .is_some_and(|rest| rest.first() == Some(&b' '))
    }) || token_request_line(data)
}

/// The longest method looked for, and how far into the bytes a request line is looked for.
const MAX_METHOD: usize = 32;
const MAX_PROBED_LINE: usize = 256;

/// RFC 9110 §5.6.2: the bytes a token is made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A method: a token of at most [`MAX_METHOD`] bytes with a letter in it.
fn is_method(m: &[u8]) -> bool {
    (1..=MAX_METHOD).contains(&m.len())
        && m.iter().all(|&b| is_tchar(b))
        && m.iter().any(u8::is_ascii_alphabetic)
}

/// `TOKEN SP target SP HTTP/1.x CRLF`, whole at the start of `data`. Stricter than the
/// registered methods' `METHOD SP`: a word and a space start the lines of many text
/// protocols, an HTTP version at the end of the line only HTTP's.
fn token_request_line(data: &[u8]) -> bool {
    let window = data.get(..data.len().min(MAX_PROBED_LINE)).unwrap_or(data);
    let Some(end) = memchr::memchr(b'\n', window) else {
        return false;
    };
    let line = window.get(..end).unwrap_or(&[]);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Some(sp) = memchr::memchr(b' ', line) else {
        return false;
    };
    is_method(line.get(..sp).unwrap_or(&[]))
        && (line.ends_with(b" HTTP/1.1") || line.ends_with(b" HTTP/1.0"))
        && line.iter().all(|&b| b >= 0x20 && b != 0x7f)
}

/// Is this the start of an HTTP/1 status line?
pub fn looks_like_response(data: &[u8]) -> bool {
    data.starts_with(b"HTTP/1.") && data.len() >= 12
}

/// A request waiting for its response.
#[derive(Debug)]
struct Pending {
    id: u64,
    start_ns: u64,
    /// Timestamp of the request's last byte seen so far.
    last_ns: u64,
    seq: Option<u32>,
    trace: TraceContext,
    info: Box<HttpExchange>,
    gap: bool,
    head_request: bool,
    connect: bool,
    /// The request asked to switch to HTTP/2 (`Upgrade: h2c`).
    h2c: bool,
    /// Its head was read only leniently.
    malformed: bool,
    /// gRPC-Web (`grpc-web` or `grpc-web-text`), from its content-type.
    grpc_web: Option<&'static str>,
    /// Its body's gRPC-Web messages, once read.
    web_request: Option<Box<WebBody>>,
}

/// A connection that switched to HTTP/2 after `101 Switching Protocols`: the request that
/// asked for it (HTTP/2 stream 1 answers it) and where in the last chunk HTTP/2 begins.
#[derive(Debug)]
pub struct H2cUpgrade {
    /// The request that asked for it, when it was captured.
    pub request: Option<HttpExchange>,
    pub trace: TraceContext,
    pub start_ns: u64,
    pub req_seq: Option<u32>,
    /// Offset in the chunk last given to `on_data` where the HTTP/2 bytes start.
    pub offset: usize,
}

/// How the bytes after a head are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between messages, or inside a head (the head buffer says which).
    Idle,
    Body {
        remaining: u64,
    },
    Chunked(Chunk),
    UntilClose,
    /// After a hole: looking for the next message start.
    Resync,
    /// After `101 Switching Protocols` or a CONNECT tunnel: no longer HTTP/1.
    Done,
}

/// Where a chunked body's parser stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size {
        value: u64,
        digits: u8,
        ext: bool,
    },
    Data {
        remaining: u64,
    },
    DataEnd,
    /// Trailer lines after the last chunk; `len` counts the current line's bytes.
    Trailer {
        len: u32,
    },
}

/// One direction's message reader.
#[derive(Debug)]
struct Reader {
    state: State,
    head: Vec<u8>,
    /// Timestamp and sequence number of the current message's first byte.
    start: Option<(u64, u32)>,
    body: u64,
    gap: bool,
    last_ns: u64,
    /// A gRPC-Web body being read: its messages and trailer frame.
    web: Option<Box<WebBody>>,
}

/// A gRPC-Web body: its length-prefixed messages, base64 first in text mode.
#[derive(Debug)]
struct WebBody {
    text: Option<grpc::Base64Stream>,
    messages: grpc::MessageCounter,
}

impl WebBody {
    fn new(mode: &'static str) -> WebBody {
        WebBody {
            text: (mode == "grpc-web-text").then(grpc::Base64Stream::default),
            messages: grpc::MessageCounter::default(),
        }
    }

    fn feed(&mut self, body: &[u8]) {
        match &mut self.text {
            Some(text) => text.feed(body, &mut self.messages),
            None => self.messages.feed(body),
        }
    }
}

impl Default for Reader {
    fn default() -> Self {
        Reader {
            state: State::Idle,
            head: Vec::new(),
            start: None,
            body: 0,
            gap: false,
            last_ns: 0,
            web: None,
        }
    }
}

/// The response being read, paired with the request at the front of the queue.
#[derive(Debug)]
struct Response {
    /// `None` for HTTP/0.9's answer: the body alone, ended by close.
    status: Option<u16>,
    start_ns: u64,
    seq: u32,
    /// gRPC-Web: `grpc-status` and `grpc-message` as response headers (a trailers-only answer).
    grpc: Option<Box<(Option<u32>, Option<String>)>>,
}

/// Both directions of one HTTP/1 connection.
#[derive(Debug, Default)]
pub struct Http1Parser {
    req: Reader,
    resp: Reader,
    pending: VecDeque<Pending>,
    response: Option<Response>,
    next_id: u64,
    /// The id of the request whose body the request reader is reading.
    body_of: Option<u64>,
    /// A response-side hole may have swallowed a whole response: pair the next one by ACK.
    pair_by_ack: bool,
    /// Sequence number just past each pending request's last byte, for pairing by ACK.
    ends: VecDeque<(u64, u32)>,
    /// Set when the connection switched to HTTP/2, until taken. Boxed, like `early`: both are
    /// rare, and inline they tripled the parser every HTTP/1 connection allocates.
    upgrade: Option<Box<H2cUpgrade>>,
    /// An exchange answered before its request body ended, waiting for that end.
    early: Option<Box<(u64, Exchange)>>,
    /// CONNECT was answered 2xx: the bytes from here on are the tunnel's.
    tunnel: bool,
    repeated: RepeatedHeaders,
}

/// What a message head says about the body that follows.
#[derive(Debug, Clone, Copy)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// HTTP/1.x: a request or a response line starts it.
pub const PROTOCOL: Protocol = Protocol {
    name: "http1",
    probe: |data| {
        if looks_like_request(data) {
            Some((0, Some(Role::Client)))
        } else if looks_like_response(data) {
            Some((0, Some(Role::Server)))
        } else {
            None
        }
    },
    start: |_, _| AppParser::Http1(Box::default()),
    exchanges: |c| c.http1_exchanges,
};

impl ConnectionParser for Http1Parser {
    #[inline]
    fn on_data(
        &mut self,
        dir: Direction,
        data: &[u8],
        meta: SegmentMeta,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        let mut pos = 0;
        while let Some(rest) = data.get(pos..).filter(|r| !r.is_empty()) {
            let at = SegmentMeta {
                seq: meta.seq.wrapping_add(pos as u32),
                ..meta
            };
            let used = match dir {
                Direction::ToServer => self.request_bytes(rest, at, out, stats),
                Direction::ToClient => self.response_bytes(rest, at, out, stats),
            };
            if used == 0 {
                break;
            }
            pos += used;
            if let Some(up) = &mut self.upgrade {
                up.offset = pos;
                break;
            }
        }
        let r = match dir {
            Direction::ToServer => &mut self.req,
            Direction::ToClient => &mut self.resp,
        };
        r.last_ns = meta.ts_ns;
    }

    /// A CONNECT answered 2xx: a forward proxy's tunnel, whose bytes (HTTP/2, TLS, anything)
    /// are a stream of their own to recognise.
    fn tunnelled(&self) -> bool {
        self.tunnel
    }

    /// `Upgrade: h2c` accepted (`101 Switching Protocols`): the rest of the connection, from
    /// the byte after the 101's head on, is HTTP/2.
    fn successor(
        &mut self,
        dir: Direction,
        data: &[u8],
        meta: SegmentMeta,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) -> Option<AppParser> {
        let up = *self.upgrade.take()?;
        stats.http1_h2c_upgrades += 1;
        let rest = data.get(up.offset..).unwrap_or(&[]);
        let rest_meta = SegmentMeta {
            seq: meta.seq.wrapping_add(up.offset as u32),
            ..meta
        };
        let mut h2 = super::http2::Http2Parser::after_upgrade(up);
        if !rest.is_empty() {
            h2.on_data(dir, rest, rest_meta, out, stats);
        }
        Some(AppParser::Http2(Box::new(h2)))
    }

    fn on_gap(&mut self, dir: Direction, len: u32, stats: &mut Counters) {
        let len = u64::from(len);
        match dir {
            Direction::ToServer => {
                let lost_whole = self.req.state == State::Idle && self.req.head.is_empty();
                if skip_gap(&mut self.req, len) {
                    if let Some(p) = self.body_of.and_then(|id| self.pending_mut(id)) {
                        p.gap = true;
                    }
                    return;
                }
                if lost_whole || !self.req.head.is_empty() {
                    // A request (or its head) was in the hole: hold its place in the queue so
                    // that its response does not pair with the next request.
                    self.push_pending(
                        Pending {
                            id: 0,
                            start_ns: self.req.start.map_or(self.req.last_ns, |s| s.0),
                            last_ns: self.req.last_ns,
                            seq: self.req.start.map(|s| s.1),
                            trace: TraceContext::default(),
                            info: Box::new(HttpExchange {
                                version: "1.1",
                                ..Default::default()
                            }),
                            gap: true,
                            head_request: false,
                            connect: false,
                            h2c: false,
                            malformed: false,
                            grpc_web: None,
                            web_request: None,
                        },
                        stats,
                    );
                } else if let Some(p) = self.body_of.and_then(|id| self.pending_mut(id)) {
                    p.gap = true;
                }
                self.body_of = None;
                reset_to_resync(&mut self.req);
            }
            Direction::ToClient => {
                if skip_gap(&mut self.resp, len) {
                    return;
                }
                if self.response.is_some() || !self.resp.head.is_empty() {
                    if let Some(p) = self.pending.front_mut() {
                        p.gap = true;
                    }
                }
                self.pair_by_ack = true;
                reset_to_resync(&mut self.resp);
            }
        }
    }

    fn on_fin(
        &mut self,
        dir: Direction,
        ts_ns: u64,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        if dir == Direction::ToClient && self.resp.state == State::UntilClose {
            self.resp.last_ns = self.resp.last_ns.max(ts_ns);
            self.finish_response(self.resp.last_ns, out, stats);
            self.resp.state = State::Done;
        }
    }

    fn on_close(&mut self, out: &mut Vec<Exchange>, stats: &mut Counters) {
        self.release_early(out);
        self.salvage_request(stats);
        if !self.resp.head.is_empty() && self.response.is_none() {
            // The capture ended inside a response head: its status line still says how it went.
            let head = std::mem::take(&mut self.resp.head);
            if let Some(ResponseHead { status, .. }) =
                salvage_head(&head).as_deref().and_then(parse_response)
            {
                let (start_ns, seq) = self.resp.start.take().unwrap_or((self.resp.last_ns, 0));
                if request_for(&self.pending, start_ns).is_some() {
                    self.response = Some(Response {
                        status: Some(status),
                        start_ns,
                        seq,
                        grpc: None,
                    });
                    self.resp.state = State::Resync;
                }
            }
        }
        if self.response.is_some() {
            // A response cut short by the end of the connection: what was seen is the exchange.
            let cut = !matches!(self.resp.state, State::UntilClose | State::Done);
            if cut {
                self.resp.gap = true;
            }
            self.finish_response(self.resp.last_ns, out, stats);
        }
        while let Some(p) = self.pending.pop_front() {
            stats.http1_requests_without_response += 1;
            out.push(Exchange {
                start_ns: p.start_ns,
                end_ns: p.last_ns,
                req_seq: p.seq,
                resp_seq: None,
                trace: p.trace,
                incomplete: Some(if p.gap {
                    Incomplete::Gap
                } else {
                    Incomplete::NoResponse
                }),
                detail: ExchangeDetail::Http(p.info),
            });
        }
        self.ends.clear();
    }
}

impl Http1Parser {
    /// Turns a request head that never completed into a pending request, marked incomplete.
    fn salvage_request(&mut self, stats: &mut Counters) {
        if self.req.head.is_empty() {
            return;
        }
        let head = std::mem::take(&mut self.req.head);
        let repeated = &mut self.repeated;
        let salvaged = salvage_head(&head).and_then(|h| parse_request(&h, repeated));
        let Some((mut req, _)) = salvaged else {
            return;
        };
        // The body was not seen; what the head declared is the best account of it.
        if let Framing::Length(n) = req.framing {
            req.info.request_body_size = n;
        }
        let (start_ns, seq) = self.req.start.take().unwrap_or((self.req.last_ns, 0));
        self.push_pending(
            req.into_pending(start_ns, self.req.last_ns, seq, true),
            stats,
        );
        self.body_of = None;
        self.req.state = State::Resync;
    }

    fn pending_mut(&mut self, id: u64) -> Option<&mut Pending> {
        self.pending.iter_mut().rev().find(|p| p.id == id)
    }

    fn push_pending(&mut self, mut p: Pending, stats: &mut Counters) {
        if self.pending.len() >= MAX_PIPELINE {
            stats.http1_pipeline_overflow += 1;
            self.pending.pop_front();
        }
        self.next_id += 1;
        p.id = self.next_id;
        self.pending.push_back(p);
    }

    /// Consumes request bytes; returns how many were used (0 only when `data` is empty).
    fn request_bytes(
        &mut self,
        data: &[u8],
        at: SegmentMeta,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) -> usize {
        match self.req.state {
            State::Idle => {
                self.release_early(out);
                self.request_head(data, at, stats)
            }
            State::Resync => match find_message_start(data, looks_like_request) {
                0 => {
                    self.req.state = State::Idle;
                    self.release_early(out);
                    self.request_head(data, at, stats)
                }
                skip => {
                    if skip < data.len() {
                        self.req.state = State::Idle;
                    }
                    skip
                }
            },
            State::Done => data.len(),
            _ => {
                let (used, done) = body_bytes(&mut self.req, data, stats);
                let body = self.req.body;
                if let Some(p) = self.body_of.and_then(|id| self.pending_mut(id)) {
                    p.info.request_body_size = body;
                    p.last_ns = at.ts_ns;
                }
                if let Some((_, ex)) = self
                    .early
                    .as_deref_mut()
                    .filter(|(id, _)| Some(*id) == self.body_of)
                {
                    if let ExchangeDetail::Http(h) = &mut ex.detail {
                        h.request_body_size = body;
                    }
                }
                if done {
                    self.request_done(at.seq.wrapping_add(used as u32));
                    self.release_early(out);
                }
                used
            }
        }
    }

    /// An exchange whose response ended before its request body did is complete once the
    /// request is (the server answered early, e.g. a 201 before reading the upload).
    fn release_early(&mut self, out: &mut Vec<Exchange>) {
        if let Some(early) = self.early.take() {
            out.push(early.1);
        }
    }

    fn request_done(&mut self, end_seq: u32) {
        if let Some(id) = self.body_of.take() {
            if let Some(web) = self.req.web.take() {
                if let Some(p) = self.pending_mut(id) {
                    p.web_request = Some(web);
                }
            }
            self.ends.push_back((id, end_seq));
            if self.ends.len() > MAX_PIPELINE {
                self.ends.pop_front();
            }
        }
        self.req.state = State::Idle;
        self.req.body = 0;
        self.req.gap = false;
    }

    fn request_head(&mut self, data: &[u8], at: SegmentMeta, stats: &mut Counters) -> usize {
        // Nearly every head comes whole at the start of a segment: parsed where it lies, its
        // end found by the parser rather than by a search of its own first.
        if self.req.head.is_empty() {
            if let Some((req, used)) = parse_request(data, &mut self.repeated) {
                return self.request_parsed(req, (at.ts_ns, at.seq), used, at, stats);
            }
        }
        let (used, head_len) = match take_head(&mut self.req, data, at, stats, looks_like_request) {
            Head::Complete { used, len } => (used, len),
            Head::Consumed(n) => return self.versionless_request(n, at, stats),
        };
        let head_buf;
        let head: &[u8] = if self.req.head.is_empty() {
            data.get(..head_len).unwrap_or(data)
        } else {
            head_buf = std::mem::take(&mut self.req.head);
            head_buf.get(..head_len).unwrap_or(&head_buf)
        };
        let start = self.req.start.take().unwrap_or((at.ts_ns, at.seq));
        let req = match parse_request(head, &mut self.repeated) {
            Some((req, _)) => req,
            // A server that answers what the rules refuse gets its answer paired.
            None => match parse_request_leniently(head, &mut self.repeated) {
                Some(req) => {
                    stats.http1_malformed_requests += 1;
                    req
                }
                None => {
                    stats.http1_parse_errors += 1;
                    self.req.state = State::Resync;
                    return used;
                }
            },
        };
        self.request_parsed(req, start, used, at, stats)
    }

    /// A head still incomplete after `used` bytes: when its first line is a whole request line
    /// without a version, that line is the request (nothing else will come before the
    /// answer); what was buffered after it is not HTTP/1 and is let go.
    fn versionless_request(&mut self, used: usize, at: SegmentMeta, stats: &mut Counters) -> usize {
        let Some(end) = versionless_line_end(&self.req.head) else {
            return used;
        };
        let head = std::mem::take(&mut self.req.head);
        let Some(mut req) =
            parse_request_leniently(head.get(..end).unwrap_or(&head), &mut self.repeated)
        else {
            return used;
        };
        // `GET /path` is HTTP/0.9, old but well-formed; any other method without a version is not.
        req.malformed = req.info.method.as_deref() != Some("GET");
        stats.http1_versionless_requests += 1;
        let start = self.req.start.take().unwrap_or((at.ts_ns, at.seq));
        self.request_parsed(req, start, used, at, stats)
    }

    /// A request head of `used` bytes of this chunk, its first byte seen at `start`.
    fn request_parsed(
        &mut self,
        req: RequestHead,
        (start_ns, start_seq): (u64, u32),
        used: usize,
        at: SegmentMeta,
        stats: &mut Counters,
    ) -> usize {
        let framing = req.framing;
        self.req.web = req.grpc_web.map(|mode| Box::new(WebBody::new(mode)));
        self.push_pending(
            req.into_pending(start_ns, at.ts_ns, start_seq, false),
            stats,
        );
        self.body_of = Some(self.next_id);
        self.req.body = 0;
        self.req.state = match framing {
            // A request without Content-Length or chunked coding has no body (RFC 9112 §6.3).
            Framing::None | Framing::UntilClose | Framing::Length(0) => State::Idle,
            Framing::Length(n) => State::Body { remaining: n },
            Framing::Chunked => State::Chunked(Chunk::Size {
                value: 0,
                digits: 0,
                ext: false,
            }),
        };
        if self.req.state == State::Idle {
            self.request_done(at.seq.wrapping_add(used as u32));
        }
        used
    }

    fn response_bytes(
        &mut self,
        data: &[u8],
        at: SegmentMeta,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) -> usize {
        match self.resp.state {
            State::Idle => self.response_head(data, at, out, stats),
            State::Resync => match find_message_start(data, looks_like_response) {
                0 => {
                    self.resp.state = State::Idle;
                    self.response_head(data, at, out, stats)
                }
                skip => {
                    if skip < data.len() {
                        self.resp.state = State::Idle;
                    }
                    skip
                }
            },
            State::Done => data.len(),
            _ => {
                let (used, done) = body_bytes(&mut self.resp, data, stats);
                if done {
                    self.finish_response(at.ts_ns, out, stats);
                }
                used
            }
        }
    }

    fn response_head(
        &mut self,
        data: &[u8],
        at: SegmentMeta,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) -> usize {
        // As for requests: a whole head at the start of the segment is parsed where it lies.
        if self.resp.head.is_empty() {
            if let Some(head) = parse_response(data) {
                let used = head.len;
                return self.response_parsed(head, (at.ts_ns, at.seq), used, at, out, stats);
            }
        }
        if self.resp.head.is_empty()
            && !data.starts_with(b"HTTP/")
            && request_for(&self.pending, at.ts_ns).is_some_and(|p| p.info.version == "0.9")
        {
            // HTTP/0.9's answer: the body alone, until the server closes.
            self.response = Some(Response {
                status: None,
                start_ns: at.ts_ns,
                seq: at.seq,
                grpc: None,
            });
            self.resp.body = 0;
            self.resp.state = State::UntilClose;
            return body_bytes(&mut self.resp, data, stats).0;
        }
        let (used, head_len) = match take_head(&mut self.resp, data, at, stats, looks_like_response)
        {
            Head::Complete { used, len } => (used, len),
            Head::Consumed(n) => return n,
        };
        let head_buf;
        let head: &[u8] = if self.resp.head.is_empty() {
            data.get(..head_len).unwrap_or(data)
        } else {
            head_buf = std::mem::take(&mut self.resp.head);
            head_buf.get(..head_len).unwrap_or(&head_buf)
        };
        let start = self.resp.start.take().unwrap_or((at.ts_ns, at.seq));
        let Some(head) = parse_response(head) else {
            stats.http1_parse_errors += 1;
            self.resp.state = State::Resync;
            return used;
        };
        self.response_parsed(head, start, used, at, out, stats)
    }

    /// A response head of `used` bytes of this chunk, its first byte seen at `start`.
    fn response_parsed(
        &mut self,
        head: ResponseHead,
        (start_ns, start_seq): (u64, u32),
        used: usize,
        at: SegmentMeta,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) -> usize {
        let (status, framing) = (head.status, head.framing);
        if (100..200).contains(&status) && status != 101 {
            // Interim response (100 Continue, 103 Early Hints): the real one follows.
            self.resp.state = State::Idle;
            return used;
        }
        // The server answers while a request head is still incomplete: the rest of that head
        // was lost, so what arrived of it is the request.
        self.salvage_request(stats);
        if std::mem::take(&mut self.pair_by_ack) {
            self.drop_unanswered_before(at.ack, out, stats);
        }
        let Some(front) = request_for(&self.pending, start_ns) else {
            stats.http1_responses_without_request += 1;
            if head.upgrade_h2c {
                // Switched to HTTP/2 on a request the capture missed: what follows is HTTP/2
                // all the same; stream 1 answers a request nobody saw.
                self.upgrade = Some(Box::new(H2cUpgrade {
                    request: None,
                    trace: TraceContext::default(),
                    start_ns,
                    req_seq: None,
                    offset: 0,
                }));
                self.response = None;
                self.req.state = State::Done;
                self.resp.state = State::Done;
                return used;
            }
            self.resp.state = match framing {
                Framing::Length(n) if n > 0 => State::Body { remaining: n },
                Framing::Chunked => State::Chunked(Chunk::Size {
                    value: 0,
                    digits: 0,
                    ext: false,
                }),
                _ => State::Idle,
            };
            self.response = None;
            return used;
        };
        let no_body = front.head_request || status == 204 || status == 304;
        let connect_tunnel = front.connect && (200..300).contains(&status);
        let tunnel = status == 101 || connect_tunnel;
        if let Some(mode) = front.grpc_web.or(head.grpc_web) {
            self.resp.web = Some(Box::new(WebBody::new(head.grpc_web.unwrap_or(mode))));
        }
        self.response = Some(Response {
            status: Some(status),
            start_ns,
            seq: start_seq,
            grpc: head.grpc,
        });
        self.resp.body = 0;
        if status == 101 && front.h2c {
            // The request is answered on HTTP/2 stream 1: it becomes that stream's exchange.
            if let Some(p) = self.pending.pop_front() {
                self.upgrade = Some(Box::new(H2cUpgrade {
                    request: Some(*p.info),
                    trace: p.trace,
                    start_ns: p.start_ns,
                    req_seq: p.seq,
                    offset: 0,
                }));
            }
            self.response = None;
            self.req.state = State::Done;
            self.resp.state = State::Done;
            return used;
        }
        if tunnel {
            self.finish_response(at.ts_ns, out, stats);
            self.req.state = State::Done;
            self.resp.state = State::Done;
            self.tunnel = connect_tunnel;
            return used;
        }
        self.resp.state = match framing {
            _ if no_body => State::Idle,
            Framing::Length(0) | Framing::None => State::Idle,
            Framing::Length(n) => State::Body { remaining: n },
            Framing::Chunked => State::Chunked(Chunk::Size {
                value: 0,
                digits: 0,
                ext: false,
            }),
            Framing::UntilClose => State::UntilClose,
        };
        if self.resp.state == State::Idle {
            self.finish_response(at.ts_ns, out, stats);
        }
        used
    }

    /// After a response-side hole, a response whose ACK covers exactly the end of a later
    /// request answers that request: the ones before it lost their responses in the hole.
    fn drop_unanswered_before(&mut self, ack: u32, out: &mut Vec<Exchange>, stats: &mut Counters) {
        let Some(&(id, _)) = self.ends.iter().find(|&&(_, end)| end == ack) else {
            return;
        };
        while self.pending.front().is_some_and(|p| p.id != id) {
            if let Some(p) = self.pending.pop_front() {
                stats.http1_requests_without_response += 1;
                out.push(Exchange {
                    start_ns: p.start_ns,
                    end_ns: p.last_ns,
                    req_seq: p.seq,
                    resp_seq: None,
                    trace: p.trace,
                    incomplete: Some(Incomplete::Gap),
                    detail: ExchangeDetail::Http(p.info),
                });
            }
        }
    }

    fn finish_response(&mut self, end_ns: u64, out: &mut Vec<Exchange>, stats: &mut Counters) {
        let response = self.response.take();
        let gap = std::mem::take(&mut self.resp.gap);
        let body = std::mem::take(&mut self.resp.body);
        if self.resp.state != State::Done {
            self.resp.state = State::Idle;
        }
        let Some(response) = response else {
            return;
        };
        let Some(mut p) = self.pending.pop_front() else {
            return;
        };
        if p.start_ns > response.start_ns {
            // The request it would pair with came later (the one it answered was lost or
            // never parsed): the request waits for its own answer.
            self.pending.push_front(p);
            stats.http1_responses_without_request += 1;
            return;
        }
        self.ends.retain(|&(id, _)| id > p.id);
        if self.body_of == Some(p.id) {
            p.info.request_body_size = self.req.body;
        }
        p.info.status = response.status;
        p.info.response_body_size = body;
        let web = self.resp.web.take();
        if let Some(mode) = p.grpc_web {
            p.info.grpc = Some(web_call(&p, mode, web.as_deref(), response.grpc.as_deref()));
            stats.http1_grpc_web_calls += 1;
            stats.grpc_web_trailers_cut += u64::from(web.is_some_and(|w| w.messages.trailer_cut));
        }
        let incomplete = if p.gap || gap {
            Some(Incomplete::Gap)
        } else {
            p.malformed.then_some(Incomplete::MalformedRequest)
        };
        stats.http1_exchanges += 1;
        let request_unfinished = self.body_of == Some(p.id);
        let ex = Exchange {
            start_ns: p.start_ns,
            end_ns: end_ns.max(response.start_ns),
            req_seq: p.seq,
            resp_seq: Some(response.seq),
            trace: p.trace,
            incomplete,
            detail: ExchangeDetail::Http(p.info),
        };
        if request_unfinished {
            self.release_early(out);
            self.early = Some(Box::new((p.id, ex)));
        } else {
            out.push(ex);
        }
    }
}

/// A gRPC-Web call over HTTP/1.1: the method from the path, the status from the response's
/// headers (trailers-only) or its body's trailer frame, the messages each way.
fn web_call(
    p: &Pending,
    mode: &'static str,
    response: Option<&WebBody>,
    headers: Option<&(Option<u32>, Option<String>)>,
) -> Box<GrpcCall> {
    let (service, method) = grpc::split_path(&p.info.path).unwrap_or(("", ""));
    let (body_status, body_message) = response
        .and_then(|w| w.messages.web_trailers())
        .unwrap_or_default();
    let (head_status, head_message) = headers.cloned().unwrap_or_default();
    let count = |w: Option<&WebBody>| w.map_or(0, |w| w.messages.messages);
    let compressed = |w: Option<&WebBody>| w.map_or(0, |w| w.messages.compressed);
    Box::new(GrpcCall {
        service: service.to_owned(),
        method: method.to_owned(),
        status: head_status.or(body_status),
        message: head_message.or(body_message),
        request_messages: count(p.web_request.as_deref()),
        response_messages: count(response),
        compressed_messages: compressed(p.web_request.as_deref()) + compressed(response),
        web: Some(mode),
        ..Default::default()
    })
}

/// The request a response that began at `response_start_ns` answers: the oldest pending one,
/// unless that was seen only after the response began (then it cannot be the answer).
fn request_for(pending: &VecDeque<Pending>, response_start_ns: u64) -> Option<&Pending> {
    pending.front().filter(|p| p.start_ns <= response_start_ns)
}

/// What [`take_head`] made of the bytes it was given.
enum Head {
    /// A whole head: `used` bytes of this chunk, the head being `len` bytes long (in the
    /// chunk when the reader's buffer is empty, else in the buffer).
    Complete { used: usize, len: usize },
    /// These bytes were used without completing a head (buffered, or skipped as not HTTP).
    Consumed(usize),
}

/// A parsed request head.
struct RequestHead {
    info: Box<HttpExchange>,
    trace: TraceContext,
    framing: Framing,
    h2c: bool,
    /// Read only leniently: its request line or headers broke the rules.
    malformed: bool,
    grpc_web: Option<&'static str>,
}

impl RequestHead {
    fn into_pending(self, start_ns: u64, last_ns: u64, seq: u32, gap: bool) -> Pending {
        let method = self.info.method.as_deref().unwrap_or("");
        Pending {
            id: 0,
            start_ns,
            last_ns,
            seq: Some(seq),
            trace: self.trace,
            head_request: method == "HEAD",
            connect: method == "CONNECT",
            info: self.info,
            gap,
            h2c: self.h2c,
            malformed: self.malformed,
            grpc_web: self.grpc_web,
            web_request: None,
        }
    }
}

/// Room for a head's headers, left uninitialised: httparse writes only the ones it finds, and
/// zeroing all 96 (3 KiB) for every message was a tenth of a keep-alive replay's time.
fn uninit_headers<'b>() -> [MaybeUninit<httparse::Header<'b>>; MAX_HEADERS] {
    [const { MaybeUninit::uninit() }; MAX_HEADERS]
}

/// The request head at the start of `data` and its length, when it is whole and valid.
fn parse_request(data: &[u8], repeated: &mut RepeatedHeaders) -> Option<(RequestHead, usize)> {
    let mut headers = uninit_headers();
    let mut parsed = httparse::Request::new(&mut []);
    let Ok(httparse::Status::Complete(len)) = parsed.parse_with_uninit_headers(data, &mut headers)
    else {
        return None;
    };
    let version = if parsed.version == Some(0) {
        "1.0"
    } else {
        "1.1"
    };
    let mut head = HeadFacts::new(parsed.method, parsed.path.unwrap_or(""), version);
    for h in parsed.headers.iter() {
        head.header(h.name, h.value, repeated);
    }
    Some((head.finish(false), len))
}

/// A request head the strict parser refused, read as a lenient server reads it: the method,
/// whatever stands between it and the version as the target (spaces and all), the version if
/// there is one, and the header lines that parse (obs-folded continuations and invalid lines
/// skipped). Without a version (`GET /path` alone, HTTP/0.9's form) the line is the whole
/// request. `None` when not even the method is a token.
fn parse_request_leniently(head: &[u8], repeated: &mut RepeatedHeaders) -> Option<RequestHead> {
    let mut lines = head.split(|&b| b == b'\n');
    let line = lines.next()?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let sp = memchr::memchr(b' ', line)?;
    let method = line.get(..sp)?;
    if !is_method(method) {
        return None;
    }
    let rest = line.get(sp + 1..)?.trim_ascii();
    let is_version = |w: &[u8]| w.starts_with(b"HTTP/");
    let (target, version) = match rest.iter().rposition(|&b| b == b' ') {
        Some(at) if is_version(rest.get(at + 1..)?) => {
            (rest.get(..at)?.trim_ascii(), rest.get(at + 1..))
        }
        None if is_version(rest) => (&[][..], Some(rest)),
        _ => (rest, None),
    };
    let version = match version {
        None => "0.9",
        Some(b"HTTP/1.0") => "1.0",
        Some(_) => "1.1",
    };
    let method = std::str::from_utf8(method).ok();
    let target = String::from_utf8_lossy(target);
    let mut facts = HeadFacts::new(method, &target, version);
    if version != "0.9" {
        for line in lines {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                break;
            }
            if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
                continue;
            }
            let Some(colon) = memchr::memchr(b':', line) else {
                continue;
            };
            let name = line.get(..colon).unwrap_or(&[]).trim_ascii_end();
            let Ok(name) = std::str::from_utf8(name) else {
                continue;
            };
            if !name.is_empty() && name.bytes().all(is_tchar) {
                let value = line.get(colon + 1..).unwrap_or(&[]).trim_ascii();
                facts.header(name, value, repeated);
            }
        }
    }
    Some(facts.finish(true))
}

/// Where a request line without a version ends, when `head` starts with a whole one of a
/// registered method: the line is then the whole request (HTTP/0.9's `GET /path`, or a line
/// a lenient server answers anyway); nothing follows it but the answer.
fn versionless_line_end(head: &[u8]) -> Option<usize> {
    let end = memchr::memchr(b'\n', head.get(..head.len().min(MAX_HEAD))?)?;
    let line = head.get(..end)?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let last_word = line.rsplit(|&b| b == b' ').next()?;
    // A registered method only: a word, a space and a line end say little on their own.
    let registered = METHODS.iter().any(|m| {
        line.strip_prefix(*m)
            .is_some_and(|rest| rest.first() == Some(&b' '))
    });
    (registered && !last_word.starts_with(b"HTTP/")).then_some(end + 1)
}

/// What a request head says, gathered header by header.
struct HeadFacts {
    info: HttpExchange,
    trace: TraceHeaders,
    framing: Framing,
    h2c: bool,
    grpc_web: Option<&'static str>,
}

impl HeadFacts {
    #[inline]
    fn new(method: Option<&str>, target: &str, version: &'static str) -> HeadFacts {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
            None => (target.to_owned(), None),
        };
        HeadFacts {
            info: HttpExchange {
                method: method.map(|m| super::method_text(m.as_bytes())),
                path,
                query,
                version,
                ..Default::default()
            },
            trace: TraceHeaders::default(),
            framing: Framing::None,
            h2c: false,
            grpc_web: None,
        }
    }

    #[inline]
    fn header(&mut self, name: &str, value: &[u8], repeated: &mut RepeatedHeaders) {
        // Told apart by length first: a header that matters costs one comparison, and one that
        // does not (Accept, Cookie, …) usually none.
        match name.len() {
            4 if token_is(name, "host") => self.info.host = Some(repeated.host(value)),
            7 if token_is(name, "upgrade") => {
                self.h2c |= value.eq_ignore_ascii_case(b"h2c");
            }
            10 if token_is(name, "user-agent") => {
                self.info.user_agent = Some(repeated.user_agent(value));
            }
            12 if token_is(name, "content-type") => self.grpc_web = grpc::web_mode(value),
            12 if token_is(name, "x-request-id") => {
                self.trace.offer(name, value);
                self.info.x_request_id = Some(super::header_str(value).into_owned());
            }
            14 | 17 => self.framing = body_framing(name, value, self.framing),
            _ => {
                self.trace.offer(name, value);
            }
        }
    }

    #[inline]
    fn finish(self, malformed: bool) -> RequestHead {
        RequestHead {
            info: Box::new(self.info),
            trace: self.trace.resolve(),
            framing: self.framing,
            h2c: self.h2c,
            malformed,
            grpc_web: self.grpc_web,
        }
    }
}

/// What a response head says.
#[derive(Debug, Clone)]
struct ResponseHead {
    status: u16,
    framing: Framing,
    /// Bytes of the head.
    len: usize,
    /// A `101` that switches to `h2c`: HTTP/2 follows.
    upgrade_h2c: bool,
    /// gRPC-Web, from the content-type.
    grpc_web: Option<&'static str>,
    /// `grpc-status` and `grpc-message` among the headers (gRPC-Web's trailers-only answer).
    grpc: Option<Box<(Option<u32>, Option<String>)>>,
}

/// The response head at the start of `data`, when it is whole and valid.
fn parse_response(data: &[u8]) -> Option<ResponseHead> {
    let mut headers = uninit_headers();
    let mut parsed = httparse::Response::new(&mut []);
    // Read as leniently as clients read responses: obs-folded lines, a space before the
    // colon and invalid header lines do not lose the response.
    let mut config = httparse::ParserConfig::default();
    config
        .allow_obsolete_multiline_headers_in_responses(true)
        .allow_spaces_after_header_name_in_responses(true)
        .ignore_invalid_headers_in_responses(true);
    let Ok(httparse::Status::Complete(len)) =
        config.parse_response_with_uninit_headers(&mut parsed, data, &mut headers)
    else {
        return None;
    };
    let status = parsed.code.unwrap_or(0);
    let mut framing = Framing::UntilClose;
    let mut upgrade_h2c = false;
    let mut grpc_web = None;
    let mut grpc: Option<Box<(Option<u32>, Option<String>)>> = None;
    for h in parsed.headers.iter() {
        match h.name.len() {
            7 if status == 101 && token_is(h.name, "upgrade") => {
                upgrade_h2c |= h.value.eq_ignore_ascii_case(b"h2c");
            }
            11 if token_is(h.name, "grpc-status") => {
                let code = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse().ok());
                grpc.get_or_insert_default().0 = code;
            }
            12 if token_is(h.name, "content-type") => grpc_web = grpc::web_mode(h.value),
            12 if token_is(h.name, "grpc-message") => {
                grpc.get_or_insert_default().1 = Some(grpc::percent_decode(h.value));
            }
            _ => framing = body_framing(h.name, h.value, framing),
        }
    }
    Some(ResponseHead {
        status,
        framing,
        len,
        upgrade_h2c,
        grpc_web,
        grpc,
    })
}

/// The complete lines of a head cut short, closed with a blank line so it parses.
fn salvage_head(partial: &[u8]) -> Option<Vec<u8>> {
    let end = partial.iter().rposition(|&b| b == b'\n')? + 1;
    let mut head = partial.get(..end)?.to_vec();
    head.extend_from_slice(b"\r\n");
    Some(head)
}

/// Reads a message head from `data`, buffering it when it is split across segments. Bytes that
/// cannot start a message put the reader into resync.
fn take_head(
    r: &mut Reader,
    data: &[u8],
    at: SegmentMeta,
    stats: &mut Counters,
    starts_message: fn(&[u8]) -> bool,
) -> Head {
    let mut rest = data;
    let mut skipped = 0;
    if r.head.is_empty() {
        // Stray CRLFs between messages are allowed (RFC 9112 §2.2).
        skipped = rest
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        rest = rest.get(skipped..).unwrap_or(&[]);
        if rest.is_empty() {
            return Head::Consumed(data.len());
        }
        if !starts_message(rest) && rest.len() >= 16 {
            stats.http1_parse_errors += 1;
            r.state = State::Resync;
            return Head::Consumed(skipped + find_message_start(rest, starts_message).max(1));
        }
        r.start = Some((at.ts_ns, at.seq.wrapping_add(skipped as u32)));
        if let Some(end) = head_end(rest, 0) {
            if skipped == 0 {
                return Head::Complete {
                    used: end,
                    len: end,
                };
            }
            // Keep the head contiguous from its first byte: copy it past the CRLFs.
            r.head.extend_from_slice(rest.get(..end).unwrap_or(rest));
            return Head::Complete {
                used: skipped + end,
                len: end,
            };
        }
    }
    let before = r.head.len();
    // Only the bytes that can still belong to the head are kept.
    let room = MAX_HEAD.saturating_sub(before);
    let take = rest.len().min(room);
    r.head.extend_from_slice(rest.get(..take).unwrap_or(rest));
    match head_end(&r.head, before.saturating_sub(3)) {
        Some(end) => Head::Complete {
            used: skipped + end - before,
            len: end,
        },
        None if r.head.len() >= MAX_HEAD => {
            stats.http1_head_too_large += 1;
            r.head.clear();
            r.state = State::Resync;
            Head::Consumed(data.len())
        }
        None => {
            if !starts_message(&r.head) && r.head.len() >= 16 {
                r.head.clear();
                r.state = State::Resync;
                stats.http1_parse_errors += 1;
            }
            Head::Consumed(data.len())
        }
    }
}

/// Offset just past the blank line that ends a head, searching from `from`.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    // memchr finds each line end with vector compares, many bytes per step.
    memchr::memchr_iter(b'\n', buf.get(from..)?).find_map(|off| {
        let nl = from + off;
        let rest = buf.get(nl + 1..).unwrap_or(&[]);
        if rest.first() == Some(&b'\n') {
            Some(nl + 2)
        } else if rest.starts_with(b"\r\n") {
            Some(nl + 3)
        } else {
            None
        }
    })
}

/// A `Content-Length` value: decimal digits (RFC 9110 §8.6), surrounding blanks allowed.
fn content_length(v: &[u8]) -> Option<u64> {
    let digits = v.trim_ascii();
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// Whether a header name is `lower` (a lowercase name) in any case. Names here are tokens
/// (httparse admits nothing else), and for a token byte setting bit 5 lowercases a letter and
/// leaves `-` and digits as they are: no other token byte becomes one of them, so one OR and
/// one compare per byte, free of early exits, do what `eq_ignore_ascii_case` does in several.
fn token_is(name: &str, lower: &str) -> bool {
    name.len() == lower.len()
        && name
            .bytes()
            .zip(lower.bytes())
            .fold(0, |diff, (n, l)| diff | ((n | 0x20) ^ l))
            == 0
}

/// Folds one header into what is known of the body's framing; chunked wins over a length.
fn body_framing(name: &str, value: &[u8], current: Framing) -> Framing {
    if token_is(name, "transfer-encoding") {
        let chunked = value
            .split(|&b| b == b',')
            .next_back()
            .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        if chunked {
            return Framing::Chunked;
        }
    } else if token_is(name, "content-length") && !matches!(current, Framing::Chunked) {
        if let Some(n) = content_length(value) {
            return Framing::Length(n);
        }
    }
    current
}

/// Consumes body bytes; returns `(bytes used, message complete)`.
fn body_bytes(r: &mut Reader, data: &[u8], stats: &mut Counters) -> (usize, bool) {
    match r.state {
        State::Body { remaining } => {
            let n = (data.len() as u64).min(remaining);
            r.body += n;
            if let Some(web) = r.web.as_deref_mut() {
                web.feed(data.get(..n as usize).unwrap_or(&[]));
            }
            let left = remaining - n;
            r.state = State::Body { remaining: left };
            (n as usize, left == 0)
        }
        State::UntilClose => {
            r.body += data.len() as u64;
            if let Some(web) = r.web.as_deref_mut() {
                web.feed(data);
            }
            (data.len(), false)
        }
        State::Chunked(chunk) => chunked_bytes(r, chunk, data, stats),
        _ => (data.len(), false),
    }
}

fn chunked_bytes(
    r: &mut Reader,
    mut chunk: Chunk,
    data: &[u8],
    stats: &mut Counters,
) -> (usize, bool) {
    let mut i = 0;
    while let Some(&c) = data.get(i) {
        match chunk {
            Chunk::Data { remaining } => {
                let n = ((data.len() - i) as u64).min(remaining);
                r.body += n;
                if let Some(web) = r.web.as_deref_mut() {
                    web.feed(data.get(i..i + n as usize).unwrap_or(&[]));
                }
                i += n as usize;
                chunk = if remaining == n {
                    Chunk::DataEnd
                } else {
                    Chunk::Data {
                        remaining: remaining - n,
                    }
                };
                continue;
            }
            Chunk::DataEnd => {
                if c == b'\n' {
                    chunk = Chunk::Size {
                        value: 0,
                        digits: 0,
                        ext: false,
                    };
                } else if c != b'\r' {
                    return chunk_error(r, stats, i);
                }
            }
            Chunk::Size { value, digits, ext } => {
                let digit = (c as char).to_digit(16);
                match (c, digit) {
                    (b'\n', _) if digits > 0 => {
                        chunk = if value == 0 {
                            Chunk::Trailer { len: 0 }
                        } else {
                            Chunk::Data { remaining: value }
                        };
                    }
                    (_, Some(d)) if !ext => {
                        // 15 hex digits is already 1 EiB: more is an attack, not a body.
                        if digits >= 15 {
                            return chunk_error(r, stats, i);
                        }
                        chunk = Chunk::Size {
                            value: value << 4 | u64::from(d),
                            digits: digits + 1,
                            ext,
                        };
                    }
                    (b';' | b' ' | b'\t', _) if digits > 0 => {
                        chunk = Chunk::Size {
                            value,
                            digits,
                            ext: true,
                        }
                    }
                    (b'\r', _) if digits > 0 => {}
                    _ if ext => {}
                    _ => return chunk_error(r, stats, i),
                }
            }
            Chunk::Trailer { len } => match c {
                b'\n' if len == 0 => {
                    r.state = State::Chunked(chunk);
                    return (i + 1, true);
                }
                b'\n' => chunk = Chunk::Trailer { len: 0 },
                b'\r' => {}
                _ => chunk = Chunk::Trailer { len: len + 1 },
            },
        }
        i += 1;
    }
    r.state = State::Chunked(chunk);
    (i, false)
}

fn chunk_error(r: &mut Reader, stats: &mut Counters, at: usize) -> (usize, bool) {
    stats.http1_parse_errors += 1;
    r.gap = true;
    r.state = State::Resync;
    (at.max(1), false)
}

/// Applies a hole of `len` bytes to a reader. Returns true when the hole fell inside a body of
/// known length, so the reader stays in step (the message is marked, nothing else changes).
fn skip_gap(r: &mut Reader, len: u64) -> bool {
    match r.state {
        State::Body { remaining } if len < remaining => {
            r.state = State::Body {
                remaining: remaining - len,
            };
            r.gap = true;
            true
        }
        State::Chunked(Chunk::Data { remaining }) if len < remaining => {
            r.state = State::Chunked(Chunk::Data {
                remaining: remaining - len,
            });
            r.gap = true;
            true
        }
        State::UntilClose => {
            r.gap = true;
            true
        }
        State::Done => true,
        _ => false,
    }
}

fn reset_to_resync(r: &mut Reader) {
    r.head.clear();
    r.start = None;
    r.body = 0;
    r.gap = true;
    r.state = State::Resync;
}

/// Offset of the first line in `data` that starts a message, or `data.len()` when none does.
fn find_message_start(data: &[u8], starts_message: fn(&[u8]) -> bool) -> usize {
    if starts_message(data) {
        return 0;
    }
    let mut i = 0;
    while let Some(off) = data
        .get(i..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
    {
        let line = i + off + 1;
        if starts_message(data.get(line..).unwrap_or(&[])) {
            return line;
        }
        i = line;
    }
    data.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(p: &mut Http1Parser, dir: Direction, data: &[u8], ts: u64, seq: u32) -> Vec<Exchange> {
        let mut out = Vec::new();
        let mut stats = Counters::default();
        p.on_data(
            dir,
            data,
            SegmentMeta {
                ts_ns: ts,
                seq,
                ack: 0,
            },
            &mut out,
            &mut stats,
        );
        out
    }

    fn http(e: &Exchange) -> &HttpExchange {
        e.http().expect("an HTTP exchange")
    }

    #[test]
    fn token_names_match_in_any_case_and_nothing_else() {
        for name in [
            "content-length",
            "Content-Length",
            "CONTENT-LENGTH",
            "cOnTeNt-LeNgTh",
        ] {
            assert!(token_is(name, "content-length"), "{name}");
        }
        assert!(token_is("X-B3-SpanId", "x-b3-spanid"));
        for other in [
            "content-lengtx",
            "content_length",
            "content-lengt",
            "contentlength",
        ] {
            assert!(!token_is(other, "content-length"), "{other}");
        }
        // The token bytes one bit below `-` and `3` are not tokens; httparse refuses them.
        assert!(
            httparse::parse_headers(b"x\rb3: 1\r\n\r\n", &mut [httparse::EMPTY_HEADER; 1]).is_err()
        );
    }

    #[test]
    fn content_length_is_digits_only() {
        assert_eq!(content_length(b"0"), Some(0));
        assert_eq!(content_length(b" 1234\t"), Some(1234));
        assert_eq!(content_length(b"18446744073709551615"), Some(u64::MAX));
        for bad in [
            &b""[..],
            b"  ",
            b"+5",
            b"-1",
            b"12a",
            b"1 2",
            b"18446744073709551616",
        ] {
            assert_eq!(
                content_length(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn pipelined_requests_pair_in_order() {
        let mut p = Http1Parser::default();
        let reqs = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b?q=1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /c HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
        assert!(feed(&mut p, Direction::ToServer, reqs, 10, 1000).is_empty());
        let resps = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n2;x=y\r\nef\r\n0\r\nX-T: 1\r\n\r\n";
        let out = feed(&mut p, Direction::ToClient, resps, 20, 5000);
        assert_eq!(out.len(), 3);
        let got: Vec<_> = out
            .iter()
            .map(|e| {
                let h = http(e);
                (
                    h.method.clone().unwrap_or_default().into_owned(),
                    h.path.clone(),
                    h.status,
                    h.request_body_size,
                    h.response_body_size,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("GET".into(), "/a".into(), Some(200), 0, 5),
                ("HEAD".into(), "/b".into(), Some(200), 0, 0),
                ("POST".into(), "/c".into(), Some(201), 3, 6),
            ]
        );
        assert_eq!(http(&out[1]).query.as_deref(), Some("q=1"));
        assert_eq!(out[0].req_seq, Some(1000));
        assert_eq!(out[1].req_seq, Some(1000 + 28));
        assert_eq!(out[0].resp_seq, Some(5000));
    }

    #[test]
    fn head_split_across_segments_and_continue() {
        let mut p = Http1Parser::default();
        let part1 = b"POST /up HTTP/1.1\r\nExpect: 100-continue\r\nCont";
        let part2 = b"ent-Length: 4\r\n\r\n";
        feed(&mut p, Direction::ToServer, part1, 1, 0);
        feed(&mut p, Direction::ToServer, part2, 2, part1.len() as u32);
        assert!(feed(
            &mut p,
            Direction::ToClient,
            b"HTTP/1.1 100 Continue\r\n\r\n",
            3,
            0
        )
        .is_empty());
        feed(&mut p, Direction::ToServer, b"data", 4, 64);
        let out = feed(
            &mut p,
            Direction::ToClient,
            b"HTTP/1.1 204 No Content\r\n\r\n",
            5,
            25,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(http(&out[0]).request_body_size, 4);
        assert_eq!(http(&out[0]).status, Some(204));
        assert_eq!((out[0].start_ns, out[0].end_ns), (1, 5));
        // The span's response starts at the final response, not the interim 100.
        assert_eq!(out[0].resp_seq, Some(25));
    }

    #[test]
    fn an_early_answer_waits_for_the_request_body() {
        let mut p = Http1Parser::default();
        feed(
            &mut p,
            Direction::ToServer,
            b"POST /up HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
            1,
            0,
        );
        assert!(feed(
            &mut p,
            Direction::ToClient,
            b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
            2,
            0
        )
        .is_empty());
        let out = feed(&mut p, Direction::ToServer, b"hello", 3, 40);
        assert_eq!(out.len(), 1);
        assert_eq!(http(&out[0]).request_body_size, 5);
        assert_eq!(http(&out[0]).status, Some(201));
    }

    #[test]
    fn body_until_close_ends_at_fin() {
        let mut p = Http1Parser::default();
        let mut out = Vec::new();
        let mut stats = Counters::default();
        feed(&mut p, Direction::ToServer, b"GET / HTTP/1.0\r\n\r\n", 1, 0);
        feed(
            &mut p,
            Direction::ToClient,
            b"HTTP/1.0 200 OK\r\n\r\nabcdef",
            2,
            0,
        );
        p.on_fin(Direction::ToClient, 3, &mut out, &mut stats);
        assert_eq!(out.len(), 1);
        assert_eq!(http(&out[0]).response_body_size, 6);
        assert_eq!(out[0].end_ns, 3);
    }

    #[test]
    fn gap_in_body_keeps_stream_in_step() {
        let mut p = Http1Parser::default();
        let mut stats = Counters::default();
        feed(
            &mut p,
            Direction::ToServer,
            b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
            1,
            0,
        );
        feed(
            &mut p,
            Direction::ToClient,
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab",
            2,
            0,
        );
        p.on_gap(Direction::ToClient, 4, &mut stats);
        let out = feed(
            &mut p,
            Direction::ToClient,
            b"cdefHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            3,
            0,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].incomplete, Some(Incomplete::Gap));
        assert_eq!(http(&out[1]).status, Some(404));
        assert_eq!(out[1].incomplete, None);
    }

    #[test]
    fn lost_request_holds_its_place() {
        let mut p = Http1Parser::default();
        let mut stats = Counters::default();
        feed(
            &mut p,
            Direction::ToServer,
            b"GET /1 HTTP/1.1\r\n\r\n",
            1,
            0,
        );
        p.on_gap(Direction::ToServer, 19, &mut stats);
        feed(
            &mut p,
            Direction::ToServer,
            b"GET /3 HTTP/1.1\r\n\r\n",
            2,
            38,
        );
        let resps = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 201 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 202 OK\r\nContent-Length: 0\r\n\r\n";
        let out = feed(&mut p, Direction::ToClient, resps, 3, 0);
        let got: Vec<_> = out
            .iter()
            .map(|e| (http(e).path.clone(), http(e).status))
            .collect();
        assert_eq!(
            got,
            vec![
                ("/1".into(), Some(200)),
                ("".into(), Some(201)),
                ("/3".into(), Some(202))
            ]
        );
        assert_eq!(out[1].incomplete, Some(Incomplete::Gap));
    }

    #[test]
    fn garbage_and_hostile_chunks_do_not_panic() {
        let mut p = Http1Parser::default();
        feed(&mut p, Direction::ToServer, b"GET / HTTP/1.1\r\n\r\n", 1, 0);
        let out = feed(
            &mut p,
            Direction::ToClient,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n",
            2,
            0,
        );
        assert!(out.is_empty());
        feed(&mut p, Direction::ToClient, &[0xff; 300], 3, 0);
        feed(&mut p, Direction::ToServer, &[0u8; 70_000], 3, 0);
    }
}

//! Application protocol parsers.
//!
//! Takes the ordered byte streams of one TCP connection (client→server and server→client, with
//! holes announced) and gives [`Exchange`]s: one request paired with its response, with the
//! timestamps and TCP sequence numbers of their first and last bytes. Parsers are pure: they
//! know nothing of flows, capture points or spans. Protocols are recognised by content.

pub mod http1;
pub mod trace_context;

use crate::stats::Counters;
pub use trace_context::TraceContext;

/// Which way bytes travel on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ToServer,
    ToClient,
}

/// Where a chunk of stream bytes came from: the segment that carried its first byte.
#[derive(Debug, Clone, Copy)]
pub struct SegmentMeta {
    pub ts_ns: u64,
    /// TCP sequence number of the chunk's first byte.
    pub seq: u32,
    /// The acknowledgement number the carrying segment had.
    pub ack: u32,
}

/// Why an exchange is not whole; absent on a complete exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incomplete {
    /// A hole in the capture hit the request or response.
    Gap,
    /// The connection ended before a response came.
    NoResponse,
}

impl Incomplete {
    pub fn as_str(self) -> &'static str {
        match self {
            Incomplete::Gap => "gap",
            Incomplete::NoResponse => "no_response",
        }
    }
}

/// One request and its response, as a parser saw them.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    pub start_ns: u64,
    pub end_ns: u64,
    pub req_seq: Option<u32>,
    pub resp_seq: Option<u32>,
    pub trace: TraceContext,
    pub incomplete: Option<Incomplete>,
    pub detail: ExchangeDetail,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExchangeDetail {
    Http(http1::HttpExchange),
}

/// Which side of the connection sent the bytes a protocol was recognised in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    Client,
    Server,
}

/// A parser for one connection, chosen by [`detect`].
pub enum AppParser {
    Http1(Box<http1::Http1Parser>),
}

impl AppParser {
    pub fn on_data(
        &mut self,
        dir: Direction,
        data: &[u8],
        meta: SegmentMeta,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        match self {
            AppParser::Http1(p) => p.on_data(dir, data, meta, out, stats),
        }
    }

    /// `len` bytes of the stream in direction `dir` were never seen.
    pub fn on_gap(&mut self, dir: Direction, len: u32, stats: &mut Counters) {
        match self {
            AppParser::Http1(p) => p.on_gap(dir, len, stats),
        }
    }

    /// The sender of `dir` closed its side (FIN).
    pub fn on_fin(
        &mut self,
        dir: Direction,
        ts_ns: u64,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        match self {
            AppParser::Http1(p) => p.on_fin(dir, ts_ns, out, stats),
        }
    }

    /// The connection is over (both FINs, RST, eviction or end of input).
    pub fn on_close(&mut self, out: &mut Vec<Exchange>, stats: &mut Counters) {
        match self {
            AppParser::Http1(p) => p.on_close(out, stats),
        }
    }
}

/// Recognises a protocol from the first bytes one side sent; says which side that was.
pub fn detect(data: &[u8]) -> Option<(AppParser, Sender)> {
    if http1::looks_like_request(data) {
        return Some((AppParser::Http1(Box::default()), Sender::Client));
    }
    if http1::looks_like_response(data) {
        return Some((AppParser::Http1(Box::default()), Sender::Server));
    }
    None
}

//! Application protocol parsers.
//!
//! Takes the ordered byte streams of one TCP connection (client→server and server→client, with
//! holes announced) and gives [`Exchange`]s: one request paired with its response, with the
//! timestamps and TCP sequence numbers of their first and last bytes. Parsers are pure: they
//! know nothing of flows, capture points or spans. Protocols are recognised by content.
//!
//! # Adding a protocol
//! 1. A module `protocol/NAME.rs` with the connection parser, implementing
//!    [`ConnectionParser`] (`on_data`, `on_gap`, `on_close`; `on_fin`, `gave_up` and
//!    `successor` when it needs them), and `pub const PROTOCOL: Protocol`: its name, a probe
//!    that looks at the first bytes one side sent (on any port, without allocating; the
//!    stricter the better: a guess the stream later contradicts is refused or given back, and
//!    counted), the parser to start, and the counter of its exchanges.
//! 2. One line in the `protocols!` list below: `Name(NAME::Parser) = NAME`. Detection order
//!    (the list's), the `wirespan_exchanges_total{protocol}` metric and the fuzz target of
//!    the same name (`wirespan::fuzz::run("NAME", …)`, whose flags byte is handed to `start`)
//!    follow from it.
//!
//! 3. The exchange's facts: a variant of [`ExchangeDetail`] (or an existing one, as HTTP/1 and
//!    HTTP/2 share [`HttpExchange`]) whose `describe`, in the protocol's module, writes its
//!    attributes and says the span's name and error.
//!
//! A protocol framed by length-prefixed messages reads them with [`frame::FrameReader`] (as
//! MySQL and HTTP/2 do): headers split across segments, payloads in pieces, holes inside a
//! payload kept in step.
//!
//! Still outside the registry: the protocol's own counters in `stats.rs`, and the fuzz crate's
//! file for the new target (`fuzz/fuzz_targets/NAME.rs`, two lines, and its `[[bin]]` in
//! `fuzz/Cargo.toml`).

// Every byte here comes off the wire: no index in this module or below may panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

pub mod dns;
pub mod frame;
pub mod grpc;
pub mod http;
pub mod http1;
pub mod http2;
pub mod mysql;
pub mod pgsql;
pub mod redis;
pub mod tls;
pub mod trace_context;

use crate::attribute::Attribute;
use crate::stats::Counters;
pub use http::{header_str, method_text, GrpcCall, HttpExchange, RepeatedHeaders};
pub use trace_context::TraceContext;

/// Which way bytes travel on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ToServer,
    ToClient,
}

impl Direction {
    /// The index of this direction in anything kept per direction: 0 client→server,
    /// 1 server→client. The one conversion between the two.
    pub fn index(self) -> usize {
        match self {
            Direction::ToServer => 0,
            Direction::ToClient => 1,
        }
    }

    /// The direction kept at index `d` (see [`Direction::index`]).
    pub fn of_index(d: usize) -> Direction {
        if d == 0 {
            Direction::ToServer
        } else {
            Direction::ToClient
        }
    }
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
    /// The request broke the protocol's rules (a malformed request line, an invalid head) and
    /// was read as leniently as the server that answered it.
    MalformedRequest,
}

impl Incomplete {
    pub fn as_str(self) -> &'static str {
        match self {
            Incomplete::Gap => "gap",
            Incomplete::NoResponse => "no_response",
            Incomplete::MalformedRequest => "malformed_request",
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

impl Exchange {
    pub fn http(&self) -> Option<&HttpExchange> {
        match &self.detail {
            ExchangeDetail::Http(h) => Some(h),
            _ => None,
        }
    }

    pub fn mysql(&self) -> Option<&mysql::MysqlExchange> {
        match &self.detail {
            ExchangeDetail::Mysql(m) => Some(m),
            _ => None,
        }
    }
}

/// Boxed: an exchange is moved from parser to queue to span several times, and inline either
/// detail (200 bytes) made each move a `memcpy` call.
#[derive(Debug, Clone, PartialEq)]
pub enum ExchangeDetail {
    Http(Box<HttpExchange>),
    Mysql(Box<mysql::MysqlExchange>),
    Pgsql(Box<pgsql::PgsqlExchange>),
    Redis(Box<redis::RedisExchange>),
    Dns(Box<dns::DnsExchange>),
    Tls(Box<tls::TlsExchange>),
    /// A call read inside a TLS connection through the key log.
    Decrypted(Box<tls::connection::Decrypted>),
}

impl ExchangeDetail {
    /// Adds the protocol's attributes to a span's, taking the exchange's strings; gives the
    /// span's name and error. Each protocol's module says how.
    pub fn describe(self, attrs: &mut Vec<Attribute>) -> Description {
        match self {
            ExchangeDetail::Http(h) => h.describe(attrs),
            ExchangeDetail::Mysql(m) => m.describe(attrs),
            ExchangeDetail::Pgsql(p) => p.describe(attrs),
            ExchangeDetail::Redis(r) => r.describe(attrs),
            ExchangeDetail::Dns(d) => d.describe(attrs),
            ExchangeDetail::Tls(t) => t.describe(attrs),
            ExchangeDetail::Decrypted(d) => d.describe(attrs),
        }
    }
}

/// What an exchange says of itself on its span, beside its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    pub name: String,
    /// `Some` when the call failed, with the message when there is one.
    pub error: Option<Option<String>>,
}

/// A side's role in a connection: the bytes a protocol was recognised in say which side sent
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

/// What a protocol's parser does with one connection: it is handed both directions' bytes in
/// stream order, with the holes the capture left and the ends, and gives exchanges.
pub trait ConnectionParser {
    /// Bytes of direction `dir`, the first of them at `meta.seq`.
    fn on_data(
        &mut self,
        dir: Direction,
        data: &[u8],
        meta: SegmentMeta,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    );

    /// `len` bytes of the stream in direction `dir` were never seen.
    fn on_gap(&mut self, dir: Direction, len: u32, stats: &mut Counters);

    /// The sender of `dir` closed its side (FIN).
    fn on_fin(
        &mut self,
        _dir: Direction,
        _ts_ns: u64,
        _out: &mut Vec<Exchange>,
        _stats: &mut Counters,
    ) {
    }

    /// The connection is over (both FINs, RST, eviction or end of input).
    fn on_close(&mut self, out: &mut Vec<Exchange>, stats: &mut Counters);

    /// Whether the stream stopped making sense as this protocol, so that the guess that chose
    /// it was wrong: the flow gives the stream up, emitting nothing more.
    fn gave_up(&self) -> bool {
        false
    }

    /// After `on_data`: whether the connection has become a tunnel whose bytes, from the next
    /// ones on, are another stream to recognise (HTTP/1's CONNECT answered 2xx).
    fn tunnelled(&self) -> bool {
        false
    }

    /// After `on_data`: the parser that takes the connection over from here (HTTP/1's
    /// `Upgrade: h2c`), fed the rest of `data`.
    fn successor(
        &mut self,
        _dir: Direction,
        _data: &[u8],
        _meta: SegmentMeta,
        _out: &mut Vec<Exchange>,
        _stats: &mut Counters,
    ) -> Option<AppParser> {
        None
    }
}

/// What a protocol's probe found: how its parser starts (a value of the protocol's own), and
/// the role of the side that sent the bytes when they tell.
pub type Found = (u8, Option<Role>);

/// A protocol wirespan parses: what [`REGISTRY`] holds of it.
pub struct Protocol {
    /// Its name in fuzz targets and metrics labels.
    pub name: &'static str,
    /// Looks at the first bytes one side of a connection sent, on any port and without
    /// allocating: whether they start this protocol (and how: a value of the protocol's own,
    /// handed back to `start`), and which side sent them when the bytes tell.
    pub probe: fn(&[u8]) -> Option<Found>,
    /// The connection parser for what `probe` found, with the user's options.
    pub start: fn(u8, ParserOptions) -> AppParser,
    /// Its exchanges, among the counters.
    pub exchanges: fn(&Counters) -> u64,
}

/// What the user chose about what parsers keep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParserOptions {
    /// Redis: the command's arguments as sent (`--redis-values`), not redacted.
    pub redis_values: bool,
}

/// The protocols, each one line: `Variant(parser type) = module`, the module exporting
/// `PROTOCOL`. Makes [`AppParser`] (one variant per protocol, dispatched by `match`: no
/// virtual call per segment) and [`REGISTRY`] (probed in this order).
macro_rules! protocols {
    ($($variant:ident($parser:ty) = $module:ident),* $(,)?) => {
        /// A parser for one connection, chosen by [`probe`].
        pub enum AppParser {
            $($variant(Box<$parser>),)*
        }

        /// Every protocol, in the order their probes run.
        pub static REGISTRY: &[&Protocol] = &[$(&$module::PROTOCOL,)*];

        impl AppParser {
            fn parser(&mut self) -> &mut dyn ConnectionParser {
                match self {
                    $(AppParser::$variant(p) => &mut **p,)*
                }
            }

            pub fn on_data(
                &mut self,
                dir: Direction,
                data: &[u8],
                meta: SegmentMeta,
                out: &mut Vec<Exchange>,
                stats: &mut Counters,
            ) {
                let next = match self {
                    $(AppParser::$variant(p) => {
                        p.on_data(dir, data, meta, out, stats);
                        p.successor(dir, data, meta, out, stats)
                    })*
                };
                if let Some(next) = next {
                    *self = next;
                }
            }

            /// Whether the parser found the stream was not its protocol
            /// ([`ConnectionParser::gave_up`]).
            pub fn gave_up(&self) -> bool {
                match self {
                    $(AppParser::$variant(p) => p.gave_up(),)*
                }
            }

            /// Whether the connection became a tunnel ([`ConnectionParser::tunnelled`]).
            pub fn tunnelled(&self) -> bool {
                match self {
                    $(AppParser::$variant(p) => p.tunnelled(),)*
                }
            }

            pub fn on_gap(&mut self, dir: Direction, len: u32, stats: &mut Counters) {
                match self {
                    $(AppParser::$variant(p) => p.on_gap(dir, len, stats),)*
                }
            }

            pub fn on_fin(
                &mut self,
                dir: Direction,
                ts_ns: u64,
                out: &mut Vec<Exchange>,
                stats: &mut Counters,
            ) {
                self.parser().on_fin(dir, ts_ns, out, stats)
            }

            pub fn on_close(&mut self, out: &mut Vec<Exchange>, stats: &mut Counters) {
                self.parser().on_close(out, stats)
            }
        }
    };
}

protocols! {
    Http1(http1::Http1Parser) = http1,
    // Before MySQL: a PostgreSQL message is never a MySQL packet's start, the other way round
    // it once was.
    Pgsql(pgsql::PgsqlParser) = pgsql,
    Mysql(mysql::MysqlParser) = mysql,
    Http2(http2::Http2Parser) = http2,
    Redis(redis::RedisParser) = redis,
    Tls(tls::TlsParser) = tls,
    // Last: a length-prefixed query is the loosest shape of all.
    Dns(dns::DnsParser) = dns,
}

/// One side of a pair kept per direction (`d`: 0 client→server, 1 server→client), without an
/// index that could panic.
pub(crate) fn side<T>(pair: &mut [T; 2], d: usize) -> &mut T {
    let [to_server, to_client] = pair;
    if d == 0 {
        to_server
    } else {
        to_client
    }
}

/// What a probe found in the first bytes one side sent: the protocol, how its parser starts,
/// and the role of the side that sent them when the bytes tell.
#[derive(Clone, Copy)]
pub struct Probe {
    pub protocol: &'static Protocol,
    start: u8,
    pub role: Option<Role>,
}

/// Recognises a protocol from the first bytes one side sent, asking every protocol of
/// [`REGISTRY`] in turn, without allocating: a flow asks this of every early payload (to learn
/// the roles, too), and builds a parser only once.
pub fn probe(data: &[u8]) -> Option<Probe> {
    REGISTRY.iter().find_map(|&protocol| {
        let (start, role) = (protocol.probe)(data)?;
        Some(Probe {
            protocol,
            start,
            role,
        })
    })
}

/// The parser for what a probe found.
pub fn start(probe: Probe, options: ParserOptions) -> AppParser {
    (probe.protocol.start)(probe.start, options)
}

/// Recognises a protocol from the first bytes one side sent and makes its parser (with the
/// default options); says which side sent them when the bytes tell.
pub fn detect(data: &[u8]) -> Option<(AppParser, Option<Role>)> {
    let p = probe(data)?;
    Some((start(p, ParserOptions::default()), p.role))
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

    /// `Upgrade: h2c` → 101 → HTTP/2: the upgrade request is answered on stream 1.
    #[test]
    fn h2c_upgrade_hands_the_connection_to_http2() {
        let (mut parser, sender) = detect(b"GET /up HTTP/1.1\r\nHost: x\r\n").expect("http/1");
        assert_eq!(sender, Some(Role::Client));
        let mut out = Vec::new();
        let mut stats = Counters::default();
        let meta = |ts, seq| SegmentMeta {
            ts_ns: ts,
            seq,
            ack: 0,
        };
        let req = b"GET /up?x=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n";
        parser.on_data(Direction::ToServer, req, meta(1, 100), &mut out, &mut stats);
        let mut resp =
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
                .to_vec();
        resp.extend(frame(4, 0, 0, &[]));
        resp.extend(frame(1, 0x4, 1, &[0x88])); // :status 200
        resp.extend(frame(0, 0x1, 1, b"hello world"));
        parser.on_data(
            Direction::ToClient,
            &resp,
            meta(2, 900),
            &mut out,
            &mut stats,
        );
        assert!(matches!(parser, AppParser::Http2(_)));
        assert_eq!(out.len(), 1);
        let h = out[0].http().expect("http");
        assert_eq!(
            (
                h.method.as_deref(),
                h.path.as_str(),
                h.status,
                h.response_body_size
            ),
            (Some("GET"), "/up", Some(200), 11)
        );
        assert_eq!(out[0].req_seq, Some(100));
        // The client's preface and a second request continue on HTTP/2.
        let mut client = http2::PREFACE.to_vec();
        client.extend(frame(4, 0, 0, &[]));
        client.extend(frame(1, 0x5, 3, &[0x82, 0x86, 0x84])); // GET http /
        parser.on_data(
            Direction::ToServer,
            &client,
            meta(3, 300),
            &mut out,
            &mut stats,
        );
        parser.on_data(
            Direction::ToClient,
            &frame(1, 0x5, 3, &[0x8d]),
            meta(4, 2000),
            &mut out,
            &mut stats,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].http().and_then(|h| h.status), Some(404));
        assert_eq!(stats.http1_h2c_upgrades, 1);
    }
}

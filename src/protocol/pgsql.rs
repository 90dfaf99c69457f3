//! PostgreSQL's frontend/backend protocol, version 3.
//!
//! Takes both directions of a connection; gives one [`Exchange`] per login (startup to the
//! first ReadyForQuery or an ErrorResponse), per simple Query and per extended-protocol batch
//! (Parse/Bind/Describe/Execute up to Sync), each ended by the server's ReadyForQuery. Messages
//! are a type byte and a length ([`FrameReader`]); the startup and SSL request have no type
//! byte, and the answer to an SSL request is one byte. Statement names map to their SQL per
//! connection (bounded), so an Execute of a named statement names its query. A connection
//! that switches to TLS is counted and left; COPY runs inside its query's exchange.

// Every byte here comes off the wire: no index may panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::frame::{FrameReader, Read};
use super::mysql::sql_operation;
use super::{
    AppParser, ConnectionParser, Description, Direction, Exchange, ExchangeDetail, Incomplete,
    Protocol, Role, SegmentMeta, TraceContext,
};
use crate::attribute::{int_attr, str_attr, Attribute};
use crate::decode::be32;
use crate::stats::Counters;
use hashbrown::HashMap;
use std::collections::VecDeque;

/// Protocol 3.0 in a StartupMessage.
const PROTOCOL_3: u32 = 0x0003_0000;
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;
/// Bytes of a message's payload kept (the SQL of a Query or Parse, an error's fields).
const KEEP: usize = 4096;
/// Named statements remembered per connection.
const MAX_STATEMENTS: usize = 1024;
/// Requests (queries, batches) waiting for their ReadyForQuery.
const MAX_PENDING: usize = 64;
/// A message longer than this means the reader lost the message boundaries.
const MAX_MESSAGE: u32 = 1 << 30;

/// The facts of one PostgreSQL call that end up on its span.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PgsqlExchange {
    /// `QUERY` (simple), `EXECUTE` (extended), `CONNECT` (startup and authentication).
    pub command: &'static str,
    pub sql: Option<String>,
    pub operation: String,
    pub database: Option<String>,
    pub user: Option<String>,
    /// SQLSTATE of an ErrorResponse.
    pub sqlstate: Option<String>,
    pub error_message: Option<String>,
    /// Rows returned, from the CommandComplete tags (SELECT n, FETCH n), summed.
    pub rows: Option<u64>,
    /// Rows changed, from the other tags (INSERT 0 n, UPDATE n, DELETE n, COPY n, …), summed.
    pub affected_rows: Option<u64>,
    /// The statement name an Execute used, when named.
    pub statement: Option<String>,
}

/// How a parser starts (as the probe found it).
const START_STARTUP: u8 = 0;
const START_TYPED: u8 = 1;

/// PostgreSQL: a StartupMessage or SSLRequest, a whole typed client message (Query, Parse), an
/// Authentication request or ReadyForQuery from the server.
pub const PROTOCOL: Protocol = Protocol {
    name: "pgsql",
    probe: |data| {
        if looks_like_startup(data) {
            Some((START_STARTUP, Some(Role::Client)))
        } else if looks_like_client_message(data) {
            Some((START_TYPED, Some(Role::Client)))
        } else if looks_like_server_message(data) {
            Some((START_TYPED, Some(Role::Server)))
        } else {
            None
        }
    },
    start: |how, _| AppParser::Pgsql(Box::new(PgsqlParser::new(how == START_STARTUP))),
    exchanges: |c| c.pgsql_exchanges,
};

/// A StartupMessage (protocol 3.0, then `user` among the parameters) or an SSL, GSS or cancel
/// request: a length that is the whole of `data`, and a code.
fn looks_like_startup(data: &[u8]) -> bool {
    let (Some(len), Some(code)) = (be32(data, 0), be32(data, 4)) else {
        return false;
    };
    if len as usize != data.len() {
        return false;
    }
    match code {
        SSL_REQUEST | GSSENC_REQUEST => len == 8,
        CANCEL_REQUEST => len == 16,
        // The parameters end with an empty name, and `user` is among them.
        PROTOCOL_3 => {
            data.ends_with(&[0, 0])
                && (data.get(8..).is_some_and(|p| p.starts_with(b"user\0"))
                    || data.windows(6).any(|w| w == b"\0user\0"))
        }
        _ => false,
    }
}

/// A whole Query (`Q`) or Parse (`P`) message: its length is the rest of `data` (or of the
/// first message in it) and the SQL is text ended by a NUL.
fn looks_like_client_message(data: &[u8]) -> bool {
    let (Some(&kind), Some(len)) = (data.first(), be32(data, 1)) else {
        return false;
    };
    if !matches!(kind, b'Q' | b'P') || len < 5 || len as usize + 1 > data.len() {
        return false;
    }
    let Some(body) = data.get(5..len as usize + 1) else {
        return false;
    };
    let text = if kind == b'P' {
        // Statement name, then the query.
        match body.iter().position(|&b| b == 0) {
            Some(n) => body.get(n + 1..).unwrap_or(&[]),
            None => return false,
        }
    } else {
        body
    };
    let Some(end) = text.iter().position(|&b| b == 0) else {
        return false;
    };
    let sql = text.get(..end).unwrap_or(&[]);
    !sql.is_empty()
        && std::str::from_utf8(sql).is_ok()
        && sql.iter().all(|&b| b >= 0x20 || b"\t\r\n".contains(&b))
        && sql_operation(&String::from_utf8_lossy(sql))
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
}

/// An Authentication request (`R`, length 8 to 2048, a known method) or a ReadyForQuery
/// (`Z`, length 5, status I, T or E), whole.
fn looks_like_server_message(data: &[u8]) -> bool {
    let (Some(&kind), Some(len)) = (data.first(), be32(data, 1)) else {
        return false;
    };
    match kind {
        b'R' => {
            (8..=2048).contains(&len)
                && (len as usize) < data.len()
                && be32(data, 5).is_some_and(|m| matches!(m, 0 | 2 | 3 | 5 | 7 | 9 | 10))
        }
        b'Z' => len == 5 && data.len() >= 6 && data.get(5).is_some_and(|s| b"ITE".contains(s)),
        _ => false,
    }
}

/// A client request waiting for the ReadyForQuery that ends its answer.
#[derive(Debug)]
struct Pending {
    exchange: PgsqlExchange,
    start: (u64, u32),
    resp_seq: Option<u32>,
    last_ns: u64,
    gap: bool,
    /// The server answered with an error.
    failed: bool,
    /// What ends its answer.
    until: Until,
}

/// What ends a request's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Until {
    /// ReadyForQuery: a login, a simple Query, a Sync.
    Ready,
    /// An Execute's CommandComplete (or ErrorResponse, EmptyQueryResponse, PortalSuspended).
    Complete,
    /// A Sync whose batch executed something: its answers were the executes' own; nothing
    /// of its own to emit.
    ReadyQuietly,
}

impl Pending {
    fn new(exchange: PgsqlExchange, start: (u64, u32), ts: u64) -> Pending {
        Pending {
            exchange,
            start,
            resp_seq: None,
            last_ns: ts,
            gap: false,
            failed: false,
            until: Until::Ready,
        }
    }
}

/// Where the client side of the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    /// Untyped startup messages (StartupMessage, SSLRequest).
    Startup,
    Typed,
    /// TLS after an SSLRequest answered `S`: not read.
    Opaque,
}

/// Both directions of one PostgreSQL connection.
pub struct PgsqlParser {
    client: Client,
    /// The client asked for SSL: the server's next byte is `S` or `N`, alone.
    ssl_answer: bool,
    startup: FrameReader<4>,
    typed: [FrameReader<5>; 2],
    /// The current message's type and first [`KEEP`] payload bytes, per direction.
    kind: [u8; 2],
    kept: [Vec<u8>; 2],
    user: Option<String>,
    database: Option<String>,
    /// Named prepared statements: name → SQL.
    statements: HashMap<String, String>,
    /// The extended-protocol batch being sent (until Sync).
    batch: Option<Pending>,
    /// The SQL of the last Parse of the unnamed statement.
    unnamed: Option<String>,
    pending: VecDeque<Pending>,
    /// After a hole: each direction waits for a segment that starts a message.
    resync: [bool; 2],
    /// The server's `S` ended here in the data just read: TLS from there on.
    tls_at: Option<usize>,
}

impl PgsqlParser {
    pub fn new(from_startup: bool) -> PgsqlParser {
        PgsqlParser {
            client: if from_startup {
                Client::Startup
            } else {
                Client::Typed
            },
            ssl_answer: false,
            startup: FrameReader::default(),
            typed: [FrameReader::default(), FrameReader::default()],
            kind: [0; 2],
            kept: [Vec::new(), Vec::new()],
            user: None,
            database: None,
            statements: HashMap::new(),
            batch: None,
            unnamed: None,
            pending: VecDeque::new(),
            resync: [false; 2],
            tls_at: None,
        }
    }

    fn base(&self, command: &'static str) -> PgsqlExchange {
        PgsqlExchange {
            command,
            operation: command.to_owned(),
            database: self.database.clone(),
            user: self.user.clone(),
            ..Default::default()
        }
    }

    /// The extended-protocol batch being sent, begun by the message at `start` if none is.
    fn batch_at(&mut self, start: (u64, u32), ts: u64) -> &mut Pending {
        self.batch
            .get_or_insert_with(|| Pending::new(PgsqlExchange::default(), start, ts))
    }

    fn push_pending(&mut self, p: Pending, out: &mut Vec<Exchange>, stats: &mut Counters) {
        if self.pending.len() >= MAX_PENDING {
            stats.pgsql_requests_unanswered += 1;
            if let Some(old) = self.pending.pop_front() {
                out.push(finish(old, None, Some(Incomplete::NoResponse)));
            }
        }
        self.pending.push_back(p);
    }

    /// A whole client message (its first [`KEEP`] bytes of payload in `body`).
    fn client_message(
        &mut self,
        kind: u8,
        body: &[u8],
        start: (u64, u32),
        ts: u64,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        stats.pgsql_messages += 1;
        let pending = |exchange| Pending::new(exchange, start, ts);
        match kind {
            b'Q' => {
                let sql = sql_at(body, 0, stats);
                let mut ex = self.base("QUERY");
                ex.operation = sql_operation(&sql);
                ex.sql = Some(sql);
                let p = pending(ex);
                self.push_pending(p, out, stats);
            }
            b'P' => {
                let mut pos = 0;
                let name = cstr(body, &mut pos).unwrap_or_default();
                let sql = sql_at(body, pos, stats);
                if name.is_empty() {
                    self.unnamed = Some(sql.clone());
                } else if self.statements.len() < MAX_STATEMENTS {
                    self.statements.insert(name, sql.clone());
                } else {
                    stats.pgsql_statements_dropped += 1;
                }
                let batch = self.batch_at(start, ts);
                batch.exchange.sql = Some(sql);
            }
            b'B' => {
                let mut pos = 0;
                let _portal = cstr(body, &mut pos);
                let statement = cstr(body, &mut pos).unwrap_or_default();
                let sql = if statement.is_empty() {
                    self.unnamed.clone()
                } else {
                    self.statements.get(&statement).cloned()
                };
                let batch = self.batch_at(start, ts);
                // The next Execute runs what this Bind bound.
                batch.exchange.sql = sql;
                batch.exchange.statement = (!statement.is_empty()).then_some(statement);
            }
            b'E' => {
                // Each Execute is a call, answered by its own CommandComplete.
                let batch = self.batch_at(start, ts);
                batch.exchange.command = "EXECUTE";
                let sql = batch.exchange.sql.clone();
                let statement = batch.exchange.statement.clone();
                let mut ex = self.base("EXECUTE");
                if let Some(sql) = &sql {
                    ex.operation = sql_operation(sql);
                }
                ex.sql = sql;
                ex.statement = statement;
                let mut p = pending(ex);
                p.until = Until::Complete;
                self.push_pending(p, out, stats);
            }
            b'D' | b'C' | b'H' => {
                self.batch_at(start, ts);
            }
            b'S' => {
                // Sync ends the batch: its answer ends with ReadyForQuery.
                let mut p = self
                    .batch
                    .take()
                    .unwrap_or_else(|| pending(self.base("SYNC")));
                let sql = p.exchange.sql.take();
                let statement = p.exchange.statement.take();
                // A batch that executes nothing only prepared (Parse, Describe) or closed: the
                // Sync is its call. After executes, the Sync only ends the batch.
                let command = match (p.exchange.command, &sql) {
                    ("EXECUTE", _) => "EXECUTE",
                    (_, Some(_)) => "PREPARE",
                    _ => "SYNC",
                };
                if command == "EXECUTE" {
                    p.until = Until::ReadyQuietly;
                }
                p.start = start;
                p.exchange = self.base(command);
                if let Some(sql) = &sql {
                    p.exchange.operation = sql_operation(sql);
                }
                p.exchange.sql = sql;
                p.exchange.statement = statement;
                self.push_pending(p, out, stats);
            }
            _ => {}
        }
    }

    /// A whole server message.
    fn server_message(
        &mut self,
        kind: u8,
        body: &[u8],
        start: (u64, u32),
        ts: u64,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        stats.pgsql_messages += 1;
        let Some(p) = self.pending.front_mut() else {
            if kind == b'Z' || kind == b'E' || kind == b'C' {
                stats.pgsql_responses_without_request += 1;
            }
            return;
        };
        p.last_ns = ts;
        p.resp_seq.get_or_insert(start.1);
        match kind {
            b'E' => {
                let (code, message) = error_fields(body);
                p.exchange.sqlstate = code;
                p.exchange.error_message = message;
                p.failed = true;
                // A failed login ends there: no ReadyForQuery follows; nor does a failed
                // Execute's answer go on.
                if p.exchange.command == "CONNECT" || p.until == Until::Complete {
                    self.complete(ts, out, stats);
                }
            }
            b'I' | b's' if p.until == Until::Complete => self.complete(ts, out, stats),
            b'C' => {
                let tag = cstr(body, &mut 0).unwrap_or_default();
                if let Some(n) = tag.rsplit(' ').next().and_then(|n| n.parse::<u64>().ok()) {
                    let returned = tag.starts_with("SELECT") || tag.starts_with("FETCH");
                    let slot = if returned {
                        &mut p.exchange.rows
                    } else {
                        &mut p.exchange.affected_rows
                    };
                    *slot.get_or_insert(0) += n;
                }
                if p.until == Until::Complete {
                    self.complete(ts, out, stats);
                }
            }
            b'G' | b'H' => stats.pgsql_copies += 1,
            b'Z' => self.ready(ts, out, stats),
            _ => {}
        }
    }

    /// The front request's answer is whole.
    fn complete(&mut self, ts: u64, out: &mut Vec<Exchange>, stats: &mut Counters) {
        if let Some(p) = self.pending.pop_front() {
            if p.exchange.command == "CONNECT" && !p.failed {
                self.user = p.exchange.user.clone();
                self.database = p.exchange.database.clone();
            }
            if p.until != Until::ReadyQuietly {
                stats.pgsql_exchanges += 1;
                out.push(finish(p, Some(ts), None));
            }
        }
    }

    /// ReadyForQuery ends what waited for it; Executes still waiting before it were skipped
    /// by the server after an error in their batch.
    fn ready(&mut self, ts: u64, out: &mut Vec<Exchange>, stats: &mut Counters) {
        while self
            .pending
            .front()
            .is_some_and(|p| p.until == Until::Complete)
        {
            if let Some(p) = self.pending.pop_front() {
                stats.pgsql_requests_unanswered += 1;
                out.push(finish(p, Some(ts), Some(Incomplete::NoResponse)));
            }
        }
        self.complete(ts, out, stats);
    }

    /// The untyped StartupMessage (or SSL, GSS or cancel request) of the client.
    fn startup_message(
        &mut self,
        body: &[u8],
        start: (u64, u32),
        ts: u64,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        stats.pgsql_messages += 1;
        match be32(body, 0) {
            Some(SSL_REQUEST | GSSENC_REQUEST) => self.ssl_answer = true,
            Some(PROTOCOL_3) => {
                let mut ex = self.base("CONNECT");
                let mut pos = 4;
                while let (Some(key), Some(value)) = (cstr(body, &mut pos), cstr(body, &mut pos)) {
                    if key.is_empty() {
                        break;
                    }
                    match key.as_str() {
                        "user" => ex.user = Some(value),
                        "database" => ex.database = Some(value),
                        _ => {}
                    }
                }
                // The database defaults to the user's name.
                if ex.database.is_none() {
                    ex.database = ex.user.clone();
                }
                self.client = Client::Typed;
                self.push_pending(Pending::new(ex, start, ts), out, stats);
            }
            _ => self.client = Client::Typed,
        }
    }
}

/// A NUL-terminated string at `*pos`, advancing past it.
fn cstr(b: &[u8], pos: &mut usize) -> Option<String> {
    let rest = b.get(*pos..)?;
    let n = rest.iter().position(|&c| c == 0)?;
    *pos += n + 1;
    Some(String::from_utf8_lossy(rest.get(..n)?).into_owned())
}

/// The SQL text at `pos`, up to its NUL; a text cut at [`KEEP`] (no NUL kept) is what was
/// kept, counted.
fn sql_at(body: &[u8], pos: usize, stats: &mut Counters) -> String {
    let rest = body.get(pos..).unwrap_or(&[]);
    let text = match rest.iter().position(|&c| c == 0) {
        Some(n) => rest.get(..n).unwrap_or(rest),
        None => {
            stats.pgsql_sql_truncated += 1;
            rest
        }
    };
    String::from_utf8_lossy(text).into_owned()
}

/// SQLSTATE (`C`) and message (`M`) of an ErrorResponse's fields.
fn error_fields(body: &[u8]) -> (Option<String>, Option<String>) {
    let (mut code, mut message) = (None, None);
    let mut pos = 0;
    while let Some(&field) = body.get(pos) {
        if field == 0 {
            break;
        }
        pos += 1;
        let Some(value) = cstr(body, &mut pos) else {
            break;
        };
        match field {
            b'C' => code = Some(value),
            b'M' => message = Some(value),
            _ => {}
        }
    }
    (code, message)
}

fn finish(p: Pending, end_ns: Option<u64>, incomplete: Option<Incomplete>) -> Exchange {
    let end = end_ns.unwrap_or(p.last_ns);
    Exchange {
        start_ns: p.start.0,
        end_ns: end.max(p.start.0),
        req_seq: Some(p.start.1),
        resp_seq: p.resp_seq,
        trace: TraceContext::default(),
        incomplete: incomplete.or(p.gap.then_some(Incomplete::Gap)),
        detail: ExchangeDetail::Pgsql(Box::new(p.exchange)),
    }
}

impl ConnectionParser for PgsqlParser {
    fn on_data(
        &mut self,
        dir: Direction,
        data: &[u8],
        meta: SegmentMeta,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        let d = dir.index();
        if self.client == Client::Opaque {
            return;
        }
        if *super::side(&mut self.resync, d) {
            let starts = if d == 0 {
                looks_like_client_message(data)
            } else {
                looks_like_server_message(data)
            };
            if !starts {
                return;
            }
            *super::side(&mut self.resync, d) = false;
            super::side(&mut self.typed, d).reset();
        }
        let mut rest = data;
        let mut seq = meta.seq;
        if d == 1 && self.ssl_answer {
            self.ssl_answer = false;
            match rest.split_first() {
                Some((b'S', _)) => {
                    stats.pgsql_tls_connections += 1;
                    self.client = Client::Opaque;
                    self.tls_at = Some(1);
                    return;
                }
                Some((b'N', tail)) => {
                    rest = tail;
                    seq = seq.wrapping_add(1);
                }
                _ => {}
            }
        }
        while !rest.is_empty() {
            if d == 0 && self.client == Client::Startup {
                let Some(read) = self.startup.read(&mut rest, meta.ts_ns, &mut seq) else {
                    break;
                };
                match read {
                    Read::Header(h) => {
                        let len = u32::from_be_bytes(h);
                        if !(8..=10_000).contains(&len) {
                            stats.pgsql_parse_errors += 1;
                            self.client = Client::Typed;
                            self.resync[0] = true;
                            return;
                        }
                        self.kept[0].clear();
                        self.startup.begin(len - 4);
                    }
                    Read::Payload { bytes, last, .. } => {
                        keep(&mut self.kept[0], bytes);
                        if last {
                            let body = std::mem::take(&mut self.kept[0]);
                            let start = self.startup.start();
                            self.startup_message(&body, start, meta.ts_ns, out, stats);
                            self.kept[0] = body;
                        }
                    }
                }
                continue;
            }
            let reader = super::side(&mut self.typed, d);
            let Some(read) = reader.read(&mut rest, meta.ts_ns, &mut seq) else {
                break;
            };
            let whole = match read {
                Read::Header([kind, l0, l1, l2, l3]) => {
                    let len = u32::from_be_bytes([l0, l1, l2, l3]);
                    if !(4..MAX_MESSAGE).contains(&len) || !kind.is_ascii_alphanumeric() {
                        stats.pgsql_parse_errors += 1;
                        *super::side(&mut self.resync, d) = true;
                        return;
                    }
                    *super::side(&mut self.kind, d) = kind;
                    super::side(&mut self.kept, d).clear();
                    super::side(&mut self.typed, d).begin(len - 4)
                }
                Read::Payload { bytes, last, .. } => {
                    // Only the messages read for their content are kept (not DataRows).
                    if reads_body(d, *super::side(&mut self.kind, d)) {
                        keep(super::side(&mut self.kept, d), bytes);
                    }
                    last
                }
            };
            if whole {
                let kind = *super::side(&mut self.kind, d);
                let body = std::mem::take(super::side(&mut self.kept, d));
                let start = super::side(&mut self.typed, d).start();
                if d == 0 {
                    self.client_message(kind, &body, start, meta.ts_ns, out, stats);
                } else {
                    self.server_message(kind, &body, start, meta.ts_ns, out, stats);
                }
                *super::side(&mut self.kept, d) = body;
            }
        }
    }

    fn on_gap(&mut self, dir: Direction, len: u32, stats: &mut Counters) {
        let d = dir.index();
        if super::side(&mut self.typed, d).skip_inside(len) {
            if let Some(p) = self.pending.front_mut() {
                p.gap = true;
            }
            return;
        }
        stats.pgsql_resyncs += 1;
        *super::side(&mut self.resync, d) = true;
        if d == 0 && self.client == Client::Startup {
            self.client = Client::Typed;
        }
        for p in self.pending.iter_mut() {
            p.gap = true;
        }
    }

    fn successor(
        &mut self,
        dir: Direction,
        data: &[u8],
        meta: SegmentMeta,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) -> Option<super::AppParser> {
        let at = self.tls_at.take()?;
        // Inside TLS the client starts again with its StartupMessage.
        let plaintext = super::AppParser::Pgsql(Box::new(PgsqlParser::new(true)));
        Some(super::tls::after_upgrade(
            dir, data, at, meta, plaintext, out, stats,
        ))
    }

    fn on_close(&mut self, out: &mut Vec<Exchange>, stats: &mut Counters) {
        while let Some(p) = self.pending.pop_front() {
            if p.until == Until::ReadyQuietly {
                continue;
            }
            stats.pgsql_requests_unanswered += 1;
            let why = if p.resp_seq.is_some() {
                Incomplete::Gap
            } else {
                Incomplete::NoResponse
            };
            out.push(finish(p, None, Some(why)));
        }
    }
}

/// Whether a message's payload is read: the client's Query, Parse and Bind; the server's
/// ErrorResponse and CommandComplete.
fn reads_body(d: usize, kind: u8) -> bool {
    if d == 0 {
        matches!(kind, b'Q' | b'P' | b'B')
    } else {
        matches!(kind, b'E' | b'C')
    }
}

fn keep(kept: &mut Vec<u8>, bytes: &[u8]) {
    let room = KEEP.saturating_sub(kept.len()).min(bytes.len());
    kept.extend_from_slice(bytes.get(..room).unwrap_or(&[]));
}

impl PgsqlExchange {
    /// Adds the PostgreSQL attributes; gives the span name and error status.
    pub fn describe(self, attrs: &mut Vec<Attribute>) -> Description {
        let m = self;
        let name = if m.sql.is_some() && !m.operation.is_empty() {
            m.operation.clone()
        } else {
            m.command.to_owned()
        };
        let error = m.sqlstate.as_ref().map(|code| {
            Some(
                m.error_message
                    .clone()
                    .unwrap_or_else(|| format!("SQLSTATE {code}")),
            )
        });
        attrs.push(str_attr("network.protocol.name", "postgresql"));
        attrs.push(str_attr("db.system", "postgresql"));
        attrs.push(str_attr("db.operation.name", m.operation));
        attrs.push(str_attr("wirespan.pgsql.command", m.command));
        if let Some(sql) = m.sql {
            attrs.push(str_attr("db.query.text", sql));
        }
        if let Some(db) = m.database {
            attrs.push(str_attr("db.namespace", db));
        }
        if let Some(user) = m.user {
            attrs.push(str_attr("db.user", user));
        }
        if let Some(code) = m.sqlstate {
            attrs.push(str_attr("db.response.status_code", code));
        }
        if let Some(rows) = m.rows {
            attrs.push(int_attr("db.response.returned_rows", rows as i64));
        }
        if let Some(rows) = m.affected_rows {
            attrs.push(int_attr("wirespan.pgsql.affected_rows", rows as i64));
        }
        if let Some(name) = m.statement {
            attrs.push(str_attr("wirespan.pgsql.statement", name));
        }
        Description { name, error }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend((body.len() as u32 + 4).to_be_bytes());
        m.extend(body);
        m
    }

    fn meta(seq: u32) -> SegmentMeta {
        SegmentMeta {
            ts_ns: 10,
            seq,
            ack: 0,
        }
    }

    /// A capture that begins mid-connection: the probe finds the Query, the parser reads it
    /// and its answer, whatever the split of the bytes.
    #[test]
    fn joined_mid_connection_a_query_and_its_answer_in_any_split() {
        let query = message(b'Q', b"select name from items\0");
        let mut answer = message(b'T', &[0, 1]);
        answer.extend(message(b'D', &[0, 1, 0, 0, 0, 3, b'm', b'u', b'g']));
        answer.extend(message(b'D', &[0, 1, 0, 0, 0, 3, b'c', b'u', b'p']));
        answer.extend(message(b'C', b"SELECT 2\0"));
        answer.extend(message(b'Z', b"I"));
        assert_eq!(
            (PROTOCOL.probe)(&query),
            Some((START_TYPED, Some(Role::Client)))
        );
        for split in 0..query.len() {
            let mut p = PgsqlParser::new(false);
            let (mut out, mut stats) = (Vec::new(), Counters::default());
            p.on_data(
                Direction::ToServer,
                &query[..split],
                meta(100),
                &mut out,
                &mut stats,
            );
            p.on_data(
                Direction::ToServer,
                &query[split..],
                meta(100 + split as u32),
                &mut out,
                &mut stats,
            );
            p.on_data(Direction::ToClient, &answer, meta(7), &mut out, &mut stats);
            assert_eq!(out.len(), 1, "split {split}");
            assert_eq!(out[0].req_seq, Some(100));
            let ExchangeDetail::Pgsql(e) = &out[0].detail else {
                panic!("not PostgreSQL");
            };
            assert_eq!(e.sql.as_deref(), Some("select name from items"));
            assert_eq!(e.rows, Some(2));
        }
    }

    /// SQL longer than what is kept: the kept part is the query text, and the cut is counted.
    #[test]
    fn a_long_query_is_cut_and_counted() {
        let mut sql = b"select ".to_vec();
        sql.extend(std::iter::repeat_n(b'x', 2 * KEEP));
        sql.push(0);
        let mut p = PgsqlParser::new(false);
        let (mut out, mut stats) = (Vec::new(), Counters::default());
        p.on_data(
            Direction::ToServer,
            &message(b'Q', &sql),
            meta(0),
            &mut out,
            &mut stats,
        );
        p.on_data(
            Direction::ToClient,
            &message(b'Z', b"I"),
            meta(0),
            &mut out,
            &mut stats,
        );
        let ExchangeDetail::Pgsql(e) = &out[0].detail else {
            panic!("not PostgreSQL");
        };
        assert_eq!(e.sql.as_ref().map(String::len), Some(KEEP));
        assert_eq!(e.operation, "SELECT");
        assert_eq!(stats.pgsql_sql_truncated, 1);
    }

    /// Named statements beyond the bound are not remembered, counted; an Execute of one of
    /// them has no SQL rather than another statement's.
    #[test]
    fn named_statements_are_bounded_and_counted() {
        let mut p = PgsqlParser::new(false);
        let (mut out, mut stats) = (Vec::new(), Counters::default());
        let mut client = Vec::new();
        for i in 0..=MAX_STATEMENTS {
            let body = format!("s{i}\0select {i}\0\0\0");
            client.extend(message(b'P', body.as_bytes()));
        }
        let last = format!("\0s{MAX_STATEMENTS}\0\0\0\0\0\0\0");
        client.extend(message(b'B', last.as_bytes()));
        client.extend(message(b'E', b"\0\0\0\0\0"));
        client.extend(message(b'S', b""));
        p.on_data(Direction::ToServer, &client, meta(0), &mut out, &mut stats);
        assert_eq!(stats.pgsql_statements_dropped, 1);
        let mut server = message(b'C', b"SELECT 1\0");
        server.extend(message(b'Z', b"I"));
        p.on_data(Direction::ToClient, &server, meta(0), &mut out, &mut stats);
        let ExchangeDetail::Pgsql(e) = &out[0].detail else {
            panic!("not PostgreSQL");
        };
        assert_eq!(e.statement.as_deref(), Some(&*format!("s{MAX_STATEMENTS}")));
        assert_eq!(e.sql, None);
    }

    #[test]
    fn probes_take_postgresql_and_nothing_else() {
        let mut body = PROTOCOL_3.to_be_bytes().to_vec();
        body.extend(b"user\0alice\0database\0shop\0\0");
        let mut fixed = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        fixed.extend(body);
        assert_eq!(
            (PROTOCOL.probe)(&fixed),
            Some((START_STARTUP, Some(Role::Client)))
        );
        // Without the empty name that ends the parameters, not a StartupMessage.
        let cut = fixed.len() - 1;
        let mut unterminated = fixed[..cut].to_vec();
        unterminated[..4].copy_from_slice(&(cut as u32).to_be_bytes());
        assert_eq!((PROTOCOL.probe)(&unterminated), None);
        let ssl = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
        assert_eq!(
            (PROTOCOL.probe)(&ssl),
            Some((START_STARTUP, Some(Role::Client)))
        );
        assert_eq!(
            (PROTOCOL.probe)(&message(b'Z', b"I")),
            Some((START_TYPED, Some(Role::Server)))
        );
        // A MySQL greeting whose length byte is 'R' or 'Z', an HTTP request, binary noise.
        let mut greeting = vec![b'R', 0, 0, 0, 0x0a];
        greeting.extend(b"10.11.6-MariaDB\0");
        assert_eq!((PROTOCOL.probe)(&greeting), None);
        assert_eq!((PROTOCOL.probe)(b"GET / HTTP/1.1\r\n\r\n"), None);
        assert_eq!((PROTOCOL.probe)(&message(b'Q', &[0xff, 0xfe, 0])), None);
    }
}

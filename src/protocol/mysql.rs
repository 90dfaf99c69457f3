//! The MySQL client/server protocol (MySQL and MariaDB).
//!
//! Takes both directions of a connection; gives one [`Exchange`] per command: COM_QUERY,
//! COM_INIT_DB, COM_PING, COM_QUIT, COM_STMT_PREPARE/EXECUTE/CLOSE/RESET and the rest, each
//! paired with its response (OK, ERR, EOF, a text or binary result set with its row count).
//! The handshake gives the server version, user, database and capabilities; prepared
//! statements are remembered per connection so an EXECUTE carries its SQL. Packets are read as
//! they arrive and only their first bytes are kept; rows are counted, not stored. Connections
//! that switch to TLS or compression are recognised, counted and left alone.

// Every byte here comes off the wire: no index may panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::frame::{FrameReader, Read};
use super::trace_context::TraceHeaders;
use super::{
    AppParser, ConnectionParser, Description, Direction, Exchange, ExchangeDetail, Incomplete,
    Protocol, Role, SegmentMeta, TraceContext,
};
use crate::attribute::{int_attr, str_attr, Attribute};
use crate::stats::Counters;
use hashbrown::HashMap;

/// Bytes of a packet kept for parsing; SQL text longer than this is cut (and marked).
const KEEP: usize = 64 * 1024;
/// Prepared statements remembered per connection.
const MAX_STATEMENTS: usize = 1024;
/// A payload of this length continues in the next packet (MySQL splits at 16 MiB - 1).
const MAX_PAYLOAD: u32 = 0xff_ffff;

const CLIENT_CONNECT_WITH_DB: u32 = 0x0000_0008;
const CLIENT_COMPRESS: u32 = 0x0000_0020;
const CLIENT_PROTOCOL_41: u32 = 0x0000_0200;
const CLIENT_SSL: u32 = 0x0000_0800;
const CLIENT_SECURE_CONNECTION: u32 = 0x0000_8000;
const CLIENT_PLUGIN_AUTH_LENENC: u32 = 0x0020_0000;
const CLIENT_DEPRECATE_EOF: u32 = 0x0100_0000;
const CLIENT_QUERY_ATTRIBUTES: u32 = 0x0800_0000;
const SERVER_MORE_RESULTS_EXISTS: u16 = 0x0008;

/// What a MySQL command did, for its span.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MysqlExchange {
    /// `COM_QUERY`, `COM_STMT_EXECUTE`, …; `CONNECT` for the login.
    pub command: &'static str,
    /// The SQL (for COM_STMT_EXECUTE, the prepared statement's).
    pub sql: Option<String>,
    pub statement_id: Option<u32>,
    /// SQL keyword (`SELECT`, …) for queries and for preparing or executing a statement whose
    /// SQL is known; the command name otherwise.
    pub operation: String,
    pub database: Option<String>,
    pub user: Option<String>,
    pub server_version: Option<String>,
    /// MySQL error number; 0 for OK; `None` for commands without a response.
    pub error_code: Option<u16>,
    pub error_message: Option<String>,
    pub returned_rows: Option<u64>,
    pub affected_rows: Option<u64>,
    /// The table a COM_FIELD_LIST lists.
    pub table: Option<String>,
}

/// The first SQL keyword, upper-cased, after whitespace and comments.
pub fn sql_operation(sql: &str) -> String {
    let mut s = sql;
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix("/*") {
            s = rest.split_once("*/").map_or("", |(_, after)| after);
        } else if s.starts_with("--") || s.starts_with('#') {
            s = s.split_once('\n').map_or("", |(_, after)| after);
        } else {
            break;
        }
    }
    let s = s.trim_start_matches('(');
    s.split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("")
        .to_ascii_uppercase()
}

fn command_name(c: u8) -> &'static str {
    match c {
        0x01 => "COM_QUIT",
        0x02 => "COM_INIT_DB",
        0x03 => "COM_QUERY",
        0x04 => "COM_FIELD_LIST",
        0x05 => "COM_CREATE_DB",
        0x06 => "COM_DROP_DB",
        0x08 => "COM_SHUTDOWN",
        0x09 => "COM_STATISTICS",
        0x0d => "COM_DEBUG",
        0x0e => "COM_PING",
        0x11 => "COM_CHANGE_USER",
        0x16 => "COM_STMT_PREPARE",
        0x17 => "COM_STMT_EXECUTE",
        0x18 => "COM_STMT_SEND_LONG_DATA",
        0x19 => "COM_STMT_CLOSE",
        0x1a => "COM_STMT_RESET",
        0x1b => "COM_SET_OPTION",
        0x1c => "COM_STMT_FETCH",
        0x1f => "COM_RESET_CONNECTION",
        _ => "COM_UNKNOWN",
    }
}

/// Commands the server never answers.
fn has_response(c: u8) -> bool {
    !matches!(c, 0x01 | 0x18 | 0x19)
}

/// Could `data` start a client command packet (length, sequence 0, a known command)?
pub fn looks_like_command(data: &[u8]) -> bool {
    let (Some(len), Some(&seq), Some(&cmd)) = (packet_len(data), data.get(3), data.get(4)) else {
        return false;
    };
    if seq != 0 || len == 0 || len as usize + 4 != data.len() {
        return false;
    }
    match cmd {
        0x01 | 0x0e | 0x1f => len == 1,
        0x19 | 0x1a => len == 5,
        0x02 | 0x03 | 0x16 => data
            .get(5..)
            .unwrap_or(&[])
            .iter()
            .take(32)
            .all(|&b| b >= 0x20 || b.is_ascii_whitespace()),
        0x17 => len >= 10,
        _ => false,
    }
}

/// Could `data` start a compressed-protocol packet (3-byte compressed length, sequence,
/// 3-byte uncompressed length, then a raw packet or a zlib stream)?
pub fn looks_like_compressed(data: &[u8]) -> bool {
    let (Some(clen), Some(ulen)) = (packet_len(data), data.get(4..7)) else {
        return false;
    };
    let &[u0, u1, u2] = ulen else {
        return false;
    };
    let ulen = u32::from_le_bytes([u0, u1, u2, 0]);
    let body = data.get(7..).unwrap_or(&[]);
    if clen as usize != body.len() || clen == 0 {
        return false;
    }
    if ulen == 0 {
        // Sent uncompressed: the body is an ordinary packet.
        return packet_len(body).is_some_and(|n| n as usize + 4 == body.len());
    }
    // zlib header: deflate with a valid check value.
    matches!(body, [0x78, b1, ..] if (0x7800u16 | u16::from(*b1)) % 31 == 0)
}

/// Could `data` be a server greeting (protocol 10, a printable version, NUL)?
pub fn looks_like_greeting(data: &[u8]) -> bool {
    let (Some(len), Some(&seq), Some(&proto)) = (packet_len(data), data.get(3), data.get(4)) else {
        return false;
    };
    // The server sends its greeting alone, before the client says anything: one whole packet.
    if seq != 0 || proto != 0x0a || !(20..=1024).contains(&len) || len as usize + 4 != data.len() {
        return false;
    }
    let version = data.get(5..).unwrap_or(&[]);
    match version.iter().position(|&b| b == 0) {
        Some(n) => n > 0 && version.iter().take(n).all(|b| b.is_ascii_graphic()),
        None => false,
    }
}

fn packet_len(data: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes([
        *data.first()?,
        *data.get(1)?,
        *data.get(2)?,
        0,
    ]))
}

/// A length-encoded integer at `*pos`.
fn le16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2)?.try_into().ok().map(u16::from_le_bytes)
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)?.try_into().ok().map(u32::from_le_bytes)
}

fn lenenc(b: &[u8], pos: &mut usize) -> Option<u64> {
    let first = *b.get(*pos)?;
    *pos += 1;
    let n = match first {
        0..=0xfa => return Some(u64::from(first)),
        0xfc => 2,
        0xfd => 3,
        0xfe => 8,
        _ => return None,
    };
    let bytes = b.get(*pos..*pos + n)?;
    *pos += n;
    let mut v = [0u8; 8];
    v.iter_mut().zip(bytes).for_each(|(slot, &b)| *slot = b);
    Some(u64::from_le_bytes(v))
}

fn nul_str(b: &[u8], pos: &mut usize) -> Option<String> {
    let rest = b.get(*pos..)?;
    let n = rest.iter().position(|&c| c == 0)?;
    *pos += n + 1;
    Some(String::from_utf8_lossy(rest.get(..n)?).into_owned())
}

/// One direction's packet reader: a 4-byte header (length, sequence id), then the first
/// `KEEP` bytes of the payload.
#[derive(Default)]
struct PacketReader {
    frames: FrameReader<4>,
    /// Payload length and sequence id of the packet being read (or just read).
    len: u32,
    seq: u8,
    /// A packet was just read whole and waits to be taken.
    whole: bool,
    kept: Vec<u8>,
    /// After a hole: wait for a segment that starts a packet.
    resync: bool,
}

/// A complete packet (or its first `KEEP` bytes) with where it started.
struct Packet {
    len: u32,
    seq: u8,
    start: (u64, u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the server greeting, or joined mid-connection.
    Start,
    /// Greeting seen; the client's handshake response (or SSL request) comes next.
    Greeted,
    /// Authentication exchange until OK or ERR.
    Auth,
    Commands,
    /// TLS or compression: the rest is not readable as plain packets.
    Opaque,
}

/// What the server's packets answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The first response packet.
    First,
    /// Column definitions (then EOF unless deprecated), then rows.
    Columns {
        left: u64,
    },
    ColumnsEof,
    Rows,
    /// Prepare OK: parameter and column definitions to skip.
    PrepareDefs {
        left: u64,
        eofs: u8,
    },
    /// COM_FIELD_LIST: column definitions until EOF (or ERR).
    FieldList,
    /// COM_CHANGE_USER: an auth switch request or more auth data may come first (the
    /// client's answers are not commands); the server's OK or ERR ends it.
    Auth,
}

struct Command {
    code: u8,
    exchange: MysqlExchange,
    /// Trace context the command carried (a `traceparent` query attribute).
    trace: TraceContext,
    start: (u64, u32),
    resp_seq: Option<u32>,
    expect: Expect,
    rows: u64,
    /// The previous packet filled a whole 16 MiB payload: this one continues it.
    continued: bool,
    last_ns: u64,
    gap: bool,
}

/// Both directions of one MySQL connection.
pub struct MysqlParser {
    readers: [PacketReader; 2],
    phase: Phase,
    capabilities: u32,
    server_caps: u32,
    user: Option<String>,
    database: Option<String>,
    server_version: Option<String>,
    statements: HashMap<u32, String>,
    /// The PREPARE waiting for its statement id.
    preparing: Option<String>,
    current: Option<Command>,
    /// A command continues into the next client packet (16 MiB split).
    command_continues: bool,
    /// Joined a compressed connection: count it once, parse nothing.
    compressed_unseen: bool,
    /// Where the client's handshake response started: a failed login's request.
    login_start: Option<(u64, u32)>,
    login_resp: Option<u32>,
    /// Chosen by a greeting that the handshake then showed was not MySQL's.
    not_mysql: bool,
    /// The client's SSLRequest ended here in the data just read: TLS from there on.
    tls_at: Option<usize>,
    /// Reading the plaintext inside TLS: the handshake response is packet 2 (the SSLRequest
    /// was 1).
    inside_tls: bool,
}

impl MysqlParser {
    pub fn new(from_greeting: bool) -> MysqlParser {
        MysqlParser {
            readers: [PacketReader::default(), PacketReader::default()],
            phase: if from_greeting {
                Phase::Start
            } else {
                Phase::Commands
            },
            capabilities: CLIENT_PROTOCOL_41,
            server_caps: 0,
            user: None,
            database: None,
            server_version: None,
            statements: HashMap::new(),
            preparing: None,
            current: None,
            command_continues: false,
            compressed_unseen: false,
            login_start: None,
            not_mysql: false,
            login_resp: None,
            tls_at: None,
            inside_tls: false,
        }
    }

    /// A parser for a connection recognised as using the compressed protocol mid-way.
    pub fn compressed() -> MysqlParser {
        let mut p = MysqlParser::new(false);
        p.phase = Phase::Opaque;
        p.compressed_unseen = true;
        p
    }

    fn deprecate_eof(&self) -> bool {
        self.capabilities & CLIENT_DEPRECATE_EOF != 0
    }
}

/// MySQL/MariaDB: a server greeting (the connection's start), a client command (joined
/// mid-connection) or a compressed packet.
pub const PROTOCOL: Protocol = Protocol {
    name: "mysql",
    probe: |data| {
        if looks_like_greeting(data) {
            Some((START_GREETING, Some(Role::Server)))
        } else if looks_like_command(data) {
            Some((START_COMMAND, Some(Role::Client)))
        } else if looks_like_compressed(data) {
            Some((START_COMPRESSED, None))
        } else {
            None
        }
    },
    start: |how, _| {
        AppParser::Mysql(Box::new(if how & START_COMPRESSED != 0 {
            MysqlParser::compressed()
        } else {
            MysqlParser::new(how & START_GREETING != 0)
        }))
    },
    exchanges: |c| c.mysql_exchanges,
};
/// How a MySQL parser starts (bits, as the `mysql` fuzz target's flags byte gives them).
const START_COMMAND: u8 = 0;
const START_GREETING: u8 = 1;
const START_COMPRESSED: u8 = 2;

impl ConnectionParser for MysqlParser {
    #[inline]
    fn on_data(
        &mut self,
        dir: Direction,
        data: &[u8],
        meta: SegmentMeta,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        if self.phase == Phase::Opaque {
            if std::mem::take(&mut self.compressed_unseen) {
                stats.mysql_compressed_connections += 1;
            }
            return;
        }
        let d = dir.index();
        if super::side(&mut self.readers, d).resync {
            let starts = if d == 0 {
                looks_like_command(data)
            } else {
                self.current.is_some()
            };
            if !starts {
                return;
            }
            let r = super::side(&mut self.readers, d);
            r.resync = false;
            r.frames.reset();
        }
        if d == 0 && self.readers[1].frames.current().is_some() && looks_like_command(data) {
            // The client has moved on while the server's last packet claimed more bytes than
            // came: that length lied (or its bytes were lost). Start the server side afresh.
            stats.mysql_length_mismatch += 1;
            self.readers[1] = PacketReader::default();
        }
        let mut rest = data;
        let mut seq = meta.seq;
        loop {
            let r = super::side(&mut self.readers, d);
            let Some(read) = r.frames.read(&mut rest, meta.ts_ns, &mut seq) else {
                break;
            };
            let whole = match read {
                Read::Header(h) => {
                    r.len = u32::from_le_bytes([h[0], h[1], h[2], 0]);
                    r.seq = h[3];
                    r.kept.clear();
                    r.frames.begin(r.len)
                }
                Read::Payload { bytes, last, .. } => {
                    let room = KEEP.saturating_sub(r.kept.len()).min(bytes.len());
                    r.kept.extend_from_slice(bytes.get(..room).unwrap_or(&[]));
                    last
                }
            };
            if whole {
                r.whole = true;
                self.packet_done(d, meta.ts_ns, out, stats);
                if self.phase == Phase::Opaque && self.tls_at == Some(usize::MAX) {
                    self.tls_at = Some(data.len() - rest.len());
                    return;
                }
            }
        }
        if let Some(c) = &mut self.current {
            c.last_ns = meta.ts_ns;
        }
    }

    fn on_gap(&mut self, dir: Direction, len: u32, stats: &mut Counters) {
        let d = dir.index();
        let r = super::side(&mut self.readers, d);
        if r.frames.skip_inside(len) {
            // Inside one packet: only its unkept tail (or a row) is lost.
            if let Some(c) = &mut self.current {
                c.gap = true;
            }
            return;
        }
        stats.mysql_resyncs += 1;
        *r = PacketReader {
            resync: true,
            ..Default::default()
        };
        if let Some(c) = &mut self.current {
            c.gap = true;
        }
    }

    fn on_close(&mut self, out: &mut Vec<Exchange>, stats: &mut Counters) {
        if let Some(c) = self.current.take() {
            let incomplete = if c.resp_seq.is_none() {
                Incomplete::NoResponse
            } else {
                Incomplete::Gap
            };
            stats.mysql_commands_unanswered += u64::from(c.resp_seq.is_none());
            let end = c.last_ns;
            out.push(self.exchange(c, end, Some(incomplete)));
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
        // Inside TLS the client's handshake response comes next, as after a greeting.
        let plaintext = MysqlParser {
            phase: Phase::Greeted,
            server_caps: self.server_caps,
            server_version: self.server_version.take(),
            inside_tls: true,
            ..MysqlParser::new(false)
        };
        let plaintext = super::AppParser::Mysql(Box::new(plaintext));
        Some(super::tls::after_upgrade(
            dir, data, at, meta, plaintext, out, stats,
        ))
    }

    /// Whether the connection turned out not to be MySQL (see [`AppParser::gave_up`]).
    fn gave_up(&self) -> bool {
        self.not_mysql
    }
}

impl MysqlParser {
    fn take_packet(&mut self, d: usize) -> Option<(Packet, Vec<u8>)> {
        let r = super::side(&mut self.readers, d);
        if !std::mem::take(&mut r.whole) {
            return None;
        }
        let kept = std::mem::take(&mut r.kept);
        Some((
            Packet {
                len: r.len,
                seq: r.seq,
                start: r.frames.start(),
            },
            kept,
        ))
    }

    fn packet_done(&mut self, d: usize, ts: u64, out: &mut Vec<Exchange>, stats: &mut Counters) {
        let Some((p, body)) = self.take_packet(d) else {
            return;
        };
        if self.not_mysql {
            return;
        }
        stats.mysql_packets += 1;
        match (d, self.phase) {
            (1, Phase::Start) => self.greeting(&body, stats),
            (0, Phase::Greeted) => self.handshake_response(&p, &body, stats),
            (1, Phase::Auth) => self.auth_reply(&p, &body, ts, out, stats),
            (0, Phase::Auth) => {}
            (0, Phase::Commands | Phase::Start) => self.command(&p, &body, ts, out, stats),
            (1, Phase::Commands) => self.response(&p, &body, ts, out, stats),
            _ => {}
        }
        super::side(&mut self.readers, d).kept = body;
        super::side(&mut self.readers, d).kept.clear();
    }

    fn greeting(&mut self, b: &[u8], stats: &mut Counters) {
        let mut pos = 1;
        if b.first() != Some(&0x0a) {
            stats.mysql_parse_errors += 1;
            self.phase = Phase::Commands;
            return;
        }
        self.server_version = nul_str(b, &mut pos);
        pos += 4 + 8 + 1;
        let low = le16(b, pos).unwrap_or(0);
        pos += 2 + 1 + 2;
        let high = le16(b, pos).unwrap_or(0);
        self.server_caps = u32::from(low) | u32::from(high) << 16;
        self.phase = Phase::Greeted;
    }

    fn handshake_response(&mut self, p: &Packet, b: &[u8], stats: &mut Counters) {
        // After a greeting the client answers with packet 1: a handshake response of the 4.1
        // protocol (every client since MySQL 4.1) of at least 32 bytes, or a 32-byte SSL
        // request. Anything else means the "greeting" was some other protocol's bytes.
        let Some(caps) = le32(b, 0).filter(|&c| {
            let seq = if self.inside_tls { 2 } else { 1 };
            p.seq == seq && p.len >= 32 && c & CLIENT_PROTOCOL_41 != 0
        }) else {
            stats.mysql_parse_errors += 1;
            self.not_mysql = true;
            return;
        };
        let caps = caps
            & if self.server_caps != 0 {
                self.server_caps
            } else {
                u32::MAX
            };
        self.capabilities = caps;
        if caps & CLIENT_SSL != 0 && p.len <= 32 {
            // SSLRequest: the rest of the connection is TLS, read by its own parser.
            stats.mysql_tls_connections += 1;
            self.phase = Phase::Opaque;
            self.tls_at = Some(usize::MAX);
            return;
        }
        self.login_start = Some(p.start);
        let mut pos = 32;
        self.user = nul_str(b, &mut pos);
        if caps & CLIENT_PLUGIN_AUTH_LENENC != 0 {
            let n = lenenc(b, &mut pos).unwrap_or(0) as usize;
            pos = pos.saturating_add(n);
        } else if caps & CLIENT_SECURE_CONNECTION != 0 {
            pos += 1 + usize::from(b.get(pos).copied().unwrap_or(0));
        } else {
            let _ = nul_str(b, &mut pos);
        }
        if caps & CLIENT_CONNECT_WITH_DB != 0 {
            self.database = nul_str(b, &mut pos).filter(|s| !s.is_empty());
        }
        self.phase = Phase::Auth;
    }

    fn auth_reply(
        &mut self,
        p: &Packet,
        b: &[u8],
        ts: u64,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        // The login's response starts with the first server packet after the handshake
        // response (an auth switch, more auth data, or the final OK/ERR).
        self.login_resp.get_or_insert(p.start.1);
        let mut ex = self.base_exchange("CONNECT");
        match b.first() {
            Some(0x00) => {
                ex.error_code = Some(0);
                if self.capabilities & CLIENT_COMPRESS != 0 {
                    stats.mysql_compressed_connections += 1;
                    self.phase = Phase::Opaque;
                } else {
                    self.phase = Phase::Commands;
                }
            }
            Some(0xff) => {
                ex.failed(b);
                self.phase = Phase::Opaque;
            }
            // Auth switch or more data: the login goes on.
            _ => return,
        }
        // The login is the connection's first exchange: who connected to which database, how
        // long authentication took, and whether it failed.
        stats.mysql_exchanges += 1;
        let (start_ns, req_seq) = match self.login_start {
            Some((ts, seq)) => (ts, Some(seq)),
            None => (p.start.0, None),
        };
        out.push(Exchange {
            start_ns,
            end_ns: ts,
            req_seq,
            resp_seq: self.login_resp,
            trace: TraceContext::default(),
            incomplete: None,
            detail: ExchangeDetail::Mysql(Box::new(ex)),
        });
    }

    fn base_exchange(&self, command: &'static str) -> MysqlExchange {
        MysqlExchange {
            command,
            operation: command.to_owned(),
            database: self.database.clone(),
            user: self.user.clone(),
            server_version: self.server_version.clone(),
            ..Default::default()
        }
    }

    fn command(
        &mut self,
        p: &Packet,
        b: &[u8],
        ts: u64,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        if self.phase == Phase::Start {
            self.phase = Phase::Commands;
        }
        if std::mem::take(&mut self.command_continues) {
            self.command_continues = p.len == MAX_PAYLOAD;
            return;
        }
        self.command_continues = p.len == MAX_PAYLOAD;
        if p.seq != 0 {
            // Not a command (e.g. LOCAL INFILE data): the current command goes on.
            return;
        }
        if let Some(prev) = self.current.take() {
            // A new command before the last one was answered: the answer was lost.
            stats.mysql_commands_unanswered += 1;
            let end = prev.last_ns;
            out.push(self.exchange(prev, end, Some(Incomplete::Gap)));
        }
        let Some(&code) = b.first() else { return };
        let mut ex = self.base_exchange(command_name(code));
        let text = || String::from_utf8_lossy(b.get(1..).unwrap_or(&[])).into_owned();
        let mut trace = TraceContext::default();
        let mut expect = Expect::First;
        match code {
            0x03 => {
                let (sql, context) = query_text(b, self.capabilities, stats);
                trace = context;
                if (b.len() as u32) < p.len {
                    stats.mysql_sql_truncated += 1;
                }
                ex.operation = sql_operation(&sql);
                if ex.operation == "USE" {
                    if let Some(db) = sql.split_whitespace().nth(1) {
                        ex.database = Some(db.trim_matches(|ch| ch == '`' || ch == ';').to_owned());
                    }
                }
                ex.sql = Some(sql);
            }
            0x16 => {
                let sql = text();
                self.preparing = Some(sql.clone());
                ex.operation = sql_operation(&sql);
                ex.sql = Some(sql);
            }
            // The schema to switch to is not SQL: it goes to db.namespace, not the query text.
            0x02 => ex.database = Some(text()),
            0x04 => {
                let mut pos = 1;
                ex.table = nul_str(b, &mut pos).or_else(|| Some(text()));
                expect = Expect::FieldList;
            }
            0x11 => {
                expect = Expect::Auth;
                // User, auth response, schema: the ones the connection has once the server
                // says OK.
                let mut pos = 1;
                ex.user = nul_str(b, &mut pos);
                if self.capabilities & CLIENT_SECURE_CONNECTION != 0 {
                    pos += 1 + usize::from(b.get(pos).copied().unwrap_or(0));
                } else {
                    let _ = nul_str(b, &mut pos);
                }
                ex.database = nul_str(b, &mut pos).filter(|s| !s.is_empty());
            }
            0x17 | 0x19 | 0x1a | 0x18 | 0x1c => {
                let id = le32(b, 1);
                ex.statement_id = id;
                ex.sql = id.and_then(|id| self.statements.get(&id).cloned());
                if code == 0x17 {
                    if let Some(sql) = &ex.sql {
                        ex.operation = sql_operation(sql);
                    }
                }
                if code == 0x19 {
                    if let Some(id) = id {
                        self.statements.remove(&id);
                    }
                }
            }
            _ => {}
        }
        let cmd = Command {
            code,
            exchange: ex,
            trace,
            start: p.start,
            resp_seq: None,
            expect,
            rows: 0,
            continued: false,
            last_ns: ts,
            gap: false,
        };
        if has_response(code) {
            self.current = Some(cmd);
        } else {
            stats.mysql_exchanges += 1;
            out.push(self.exchange(cmd, ts, None));
        }
    }

    fn response(
        &mut self,
        p: &Packet,
        b: &[u8],
        ts: u64,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        let deprecate_eof = self.deprecate_eof();
        let Some(c) = self.current.as_mut() else {
            stats.mysql_responses_without_command += 1;
            return;
        };
        c.last_ns = ts;
        if std::mem::take(&mut c.continued) {
            c.continued = p.len == MAX_PAYLOAD;
            return;
        }
        c.continued = p.len == MAX_PAYLOAD;
        if c.resp_seq.is_none() {
            c.resp_seq = Some(p.start.1);
        }
        let first = b.first().copied();
        let is_eof = first == Some(0xfe) && p.len < 9;
        let is_ok_or_eof_end = first == Some(0xfe) && p.len < 0xff_ffff;
        match c.expect {
            Expect::First => match first {
                Some(0x00) if c.code == 0x16 => {
                    // Prepare OK: statement id, columns, parameters.
                    let id = le32(b, 1);
                    let columns = le16(b, 5).unwrap_or(0);
                    let params = le16(b, 7).unwrap_or(0);
                    if let (Some(id), Some(sql)) = (id, self.preparing.take()) {
                        if self.statements.len() < MAX_STATEMENTS {
                            self.statements.insert(id, sql);
                        } else {
                            stats.mysql_statements_dropped += 1;
                        }
                    }
                    c.exchange.statement_id = id;
                    c.exchange.error_code = Some(0);
                    let eofs = if deprecate_eof {
                        0
                    } else {
                        u8::from(columns > 0) + u8::from(params > 0)
                    };
                    let left = u64::from(columns) + u64::from(params);
                    if left + u64::from(eofs) == 0 {
                        self.done(ts, out, stats);
                    } else {
                        c.expect = Expect::PrepareDefs { left, eofs };
                    }
                }
                Some(0x00) => {
                    let mut pos = 1;
                    c.exchange.affected_rows = lenenc(b, &mut pos);
                    c.exchange.error_code = Some(0);
                    let _ = lenenc(b, &mut pos);
                    let status = le16(b, pos).unwrap_or(0);
                    // `USE db` and COM_INIT_DB carry their target as the exchange's namespace.
                    if c.code == 0x02 || (c.code == 0x03 && c.exchange.operation == "USE") {
                        self.database = c.exchange.database.clone();
                    }
                    if status & SERVER_MORE_RESULTS_EXISTS == 0 {
                        self.done(ts, out, stats);
                    }
                }
                Some(0xff) => {
                    c.exchange.failed(b);
                    self.done(ts, out, stats);
                }
                Some(0xfe) if is_eof => {
                    c.exchange.error_code = Some(0);
                    self.done(ts, out, stats);
                }
                Some(0xfb) => {
                    // LOCAL INFILE request: the client sends the file, then the server answers.
                }
                _ => {
                    let mut pos = 0;
                    match lenenc(b, &mut pos) {
                        Some(n) if n > 0 && n < 4096 => {
                            c.expect = Expect::Columns { left: n };
                            c.exchange.error_code = Some(0);
                        }
                        _ => {
                            stats.mysql_parse_errors += 1;
                            self.done(ts, out, stats);
                        }
                    }
                }
            },
            Expect::Columns { left } => {
                let left = left - 1;
                c.expect = if left > 0 {
                    Expect::Columns { left }
                } else if deprecate_eof {
                    Expect::Rows
                } else {
                    Expect::ColumnsEof
                };
            }
            Expect::ColumnsEof => c.expect = Expect::Rows,
            Expect::Rows => match first {
                Some(0xff) => {
                    c.exchange.failed(b);
                    self.done(ts, out, stats);
                }
                Some(0xfe) if is_ok_or_eof_end && (is_eof || deprecate_eof) => {
                    // EOF (or OK with the 0xfe header): status flags say whether more follow.
                    let status = if is_eof && !deprecate_eof {
                        le16(b, 3).unwrap_or(0)
                    } else {
                        let mut pos = 1;
                        let _ = lenenc(b, &mut pos);
                        let _ = lenenc(b, &mut pos);
                        le16(b, pos).unwrap_or(0)
                    };
                    if status & SERVER_MORE_RESULTS_EXISTS != 0 {
                        c.expect = Expect::First;
                    } else {
                        self.done(ts, out, stats);
                    }
                }
                _ => c.rows += 1,
            },
            Expect::FieldList => match first {
                Some(0xff) => {
                    c.exchange.failed(b);
                    self.done(ts, out, stats);
                }
                Some(0xfe) if is_ok_or_eof_end => {
                    c.exchange.error_code = Some(0);
                    self.done(ts, out, stats);
                }
                _ => {}
            },
            Expect::Auth => match first {
                Some(0x00) => {
                    c.exchange.error_code = Some(0);
                    self.user_changed();
                    self.done(ts, out, stats);
                }
                Some(0xff) => {
                    c.exchange.failed(b);
                    self.done(ts, out, stats);
                }
                _ => {}
            },
            Expect::PrepareDefs { left, eofs } => {
                let (left, eofs) = if left > 0 {
                    (left - 1, eofs)
                } else {
                    (0, eofs.saturating_sub(1))
                };
                if left == 0 && eofs == 0 {
                    self.done(ts, out, stats);
                } else {
                    c.expect = Expect::PrepareDefs { left, eofs };
                }
            }
        }
    }

    /// COM_CHANGE_USER succeeded: the connection's user and schema are the command's now,
    /// and its prepared statements are gone.
    fn user_changed(&mut self) {
        if let Some(c) = &self.current {
            self.user = c.exchange.user.clone();
            self.database = c.exchange.database.clone();
            self.statements.clear();
        }
    }

    fn done(&mut self, ts: u64, out: &mut Vec<Exchange>, stats: &mut Counters) {
        if let Some(c) = self.current.take() {
            stats.mysql_exchanges += 1;
            out.push(self.exchange(c, ts, None));
        }
    }

    fn exchange(&self, mut c: Command, end_ns: u64, incomplete: Option<Incomplete>) -> Exchange {
        let is_result_set = c.exchange.error_code == Some(0) && c.exchange.affected_rows.is_none();
        if c.rows > 0 || (is_result_set && matches!(c.code, 0x03 | 0x17)) {
            c.exchange.returned_rows = Some(c.rows);
        }
        Exchange {
            start_ns: c.start.0,
            end_ns: end_ns.max(c.start.0),
            req_seq: Some(c.start.1),
            resp_seq: c.resp_seq,
            trace: c.trace,
            incomplete: incomplete.or(c.gap.then_some(Incomplete::Gap)),
            detail: ExchangeDetail::Mysql(Box::new(c.exchange)),
        }
    }
}

/// The SQL of a COM_QUERY, and the trace context a `traceparent` query attribute carried.
/// With CLIENT_QUERY_ATTRIBUTES (MySQL 8.0.23+) the text follows the attributes: a parameter
/// count, a parameter-set count (1), and for each parameter a null bit, a type, a name and a
/// value in the binary protocol. SQL never starts with a control byte and a 1, so that prefix
/// says the same when the handshake was not seen.
fn query_text(b: &[u8], capabilities: u32, stats: &mut Counters) -> (String, TraceContext) {
    let body = b.get(1..).unwrap_or(&[]);
    let flagged = capabilities & CLIENT_QUERY_ATTRIBUTES != 0;
    let looks_so = matches!(body, [count, 0x01, ..] if *count < 0x09);
    let mut trace = TraceContext::default();
    let sql = if flagged || looks_so {
        match query_attributes(body) {
            Some(attributes) => {
                stats.mysql_query_attributes += attributes.count as u64;
                let traceparent = attributes
                    .strings
                    .iter()
                    .find(|(name, _)| *name == b"traceparent");
                if let Some((_, value)) = traceparent {
                    let mut headers = TraceHeaders::default();
                    headers.offer("traceparent", value);
                    trace = headers.resolve();
                }
                attributes.sql
            }
            None => {
                stats.mysql_parse_errors += 1;
                body
            }
        }
    } else {
        body
    };
    (String::from_utf8_lossy(sql).into_owned(), trace)
}

/// Most query attributes read from one query.
const MAX_QUERY_ATTRIBUTES: u64 = 64;

/// A query's attributes, as far as wirespan reads them.
struct QueryAttributes<'a> {
    count: usize,
    /// (name, value) of the string-valued ones.
    strings: Vec<(&'a [u8], &'a [u8])>,
    /// The SQL after them.
    sql: &'a [u8],
}

/// `None` when the bytes are not attributes as the protocol lays them out.
fn query_attributes(body: &[u8]) -> Option<QueryAttributes<'_>> {
    let mut pos = 0;
    let count = lenenc(body, &mut pos)?;
    if lenenc(body, &mut pos)? != 1 || count > MAX_QUERY_ATTRIBUTES {
        return None;
    }
    let mut attributes = Vec::new();
    if count == 0 {
        return Some(QueryAttributes {
            count: 0,
            strings: attributes,
            sql: body.get(pos..)?,
        });
    }
    let count = count as usize;
    let nulls = body.get(pos..pos + count.div_ceil(8))?;
    pos += count.div_ceil(8);
    // The new-params-bound flag: always 1 for query attributes (types and names follow).
    if *body.get(pos)? != 1 {
        return None;
    }
    pos += 1;
    let mut params = Vec::with_capacity(count);
    for _ in 0..count {
        let kind = *body.get(pos)?;
        pos += 2;
        let len = usize::try_from(lenenc(body, &mut pos)?).ok()?;
        params.push((kind, body.get(pos..pos.checked_add(len)?)?));
        pos += len;
    }
    for (i, (kind, name)) in params.into_iter().enumerate() {
        let null = nulls
            .get(i / 8)
            .is_some_and(|byte| byte & (1 << (i % 8)) != 0);
        if null {
            continue;
        }
        let size = match kind {
            0x06 => 0,
            0x01 => 1,
            0x02 | 0x0d => 2,
            0x03 | 0x04 | 0x09 => 4,
            0x05 | 0x08 => 8,
            // DATE, TIME, DATETIME, TIMESTAMP: a length byte, then that many bytes.
            0x07 | 0x0a | 0x0b | 0x0c => 1 + usize::from(*body.get(pos)?),
            // Strings, decimals, JSON, blobs, bit, enum, set, geometry: length-encoded.
            0x00 | 0x0f | 0x10 | 0xf5..=0xff => {
                let len = usize::try_from(lenenc(body, &mut pos)?).ok()?;
                attributes.push((name, body.get(pos..pos.checked_add(len)?)?));
                len
            }
            _ => return None,
        };
        pos = pos.checked_add(size)?;
    }
    Some(QueryAttributes {
        count,
        strings: attributes,
        sql: body.get(pos..)?,
    })
}

impl MysqlExchange {
    /// The command failed: error number and message from the ERR packet `b`.
    fn failed(&mut self, b: &[u8]) {
        let (code, message) = parse_err(b);
        self.error_code = Some(code);
        self.error_message = message;
    }
}

/// Error number and message of an ERR packet (`0xff`, code, `#` and SQL state, message).
fn parse_err(b: &[u8]) -> (u16, Option<String>) {
    let code = le16(b, 1).unwrap_or(0);
    let mut msg = b.get(3..).unwrap_or(&[]);
    if msg.first() == Some(&b'#') {
        msg = msg.get(6..).unwrap_or(&[]);
    }
    (code, Some(String::from_utf8_lossy(msg).into_owned()))
}

impl MysqlExchange {
    /// Adds the MySQL attributes; gives the span name and error status.
    pub fn describe(self, attrs: &mut Vec<Attribute>) -> Description {
        let m = self;
        // A query is named by what it does; other commands by the command (`COM_STMT_EXECUTE`).
        let name = if m.command == "COM_QUERY" && !m.operation.is_empty() {
            m.operation.clone()
        } else {
            m.command.to_owned()
        };
        let error = m.error_code.filter(|&c| c != 0).map(|c| {
            Some(
                m.error_message
                    .clone()
                    .unwrap_or_else(|| format!("MySQL error {c}")),
            )
        });
        attrs.push(str_attr("network.protocol.name", "mysql"));
        if let Some(v) = m.server_version {
            attrs.push(str_attr("network.protocol.version", v));
        }
        attrs.push(str_attr("db.system", "mysql"));
        attrs.push(str_attr("db.operation.name", m.operation));
        attrs.push(str_attr("wirespan.mysql.command", m.command));
        if let Some(sql) = m.sql {
            attrs.push(str_attr("db.query.text", sql));
        }
        if let Some(db) = m.database {
            attrs.push(str_attr("db.namespace", db));
        }
        if let Some(table) = m.table {
            attrs.push(str_attr("db.collection.name", table));
        }
        if let Some(user) = m.user {
            attrs.push(str_attr("db.user", user));
        }
        if let Some(code) = m.error_code {
            attrs.push(int_attr("db.response.status_code", i64::from(code)));
        }
        if let Some(rows) = m.returned_rows {
            attrs.push(int_attr("db.response.returned_rows", rows as i64));
        }
        if let Some(rows) = m.affected_rows {
            attrs.push(int_attr("wirespan.mysql.affected_rows", rows as i64));
        }
        if let Some(id) = m.statement_id {
            attrs.push(int_attr("wirespan.mysql.statement_id", i64::from(id)));
        }
        Description { name, error }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut p = vec![len as u8, (len >> 8) as u8, (len >> 16) as u8, seq];
        p.extend_from_slice(payload);
        p
    }

    fn feed(p: &mut MysqlParser, dir: Direction, data: &[u8], ts: u64) -> Vec<Exchange> {
        let mut out = Vec::new();
        let mut stats = Counters::default();
        for (i, chunk) in data.chunks(3).enumerate() {
            let meta = SegmentMeta {
                ts_ns: ts,
                seq: (i * 3) as u32,
                ack: 0,
            };
            p.on_data(dir, chunk, meta, &mut out, &mut stats);
        }
        out
    }

    fn mysql(e: &Exchange) -> &MysqlExchange {
        e.mysql().expect("a MySQL exchange")
    }

    #[test]
    fn operation_skips_comments_and_whitespace() {
        assert_eq!(sql_operation("  /* hint */ select 1"), "SELECT");
        assert_eq!(
            sql_operation("-- note\n\tInsert into t values (1)"),
            "INSERT"
        );
        assert_eq!(sql_operation("# x\n(SELECT 1)"), "SELECT");
        assert_eq!(sql_operation("/* never closed"), "");
    }

    #[test]
    fn query_result_set_prepare_and_execute() {
        let mut p = MysqlParser::new(false);
        // COM_QUERY with a 2-column, 3-row result set (EOF style).
        let q = packet(0, b"\x03SELECT a, b FROM t");
        assert!(looks_like_command(&q));
        feed(&mut p, Direction::ToServer, &q, 1);
        let mut resp = packet(1, &[2]);
        resp.extend(packet(2, b"coldef-a"));
        resp.extend(packet(3, b"coldef-b"));
        resp.extend(packet(4, &[0xfe, 0, 0, 2, 0]));
        for i in 0..3 {
            resp.extend(packet(5 + i, b"\x011\x012"));
        }
        resp.extend(packet(8, &[0xfe, 0, 0, 2, 0]));
        let out = feed(&mut p, Direction::ToClient, &resp, 2);
        assert_eq!(out.len(), 1);
        let m = mysql(&out[0]);
        assert_eq!(
            (m.operation.as_str(), m.returned_rows, m.error_code),
            ("SELECT", Some(3), Some(0))
        );
        // PREPARE → id 7 with 1 param, 0 columns; EXECUTE carries the SQL; ERR on execute.
        feed(
            &mut p,
            Direction::ToServer,
            &packet(0, b"\x16DELETE FROM t WHERE a = ?"),
            3,
        );
        let mut ok = vec![0u8, 7, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        ok.truncate(12);
        let mut resp = packet(1, &ok);
        resp.extend(packet(2, b"paramdef"));
        resp.extend(packet(3, &[0xfe, 0, 0, 2, 0]));
        let out = feed(&mut p, Direction::ToClient, &resp, 4);
        assert_eq!(mysql(&out[0]).statement_id, Some(7));
        feed(
            &mut p,
            Direction::ToServer,
            &packet(0, &[0x17, 7, 0, 0, 0, 0, 1, 0, 0, 0]),
            5,
        );
        let out = feed(
            &mut p,
            Direction::ToClient,
            &packet(1, b"\xff\x7a\x04#42S02Table 'x.t' doesn't exist"),
            6,
        );
        let m = mysql(&out[0]);
        assert_eq!(m.sql.as_deref(), Some("DELETE FROM t WHERE a = ?"));
        assert_eq!(m.error_code, Some(1146));
        assert_eq!(
            m.error_message.as_deref(),
            Some("Table 'x.t' doesn't exist")
        );
        // CLOSE has no response: emitted at once.
        let out = feed(
            &mut p,
            Direction::ToServer,
            &packet(0, &[0x19, 7, 0, 0, 0]),
            7,
        );
        assert_eq!(mysql(&out[0]).command, "COM_STMT_CLOSE");
    }

    fn greeting_packet() -> Vec<u8> {
        let mut greeting = vec![0x0a];
        greeting.extend_from_slice(b"10.11.6-MariaDB\0");
        greeting.extend_from_slice(&[1, 0, 0, 0]);
        greeting.extend_from_slice(&[b'x'; 8]);
        greeting.push(0);
        greeting.extend_from_slice(&0xffffu16.to_le_bytes());
        greeting.extend_from_slice(&[8, 2, 0]);
        greeting.extend_from_slice(&0xffffu16.to_le_bytes());
        greeting.extend_from_slice(&[21; 11]);
        packet(0, &greeting)
    }

    /// PostgreSQL's `Q`, length 10, "BEGIN" reads as MySQL length 81, sequence 0, protocol
    /// 10 and a printable version: only whole packets are greetings. And a greeting that the
    /// client does not answer with a handshake response was some other protocol: the parser
    /// gives the connection back and says nothing of it.
    #[test]
    fn another_protocol_is_no_greeting_and_is_given_back() {
        assert!(!looks_like_greeting(b"Q\0\0\0\x0aBEGIN\0"));
        let mut p = MysqlParser::new(true);
        feed(&mut p, Direction::ToClient, &greeting_packet(), 1);
        assert!(!p.gave_up());
        let out = feed(&mut p, Direction::ToServer, &packet(0, b"\x03SELECT 1"), 2);
        assert!(out.is_empty());
        assert!(p.gave_up());
        let out = feed(&mut p, Direction::ToClient, &packet(1, &[0, 0, 0, 2, 0]), 3);
        assert!(out.is_empty());
    }

    #[test]
    fn handshake_gives_user_and_database_and_tls_is_opaque() {
        let g = greeting_packet();
        assert!(looks_like_greeting(&g));
        let mut p = MysqlParser::new(true);
        feed(&mut p, Direction::ToClient, &g, 1);
        let caps = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_CONNECT_WITH_DB;
        let mut resp = caps.to_le_bytes().to_vec();
        resp.extend_from_slice(&[0; 28]);
        resp.extend_from_slice(b"shop\0");
        resp.push(2);
        resp.extend_from_slice(b"pw");
        resp.extend_from_slice(b"orders\0");
        feed(&mut p, Direction::ToServer, &packet(1, &resp), 2);
        feed(
            &mut p,
            Direction::ToClient,
            &packet(2, &[0, 0, 0, 2, 0, 0, 0]),
            3,
        );
        feed(&mut p, Direction::ToServer, &packet(0, &[0x0e]), 4);
        let out = feed(
            &mut p,
            Direction::ToClient,
            &packet(1, &[0, 0, 0, 2, 0, 0, 0]),
            5,
        );
        let m = mysql(&out[0]);
        assert_eq!(
            (m.command, m.user.as_deref(), m.database.as_deref()),
            ("COM_PING", Some("shop"), Some("orders"))
        );
        assert_eq!(m.server_version.as_deref(), Some("10.11.6-MariaDB"));

        let mut tls = MysqlParser::new(true);
        let mut stats = Counters::default();
        let mut out = Vec::new();
        let meta = SegmentMeta {
            ts_ns: 0,
            seq: 0,
            ack: 0,
        };
        tls.on_data(Direction::ToClient, &g, meta, &mut out, &mut stats);
        let mut ssl = (caps | CLIENT_SSL).to_le_bytes().to_vec();
        ssl.extend_from_slice(&[0; 28]);
        tls.on_data(
            Direction::ToServer,
            &packet(1, &ssl),
            meta,
            &mut out,
            &mut stats,
        );
        tls.on_data(
            Direction::ToServer,
            &[0x16, 3, 1, 0, 200, 1],
            meta,
            &mut out,
            &mut stats,
        );
        assert_eq!(stats.mysql_tls_connections, 1);
        assert!(out.is_empty());
    }

    /// After the SSLRequest, the TLS parser takes the connection over, from the byte after the
    /// request on (here in the same segment): the handshake is read as on any TLS port.
    #[test]
    fn the_tls_upgrade_hands_the_connection_to_the_tls_parser() {
        let mut app = super::super::AppParser::Mysql(Box::new(MysqlParser::new(true)));
        let (mut out, mut stats) = (Vec::new(), Counters::default());
        let meta = |ts, seq| SegmentMeta {
            ts_ns: ts,
            seq,
            ack: 0,
        };
        let g = greeting_packet();
        app.on_data(Direction::ToClient, &g, meta(1, 500), &mut out, &mut stats);
        let caps = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_SSL;
        let mut ssl = caps.to_le_bytes().to_vec();
        ssl.extend_from_slice(&[0; 28]);
        let request = packet(1, &ssl);
        let mut chunk = request.clone();
        chunk.extend_from_slice(include_bytes!("tls/testdata/openssl_client_hello.bin"));
        app.on_data(
            Direction::ToServer,
            &chunk,
            meta(2, 100),
            &mut out,
            &mut stats,
        );
        assert!(matches!(app, super::super::AppParser::Tls(_)));
        let flight = include_bytes!("tls/testdata/openssl_tls12_server_flight.bin");
        let seq = 500 + g.len() as u32;
        app.on_data(
            Direction::ToClient,
            flight,
            meta(3, seq),
            &mut out,
            &mut stats,
        );
        app.on_close(&mut out, &mut stats);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].req_seq, Some(100 + request.len() as u32));
        let super::super::ExchangeDetail::Tls(t) = &out[0].detail else {
            panic!("{:?}", out[0]);
        };
        assert_eq!(t.version, Some(0x0303));
        assert_eq!(stats.mysql_tls_connections, 1);
    }

    #[test]
    fn query_attributes_and_compressed_packets() {
        let mut stats = Counters::default();
        assert_eq!(
            query_text(b"\x03\x00\x01select 1", 0, &mut stats).0,
            "select 1"
        );
        // Two attributes, as the protocol lays them out: count 2, one set, null bitmap, bound
        // flag, (type, flag, name) each, then the values: a string and a LONGLONG.
        let traceparent = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let mut q = vec![0x03, 2, 1, 0b00, 1];
        q.extend([0xfe, 0, 11]);
        q.extend(b"traceparent");
        q.extend([0x08, 0, 3]);
        q.extend(b"uid");
        q.push(traceparent.len() as u8);
        q.extend(traceparent);
        q.extend(42u64.to_le_bytes());
        q.extend(b"SELECT * FROM t");
        let (sql, trace) = query_text(&q, CLIENT_QUERY_ATTRIBUTES, &mut stats);
        assert_eq!(sql, "SELECT * FROM t");
        assert_eq!(trace.trace_id.map(|t| t[0]), Some(0x0a));
        assert_eq!(stats.mysql_query_attributes, 2);
        // Not attributes after all: counted, the text kept whole.
        assert_eq!(
            query_text(b"\x03select 1", CLIENT_QUERY_ATTRIBUTES, &mut stats).0,
            "select 1"
        );
        assert_eq!(stats.mysql_parse_errors, 1);
        let mut raw = packet(0, b"\x03use `test`");
        let mut compressed = vec![raw.len() as u8, 0, 0, 0, 0, 0, 0];
        compressed.append(&mut raw);
        assert!(looks_like_compressed(&compressed));
        assert!(!looks_like_command(&compressed));
        assert!(looks_like_compressed(&[2, 0, 0, 0, 9, 0, 0, 0x78, 0x9c]));
    }

    #[test]
    fn a_length_larger_than_the_packet_is_survived() {
        let mut p = MysqlParser::new(false);
        let mut stats = Counters::default();
        let mut out = Vec::new();
        let meta = SegmentMeta {
            ts_ns: 1,
            seq: 0,
            ack: 0,
        };
        p.on_data(
            Direction::ToServer,
            &packet(0, b"\x03SELECT 1"),
            meta,
            &mut out,
            &mut stats,
        );
        // The server claims 16 MiB and sends 3 bytes.
        p.on_data(
            Direction::ToClient,
            &[0xff, 0xff, 0xfe, 1, 1, 2, 3],
            meta,
            &mut out,
            &mut stats,
        );
        p.on_data(
            Direction::ToServer,
            &packet(0, b"\x03SELECT 2"),
            meta,
            &mut out,
            &mut stats,
        );
        p.on_data(
            Direction::ToClient,
            &packet(1, &[0, 0, 0, 2, 0, 0, 0]),
            meta,
            &mut out,
            &mut stats,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].incomplete, Some(Incomplete::Gap));
        assert_eq!(mysql(&out[1]).sql.as_deref(), Some("SELECT 2"));
        assert_eq!(stats.mysql_length_mismatch, 1);
    }
}

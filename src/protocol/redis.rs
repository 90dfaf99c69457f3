//! Redis and Valkey: RESP2 and RESP3.
//!
//! Takes both directions of a connection; gives one [`Exchange`] per command and its reply,
//! paired in order (pipelines, MULTI/EXEC's QUEUED replies and EXEC's array alike). Values are
//! read as a stream, nested aggregates by a stack of counts; bulk payloads are skipped, never
//! buffered, but for the first bytes of a command's arguments. Pub/sub messages and RESP3
//! pushes are not replies: counted, never paired. A reply that is an error gives the span
//! status ERROR and its prefix (`WRONGTYPE`, `NOAUTH`, …) as the status code.

// Every byte here comes off the wire: no index may panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::{
    AppParser, ConnectionParser, Description, Direction, Exchange, ExchangeDetail, Incomplete,
    Protocol, Role, SegmentMeta, TraceContext,
};
use crate::attribute::{str_attr, Attribute};
use crate::stats::Counters;
use std::collections::VecDeque;

/// A type line (`*3`, `$5`, `+OK`, `-ERR …`) longer than this is not RESP.
const MAX_LINE: usize = 4096;
/// Aggregates nested deeper than this are not followed.
const MAX_DEPTH: usize = 16;
/// Arguments of a command kept, and bytes of each.
const KEEP_ARGS: usize = 8;
const KEEP_ARG_BYTES: usize = 64;
/// Commands waiting for their replies.
const MAX_PENDING: usize = 1024;

/// The facts of one Redis command that end up on its span.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedisExchange {
    /// The command, upper-cased (`GET`, `HSET`, …).
    pub command: String,
    /// The command and its first argument (the key, for most), the others as `?`.
    pub query: String,
    /// The database index the connection had SELECTed.
    pub database: u32,
    /// The error reply's prefix and message.
    pub error: Option<(String, String)>,
}

/// Redis: a command array (`*N`, then the command as a bulk string) from the client.
pub const PROTOCOL: Protocol = Protocol {
    name: "redis",
    probe: |data| looks_like_command(data).then_some((0, Some(Role::Client))),
    start: |_, options| {
        AppParser::Redis(Box::new(RedisParser {
            keep_values: options.redis_values,
            ..Default::default()
        }))
    },
    exchanges: |c| c.redis_exchanges,
};

/// `*N\r\n$M\r\nCOMMAND\r\n` with a command of M letters.
fn looks_like_command(data: &[u8]) -> bool {
    let Some(rest) = data.strip_prefix(b"*") else {
        return false;
    };
    let Some((count, rest)) = number_line(rest) else {
        return false;
    };
    let Some(rest) = rest.strip_prefix(b"$") else {
        return false;
    };
    let Some((len, rest)) = number_line(rest) else {
        return false;
    };
    let (Ok(len), true) = (usize::try_from(len), (1..=1024).contains(&count)) else {
        return false;
    };
    (1..=32).contains(&len)
        && rest
            .get(..len)
            .is_some_and(|c| c.iter().all(u8::is_ascii_alphabetic))
        && rest.get(len..len + 2) == Some(b"\r\n")
}

/// A decimal number ended by CRLF, and what follows.
fn number_line(data: &[u8]) -> Option<(i64, &[u8])> {
    let end = data.iter().take(21).position(|&b| b == b'\r')?;
    if data.get(end + 1) != Some(&b'\n') {
        return None;
    }
    let n = std::str::from_utf8(data.get(..end)?).ok()?.parse().ok()?;
    Some((n, data.get(end + 2..)?))
}

/// One top-level value read whole.
#[derive(Debug, Default)]
struct Value {
    /// Its type byte (`*`, `+`, `-`, `>`, …; `I` for an inline command).
    kind: u8,
    /// The first line's text for simple values (an error's message), else empty.
    line: Vec<u8>,
    /// Bulk strings at the top level of an array, the first [`KEEP_ARGS`], each cut to
    /// [`KEEP_ARG_BYTES`]: a command's name and arguments, a push's kind.
    items: Vec<Vec<u8>>,
    /// Elements of the top-level aggregate.
    count: usize,
}

/// Where each whole top-level value goes, with where it began.
type ValueSink<'s> = dyn FnMut(Value, (u64, u32), &mut Counters) + 's;

/// Where one direction's reader stands.
#[derive(Debug, Default)]
struct Reader {
    line: Vec<u8>,
    /// Bytes of a bulk payload (and its CRLF) still to skip.
    bulk_left: u64,
    /// Whether the bulk being read is an item of the top-level array (kept).
    bulk_kept: bool,
    /// Elements still to come of each open aggregate, innermost last.
    stack: Vec<u64>,
    value: Value,
    start: Option<(u64, u32)>,
    /// After a hole or nonsense: waiting for a segment that starts a value.
    resync: bool,
}

impl Reader {
    /// Reads `data`; calls `done` with each whole top-level value and where it began.
    fn feed(
        &mut self,
        data: &[u8],
        meta: SegmentMeta,
        stats: &mut Counters,
        done: &mut ValueSink<'_>,
    ) {
        let mut pos = 0;
        while pos < data.len() {
            let rest = data.get(pos..).unwrap_or(&[]);
            if self.start.is_none() {
                self.start = Some((meta.ts_ns, meta.seq.wrapping_add(pos as u32)));
            }
            if self.bulk_left > 0 {
                let n = (rest.len() as u64).min(self.bulk_left);
                if self.bulk_kept {
                    // The payload without its CRLF, cut to what is kept.
                    let payload = (self.bulk_left.saturating_sub(2)).min(n) as usize;
                    if let Some(item) = self.value.items.last_mut() {
                        let room = KEEP_ARG_BYTES.saturating_sub(item.len()).min(payload);
                        item.extend_from_slice(rest.get(..room).unwrap_or(&[]));
                    }
                }
                self.bulk_left -= n;
                pos += n as usize;
                if self.bulk_left == 0 {
                    self.element_done(done, stats);
                }
                continue;
            }
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                self.line.extend_from_slice(rest);
                if self.line.len() > MAX_LINE {
                    self.lost(stats);
                    return;
                }
                break;
            };
            self.line.extend_from_slice(rest.get(..nl).unwrap_or(&[]));
            pos += nl + 1;
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if !self.line_done(&line, stats, done) {
                return;
            }
            line.clear();
            self.line = line;
        }
    }

    /// A whole type line. Returns false when the stream is not RESP (the reader resyncs).
    fn line_done(&mut self, line: &[u8], stats: &mut Counters, done: &mut ValueSink<'_>) -> bool {
        let Some((&kind, text)) = line.split_first() else {
            return true;
        };
        let top = self.stack.is_empty();
        if top {
            self.value = Value {
                kind,
                ..Default::default()
            };
        }
        let number = || std::str::from_utf8(text).ok()?.parse::<i64>().ok();
        match kind {
            b'*' | b'%' | b'~' | b'>' | b'|' => {
                let Some(n) = number() else {
                    self.lost(stats);
                    return false;
                };
                // Maps and attributes count their keys and values.
                let n = if matches!(kind, b'%' | b'|') {
                    n.saturating_mul(2)
                } else {
                    n
                };
                if top {
                    self.value.count = usize::try_from(n).unwrap_or(0);
                }
                if n <= 0 {
                    self.element_done(done, stats);
                } else if self.stack.len() >= MAX_DEPTH {
                    self.lost(stats);
                    return false;
                } else {
                    self.stack.push(n as u64);
                }
            }
            b'$' | b'!' | b'=' => {
                let Some(n) = number() else {
                    self.lost(stats);
                    return false;
                };
                if n < 0 {
                    self.element_done(done, stats);
                } else {
                    self.bulk_left = n as u64 + 2;
                    self.bulk_kept = self.stack.len() == 1
                        && matches!(self.value.kind, b'*' | b'>')
                        && self.value.items.len() < KEEP_ARGS;
                    if self.bulk_kept {
                        self.value.items.push(Vec::new());
                    }
                }
            }
            b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {
                if top {
                    self.value.line = text.get(..text.len().min(MAX_LINE)).unwrap_or(&[]).to_vec();
                }
                self.element_done(done, stats);
            }
            _ if top && kind.is_ascii_alphabetic() => {
                // An inline command (`PING`, `set k v`): words separated by spaces.
                self.value.kind = b'I';
                self.value.items = line
                    .split(|&b| b == b' ')
                    .filter(|w| !w.is_empty())
                    .take(KEEP_ARGS)
                    .map(|w| w.get(..w.len().min(KEEP_ARG_BYTES)).unwrap_or(&[]).to_vec())
                    .collect();
                self.element_done(done, stats);
            }
            _ => {
                self.lost(stats);
                return false;
            }
        }
        true
    }

    /// An element is whole: close the aggregates it completes; a whole top-level value goes
    /// to `done`.
    fn element_done(&mut self, done: &mut ValueSink<'_>, stats: &mut Counters) {
        while let Some(left) = self.stack.last_mut() {
            *left = left.saturating_sub(1);
            if *left > 0 {
                return;
            }
            self.stack.pop();
        }
        let value = std::mem::take(&mut self.value);
        let start = self.start.take().unwrap_or((0, 0));
        done(value, start, stats);
    }

    fn lost(&mut self, stats: &mut Counters) {
        stats.redis_parse_errors += 1;
        *self = Reader {
            resync: true,
            ..Default::default()
        };
    }
}

/// A command waiting for its reply.
#[derive(Debug)]
struct Pending {
    exchange: RedisExchange,
    start: (u64, u32),
    /// Replies it takes: one, or one per channel of a (P/S)SUBSCRIBE.
    replies: usize,
    resp_seq: Option<u32>,
}

/// Both directions of one Redis connection.
#[derive(Debug, Default)]
pub struct RedisParser {
    readers: [Reader; 2],
    pending: VecDeque<Pending>,
    database: u32,
    /// A SELECT waiting for its OK.
    selecting: Option<u32>,
    /// The connection subscribed: messages come unasked.
    subscribed: bool,
    /// Replies were lost in a hole: what is paired next is marked.
    gap: bool,
    /// Arguments as sent (`--redis-values`), not redacted.
    keep_values: bool,
}

/// The command's name and its arguments as the span shows them: the first argument (the key,
/// for most commands), the others redacted unless `keep_values`.
fn describe_command(items: &[Vec<u8>], keep_values: bool) -> (String, String) {
    let mut words = items
        .iter()
        .map(|w| String::from_utf8_lossy(w).into_owned());
    let command = words.next().unwrap_or_default().to_ascii_uppercase();
    let mut query = command.clone();
    for (i, w) in words.enumerate() {
        query.push(' ');
        if i == 0 || keep_values {
            query.push_str(&w);
        } else {
            query.push('?');
        }
    }
    (command, query)
}

impl RedisParser {
    fn command(
        &mut self,
        value: Value,
        start: (u64, u32),
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        stats.redis_commands += 1;
        let (command, query) = describe_command(&value.items, self.keep_values);
        let replies = match command.as_str() {
            "SUBSCRIBE" | "PSUBSCRIBE" | "SSUBSCRIBE" | "UNSUBSCRIBE" | "PUNSUBSCRIBE" => {
                value.count.saturating_sub(1).max(1)
            }
            _ => 1,
        };
        if command == "SELECT" {
            self.selecting = value
                .items
                .get(1)
                .and_then(|d| std::str::from_utf8(d).ok()?.parse().ok());
        }
        if matches!(command.as_str(), "SUBSCRIBE" | "PSUBSCRIBE" | "SSUBSCRIBE") {
            self.subscribed = true;
        }
        if self.pending.len() >= MAX_PENDING {
            stats.redis_commands_unanswered += 1;
            if let Some(old) = self.pending.pop_front() {
                out.push(finish(old, start.0, Some(Incomplete::NoResponse)));
            }
        }
        self.pending.push_back(Pending {
            exchange: RedisExchange {
                command,
                query,
                database: self.database,
                error: None,
            },
            start,
            replies,
            resp_seq: None,
        });
    }

    fn reply(
        &mut self,
        value: Value,
        start: (u64, u32),
        ts: u64,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        // Pushes are not replies: RESP3's `>`, and RESP2's message arrays once subscribed.
        let first = value.items.first().map(Vec::as_slice);
        let message = matches!(first, Some(b"message" | b"pmessage" | b"smessage"));
        if value.kind == b'>'
            && !matches!(
                first,
                Some(
                    b"subscribe" | b"psubscribe" | b"ssubscribe" | b"unsubscribe" | b"punsubscribe"
                )
            )
            || self.subscribed && value.kind == b'*' && message
        {
            stats.redis_pushes += 1;
            return;
        }
        let Some(p) = self.pending.front_mut() else {
            stats.redis_replies_without_command += 1;
            return;
        };
        p.resp_seq.get_or_insert(start.1);
        if matches!(value.kind, b'-' | b'!') {
            let text = String::from_utf8_lossy(&value.line).into_owned();
            let prefix = text.split(' ').next().unwrap_or("ERR").to_owned();
            p.exchange.error = Some((prefix, text));
        }
        p.replies = p.replies.saturating_sub(1);
        if p.replies > 0 {
            return;
        }
        if let Some(p) = self.pending.pop_front() {
            if p.exchange.command == "SELECT" && p.exchange.error.is_none() {
                if let Some(db) = self.selecting.take() {
                    self.database = db;
                }
            }
            stats.redis_exchanges += 1;
            let gap = std::mem::take(&mut self.gap);
            out.push(finish(p, ts, gap.then_some(Incomplete::Gap)));
        }
    }
}

fn finish(p: Pending, end_ns: u64, incomplete: Option<Incomplete>) -> Exchange {
    Exchange {
        start_ns: p.start.0,
        end_ns: end_ns.max(p.start.0),
        req_seq: Some(p.start.1),
        resp_seq: p.resp_seq,
        trace: TraceContext::default(),
        incomplete,
        detail: ExchangeDetail::Redis(Box::new(p.exchange)),
    }
}

impl ConnectionParser for RedisParser {
    fn on_data(
        &mut self,
        dir: Direction,
        data: &[u8],
        meta: SegmentMeta,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        let d = dir.index();
        let reader = super::side(&mut self.readers, d);
        if reader.resync {
            let starts = match d {
                0 => looks_like_command(data),
                _ => data.first().is_some_and(|b| b"+-:$*_,#!=(%~>|".contains(b)),
            };
            if !starts {
                return;
            }
            reader.resync = false;
        }
        // Out of its slot while it reads, so that each value goes straight to the pairing.
        let mut reader = std::mem::take(reader);
        reader.feed(data, meta, stats, &mut |value, start, stats| {
            if d == 0 {
                self.command(value, start, out, stats);
            } else {
                self.reply(value, start, meta.ts_ns, out, stats);
            }
        });
        *super::side(&mut self.readers, d) = reader;
    }

    fn on_gap(&mut self, dir: Direction, _len: u32, stats: &mut Counters) {
        stats.redis_resyncs += 1;
        let r = super::side(&mut self.readers, dir.index());
        *r = Reader {
            resync: true,
            ..Default::default()
        };
        if dir == Direction::ToClient {
            // Replies lost in the hole: what is waiting can no longer be paired by order.
            self.gap = true;
        }
    }

    fn on_close(&mut self, out: &mut Vec<Exchange>, stats: &mut Counters) {
        while let Some(p) = self.pending.pop_front() {
            // QUIT, and commands a subscribed connection never got answered, end here.
            stats.redis_commands_unanswered += 1;
            let end = p.start.0;
            out.push(finish(p, end, Some(Incomplete::NoResponse)));
        }
    }
}

impl RedisExchange {
    /// Adds the Redis attributes; gives the span name and error status.
    pub fn describe(self, attrs: &mut Vec<Attribute>) -> Description {
        let m = self;
        let error = m.error.as_ref().map(|(_, text)| Some(text.clone()));
        attrs.push(str_attr("network.protocol.name", "redis"));
        attrs.push(str_attr("db.system", "redis"));
        attrs.push(str_attr("db.operation.name", m.command.clone()));
        attrs.push(str_attr("db.query.text", m.query));
        attrs.push(str_attr("db.namespace", m.database.to_string()));
        if let Some((prefix, _)) = m.error {
            attrs.push(str_attr("db.response.status_code", prefix));
        }
        Description {
            name: m.command,
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pipeline of three commands and their replies (a nested array, a bulk, an error),
    /// both directions split at every byte: three exchanges, paired in order.
    #[test]
    fn a_pipeline_in_any_split_pairs_in_order() {
        let commands =
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*3\r\n$6\r\nLRANGE\r\n$1\r\nl\r\n$2\r\n-1\r\nPING\r\n";
        let replies =
            b"$5\r\nhello\r\n*2\r\n*1\r\n:1\r\n$-1\r\n-WRONGTYPE Operation against a key\r\n";
        for split in 0..commands.len().max(replies.len()) {
            let mut p = RedisParser::default();
            let (mut out, mut stats) = (Vec::new(), Counters::default());
            let meta = |seq| SegmentMeta {
                ts_ns: 5,
                seq,
                ack: 0,
            };
            let (c1, c2) = commands.split_at(split.min(commands.len()));
            let (r1, r2) = replies.split_at(split.min(replies.len()));
            p.on_data(Direction::ToServer, c1, meta(0), &mut out, &mut stats);
            p.on_data(
                Direction::ToServer,
                c2,
                meta(c1.len() as u32),
                &mut out,
                &mut stats,
            );
            p.on_data(Direction::ToClient, r1, meta(0), &mut out, &mut stats);
            p.on_data(
                Direction::ToClient,
                r2,
                meta(r1.len() as u32),
                &mut out,
                &mut stats,
            );
            let got: Vec<(String, Option<String>)> = out
                .iter()
                .map(|e| match &e.detail {
                    ExchangeDetail::Redis(r) => {
                        (r.query.clone(), r.error.as_ref().map(|e| e.0.clone()))
                    }
                    _ => panic!("not Redis"),
                })
                .collect();
            assert_eq!(
                got,
                vec![
                    ("GET k".to_owned(), None),
                    ("LRANGE l ?".to_owned(), None),
                    ("PING".to_owned(), Some("WRONGTYPE".to_owned())),
                ],
                "split {split}"
            );
            assert_eq!(stats.redis_parse_errors, 0);
        }
    }
}

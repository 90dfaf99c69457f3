//! DNS (RFC 1035 and what came after: EDNS, extended response codes), over UDP and TCP.
//!
//! Takes DNS messages; gives what a span of one lookup says: the question, the response code
//! (extended by EDNS), how many answers came and whether the answer was truncated. The message
//! reader ([`Message::read`]) is pure and serves both transports: the flow table's datagram
//! side pairs UDP queries with answers by id and 5-tuple (`flow::datagram`), and
//! [`DnsParser`] here pairs the length-prefixed messages of a TCP connection by id (RFC 7766
//! lets a server answer pipelined queries out of order).

// Every byte here comes off the wire: no index may panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::frame::{FrameReader, Read};
use super::{
    AppParser, ConnectionParser, Description, Direction, Exchange, ExchangeDetail, Incomplete,
    Protocol, Role, SegmentMeta, TraceContext,
};
use crate::attribute::{bool_attr, int_attr, str_attr, Attribute};
use crate::decode::be16;
use crate::stats::Counters;
use std::fmt::Write as _;

/// A DNS header is 12 bytes.
const HEADER: usize = 12;
/// Compression pointers followed in one name before it is called a loop.
const MAX_POINTERS: usize = 32;
/// A name's wire form is at most 255 bytes (RFC 1035 3.1).
const MAX_NAME_WIRE: usize = 255;
/// Bytes of one TCP message kept to read: the header, the question and, in all but the largest
/// answers, the OPT record that carries the extended response code.
const KEEP_MESSAGE: usize = 4096;
/// Queries of one TCP connection waiting for their answers.
const MAX_PENDING: usize = 256;
const TYPE_OPT: u16 = 41;

/// Why bytes are not a DNS message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsError {
    Truncated,
    Malformed,
}

/// The first question of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// In presentation form, without the final dot (`.` for the root); unprintable bytes as
    /// `\DDD`, as OpenTelemetry asks.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
}

impl Question {
    /// The same question: resolvers randomise the case of names (0x20), answers echo it.
    pub fn same(&self, other: &Question) -> bool {
        self.qtype == other.qtype
            && self.qclass == other.qclass
            && self.name.eq_ignore_ascii_case(&other.name)
    }
}

/// What one DNS message says of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: u16,
    pub response: bool,
    pub opcode: u8,
    pub truncated: bool,
    /// RCODE, with the upper bits of an OPT record's extended RCODE when there is one.
    pub rcode: u16,
    pub answers: u16,
    /// `None` when the message has no question (some NOTIFY answers, a few errors).
    pub question: Option<Question>,
    /// The message carried an OPT record (EDNS).
    pub edns: bool,
}

impl Message {
    /// Reads a message. `whole` says the bytes are the entire message: when they are only its
    /// first part (a long TCP answer), what lies beyond is not an error, only unread.
    pub fn read(msg: &[u8], whole: bool) -> Result<Message, DnsError> {
        let (Some(id), Some(flags), Some(qdcount), Some(ancount), Some(nscount), Some(arcount)) = (
            be16(msg, 0),
            be16(msg, 2),
            be16(msg, 4),
            be16(msg, 6),
            be16(msg, 8),
            be16(msg, 10),
        ) else {
            return Err(DnsError::Truncated);
        };
        let mut m = Message {
            id,
            response: flags & 0x8000 != 0,
            opcode: ((flags >> 11) & 0xf) as u8,
            truncated: flags & 0x0200 != 0,
            rcode: flags & 0xf,
            answers: ancount,
            question: None,
            edns: false,
        };
        let mut at = HEADER;
        for n in 0..qdcount {
            let mut name = String::new();
            let next = read_name(msg, at, (n == 0).then_some(&mut name))?;
            let (Some(qtype), Some(qclass)) = (be16(msg, next), be16(msg, next + 2)) else {
                return Err(DnsError::Truncated);
            };
            if n == 0 {
                m.question = Some(Question {
                    name,
                    qtype,
                    qclass,
                });
            }
            at = next + 4;
        }
        // Answers and authority records are skipped to reach the additional section's OPT.
        let records = u32::from(ancount) + u32::from(nscount) + u32::from(arcount);
        for n in 0..records {
            let record = match skip_record(msg, at) {
                Ok(r) => r,
                Err(DnsError::Truncated) if !whole => break,
                Err(e) => return Err(e),
            };
            if record.rtype == TYPE_OPT && n >= u32::from(ancount) + u32::from(nscount) {
                m.edns = true;
                m.rcode |= u16::from((record.ttl >> 24) as u8) << 4;
            }
            at = record.end;
        }
        Ok(m)
    }
}

struct Record {
    rtype: u16,
    ttl: u32,
    end: usize,
}

fn skip_record(msg: &[u8], at: usize) -> Result<Record, DnsError> {
    let at = read_name(msg, at, None)?;
    let (Some(rtype), Some(hi), Some(lo), Some(rdlength)) = (
        be16(msg, at),
        be16(msg, at + 4),
        be16(msg, at + 6),
        be16(msg, at + 8),
    ) else {
        return Err(DnsError::Truncated);
    };
    let end = at + 10 + usize::from(rdlength);
    if end > msg.len() {
        return Err(DnsError::Truncated);
    }
    Ok(Record {
        rtype,
        ttl: u32::from(hi) << 16 | u32::from(lo),
        end,
    })
}

/// Reads the name at `at` (writing it to `text` when given); gives the offset after it in the
/// message (after the first pointer, when it was compressed).
fn read_name(msg: &[u8], mut at: usize, mut text: Option<&mut String>) -> Result<usize, DnsError> {
    let mut after = None;
    let mut pointers = 0;
    let mut wire = 0;
    loop {
        let &len = msg.get(at).ok_or(DnsError::Truncated)?;
        match len & 0xc0 {
            0x00 if len == 0 => {
                if let Some(t) = text.as_deref_mut() {
                    if t.is_empty() {
                        t.push('.');
                    }
                }
                return Ok(after.unwrap_or(at + 1));
            }
            0x00 => {
                let label = msg
                    .get(at + 1..at + 1 + usize::from(len))
                    .ok_or(DnsError::Truncated)?;
                wire += 1 + label.len();
                if wire > MAX_NAME_WIRE {
                    return Err(DnsError::Malformed);
                }
                if let Some(t) = text.as_deref_mut() {
                    if !t.is_empty() {
                        t.push('.');
                    }
                    escape_label(label, t);
                }
                at += 1 + label.len();
            }
            0xc0 => {
                let &low = msg.get(at + 1).ok_or(DnsError::Truncated)?;
                pointers += 1;
                if pointers > MAX_POINTERS {
                    return Err(DnsError::Malformed);
                }
                after.get_or_insert(at + 2);
                at = usize::from(len & 0x3f) << 8 | usize::from(low);
            }
            // 0x40 and 0x80 are the extended label types of RFC 6891, none of them in use.
            _ => return Err(DnsError::Malformed),
        }
    }
}

/// A label in presentation form: `.` and `\` escaped, quotes escaped, bytes outside the
/// printable range as `\DDD`.
fn escape_label(label: &[u8], out: &mut String) {
    for &b in label {
        match b {
            b'.' | b'\\' | b'"' => {
                out.push('\\');
                out.push(char::from(b));
            }
            32..=126 => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\{b:03}");
            }
        }
    }
}

/// The mnemonic of a record type (IANA DNS parameters), `TYPE123` for others (RFC 3597).
pub fn type_name(t: u16) -> std::borrow::Cow<'static, str> {
    let name = match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        17 => "RP",
        18 => "AFSDB",
        24 => "SIG",
        25 => "KEY",
        28 => "AAAA",
        29 => "LOC",
        33 => "SRV",
        35 => "NAPTR",
        36 => "KX",
        37 => "CERT",
        39 => "DNAME",
        41 => "OPT",
        42 => "APL",
        43 => "DS",
        44 => "SSHFP",
        45 => "IPSECKEY",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        49 => "DHCID",
        50 => "NSEC3",
        51 => "NSEC3PARAM",
        52 => "TLSA",
        53 => "SMIMEA",
        55 => "HIP",
        59 => "CDS",
        60 => "CDNSKEY",
        61 => "OPENPGPKEY",
        62 => "CSYNC",
        63 => "ZONEMD",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        108 => "EUI48",
        109 => "EUI64",
        249 => "TKEY",
        250 => "TSIG",
        251 => "IXFR",
        252 => "AXFR",
        255 => "ANY",
        256 => "URI",
        257 => "CAA",
        _ => return format!("TYPE{t}").into(),
    };
    name.into()
}

/// The mnemonic of a response code (RFC 1035, 2136, 6891, 7873, 8490), the number otherwise.
pub fn rcode_name(rcode: u16) -> std::borrow::Cow<'static, str> {
    let name = match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        11 => "DSOTYPENI",
        16 => "BADVERS",
        17 => "BADKEY",
        18 => "BADTIME",
        19 => "BADMODE",
        20 => "BADNAME",
        21 => "BADALG",
        22 => "BADTRUNC",
        23 => "BADCOOKIE",
        _ => return format!("RCODE{rcode}").into(),
    };
    name.into()
}

fn opcode_name(opcode: u8) -> std::borrow::Cow<'static, str> {
    match opcode {
        0 => "QUERY".into(),
        1 => "IQUERY".into(),
        2 => "STATUS".into(),
        4 => "NOTIFY".into(),
        5 => "UPDATE".into(),
        6 => "DSO".into(),
        _ => format!("OPCODE{opcode}").into(),
    }
}

/// The facts of one lookup that end up on its span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsExchange {
    pub id: u16,
    pub opcode: u8,
    pub question: Option<Question>,
    /// The query carried an OPT record.
    pub edns: bool,
    /// From the answer; `None` when none came.
    pub answer: Option<Answer>,
    /// Times the query was sent again before its answer (UDP; the same id and question).
    pub retransmits: u32,
}

/// What the answer to a query said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub rcode: u16,
    pub answers: u16,
    pub truncated: bool,
}

impl DnsExchange {
    /// The exchange of `query`, answered by `answer` when one came.
    pub fn new(query: Message, answer: Option<&Message>, retransmits: u32) -> DnsExchange {
        DnsExchange {
            id: query.id,
            opcode: query.opcode,
            question: query.question,
            edns: query.edns,
            answer: answer.map(|a| Answer {
                rcode: a.rcode,
                answers: a.answers,
                truncated: a.truncated,
            }),
            retransmits,
        }
    }

    /// Adds the DNS attributes; gives the span name (`A cart.svc.test`) and error status: an
    /// answer that is not an answer (SERVFAIL, REFUSED, FORMERR, NOTIMP, …) or none at all.
    /// NXDOMAIN is an answer (as an HTTP 404 is): not an error.
    pub fn describe(self, attrs: &mut Vec<Attribute>) -> Description {
        attrs.push(str_attr("network.protocol.name", "dns"));
        let mut name = String::new();
        if self.opcode != 0 {
            let op = opcode_name(self.opcode);
            attrs.push(str_attr("wirespan.dns.opcode", op.clone().into_owned()));
            name.push_str(&op);
            name.push(' ');
        }
        if let Some(q) = self.question {
            let qtype = type_name(q.qtype);
            name.push_str(&qtype);
            name.push(' ');
            name.push_str(&q.name);
            attrs.push(str_attr("dns.question.name", q.name));
            attrs.push(str_attr("dns.question.type", qtype.into_owned()));
        } else {
            name.push_str("DNS");
        }
        attrs.push(int_attr("wirespan.dns.id", i64::from(self.id)));
        if self.edns {
            attrs.push(bool_attr("wirespan.dns.edns", true));
        }
        if self.retransmits > 0 {
            attrs.push(int_attr(
                "wirespan.dns.retransmits",
                i64::from(self.retransmits),
            ));
        }
        let error = match self.answer {
            Some(a) => {
                let code = rcode_name(a.rcode);
                let failed = !matches!(a.rcode, 0 | 3);
                attrs.push(str_attr("dns.response.code", code.clone().into_owned()));
                attrs.push(int_attr("dns.answers.count", i64::from(a.answers)));
                if a.truncated {
                    attrs.push(bool_attr("wirespan.dns.truncated", true));
                }
                failed.then(|| Some(code.into_owned()))
            }
            None => Some(Some("no answer".to_owned())),
        };
        Description { name, error }
    }
}

/// DNS over TCP: a length-prefixed query from the client.
pub const PROTOCOL: Protocol = Protocol {
    name: "dns",
    probe: |data| looks_like_query(data).then_some((0, Some(Role::Client))),
    start: |_, _| AppParser::Dns(Box::default()),
    exchanges: |c| c.dns_exchanges,
};

/// A length prefix that fits a query, and the query's start: a header with QR clear, the
/// QUERY or NOTIFY or UPDATE opcode, one question, no answers, and a first name that reads.
/// Every other protocol is probed first; this is as strict as a query allows.
fn looks_like_query(data: &[u8]) -> bool {
    let (Some(len), Some(msg)) = (be16(data, 0), data.get(2..)) else {
        return false;
    };
    let (Some(flags), Some(qd), Some(an), Some(ns)) =
        (be16(msg, 2), be16(msg, 4), be16(msg, 6), be16(msg, 8))
    else {
        return false;
    };
    let opcode = (flags >> 11) & 0xf;
    if !(17..=16_384).contains(&len)
        || flags & 0x8000 != 0
        || !matches!(opcode, 0 | 4 | 5)
        || flags & 0x0040 != 0
        || qd != 1
        || an != 0
        || (opcode == 0 && ns != 0)
    {
        return false;
    }
    let shown = msg.get(..usize::from(len)).unwrap_or(msg);
    match read_name(shown, HEADER, None) {
        Ok(end) => end + 4 <= usize::from(len),
        // A name cut by the end of the first segment is still a start.
        Err(DnsError::Truncated) => shown.len() < usize::from(len),
        Err(DnsError::Malformed) => false,
    }
}

/// A query waiting for its answer.
#[derive(Debug)]
struct Pending {
    query: Message,
    /// Capture time and TCP sequence number of its length prefix.
    start: (u64, u32),
}

impl Pending {
    /// The query's exchange, with its answer (the message, its capture time and TCP sequence
    /// number) or without one.
    fn answered(self, answer: Option<(&Message, u64, u32)>) -> Exchange {
        Exchange {
            start_ns: self.start.0,
            end_ns: answer.map_or(self.start.0, |(_, end_ns, _)| end_ns),
            req_seq: Some(self.start.1),
            resp_seq: answer.map(|(_, _, seq)| seq),
            trace: TraceContext::default(),
            incomplete: answer.is_none().then_some(Incomplete::NoResponse),
            detail: ExchangeDetail::Dns(Box::new(DnsExchange::new(
                self.query,
                answer.map(|(m, _, _)| m),
                0,
            ))),
        }
    }
}

/// One direction's message being read.
#[derive(Debug, Default)]
struct Reader {
    frames: FrameReader<2>,
    kept: Vec<u8>,
    /// Bytes of the current message were lost: it is dropped.
    holed: bool,
    /// The current message is longer than [`KEEP_MESSAGE`]: read as far as kept.
    cut: bool,
    /// Lost its place in the stream: waits for bytes that start a message.
    resync: bool,
}

/// A TCP connection carrying DNS.
#[derive(Debug, Default)]
pub struct DnsParser {
    readers: [Reader; 2],
    pending: Vec<Pending>,
}

impl DnsParser {
    fn message(
        &mut self,
        d: usize,
        start: (u64, u32),
        end: (u64, u32),
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        let r = super::side(&mut self.readers, d);
        if r.cut {
            stats.dns_messages_cut += 1;
        }
        let read = Message::read(&r.kept, !r.cut);
        r.kept.clear();
        let msg = match read {
            Ok(m) => m,
            Err(_) => {
                stats.dns_parse_errors += 1;
                return;
            }
        };
        match (d, msg.response) {
            (0, false) => {
                stats.dns_queries += 1;
                if self.pending.len() >= MAX_PENDING {
                    stats.dns_queries_dropped += 1;
                    return;
                }
                self.pending.push(Pending { query: msg, start });
            }
            (1, true) => {
                let at = self.pending.iter().position(|p| {
                    p.query.id == msg.id
                        && match (&p.query.question, &msg.question) {
                            (Some(q), Some(a)) => q.same(a),
                            _ => true,
                        }
                });
                let Some(at) = at else {
                    stats.dns_answers_unmatched += 1;
                    return;
                };
                stats.dns_exchanges += 1;
                out.push(
                    self.pending
                        .remove(at)
                        .answered(Some((&msg, end.0, start.1))),
                );
            }
            _ => stats.dns_parse_errors += 1,
        }
    }
}

impl ConnectionParser for DnsParser {
    fn on_data(
        &mut self,
        dir: Direction,
        data: &[u8],
        meta: SegmentMeta,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        let d = dir.index();
        let r = super::side(&mut self.readers, d);
        if r.resync {
            // After a hole a query restarts the stream; an answer cannot be told by shape.
            if d == 1 || !looks_like_query(data) {
                return;
            }
            r.resync = false;
            r.frames.reset();
        }
        let mut rest = data;
        let mut seq = meta.seq;
        loop {
            let r = super::side(&mut self.readers, d);
            let Some(read) = r.frames.read(&mut rest, meta.ts_ns, &mut seq) else {
                return;
            };
            match read {
                Read::Header(h) => {
                    r.kept.clear();
                    r.holed = false;
                    r.cut = false;
                    let len = u16::from_be_bytes(h);
                    if usize::from(len) < HEADER {
                        stats.dns_parse_errors += 1;
                        r.resync = true;
                        return;
                    }
                    r.frames.begin(u32::from(len));
                }
                Read::Payload { bytes, last, .. } => {
                    let room = KEEP_MESSAGE.saturating_sub(r.kept.len());
                    r.cut |= bytes.len() > room;
                    r.kept
                        .extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or(&[]));
                    if last {
                        let start = r.frames.start();
                        if r.holed {
                            r.kept.clear();
                            stats.dns_parse_errors += 1;
                        } else {
                            self.message(d, start, (meta.ts_ns, seq), out, stats);
                        }
                    }
                }
            }
        }
    }

    fn on_gap(&mut self, dir: Direction, len: u32, stats: &mut Counters) {
        let r = super::side(&mut self.readers, dir.index());
        if r.frames.skip_inside(len) {
            r.holed = true;
        } else {
            stats.dns_resyncs += 1;
            r.resync = true;
            r.kept.clear();
        }
    }

    fn on_close(&mut self, out: &mut Vec<Exchange>, stats: &mut Counters) {
        for p in self.pending.drain(..) {
            stats.dns_queries_unanswered += 1;
            out.push(p.answered(None));
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A query for `name` of type `qtype`, with an OPT record when `edns`.
    pub(crate) fn query(id: u16, name: &str, qtype: u16, edns: bool) -> Vec<u8> {
        let mut m = id.to_be_bytes().to_vec();
        m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)]);
        for label in name.split('.').filter(|l| !l.is_empty()) {
            m.push(label.len() as u8);
            m.extend_from_slice(label.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&[0, 1]);
        if edns {
            m.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
        }
        m
    }

    /// The answer to `q`: `n` A records named by a pointer to the question, and the OPT
    /// record's extended RCODE bits `ext`.
    pub(crate) fn answer(q: &[u8], rcode: u8, n: u16, ext: Option<u8>) -> Vec<u8> {
        let mut m = q.to_vec();
        m.truncate(HEADER);
        let qlen = q.len() - HEADER - if q[11] == 1 { 11 } else { 0 };
        m.extend_from_slice(&q[HEADER..HEADER + qlen]);
        m[2] = 0x81;
        m[3] = 0x80 | rcode;
        m[6..8].copy_from_slice(&n.to_be_bytes());
        m[11] = u8::from(ext.is_some());
        for i in 0..n {
            m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, i as u8]);
        }
        if let Some(ext) = ext {
            m.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, ext, 0, 0, 0, 0, 0]);
        }
        m
    }

    #[test]
    fn reads_question_answer_count_and_extended_rcode() {
        let q = query(0x1234, "cart.svc.test", 28, true);
        let m = Message::read(&q, true).unwrap();
        assert_eq!((m.id, m.response, m.edns), (0x1234, false, true));
        let question = m.question.unwrap();
        assert_eq!(
            (question.name.as_str(), question.qtype),
            ("cart.svc.test", 28)
        );
        let a = Message::read(&answer(&q, 3, 2, None), true).unwrap();
        assert_eq!(
            (a.response, a.rcode, a.answers, a.edns),
            (true, 3, 2, false)
        );
        // BADVERS is 16: upper bits 1 in the OPT record, lower bits 0 in the header.
        let a = Message::read(&answer(&q, 0, 0, Some(1)), true).unwrap();
        assert_eq!((a.rcode, rcode_name(a.rcode).as_ref()), (16, "BADVERS"));
    }

    #[test]
    fn names_escape_and_pointers_cannot_loop() {
        let mut q = query(1, "a.b", 1, false);
        q[13] = b'.';
        let m = Message::read(&q, true).unwrap();
        assert_eq!(m.question.unwrap().name, "\\..b");
        let mut q = query(1, "x", 1, false);
        q[13] = 7;
        assert_eq!(
            Message::read(&q, true).unwrap().question.unwrap().name,
            "\\007"
        );
        // A pointer to itself.
        let mut looped = query(1, "a", 1, false);
        looped.truncate(HEADER);
        looped.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(Message::read(&looped, true), Err(DnsError::Malformed));
        // The root.
        let root = query(1, "", 2, false);
        assert_eq!(
            Message::read(&root, true).unwrap().question.unwrap().name,
            "."
        );
        assert_eq!(
            Message::read(&q[..15], true).map(|_| ()),
            Err(DnsError::Truncated)
        );
    }

    fn framed(m: &[u8]) -> Vec<u8> {
        let mut f = (m.len() as u16).to_be_bytes().to_vec();
        f.extend_from_slice(m);
        f
    }

    /// Three pipelined queries answered out of order, every split of both directions: each
    /// answer pairs with its own query by id.
    #[test]
    fn tcp_pipelined_queries_pair_by_id_in_any_split() {
        let qs: Vec<Vec<u8>> = (0..3u16)
            .map(|i| query(100 + i, &format!("n{i}.svc.test"), 1, i == 1))
            .collect();
        let queries: Vec<u8> = qs.iter().flat_map(|q| framed(q)).collect();
        let answers: Vec<u8> = [2usize, 0, 1]
            .iter()
            .flat_map(|&i| framed(&answer(&qs[i], if i == 2 { 3 } else { 0 }, i as u16, None)))
            .collect();
        assert!(looks_like_query(&queries));
        assert!(!looks_like_query(&answers));
        for split in 1..queries.len() {
            let mut p = DnsParser::default();
            let (mut out, mut stats) = (Vec::new(), Counters::default());
            let meta = |seq: usize| SegmentMeta {
                ts_ns: seq as u64,
                seq: seq as u32,
                ack: 0,
            };
            let cut = split.min(queries.len());
            p.on_data(
                Direction::ToServer,
                &queries[..cut],
                meta(0),
                &mut out,
                &mut stats,
            );
            p.on_data(
                Direction::ToServer,
                &queries[cut..],
                meta(cut),
                &mut out,
                &mut stats,
            );
            let cut = split.min(answers.len());
            p.on_data(
                Direction::ToClient,
                &answers[..cut],
                meta(0),
                &mut out,
                &mut stats,
            );
            p.on_data(
                Direction::ToClient,
                &answers[cut..],
                meta(cut),
                &mut out,
                &mut stats,
            );
            p.on_close(&mut out, &mut stats);
            let got: Vec<_> = out
                .iter()
                .map(|e| match &e.detail {
                    ExchangeDetail::Dns(d) => (d.id, d.answer.map(|a| (a.rcode, a.answers))),
                    _ => unreachable!(),
                })
                .collect();
            assert_eq!(
                got,
                vec![
                    (102, Some((3, 2))),
                    (100, Some((0, 0))),
                    (101, Some((0, 1)))
                ],
                "split {split}"
            );
            assert_eq!(stats.dns_exchanges, 3);
        }
    }

    /// A connection's parser at time 0: feeds `bytes` in direction `dir`.
    fn feed(
        p: &mut DnsParser,
        dir: Direction,
        bytes: &[u8],
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        let meta = SegmentMeta {
            ts_ns: 0,
            seq: 0,
            ack: 0,
        };
        p.on_data(dir, bytes, meta, out, stats);
    }

    /// An answer longer than the bytes kept is read as far as kept (its header and question
    /// are whole) and counted; queries past the bound of waiting ones are dropped, counted.
    #[test]
    fn a_long_answer_is_cut_and_waiting_queries_are_bounded() {
        let (mut out, mut stats) = (Vec::new(), Counters::default());
        let mut p = DnsParser::default();
        let q = query(5, "big.svc.test", 16, false);
        feed(
            &mut p,
            Direction::ToServer,
            &framed(&q),
            &mut out,
            &mut stats,
        );
        let long = answer(&q, 0, 600, None);
        assert!(long.len() > KEEP_MESSAGE);
        feed(
            &mut p,
            Direction::ToClient,
            &framed(&long),
            &mut out,
            &mut stats,
        );
        assert_eq!(stats.dns_messages_cut, 1);
        let ExchangeDetail::Dns(d) = &out[0].detail else {
            panic!("not DNS");
        };
        assert_eq!(d.answer.map(|a| a.answers), Some(600));
        let mut p = DnsParser::default();
        for id in 0..(MAX_PENDING as u16 + 3) {
            let q = framed(&query(id, "x.svc.test", 1, false));
            feed(&mut p, Direction::ToServer, &q, &mut out, &mut stats);
        }
        assert_eq!(stats.dns_queries_dropped, 3);
        p.on_close(&mut out, &mut stats);
        assert_eq!(stats.dns_queries_unanswered, MAX_PENDING as u64);
        assert_eq!(stats.dns_parse_errors, 0);
    }

    /// A hole inside a message drops that message (counted); a hole that swallows its end
    /// leaves the reader lost until a query starts a segment again (`dns_resyncs`), and the
    /// next query pairs with its answer.
    #[test]
    fn holes_drop_a_message_or_resynchronise_at_the_next_query() {
        let (mut out, mut stats) = (Vec::new(), Counters::default());
        let mut p = DnsParser::default();
        let first = framed(&query(1, "a.svc.test", 1, false));
        feed(
            &mut p,
            Direction::ToServer,
            &first[..8],
            &mut out,
            &mut stats,
        );
        p.on_gap(Direction::ToServer, 4, &mut stats);
        feed(
            &mut p,
            Direction::ToServer,
            &first[12..],
            &mut out,
            &mut stats,
        );
        assert_eq!(stats.dns_parse_errors, 1);
        assert_eq!(stats.dns_queries, 0);
        p.on_gap(Direction::ToServer, 500, &mut stats);
        assert_eq!(stats.dns_resyncs, 1);
        let q = query(2, "b.svc.test", 1, false);
        feed(
            &mut p,
            Direction::ToServer,
            &framed(&q),
            &mut out,
            &mut stats,
        );
        let a = answer(&q, 0, 1, None);
        feed(
            &mut p,
            Direction::ToClient,
            &framed(&a),
            &mut out,
            &mut stats,
        );
        assert_eq!(stats.dns_exchanges, 1);
        assert!(matches!(&out[0].detail, ExchangeDetail::Dns(d) if d.id == 2));
    }

    #[test]
    fn other_protocols_are_not_queries() {
        for not in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            b"\x00\x00\x00\x08\x04\xd2\x16\x2f",
            b"*1\r\n$4\r\nPING\r\n",
        ] {
            assert!(!looks_like_query(not), "{not:?}");
        }
    }
}

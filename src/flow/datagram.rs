//! The datagram table: DNS over UDP.
//!
//! Takes decoded UDP datagrams on the DNS ports; gives one exchange per query, paired with its
//! answer by capture point, overlay, 5-tuple, id and question, to the same [`ExchangeSink`] as
//! the TCP flows. A query sent again with the same id and question is a retransmission of it:
//! before its answer, or just after (near the server, the client's copy and the answer to the
//! first cross); the answers to the copies are absorbed. A query unanswered past the timeout
//! (capture time) is a span without response; the table is bounded, and what it refuses,
//! mismatches or cannot read is counted.

use super::{infer_tap_side, DescribedEncaps, Endpoints, ExchangeSink, FlowFacts, Transport};
use crate::capture::{CapturePointId, CapturePoints};
use crate::decode::{Encap, UdpDatagram};
use crate::protocol::dns::{DnsExchange, Message};
use crate::protocol::{Exchange, ExchangeDetail, Incomplete, TraceContext};
use crate::stats::Counters;
use hashbrown::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Bounds on the datagram table.
#[derive(Debug, Clone, Copy)]
pub struct DatagramLimits {
    /// Queries waiting for answers (and answered ones waiting for their copies' answers).
    pub max_pending: usize,
    /// A query with no answer this long after it was last sent is given up (capture time).
    pub timeout_ns: u64,
}

impl Default for DatagramLimits {
    fn default() -> Self {
        DatagramLimits {
            max_pending: 65_536,
            timeout_ns: 5_000_000_000,
        }
    }
}

/// One lookup: where it was seen, its two ends and its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct QueryKey {
    point: CapturePointId,
    context: u64,
    client: (IpAddr, u16),
    server: (IpAddr, u16),
    id: u16,
}

struct Pending {
    /// Arrival order: timeouts and the end of input emit in it, so output is deterministic.
    order: u64,
    query: Message,
    start_ns: u64,
    /// When the query was last sent, or its last answer came.
    last_ns: u64,
    retransmits: u32,
    query_ttl: u8,
    encap: (Option<Arc<str>>, Option<Arc<str>>),
    /// Set once the answer came and the span was made.
    answered: Option<Answered>,
}

/// An answered query, kept a little while for its copies.
#[derive(Debug, Clone, Copy)]
struct Answered {
    at_ns: u64,
    /// How long after the answer a copy of the query is still a retransmission: twice the
    /// time the answer took, and 10 ms. A copy the client sent before the answer reached it
    /// comes within about a round trip; a client that asks again with the same id later is
    /// asking again.
    copies_until_ns: u64,
    /// Answers still expected for the copies.
    copies_left: u32,
}

/// The least time after an answer within which a copy of its query is a retransmission.
const LATE_COPY_NS: u64 = 10_000_000;

impl Pending {
    /// Whether the table may forget it at `now_ns`: unanswered past the timeout, or answered
    /// and past the time its copies (or their answers) could come.
    fn expired(&self, now_ns: u64, timeout_ns: u64) -> bool {
        match self.answered {
            None => now_ns.saturating_sub(self.last_ns) >= timeout_ns,
            Some(a) if a.copies_left > 0 => now_ns.saturating_sub(a.at_ns) >= timeout_ns,
            Some(a) => now_ns >= a.copies_until_ns,
        }
    }
}

/// Every DNS query over UDP waiting for its answer, at every capture point.
pub struct DatagramTable {
    limits: DatagramLimits,
    pending: HashMap<QueryKey, Pending>,
    next_order: u64,
    last_sweep_ns: u64,
    described: DescribedEncaps,
}

impl DatagramTable {
    pub fn new(limits: DatagramLimits) -> DatagramTable {
        DatagramTable {
            limits,
            pending: HashMap::new(),
            next_order: 0,
            last_sweep_ns: 0,
            described: DescribedEncaps::default(),
        }
    }

    /// Feeds one DNS datagram seen at `point` at `ts_ns`; completed exchanges go to `out`.
    #[allow(clippy::too_many_arguments)]
    pub fn dns(
        &mut self,
        point: CapturePointId,
        ts_ns: u64,
        encap: &Encap,
        dgram: &UdpDatagram<'_>,
        points: &CapturePoints,
        stats: &mut Counters,
        out: &mut ExchangeSink<'_>,
    ) {
        stats.dns_datagrams += 1;
        if ts_ns >= self.last_sweep_ns.saturating_add(1_000_000_000) {
            self.sweep(ts_ns, points, stats, out);
        }
        let msg = match Message::read(dgram.payload, dgram.missing_tail == 0) {
            Ok(m) => m,
            Err(_) => {
                stats.dns_parse_errors += 1;
                return;
            }
        };
        let (a, b) = ((dgram.src, dgram.src_port), (dgram.dst, dgram.dst_port));
        let (client, server) = if msg.response { (b, a) } else { (a, b) };
        let key = QueryKey {
            point,
            context: encap.context_hash(),
            client,
            server,
            id: msg.id,
        };
        if msg.response {
            self.answer(key, msg, ts_ns, dgram.ttl, points, stats, out);
        } else {
            self.query(key, msg, ts_ns, dgram.ttl, encap, points, stats, out);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn query(
        &mut self,
        key: QueryKey,
        msg: Message,
        ts_ns: u64,
        ttl: u8,
        encap: &Encap,
        points: &CapturePoints,
        stats: &mut Counters,
        out: &mut ExchangeSink<'_>,
    ) {
        stats.dns_queries += 1;
        if let Some(p) = self.pending.get_mut(&key) {
            let same = match (&p.query.question, &msg.question) {
                (Some(a), Some(b)) => a.same(b),
                (None, None) => true,
                _ => false,
            };
            match &mut p.answered {
                None if same => {
                    stats.dns_retransmits += 1;
                    p.retransmits += 1;
                    p.last_ns = ts_ns;
                    return;
                }
                Some(a) if same && ts_ns <= a.copies_until_ns => {
                    stats.dns_retransmits += 1;
                    a.copies_left += 1;
                    return;
                }
                _ => {}
            }
            // The id used again for another lookup: the earlier one is over.
            if let Some(old) = self.pending.remove(&key) {
                if old.answered.is_none() {
                    stats.dns_queries_unanswered += 1;
                    emit_unanswered(key, old, points, stats, out);
                }
            }
        }
        if self.pending.len() >= self.limits.max_pending {
            // A flood of queries nobody answers: sweep, at most once per millisecond of
            // capture time, before refusing.
            if ts_ns >= self.last_sweep_ns.saturating_add(1_000_000) {
                self.sweep(ts_ns, points, stats, out);
            }
            if self.pending.len() >= self.limits.max_pending {
                stats.dns_queries_dropped += 1;
                return;
            }
        }
        self.next_order += 1;
        let encap = self.described.of(encap);
        self.pending.insert(
            key,
            Pending {
                order: self.next_order,
                query: msg,
                start_ns: ts_ns,
                last_ns: ts_ns,
                retransmits: 0,
                query_ttl: ttl,
                encap,
                answered: None,
            },
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn answer(
        &mut self,
        key: QueryKey,
        msg: Message,
        ts_ns: u64,
        ttl: u8,
        points: &CapturePoints,
        stats: &mut Counters,
        out: &mut ExchangeSink<'_>,
    ) {
        let Some(p) = self.pending.get_mut(&key) else {
            stats.dns_answers_unmatched += 1;
            return;
        };
        let same = match (&p.query.question, &msg.question) {
            (Some(q), Some(a)) => q.same(a),
            // Some servers answer errors without repeating the question.
            _ => true,
        };
        if !same {
            stats.dns_answers_unmatched += 1;
            return;
        }
        if let Some(a) = &mut p.answered {
            if a.copies_left == 0 {
                // A second answer to one query: not the server's reply to anything seen.
                stats.dns_answers_unmatched += 1;
            } else {
                stats.dns_answers_duplicate += 1;
                a.copies_left -= 1;
            }
            return;
        }
        stats.dns_exchanges += 1;
        let took = ts_ns.saturating_sub(p.start_ns);
        p.answered = Some(Answered {
            at_ns: ts_ns,
            copies_until_ns: ts_ns
                .saturating_add(took.saturating_mul(2))
                .saturating_add(LATE_COPY_NS),
            copies_left: p.retransmits,
        });
        let exchange = DnsExchange::new(p.query.clone(), Some(&msg), p.retransmits);
        emit_exchange(
            key,
            exchange,
            (p.start_ns, ts_ns),
            (p.query_ttl, Some(ttl)),
            &p.encap,
            None,
            points,
            stats,
            out,
        );
    }

    /// Gives up the queries unanswered past the timeout, and forgets answered ones past the
    /// time of their copies.
    fn sweep(
        &mut self,
        now_ns: u64,
        points: &CapturePoints,
        stats: &mut Counters,
        out: &mut ExchangeSink<'_>,
    ) {
        self.last_sweep_ns = now_ns;
        let timeout = self.limits.timeout_ns;
        if !self.pending.values().any(|p| p.expired(now_ns, timeout)) {
            return;
        }
        let mut gone: Vec<(QueryKey, Pending)> = self
            .pending
            .extract_if(|_, p| p.expired(now_ns, timeout))
            .collect();
        gone.sort_by_key(|(_, p)| p.order);
        for (key, p) in gone {
            if p.answered.is_none() {
                stats.dns_timeouts += 1;
                emit_unanswered(key, p, points, stats, out);
            }
        }
    }

    /// Ends every lookup (end of input): queries still unanswered become spans without
    /// response, in arrival order.
    pub fn flush(
        &mut self,
        points: &CapturePoints,
        stats: &mut Counters,
        out: &mut ExchangeSink<'_>,
    ) {
        let mut all: Vec<(QueryKey, Pending)> = self.pending.drain().collect();
        all.sort_by_key(|(_, p)| p.order);
        for (key, p) in all {
            if p.answered.is_none() {
                stats.dns_queries_unanswered += 1;
                emit_unanswered(key, p, points, stats, out);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// The exchange of a query no answer came to.
fn emit_unanswered(
    key: QueryKey,
    p: Pending,
    points: &CapturePoints,
    stats: &mut Counters,
    out: &mut ExchangeSink<'_>,
) {
    emit_exchange(
        key,
        DnsExchange::new(p.query, None, p.retransmits),
        (p.start_ns, p.last_ns),
        (p.query_ttl, None),
        &p.encap,
        Some(Incomplete::NoResponse),
        points,
        stats,
        out,
    );
}

#[allow(clippy::too_many_arguments)]
fn emit_exchange(
    key: QueryKey,
    exchange: DnsExchange,
    (start_ns, end_ns): (u64, u64),
    (query_ttl, answer_ttl): (u8, Option<u8>),
    encap: &(Option<Arc<str>>, Option<Arc<str>>),
    incomplete: Option<Incomplete>,
    points: &CapturePoints,
    stats: &mut Counters,
    out: &mut ExchangeSink<'_>,
) {
    let endpoints = Endpoints::new(key.client, key.server);
    let facts = FlowFacts {
        capture_point: points.name(key.point),
        transport: Transport::Udp,
        client: key.client,
        server: key.server,
        endpoints: &endpoints,
        tap_side: infer_tap_side(Some(query_ttl), answer_ttl, None),
        tunnel: encap.0.as_ref(),
        vlan: encap.1.as_ref(),
    };
    stats.spans += 1;
    out(
        Exchange {
            start_ns,
            end_ns,
            req_seq: None,
            resp_seq: None,
            trace: TraceContext::default(),
            incomplete,
            detail: ExchangeDetail::Dns(Box::new(exchange)),
        },
        &facts,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::dns::tests::{answer, query};
    use crate::span::NetworkSpan;
    use std::net::Ipv4Addr;

    const CLIENT: (Ipv4Addr, u16) = (Ipv4Addr::new(10, 0, 0, 1), 40000);
    const SERVER: (Ipv4Addr, u16) = (Ipv4Addr::new(10, 0, 0, 53), 53);

    struct Table {
        table: DatagramTable,
        points: CapturePoints,
        point: CapturePointId,
        stats: Counters,
        spans: Vec<NetworkSpan>,
    }

    impl Table {
        fn new(limits: DatagramLimits) -> Table {
            let mut points = CapturePoints::default();
            let point = points.intern("test");
            Table {
                table: DatagramTable::new(limits),
                points,
                point,
                stats: Counters::default(),
                spans: Vec::new(),
            }
        }

        /// One datagram at `ms` milliseconds: a query from the client, else an answer to it.
        fn send(&mut self, ms: u64, msg: &[u8]) {
            let response = msg[2] & 0x80 != 0;
            let (src, dst) = if response {
                (SERVER, CLIENT)
            } else {
                (CLIENT, SERVER)
            };
            let dgram = UdpDatagram {
                src: src.0.into(),
                dst: dst.0.into(),
                src_port: src.1,
                dst_port: dst.1,
                ttl: 64,
                payload: msg,
                missing_tail: 0,
            };
            let spans = &mut self.spans;
            self.table.dns(
                self.point,
                ms * 1_000_000,
                &Encap::default(),
                &dgram,
                &self.points,
                &mut self.stats,
                &mut |ex, facts| spans.push(crate::span::build(ex, facts)),
            );
        }

        fn flush(&mut self) {
            let spans = &mut self.spans;
            self.table
                .flush(&self.points, &mut self.stats, &mut |ex, facts| {
                    spans.push(crate::span::build(ex, facts))
                });
        }
    }

    fn int(span: &NetworkSpan, key: &str) -> Option<i64> {
        match span.attr(key) {
            Some(crate::span::AttrValue::Int(v)) => Some(*v),
            _ => None,
        }
    }

    /// Near the server the client's copy comes after the answer to the first: still one
    /// lookup, and the copy's answer is absorbed. The same id asked again a second later is
    /// a lookup of its own.
    #[test]
    fn a_copy_that_crosses_the_answer_is_a_retransmission_a_later_ask_is_not() {
        let mut t = Table::new(DatagramLimits::default());
        let q = query(7, "cart.svc.test", 1, false);
        let a = answer(&q, 0, 1, None);
        t.send(0, &q);
        t.send(1, &a);
        t.send(2, &q);
        t.send(3, &a);
        assert_eq!(t.spans.len(), 1);
        assert_eq!(
            (t.stats.dns_retransmits, t.stats.dns_answers_duplicate),
            (1, 1)
        );
        t.send(1000, &q);
        t.send(1001, &a);
        assert_eq!(t.spans.len(), 2);
        assert_eq!(t.stats.dns_retransmits, 1);
        // A third answer to the last lookup is nobody's.
        t.send(1002, &a);
        assert_eq!(t.stats.dns_answers_unmatched, 1);
        t.flush();
        assert_eq!(t.spans.len(), 2);
    }

    /// Copies before any answer are one span that says how many; an answer to another
    /// question with the same id is not its answer.
    #[test]
    fn copies_before_the_answer_and_a_mismatched_answer() {
        let mut t = Table::new(DatagramLimits::default());
        let q = query(9, "a.svc.test", 28, true);
        t.send(0, &q);
        t.send(300, &q);
        t.send(600, &q);
        t.send(601, &answer(&query(9, "b.svc.test", 28, true), 0, 1, None));
        assert_eq!(t.stats.dns_answers_unmatched, 1);
        t.send(602, &answer(&q, 3, 0, Some(0)));
        let span = &t.spans[0];
        assert_eq!(int(span, "wirespan.dns.retransmits"), Some(2));
        assert_eq!((span.start_ns, span.end_ns), (0, 602_000_000));
        assert_eq!(span.error, None, "NXDOMAIN is an answer");
        t.send(603, &answer(&q, 3, 0, Some(0)));
        t.send(604, &answer(&q, 3, 0, Some(0)));
        assert_eq!(t.stats.dns_answers_duplicate, 2);
        assert_eq!(t.spans.len(), 1);
    }

    /// A query unanswered past the timeout is given up when capture time passes it (another
    /// datagram comes): a span without response, ending at its last copy; at the end of input
    /// the rest are too, counted apart.
    #[test]
    fn unanswered_queries_time_out_in_capture_time() {
        let mut t = Table::new(DatagramLimits::default());
        t.send(0, &query(1, "slow.svc.test", 1, false));
        t.send(1000, &query(1, "slow.svc.test", 1, false));
        t.send(5500, &query(2, "other.svc.test", 1, false));
        assert!(t.spans.is_empty(), "the copy at 1 s restarted the wait");
        t.send(6500, &query(3, "third.svc.test", 1, false));
        assert_eq!(t.stats.dns_timeouts, 1);
        let span = &t.spans[0];
        assert_eq!(span.end_ns, 1_000_000_000);
        assert_eq!(span.error, Some(Some("no answer".to_owned())));
        t.flush();
        assert_eq!(t.stats.dns_queries_unanswered, 2);
        assert_eq!(t.spans.len(), 3);
    }

    /// The table holds at most `max_pending` lookups: the next is refused and counted, and
    /// room comes back as lookups end.
    #[test]
    fn the_table_is_bounded() {
        let mut t = Table::new(DatagramLimits {
            max_pending: 4,
            ..DatagramLimits::default()
        });
        for id in 0..6u16 {
            t.send(0, &query(id, "x.svc.test", 1, false));
        }
        assert_eq!(t.stats.dns_queries_dropped, 2);
        assert_eq!(t.table.len(), 4);
        // An answered lookup leaves the table once its copies can no longer come.
        t.send(1, &answer(&query(0, "x.svc.test", 1, false), 0, 1, None));
        t.send(2000, &query(9, "x.svc.test", 1, false));
        assert_eq!(t.stats.dns_queries_dropped, 2);
        assert_eq!(t.spans.len(), 1);
    }

    #[test]
    fn what_is_not_dns_is_counted() {
        let mut t = Table::new(DatagramLimits::default());
        t.send(0, b"\x00\x01\x01\x00\x00\x01");
        let mut q = query(1, "x", 1, false);
        q[12] = 0x80;
        t.send(1, &q);
        assert_eq!(t.stats.dns_parse_errors, 2);
        assert!(t.table.is_empty());
    }
}

//! One TLS connection's handshake, read in the clear: one exchange per connection.
//!
//! Takes both directions' bytes (records, cut anywhere by the segments); gives, once the
//! handshake is over, a [`TlsExchange`]: what the hellos said (server name, versions, cipher
//! suite, ALPN, resumption, HelloRetryRequest, key-share group), the server's certificate where
//! it travels in the clear (TLS 1.2 and below), and how the handshake ended: established (both
//! sides have sent encrypted records), refused by an alert in the clear, or cut off. The
//! exchange runs from the ClientHello's first byte to the last side's first encrypted record.
//! With a key log ([`super::keylog`]), the encrypted records go to [`super::inside`], whose
//! exchanges (the calls inside) carry the connection's facts; without one they are skipped
//! whole.

use super::inside::{Inside, Learned};
use super::keylog;
use super::names::{cipher_suite_name, group_name, version_name};
use super::wire::{
    handshake_type, Alert, Certificates, ClientHello, ContentType, HandshakeMessage, RecordHeader,
    ServerHello, WireError, RECORD_HEADER_LEN,
};
use crate::attribute::{bool_attr, int_attr, str_attr, Attribute};
use crate::protocol::frame::{FrameReader, Read};
use crate::protocol::{
    side, AppParser, ConnectionParser, Description, Direction, Exchange, ExchangeDetail,
    Incomplete, SegmentMeta, TraceContext,
};
use crate::stats::Counters;
use std::sync::Arc;

/// Handshake bytes kept per direction while messages are incomplete: a certificate chain
/// is a few KiB, a hello well under one.
const MAX_HANDSHAKE_BYTES: usize = 64 * 1024;

/// The certificate the server sent, as far as it matters to people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCertificate {
    pub subject: String,
    pub issuer: String,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

/// Who sent an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    Client,
    Server,
}

/// What one connection's handshake showed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsExchange {
    /// SNI as the client sent it.
    pub server_name: Option<String>,
    /// The protocols the client offered (ALPN), comma-separated.
    pub alpn_offered: Option<String>,
    /// The highest version the client offered.
    pub client_version: Option<u16>,
    /// Negotiated by the ServerHello.
    pub version: Option<u16>,
    pub cipher: Option<u16>,
    /// The protocol the server chose (visible in TLS 1.2 and below; encrypted in 1.3).
    pub alpn: Option<String>,
    pub group: Option<u16>,
    pub resumed: bool,
    pub hello_retry: bool,
    pub certificate: Option<ServerCertificate>,
    /// A fatal alert (or any but close_notify) in the clear, and who sent it.
    pub alert: Option<(u8, Sender)>,
    /// Both sides went on encrypted.
    pub established: bool,
}

/// What one direction has shown so far.
#[derive(Debug, Default)]
struct Side {
    frames: FrameReader<RECORD_HEADER_LEN>,
    /// The record being read.
    record: Option<RecordHeader>,
    /// Handshake bytes not yet whole messages.
    handshake: Vec<u8>,
    /// An alert's payload, while it arrives.
    alert: Vec<u8>,
    /// ChangeCipherSpec seen: what follows is encrypted (TLS 1.2 and below).
    cipher_changed: bool,
    /// When this side's first encrypted record came.
    encrypted_at: Option<u64>,
    /// The framing was lost (a hole, or bytes that are not records).
    lost: bool,
    /// The encrypted record being read, kept whole for decryption (with a key log only).
    sealed: Vec<u8>,
    /// Capture time and sequence number of the record's first byte.
    record_start: (u64, u32),
}

/// The connection parser: see the module's doc.
#[derive(Default)]
pub struct TlsParser {
    sides: [Side; 2],
    found: TlsExchange,
    /// The client's session id, to tell a TLS 1.2 resumption.
    client_session_id: Vec<u8>,
    client_hello: bool,
    /// The ServerHello that is not a HelloRetryRequest has come.
    server_hello: bool,
    tls13: bool,
    /// Capture time and sequence number of the first client and server records.
    started: Option<(u64, u32)>,
    answered: Option<(u64, u32)>,
    last_ns: u64,
    /// The exchange has been given.
    done: bool,
    /// The first bytes were not TLS records after all.
    not_tls: bool,
    client_random: [u8; 32],
    /// Decryption, once the hellos are in and a key log is given.
    inside: Option<Inside>,
    /// The parser an upgrade hands over for the plaintext (MySQL, PostgreSQL).
    upgraded_from: Option<AppParser>,
    /// What the exchanges inside carry of the connection, once the handshake is given.
    facts: Option<Arc<TlsExchange>>,
    learned: Learned,
}

impl std::fmt::Debug for TlsParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsParser")
            .field("found", &self.found)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// A call read inside a TLS connection: its own detail, and the connection's TLS facts.
#[derive(Debug, Clone, PartialEq)]
pub struct Decrypted {
    pub inner: ExchangeDetail,
    pub tls: Arc<TlsExchange>,
}

impl Decrypted {
    /// The call's attributes, then its connection's `tls.*` and `wirespan.tls.decrypted`.
    pub fn describe(self, attrs: &mut Vec<Attribute>) -> Description {
        let d = self.inner.describe(attrs);
        self.tls.tls_attributes(attrs);
        attrs.push(bool_attr("wirespan.tls.decrypted", true));
        d
    }
}

impl TlsParser {
    /// A parser for a connection that switched to TLS inside another protocol, whose parser
    /// reads the plaintext.
    pub fn upgraded(plaintext: Option<AppParser>) -> TlsParser {
        TlsParser {
            upgraded_from: plaintext,
            ..Default::default()
        }
    }

    /// Hands a whole encrypted record to decryption; wraps what comes out.
    fn decrypt(
        &mut self,
        d: usize,
        header: RecordHeader,
        ts: u64,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        let Some(inside) = &mut self.inside else {
            return;
        };
        let s = side(&mut self.sides, d);
        let payload = std::mem::take(&mut s.sealed);
        let meta = SegmentMeta {
            ts_ns: ts,
            seq: s.record_start.1,
            ack: 0,
        };
        let mut inner = Vec::new();
        inside.record(
            Direction::of_index(d),
            header.bytes(),
            &payload,
            meta,
            &mut self.learned,
            &mut inner,
            stats,
        );
        let s = side(&mut self.sides, d);
        s.sealed = payload;
        s.sealed.clear();
        if !self.done {
            if let Some(alpn) = self.learned.alpn.clone() {
                self.found.alpn.get_or_insert(alpn);
            }
            if let Some(der) = self.learned.certificate.take() {
                if let Ok(c) = super::wire::read_certificate(&der) {
                    self.found.certificate.get_or_insert(ServerCertificate {
                        subject: c.subject,
                        issuer: c.issuer,
                        not_before: c.not_before,
                        not_after: c.not_after,
                    });
                }
            }
        }
        self.wrap(inner, out);
    }

    /// The exchanges read inside, with the connection's facts.
    fn wrap(&mut self, inner: Vec<Exchange>, out: &mut Vec<Exchange>) {
        if inner.is_empty() {
            return;
        }
        let tls = match &self.facts {
            Some(f) => Arc::clone(f),
            None => Arc::new(self.found.clone()),
        };
        out.extend(inner.into_iter().map(|mut e| {
            e.detail = ExchangeDetail::Decrypted(Box::new(Decrypted {
                inner: e.detail,
                tls: Arc::clone(&tls),
            }));
            e
        }));
    }

    /// Reads what one record's payload completed.
    fn record_done(
        &mut self,
        d: usize,
        header: RecordHeader,
        ts: u64,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        let dir = Direction::of_index(d);
        let tls13 = self.tls13 && self.server_hello;
        let s = side(&mut self.sides, d);
        match header.content_type {
            ContentType::ChangeCipherSpec => {
                // TLS 1.3 sends one for middleboxes (after a HelloRetryRequest too, before the
                // real ServerHello); it changes nothing there.
                if self.server_hello && !tls13 {
                    s.cipher_changed = true;
                }
            }
            ContentType::Alert if !s.cipher_changed && s.encrypted_at.is_none() => {
                let payload = std::mem::take(&mut s.alert);
                if let Some(alert) = Alert::parse(&payload) {
                    if alert.is_error() && self.found.alert.is_none() {
                        let sender = match dir {
                            Direction::ToServer => Sender::Client,
                            Direction::ToClient => Sender::Server,
                        };
                        self.found.alert = Some((alert.description, sender));
                        stats.tls_alerts += 1;
                        self.finish(ts, None, out, stats);
                    }
                }
            }
            ContentType::Handshake if !s.cipher_changed && s.encrypted_at.is_none() => {
                self.messages(d, stats);
            }
            _ => {
                // Application data, or anything after this side's ChangeCipherSpec: encrypted.
                if self.server_hello && s.encrypted_at.is_none() {
                    s.encrypted_at = Some(ts);
                }
                s.alert.clear();
                s.handshake.clear();
                if self.server_hello {
                    self.decrypt(d, header, ts, out, stats);
                }
                let both = self.sides.iter().all(|s| s.encrypted_at.is_some());
                if both && !self.done {
                    self.found.established = true;
                    self.finish(ts, None, out, stats);
                }
            }
        }
    }

    /// Reads the whole handshake messages direction `d` has given so far.
    fn messages(&mut self, d: usize, stats: &mut Counters) {
        let buf = std::mem::take(&mut side(&mut self.sides, d).handshake);
        let mut rest: &[u8] = &buf;
        loop {
            match HandshakeMessage::read(rest) {
                Ok((m, after)) => {
                    self.message(d, m, stats);
                    rest = after;
                }
                Err(WireError::Truncated) => break,
                Err(_) => {
                    stats.tls_parse_errors += 1;
                    rest = &[];
                    side(&mut self.sides, d).lost = true;
                    break;
                }
            }
        }
        let s = side(&mut self.sides, d);
        s.handshake = rest.to_vec();
    }

    fn message(&mut self, d: usize, m: HandshakeMessage<'_>, stats: &mut Counters) {
        match (d, m.msg_type) {
            (0, handshake_type::CLIENT_HELLO) if !self.client_hello => {
                match ClientHello::parse(m.body) {
                    Ok(hello) => {
                        self.client_hello = true;
                        let f = &mut self.found;
                        f.server_name = hello.server_name.map(str::to_owned);
                        let offered: Vec<&str> = hello
                            .alpn_protocols()
                            .filter_map(|p| std::str::from_utf8(p).ok())
                            .collect();
                        f.alpn_offered = (!offered.is_empty()).then(|| offered.join(","));
                        f.client_version = Some(hello.max_version());
                        self.client_session_id = hello.session_id.to_vec();
                        self.client_random = *hello.random;
                    }
                    Err(_) => stats.tls_parse_errors += 1,
                }
            }
            (1, handshake_type::SERVER_HELLO) if !self.server_hello => {
                match ServerHello::parse(m.body) {
                    Ok(hello) if hello.hello_retry_request => self.found.hello_retry = true,
                    Ok(hello) => {
                        self.server_hello = true;
                        let version = hello.negotiated_version();
                        self.tls13 = version >= 0x0304;
                        let f = &mut self.found;
                        f.version = Some(version);
                        f.cipher = Some(hello.cipher_suite);
                        f.alpn = hello.alpn_str().map(str::to_owned);
                        f.group = hello.key_share_group;
                        f.resumed = if self.tls13 {
                            hello.pre_shared_key.is_some()
                        } else {
                            !self.client_session_id.is_empty()
                                && hello.session_id == self.client_session_id.as_slice()
                        };
                        if keylog::keys_expected() {
                            self.inside = Some(Inside::new(
                                self.client_random,
                                *hello.random,
                                hello.cipher_suite,
                                self.tls13,
                                self.upgraded_from.take(),
                            ));
                        }
                    }
                    Err(_) => stats.tls_parse_errors += 1,
                }
            }
            (1, handshake_type::SERVER_KEY_EXCHANGE) if self.found.group.is_none() => {
                // ECDHE's parameters start with the curve: named_curve (3) and its id.
                if let [3, hi, lo, ..] = m.body {
                    self.found.group = Some(u16::from_be_bytes([*hi, *lo]));
                }
            }
            (1, handshake_type::CERTIFICATE) if self.found.certificate.is_none() => {
                let first = Certificates::parse(m.body, self.tls13)
                    .ok()
                    .and_then(|c| c.first());
                match first.map(super::wire::read_certificate) {
                    Some(Ok(c)) => {
                        self.found.certificate = Some(ServerCertificate {
                            subject: c.subject,
                            issuer: c.issuer,
                            not_before: c.not_before,
                            not_after: c.not_after,
                        });
                    }
                    Some(Err(_)) => stats.tls_certificates_unreadable += 1,
                    None => {}
                }
            }
            _ => {}
        }
    }

    /// Gives the exchange (once): established, refused, or cut off at `ts`.
    fn finish(
        &mut self,
        ts: u64,
        incomplete: Option<Incomplete>,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        if self.done || !self.client_hello {
            return;
        }
        self.done = true;
        stats.tls_handshakes += 1;
        if !self.found.established {
            stats.tls_handshakes_failed += 1;
        }
        let start_ns = self.started.map_or(ts, |s| s.0);
        self.facts = Some(Arc::new(self.found.clone()));
        out.push(Exchange {
            start_ns,
            end_ns: ts.max(start_ns),
            req_seq: self.started.map(|s| s.1),
            resp_seq: self.answered.map(|a| a.1),
            trace: TraceContext::default(),
            incomplete,
            detail: ExchangeDetail::Tls(Box::new(std::mem::take(&mut self.found))),
        });
    }
}

impl ConnectionParser for TlsParser {
    fn on_data(
        &mut self,
        dir: Direction,
        data: &[u8],
        meta: SegmentMeta,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        let d = dir.index();
        self.last_ns = self.last_ns.max(meta.ts_ns);
        let mut data = data;
        let mut seq = meta.seq;
        loop {
            let s = side(&mut self.sides, d);
            if s.lost {
                return;
            }
            let Some(read) = s.frames.read(&mut data, meta.ts_ns, &mut seq) else {
                return;
            };
            match read {
                Read::Header(h) => {
                    let Some(header) = RecordHeader::parse(&h) else {
                        s.lost = true;
                        if !self.client_hello && !self.server_hello {
                            self.not_tls = true;
                        } else {
                            stats.tls_parse_errors += 1;
                        }
                        return;
                    };
                    let start = s.frames.start();
                    let whole = s.frames.begin(u32::from(header.length));
                    s.record = Some(header);
                    s.record_start = start;
                    s.sealed.clear();
                    if d == 0 {
                        self.started.get_or_insert(start);
                    } else {
                        self.answered.get_or_insert(start);
                    }
                    if whole {
                        self.record_done(d, header, meta.ts_ns, out, stats);
                    }
                }
                Read::Payload { bytes, last, .. } => {
                    let Some(header) = s.record else {
                        continue;
                    };
                    let clear = !s.cipher_changed && s.encrypted_at.is_none();
                    match header.content_type {
                        ContentType::Handshake if clear => {
                            if s.handshake.len() + bytes.len() > MAX_HANDSHAKE_BYTES {
                                stats.tls_handshake_too_large += 1;
                                s.handshake.clear();
                                s.lost = true;
                                return;
                            }
                            s.handshake.extend_from_slice(bytes);
                        }
                        ContentType::Alert if clear && s.alert.len() < 2 => {
                            s.alert.extend_from_slice(bytes);
                        }
                        kind if (!clear || kind == ContentType::ApplicationData)
                            && self.inside.is_some()
                            && s.sealed.len() + bytes.len() <= super::wire::MAX_RECORD_LEN =>
                        {
                            s.sealed.extend_from_slice(bytes);
                        }
                        _ => {}
                    }
                    if last {
                        self.record_done(d, header, meta.ts_ns, out, stats);
                    }
                }
            }
        }
    }

    fn on_gap(&mut self, dir: Direction, len: u32, stats: &mut Counters) {
        let s = side(&mut self.sides, dir.index());
        // A hole inside an encrypted record's payload keeps the framing; anywhere else the
        // records cannot be found again.
        let encrypted = s.encrypted_at.is_some() || s.cipher_changed;
        if !(encrypted && s.frames.skip_inside(len)) {
            if !s.lost {
                stats.tls_gaps += 1;
            }
            s.lost = true;
        }
    }

    fn on_fin(
        &mut self,
        dir: Direction,
        ts_ns: u64,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        if let Some(inside) = &mut self.inside {
            let mut inner = Vec::new();
            inside.fin(dir, ts_ns, &mut inner, stats);
            self.wrap(inner, out);
        }
    }

    fn on_close(&mut self, out: &mut Vec<Exchange>, stats: &mut Counters) {
        if let Some(mut inside) = self.inside.take() {
            let mut inner = Vec::new();
            inside.close(&mut inner, stats);
            if inside.decrypted > 0 {
                stats.tls_connections_decrypted += 1;
            } else if inside.without_keys() && self.sides.iter().any(|s| s.encrypted_at.is_some()) {
                stats.tls_connections_without_keys += 1;
            }
            self.wrap(inner, out);
        }
        let incomplete = if !self.server_hello {
            Some(Incomplete::NoResponse)
        } else if self.sides.iter().any(|s| s.lost) {
            Some(Incomplete::Gap)
        } else {
            None
        };
        self.finish(self.last_ns, incomplete, out, stats);
    }

    fn gave_up(&self) -> bool {
        self.not_tls
    }
}

/// `0xC02F` for a suite without a name.
fn suite_text(suite: u16) -> String {
    cipher_suite_name(suite).map_or_else(|| format!("0x{suite:04X}"), str::to_owned)
}

/// Unix seconds as RFC 3339 UTC (`2026-12-14T16:01:25Z`), as OTel's `tls.server.not_after`.
pub fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (the proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

impl TlsExchange {
    /// The connection's `tls.*` attributes: what a handshake span and every call read inside
    /// the connection carry.
    pub fn tls_attributes(&self, attrs: &mut Vec<Attribute>) {
        attrs.push(str_attr("tls.protocol.name", "tls"));
        if let Some(v) = self.version {
            let text = version_name(v).map_or_else(|| format!("0x{v:04X}"), str::to_owned);
            attrs.push(str_attr("tls.protocol.version", text));
        }
        if let Some(c) = self.cipher {
            attrs.push(str_attr("tls.cipher", suite_text(c)));
        }
        if let Some(name) = &self.server_name {
            attrs.push(str_attr("tls.server_name", name.clone()));
        }
        if let Some(p) = &self.alpn {
            attrs.push(str_attr("tls.next_protocol", p.clone()));
        }
        if let Some(p) = &self.alpn_offered {
            attrs.push(str_attr("wirespan.tls.alpn_offered", p.clone()));
        }
        if let Some(g) = self.group {
            let text = group_name(g).map_or_else(|| format!("0x{g:04X}"), str::to_owned);
            attrs.push(str_attr("tls.curve", text));
        }
        attrs.push(bool_attr("tls.established", self.established));
        attrs.push(bool_attr("tls.resumed", self.resumed));
        if self.hello_retry {
            attrs.push(bool_attr("wirespan.tls.hello_retry", true));
        }
        if let Some(v) = self.client_version {
            if let Some(text) = version_name(v) {
                attrs.push(str_attr("wirespan.tls.client_version", text));
            }
        }
        if let Some(c) = &self.certificate {
            attrs.push(str_attr("tls.server.subject", c.subject.clone()));
            attrs.push(str_attr("tls.server.issuer", c.issuer.clone()));
            attrs.push(str_attr("tls.server.not_before", rfc3339(c.not_before)));
            attrs.push(str_attr("tls.server.not_after", rfc3339(c.not_after)));
        }
    }

    /// The handshake span's attributes (OTel's `tls.*` keys), name and error.
    pub fn describe(self, attrs: &mut Vec<Attribute>) -> Description {
        attrs.push(str_attr("network.protocol.name", "tls"));
        self.tls_attributes(attrs);
        let error = match self.alert {
            Some((description, sender)) => {
                let name = super::names::alert_name(description)
                    .map_or_else(|| format!("alert {description}"), str::to_owned);
                let by = match sender {
                    Sender::Client => "client",
                    Sender::Server => "server",
                };
                attrs.push(str_attr("wirespan.tls.alert", name.clone()));
                attrs.push(str_attr("wirespan.tls.alert_sender", by));
                attrs.push(int_attr("wirespan.tls.alert_code", i64::from(description)));
                Some(Some(format!("{name} (alert from the {by})")))
            }
            None if !self.established => Some(Some("handshake not finished".to_owned())),
            None => None,
        };
        let name = match &self.server_name {
            Some(sni) => format!("TLS handshake {sni}"),
            None => "TLS handshake".to_owned(),
        };
        Description { name, error }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: &[u8] = include_bytes!("testdata/openssl_client_hello.bin");
    const FLIGHT12: &[u8] = include_bytes!("testdata/openssl_tls12_server_flight.bin");
    const HELLO13: &[u8] = include_bytes!("testdata/openssl_tls13_server_hello.bin");
    const CCS: &[u8] = &[20, 3, 3, 0, 1, 1];

    /// An encrypted record of `kind` (handshake after a ChangeCipherSpec, or application data).
    fn sealed(kind: u8) -> Vec<u8> {
        let mut r = vec![kind, 3, 3, 0, 40];
        r.extend((0..40u8).map(|i| i.wrapping_mul(37)));
        r
    }

    /// Feeds each side's bytes in `chunk`-byte pieces, client first, one timestamp per step.
    fn run(steps: &[(Direction, Vec<u8>)], chunk: usize) -> (Vec<Exchange>, Counters) {
        let mut p = TlsParser::default();
        let (mut out, mut stats) = (Vec::new(), Counters::default());
        let mut seqs = [1000u32, 5000u32];
        for (i, (dir, bytes)) in steps.iter().enumerate() {
            for piece in bytes.chunks(chunk.max(1)) {
                let seq = &mut seqs[dir.index()];
                let meta = SegmentMeta {
                    ts_ns: 1_000 * (i as u64 + 1),
                    seq: *seq,
                    ack: 0,
                };
                p.on_data(*dir, piece, meta, &mut out, &mut stats);
                *seq = seq.wrapping_add(piece.len() as u32);
            }
        }
        p.on_close(&mut out, &mut stats);
        (out, stats)
    }

    fn tls12() -> Vec<(Direction, Vec<u8>)> {
        let mut key_exchange = vec![22, 3, 3, 0, 5, 16, 0, 0, 1, 0];
        key_exchange.extend_from_slice(CCS);
        key_exchange.extend(sealed(22));
        let mut server_end = CCS.to_vec();
        server_end.extend(sealed(22));
        vec![
            (Direction::ToServer, HELLO.to_vec()),
            (Direction::ToClient, FLIGHT12.to_vec()),
            (Direction::ToServer, key_exchange),
            (Direction::ToClient, server_end),
            (Direction::ToServer, sealed(23)),
        ]
    }

    /// However the segments cut the records, a TLS 1.2 handshake is one exchange from the
    /// ClientHello to the server's Finished, with the hellos' and the certificate's facts.
    #[test]
    fn a_tls12_handshake_in_any_pieces() {
        let (whole, _) = run(&tls12(), usize::MAX);
        assert_eq!(whole.len(), 1);
        let e = &whole[0];
        assert_eq!((e.start_ns, e.end_ns), (1_000, 4_000));
        assert_eq!((e.req_seq, e.resp_seq), (Some(1000), Some(5000)));
        assert_eq!(e.incomplete, None);
        let ExchangeDetail::Tls(t) = &e.detail else {
            panic!("{e:?}");
        };
        assert!(t.established);
        assert_eq!(t.version, Some(0x0303));
        assert!(t.cipher.is_some() && t.certificate.is_some(), "{t:?}");
        for chunk in 1..64 {
            let (pieces, stats) = run(&tls12(), chunk);
            assert_eq!(pieces, whole, "chunks of {chunk}");
            assert_eq!((stats.tls_handshakes, stats.tls_parse_errors), (1, 0));
        }
    }

    /// TLS 1.3: everything after the ServerHello is encrypted; the handshake ends with the
    /// client's first encrypted record (its Finished).
    #[test]
    fn a_tls13_handshake_ends_at_the_clients_finished() {
        let mut server = HELLO13.to_vec();
        server.extend_from_slice(CCS);
        server.extend(sealed(23));
        let mut client_end = CCS.to_vec();
        client_end.extend(sealed(23));
        let steps = vec![
            (Direction::ToServer, HELLO.to_vec()),
            (Direction::ToClient, server),
            (Direction::ToServer, client_end),
        ];
        let (out, stats) = run(&steps, 7);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].end_ns, 3_000);
        let ExchangeDetail::Tls(t) = &out[0].detail else {
            panic!();
        };
        assert!(t.established && t.certificate.is_none());
        assert_eq!(t.version, Some(0x0304));
        assert_eq!(stats.tls_handshakes_failed, 0);
    }

    /// An alert in the clear ends the handshake at once, failed, naming who sent it.
    #[test]
    fn an_alert_refuses_the_handshake() {
        let steps = vec![
            (Direction::ToServer, HELLO.to_vec()),
            (Direction::ToClient, vec![21, 3, 3, 0, 2, 2, 70]),
        ];
        let (out, stats) = run(&steps, 3);
        assert_eq!(out.len(), 1);
        let ExchangeDetail::Tls(t) = &out[0].detail else {
            panic!();
        };
        assert_eq!(t.alert, Some((70, Sender::Server)));
        assert!(!t.established);
        assert_eq!((stats.tls_alerts, stats.tls_handshakes_failed), (1, 1));
        let mut attrs = Vec::new();
        let d = out[0].detail.clone().describe(&mut attrs);
        assert_eq!(
            d.error,
            Some(Some("protocol_version (alert from the server)".into()))
        );
    }

    /// A hole in the middle of the server's flight: the records are lost from there, the
    /// connection's end gives the exchange marked, and the hole is counted once.
    #[test]
    fn a_hole_in_the_handshake_is_marked_and_counted() {
        let mut p = TlsParser::default();
        let (mut out, mut stats) = (Vec::new(), Counters::default());
        let meta = |ts| SegmentMeta {
            ts_ns: ts,
            seq: 1,
            ack: 0,
        };
        p.on_data(Direction::ToServer, HELLO, meta(1), &mut out, &mut stats);
        p.on_data(
            Direction::ToClient,
            &FLIGHT12[..200],
            meta(2),
            &mut out,
            &mut stats,
        );
        p.on_gap(Direction::ToClient, 100, &mut stats);
        p.on_data(
            Direction::ToClient,
            &FLIGHT12[300..],
            meta(3),
            &mut out,
            &mut stats,
        );
        p.on_gap(Direction::ToClient, 10, &mut stats);
        p.on_close(&mut out, &mut stats);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].incomplete, Some(Incomplete::Gap));
        assert_eq!(stats.tls_gaps, 1);
    }

    /// Bytes that stop being records before any hello: not TLS, given up, nothing given.
    #[test]
    fn bytes_that_are_not_records_give_up() {
        let mut p = TlsParser::default();
        let (mut out, mut stats) = (Vec::new(), Counters::default());
        let meta = SegmentMeta {
            ts_ns: 1,
            seq: 1,
            ack: 0,
        };
        p.on_data(
            Direction::ToServer,
            b"GET / HTTP/1.1\r\n",
            meta,
            &mut out,
            &mut stats,
        );
        assert!(p.gave_up());
        p.on_close(&mut out, &mut stats);
        assert!(out.is_empty());
    }

    /// A handshake message larger than what is kept is dropped and counted, never held.
    #[test]
    fn a_huge_handshake_message_is_bounded() {
        let mut p = TlsParser::default();
        let (mut out, mut stats) = (Vec::new(), Counters::default());
        let meta = SegmentMeta {
            ts_ns: 1,
            seq: 1,
            ack: 0,
        };
        p.on_data(Direction::ToServer, HELLO, meta, &mut out, &mut stats);
        // A certificate message claiming 16 MiB, in full records.
        let mut first = vec![22, 3, 3, 0x40, 0];
        first.extend([11, 0xff, 0xff, 0xff]);
        first.extend(vec![0u8; 0x4000 - 4]);
        p.on_data(Direction::ToClient, &first, meta, &mut out, &mut stats);
        for _ in 0..8 {
            let mut more = vec![22, 3, 3, 0x40, 0];
            more.extend(vec![0u8; 0x4000]);
            p.on_data(Direction::ToClient, &more, meta, &mut out, &mut stats);
        }
        assert_eq!(stats.tls_handshake_too_large, 1);
        assert!(p.sides[1].handshake.capacity() <= 2 * MAX_HANDSHAKE_BYTES);
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
            .collect()
    }

    /// A TLS 1.3 connection's records come before their keys (a key log read late): they are
    /// held, and read once the keys arrive, through the parser of the plaintext.
    #[test]
    fn records_wait_for_keys_that_come_late() {
        let records = include_str!("testdata/tls13_aes256gcm.records");
        let recs: Vec<(Direction, Vec<u8>)> = records
            .lines()
            .filter(|l| l.starts_with("C ") || l.starts_with("S "))
            .map(|l| {
                let dir = if l.starts_with('C') {
                    Direction::ToServer
                } else {
                    Direction::ToClient
                };
                (dir, hex(&l[2..]))
            })
            .collect();
        assert_eq!(recs.len(), 5);
        keylog::expect_keys();
        let mut p = TlsParser::default();
        let (mut out, mut stats) = (Vec::new(), Counters::default());
        for (i, (dir, bytes)) in recs.iter().enumerate() {
            if i == 4 {
                // The keys come just before the client's first application data.
                let keys = include_str!("testdata/tls13_aes256gcm.keys");
                keylog::shared().write().expect("lock").add_text(keys);
            }
            let meta = SegmentMeta {
                ts_ns: 1_000 * (i as u64 + 1),
                seq: 100 * i as u32,
                ack: 0,
            };
            p.on_data(*dir, bytes, meta, &mut out, &mut stats);
            if i == 3 {
                assert!(p.inside.as_ref().is_some_and(|x| x.without_keys()));
            }
        }
        p.on_close(&mut out, &mut stats);
        let inner: Vec<&Exchange> = out
            .iter()
            .filter(|e| matches!(e.detail, ExchangeDetail::Decrypted(_)))
            .collect();
        assert_eq!(inner.len(), 1, "{out:?}");
        let ExchangeDetail::Decrypted(d) = &inner[0].detail else {
            unreachable!();
        };
        let ExchangeDetail::Http(h) = &d.inner else {
            panic!("{d:?}");
        };
        assert_eq!(h.path, "/index.html");
        assert!(d.tls.established);
        assert_eq!(stats.tls_records_decrypted, 3);
        assert_eq!(stats.tls_records_unauthenticated, 0);
    }

    #[test]
    fn dates_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_659_285), "2026-12-07T16:01:25Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }
}

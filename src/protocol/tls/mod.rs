//! TLS: handshakes read in the clear, one span per connection.
//!
//! [`connection`] follows one connection's handshake and gives its exchange; [`wire`] reads TLS's records and handshake messages (the hellos, the certificate chain of
//! TLS 1.2 and below, alerts) from bytes off the wire, without state across records and
//! without cryptography; [`names`] gives the IANA names of versions, cipher suites, groups and
//! alerts, and what decryption will need to know of a cipher suite.

pub mod connection;
pub mod decrypt;
pub mod inside;
pub mod keylog;
pub mod names;
pub mod wire;

use super::{AppParser, Protocol, Role};
pub use connection::{TlsExchange, TlsParser};

/// The parser that takes a connection over where a protocol switched to TLS in the middle of
/// `data` (MySQL's SSLRequest, PostgreSQL's `S`), fed the rest of `data` from `offset` on;
/// `plaintext` reads what the key log lets it decrypt.
pub fn after_upgrade(
    dir: super::Direction,
    data: &[u8],
    offset: usize,
    meta: super::SegmentMeta,
    plaintext: AppParser,
    out: &mut Vec<super::Exchange>,
    stats: &mut crate::stats::Counters,
) -> AppParser {
    use super::ConnectionParser;
    let mut tls = TlsParser::upgraded(Some(plaintext));
    if let Some(rest) = data.get(offset..).filter(|r| !r.is_empty()) {
        let meta = super::SegmentMeta {
            seq: meta.seq.wrapping_add(offset as u32),
            ..meta
        };
        tls.on_data(dir, rest, meta, out, stats);
    }
    AppParser::Tls(Box::new(tls))
}

pub const PROTOCOL: Protocol = Protocol {
    name: "tls",
    probe: |data| {
        let client_hello = wire::looks_like_tls(data)?;
        Some((
            0,
            Some(if client_hello {
                Role::Client
            } else {
                Role::Server
            }),
        ))
    },
    start: |_, _| AppParser::Tls(Box::default()),
    exchanges: |c| c.tls_handshakes,
};

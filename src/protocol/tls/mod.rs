//! TLS: handshakes read in the clear.
//!
//! [`wire`] reads TLS's records and handshake messages (the hellos, the certificate chain of
//! TLS 1.2 and below, alerts) from bytes off the wire, without state across records and
//! without cryptography; [`names`] gives the IANA names of versions, cipher suites, groups and
//! alerts, and what decryption will need to know of a cipher suite.

pub mod names;
pub mod wire;

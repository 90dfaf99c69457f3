//! wirespan turns packets on the wire into OpenTelemetry network spans.
//!
//! Data flows one way through the modules, one stage each:
//! [`capture`] (pcap/pcapng files → raw frames) → [`decode`] (frames → TCP segments with their
//! tunnel/VLAN context) → [`flow`] (segments → ordered per-direction byte streams) →
//! [`protocol`] (streams → request/response exchanges) → [`span`] (exchanges → network spans) →
//! [`output`] (spans → OTLP/JSON lines). [`pipeline`] wires the stages together and
//! [`stats`] counts everything that is seen, dropped or malformed on the way; [`hash`] is the
//! stable hash several stages share. Live,
//! [`pipeline::live`] feeds the same pipeline from AF_PACKET rings; [`otlp`] receives the apps'
//! spans and exports; [`correlate`] joins network spans into the apps' traces; [`agent`] runs
//! receiver, correlation window and exporter beside the capture; [`show`] draws traces;
//! [`calls`] reads the calls out of network spans, which [`metrics`] counts as the service
//! graph for Prometheus and OTLP.
//! [`job`] runs each command (replay, capture, receive) from a config to a report; [`cli`]
//! only turns arguments into jobs and reports into words.

// Input comes off the wire and out of other processes: no unwrap or expect in the library.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod agent;
pub mod attribute;
pub mod calls;
pub mod capture;
pub mod cli;
pub mod config;
pub mod correlate;
pub mod decode;
pub mod flow;
pub mod fuzz;
pub mod hash;
pub mod host;
pub mod job;
pub mod latency;
pub mod metrics;
pub mod otlp;
pub mod output;
pub mod pipeline;
pub mod protocol;
pub mod show;
pub mod span;
pub mod stats;

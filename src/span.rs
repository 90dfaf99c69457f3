//! Network spans.
//!
//! Takes a parser's [`Exchange`] and what the flow knows ([`FlowFacts`]: addresses, capture
//! point, tap side, tunnel); gives a [`NetworkSpan`] with the names, kinds and attributes that `SPANS.md` fixes.
//! Ids that the request did not carry are derived from the call itself, so the same input
//! always gives the same output, and one call seen at several capture points shares its trace.

pub use crate::attribute::{bool_attr, int_attr, str_attr, AttrValue, Attribute, Text};
use crate::flow::{FlowFacts, TapSide};
use crate::hash::StableHasher;
use crate::protocol::{Exchange, ExchangeDetail};

/// OTLP span kinds (the enum numbers of the protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    Internal = 1,
    Server = 2,
    Client = 3,
}

/// One request/response exchange seen at one capture point.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkSpan {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent_span_id: Option<[u8; 8]>,
    pub name: String,
    pub kind: SpanKind,
    pub start_ns: u64,
    pub end_ns: u64,
    /// `Some` when the call failed, with an optional message.
    pub error: Option<Option<String>>,
    pub attributes: Vec<Attribute>,
}

impl NetworkSpan {
    pub fn attr(&self, key: &str) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .find(|a| a.key == key)
            .map(|a| &a.value)
    }
}

/// A span's kind is the end of the call its capture point is nearer to.
fn kind_at(tap_side: TapSide) -> SpanKind {
    match tap_side {
        TapSide::Client => SpanKind::Client,
        TapSide::Server => SpanKind::Server,
        TapSide::Unknown => SpanKind::Internal,
    }
}

/// Hashes the call: its endpoints, then where its request and response start in the streams.
fn hash_call(facts: &FlowFacts<'_>, ex: &Exchange) -> StableHasher {
    let mut h = facts.endpoints.hashed().clone();
    h.write_u64(ex.req_seq.map_or(u64::MAX, u64::from));
    h.write_u64(ex.resp_seq.map_or(u64::MAX, u64::from));
    // A datagram has no sequence numbers: a lookup is told from the others on its 5-tuple by
    // its id, the same at every capture point.
    if let ExchangeDetail::Dns(dns) = &ex.detail {
        h.write_u64(u64::from(dns.id));
    }
    h
}

/// A trace id for a call that carried none: the same at every capture point of that call.
/// `call` has hashed the call ([`hash_call`]).
fn derived_trace_id(call: &StableHasher) -> [u8; 16] {
    let mut h = call.clone();
    let hi = h.finish();
    h.write(b"trace-low");
    let lo = h.finish();
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&hi.to_be_bytes());
    id[8..].copy_from_slice(&lo.to_be_bytes());
    id
}

/// A span id unique to the call at this capture point; `call` as for [`derived_trace_id`].
fn derived_span_id(call: &StableHasher, facts: &FlowFacts<'_>, ex: &Exchange) -> [u8; 8] {
    let mut h = call.clone();
    h.write(facts.capture_point.as_bytes());
    h.write(facts.tunnel.map_or("", |t| t).as_bytes());
    h.write(facts.vlan.map_or("", |v| v).as_bytes());
    h.write_u64(ex.start_ns);
    let id = h.finish().max(1);
    id.to_be_bytes()
}

/// Room for the attributes of nearly every span (a gRPC call has about 24), so the vector is
/// sized once.
const MOST_ATTRIBUTES: usize = 24;

/// Builds the span of one exchange, taking its strings.
pub fn build(ex: Exchange, facts: &FlowFacts<'_>) -> NetworkSpan {
    // Both derived ids start from the same hash of the call: computed once.
    let call = hash_call(facts, &ex);
    let trace_id = ex.trace.trace_id.unwrap_or_else(|| derived_trace_id(&call));
    let span_id = derived_span_id(&call, facts, &ex);
    let mut attributes = Vec::with_capacity(MOST_ATTRIBUTES);
    attributes.extend([
        str_attr("network.transport", facts.transport.as_str()),
        str_attr("client.address", facts.endpoints.client()),
        int_attr("client.port", i64::from(facts.client.1)),
        str_attr("server.address", facts.endpoints.server()),
        int_attr("server.port", i64::from(facts.server.1)),
    ]);
    let described = ex.detail.describe(&mut attributes);
    attributes.push(str_attr("wirespan.capture.point", facts.capture_point));
    attributes.push(str_attr("wirespan.tap_side", facts.tap_side.as_str()));
    if let Some(seq) = ex.req_seq {
        attributes.push(int_attr("wirespan.tcp.req_seq", i64::from(seq)));
    }
    if let Some(seq) = ex.resp_seq {
        attributes.push(int_attr("wirespan.tcp.resp_seq", i64::from(seq)));
    }
    if let Some(t) = facts.tunnel {
        attributes.push(str_attr("wirespan.tunnel", t));
    }
    if let Some(v) = facts.vlan {
        attributes.push(str_attr("wirespan.vlan", v));
    }
    if let Some(why) = ex.incomplete {
        attributes.push(str_attr("wirespan.incomplete", why.as_str()));
    }
    NetworkSpan {
        trace_id,
        span_id,
        parent_span_id: ex.trace.parent_span_id,
        name: described.name,
        kind: kind_at(facts.tap_side),
        start_ns: ex.start_ns,
        end_ns: ex.end_ns.max(ex.start_ns),
        error: described.error,
        attributes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_hash_is_stable() {
        let mut h = StableHasher::new();
        h.write(b"wirespan");
        // Span ids derive from this hash: a change here changes every derived id in the output.
        assert_eq!(h.finish(), 11_265_622_110_308_490_093);
    }
}

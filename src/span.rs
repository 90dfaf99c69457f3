//! Network spans.
//!
//! Takes a parser's [`Exchange`] and what the flow knows (addresses, capture point, tap side,
//! tunnel); gives a [`NetworkSpan`] with the names, kinds and attributes that `SPANS.md` fixes.
//! Ids that the request did not carry are derived from the call itself, so the same input
//! always gives the same output, and one call seen at several capture points shares its trace.

use crate::hash::StableHasher;
use crate::protocol::mysql::MysqlExchange;
use crate::protocol::{Exchange, ExchangeDetail, GrpcCall, HttpExchange};
use std::borrow::Cow;
use std::net::IpAddr;
use std::ops::Deref;
use std::sync::Arc;

/// OTLP span kinds (the enum numbers of the protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    Internal = 1,
    Server = 2,
    Client = 3,
}

/// Which end of the call a capture point is nearer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapSide {
    Client,
    Server,
    Unknown,
}

impl TapSide {
    pub fn as_str(self) -> &'static str {
        match self {
            TapSide::Client => "client",
            TapSide::Server => "server",
            TapSide::Unknown => "unknown",
        }
    }

    pub fn kind(self) -> SpanKind {
        match self {
            TapSide::Client => SpanKind::Client,
            TapSide::Server => SpanKind::Server,
            TapSide::Unknown => SpanKind::Internal,
        }
    }
}

/// Attribute text. Constants (`tcp`, `http`, a tap side, a known method) are borrowed and what
/// spans repeat (a flow's addresses, capture point and tunnel, a connection's Host and
/// User-Agent) is shared, so a span allocates only for text of its own (path, query).
#[derive(Debug, Clone)]
pub enum Text {
    Static(&'static str),
    Shared(Arc<str>),
    Owned(String),
}

impl Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            Text::Static(s) => s,
            Text::Shared(s) => s,
            Text::Owned(s) => s,
        }
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        **self == **other
    }
}

impl From<&'static str> for Text {
    fn from(s: &'static str) -> Text {
        Text::Static(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text::Owned(s)
    }
}

impl From<Arc<str>> for Text {
    fn from(s: Arc<str>) -> Text {
        Text::Shared(s)
    }
}

impl From<&Arc<str>> for Text {
    fn from(s: &Arc<str>) -> Text {
        Text::Shared(Arc::clone(s))
    }
}

impl From<Cow<'static, str>> for Text {
    fn from(s: Cow<'static, str>) -> Text {
        match s {
            Cow::Borrowed(s) => Text::Static(s),
            Cow::Owned(s) => Text::Owned(s),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Str(Text),
    Int(i64),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub key: &'static str,
    pub value: AttrValue,
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

/// What the flow contributes to each of its spans.
#[derive(Debug, Clone, Copy)]
pub struct FlowFacts<'a> {
    pub capture_point: &'a Arc<str>,
    pub client: (IpAddr, u16),
    pub server: (IpAddr, u16),
    pub endpoints: &'a Endpoints,
    pub tap_side: TapSide,
    pub tunnel: Option<&'a Arc<str>>,
    pub vlan: Option<&'a Arc<str>>,
}

/// Initial TTLs that operating systems use: a packet still carrying one has not been routed.
fn is_initial_ttl(ttl: u8) -> bool {
    matches!(ttl, 32 | 64 | 128 | 255)
}

/// Decides the tap side. A TTL still at its initial value means the capture point is on the
/// sender's host (before any router). Failing that, the handshake tells: at the client the
/// SYN→SYN-ACK wait is the round trip and SYN-ACK→ACK is instant; at the server it is the
/// other way round.
pub fn infer_tap_side(
    to_server_ttl: Option<u8>,
    to_client_ttl: Option<u8>,
    handshake_ns: Option<((u64, u64), u64)>,
) -> TapSide {
    if let (Some(c), Some(s)) = (to_server_ttl, to_client_ttl) {
        match (is_initial_ttl(c), is_initial_ttl(s)) {
            (true, false) => return TapSide::Client,
            (false, true) => return TapSide::Server,
            _ => {}
        }
    }
    if let Some(((syn, synack), ack)) = handshake_ns {
        let wait_for_synack = synack.saturating_sub(syn);
        let wait_for_ack = ack.saturating_sub(synack);
        if wait_for_synack > 4 * wait_for_ack {
            return TapSide::Client;
        }
        if wait_for_ack > 4 * wait_for_synack {
            return TapSide::Server;
        }
    }
    TapSide::Unknown
}

/// An address as text: IPv4 written by hand, since `Display` through the formatter was a tenth
/// of a replay's time when every span formats two of them.
fn address_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let mut text = String::with_capacity(15);
            let mut digits = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    text.push('.');
                }
                text.push_str(digits.format(octet));
            }
            text
        }
        IpAddr::V6(v6) => v6.to_string(),
    }
}

/// A flow's endpoints as text and hashed, done once per flow (when its first span is built)
/// rather than for every span.
#[derive(Debug)]
pub struct Endpoints {
    client: Arc<str>,
    server: Arc<str>,
    /// The start of every derived id of the flow's calls ([`hash_call`]).
    hashed: StableHasher,
}

impl Endpoints {
    pub fn new(client: (IpAddr, u16), server: (IpAddr, u16)) -> Endpoints {
        let client_text = address_text(client.0);
        let server_text = address_text(server.0);
        let mut hashed = StableHasher::new();
        hashed.write(client_text.as_bytes());
        hashed.write_u64(u64::from(client.1));
        hashed.write(server_text.as_bytes());
        hashed.write_u64(u64::from(server.1));
        Endpoints {
            client: client_text.into(),
            server: server_text.into(),
            hashed,
        }
    }
}

/// Hashes the call: its endpoints, then where its request and response start in the streams.
fn hash_call(facts: &FlowFacts<'_>, ex: &Exchange) -> StableHasher {
    let mut h = facts.endpoints.hashed.clone();
    h.write_u64(ex.req_seq.map_or(u64::MAX, u64::from));
    h.write_u64(ex.resp_seq.map_or(u64::MAX, u64::from));
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

fn str_attr(key: &'static str, v: impl Into<Text>) -> Attribute {
    Attribute {
        key,
        value: AttrValue::Str(v.into()),
    }
}

fn int_attr(key: &'static str, v: i64) -> Attribute {
    Attribute {
        key,
        value: AttrValue::Int(v),
    }
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
        str_attr("network.transport", "tcp"),
        str_attr("client.address", &facts.endpoints.client),
        int_attr("client.port", i64::from(facts.client.1)),
        str_attr("server.address", &facts.endpoints.server),
        int_attr("server.port", i64::from(facts.server.1)),
    ]);
    let (name, error) = match ex.detail {
        ExchangeDetail::Http(h) => http_attributes(*h, &mut attributes),
        ExchangeDetail::Mysql(m) => mysql_attributes(*m, &mut attributes),
    };
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
        name,
        kind: facts.tap_side.kind(),
        start_ns: ex.start_ns,
        end_ns: ex.end_ns.max(ex.start_ns),
        error,
        attributes,
    }
}

/// Adds the HTTP attributes; returns the span name and error status.
fn http_attributes(
    h: HttpExchange,
    attrs: &mut Vec<Attribute>,
) -> (String, Option<Option<String>>) {
    let name = match (&h.grpc, &h.method) {
        (Some(g), _) if !g.service.is_empty() => {
            [g.service.as_str(), "/", g.method.as_str()].concat()
        }
        (_, Some(m)) if !h.path.is_empty() => [m, " ", h.path.as_str()].concat(),
        (_, Some(m)) => m.to_string(),
        _ => "HTTP".to_owned(),
    };
    let error = match &h.grpc {
        Some(g) => g.status.filter(|&c| c != 0).map(|c| {
            Some(
                g.message
                    .clone()
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| format!("gRPC status {c}")),
            )
        }),
        None => h
            .status
            .filter(|&s| s >= 500)
            .map(|s| Some(format!("HTTP {s}")))
            .or_else(|| {
                h.reset_code
                    .filter(|&c| c != 0)
                    .map(|c| Some(format!("RST_STREAM {c}")))
            }),
    };
    attrs.push(str_attr("network.protocol.name", "http"));
    attrs.push(str_attr("network.protocol.version", h.version));
    if let Some(m) = h.method {
        attrs.push(str_attr("http.request.method", m));
        // An HTTP/2 :path hidden in a dynamic-table entry from before the capture is unknown.
        if !h.path.is_empty() {
            attrs.push(str_attr("url.path", h.path));
        }
        if let Some(q) = h.query {
            attrs.push(str_attr("url.query", q));
        }
        attrs.push(int_attr(
            "http.request.body.size",
            h.request_body_size as i64,
        ));
    }
    if let Some(status) = h.status {
        attrs.push(int_attr("http.response.status_code", i64::from(status)));
        attrs.push(int_attr(
            "http.response.body.size",
            h.response_body_size as i64,
        ));
    }
    if let Some(ua) = h.user_agent {
        attrs.push(str_attr("user_agent.original", ua));
    }
    if let Some(host) = h.host {
        attrs.push(str_attr("http.request.header.host", host));
    }
    if let Some(id) = h.x_request_id {
        attrs.push(str_attr("http.request.header.x-request-id", id));
    }
    if let Some(id) = h.stream_id {
        attrs.push(int_attr("wirespan.http2.stream_id", i64::from(id)));
    }
    if let Some(code) = h.reset_code {
        attrs.push(int_attr("wirespan.http2.reset_code", i64::from(code)));
    }
    if h.unknown_headers > 0 {
        attrs.push(int_attr(
            "wirespan.hpack.unknown_fields",
            i64::from(h.unknown_headers),
        ));
    }
    if let Some(g) = h.grpc {
        grpc_attributes(*g, attrs);
    }
    (name, error)
}

/// Adds the gRPC attributes. Out of line: the HTTP/1 span path stays as short as it was.
#[inline(never)]
fn grpc_attributes(g: GrpcCall, attrs: &mut Vec<Attribute>) {
    attrs.push(str_attr("rpc.system", "grpc"));
    attrs.push(str_attr("rpc.service", g.service));
    attrs.push(str_attr("rpc.method", g.method));
    if let Some(code) = g.status {
        attrs.push(int_attr("rpc.grpc.status_code", i64::from(code)));
    }
    if let Some(m) = g.message.filter(|m| !m.is_empty()) {
        attrs.push(str_attr("rpc.grpc.status_message", m));
    }
    attrs.push(int_attr(
        "wirespan.grpc.request_messages",
        g.request_messages as i64,
    ));
    attrs.push(int_attr(
        "wirespan.grpc.response_messages",
        g.response_messages as i64,
    ));
    if g.compressed_messages > 0 {
        attrs.push(int_attr(
            "wirespan.grpc.compressed_messages",
            g.compressed_messages as i64,
        ));
    }
    if !g.request_identifiers.is_empty() {
        attrs.push(str_attr(
            "wirespan.request.identifiers",
            g.request_identifiers,
        ));
    }
}

/// Adds the MySQL attributes; returns the span name and error status.
fn mysql_attributes(
    m: MysqlExchange,
    attrs: &mut Vec<Attribute>,
) -> (String, Option<Option<String>>) {
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
    (name, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_side_from_ttl_then_handshake() {
        assert_eq!(infer_tap_side(Some(64), Some(63), None), TapSide::Client);
        assert_eq!(infer_tap_side(Some(63), Some(64), None), TapSide::Server);
        let at_client = Some(((0, 1000), 1010));
        let at_server = Some(((0, 10), 1010));
        assert_eq!(
            infer_tap_side(Some(64), Some(64), at_client),
            TapSide::Client
        );
        assert_eq!(
            infer_tap_side(Some(64), Some(64), at_server),
            TapSide::Server
        );
        assert_eq!(
            infer_tap_side(Some(64), Some(64), Some(((0, 10), 20))),
            TapSide::Unknown
        );
        assert_eq!(infer_tap_side(None, None, None), TapSide::Unknown);
    }

    #[test]
    fn stable_hash_is_stable() {
        let mut h = StableHasher::new();
        h.write(b"wirespan");
        // Span ids derive from this hash: a change here changes every derived id in the output.
        assert_eq!(h.finish(), 11_265_622_110_308_490_093);
    }
}

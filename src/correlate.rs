//! Correlation: network spans joined into the applications' traces.
//!
//! Takes network spans and the apps' OTLP spans; gives both back with trace ids and parents
//! rewritten so that one trace reads caller CLIENT span → network spans, ordered from the
//! client's side to the server's → callee SERVER span. Observations of one call at several
//! capture points are grouped by inner 5-tuple and request sequence number. A call is joined:
//! by the trace context it carried (W3C/B3 → the caller's span); else by the callee's SERVER
//! span whose peer address and port are the call's client (an uninstrumented caller); else
//! under the span that was open on the client's host at the time (an uninstrumented database
//! client), preferring a DB CLIENT span with the same statement; else through an X-Request-ID
//! shared with a joined call into the same host (a proxy). Re-parented app spans keep their old
//! parent in `wirespan.reparented_from`.

use crate::otlp::{attr_int, attr_str, kv_str, KeyValue, ResourceSpans, Span};
use crate::stats::Counters;
use hashbrown::HashMap;

/// How far apart in time (capture clocks vs. app clocks) two views of one call may be.
#[derive(Debug, Clone, Copy)]
pub struct CorrelationConfig {
    pub window_ns: u64,
}

impl Default for CorrelationConfig {
    fn default() -> Self {
        CorrelationConfig {
            window_ns: 2_000_000_000,
        }
    }
}

/// Where an app span lives in the input.
#[derive(Debug, Clone, Copy)]
struct AppRef {
    resource: usize,
    scope: usize,
    span: usize,
}

/// One call as the network saw it: its observations, ordered along the path.
struct Call {
    members: Vec<usize>,
    start: u64,
    end: u64,
    client: (String, i64),
    server: (String, i64),
}

/// Tolerance for "the span was open while the call ran". None: the app and the capture read
/// the host's one clock, the app starts its span before it sends and ends it after the answer,
/// and the live demo showed a span starting 0.9 ms after an earlier statement's answer.
const ENCLOSING_SLACK_NS: u64 = 0;
const KIND_SERVER: i32 = 2;
const KIND_CLIENT: i32 = 3;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Tap sides in path order: the client's side first.
fn side_rank(span: &Span) -> u8 {
    match attr_str(&span.attributes, "wirespan.tap_side") {
        Some("client") => 0,
        Some("server") => 2,
        _ => 1,
    }
}

/// The peer (address, port) a SERVER span says its caller had, under any of the conventions.
fn peer_of(span: &Span) -> Option<(String, i64)> {
    const KEYS: [(&str, &str); 4] = [
        ("client.address", "client.port"),
        ("network.peer.address", "network.peer.port"),
        ("net.sock.peer.addr", "net.sock.peer.port"),
        ("net.peer.ip", "net.peer.port"),
    ];
    KEYS.iter().find_map(|(a, p)| {
        let addr = attr_str(&span.attributes, a)?;
        let port = attr_int(&span.attributes, p)?;
        Some((addr.to_owned(), port))
    })
}

/// The IP address of the host (pod) a resource runs on.
fn host_ip(resource: &ResourceSpans) -> Option<&str> {
    let attrs = &resource.resource.as_ref()?.attributes;
    ["app.host.ip", "k8s.pod.ip", "host.ip"]
        .iter()
        .find_map(|k| attr_str(attrs, k))
}

fn statement(span: &Span) -> Option<&str> {
    attr_str(&span.attributes, "db.query.text")
        .or_else(|| attr_str(&span.attributes, "db.statement"))
}

pub struct Correlator<'a> {
    cfg: CorrelationConfig,
    network: &'a mut [Span],
    apps: &'a mut [ResourceSpans],
    index: Vec<AppRef>,
    /// (trace id, span id) → app span: span ids are only unique within a trace.
    by_span_id: HashMap<(Vec<u8>, Vec<u8>), usize>,
    /// SERVER spans by (trace id, parent span id), as they came in.
    servers_by_parent: HashMap<(Vec<u8>, Vec<u8>), Vec<usize>>,
    /// SERVER spans by the peer (address, port) they name.
    servers_by_peer: HashMap<(String, i64), Vec<usize>>,
    /// App spans by the IP address of their host.
    by_host: HashMap<String, Vec<usize>>,
}

impl<'a> Correlator<'a> {
    fn app(&self, i: usize) -> &Span {
        let r = self.index[i];
        &self.apps[r.resource].scope_spans[r.scope].spans[r.span]
    }

    fn app_mut(&mut self, i: usize) -> &mut Span {
        let r = self.index[i];
        &mut self.apps[r.resource].scope_spans[r.scope].spans[r.span]
    }

    fn app_host(&self, i: usize) -> Option<&str> {
        host_ip(&self.apps[self.index[i].resource])
    }
}

/// Joins `network` spans into the traces of `apps`, in place, and attributes the latency of
/// each app-to-app call ([`crate::latency`]); counts what it did in `stats`.
pub fn correlate(
    cfg: CorrelationConfig,
    network: &mut [Span],
    apps: &mut [ResourceSpans],
    stats: &mut Counters,
) {
    let mut index = Vec::new();
    for (r, rs) in apps.iter().enumerate() {
        for (s, ss) in rs.scope_spans.iter().enumerate() {
            for k in 0..ss.spans.len() {
                index.push(AppRef {
                    resource: r,
                    scope: s,
                    span: k,
                });
            }
        }
    }
    let mut c = Correlator {
        cfg,
        network,
        apps,
        index,
        by_span_id: HashMap::new(),
        servers_by_parent: HashMap::new(),
        servers_by_peer: HashMap::new(),
        by_host: HashMap::new(),
    };
    // Indexes, so that joining a call costs lookups rather than a scan of every app span.
    for i in 0..c.index.len() {
        let s = c.app(i);
        let key = (s.trace_id.clone(), s.span_id.clone());
        let server = (s.kind == KIND_SERVER)
            .then(|| ((s.trace_id.clone(), s.parent_span_id.clone()), peer_of(s)));
        let host = c.app_host(i).map(str::to_owned);
        c.by_span_id.insert(key, i);
        if let Some((by_parent, peer)) = server {
            c.servers_by_parent.entry(by_parent).or_default().push(i);
            if let Some(peer) = peer {
                c.servers_by_peer.entry(peer).or_default().push(i);
            }
        }
        if let Some(host) = host {
            c.by_host.entry(host).or_default().push(i);
        }
    }
    let calls = group_calls(c.network);
    stats.correlation_calls += calls.len() as u64;
    let mut joined = vec![false; calls.len()];
    for (n, call) in calls.iter().enumerate() {
        joined[n] = join_by_context(&mut c, call, stats)
            || join_by_server_peer(&mut c, call, stats)
            || join_by_enclosing_span(&mut c, call, stats);
    }
    for (n, call) in calls.iter().enumerate() {
        if !joined[n] {
            joined[n] = join_by_request_id(&mut c, &calls, &joined, call, stats);
        }
        if !joined[n] {
            stats.correlation_calls_unjoined += 1;
        }
    }
    // The traces are whole now: split each app-to-app call's time along its path.
    crate::latency::attribute(network, apps);
}

/// Groups network spans by call (inner 5-tuple + request sequence number), each group sorted
/// along the path.
fn group_calls(network: &[Span]) -> Vec<Call> {
    let mut order: Vec<(String, i64, String, i64, i64)> = Vec::new();
    let mut groups: HashMap<(String, i64, String, i64, i64), Vec<usize>> = HashMap::new();
    for (i, s) in network.iter().enumerate() {
        let a = &s.attributes;
        let key = (
            attr_str(a, "client.address").unwrap_or("").to_owned(),
            attr_int(a, "client.port").unwrap_or(-1),
            attr_str(a, "server.address").unwrap_or("").to_owned(),
            attr_int(a, "server.port").unwrap_or(-1),
            // Spans without a request (a lost one) form calls of their own.
            attr_int(a, "wirespan.tcp.req_seq").unwrap_or(-(i as i64) - 2),
        );
        let entry = groups.entry(key.clone()).or_default();
        if entry.is_empty() {
            order.push(key);
        }
        entry.push(i);
    }
    order
        .into_iter()
        .filter_map(|key| {
            let mut members = groups.remove(&key)?;
            members.sort_by_key(|&i| {
                let s = &network[i];
                (
                    side_rank(s),
                    s.start_time_unix_nano,
                    attr_str(&s.attributes, "wirespan.capture.point")
                        .unwrap_or("")
                        .to_owned(),
                )
            });
            let start = members
                .iter()
                .map(|&i| network[i].start_time_unix_nano)
                .min()
                .unwrap_or(0);
            let end = members
                .iter()
                .map(|&i| network[i].end_time_unix_nano)
                .max()
                .unwrap_or(0);
            Some(Call {
                members,
                start,
                end,
                client: (key.0, key.1),
                server: (key.2, key.3),
            })
        })
        .collect()
}

/// Puts the call's spans into `trace`, the first under `parent`, each next under the one before.
/// Returns the last one's span id.
fn chain(c: &mut Correlator<'_>, call: &Call, trace: &[u8], parent: &[u8]) -> Vec<u8> {
    let mut parent = parent.to_vec();
    for &m in &call.members {
        let s = &mut c.network[m];
        s.trace_id = trace.to_vec();
        s.parent_span_id = parent.clone();
        parent = s.span_id.clone();
    }
    parent
}

fn reparent(c: &mut Correlator<'_>, app: usize, new_parent: &[u8], stats: &mut Counters) {
    let s = c.app_mut(app);
    let old = hex(&s.parent_span_id);
    s.parent_span_id = new_parent.to_vec();
    s.attributes
        .retain(|a: &KeyValue| a.key != "wirespan.reparented_from");
    s.attributes.push(kv_str("wirespan.reparented_from", &old));
    stats.correlation_app_spans_reparented += 1;
}

/// The call carried a trace context: its parent is the caller's span.
fn join_by_context(c: &mut Correlator<'_>, call: &Call, stats: &mut Counters) -> bool {
    let Some(&first) = call.members.first() else {
        return false;
    };
    let parent = c.network[first].parent_span_id.clone();
    let trace = c.network[first].trace_id.clone();
    if parent.is_empty() {
        return false;
    }
    let caller = c.by_span_id.get(&(trace.clone(), parent.clone())).copied();
    // The callee's SERVER span was started from the same context: same trace, same parent.
    let callee = c
        .servers_by_parent
        .get(&(trace.clone(), parent.clone()))
        .and_then(|v| v.first())
        .copied();
    if caller.is_none() && callee.is_none() {
        return false;
    }
    let last = chain(c, call, &trace, &parent);
    if let Some(callee) = callee {
        reparent(c, callee, &last, stats);
    }
    stats.correlation_joined_by_context += 1;
    true
}

/// No trace context on the wire, but the callee is instrumented: its SERVER span names the
/// call's client address and port as its peer.
fn join_by_server_peer(c: &mut Correlator<'_>, call: &Call, stats: &mut Counters) -> bool {
    let w = c.cfg.window_ns;
    let candidates = c
        .servers_by_peer
        .get(&call.client)
        .cloned()
        .unwrap_or_default();
    let callee = candidates.into_iter().find(|&i| {
        let s = c.app(i);
        s.start_time_unix_nano + w >= call.start && s.end_time_unix_nano <= call.end + w
    });
    let Some(callee) = callee else { return false };
    let trace = c.app(callee).trace_id.clone();
    let caller = c.app(callee).parent_span_id.clone();
    let last = chain(c, call, &trace, &caller);
    reparent(c, callee, &last, stats);
    stats.correlation_joined_by_peer += 1;
    true
}

/// No trace context and no instrumented callee (a database, say): the call belongs under the
/// span that was open on the client's host while it ran, a DB CLIENT span for the same
/// statement first of all.
fn join_by_enclosing_span(c: &mut Correlator<'_>, call: &Call, stats: &mut Counters) -> bool {
    // The app and the capture point share the host's clock here: the span must really enclose
    // the call (a connection's QUIT at shutdown belongs to no request).
    let w = ENCLOSING_SLACK_NS;
    let Some(&first) = call.members.first() else {
        return false;
    };
    let sql = statement(&c.network[first]).map(str::to_owned);
    let mut best: Option<(u8, u64, usize)> = None;
    let on_host = c.by_host.get(&call.client.0).cloned().unwrap_or_default();
    for i in on_host {
        let s = c.app(i);
        if s.start_time_unix_nano > call.start + w || s.end_time_unix_nano + w < call.end {
            continue;
        }
        let same_statement =
            s.kind == KIND_CLIENT && sql.is_some() && statement(s) == sql.as_deref();
        // Rank: a matching DB CLIENT span, then the innermost (latest-starting) open span.
        let rank = (u8::from(same_statement), s.start_time_unix_nano, i);
        if best.is_none_or(|b| (rank.0, rank.1) > (b.0, b.1)) {
            best = Some(rank);
        }
    }
    let Some((_, _, parent)) = best else {
        return false;
    };
    let trace = c.app(parent).trace_id.clone();
    let parent_id = c.app(parent).span_id.clone();
    chain(c, call, &trace, &parent_id);
    stats.correlation_joined_by_enclosing_span += 1;
    true
}

/// A proxy passes X-Request-ID on: a call out of a host with the same id as a joined call
/// into that host continues that call's trace.
fn join_by_request_id(
    c: &mut Correlator<'_>,
    calls: &[Call],
    joined: &[bool],
    call: &Call,
    stats: &mut Counters,
) -> bool {
    let key = "http.request.header.x-request-id";
    let Some(&first) = call.members.first() else {
        return false;
    };
    let Some(id) = attr_str(&c.network[first].attributes, key).map(str::to_owned) else {
        return false;
    };
    let inbound = calls.iter().enumerate().find(|(n, other)| {
        joined[*n]
            && other.server.0 == call.client.0
            && other.start <= call.start
            && other
                .members
                .first()
                .is_some_and(|&m| attr_str(&c.network[m].attributes, key) == Some(id.as_str()))
    });
    let Some((_, inbound)) = inbound else {
        return false;
    };
    let Some(&last_in) = inbound.members.last() else {
        return false;
    };
    let trace = c.network[last_in].trace_id.clone();
    let parent = c.network[last_in].span_id.clone();
    chain(c, call, &trace, &parent);
    stats.correlation_joined_by_request_id += 1;
    true
}

/// Live correlation: spans wait here until the apps' spans of their calls have had time to
/// arrive (SDKs export in batches, seconds later), then leave joined.
///
/// A call's network spans are correlated and released once the call ended more than one
/// window ago; app spans stay for two windows, so that the calls they take part in are
/// correlated while they are still here. Past `max_spans` the oldest leave early (counted).
pub struct Window {
    cfg: CorrelationConfig,
    max_spans: usize,
    network: Vec<Span>,
    apps: Vec<ResourceSpans>,
}

impl Window {
    pub fn new(cfg: CorrelationConfig, max_spans: usize) -> Window {
        Window {
            cfg,
            max_spans,
            network: Vec::new(),
            apps: Vec::new(),
        }
    }

    pub fn add_network(&mut self, span: Span) {
        self.network.push(span);
    }

    pub fn add_apps(&mut self, groups: Vec<ResourceSpans>, stats: &mut Counters) {
        stats.correlation_app_spans += groups
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len() as u64)
            .sum::<u64>();
        self.apps.extend(groups);
    }

    fn len(&self) -> usize {
        self.network.len()
            + self
                .apps
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum::<usize>()
    }

    /// Correlates the calls that are due at `now_ns` (all of them when `flush`) and returns
    /// what may leave: app span groups and network spans.
    pub fn tick(
        &mut self,
        now_ns: u64,
        flush: bool,
        stats: &mut Counters,
    ) -> (Vec<ResourceSpans>, Vec<Span>) {
        let w = self.cfg.window_ns;
        let over = self.len() > self.max_spans;
        if over {
            stats.correlation_released_early += 1;
        }
        let due =
            |end: u64, windows: u64| flush || over || end.saturating_add(windows * w) <= now_ns;
        // A call is due when all its observations are: keep the groups together.
        let calls = group_calls(&self.network);
        let mut take = vec![false; self.network.len()];
        for call in &calls {
            if due(call.end, 1) {
                for &m in &call.members {
                    take[m] = true;
                }
            }
        }
        let mut ready = Vec::new();
        let mut waiting = Vec::new();
        for (span, t) in std::mem::take(&mut self.network).into_iter().zip(take) {
            if t {
                ready.push(span);
            } else {
                waiting.push(span);
            }
        }
        self.network = waiting;
        if !ready.is_empty() {
            correlate(self.cfg, &mut ready, &mut self.apps, stats);
        }
        let mut leaving = Vec::new();
        for mut group in std::mem::take(&mut self.apps) {
            let mut stay = ResourceSpans {
                resource: group.resource.clone(),
                schema_url: group.schema_url.clone(),
                ..Default::default()
            };
            let mut go = ResourceSpans {
                resource: group.resource.clone(),
                schema_url: group.schema_url.clone(),
                ..Default::default()
            };
            for mut ss in std::mem::take(&mut group.scope_spans) {
                let (gone, kept): (Vec<Span>, Vec<Span>) = std::mem::take(&mut ss.spans)
                    .into_iter()
                    .partition(|s| due(s.end_time_unix_nano, 2));
                if !gone.is_empty() {
                    go.scope_spans
                        .push(opentelemetry_proto::tonic::trace::v1::ScopeSpans {
                            scope: ss.scope.clone(),
                            schema_url: ss.schema_url.clone(),
                            spans: gone,
                        });
                }
                if !kept.is_empty() {
                    ss.spans = kept;
                    stay.scope_spans.push(ss);
                }
            }
            if !go.scope_spans.is_empty() {
                leaving.push(go);
            }
            if !stay.scope_spans.is_empty() {
                self.apps.push(stay);
            }
        }
        (leaving, ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::{any_value, AnyValue, Resource, ScopeSpans};

    fn kv_int(key: &str, v: i64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::IntValue(v)),
            }),
            ..Default::default()
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn net(
        id: u8,
        trace: u8,
        parent: Option<u8>,
        client: (&str, i64),
        server: (&str, i64),
        seq: i64,
        side: &str,
        t: (u64, u64),
        extra: Vec<KeyValue>,
    ) -> Span {
        let mut attributes = vec![
            kv_str("client.address", client.0),
            kv_int("client.port", client.1),
            kv_str("server.address", server.0),
            kv_int("server.port", server.1),
            kv_int("wirespan.tcp.req_seq", seq),
            kv_str("wirespan.tap_side", side),
            kv_str("wirespan.capture.point", &format!("p{id}")),
        ];
        attributes.extend(extra);
        Span {
            trace_id: vec![trace; 16],
            span_id: vec![id; 8],
            parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
            start_time_unix_nano: t.0,
            end_time_unix_nano: t.1,
            attributes,
            ..Default::default()
        }
    }

    fn app(
        id: u8,
        trace: u8,
        parent: Option<u8>,
        kind: i32,
        t: (u64, u64),
        attrs: Vec<KeyValue>,
    ) -> Span {
        Span {
            trace_id: vec![trace; 16],
            span_id: vec![id; 8],
            parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
            kind,
            start_time_unix_nano: t.0,
            end_time_unix_nano: t.1,
            attributes: attrs,
            ..Default::default()
        }
    }

    fn resource(ip: &str, spans: Vec<Span>) -> ResourceSpans {
        ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv_str("k8s.pod.ip", ip)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn all_four_ways_of_joining() {
        // frontend (10.0.0.1) gets a call from an uninstrumented load generator (10.0.0.9),
        // calls cart (10.0.0.2) with traceparent, and cart queries MySQL uninstrumented.
        let mut apps = vec![
            resource(
                "10.0.0.1",
                vec![
                    app(
                        0x10,
                        0xaa,
                        None,
                        KIND_SERVER,
                        (100, 900),
                        vec![
                            kv_str("client.address", "10.0.0.9"),
                            kv_int("client.port", 5555),
                        ],
                    ),
                    app(0x11, 0xaa, Some(0x10), KIND_CLIENT, (200, 700), vec![]),
                ],
            ),
            resource(
                "10.0.0.2",
                vec![app(0x20, 0xaa, Some(0x11), KIND_SERVER, (260, 650), vec![])],
            ),
        ];
        let mut network = vec![
            // loadgen → frontend, seen at the server side only, no context (derived trace 0x01).
            net(
                1,
                0x01,
                None,
                ("10.0.0.9", 5555),
                ("10.0.0.1", 80),
                1000,
                "server",
                (95, 905),
                vec![],
            ),
            // frontend → cart at two points, server side listed first to check the ordering.
            net(
                3,
                0xaa,
                Some(0x11),
                ("10.0.0.1", 4000),
                ("10.0.0.2", 50051),
                2000,
                "server",
                (250, 660),
                vec![],
            ),
            net(
                2,
                0xaa,
                Some(0x11),
                ("10.0.0.1", 4000),
                ("10.0.0.2", 50051),
                2000,
                "client",
                (210, 690),
                vec![],
            ),
            // cart → MySQL, no context.
            net(
                4,
                0x02,
                None,
                ("10.0.0.2", 4100),
                ("10.0.0.3", 3306),
                3000,
                "client",
                (300, 400),
                vec![kv_str("db.query.text", "SELECT 1")],
            ),
            // Nobody's call.
            net(
                5,
                0x05,
                None,
                ("10.9.9.9", 1),
                ("10.9.9.8", 2),
                1,
                "unknown",
                (1, 2),
                vec![],
            ),
        ];
        let mut stats = Counters::default();
        correlate(
            CorrelationConfig { window_ns: 10 },
            &mut network,
            &mut apps,
            &mut stats,
        );
        let id = |b: u8| vec![b; 8];
        // Load generator call: joined under nothing, frontend SERVER re-parented under it.
        assert_eq!(network[0].trace_id, vec![0xaa; 16]);
        assert!(network[0].parent_span_id.is_empty());
        assert_eq!(apps[0].scope_spans[0].spans[0].parent_span_id, id(1));
        // Context: CLIENT 0x11 → client-side net 2 → server-side net 3 → cart SERVER 0x20.
        assert_eq!(network[2].parent_span_id, id(0x11));
        assert_eq!(network[1].parent_span_id, id(2));
        assert_eq!(apps[1].scope_spans[0].spans[0].parent_span_id, id(3));
        assert!(apps[1].scope_spans[0].spans[0]
            .attributes
            .iter()
            .any(|a| a.key == "wirespan.reparented_from"));
        // MySQL: under cart's SERVER span, the innermost open span on 10.0.0.2.
        assert_eq!(network[3].trace_id, vec![0xaa; 16]);
        assert_eq!(network[3].parent_span_id, id(0x20));
        // The stray call stays as it was.
        assert_eq!(network[4].trace_id, vec![0x05; 16]);
        assert_eq!(
            (
                stats.correlation_joined_by_context,
                stats.correlation_joined_by_peer,
                stats.correlation_joined_by_enclosing_span,
                stats.correlation_calls_unjoined
            ),
            (1, 1, 1, 1)
        );
    }

    #[test]
    fn a_db_client_span_with_the_same_statement_wins() {
        let mut apps = vec![resource(
            "10.0.0.5",
            vec![
                app(0x30, 0xbb, None, KIND_SERVER, (0, 1000), vec![]),
                app(
                    0x31,
                    0xbb,
                    Some(0x30),
                    KIND_CLIENT,
                    (100, 200),
                    vec![kv_str("db.statement", "SELECT 2")],
                ),
                app(
                    0x32,
                    0xbb,
                    Some(0x30),
                    KIND_CLIENT,
                    (90, 210),
                    vec![kv_str("db.statement", "SELECT 1")],
                ),
            ],
        )];
        let mut network = vec![net(
            7,
            0x07,
            None,
            ("10.0.0.5", 1),
            ("10.0.0.6", 3306),
            5,
            "client",
            (120, 180),
            vec![kv_str("db.query.text", "SELECT 1")],
        )];
        let mut stats = Counters::default();
        correlate(
            CorrelationConfig { window_ns: 5 },
            &mut network,
            &mut apps,
            &mut stats,
        );
        assert_eq!(network[0].parent_span_id, vec![0x32; 8]);
    }
}

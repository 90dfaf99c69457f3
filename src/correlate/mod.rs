//! Correlation: network spans joined into the applications' traces.
//!
//! Takes network spans and the apps' OTLP spans; gives both back with trace ids and parents
//! rewritten so that one trace reads caller CLIENT span → network spans, ordered from the
//! client's side to the server's → callee SERVER span. Observations of one call at several
//! capture points are grouped by inner 5-tuple and request sequence number. A call is joined:
//! by the trace context it carried (W3C/B3 → the caller's span); else by the callee's SERVER
//! span whose peer address and port are the call's client (an uninstrumented caller); else
//! under the span that was open on the client's host at the time (an uninstrumented database
//! client), preferring a DB CLIENT span of the same statement; else through an X-Request-ID
//! shared with a joined call into the same host (a proxy). Re-parented app spans keep their old
//! parent in `wirespan.reparented_from`.
//!
//! A wrong parent is worse than none. A join by time is made only when the evidence singles
//! out one candidate: one trace among the spans that enclose the call, or, among several, the
//! only one whose request carried a value the call repeats ([`evidence`]), or the one whose
//! call on the same connection was singled out while that connection lived inside it. Otherwise
//! the call's own spans stay joined to each other, in a trace of their own, and carry a link to
//! every candidate, `wirespan.join.candidates` and the reason in `wirespan.join.ambiguous`.
//! Joined spans say how in `wirespan.join.evidence`.

pub mod endpoints;
pub mod evidence;
mod names;

use crate::otlp::{attr_int, attr_str, kv_str, AnyValue, KeyValue, ResourceSpans, Span};
use crate::stats::Counters;
pub use endpoints::{EndpointLimits, EndpointNames};
use evidence::Values;
use hashbrown::HashMap;
use opentelemetry_proto::tonic::trace::v1::span::Link;

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
    /// The call sets its connection up (a TLS handshake) rather than serving a request.
    setup: bool,
}

/// Whether the span is of a connection's set-up: its TLS handshake (the calls read inside
/// TLS are of their own protocol).
fn sets_up_connection(span: &Span) -> bool {
    attr_str(&span.attributes, "network.protocol.name") == Some("tls")
}

/// For each set-up call, the first call after it on its connection (the one it was made for).
fn first_calls_after_setup(calls: &[Call]) -> Vec<Option<usize>> {
    type Connection<'c> = (&'c (String, i64), &'c (String, i64));
    let mut on: HashMap<Connection<'_>, Vec<usize>> = HashMap::new();
    for (n, call) in calls.iter().enumerate() {
        if !call.setup {
            on.entry((&call.client, &call.server)).or_default().push(n);
        }
    }
    calls
        .iter()
        .map(|call| {
            if !call.setup {
                return None;
            }
            on.get(&(&call.client, &call.server))?
                .iter()
                .copied()
                .filter(|&n| calls[n].start >= call.start)
                .min_by_key(|&n| calls[n].start)
        })
        .collect()
}

/// Tolerance for "the span was open while the call ran". None: the app and the capture read
/// the host's one clock, the app starts its span before it sends and ends it after the answer,
/// and the live demo showed a span starting 0.9 ms after an earlier statement's answer.
const ENCLOSING_SLACK_NS: u64 = 0;
/// Tolerance for "the callee's SERVER span lies inside the call": the server-side capture
/// point and the callee read one clock, but the call's first and last bytes may have been
/// seen at another point along the path.
const INSIDE_SLACK_NS: u64 = 1_000_000;
/// Links kept on an ambiguous call; the rest are counted.
const MAX_LINKS: usize = 16;
/// How far up its own parents a candidate looks for the values its request carried.
const MAX_ANCESTORS: usize = 8;
const KIND_SERVER: i32 = 2;
const KIND_CLIENT: i32 = 3;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn kv_int(key: &str, v: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(crate::otlp::any_value::Value::IntValue(v)),
        }),
        ..Default::default()
    }
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

/// The values a span says its request carried: its URL's segments and query values, and the
/// fields wirespan sampled from a gRPC request message.
fn request_values(span: &Span, out: &mut Values) {
    for key in [
        "url.path",
        "http.target",
        "http.url",
        "url.full",
        "http.route",
    ] {
        if let Some(v) = attr_str(&span.attributes, key) {
            evidence::url_values(v, out);
        }
    }
    if let Some(q) = attr_str(&span.attributes, "url.query") {
        evidence::query_values(q, out);
    }
    if let Some(list) = attr_str(&span.attributes, "wirespan.request.identifiers") {
        evidence::listed_values(list, out);
    }
}

/// The values a call repeats: its own request's, and the literals of its statement.
fn call_values(span: &Span) -> Values {
    let mut out = Values::default();
    if let Some(sql) = statement(span) {
        evidence::sql_literals(sql, &mut out);
    }
    request_values(span, &mut out);
    out
}

/// Why a call was not joined by time: several candidates and nothing to tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ambiguity {
    /// Spans of several traces were open on the client's host while the call ran.
    ConcurrentSpans,
    /// Several of the callee's SERVER spans name the call's client and lie inside the call.
    ConcurrentServerSpans,
    /// Several joined calls into the host carried the same X-Request-ID around the call.
    RequestId,
}

impl Ambiguity {
    fn as_str(self) -> &'static str {
        match self {
            Ambiguity::ConcurrentSpans => "concurrent_spans",
            Ambiguity::ConcurrentServerSpans => "concurrent_server_spans",
            Ambiguity::RequestId => "several_request_id_calls",
        }
    }

    fn count(self, stats: &mut Counters) {
        match self {
            Ambiguity::ConcurrentSpans => stats.correlation_ambiguous_concurrent_spans += 1,
            Ambiguity::ConcurrentServerSpans => {
                stats.correlation_ambiguous_concurrent_server_spans += 1
            }
            Ambiguity::RequestId => stats.correlation_ambiguous_request_id += 1,
        }
    }
}

/// What singled out a join by time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Evidence {
    /// The only candidate (or the only trace among the candidates).
    Time,
    /// A DB CLIENT span of the same statement.
    Statement,
    /// The only candidate whose request carried a value the call repeats.
    Values,
    /// Another call on the same connection, which lived inside the candidate.
    Connection,
}

impl Evidence {
    fn as_str(self) -> &'static str {
        match self {
            Evidence::Time => "time",
            Evidence::Statement => "statement",
            Evidence::Values => "values",
            Evidence::Connection => "connection",
        }
    }

    fn count(self, stats: &mut Counters) {
        match self {
            Evidence::Time => stats.correlation_evidence_time += 1,
            Evidence::Statement => stats.correlation_evidence_statement += 1,
            Evidence::Values => stats.correlation_evidence_values += 1,
            Evidence::Connection => stats.correlation_evidence_connection += 1,
        }
    }
}

/// The outcome of looking for one app span to join a call to.
enum Pick {
    One(usize, Evidence),
    Several(Vec<usize>),
    None,
}

/// Where each call stands while the passes run.
#[derive(Clone)]
enum State {
    Open,
    Joined,
    /// Joined under the span open on the client's host: the app span.
    Enclosed(usize),
    /// Several candidate app spans.
    Ambiguous(Ambiguity, Vec<usize>),
    /// Several inbound calls (their last network spans) with the call's X-Request-ID.
    AmbiguousRequestId(Vec<usize>),
}

pub struct Correlator<'a> {
    cfg: CorrelationConfig,
    network: &'a mut [Span],
    apps: &'a mut [ResourceSpans],
    index: Vec<AppRef>,
    /// Each app span's parent as it came in (re-parenting changes it).
    original_parent: Vec<Vec<u8>>,
    /// (trace id, span id) → app span: span ids are only unique within a trace.
    by_span_id: HashMap<(Vec<u8>, Vec<u8>), usize>,
    /// SERVER spans by (trace id, parent span id), as they came in.
    servers_by_parent: HashMap<(Vec<u8>, Vec<u8>), Vec<usize>>,
    /// SERVER spans by the peer (address, port) they name.
    servers_by_peer: HashMap<(String, i64), Vec<usize>>,
    /// App spans by the IP address of their host.
    by_host: HashMap<String, Vec<usize>>,
    /// The values requests carried, by the trace context they carried (trace id, parent span
    /// id): what a SERVER span started from that context was asked.
    values_by_context: HashMap<(Vec<u8>, Vec<u8>), Values>,
    /// Calls joined to their callee's SERVER span: the server end as on the wire, the span.
    callees: Vec<((String, i64), usize)>,
    /// Calls joined to the caller's span that sent their context: the client address, the span.
    callers: Vec<(String, usize)>,
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

    /// What the request being handled in app span `i` carried: its own attributes, those of
    /// its parents, and the request that started each SERVER span among them.
    fn candidate_values(&self, i: usize) -> Values {
        let mut out = Values::default();
        let mut at = Some(i);
        for _ in 0..MAX_ANCESTORS {
            let Some(k) = at else { break };
            let s = self.app(k);
            request_values(s, &mut out);
            let key = (s.trace_id.clone(), self.original_parent[k].clone());
            if s.kind == KIND_SERVER {
                if let Some(v) = self.values_by_context.get(&key) {
                    v.iter().for_each(|x| out.push(x));
                }
            }
            at = (!key.1.is_empty())
                .then(|| self.by_span_id.get(&key).copied())
                .flatten();
        }
        out
    }

    /// Among `candidates`, the only one whose request carried a value that `call` repeats,
    /// values that every candidate carried left aside (they tell nothing apart).
    fn single_out_by_values(&self, call: &Call, candidates: &[usize]) -> Option<usize> {
        let head = *call.members.first()?;
        let mut wanted = call_values(&self.network[head]);
        wanted.retain(evidence::telling);
        if wanted.is_empty() {
            return None;
        }
        let mut carried: Vec<Values> = candidates
            .iter()
            .map(|&i| self.candidate_values(i))
            .collect();
        let common: Vec<String> = carried
            .first()
            .map(|first| {
                first
                    .iter()
                    .filter(|v| carried.iter().all(|c| c.contains(v)))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        for c in &mut carried {
            c.retain(|v| !common.iter().any(|x| x == v));
        }
        let mut matching = candidates
            .iter()
            .zip(&carried)
            .filter(|(_, c)| c.iter().any(|v| wanted.contains(v)))
            .map(|(&i, _)| i);
        let one = matching.next()?;
        matching.next().is_none().then_some(one)
    }
}

/// Joins `network` spans into the traces of `apps`, in place, and attributes the latency of
/// each app-to-app call ([`crate::latency`]); counts what it did in `stats`. `waiting` holds
/// network spans not joined this time (live, those of calls still running): they are only
/// read, for the values their requests carried.
pub fn correlate(
    cfg: CorrelationConfig,
    network: &mut [Span],
    waiting: &[Span],
    apps: &mut [ResourceSpans],
    endpoints: &mut EndpointNames,
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
    let mut values_by_context: HashMap<(Vec<u8>, Vec<u8>), Values> = HashMap::new();
    for s in network.iter().chain(waiting) {
        if s.parent_span_id.is_empty() {
            continue;
        }
        let mut v = Values::default();
        request_values(s, &mut v);
        if !v.is_empty() {
            let slot = values_by_context
                .entry((s.trace_id.clone(), s.parent_span_id.clone()))
                .or_default();
            v.iter().for_each(|x| slot.push(x));
        }
    }
    let mut c = Correlator {
        cfg,
        network,
        apps,
        original_parent: Vec::with_capacity(index.len()),
        index,
        by_span_id: HashMap::new(),
        servers_by_parent: HashMap::new(),
        servers_by_peer: HashMap::new(),
        by_host: HashMap::new(),
        values_by_context,
        callees: Vec::new(),
        callers: Vec::new(),
    };
    // Indexes, so that joining a call costs lookups rather than a scan of every app span.
    for i in 0..c.index.len() {
        let s = c.app(i);
        let key = (s.trace_id.clone(), s.span_id.clone());
        let parent = s.parent_span_id.clone();
        let server = (s.kind == KIND_SERVER)
            .then(|| ((s.trace_id.clone(), s.parent_span_id.clone()), peer_of(s)));
        let host = c.app_host(i).map(str::to_owned);
        c.by_span_id.insert(key, i);
        c.original_parent.push(parent);
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
    for call in &calls {
        names::share_across_points(c.network, &call.members, stats);
    }
    let mut state = vec![State::Open; calls.len()];
    for (n, call) in calls.iter().enumerate() {
        // Set-ups go where the calls they were made for went: after every other call.
        if call.setup {
            continue;
        }
        if join_by_context(&mut c, call, stats) {
            state[n] = State::Joined;
            continue;
        }
        let by_peer = join_by_server_peer(&mut c, call, stats);
        if by_peer == Some(true) {
            state[n] = State::Joined;
            continue;
        }
        state[n] = match pick_enclosing(&c, call) {
            Pick::One(parent, evidence) => {
                join_under(&mut c, call, parent, evidence, stats);
                State::Enclosed(parent)
            }
            Pick::Several(candidates) => State::Ambiguous(Ambiguity::ConcurrentSpans, candidates),
            Pick::None if by_peer == Some(false) => {
                let candidates = server_peer_candidates(&c, call);
                State::Ambiguous(Ambiguity::ConcurrentServerSpans, candidates)
            }
            Pick::None => State::Open,
        };
    }
    join_by_connection(&mut c, &calls, &mut state, stats);
    for (n, call) in calls.iter().enumerate() {
        if !call.setup && matches!(state[n], State::Open | State::Ambiguous(..)) {
            match join_by_request_id(&mut c, &calls, &state, call, stats) {
                Some(Ok(())) => state[n] = State::Joined,
                Some(Err(inbound)) if matches!(state[n], State::Open) => {
                    state[n] = State::AmbiguousRequestId(inbound)
                }
                _ => {}
            }
        }
    }
    for (n, next) in first_calls_after_setup(&calls).into_iter().enumerate() {
        if calls[n].setup {
            state[n] = join_setup(
                &mut c,
                &calls[n],
                next.map(|m| (&calls[m], &state[m])),
                stats,
            );
        }
    }
    for (n, call) in calls.iter().enumerate() {
        match &state[n] {
            State::Open => stats.correlation_calls_unjoined += 1,
            State::Ambiguous(why, candidates) => {
                let ids: Vec<_> = candidates
                    .iter()
                    .map(|&i| (c.app(i).trace_id.clone(), c.app(i).span_id.clone()))
                    .collect();
                mark_ambiguous(&mut c, call, *why, &ids, stats)
            }
            State::AmbiguousRequestId(inbound) => {
                let ids: Vec<_> = inbound
                    .iter()
                    .map(|&m| (c.network[m].trace_id.clone(), c.network[m].span_id.clone()))
                    .collect();
                mark_ambiguous(&mut c, call, Ambiguity::RequestId, &ids, stats)
            }
            State::Joined | State::Enclosed(_) => {}
        }
    }
    // Who serves and who calls where: what the joins showed, then what the apps say of
    // themselves; then every network span's ends by name.
    let now_ns = c
        .network
        .iter()
        .map(|s| s.end_time_unix_nano)
        .max()
        .unwrap_or(0);
    let service_of = |c: &Correlator<'_>, i: usize| {
        let rs = &c.apps[c.index[i].resource];
        rs.resource
            .as_ref()
            .and_then(|r| attr_str(&r.attributes, "service.name"))
            .map(str::to_owned)
    };
    for (server, i) in std::mem::take(&mut c.callees) {
        if let Some(service) = service_of(&c, i) {
            endpoints.learn_server(server, &service, now_ns, stats);
        }
    }
    for (client, i) in std::mem::take(&mut c.callers) {
        if let Some(service) = service_of(&c, i) {
            endpoints.learn_client(&client, &service, now_ns, stats);
        }
    }
    endpoints.learn_from_apps(c.apps, now_ns, stats);
    endpoints.name(c.network, stats);
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
            let setup = members.iter().all(|&i| sets_up_connection(&network[i]));
            Some(Call {
                members,
                start,
                end,
                client: (key.0, key.1),
                server: (key.2, key.3),
                setup,
            })
        })
        .collect()
}

/// Puts the call's spans into `trace`, the first under `parent`, each next under the one before,
/// and says on each how the join was found. Returns the last one's span id.
fn chain(c: &mut Correlator<'_>, call: &Call, trace: &[u8], parent: &[u8], how: &str) -> Vec<u8> {
    let mut parent = parent.to_vec();
    for &m in &call.members {
        let s = &mut c.network[m];
        s.trace_id = trace.to_vec();
        s.parent_span_id = parent.clone();
        s.attributes.push(kv_str("wirespan.join.evidence", how));
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

/// Whether app span `i` lies inside the call, give or take [`INSIDE_SLACK_NS`].
fn inside(c: &Correlator<'_>, i: usize, call: &Call) -> bool {
    let s = c.app(i);
    s.start_time_unix_nano + INSIDE_SLACK_NS >= call.start
        && s.end_time_unix_nano <= call.end + INSIDE_SLACK_NS
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
    // A caller that sent one context twice (a retry) started several: the one inside this call.
    let started = c
        .servers_by_parent
        .get(&(trace.clone(), parent.clone()))
        .cloned()
        .unwrap_or_default();
    let callee = match started[..] {
        [] => None,
        [one] => Some(one),
        _ => {
            let mut inside_call = started.iter().copied().filter(|&i| inside(c, i, call));
            let one = inside_call.next();
            if one.is_none() || inside_call.next().is_some() {
                stats.correlation_ambiguous_callee += 1;
                None
            } else {
                one
            }
        }
    };
    if caller.is_none() && started.is_empty() {
        return false;
    }
    let last = chain(c, call, &trace, &parent, "context");
    // The app's own span of the call names it, when the network could not read the name: the
    // callee's SERVER span, else the caller's span that sent the context.
    if let Some(named) = callee.or(caller) {
        let r = c.index[named];
        let app = &c.apps[r.resource].scope_spans[r.scope].spans[r.span];
        names::learn_from_app(c.network, &call.members, app, stats);
    }
    if let Some(callee) = callee {
        c.callees.push((call.server.clone(), callee));
        reparent(c, callee, &last, stats);
    }
    if let Some(caller) = caller {
        c.callers.push((call.client.0.clone(), caller));
    }
    stats.correlation_joined_by_context += 1;
    true
}

/// The callee's SERVER spans that name the call's client as their peer and lie within the
/// correlation window of the call.
fn server_peer_candidates(c: &Correlator<'_>, call: &Call) -> Vec<usize> {
    let w = c.cfg.window_ns;
    let Some(named) = c.servers_by_peer.get(&call.client) else {
        return Vec::new();
    };
    named
        .iter()
        .copied()
        .filter(|&i| {
            let s = c.app(i);
            s.start_time_unix_nano + w >= call.start && s.end_time_unix_nano <= call.end + w
        })
        .collect()
}

/// No trace context on the wire, but the callee is instrumented: its SERVER span names the
/// call's client address and port as its peer. A keep-alive connection carries many calls
/// from one port: the span that lies inside this call is its callee. `None` when no span names
/// the client, `Some(false)` when several do and nothing singles one out.
fn join_by_server_peer(c: &mut Correlator<'_>, call: &Call, stats: &mut Counters) -> Option<bool> {
    let near = server_peer_candidates(c, call);
    let within: Vec<usize> = near
        .iter()
        .copied()
        .filter(|&i| inside(c, i, call))
        .collect();
    // Clocks of other hosts may put the call's ends a little off: one span near it will do.
    let pool = if within.is_empty() { &near } else { &within };
    let callee = match pool[..] {
        [] => return None,
        [one] => one,
        _ => match c.single_out_by_values(call, pool) {
            Some(one) => {
                stats.correlation_evidence_values += 1;
                one
            }
            None => return Some(false),
        },
    };
    let trace = c.app(callee).trace_id.clone();
    let caller = c.app(callee).parent_span_id.clone();
    let last = chain(c, call, &trace, &caller, "peer");
    c.callees.push((call.server.clone(), callee));
    reparent(c, callee, &last, stats);
    stats.correlation_joined_by_peer += 1;
    Some(true)
}

/// No trace context and no instrumented callee (a database, say): the call belongs under the
/// span that was open on the client's host while it ran: a DB CLIENT span of the same
/// statement if there is one, else the innermost open span, when only one trace had spans
/// open then or the values of the call single one out.
fn pick_enclosing(c: &Correlator<'_>, call: &Call) -> Pick {
    // The app and the capture point share the host's clock here: the span must really enclose
    // the call (a connection's QUIT at shutdown belongs to no request).
    let w = ENCLOSING_SLACK_NS;
    let Some(&first) = call.members.first() else {
        return Pick::None;
    };
    let shape = statement(&c.network[first]).map(evidence::sql_shape);
    let Some(on_host) = c.by_host.get(&call.client.0) else {
        return Pick::None;
    };
    let open: Vec<usize> = on_host
        .iter()
        .copied()
        .filter(|&i| {
            let s = c.app(i);
            s.start_time_unix_nano <= call.start + w && s.end_time_unix_nano + w >= call.end
        })
        .collect();
    // A CLIENT span is the span of one outbound call: this call's, when it ran the same
    // statement (the same text, else the same shape: a driver's span shows placeholders where
    // the wire has values), and never the parent of another.
    let sql = statement(&c.network[first]);
    let db_client = |i: &usize| c.app(*i).kind == KIND_CLIENT && sql.is_some();
    let mut same_statement: Vec<usize> = open
        .iter()
        .copied()
        .filter(|i| db_client(i) && statement(c.app(*i)) == sql)
        .collect();
    if same_statement.is_empty() {
        same_statement = open
            .iter()
            .copied()
            .filter(|i| db_client(i) && statement(c.app(*i)).map(evidence::sql_shape) == shape)
            .collect();
    }
    let (pool, evidence) = if same_statement.is_empty() {
        let rest = open
            .into_iter()
            .filter(|&i| c.app(i).kind != KIND_CLIENT)
            .collect();
        (rest, Evidence::Time)
    } else {
        (same_statement, Evidence::Statement)
    };
    // Within one trace the innermost (latest-starting) open span is the caller.
    let mut innermost: Vec<usize> = Vec::new();
    for i in pool {
        let s = c.app(i);
        match innermost
            .iter_mut()
            .find(|k| c.app(**k).trace_id == s.trace_id)
        {
            Some(k) => {
                if s.start_time_unix_nano > c.app(*k).start_time_unix_nano {
                    *k = i;
                }
            }
            None => innermost.push(i),
        }
    }
    match innermost[..] {
        [] => Pick::None,
        [one] => Pick::One(one, evidence),
        _ => match c.single_out_by_values(call, &innermost) {
            Some(one) => Pick::One(one, Evidence::Values),
            None => Pick::Several(innermost),
        },
    }
}

/// Joins the call under app span `parent` by `evidence`.
fn join_under(
    c: &mut Correlator<'_>,
    call: &Call,
    parent: usize,
    evidence: Evidence,
    stats: &mut Counters,
) {
    let trace = c.app(parent).trace_id.clone();
    let parent_id = c.app(parent).span_id.clone();
    chain(c, call, &trace, &parent_id, evidence.as_str());
    evidence.count(stats);
    stats.correlation_joined_by_enclosing_span += 1;
}

/// A connection opened and closed inside one request's span serves that request: a call on it
/// that was ambiguous by time goes where another call on it was singled out, when every call
/// singled out on it went there and the connection's whole life lies inside that span.
fn join_by_connection(
    c: &mut Correlator<'_>,
    calls: &[Call],
    state: &mut [State],
    stats: &mut Counters,
) {
    type Connection = ((String, i64), (String, i64));
    let mut lives: HashMap<Connection, (u64, u64, Vec<usize>)> = HashMap::new();
    for (n, call) in calls.iter().enumerate() {
        let life = lives
            .entry((call.client.clone(), call.server.clone()))
            .or_insert((u64::MAX, 0, Vec::new()));
        life.0 = life.0.min(call.start);
        life.1 = life.1.max(call.end);
        if let State::Enclosed(parent) = state[n] {
            if !life.2.contains(&parent) {
                life.2.push(parent);
            }
        }
    }
    for (n, call) in calls.iter().enumerate() {
        let State::Ambiguous(Ambiguity::ConcurrentSpans, candidates) = &state[n] else {
            continue;
        };
        let Some((start, end, parents)) = lives.get(&(call.client.clone(), call.server.clone()))
        else {
            continue;
        };
        let [owner] = parents[..] else { continue };
        let s = c.app(owner);
        let holds = s.start_time_unix_nano <= *start && s.end_time_unix_nano >= *end;
        if holds && candidates.contains(&owner) {
            join_under(c, call, owner, Evidence::Connection, stats);
            state[n] = State::Enclosed(owner);
        }
    }
}

/// A connection's set-up (its TLS handshake) serves no request of its own: it was made for the
/// first call on the connection and goes where that call went, beside its first span. With no
/// call read on the connection (encrypted, no keys), the callee's SERVER span of the first
/// request after the handshake, which names the call's client as its peer, says whose call
/// opened it; else the span open on the client's host, as for any call. An app span is never
/// re-parented under a set-up: its request came on the connection, not in the handshake.
fn join_setup(
    c: &mut Correlator<'_>,
    call: &Call,
    first_call: Option<(&Call, &State)>,
    stats: &mut Counters,
) -> State {
    if let Some((first_call, state)) = first_call {
        let joined = matches!(state, State::Joined | State::Enclosed(_));
        match first_call.members.first() {
            Some(&first) if joined => {
                let trace = c.network[first].trace_id.clone();
                let parent = c.network[first].parent_span_id.clone();
                chain(c, call, &trace, &parent, "setup");
                stats.correlation_joined_by_setup += 1;
                return State::Joined;
            }
            // Ambiguous for it is ambiguous for its set-up, with the same candidates.
            _ => return state.clone(),
        }
    }
    let first_request = server_peer_candidates(c, call)
        .into_iter()
        .filter(|&i| c.app(i).start_time_unix_nano + INSIDE_SLACK_NS >= call.start)
        .min_by_key(|&i| c.app(i).start_time_unix_nano);
    if let Some(callee) = first_request {
        let trace = c.app(callee).trace_id.clone();
        let caller = c.original_parent[callee].clone();
        chain(c, call, &trace, &caller, "setup");
        stats.correlation_joined_by_setup += 1;
        return State::Joined;
    }
    match pick_enclosing(c, call) {
        Pick::One(parent, evidence) => {
            join_under(c, call, parent, evidence, stats);
            State::Enclosed(parent)
        }
        Pick::Several(candidates) => State::Ambiguous(Ambiguity::ConcurrentSpans, candidates),
        Pick::None => State::Open,
    }
}

/// A proxy passes X-Request-ID on: a call out of a host with the same id as a joined call
/// into that host, which was running while this one ran, continues that call's trace.
/// `None` when no such call; `Some(Err)` with the last network span of each such call, of
/// several traces, when nothing singles one out.
fn join_by_request_id(
    c: &mut Correlator<'_>,
    calls: &[Call],
    state: &[State],
    call: &Call,
    stats: &mut Counters,
) -> Option<Result<(), Vec<usize>>> {
    let key = "http.request.header.x-request-id";
    let first = *call.members.first()?;
    let id = attr_str(&c.network[first].attributes, key)?.to_owned();
    let mut inbound: Vec<usize> = Vec::new();
    for (n, other) in calls.iter().enumerate() {
        let running = other.start <= call.start && other.end + INSIDE_SLACK_NS >= call.end;
        let same_id = other
            .members
            .first()
            .is_some_and(|&m| attr_str(&c.network[m].attributes, key) == Some(id.as_str()));
        let joined = matches!(state[n], State::Joined | State::Enclosed(_));
        if joined && running && same_id && other.server.0 == call.client.0 {
            let trace = other.members.last().map(|&m| &c.network[m].trace_id);
            let seen = inbound
                .iter()
                .any(|&k| calls[k].members.last().map(|&m| &c.network[m].trace_id) == trace);
            if !seen {
                inbound.push(n);
            }
        }
    }
    let lasts: Vec<usize> = inbound
        .iter()
        .filter_map(|&n| calls[n].members.last().copied())
        .collect();
    match lasts[..] {
        [] => None,
        [last_in] => {
            let trace = c.network[last_in].trace_id.clone();
            let parent = c.network[last_in].span_id.clone();
            chain(c, call, &trace, &parent, "request_id");
            stats.correlation_joined_by_request_id += 1;
            Some(Ok(()))
        }
        _ => Some(Err(lasts)),
    }
}

/// Leaves the call where it is certain (its spans joined to each other, in the trace it came
/// with) and links every candidate parent, with the reason.
fn mark_ambiguous(
    c: &mut Correlator<'_>,
    call: &Call,
    why: Ambiguity,
    candidates: &[(Vec<u8>, Vec<u8>)],
    stats: &mut Counters,
) {
    let Some(&first) = call.members.first() else {
        return;
    };
    why.count(stats);
    let trace = c.network[first].trace_id.clone();
    let parent = c.network[first].parent_span_id.clone();
    let mut above = parent;
    let links: Vec<Link> = candidates
        .iter()
        .take(MAX_LINKS)
        .map(|(trace_id, span_id)| Link {
            trace_id: trace_id.clone(),
            span_id: span_id.clone(),
            attributes: vec![kv_str("wirespan.join.ambiguous", why.as_str())],
            ..Default::default()
        })
        .collect();
    if candidates.len() > MAX_LINKS {
        stats.correlation_links_truncated += 1;
    }
    for &m in &call.members {
        let s = &mut c.network[m];
        s.trace_id = trace.clone();
        s.parent_span_id = above;
        s.attributes
            .push(kv_int("wirespan.join.candidates", candidates.len() as i64));
        s.attributes
            .push(kv_str("wirespan.join.ambiguous", why.as_str()));
        if m == first {
            s.links.extend(links.iter().cloned());
        }
        above = s.span_id.clone();
    }
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
    /// Who serves and calls where, learned over the agent's life.
    endpoints: EndpointNames,
    network: Vec<Span>,
    apps: Vec<ResourceSpans>,
}

impl Window {
    pub fn new(cfg: CorrelationConfig, max_spans: usize) -> Window {
        Window {
            cfg,
            max_spans,
            endpoints: EndpointNames::new(EndpointLimits::default()),
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
        for (call, first_call) in calls.iter().zip(first_calls_after_setup(&calls)) {
            // A set-up leaves with the call it was made for; with none yet, once that call's
            // callee spans would have arrived too.
            let now = match first_call {
                Some(m) => due(calls[m].end, 1),
                None if call.setup => due(call.end, 2),
                None => due(call.end, 1),
            };
            if now {
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
            correlate(
                self.cfg,
                &mut ready,
                &self.network,
                &mut self.apps,
                &mut self.endpoints,
                stats,
            );
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

    /// A DB CLIENT span of `sql` under SERVER span 0x30 of trace 0xbb.
    fn statement_span(id: u8, t: (u64, u64), sql: &str) -> Span {
        app(
            id,
            0xbb,
            Some(0x30),
            KIND_CLIENT,
            t,
            vec![kv_str("db.statement", sql)],
        )
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
            &[],
            &mut apps,
            &mut EndpointNames::default(),
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
                statement_span(0x31, (100, 200), "SELECT 2"),
                statement_span(0x32, (90, 210), "SELECT 1"),
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
            &[],
            &mut apps,
            &mut EndpointNames::default(),
            &mut stats,
        );
        assert_eq!(network[0].parent_span_id, vec![0x32; 8]);
    }

    /// Correlates with the default window; gives the counters.
    fn join(network: &mut [Span], apps: &mut [ResourceSpans]) -> Counters {
        let mut stats = Counters::default();
        correlate(
            CorrelationConfig::default(),
            network,
            &[],
            apps,
            &mut EndpointNames::default(),
            &mut stats,
        );
        stats
    }

    /// A DB call that the two concurrent cart requests both enclose, with what the requests
    /// carried (`queries`) and the SQL: it must stay out, linked to both.
    fn left_out(queries: [&str; 2], sql: &str) {
        let (mut apps, mut network) = concurrent_cart(false);
        for (s, q) in network.iter_mut().zip(queries) {
            s.attributes.push(kv_str("url.query", q));
        }
        network.push(db_call(5, 6000, 1, (300, 400), Some(sql)));
        let stats = join(&mut network, &mut apps);
        assert!(network[2].parent_span_id.is_empty(), "{queries:?} {sql}");
        assert_eq!(stats.correlation_ambiguous_concurrent_spans, 1);
    }

    fn has(span: &Span, key: &str, value: &str) -> bool {
        attr_str(&span.attributes, key) == Some(value)
    }

    /// The cart under load: two GetCart calls handled at once on 10.0.0.2, each reached by a
    /// gRPC call with trace context, each opening its own DB connection. Returns the app spans
    /// and the two inbound calls (context only, no user identifiers unless `with_values`).
    fn concurrent_cart(with_values: bool) -> (Vec<ResourceSpans>, Vec<Span>) {
        let apps = vec![resource(
            "10.0.0.2",
            vec![
                app(0x20, 0xaa, Some(0x11), KIND_SERVER, (100, 1000), vec![]),
                app(0x30, 0xbb, Some(0x12), KIND_SERVER, (150, 1100), vec![]),
            ],
        )];
        let ids = |user: &str| {
            if with_values {
                vec![kv_str("wirespan.request.identifiers", user)]
            } else {
                vec![]
            }
        };
        let inbound = vec![
            net(
                1,
                0xaa,
                Some(0x11),
                ("10.0.0.1", 4000),
                ("10.0.0.2", 50051),
                10,
                "server",
                (90, 1010),
                ids("7"),
            ),
            net(
                2,
                0xbb,
                Some(0x12),
                ("10.0.0.1", 4000),
                ("10.0.0.2", 50051),
                20,
                "server",
                (140, 1110),
                ids("9"),
            ),
        ];
        (apps, inbound)
    }

    fn db_call(id: u8, port: i64, seq: i64, t: (u64, u64), sql: Option<&str>) -> Span {
        let extra = sql
            .map(|q| vec![kv_str("db.query.text", q)])
            .unwrap_or_default();
        net(
            id,
            id,
            None,
            ("10.0.0.2", port),
            ("10.0.0.3", 3306),
            seq,
            "client",
            t,
            extra,
        )
    }

    /// A DNS lookup over UDP (no sequence numbers) made on the cart's host: inside one
    /// request's span only, it joins under it, before the call it resolved; inside both
    /// concurrent requests, it stays out, linked to both.
    #[test]
    fn a_dns_lookup_joins_under_the_one_open_request_or_none() {
        let (mut apps, mut network) = concurrent_cart(false);
        let lookup = |id: u8, port: i64, t: (u64, u64)| {
            let mut s = net(
                id,
                id,
                None,
                ("10.0.0.2", port),
                ("10.0.0.53", 53),
                0,
                "client",
                t,
                vec![
                    kv_str("network.transport", "udp"),
                    kv_str("dns.question.name", "catalog.svc.test"),
                ],
            );
            s.attributes.retain(|a| a.key != "wirespan.tcp.req_seq");
            s
        };
        network.push(lookup(5, 7000, (110, 140)));
        network.push(lookup(6, 7001, (300, 320)));
        let stats = join(&mut network, &mut apps);
        assert_eq!(network[2].trace_id, vec![0xaa; 16]);
        assert_eq!(network[2].parent_span_id, vec![0x20; 8]);
        assert!(network[3].parent_span_id.is_empty());
        assert_eq!(
            attr_int(&network[3].attributes, "wirespan.join.candidates"),
            Some(2)
        );
        assert_eq!(stats.correlation_joined_by_enclosing_span, 1);
        assert_eq!(stats.correlation_ambiguous_concurrent_spans, 1);
    }

    #[test]
    fn concurrent_requests_and_no_evidence_give_links_not_a_parent() {
        let (mut apps, mut network) = concurrent_cart(false);
        network.push(db_call(
            5,
            6000,
            1,
            (300, 400),
            Some("SELECT * FROM cart WHERE user_id = 9"),
        ));
        let stats = join(&mut network, &mut apps);
        let db = &network[2];
        assert_eq!(db.trace_id, vec![5; 16], "left in its own trace");
        assert!(db.parent_span_id.is_empty());
        assert_eq!(
            attr_int(&db.attributes, "wirespan.join.candidates"),
            Some(2)
        );
        assert!(has(db, "wirespan.join.ambiguous", "concurrent_spans"));
        let linked: Vec<&[u8]> = db.links.iter().map(|l| &l.span_id[..]).collect();
        assert_eq!(linked, [&[0x20; 8][..], &[0x30; 8][..]]);
        assert_eq!(stats.correlation_ambiguous_concurrent_spans, 1);
        assert_eq!(stats.correlation_joined_by_enclosing_span, 0);
        assert_eq!(stats.correlation_calls_unjoined, 0);
    }

    #[test]
    fn the_value_the_request_carried_singles_out_the_parent_and_the_connection_follows() {
        let (mut apps, mut network) = concurrent_cart(true);
        // User 9's connection: login, then the SELECT naming user 9, then QUIT.
        network.push(db_call(5, 6000, 1, (300, 350), None));
        network.push(db_call(
            6,
            6000,
            2,
            (360, 400),
            Some("SELECT * FROM cart WHERE user_id = 9"),
        ));
        network.push(db_call(7, 6000, 3, (410, 420), None));
        // User 7's SELECT on a connection of its own.
        network.push(db_call(
            8,
            6001,
            1,
            (500, 600),
            Some("SELECT * FROM cart WHERE user_id = 7"),
        ));
        let stats = join(&mut network, &mut apps);
        for (n, parent, how) in [
            (2, 0x30, "connection"),
            (3, 0x30, "values"),
            (4, 0x30, "connection"),
            (5, 0x20, "values"),
        ] {
            assert_eq!(network[n].parent_span_id, vec![parent; 8], "span {n}");
            assert!(has(&network[n], "wirespan.join.evidence", how), "span {n}");
        }
        assert_eq!(network[3].trace_id, vec![0xbb; 16]);
        assert_eq!(stats.correlation_evidence_values, 2);
        assert_eq!(stats.correlation_evidence_connection, 2);
        assert_eq!(stats.correlation_ambiguous_concurrent_spans, 0);
    }

    #[test]
    fn a_value_every_candidate_carried_tells_nothing_apart() {
        left_out(
            ["tenant=4&region=eu", "tenant=4&region=eu"],
            "SELECT * FROM t WHERE tenant = 4",
        );
    }

    #[test]
    fn a_flag_or_a_first_page_is_no_evidence() {
        // User 5's query (whose request is not among the candidates) with a LIMIT 1.
        left_out(
            ["page=1", "user=9"],
            "SELECT * FROM cart WHERE user_id = 5 LIMIT 1",
        );
    }

    #[test]
    fn a_client_span_of_another_statement_is_never_the_parent() {
        let mut apps = vec![resource(
            "10.0.0.5",
            vec![
                app(0x30, 0xbb, None, KIND_SERVER, (0, 1000), vec![]),
                statement_span(0x31, (100, 300), "SELECT name FROM items WHERE id = %s"),
            ],
        )];
        let mut network = vec![
            db_call(7, 1, 1, (110, 120), Some("SET NAMES utf8mb4")),
            db_call(
                8,
                1,
                2,
                (130, 290),
                Some("SELECT name FROM items WHERE id = 42"),
            ),
        ];
        network[0].attributes[0] = kv_str("client.address", "10.0.0.5");
        network[1].attributes[0] = kv_str("client.address", "10.0.0.5");
        let stats = join(&mut network, &mut apps);
        assert_eq!(stats.correlation_evidence_statement, 1);
        assert_eq!(network[0].parent_span_id, vec![0x30; 8]);
        assert_eq!(network[1].parent_span_id, vec![0x31; 8]);
        assert!(has(&network[1], "wirespan.join.evidence", "statement"));
    }

    /// The frontend (10.0.0.1) calls the catalog (10.0.0.2) over TLS: the handshake, seen at
    /// two points, then the request (with `keys`: read inside, carrying its trace context)
    /// and the catalog's SERVER span, which names the frontend's port as its peer. Times in
    /// milliseconds.
    fn tls_call(keys: bool) -> (Vec<ResourceSpans>, Vec<Span>) {
        let ms = |t: (u64, u64)| (t.0 * 1_000_000, t.1 * 1_000_000);
        let apps = vec![
            resource(
                "10.0.0.1",
                vec![
                    app(0x1f, 0xaa, None, KIND_SERVER, ms((50, 950)), vec![]),
                    app(0x20, 0xaa, Some(0x1f), KIND_CLIENT, ms((100, 900)), vec![]),
                ],
            ),
            resource(
                "10.0.0.2",
                vec![app(
                    0x30,
                    0xaa,
                    Some(0x20),
                    KIND_SERVER,
                    ms((500, 800)),
                    vec![
                        kv_str("client.address", "10.0.0.1"),
                        kv_int("client.port", 4000),
                    ],
                )],
            ),
        ];
        let ends = (("10.0.0.1", 4000), ("10.0.0.2", 443));
        let tls = || vec![kv_str("network.protocol.name", "tls")];
        let mut network = vec![
            net(
                1,
                1,
                None,
                ends.0,
                ends.1,
                10,
                "client",
                ms((200, 400)),
                tls(),
            ),
            net(
                2,
                2,
                None,
                ends.0,
                ends.1,
                10,
                "server",
                ms((201, 399)),
                tls(),
            ),
        ];
        if keys {
            let http = || vec![kv_str("network.protocol.name", "http")];
            network.push(net(
                3,
                0xaa,
                Some(0x20),
                ends.0,
                ends.1,
                600,
                "client",
                ms((450, 850)),
                http(),
            ));
            network.push(net(
                4,
                0xaa,
                Some(0x20),
                ends.0,
                ends.1,
                600,
                "server",
                ms((451, 849)),
                http(),
            ));
        }
        (apps, network)
    }

    /// A handshake is no hop of the request's: it goes beside the request's first span, under
    /// the caller, whichever of the two the correlator meets first; the callee's SERVER span
    /// hangs under the request's last span, never under the handshake's.
    #[test]
    fn a_tls_handshake_goes_beside_the_call_it_was_made_for() {
        for handshake_first in [true, false] {
            let (mut apps, mut network) = tls_call(true);
            if !handshake_first {
                network.rotate_left(2);
            }
            let stats = join(&mut network, &mut apps);
            let by_id = |id: u8| network.iter().find(|s| s.span_id == vec![id; 8]).unwrap();
            for (id, parent) in [(1, 0x20), (2, 1), (3, 0x20), (4, 3)] {
                let s = by_id(id);
                assert_eq!(s.trace_id, vec![0xaa; 16], "span {id}");
                assert_eq!(s.parent_span_id, vec![parent; 8], "span {id}");
            }
            assert!(has(by_id(1), "wirespan.join.evidence", "setup"));
            let catalog = &apps[1].scope_spans[0].spans[0];
            assert_eq!(catalog.parent_span_id, vec![4; 8], "{handshake_first}");
            assert_eq!(stats.correlation_joined_by_setup, 1);
            assert_eq!(stats.correlation_joined_by_context, 1);
        }
    }

    /// Without keys the handshake is all the network saw of the connection: the catalog's
    /// SERVER span of the first request after it says whose call it was, and stays where it
    /// was, under the caller.
    #[test]
    fn a_tls_handshake_without_keys_goes_under_the_caller_of_the_first_request() {
        let (mut apps, mut network) = tls_call(false);
        let stats = join(&mut network, &mut apps);
        assert_eq!(network[0].trace_id, vec![0xaa; 16]);
        assert_eq!(network[0].parent_span_id, vec![0x20; 8]);
        assert_eq!(network[1].parent_span_id, vec![1; 8]);
        assert_eq!(
            apps[1].scope_spans[0].spans[0].parent_span_id,
            vec![0x20; 8]
        );
        assert_eq!(stats.correlation_app_spans_reparented, 0);
        assert_eq!(stats.correlation_joined_by_setup, 1);
    }

    /// Live, the handshake is due long before the request it was made for has ended: it waits
    /// in the window and leaves with it, joined beside it.
    #[test]
    fn the_window_keeps_a_handshake_until_its_call_leaves() {
        let (apps, network) = tls_call(true);
        let mut window = Window::new(
            CorrelationConfig {
                window_ns: 100_000_000,
            },
            1000,
        );
        let mut stats = Counters::default();
        window.add_apps(apps, &mut stats);
        for s in network {
            window.add_network(s);
        }
        // 420 ms: the handshake ended 120 ms ago, the request is still running.
        let (_, early) = window.tick(420_000_000, false, &mut stats);
        assert!(early.is_empty(), "{early:?}");
        let (_, late) = window.tick(1_000_000_000, false, &mut stats);
        assert_eq!(late.len(), 4);
        let handshake = late.iter().find(|s| s.span_id == vec![1; 8]).unwrap();
        assert_eq!(handshake.parent_span_id, vec![0x20; 8]);
    }

    #[test]
    fn a_keep_alive_connection_joins_each_call_to_the_server_span_inside_it() {
        let peer = |t: (u64, u64), id: u8, trace: u8| {
            app(
                id,
                trace,
                None,
                KIND_SERVER,
                t,
                vec![
                    kv_str("client.address", "10.0.0.9"),
                    kv_int("client.port", 5555),
                ],
            )
        };
        let mut apps = vec![resource(
            "10.0.0.1",
            vec![
                peer((110, 190), 0x10, 0xa1),
                peer((210, 290), 0x11, 0xa2),
                peer((310, 390), 0x12, 0xa3),
            ],
        )];
        let call = |id: u8, seq: i64, t: (u64, u64)| {
            net(
                id,
                id,
                None,
                ("10.0.0.9", 5555),
                ("10.0.0.1", 80),
                seq,
                "server",
                t,
                vec![],
            )
        };
        let mut network = vec![
            call(1, 100, (100, 200)),
            call(2, 200, (200, 300)),
            call(3, 300, (300, 400)),
        ];
        // Milliseconds, so that the slack of a call's ends is smaller than the gaps.
        let ms = |s: &mut Span| {
            s.start_time_unix_nano *= 1_000_000;
            s.end_time_unix_nano *= 1_000_000;
        };
        network.iter_mut().for_each(ms);
        apps[0].scope_spans[0].spans.iter_mut().for_each(ms);
        let mut stats = Counters::default();
        correlate(
            CorrelationConfig {
                window_ns: 10_000_000_000,
            },
            &mut network,
            &[],
            &mut apps,
            &mut EndpointNames::default(),
            &mut stats,
        );
        for (n, trace) in [(0, 0xa1), (1, 0xa2), (2, 0xa3)] {
            assert_eq!(network[n].trace_id, vec![trace; 16], "call {n}");
        }
        assert_eq!(stats.correlation_joined_by_peer, 3);
    }

    /// An uninstrumented HTTP/2 client sends two requests at once on one connection: two
    /// SERVER spans name its port and both lie inside both calls. The path tells them apart
    /// when it differs; when it does not, neither call gets a callee.
    #[test]
    fn concurrent_streams_from_one_port_need_values() {
        for (paths, joined) in [(["/orders/17", "/orders/23"], 2), (["/x", "/x"], 0)] {
            let server = |id: u8, trace: u8, path: &str| {
                app(
                    id,
                    trace,
                    None,
                    KIND_SERVER,
                    (120, 380),
                    vec![
                        kv_str("client.address", "10.0.0.9"),
                        kv_int("client.port", 5555),
                        kv_str("url.path", path),
                    ],
                )
            };
            let mut apps = vec![resource(
                "10.0.0.1",
                vec![server(0x10, 0xa1, paths[0]), server(0x11, 0xa2, paths[1])],
            )];
            let call = |id: u8, seq: i64, path: &str| {
                net(
                    id,
                    id,
                    None,
                    ("10.0.0.9", 5555),
                    ("10.0.0.1", 80),
                    seq,
                    "server",
                    (100, 400),
                    vec![kv_str("url.path", path)],
                )
            };
            // The second stream's request first: order must not decide.
            let mut network = vec![call(1, 200, paths[1]), call(2, 100, paths[0])];
            let stats = join(&mut network, &mut apps);
            assert_eq!(stats.correlation_joined_by_peer, joined, "{paths:?}");
            if joined == 2 {
                assert_eq!(network[0].trace_id, vec![0xa2; 16]);
                assert_eq!(network[1].trace_id, vec![0xa1; 16]);
            } else {
                assert_eq!(stats.correlation_ambiguous_concurrent_server_spans, 2);
                assert!(network.iter().all(|s| s.links.len() == 2));
            }
        }
    }

    /// An uninstrumented proxy on 10.0.0.5 forwards two requests with the same X-Request-ID
    /// (a client's retry): the outbound call that both inbound calls enclose has no single
    /// parent. With one inbound call it continues that call's trace.
    #[test]
    fn a_request_id_two_running_calls_carried_joins_neither() {
        let header = |id: &str| vec![kv_str("http.request.header.x-request-id", id)];
        let clients = || {
            vec![resource(
                "10.0.0.9",
                vec![
                    app(0x01, 0xa1, None, KIND_CLIENT, (80, 990), vec![]),
                    app(0x02, 0xa2, None, KIND_CLIENT, (90, 990), vec![]),
                ],
            )]
        };
        let inbound = |id: u8, trace: u8, parent: u8, port: i64, t: (u64, u64)| {
            net(
                id,
                trace,
                Some(parent),
                ("10.0.0.9", port),
                ("10.0.0.5", 80),
                1,
                "server",
                t,
                header("r-1"),
            )
        };
        let outbound = || {
            net(
                3,
                3,
                None,
                ("10.0.0.5", 6000),
                ("10.0.0.7", 8080),
                1,
                "client",
                (300, 400),
                header("r-1"),
            )
        };
        let mut apps = clients();
        let mut network = vec![
            inbound(1, 0xa1, 0x01, 4000, (90, 950)),
            inbound(2, 0xa2, 0x02, 4001, (100, 960)),
            outbound(),
        ];
        let stats = join(&mut network, &mut apps);
        assert_eq!(stats.correlation_joined_by_context, 2);
        assert_eq!(stats.correlation_joined_by_request_id, 0);
        assert_eq!(stats.correlation_ambiguous_request_id, 1);
        assert!(has(
            &network[2],
            "wirespan.join.ambiguous",
            "several_request_id_calls"
        ));
        let linked: Vec<&[u8]> = network[2].links.iter().map(|l| &l.span_id[..]).collect();
        assert_eq!(linked, [&[1; 8][..], &[2; 8][..]]);

        let mut apps = clients();
        let mut network = vec![inbound(1, 0xa1, 0x01, 4000, (90, 950)), outbound()];
        let stats = join(&mut network, &mut apps);
        assert_eq!(stats.correlation_joined_by_request_id, 1);
        assert_eq!(network[1].trace_id, vec![0xa1; 16]);
        assert_eq!(network[1].parent_span_id, vec![1; 8]);
    }

    /// A gRPC call on a connection older than the capture: the client's capture point could
    /// not read `:path`, the server's could (its HPACK table started later). The point that
    /// read it names the other; where no point read it, the callee's SERVER span, joined by
    /// the call's trace context, does. Never a name the evidence does not give.
    #[test]
    fn a_late_joined_grpc_call_learns_its_name_from_a_capture_point_or_the_app() {
        let unknown = || {
            vec![
                kv_str("rpc.system", "grpc"),
                kv_str("http.request.method", "POST"),
                kv_str("wirespan.grpc.method", "unknown"),
            ]
        };
        let named = vec![
            kv_str("rpc.system", "grpc"),
            kv_str("http.request.method", "POST"),
            kv_str("url.path", "/shop.Cart/GetCart"),
            kv_str("rpc.service", "shop.Cart"),
            kv_str("rpc.method", "GetCart"),
        ];
        let (client, server) = (("10.0.0.1", 40000), ("10.0.0.2", 50051));
        let mut network = vec![
            net(
                1,
                0xaa,
                Some(0x11),
                client,
                server,
                7,
                "client",
                (200, 300),
                unknown(),
            ),
            net(
                2,
                0xaa,
                Some(0x11),
                client,
                server,
                7,
                "server",
                (210, 290),
                named,
            ),
            net(
                3,
                0xaa,
                Some(0x12),
                client,
                server,
                9,
                "client",
                (400, 500),
                unknown(),
            ),
            net(
                4,
                0xcc,
                None,
                client,
                server,
                11,
                "client",
                (600, 700),
                unknown(),
            ),
        ];
        let grpc_server = |id, parent, t, method: &str| {
            app(
                id,
                0xaa,
                Some(parent),
                KIND_SERVER,
                t,
                vec![
                    kv_str("rpc.system", "grpc"),
                    kv_str("rpc.service", "shop.Cart"),
                    kv_str("rpc.method", method),
                ],
            )
        };
        let mut apps = vec![
            resource(
                "10.0.0.1",
                vec![
                    app(0x11, 0xaa, None, KIND_CLIENT, (190, 310), vec![]),
                    app(0x12, 0xaa, None, KIND_CLIENT, (390, 510), vec![]),
                ],
            ),
            resource(
                "10.0.0.2",
                vec![
                    grpc_server(0x21, 0x11, (220, 280), "GetCart"),
                    grpc_server(0x22, 0x12, (420, 480), "AddItem"),
                ],
            ),
        ];
        let stats = join(&mut network, &mut apps);
        let learned =
            |s: &Span| attr_str(&s.attributes, "wirespan.learned_from").map(str::to_owned);
        assert_eq!(network[0].name, "shop.Cart/GetCart");
        assert_eq!(learned(&network[0]).as_deref(), Some("capture_point"));
        assert_eq!(learned(&network[1]), None, "it read its own");
        assert_eq!(network[2].name, "shop.Cart/AddItem");
        assert_eq!(
            attr_str(&network[2].attributes, "rpc.method"),
            Some("AddItem")
        );
        assert_eq!(
            attr_str(&network[2].attributes, "url.path"),
            Some("/shop.Cart/AddItem")
        );
        assert_eq!(learned(&network[2]).as_deref(), Some("app_span"));
        assert!(!has(&network[2], "wirespan.grpc.method", "unknown"));
        // No context, no app span of its own: it stays unknown, and says so.
        assert!(has(&network[3], "wirespan.grpc.method", "unknown"));
        assert_eq!(learned(&network[3]), None);
        assert_eq!(stats.correlation_names_learned, 2);
    }
}

//! Traces for people: a waterfall per trace, in the terminal.
//!
//! Takes OTLP resource spans (the apps' and wirespan's, as `replay`/`capture` write them), a
//! [`Filter`] and a [`Style`]; gives text: per trace, each span on its own line under its
//! parent, with when it started (relative to the trace), how long it took, who made it (the
//! app's service, or the capture point for a network span), for a network span the call's two
//! ends (by name where any span names them, see [`Names`]; by address on demand, [`Ends`]), the
//! tunnel it crossed, and a bar to scale in time. App spans are drawn `█`, network spans `▒`,
//! errors marked (red on a colour terminal). Under an app's CLIENT span whose call wirespan
//! followed to the callee, one line splits its time ([`crate::latency`]). [`html`] draws the
//! same as a page for a browser, with the service map beside the traces; [`map`] sums the
//! network spans into a service map.

pub mod html;
pub mod map;

use crate::latency;
use crate::otlp::{attr_int, attr_str, KeyValue, ResourceSpans, Span};
use hashbrown::{HashMap, HashSet};
use std::fmt::Write as _;

const KIND_SERVER: i32 = 2;
const KIND_CLIENT: i32 = 3;

/// Which traces to draw: each set field must match.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// A prefix of the trace id, in hex.
    pub trace_id: Option<String>,
    /// Some span of the trace is from this service.
    pub service: Option<String>,
    /// Some span of the trace has this in its `url.path`, `rpc.method` or name.
    pub path: Option<String>,
    /// The trace lasted at least this long.
    pub min_duration_ns: u64,
    /// Some span of the trace failed.
    pub errors_only: bool,
}

/// How to draw.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Characters for the time bar.
    pub bar_width: usize,
    /// ANSI colours.
    pub color: bool,
    /// How the ends of a network call are told.
    pub ends: Ends,
}

impl Default for Style {
    fn default() -> Self {
        Style {
            bar_width: 40,
            color: false,
            ends: Ends::Names,
        }
    }
}

/// How the two ends of a network call are told.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Ends {
    /// By name where known ([`Names`]), else by address: `frontend → cart`,
    /// `10.244.1.20 → frontend`, `cart → 10.244.2.30:3306`.
    #[default]
    Names,
    /// By address and port, always: `10.244.1.10:41234 → 10.244.2.10:50051`.
    Addresses,
}

const PEER_SERVICE: &str = "peer.service";
const CLIENT_SERVICE: &str = "wirespan.client.service.name";
const SERVER_PROCESS: &str = "wirespan.server.process.executable.name";
const CLIENT_PROCESS: &str = "wirespan.client.process.executable.name";

/// The names of the ends of network calls, learned from every network span given (so several
/// agents' outputs name each other's ends), by the rule the service map ([`map::edges`])
/// follows: the server is its span's `peer.service`, else the name another span gave its
/// address and port, else the process that owns its socket
/// (`wirespan.server.process.executable.name`, from this span or another of the same
/// connection: only the capture point on the server's host sees it), else its address and
/// port; the client likewise (`wirespan.client.service.name`, the name another span gave its
/// address, `wirespan.client.process.executable.name`), else its address without the port (a
/// client's port names a connection, not a program).
#[derive(Default)]
pub struct Names<'a> {
    servers: HashMap<(&'a str, i64), &'a str>,
    clients: HashMap<&'a str, &'a str>,
    /// Processes by connection (client address and port, server address and port): the
    /// server's, the client's.
    processes_by_connection: HashMap<Connection<'a>, (Option<&'a str>, Option<&'a str>)>,
    services: HashSet<&'a str>,
    processes: HashSet<&'a str>,
}

type Connection<'a> = (&'a str, i64, &'a str, i64);

fn connection(a: &[KeyValue]) -> Option<Connection<'_>> {
    Some((
        attr_str(a, "client.address")?,
        attr_int(a, "client.port")?,
        attr_str(a, "server.address")?,
        attr_int(a, "server.port")?,
    ))
}

/// What a name given to an end is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndKind {
    /// A service's `service.name`.
    Service,
    /// The executable that owns the socket.
    Process,
    /// Nothing better is known.
    Address,
}

impl EndKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EndKind::Service => "service",
            EndKind::Process => "process",
            EndKind::Address => "address",
        }
    }
}

/// `addr:port`, with an IPv6 address in brackets.
fn endpoint(addr: &str, port: Option<i64>) -> String {
    match port {
        Some(port) if addr.contains(':') => format!("[{addr}]:{port}"),
        Some(port) => format!("{addr}:{port}"),
        None => addr.to_owned(),
    }
}

impl<'a> Names<'a> {
    /// Learns from the network spans (those a capture point saw) of `groups`.
    pub fn learn(groups: &'a [ResourceSpans]) -> Self {
        let mut names = Names::default();
        let network = groups
            .iter()
            .flat_map(|g| &g.scope_spans)
            .flat_map(|ss| &ss.spans)
            .map(|s| &s.attributes[..])
            .filter(|a| attr_str(a, "wirespan.capture.point").is_some());
        for a in network {
            let server = (attr_str(a, "server.address"), attr_int(a, "server.port"));
            if let Some(name) = attr_str(a, PEER_SERVICE) {
                names.services.insert(name);
                if let (Some(addr), Some(port)) = server {
                    names.servers.insert((addr, port), name);
                }
            }
            if let Some(name) = attr_str(a, CLIENT_SERVICE) {
                names.services.insert(name);
                if let Some(addr) = attr_str(a, "client.address") {
                    names.clients.insert(addr, name);
                }
            }
            let server_process = attr_str(a, SERVER_PROCESS);
            let client_process = attr_str(a, CLIENT_PROCESS);
            if server_process.is_some() || client_process.is_some() {
                names.processes.extend(server_process);
                names.processes.extend(client_process);
                if let Some(conn) = connection(a) {
                    let known = names.processes_by_connection.entry(conn).or_default();
                    known.0 = server_process.or(known.0);
                    known.1 = client_process.or(known.1);
                }
            }
        }
        names
    }

    /// The processes another span of the same connection named: the server's, the client's.
    fn processes(&self, a: &[KeyValue]) -> (Option<&'a str>, Option<&'a str>) {
        connection(a)
            .and_then(|conn| self.processes_by_connection.get(&conn).copied())
            .unwrap_or_default()
    }

    /// The caller of the network span with attributes `a`; `None` when it says nothing of it.
    pub fn client(&self, a: &'a [KeyValue]) -> Option<String> {
        let addr = attr_str(a, "client.address");
        attr_str(a, CLIENT_SERVICE)
            .or_else(|| addr.and_then(|addr| self.clients.get(addr).copied()))
            .or_else(|| attr_str(a, CLIENT_PROCESS))
            .or_else(|| self.processes(a).1)
            .or(addr)
            .map(str::to_owned)
    }

    /// The server of the network span with attributes `a`; `None` when it says nothing of it.
    pub fn server(&self, a: &'a [KeyValue]) -> Option<String> {
        let addr = attr_str(a, "server.address");
        let port = attr_int(a, "server.port");
        let learned = addr
            .zip(port)
            .and_then(|end| self.servers.get(&end).copied());
        attr_str(a, PEER_SERVICE)
            .or(learned)
            .or_else(|| attr_str(a, SERVER_PROCESS))
            .or_else(|| self.processes(a).0)
            .map(str::to_owned)
            .or_else(|| addr.map(|addr| endpoint(addr, port)))
    }

    /// What `name`, an end as [`Names::client`] or [`Names::server`] gave it, is.
    pub fn kind(&self, name: &str) -> EndKind {
        if self.services.contains(name) {
            EndKind::Service
        } else if self.processes.contains(name) {
            EndKind::Process
        } else {
            EndKind::Address
        }
    }

    /// `client → server` of the network span with attributes `a`, told as `ends` says; `None`
    /// when the span names neither end.
    pub fn call(&self, a: &'a [KeyValue], ends: Ends) -> Option<String> {
        let (client, server) = match ends {
            Ends::Names => (self.client(a), self.server(a)),
            Ends::Addresses => (
                attr_str(a, "client.address")
                    .map(|addr| endpoint(addr, attr_int(a, "client.port"))),
                attr_str(a, "server.address")
                    .map(|addr| endpoint(addr, attr_int(a, "server.port"))),
            ),
        };
        if client.is_none() && server.is_none() {
            return None;
        }
        Some(format!(
            "{} → {}",
            client.as_deref().unwrap_or("?"),
            server.as_deref().unwrap_or("?")
        ))
    }
}

/// The service map of `groups` ([`map::edges`]), its ends told as `ends` says: by address, the
/// map is drawn from a copy of the spans without the attributes that name ends.
pub fn map_edges(groups: &[ResourceSpans], ends: Ends) -> Vec<map::Edge> {
    match ends {
        Ends::Names => map::edges(groups),
        Ends::Addresses => {
            let mut bare = groups.to_vec();
            for span in bare
                .iter_mut()
                .flat_map(|g| &mut g.scope_spans)
                .flat_map(|ss| &mut ss.spans)
            {
                span.attributes.retain(|kv| {
                    ![PEER_SERVICE, CLIENT_SERVICE, SERVER_PROCESS, CLIENT_PROCESS]
                        .contains(&kv.key.as_str())
                });
            }
            map::edges(&bare)
        }
    }
}

/// One span in a trace, with what the drawing needs.
pub struct Node<'a> {
    pub span: &'a Span,
    pub service: &'a str,
    /// The capture point, for a network span.
    pub point: Option<&'a str>,
    /// For a network span, its call's ends: `frontend → cart` ([`Names::call`]).
    pub call: Option<String>,
}

impl Node<'_> {
    /// Who saw the span: the app's service, or `net` and the capture point.
    pub fn who(&self) -> String {
        match self.point {
            Some(point) => format!("net {point}"),
            None => self.service.to_owned(),
        }
    }

    pub fn failed(&self) -> bool {
        let a = &self.span.attributes;
        self.span.status.as_ref().is_some_and(|st| st.code == 2)
            || attr_int(a, "http.response.status_code").is_some_and(|c| c >= 500)
            || attr_int(a, "rpc.grpc.status_code").is_some_and(|c| c != 0)
    }
}

/// The spans of one trace as a tree, in drawing order.
pub struct Trace<'a> {
    pub id: Vec<u8>,
    pub nodes: Vec<Node<'a>>,
    /// Children of each node (and of the roots under `None`), by start time.
    pub children: HashMap<Option<usize>, Vec<usize>>,
    pub start: u64,
    pub end: u64,
}

impl Trace<'_> {
    pub fn hex_id(&self) -> String {
        self.id.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Nodes with their depth, parents before children, siblings by start time. Spans in a
    /// parent cycle (hostile input) have no root and are not reached.
    pub fn walk(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::with_capacity(self.nodes.len());
        let mut stack: Vec<(usize, usize)> = self
            .children
            .get(&None)
            .map_or_else(Vec::new, |r| r.iter().rev().map(|&i| (i, 0)).collect());
        while let Some((i, depth)) = stack.pop() {
            out.push((i, depth));
            if let Some(kids) = self.children.get(&Some(i)) {
                stack.extend(kids.iter().rev().map(|&k| (k, depth + 1)));
            }
        }
        out
    }

    pub fn matches(&self, f: &Filter) -> bool {
        let id_ok = f
            .trace_id
            .as_deref()
            .is_none_or(|p| self.hex_id().starts_with(&p.to_ascii_lowercase()));
        let service_ok = f
            .service
            .as_deref()
            .is_none_or(|svc| self.nodes.iter().any(|n| n.service == svc));
        let path_ok = f.path.as_deref().is_none_or(|p| {
            self.nodes.iter().any(|n| {
                let a = &n.span.attributes;
                n.span.name.contains(p)
                    || attr_str(a, "url.path").is_some_and(|v| v.contains(p))
                    || attr_str(a, "rpc.method").is_some_and(|v| v.contains(p))
            })
        });
        let long_enough = self.end.saturating_sub(self.start) >= f.min_duration_ns;
        let errors_ok = !f.errors_only || self.nodes.iter().any(Node::failed);
        id_ok && service_ok && path_ok && long_enough && errors_ok
    }
}

/// Every trace in `groups`, in order of first appearance, its network calls' ends told as
/// `ends` says.
pub fn traces(groups: &[ResourceSpans], ends: Ends) -> Vec<Trace<'_>> {
    let names = Names::learn(groups);
    let mut order: Vec<Vec<u8>> = Vec::new();
    let mut by_trace: HashMap<Vec<u8>, Vec<Node<'_>>> = HashMap::new();
    for rs in groups {
        let service = rs
            .resource
            .as_ref()
            .and_then(|r| attr_str(&r.attributes, "service.name"))
            .unwrap_or("?");
        for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
            let point = attr_str(&span.attributes, "wirespan.capture.point");
            let entry = by_trace.entry(span.trace_id.clone()).or_default();
            if entry.is_empty() {
                order.push(span.trace_id.clone());
            }
            let call = point.and_then(|_| names.call(&span.attributes, ends));
            entry.push(Node {
                span,
                service,
                point,
                call,
            });
        }
    }
    order
        .into_iter()
        .filter_map(|id| {
            let nodes = by_trace.remove(&id)?;
            let ids: HashMap<&[u8], usize> = nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (&n.span.span_id[..], i))
                .collect();
            let mut children: HashMap<Option<usize>, Vec<usize>> = HashMap::new();
            for (i, n) in nodes.iter().enumerate() {
                let parent = ids
                    .get(&n.span.parent_span_id[..])
                    .copied()
                    .filter(|&p| p != i);
                children.entry(parent).or_default().push(i);
            }
            let start_of = |i: usize| nodes.get(i).map_or(0, |n| n.span.start_time_unix_nano);
            for list in children.values_mut() {
                list.sort_by_key(|&i| (start_of(i), i));
            }
            let start = nodes
                .iter()
                .map(|n| n.span.start_time_unix_nano)
                .min()
                .unwrap_or(0);
            let end = nodes
                .iter()
                .map(|n| n.span.end_time_unix_nano)
                .max()
                .unwrap_or(0);
            Some(Trace {
                id,
                nodes,
                children,
                start,
                end,
            })
        })
        .collect()
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn signed_ms(ns: i64) -> f64 {
    ns as f64 / 1e6
}

/// The time bar of a span: its place within the trace, `width` characters wide.
fn bar(trace: &Trace<'_>, span: &Span, fill: char, width: usize) -> String {
    let total = trace.end.saturating_sub(trace.start).max(1) as f64;
    let cell = |t: u64| {
        let at = t.saturating_sub(trace.start) as f64 / total * width as f64;
        (at.floor() as usize).min(width)
    };
    let from = cell(span.start_time_unix_nano).min(width.saturating_sub(1));
    let to = cell(span.end_time_unix_nano).max(from + 1).min(width);
    let mut s = String::with_capacity(width * 3);
    s.extend(std::iter::repeat_n(' ', from));
    s.extend(std::iter::repeat_n(fill, to - from));
    s.extend(std::iter::repeat_n(' ', width - to));
    s
}

/// The attribution line of a CLIENT span: its time split into the caller's, each network leg
/// (named by the capture point it starts from) and the callee's.
pub fn attribution(trace: &Trace<'_>, i: usize) -> Option<String> {
    let node = trace.nodes.get(i)?;
    let a = &node.span.attributes;
    if node.span.kind != KIND_CLIENT {
        return None;
    }
    let client = attr_int(a, latency::CLIENT_NS)?;
    let network = attr_int(a, latency::NETWORK_NS)?;
    let server = attr_int(a, latency::SERVER_NS)?;
    let mut legs = Vec::new();
    let mut at = i;
    // Down the chain of network hops to the callee's SERVER span.
    while let Some(&next) = trace.children.get(&Some(at)).and_then(|k| k.first()) {
        let hop = trace.nodes.get(next)?;
        if hop.span.kind == KIND_SERVER && hop.point.is_none() {
            break;
        }
        let leg = attr_int(&hop.span.attributes, latency::HOP_NS)?;
        let tunnel = attr_str(&hop.span.attributes, "wirespan.tunnel")
            .map(|t| format!(" [{t}]"))
            .unwrap_or_default();
        legs.push(format!(
            "{}{tunnel} {:.3}",
            hop.point.unwrap_or("?"),
            signed_ms(leg)
        ));
        at = next;
    }
    let took = node
        .span
        .end_time_unix_nano
        .saturating_sub(node.span.start_time_unix_nano);
    let name = node.span.name.rsplit('/').next().unwrap_or(&node.span.name);
    Some(format!(
        "{name} {:.3} ms: client {:.3}, network {:.3} ({}), server {:.3}",
        ms(took),
        signed_ms(client),
        signed_ms(network),
        legs.join(", "),
        signed_ms(server)
    ))
}

pub fn kind(k: i32) -> &'static str {
    match k {
        2 => "SERVER",
        3 => "CLIENT",
        4 => "PRODUCER",
        5 => "CONSUMER",
        _ => "INTERNAL",
    }
}

const RED: &str = "\x1b[31m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Draws the traces of `groups` that pass `filter`.
pub fn render(groups: &[ResourceSpans], filter: &Filter, style: Style) -> String {
    let mut out = String::new();
    let paint = |code: &'static str| if style.color { code } else { "" };
    for trace in traces(groups, style.ends)
        .iter()
        .filter(|t| t.matches(filter))
    {
        let walk = trace.walk();
        let errors = trace.nodes.iter().filter(|n| n.failed()).count();
        let _ = writeln!(
            out,
            "{}trace {}{}  {:.3} ms, {} spans{}",
            paint(BOLD),
            trace.hex_id(),
            paint(RESET),
            ms(trace.end.saturating_sub(trace.start)),
            trace.nodes.len(),
            if errors > 0 {
                format!(", {}{errors} failed{}", paint(RED), paint(RESET))
            } else {
                String::new()
            }
        );
        let lines: Vec<(usize, String)> = walk
            .iter()
            .filter_map(|&(i, depth)| {
                let n = trace.nodes.get(i)?;
                let s = n.span;
                let mut extra = String::new();
                if let Some(code) = attr_int(&s.attributes, "http.response.status_code") {
                    let _ = write!(extra, " {code}");
                }
                if let Some(code) = attr_int(&s.attributes, "rpc.grpc.status_code") {
                    let _ = write!(extra, " grpc={code}");
                }
                if let Some(t) = attr_str(&s.attributes, "wirespan.tunnel") {
                    let _ = write!(extra, " [{t}]");
                }
                if n.failed() {
                    extra.push_str(" ERROR");
                }
                Some((
                    i,
                    format!(
                        "{:>9.3} ms {:>9.3} ms {}{} {}{} ({}){extra}",
                        ms(s.start_time_unix_nano.saturating_sub(trace.start)),
                        ms(s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano)),
                        "  ".repeat(depth + 1),
                        s.name,
                        kind(s.kind),
                        n.call.as_ref().map(|c| format!(" {c}")).unwrap_or_default(),
                        n.who()
                    ),
                ))
            })
            .collect();
        let column = lines
            .iter()
            .map(|(_, l)| l.chars().count())
            .max()
            .unwrap_or(0);
        for ((i, line), &(_, depth)) in lines.iter().zip(&walk) {
            let Some(n) = trace.nodes.get(*i) else {
                continue;
            };
            let (fill, color) = match (n.failed(), n.point.is_some()) {
                (true, _) => ('█', paint(RED)),
                (false, true) => ('▒', paint(DIM)),
                (false, false) => ('█', ""),
            };
            let pad = column - line.chars().count();
            let _ = writeln!(
                out,
                "{color}{line}{:pad$}  |{}|{}",
                "",
                bar(trace, n.span, fill, style.bar_width),
                paint(RESET)
            );
            if let Some(split) = attribution(trace, *i) {
                let _ = writeln!(
                    out,
                    "{}{:>24}{}↳ {split}{}",
                    paint(DIM),
                    "",
                    "  ".repeat(depth + 2),
                    paint(RESET)
                );
            }
        }
    }
    out
}

/// Every trace in `groups`, drawn with the default style and no filter.
pub fn trees(groups: &[ResourceSpans]) -> String {
    render(groups, &Filter::default(), Style::default())
}

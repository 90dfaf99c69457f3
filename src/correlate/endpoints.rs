//! Names for the ends of network calls, learned from the apps' own spans.
//!
//! Takes the apps' spans (their resource's `service.name` and host address, their SERVER
//! spans' ports) and the calls the correlator joined to an app span; gives every network span
//! to or from a known endpoint, joined or not, `peer.service` (the server's service) and
//! `wirespan.client.service.name` (the caller's). Servers are known by address and port,
//! callers by address. An address two services claim at once (host networking, a NAT) names
//! neither; the map is bounded, entries age out, and all of it is counted.

use crate::otlp::{attr_int, attr_str, kv_str, ResourceSpans, Span};
use crate::stats::Counters;
use std::collections::HashMap;

/// OTLP span kind SERVER.
const KIND_SERVER: i32 = 2;

/// Bounds on the map.
#[derive(Debug, Clone, Copy)]
pub struct EndpointLimits {
    /// Endpoints (servers and callers together) remembered at most.
    pub max_entries: usize,
    /// An endpoint not seen again for this long (span time) is forgotten.
    pub max_age_ns: u64,
}

impl Default for EndpointLimits {
    fn default() -> Self {
        EndpointLimits {
            max_entries: 65_536,
            max_age_ns: 3_600_000_000_000,
        }
    }
}

/// A claim on an address that another service made this recently is a conflict; an older one
/// was a previous owner (a pod's address given to a new pod).
const REUSE_NS: u64 = 60_000_000_000;

/// Span time between two passes that age entries out (besides those a full map forces).
const AGE_EVERY_NS: u64 = 60_000_000_000;

#[derive(Debug, Clone)]
struct Entry {
    /// `None` when two services claimed it at once.
    service: Option<String>,
    seen_ns: u64,
}

/// What the apps' spans said about who listens and who calls from where.
#[derive(Debug, Default)]
pub struct EndpointNames {
    limits: EndpointLimits,
    /// (address, port) → the service that serves there.
    servers: HashMap<(String, i64), Entry>,
    /// address → the service that calls from there.
    clients: HashMap<String, Entry>,
    /// Span time of the last pass that aged entries out.
    aged_ns: u64,
}

impl EndpointNames {
    pub fn new(limits: EndpointLimits) -> EndpointNames {
        EndpointNames {
            limits,
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.servers.len() + self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The service serving at `server`, when one is known and not in conflict.
    pub fn server(&self, server: &(String, i64)) -> Option<&str> {
        self.servers.get(server)?.service.as_deref()
    }

    /// The service calling from `address`, when one is known and not in conflict.
    pub fn client(&self, address: &str) -> Option<&str> {
        self.clients.get(address)?.service.as_deref()
    }

    /// Each app's host address calls as its service; each SERVER span's port on it serves
    /// as its service.
    pub fn learn_from_apps(&mut self, apps: &[ResourceSpans], now_ns: u64, stats: &mut Counters) {
        if now_ns.saturating_sub(self.aged_ns) >= AGE_EVERY_NS {
            self.age(now_ns, stats);
        }
        for rs in apps {
            let Some(resource) = rs.resource.as_ref() else {
                continue;
            };
            let (Some(service), Some(host)) = (
                attr_str(&resource.attributes, "service.name"),
                super::host_ip(rs),
            ) else {
                continue;
            };
            self.learn_client(host, service, now_ns, stats);
            for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
                if span.kind != KIND_SERVER {
                    continue;
                }
                if let Some(port) = served_port(span) {
                    self.learn_server((host.to_owned(), port), service, now_ns, stats);
                }
            }
        }
    }

    /// `server`, as the call reached it on the wire (a service address before its NAT, say),
    /// is served by `service`: the callee's SERVER span of a call joined to it says so.
    pub fn learn_server(
        &mut self,
        server: (String, i64),
        service: &str,
        now_ns: u64,
        stats: &mut Counters,
    ) {
        let full = self.len() >= self.limits.max_entries;
        if full && !self.servers.contains_key(&server) {
            self.age(now_ns, stats);
        }
        let full = self.len() >= self.limits.max_entries;
        learn(&mut self.servers, server, service, now_ns, full, stats);
    }

    /// Calls from `address` are made by `service`.
    pub fn learn_client(
        &mut self,
        address: &str,
        service: &str,
        now_ns: u64,
        stats: &mut Counters,
    ) {
        let full = self.len() >= self.limits.max_entries;
        if full && !self.clients.contains_key(address) {
            self.age(now_ns, stats);
        }
        let full = self.len() >= self.limits.max_entries;
        learn(
            &mut self.clients,
            address.to_owned(),
            service,
            now_ns,
            full,
            stats,
        );
    }

    /// Forgets what was not seen for `max_age_ns`.
    pub fn age(&mut self, now_ns: u64, stats: &mut Counters) {
        self.aged_ns = now_ns;
        let max_age = self.limits.max_age_ns;
        let before = self.len();
        let fresh = |e: &mut Entry| now_ns.saturating_sub(e.seen_ns) < max_age;
        self.servers.retain(|_, e| fresh(e));
        self.clients.retain(|_, e| fresh(e));
        stats.names_endpoints_aged_out += (before - self.len()) as u64;
    }

    /// Names both ends of every network span whose ends are known.
    pub fn name(&self, network: &mut [Span], stats: &mut Counters) {
        if self.is_empty() {
            return;
        }
        for span in network.iter_mut() {
            let a = &span.attributes;
            if attr_str(a, "peer.service").is_some() {
                continue;
            }
            let server = match (attr_str(a, "server.address"), attr_int(a, "server.port")) {
                (Some(addr), Some(port)) => self.server(&(addr.to_owned(), port)),
                _ => None,
            };
            let client = attr_str(a, "client.address").and_then(|c| self.client(c));
            let (server, client) = (server.map(str::to_owned), client.map(str::to_owned));
            if server.is_some() || client.is_some() {
                stats.names_spans_named += 1;
            }
            if let Some(s) = server {
                span.attributes.push(kv_str("peer.service", &s));
            }
            if let Some(c) = client {
                span.attributes
                    .push(kv_str("wirespan.client.service.name", &c));
            }
        }
    }
}

/// The port a SERVER span says it served on (current and older semantic conventions).
fn served_port(span: &Span) -> Option<i64> {
    let a = &span.attributes;
    ["server.port", "net.host.port", "url.port"]
        .iter()
        .find_map(|k| attr_int(a, k))
        .filter(|p| (1..=65_535).contains(p))
}

fn learn<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, Entry>,
    key: K,
    service: &str,
    now_ns: u64,
    full: bool,
    stats: &mut Counters,
) {
    if let Some(e) = map.get_mut(&key) {
        match &e.service {
            Some(s) if s == service => {}
            Some(_) if now_ns.saturating_sub(e.seen_ns) >= REUSE_NS => {
                e.service = Some(service.to_owned());
            }
            Some(_) => {
                stats.names_endpoint_conflicts += 1;
                e.service = None;
            }
            None => {}
        }
        e.seen_ns = e.seen_ns.max(now_ns);
        return;
    }
    if full {
        stats.names_endpoints_dropped += 1;
        return;
    }
    stats.names_endpoints_learned += 1;
    map.insert(
        key,
        Entry {
            service: Some(service.to_owned()),
            seen_ns: now_ns,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::KeyValue;

    fn int(key: &str, v: i64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(crate::otlp::AnyValue {
                value: Some(crate::otlp::any_value::Value::IntValue(v)),
            }),
            ..Default::default()
        }
    }

    fn span(client: (&str, i64), server: (&str, i64)) -> Span {
        Span {
            attributes: vec![
                kv_str("client.address", client.0),
                int("client.port", client.1),
                kv_str("server.address", server.0),
                int("server.port", server.1),
            ],
            ..Default::default()
        }
    }

    fn named(names: &EndpointNames, s: &Span) -> (Option<String>, Option<String>) {
        let mut one = [s.clone()];
        names.name(&mut one, &mut Counters::default());
        let a = &one[0].attributes;
        (
            attr_str(a, "wirespan.client.service.name").map(str::to_owned),
            attr_str(a, "peer.service").map(str::to_owned),
        )
    }

    #[test]
    fn both_ends_by_name_and_a_shared_address_names_neither() {
        let mut names = EndpointNames::new(EndpointLimits::default());
        let mut stats = Counters::default();
        names.learn_server(("10.0.0.2".into(), 50051), "cart", 0, &mut stats);
        names.learn_client("10.0.0.1", "frontend", 0, &mut stats);
        let call = span(("10.0.0.1", 40000), ("10.0.0.2", 50051));
        assert_eq!(
            named(&names, &call),
            (Some("frontend".into()), Some("cart".into()))
        );
        // Another port of the server's address is not the service.
        let other = span(("10.0.0.9", 40000), ("10.0.0.2", 9090));
        assert_eq!(named(&names, &other), (None, None));
        // Two services calling from one address at once: neither is named.
        names.learn_client("10.0.0.1", "catalog", 1_000, &mut stats);
        assert_eq!(named(&names, &call), (None, Some("cart".into())));
        assert_eq!(stats.names_endpoint_conflicts, 1);
        // An address whose last owner was seen long ago has a new owner, not a conflict.
        names.learn_server(
            ("10.0.0.2".into(), 50051),
            "orders",
            120_000_000_000,
            &mut stats,
        );
        assert_eq!(named(&names, &call).1, Some("orders".into()));
        assert_eq!(stats.names_endpoint_conflicts, 1);
    }

    /// What SDKs of today write (`host.ip`, a SERVER span's `server.port`) names the ends as
    /// the Python SDK's older keys do (`k8s.pod.ip`, `net.host.port`); a CLIENT span's port is
    /// not where its service listens.
    #[test]
    fn apps_name_themselves_with_either_conventions_keys() {
        use crate::otlp::{Resource, ScopeSpans};
        let app = |resource: Vec<KeyValue>, spans: Vec<Span>| ResourceSpans {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        };
        let with_port = |kind: i32, key: &str, port: i64| Span {
            kind,
            attributes: vec![int(key, port)],
            ..Default::default()
        };
        let apps = [
            app(
                vec![
                    kv_str("service.name", "orders"),
                    kv_str("host.ip", "10.0.0.5"),
                ],
                vec![
                    with_port(KIND_SERVER, "server.port", 8443),
                    with_port(3, "server.port", 5432),
                ],
            ),
            app(
                vec![
                    kv_str("service.name", "cart"),
                    kv_str("k8s.pod.ip", "10.0.0.6"),
                ],
                vec![with_port(KIND_SERVER, "net.host.port", 50051)],
            ),
        ];
        let mut names = EndpointNames::new(EndpointLimits::default());
        names.learn_from_apps(&apps, 0, &mut Counters::default());
        assert_eq!(names.server(&("10.0.0.5".into(), 8443)), Some("orders"));
        assert_eq!(names.server(&("10.0.0.5".into(), 5432)), None);
        assert_eq!(names.server(&("10.0.0.6".into(), 50051)), Some("cart"));
        assert_eq!(names.client("10.0.0.5"), Some("orders"));
        assert_eq!(names.client("10.0.0.6"), Some("cart"));
    }

    #[test]
    fn the_map_is_bounded_and_ages_out() {
        let mut names = EndpointNames::new(EndpointLimits {
            max_entries: 100,
            max_age_ns: 1_000,
        });
        let mut stats = Counters::default();
        for i in 0..1_000 {
            names.learn_client(
                &format!("10.1.{}.{}", i / 256, i % 256),
                "flood",
                0,
                &mut stats,
            );
        }
        assert_eq!(names.len(), 100);
        assert_eq!(stats.names_endpoints_dropped, 900);
        // Once they are old, the next newcomer ages them out and finds room.
        names.learn_client("10.9.9.9", "late", 5_000, &mut stats);
        assert_eq!(stats.names_endpoints_aged_out, 100);
        assert_eq!(names.client("10.9.9.9"), Some("late"));
        assert_eq!(names.len(), 1);
    }
}

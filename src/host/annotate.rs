//! Puts the owners of a call's local sockets on its network spans, looked up once per call
//! (5-tuple) and cached.
//!
//! Keys (`../shared/SPANS.md`, "names"), for each end found:
//! `wirespan.{client,server}.process.pid` (int), `wirespan.{client,server}.process.executable.name`,
//! and where the cgroup names them `wirespan.{client,server}.process.container.id` and
//! `wirespan.{client,server}.process.pod.uid`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hashbrown::HashMap;

use super::{CallEnds, CallOwners, EndOwner, HostCounters, ProcessIndex, ProcessInfo, Transport};
use crate::attribute::{int_attr, str_attr, AttrValue, Attribute};
use crate::span::NetworkSpan;

pub const CLIENT_PID: &str = "wirespan.client.process.pid";
pub const CLIENT_EXECUTABLE: &str = "wirespan.client.process.executable.name";
pub const CLIENT_CONTAINER: &str = "wirespan.client.process.container.id";
pub const CLIENT_POD: &str = "wirespan.client.process.pod.uid";
pub const SERVER_PID: &str = "wirespan.server.process.pid";
pub const SERVER_EXECUTABLE: &str = "wirespan.server.process.executable.name";
pub const SERVER_CONTAINER: &str = "wirespan.server.process.container.id";
pub const SERVER_POD: &str = "wirespan.server.process.pod.uid";

/// The keys of one end.
struct EndKeys {
    pid: &'static str,
    executable: &'static str,
    container: &'static str,
    pod: &'static str,
}

const CLIENT: EndKeys = EndKeys {
    pid: CLIENT_PID,
    executable: CLIENT_EXECUTABLE,
    container: CLIENT_CONTAINER,
    pod: CLIENT_POD,
};

const SERVER: EndKeys = EndKeys {
    pid: SERVER_PID,
    executable: SERVER_EXECUTABLE,
    container: SERVER_CONTAINER,
    pod: SERVER_POD,
};

/// How much the annotator remembers, and for how long.
#[derive(Debug, Clone)]
pub struct AnnotatorConfig {
    /// Calls remembered at most; when full, expired entries and then the oldest eighth go.
    pub capacity: usize,
    /// How long a call's answer is kept (its sockets' owners do not change while it lives;
    /// after this its 5-tuple may be another call's).
    pub ttl: Duration,
    /// An end not found (or ambiguous) is looked up again no sooner than this, so that a call
    /// whose end is remote does not make the index rebuild on every span.
    pub miss_ttl: Duration,
}

impl Default for AnnotatorConfig {
    fn default() -> AnnotatorConfig {
        AnnotatorConfig {
            capacity: 65_536,
            ttl: Duration::from_secs(60),
            miss_ttl: Duration::from_secs(2),
        }
    }
}

struct Entry {
    owners: CallOwners,
    created: Instant,
    /// When an end still unnamed may be looked up again; `None` once both are named.
    retry_at: Option<Instant>,
}

/// The per-call cache in front of a [`ProcessIndex`]: the live pipeline calls
/// [`annotate`](ProcessAnnotator::annotate) once per network span.
pub struct ProcessAnnotator {
    index: ProcessIndex,
    config: AnnotatorConfig,
    cache: HashMap<CallEnds, Entry>,
    counters: HostCounters,
}

impl ProcessAnnotator {
    pub fn new(index: ProcessIndex, config: AnnotatorConfig) -> ProcessAnnotator {
        ProcessAnnotator {
            index,
            config,
            cache: HashMap::new(),
            counters: HostCounters::default(),
        }
    }

    /// Adds the owners of the span's local ends (see the module's keys); a span without
    /// addresses, ports and a TCP or UDP transport, or already annotated, is left as it is.
    pub fn annotate(&mut self, span: &mut NetworkSpan) {
        self.annotate_at(span, Instant::now());
    }

    /// [`annotate`](ProcessAnnotator::annotate) at `now`.
    pub fn annotate_at(&mut self, span: &mut NetworkSpan, now: Instant) {
        if span.attr(CLIENT_PID).is_some() || span.attr(SERVER_PID).is_some() {
            return;
        }
        let Some(call) = call_of(span) else {
            return;
        };
        let owners = self.owners_at(&call, now);
        name_ends(span, &owners);
    }

    /// The owners of a call's ends: from the cache, or looked up (and remembered).
    pub fn owners_at(&mut self, call: &CallEnds, now: Instant) -> CallOwners {
        if let Some(entry) = self.cache.get_mut(call) {
            if now.saturating_duration_since(entry.created) < self.config.ttl {
                match entry.retry_at {
                    Some(at) if now >= at => {
                        // Named ends stay named (a socket closed since is still its call's).
                        let fresh = self.index.lookup_at(call, now);
                        for (kept, new) in [
                            (&mut entry.owners.client, fresh.client),
                            (&mut entry.owners.server, fresh.server),
                        ] {
                            if !matches!(kept, EndOwner::Found(_)) {
                                *kept = new;
                            }
                        }
                        entry.retry_at = retry_at(&entry.owners, now, self.config.miss_ttl);
                    }
                    _ => self.counters.cache_hits += 1,
                }
                return entry.owners.clone();
            }
        }
        let owners = self.index.lookup_at(call, now);
        if self.config.capacity > 0 {
            if !self.cache.contains_key(call) && self.cache.len() >= self.config.capacity {
                self.make_room(now);
            }
            let entry = Entry {
                owners: owners.clone(),
                created: now,
                retry_at: retry_at(&owners, now, self.config.miss_ttl),
            };
            self.cache.insert(*call, entry);
        }
        owners
    }

    /// Drops expired entries, then the oldest until an eighth of the capacity is free.
    fn make_room(&mut self, now: Instant) {
        let before = self.cache.len();
        let ttl = self.config.ttl;
        self.cache
            .retain(|_, e| now.saturating_duration_since(e.created) < ttl);
        let keep = self.config.capacity - self.config.capacity.div_ceil(8);
        if self.cache.len() > keep {
            let mut ages: Vec<Instant> = self.cache.values().map(|e| e.created).collect();
            let drop = ages.len() - keep;
            let (_, &mut cutoff, _) = ages.select_nth_unstable(drop - 1);
            self.cache.retain(|_, e| e.created > cutoff);
        }
        self.counters.cache_evictions += (before - self.cache.len()) as u64;
    }

    pub fn index(&self) -> &ProcessIndex {
        &self.index
    }

    /// The index's counters and the cache's.
    pub fn counters(&self) -> HostCounters {
        let mut all = self.index.counters();
        all.merge(&self.counters);
        all
    }

    /// The counters so far, leaving zeros (to add them to a pipeline's counters once).
    pub fn take_counters(&mut self) -> HostCounters {
        let mut all = self.index.take_counters();
        all.merge(&std::mem::take(&mut self.counters));
        all
    }
}

/// When a call with an end still unnamed may be looked up again; `None` once both are named.
fn retry_at(owners: &CallOwners, now: Instant, miss_ttl: Duration) -> Option<Instant> {
    let named = |e: &EndOwner| matches!(e, EndOwner::Found(_));
    (!named(&owners.client) || !named(&owners.server)).then(|| now + miss_ttl)
}

/// The call a span describes, from its attributes.
pub fn call_of(span: &NetworkSpan) -> Option<CallEnds> {
    let transport = match span.attr("network.transport")? {
        AttrValue::Str(t) if &**t == "tcp" => Transport::Tcp,
        AttrValue::Str(t) if &**t == "udp" => Transport::Udp,
        _ => return None,
    };
    let end = |address: &str, port: &str| -> Option<SocketAddr> {
        let AttrValue::Str(ip) = span.attr(address)? else {
            return None;
        };
        let AttrValue::Int(port) = span.attr(port)? else {
            return None;
        };
        let ip: IpAddr = ip.parse().ok()?;
        Some(SocketAddr::new(
            ip.to_canonical(),
            u16::try_from(*port).ok()?,
        ))
    };
    Some(CallEnds {
        transport,
        client: end("client.address", "client.port")?,
        server: end("server.address", "server.port")?,
    })
}

/// Puts the processes found for the call's ends on its span (see the module's keys).
pub fn name_ends(span: &mut NetworkSpan, owners: &CallOwners) {
    for (end, keys) in [(&owners.client, &CLIENT), (&owners.server, &SERVER)] {
        if let Some(process) = end.process() {
            push_process(&mut span.attributes, process, keys);
        }
    }
}

fn push_process(attributes: &mut Vec<Attribute>, p: &ProcessInfo, keys: &EndKeys) {
    attributes.push(int_attr(keys.pid, i64::from(p.pid)));
    attributes.push(str_attr(keys.executable, Arc::clone(&p.executable_name)));
    if let Some(id) = &p.container_id {
        attributes.push(str_attr(keys.container, Arc::clone(id)));
    }
    if let Some(uid) = &p.pod_uid {
        attributes.push(str_attr(keys.pod, Arc::clone(uid)));
    }
}

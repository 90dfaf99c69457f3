//! Names from the host: which process owns each local end of a network call, as `ss -p`
//! finds it, in every network namespace of the host (containers and pods included).
//!
//! Takes a `/proc` tree (the host's, or a fake one in tests) and a call's ends (transport,
//! client address and port, server address and port); gives, for the client end and the
//! server end, the owning process: pid, executable name (`comm`), and the container id and
//! Kubernetes pod UID where the process's cgroup path names them.
//!
//! - [`ProcessIndex`] knows the network namespaces of the host (a survey: every process's
//!   `ns/net`, deduplicated by inode, and each namespace's local addresses from `fib_trie`
//!   and `if_inet6`) and, read through one process of each, the socket tables (`net/tcp`,
//!   `tcp6`, `udp`, `udp6`) of the namespaces a call's addresses are local to, with the owners
//!   of their inodes (the descriptors of the namespace's processes, `fd/*` →
//!   `socket:[inode]`). It reads `/proc` only when a lookup misses, the survey and each
//!   namespace at most once per [`IndexConfig::min_rebuild_interval`], within caps on
//!   processes, descriptors and sockets. An end is the socket whose local address is that end
//!   and whose remote is the other; a server end (or a UDP client) with no such socket falls
//!   back to the socket listening on (bound to) its port, on its address or on the wildcard.
//!   Two processes that could own one end name neither ([`EndOwner::Ambiguous`]).
//! - [`ProcessAnnotator`] caches the answer per call (5-tuple), bounded and aged, with a short
//!   negative cache, and puts it on network spans (keys in [`annotate`]).
//! - [`HostCounters`] counts lookups, what they found, rebuilds and what a scan could not read
//!   (permission denied, processes gone); nothing here is fatal and nothing panics.

pub mod annotate;
mod index;
pub mod namer;
mod parse;
pub mod procfs;

use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;

pub use crate::flow::Transport;
pub use annotate::{AnnotatorConfig, ProcessAnnotator};
pub use index::{BuildSummary, IndexConfig, LocalAddresses, ProcessIndex};
pub use procfs::{DirProc, ProcFs};

/// The two ends of a call as the capture saw them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallEnds {
    pub transport: Transport,
    pub client: SocketAddr,
    pub server: SocketAddr,
}

impl Hash for CallEnds {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u8(match self.transport {
            Transport::Tcp => 6,
            Transport::Udp => 17,
        });
        self.client.hash(state);
        self.server.hash(state);
    }
}

/// A process that owns a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    /// `/proc/<pid>/comm` (at most 15 bytes), or the basename of `exe` when `comm` cannot be
    /// read.
    pub executable_name: Arc<str>,
    /// The 64-hex container id the cgroup path names (docker, containerd, CRI-O, podman).
    pub container_id: Option<Arc<str>>,
    /// The Kubernetes pod UID the cgroup path names, with dashes.
    pub pod_uid: Option<Arc<str>>,
}

/// Who owns one end of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndOwner {
    Found(Arc<ProcessInfo>),
    /// No socket of this host is that end (a remote end, a socket already closed), or its
    /// owner could not be read.
    NotFound,
    /// Sockets of several processes (or namespaces) could be that end: none is named.
    Ambiguous,
}

impl EndOwner {
    pub fn process(&self) -> Option<&Arc<ProcessInfo>> {
        match self {
            EndOwner::Found(p) => Some(p),
            EndOwner::NotFound | EndOwner::Ambiguous => None,
        }
    }
}

/// The owners of both ends of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOwners {
    pub client: EndOwner,
    pub server: EndOwner,
}

/// What the index and the annotator did; [`HostCounters::add_to`] adds them to the pipeline's
/// [`Counters`](crate::stats::Counters) as `process_*`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HostCounters {
    /// Lookups in the socket tables (cache misses of the annotator).
    pub lookups: u64,
    /// Client ends whose process was found.
    pub client_found: u64,
    /// Server ends whose process was found.
    pub server_found: u64,
    /// Ends (client or server) no process was found for.
    pub not_found: u64,
    /// Ends several processes or namespaces could own: named neither.
    pub ambiguous: u64,
    /// Times the tables were built from `/proc`.
    pub rebuilds: u64,
    /// Reads of `/proc` refused (another user's process, no CAP_SYS_PTRACE/DAC_READ_SEARCH).
    pub permission_denied: u64,
    /// Processes that exited while they were read.
    pub gone: u64,
    /// Other failed reads and lines that could not be parsed.
    pub unreadable: u64,
    /// Builds that stopped at a cap (processes, descriptors or sockets).
    pub scan_truncated: u64,
    /// Spans answered from the annotator's cache.
    pub cache_hits: u64,
    /// Cache entries dropped to stay within its bound.
    pub cache_evictions: u64,
}

impl HostCounters {
    /// Adds every counter of `other` to this one.
    pub fn merge(&mut self, other: &HostCounters) {
        self.lookups += other.lookups;
        self.client_found += other.client_found;
        self.server_found += other.server_found;
        self.not_found += other.not_found;
        self.ambiguous += other.ambiguous;
        self.rebuilds += other.rebuilds;
        self.permission_denied += other.permission_denied;
        self.gone += other.gone;
        self.unreadable += other.unreadable;
        self.scan_truncated += other.scan_truncated;
        self.cache_hits += other.cache_hits;
        self.cache_evictions += other.cache_evictions;
    }

    /// Adds these counts to the pipeline's counters (`process_*`).
    pub fn add_to(&self, c: &mut crate::stats::Counters) {
        c.process_lookups += self.lookups;
        c.process_client_found += self.client_found;
        c.process_server_found += self.server_found;
        c.process_not_found += self.not_found;
        c.process_ambiguous += self.ambiguous;
        c.process_rebuilds += self.rebuilds;
        c.process_permission_denied += self.permission_denied;
        c.process_gone += self.gone;
        c.process_unreadable += self.unreadable;
        c.process_scan_truncated += self.scan_truncated;
        c.process_cache_hits += self.cache_hits;
        c.process_cache_evictions += self.cache_evictions;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_reach_the_pipeline_counters() {
        let mut h = HostCounters {
            lookups: 3,
            client_found: 2,
            server_found: 1,
            not_found: 1,
            ambiguous: 1,
            rebuilds: 4,
            permission_denied: 5,
            gone: 6,
            unreadable: 7,
            scan_truncated: 8,
            cache_hits: 9,
            cache_evictions: 10,
        };
        h.merge(&h.clone());
        let mut c = crate::stats::Counters::default();
        h.add_to(&mut c);
        let named: Vec<_> = c
            .iter()
            .filter(|(n, _)| n.starts_with("process_"))
            .collect();
        assert_eq!(
            named,
            vec![
                ("process_lookups", 6),
                ("process_client_found", 4),
                ("process_server_found", 2),
                ("process_not_found", 2),
                ("process_ambiguous", 2),
                ("process_rebuilds", 8),
                ("process_permission_denied", 10),
                ("process_gone", 12),
                ("process_unreadable", 14),
                ("process_scan_truncated", 16),
                ("process_cache_hits", 18),
                ("process_cache_evictions", 20),
                // The namer's own, not the index's.
                ("process_requests_dropped", 0),
                ("process_answers_evicted", 0),
                ("process_spans_released_early", 0),
                ("process_remote_calls", 0),
            ]
        );
    }
}

#[cfg(test)]
mod fake_proc_tests;

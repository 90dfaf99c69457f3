//! The network namespaces of the host, their local addresses and, read when a call needs
//! them, their socket tables and the owners of the sockets' inodes.
//!
//! Reading a namespace's `net/tcp` and `net/tcp6` costs the same however few sockets it has
//! (the kernel walks its whole connection hash: about 1.5 ms each on a small VM), so a miss
//! does not read every namespace: a cheap survey (each process's `ns/net`, each namespace's
//! `fib_trie` and `if_inet6`) says where the call's addresses are local, and only those
//! namespaces' tables and their processes' descriptors are read.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hashbrown::{HashMap, HashSet};

use super::parse::{self, FibTrie, Placement, SocketRow, TCP_LISTEN};
use super::procfs::{failure, DirProc, Failure, ProcFs};
use super::{CallEnds, CallOwners, EndOwner, HostCounters, ProcessInfo, Transport};

/// How often and how far the index reads `/proc`.
#[derive(Debug, Clone)]
pub struct IndexConfig {
    /// Where `/proc` is (tests point it at a fake tree).
    pub proc_root: PathBuf,
    /// A lookup that misses re-reads the namespaces (and each namespace's sockets) only when
    /// they were read at least this long ago.
    pub min_rebuild_interval: Duration,
    /// And no sooner than this many times as long as the last read took: a read of d waits
    /// at least `idle_factor × d` (9: at most a tenth of a thread spent reading `/proc`).
    pub idle_factor: u32,
    /// A miss on an address no namespace held at the last survey (a remote end, or a
    /// namespace newer than the survey) surveys again only when the survey is this old.
    pub remote_survey_interval: Duration,
    /// At most this many processes are surveyed (the rest are not seen).
    pub max_pids: usize,
    /// At most this many file descriptors are resolved per rebuild, over all processes.
    pub max_fds: usize,
    /// At most this many sockets (rows with an owner inode) are kept per rebuild.
    pub max_sockets: usize,
}

impl Default for IndexConfig {
    fn default() -> IndexConfig {
        IndexConfig {
            proc_root: PathBuf::from("/proc"),
            min_rebuild_interval: Duration::from_millis(500),
            idle_factor: 9,
            remote_survey_interval: Duration::from_millis(250),
            max_pids: 65_536,
            max_fds: 1 << 20,
            max_sockets: 1 << 18,
        }
    }
}

/// What the last rebuild read, and how long it took.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildSummary {
    pub duration: Duration,
    /// Processes whose namespace was read (by the last survey).
    pub pids: usize,
    /// Network namespaces known (by the last survey).
    pub namespaces: usize,
    /// Namespaces whose sockets this rebuild read.
    pub namespaces_read: usize,
    /// Sockets kept (TCP and UDP, v4 and v6, with an inode).
    pub sockets: usize,
    /// Descriptors resolved.
    pub fds: usize,
    /// Processes that own at least one of the sockets.
    pub owners: usize,
    /// A cap stopped the rebuild early.
    pub truncated: bool,
}

/// One value, or several distinct ones (the usual case is one, kept without allocating).
#[derive(Debug, Clone)]
enum OneOrMore<T> {
    One(T),
    More(Vec<T>),
}

impl<T: Copy + PartialEq> OneOrMore<T> {
    /// Adds `t`; false when it was there already.
    fn add(&mut self, t: T) -> bool {
        match self {
            OneOrMore::One(first) if *first != t => *self = OneOrMore::More(vec![*first, t]),
            OneOrMore::More(all) if !all.contains(&t) => all.push(t),
            OneOrMore::One(_) | OneOrMore::More(_) => return false,
        }
        true
    }

    fn as_slice(&self) -> &[T] {
        match self {
            OneOrMore::One(t) => std::slice::from_ref(t),
            OneOrMore::More(all) => all,
        }
    }
}

fn add_to<K: std::hash::Hash + Eq, T: Copy + PartialEq>(
    map: &mut HashMap<K, OneOrMore<T>>,
    key: K,
    t: T,
) -> bool {
    match map.get_mut(&key) {
        Some(all) => all.add(t),
        None => {
            map.insert(key, OneOrMore::One(t));
            true
        }
    }
}

/// TCP or UDP as a key part.
fn is_tcp(t: Transport) -> bool {
    matches!(t, Transport::Tcp)
}

/// One network namespace: who is in it, its local addresses, and (once read) its sockets.
#[derive(Default)]
struct Namespace {
    /// Every process surveyed in it: its sockets' owners are among their descriptors.
    pids: Vec<u32>,
    /// Local IPv4 addresses (address, prefix length) and IPv6 addresses.
    local_v4: Vec<(Ipv4Addr, u8)>,
    local_v6: Vec<Ipv6Addr>,
    sockets: Option<Sockets>,
    /// When its sockets may be read again.
    next_read: Option<Instant>,
}

/// Whether `ip` is among `v4` (address, prefix length) and `v6`.
fn among(v4: &[(Ipv4Addr, u8)], v6: &[Ipv6Addr], ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => v4.iter().any(|&(net, len)| {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(net) & mask == u32::from(a) & mask
        }),
        IpAddr::V6(a) => v6.contains(&a),
    }
}

/// The local addresses of every namespace of the host, as one survey found them: for threads
/// that only need to know whether an end can be on this host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalAddresses {
    v4: Vec<(Ipv4Addr, u8)>,
    v6: Vec<Ipv6Addr>,
}

impl LocalAddresses {
    pub fn contains(&self, ip: IpAddr) -> bool {
        among(&self.v4, &self.v6, ip)
    }
}

impl Namespace {
    fn is_local(&self, ip: IpAddr) -> bool {
        among(&self.local_v4, &self.local_v6, ip)
    }
}

/// The sockets of one namespace and their owners.
#[derive(Default)]
struct Sockets {
    /// (tcp, local, remote) → inode (several only with SO_REUSEPORT UDP).
    connected: HashMap<(bool, SocketAddr, SocketAddr), OneOrMore<u64>>,
    /// (tcp, port) → listening TCP or unconnected UDP sockets on that port: (address, inode).
    bound: HashMap<(bool, u16), Vec<(IpAddr, u64)>>,
    /// Socket inode → pids holding a descriptor of it.
    owners: HashMap<u64, OneOrMore<u32>>,
    processes: HashMap<u32, Arc<ProcessInfo>>,
}

impl Sockets {
    /// Files a socket row under connected or bound; false when it was there already (a
    /// table read again through another process).
    fn add(&mut self, tcp: bool, row: SocketRow) -> bool {
        let listening = if tcp {
            row.state == TCP_LISTEN
        } else {
            row.remote.port() == 0 && row.remote.ip().is_unspecified()
        };
        if !listening {
            return add_to(&mut self.connected, (tcp, row.local, row.remote), row.inode);
        }
        let list = self.bound.entry((tcp, row.local.port())).or_default();
        if list.iter().any(|&(_, inode)| inode == row.inode) {
            return false;
        }
        list.push((row.local.ip(), row.inode));
        true
    }

    /// The sockets listening on (TCP) or bound without a peer to (UDP) `local`, in a
    /// namespace where its address is local: bound to the address if any is, else to the
    /// wildcard (`0.0.0.0` before a dual-stack `::` for an IPv4 address).
    fn bound_to<'a>(&'a self, tcp: bool, local: SocketAddr, out: &mut Vec<(&'a Sockets, u64)>) {
        let Some(list) = self.bound.get(&(tcp, local.port())) else {
            return;
        };
        let ip = local.ip();
        if list.iter().any(|&(a, _)| a == ip) {
            out.extend(
                list.iter()
                    .filter(|&&(a, _)| a == ip)
                    .map(|&(_, i)| (self, i)),
            );
            return;
        }
        let v4_wildcard = list
            .iter()
            .any(|&(a, _)| a == IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        for &(a, inode) in list {
            let fits = match (a, ip) {
                (IpAddr::V4(a), IpAddr::V4(_)) => a.is_unspecified(),
                (IpAddr::V6(a), IpAddr::V6(_)) => a.is_unspecified(),
                (IpAddr::V6(a), IpAddr::V4(_)) => a.is_unspecified() && !v4_wildcard,
                (IpAddr::V4(_), IpAddr::V6(_)) => false,
            };
            if fits {
                out.push((self, inode));
            }
        }
    }
}

/// The owner of the sockets that could be one end: one process, or none (nobody, or
/// several — and a socket with no readable owner beside an owned one counts as several).
fn decide(candidates: &[(&Sockets, u64)]) -> EndOwner {
    let mut found: Option<&Arc<ProcessInfo>> = None;
    let mut unowned = false;
    for &(sockets, inode) in candidates {
        let pids = sockets.owners.get(&inode).map_or(&[][..], |p| p.as_slice());
        let mut owned = false;
        for pid in pids {
            let Some(process) = sockets.processes.get(pid) else {
                continue;
            };
            owned = true;
            match found {
                Some(f) if f.pid != process.pid => return EndOwner::Ambiguous,
                _ => found = Some(process),
            }
        }
        unowned |= !owned;
    }
    match found {
        Some(_) if unowned => EndOwner::Ambiguous,
        Some(process) => EndOwner::Found(Arc::clone(process)),
        None => EndOwner::NotFound,
    }
}

/// The process that owns each local end of a call, from the socket tables of the network
/// namespaces where the call's addresses are local. Read from `/proc` when a lookup misses:
/// the namespaces (a survey) and the sockets of each namespace, each at most once per
/// [`IndexConfig::min_rebuild_interval`].
pub struct ProcessIndex {
    fs: Box<dyn ProcFs>,
    config: IndexConfig,
    namespaces: BTreeMap<u64, Namespace>,
    /// When the namespaces may be surveyed again; `None` before the first survey.
    next_survey: Option<Instant>,
    /// When they were last surveyed.
    surveyed_at: Option<Instant>,
    /// What the last survey found, for the summaries of the rebuilds after it.
    surveyed: (usize, usize),
    last_build: Option<BuildSummary>,
    counters: HostCounters,
}

impl ProcessIndex {
    /// An index of the `/proc` tree at `config.proc_root`. Nothing is read until the first
    /// lookup.
    pub fn new(config: IndexConfig) -> ProcessIndex {
        let fs = Box::new(DirProc::new(config.proc_root.clone()));
        ProcessIndex::with_fs(fs, config)
    }

    /// An index that reads through `fs` (`config.proc_root` is not used).
    pub fn with_fs(fs: Box<dyn ProcFs>, config: IndexConfig) -> ProcessIndex {
        ProcessIndex {
            fs,
            config,
            namespaces: BTreeMap::new(),
            next_survey: None,
            surveyed_at: None,
            surveyed: (0, 0),
            last_build: None,
            counters: HostCounters::default(),
        }
    }

    /// The owners of a call's ends, now.
    pub fn lookup(&mut self, call: &CallEnds) -> CallOwners {
        self.lookup_at(call, Instant::now())
    }

    /// The owners of a call's ends, `now` being the time that decides whether what the index
    /// read may be read again.
    pub fn lookup_at(&mut self, call: &CallEnds, now: Instant) -> CallOwners {
        self.counters.lookups += 1;
        let mut owners = self.resolve(call);
        let missed: Vec<IpAddr> = [(&owners.client, call.client), (&owners.server, call.server)]
            .into_iter()
            // An ambiguous end may be a listener shared by several processes standing in for
            // a connection accepted since the tables were read: worth reading again.
            .filter(|(end, _)| !matches!(end, EndOwner::Found(_)))
            .map(|(_, addr)| addr.ip())
            .collect();
        // Traffic between other hosts misses on every lookup: it re-reads nothing until the
        // survey is old enough to have missed a new namespace.
        let worth_reading =
            missed.iter().any(|&ip| self.is_local(ip)) || self.remote_survey_due(now);
        if !missed.is_empty() && worth_reading && self.refresh(Some(&missed), now) {
            owners = self.resolve(call);
        }
        for (end, found) in [
            (&owners.client, &mut self.counters.client_found),
            (&owners.server, &mut self.counters.server_found),
        ] {
            match end {
                EndOwner::Found(_) => *found += 1,
                EndOwner::NotFound => self.counters.not_found += 1,
                EndOwner::Ambiguous => self.counters.ambiguous += 1,
            }
        }
        owners
    }

    /// Surveys the namespaces and reads every namespace's sockets now, whatever their age.
    pub fn rebuild(&mut self) {
        self.next_survey = None;
        for ns in self.namespaces.values_mut() {
            ns.next_read = None;
        }
        self.refresh(None, Instant::now());
    }

    /// What the last rebuild read and how long it took; `None` before the first.
    pub fn last_build(&self) -> Option<&BuildSummary> {
        self.last_build.as_ref()
    }

    pub fn counters(&self) -> HostCounters {
        self.counters
    }

    /// The counters so far, leaving zeros (to add them to a pipeline's counters once).
    pub fn take_counters(&mut self) -> HostCounters {
        std::mem::take(&mut self.counters)
    }

    /// Whether a miss on addresses no namespace holds would survey the namespaces again now.
    pub fn remote_survey_due(&self, now: Instant) -> bool {
        self.surveyed_at.is_none_or(|at| {
            now.saturating_duration_since(at) >= self.config.remote_survey_interval
        })
    }

    /// When the namespaces were last surveyed (`None` before the first survey).
    pub fn surveyed_at(&self) -> Option<Instant> {
        self.surveyed_at
    }

    /// Every namespace's local addresses, as of the last survey.
    pub fn local_addresses(&self) -> LocalAddresses {
        let mut all = LocalAddresses::default();
        for ns in self.namespaces.values() {
            for a in &ns.local_v4 {
                if !all.v4.contains(a) {
                    all.v4.push(*a);
                }
            }
            for a in &ns.local_v6 {
                if !all.v6.contains(a) {
                    all.v6.push(*a);
                }
            }
        }
        all
    }

    /// Whether `ip` is an address of a namespace of this host, as of the last survey.
    pub fn is_local(&self, ip: IpAddr) -> bool {
        self.namespaces.values().any(|ns| ns.is_local(ip))
    }

    fn resolve(&self, call: &CallEnds) -> CallOwners {
        let tcp = is_tcp(call.transport);
        // A TCP client end is never a listener; a UDP client may send from an unconnected
        // socket (a resolver that does not connect()).
        CallOwners {
            client: self.end(tcp, call.client, call.server, !tcp),
            server: self.end(tcp, call.server, call.client, true),
        }
    }

    /// The owner of the end at `local` talking to `remote`, in the namespaces where its
    /// address is local: its connected socket, else (`bound_ok`) the socket listening on or
    /// bound to it.
    fn end(&self, tcp: bool, local: SocketAddr, remote: SocketAddr, bound_ok: bool) -> EndOwner {
        let spaces: Vec<&Sockets> = self
            .namespaces
            .values()
            .filter(|ns| ns.is_local(local.ip()))
            .filter_map(|ns| ns.sockets.as_ref())
            .collect();
        let mut candidates = Vec::new();
        for sockets in &spaces {
            if let Some(inodes) = sockets.connected.get(&(tcp, local, remote)) {
                candidates.extend(inodes.as_slice().iter().map(|&i| (*sockets, i)));
            }
        }
        if candidates.is_empty() && bound_ok {
            for sockets in &spaces {
                sockets.bound_to(tcp, local, &mut candidates);
            }
        }
        decide(&candidates)
    }

    /// Reads what is due: the survey, then the sockets of the namespaces where one of
    /// `missed` is local (of every namespace without `missed`). False when nothing was due.
    fn refresh(&mut self, missed: Option<&[IpAddr]>, now: Instant) -> bool {
        let started = Instant::now();
        let mut summary = BuildSummary::default();
        let mut reader = Reader {
            fs: &*self.fs,
            config: &self.config,
            counters: &mut self.counters,
            summary: &mut summary,
        };
        let mut survey_took = None;
        if self.next_survey.is_none_or(|at| now >= at) {
            let began = Instant::now();
            self.surveyed = reader.survey(&mut self.namespaces);
            self.surveyed_at = Some(now);
            survey_took = Some(began.elapsed());
        }
        let due: Vec<u64> = self
            .namespaces
            .iter()
            .filter(|(_, ns)| missed.is_none_or(|ips| ips.iter().any(|&ip| ns.is_local(ip))))
            .filter(|(_, ns)| ns.next_read.is_none_or(|at| now >= at))
            .map(|(&netns, _)| netns)
            .collect();
        for netns in &due {
            if let Some(ns) = self.namespaces.get_mut(netns) {
                let began = Instant::now();
                ns.sockets = Some(reader.sockets(&ns.pids));
                ns.next_read = Some(next_at(reader.config, now, began.elapsed()));
                reader.summary.namespaces_read += 1;
            }
        }
        if let Some(took) = survey_took {
            self.next_survey = Some(next_at(&self.config, now, took));
        }
        let read = survey_took.is_some() || !due.is_empty();
        if !read {
            return false;
        }
        summary.duration = started.elapsed();
        (summary.pids, summary.namespaces) = self.surveyed;
        self.counters.rebuilds += 1;
        self.counters.scan_truncated += u64::from(summary.truncated);
        self.last_build = Some(summary);
        true
    }
}

/// When something read at `now` in `took` may be read again: after the interval, and after
/// `idle_factor` times as long as the read took.
fn next_at(config: &IndexConfig, now: Instant, took: Duration) -> Instant {
    let idle = took.saturating_mul(config.idle_factor);
    now + took + idle.max(config.min_rebuild_interval)
}

/// The four socket tables of a namespace.
const SOCKET_TABLES: [(&str, bool); 4] = [
    ("net/tcp", true),
    ("net/tcp6", true),
    ("net/udp", false),
    ("net/udp6", false),
];

/// Processes tried per namespace at most for a file of it (each may exit while it is read).
const MEMBERS_TRIED: usize = 4;

/// One rebuild's reads of `/proc`.
struct Reader<'a> {
    fs: &'a dyn ProcFs,
    config: &'a IndexConfig,
    counters: &'a mut HostCounters,
    summary: &'a mut BuildSummary,
}

impl Reader<'_> {
    fn failed(&mut self, f: Failure) {
        match f {
            Failure::Permission => self.counters.permission_denied += 1,
            Failure::Gone => self.counters.gone += 1,
            Failure::Unreadable => self.counters.unreadable += 1,
        }
    }

    /// Every process's namespace, and every namespace's local addresses. Namespaces still
    /// there keep the sockets read before; gone ones are dropped. Gives (processes,
    /// namespaces).
    fn survey(&mut self, namespaces: &mut BTreeMap<u64, Namespace>) -> (usize, usize) {
        let mut members: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
        let mut pids = 0;
        for pid in self.pids() {
            match self.fs.link(&format!("{pid}/ns/net")) {
                Ok(link) => match parse::netns_inode(&link) {
                    Some(netns) => {
                        members.entry(netns).or_default().push(pid);
                        pids += 1;
                    }
                    None => self.counters.unreadable += 1,
                },
                Err(e) => self.failed(failure(&e)),
            }
        }
        let mut before = std::mem::take(namespaces);
        for (netns, pids) in members {
            let mut ns = before.remove(&netns).unwrap_or_default();
            let tried = &pids[..pids.len().min(MEMBERS_TRIED)];
            let mut fib = FibTrie::new();
            self.read_in(tried, "net/fib_trie", &mut |line| {
                fib.line(line);
                true
            });
            let mut v6 = Vec::new();
            self.read_in(tried, "net/if_inet6", &mut |line| {
                if let Some(addr) = parse::inet6_addr(line) {
                    if !v6.contains(&addr) {
                        v6.push(addr);
                    }
                }
                true
            });
            ns.local_v4 = fib.local;
            ns.local_v6 = v6;
            ns.pids = pids;
            namespaces.insert(netns, ns);
        }
        (pids, namespaces.len())
    }

    /// The pids in the root, ascending, at most `max_pids`.
    fn pids(&mut self) -> Vec<u32> {
        let names = match self.fs.list("") {
            Ok(names) => names,
            Err(e) => {
                // No root is not a process gone.
                match failure(&e) {
                    Failure::Permission => self.counters.permission_denied += 1,
                    Failure::Gone | Failure::Unreadable => self.counters.unreadable += 1,
                }
                return Vec::new();
            }
        };
        let mut pids: Vec<u32> = names
            .iter()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            .filter_map(|n| n.parse().ok())
            .collect();
        pids.sort_unstable();
        if pids.len() > self.config.max_pids {
            pids.truncate(self.config.max_pids);
            self.summary.truncated = true;
        }
        pids
    }

    /// Reads `file` of a namespace through the first of its processes that can be read,
    /// handing its lines to `each`. A file missing from a process that is still there is
    /// missing from the namespace (`tcp6` and `if_inet6` without IPv6): nothing to count.
    fn read_in(&mut self, members: &[u32], file: &str, each: &mut dyn FnMut(&str) -> bool) {
        for pid in members {
            let Err(e) = self.fs.lines(&format!("{pid}/{file}"), each) else {
                return;
            };
            let f = failure(&e);
            if f == Failure::Gone && self.fs.link(&format!("{pid}/ns/net")).is_ok() {
                return;
            }
            self.failed(f);
        }
    }

    /// The sockets of the namespace of `pids` and their owners among `pids`.
    fn sockets(&mut self, pids: &[u32]) -> Sockets {
        let mut sockets = Sockets::default();
        let tried = &pids[..pids.len().min(MEMBERS_TRIED)];
        let mut wanted = HashSet::new();
        for (file, tcp) in SOCKET_TABLES {
            let mut rows = Vec::new();
            let mut bad = 0u64;
            let mut first = true;
            self.read_in(tried, file, &mut |line| {
                if std::mem::take(&mut first) {
                    return true; // the header
                }
                match parse::socket_row(line) {
                    Some(row) if row.inode != 0 => rows.push(row),
                    Some(_) => {}
                    None => bad += 1,
                }
                true
            });
            self.counters.unreadable += bad;
            for row in rows {
                if self.summary.sockets >= self.config.max_sockets {
                    self.summary.truncated = true;
                    break;
                }
                if sockets.add(tcp, row) {
                    self.summary.sockets += 1;
                    wanted.insert(row.inode);
                }
            }
        }
        if !wanted.is_empty() {
            let holders = self.descriptors(pids, &wanted, &mut sockets.owners);
            self.processes(holders, &mut sockets.processes);
        }
        sockets
    }

    /// Resolves the descriptors of `pids`; files the holders of `wanted` sockets in
    /// `owners` and gives them.
    fn descriptors(
        &mut self,
        pids: &[u32],
        wanted: &HashSet<u64>,
        owners: &mut HashMap<u64, OneOrMore<u32>>,
    ) -> Vec<u32> {
        let mut holders = Vec::new();
        'pids: for &pid in pids {
            let fds = match self.fs.list(&format!("{pid}/fd")) {
                Ok(fds) => fds,
                Err(e) => {
                    self.failed(failure(&e));
                    continue;
                }
            };
            let mut holds = false;
            for fd in fds {
                if self.summary.fds >= self.config.max_fds {
                    self.summary.truncated = true;
                    if holds {
                        holders.push(pid);
                    }
                    break 'pids;
                }
                self.summary.fds += 1;
                match self.fs.link(&format!("{pid}/fd/{fd}")) {
                    Ok(link) => {
                        let Some(inode) = parse::socket_inode(&link) else {
                            continue;
                        };
                        if wanted.contains(&inode) {
                            holds = true;
                            add_to(owners, inode, pid);
                        }
                    }
                    // A descriptor closed since the listing: nothing to resolve.
                    Err(e) if failure(&e) == Failure::Gone => {}
                    Err(e) => {
                        // Every other descriptor of the process would fail the same way.
                        self.failed(failure(&e));
                        break;
                    }
                }
            }
            if holds {
                holders.push(pid);
            }
        }
        holders
    }

    /// Name, container and pod of each process that holds a socket. A process whose name
    /// cannot be read is left out (its sockets are then unowned).
    fn processes(&mut self, holders: Vec<u32>, processes: &mut HashMap<u32, Arc<ProcessInfo>>) {
        for pid in holders {
            let Some(name) = self.name(pid) else {
                continue;
            };
            let mut placement = Placement::default();
            if let Err(e) = self.fs.lines(&format!("{pid}/cgroup"), &mut |line| {
                placement.line(line);
                true
            }) {
                let f = failure(&e);
                self.failed(f);
                if f == Failure::Gone {
                    continue;
                }
            }
            let info = ProcessInfo {
                pid,
                executable_name: name.into(),
                container_id: placement.container_id.map(Into::into),
                pod_uid: placement.pod_uid.map(Into::into),
            };
            processes.insert(pid, Arc::new(info));
            self.summary.owners += 1;
        }
    }

    /// `comm`, else the basename of `exe`.
    fn name(&mut self, pid: u32) -> Option<String> {
        let mut comm = None;
        let read = self.fs.lines(&format!("{pid}/comm"), &mut |line| {
            comm = Some(line.to_string());
            false
        });
        match read {
            Ok(()) => {
                if let Some(name) = comm.filter(|c| !c.is_empty()) {
                    return Some(name);
                }
                self.counters.unreadable += 1;
            }
            Err(e) => {
                let f = failure(&e);
                self.failed(f);
                if f == Failure::Gone {
                    return None;
                }
            }
        }
        match self.fs.link(&format!("{pid}/exe")) {
            Ok(exe) => {
                let base = exe.trim_end_matches(" (deleted)");
                let base = base.rsplit('/').next().unwrap_or(base);
                (!base.is_empty()).then(|| base.to_string())
            }
            Err(e) => {
                self.failed(failure(&e));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_reads_wait_longer() {
        let config = IndexConfig::default();
        let now = Instant::now();
        let fast = next_at(&config, now, Duration::from_millis(2));
        assert_eq!(fast, now + Duration::from_millis(502));
        let slow = next_at(&config, now, Duration::from_millis(100));
        assert_eq!(slow, now + Duration::from_millis(1000));
    }

    #[test]
    fn local_addresses_by_prefix() {
        let ns = Namespace {
            local_v4: vec![
                (Ipv4Addr::new(127, 0, 0, 0), 8),
                (Ipv4Addr::new(10, 0, 0, 5), 32),
            ],
            local_v6: vec![Ipv6Addr::LOCALHOST],
            ..Namespace::default()
        };
        for (ip, local) in [
            ("127.0.0.1", true),
            ("127.9.9.9", true),
            ("10.0.0.5", true),
            ("10.0.0.6", false),
            ("::1", true),
            ("::2", false),
        ] {
            assert_eq!(ns.is_local(ip.parse().unwrap()), local, "{ip}");
        }
        let everything = Namespace {
            local_v4: vec![(Ipv4Addr::UNSPECIFIED, 0)],
            ..Namespace::default()
        };
        assert!(everything.is_local("8.8.8.8".parse().unwrap()));
    }
}

//! The namer: a thread of its own that looks up who owns the calls' sockets, off the capture's
//! path, holding only the two capabilities reading other users' descriptors takes.
//!
//! Takes the ends of new connections (from the flow workers, at their SYN, while a short-lived
//! client still holds its socket) and of network spans (from the correlator, as they arrive);
//! gives, when the correlator releases a span seconds later, the owners found in the meantime
//! as the `wirespan.{client,server}.process.*` attributes. A request that finds an end
//! unnamed is tried again a few times (the socket may be younger than the tables last read).
//! Requests beyond a bound are dropped and counted; the answers are kept per call, bounded and
//! aged out.

use super::annotate;
use super::annotate::{
    CLIENT_CONTAINER, CLIENT_EXECUTABLE, CLIENT_PID, CLIENT_POD, SERVER_CONTAINER,
    SERVER_EXECUTABLE, SERVER_PID, SERVER_POD,
};
use super::{
    AnnotatorConfig, CallEnds, CallOwners, EndOwner, HostCounters, IndexConfig, LocalAddresses,
    ProcessAnnotator, ProcessIndex, ProcessInfo, Transport,
};
use crate::otlp::{attr_int, attr_str, KeyValue, Span};
use crate::span::NetworkSpan;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};
use hashbrown::HashMap;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE: what `ss -p` needs to read `/proc/<pid>/fd` of
/// processes of other users.
const READ_CAPS: u32 = (1 << 2) | (1 << 19);
/// A retry due within this is taken now.
const RETRY_SLACK: Duration = Duration::from_millis(1);

#[derive(Debug, Clone)]
pub struct NamerConfig {
    pub index: IndexConfig,
    /// Requests waiting for the thread; more are dropped and counted.
    pub max_waiting: usize,
    /// Calls whose answer is kept for the correlator; the oldest go first.
    pub max_answers: usize,
    /// How often, and how many times, an end not found is looked up again.
    pub retry_after: Duration,
    pub retries: u8,
}

impl NamerConfig {
    /// How long after its request a call's answer may still change: every retry, and a
    /// read of the tables after the last.
    pub fn patience(&self) -> Duration {
        self.retry_after * (u32::from(self.retries) + 1) + self.index.min_rebuild_interval * 5
    }
}

impl Default for NamerConfig {
    fn default() -> Self {
        NamerConfig {
            // The thread is off the capture's path and a connection may last only a moment:
            // its reads may come often, up to a quarter of the thread.
            index: IndexConfig {
                min_rebuild_interval: Duration::from_millis(20),
                idle_factor: 3,
                ..IndexConfig::default()
            },
            max_waiting: 16_384,
            max_answers: 65_536,
            retry_after: Duration::from_millis(50),
            retries: 6,
        }
    }
}

/// What the thread found, shared with the correlator.
#[derive(Default)]
struct Answers {
    owners: HashMap<CallEnds, CallOwners>,
    order: VecDeque<CallEnds>,
    counters: HostCounters,
    /// Requests dropped because the thread was behind.
    requests_dropped: u64,
    /// Answers dropped, oldest first, to keep within `max_answers`.
    answers_evicted: u64,
    /// Requests for calls with neither end on this host, not looked up.
    remote_calls: u64,
    /// The host's local addresses as of the last survey, and when it was.
    locals: Option<(Instant, Arc<LocalAddresses>)>,
}

/// The handle the capture's threads keep: cheap to clone, never blocks.
#[derive(Clone)]
pub struct Namer {
    requests: Sender<CallEnds>,
    answers: Arc<Mutex<Answers>>,
}

impl std::fmt::Debug for Namer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Namer")
    }
}

impl Namer {
    /// Asks for the owners of a call's ends; a full queue drops the request (counted).
    pub fn request(&self, call: CallEnds) {
        if let Err(TrySendError::Full(_)) = self.requests.try_send(call) {
            if let Ok(mut a) = self.answers.lock() {
                a.requests_dropped += 1;
            }
        }
    }

    /// Asks for the owners of a network span's ends (see [`Namer::request`]).
    pub fn request_span(&self, span: &Span) {
        if let Some(call) = call_of(span) {
            self.request(call);
        }
    }

    /// Adds the owners found for the span's ends, if any, to its attributes.
    pub fn annotate(&self, span: &mut Span) {
        let Some(call) = call_of(span) else {
            return;
        };
        let owners = match self.answers.lock() {
            Ok(a) => a.owners.get(&call).cloned(),
            Err(_) => None,
        };
        let Some(owners) = owners else {
            return;
        };
        for (end, keys) in [
            (
                &owners.client,
                [CLIENT_PID, CLIENT_EXECUTABLE, CLIENT_CONTAINER, CLIENT_POD],
            ),
            (
                &owners.server,
                [SERVER_PID, SERVER_EXECUTABLE, SERVER_CONTAINER, SERVER_POD],
            ),
        ] {
            if let Some(p) = end.process() {
                push(&mut span.attributes, p, keys);
            }
        }
    }

    /// What was found for the call's ends so far.
    fn answer(&self, call: &CallEnds) -> Option<CallOwners> {
        self.answers.lock().ok()?.owners.get(call).cloned()
    }

    /// Where the call stands: both ends named, neither end on this host (nothing to wait for),
    /// or still to be found.
    fn standing(&self, call: &CallEnds) -> Standing {
        let Ok(a) = self.answers.lock() else {
            return Standing::Open;
        };
        if let Some(owners) = a.owners.get(call) {
            return match named(owners) {
                true => Standing::Named(owners.clone()),
                false => Standing::Asked,
            };
        }
        match &a.locals {
            Some((_, locals))
                if !locals.contains(call.client.ip()) && !locals.contains(call.server.ip()) =>
            {
                Standing::Passing
            }
            _ => Standing::Open,
        }
    }

    /// The lookups' counters so far, added to `c` (`process_*`), and the dropped requests.
    pub fn add_counters_to(&self, c: &mut crate::stats::Counters) {
        if let Ok(a) = self.answers.lock() {
            a.counters.add_to(c);
            c.process_requests_dropped += a.requests_dropped;
            c.process_answers_evicted += a.answers_evicted;
            c.process_remote_calls += a.remote_calls;
        }
    }
}

/// Where a call stands with the namer.
enum Standing {
    /// Both ends named.
    Named(CallOwners),
    /// Neither end is on this host, as of the last survey.
    Passing,
    /// Asked, an end still unnamed.
    Asked,
    /// Not asked yet.
    Open,
}

/// Spans on their way to the output, waiting for the namer's answers, when nothing else (no
/// app span to join, no metrics) holds them in a correlation window: each leaves `patience`
/// after it came, named as far as the namer got. Past `max` waiting, the oldest leave at once
/// (counted).
pub struct NamingQueue {
    namer: Namer,
    patience: Duration,
    max: usize,
    waiting: VecDeque<(Instant, Option<CallEnds>, NetworkSpan)>,
    pub released_early: u64,
}

impl NamingQueue {
    pub fn new(namer: Namer, patience: Duration, max: usize) -> NamingQueue {
        NamingQueue {
            namer,
            patience,
            max,
            waiting: VecDeque::new(),
            released_early: 0,
        }
    }

    /// Takes a span just made: hands it to `out` at once when there is nothing to wait for
    /// (both ends named already, or neither on this host), else asks for its ends unless
    /// they were asked for already (at the connection's SYN, or by an earlier call on it) and
    /// holds it.
    pub fn push(
        &mut self,
        mut span: NetworkSpan,
        now: Instant,
        out: impl FnOnce(&NetworkSpan) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let call = annotate::call_of(&span);
        if let Some(call) = call {
            match self.namer.standing(&call) {
                Standing::Named(owners) => {
                    annotate::name_ends(&mut span, &owners);
                    return out(&span);
                }
                Standing::Passing => return out(&span),
                Standing::Open => self.namer.request(call),
                Standing::Asked => {}
            }
        }
        self.waiting.push_back((now + self.patience, call, span));
        Ok(())
    }

    /// Names and hands to `out` every span due at `now` (every one when `all`), and the
    /// oldest beyond the bound.
    pub fn release(
        &mut self,
        now: Instant,
        all: bool,
        mut out: impl FnMut(&NetworkSpan) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        while let Some((due, _, _)) = self.waiting.front() {
            let over = self.waiting.len() > self.max;
            if !(all || over || *due <= now) {
                break;
            }
            if over && *due > now {
                self.released_early += 1;
            }
            let Some((_, call, mut span)) = self.waiting.pop_front() else {
                break;
            };
            if let Some(owners) = call.and_then(|c| self.namer.answer(&c)) {
                annotate::name_ends(&mut span, &owners);
            }
            out(&span)?;
        }
        Ok(())
    }
}

fn push(attributes: &mut Vec<KeyValue>, p: &ProcessInfo, [pid, exe, container, pod]: [&str; 4]) {
    attributes.push(crate::otlp::kv_int(pid, i64::from(p.pid)));
    attributes.push(crate::otlp::kv_str(exe, &p.executable_name));
    if let Some(id) = &p.container_id {
        attributes.push(crate::otlp::kv_str(container, id));
    }
    if let Some(uid) = &p.pod_uid {
        attributes.push(crate::otlp::kv_str(pod, uid));
    }
}

/// The call an OTLP network span describes.
fn call_of(span: &Span) -> Option<CallEnds> {
    let a = &span.attributes;
    let transport = match attr_str(a, "network.transport")? {
        "tcp" => Transport::Tcp,
        "udp" => Transport::Udp,
        _ => return None,
    };
    let end = |address: &str, port: &str| -> Option<SocketAddr> {
        let ip: IpAddr = attr_str(a, address)?.parse().ok()?;
        Some(SocketAddr::new(
            ip.to_canonical(),
            u16::try_from(attr_int(a, port)?).ok()?,
        ))
    };
    Some(CallEnds {
        transport,
        client: end("client.address", "client.port")?,
        server: end("server.address", "server.port")?,
    })
}

/// Keeps only the capabilities that read other processes' descriptors, in this thread.
fn keep_read_capabilities() {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Default, Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut header = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget/capset read and write the two structs given, for this thread (pid 0).
    unsafe {
        if libc::syscall(
            libc::SYS_capget,
            &mut header as *mut Header,
            data.as_mut_ptr(),
        ) == 0
        {
            let keep = data[0].permitted & READ_CAPS;
            data = [
                Data {
                    effective: keep,
                    permitted: keep,
                    inheritable: 0,
                },
                Data::default(),
            ];
            libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr());
        }
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    }
}

/// Starts the namer's thread. Call it before the process gives up its privileges: the thread
/// keeps CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE (when it has them) and nothing else. It ends
/// when every [`Namer`] is dropped.
pub fn start(cfg: NamerConfig) -> std::io::Result<(Namer, std::thread::JoinHandle<()>)> {
    let (tx, rx) = bounded(cfg.max_waiting);
    let answers = Arc::new(Mutex::new(Answers::default()));
    let shared = Arc::clone(&answers);
    let thread = std::thread::Builder::new()
        .name("namer".into())
        .spawn(move || {
            keep_read_capabilities();
            run(cfg, rx, &shared);
        })?;
    Ok((
        Namer {
            requests: tx,
            answers,
        },
        thread,
    ))
}

fn named(o: &CallOwners) -> bool {
    matches!(o.client, EndOwner::Found(_)) && matches!(o.server, EndOwner::Found(_))
}

fn run(cfg: NamerConfig, rx: Receiver<CallEnds>, answers: &Mutex<Answers>) {
    let mut annotator = ProcessAnnotator::new(
        ProcessIndex::new(cfg.index.clone()),
        AnnotatorConfig {
            capacity: cfg.max_answers,
            miss_ttl: cfg.retry_after,
            ..AnnotatorConfig::default()
        },
    );
    // Calls with an end still unnamed: when to try again, and how many tries are left.
    let mut retries: VecDeque<(Instant, CallEnds, u8)> = VecDeque::new();
    loop {
        // New connections first (a short one's sockets go soon), then the retries that are
        // due, or nearly: a wait shorter than a millisecond would spin rather than sleep.
        let (call, left) = match rx.try_recv() {
            Ok(call) => (call, cfg.retries),
            Err(TryRecvError::Disconnected) => return,
            Err(TryRecvError::Empty) => {
                let now = Instant::now();
                match retries.front() {
                    Some((at, _, _)) if *at <= now + RETRY_SLACK => match retries.pop_front() {
                        Some((_, call, left)) => (call, left),
                        None => continue,
                    },
                    front => {
                        let wait = front.map_or(Duration::from_millis(200), |(at, _, _)| {
                            at.saturating_duration_since(now)
                        });
                        match rx.recv_timeout(wait) {
                            Ok(call) => (call, cfg.retries),
                            Err(RecvTimeoutError::Timeout) => continue,
                            Err(RecvTimeoutError::Disconnected) => return,
                        }
                    }
                }
            }
        };
        // A new request for a call already answered, with nothing left to find here, is
        // settled (a span whose SYN was not seen asks again as it arrives). A call with
        // neither end on this host (traffic between other hosts) has nothing to find: it is
        // neither looked up nor remembered, unless the survey is old enough to have missed a
        // new namespace.
        if let Ok(mut a) = answers.lock() {
            let index = annotator.index();
            let fresh = left == cfg.retries;
            let settled = |o: &CallOwners| named(o) || (fresh && !unnamed_here(index, &call, o));
            if a.owners.get(&call).is_some_and(settled) {
                continue;
            }
            let passing = !index.is_local(call.client.ip()) && !index.is_local(call.server.ip());
            if passing && !index.remote_survey_due(Instant::now()) {
                a.remote_calls += 1;
                continue;
            }
        }
        let now = Instant::now();
        let owners = annotator.owners_at(&call, now);
        // A remote end is not looked for again: its lookup surveyed the namespaces anew if the
        // survey was older than `remote_survey_interval` (a namespace newer than that is
        // missed).
        let left = match unnamed_here(annotator.index(), &call, &owners) {
            true => left,
            false => 0,
        };
        if !named(&owners) && left > 0 {
            retries.push_back((now + cfg.retry_after, call, left - 1));
        }
        let counters = annotator.take_counters();
        let surveyed = annotator.index().surveyed_at();
        if let Ok(mut a) = answers.lock() {
            if let Some(at) = surveyed.filter(|at| a.locals.as_ref().is_none_or(|l| l.0 != *at)) {
                a.locals = Some((at, Arc::new(annotator.index().local_addresses())));
            }
            a.counters.merge(&counters);
            let merged = match a.owners.get(&call) {
                // An end once found stays named.
                Some(before) => CallOwners {
                    client: keep_found(&before.client, owners.client),
                    server: keep_found(&before.server, owners.server),
                },
                None => {
                    if a.order.len() >= cfg.max_answers {
                        if let Some(old) = a.order.pop_front() {
                            a.owners.remove(&old);
                            a.answers_evicted += 1;
                        }
                    }
                    a.order.push_back(call);
                    owners
                }
            };
            a.owners.insert(call, merged);
        }
    }
}

/// Whether an end of the call is unnamed and on this host: only such an end can still be
/// found; one whose address no namespace holds is remote (another node's pod, traffic passing
/// through).
fn unnamed_here(index: &ProcessIndex, call: &CallEnds, o: &CallOwners) -> bool {
    [(&o.client, call.client), (&o.server, call.server)]
        .into_iter()
        .any(|(end, at)| !matches!(end, EndOwner::Found(_)) && index.is_local(at.ip()))
}

fn keep_found(before: &EndOwner, now: EndOwner) -> EndOwner {
    match before {
        EndOwner::Found(_) => before.clone(),
        _ => now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TCP connection of this process to itself on loopback (both sockets, kept open while
    /// held), with its client's and server's addresses.
    fn loopback_connection() -> (
        (std::net::TcpStream, std::net::TcpStream),
        SocketAddr,
        SocketAddr,
    ) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
        let server = listener.local_addr().expect("addr");
        let client = std::net::TcpStream::connect(server).expect("connect");
        let (accepted, _) = listener.accept().expect("accept");
        let client_addr = client.local_addr().expect("addr");
        ((client, accepted), client_addr, server)
    }

    /// A call this test process makes to itself is named on the span once the namer has
    /// answered the request, and only then.
    #[test]
    fn a_requested_call_is_named_on_its_span() {
        let (_sockets, client_addr, server) = loopback_connection();
        let (namer, thread) = start(NamerConfig::default()).expect("start");
        let mut span = Span {
            attributes: vec![
                crate::otlp::kv_str("network.transport", "tcp"),
                crate::otlp::kv_str("client.address", "127.0.0.1"),
                crate::otlp::kv_int("client.port", i64::from(client_addr.port())),
                crate::otlp::kv_str("server.address", "127.0.0.1"),
                crate::otlp::kv_int("server.port", i64::from(server.port())),
            ],
            ..Default::default()
        };
        let unnamed = span.clone();
        namer.annotate(&mut span);
        assert_eq!(span, unnamed, "nothing asked, nothing known");
        namer.request_span(&span);
        let deadline = Instant::now() + Duration::from_secs(10);
        while attr_int(&span.attributes, SERVER_PID).is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            span = unnamed.clone();
            namer.annotate(&mut span);
        }
        let me = i64::from(std::process::id());
        assert_eq!(attr_int(&span.attributes, SERVER_PID), Some(me));
        assert_eq!(attr_int(&span.attributes, CLIENT_PID), Some(me));
        let comm = std::fs::read_to_string("/proc/self/comm").expect("comm");
        assert_eq!(
            attr_str(&span.attributes, CLIENT_EXECUTABLE),
            Some(comm.trim())
        );
        let mut c = crate::stats::Counters::default();
        namer.add_counters_to(&mut c);
        assert!(
            c.process_lookups >= 1 && c.process_server_found >= 1,
            "{c:?}"
        );
        drop(namer);
        thread.join().expect("the thread ends with its handles");
    }

    /// A flood of calls keeps at most `max_answers` answers (the oldest go), and a full
    /// request queue drops and counts instead of waiting.
    #[test]
    fn answers_and_requests_are_bounded() {
        let (namer, thread) = start(NamerConfig {
            max_answers: 3,
            max_waiting: 4,
            retries: 0,
            ..NamerConfig::default()
        })
        .expect("start");
        // Local ends (loopback), no socket: looked up, not found, remembered.
        for port in 1..=200u16 {
            namer.request(CallEnds {
                transport: Transport::Tcp,
                client: SocketAddr::from(([127, 0, 0, 1], port)),
                server: SocketAddr::from(([127, 0, 0, 2], 80)),
            });
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while !namer.requests.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(100));
        let (kept, dropped, evicted) = {
            let a = namer.answers.lock().expect("lock");
            (a.owners.len(), a.requests_dropped, a.answers_evicted)
        };
        assert!(kept <= 3, "{kept} answers kept");
        assert!(dropped > 0, "a queue of 4 took 200 requests");
        let mut c = crate::stats::Counters::default();
        namer.add_counters_to(&mut c);
        assert_eq!(c.process_requests_dropped, dropped);
        // Every answer made beyond the three kept pushed an older one out, counted.
        assert_eq!(c.process_answers_evicted, evicted);
        assert!(
            evicted > 0 && evicted + kept as u64 + dropped >= 200,
            "{evicted} {kept} {dropped}"
        );
        drop(namer);
        thread.join().expect("the thread ends");
    }

    fn network_span(client: SocketAddr, server: SocketAddr) -> NetworkSpan {
        use crate::attribute::{int_attr, str_attr};
        NetworkSpan {
            trace_id: [1; 16],
            span_id: [2; 8],
            parent_span_id: None,
            name: "GET /".into(),
            kind: crate::span::SpanKind::Server,
            start_ns: 1,
            end_ns: 2,
            error: None,
            attributes: vec![
                str_attr("network.transport", "tcp"),
                str_attr("client.address", client.ip().to_string()),
                int_attr("client.port", i64::from(client.port())),
                str_attr("server.address", server.ip().to_string()),
                int_attr("server.port", i64::from(server.port())),
            ],
        }
    }

    /// A span sink that keeps what it is given.
    fn keep(out: &mut Vec<NetworkSpan>) -> impl FnMut(&NetworkSpan) -> std::io::Result<()> + '_ {
        move |s| {
            out.push(s.clone());
            Ok(())
        }
    }

    /// Spans wait their patience, then leave in order, named by what the namer found since
    /// they came; past the bound the oldest leave at once, counted.
    #[test]
    fn the_naming_queue_names_what_it_held_and_stays_bounded() {
        let (_sockets, client_addr, server) = loopback_connection();
        let (namer, thread) = start(NamerConfig::default()).expect("start");
        let patience = Duration::from_secs(3);
        let mut queue = NamingQueue::new(namer.clone(), patience, 2);
        let t0 = Instant::now();
        let mut out = Vec::new();
        queue
            .push(network_span(client_addr, server), t0, keep(&mut out))
            .expect("push");
        queue.release(t0, false, keep(&mut out)).expect("release");
        assert!(out.is_empty(), "nothing leaves before its patience");
        // Let the namer answer the span's request.
        let call = annotate::call_of(&network_span(client_addr, server)).expect("call");
        let deadline = Instant::now() + Duration::from_secs(10);
        while namer.answer(&call).is_none_or(|o| !named(&o)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        queue
            .release(t0 + patience, false, keep(&mut out))
            .expect("release");
        assert_eq!(out.len(), 1);
        let me = i64::from(std::process::id());
        let pid = |s: &NetworkSpan, key: &str| match s.attr(key) {
            Some(crate::attribute::AttrValue::Int(v)) => Some(*v),
            _ => None,
        };
        assert_eq!(pid(&out[0], SERVER_PID), Some(me));
        assert_eq!(pid(&out[0], CLIENT_PID), Some(me));
        // Three spans of remote calls and a bound of two: the first leaves early.
        out.clear();
        for port in 1..=3u16 {
            let remote = SocketAddr::from(([203, 0, 113, 9], port));
            queue
                .push(network_span(remote, server), t0, keep(&mut out))
                .expect("push");
        }
        queue.release(t0, false, keep(&mut out)).expect("release");
        assert_eq!((out.len(), queue.released_early), (1, 1));
        queue.release(t0, true, keep(&mut out)).expect("release");
        assert_eq!(out.len(), 3, "all leave at the end");
        assert!(out.iter().all(|s| pid(s, CLIENT_PID).is_none()));
        // A call between two other hosts has nothing to wait for: it leaves at once; so does
        // a call whose ends are both named already.
        out.clear();
        let passing = network_span(
            SocketAddr::from(([203, 0, 113, 9], 1000)),
            SocketAddr::from(([198, 51, 100, 7], 80)),
        );
        for span in [passing, network_span(client_addr, server)] {
            queue.push(span, t0, keep(&mut out)).expect("push");
        }
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(pid(&out[1], SERVER_PID), Some(me));
        // Asked anyway (its SYN was seen), a passing call is counted, not looked up (once the
        // survey is fresh: a stale one is read again first).
        let remote_calls = || {
            let mut c = crate::stats::Counters::default();
            namer.add_counters_to(&mut c);
            c.process_remote_calls
        };
        let before = remote_calls();
        let deadline = Instant::now() + Duration::from_secs(10);
        while remote_calls() == before && Instant::now() < deadline {
            namer.request(CallEnds {
                transport: Transport::Tcp,
                client: SocketAddr::from(([203, 0, 113, 9], 2000)),
                server: SocketAddr::from(([198, 51, 100, 7], 80)),
            });
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(remote_calls() > before);
        drop((queue, namer));
        thread.join().expect("the thread ends");
    }
}

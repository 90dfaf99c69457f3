//! The index and the annotator over fake `/proc` trees in a temporary directory: pods in
//! their own namespaces, listeners, ambiguity, processes that exit mid-scan, refused reads,
//! caps, the rebuild interval and the cache.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::annotate::*;
use super::*;
use crate::attribute::{int_attr, str_attr, AttrValue};
use crate::span::{NetworkSpan, SpanKind};

const CONTAINER_A: &str = "a1a2a3a4a5a6a7a8a9a0b1b2b3b4b5b6b7b8b9b0c1c2c3c4c5c6c7c8c9c0d1d2";
const CONTAINER_B: &str = "0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a090807060504030201000";
const POD_A: &str = "8f3c6a1e_2b7d_4c9a_b1e5_0d2f4a6c8e10";

/// A fake `/proc`, removed when dropped.
struct FakeProc {
    root: PathBuf,
}

impl FakeProc {
    fn new(name: &str) -> FakeProc {
        static N: AtomicUsize = AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "wirespan-host-{}-{name}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        FakeProc { root }
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn link(&self, rel: &str, target: &str) {
        let path = self.root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let _ = std::fs::remove_file(&path);
        std::os::unix::fs::symlink(target, path).unwrap();
    }

    /// A process in `netns` holding `sockets` (inodes) as descriptors 3, 4, …, beside
    /// stdin (/dev/null) and a pipe.
    fn process(&self, pid: u32, netns: u64, comm: &str, cgroup: &str, sockets: &[u64]) {
        self.link(&format!("{pid}/ns/net"), &format!("net:[{netns}]"));
        self.link(&format!("{pid}/fd/0"), "/dev/null");
        self.link(&format!("{pid}/fd/1"), "pipe:[77]");
        for (i, inode) in sockets.iter().enumerate() {
            self.link(&format!("{pid}/fd/{}", i + 3), &format!("socket:[{inode}]"));
        }
        self.write(&format!("{pid}/comm"), &format!("{comm}\n"));
        self.write(&format!("{pid}/cgroup"), cgroup);
    }

    /// The socket table `file` (`tcp`, `tcp6`, `udp`, `udp6`) of `pid`'s namespace.
    fn table(&self, pid: u32, file: &str, rows: &[(&str, &str, u8, u64)]) {
        let mut text = String::from("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n");
        for (i, (local, remote, state, inode)) in rows.iter().enumerate() {
            let local: SocketAddr = local.parse().unwrap();
            let remote: SocketAddr = remote.parse().unwrap();
            let six = file.ends_with('6');
            text.push_str(&format!(
                "{i:4}: {} {} {state:02X} 00000000:00000000 00:00000000 00000000     0        0 {inode} 1 0000000000000000 100 0 0 10 0\n",
                kernel_addr(local, six),
                kernel_addr(remote, six)
            ));
        }
        self.write(&format!("{pid}/net/{file}"), &text);
    }

    /// Local IPv4 addresses of `pid`'s namespace (always with 127.0.0.0/8).
    fn local_v4(&self, pid: u32, addrs: &[&str]) {
        let mut text = String::from(
            "Local:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 127.0.0.0\n        /8 host LOCAL\n",
        );
        for a in addrs {
            text.push_str(&format!("     |-- {a}\n        /32 host LOCAL\n"));
        }
        self.write(&format!("{pid}/net/fib_trie"), &text);
    }

    fn index(&self) -> ProcessIndex {
        ProcessIndex::new(IndexConfig {
            proc_root: self.root.clone(),
            ..IndexConfig::default()
        })
    }
}

impl Drop for FakeProc {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// An address as `/proc/net/tcp{,6}` prints it (v4 in a v6 table as `::ffff:a.b.c.d`).
fn kernel_addr(a: SocketAddr, six: bool) -> String {
    let bytes: Vec<u8> = match (a.ip(), six) {
        (IpAddr::V4(v4), false) => v4.octets().to_vec(),
        (IpAddr::V4(v4), true) => v4.to_ipv6_mapped().octets().to_vec(),
        (IpAddr::V6(v6), _) => v6.octets().to_vec(),
    };
    let words: String = bytes
        .chunks(4)
        .map(|w| format!("{:08X}", u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
        .collect();
    format!("{words}:{:04X}", a.port())
}

const EST: u8 = 0x01;
const LISTEN: u8 = 0x0A;
const UDP_UNCONNECTED: u8 = 0x07;

fn tcp(client: &str, server: &str) -> CallEnds {
    CallEnds {
        transport: Transport::Tcp,
        client: client.parse().unwrap(),
        server: server.parse().unwrap(),
    }
}

fn udp(client: &str, server: &str) -> CallEnds {
    CallEnds {
        transport: Transport::Udp,
        ..tcp(client, server)
    }
}

fn pid_of(end: &EndOwner) -> Option<u32> {
    end.process().map(|p| p.pid)
}

/// A node with two pods (curl in A, nginx in B) and the host's own namespace.
fn two_pods() -> FakeProc {
    let proc = FakeProc::new("pods");
    proc.process(1, 4026531840, "systemd", "0::/init.scope\n", &[]);
    proc.table(1, "tcp", &[("0.0.0.0:22", "0.0.0.0:0", LISTEN, 100)]);
    proc.local_v4(1, &["192.168.1.5"]);
    let cgroup_a = format!(
        "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{POD_A}.slice/cri-containerd-{CONTAINER_A}.scope\n"
    );
    proc.process(20, 4026532001, "curl", &cgroup_a, &[500]);
    proc.table(
        20,
        "tcp",
        &[("10.244.1.20:37554", "10.244.1.10:8080", EST, 500)],
    );
    proc.local_v4(20, &["10.244.1.20"]);
    let cgroup_b = format!("0::/kubepods/besteffort/pod5e6f7a8b-9c0d-1e2f-3a4b-5c6d7e8f9a0b/crio-{CONTAINER_B}.scope\n");
    proc.process(30, 4026532002, "nginx", &cgroup_b, &[600, 601]);
    proc.table(
        30,
        "tcp",
        &[
            ("0.0.0.0:8080", "0.0.0.0:0", LISTEN, 600),
            ("10.244.1.10:8080", "10.244.1.20:37554", EST, 601),
            // TIME_WAIT of an older call: no inode, nobody's.
            ("10.244.1.10:8080", "10.244.1.20:30000", 0x06, 0),
        ],
    );
    proc.local_v4(30, &["10.244.1.10"]);
    // A second process of pod B's namespace: the tables are read once per namespace.
    proc.process(31, 4026532002, "pause", &cgroup_b, &[]);
    proc.link("31/net", "../30/net");
    proc
}

#[test]
fn both_ends_in_two_pods() {
    let proc = two_pods();
    let mut index = proc.index();
    let owners = index.lookup(&tcp("10.244.1.20:37554", "10.244.1.10:8080"));
    let client = owners.client.process().unwrap();
    assert_eq!(client.pid, 20);
    assert_eq!(&*client.executable_name, "curl");
    assert_eq!(client.container_id.as_deref(), Some(CONTAINER_A));
    assert_eq!(
        client.pod_uid.as_deref(),
        Some("8f3c6a1e-2b7d-4c9a-b1e5-0d2f4a6c8e10")
    );
    let server = owners.server.process().unwrap();
    assert_eq!(server.pid, 30);
    assert_eq!(&*server.executable_name, "nginx");
    assert_eq!(server.container_id.as_deref(), Some(CONTAINER_B));
    assert_eq!(
        server.pod_uid.as_deref(),
        Some("5e6f7a8b-9c0d-1e2f-3a4b-5c6d7e8f9a0b")
    );
    let summary = index.last_build().unwrap().clone();
    assert_eq!(summary.namespaces, 3);
    assert_eq!(summary.pids, 4);
    // Only the pods' namespaces were read: the host's holds neither address.
    assert_eq!(summary.namespaces_read, 2);
    assert_eq!(summary.sockets, 3);
    assert_eq!(summary.owners, 2);
    assert!(!summary.truncated);
    let c = index.counters();
    assert_eq!((c.lookups, c.client_found, c.server_found), (1, 1, 1));
    assert_eq!((c.rebuilds, c.not_found, c.ambiguous), (1, 0, 0));
    assert_eq!((c.permission_denied, c.gone, c.unreadable), (0, 0, 0));
}

#[test]
fn a_server_end_without_its_connection_is_the_listener_where_the_address_is_local() {
    let proc = two_pods();
    let mut index = proc.index();
    // A remote client of nginx whose connection is not in the table (closed, or new).
    let owners = index.lookup(&tcp("10.9.9.9:5555", "10.244.1.10:8080"));
    assert_eq!(owners.client, EndOwner::NotFound);
    assert_eq!(pid_of(&owners.server), Some(30));
    // A call to a remote server on the same port: pod B's wildcard listener is not it.
    let owners = index.lookup(&tcp("10.244.1.20:4444", "8.8.8.8:8080"));
    assert_eq!(owners.server, EndOwner::NotFound);
    // The node's sshd listening on 0.0.0.0:22 in the host namespace.
    let owners = index.lookup(&tcp("10.9.9.9:5555", "192.168.1.5:22"));
    // pid 1 holds no descriptor of it in this tree: the socket exists, its owner is unknown.
    assert_eq!(owners.server, EndOwner::NotFound);
}

#[test]
fn ends_several_processes_could_own_are_named_neither() {
    let proc = FakeProc::new("ambiguous");
    // Two namespaces, each with 127.0.0.1 and a wildcard listener on 9000.
    proc.process(10, 11, "redis-server", "0::/\n", &[900]);
    proc.table(10, "tcp", &[("0.0.0.0:9000", "0.0.0.0:0", LISTEN, 900)]);
    proc.local_v4(10, &[]);
    proc.process(20, 12, "redis-server", "0::/\n", &[901]);
    proc.table(20, "tcp", &[("0.0.0.0:9000", "0.0.0.0:0", LISTEN, 901)]);
    proc.local_v4(20, &[]);
    // The same loopback connection in both namespaces.
    proc.process(30, 13, "a", "0::/\n", &[910]);
    proc.table(
        30,
        "tcp",
        &[("127.0.0.1:40000", "127.0.0.1:7000", EST, 910)],
    );
    proc.local_v4(30, &[]);
    proc.process(40, 14, "b", "0::/\n", &[911]);
    proc.table(
        40,
        "tcp",
        &[("127.0.0.1:40000", "127.0.0.1:7000", EST, 911)],
    );
    proc.local_v4(40, &[]);
    // nginx master and worker sharing one listening socket.
    proc.process(50, 15, "nginx", "0::/\n", &[920]);
    proc.process(51, 15, "nginx", "0::/\n", &[920]);
    proc.table(50, "tcp", &[("10.0.0.5:80", "0.0.0.0:0", LISTEN, 920)]);
    proc.local_v4(50, &["10.0.0.5"]);
    let mut index = proc.index();
    let owners = index.lookup(&tcp("127.0.0.1:40000", "127.0.0.1:9000"));
    assert_eq!(owners.server, EndOwner::Ambiguous);
    let owners = index.lookup(&tcp("127.0.0.1:40000", "127.0.0.1:7000"));
    assert_eq!(owners.client, EndOwner::Ambiguous);
    let owners = index.lookup(&tcp("10.0.0.9:1234", "10.0.0.5:80"));
    assert_eq!(owners.server, EndOwner::Ambiguous);
    assert_eq!(index.counters().ambiguous, 3);
    // One namespace's listener bound to the address beats its own wildcard one; another
    // namespace where the address is local still makes it ambiguous.
    proc.process(60, 16, "exact", "0::/\n", &[930, 931]);
    proc.table(
        60,
        "tcp",
        &[
            ("10.1.1.1:6000", "0.0.0.0:0", LISTEN, 930),
            ("0.0.0.0:6000", "0.0.0.0:0", LISTEN, 931),
        ],
    );
    proc.local_v4(60, &["10.1.1.1"]);
    let mut index = proc.index();
    let owners = index.lookup(&tcp("10.9.9.9:1", "10.1.1.1:6000"));
    assert_eq!(pid_of(&owners.server), Some(60));
    proc.process(70, 17, "other", "0::/\n", &[940]);
    proc.table(70, "tcp", &[("0.0.0.0:6000", "0.0.0.0:0", LISTEN, 940)]);
    proc.local_v4(70, &["10.1.1.1"]);
    let mut index = proc.index();
    let owners = index.lookup(&tcp("10.9.9.9:1", "10.1.1.1:6000"));
    assert_eq!(owners.server, EndOwner::Ambiguous);
}

#[test]
fn ipv6_dual_stack_and_udp() {
    let proc = FakeProc::new("v6");
    proc.process(10, 21, "mariadbd", "0::/\n", &[1, 2, 3]);
    proc.table(
        10,
        "tcp6",
        &[
            // A dual-stack listener, a v4 client's connection to it, and a v6 one.
            ("[::]:3306", "[::]:0", LISTEN, 1),
            ("10.0.0.2:3306", "10.0.0.1:51000", EST, 2),
            ("[fd00::2]:3306", "[fd00::1]:52000", EST, 3),
        ],
    );
    proc.local_v4(10, &["10.0.0.2"]);
    proc.write("10/net/if_inet6", "fd000000000000000000000000000002 04 40 00 82     eth0\n00000000000000000000000000000001 01 80 10 80       lo\n");
    proc.process(20, 22, "dnsmasq", "0::/\n", &[10]);
    proc.table(
        20,
        "udp",
        &[("0.0.0.0:53", "0.0.0.0:0", UDP_UNCONNECTED, 10)],
    );
    proc.local_v4(20, &["10.0.0.53"]);
    proc.process(30, 23, "getent", "0::/\n", &[20, 21]);
    proc.table(
        30,
        "udp",
        &[
            ("10.0.0.7:43210", "10.0.0.53:53", EST, 20),
            ("0.0.0.0:43999", "0.0.0.0:0", UDP_UNCONNECTED, 21),
        ],
    );
    proc.local_v4(30, &["10.0.0.7"]);
    let mut index = proc.index();
    let owners = index.lookup(&tcp("10.0.0.1:51000", "10.0.0.2:3306"));
    assert_eq!(pid_of(&owners.server), Some(10));
    let owners = index.lookup(&tcp("[fd00::1]:52000", "[fd00::2]:3306"));
    assert_eq!(pid_of(&owners.server), Some(10));
    // New connections, not in the table: the listener, v4 and v6.
    let owners = index.lookup(&tcp("10.0.0.1:51001", "10.0.0.2:3306"));
    assert_eq!(pid_of(&owners.server), Some(10));
    let owners = index.lookup(&tcp("[fd00::1]:52001", "[fd00::2]:3306"));
    assert_eq!(pid_of(&owners.server), Some(10));
    // A DNS lookup from a connected socket, and from an unconnected one.
    let owners = index.lookup(&udp("10.0.0.7:43210", "10.0.0.53:53"));
    assert_eq!(pid_of(&owners.client), Some(30));
    assert_eq!(pid_of(&owners.server), Some(20));
    let owners = index.lookup(&udp("10.0.0.7:43999", "10.0.0.53:53"));
    assert_eq!(pid_of(&owners.client), Some(30));
    // TCP on the DNS port is not the UDP socket.
    let owners = index.lookup(&tcp("10.0.0.7:43210", "10.0.0.53:53"));
    assert_eq!(owners.server, EndOwner::NotFound);
}

#[test]
fn processes_gone_mid_scan_are_counted() {
    let proc = two_pods();
    // Listed, then gone before its namespace was read.
    std::fs::create_dir_all(proc.root.join("40")).unwrap();
    // Namespace read, gone before its descriptors were.
    proc.link("41/ns/net", "net:[4026532001]");
    // Descriptors read, gone before its name was: its socket has no owner.
    proc.process(42, 4026532001, "x", "", &[700]);
    std::fs::remove_file(proc.root.join("42/comm")).unwrap();
    std::fs::remove_file(proc.root.join("42/cgroup")).unwrap();
    proc.table(
        20,
        "tcp",
        &[
            ("10.244.1.20:37554", "10.244.1.10:8080", EST, 500),
            ("10.244.1.20:37555", "10.244.1.10:8080", EST, 700),
        ],
    );
    // exe's basename when comm is empty.
    proc.process(43, 4026532001, "", "0::/\n", &[701]);
    proc.link("43/exe", "/usr/local/bin/envoy (deleted)");
    proc.table(
        20,
        "udp",
        &[("10.244.1.20:1000", "10.244.1.10:53", EST, 701)],
    );
    let mut udp_table = std::fs::read_to_string(proc.root.join("20/net/udp")).unwrap();
    udp_table.push_str("   1: garbage\n");
    proc.write("20/net/udp", &udp_table);
    // Not a process.
    proc.write("self/comm", "nope\n");
    proc.write("meminfo", "");
    let mut index = proc.index();
    let owners = index.lookup(&tcp("10.244.1.20:37555", "10.244.1.10:8080"));
    assert_eq!(owners.client, EndOwner::NotFound);
    let owners = index.lookup(&udp("10.244.1.20:1000", "10.244.1.10:53"));
    let envoy = owners.client.process().unwrap();
    assert_eq!((envoy.pid, &*envoy.executable_name), (43, "envoy"));
    let c = index.counters();
    // 40's ns, 41's fd, 42's comm (then exe is not tried).
    assert_eq!(c.gone, 3, "{c:?}");
    // 43's empty comm; no line of the tables is unparsable but the one with "garbage".
    assert_eq!(c.unreadable, 1 + 1, "{c:?}");
    assert_eq!(c.permission_denied, 0);
    // The first lookup missed its client: a rebuild was not yet due.
    assert_eq!(c.rebuilds, 1);
}

/// A tree whose reads under some paths are refused, as another user's process's are.
struct Refusing {
    inner: DirProc,
    refused: Vec<String>,
}

impl Refusing {
    fn check(&self, rel: &str) -> io::Result<()> {
        if self.refused.iter().any(|r| rel.starts_with(r.as_str())) {
            return Err(io::Error::from_raw_os_error(libc::EACCES));
        }
        Ok(())
    }
}

impl ProcFs for Refusing {
    fn list(&self, rel: &str) -> io::Result<Vec<String>> {
        self.check(rel)?;
        self.inner.list(rel)
    }

    fn link(&self, rel: &str) -> io::Result<String> {
        self.check(rel)?;
        self.inner.link(rel)
    }

    fn lines(&self, rel: &str, each: &mut dyn FnMut(&str) -> bool) -> io::Result<()> {
        self.check(rel)?;
        self.inner.lines(rel, each)
    }
}

#[test]
fn refused_reads_are_counted_and_the_rest_still_named() {
    let proc = two_pods();
    let index_of = |refused: &[&str]| {
        let fs = Refusing {
            inner: DirProc::new(&proc.root),
            refused: refused.iter().map(|s| s.to_string()).collect(),
        };
        ProcessIndex::with_fs(Box::new(fs), IndexConfig::default())
    };
    let call = tcp("10.244.1.20:37554", "10.244.1.10:8080");
    // curl's descriptors are listed but none can be resolved; nginx's namespace link is
    // refused: its namespace is still read through the pause process beside it.
    let mut index = index_of(&["20/fd/", "30/ns"]);
    let owners = index.lookup(&call);
    assert_eq!(owners.client, EndOwner::NotFound);
    assert_eq!(pid_of(&owners.server), None, "30 is not read at all");
    let c = index.counters();
    // One per process for its descriptors, one for 30's namespace.
    assert_eq!(c.permission_denied, 2, "{c:?}");
    // The socket tables of pod B's first member refused (`tcp` and `tcp6`): read through
    // the second.
    let mut index = index_of(&["30/net/tcp"]);
    let owners = index.lookup(&call);
    assert_eq!(pid_of(&owners.server), Some(30));
    assert_eq!(index.counters().permission_denied, 2);
    // cgroup refused: named without a container.
    let mut index = index_of(&["30/cgroup"]);
    let server = index.lookup(&call).server.process().cloned().unwrap();
    assert_eq!((server.pid, server.container_id.clone()), (30, None));
    // The root itself refused: nothing, no panic.
    let mut index = index_of(&[""]);
    let owners = index.lookup(&call);
    assert_eq!(
        (owners.client, owners.server),
        (EndOwner::NotFound, EndOwner::NotFound)
    );
    assert_eq!(index.counters().permission_denied, 1);
    // A root that does not exist.
    let mut index = ProcessIndex::new(IndexConfig {
        proc_root: Path::new("/nonexistent/wirespan").to_path_buf(),
        ..IndexConfig::default()
    });
    assert_eq!(index.lookup(&call).client, EndOwner::NotFound);
    assert_eq!(index.counters().unreadable, 1);
}

#[test]
fn rebuilds_only_on_a_miss_and_at_most_once_per_interval() {
    let proc = two_pods();
    let mut index = proc.index();
    let t0 = Instant::now();
    let known = tcp("10.244.1.20:37554", "10.244.1.10:8080");
    let new = tcp("10.244.1.20:40000", "10.244.1.10:8080");
    assert!(index.lookup_at(&known, t0).client.process().is_some());
    assert_eq!(index.counters().rebuilds, 1);
    // Hits never rebuild, however old the tables.
    index.lookup_at(&known, t0 + Duration::from_secs(60));
    assert_eq!(index.counters().rebuilds, 1);
    // A connection made after the build.
    proc.table(
        20,
        "tcp",
        &[
            ("10.244.1.20:37554", "10.244.1.10:8080", EST, 500),
            ("10.244.1.20:40000", "10.244.1.10:8080", EST, 501),
        ],
    );
    proc.link("20/fd/9", "socket:[501]");
    // A miss 100 ms after a rebuild is not enough for another…
    index.lookup_at(&new, t0 + Duration::from_secs(60));
    assert_eq!(index.counters().rebuilds, 2);
    let soon = t0 + Duration::from_secs(60) + Duration::from_millis(100);
    // (the 60 s lookup rebuilt and found it; make it miss again with a newer one)
    let newer = tcp("10.244.1.20:40001", "10.244.1.10:8080");
    assert_eq!(index.lookup_at(&newer, soon).client, EndOwner::NotFound);
    assert_eq!(index.counters().rebuilds, 2);
    proc.table(
        20,
        "tcp",
        &[("10.244.1.20:40001", "10.244.1.10:8080", EST, 502)],
    );
    proc.link("20/fd/10", "socket:[502]");
    assert_eq!(index.lookup_at(&newer, soon).client, EndOwner::NotFound);
    assert_eq!(index.counters().rebuilds, 2);
    let later = soon + Duration::from_secs(5);
    assert_eq!(pid_of(&index.lookup_at(&newer, later).client), Some(20));
    assert_eq!(index.counters().rebuilds, 3);
    // The forced rebuild.
    index.rebuild();
    assert_eq!(index.counters().rebuilds, 4);
    assert_eq!(index.take_counters().rebuilds, 4);
    assert_eq!(index.counters(), HostCounters::default());
}

/// Traffic between two other hosts misses on both ends at every lookup: it surveys the
/// namespaces again only once the survey is `remote_survey_interval` old, and a namespace
/// made since is then found.
#[test]
fn remote_ends_survey_again_only_when_the_survey_is_old() {
    let proc = two_pods();
    let mut index = ProcessIndex::new(IndexConfig {
        proc_root: proc.root.clone(),
        min_rebuild_interval: Duration::from_millis(1),
        idle_factor: 0,
        remote_survey_interval: Duration::from_secs(1),
        ..IndexConfig::default()
    });
    let t0 = Instant::now();
    let passing = tcp("10.9.0.1:40000", "10.9.0.2:80");
    assert_eq!(index.lookup_at(&passing, t0).client, EndOwner::NotFound);
    assert_eq!(index.counters().rebuilds, 1);
    assert!(!index.is_local("10.9.0.1".parse().expect("ip")));
    assert!(index.is_local("10.244.1.20".parse().expect("ip")));
    // A pod with the client's address appears: not looked for within the interval…
    proc.process(40, 4026532003, "wget", "0::/init.scope\n", &[700]);
    proc.table(40, "tcp", &[("10.9.0.1:40000", "10.9.0.2:80", EST, 700)]);
    proc.local_v4(40, &["10.9.0.1"]);
    let soon = t0 + Duration::from_millis(500);
    assert_eq!(index.lookup_at(&passing, soon).client, EndOwner::NotFound);
    assert_eq!(index.counters().rebuilds, 1);
    // …and found after it.
    let later = t0 + Duration::from_secs(2);
    assert_eq!(pid_of(&index.lookup_at(&passing, later).client), Some(40));
    assert_eq!(index.counters().rebuilds, 2);
}

#[test]
fn builds_stop_at_their_caps() {
    let proc = two_pods();
    let capped = |config: IndexConfig| {
        let mut index = ProcessIndex::new(IndexConfig {
            proc_root: proc.root.clone(),
            ..config
        });
        let owners = index.lookup(&tcp("10.244.1.20:37554", "10.244.1.10:8080"));
        let summary = index.last_build().cloned().unwrap();
        (owners, summary, index.counters())
    };
    let (owners, summary, c) = capped(IndexConfig {
        max_pids: 2,
        ..IndexConfig::default()
    });
    assert_eq!(summary.pids, 2);
    assert!(summary.truncated);
    assert_eq!(pid_of(&owners.client), Some(20));
    assert_eq!(owners.server, EndOwner::NotFound);
    assert_eq!(c.scan_truncated, 1);
    let (_, summary, _) = capped(IndexConfig {
        max_sockets: 2,
        ..IndexConfig::default()
    });
    assert_eq!(summary.sockets, 2);
    assert!(summary.truncated);
    let (_, summary, c) = capped(IndexConfig {
        max_fds: 3,
        ..IndexConfig::default()
    });
    assert_eq!(summary.fds, 3);
    assert_eq!(c.scan_truncated, 1);
}

fn span_of(call: &CallEnds) -> NetworkSpan {
    let transport = match call.transport {
        Transport::Tcp => "tcp",
        Transport::Udp => "udp",
    };
    NetworkSpan {
        trace_id: [1; 16],
        span_id: [2; 8],
        parent_span_id: None,
        name: "GET /".into(),
        kind: SpanKind::Server,
        start_ns: 1,
        end_ns: 2,
        error: None,
        attributes: vec![
            str_attr("network.transport", transport),
            str_attr("client.address", call.client.ip().to_string()),
            int_attr("client.port", i64::from(call.client.port())),
            str_attr("server.address", call.server.ip().to_string()),
            int_attr("server.port", i64::from(call.server.port())),
            str_attr("wirespan.capture.point", "veth0"),
        ],
    }
}

fn text(span: &NetworkSpan, key: &str) -> Option<String> {
    match span.attr(key)? {
        AttrValue::Str(s) => Some(s.to_string()),
        _ => None,
    }
}

fn int(span: &NetworkSpan, key: &str) -> Option<i64> {
    match span.attr(key)? {
        AttrValue::Int(i) => Some(*i),
        _ => None,
    }
}

#[test]
fn spans_get_both_ends_once_per_call() {
    let proc = two_pods();
    let mut annotator = ProcessAnnotator::new(proc.index(), AnnotatorConfig::default());
    let call = tcp("10.244.1.20:37554", "10.244.1.10:8080");
    let mut span = span_of(&call);
    annotator.annotate(&mut span);
    assert_eq!(int(&span, CLIENT_PID), Some(20));
    assert_eq!(text(&span, CLIENT_EXECUTABLE).as_deref(), Some("curl"));
    assert_eq!(text(&span, CLIENT_CONTAINER).as_deref(), Some(CONTAINER_A));
    assert_eq!(
        text(&span, CLIENT_POD).as_deref(),
        Some("8f3c6a1e-2b7d-4c9a-b1e5-0d2f4a6c8e10")
    );
    assert_eq!(int(&span, SERVER_PID), Some(30));
    assert_eq!(text(&span, SERVER_EXECUTABLE).as_deref(), Some("nginx"));
    assert_eq!(text(&span, SERVER_CONTAINER).as_deref(), Some(CONTAINER_B));
    assert_eq!(span.attributes.len(), 6 + 8);
    // Annotating again adds nothing.
    annotator.annotate(&mut span);
    assert_eq!(span.attributes.len(), 6 + 8);
    // The next span of the call comes from the cache.
    let mut next = span_of(&call);
    annotator.annotate(&mut next);
    assert_eq!(int(&next, SERVER_PID), Some(30));
    let c = annotator.counters();
    assert_eq!((c.lookups, c.cache_hits, c.rebuilds), (1, 1, 1));
    // A span that says nothing of its ends is left alone.
    let mut bare = span_of(&call);
    bare.attributes.retain(|a| a.key != "client.port");
    annotator.annotate(&mut bare);
    assert_eq!(bare.attributes.len(), 5);
    let mut sctp = span_of(&call);
    sctp.attributes[0] = str_attr("network.transport", "sctp");
    annotator.annotate(&mut sctp);
    assert_eq!(sctp.attributes.len(), 6);
    // IPv4-mapped text is the IPv4 call.
    let mut mapped = span_of(&call);
    mapped.attributes[1] = str_attr("client.address", "::ffff:10.244.1.20");
    annotator.annotate(&mut mapped);
    assert_eq!(int(&mapped, CLIENT_PID), Some(20));
}

#[test]
fn a_miss_is_looked_up_again_only_after_the_negative_ttl() {
    let proc = two_pods();
    let config = AnnotatorConfig {
        miss_ttl: Duration::from_secs(2),
        ..AnnotatorConfig::default()
    };
    let mut annotator = ProcessAnnotator::new(proc.index(), config);
    let t0 = Instant::now();
    // A remote client: never found; nginx found.
    let call = tcp("10.9.9.9:5555", "10.244.1.10:8080");
    for ms in [0, 10, 600, 1999] {
        let mut span = span_of(&call);
        annotator.annotate_at(&mut span, t0 + Duration::from_millis(ms));
        assert_eq!(int(&span, SERVER_PID), Some(30));
        assert_eq!(int(&span, CLIENT_PID), None);
    }
    let c = annotator.counters();
    assert_eq!((c.lookups, c.cache_hits, c.rebuilds), (1, 3, 1), "{c:?}");
    // After it, one lookup (which may rebuild: the tables are old enough), then hits again.
    annotator.owners_at(&call, t0 + Duration::from_millis(2000));
    annotator.owners_at(&call, t0 + Duration::from_millis(2100));
    let c = annotator.counters();
    assert_eq!((c.lookups, c.cache_hits, c.rebuilds), (2, 4, 2), "{c:?}");
    // That rebuild surveyed the namespaces (a new one could hold 10.9.9.9) and read no
    // sockets: 10.9.9.9 is local nowhere.
    assert_eq!(annotator.index().last_build().unwrap().namespaces_read, 0);
    // A named end stays named when its socket has closed since.
    proc.table(30, "tcp", &[]);
    let owners = annotator.owners_at(&call, t0 + Duration::from_millis(5000));
    assert_eq!(pid_of(&owners.server), Some(30));
    assert_eq!(annotator.counters().lookups, 3);
    assert_eq!(annotator.take_counters().lookups, 3);
    assert_eq!(annotator.counters(), HostCounters::default());
}

#[test]
fn the_cache_is_bounded_and_drops_the_oldest() {
    let proc = two_pods();
    let config = AnnotatorConfig {
        capacity: 16,
        ..AnnotatorConfig::default()
    };
    let mut annotator = ProcessAnnotator::new(proc.index(), config);
    let t0 = Instant::now();
    for port in 0..40u16 {
        let call = tcp(&format!("10.9.9.9:{}", 1000 + port), "10.244.1.10:8080");
        annotator.owners_at(&call, t0 + Duration::from_millis(u64::from(port)));
    }
    let c = annotator.counters();
    assert!(c.cache_evictions >= 24, "{c:?}");
    // The newest is still cached, the oldest is not.
    annotator.owners_at(
        &tcp("10.9.9.9:1039", "10.244.1.10:8080"),
        t0 + Duration::from_millis(41),
    );
    assert_eq!(annotator.counters().cache_hits, 1);
    annotator.owners_at(
        &tcp("10.9.9.9:1000", "10.244.1.10:8080"),
        t0 + Duration::from_millis(42),
    );
    assert_eq!(annotator.counters().cache_hits, 1);
    assert_eq!(annotator.counters().lookups, 41);
    // Expired entries go first, and a capacity of 0 caches nothing.
    let mut none = ProcessAnnotator::new(
        proc.index(),
        AnnotatorConfig {
            capacity: 0,
            ..AnnotatorConfig::default()
        },
    );
    let call = tcp("10.244.1.20:37554", "10.244.1.10:8080");
    none.owners_at(&call, t0);
    none.owners_at(&call, t0);
    assert_eq!(
        (none.counters().lookups, none.counters().cache_hits),
        (2, 0)
    );
}

#[test]
fn a_pod_started_later_is_found_by_the_next_survey() {
    let proc = two_pods();
    let mut index = proc.index();
    let t0 = Instant::now();
    let call = tcp("10.244.1.20:37554", "10.244.1.10:8080");
    assert!(index.lookup_at(&call, t0).server.process().is_some());
    proc.process(90, 4026532003, "mariadbd", "0::/\n", &[800]);
    proc.table(90, "tcp", &[("10.244.2.7:3306", "0.0.0.0:0", LISTEN, 800)]);
    proc.local_v4(90, &["10.244.2.7"]);
    let db = tcp("10.244.1.20:37600", "10.244.2.7:3306");
    assert_eq!(index.lookup_at(&db, t0).server, EndOwner::NotFound);
    let later = t0 + Duration::from_secs(5);
    let owners = index.lookup_at(&db, later);
    let server = owners.server.process().unwrap();
    assert_eq!((server.pid, &*server.executable_name), (90, "mariadbd"));
    let summary = index.last_build().unwrap();
    assert_eq!((summary.namespaces, summary.namespaces_read), (4, 2));
    // The pod is deleted: its namespace goes with the next survey.
    std::fs::remove_dir_all(proc.root.join("90")).unwrap();
    let much_later = later + Duration::from_secs(5);
    let owners = index.lookup_at(&tcp("10.244.1.20:37601", "10.244.2.7:3306"), much_later);
    assert_eq!(owners.server, EndOwner::NotFound);
    assert_eq!(index.last_build().unwrap().namespaces, 3);
}

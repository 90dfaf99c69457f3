//! The text formats of `/proc` the index reads: socket tables (`net/tcp`, `tcp6`, `udp`,
//! `udp6`), local addresses (`net/fib_trie`, `net/if_inet6`), the targets of `ns/net` and
//! `fd/*` links, and container ids and pod UIDs in `cgroup`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// TCP_LISTEN as `/proc/net/tcp` prints the state.
pub(crate) const TCP_LISTEN: u8 = 0x0A;

/// One row of a socket table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SocketRow {
    /// IPv4-mapped IPv6 addresses are given as IPv4.
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: u8,
    /// 0 for sockets without a file (TIME_WAIT, request sockets, orphans): nobody owns them.
    pub inode: u64,
}

/// A row of `/proc/<pid>/net/{tcp,tcp6,udp,udp6}`:
/// `sl local rem st tx:rx tr:when retrnsmt uid timeout inode …`. `None` for the header and
/// for lines that are not rows.
pub(crate) fn socket_row(line: &str) -> Option<SocketRow> {
    let mut fields = line.split_ascii_whitespace();
    let slot = fields.next()?;
    if !slot.ends_with(':') {
        return None;
    }
    let local = socket_addr(fields.next()?)?;
    let remote = socket_addr(fields.next()?)?;
    let state = fields.next()?;
    if state.len() != 2 {
        return None;
    }
    let state = u8::from_str_radix(hex(state)?, 16).ok()?;
    // tx:rx, tr:when, retrnsmt, uid, timeout, then the inode.
    let inode = fields.nth(5)?;
    if !inode.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let inode = inode.parse().ok()?;
    Some(SocketRow {
        local,
        remote,
        state,
        inode,
    })
}

/// `s` when it is non-empty and nothing but hex digits (`from_str_radix` takes a sign too).
fn hex(s: &str) -> Option<&str> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())).then_some(s)
}

/// `0100007F:1F90` or `000080FE000000000000000001000000:0050`: the address as the kernel
/// prints it, each 32-bit word in hex in the host's byte order, then the port in hex.
fn socket_addr(s: &str) -> Option<SocketAddr> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(hex(port)?, 16).ok()?;
    let ip = match hex(addr)?.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(addr)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&word(addr.get(i * 8..i * 8 + 8)?)?);
            }
            // A v4 peer of a dual-stack socket: the same address as the v4 table would give.
            IpAddr::V6(Ipv6Addr::from(bytes)).to_canonical()
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Eight hex digits printed from a 32-bit word in memory: the word's bytes in memory order.
fn word(s: &str) -> Option<[u8; 4]> {
    Some(u32::from_str_radix(s, 16).ok()?.to_ne_bytes())
}

/// The inode of a `net:[4026531840]` link.
pub(crate) fn netns_inode(link: &str) -> Option<u64> {
    bracketed(link, "net:[")
}

/// The inode of a `socket:[123456]` link; `None` for anything else a descriptor points to.
pub(crate) fn socket_inode(link: &str) -> Option<u64> {
    bracketed(link, "socket:[")
}

fn bracketed(link: &str, prefix: &str) -> Option<u64> {
    let digits = link.strip_prefix(prefix)?.strip_suffix(']')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Local IPv4 addresses of a network namespace from its `fib_trie`: an address line
/// (`|-- 10.244.1.20`) followed by `/32 host LOCAL` (or `/8 host LOCAL` for 127.0.0.0/8),
/// as (address, prefix length).
pub(crate) struct FibTrie {
    last: Option<Ipv4Addr>,
    pub local: Vec<(Ipv4Addr, u8)>,
}

impl FibTrie {
    pub fn new() -> FibTrie {
        FibTrie {
            last: None,
            local: Vec::new(),
        }
    }

    pub fn line(&mut self, line: &str) {
        let line = line.trim_start_matches([' ', '|', '+', '-']);
        if let Some(rest) = line.strip_prefix('/') {
            let mut words = rest.split_ascii_whitespace();
            let len = words.next().and_then(|l| l.parse::<u8>().ok());
            if let (Some(addr), Some(len), Some("LOCAL")) = (self.last, len, words.last()) {
                if len <= 32 && !self.local.contains(&(addr, len)) {
                    self.local.push((addr, len));
                }
            }
        } else {
            self.last = line.trim_end().parse().ok();
        }
    }
}

/// The address of an `if_inet6` line: `fe800000000000000000000000000001 02 40 20 80 eth0`
/// (the address's bytes in order, not in words).
pub(crate) fn inet6_addr(line: &str) -> Option<Ipv6Addr> {
    let addr = hex(line.split_ascii_whitespace().next()?)?;
    if addr.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(addr.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(Ipv6Addr::from(bytes))
}

/// What a process's cgroup path says about where it runs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Placement {
    /// The 64-hex id of the container (docker, containerd, CRI-O, podman).
    pub container_id: Option<String>,
    /// The Kubernetes pod UID, with dashes.
    pub pod_uid: Option<String>,
}

impl Placement {
    /// Reads one line of `/proc/<pid>/cgroup` (`hierarchy:controllers:path`). The first line
    /// that names a container (or pod) decides it; within a path the innermost one counts
    /// (a container in a kind node in docker is the inner container).
    pub fn line(&mut self, line: &str) {
        let Some(path) = line.splitn(3, ':').nth(2) else {
            return;
        };
        let mut container = None;
        let mut pod = None;
        for segment in path.split('/') {
            let segment = segment
                .strip_suffix(".scope")
                .or_else(|| segment.strip_suffix(".slice"))
                .unwrap_or(segment);
            // docker-<id>, cri-containerd-<id>, crio-<id>, libpod-<id>, /docker/<id>,
            // /kubepods/…/pod<uid>/<id>; conmon's own scope is not the container.
            if let Some(id) = segment.rsplit('-').next() {
                if is_container_id(id) && !segment.contains("conmon") {
                    container = Some(id);
                }
            }
            // pod<uid> alone (cgroupfs driver, dashes) or the last part of
            // kubepods-burstable-pod<uid> (systemd driver, underscores).
            let parts = std::iter::once(segment).chain(segment.rsplit('-').take(1));
            for part in parts {
                if let Some(uid) = part.strip_prefix("pod").filter(|u| is_pod_uid(u)) {
                    pod = Some(uid);
                }
            }
        }
        if self.container_id.is_none() {
            self.container_id = container.map(str::to_string);
        }
        if self.pod_uid.is_none() {
            self.pod_uid = pod.map(|u| u.replace('_', "-"));
        }
    }
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A UID as 8-4-4-4-12 hex digits (dashes or, in systemd slice names, underscores), or the
/// 32 hex digits kubelet gives static pods.
fn is_pod_uid(s: &str) -> bool {
    let b = s.as_bytes();
    match b.len() {
        32 => b.iter().all(u8::is_ascii_hexdigit),
        36 => b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-' || *c == b'_',
            _ => c.is_ascii_hexdigit(),
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_rows_as_the_kernel_prints_them() {
        let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";
        assert_eq!(socket_row(header), None);
        let listen = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 123456 1 0000000000000000 100 0 0 10 0";
        assert_eq!(
            socket_row(listen),
            Some(SocketRow {
                local: sa("127.0.0.1:8080"),
                remote: sa("0.0.0.0:0"),
                state: TCP_LISTEN,
                inode: 123456,
            })
        );
        // 10.244.1.20:37554 → 10.244.1.10:8080, established.
        let est = "   5: 1401F40A:92B2 0A01F40A:1F90 01 00000000:00000000 02:000A7D2B 00000000     0        0 9876543 2 ffff8e0b4a5c0000 20 4 30 10 -1";
        let row = socket_row(est).unwrap();
        assert_eq!(row.local, sa("10.244.1.20:37554"));
        assert_eq!(row.remote, sa("10.244.1.10:8080"));
        assert_eq!(row.state, 1);
        assert_eq!(row.inode, 9876543);
        // TIME_WAIT: no inode.
        let tw = "   7: 0100007F:C350 0100007F:1F90 06 00000000:00000000 03:00001770 00000000     0        0 0 3 ffff8e0b4a5c1000";
        assert_eq!(socket_row(tw).unwrap().inode, 0);
    }

    #[test]
    fn ipv6_and_mapped_rows() {
        // [::1]:443 listening, as tcp6 prints it.
        let lo = "   0: 00000000000000000000000001000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0";
        let row = socket_row(lo).unwrap();
        assert_eq!(row.local, sa("[::1]:443"));
        assert_eq!(row.remote, sa("[::]:0"));
        assert_eq!(row.inode, 4242);
        // [fd00::2]:5432 ← [fe80::fc00:ff:fe00:1]:40000.
        let v6 = "   1: 000000FD000000000000000002000000:1538 000080FE00000000FF0000FC010000FE:9C40 01 00000000:00000000 00:00000000 00000000   999        0 77 1 0000000000000000 20 4 30 10 -1";
        let row = socket_row(v6).unwrap();
        assert_eq!(row.local, sa("[fd00::2]:5432"));
        assert_eq!(row.remote, sa("[fe80::fc00:ff:fe00:1]:40000"));
        // A dual-stack socket's v4 connection: ::ffff:10.0.0.2:80 ← ::ffff:10.0.0.1:51000.
        let mapped = "   2: 0000000000000000FFFF00000200000A:0050 0000000000000000FFFF00000100000A:C738 01 00000000:00000000 00:00000000 00000000    33        0 555 1 0000000000000000 20 4 30 10 -1";
        let row = socket_row(mapped).unwrap();
        assert_eq!(row.local, sa("10.0.0.2:80"));
        assert_eq!(row.remote, sa("10.0.0.1:51000"));
        assert_eq!(row.inode, 555);
    }

    #[test]
    fn udp_rows() {
        let header = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops";
        assert_eq!(socket_row(header), None);
        // A DNS client's connected socket and a resolver's unconnected one.
        let client = " 1234: 1401F40A:A8CA 0A00600A:0035 01 00000000:00000000 00:00000000 00000000   101        0 31337 2 0000000000000000 0";
        let row = socket_row(client).unwrap();
        assert_eq!(row.local, sa("10.244.1.20:43210"));
        assert_eq!(row.remote, sa("10.96.0.10:53"));
        let server = "  512: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1000 2 0000000000000000 0";
        let row = socket_row(server).unwrap();
        assert_eq!(row.local, sa("0.0.0.0:53"));
        assert_eq!(row.state, 7);
    }

    #[test]
    fn malformed_rows_are_none() {
        for line in [
            "",
            "0: 0100007F:1F90",
            "   0: 0100007F:1F9G 00000000:0000 0A 0:0 0:0 0 0 0 1",
            "   0: 0100007F1F90 00000000:0000 0A 0:0 0:0 0 0 0 1",
            "   0: 100007F:1F90 00000000:0000 0A 0:0 0:0 0 0 0 1",
            "   0: 0100007F:1F90 00000000:0000 0A 0:0 0:0 0 0 0 -1",
            "   0: 0100007F:+F90 00000000:0000 0A 0:0 0:0 0 0 0 1",
            "   0: 0100007F:1F90 00000000:0000 0A 0:0 0:0 0 0 0",
            "   0: 0100007F:11F90 00000000:0000 0A 0:0 0:0 0 0 0 1",
            "   0: 0100007F:1F90 00000000:0000 0AB 0:0 0:0 0 0 0 1",
        ] {
            assert_eq!(socket_row(line), None, "{line:?}");
        }
    }

    #[test]
    fn links() {
        assert_eq!(netns_inode("net:[4026531840]"), Some(4026531840));
        assert_eq!(socket_inode("socket:[123]"), Some(123));
        assert_eq!(socket_inode("pipe:[123]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
        assert_eq!(socket_inode("socket:[]"), None);
        assert_eq!(socket_inode("socket:[12x]"), None);
        assert_eq!(netns_inode("socket:[1]"), None);
    }

    #[test]
    fn local_addresses_from_fib_trie_and_if_inet6() {
        let trie = "Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 10.244.1.0/24 2 0 2
        |-- 10.244.1.0
           /24 link UNICAST
        |-- 10.244.1.20
           /32 host LOCAL
Local:
     +-- 127.0.0.0/8 2 0 2
           |-- 127.0.0.1
              /32 host LOCAL";
        let mut fib = FibTrie::new();
        trie.lines().for_each(|l| fib.line(l));
        assert_eq!(
            fib.local,
            vec![
                (Ipv4Addr::new(127, 0, 0, 0), 8),
                (Ipv4Addr::new(127, 0, 0, 1), 32),
                (Ipv4Addr::new(10, 244, 1, 20), 32),
            ]
        );
        assert_eq!(
            inet6_addr("fe8000000000000000fc00fffe000001 04 40 20 80     eth0"),
            Some("fe80::fc:ff:fe00:1".parse().unwrap())
        );
        assert_eq!(
            inet6_addr("00000000000000000000000000000001 01 80 10 80       lo"),
            Some(Ipv6Addr::LOCALHOST)
        );
        assert_eq!(inet6_addr("0001 01 80 10 80 lo"), None);
    }

    fn placement(text: &str) -> Placement {
        let mut p = Placement::default();
        text.lines().for_each(|l| p.line(l));
        p
    }

    const ID: &str = "4f2a0c3b9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a";

    #[test]
    fn docker_cgroups() {
        let v2 = format!("0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(placement(&v2).container_id.as_deref(), Some(ID));
        assert_eq!(placement(&v2).pod_uid, None);
        let v1 = format!(
            "12:pids:/docker/{ID}\n11:memory:/docker/{ID}\n1:name=systemd:/docker/{ID}\n0::/\n"
        );
        assert_eq!(placement(&v1).container_id.as_deref(), Some(ID));
        // Not a container: the host's own services, the sandbox's 32-hex group.
        let host = "0::/system.slice/sshd.service\n4:memory:/process_api/44be44e52fe7e3e70e07a166e0969cfe\n";
        assert_eq!(placement(host), Placement::default());
    }

    #[test]
    fn containerd_crio_podman_cgroups() {
        let containerd = format!(
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod8f3c6a1e_2b7d_4c9a_b1e5_0d2f4a6c8e10.slice/cri-containerd-{ID}.scope\n"
        );
        let p = placement(&containerd);
        assert_eq!(p.container_id.as_deref(), Some(ID));
        assert_eq!(
            p.pod_uid.as_deref(),
            Some("8f3c6a1e-2b7d-4c9a-b1e5-0d2f4a6c8e10")
        );
        let crio = format!(
            "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0a1b2c3d_4e5f_6a7b_8c9d_0e1f2a3b4c5d.slice/crio-{ID}.scope\n"
        );
        let p = placement(&crio);
        assert_eq!(p.container_id.as_deref(), Some(ID));
        assert_eq!(
            p.pod_uid.as_deref(),
            Some("0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d")
        );
        // conmon beside a CRI-O container is not the container.
        let conmon = format!(
            "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0a1b2c3d_4e5f_6a7b_8c9d_0e1f2a3b4c5d.slice/crio-conmon-{ID}.scope\n"
        );
        let p = placement(&conmon);
        assert_eq!(p.container_id, None);
        assert!(p.pod_uid.is_some());
        // cgroupfs driver, v1, guaranteed pod: pod<uid> with dashes, then the bare id.
        let cgroupfs =
            format!("10:memory:/kubepods/pod5e6f7a8b-9c0d-1e2f-3a4b-5c6d7e8f9a0b/{ID}\n");
        let p = placement(&cgroupfs);
        assert_eq!(p.container_id.as_deref(), Some(ID));
        assert_eq!(
            p.pod_uid.as_deref(),
            Some("5e6f7a8b-9c0d-1e2f-3a4b-5c6d7e8f9a0b")
        );
        let podman = format!("0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope/container\n");
        assert_eq!(placement(&podman).container_id.as_deref(), Some(ID));
        // A static pod's UID: 32 hex digits.
        let static_pod = "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6b3f8c0e2c3e4bbd8d1f7e0b0f6e2b1a.slice\n";
        assert_eq!(
            placement(static_pod).pod_uid.as_deref(),
            Some("6b3f8c0e2c3e4bbd8d1f7e0b0f6e2b1a")
        );
        // kind: a pod's container inside the node's docker container: the inner one.
        let outer = "1111111111111111111111111111111111111111111111111111111111111111";
        let nested = format!(
            "0::/system.slice/docker-{outer}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod8f3c6a1e_2b7d_4c9a_b1e5_0d2f4a6c8e10.slice/cri-containerd-{ID}.scope\n"
        );
        assert_eq!(placement(&nested).container_id.as_deref(), Some(ID));
    }

    #[test]
    fn odd_cgroup_lines() {
        for line in [
            "",
            "0::",
            "garbage",
            "0::/pod",
            "0::/podxyz",
            "0::/docker-12.scope",
        ] {
            assert_eq!(placement(line), Placement::default(), "{line:?}");
        }
    }
}

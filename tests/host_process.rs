//! Names from the host against the real `/proc`: sockets of this test process, and sockets of
//! other processes in another network namespace (`ip netns`), looked up as a capture would
//! see their calls.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use wirespan::attribute::{int_attr, str_attr, AttrValue};
use wirespan::host::annotate::{CLIENT_EXECUTABLE, CLIENT_PID, SERVER_EXECUTABLE, SERVER_PID};
use wirespan::host::{
    AnnotatorConfig, CallEnds, EndOwner, IndexConfig, ProcessAnnotator, ProcessIndex, Transport,
};
use wirespan::span::{NetworkSpan, SpanKind};

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap()
        .trim_end()
        .to_string()
}

fn call(transport: Transport, client: SocketAddr, server: SocketAddr) -> CallEnds {
    CallEnds {
        transport,
        client,
        server,
    }
}

fn owner(end: &EndOwner) -> (u32, String) {
    match end {
        EndOwner::Found(p) => (p.pid, p.executable_name.to_string()),
        other => panic!("no owner: {other:?}"),
    }
}

#[test]
fn this_process_owns_both_ends_of_its_own_calls() {
    let me = (std::process::id(), comm(std::process::id()));
    let mut index = ProcessIndex::new(IndexConfig::default());

    // TCP over loopback.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = listener.local_addr().unwrap();
    let stream = TcpStream::connect(server).unwrap();
    let (_accepted, _) = listener.accept().unwrap();
    let client = stream.local_addr().unwrap();
    let owners = index.lookup(&call(Transport::Tcp, client, server));
    assert_eq!(owner(&owners.client), me);
    assert_eq!(owner(&owners.server), me);

    // A dual-stack listener: the accepted v4 connection is in tcp6 as ::ffff:127.0.0.1.
    if let Ok(dual) = TcpListener::bind("[::]:0") {
        let port = dual.local_addr().unwrap().port();
        let server: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let stream = TcpStream::connect(server).unwrap();
        let (_accepted, _) = dual.accept().unwrap();
        index.rebuild();
        let owners = index.lookup(&call(Transport::Tcp, stream.local_addr().unwrap(), server));
        assert_eq!(owner(&owners.client), me);
        assert_eq!(owner(&owners.server), me);
    }

    // A UDP exchange from a connected socket to an unconnected one.
    let resolver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let asker = UdpSocket::bind("127.0.0.1:0").unwrap();
    asker.connect(resolver.local_addr().unwrap()).unwrap();
    index.rebuild();
    let udp = call(
        Transport::Udp,
        asker.local_addr().unwrap(),
        resolver.local_addr().unwrap(),
    );
    let owners = index.lookup(&udp);
    assert_eq!(owner(&owners.client), me);
    assert_eq!(owner(&owners.server), me);

    // Through the annotator, as the live pipeline calls it.
    let mut annotator = ProcessAnnotator::new(
        ProcessIndex::new(IndexConfig::default()),
        AnnotatorConfig::default(),
    );
    let mut span = span_of(&call(Transport::Tcp, client, server));
    annotator.annotate(&mut span);
    assert_eq!(
        span.attr(CLIENT_PID),
        Some(&AttrValue::Int(i64::from(me.0)))
    );
    assert_eq!(
        span.attr(SERVER_PID),
        Some(&AttrValue::Int(i64::from(me.0)))
    );
    for key in [CLIENT_EXECUTABLE, SERVER_EXECUTABLE] {
        match span.attr(key) {
            Some(AttrValue::Str(name)) => assert_eq!(&**name, me.1),
            other => panic!("{key}: {other:?}"),
        }
    }
    let c = annotator.counters();
    assert_eq!((c.lookups, c.client_found, c.server_found), (1, 1, 1));
}

fn span_of(call: &CallEnds) -> NetworkSpan {
    NetworkSpan {
        trace_id: [1; 16],
        span_id: [2; 8],
        parent_span_id: None,
        name: "GET /".into(),
        kind: SpanKind::Client,
        start_ns: 1,
        end_ns: 2,
        error: None,
        attributes: vec![
            str_attr("network.transport", "tcp"),
            str_attr("client.address", call.client.ip().to_string()),
            int_attr("client.port", i64::from(call.client.port())),
            str_attr("server.address", call.server.ip().to_string()),
            int_attr("server.port", i64::from(call.server.port())),
        ],
    }
}

/// What reading the real `/proc` costs here: a full rebuild (survey and every namespace's
/// sockets), and the survey alone (what a miss on an address local nowhere reads).
#[test]
fn rebuild_cost() {
    let median = |mut times: Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let mut index = ProcessIndex::new(IndexConfig::default());
    let mut full = Vec::new();
    for _ in 0..9 {
        index.rebuild();
        full.push(index.last_build().unwrap().duration);
    }
    let summary = index.last_build().unwrap().clone();
    let remote = call(
        Transport::Tcp,
        "203.0.113.7:40000".parse().unwrap(),
        "203.0.113.8:80".parse().unwrap(),
    );
    let mut survey = Vec::new();
    let mut now = Instant::now();
    for _ in 0..9 {
        now += Duration::from_secs(10);
        index.lookup_at(&remote, now);
        let build = index.last_build().unwrap();
        assert_eq!(build.namespaces_read, 0);
        survey.push(build.duration);
    }
    // A miss on this host's own outbound address: the survey and one namespace's sockets.
    let outbound = UdpSocket::bind("0.0.0.0:0")
        .and_then(|u| u.connect("203.0.113.1:9").map(|()| u))
        .and_then(|u| u.local_addr());
    let mut one = Vec::new();
    if let Ok(local) = outbound {
        let to_host = call(Transport::Tcp, "203.0.113.7:40000".parse().unwrap(), local);
        for _ in 0..9 {
            now += Duration::from_secs(10);
            index.lookup_at(&to_host, now);
            one.push(index.last_build().unwrap().clone());
        }
        assert!(one.iter().all(|b| b.namespaces_read >= 1));
    }
    eprintln!(
        "full rebuild: median {:?} of {full:?}\n  {summary:?}\nsurvey only: median {:?}\n\
         survey and the namespaces of one address: median {:?} ({:?} read)\ncounters {:?}",
        median(full.clone()),
        median(survey),
        (!one.is_empty()).then(|| median(one.iter().map(|b| b.duration).collect())),
        one.first().map(|b| b.namespaces_read),
        index.counters()
    );
    assert!(summary.pids > 0 && summary.namespaces > 0);
}

/// A network namespace for one test, deleted (with the processes started in it) when dropped.
struct Netns {
    name: String,
    children: Vec<Child>,
}

impl Netns {
    fn add() -> Result<Netns, String> {
        let name = format!("wirespan-host-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let out = Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .map_err(|e| format!("ip: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "ip netns add: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let netns = Netns {
            name,
            children: Vec::new(),
        };
        let up = netns.command("ip", &["link", "set", "lo", "up"]).status();
        assert!(up.is_ok_and(|s| s.success()), "lo up in {}", netns.name);
        Ok(netns)
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]).args(args);
        c
    }

    /// Starts `python3 -c script args…` in the namespace (`ip netns exec` execs it: the
    /// child's pid is python's); gives its pid and its output.
    fn python(&mut self, script: &str, args: &[&str]) -> (u32, BufReader<ChildStdout>) {
        let python = if std::path::Path::new("/usr/bin/python3").exists() {
            "/usr/bin/python3"
        } else {
            "python3"
        };
        let mut full = vec!["-c", script];
        full.extend_from_slice(args);
        let mut child = self
            .command(python, &full)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let pid = child.id();
        self.children.push(child);
        (pid, out)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for child in &mut self.children {
            // Closing stdin ends the scripts; they are killed if they do not.
            drop(child.stdin.take());
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn line(out: &mut BufReader<ChildStdout>) -> String {
    let mut l = String::new();
    out.read_line(&mut l).unwrap();
    l.trim().to_string()
}

const SERVER: &str = r#"
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
print("accepted", flush=True)
sys.stdin.read()
"#;

const CLIENT: &str = r#"
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print(c.getsockname()[1], flush=True)
sys.stdin.read()
"#;

#[test]
fn processes_in_another_network_namespace() {
    let mut netns = match Netns::add() {
        Ok(n) => n,
        Err(why) => {
            eprintln!("skipped: cannot make a network namespace ({why})");
            return;
        }
    };
    let (server_pid, mut server_out) = netns.python(SERVER, &[]);
    let port = line(&mut server_out);
    let (client_pid, mut client_out) = netns.python(CLIENT, &[&port]);
    let client_port = line(&mut client_out);
    assert_eq!(line(&mut server_out), "accepted");
    // They are in another namespace than this test.
    let ns = |pid: u32| std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    assert_ne!(ns(server_pid), ns(std::process::id()));
    assert_eq!(ns(server_pid), ns(client_pid));
    let server_name = comm(server_pid);
    assert!(server_name.starts_with("python"), "{server_name}");

    let server: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let client: SocketAddr = format!("127.0.0.1:{client_port}").parse().unwrap();
    let mut index = ProcessIndex::new(IndexConfig::default());
    let owners = index.lookup(&call(Transport::Tcp, client, server));
    assert_eq!(owner(&owners.client), (client_pid, comm(client_pid)));
    assert_eq!(owner(&owners.server), (server_pid, server_name.clone()));
    // A new client of the server: its listener, bound to 127.0.0.1 in that namespace only.
    let unseen: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let owners = index.lookup(&call(Transport::Tcp, unseen, server));
    assert_eq!(owner(&owners.server), (server_pid, server_name));
    assert_eq!(owners.client, EndOwner::NotFound);
    let summary = index.last_build().unwrap();
    assert!(summary.namespaces >= 2, "{summary:?}");
    eprintln!(
        "with a second namespace: {summary:?}; {:?}",
        index.counters()
    );
}

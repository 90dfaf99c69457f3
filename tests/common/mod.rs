//! Shared helpers for the integration tests: run the real binary, read its OTLP/JSON output.
#![allow(dead_code)]

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// `../shared/conformance/deepflow/<rel>` beside the checkout.
pub fn deepflow(rel: &str) -> PathBuf {
    repo("../shared/conformance/deepflow").join(rel)
}

pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn spans(&self) -> Vec<Value> {
        spans_of(&self.stdout)
    }

    /// The value of a `--stats` counter.
    pub fn counter(&self, name: &str) -> u64 {
        counter(&self.stderr, name)
    }
}

/// A `--stats` counter's final value in `stderr` (the last of any periodic prints).
pub fn counter(stderr: &str, name: &str) -> u64 {
    stderr
        .lines()
        .rev()
        .find_map(|l| {
            let mut it = l.split_whitespace();
            (it.next() == Some(name)).then(|| it.next()?.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no counter {name} in:\n{stderr}"))
}

/// Runs `wirespan replay FILES… -o - --stats --host-name test` plus `extra`.
pub fn replay(files: &[PathBuf], extra: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wirespan"));
    cmd.arg("replay")
        .args(files)
        .args(["-o", "-", "--stats", "--host-name", "test"]);
    cmd.args(extra);
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run wirespan");
    Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Every span of every OTLP/JSON line, in output order.
pub fn spans_of(out: &[u8]) -> Vec<Value> {
    let mut spans = Vec::new();
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let req: Value = serde_json::from_slice(line).expect("each line is JSON");
        for rs in req["resourceSpans"].as_array().expect("resourceSpans") {
            for ss in rs["scopeSpans"].as_array().expect("scopeSpans") {
                spans.extend(ss["spans"].as_array().expect("spans").iter().cloned());
            }
        }
    }
    spans
}

/// An attribute as a string (string values) or number (int values, decoded from their string).
pub fn attr(span: &Value, key: &str) -> Option<Value> {
    let a = span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)?;
    let v = &a["value"];
    if let Some(s) = v.get("stringValue") {
        return Some(s.clone());
    }
    if let Some(i) = v.get("intValue") {
        return Some(Value::from(i.as_str()?.parse::<i64>().ok()?));
    }
    v.get("boolValue").cloned()
}

pub fn attr_str(span: &Value, key: &str) -> Option<String> {
    attr(span, key).and_then(|v| v.as_str().map(str::to_owned))
}

pub fn attr_int(span: &Value, key: &str) -> Option<i64> {
    attr(span, key).and_then(|v| v.as_i64())
}

pub fn ns(span: &Value, key: &str) -> u64 {
    span[key]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("time as decimal string")
}

/// tshark, when installed; tests that cross-check with it fail loudly on CI, where it must be.
pub fn tshark() -> Option<&'static str> {
    let ok = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some("tshark");
    }
    if std::env::var_os("CI").is_some() {
        panic!("tshark is required on CI (.ci/run installs it)");
    }
    eprintln!("SKIPPED: tshark is not installed; install it to run the tshark cross-checks");
    None
}

/// Rows of `tshark -r FILE -T fields -E separator=/t -e …` with an optional display filter.
pub fn tshark_fields(
    file: &Path,
    filter: Option<&str>,
    fields: &[&str],
    extra: &[&str],
) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-n").arg("-r").arg(file).args(extra);
    if let Some(f) = filter {
        cmd.args(["-Y", f]);
    }
    cmd.args([
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

/// A path for a test's scratch file, in a directory of this test process's own.
pub fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wirespan-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    dir.join(name)
}

/// The number just before `label` on wirespan's `export:` summary line.
pub fn summary_number(stderr: &str, label: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.contains("export:"))
        .unwrap_or_else(|| panic!("no export summary: {stderr}"));
    let at = line
        .find(label)
        .unwrap_or_else(|| panic!("no '{label}' in {line}"));
    line[..at]
        .split_whitespace()
        .last()
        .and_then(|n| n.trim_start_matches('(').parse().ok())
        .unwrap_or_else(|| panic!("no number before '{label}' in {line}"))
}

/// Whether this machine can run the live tests; on CI it must.
pub fn live_capable() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let tools = ["ip", "tcpdump", "python3"].iter().all(|t| {
        Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if root && tools {
        return true;
    }
    let why = if root {
        "ip, tcpdump or python3 is missing"
    } else {
        "not running as root"
    };
    if std::env::var_os("CI").is_some() {
        panic!("the live capture tests must run on CI, but {why}");
    }
    eprintln!("SKIPPED: live capture tests need root, network namespaces and tcpdump ({why})");
    false
}

/// Whether the opentelemetry-proto Python package is here; on CI it must be.
pub fn proto_package() -> bool {
    let ok = Command::new("python3")
        .args([
            "-c",
            "import opentelemetry.proto.collector.trace.v1.trace_service_pb2",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!(
                "the opentelemetry-proto Python package is required on CI (.ci/run installs it)"
            );
        }
        eprintln!("SKIPPED: pip install opentelemetry-proto");
    }
    ok
}

/// An Ethernet/IPv4/TCP frame.
pub fn tcp_frame(
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    seq: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = (20 + 20 + payload.len()) as u16;
    f.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        6,
        0,
        0,
    ]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&0u32.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// Writes frames to a little-endian microsecond pcap, one per `step_us`.
pub fn write_pcap(path: &Path, frames: impl Iterator<Item = Vec<u8>>, step_us: u64) {
    let file = std::fs::File::create(path).expect("create pcap");
    let mut w = std::io::BufWriter::new(file);
    w.write_all(&[
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0,
    ])
    .expect("header");
    for (i, f) in frames.enumerate() {
        let t = 1_700_000_000_000_000 + i as u64 * step_us;
        w.write_all(&((t / 1_000_000) as u32).to_le_bytes())
            .expect("ts");
        w.write_all(&((t % 1_000_000) as u32).to_le_bytes())
            .expect("ts");
        w.write_all(&(f.len() as u32).to_le_bytes()).expect("len");
        w.write_all(&(f.len() as u32).to_le_bytes()).expect("len");
        w.write_all(&f).expect("frame");
    }
}

/// A span as another capture point would give it: without its span id (derived from the
/// point) and the attributes named (`wirespan.capture.point`, a tunnel's).
pub fn span_without(span: &Value, keys: &[&str]) -> Value {
    let mut s = span.clone();
    if let Some(attrs) = s["attributes"].as_array_mut() {
        attrs.retain(|a| !keys.iter().any(|k| a["key"] == *k));
    }
    if let Some(o) = s.as_object_mut() {
        o.remove("spanId");
    }
    s
}

/// A JSON file of the repository (an expected-calls log).
pub fn read_json(rel: &str) -> Value {
    let text = std::fs::read_to_string(repo(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every sample of a Prometheus text exposition as prometheus_client's own parser reads it
/// (tests/metrics/prom_parse.py): `{name, labels, value, type}`. Panics when it does not parse.
pub fn prometheus_samples(path: &Path) -> Vec<Value> {
    let out = Command::new("python3")
        .arg(repo("tests/metrics/prom_parse.py"))
        .arg(path)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "prometheus_client could not parse {} (pip install prometheus_client): {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    json_lines(&out.stdout)
}

/// One JSON value per line.
pub fn json_lines(out: &[u8]) -> Vec<Value> {
    out.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("each line is JSON"))
        .collect()
}

/// The sum of the samples named `name` whose labels include every pair of `labels`.
pub fn sample_sum(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s["name"] == name)
        .filter(|s| labels.iter().all(|(k, v)| s["labels"][k] == *v))
        .filter_map(|s| s["value"].as_f64())
        .sum()
}

/// `(client, server, connection_type)` → per call (5-tuple and request sequence number) its
/// shortest and longest time (ns) and whether it failed.
pub type GraphEdges = std::collections::BTreeMap<
    (String, String, String),
    std::collections::BTreeMap<String, (u64, u64, bool)>,
>;

/// The service graph of the network spans among `spans`, worked out here from the spans
/// alone: ends named by service, else by the process owning the socket, else by address.
pub fn service_graph_edges(spans: &[Value]) -> GraphEdges {
    let mut edges = GraphEdges::new();
    for s in spans {
        if attr_str(s, "wirespan.capture.point").is_none() {
            continue;
        }
        let client = attr_str(s, "wirespan.client.service.name")
            .or_else(|| attr_str(s, "wirespan.client.process.executable.name"))
            .or_else(|| attr_str(s, "client.address"))
            .expect("client");
        let server = attr_str(s, "peer.service")
            .or_else(|| attr_str(s, "wirespan.server.process.executable.name"))
            .unwrap_or_else(|| {
                format!(
                    "{}:{}",
                    attr_str(s, "server.address").expect("server"),
                    attr_int(s, "server.port").expect("port")
                )
            });
        let kind = if attr_str(s, "db.system").is_some() {
            "database"
        } else {
            ""
        };
        let call = [
            "client.address",
            "client.port",
            "server.address",
            "server.port",
            "wirespan.tcp.req_seq",
        ]
        .map(|k| format!("{:?}", attr(s, k)))
        .join(" ");
        let took = ns(s, "endTimeUnixNano") - ns(s, "startTimeUnixNano");
        let failed = s["status"]["code"] == 2;
        let slot = edges
            .entry((client, server, kind.to_owned()))
            .or_default()
            .entry(call)
            .or_insert((u64::MAX, 0, false));
        *slot = (slot.0.min(took), slot.1.max(took), slot.2 || failed);
    }
    edges
}

/// Headless Chromium, for the HTML pages' tests; `None` (said) where it is missing, never on CI.
pub fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs chromium for the HTML pages' tests (.ci/run installs it)"
        );
        eprintln!("SKIPPED: no chromium for the HTML pages' tests");
    }
    found
}

pub fn headless(browser: &str, profile: &Path, args: &[&str]) -> std::process::Output {
    Command::new("timeout")
        .arg("120")
        .arg(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("run chromium")
}

/// The shop demo replayed with its apps' spans (correlated), as OTLP/JSON lines in a file of
/// the calling test thread's own.
pub fn shop_output() -> PathBuf {
    let files: Vec<_> = std::fs::read_dir(repo("pcaps/shop"))
        .expect("pcaps/shop")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    let otel = repo("pcaps/shop/otlp");
    let run = replay(&files, &["--otel", &otel.to_string_lossy()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let path = tmp(&format!("shop-{:?}.jsonl", std::thread::current().id()));
    std::fs::write(&path, &run.stdout).expect("write the output");
    path
}

//! Damaged and unusual input: IP fragments, reordered and missing TCP segments, snapped and
//! lying frames (pcaps/edge, described in pcaps/edge/edge.json), corrupt and truncated capture
//! files, and random bytes. Nothing may panic; every loss is counted and said.

mod common;

use common::*;
use serde_json::Value;
use std::path::PathBuf;

fn edge(file: &str) -> Value {
    let text = std::fs::read_to_string(repo("pcaps/edge/edge.json")).expect("edge.json");
    let v: Value = serde_json::from_str(&text).expect("json");
    v["files"][file]["expect"].clone()
}

/// The facts a span must share with an expected call.
fn facts(
    span: &Value,
) -> (
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
) {
    (
        attr_str(span, "http.request.method").unwrap_or_default(),
        attr_str(span, "url.path").unwrap_or_default(),
        attr_str(span, "url.query"),
        attr_int(span, "http.response.status_code"),
        attr_int(span, "http.request.body.size"),
        attr_int(span, "http.response.body.size"),
    )
}

fn expected_facts(
    call: &Value,
) -> (
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
) {
    (
        call["method"].as_str().unwrap_or_default().to_owned(),
        call["path"].as_str().unwrap_or_default().to_owned(),
        call["query"].as_str().map(str::to_owned),
        call["status"].as_i64(),
        call["request_body_size"].as_i64(),
        call["response_body_size"].as_i64(),
    )
}

/// Runs a file and returns (complete spans, spans marked incomplete, the run).
fn split_complete(file: &str) -> (Vec<Value>, Vec<Value>, Run) {
    let run = replay(&[repo(&format!("pcaps/edge/{file}"))], &[]);
    assert_eq!(run.code, 0, "{file}: {}", run.stderr);
    let mut spans = run.spans();
    spans.sort_by_key(|s| ns(s, "startTimeUnixNano"));
    let (broken, complete): (Vec<Value>, Vec<Value>) = spans
        .into_iter()
        .partition(|s| attr_str(s, "wirespan.incomplete").is_some());
    (complete, broken, run)
}

fn assert_complete_match(file: &str, complete: &[Value]) {
    let expected = edge(file)["complete"]
        .as_array()
        .expect("complete list")
        .clone();
    let got: Vec<_> = complete.iter().map(facts).collect();
    let want: Vec<_> = expected.iter().map(expected_facts).collect();
    assert_eq!(got, want, "{file}");
}

#[test]
fn ipv4_fragments_are_reassembled() {
    let (complete, broken, run) = split_complete("ipv4-fragments.pcap");
    assert!(broken.is_empty());
    assert_complete_match("ipv4-fragments.pcap", &complete);
    assert_eq!(run.counter("ip_fragments"), 3);
    assert_eq!(run.counter("ip_reassembled"), 1);
    assert_eq!(run.counter("ip_fragments_dropped"), 0);
}

#[test]
fn reordered_and_retransmitted_segments_do_not_break_the_stream() {
    let (complete, broken, run) = split_complete("out-of-order.pcap");
    assert!(broken.is_empty(), "{broken:?}");
    assert_complete_match("out-of-order.pcap", &complete);
    assert!(run.counter("tcp_out_of_order_segments") >= 1);
    assert!(run.counter("tcp_retransmitted_segments") >= 1);
    assert_eq!(run.counter("tcp_gaps"), 0);
}

#[test]
fn a_missing_segment_marks_its_exchange_and_the_stream_recovers() {
    let (complete, broken, run) = split_complete("tcp-hole.pcap");
    assert_complete_match("tcp-hole.pcap", &complete);
    let expected_broken = edge("tcp-hole.pcap")["broken"]
        .as_array()
        .expect("broken")
        .clone();
    assert_eq!(broken.len(), expected_broken.len());
    for (span, call) in broken.iter().zip(&expected_broken) {
        assert_eq!(
            attr_str(span, "wirespan.incomplete").as_deref(),
            Some("gap")
        );
        // The head was seen, so method, path and status are still right; the body size is not.
        let (m, p, q, status, _, resp) = facts(span);
        let (em, ep, eq, estatus, _, eresp) = expected_facts(call);
        assert_eq!((m, p, q, status, resp), (em, ep, eq, estatus, eresp));
    }
    assert_eq!(run.counter("tcp_gaps"), 1);
    assert_eq!(run.counter("tcp_gap_bytes"), 1448);
    assert_eq!(run.counter("exchanges_with_gap"), 1);
}

#[test]
fn snapped_and_lying_frames_are_counted() {
    let (complete, broken, run) = split_complete("truncated-frames.pcap");
    assert_complete_match("truncated-frames.pcap", &complete);
    // The POST whose head was cut by the snap length: its response is still paired with it.
    assert_eq!(broken.len(), 1);
    assert_eq!(attr_int(&broken[0], "http.response.status_code"), Some(201));
    assert_eq!(run.counter("packets_snapped"), 4);
    assert_eq!(run.counter("decode_truncated"), 3);
    // The request whose IPv4 length claims more than the frame holds is dropped, as a host
    // would drop it; its response is counted as one without a request.
    assert_eq!(run.counter("decode_malformed"), 1);
    assert_eq!(run.counter("http1_responses_without_request"), 1);
}

/// A small deterministic generator, so failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn a_truncated_file_is_an_error_with_its_offset_and_earlier_spans_survive() {
    let full = std::fs::read(repo("pcaps/http/client-veth.pcap")).expect("pcap");
    let cut = full.len() / 2 + 7;
    let path = tmp("cut.pcap");
    std::fs::write(&path, &full[..cut]).expect("write");
    let run = replay(&[path.clone(), repo("pcaps/http/server-veth.pcap")], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let message = run
        .stderr
        .lines()
        .find(|l| l.contains("cut.pcap"))
        .unwrap_or_else(|| panic!("no error naming the file:\n{}", run.stderr));
    assert!(message.contains("at byte offset"), "{message}");
    assert!(message.contains("truncated"), "{message}");
    let spans = run.spans();
    let from_cut = spans
        .iter()
        .filter(|s| attr_str(s, "wirespan.capture.point").as_deref() == Some("pcap:cut.pcap#0"))
        .count();
    assert!(
        from_cut > 0 && from_cut < 21,
        "spans before the cut are written: {from_cut}"
    );
    let from_next = spans.len() - from_cut;
    assert_eq!(from_next, 21, "the next file is still read whole");
}

#[test]
fn random_bytes_as_a_capture_file_are_a_clear_error() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for (i, len) in [0usize, 3, 24, 100, 4096].into_iter().enumerate() {
        let path = tmp(&format!("random-{i}.pcap"));
        std::fs::write(&path, rng.bytes(len)).expect("write");
        let run = replay(&[path], &[]);
        assert_eq!(run.code, 1, "len {len}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!("random-{i}.pcap")),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
    let missing = replay(&[tmp("does-not-exist.pcap")], &[]);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("cannot open"), "{}", missing.stderr);
}

/// Valid pcap and pcapng framing around random frame bytes, and real frames with random bytes
/// flipped: every decoder layer sees garbage. The run must end normally with the damage counted.
#[test]
fn garbage_frames_never_panic() {
    let mut rng = XorShift(42);
    let mut pcap = Vec::new();
    for (magic, linktype) in [
        (0xa1b2_c3d4u32, 1u32),
        (0xa1b2_3c4d, 113),
        (0xa1b2_c3d4, 276),
        (0xa1b2_c3d4, 101),
    ] {
        pcap.clear();
        pcap.extend_from_slice(&magic.to_le_bytes());
        pcap.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0]);
        pcap.extend_from_slice(&linktype.to_le_bytes());
        for _ in 0..3000 {
            let len = (rng.next() % 200) as usize;
            let mut frame = rng.bytes(len);
            // Make the outer headers plausible often enough to reach the inner decoders.
            if len > 40 && rng.next() % 2 == 0 {
                frame[12] = 0x08;
                frame[13] = 0x00;
                frame[14] = 0x45;
            }
            pcap.extend_from_slice(&(rng.next() as u32 % 100).to_le_bytes());
            pcap.extend_from_slice(&0u32.to_le_bytes());
            pcap.extend_from_slice(&(len as u32).to_le_bytes());
            pcap.extend_from_slice(&(len as u32).to_le_bytes());
            pcap.extend_from_slice(&frame);
        }
        let path = tmp(&format!("garbage-{linktype}.pcap"));
        std::fs::write(&path, &pcap).expect("write");
        let run = replay(&[path], &[]);
        assert_eq!(run.code, 0, "linktype {linktype}: {}", run.stderr);
        assert_eq!(run.counter("packets"), 3000);
    }

    // Real traffic with bytes flipped inside the frames (record headers kept intact).
    let real = std::fs::read(repo("pcaps/tunnels/vxlan-in-qinq.pcap")).expect("pcap");
    let mut damaged = real.clone();
    let mut pos = 24;
    while pos + 16 <= damaged.len() {
        let incl =
            u32::from_le_bytes(damaged[pos + 8..pos + 12].try_into().expect("4 bytes")) as usize;
        let start = pos + 16;
        for _ in 0..3 {
            if incl > 0 {
                let at = start + (rng.next() as usize % incl);
                damaged[at] = rng.next() as u8;
            }
        }
        pos = start + incl;
    }
    let path = tmp("flipped.pcap");
    std::fs::write(&path, &damaged).expect("write");
    let run = replay(&[path], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let original = replay(&[repo("pcaps/tunnels/vxlan-in-qinq.pcap")], &[]);
    assert_eq!(run.counter("packets"), original.counter("packets"));
    assert!(run.spans().len() <= original.spans().len());
}

/// The records of a little-endian pcap: (header+frame bytes) each.
fn pcap_records(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut pos = 24;
    while pos + 16 <= data.len() {
        let incl =
            u32::from_le_bytes(data[pos + 8..pos + 12].try_into().expect("4 bytes")) as usize;
        out.push(&data[pos..pos + 16 + incl]);
        pos += 16 + incl;
    }
    out
}

/// A capture that starts in the middle of keep-alive connections (no SYN, the first calls
/// missing) still gives the later calls, with client and server told apart by content.
#[test]
fn a_capture_that_starts_mid_connection_joins_the_streams() {
    let full_path = repo("pcaps/http/client-veth.pcap");
    let full = std::fs::read(&full_path).expect("pcap");
    let records = pcap_records(&full);
    let full_spans = replay(&[full_path], &[]).spans();
    let key = |s: &Value| {
        (
            s["name"].as_str().unwrap_or_default().to_owned(),
            attr_int(s, "wirespan.tcp.req_seq"),
            attr_int(s, "wirespan.tcp.resp_seq"),
            attr_int(s, "http.response.status_code"),
            attr_int(s, "client.port"),
            attr_int(s, "server.port"),
            s["startTimeUnixNano"].clone(),
            s["endTimeUnixNano"].clone(),
        )
    };
    for skip in [5usize, 17, 40] {
        let mut cut = full[..24].to_vec();
        for r in &records[skip..] {
            cut.extend_from_slice(r);
        }
        let path = tmp(&format!("mid-{skip}.pcap"));
        std::fs::write(&path, &cut).expect("write");
        let run = replay(&[path], &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let spans = run.spans();
        let complete: Vec<_> = spans
            .iter()
            .filter(|s| attr_str(s, "wirespan.incomplete").is_none())
            .map(key)
            .collect();
        let reference: Vec<_> = full_spans.iter().map(key).collect();
        for k in &complete {
            assert!(
                reference.contains(k),
                "skip {skip}: {k:?} is not a call of the full capture"
            );
        }
        // Only the calls that began before the cut may be missing.
        let first_ts = u64::from_le_bytes([
            records[skip][0],
            records[skip][1],
            records[skip][2],
            records[skip][3],
            0,
            0,
            0,
            0,
        ]) * 1_000_000_000
            + u64::from(u32::from_le_bytes(
                records[skip][4..8].try_into().expect("4 bytes"),
            )) * 1000;
        let after_cut = full_spans
            .iter()
            .filter(|s| ns(s, "startTimeUnixNano") >= first_ts)
            .count();
        assert!(
            complete.len() >= after_cut,
            "skip {skip}: {} complete of {after_cut} after the cut",
            complete.len()
        );
    }
}

/// Found by the `capture_file` fuzz target: an IPv4 packet whose UDP header is cut after the
/// length field (6 or 7 bytes) once panicked the decoder. It is a truncated frame.
#[test]
fn a_udp_header_cut_after_its_length_field_is_truncated() {
    let mut pcap = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    pcap.extend_from_slice(&[0, 0, 4, 0, 1, 0, 0, 0]);
    for udp_len in [6u8, 7] {
        let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        frame.extend_from_slice(&[0x45, 0, 0, 20 + udp_len, 0, 0, 0x40, 0, 64, 17, 0, 0]);
        frame.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        frame.extend_from_slice(&[0x30, 0x39, 0x12, 0xb5, 0, 8, 0][..usize::from(udp_len)]);
        for field in [0u32, 0, frame.len() as u32, frame.len() as u32] {
            pcap.extend_from_slice(&field.to_le_bytes());
        }
        pcap.extend_from_slice(&frame);
    }
    let path = tmp("udp-cut.pcap");
    std::fs::write(&path, &pcap).expect("write");
    let run = replay(&[path], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.counter("packets"), 2);
    assert_eq!(run.counter("decode_truncated"), 2);
}

/// `wirespan replay … | head`: the reader of standard output (or of the printed traces on
/// standard error) goes away early. wirespan stops quietly with exit 0, as a Unix filter does,
/// instead of a broken-pipe panic. Both outputs are made longer than a pipe's buffer.
#[test]
fn a_reader_that_goes_away_early_is_a_normal_end() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let shop: Vec<PathBuf> = ["node1-underlay", "node1-veth-frontend", "node2-veth-cart"]
        .iter()
        .map(|f| repo(&format!("pcaps/shop/{f}.pcap")))
        .collect();
    let cases: [(&[&str], bool); 2] = [
        (&["--otel", "pcaps/shop/otlp"], true),
        (&["--print", "--output", "/dev/null"], false),
    ];
    for (extra, on_stdout) in cases {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wirespan"));
        cmd.current_dir(repo("")).arg("replay");
        // Enough passes over the files that either output outgrows a 64 KiB pipe buffer.
        for _ in 0..20 {
            cmd.args(&shop);
        }
        cmd.args(extra);
        let (out, err) = if on_stdout {
            (Stdio::piped(), Stdio::null())
        } else {
            (Stdio::null(), Stdio::piped())
        };
        let mut child = cmd.stdout(out).stderr(err).spawn().expect("wirespan runs");
        let mut head = [0u8; 100];
        let mut pipe: Box<dyn Read> = match (child.stdout.take(), child.stderr.take()) {
            (Some(o), _) => Box::new(o),
            (_, Some(e)) => Box::new(e),
            _ => unreachable!("one output is piped"),
        };
        pipe.read_exact(&mut head).expect("the first bytes");
        drop(pipe);
        let status = child.wait().expect("wirespan exits");
        assert_eq!(status.code(), Some(0), "{extra:?}: exit {status}");
    }
}

//! Requests a strict HTTP/1 parser refuses but real servers answer (pcaps/lenient/: nginx and
//! a lenient application server in network namespaces, gen-lenient.sh). Every answered
//! request gives a span whose method, path and status are what the client sent and the
//! server answered; a request that broke the rules says so, and is counted.

mod common;

use common::*;
use serde_json::Value;

#[test]
fn every_answered_request_gives_a_span_with_what_was_sent() {
    let dir = repo("pcaps/lenient");
    let expected = read_json("pcaps/lenient/lenient.expected.json");
    let expected = expected.as_array().expect("calls");
    let run = replay(&[dir.join("lenient.pcap")], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let spans = run.spans();
    let mut first_payload_seq = std::collections::HashMap::new();
    if tshark().is_some() {
        let rows = tshark_fields(
            &dir.join("lenient.pcap"),
            Some("tcp.len > 0 && (tcp.dstport == 80 || tcp.dstport == 8081)"),
            &["tcp.srcport", "tcp.seq_raw"],
            &[],
        );
        let rows = rows
            .iter()
            .map(|r| (r[0].parse::<i64>(), r[1].parse::<i64>()));
        for (port, seq) in rows.rev() {
            first_payload_seq.insert(port.expect("port"), seq.expect("seq"));
        }
    }
    let mut malformed = 0;
    let mut versionless = 0;
    for call in expected {
        let name = call["name"].as_str().unwrap_or("?");
        assert!(
            call["answered"].as_bool() == Some(true),
            "{name}: unanswered"
        );
        let port = call["client_port"].as_i64();
        let of_call: Vec<&Value> = spans
            .iter()
            .filter(|s| attr_int(s, "client.port") == port)
            .collect();
        assert_eq!(of_call.len(), 1, "{name}: one span per answered request");
        let span = of_call[0];
        assert_eq!(
            attr_str(span, "http.request.method").as_deref(),
            call["method"].as_str(),
            "{name}"
        );
        let path = call["path"].as_str().filter(|p| !p.is_empty());
        assert_eq!(attr_str(span, "url.path").as_deref(), path, "{name}");
        assert_eq!(
            attr_int(span, "http.response.status_code"),
            call["status"].as_i64(),
            "{name}"
        );
        let is_malformed = call["malformed"].as_bool() == Some(true);
        assert_eq!(
            attr_str(span, "wirespan.incomplete").as_deref(),
            is_malformed.then_some("malformed_request"),
            "{name}"
        );
        let is_versionless = call["versionless"].as_bool() == Some(true);
        if is_versionless {
            assert_eq!(
                attr_str(span, "network.protocol.version").as_deref(),
                Some("0.9"),
                "{name}"
            );
            // HTTP/0.9's answer is the body alone: all of it is counted as the body.
            assert_eq!(
                attr_int(span, "http.response.body.size"),
                call["response_bytes"].as_i64(),
                "{name}"
            );
        }
        malformed += u64::from(is_malformed);
        versionless += u64::from(is_versionless);
        // The request starts at the client's first payload byte, also when it came in pieces
        // too short to recognise alone (held until they could be): as tshark numbers it.
        if !first_payload_seq.is_empty() {
            assert_eq!(
                attr_int(span, "wirespan.tcp.req_seq"),
                first_payload_seq.get(&port.unwrap_or(0)).copied(),
                "{name}"
            );
        }
    }
    assert_eq!(spans.len(), expected.len(), "no other span");
    assert_eq!(run.counter("http1_malformed_requests"), malformed);
    assert_eq!(run.counter("http1_versionless_requests"), versionless);
    assert_eq!(run.counter("http1_parse_errors"), 0);
    assert_eq!(run.counter("flows_unrecognised"), 0);
}

/// The same frames as IEEE 802.3 with LLC/SNAP headers (pcaps/encap-more.py) give the same
/// spans, and are counted.
#[test]
fn llc_snap_frames_give_the_same_spans() {
    let comparable = |s: &Value| span_without(s, &["wirespan.capture.point"]);
    let plain = replay(&[repo("pcaps/lenient/lenient.pcap")], &[]);
    let snap = replay(&[repo("pcaps/links/llc-snap.pcap")], &[]);
    assert_eq!(snap.code, 0, "{}", snap.stderr);
    let (a, b) = (plain.spans(), snap.spans());
    assert_eq!(a.len(), b.len());
    for (a, b) in a.iter().zip(&b) {
        assert_eq!(comparable(a), comparable(b));
    }
    assert_eq!(snap.counter("frames_llc_snap"), plain.counter("packets"));
}

//! DNS from a real server (Debian's dnsmasq) and real clients (dnspython, dig, and unbound
//! forwarding with 0x20), plain, inside a real VXLAN overlay and over IPv6, with answers larger
//! than the MTU in IP fragments, captured by pcaps/dns/gen-dns.sh: every query the Python
//! client logged (dns.expected.json) has its span with the question, response code and answer
//! count it got, over UDP and TCP; retransmitted copies are one span; the query nobody
//! answered is a span without response; and every lookup agrees with tshark's dissection.

mod common;

use common::*;
use serde_json::Value;
use std::collections::HashMap;

/// A lookup: transport, client port, id.
type Lookup = (String, i64, i64);

fn lookup_of(span: &Value) -> Lookup {
    (
        attr_str(span, "network.transport").expect("network.transport"),
        attr_int(span, "client.port").expect("client.port"),
        attr_int(span, "wirespan.dns.id").expect("wirespan.dns.id"),
    )
}

fn dns_spans() -> (Run, Vec<Value>) {
    let run = replay(&[repo("pcaps/dns/dns.pcap")], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let spans = run.spans();
    for s in &spans {
        assert_eq!(
            attr_str(s, "network.protocol.name").as_deref(),
            Some("dns"),
            "{s}"
        );
    }
    (run, spans)
}

#[test]
fn every_logged_query_has_its_span_with_what_the_client_got() {
    let (run, spans) = dns_spans();
    let expected = read_json("pcaps/dns/dns.expected.json");
    let records = expected.as_array().expect("records");
    let by_lookup: HashMap<Lookup, &Value> = spans.iter().map(|s| (lookup_of(s), s)).collect();
    assert_eq!(by_lookup.len(), spans.len(), "one span per lookup");
    let (mut copies, mut copy_answers) = (0, 0);
    for r in records {
        let key = (
            r["transport"].as_str().expect("transport").to_owned(),
            r["client_port"].as_i64().expect("client_port"),
            r["id"].as_i64().expect("id"),
        );
        let span = by_lookup
            .get(&key)
            .unwrap_or_else(|| panic!("no span for {r}"));
        assert_eq!(
            attr_str(span, "dns.question.name").as_deref(),
            r["qname"].as_str(),
            "{r}"
        );
        assert_eq!(
            attr_str(span, "dns.question.type").as_deref(),
            r["qtype"].as_str(),
            "{r}"
        );
        assert_eq!(
            attr_str(span, "server.address").as_deref(),
            r["server"].as_str(),
            "{r}"
        );
        assert_eq!(
            attr_int(span, "server.port"),
            r["server_port"].as_i64(),
            "{r}"
        );
        assert_eq!(
            span["name"].as_str(),
            Some(
                format!(
                    "{} {}",
                    r["qtype"].as_str().unwrap(),
                    r["qname"].as_str().unwrap()
                )
                .as_str()
            )
        );
        assert_eq!(
            attr(span, "wirespan.dns.edns").is_some(),
            r["edns"].as_bool().expect("edns"),
            "{r}"
        );
        let tunnelled = attr_str(span, "wirespan.tunnel");
        match r["path"].as_str() {
            Some("vxlan") => assert!(
                tunnelled
                    .as_deref()
                    .is_some_and(|t| t.starts_with("vxlan:4242,")),
                "{r}: {tunnelled:?}"
            ),
            _ => assert_eq!(tunnelled, None, "{r}"),
        }
        let answered = r["outcome"] == "answered";
        assert_eq!(
            attr_str(span, "dns.response.code").as_deref(),
            r["rcode"].as_str(),
            "{r}"
        );
        assert_eq!(
            attr_int(span, "dns.answers.count"),
            r["answers"].as_i64(),
            "{r}"
        );
        assert_eq!(
            attr(span, "wirespan.dns.truncated").is_some(),
            r["truncated"].as_bool() == Some(true),
            "{r}"
        );
        let failed = !answered || !matches!(r["rcode"].as_str(), Some("NOERROR" | "NXDOMAIN"));
        assert_eq!(span["status"]["code"] == 2, failed, "{r}: {span}");
        assert_eq!(
            attr_str(span, "wirespan.incomplete").as_deref(),
            (!answered).then_some("no_response"),
            "{r}"
        );
        // The capture saw the lookup between the client's first send and its last receive.
        let (start, end) = (ns(span, "startTimeUnixNano"), ns(span, "endTimeUnixNano"));
        let slack = 1_000_000;
        assert!(
            start + slack >= r["start_ns"].as_u64().unwrap(),
            "{r}: {start}"
        );
        assert!(end <= r["end_ns"].as_u64().unwrap() + slack, "{r}: {end}");
        assert!(start <= end, "{r}");
        let sent = r["sent"].as_u64().expect("sent");
        copies += sent - 1;
        if answered {
            copy_answers += r["answers_received"].as_u64().expect("answers_received") - 1;
        } else {
            // Every copy was seen before the give-up: they are the span's.
            assert_eq!(
                attr_int(span, "wirespan.dns.retransmits"),
                Some(sent as i64 - 1)
            );
        }
    }
    assert!(
        copies > 0 && copy_answers > 0,
        "the capture has retransmissions"
    );
    assert_eq!(run.counter("dns_retransmits"), copies);
    assert_eq!(run.counter("dns_answers_duplicate"), copy_answers);
    assert_eq!(run.counter("dns_answers_unmatched"), 0);
    assert_eq!(run.counter("dns_parse_errors"), 0);
    // The query nobody answered ended with the capture, before the timeout.
    assert_eq!(run.counter("dns_queries_unanswered"), 1);
    // Both transports, and the overlay, are in the log.
    for want in ["udp", "tcp"] {
        assert!(records.iter().any(|r| r["transport"] == want), "{want}");
    }
    assert!(records.iter().any(|r| r["path"] == "vxlan"));
    // IPv6, and answers larger than the MTU that came in IP fragments on every path (plain,
    // inside the tunnel, IPv6): rebuilt, then paired like the rest (checked above).
    assert!(records.iter().any(|r| r["path"] == "ipv6"));
    let fragmented = records
        .iter()
        .filter(|r| r["qname"] == "huge.svc.test" && r["outcome"] == "answered")
        .count();
    assert_eq!(fragmented, 3);
    assert_eq!(run.counter("ip_reassembled"), 3);
    assert_eq!(run.counter("ip_fragments_dropped"), 0);
}

fn rcode_name(code: &str) -> &str {
    match code {
        "0" => "NOERROR",
        "1" => "FORMERR",
        "2" => "SERVFAIL",
        "3" => "NXDOMAIN",
        "4" => "NOTIMP",
        "5" => "REFUSED",
        other => other,
    }
}

fn last(field: &str) -> &str {
    field.rsplit(',').next().unwrap_or(field)
}

/// What tshark's dissection says of each lookup (dig's included): the question of its query,
/// the response code and answer count of its first answer.
#[derive(Debug, Default, PartialEq)]
struct Dissected {
    name: String,
    qtype: String,
    answer: Option<(String, i64)>,
}

#[test]
fn every_lookup_agrees_with_tshark() {
    let Some(_) = tshark() else { return };
    let (_, spans) = dns_spans();
    let rows = tshark_fields(
        &repo("pcaps/dns/dns.pcap"),
        Some("dns"),
        &[
            "udp.srcport",
            "udp.dstport",
            "tcp.srcport",
            "tcp.dstport",
            "dns.id",
            "dns.flags.response",
            "dns.qry.name",
            "dns.qry.type",
            "dns.flags.rcode",
            "dns.count.answers",
        ],
        &[],
    );
    let mut lookups: HashMap<Lookup, Dissected> = HashMap::new();
    for row in &rows {
        let tcp = !row[2].is_empty();
        let (transport, src, dst) = if tcp {
            ("tcp", last(&row[2]), last(&row[3]))
        } else {
            ("udp", last(&row[0]), last(&row[1]))
        };
        let list = |i: usize| row[i].split(',').collect::<Vec<_>>();
        let (ids, responses, names, types, rcodes, counts) =
            (list(4), list(5), list(6), list(7), list(8), list(9));
        // A TCP segment may carry several messages: each field lists one value per message.
        for m in 0..ids.len() {
            let response = responses[m] == "True" || responses[m] == "1";
            let port = if response { dst } else { src };
            let id = i64::from_str_radix(ids[m].trim_start_matches("0x"), 16).expect("id");
            let key = (transport.to_owned(), port.parse().expect("port"), id);
            let entry = lookups.entry(key).or_default();
            if response {
                entry
                    .answer
                    .get_or_insert((rcode_name(rcodes[m]).to_owned(), counts[m].parse().unwrap()));
            } else {
                entry.name = names[m].to_owned();
                entry.qtype = types[m].to_owned();
            }
        }
    }
    assert!(lookups.len() >= 40, "{} lookups", lookups.len());
    let type_number = |t: &str| match t {
        "A" => "1",
        "AAAA" => "28",
        "TXT" => "16",
        "MX" => "15",
        "SRV" => "33",
        "PTR" => "12",
        other => panic!("type {other}"),
    };
    let mut seen = 0;
    for s in &spans {
        let key = lookup_of(s);
        let d = lookups
            .get(&key)
            .unwrap_or_else(|| panic!("tshark has no lookup {key:?}"));
        let qtype = attr_str(s, "dns.question.type").unwrap();
        assert_eq!(
            attr_str(s, "dns.question.name").as_deref(),
            Some(d.name.as_str()),
            "{key:?}"
        );
        assert_eq!(type_number(&qtype), d.qtype, "{key:?}");
        let answer = attr_str(s, "dns.response.code")
            .map(|code| (code, attr_int(s, "dns.answers.count").unwrap()));
        assert_eq!(answer, d.answer, "{key:?}");
        seen += 1;
    }
    assert_eq!(seen, lookups.len(), "a span for every lookup tshark found");
    // unbound randomises the case of the names it forwards (0x20): answered all the same, each
    // span with the name as it was sent.
    let mixed: Vec<&Value> = spans
        .iter()
        .filter(|s| attr_str(s, "dns.question.name").is_some_and(|n| n != n.to_lowercase()))
        .collect();
    assert_eq!(mixed.len(), 5);
    assert!(mixed
        .iter()
        .all(|s| attr_str(s, "dns.response.code").is_some()));
}

/// `--dns-port` replaces the UDP ports read as DNS: on another port the capture's datagrams are
/// counted as UDP nobody reads, while DNS over TCP is still recognised by its bytes.
#[test]
fn dns_port_chooses_the_udp_ports_read() {
    let pcap = repo("pcaps/dns/dns.pcap");
    let default = replay(std::slice::from_ref(&pcap), &[]);
    let elsewhere = replay(std::slice::from_ref(&pcap), &["--dns-port", "5353"]);
    assert_eq!(elsewhere.code, 0, "{}", elsewhere.stderr);
    let datagrams = default.counter("dns_datagrams");
    assert!(datagrams > 0);
    assert_eq!(elsewhere.counter("dns_datagrams"), 0);
    assert_eq!(elsewhere.counter("skipped_udp"), datagrams);
    let tcp = |run: &Run| {
        run.spans()
            .iter()
            .filter(|s| attr_str(s, "network.transport").as_deref() == Some("tcp"))
            .count()
    };
    assert!(tcp(&default) > 0);
    assert_eq!(tcp(&elsewhere), tcp(&default));
    assert_eq!(elsewhere.spans().len(), tcp(&default));
    let both = replay(&[pcap], &["--dns-port", "5353", "--dns-port", "53"]);
    assert_eq!(both.spans(), default.spans());
}

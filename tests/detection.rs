//! Protocol detection on traffic that is not what a probe first took it for: a guess the
//! stream contradicts gives no span, and is counted.

mod common;

use common::*;
use std::process::Command;

/// A real PostgreSQL 15 conversation (psql, then psycopg 3 with the extended protocol;
/// pcaps/pgsql/gen-pgsql.sh). psycopg's `Q` + length 10 + "BEGIN" once read as a MySQL greeting
/// and gave a `COM_UNKNOWN` span: every connection is PostgreSQL's now, none MySQL's, and none
/// is left unrecognised.
#[test]
fn a_postgresql_conversation_is_read_as_postgresql_never_mysql() {
    let pcap = repo("pcaps/pgsql/psycopg.pcap");
    let run = replay(std::slice::from_ref(&pcap), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let spans = run.spans();
    assert!(!spans.is_empty(), "{}", run.stderr);
    for s in &spans {
        assert_eq!(
            attr_str(s, "db.system").as_deref(),
            Some("postgresql"),
            "{s}"
        );
    }
    assert_eq!(run.counter("mysql_packets"), 0);
    assert_eq!(run.counter("http1_exchanges"), 0);
    assert_eq!(run.counter("flows_unrecognised"), 0);
    let Some(tshark) = tshark() else { return };
    let out = Command::new(tshark)
        .args([
            "-r",
            &pcap.to_string_lossy(),
            "-Y",
            "tcp.flags.syn == 1 && tcp.flags.ack == 0",
        ])
        .args(["-T", "fields", "-e", "tcp.stream"])
        .output()
        .expect("tshark");
    let connections = String::from_utf8_lossy(&out.stdout).lines().count();
    assert!(connections >= 2, "psql and psycopg");
    let logins = spans
        .iter()
        .filter(|s| attr_str(s, "wirespan.pgsql.command").as_deref() == Some("CONNECT"))
        .count();
    assert_eq!(logins, connections);
}

/// A connection whose handshake says who the client is: a MySQL greeting or an HTTP response
/// sent by the client is not taken, and the stream stays unrecognised.
#[test]
fn a_protocol_the_wrong_side_spoke_is_refused() {
    let path =
        std::env::temp_dir().join(format!("wirespan-wrong-side-{}.pcap", std::process::id()));
    let (client, server) = ([10, 4, 0, 1], [10, 4, 0, 2]);
    let mut greeting = vec![0x0a];
    greeting.extend_from_slice(b"10.11.6-MariaDB\0");
    greeting.extend_from_slice(&[0u8; 40]);
    let mut mysql_shaped = (greeting.len() as u32).to_le_bytes()[..3].to_vec();
    mysql_shaped.push(0);
    mysql_shaped.extend_from_slice(&greeting);
    let http_response: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let mut frames = Vec::new();
    for (port, first) in [(40000u16, &mysql_shaped[..]), (40001, http_response)] {
        frames.extend([
            tcp_frame(client, port, server, 9999, 100, 0x02, &[]),
            tcp_frame(server, 9999, client, port, 700, 0x12, &[]),
            tcp_frame(client, port, server, 9999, 101, 0x10, &[]),
            tcp_frame(client, port, server, 9999, 101, 0x18, first),
            tcp_frame(
                client,
                port,
                server,
                9999,
                101 + first.len() as u32,
                0x11,
                &[],
            ),
            tcp_frame(server, 9999, client, port, 701, 0x11, &[]),
        ]);
    }
    write_pcap(&path, frames.into_iter(), 10);
    let run = replay(std::slice::from_ref(&path), &[]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.spans().is_empty(), "{}", run.stderr);
    assert_eq!(run.counter("detect_rejected_wrong_side"), 2);
    assert_eq!(run.counter("flows_unrecognised"), 2);
}

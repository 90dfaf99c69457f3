//! Resource limits that must hold under attack: a SYN flood of a million flows, a stream of
//! endless out-of-order segments, an endless HTTP header. Each run must end normally, count
//! what it refused, and stay within its memory bound (the child's peak RSS, from getrusage).

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

/// Runs `wirespan replay FILE --stats extra…` and returns (stderr, peak RSS of the child in KiB).
fn replay_rss(file: &Path, extra: &[&str]) -> (String, i64) {
    let out = Command::new(env!("CARGO_BIN_EXE_wirespan"))
        .arg("replay")
        .arg(file)
        .args(["-o", "/dev/null", "--stats"])
        .args(extra)
        .output()
        .expect("run wirespan");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    // SAFETY: getrusage fills the struct; RUSAGE_CHILDREN covers waited-for children.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe {
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
    }
    eprintln!(
        "{}: peak RSS of children so far {} KiB",
        file.display(),
        usage.ru_maxrss
    );
    (stderr, usage.ru_maxrss)
}

/// A million SYNs from distinct ports: the table holds at most --max-flows, refuses the rest
/// (counted), and the process stays small. The capture file itself is mapped: 84 MB of it.
#[test]
fn a_syn_flood_of_a_million_flows_stays_bounded() {
    let path = tmp("synflood.pcap");
    let frames = (0..1_000_000u32).map(|i| {
        let src = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        tcp_frame(
            src,
            40_000 + (i % 20_000) as u16,
            [10, 255, 0, 1],
            80,
            i,
            0x02,
            &[],
        )
    });
    write_pcap(&path, frames, 1);
    let (stderr, rss_kib) = replay_rss(&path, &["--max-flows", "50000"]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(counter(&stderr, "packets"), 1_000_000);
    assert_eq!(counter(&stderr, "flows_created"), 50_000);
    assert_eq!(counter(&stderr, "flows_dropped_table_full"), 950_000);
    // 84 MB of mapped capture + 50 000 flows; far below what a million flows would take.
    assert!(rss_kib < 200 * 1024, "peak RSS {rss_kib} KiB");
}

/// One connection whose segments all arrive ahead of a hole that never fills, and one whose
/// request head never ends: both stay within the per-flow buffers.
#[test]
fn endless_out_of_order_data_and_an_endless_header_stay_bounded() {
    let path = tmp("ooo.pcap");
    let client = [10, 1, 0, 1];
    let server = [10, 1, 0, 2];
    let chunk = vec![b'x'; 1400];
    let frames = std::iter::once(tcp_frame(client, 5000, server, 80, 0, 0x02, &[]))
        .chain(std::iter::once(tcp_frame(
            client,
            5000,
            server,
            80,
            1,
            0x18,
            b"GET / HTTP/1.1\r\n",
        )))
        // 70 MB, each segment 1400 bytes past a 100-byte hole that never comes.
        .chain(
            (0..50_000u32)
                .map(|i| tcp_frame(client, 5000, server, 80, 117 + 100 + i * 1400, 0x18, &chunk)),
        )
        // Another connection: a header line that goes on for 35 MB.
        .chain(std::iter::once(tcp_frame(
            client,
            5001,
            server,
            80,
            0,
            0x02,
            &[],
        )))
        .chain(std::iter::once(tcp_frame(
            client,
            5001,
            server,
            80,
            1,
            0x18,
            b"GET / HTTP/1.1\r\nX-Long: ",
        )))
        .chain(
            (0..25_000u32)
                .map(|i| tcp_frame(client, 5001, server, 80, 25 + i * 1400, 0x18, &chunk)),
        );
    write_pcap(&path, frames, 10);
    let (stderr, rss_kib) = replay_rss(&path, &["--max-reassembly-bytes", "1048576"]);
    let _ = std::fs::remove_file(&path);
    assert!(counter(&stderr, "tcp_reassembly_overflow") > 0);
    assert!(counter(&stderr, "tcp_gaps") > 0);
    assert_eq!(counter(&stderr, "http1_head_too_large"), 1, "{stderr}");
    // ~110 MB of mapped capture, 1 MiB of reassembly buffer, 64 KiB of head buffer.
    assert!(rss_kib < 200 * 1024, "peak RSS {rss_kib} KiB");
}

/// Pure ACKs of connections never seen open no flows; connections that close leave only a
/// 16-byte key behind while they linger, and when that table is full the closes beyond it
/// are forgotten: counted, and their trailing ACKs still open nothing.
#[test]
fn acks_of_unknown_connections_and_closed_ones_open_no_flows() {
    let path = tmp("churn.pcap");
    let (client, server) = ([10, 2, 0, 1], [10, 2, 0, 2]);
    const CONNECTIONS: u32 = 5_000;
    const STRAY_ACKS: u32 = 100_000;
    let request: &[u8] = b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
    let response: &[u8] = b"HTTP/1.1 204 No Content\r\n\r\n";
    let (req_len, resp_len) = (request.len() as u32, response.len() as u32);
    let connections = (0..CONNECTIONS).flat_map(move |i| {
        let port = 20_000 + i as u16;
        [
            tcp_frame(client, port, server, 80, 1000, 0x02, &[]),
            tcp_frame(server, 80, client, port, 5000, 0x12, &[]),
            tcp_frame(client, port, server, 80, 1001, 0x10, &[]),
            tcp_frame(client, port, server, 80, 1001, 0x18, request),
            tcp_frame(server, 80, client, port, 5001, 0x18, response),
            tcp_frame(client, port, server, 80, 1001 + req_len, 0x11, &[]),
            tcp_frame(server, 80, client, port, 5001 + resp_len, 0x11, &[]),
            tcp_frame(client, port, server, 80, 1002 + req_len, 0x10, &[]),
        ]
    });
    let stray = (0..STRAY_ACKS).map(|i| {
        let src = [10, 3, (i >> 8) as u8, i as u8];
        tcp_frame(src, 30_000, server, 80, i, 0x10, &[])
    });
    write_pcap(&path, connections.chain(stray), 1);
    let (stderr, _) = replay_rss(&path, &["--max-flows", "1000"]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(counter(&stderr, "flows_created"), u64::from(CONNECTIONS));
    assert_eq!(counter(&stderr, "flows_closed"), u64::from(CONNECTIONS));
    assert_eq!(counter(&stderr, "spans"), u64::from(CONNECTIONS));
    assert_eq!(counter(&stderr, "flows_dropped_table_full"), 0);
    // 140 ms of capture, no periodic sweep: the table of closed ones keeps its first 1000.
    let forgotten = u64::from(CONNECTIONS) - 1000;
    assert_eq!(counter(&stderr, "flows_closed_forgotten"), forgotten);
    assert_eq!(counter(&stderr, "tcp_segments_after_close"), 1000);
    assert_eq!(
        counter(&stderr, "tcp_segments_without_flow"),
        forgotten + u64::from(STRAY_ACKS)
    );
}

/// Bytes too short to recognise are held for the next piece, up to 256 per direction: a
/// stream of one-byte segments nobody's probe takes is let go at the bound, counted, and
/// gives no span; the same request written one byte at a time is still recognised.
#[test]
fn held_detection_bytes_are_bounded_and_counted() {
    let path = tmp("held.pcap");
    let (client, server) = ([10, 1, 0, 1], [10, 1, 0, 2]);
    let noise = (0..600u32).map(|i| tcp_frame(client, 5100, server, 9999, 1 + i, 0x18, b"~"));
    let request = b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n";
    let response = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let one_by_one = request
        .iter()
        .enumerate()
        .map(|(i, b)| tcp_frame(client, 5101, server, 8080, 1 + i as u32, 0x18, &[*b]));
    let frames = std::iter::once(tcp_frame(client, 5100, server, 9999, 0, 0x02, &[]))
        .chain(noise)
        .chain(std::iter::once(tcp_frame(
            client,
            5101,
            server,
            8080,
            0,
            0x02,
            &[],
        )))
        .chain(one_by_one)
        .chain(std::iter::once(tcp_frame(
            server, 8080, client, 5101, 1, 0x18, response,
        )));
    write_pcap(&path, frames, 10);
    let run = replay(std::slice::from_ref(&path), &[]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.counter("detect_held_bytes_given_up") >= 1,
        "{}",
        run.stderr
    );
    let spans = run.spans();
    assert_eq!(spans.len(), 1, "{}", run.stderr);
    assert_eq!(attr_str(&spans[0], "url.path").as_deref(), Some("/one"));
}

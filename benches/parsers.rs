//! Protocol parser throughput in bytes/s: the TCP payloads of a bundled capture, already in
//! order, fed straight to the parser that `protocol::detect` picks (no decode, no flow table).
//!
//! `cargo bench --bench parsers`: HTTP/1 (pcaps/http), HTTP/2 + gRPC (pcaps/grpc), MySQL
//! (pcaps/mysql) client-side captures, PostgreSQL (pcaps/pgsql), Redis (pcaps/redis) and DNS
//! (pcaps/dns: its TCP connections through the parser, its datagrams through the datagram
//! table that pairs them).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::net::IpAddr;
use std::path::Path;
use wirespan::capture::{CaptureFile, CapturePoints};
use wirespan::decode::{decode, DecodeConfig, Decoded, Encap, UdpDatagram};
use wirespan::flow::{DatagramLimits, DatagramTable};
use wirespan::protocol::{detect, Direction, SegmentMeta};
use wirespan::stats::Counters;

/// One connection's payloads in capture order: (direction, sequence number, bytes).
type Stream = Vec<(Direction, u32, Vec<u8>)>;

/// The payload-carrying segments of the capture's connection to `server_port`, by direction.
fn connection_payloads(path: &Path, server_port: u16) -> Vec<Stream> {
    let file = CaptureFile::open(path).expect("bench capture");
    let mut points = CapturePoints::default();
    let mut reader = file.packets(&mut points).expect("readable");
    let cfg = DecodeConfig::default();
    let mut encap = Encap::default();
    let mut streams: Vec<((IpAddr, u16), Stream)> = Vec::new();
    while let Ok(Some(p)) = reader.next_packet(&mut points) {
        let Decoded::Tcp(seg) = decode(p.link, p.data, false, &cfg, &mut encap) else {
            continue;
        };
        if seg.payload.is_empty() {
            continue;
        }
        let (client, dir) = if seg.dst_port == server_port {
            ((seg.src, seg.src_port), Direction::ToServer)
        } else if seg.src_port == server_port {
            ((seg.dst, seg.dst_port), Direction::ToClient)
        } else {
            continue;
        };
        let entry = match streams.iter().position(|(c, _)| *c == client) {
            Some(i) => &mut streams[i].1,
            None => {
                streams.push((client, Vec::new()));
                &mut streams.last_mut().expect("just pushed").1
            }
        };
        entry.push((dir, seg.seq, seg.payload.to_vec()));
    }
    streams.into_iter().map(|(_, s)| s).collect()
}

fn bench_protocol(c: &mut Criterion, name: &str, file: &str, port: u16) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    if !path.exists() {
        eprintln!("{name}: {file} is missing; regenerate it (pcaps/README.md)");
        return;
    }
    let streams = connection_payloads(&path, port);
    let bytes: u64 = streams
        .iter()
        .flatten()
        .map(|(_, _, p)| p.len() as u64)
        .sum();
    let mut g = c.benchmark_group(format!("parse/{name}"));
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function(file, |b| {
        b.iter(|| {
            let mut out = Vec::new();
            let mut stats = Counters::default();
            for stream in &streams {
                let Some(first) = stream.first() else {
                    continue;
                };
                let Some((mut parser, _)) = detect(&first.2) else {
                    continue;
                };
                for (i, (dir, seq, payload)) in stream.iter().enumerate() {
                    let meta = SegmentMeta {
                        ts_ns: i as u64,
                        seq: *seq,
                        ack: 0,
                    };
                    parser.on_data(*dir, payload, meta, &mut out, &mut stats);
                }
                parser.on_close(&mut out, &mut stats);
            }
            black_box(out.len())
        })
    });
    g.finish();
}

/// The DNS datagrams of a capture (payload, from the server?), in capture order, through the
/// datagram table: message reading and pairing, no spans built.
fn bench_dns_datagrams(c: &mut Criterion, file: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let Ok(capture) = CaptureFile::open(&path) else {
        eprintln!("dns: {file} is missing; regenerate it (pcaps/README.md)");
        return;
    };
    let mut points = CapturePoints::default();
    let mut reader = capture.packets(&mut points).expect("readable");
    let cfg = DecodeConfig::default();
    let mut encap = Encap::default();
    let mut datagrams: Vec<(IpAddr, u16, IpAddr, u16, Vec<u8>)> = Vec::new();
    while let Ok(Some(p)) = reader.next_packet(&mut points) {
        if let Decoded::Udp(d) = decode(p.link, p.data, false, &cfg, &mut encap) {
            if d.src_port == 53 || d.dst_port == 53 {
                datagrams.push((d.src, d.src_port, d.dst, d.dst_port, d.payload.to_vec()));
            }
        }
    }
    let point = points.intern("bench");
    let bytes: u64 = datagrams.iter().map(|d| d.4.len() as u64).sum();
    let mut g = c.benchmark_group("parse/dns-udp");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function(file, |b| {
        b.iter(|| {
            let mut table = DatagramTable::new(DatagramLimits::default());
            let mut stats = Counters::default();
            let mut exchanges = 0u64;
            let encap = Encap::default();
            for (i, (src, src_port, dst, dst_port, payload)) in datagrams.iter().enumerate() {
                let dgram = UdpDatagram {
                    src: *src,
                    dst: *dst,
                    src_port: *src_port,
                    dst_port: *dst_port,
                    ttl: 64,
                    payload,
                    missing_tail: 0,
                };
                table.dns(
                    point,
                    i as u64 * 1000,
                    &encap,
                    &dgram,
                    &points,
                    &mut stats,
                    &mut |_, _| exchanges += 1,
                );
            }
            table.flush(&points, &mut stats, &mut |_, _| exchanges += 1);
            black_box(exchanges)
        })
    });
    g.finish();
}

/// TLS records through the key log's decryption: 16 KiB TLS 1.3 application-data records (the
/// largest a sender makes, so the AEAD's cost dominates) opened one after another as one
/// direction of a connection reads them, per AEAD suite. The records are sealed here with the
/// same RustCrypto ciphers; bytes/s is plaintext.
fn bench_tls_decrypt(c: &mut Criterion) {
    use aes_gcm::aead::{AeadInOut, KeyInit};
    use wirespan::protocol::tls::decrypt::{tls13_traffic_keys, RecordDecryptor};
    use wirespan::protocol::tls::names::{Aead, Hash};
    const RECORD: usize = 16 * 1024;
    const RECORDS: u64 = 64;
    let mut g = c.benchmark_group("parse/tls-decrypt");
    g.throughput(Throughput::Bytes(RECORD as u64 * RECORDS));
    for (name, aead, suite, hash) in [
        ("aes-128-gcm", Aead::Aes128Gcm, 0x1301, Hash::Sha256),
        ("aes-256-gcm", Aead::Aes256Gcm, 0x1302, Hash::Sha384),
        (
            "chacha20-poly1305",
            Aead::Chacha20Poly1305,
            0x1303,
            Hash::Sha256,
        ),
    ] {
        let secret = vec![0x11u8; hash.output_len()];
        let Ok(keys) = tls13_traffic_keys(aead, hash, &secret) else {
            panic!("traffic keys");
        };
        let mut inner = vec![0xabu8; RECORD];
        inner.push(23);
        let records: Vec<Vec<u8>> = (0..RECORDS)
            .map(|seq| {
                let len = inner.len() + 16;
                let mut record = vec![23, 3, 3, (len >> 8) as u8, len as u8];
                let mut nonce = [0u8; 12];
                nonce.copy_from_slice(keys.iv());
                for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
                    *n ^= s;
                }
                let mut buf = inner.clone();
                let aad = record.clone();
                let nonce = nonce.into();
                let tag = match aead {
                    Aead::Aes128Gcm => aes_gcm::Aes128Gcm::new_from_slice(keys.key())
                        .expect("key")
                        .encrypt_inout_detached(&nonce, &aad, buf.as_mut_slice().into()),
                    Aead::Aes256Gcm => aes_gcm::Aes256Gcm::new_from_slice(keys.key())
                        .expect("key")
                        .encrypt_inout_detached(&nonce, &aad, buf.as_mut_slice().into()),
                    Aead::Chacha20Poly1305 => {
                        chacha20poly1305::ChaCha20Poly1305::new_from_slice(keys.key())
                            .expect("key")
                            .encrypt_inout_detached(&nonce, &aad, buf.as_mut_slice().into())
                    }
                }
                .expect("seal");
                record.extend_from_slice(&buf);
                record.extend_from_slice(&tag);
                record
            })
            .collect();
        let mut out = Vec::with_capacity(RECORD + 64);
        g.bench_function(name, |b| {
            b.iter(|| {
                let Ok(mut d) = RecordDecryptor::tls13(suite, &secret) else {
                    panic!("decryptor");
                };
                for r in &records {
                    out.clear();
                    let mut header = [0u8; 5];
                    header.copy_from_slice(&r[..5]);
                    d.open(&header, &r[5..], &mut out).expect("open");
                }
                out.len()
            })
        });
    }
    g.finish();
}

fn parsers(c: &mut Criterion) {
    bench_protocol(c, "http1", "pcaps/http/client-veth.pcap", 80);
    bench_protocol(c, "http2-grpc", "pcaps/grpc/client-veth.pcap", 50051);
    bench_protocol(c, "mysql", "pcaps/mysql/client-veth.pcap", 3306);
    bench_protocol(c, "pgsql", "pcaps/pgsql/psycopg.pcap", 5432);
    bench_protocol(c, "redis", "pcaps/redis/redis.pcap", 6379);
    bench_protocol(c, "dns-tcp", "pcaps/dns/dns.pcap", 53);
    bench_dns_datagrams(c, "pcaps/dns/dns.pcap");
    bench_protocol(c, "tls-handshake", "pcaps/tls/tls.pcap", 8443);
    bench_tls_decrypt(c);
}

criterion_group!(benches, parsers);
criterion_main!(benches);

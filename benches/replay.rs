//! Decode and full-replay throughput on a bundled capture, as packets/s and bytes/s.
//!
//! `cargo bench --bench replay`; the capture is pcaps/http/underlay-vxlan.pcap (real nginx
//! traffic inside VXLAN), or the file named by `WIRESPAN_BENCH_PCAP`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::path::PathBuf;
use wirespan::capture::{CaptureFile, CapturePoints, LinkType};
use wirespan::decode::{decode, DecodeConfig, Decoded, Encap};
use wirespan::pipeline::{Pipeline, PipelineConfig};

fn bench_file() -> PathBuf {
    std::env::var_os("WIRESPAN_BENCH_PCAP")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pcaps/http/underlay-vxlan.pcap")
        })
}

/// The frames of the file, copied once so the bench measures decoding, not file reading.
fn frames(file: &CaptureFile) -> Vec<(LinkType, Vec<u8>)> {
    let mut points = CapturePoints::default();
    let mut reader = file.packets(&mut points).expect("readable capture");
    let mut out = Vec::new();
    while let Ok(Some(p)) = reader.next_packet(&mut points) {
        out.push((p.link, p.data.to_vec()));
    }
    out
}

fn bench(c: &mut Criterion) {
    let path = bench_file();
    let file = CaptureFile::open(&path).expect("bench capture");
    let frames = frames(&file);
    let packets = frames.len() as u64;
    let bytes: u64 = frames.iter().map(|(_, f)| f.len() as u64).sum();
    let cfg = DecodeConfig::default();

    for (label, throughput) in [
        ("packets", Throughput::Elements(packets)),
        ("bytes", Throughput::Bytes(bytes)),
    ] {
        let mut g = c.benchmark_group(format!("decode/{label}"));
        g.throughput(throughput);
        g.bench_function(file.name.as_str(), |b| {
            let mut encap = Encap::default();
            b.iter(|| {
                let mut tcp = 0u32;
                for (link, f) in &frames {
                    if let Decoded::Tcp(seg) = decode(*link, f, false, &cfg, &mut encap) {
                        tcp += seg.payload.len() as u32;
                    }
                }
                black_box(tcp)
            })
        });
        g.finish();
    }

    for (label, throughput) in [
        ("packets", Throughput::Elements(packets)),
        ("bytes", Throughput::Bytes(bytes)),
    ] {
        let mut g = c.benchmark_group(format!("replay/{label}"));
        g.throughput(throughput);
        g.bench_function(file.name.as_str(), |b| {
            b.iter(|| {
                let mut pipeline = Pipeline::new(PipelineConfig::default());
                let mut spans = 0u64;
                let result = pipeline.replay_file(&path, &mut |s| {
                    black_box(&s);
                    spans += 1;
                    Ok(())
                });
                assert!(matches!(result, Ok(Ok(()))));
                black_box(spans)
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

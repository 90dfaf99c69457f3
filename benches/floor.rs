//! The read floor: the cheapest pass over a capture file — map it and walk every record, as
//! `wirespan replay` does before any decoding. `benches/compare.sh` runs it beside wirespan.
//!
//! `cargo bench --bench floor -- FILE…` prints `FILE packets bytes seconds` per file (one
//! pass; `benches/compare.sh` times the whole process, as it times wirespan's).

use std::hint::black_box;
use std::time::Instant;
use wirespan::capture::{CaptureFile, CapturePoints};

fn main() {
    for arg in std::env::args().skip(1).filter(|a| !a.starts_with("--")) {
        let started = Instant::now();
        let file = match CaptureFile::open(arg.as_ref()) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        let mut points = CapturePoints::default();
        let (mut packets, mut bytes) = (0u64, 0u64);
        if let Ok(mut reader) = file.packets(&mut points) {
            while let Ok(Some(p)) = reader.next_packet(&mut points) {
                packets += 1;
                bytes += p.data.len() as u64;
                // Touch the frame's first byte, as any decoder must.
                black_box(p.data.first());
            }
        }
        let took = started.elapsed().as_secs_f64();
        println!("{arg} {packets} {bytes} {took:.6}");
    }
}

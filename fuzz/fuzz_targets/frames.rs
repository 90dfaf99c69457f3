//! Arbitrary frames through the whole pipeline: decode, defragmentation, the flow table,
//! reassembly and every protocol parser. Input: one link-type byte, then frames, each as a
//! two-byte big-endian length and its bytes, 1 ms apart.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wirespan::capture::{LinkType, RawPacket};
use wirespan::pipeline::{Pipeline, PipelineConfig};

const LINKS: [u32; 6] = [1, 113, 276, 101, 0, 108];

fuzz_target!(|data: &[u8]| {
    let Some((&link, mut rest)) = data.split_first() else {
        return;
    };
    let mut pipeline = Pipeline::new(PipelineConfig::default());
    let point = pipeline.points.intern("fuzz");
    let link = LinkType::from_linktype(LINKS[usize::from(link) % LINKS.len()]);
    let mut ts_ns = 1_700_000_000_000_000_000u64;
    while let [hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (frame, next) = tail.split_at(len);
        pipeline.packet(&RawPacket {
            ts_ns,
            link,
            point,
            wire_len: len as u32,
            data: frame,
        });
        pipeline.take_spans().for_each(drop);
        ts_ns += 1_000_000;
        rest = next;
    }
    pipeline.flush();
    pipeline.take_spans().for_each(drop);
});

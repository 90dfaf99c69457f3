//! Arbitrary capture files, pcap or pcapng, replayed through the real entry point: the file is
//! written to /dev/shm and mapped, as `wirespan replay` maps its input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use wirespan::pipeline::{Pipeline, PipelineConfig};

fuzz_target!(|data: &[u8]| {
    let path = PathBuf::from(format!(
        "/dev/shm/wirespan-fuzz-{}.pcap",
        std::process::id()
    ));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let mut pipeline = Pipeline::new(PipelineConfig::default());
    let _ = pipeline.replay_file(&path, &mut |_| Ok(()));
});

//! Capture files (pcap or pcapng) held in memory, replayed through the pipeline.
//! The entry point and its input format: `wirespan::fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wirespan::fuzz::run("capture", data);
});

//! One TCP stream direction rebuilt from segments cut out of a known stream.
//! The entry point and its input format: `wirespan::fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wirespan::fuzz::run("reassembly", data);
});

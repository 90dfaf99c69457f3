//! Both byte streams of a connection, protocol detected from the first bytes.
//! The entry point and its input format: `wirespan::fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wirespan::fuzz::run("stream", data);
});

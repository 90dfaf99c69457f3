//! Both byte streams of a connection through the DNS-over-TCP parser.
//! The entry point and its input format: `wirespan::fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wirespan::fuzz::run("dns", data);
});

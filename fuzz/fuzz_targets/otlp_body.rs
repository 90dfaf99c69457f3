//! OTLP request bodies (protobuf, JSON, gzip) decoded, correlated and drawn.
//! The entry point and its input format: `wirespan::fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wirespan::fuzz::run("otlp_body", data);
});

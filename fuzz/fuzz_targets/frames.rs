//! Frames of every link type through the whole pipeline.
//! The entry point and its input format: `wirespan::fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wirespan::fuzz::run("frames", data);
});

//! gRPC message framing in any split, path, grpc-message and grpc-trace-bin.
//! The entry point and its input format: `wirespan::fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wirespan::fuzz::run("grpc", data);
});

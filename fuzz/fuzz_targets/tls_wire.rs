//! The TLS wire reader alone: records, handshake messages, certificates, alerts.
//! The entry point and its input format: `wirespan::fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wirespan::fuzz::run("tls_wire", data);
});

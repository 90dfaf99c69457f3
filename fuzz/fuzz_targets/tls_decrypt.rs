//! Both byte streams of a TLS connection with the captured key log loaded: decryption,
//! authentication failures, held records and the plaintext's parsers.
//! The entry point and its input format: `wirespan::fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wirespan::fuzz::run("tls_decrypt", data);
});

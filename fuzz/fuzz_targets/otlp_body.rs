//! Arbitrary OTLP request bodies, protobuf or JSON (chosen by the first byte), as the
//! receiver decodes them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((&kind, body)) = data.split_first() {
        let _ = wirespan::otlp::decode_body(body, kind & 1 == 1);
    }
});

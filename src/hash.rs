//! A stable hash: the same value for the same bytes in every run, build and platform.
//!
//! Takes bytes and integers; gives a 64-bit hash. Derived trace and span ids (span) and the
//! deal of flows to workers (decode, pipeline) rest on it, so it belongs to none of them.

/// A multiply-rotate mix over little-endian 8-byte words, finished with SplitMix64: stable
/// across runs, builds and platforms, which `std`'s hashers do not promise. Word-wise
/// because byte-wise FNV was most of the cost of building a span.
#[derive(Debug, Clone)]
pub struct StableHasher(u64);

impl Default for StableHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl StableHasher {
    pub fn new() -> StableHasher {
        StableHasher(0xcbf2_9ce4_8422_2325)
    }

    pub fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut word = [0u8; 8];
            word.copy_from_slice(w);
            self.write_u64(u64::from_le_bytes(word));
        }
        let tail = words.remainder();
        if !tail.is_empty() {
            // Zero-padded, with its length in the top byte: "a" and "a\0" differ.
            let mut word = [0u8; 8];
            if let Some(head) = word.get_mut(..tail.len()) {
                head.copy_from_slice(tail);
            }
            self.write_u64(u64::from_le_bytes(word) ^ (tail.len() as u64) << 56);
        }
    }

    pub fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(31);
    }

    pub fn write_u128(&mut self, v: u128) {
        self.write(&v.to_le_bytes());
    }

    pub fn finish(&self) -> u64 {
        let mut z = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

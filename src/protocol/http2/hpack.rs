//! HPACK header decompression (RFC 7541), one decoder per direction of a connection.
//!
//! Takes header block fragments; gives header fields through a callback. A decoder that joined
//! the connection late does not know the dynamic-table entries inserted before it: references
//! to them are reported as [`Field::Unknown`] instead of failing, and every entry inserted
//! after the join resolves normally (HPACK indexes count from the newest entry), so the table
//! heals as the peer keeps inserting. Table size updates are honoured up to a hard limit.

// Every byte here comes off the wire: no index may panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::tables::{HUFFMAN_CODES, STATIC_TABLE};
use std::collections::VecDeque;
use std::sync::OnceLock;

/// Dynamic tables larger than this are refused (RFC 7541 lets the peer pick; we bound memory).
pub const MAX_TABLE_SIZE: usize = 64 * 1024;
const STATIC_LEN: usize = STATIC_TABLE.len();

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HpackError {
    Truncated,
    IntegerOverflow,
    /// An index beyond both tables on a decoder that has seen the whole connection.
    IndexOutOfRange,
    BadHuffman,
    /// A dynamic table size update above the allowed maximum (e.g. an attack asking for 4 GiB).
    TableSizeTooLarge,
}

/// One decoded header field.
pub enum Field<'a> {
    Known {
        name: &'a [u8],
        value: &'a [u8],
    },
    /// A reference to a dynamic-table entry inserted before this decoder joined.
    Unknown,
    /// A literal value whose name is such an entry.
    UnknownName {
        value: &'a [u8],
    },
}

/// A dynamic-table entry: name and value.
type Entry = (Box<[u8]>, Box<[u8]>);
/// A field borrowed from either table.
type FieldRef<'a> = (&'a [u8], &'a [u8]);

pub struct Decoder {
    /// Newest entry first, as HPACK indexes them.
    table: VecDeque<Entry>,
    size: usize,
    max_size: usize,
    /// False when the decoder joined mid-connection: unknown indexes are then expected.
    complete_history: bool,
    scratch_name: Vec<u8>,
    scratch_value: Vec<u8>,
}

impl Decoder {
    pub fn new(complete_history: bool) -> Decoder {
        Decoder {
            table: VecDeque::new(),
            size: 0,
            max_size: 4096,
            complete_history,
            scratch_name: Vec::new(),
            scratch_value: Vec::new(),
        }
    }

    pub fn table_len(&self) -> usize {
        self.table.len()
    }

    /// The dynamic table's size as HPACK counts it (32 bytes of overhead per entry).
    pub fn table_size(&self) -> usize {
        self.size
    }

    /// Decodes one complete header block, calling `emit` for each field in order.
    pub fn decode(
        &mut self,
        block: &[u8],
        emit: &mut dyn FnMut(Field<'_>),
    ) -> Result<(), HpackError> {
        let mut pos = 0;
        while let Some(&b) = block.get(pos) {
            if b & 0x80 != 0 {
                // Indexed header field.
                let index = integer(block, &mut pos, 7)?;
                match self.entry(index)? {
                    Some((name, value)) => emit(Field::Known { name, value }),
                    None => emit(Field::Unknown),
                }
            } else if b & 0xe0 == 0x20 {
                // Dynamic table size update.
                let size = integer(block, &mut pos, 5)?;
                if size > MAX_TABLE_SIZE as u64 {
                    return Err(HpackError::TableSizeTooLarge);
                }
                self.max_size = size as usize;
                self.evict(0);
            } else {
                // Literal: with incremental indexing (01), without (0000) or never indexed (0001).
                let (prefix, index_it) = if b & 0xc0 == 0x40 {
                    (6, true)
                } else {
                    (4, false)
                };
                let name_index = integer(block, &mut pos, prefix)?;
                let mut name_known = true;
                self.scratch_name.clear();
                if name_index == 0 {
                    string(block, &mut pos, &mut self.scratch_name)?;
                } else {
                    match self.entry(name_index)? {
                        Some((name, _)) => {
                            let name = name.to_vec();
                            self.scratch_name = name;
                        }
                        None => name_known = false,
                    }
                }
                self.scratch_value.clear();
                string(block, &mut pos, &mut self.scratch_value)?;
                if index_it {
                    // An unknown name still occupies a table slot; keep the slot so later
                    // indexes stay aligned, with an empty name nobody will match.
                    self.insert(
                        self.scratch_name.clone().into(),
                        self.scratch_value.clone().into(),
                    );
                }
                if name_known {
                    emit(Field::Known {
                        name: &self.scratch_name,
                        value: &self.scratch_value,
                    });
                } else {
                    emit(Field::UnknownName {
                        value: &self.scratch_value,
                    });
                }
            }
        }
        Ok(())
    }

    /// The entry at a 1-based HPACK index; `Ok(None)` for a dynamic entry from before the join.
    fn entry(&self, index: u64) -> Result<Option<FieldRef<'_>>, HpackError> {
        let index = usize::try_from(index).map_err(|_| HpackError::IndexOutOfRange)?;
        if index == 0 {
            return Err(HpackError::IndexOutOfRange);
        }
        if let Some(&(n, v)) = STATIC_TABLE.get(index - 1) {
            return Ok(Some((n.as_bytes(), v.as_bytes())));
        }
        match self.table.get(index - STATIC_LEN - 1) {
            Some((n, v)) if !n.is_empty() => Ok(Some((n, v))),
            Some(_) => Ok(None),
            None if self.complete_history => Err(HpackError::IndexOutOfRange),
            None => Ok(None),
        }
    }

    fn insert(&mut self, name: Box<[u8]>, value: Box<[u8]>) {
        let entry_size = 32 + name.len() + value.len();
        if entry_size > self.max_size {
            // An entry larger than the table empties it (RFC 7541 §4.4).
            self.table.clear();
            self.size = 0;
            return;
        }
        self.evict(entry_size);
        self.size += entry_size;
        self.table.push_front((name, value));
    }

    /// Evicts the oldest entries until `room` more bytes fit.
    fn evict(&mut self, room: usize) {
        while self.size + room > self.max_size {
            match self.table.pop_back() {
                Some((n, v)) => self.size -= 32 + n.len() + v.len(),
                None => {
                    self.size = 0;
                    break;
                }
            }
        }
    }
}

/// An HPACK integer with an `n`-bit prefix (RFC 7541 §5.1), bounded to 32 bits of value.
fn integer(buf: &[u8], pos: &mut usize, n: u8) -> Result<u64, HpackError> {
    let first = *buf.get(*pos).ok_or(HpackError::Truncated)?;
    *pos += 1;
    let max = (1u64 << n) - 1;
    let mut value = u64::from(first) & max;
    if value < max {
        return Ok(value);
    }
    let mut shift = 0;
    loop {
        let b = *buf.get(*pos).ok_or(HpackError::Truncated)?;
        *pos += 1;
        // Zero-valued continuation bytes add nothing but could shift on forever: past 32 bits
        // of value the integer is too large whatever follows.
        if shift > 28 {
            return Err(HpackError::IntegerOverflow);
        }
        value += u64::from(b & 0x7f) << shift;
        if value > u64::from(u32::MAX) {
            return Err(HpackError::IntegerOverflow);
        }
        if b & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
    }
}

/// An HPACK string literal (§5.2) appended to `out`, Huffman-decoded when flagged.
fn string(buf: &[u8], pos: &mut usize, out: &mut Vec<u8>) -> Result<(), HpackError> {
    let huffman = buf.get(*pos).ok_or(HpackError::Truncated)? & 0x80 != 0;
    let len = integer(buf, pos, 7)? as usize;
    let raw = buf.get(*pos..*pos + len).ok_or(HpackError::Truncated)?;
    *pos += len;
    if huffman {
        huffman_decode(raw, out)
    } else {
        out.extend_from_slice(raw);
        Ok(())
    }
}

/// A binary trie over the Huffman codes: node `i` has children `nodes[i][bit]`; values with
/// the top bit set are leaves holding a symbol.
// Built once from the constant code table, not from input: its indexes are its own nodes.
#[allow(clippy::indexing_slicing)]
fn huffman_trie() -> &'static Vec<[u16; 2]> {
    static TRIE: OnceLock<Vec<[u16; 2]>> = OnceLock::new();
    TRIE.get_or_init(|| {
        const LEAF: u16 = 0x8000;
        let mut nodes: Vec<[u16; 2]> = vec![[0, 0]];
        for (sym, &(code, len)) in HUFFMAN_CODES.iter().enumerate() {
            let mut node = 0usize;
            for i in (0..len).rev() {
                let bit = ((code >> i) & 1) as usize;
                if i == 0 {
                    nodes[node][bit] = LEAF | sym as u16;
                } else {
                    if nodes[node][bit] == 0 {
                        nodes.push([0, 0]);
                        nodes[node][bit] = (nodes.len() - 1) as u16;
                    }
                    node = nodes[node][bit] as usize;
                }
            }
        }
        nodes
    })
}

fn huffman_decode(raw: &[u8], out: &mut Vec<u8>) -> Result<(), HpackError> {
    let trie = huffman_trie();
    let mut node = 0usize;
    // Bits consumed since the last symbol, and whether they were all ones (valid padding).
    let mut pending_bits = 0u32;
    let mut pending_ones = true;
    for &byte in raw {
        for i in (0..8).rev() {
            let one = (byte >> i) & 1 == 1;
            pending_bits += 1;
            pending_ones &= one;
            let [if_zero, if_one] = *trie.get(node).ok_or(HpackError::BadHuffman)?;
            let next = if one { if_one } else { if_zero };
            if next & 0x8000 != 0 {
                let sym = next & 0x7fff;
                if sym == 256 {
                    return Err(HpackError::BadHuffman);
                }
                out.push(sym as u8);
                node = 0;
                pending_bits = 0;
                pending_ones = true;
            } else if next == 0 {
                return Err(HpackError::BadHuffman);
            } else {
                node = next as usize;
            }
        }
    }
    // Padding is the most significant bits of EOS: at most 7 one bits (§5.2).
    if pending_bits > 7 || !pending_ones {
        return Err(HpackError::BadHuffman);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(
        d: &mut Decoder,
        block: &[u8],
    ) -> Result<Vec<Option<(String, String)>>, HpackError> {
        let mut out = Vec::new();
        d.decode(block, &mut |f| {
            out.push(match f {
                Field::Known { name, value } => Some((
                    String::from_utf8_lossy(name).into_owned(),
                    String::from_utf8_lossy(value).into_owned(),
                )),
                Field::Unknown | Field::UnknownName { .. } => None,
            })
        })?;
        Ok(out)
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0))
            .collect()
    }

    fn pair(n: &str, v: &str) -> Option<(String, String)> {
        Some((n.to_owned(), v.to_owned()))
    }

    /// RFC 7541 C.4: requests with Huffman coding, sharing a dynamic table.
    #[test]
    fn rfc7541_c4_requests_with_huffman() {
        let mut d = Decoder::new(true);
        let first =
            decode_all(&mut d, &hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff")).expect("c4.1");
        assert_eq!(
            first,
            vec![
                pair(":method", "GET"),
                pair(":scheme", "http"),
                pair(":path", "/"),
                pair(":authority", "www.example.com")
            ]
        );
        let second = decode_all(&mut d, &hex("8286 84be 5886 a8eb 1064 9cbf")).expect("c4.2");
        assert_eq!(second[3], pair(":authority", "www.example.com"));
        assert_eq!(second[4], pair("cache-control", "no-cache"));
        let third = decode_all(
            &mut d,
            &hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"),
        )
        .expect("c4.3");
        assert_eq!(third[1], pair(":scheme", "https"));
        assert_eq!(third[2], pair(":path", "/index.html"));
        assert_eq!(third[4], pair("custom-key", "custom-value"));
        assert_eq!(d.table_len(), 3);
    }

    #[test]
    fn late_join_reports_unknown_then_heals() {
        let mut d = Decoder::new(false);
        // Index 62 refers to an entry from before the join.
        assert_eq!(
            decode_all(&mut d, &[0x82, 0xbe]).expect("ok"),
            vec![pair(":method", "GET"), None]
        );
        // A new insertion becomes index 62 and resolves.
        let mut block = vec![0x40, 0x03];
        block.extend_from_slice(b"k-a");
        block.push(0x01);
        block.extend_from_slice(b"v");
        decode_all(&mut d, &block).expect("insert");
        assert_eq!(
            decode_all(&mut d, &[0xbe]).expect("ok"),
            vec![pair("k-a", "v")]
        );
        // The same reference on a decoder that saw everything is an error.
        let mut full = Decoder::new(true);
        assert_eq!(
            decode_all(&mut full, &[0xc0]).err(),
            Some(HpackError::IndexOutOfRange)
        );
    }

    #[test]
    fn hostile_input_is_rejected() {
        let mut d = Decoder::new(true);
        // A table size update to 4 GiB.
        assert_eq!(
            decode_all(&mut d, &hex("3fe1ffffff0f")).err(),
            Some(HpackError::IntegerOverflow)
        );
        assert_eq!(
            decode_all(&mut d, &hex("3fe1ff07")).err(),
            Some(HpackError::TableSizeTooLarge)
        );
        // An index padded with a hundred zero-valued continuation bytes (found by fuzzing:
        // the shift overflowed).
        let mut padded = vec![0xff];
        padded.extend([0x80; 100]);
        padded.push(0x00);
        assert_eq!(
            decode_all(&mut d, &padded).err(),
            Some(HpackError::IntegerOverflow)
        );
        // A string longer than the block.
        assert_eq!(
            decode_all(&mut d, &[0x40, 0x7f, 0x10]).err(),
            Some(HpackError::Truncated)
        );
        // Huffman padding that is not EOS.
        assert_eq!(
            decode_all(&mut d, &[0x40, 0x81, 0x00, 0x00]).err(),
            Some(HpackError::BadHuffman)
        );
    }
}

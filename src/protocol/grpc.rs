//! gRPC over HTTP/2: length-prefixed message framing, `:path` → service and method,
//! `grpc-message` percent-decoding and the binary `grpc-trace-bin` context.

// Every byte here comes off the wire: no index may panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::trace_context::TraceContext;
use super::GrpcCall;
use crate::attribute::{int_attr, str_attr, Attribute};

/// Counts the length-prefixed messages (1-byte compressed flag, 4-byte length) in one
/// direction of a stream's DATA, as the bytes arrive in any split. gRPC-Web's trailer frame
/// (flags 0x80: the trailers as text, inside the body) is kept, bounded, and not counted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MessageCounter {
    /// Prefix bytes seen of the message being started (0 to 5).
    prefix_seen: u8,
    prefix: [u8; 5],
    /// Payload bytes still to come of the current message.
    remaining: u64,
    pub messages: u64,
    pub compressed: u64,
    /// Payload bytes of all messages, without prefixes.
    pub payload_bytes: u64,
    /// Prefixes whose flags byte was neither 0 nor 1: not gRPC's framing.
    odd_flags: u64,
    /// The payload of a gRPC-Web trailer frame, its first [`MAX_WEB_TRAILER`] bytes.
    trailer: Option<Vec<u8>>,
    /// The frame being read is the trailer frame.
    in_trailer: bool,
    /// The trailer frame was longer than what is kept.
    pub trailer_cut: bool,
}

/// Bytes of a gRPC-Web trailer frame kept: `grpc-status` and the start of `grpc-message`.
const MAX_WEB_TRAILER: usize = 512;

/// gRPC-Web's two forms, from a content-type: `grpc-web-text` (base64 body) or `grpc-web`.
pub fn web_mode(content_type: &[u8]) -> Option<&'static str> {
    let rest = content_type.strip_prefix(b"application/grpc-web")?;
    Some(if rest.starts_with(b"-text") {
        "grpc-web-text"
    } else {
        "grpc-web"
    })
}

/// gRPC-Web's text mode: the body is base64, possibly several padded pieces one after the
/// other; decoded as it arrives, four characters at a time, into the message counter.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Base64Stream {
    quad: [u8; 4],
    have: u8,
    /// Characters that are not base64: the body is not what its content-type said.
    pub invalid: u64,
}

impl Base64Stream {
    pub fn feed(&mut self, data: &[u8], into: &mut MessageCounter) {
        let mut out = [0u8; 96];
        let mut len = 0;
        for &c in data {
            let v = match (base64_value(c), c) {
                (Some(v), _) => v,
                (None, b'=') => 64,
                (None, b'\r' | b'\n' | b' ' | b'\t') => continue,
                (None, _) => {
                    self.invalid += 1;
                    continue;
                }
            };
            if let Some(slot) = self.quad.get_mut(usize::from(self.have)) {
                *slot = v;
            }
            self.have += 1;
            if self.have < 4 {
                continue;
            }
            self.have = 0;
            let [a, b, c2, d] = self.quad;
            // `=` ends a piece: two or one bytes, then the next piece starts afresh.
            let bytes = [
                a << 2 | (b & 0x3f) >> 4,
                b << 4 | (c2 & 0x3f) >> 2,
                c2 << 6 | (d & 0x3f),
            ];
            let n = if c2 == 64 {
                1
            } else if d == 64 {
                2
            } else {
                3
            };
            if let Some(slot) = out.get_mut(len..len + n) {
                slot.copy_from_slice(bytes.get(..n).unwrap_or(&[]));
            }
            len += n;
            if len + 3 > out.len() {
                into.feed(out.get(..len).unwrap_or(&[]));
                len = 0;
            }
        }
        into.feed(out.get(..len).unwrap_or(&[]));
    }
}

/// How much of a request's DATA a stream keeps for [`first_message_identifiers`]: the
/// length prefix and 48 bytes of the first message, where a request's identifiers usually are.
pub const REQUEST_HEAD_BYTES: usize = 5 + 48;

impl MessageCounter {
    /// `grpc-status` and `grpc-message` from a gRPC-Web trailer frame, when one came.
    pub fn web_trailers(&self) -> Option<(Option<u32>, Option<String>)> {
        let text = self.trailer.as_deref()?;
        let (mut status, mut message) = (None, None);
        for line in text.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let (name, value) = line.split_at(colon);
            let value = value.get(1..).unwrap_or(&[]).trim_ascii();
            if name.trim_ascii().eq_ignore_ascii_case(b"grpc-status") {
                status = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
            } else if name.trim_ascii().eq_ignore_ascii_case(b"grpc-message") {
                message = Some(percent_decode(value));
            }
        }
        Some((status, message))
    }

    /// Whether `body_bytes` of a stream's DATA were exactly whole gRPC messages: each a
    /// flags byte of 0 or 1 and a length that the next message's prefix follows.
    pub fn frames_exactly(&self, body_bytes: u64) -> bool {
        self.messages > 0
            && self.odd_flags == 0
            && self.prefix_seen == 0
            && self.remaining == 0
            && self.payload_bytes + 5 * self.messages == body_bytes
    }

    /// Out of line: once per gRPC-Web response, off the DATA path of every other stream.
    #[cold]
    #[inline(never)]
    fn keep_trailer(&mut self, bytes: &[u8]) {
        if let Some(t) = self.trailer.as_mut() {
            let room = MAX_WEB_TRAILER.saturating_sub(t.len()).min(bytes.len());
            t.extend_from_slice(bytes.get(..room).unwrap_or(&[]));
            self.trailer_cut |= room < bytes.len();
        }
        self.in_trailer = self.remaining > 0;
    }

    /// A gRPC-Web trailer frame of `len` bytes begins (flags 0x80): not a message.
    #[cold]
    #[inline(never)]
    fn begin_trailer(&mut self, len: u32) {
        self.trailer = Some(Vec::with_capacity((len as usize).min(MAX_WEB_TRAILER)));
        self.in_trailer = len > 0;
    }

    #[inline]
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.remaining > 0 {
                let n = (data.len() as u64).min(self.remaining);
                self.remaining -= n;
                if self.in_trailer {
                    self.keep_trailer(data.get(..n as usize).unwrap_or(&[]));
                }
                data = data.get(n as usize..).unwrap_or(&[]);
                continue;
            }
            let start = usize::from(self.prefix_seen);
            let room = self.prefix.get_mut(start..).unwrap_or(&mut []);
            let take = room.len().min(data.len());
            let (head, tail) = data.split_at(take);
            if let Some(slot) = room.get_mut(..take) {
                slot.copy_from_slice(head);
            }
            self.prefix_seen += take as u8;
            data = tail;
            if self.prefix_seen == 5 {
                self.prefix_seen = 0;
                let [flags, l0, l1, l2, l3] = self.prefix;
                let len = u32::from_be_bytes([l0, l1, l2, l3]);
                self.remaining = u64::from(len);
                if flags > 1 {
                    self.odd_flags += 1;
                    if flags & 0x80 != 0 {
                        self.begin_trailer(len);
                        continue;
                    }
                }
                self.messages += 1;
                self.compressed += u64::from(flags & 1);
                self.payload_bytes += u64::from(len);
            }
        }
    }
}

/// Characters of the values taken as identifiers: no separators, so a list of them can be
/// joined with commas.
fn identifier_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'@')
}

/// A protobuf varint at the start of `data`: (value, bytes read).
fn varint(data: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &b) in data.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// The top-level scalar fields of (the start of) a protobuf message, as a comma-separated
/// list: integers in decimal and short strings made of identifier characters. A sample of
/// what the request asked for, which the correlator looks for in the calls its handler made.
/// Stops at the first field that does not parse or was cut off.
pub fn identifiers(message: &[u8]) -> String {
    const MAX: usize = 8;
    let mut out = String::with_capacity(message.len() * 2);
    let mut digits = itoa::Buffer::new();
    let mut n = 0;
    let mut rest = message;
    while n < MAX {
        let Some((key, used)) = varint(rest) else {
            break;
        };
        rest = rest.get(used..).unwrap_or(&[]);
        let value = match key & 7 {
            0 => {
                let Some((v, used)) = varint(rest) else { break };
                rest = rest.get(used..).unwrap_or(&[]);
                Some(digits.format(v).as_bytes())
            }
            1 | 5 => {
                let width = if key & 7 == 1 { 8 } else { 4 };
                let Some(tail) = rest.get(width..) else { break };
                rest = tail;
                None
            }
            2 => {
                let Some((len, used)) = varint(rest) else {
                    break;
                };
                let body = usize::try_from(len)
                    .ok()
                    .and_then(|len| rest.get(used..used.checked_add(len)?));
                let Some(body) = body else { break };
                rest = rest.get(used + body.len()..).unwrap_or(&[]);
                (!body.is_empty() && body.iter().all(|&b| identifier_byte(b))).then_some(body)
            }
            _ => break,
        };
        // Digits and identifier bytes are ASCII.
        if let Some(v) = value.and_then(|v| std::str::from_utf8(v).ok()) {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(v);
            n += 1;
        }
    }
    out
}

/// The identifiers of the first message in the start of a request's DATA (`head`, up to
/// [`REQUEST_HEAD_BYTES`]): none when it is compressed.
pub fn first_message_identifiers(head: &[u8]) -> String {
    let Some((&[flag, a, b, c, d], payload)) = head.split_first_chunk::<5>() else {
        return String::new();
    };
    let len = u32::from_be_bytes([a, b, c, d]) as usize;
    if flag & 1 != 0 {
        return String::new();
    }
    identifiers(payload.get(..len.min(payload.len())).unwrap_or(&[]))
}

/// `/package.Service/Method` → (`package.Service`, `Method`).
pub fn split_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix('/')?;
    let (service, method) = rest.split_once('/')?;
    (!service.is_empty() && !method.is_empty() && !method.contains('/'))
        .then_some((service, method))
}

/// `grpc-message` is percent-encoded (gRPC over HTTP/2 spec).
pub fn percent_decode(v: &[u8]) -> String {
    let mut out = Vec::with_capacity(v.len());
    let mut rest = v;
    while let Some((&first, tail)) = rest.split_first() {
        let escaped = (first == b'%')
            .then(|| tail.get(..2))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                rest = tail.get(2..).unwrap_or(&[]);
            }
            None => {
                out.push(first);
                rest = tail;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The 6-bit value of a base64 character, standard or URL-safe alphabet.
fn base64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
}

/// Standard or URL-safe base64, padded or not (gRPC sends `-bin` metadata unpadded).
fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for &c in s {
        let v = match (base64_value(c), c) {
            (Some(v), _) => v,
            (None, b'=') => break,
            (None, _) => return None,
        };
        acc = acc << 6 | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// `grpc-trace-bin`: OpenCensus binary format — version 0, then fields: 0 = trace id (16 bytes),
/// 1 = span id (8), 2 = trace options (1).
pub fn parse_grpc_trace_bin(value: &[u8]) -> Option<TraceContext> {
    let bin = base64_decode(value)?;
    if bin.first() != Some(&0) {
        return None;
    }
    let mut tc = TraceContext::default();
    let mut i = 1;
    while let Some(&field) = bin.get(i) {
        i += 1;
        match field {
            0 => {
                tc.trace_id = bin.get(i..i + 16).and_then(|b| b.try_into().ok());
                i += 16;
            }
            1 => {
                tc.parent_span_id = bin.get(i..i + 8).and_then(|b| b.try_into().ok());
                i += 8;
            }
            2 => i += 1,
            _ => break,
        }
    }
    tc.trace_id.is_some().then_some(tc)
}

impl GrpcCall {
    /// Adds the gRPC attributes. Out of line: the HTTP/1 span path stays as short as it was.
    #[inline(never)]
    pub fn describe(self, attrs: &mut Vec<Attribute>) {
        let g = self;
        attrs.push(str_attr("rpc.system", "grpc"));
        if g.service.is_empty() {
            // `:path` hid in a table entry from before the capture: said, never guessed.
            attrs.push(str_attr("wirespan.grpc.method", "unknown"));
        } else {
            attrs.push(str_attr("rpc.service", g.service));
            attrs.push(str_attr("rpc.method", g.method));
        }
        if g.recognised_by_framing {
            attrs.push(str_attr("wirespan.grpc.recognised_by", "framing"));
        }
        if let Some(web) = g.web {
            attrs.push(str_attr("wirespan.grpc.web", web));
        }
        if let Some(code) = g.status {
            attrs.push(int_attr("rpc.grpc.status_code", i64::from(code)));
        }
        if let Some(m) = g.message.filter(|m| !m.is_empty()) {
            attrs.push(str_attr("rpc.grpc.status_message", m));
        }
        attrs.push(int_attr(
            "wirespan.grpc.request_messages",
            g.request_messages as i64,
        ));
        attrs.push(int_attr(
            "wirespan.grpc.response_messages",
            g.response_messages as i64,
        ));
        if g.compressed_messages > 0 {
            attrs.push(int_attr(
                "wirespan.grpc.compressed_messages",
                g.compressed_messages as i64,
            ));
        }
        if !g.request_identifiers.is_empty() {
            attrs.push(str_attr(
                "wirespan.request.identifiers",
                g.request_identifiers,
            ));
        }
    }
}

/// Standard base64 with padding, for tests that write gRPC-Web's text mode.
#[cfg(test)]
pub(crate) fn encode_base64(bytes: &[u8]) -> Vec<u8> {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.len();
        let mut b = [0u8; 3];
        b[..n].copy_from_slice(chunk);
        let v = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= n {
                ABC[(v >> (18 - 6 * i) & 63) as usize]
            } else {
                b'='
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_message_gives_its_scalar_fields() {
        // field 1 varint 300, field 2 "user-42", field 3 fixed32, field 4 a nested message
        // (not an identifier), field 5 varint 7.
        let mut msg = vec![0x08, 0xac, 0x02, 0x12, 7];
        msg.extend(b"user-42");
        msg.extend([0x1d, 1, 2, 3, 4, 0x22, 2, 0x08, 0x01, 0x28, 7]);
        let mut data = vec![0u8];
        data.extend((msg.len() as u32).to_be_bytes());
        data.extend(&msg);
        // The next message is not read.
        data.extend([0, 0, 0, 0, 2, 0x08, 0x09]);
        assert_eq!(first_message_identifiers(&data), "300,user-42,7");
        // Cut off inside a field: what came before it.
        assert_eq!(first_message_identifiers(&data[..11]), "300");
        assert_eq!(first_message_identifiers(&data[..3]), "");
        data[0] = 1;
        assert_eq!(first_message_identifiers(&data), "", "compressed");
    }

    #[test]
    fn counts_messages_across_any_split() {
        let mut stream = Vec::new();
        for (flag, len) in [(0u8, 3u32), (1, 0), (0, 70_000)] {
            stream.push(flag);
            stream.extend_from_slice(&len.to_be_bytes());
            stream.extend(std::iter::repeat_n(7u8, len as usize));
        }
        for split in [1usize, 2, 5, 7, 4096] {
            let mut c = MessageCounter::default();
            for chunk in stream.chunks(split) {
                c.feed(chunk);
            }
            assert_eq!(
                (c.messages, c.compressed, c.payload_bytes),
                (3, 1, 70_003),
                "split {split}"
            );
        }
    }

    #[test]
    fn paths_messages_and_trace_bin() {
        assert_eq!(
            split_path("/shop.Cart/GetCart"),
            Some(("shop.Cart", "GetCart"))
        );
        assert_eq!(split_path("/index.html"), None);
        assert_eq!(percent_decode(b"not%20found%3A x"), "not found: x");
        // version 0, trace id 0x01.., span id 0x02.., options 1
        let mut bin = vec![0u8, 0];
        bin.extend([1u8; 16]);
        bin.push(1);
        bin.extend([2u8; 8]);
        bin.extend([2, 1]);
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut b64 = Vec::new();
        for chunk in bin.chunks(3) {
            let n =
                chunk.iter().fold(0u32, |a, &b| a << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
            for k in 0..=chunk.len() {
                b64.push(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize]);
            }
        }
        let tc = parse_grpc_trace_bin(&b64).expect("trace-bin");
        assert_eq!(tc.trace_id, Some([1; 16]));
        assert_eq!(tc.parent_span_id, Some([2; 8]));
    }

    /// gRPC-Web text: two padded base64 pieces (a message, then the trailer frame), split at
    /// every point: one message, the trailer's status and message, and the trailer frame not
    /// counted as a message.
    #[test]
    fn grpc_web_text_pieces_in_any_split() {
        let frame = |flags: u8, payload: &[u8]| {
            let mut f = vec![flags];
            f.extend((payload.len() as u32).to_be_bytes());
            f.extend(payload);
            f
        };
        let mut body = encode_base64(&frame(0, b"\x0a\x03c-2"));
        body.extend(encode_base64(&frame(
            0x80,
            b"grpc-status: 5\r\ngrpc-message: no%20cart\r\n",
        )));
        for split in 0..=body.len() {
            let mut text = Base64Stream::default();
            let mut counter = MessageCounter::default();
            text.feed(&body[..split], &mut counter);
            text.feed(&body[split..], &mut counter);
            assert_eq!(counter.messages, 1, "split {split}");
            assert_eq!(
                counter.web_trailers(),
                Some((Some(5), Some("no cart".to_owned()))),
                "split {split}"
            );
            assert_eq!(text.invalid, 0);
            assert!(!counter.trailer_cut);
        }
        // A trailer frame longer than what is kept: status still read, the cut said.
        let mut long = MessageCounter::default();
        let mut trailer = b"grpc-status: 3\r\ngrpc-message: ".to_vec();
        trailer.extend(std::iter::repeat_n(b'x', MAX_WEB_TRAILER));
        long.feed(&frame(0x80, &trailer));
        assert_eq!(long.web_trailers().map(|t| t.0), Some(Some(3)));
        assert!(long.trailer_cut);
    }
}

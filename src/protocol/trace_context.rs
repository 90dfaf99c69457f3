//! Trace context carried in request headers: W3C `traceparent`, B3 single (`b3`) and multi
//! (`X-B3-TraceId`/`X-B3-SpanId`) headers, and a UUID-shaped `X-Request-ID` as a last resort.

// Every byte here comes off the wire: no index may panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

/// The caller's trace and span, when the request carried them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: Option<[u8; 16]>,
    /// The span of the caller that sent the request: the network span's parent.
    pub parent_span_id: Option<[u8; 8]>,
}

/// Collects the trace headers of one request, then resolves them by precedence.
#[derive(Debug, Default)]
pub struct TraceHeaders {
    traceparent: Option<TraceContext>,
    b3: Option<TraceContext>,
    b3_trace: Option<[u8; 16]>,
    b3_span: Option<[u8; 8]>,
    request_id: Option<[u8; 16]>,
}

impl TraceHeaders {
    /// Offers a header; returns true when it was a trace header.
    pub fn offer(&mut self, name: &str, value: &[u8]) -> bool {
        let value = value.trim_ascii();
        if name.eq_ignore_ascii_case("traceparent") {
            self.traceparent = parse_traceparent(value);
        } else if name.eq_ignore_ascii_case("b3") {
            self.b3 = parse_b3_single(value);
        } else if name.eq_ignore_ascii_case("x-b3-traceid") {
            self.b3_trace = parse_trace_id(value);
        } else if name.eq_ignore_ascii_case("x-b3-spanid") {
            self.b3_span = hex_array::<8>(value).filter(|a| a != &[0; 8]);
        } else if name.eq_ignore_ascii_case("x-request-id") {
            self.request_id = parse_request_id(value);
        } else {
            return false;
        }
        true
    }

    /// W3C first, then B3 single, B3 multi, and an id-shaped X-Request-ID.
    pub fn resolve(&self) -> TraceContext {
        if let Some(tc) = self.traceparent {
            return tc;
        }
        if let Some(tc) = self.b3 {
            return tc;
        }
        if let Some(trace_id) = self.b3_trace {
            return TraceContext {
                trace_id: Some(trace_id),
                parent_span_id: self.b3_span,
            };
        }
        TraceContext {
            trace_id: self.request_id,
            parent_span_id: None,
        }
    }
}

fn hex_nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Exactly `2N` hex digits into `N` bytes.
pub fn hex_array<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (slot, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        let [hi, lo] = pair else { return None };
        *slot = hex_nibble(*hi)? << 4 | hex_nibble(*lo)?;
    }
    Some(out)
}

/// A 128-bit trace id, or a 64-bit one (B3 allows it) left-padded with zeros.
fn parse_trace_id(s: &[u8]) -> Option<[u8; 16]> {
    let id = match s.len() {
        32 => hex_array::<16>(s)?,
        16 => {
            let low = hex_array::<8>(s)?;
            let mut id = [0u8; 16];
            id[8..].copy_from_slice(&low);
            id
        }
        _ => return None,
    };
    (id != [0; 16]).then_some(id)
}

/// Whether a header value has a W3C `traceparent`'s exact shape: version 00, 32 and 16 hex
/// digits, flags; 55 bytes. Specific enough to read a value whose header name is unknown.
pub fn has_traceparent_shape(v: &[u8]) -> bool {
    v.len() == 55 && v.starts_with(b"00-") && parse_traceparent(v).is_some()
}

/// `version-traceid-parentid-flags`, e.g. `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`.
fn parse_traceparent(v: &[u8]) -> Option<TraceContext> {
    let mut parts = v.split(|&b| b == b'-');
    let version = parts.next()?;
    let trace = parts.next()?;
    let parent = parts.next()?;
    let flags = parts.next()?;
    if version.len() != 2 || version == b"ff" || flags.len() != 2 {
        return None;
    }
    let trace_id = hex_array::<16>(trace).filter(|a| a != &[0; 16])?;
    let parent_span_id = hex_array::<8>(parent).filter(|a| a != &[0; 8])?;
    Some(TraceContext {
        trace_id: Some(trace_id),
        parent_span_id: Some(parent_span_id),
    })
}

/// `traceid-spanid[-sampled[-parentspanid]]`; a lone sampling flag carries no ids.
fn parse_b3_single(v: &[u8]) -> Option<TraceContext> {
    let mut parts = v.split(|&b| b == b'-');
    let trace_id = parse_trace_id(parts.next()?)?;
    let span_id = hex_array::<8>(parts.next()?).filter(|a| a != &[0; 8])?;
    Some(TraceContext {
        trace_id: Some(trace_id),
        parent_span_id: Some(span_id),
    })
}

/// A UUID (with or without dashes) or 32 hex digits can serve as a trace id.
fn parse_request_id(v: &[u8]) -> Option<[u8; 16]> {
    let mut hex = [0u8; 32];
    let mut n = 0;
    for &c in v {
        if c == b'-' {
            continue;
        }
        *hex.get_mut(n)? = c;
        n += 1;
    }
    if n != 32 {
        return None;
    }
    parse_trace_id(&hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(headers: &[(&str, &str)]) -> TraceContext {
        let mut th = TraceHeaders::default();
        for (k, v) in headers {
            th.offer(k, v.as_bytes());
        }
        th.resolve()
    }

    #[test]
    fn traceparent_wins_and_parses() {
        let tc = resolve(&[
            ("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        ]);
        assert_eq!(
            tc.trace_id.map(hex16),
            Some("4bf92f3577b34da6a3ce929d0e0e4736".into())
        );
        assert_eq!(tc.parent_span_id.map(hex8), Some("00f067aa0ba902b7".into()));
    }

    #[test]
    fn b3_forms() {
        let single = resolve(&[("B3", "a3ce929d0e0e4736-00f067aa0ba902b7-1-5555555555555555")]);
        assert_eq!(
            single.trace_id.map(hex16),
            Some("0000000000000000a3ce929d0e0e4736".into())
        );
        assert_eq!(
            single.parent_span_id.map(hex8),
            Some("00f067aa0ba902b7".into())
        );
        let multi = resolve(&[
            ("X-B3-TraceId", "80f198ee56343ba864fe8b2a57d3eff7"),
            ("X-B3-SpanId", "e457b5a2e4d86bd1"),
        ]);
        assert_eq!(
            multi.trace_id.map(hex16),
            Some("80f198ee56343ba864fe8b2a57d3eff7".into())
        );
        assert_eq!(
            multi.parent_span_id.map(hex8),
            Some("e457b5a2e4d86bd1".into())
        );
        assert_eq!(resolve(&[("b3", "1")]), TraceContext::default());
    }

    #[test]
    fn request_id_only_when_id_shaped() {
        let tc = resolve(&[("X-Request-ID", "f058ebd6-02f7-4d3f-942e-904344e8cde5")]);
        assert_eq!(
            tc.trace_id.map(hex16),
            Some("f058ebd602f74d3f942e904344e8cde5".into())
        );
        assert_eq!(
            resolve(&[("X-Request-ID", "req-42")]),
            TraceContext::default()
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01",
        ] {
            assert_eq!(
                resolve(&[("traceparent", bad)]),
                TraceContext::default(),
                "{bad}"
            );
        }
    }

    fn hex16(a: [u8; 16]) -> String {
        a.iter().map(|b| format!("{b:02x}")).collect()
    }
    fn hex8(a: [u8; 8]) -> String {
        a.iter().map(|b| format!("{b:02x}")).collect()
    }
}

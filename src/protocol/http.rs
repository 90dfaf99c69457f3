//! What HTTP/1.x and HTTP/2 calls share: the facts of one call ([`HttpExchange`], gRPC's
//! [`GrpcCall`] inside it), the text of methods and headers, and how a call describes itself
//! on its span.

use super::Description;
use crate::attribute::{bool_attr, int_attr, str_attr, Attribute};
use std::borrow::Cow;
use std::sync::Arc;

/// A request method as text: the standard ones (nearly every request) borrowed, others copied.
pub fn method_text(method: &[u8]) -> Cow<'static, str> {
    const STANDARD: [&str; 9] = [
        "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE",
    ];
    match STANDARD.iter().find(|m| m.as_bytes() == method) {
        Some(m) => Cow::Borrowed(m),
        None => String::from_utf8_lossy(method).into_owned().into(),
    }
}

/// A header value as text, invalid UTF-8 replaced.
pub fn header_str(v: &[u8]) -> Cow<'_, str> {
    // ASCII (nearly every header) is checked a word at a time: on values this short, several
    // times cheaper than the UTF-8 validator.
    if v.is_ascii() {
        // SAFETY: ASCII is valid UTF-8.
        return Cow::Borrowed(unsafe { std::str::from_utf8_unchecked(v) });
    }
    String::from_utf8_lossy(v)
}

/// Host and User-Agent as a connection last sent them. A client repeats both on every request
/// of a connection: a repeat shares the text of the last one instead of copying it again.
#[derive(Debug, Default)]
pub struct RepeatedHeaders {
    host: Option<Arc<str>>,
    user_agent: Option<Arc<str>>,
}

impl RepeatedHeaders {
    pub fn host(&mut self, value: &[u8]) -> Arc<str> {
        shared_text(&mut self.host, value)
    }

    pub fn user_agent(&mut self, value: &[u8]) -> Arc<str> {
        shared_text(&mut self.user_agent, value)
    }
}

fn shared_text(last: &mut Option<Arc<str>>, value: &[u8]) -> Arc<str> {
    match last {
        Some(text) if text.as_bytes() == value => Arc::clone(text),
        _ => Arc::clone(last.insert(Arc::from(header_str(value).as_ref()))),
    }
}

/// The facts of one HTTP call (HTTP/1.x or HTTP/2, gRPC included) that end up on its span.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpExchange {
    /// `None` when the request was lost in a hole of the capture or its field is unknown.
    pub method: Option<Cow<'static, str>>,
    pub path: String,
    pub query: Option<String>,
    /// `1.0`, `1.1` or `2`.
    pub version: &'static str,
    /// Shared with the connection's other requests that repeat it ([`RepeatedHeaders`]).
    pub host: Option<Arc<str>>,
    pub user_agent: Option<Arc<str>>,
    pub x_request_id: Option<String>,
    pub status: Option<u16>,
    pub request_body_size: u64,
    pub response_body_size: u64,
    /// HTTP/2 stream the exchange travelled on.
    pub stream_id: Option<u32>,
    /// HTTP/2 RST_STREAM error code (or GOAWAY's, for streams it refused).
    pub reset_code: Option<u32>,
    /// HTTP/2 header fields whose dynamic-table entry predates the capture.
    pub unknown_headers: u32,
    /// HTTP/2 server push: the request came in the server's PUSH_PROMISE.
    pub pushed: bool,
    /// Boxed: a third of the exchange's size, which every HTTP/1 exchange would move along.
    pub grpc: Option<Box<GrpcCall>>,
}

/// What gRPC adds to an HTTP/2 exchange.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrpcCall {
    pub service: String,
    pub method: String,
    /// From trailers, a trailers-only response, or mapped from RST_STREAM.
    pub status: Option<u32>,
    pub message: Option<String>,
    pub request_messages: u64,
    pub response_messages: u64,
    /// Messages sent with the compressed flag, both directions.
    pub compressed_messages: u64,
    /// The scalar fields of the first request message ([`grpc::identifiers`]).
    pub request_identifiers: String,
    /// Recognised by its 5-byte-prefixed messages alone (`content-type` was not readable).
    pub recognised_by_framing: bool,
    /// gRPC-Web (`grpc-web` or `grpc-web-text`): trailers in the body, over HTTP/1.1 too.
    pub web: Option<&'static str>,
}

impl HttpExchange {
    /// Adds the HTTP attributes (and gRPC's); gives the span name and error status.
    pub fn describe(self, attrs: &mut Vec<Attribute>) -> Description {
        let h = self;
        let name = match (&h.grpc, &h.method) {
            (Some(g), _) if !g.service.is_empty() => {
                [g.service.as_str(), "/", g.method.as_str()].concat()
            }
            (_, Some(m)) if !h.path.is_empty() => [m, " ", h.path.as_str()].concat(),
            (_, Some(m)) => m.to_string(),
            _ => "HTTP".to_owned(),
        };
        let error = match &h.grpc {
            Some(g) => g.status.filter(|&c| c != 0).map(|c| {
                Some(
                    g.message
                        .clone()
                        .filter(|m| !m.is_empty())
                        .unwrap_or_else(|| format!("gRPC status {c}")),
                )
            }),
            None => h
                .status
                .filter(|&s| s >= 500)
                .map(|s| Some(format!("HTTP {s}")))
                .or_else(|| {
                    h.reset_code
                        .filter(|&c| c != 0)
                        .map(|c| Some(format!("RST_STREAM {c}")))
                }),
        };
        attrs.push(str_attr("network.protocol.name", "http"));
        attrs.push(str_attr("network.protocol.version", h.version));
        if let Some(m) = h.method {
            attrs.push(str_attr("http.request.method", m));
            // An HTTP/2 :path hidden in a dynamic-table entry from before the capture is unknown.
            if !h.path.is_empty() {
                attrs.push(str_attr("url.path", h.path));
            }
            if let Some(q) = h.query {
                attrs.push(str_attr("url.query", q));
            }
            attrs.push(int_attr(
                "http.request.body.size",
                h.request_body_size as i64,
            ));
        }
        if let Some(status) = h.status {
            attrs.push(int_attr("http.response.status_code", i64::from(status)));
        }
        // HTTP/0.9's answer has a body and no status.
        if h.status.is_some() || h.response_body_size > 0 {
            attrs.push(int_attr(
                "http.response.body.size",
                h.response_body_size as i64,
            ));
        }
        if let Some(ua) = h.user_agent {
            attrs.push(str_attr("user_agent.original", ua));
        }
        if let Some(host) = h.host {
            attrs.push(str_attr("http.request.header.host", host));
        }
        if let Some(id) = h.x_request_id {
            attrs.push(str_attr("http.request.header.x-request-id", id));
        }
        if let Some(id) = h.stream_id {
            attrs.push(int_attr("wirespan.http2.stream_id", i64::from(id)));
        }
        if let Some(code) = h.reset_code {
            attrs.push(int_attr("wirespan.http2.reset_code", i64::from(code)));
        }
        if h.pushed {
            attrs.push(bool_attr("wirespan.http2.pushed", true));
        }
        if h.unknown_headers > 0 {
            attrs.push(int_attr(
                "wirespan.hpack.unknown_fields",
                i64::from(h.unknown_headers),
            ));
        }
        if let Some(g) = h.grpc {
            g.describe(attrs);
        }
        Description { name, error }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_text_keeps_valid_utf8_and_replaces_the_rest() {
        assert_eq!(header_str(b"shop.internal"), "shop.internal");
        assert_eq!(header_str("caf\u{e9}".as_bytes()), "caf\u{e9}");
        assert_eq!(header_str(b"a\xffb"), "a\u{fffd}b");
    }

    #[test]
    fn a_repeated_header_shares_its_text_and_a_new_one_replaces_it() {
        let mut seen = RepeatedHeaders::default();
        let first = seen.host(b"shop.internal");
        let again = seen.host(b"shop.internal");
        assert!(Arc::ptr_eq(&first, &again));
        let other = seen.host(b"cart.internal");
        assert_eq!(&*other, "cart.internal");
        assert!(!Arc::ptr_eq(&first, &other));
        // Host and User-Agent are remembered apart.
        assert_eq!(&*seen.user_agent(b"shop.internal"), "shop.internal");
        assert_eq!(&*seen.host(b"cart.internal"), "cart.internal");
        assert_eq!(&*seen.user_agent(b"\xff"), "\u{fffd}");
    }
}

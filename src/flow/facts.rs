//! What a flow knows of itself and hands on with each exchange: its transport, endpoints (as
//! text and hashed, once per flow), capture point, encapsulation and which end of the call the
//! capture point is nearer to.

use crate::hash::StableHasher;
use std::net::IpAddr;
use std::sync::Arc;

/// Which end of the call a capture point is nearer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapSide {
    Client,
    Server,
    Unknown,
}

impl TapSide {
    pub fn as_str(self) -> &'static str {
        match self {
            TapSide::Client => "client",
            TapSide::Server => "server",
            TapSide::Unknown => "unknown",
        }
    }
}

/// The transport a call travelled over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

/// What the flow contributes to each of its spans.
#[derive(Debug, Clone, Copy)]
pub struct FlowFacts<'a> {
    pub capture_point: &'a Arc<str>,
    pub transport: Transport,
    pub client: (IpAddr, u16),
    pub server: (IpAddr, u16),
    pub endpoints: &'a Endpoints,
    pub tap_side: TapSide,
    pub tunnel: Option<&'a Arc<str>>,
    pub vlan: Option<&'a Arc<str>>,
}

/// Initial TTLs that operating systems use: a packet still carrying one has not been routed.
fn is_initial_ttl(ttl: u8) -> bool {
    matches!(ttl, 32 | 64 | 128 | 255)
}

/// Decides the tap side. A TTL still at its initial value means the capture point is on the
/// sender's host (before any router). Failing that, the handshake tells: at the client the
/// SYN→SYN-ACK wait is the round trip and SYN-ACK→ACK is instant; at the server it is the
/// other way round.
pub fn infer_tap_side(
    to_server_ttl: Option<u8>,
    to_client_ttl: Option<u8>,
    handshake_ns: Option<((u64, u64), u64)>,
) -> TapSide {
    if let (Some(c), Some(s)) = (to_server_ttl, to_client_ttl) {
        match (is_initial_ttl(c), is_initial_ttl(s)) {
            (true, false) => return TapSide::Client,
            (false, true) => return TapSide::Server,
            _ => {}
        }
    }
    if let Some(((syn, synack), ack)) = handshake_ns {
        let wait_for_synack = synack.saturating_sub(syn);
        let wait_for_ack = ack.saturating_sub(synack);
        if wait_for_synack > 4 * wait_for_ack {
            return TapSide::Client;
        }
        if wait_for_ack > 4 * wait_for_synack {
            return TapSide::Server;
        }
    }
    TapSide::Unknown
}

/// An address as text: IPv4 written by hand, since `Display` through the formatter was a tenth
/// of a replay's time when every span formats two of them.
fn address_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let mut text = String::with_capacity(15);
            let mut digits = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    text.push('.');
                }
                text.push_str(digits.format(octet));
            }
            text
        }
        IpAddr::V6(v6) => v6.to_string(),
    }
}

/// A flow's endpoints as text and hashed, done once per flow (when its first span is built)
/// rather than for every span.
#[derive(Debug)]
pub struct Endpoints {
    client: Arc<str>,
    server: Arc<str>,
    /// The start of every derived id of the flow's calls.
    hashed: StableHasher,
}

impl Endpoints {
    pub fn client(&self) -> &Arc<str> {
        &self.client
    }

    pub fn server(&self) -> &Arc<str> {
        &self.server
    }

    /// The start of every derived id of the flow's calls.
    pub fn hashed(&self) -> &StableHasher {
        &self.hashed
    }

    pub fn new(client: (IpAddr, u16), server: (IpAddr, u16)) -> Endpoints {
        let client_text = address_text(client.0);
        let server_text = address_text(server.0);
        let mut hashed = StableHasher::new();
        hashed.write(client_text.as_bytes());
        hashed.write_u64(u64::from(client.1));
        hashed.write(server_text.as_bytes());
        hashed.write_u64(u64::from(server.1));
        Endpoints {
            client: client_text.into(),
            server: server_text.into(),
            hashed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_side_from_ttl_then_handshake() {
        assert_eq!(infer_tap_side(Some(64), Some(63), None), TapSide::Client);
        assert_eq!(infer_tap_side(Some(63), Some(64), None), TapSide::Server);
        let at_client = Some(((0, 1000), 1010));
        let at_server = Some(((0, 10), 1010));
        assert_eq!(
            infer_tap_side(Some(64), Some(64), at_client),
            TapSide::Client
        );
        assert_eq!(
            infer_tap_side(Some(64), Some(64), at_server),
            TapSide::Server
        );
        assert_eq!(
            infer_tap_side(Some(64), Some(64), Some(((0, 10), 20))),
            TapSide::Unknown
        );
        assert_eq!(infer_tap_side(None, None, None), TapSide::Unknown);
    }
}

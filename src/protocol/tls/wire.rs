//! The TLS wire format (RFC 8446, RFC 5246 and the extensions' RFCs), read in the clear.
//!
//! Takes bytes off the wire; gives typed views that borrow them: record headers
//! ([`RecordHeader`], [`Record`]), the handshake messages in the concatenated payloads of
//! handshake records ([`HandshakeMessage`], [`handshake_messages`]), the hellos
//! ([`ClientHello`], [`ServerHello`]), the certificate chain of TLS 1.2 and below
//! ([`Certificates`], read by [`read_certificate`]) and alerts ([`Alert`]). Pure and without
//! state across records: which record comes when, and decryption, are the connection parser's.
//! Nothing here panics on any input; what does not read is a [`WireError`].

// Every byte here comes off the wire: no index may panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::names;

/// Why bytes do not read as what was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The bytes stop before the structure's end: more may come.
    Truncated,
    /// The bytes break the format's rules: no more bytes will make them read.
    Malformed,
    /// A certificate's DER is not an X.509 certificate.
    BadCertificate,
}

/// A cursor over bytes that reads TLS's big-endian integers and length-prefixed vectors, and
/// says [`WireError::Truncated`] when they run out.
#[derive(Debug, Clone, Copy)]
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let (head, rest) = self.0.split_at_checked(n).ok_or(WireError::Truncated)?;
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<&'a [u8; N], WireError> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or(WireError::Truncated)?;
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        let &[b] = self.array::<1>()?;
        Ok(b)
    }

    fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(*self.array::<2>()?))
    }

    fn u24(&mut self) -> Result<u32, WireError> {
        let &[a, b, c] = self.array::<3>()?;
        Ok(u32::from_be_bytes([0, a, b, c]))
    }

    /// A vector with a one-byte length.
    fn vec8(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }

    /// A vector with a two-byte length.
    fn vec16(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }

    /// A vector with a three-byte length.
    fn vec24(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.u24()?;
        self.take(n as usize)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Fails with [`WireError::Malformed`] unless every byte was read: a vector's contents
    /// that end early.
    fn end(&self) -> Result<(), WireError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(WireError::Malformed)
        }
    }
}

/// Reads a structure whose outer length is already known to be all there: running out inside
/// it is a malformed structure, not a truncated stream.
fn inner<'a, T>(
    b: &'a [u8],
    read: impl FnOnce(&mut Cursor<'a>) -> Result<T, WireError>,
) -> Result<T, WireError> {
    let mut c = Cursor(b);
    let v = read(&mut c).map_err(|e| match e {
        WireError::Truncated => WireError::Malformed,
        e => e,
    })?;
    c.end()?;
    Ok(v)
}

// ---------------------------------------------------------------------------------------------
// Record layer

/// Bytes of a record header: content type, legacy version, length.
pub const RECORD_HEADER_LEN: usize = 5;
/// The longest record payload any TLS version allows (2^14 + 2048, TLS 1.2's ciphertext bound).
pub const MAX_RECORD_LEN: usize = (1 << 14) + 2048;

/// What a record carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    ChangeCipherSpec = 20,
    Alert = 21,
    Handshake = 22,
    ApplicationData = 23,
    Heartbeat = 24,
}

impl ContentType {
    /// The content type of byte `b`; `None` for anything that is not one.
    pub fn from_u8(b: u8) -> Option<ContentType> {
        Some(match b {
            20 => ContentType::ChangeCipherSpec,
            21 => ContentType::Alert,
            22 => ContentType::Handshake,
            23 => ContentType::ApplicationData,
            24 => ContentType::Heartbeat,
            _ => return None,
        })
    }
}

/// Whether `v` is a record-layer version: SSLv3 to TLS 1.3 (TLS 1.3 sends 0x0303, or 0x0301
/// in a first ClientHello).
fn record_version(v: u16) -> bool {
    (0x0300..=0x0304).contains(&v)
}

/// The five bytes that start every record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    pub content_type: ContentType,
    /// The legacy record version (0x0300..=0x0304).
    pub version: u16,
    /// Bytes of payload that follow the header (at most [`MAX_RECORD_LEN`]).
    pub length: u16,
}

impl RecordHeader {
    /// Reads the header at the start of `b`; `None` when `b` has fewer than
    /// [`RECORD_HEADER_LEN`] bytes or they are not a TLS record header (an unknown content
    /// type, a version outside SSLv3..TLS 1.3, a length over [`MAX_RECORD_LEN`]).
    pub fn parse(b: &[u8]) -> Option<RecordHeader> {
        let &[t, v0, v1, l0, l1] = b.first_chunk::<RECORD_HEADER_LEN>()?;
        let version = u16::from_be_bytes([v0, v1]);
        let length = u16::from_be_bytes([l0, l1]);
        if !record_version(version) || usize::from(length) > MAX_RECORD_LEN {
            return None;
        }
        Some(RecordHeader {
            content_type: ContentType::from_u8(t)?,
            version,
            length,
        })
    }

    /// The five bytes of the header, as sent (the additional data of TLS 1.3's AEAD).
    pub fn bytes(&self) -> [u8; RECORD_HEADER_LEN] {
        let [v0, v1] = self.version.to_be_bytes();
        let [l0, l1] = self.length.to_be_bytes();
        [self.content_type as u8, v0, v1, l0, l1]
    }

    /// Bytes of the whole record, header and payload.
    pub fn record_len(&self) -> usize {
        RECORD_HEADER_LEN + usize::from(self.length)
    }
}

/// Whether the first bytes of a header (fewer than five) could still start one.
fn header_prefix_ok(b: &[u8]) -> bool {
    let t = b.first().is_none_or(|&t| ContentType::from_u8(t).is_some());
    let v0 = b.get(1).is_none_or(|&v| v == 3);
    let v1 = b.get(2).is_none_or(|&v| v <= 4);
    t && v0 && v1
}

/// One whole record: its header and its payload, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub header: RecordHeader,
    pub payload: &'a [u8],
}

impl<'a> Record<'a> {
    /// Reads the record at the start of `b`; gives it and the bytes after it.
    /// [`WireError::Truncated`] when `b` stops before the record's end (wait for more bytes),
    /// [`WireError::Malformed`] when they are not a record header.
    pub fn read(b: &'a [u8]) -> Result<(Record<'a>, &'a [u8]), WireError> {
        let Some(header) = RecordHeader::parse(b) else {
            return Err(if b.len() < RECORD_HEADER_LEN && header_prefix_ok(b) {
                WireError::Truncated
            } else {
                WireError::Malformed
            });
        };
        let mut c = Cursor(b);
        c.take(RECORD_HEADER_LEN)?;
        let payload = c.take(usize::from(header.length))?;
        Ok((Record { header, payload }, c.0))
    }
}

/// Whether the first bytes one side of a connection sent start a TLS handshake; `Some(true)`
/// for a ClientHello, `Some(false)` for a ServerHello, `None` for anything else. Reads without
/// allocating, and only as far as the bytes go: at least the record header and the handshake
/// message type (six bytes) must be there. Strict, so as not to fire on other protocols: a
/// handshake record (22) of version SSLv3..TLS 1.3 whose length is at most [`MAX_RECORD_LEN`]
/// and holds the hello's header; a ClientHello (1) or ServerHello (2) whose 24-bit length is
/// at least a minimal hello's and fits in the record (a hello fragmented over several records
/// is not recognised); the hello's own version SSLv3..TLS 1.2 and a session id of at most 32
/// bytes, when those bytes are there.
pub fn looks_like_tls(first: &[u8]) -> Option<bool> {
    let header = RecordHeader::parse(first)?;
    if header.content_type != ContentType::Handshake {
        return None;
    }
    let mut c = Cursor(first.get(RECORD_HEADER_LEN..)?);
    let client = match c.u8().ok()? {
        1 => true,
        2 => false,
        _ => return None,
    };
    // version, random, session id length, one cipher suite, compression (one method for the
    // client): the shortest hello of each side.
    let min_body: u32 = if client {
        2 + 32 + 1 + 4 + 2
    } else {
        2 + 32 + 1 + 3
    };
    let record_len = u32::from(header.length);
    if record_len < 4 + min_body {
        return None;
    }
    let Ok(len) = c.u24() else {
        return Some(client);
    };
    if len < min_body || len + 4 > record_len {
        return None;
    }
    let Ok(version) = c.u16() else {
        return Some(client);
    };
    if !(0x0300..=0x0303).contains(&version) {
        return None;
    }
    if c.take(32).is_err() {
        return Some(client);
    }
    match c.u8() {
        Ok(sid) if sid > 32 => None,
        _ => Some(client),
    }
}

// ---------------------------------------------------------------------------------------------
// Handshake messages

/// Handshake message types (RFC 8446 4, RFC 5246 7.4); [`names::handshake_type_name`] names
/// them all.
pub mod handshake_type {
    pub const HELLO_REQUEST: u8 = 0;
    pub const CLIENT_HELLO: u8 = 1;
    pub const SERVER_HELLO: u8 = 2;
    pub const NEW_SESSION_TICKET: u8 = 4;
    pub const END_OF_EARLY_DATA: u8 = 5;
    pub const ENCRYPTED_EXTENSIONS: u8 = 8;
    pub const CERTIFICATE: u8 = 11;
    pub const SERVER_KEY_EXCHANGE: u8 = 12;
    pub const CERTIFICATE_REQUEST: u8 = 13;
    pub const SERVER_HELLO_DONE: u8 = 14;
    pub const CERTIFICATE_VERIFY: u8 = 15;
    pub const CLIENT_KEY_EXCHANGE: u8 = 16;
    pub const FINISHED: u8 = 20;
    pub const CERTIFICATE_STATUS: u8 = 22;
    pub const KEY_UPDATE: u8 = 24;
    pub const COMPRESSED_CERTIFICATE: u8 = 25;
}

/// Bytes of a handshake message header: type and 24-bit length.
pub const HANDSHAKE_HEADER_LEN: usize = 4;

/// The four bytes that start every handshake message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeHeader {
    /// One of [`handshake_type`].
    pub msg_type: u8,
    /// Bytes of body that follow the header (24 bits).
    pub length: u32,
}

impl HandshakeHeader {
    /// Reads the header at the start of `b`; `None` when fewer than four bytes are there.
    pub fn parse(b: &[u8]) -> Option<HandshakeHeader> {
        let mut c = Cursor(b);
        Some(HandshakeHeader {
            msg_type: c.u8().ok()?,
            length: c.u24().ok()?,
        })
    }
}

/// One whole handshake message: its type and its body, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeMessage<'a> {
    /// One of [`handshake_type`].
    pub msg_type: u8,
    pub body: &'a [u8],
}

impl<'a> HandshakeMessage<'a> {
    /// Reads the message at the start of `b` (handshake records' payloads, concatenated);
    /// gives it and the bytes after it, or [`WireError::Truncated`] when `b` stops before its
    /// end.
    pub fn read(b: &'a [u8]) -> Result<(HandshakeMessage<'a>, &'a [u8]), WireError> {
        let mut c = Cursor(b);
        let msg_type = c.u8()?;
        let body = c.vec24()?;
        Ok((HandshakeMessage { msg_type, body }, c.0))
    }
}

/// The whole handshake messages in a buffer of concatenated handshake-record payloads, in
/// order; [`HandshakeMessages::rest`] gives what is left of a message not yet whole.
#[derive(Debug, Clone)]
pub struct HandshakeMessages<'a> {
    rest: &'a [u8],
}

/// The whole handshake messages at the start of `buf` (several per record, or one over
/// several records once their payloads are concatenated).
pub fn handshake_messages(buf: &[u8]) -> HandshakeMessages<'_> {
    HandshakeMessages { rest: buf }
}

impl<'a> HandshakeMessages<'a> {
    /// The bytes not given as messages: the start of a message still incomplete (empty when
    /// the buffer ended on a message's end).
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for HandshakeMessages<'a> {
    type Item = HandshakeMessage<'a>;

    fn next(&mut self) -> Option<HandshakeMessage<'a>> {
        let (m, rest) = HandshakeMessage::read(self.rest).ok()?;
        self.rest = rest;
        Some(m)
    }
}

// ---------------------------------------------------------------------------------------------
// Hello extensions

/// Extension types the hellos are read for.
mod ext {
    pub const SERVER_NAME: u16 = 0;
    pub const ALPN: u16 = 16;
    pub const ENCRYPT_THEN_MAC: u16 = 22;
    pub const EXTENDED_MASTER_SECRET: u16 = 23;
    pub const SESSION_TICKET: u16 = 35;
    pub const PRE_SHARED_KEY: u16 = 41;
    pub const EARLY_DATA: u16 = 42;
    pub const SUPPORTED_VERSIONS: u16 = 43;
    pub const KEY_SHARE: u16 = 51;
    pub const ENCRYPTED_CLIENT_HELLO: u16 = 0xfe0d;
}

/// One hello extension: its type ([`names::extension_name`]) and its data, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension<'a> {
    pub ext_type: u16,
    pub data: &'a [u8],
}

/// The extensions of a hello, in the order sent.
#[derive(Debug, Clone)]
pub struct Extensions<'a>(Cursor<'a>);

impl<'a> Iterator for Extensions<'a> {
    type Item = Extension<'a>;

    fn next(&mut self) -> Option<Extension<'a>> {
        let mut c = self.0;
        let ext_type = c.u16().ok()?;
        let data = c.vec16().ok()?;
        self.0 = c;
        Some(Extension { ext_type, data })
    }
}

/// The protocol a TLS 1.3 server chose, from its EncryptedExtensions' body (read once
/// decrypted): the ALPN extension's one name; `None` when absent or malformed.
pub fn encrypted_extensions_alpn(body: &[u8]) -> Option<String> {
    let mut c = Cursor(body);
    let block = c.vec16().ok()?;
    let alpn = Extensions(Cursor(block)).find(|e| e.ext_type == ext::ALPN)?;
    let mut list = Cursor(Cursor(alpn.data).vec16().ok()?);
    let name = list.vec8().ok()?;
    std::str::from_utf8(name).ok().map(str::to_owned)
}

/// Checks that an extension block (without its length) is whole extensions end to end.
fn check_extensions(block: &[u8]) -> Result<(), WireError> {
    inner(block, |c| {
        while !c.is_empty() {
            c.u16()?;
            c.vec16()?;
        }
        Ok(())
    })
}

/// Reads the optional extension block that ends a hello: absent (SSLv3 and the oldest
/// clients), or a two-byte length and exactly that many bytes of whole extensions to the end
/// of the body.
fn read_extension_block<'a>(c: &mut Cursor<'a>) -> Result<&'a [u8], WireError> {
    if c.is_empty() {
        return Ok(&[]);
    }
    let block = c.vec16()?;
    c.end()?;
    check_extensions(block)?;
    Ok(block)
}

/// Big-endian u16 values, in order.
#[derive(Debug, Clone)]
pub struct U16s<'a>(&'a [u8]);

impl Iterator for U16s<'_> {
    type Item = u16;

    fn next(&mut self) -> Option<u16> {
        let (v, rest) = self.0.split_first_chunk::<2>()?;
        self.0 = rest;
        Some(u16::from_be_bytes(*v))
    }
}

/// The protocol names of an ALPN extension (`h2`, `http/1.1`), in the client's order.
#[derive(Debug, Clone)]
pub struct ProtocolNames<'a>(Cursor<'a>);

impl<'a> Iterator for ProtocolNames<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        self.0.vec8().ok()
    }
}

/// The groups of a ClientHello's key shares, in the client's order.
#[derive(Debug, Clone)]
pub struct KeyShareGroups<'a>(Cursor<'a>);

impl Iterator for KeyShareGroups<'_> {
    type Item = u16;

    fn next(&mut self) -> Option<u16> {
        let group = self.0.u16().ok()?;
        self.0.vec16().ok()?;
        Some(group)
    }
}

/// An ALPN protocol_name_list: its names end to end, none empty. Gives the list without its
/// length.
fn read_alpn(data: &[u8]) -> Result<&[u8], WireError> {
    inner(data, |c| {
        let list = c.vec16()?;
        inner(list, |l| {
            while !l.is_empty() {
                if l.vec8()?.is_empty() {
                    return Err(WireError::Malformed);
                }
            }
            Ok(())
        })?;
        if list.is_empty() {
            return Err(WireError::Malformed);
        }
        Ok(list)
    })
}

/// The first host_name of a server_name extension (RFC 6066 3), when it is UTF-8.
fn read_server_name(data: &[u8]) -> Result<Option<&str>, WireError> {
    inner(data, |c| {
        let list = c.vec16()?;
        inner(list, |l| {
            let mut host = None;
            while !l.is_empty() {
                let name_type = l.u8()?;
                let name = l.vec16()?;
                if name_type == 0 && host.is_none() {
                    host = std::str::from_utf8(name).ok();
                }
            }
            Ok(host)
        })
    })
}

// ---------------------------------------------------------------------------------------------
// ClientHello

/// A ClientHello's body, borrowed, with the extensions wirespan reads already found.
///
/// The outer structure must be whole and exact (every length adding up, nothing after the
/// extensions); an extension wirespan reads whose contents are malformed is ignored, as if
/// absent, and the other extensions still count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello<'a> {
    /// The version field of the hello itself (0x0303 for TLS 1.3, which offers its versions
    /// in supported_versions).
    pub legacy_version: u16,
    pub random: &'a [u8; 32],
    pub session_id: &'a [u8],
    /// The offered suites, two bytes each.
    cipher_suites: &'a [u8],
    pub compression_methods: &'a [u8],
    /// The extension block without its length: whole extensions end to end.
    extensions: &'a [u8],
    /// The first host_name of server_name (SNI); `None` when absent or not UTF-8.
    pub server_name: Option<&'a str>,
    /// ALPN's protocol_name_list without its length.
    alpn: Option<&'a [u8]>,
    /// supported_versions' list without its length.
    supported_versions: Option<&'a [u8]>,
    /// key_share's client_shares without its length.
    key_shares: Option<&'a [u8]>,
    /// pre_shared_key was offered (TLS 1.3 resumption or external PSK).
    pub pre_shared_key: bool,
    /// session_ticket's contents (RFC 5077): empty when the client only says it takes
    /// tickets, the ticket when it tries to resume with one.
    pub session_ticket: Option<&'a [u8]>,
    /// early_data was offered (TLS 1.3 0-RTT).
    pub early_data: bool,
    /// extended_master_secret was offered (RFC 7627).
    pub extended_master_secret: bool,
    /// encrypted_client_hello was sent (the server_name is then the outer, public name).
    pub encrypted_client_hello: bool,
}

impl<'a> ClientHello<'a> {
    /// Reads a ClientHello from its handshake message body (a whole message: nothing more will
    /// come); [`WireError::Malformed`] when its lengths do not add up to the body.
    pub fn parse(body: &'a [u8]) -> Result<ClientHello<'a>, WireError> {
        Self::read(body).map_err(|_| WireError::Malformed)
    }

    fn read(body: &'a [u8]) -> Result<ClientHello<'a>, WireError> {
        let mut c = Cursor(body);
        let legacy_version = c.u16()?;
        let random = c.array::<32>()?;
        let session_id = c.vec8()?;
        let cipher_suites = c.vec16()?;
        let compression_methods = c.vec8()?;
        if session_id.len() > 32
            || cipher_suites.is_empty()
            || cipher_suites.len() % 2 != 0
            || compression_methods.is_empty()
        {
            return Err(WireError::Malformed);
        }
        let extensions = read_extension_block(&mut c)?;
        let mut hello = ClientHello {
            legacy_version,
            random,
            session_id,
            cipher_suites,
            compression_methods,
            extensions,
            server_name: None,
            alpn: None,
            supported_versions: None,
            key_shares: None,
            pre_shared_key: false,
            session_ticket: None,
            early_data: false,
            extended_master_secret: false,
            encrypted_client_hello: false,
        };
        for e in hello.extensions() {
            let d = e.data;
            match e.ext_type {
                ext::SERVER_NAME if hello.server_name.is_none() => {
                    hello.server_name = read_server_name(d).ok().flatten();
                }
                ext::ALPN if hello.alpn.is_none() => hello.alpn = read_alpn(d).ok(),
                ext::SUPPORTED_VERSIONS if hello.supported_versions.is_none() => {
                    hello.supported_versions = inner(d, |c| {
                        let list = c.vec8()?;
                        if list.is_empty() || list.len() % 2 != 0 {
                            return Err(WireError::Malformed);
                        }
                        Ok(list)
                    })
                    .ok();
                }
                ext::KEY_SHARE if hello.key_shares.is_none() => {
                    hello.key_shares = inner(d, |c| {
                        let shares = c.vec16()?;
                        inner(shares, |s| {
                            while !s.is_empty() {
                                s.u16()?;
                                s.vec16()?;
                            }
                            Ok(())
                        })?;
                        Ok(shares)
                    })
                    .ok();
                }
                ext::PRE_SHARED_KEY => hello.pre_shared_key = true,
                ext::SESSION_TICKET if hello.session_ticket.is_none() => {
                    hello.session_ticket = Some(d);
                }
                ext::EARLY_DATA => hello.early_data = true,
                ext::EXTENDED_MASTER_SECRET => hello.extended_master_secret = true,
                ext::ENCRYPTED_CLIENT_HELLO => hello.encrypted_client_hello = true,
                _ => {}
            }
        }
        Ok(hello)
    }

    /// The offered cipher suites, in the client's order (GREASE values included:
    /// [`names::is_grease`]).
    pub fn cipher_suites(&self) -> U16s<'a> {
        U16s(self.cipher_suites)
    }

    /// How many cipher suites are offered.
    pub fn cipher_suite_count(&self) -> usize {
        self.cipher_suites.len() / 2
    }

    /// Every extension, in the order sent.
    pub fn extensions(&self) -> Extensions<'a> {
        Extensions(Cursor(self.extensions))
    }

    /// The ALPN protocols offered (`h2`, `http/1.1`), in the client's order; none when ALPN
    /// was not sent.
    pub fn alpn_protocols(&self) -> ProtocolNames<'a> {
        ProtocolNames(Cursor(self.alpn.unwrap_or_default()))
    }

    /// Whether ALPN was sent.
    pub fn offers_alpn(&self) -> bool {
        self.alpn.is_some()
    }

    /// The versions of supported_versions, in the client's order (GREASE included); none
    /// when the extension was not sent.
    pub fn supported_versions(&self) -> U16s<'a> {
        U16s(self.supported_versions.unwrap_or_default())
    }

    /// The highest version in supported_versions, GREASE and unknown values skipped; `None`
    /// when the extension was not sent or named no known version.
    pub fn max_supported_version(&self) -> Option<u16> {
        self.supported_versions()
            .filter(|&v| names::version_name(v).is_some())
            .max()
    }

    /// The highest version the client offers: supported_versions' highest, else the hello's
    /// own version.
    pub fn max_version(&self) -> u16 {
        self.max_supported_version().unwrap_or(self.legacy_version)
    }

    /// The groups of the key shares sent (TLS 1.3), in the client's order (GREASE included);
    /// none when key_share was not sent.
    pub fn key_share_groups(&self) -> KeyShareGroups<'a> {
        KeyShareGroups(Cursor(self.key_shares.unwrap_or_default()))
    }

    /// The client tries to resume a TLS 1.2 session with a ticket (session_ticket with a
    /// ticket in it).
    pub fn offers_ticket(&self) -> bool {
        self.session_ticket.is_some_and(|t| !t.is_empty())
    }
}

// ---------------------------------------------------------------------------------------------
// ServerHello

/// The random of a ServerHello that is a HelloRetryRequest (RFC 8446 4.1.3: SHA-256 of
/// "HelloRetryRequest").
pub const HELLO_RETRY_REQUEST_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// A ServerHello's body (or a HelloRetryRequest's, which has the same shape), borrowed, with
/// the extensions wirespan reads already found. Lengths must add up as for [`ClientHello`];
/// a malformed extension wirespan reads is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello<'a> {
    /// The version field of the hello itself (0x0303 in TLS 1.3).
    pub legacy_version: u16,
    pub random: &'a [u8; 32],
    pub session_id: &'a [u8],
    pub cipher_suite: u16,
    pub compression_method: u8,
    /// The extension block without its length: whole extensions end to end.
    extensions: &'a [u8],
    /// The random is [`HELLO_RETRY_REQUEST_RANDOM`]: the server asks the client for another
    /// ClientHello (TLS 1.3), and its real ServerHello is still to come.
    pub hello_retry_request: bool,
    /// The version selected in supported_versions (TLS 1.3 and later).
    pub supported_version: Option<u16>,
    /// The protocol ALPN selected (TLS 1.2 and below; TLS 1.3 puts it in the encrypted
    /// EncryptedExtensions).
    pub alpn: Option<&'a [u8]>,
    /// The group of key_share: the server's share in a ServerHello, the group asked for in a
    /// HelloRetryRequest.
    pub key_share_group: Option<u16>,
    /// The PSK identity selected in pre_shared_key: a TLS 1.3 resumption (or external PSK).
    pub pre_shared_key: Option<u16>,
    /// extended_master_secret was accepted (RFC 7627).
    pub extended_master_secret: bool,
    /// session_ticket was sent: the server will send a NewSessionTicket (TLS 1.2).
    pub session_ticket: bool,
    /// encrypt_then_mac was accepted (RFC 7366: CBC records are MACed after encryption).
    pub encrypt_then_mac: bool,
}

impl<'a> ServerHello<'a> {
    /// Reads a ServerHello (or HelloRetryRequest) from its handshake message body (a whole
    /// message); [`WireError::Malformed`] when its lengths do not add up to the body.
    pub fn parse(body: &'a [u8]) -> Result<ServerHello<'a>, WireError> {
        Self::read(body).map_err(|_| WireError::Malformed)
    }

    fn read(body: &'a [u8]) -> Result<ServerHello<'a>, WireError> {
        let mut c = Cursor(body);
        let legacy_version = c.u16()?;
        let random = c.array::<32>()?;
        let session_id = c.vec8()?;
        let cipher_suite = c.u16()?;
        let compression_method = c.u8()?;
        if session_id.len() > 32 {
            return Err(WireError::Malformed);
        }
        let extensions = read_extension_block(&mut c)?;
        let mut hello = ServerHello {
            legacy_version,
            random,
            session_id,
            cipher_suite,
            compression_method,
            extensions,
            hello_retry_request: *random == HELLO_RETRY_REQUEST_RANDOM,
            supported_version: None,
            alpn: None,
            key_share_group: None,
            pre_shared_key: None,
            extended_master_secret: false,
            session_ticket: false,
            encrypt_then_mac: false,
        };
        for e in hello.extensions() {
            let d = e.data;
            match e.ext_type {
                ext::SUPPORTED_VERSIONS if hello.supported_version.is_none() => {
                    hello.supported_version = inner(d, |c| c.u16()).ok();
                }
                ext::ALPN if hello.alpn.is_none() => {
                    // Exactly one protocol.
                    hello.alpn = read_alpn(d).and_then(|list| inner(list, |l| l.vec8())).ok();
                }
                ext::KEY_SHARE if hello.key_share_group.is_none() => {
                    let retry = hello.hello_retry_request;
                    hello.key_share_group = inner(d, |c| {
                        let group = c.u16()?;
                        if !retry {
                            c.vec16()?;
                        }
                        Ok(group)
                    })
                    .ok();
                }
                ext::PRE_SHARED_KEY if hello.pre_shared_key.is_none() => {
                    hello.pre_shared_key = inner(d, |c| c.u16()).ok();
                }
                ext::EXTENDED_MASTER_SECRET => hello.extended_master_secret = true,
                ext::SESSION_TICKET => hello.session_ticket = true,
                ext::ENCRYPT_THEN_MAC => hello.encrypt_then_mac = true,
                _ => {}
            }
        }
        Ok(hello)
    }

    /// Every extension, in the order sent.
    pub fn extensions(&self) -> Extensions<'a> {
        Extensions(Cursor(self.extensions))
    }

    /// The version the connection runs: supported_versions' when present, else the hello's
    /// own.
    pub fn negotiated_version(&self) -> u16 {
        self.supported_version.unwrap_or(self.legacy_version)
    }

    /// The selected ALPN protocol as text (OpenTelemetry's `tls.next_protocol`), when it is
    /// UTF-8.
    pub fn alpn_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.alpn?).ok()
    }

    /// Whether the hellos alone say the session is resumed: in TLS 1.3 the server selected a
    /// PSK; below, it echoed the non-empty session id the client offered. (A TLS 1.2 ticket
    /// resumption without a session id shows only in the absence of a Certificate message.)
    pub fn resumes(&self, client: &ClientHello<'_>) -> bool {
        if self.negotiated_version() >= 0x0304 {
            self.pre_shared_key.is_some()
        } else {
            !self.session_id.is_empty() && self.session_id == client.session_id
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Certificate

/// A Certificate message's chain (TLS 1.2 and below in the clear, or TLS 1.3's once
/// decrypted), borrowed: the end-entity certificate first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Certificates<'a> {
    /// certificate_list without its length: whole entries end to end.
    list: &'a [u8],
    tls13: bool,
}

impl<'a> Certificates<'a> {
    /// Reads a Certificate message's body; `tls13` says it has TLS 1.3's shape (a request
    /// context first, extensions after each certificate). [`WireError::Malformed`] when its
    /// lengths do not add up.
    pub fn parse(body: &'a [u8], tls13: bool) -> Result<Certificates<'a>, WireError> {
        inner(body, |c| {
            if tls13 {
                c.vec8()?;
            }
            let list = c.vec24()?;
            inner(list, |l| {
                while !l.is_empty() {
                    if l.vec24()?.is_empty() {
                        return Err(WireError::Malformed);
                    }
                    if tls13 {
                        l.vec16()?;
                    }
                }
                Ok(())
            })?;
            Ok(Certificates { list, tls13 })
        })
    }

    /// The certificates' DER, the server's own first.
    pub fn iter(&self) -> CertificateDers<'a> {
        CertificateDers {
            c: Cursor(self.list),
            tls13: self.tls13,
        }
    }

    /// The first certificate's DER (the server's own); `None` for an empty chain (a client
    /// that has no certificate to give).
    pub fn first(&self) -> Option<&'a [u8]> {
        self.iter().next()
    }
}

/// The DER of each certificate in a chain, in order.
#[derive(Debug, Clone)]
pub struct CertificateDers<'a> {
    c: Cursor<'a>,
    tls13: bool,
}

impl<'a> Iterator for CertificateDers<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let der = self.c.vec24().ok()?;
        if self.tls13 {
            self.c.vec16().ok()?;
        }
        Some(der)
    }
}

/// Subject alternative DNS names kept of a certificate.
pub const MAX_DNS_NAMES: usize = 4;

/// What a span says of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// The subject's distinguished name as x509-parser prints it (`CN=cart.svc.test`,
    /// `C=US, O=Example, CN=example.com`).
    pub subject: String,
    /// The issuer's, printed the same way.
    pub issuer: String,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// The first [`MAX_DNS_NAMES`] DNS names of subjectAltName, in order.
    pub dns_names: Vec<String>,
}

/// Reads what a span says of a certificate from its DER; [`WireError::BadCertificate`] when
/// it is not an X.509 certificate. A subjectAltName that does not read gives no names.
pub fn read_certificate(der: &[u8]) -> Result<CertificateInfo, WireError> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der).map_err(|_| WireError::BadCertificate)?;
    let dns_names = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(name) => Some((*name).to_owned()),
                _ => None,
            })
            .take(MAX_DNS_NAMES)
            .collect(),
        _ => Vec::new(),
    };
    let validity = cert.validity();
    Ok(CertificateInfo {
        subject: rfc4514(cert.subject()),
        issuer: rfc4514(cert.issuer()),
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        dns_names,
    })
}

/// A distinguished name as RFC 4514 writes it (and OTel's `tls.server.subject` shows it):
/// the most specific RDN first, `CN=web.example,O=Example`, special characters escaped;
/// attributes without a short name by their OID, values that are not strings as `#hex`.
fn rfc4514(name: &x509_parser::x509::X509Name<'_>) -> String {
    let mut out = String::new();
    for (i, rdn) in name
        .iter_rdn()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .enumerate()
    {
        if i > 0 {
            out.push(',');
        }
        for (j, attr) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let oid = attr.attr_type().to_id_string();
            let key = match oid.as_str() {
                "2.5.4.3" => "CN",
                "2.5.4.6" => "C",
                "2.5.4.7" => "L",
                "2.5.4.8" => "ST",
                "2.5.4.9" => "STREET",
                "2.5.4.10" => "O",
                "2.5.4.11" => "OU",
                "0.9.2342.19200300.100.1.1" => "UID",
                "0.9.2342.19200300.100.1.25" => "DC",
                other => other,
            };
            out.push_str(key);
            out.push('=');
            match attr.as_str() {
                Ok(value) => escape_dn_value(&mut out, value),
                Err(_) => {
                    out.push('#');
                    for b in attr.attr_value().data.iter() {
                        out.push_str(&format!("{b:02x}"));
                    }
                }
            }
        }
    }
    out
}

/// RFC 4514 section 2.4: `"+,;<>\` escaped anywhere, `#` and space first, space last.
fn escape_dn_value(out: &mut String, value: &str) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        if c == '\0' {
            out.push_str("\\00");
        } else {
            out.push(c);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Alert

/// An alert in the clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alert {
    /// 1 warning, 2 fatal (TLS 1.3 treats every alert but close_notify and user_canceled as
    /// fatal whatever it says).
    pub level: u8,
    /// What happened: [`names::alert_name`].
    pub description: u8,
}

impl Alert {
    /// Reads an alert record's payload: exactly two bytes, a level of 1 or 2. `None`
    /// otherwise, which is what an encrypted alert (longer) gives.
    pub fn parse(payload: &[u8]) -> Option<Alert> {
        match *payload {
            [level @ (1 | 2), description] => Some(Alert { level, description }),
            _ => None,
        }
    }

    /// The description's IANA name (`handshake_failure`); `None` for one not registered.
    pub fn name(&self) -> Option<&'static str> {
        names::alert_name(self.description)
    }

    /// Whether the connection ends in failure: a fatal level, or in TLS 1.3 terms any alert
    /// that is not a closure (close_notify, user_canceled).
    pub fn is_error(&self) -> bool {
        self.level == 2 || !matches!(self.description, 0 | 90)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &[u8] = include_bytes!("testdata/cart.der");

    fn v8(b: &[u8]) -> Vec<u8> {
        let mut v = vec![b.len() as u8];
        v.extend_from_slice(b);
        v
    }

    fn v16(b: &[u8]) -> Vec<u8> {
        let mut v = (b.len() as u16).to_be_bytes().to_vec();
        v.extend_from_slice(b);
        v
    }

    fn v24(b: &[u8]) -> Vec<u8> {
        let mut v = (b.len() as u32).to_be_bytes()[1..].to_vec();
        v.extend_from_slice(b);
        v
    }

    fn u16s(vs: &[u16]) -> Vec<u8> {
        vs.iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    fn ext(t: u16, data: &[u8]) -> Vec<u8> {
        let mut e = t.to_be_bytes().to_vec();
        e.extend(v16(data));
        e
    }

    fn handshake(t: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![t];
        m.extend(v24(body));
        m
    }

    fn record(t: u8, version: u16, payload: &[u8]) -> Vec<u8> {
        let mut r = vec![t];
        r.extend(version.to_be_bytes());
        r.extend(v16(payload));
        r
    }

    fn sni(host: &str) -> Vec<u8> {
        let mut entry = vec![0];
        entry.extend(v16(host.as_bytes()));
        ext(0, &v16(&entry))
    }

    fn alpn(protocols: &[&str]) -> Vec<u8> {
        let list: Vec<u8> = protocols.iter().flat_map(|p| v8(p.as_bytes())).collect();
        ext(16, &v16(&list))
    }

    fn client_hello(version: u16, session_id: &[u8], suites: &[u16], exts: &[Vec<u8>]) -> Vec<u8> {
        let mut b = version.to_be_bytes().to_vec();
        b.extend([0x11; 32]);
        b.extend(v8(session_id));
        b.extend(v16(&u16s(suites)));
        b.extend(v8(&[0]));
        if !exts.is_empty() {
            b.extend(v16(&exts.concat()));
        }
        b
    }

    fn server_hello(
        version: u16,
        random: [u8; 32],
        session_id: &[u8],
        suite: u16,
        exts: &[Vec<u8>],
    ) -> Vec<u8> {
        let mut b = version.to_be_bytes().to_vec();
        b.extend(random);
        b.extend(v8(session_id));
        b.extend(suite.to_be_bytes());
        b.push(0);
        if !exts.is_empty() {
            b.extend(v16(&exts.concat()));
        }
        b
    }

    /// A key share entry: the group and a key of `len` bytes.
    fn share(group: u16, len: usize) -> Vec<u8> {
        let mut s = group.to_be_bytes().to_vec();
        s.extend(v16(&vec![0x42; len]));
        s
    }

    /// A TLS 1.3 ClientHello as a browser sends it: GREASE, SNI, ALPN h2 and http/1.1,
    /// supported_versions, a post-quantum and an x25519 key share, a ticket offered as PSK
    /// with early data.
    fn tls13_client_hello() -> Vec<u8> {
        let shares = [share(0x4a4a, 1), share(0x11ec, 1216), share(29, 32)].concat();
        let mut psk = v16(&[v16(b"ticket-identity"), vec![0, 0, 0x10, 0]].concat());
        psk.extend(v16(&v8(&[0x33; 32])));
        client_hello(
            0x0303,
            &[0x22; 32],
            &[0x1a1a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xcca9],
            &[
                ext(0x0a0a, &[]),
                sni("cart.svc.test"),
                ext(23, &[]),
                ext(35, &[]),
                alpn(&["h2", "http/1.1"]),
                ext(10, &v16(&u16s(&[0x11ec, 29, 23]))),
                ext(13, &v16(&u16s(&[0x0403, 0x0804]))),
                ext(43, &v8(&u16s(&[0x3a3a, 0x0304, 0x0303]))),
                ext(51, &v16(&shares)),
                ext(45, &v8(&[1])),
                ext(42, &[]),
                ext(41, &psk),
            ],
        )
    }

    /// A TLS 1.2 ClientHello resuming with a ticket and a session id.
    fn tls12_client_hello() -> Vec<u8> {
        client_hello(
            0x0303,
            &[0x55; 32],
            &[0xc02f, 0xc030, 0x009c, 0x00ff],
            &[
                sni("db.svc.test"),
                ext(23, &[]),
                ext(35, b"opaque-ticket"),
                alpn(&["http/1.1"]),
            ],
        )
    }

    #[test]
    fn tls13_client_hello_reads() {
        let body = tls13_client_hello();
        let h = ClientHello::parse(&body).unwrap();
        assert_eq!(h.legacy_version, 0x0303);
        assert_eq!(h.random, &[0x11; 32]);
        assert_eq!(h.session_id, &[0x22; 32]);
        assert_eq!(h.cipher_suite_count(), 7);
        assert_eq!(
            h.cipher_suites().collect::<Vec<_>>(),
            vec![0x1a1a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xcca9]
        );
        assert_eq!(h.compression_methods, &[0]);
        assert_eq!(h.server_name, Some("cart.svc.test"));
        assert!(h.offers_alpn());
        assert_eq!(
            h.alpn_protocols().collect::<Vec<_>>(),
            vec![&b"h2"[..], b"http/1.1"]
        );
        assert_eq!(
            h.supported_versions().collect::<Vec<_>>(),
            vec![0x3a3a, 0x0304, 0x0303]
        );
        assert_eq!(h.max_supported_version(), Some(0x0304));
        assert_eq!(h.max_version(), 0x0304);
        assert_eq!(
            h.key_share_groups().collect::<Vec<_>>(),
            vec![0x4a4a, 0x11ec, 29]
        );
        let named: Vec<_> = h.key_share_groups().filter_map(names::group_name).collect();
        assert_eq!(named, vec!["X25519MLKEM768", "x25519"]);
        assert!(h.pre_shared_key && h.early_data && h.extended_master_secret);
        assert_eq!(h.session_ticket, Some(&[][..]));
        assert!(!h.offers_ticket());
        assert!(!h.encrypted_client_hello);
        assert_eq!(h.extensions().count(), 12);
        assert_eq!(h.extensions().last().map(|e| e.ext_type), Some(41));
    }

    #[test]
    fn tls12_client_hello_reads() {
        let body = tls12_client_hello();
        let h = ClientHello::parse(&body).unwrap();
        assert_eq!(h.server_name, Some("db.svc.test"));
        assert_eq!(h.max_supported_version(), None);
        assert_eq!(h.max_version(), 0x0303);
        assert_eq!(h.key_share_groups().count(), 0);
        assert_eq!(h.supported_versions().count(), 0);
        assert!(h.offers_ticket());
        assert_eq!(h.session_ticket, Some(&b"opaque-ticket"[..]));
        assert!(!h.pre_shared_key && !h.early_data);
        assert_eq!(
            h.alpn_protocols().collect::<Vec<_>>(),
            vec![&b"http/1.1"[..]]
        );
        // No extensions at all (SSLv3, the oldest clients).
        let old = client_hello(0x0300, &[], &[0x000a], &[]);
        let h = ClientHello::parse(&old).unwrap();
        assert_eq!((h.server_name, h.extensions().count()), (None, 0));
        assert!(!h.offers_alpn());
        assert_eq!(h.alpn_protocols().count(), 0);
    }

    /// A malformed extension wirespan reads is ignored; the others still count. An extension
    /// block whose lengths do not add up is a malformed hello.
    #[test]
    fn malformed_extensions() {
        let body = client_hello(
            0x0303,
            &[],
            &[0x1301],
            &[
                ext(16, &[0, 3, 0, b'h', b'2']),
                ext(43, &[3, 3, 4]),
                sni("ok.svc.test"),
                ext(51, &[0, 5, 0, 29, 0, 9, 1]),
            ],
        );
        let h = ClientHello::parse(&body).unwrap();
        assert_eq!(h.server_name, Some("ok.svc.test"));
        assert!(!h.offers_alpn());
        assert_eq!(h.max_supported_version(), None);
        assert_eq!(h.key_share_groups().count(), 0);
        let mut bad = client_hello(0x0303, &[], &[0x1301], &[sni("x")]);
        let n = bad.len();
        bad.push(0);
        assert_eq!(ClientHello::parse(&bad), Err(WireError::Malformed));
        bad[n - 10] ^= 0x40;
        assert!(ClientHello::parse(&bad).is_err());
        // An odd cipher suite list, no compression method, a long session id.
        let mut odd = client_hello(0x0303, &[], &[0x1301], &[]);
        odd[35..37].copy_from_slice(&[0, 3]);
        odd.insert(37, 0x13);
        assert_eq!(ClientHello::parse(&odd), Err(WireError::Malformed));
        let mut none = client_hello(0x0303, &[], &[0x1301], &[]);
        none.truncate(none.len() - 2);
        none.push(0);
        assert_eq!(ClientHello::parse(&none), Err(WireError::Malformed));
        let long = client_hello(0x0303, &[7; 33], &[0x1301], &[]);
        assert_eq!(ClientHello::parse(&long), Err(WireError::Malformed));
    }

    #[test]
    fn tls13_server_hello_reads() {
        let body = server_hello(
            0x0303,
            [0x77; 32],
            &[0x22; 32],
            0x1302,
            &[
                ext(43, &u16s(&[0x0304])),
                ext(51, &share(0x11ec, 1120)),
                ext(41, &u16s(&[0])),
            ],
        );
        let s = ServerHello::parse(&body).unwrap();
        assert!(!s.hello_retry_request);
        assert_eq!(s.random, &[0x77; 32]);
        assert_eq!(s.supported_version, Some(0x0304));
        assert_eq!(s.negotiated_version(), 0x0304);
        assert_eq!(names::version_name(s.negotiated_version()), Some("1.3"));
        assert_eq!(
            names::cipher_suite_name(s.cipher_suite),
            Some("TLS_AES_256_GCM_SHA384")
        );
        assert_eq!(
            s.key_share_group.and_then(names::group_name),
            Some("X25519MLKEM768")
        );
        assert_eq!(s.pre_shared_key, Some(0));
        assert_eq!(s.alpn, None);
        let client = tls13_client_hello();
        let client = ClientHello::parse(&client).unwrap();
        assert!(s.resumes(&client));
        let info = names::cipher_info(s.cipher_suite).unwrap();
        assert_eq!(
            (info.aead, info.hash, info.tls13),
            (Some(names::Aead::Aes256Gcm), names::Hash::Sha384, true)
        );
        // A full handshake: no PSK selected.
        let full = server_hello(
            0x0303,
            [0x77; 32],
            &[0x22; 32],
            0x1301,
            &[ext(51, &share(29, 32)), ext(43, &u16s(&[0x0304]))],
        );
        let s = ServerHello::parse(&full).unwrap();
        assert_eq!(s.key_share_group, Some(29));
        assert!(!s.resumes(&client));
    }

    #[test]
    fn tls12_server_hello_reads() {
        let body = server_hello(
            0x0303,
            [0x78; 32],
            &[0x55; 32],
            0xc02f,
            &[
                ext(0xff01, &[0]),
                ext(23, &[]),
                ext(35, &[]),
                ext(22, &[]),
                alpn(&["h2"]),
            ],
        );
        let s = ServerHello::parse(&body).unwrap();
        assert_eq!(s.supported_version, None);
        assert_eq!(names::version_name(s.negotiated_version()), Some("1.2"));
        assert_eq!(s.alpn, Some(&b"h2"[..]));
        assert_eq!(s.alpn_str(), Some("h2"));
        assert!(s.extended_master_secret && s.session_ticket && s.encrypt_then_mac);
        assert_eq!(s.key_share_group, None);
        assert_eq!(
            names::cipher_suite_name(s.cipher_suite),
            Some("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
        );
        // It echoes the client's session id: a resumption.
        let client = tls12_client_hello();
        let client = ClientHello::parse(&client).unwrap();
        assert!(s.resumes(&client));
        let fresh = server_hello(0x0303, [0x78; 32], &[0x66; 32], 0xc02f, &[]);
        let fresh = ServerHello::parse(&fresh).unwrap();
        assert!(!fresh.resumes(&client));
        assert_eq!(fresh.extensions().count(), 0);
        // ALPN must select exactly one protocol.
        let two = server_hello(0x0303, [0; 32], &[], 0xc02f, &[alpn(&["h2", "http/1.1"])]);
        assert_eq!(ServerHello::parse(&two).unwrap().alpn, None);
    }

    #[test]
    fn hello_retry_request_is_told_by_its_random() {
        let body = server_hello(
            0x0303,
            HELLO_RETRY_REQUEST_RANDOM,
            &[0x22; 32],
            0x1301,
            &[ext(43, &u16s(&[0x0304])), ext(51, &u16s(&[23]))],
        );
        let s = ServerHello::parse(&body).unwrap();
        assert!(s.hello_retry_request);
        assert_eq!(s.key_share_group, Some(23));
        assert_eq!(s.negotiated_version(), 0x0304);
    }

    /// A ServerHello, the certificate chain and ServerHelloDone in one record, and a
    /// ClientHello over two: messages come out whole once the payloads are concatenated.
    #[test]
    fn records_and_handshake_messages() {
        let sh = server_hello(0x0303, [1; 32], &[], 0xc02f, &[ext(23, &[])]);
        let chain = v24(&[v24(CERT), v24(CERT)].concat());
        let flight = [
            handshake(handshake_type::SERVER_HELLO, &sh),
            handshake(handshake_type::CERTIFICATE, &chain),
            handshake(handshake_type::SERVER_HELLO_DONE, &[]),
        ]
        .concat();
        let mut stream = record(22, 0x0303, &flight);
        stream.extend(record(20, 0x0303, &[1]));
        stream.extend(record(21, 0x0303, &[2, 40]));
        let (r, rest) = Record::read(&stream).unwrap();
        assert_eq!(r.header.content_type, ContentType::Handshake);
        assert_eq!(r.header.record_len(), RECORD_HEADER_LEN + flight.len());
        let types: Vec<u8> = handshake_messages(r.payload).map(|m| m.msg_type).collect();
        assert_eq!(types, vec![2, 11, 14]);
        let (ccs, rest) = Record::read(rest).unwrap();
        assert_eq!(ccs.header.content_type, ContentType::ChangeCipherSpec);
        let (alert, rest) = Record::read(rest).unwrap();
        let alert = Alert::parse(alert.payload).unwrap();
        assert_eq!(alert.name(), Some("handshake_failure"));
        assert!(alert.is_error());
        assert!(rest.is_empty());

        let hello = handshake(handshake_type::CLIENT_HELLO, &tls13_client_hello());
        let (a, b) = hello.split_at(700);
        let stream = [record(22, 0x0301, a), record(22, 0x0303, b)].concat();
        let mut payloads = Vec::new();
        let mut rest = &stream[..];
        while !rest.is_empty() {
            let (r, next) = Record::read(rest).unwrap();
            payloads.extend_from_slice(r.payload);
            let mut msgs = handshake_messages(&payloads);
            if rest.len() == stream.len() {
                assert_eq!(msgs.next(), None);
                assert_eq!(msgs.rest().len(), 700);
            }
            rest = next;
        }
        let mut msgs = handshake_messages(&payloads);
        let m = msgs.next().unwrap();
        assert_eq!(m.msg_type, handshake_type::CLIENT_HELLO);
        assert_eq!(
            ClientHello::parse(m.body).unwrap().server_name,
            Some("cart.svc.test")
        );
        assert!(msgs.next().is_none() && msgs.rest().is_empty());
        assert_eq!(
            HandshakeHeader::parse(&hello),
            Some(HandshakeHeader {
                msg_type: 1,
                length: hello.len() as u32 - 4
            })
        );
    }

    /// The handshake records of real OpenSSL 3.0 connections (`s_client -servername
    /// cart.svc.test -alpn h2,http/1.1` to `s_server -tls1_2` and `-tls1_3`, with an ECDSA
    /// certificate), captured on loopback.
    #[test]
    fn real_openssl_handshakes() {
        let client = include_bytes!("testdata/openssl_client_hello.bin");
        assert_eq!(looks_like_tls(client), Some(true));
        let (r, rest) = Record::read(client).unwrap();
        assert!(rest.is_empty());
        let (m, _) = HandshakeMessage::read(r.payload).unwrap();
        let ch = ClientHello::parse(m.body).unwrap();
        assert_eq!(ch.server_name, Some("cart.svc.test"));
        assert_eq!(
            ch.alpn_protocols().collect::<Vec<_>>(),
            vec![&b"h2"[..], b"http/1.1"]
        );
        assert_eq!(ch.max_supported_version(), Some(0x0304));
        assert_eq!(ch.key_share_groups().collect::<Vec<_>>(), vec![29]);
        assert_eq!(ch.cipher_suite_count(), 31);
        assert_eq!(ch.cipher_suites().next(), Some(0x1302));
        assert_eq!(ch.session_id.len(), 32);
        assert!(ch
            .cipher_suites()
            .all(|s| names::cipher_suite_name(s).is_some()));

        let flight = include_bytes!("testdata/openssl_tls12_server_flight.bin");
        assert_eq!(looks_like_tls(flight), Some(false));
        let mut payloads = Vec::new();
        let mut rest = &flight[..];
        while !rest.is_empty() {
            let (r, next) = Record::read(rest).unwrap();
            assert_eq!(r.header.content_type, ContentType::Handshake);
            payloads.extend_from_slice(r.payload);
            rest = next;
        }
        let msgs: Vec<_> = handshake_messages(&payloads).collect();
        let types: Vec<_> = msgs.iter().map(|m| m.msg_type).collect();
        assert_eq!(types, vec![2, 11, 12, 14, 4]);
        let sh = ServerHello::parse(msgs[0].body).unwrap();
        assert_eq!(names::version_name(sh.negotiated_version()), Some("1.2"));
        assert_eq!(
            names::cipher_suite_name(sh.cipher_suite),
            Some("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384")
        );
        assert_eq!(sh.alpn_str(), Some("h2"));
        assert!(sh.extended_master_secret && sh.session_ticket);
        assert!(!sh.resumes(&ch));
        let certs = Certificates::parse(msgs[1].body, false).unwrap();
        let info = read_certificate(certs.first().unwrap()).unwrap();
        assert_eq!(info.subject, "CN=cart.svc.test");
        assert_eq!(info.dns_names, vec!["cart.svc.test"]);
        assert_eq!(info.not_after - info.not_before, 30 * 86_400);

        let sh13 = include_bytes!("testdata/openssl_tls13_server_hello.bin");
        let (r, _) = Record::read(sh13).unwrap();
        let (m, _) = HandshakeMessage::read(r.payload).unwrap();
        let sh = ServerHello::parse(m.body).unwrap();
        assert_eq!(names::version_name(sh.negotiated_version()), Some("1.3"));
        assert_eq!(sh.legacy_version, 0x0303);
        assert_eq!(
            names::cipher_suite_name(sh.cipher_suite),
            Some("TLS_AES_256_GCM_SHA384")
        );
        assert_eq!(
            sh.key_share_group.and_then(names::group_name),
            Some("x25519")
        );
        assert!(!sh.hello_retry_request && sh.pre_shared_key.is_none());
        // TLS 1.3 echoes the client's session id (middlebox compatibility): no resumption.
        assert_eq!(sh.session_id.len(), 32);
    }

    #[test]
    fn record_headers() {
        assert_eq!(
            RecordHeader::parse(&[23, 3, 3, 0x40, 0x11]),
            Some(RecordHeader {
                content_type: ContentType::ApplicationData,
                version: 0x0303,
                length: 0x4011
            })
        );
        // Longer than 2^14 + 2048, an unknown type, a version past TLS 1.3 or before SSLv3.
        assert_eq!(RecordHeader::parse(&[23, 3, 3, 0x48, 0x01]), None);
        assert_eq!(RecordHeader::parse(&[25, 3, 3, 0, 1]), None);
        assert_eq!(RecordHeader::parse(&[22, 3, 5, 0, 1]), None);
        assert_eq!(RecordHeader::parse(&[22, 2, 0, 0, 1]), None);
        assert_eq!(RecordHeader::parse(&[22, 3, 1, 0]), None);
        assert_eq!(Record::read(&[22, 3]), Err(WireError::Truncated));
        assert_eq!(
            Record::read(&[22, 3, 1, 0, 4, 1]),
            Err(WireError::Truncated)
        );
        assert_eq!(Record::read(b"GE"), Err(WireError::Malformed));
        assert_eq!(Record::read(&[22, 4]), Err(WireError::Malformed));
        assert_eq!(Record::read(b"GET / HTTP/1.1"), Err(WireError::Malformed));
    }

    #[test]
    fn certificate_chain_and_the_first_certificate() {
        let chain = v24(&[v24(CERT), v24(&CERT[..100])].concat());
        let certs = Certificates::parse(&chain, false).unwrap();
        assert_eq!(certs.iter().count(), 2);
        assert_eq!(certs.first(), Some(CERT));
        let info = read_certificate(certs.first().unwrap()).unwrap();
        assert_eq!(info.subject, "CN=cart.svc.test");
        assert_eq!(info.issuer, "CN=cart.svc.test");
        // As `openssl x509 -noout -dates` printed them when the certificate was made.
        assert_eq!(info.not_before, 1_796_658_808);
        assert_eq!(info.not_after, 1_799_250_808);
        assert_eq!(info.not_after - info.not_before, 30 * 86_400);
        assert_eq!(
            info.dns_names,
            vec!["cart.svc.test", "cart", "cart.svc.cluster.local"]
        );
        let second = certs.iter().nth(1).unwrap();
        assert_eq!(read_certificate(second), Err(WireError::BadCertificate));
        assert_eq!(read_certificate(&[]), Err(WireError::BadCertificate));
        // TLS 1.3's shape: a request context, extensions after each certificate.
        let tls13 = [v8(&[]), v24(&[v24(CERT), v16(&[])].concat())].concat();
        let certs = Certificates::parse(&tls13, true).unwrap();
        assert_eq!(certs.first(), Some(CERT));
        assert_eq!(
            Certificates::parse(&tls13, false).map(|_| ()),
            Err(WireError::Malformed)
        );
        // An empty chain, a certificate of no bytes, trailing bytes.
        assert_eq!(Certificates::parse(&v24(&[]), false).unwrap().first(), None);
        assert!(Certificates::parse(&v24(&v24(&[])), false).is_err());
        let mut trailing = chain.clone();
        trailing.push(0);
        assert!(Certificates::parse(&trailing, false).is_err());
    }

    #[test]
    fn alerts() {
        let a = Alert::parse(&[1, 0]).unwrap();
        assert_eq!(a.name(), Some("close_notify"));
        assert!(!a.is_error());
        let a = Alert::parse(&[2, 48]).unwrap();
        assert_eq!((a.level, a.name()), (2, Some("unknown_ca")));
        assert!(a.is_error());
        assert_eq!(Alert::parse(&[1, 45]).map(|a| a.is_error()), Some(true));
        assert_eq!(Alert::parse(&[3, 0]), None);
        assert_eq!(Alert::parse(&[2]), None);
        // An encrypted alert (TLS 1.2 AES-GCM: nonce, two bytes, tag).
        assert_eq!(Alert::parse(&[0x21; 26]), None);
    }

    /// Every prefix of a valid record, message and body stops short: the record and the
    /// message are truncated, and a body cut anywhere does not read, save exactly where its
    /// extension block starts (a hello without extensions is valid).
    #[test]
    fn every_truncation_point_fails_cleanly() {
        let ch = tls13_client_hello();
        let sh = server_hello(
            0x0303,
            [9; 32],
            &[3; 32],
            0x1301,
            &[ext(43, &u16s(&[0x0304]))],
        );
        let chain = v24(&[v24(CERT), v24(CERT)].concat());
        for (t, body) in [(1u8, &ch), (2, &sh), (11, &chain)] {
            let msg = handshake(t, body);
            let rec = record(22, 0x0301, &msg);
            for n in 0..rec.len() {
                assert_eq!(Record::read(&rec[..n]), Err(WireError::Truncated), "{n}");
                let _ = looks_like_tls(&rec[..n]);
            }
            for n in 0..msg.len() {
                assert_eq!(HandshakeMessage::read(&msg[..n]), Err(WireError::Truncated));
                let mut msgs = handshake_messages(&msg[..n]);
                assert_eq!(msgs.next(), None);
                assert_eq!(msgs.rest().len(), n);
            }
            let no_extensions = match t {
                1 => 2 + 32 + 1 + 32 + 2 + 14 + 2,
                2 => 2 + 32 + 1 + 32 + 2 + 1,
                _ => usize::MAX,
            };
            for n in 0..body.len() {
                let ok = match t {
                    1 => ClientHello::parse(&body[..n]).is_ok(),
                    2 => ServerHello::parse(&body[..n]).is_ok(),
                    _ => Certificates::parse(&body[..n], false).is_ok(),
                };
                assert_eq!(ok, n == no_extensions, "type {t} cut at {n}");
            }
        }
        let ch = client_hello(0x0303, &[], &[0x1301], &[]);
        assert_eq!(ClientHello::parse(&ch[..3]), Err(WireError::Malformed));
    }

    /// Reads `bytes` every way a caller might: records, handshake messages, hellos, chains,
    /// certificates, alerts, the probe. Only not panicking counts.
    fn read_everything(bytes: &[u8]) {
        let _ = looks_like_tls(bytes);
        let _ = RecordHeader::parse(bytes);
        let _ = Alert::parse(bytes);
        let mut payloads = Vec::new();
        let mut rest = bytes;
        while let Ok((r, next)) = Record::read(rest) {
            if r.header.content_type == ContentType::Handshake {
                payloads.extend_from_slice(r.payload);
            }
            rest = next;
        }
        for buf in [bytes, &payloads[..]] {
            for m in handshake_messages(buf) {
                read_body(m.body);
            }
            read_body(buf);
        }
    }

    fn read_body(body: &[u8]) {
        if let Ok(h) = ClientHello::parse(body) {
            let _ = (h.cipher_suites().count(), h.extensions().count());
            let _ = (h.alpn_protocols().count(), h.key_share_groups().count());
            let _ = (h.max_version(), h.offers_ticket());
        }
        if let Ok(s) = ServerHello::parse(body) {
            let _ = (s.extensions().count(), s.alpn_str(), s.negotiated_version());
        }
        for tls13 in [false, true] {
            if let Ok(c) = Certificates::parse(body, tls13) {
                for der in c.iter() {
                    let _ = read_certificate(der);
                }
            }
        }
    }

    /// xorshift64: garbage that is the same on every run.
    fn garbage(state: &mut u64, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                *state ^= *state << 13;
                *state ^= *state >> 7;
                *state ^= *state << 17;
                *state as u8
            })
            .collect()
    }

    #[test]
    fn garbage_never_panics() {
        let mut state = 0x2545_f491_4f6c_dd1d;
        for n in 0..4000 {
            let mut g = garbage(&mut state, n % 300);
            read_everything(&g);
            // Garbage behind a plausible record and message header.
            if let Some(first) = g.first_mut() {
                *first = [1, 2, 11][n % 3];
            }
            let mut framed = vec![22, 3, 3];
            framed.extend(v16(&g));
            read_everything(&framed);
            read_body(&g);
        }
        // Every byte of a valid flight changed to a few values.
        let flight = [
            record(
                22,
                0x0301,
                &handshake(
                    1,
                    &client_hello(
                        0x0303,
                        &[1; 32],
                        &[0x1301, 0x1a1a],
                        &[
                            sni("a.test"),
                            alpn(&["h2", "http/1.1"]),
                            ext(43, &v8(&u16s(&[0x0304, 0x0303]))),
                            ext(51, &v16(&share(29, 32))),
                            ext(41, &[0, 0]),
                        ],
                    ),
                ),
            ),
            record(22, 0x0303, &handshake(1, &tls12_client_hello())),
            record(
                22,
                0x0303,
                &handshake(
                    2,
                    &server_hello(0x0303, [0; 32], &[], 0x1301, &[alpn(&["h2"])]),
                ),
            ),
            record(22, 0x0303, &handshake(11, &v24(&v24(CERT)))),
            include_bytes!("testdata/openssl_client_hello.bin").to_vec(),
            include_bytes!("testdata/openssl_tls12_server_flight.bin").to_vec(),
        ]
        .concat();
        for i in 0..flight.len() {
            for v in [0u8, 1, 0x7f, 0x80, 0xff, flight[i] ^ 1] {
                let mut m = flight.clone();
                m[i] = v;
                read_everything(&m);
            }
        }
    }

    #[test]
    fn probe_recognises_hellos() {
        let ch = record(22, 0x0301, &handshake(1, &tls13_client_hello()));
        let sh = record(
            22,
            0x0303,
            &handshake(2, &server_hello(0x0303, [0; 32], &[], 0xc02f, &[])),
        );
        assert_eq!(looks_like_tls(&ch), Some(true));
        assert_eq!(looks_like_tls(&sh), Some(false));
        for n in 6..ch.len() {
            assert_eq!(looks_like_tls(&ch[..n]), Some(true), "{n}");
        }
        assert_eq!(looks_like_tls(&ch[..5]), None);
        let ssl3 = record(
            22,
            0x0300,
            &handshake(1, &client_hello(0x0300, &[], &[10], &[])),
        );
        assert_eq!(looks_like_tls(&ssl3), Some(true));
        // A hello longer than its record, another message, a bad hello version.
        let mut long = ch.clone();
        long[3..5].copy_from_slice(&[0, 60]);
        assert_eq!(looks_like_tls(&long), None);
        let mut ticket = ch.clone();
        ticket[5] = 4;
        assert_eq!(looks_like_tls(&ticket), None);
        let mut v = ch.clone();
        v[9..11].copy_from_slice(&[0x03, 0x04]);
        assert_eq!(looks_like_tls(&v), None);
        let mut sid = ch.clone();
        sid[43] = 33;
        assert_eq!(looks_like_tls(&sid), None);
    }

    #[test]
    fn probe_refuses_other_protocols() {
        let mut dns = crate::protocol::dns::tests::query(0x1603, "cart.svc.test", 1, true);
        let len = dns.len() as u16;
        dns.splice(0..0, len.to_be_bytes());
        let mut mysql = vec![0x4a, 0, 0, 0, 0x0a];
        mysql.extend_from_slice(b"8.0.33\0\x08\0\0\0abcdefgh\0\xff\xf7\x08\x02\0\xff\xdf\x15");
        let mut pg = vec![0, 0, 0, 0x29, 0, 3, 0, 0];
        pg.extend_from_slice(b"user\0shop\0database\0orders\0\0");
        for not in [
            &b"GET / HTTP/1.1\r\nHost: cart\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00",
            &mysql,
            &pg,
            b"\x00\x00\x00\x08\x04\xd2\x16\x2f",
            b"*1\r\n$4\r\nPING\r\n",
            b"+OK\r\n",
            &dns,
            // TLS, but not a handshake's start: an alert, application data, SSLv2's hello.
            &[21, 3, 3, 0, 2, 2, 40],
            &[23, 3, 3, 0, 40, 1, 2, 3, 4, 5, 6],
            &[0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15],
            b"",
        ] {
            assert_eq!(looks_like_tls(not), None, "{not:?}");
        }
    }
}

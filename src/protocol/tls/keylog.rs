//! TLS secrets from an NSS key log (the `SSLKEYLOGFILE` that curl, browsers, Python's `ssl`,
//! Go's `KeyLogWriter`, Java agents and Envoy write) and from pcapng Decryption Secrets Blocks.
//!
//! A key log is text, one secret a line: `LABEL <client random, 64 hex digits> <secret in
//! hex>`. The labels kept here are those decryption needs: `CLIENT_RANDOM` (the TLS 1.2 and
//! below master secret, 48 bytes), and for TLS 1.3 `CLIENT_HANDSHAKE_TRAFFIC_SECRET`,
//! `SERVER_HANDSHAKE_TRAFFIC_SECRET`, `CLIENT_TRAFFIC_SECRET_0`, `SERVER_TRAFFIC_SECRET_0`
//! and `CLIENT_EARLY_TRAFFIC_SECRET` (32 or 48 bytes: the suite hash's length). Other
//! well-formed lines (`EXPORTER_SECRET`, `EARLY_EXPORTER_SECRET`, OpenSSL's `RSA` line keyed by
//! the encrypted pre-master secret, ECH's labels, labels yet to come) are counted as ignored;
//! comments (`#`) and blank lines are skipped; anything else is counted as malformed. No
//! input panics, and nothing here ever prints, logs or returns the text of a secret: [`Secret`]
//! and [`Secrets`] print redacted, errors are plain enums, and the buffers that held secret
//! text are zeroed when dropped or cleared.
//!
//! [`KeyLog`] keeps the secrets by client random, bounded (the oldest connection's are dropped
//! first, and counted). It reads whole texts ([`KeyLog::add_text`]) or a file followed as it
//! grows ([`KeyLog::add_bytes`], which keeps a partial last line until its newline comes).

use std::collections::{HashMap, VecDeque};
use std::fmt;

use zeroize::Zeroize;

/// Bytes of a ClientHello's random, by which every key log line names its connection.
pub const CLIENT_RANDOM_LEN: usize = 32;
/// The longest secret kept: 48 bytes (a TLS 1.2 master secret, a SHA-384 traffic secret).
pub const MAX_SECRET_LEN: usize = 48;
/// The longest line read, in bytes. The longest real line (a label of 31 characters, 64 and
/// 96 hex digits) is under 200; a longer one is malformed, and a longer partial line given to
/// [`KeyLog::add_bytes`] is dropped (and counted) rather than kept growing.
pub const MAX_LINE_LEN: usize = 512;
/// A sensible bound for [`KeyLog::new`]: the secrets of this many connections (about 300 bytes
/// each) are kept.
pub const DEFAULT_MAX_ENTRIES: usize = 16 * 1024;

/// One secret of 1 to [`MAX_SECRET_LEN`] bytes. Prints as `Secret(<48 bytes>)`, never its
/// bytes; zeroed when dropped.
#[derive(Clone)]
pub struct Secret {
    bytes: [u8; MAX_SECRET_LEN],
    len: u8,
}

impl Secret {
    /// Takes the secret's bytes; gives `None` when there are none or more than
    /// [`MAX_SECRET_LEN`].
    pub fn new(bytes: &[u8]) -> Option<Secret> {
        if bytes.is_empty() || bytes.len() > MAX_SECRET_LEN {
            return None;
        }
        let mut s = Secret {
            bytes: [0; MAX_SECRET_LEN],
            len: u8::try_from(bytes.len()).ok()?,
        };
        s.bytes.iter_mut().zip(bytes).for_each(|(d, b)| *d = *b);
        Some(s)
    }

    /// Gives the secret's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// Gives the secret's length in bytes (32 or 48 for those a key log gives).
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Always false: a secret has at least one byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes>)", self.len)
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

/// The key log labels kept, each naming one secret of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Label {
    /// `CLIENT_RANDOM`: the TLS 1.2 (and below) master secret, 48 bytes.
    ClientRandom,
    /// `CLIENT_EARLY_TRAFFIC_SECRET`: TLS 1.3 0-RTT data from the client.
    ClientEarlyTrafficSecret,
    /// `CLIENT_HANDSHAKE_TRAFFIC_SECRET`: the client's TLS 1.3 handshake records.
    ClientHandshakeTrafficSecret,
    /// `SERVER_HANDSHAKE_TRAFFIC_SECRET`: the server's TLS 1.3 handshake records.
    ServerHandshakeTrafficSecret,
    /// `CLIENT_TRAFFIC_SECRET_0`: the client's first TLS 1.3 application traffic secret.
    ClientTrafficSecret0,
    /// `SERVER_TRAFFIC_SECRET_0`: the server's first TLS 1.3 application traffic secret.
    ServerTrafficSecret0,
}

impl Label {
    /// Every label kept.
    pub const ALL: [Label; 6] = [
        Label::ClientRandom,
        Label::ClientEarlyTrafficSecret,
        Label::ClientHandshakeTrafficSecret,
        Label::ServerHandshakeTrafficSecret,
        Label::ClientTrafficSecret0,
        Label::ServerTrafficSecret0,
    ];

    /// Takes a label as written in a key log; gives the label, `None` for one not kept.
    pub fn from_name(name: &[u8]) -> Option<Label> {
        Label::ALL.into_iter().find(|l| l.name().as_bytes() == name)
    }

    /// Gives the label as a key log writes it.
    pub fn name(self) -> &'static str {
        match self {
            Label::ClientRandom => "CLIENT_RANDOM",
            Label::ClientEarlyTrafficSecret => "CLIENT_EARLY_TRAFFIC_SECRET",
            Label::ClientHandshakeTrafficSecret => "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
            Label::ServerHandshakeTrafficSecret => "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            Label::ClientTrafficSecret0 => "CLIENT_TRAFFIC_SECRET_0",
            Label::ServerTrafficSecret0 => "SERVER_TRAFFIC_SECRET_0",
        }
    }

    /// Whether `len` bytes is a valid length for this label's secret: 48 for `CLIENT_RANDOM`,
    /// 32 or 48 (SHA-256 or SHA-384) for the TLS 1.3 secrets.
    pub fn valid_len(self, len: usize) -> bool {
        match self {
            Label::ClientRandom => len == 48,
            _ => len == 32 || len == 48,
        }
    }
}

/// What a key log says of one connection (one client random): each secret it has seen.
#[derive(Clone, Default)]
pub struct Secrets {
    /// `CLIENT_RANDOM`: the TLS 1.2 master secret.
    pub master_secret: Option<Secret>,
    /// `CLIENT_EARLY_TRAFFIC_SECRET`.
    pub client_early_traffic: Option<Secret>,
    /// `CLIENT_HANDSHAKE_TRAFFIC_SECRET`.
    pub client_handshake_traffic: Option<Secret>,
    /// `SERVER_HANDSHAKE_TRAFFIC_SECRET`.
    pub server_handshake_traffic: Option<Secret>,
    /// `CLIENT_TRAFFIC_SECRET_0`.
    pub client_traffic_0: Option<Secret>,
    /// `SERVER_TRAFFIC_SECRET_0`.
    pub server_traffic_0: Option<Secret>,
}

impl Secrets {
    /// Takes a label; gives its secret, if the key log had it.
    pub fn get(&self, label: Label) -> Option<&Secret> {
        self.slot(label).as_ref()
    }

    fn slot(&self, label: Label) -> &Option<Secret> {
        match label {
            Label::ClientRandom => &self.master_secret,
            Label::ClientEarlyTrafficSecret => &self.client_early_traffic,
            Label::ClientHandshakeTrafficSecret => &self.client_handshake_traffic,
            Label::ServerHandshakeTrafficSecret => &self.server_handshake_traffic,
            Label::ClientTrafficSecret0 => &self.client_traffic_0,
            Label::ServerTrafficSecret0 => &self.server_traffic_0,
        }
    }

    /// Takes a label and its secret and keeps it, replacing any earlier one.
    pub fn set(&mut self, label: Label, secret: Secret) {
        let slot = match label {
            Label::ClientRandom => &mut self.master_secret,
            Label::ClientEarlyTrafficSecret => &mut self.client_early_traffic,
            Label::ClientHandshakeTrafficSecret => &mut self.client_handshake_traffic,
            Label::ServerHandshakeTrafficSecret => &mut self.server_handshake_traffic,
            Label::ClientTrafficSecret0 => &mut self.client_traffic_0,
            Label::ServerTrafficSecret0 => &mut self.server_traffic_0,
        };
        *slot = Some(secret);
    }
}

impl fmt::Debug for Secrets {
    /// Names the secrets present and their lengths, nothing of their bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Secrets");
        for label in Label::ALL {
            if let Some(s) = self.get(label) {
                d.field(label.name(), s);
            }
        }
        d.finish()
    }
}

/// Why a line is malformed. Says nothing of the line's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Longer than [`MAX_LINE_LEN`].
    TooLong,
    /// Not three fields separated by whitespace, or a label that is not upper-case letters,
    /// digits and `_`.
    Fields,
    /// The client random is not 64 hex digits.
    ClientRandom,
    /// The secret is not hex (an odd count of digits, or a character that is not one).
    SecretHex,
    /// The secret's length is not one the label allows.
    SecretLength,
}

/// What one key log line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Blank, or a comment (`#`).
    Skip,
    /// A secret of a kept label.
    Secret {
        /// Which secret of the connection.
        label: Label,
        /// The connection's ClientHello random.
        client_random: [u8; CLIENT_RANDOM_LEN],
        /// The secret, of a length the label allows.
        secret: SecretEq,
    },
    /// A well-formed line of a label not kept (`EXPORTER_SECRET`, `RSA`, …).
    Ignored,
    /// Not a key log line.
    Malformed(Malformed),
}

/// A [`Secret`] inside [`Line`], comparable so that [`Line`] can be (by length only: it never
/// compares or prints the bytes).
#[derive(Clone, Debug)]
pub struct SecretEq(pub Secret);

impl PartialEq for SecretEq {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
    }
}
impl Eq for SecretEq {}

/// Takes one key log line (without its newline; a trailing `\r` and surrounding whitespace
/// are allowed); gives what it says. Never panics, allocates nothing.
pub fn parse_line(line: &[u8]) -> Line {
    if line.len() > MAX_LINE_LEN {
        return Line::Malformed(Malformed::TooLong);
    }
    let line = line.trim_ascii();
    if line.is_empty() || line.starts_with(b"#") {
        return Line::Skip;
    }
    let mut fields = line
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty());
    let (Some(label), Some(random), Some(secret), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Line::Malformed(Malformed::Fields);
    };
    let label_ok = label.first().is_some_and(u8::is_ascii_uppercase)
        && label
            .iter()
            .all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !label_ok {
        return Line::Malformed(Malformed::Fields);
    }
    let Some(label) = Label::from_name(label) else {
        // Not kept; well-formed if both other fields are hex.
        let hex = |f: &[u8]| f.len() % 2 == 0 && f.iter().all(u8::is_ascii_hexdigit);
        return if hex(random) && hex(secret) {
            Line::Ignored
        } else {
            Line::Malformed(Malformed::Fields)
        };
    };
    let mut client_random = [0u8; CLIENT_RANDOM_LEN];
    if random.len() != 2 * CLIENT_RANDOM_LEN || !decode_hex(random, &mut client_random) {
        return Line::Malformed(Malformed::ClientRandom);
    }
    let mut bytes = [0u8; MAX_SECRET_LEN];
    let n = secret.len() / 2;
    let decoded = secret.len() % 2 == 0
        && n <= MAX_SECRET_LEN
        && bytes.get_mut(..n).is_some_and(|b| decode_hex(secret, b));
    let out = if !decoded {
        Line::Malformed(if n > MAX_SECRET_LEN {
            Malformed::SecretLength
        } else {
            Malformed::SecretHex
        })
    } else if !label.valid_len(n) {
        Line::Malformed(Malformed::SecretLength)
    } else {
        match bytes.get(..n).and_then(Secret::new) {
            Some(secret) => Line::Secret {
                label,
                client_random,
                secret: SecretEq(secret),
            },
            None => Line::Malformed(Malformed::SecretLength),
        }
    };
    bytes.zeroize();
    out
}

/// Takes hex digits (twice `out.len()` of them) and writes their bytes to `out`; false when a
/// character is not a hex digit or the counts differ.
fn decode_hex(hex: &[u8], out: &mut [u8]) -> bool {
    if hex.len() != 2 * out.len() {
        return false;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let &[hi, lo] = pair else { return false };
        match (digit(hi), digit(lo)) {
            (Some(h), Some(l)) => *o = h << 4 | l,
            _ => return false,
        }
    }
    true
}

/// What a [`KeyLog`] has read so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyLogStats {
    /// Lines read that were neither blank nor comments.
    pub lines: u64,
    /// Secrets kept (a secret given again for the same connection and label counts again).
    pub secrets: u64,
    /// Well-formed lines of labels not kept.
    pub ignored: u64,
    /// Lines that are not key log lines (including partial lines dropped for their length).
    pub malformed: u64,
    /// Connections whose secrets were dropped to keep within the bound, oldest first.
    pub evicted: u64,
}

/// The secrets of a key log by client random, bounded. See the module's documentation.
pub struct KeyLog {
    entries: HashMap<[u8; CLIENT_RANDOM_LEN], Secrets>,
    /// Client randoms in the order they were first seen: the front is dropped first.
    order: VecDeque<[u8; CLIENT_RANDOM_LEN]>,
    max_entries: usize,
    /// The start of a line [`KeyLog::add_bytes`] has not seen the end of.
    partial: Vec<u8>,
    /// A partial line grew past [`MAX_LINE_LEN`]: skip to the next newline.
    discarding: bool,
    stats: KeyLogStats,
}

impl fmt::Debug for KeyLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyLog")
            .field("connections", &self.entries.len())
            .field("max_entries", &self.max_entries)
            .field("pending_bytes", &self.partial.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl Default for KeyLog {
    /// An empty key log bounded by [`DEFAULT_MAX_ENTRIES`].
    fn default() -> Self {
        KeyLog::new(DEFAULT_MAX_ENTRIES)
    }
}

impl KeyLog {
    /// Takes the most connections to keep secrets for (at least one); gives an empty key log.
    pub fn new(max_entries: usize) -> KeyLog {
        KeyLog {
            entries: HashMap::new(),
            order: VecDeque::new(),
            max_entries: max_entries.max(1),
            partial: Vec::new(),
            discarding: false,
            stats: KeyLogStats::default(),
        }
    }

    /// Takes a whole key log text (a file read at once, a Decryption Secrets Block's secrets)
    /// and keeps its secrets; its last line needs no newline. Leaves the partial line of
    /// [`KeyLog::add_bytes`] alone.
    pub fn add_text(&mut self, text: &str) {
        self.add_lines(text.as_bytes());
    }

    /// [`KeyLog::add_text`] for text as bytes (a line that is not ASCII is malformed).
    pub fn add_lines(&mut self, text: &[u8]) {
        for line in text.split(|&b| b == b'\n') {
            self.add_line(line);
        }
    }

    /// Takes the next bytes of a key log file being followed as it grows; keeps the secrets of
    /// every line they complete, and the partial last line until the bytes that end it come
    /// (a partial line longer than [`MAX_LINE_LEN`] is dropped and counted as malformed, up to
    /// its newline).
    pub fn add_bytes(&mut self, mut chunk: &[u8]) {
        while let Some(pos) = memchr::memchr(b'\n', chunk) {
            let (line, rest) = chunk.split_at(pos);
            chunk = rest.get(1..).unwrap_or_default();
            if self.discarding {
                self.discarding = false;
            } else if self.partial.is_empty() {
                self.add_line(line);
            } else if self.partial.len() + line.len() > MAX_LINE_LEN {
                self.partial.zeroize();
                self.count_line(&Line::Malformed(Malformed::TooLong));
            } else {
                self.partial.extend_from_slice(line);
                let whole = std::mem::take(&mut self.partial);
                self.add_line(&whole);
                self.partial = whole;
                self.partial.zeroize();
            }
        }
        if self.discarding || chunk.is_empty() {
            return;
        }
        if self.partial.len() + chunk.len() > MAX_LINE_LEN {
            self.partial.zeroize();
            self.discarding = true;
            self.count_line(&Line::Malformed(Malformed::TooLong));
        } else {
            self.partial.extend_from_slice(chunk);
        }
    }

    /// Takes the partial last line [`KeyLog::add_bytes`] kept as a whole line: the end of a
    /// file that does not end in a newline.
    pub fn finish(&mut self) {
        let whole = std::mem::take(&mut self.partial);
        if !self.discarding {
            self.add_line(&whole);
        }
        self.discarding = false;
        self.partial = whole;
        self.partial.zeroize();
    }

    /// Bytes of a partial line waiting for its end.
    pub fn pending_len(&self) -> usize {
        self.partial.len()
    }

    /// Takes one line (without its newline), keeps its secret if it has one, and counts it.
    pub fn add_line(&mut self, line: &[u8]) {
        let parsed = parse_line(line);
        self.count_line(&parsed);
        if let Line::Secret {
            label,
            client_random,
            secret,
        } = parsed
        {
            self.insert(client_random, label, secret.0);
        }
    }

    fn count_line(&mut self, line: &Line) {
        let s = &mut self.stats;
        match line {
            Line::Skip => return,
            Line::Secret { .. } => s.secrets += 1,
            Line::Ignored => s.ignored += 1,
            Line::Malformed(_) => s.malformed += 1,
        }
        s.lines += 1;
    }

    /// Takes a connection's client random, a label and its secret, and keeps the secret
    /// (replacing an earlier one of the same label); a new connection beyond the bound drops
    /// the oldest connection's secrets. Not counted in [`KeyLogStats::secrets`].
    pub fn insert(&mut self, client_random: [u8; CLIENT_RANDOM_LEN], label: Label, secret: Secret) {
        if let Some(entry) = self.entries.get_mut(&client_random) {
            entry.set(label, secret);
            return;
        }
        while self.entries.len() >= self.max_entries {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if self.entries.remove(&oldest).is_some() {
                self.stats.evicted += 1;
            }
        }
        let mut entry = Secrets::default();
        entry.set(label, secret);
        self.entries.insert(client_random, entry);
        self.order.push_back(client_random);
    }

    /// Takes a ClientHello's random; gives the secrets the key log has for its connection.
    pub fn lookup(&self, client_random: &[u8; CLIENT_RANDOM_LEN]) -> Option<&Secrets> {
        self.entries.get(client_random)
    }

    /// Gives the count of connections with secrets kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no connection has secrets kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Gives what has been read so far.
    pub fn stats(&self) -> KeyLogStats {
        self.stats
    }

    /// Takes the body of a pcapng Decryption Secrets Block (see [`dsb_key_log`]) and keeps the
    /// secrets of its key log; gives why not when the block holds none.
    pub fn add_dsb(&mut self, body: &[u8]) -> Result<(), DsbError> {
        let text = dsb_key_log(body)?;
        self.add_lines(text);
        Ok(())
    }
}

/// The pcapng block type of a Decryption Secrets Block.
pub const DSB_BLOCK_TYPE: u32 = 0x0000_000A;
/// The secrets type of a TLS key log in a Decryption Secrets Block (`TLSK`).
pub const DSB_TLS_KEY_LOG: u32 = 0x544c_534b;

/// Why a Decryption Secrets Block gives no key log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsbError {
    /// The body is shorter than its secrets type and length, or than the length says.
    Truncated,
    /// The secrets are of another kind (WireGuard, ZigBee, …).
    NotTlsKeyLog,
}

impl fmt::Display for DsbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DsbError::Truncated => "decryption secrets block truncated",
            DsbError::NotTlsKeyLog => "decryption secrets block holds no TLS key log",
        })
    }
}

impl std::error::Error for DsbError {}

/// Takes the body of a pcapng Decryption Secrets Block (block type [`DSB_BLOCK_TYPE`]): the
/// bytes after its Block Type and Block Total Length and before the trailing Block Total
/// Length, that is Secrets Type, Secrets Length, the secrets padded to 32 bits, and options.
/// Its byte order is the section's; it is told here by the secrets type, which reads `TLSK`
/// big-endian and `KSLT` little-endian. Gives the key log text the block holds (without the
/// padding), borrowed from `body`.
pub fn dsb_key_log(body: &[u8]) -> Result<&[u8], DsbError> {
    let (Some(&[t0, t1, t2, t3]), Some(&[l0, l1, l2, l3])) = (
        body.first_chunk::<4>(),
        body.get(4..).and_then(<[u8]>::first_chunk::<4>),
    ) else {
        return Err(DsbError::Truncated);
    };
    let len = if u32::from_be_bytes([t0, t1, t2, t3]) == DSB_TLS_KEY_LOG {
        u32::from_be_bytes([l0, l1, l2, l3])
    } else if u32::from_le_bytes([t0, t1, t2, t3]) == DSB_TLS_KEY_LOG {
        u32::from_le_bytes([l0, l1, l2, l3])
    } else {
        return Err(DsbError::NotTlsKeyLog);
    };
    let len = usize::try_from(len).map_err(|_| DsbError::Truncated)?;
    body.get(8..)
        .and_then(|rest| rest.get(..len))
        .ok_or(DsbError::Truncated)
}

/// The process's key log: what `--tls-keylog` files and pcapng Decryption Secrets Blocks
/// give, read by every TLS connection parser (once per connection, when its hellos are in).
static SHARED: std::sync::OnceLock<std::sync::RwLock<KeyLog>> = std::sync::OnceLock::new();
/// Whether any key source is configured: without one, encrypted records are skipped, never
/// buffered.
static IN_USE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The process's key log (empty until a source adds to it).
pub fn shared() -> &'static std::sync::RwLock<KeyLog> {
    SHARED.get_or_init(|| std::sync::RwLock::new(KeyLog::default()))
}

/// Says that keys will come (a key log file, a Decryption Secrets Block): TLS parsers keep
/// encrypted records from now on.
pub fn expect_keys() {
    IN_USE.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Whether keys may come (see [`expect_keys`]).
pub fn keys_expected() -> bool {
    IN_USE.load(std::sync::atomic::Ordering::Relaxed)
}

/// The key log file being followed, and how far it has been read.
struct Followed {
    path: std::path::PathBuf,
    file: Option<std::fs::File>,
}

static FOLLOWED: std::sync::Mutex<Option<Followed>> = std::sync::Mutex::new(None);

/// Follows the key log file at `path` from its start: [`refresh`] reads what was appended.
pub fn follow(path: std::path::PathBuf) {
    expect_keys();
    if let Ok(mut f) = FOLLOWED.lock() {
        *f = Some(Followed { path, file: None });
    }
}

/// Reads what the followed key log file gained since the last read (a file that does not exist
/// yet is tried again next time). The follower calls this often; a TLS connection whose
/// records wait for their keys calls it too, so that a connection that ends soon after its
/// handshake still finds the secrets its client wrote just before.
pub fn refresh() {
    use std::io::Read;
    let Ok(mut guard) = FOLLOWED.lock() else {
        return;
    };
    let Some(f) = guard.as_mut() else {
        return;
    };
    if f.file.is_none() {
        f.file = std::fs::File::open(&f.path).ok();
    }
    let Some(file) = f.file.as_mut() else {
        return;
    };
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n) = file.read(&mut buf) {
        let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
            break;
        };
        if let Ok(mut log) = shared().write() {
            log.add_bytes(chunk);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &str = include_str!("../../../pcaps/tls/tls.keys");

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn random(s: &str) -> [u8; 32] {
        hex(s).try_into().unwrap()
    }

    #[test]
    fn every_line_of_the_capture_key_log() {
        let mut log = KeyLog::default();
        log.add_text(KEYS);
        let lines = KEYS.lines().filter(|l| !l.trim().is_empty()).count() as u64;
        let count = |label: &str| {
            KEYS.lines()
                .filter(|l| l.split(' ').next() == Some(label))
                .count() as u64
        };
        let kept: u64 = Label::ALL.iter().map(|l| count(l.name())).sum();
        let st = log.stats();
        assert_eq!(st.lines, lines);
        assert_eq!(st.secrets, kept);
        assert_eq!(st.ignored, count("EXPORTER_SECRET") + count("RSA"));
        assert_eq!(st.ignored + st.secrets, lines);
        assert_eq!((st.malformed, st.evicted), (0, 0));
        // Every kept line is there, byte for byte, under its client random.
        for line in KEYS.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            let Some(label) = Label::from_name(f[0].as_bytes()) else {
                continue;
            };
            let secrets = log.lookup(&random(f[1])).expect("connection kept");
            assert_eq!(secrets.get(label).unwrap().as_bytes(), hex(f[2]), "{line}");
        }
        // 12 TLS 1.2 connections and 14 TLS 1.3 (one whose client gave up after the server's
        // handshake secret: unknown_ca).
        assert_eq!(count("CLIENT_RANDOM"), 12);
        assert_eq!(log.len(), 12 + 14);
    }

    #[test]
    fn malformed_lines_are_counted_and_never_kept() {
        let r = "a0eed0163a0b09ff33b1c242ef2757fe768ca31aa03f0d4fe9170390d6812f51";
        let s32 = "11".repeat(32);
        let s48 = "22".repeat(48);
        let text = [
            "# a comment".to_string(),
            String::new(),
            "   ".to_string(),
            format!("CLIENT_RANDOM {r} {s48}\r"),
            format!("CLIENT_RANDOM {r} {s32}"), // master secret must be 48
            format!("CLIENT_RANDOM {} {s48}", &r[..62]), // short random
            format!("CLIENT_RANDOM {}zz {s48}", &r[..62]), // random not hex
            format!("SERVER_TRAFFIC_SECRET_0 {r} {}", &s48[..95]), // odd digits
            format!("SERVER_TRAFFIC_SECRET_0 {r} {s48}00"), // 49 bytes
            format!("SERVER_TRAFFIC_SECRET_0 {r} {}", "33".repeat(40)), // 40 bytes
            format!("SERVER_TRAFFIC_SECRET_0 {r}"), // two fields
            format!("SERVER_TRAFFIC_SECRET_0 {r} {s32} extra"), // four fields
            format!("client_random {r} {s48}"), // label not upper case
            format!("{r} {s48}"),               // no label
            "\u{feff}garbage é".to_string(),
            format!("EXPORTER_SECRET {r} {s32}"),     // ignored
            format!("RSA 0102030405060708 {s48}"),    // ignored
            format!("SOME_FUTURE_LABEL {r} {s32}"),   // ignored
            format!("SOME_FUTURE_LABEL {r} not-hex"), // malformed
            format!("CLIENT_TRAFFIC_SECRET_0 {r} {s32}"),
            "X".repeat(MAX_LINE_LEN + 1),
        ]
        .join("\n");
        let mut log = KeyLog::new(8);
        log.add_text(&text);
        let st = log.stats();
        assert_eq!(st.secrets, 2);
        assert_eq!(st.ignored, 3);
        assert_eq!(st.malformed, 13);
        assert_eq!(st.lines, 18);
        let got = log.lookup(&random(r)).unwrap();
        assert_eq!(got.master_secret.as_ref().unwrap().as_bytes(), hex(&s48));
        assert_eq!(got.client_traffic_0.as_ref().unwrap().as_bytes(), hex(&s32));
        assert!(got.server_traffic_0.is_none());
        assert_eq!(
            parse_line(format!("CLIENT_RANDOM {r} {s32}").as_bytes()),
            Line::Malformed(Malformed::SecretLength)
        );
        assert_eq!(
            parse_line(format!("CLIENT_RANDOM {} {s48}", &r[..62]).as_bytes()),
            Line::Malformed(Malformed::ClientRandom)
        );
        assert_eq!(
            parse_line(format!("SERVER_TRAFFIC_SECRET_0 {r} {}", &s48[..95]).as_bytes()),
            Line::Malformed(Malformed::SecretHex)
        );
        // Hostile bytes never panic.
        for n in 0..300u32 {
            let junk: Vec<u8> = (0..n)
                .map(|i| (i.wrapping_mul(2654435761) >> 7) as u8)
                .collect();
            let _ = parse_line(&junk);
            log.add_bytes(&junk);
        }
    }

    #[test]
    fn incremental_bytes_keep_a_partial_last_line() {
        // Fed in every split of the real key log, byte by byte and in odd chunks, the result
        // is the same as reading it whole.
        let mut whole = KeyLog::default();
        whole.add_text(KEYS);
        for chunk in [1usize, 7, 64, 199, 4096] {
            let mut log = KeyLog::default();
            for piece in KEYS.as_bytes().chunks(chunk) {
                log.add_bytes(piece);
            }
            assert_eq!(log.pending_len(), 0, "file ends in a newline");
            assert_eq!(log.stats(), whole.stats(), "chunks of {chunk}");
            assert_eq!(log.len(), whole.len());
        }
        // A line waits for its newline (the file is still being written).
        let line = KEYS
            .lines()
            .find(|l| l.starts_with("CLIENT_RANDOM"))
            .unwrap();
        let cr = random(line.split(' ').nth(1).unwrap());
        let mut log = KeyLog::default();
        let (a, b) = line.split_at(100);
        log.add_bytes(a.as_bytes());
        assert!(log.lookup(&cr).is_none());
        assert_eq!(log.pending_len(), 100);
        log.add_bytes(b.as_bytes());
        assert!(log.lookup(&cr).is_none(), "no newline yet");
        log.add_bytes(b"\n");
        assert!(log.lookup(&cr).unwrap().master_secret.is_some());
        assert_eq!(log.pending_len(), 0);
        // finish() takes a last line that never gets its newline.
        let mut log = KeyLog::default();
        log.add_bytes(line.as_bytes());
        assert!(log.lookup(&cr).is_none());
        log.finish();
        assert!(log.lookup(&cr).is_some());
        // A partial line that grows too long is dropped up to its newline, counted once.
        let mut log = KeyLog::default();
        for _ in 0..10 {
            log.add_bytes(&[b'A'; 100]);
        }
        assert_eq!(log.pending_len(), 0);
        log.add_bytes(format!("AAAA\n{line}\n").as_bytes());
        assert_eq!(log.stats().malformed, 1);
        assert_eq!(log.stats().secrets, 1);
        assert!(log.lookup(&cr).is_some());
    }

    #[test]
    fn bounded_oldest_dropped_first() {
        let mut log = KeyLog::new(3);
        let s = Secret::new(&[7; 48]).unwrap();
        for i in 0..5u8 {
            log.insert([i; 32], Label::ClientRandom, s.clone());
            // A second secret of a kept connection neither adds nor evicts.
            log.insert([i; 32], Label::ServerTrafficSecret0, s.clone());
        }
        assert_eq!(log.len(), 3);
        assert_eq!(log.stats().evicted, 2);
        assert!(log.lookup(&[0; 32]).is_none());
        assert!(log.lookup(&[1; 32]).is_none());
        for i in 2..5u8 {
            let e = log.lookup(&[i; 32]).unwrap();
            assert!(e.master_secret.is_some() && e.server_traffic_0.is_some());
        }
    }

    #[test]
    fn decryption_secrets_block_of_the_capture() {
        // Walk the pcapng's blocks to the Decryption Secrets Block and read its body.
        let file = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/pcaps/tls/tls-dsb.pcapng"
        ))
        .unwrap();
        let mut off = 0;
        let mut body = None;
        while off + 12 <= file.len() {
            let t = u32::from_le_bytes(file[off..off + 4].try_into().unwrap());
            let len = u32::from_le_bytes(file[off + 4..off + 8].try_into().unwrap()) as usize;
            if t == DSB_BLOCK_TYPE {
                body = Some(&file[off + 8..off + len - 4]);
                break;
            }
            off += len;
        }
        let body = body.expect("a DSB in tls-dsb.pcapng");
        let text = dsb_key_log(body).unwrap();
        assert_eq!(text, KEYS.as_bytes(), "the block holds tls.keys");
        let mut log = KeyLog::default();
        log.add_dsb(body).unwrap();
        let mut direct = KeyLog::default();
        direct.add_text(KEYS);
        assert_eq!(log.stats(), direct.stats());
        assert_eq!(log.len(), direct.len());

        // The same block big-endian, another secrets type, truncations.
        let mut be = Vec::new();
        be.extend_from_slice(&DSB_TLS_KEY_LOG.to_be_bytes());
        be.extend_from_slice(&5u32.to_be_bytes());
        be.extend_from_slice(b"# hi\0\0\0");
        assert_eq!(dsb_key_log(&be), Ok(&b"# hi\0"[..]));
        let mut wg = be.clone();
        wg[..4].copy_from_slice(&0x5747_4b4cu32.to_be_bytes());
        assert_eq!(dsb_key_log(&wg), Err(DsbError::NotTlsKeyLog));
        for n in 0..8 {
            assert_eq!(dsb_key_log(&be[..n]), Err(DsbError::Truncated));
        }
        be[4..8].copy_from_slice(&100u32.to_be_bytes());
        assert_eq!(dsb_key_log(&be), Err(DsbError::Truncated));
        be[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(dsb_key_log(&be), Err(DsbError::Truncated));
    }

    #[test]
    fn secrets_print_redacted() {
        let mut log = KeyLog::default();
        log.add_text(KEYS);
        for line in KEYS.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            if Label::from_name(f[0].as_bytes()).is_none() {
                continue;
            }
            let secrets = log.lookup(&random(f[1])).unwrap();
            let secret_hex = f[2].to_ascii_lowercase();
            let bytes = hex(&secret_hex);
            for shown in [
                format!("{secrets:?}"),
                format!("{secrets:#?}"),
                format!("{log:?}"),
                format!("{:?}", parse_line(line.as_bytes())),
            ] {
                assert!(
                    !shown.to_ascii_lowercase().contains(&secret_hex[..16]),
                    "{shown}"
                );
                // Nor as decimal bytes, as a derived Debug of an array would print them.
                let dec = format!("{}, {}, {}", bytes[0], bytes[1], bytes[2]);
                assert!(!shown.contains(&dec), "{shown}");
            }
            assert!(format!("{secrets:?}").contains("bytes>"));
        }
    }
}

//! The calls inside a TLS connection, read through the key log.
//!
//! Takes the connection's encrypted records (whole, with their capture time and TCP sequence
//! number) once the hellos have said which suite and randoms it uses; gives the plaintext's
//! exchanges, found by the same parsers as cleartext (chosen by the first plaintext bytes, or
//! handed over by MySQL's and PostgreSQL's upgrades), and for TLS 1.3 what the encrypted
//! handshake says (ALPN, the certificate). The secrets come from the process's key log
//! ([`super::keylog::shared`]); records that come before their keys are held, bounded in bytes
//! and capture time, and decrypted when the keys arrive or dropped and counted. A record that
//! fails authentication ends decryption for the connection: nothing unauthenticated is parsed.

use super::decrypt::{DecryptError, Tls12Decryptors, Tls13Decryptors};
use super::keylog::{self, Secrets, CLIENT_RANDOM_LEN};
use super::wire::{handshake_messages, handshake_type, Alert, ContentType, RECORD_HEADER_LEN};
use crate::protocol::{AppParser, Direction, Exchange, SegmentMeta};
use crate::stats::Counters;

/// Encrypted bytes held per connection while its keys have not arrived.
const MAX_HELD_BYTES: usize = 256 * 1024;
/// How long (capture time) records wait for their keys.
const MAX_HELD_NS: u64 = 10_000_000_000;

enum Keys {
    Tls13(Tls13Decryptors),
    Tls12(Tls12Decryptors),
}

/// An encrypted record waiting for its keys.
struct Held {
    dir: Direction,
    header: [u8; RECORD_HEADER_LEN],
    payload: Vec<u8>,
    meta: SegmentMeta,
}

/// What the encrypted handshake of TLS 1.3 said.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Learned {
    pub alpn: Option<String>,
    /// The first certificate's DER (TLS 1.3 sends it encrypted).
    pub certificate: Option<Vec<u8>>,
    /// An alert under encryption, and which side sent it.
    pub alert: Option<(u8, Direction)>,
}

/// One connection's decryption: see the module's doc.
pub struct Inside {
    client_random: [u8; CLIENT_RANDOM_LEN],
    server_random: [u8; CLIENT_RANDOM_LEN],
    suite: u16,
    tls13: bool,
    keys: Option<Keys>,
    held: Vec<Held>,
    held_bytes: usize,
    held_since: Option<u64>,
    /// The parser of the plaintext: given by an upgrade, or chosen by the first bytes.
    pub inner: Option<AppParser>,
    /// 1.3 handshake bytes not yet whole messages, per direction.
    handshake: [Vec<u8>; 2],
    plain: Vec<u8>,
    /// Decryption stopped (a record failed, a secret was missing, the records were lost).
    stopped: bool,
    /// Records decrypted, for the caller to say the connection was read.
    pub decrypted: u64,
    /// TLS 1.3: this side sent its Finished; its application secret is still to be taken.
    switch_pending: [bool; 2],
}

impl Inside {
    /// Takes the hellos' randoms and suite, and the parser an upgrade hands over (if any).
    pub fn new(
        client_random: [u8; CLIENT_RANDOM_LEN],
        server_random: [u8; CLIENT_RANDOM_LEN],
        suite: u16,
        tls13: bool,
        inner: Option<AppParser>,
    ) -> Inside {
        Inside {
            client_random,
            server_random,
            suite,
            tls13,
            keys: None,
            held: Vec::new(),
            held_bytes: 0,
            held_since: None,
            inner,
            handshake: [Vec::new(), Vec::new()],
            plain: Vec::new(),
            stopped: false,
            decrypted: 0,
            switch_pending: [false; 2],
        }
    }

    /// The connection's secrets, when the key log has those its version needs.
    fn find_keys(&mut self, stats: &mut Counters) -> bool {
        if self.keys.is_some() {
            return true;
        }
        let Ok(log) = keylog::shared().read() else {
            return false;
        };
        let Some(secrets) = log.lookup(&self.client_random) else {
            return false;
        };
        let keys = if self.tls13 {
            Tls13Decryptors::handshake(self.suite, secrets).map(Keys::Tls13)
        } else {
            match &secrets.master_secret {
                Some(master) => Tls12Decryptors::new(
                    self.suite,
                    master.as_bytes(),
                    &self.client_random,
                    &self.server_random,
                )
                .map(Keys::Tls12),
                None => Err(DecryptError::MissingSecret),
            }
        };
        match keys {
            Ok(k) => {
                self.keys = Some(k);
                true
            }
            // A secret still to come (1.3 logs them one by one): wait for it.
            Err(DecryptError::MissingSecret) => false,
            Err(_) => {
                stats.tls_decrypt_unsupported += 1;
                self.stopped = true;
                false
            }
        }
    }

    /// Whether records of `dir` can be opened now: the connection's secrets are known and, in
    /// TLS 1.3, the application secrets that side moved to after its Finished are too. A
    /// client writes a secret just before it needs it, so the key log is read again first.
    fn ready(&mut self, dir: Direction, stats: &mut Counters) -> bool {
        if !self.find_keys(stats) {
            if self.stopped {
                return false;
            }
            keylog::refresh();
            if !self.find_keys(stats) {
                return false;
            }
        }
        let d = dir.index();
        if !*crate::protocol::side(&mut self.switch_pending, d) {
            return true;
        }
        for attempt in 0..2 {
            if attempt == 1 {
                keylog::refresh();
            }
            let switched = match (&mut self.keys, keylog::shared().read()) {
                (Some(Keys::Tls13(k)), Ok(log)) => log
                    .lookup(&self.client_random)
                    .is_some_and(|s: &Secrets| k.switch_to_application(dir, s).is_ok()),
                _ => false,
            };
            if switched {
                *crate::protocol::side(&mut self.switch_pending, d) = false;
                return true;
            }
        }
        false
    }

    fn hold(&mut self, h: Held, stats: &mut Counters) {
        let since = *self.held_since.get_or_insert(h.meta.ts_ns);
        if self.held_bytes + h.payload.len() > MAX_HELD_BYTES
            || h.meta.ts_ns.saturating_sub(since) > MAX_HELD_NS
        {
            stats.tls_records_dropped_waiting_for_keys += self.held.len() as u64 + 1;
            self.held = Vec::new();
            self.held_bytes = 0;
            self.stopped = true;
            return;
        }
        self.held_bytes += h.payload.len();
        self.held.push(h);
    }

    /// Opens the held records in order as far as their keys allow; false when some still wait.
    fn drain(
        &mut self,
        learned: &mut Learned,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) -> bool {
        let held = std::mem::take(&mut self.held);
        self.held_bytes = 0;
        self.held_since = None;
        let mut rest = held.into_iter();
        while let Some(h) = rest.next() {
            if self.stopped {
                return true;
            }
            if !self.ready(h.dir, stats) {
                self.hold(h, stats);
                for later in rest {
                    self.hold(later, stats);
                }
                return false;
            }
            self.open(h.dir, h.header, &h.payload, h.meta, learned, out, stats);
        }
        true
    }

    /// Takes one whole encrypted record; decrypts it (and any held before it) when its keys
    /// are there, else holds it.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        dir: Direction,
        header: [u8; RECORD_HEADER_LEN],
        payload: &[u8],
        meta: SegmentMeta,
        learned: &mut Learned,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        if self.stopped {
            return;
        }
        let waiting = !self.held.is_empty() && !self.drain(learned, out, stats);
        if waiting || !self.ready(dir, stats) {
            if !self.stopped {
                let h = Held {
                    dir,
                    header,
                    payload: payload.to_vec(),
                    meta,
                };
                self.hold(h, stats);
            }
            return;
        }
        self.open(dir, header, payload, meta, learned, out, stats);
    }

    #[allow(clippy::too_many_arguments)]
    fn open(
        &mut self,
        dir: Direction,
        header: [u8; RECORD_HEADER_LEN],
        payload: &[u8],
        meta: SegmentMeta,
        learned: &mut Learned,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        if self.stopped {
            return;
        }
        let mut plain = std::mem::take(&mut self.plain);
        plain.clear();
        let opened = match &mut self.keys {
            Some(Keys::Tls13(k)) => k.open(dir, &header, payload, &mut plain),
            Some(Keys::Tls12(k)) => k.open(dir, &header, payload, &mut plain),
            None => return,
        };
        match opened {
            Ok(kind) => {
                self.decrypted += 1;
                stats.tls_records_decrypted += 1;
                match kind {
                    ContentType::ApplicationData => self.application(dir, &plain, meta, out, stats),
                    ContentType::Handshake if self.tls13 => {
                        self.handshake(dir, &plain, learned, stats)
                    }
                    ContentType::Alert => {
                        if let Some(a) = Alert::parse(&plain) {
                            if a.is_error() && learned.alert.is_none() {
                                learned.alert = Some((a.description, dir));
                            }
                        }
                    }
                    _ => {}
                }
            }
            Err(_) => {
                // Wrong keys, a lost record, or tampering: nothing more is read as plaintext.
                stats.tls_records_unauthenticated += 1;
                self.stopped = true;
            }
        }
        self.plain = plain;
    }

    /// TLS 1.3's encrypted handshake: the server's EncryptedExtensions (ALPN) and Certificate;
    /// each side's Finished moves it to the application keys.
    fn handshake(
        &mut self,
        dir: Direction,
        plain: &[u8],
        learned: &mut Learned,
        stats: &mut Counters,
    ) {
        let d = dir.index();
        let buf = crate::protocol::side(&mut self.handshake, d);
        if buf.len() + plain.len() > 64 * 1024 {
            buf.clear();
            stats.tls_handshake_too_large += 1;
            return;
        }
        buf.extend_from_slice(plain);
        let bytes = std::mem::take(buf);
        let mut finished = false;
        let mut messages = handshake_messages(&bytes);
        for m in messages.by_ref() {
            match m.msg_type {
                handshake_type::ENCRYPTED_EXTENSIONS => {
                    learned.alpn = super::wire::encrypted_extensions_alpn(m.body);
                }
                handshake_type::CERTIFICATE if learned.certificate.is_none() => {
                    learned.certificate = super::wire::Certificates::parse(m.body, true)
                        .ok()
                        .and_then(|c| c.first())
                        .map(<[u8]>::to_vec);
                }
                handshake_type::FINISHED => finished = true,
                handshake_type::KEY_UPDATE => {
                    if let Some(Keys::Tls13(k)) = &mut self.keys {
                        if k.decryptor(dir).key_update().is_err() {
                            self.stopped = true;
                        }
                    }
                }
                _ => {}
            }
        }
        let rest = messages.rest().to_vec();
        *crate::protocol::side(&mut self.handshake, d) = rest;
        if finished {
            // The side's next records are under its application secret, which its client may
            // log a moment later: the switch happens when the next record needs it.
            *crate::protocol::side(&mut self.switch_pending, d) = true;
            let _ = self.ready(dir, stats);
        }
    }

    /// Application data: to the inner parser, chosen by the first plaintext bytes if no upgrade
    /// gave one.
    fn application(
        &mut self,
        dir: Direction,
        plain: &[u8],
        meta: SegmentMeta,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        if plain.is_empty() {
            return;
        }
        if self.inner.is_none() {
            match crate::protocol::probe(plain) {
                Some(p) => {
                    self.inner = Some(crate::protocol::start(p, Default::default()));
                }
                None => {
                    stats.tls_plaintext_unrecognised += 1;
                    self.stopped = true;
                    return;
                }
            }
        }
        if let Some(inner) = &mut self.inner {
            inner.on_data(dir, plain, meta, out, stats);
            if inner.gave_up() {
                self.inner = None;
                self.stopped = true;
            }
        }
    }

    /// The connection ended: its held records get a last look for their keys (live, a
    /// short connection can end before the key log is read again), then what the inner parser
    /// still holds is given, and what never got its keys is counted.
    pub fn close(&mut self, out: &mut Vec<Exchange>, stats: &mut Counters) {
        if !self.held.is_empty() && !self.stopped {
            let mut learned = Learned::default();
            self.drain(&mut learned, out, stats);
        }
        if !self.held.is_empty() {
            stats.tls_records_dropped_waiting_for_keys += self.held.len() as u64;
            self.held.clear();
        }
        if self.switch_pending.iter().any(|&p| p) && self.keys.is_some() {
            stats.tls_decrypt_missing_secrets += 1;
        }
        if let Some(inner) = &mut self.inner {
            inner.on_close(out, stats);
        }
    }

    /// A side closed: the inner parser hears of it (a body read to the close ends there).
    pub fn fin(
        &mut self,
        dir: Direction,
        ts_ns: u64,
        out: &mut Vec<Exchange>,
        stats: &mut Counters,
    ) {
        if let Some(inner) = &mut self.inner {
            inner.on_fin(dir, ts_ns, out, stats);
        }
    }

    /// Whether no key was ever found for the connection.
    pub fn without_keys(&self) -> bool {
        self.keys.is_none()
    }
}

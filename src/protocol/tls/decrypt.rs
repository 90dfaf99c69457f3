//! TLS record decryption with the secrets of a key log: the TLS 1.3 key schedule's last steps
//! (RFC 8446 §7.1, §7.3, §7.2's KeyUpdate), the TLS 1.2 PRF and key block (RFC 5246 §5,
//! §6.3), and one record decryptor per direction for AES-128-GCM, AES-256-GCM and
//! CHACHA20-POLY1305 in both versions (RFC 8446 §5.2-5.3; RFC 5288 for AES-GCM's explicit
//! nonce in TLS 1.2, RFC 7905 for ChaCha20-Poly1305's).
//!
//! The cryptography is RustCrypto's (`aes-gcm`, `chacha20poly1305`, `hkdf`, `hmac`, `sha2`);
//! this module only lays out labels, nonces and additional data. It is pure (no I/O, no
//! clock), allocates nothing of its own (plaintext goes into the caller's buffer or stays in
//! place), and never panics on input. A record that fails authentication is an error and
//! gives no plaintext. Keys print redacted and are zeroed when dropped.
//!
//! Use: find the connection's [`Secrets`](super::keylog::Secrets) by its ClientHello random,
//! then for TLS 1.3 build [`Tls13Decryptors::handshake`] at the ServerHello and switch each
//! direction with [`Tls13Decryptors::switch_to_application`] after that side's Finished; for
//! TLS 1.2 build [`Tls12Decryptors::new`] from the master secret and both randoms, and open
//! each direction's records from the one after its ChangeCipherSpec on.

use std::fmt;

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use chacha20poly1305::ChaCha20Poly1305;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384};
use zeroize::Zeroize;

use super::keylog::{Secret, Secrets, MAX_SECRET_LEN};
use super::names::{cipher_info, Aead, CipherInfo, Hash};
use super::wire::{ContentType, MAX_RECORD_LEN, RECORD_HEADER_LEN};
use crate::protocol::Direction;

/// Bytes of every AEAD nonce here (and of the IV TLS 1.3 and ChaCha20-Poly1305 derive).
pub const NONCE_LEN: usize = 12;
/// Bytes of the authentication tag of the three AEADs.
pub const TAG_LEN: usize = 16;
/// The longest key: AES-256 and ChaCha20.
pub const MAX_KEY_LEN: usize = 32;
/// The longest TLS 1.3 record payload (RFC 8446 §5.2: 2^14 + 256).
pub const MAX_TLS13_CIPHERTEXT: usize = (1 << 14) + 256;
/// The longest plaintext a record may carry (2^14; TLS 1.3 adds the content type byte).
pub const MAX_PLAINTEXT: usize = 1 << 14;

/// Why a key could not be derived or a record not decrypted. Carries no key, secret or
/// plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecryptError {
    /// The cipher suite is unknown, is not for this TLS version, or its records are not
    /// protected by AES-128-GCM, AES-256-GCM or CHACHA20-POLY1305.
    UnsupportedSuite,
    /// A secret or key of the wrong length for the suite (a 32-byte traffic secret for a
    /// SHA-384 suite, a label or context too long for HKDF-Expand-Label).
    KeyLength,
    /// The key log has not (yet) the secret this needs.
    MissingSecret,
    /// The header is not that of a protected record: its length is not the payload's, or
    /// (TLS 1.3) its type is not application_data, or (TLS 1.2) the type is unknown.
    BadHeader,
    /// The payload is too short to hold the explicit nonce and the tag.
    ShortRecord,
    /// The payload is longer than the version allows.
    LongRecord,
    /// Authentication failed: a wrong key, a wrong sequence number (a record lost or seen
    /// twice), or altered bytes. No plaintext is given.
    Authentication,
    /// TLS 1.3: the plaintext was all padding, without a content type.
    NoContentType,
    /// TLS 1.3: the inner content type is not one TLS defines.
    BadContentType,
}

impl fmt::Display for DecryptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecryptError::UnsupportedSuite => "cipher suite not decrypted",
            DecryptError::KeyLength => "secret or key of the wrong length",
            DecryptError::MissingSecret => "secret missing from the key log",
            DecryptError::BadHeader => "not a protected record's header",
            DecryptError::ShortRecord => "record too short",
            DecryptError::LongRecord => "record too long",
            DecryptError::Authentication => "record failed authentication",
            DecryptError::NoContentType => "record without content type",
            DecryptError::BadContentType => "record of an unknown inner content type",
        })
    }
}

impl std::error::Error for DecryptError {}

/// The record protection a [`RecordDecryptor`] follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Tls12,
    Tls13,
}

// ---------------------------------------------------------------------------------------------
// Key schedule

/// HKDF-Expand (RFC 5869) with `prk` and the concatenation of `info`, into `out`.
fn hkdf_expand(hash: Hash, prk: &[u8], info: &[&[u8]], out: &mut [u8]) -> Result<(), DecryptError> {
    match hash {
        Hash::Sha256 => hkdf::Hkdf::<Sha256>::from_prk(prk)
            .map_err(|_| DecryptError::KeyLength)?
            .expand_multi_info(info, out),
        Hash::Sha384 => hkdf::Hkdf::<Sha384>::from_prk(prk)
            .map_err(|_| DecryptError::KeyLength)?
            .expand_multi_info(info, out),
    }
    .map_err(|_| DecryptError::KeyLength)
}

/// TLS 1.3's HKDF-Expand-Label (RFC 8446 §7.1). Takes the suite's hash, a secret (at least
/// the hash's length), the label without its `tls13 ` prefix (at most 249 bytes), the
/// context (at most 255 bytes; the transcript hash, or empty) and the buffer to fill; writes
/// `out.len()` bytes of HKDF-Expand(secret, HkdfLabel) into it.
pub fn hkdf_expand_label(
    hash: Hash,
    secret: &[u8],
    label: &[u8],
    context: &[u8],
    out: &mut [u8],
) -> Result<(), DecryptError> {
    let length = u16::try_from(out.len()).map_err(|_| DecryptError::KeyLength)?;
    let label_len = u8::try_from(label.len() + 6).map_err(|_| DecryptError::KeyLength)?;
    let context_len = u8::try_from(context.len()).map_err(|_| DecryptError::KeyLength)?;
    let info: [&[u8]; 6] = [
        &length.to_be_bytes(),
        &[label_len],
        b"tls13 ",
        label,
        &[context_len],
        context,
    ];
    hkdf_expand(hash, secret, &info, out)
}

/// The key and IV of one direction's records. Prints redacted; zeroed when dropped.
#[derive(Clone)]
pub struct TrafficKeys {
    key: [u8; MAX_KEY_LEN],
    key_len: u8,
    iv: [u8; NONCE_LEN],
    iv_len: u8,
}

impl TrafficKeys {
    /// Takes a key (1 to 32 bytes) and an IV (1 to 12 bytes); `None` for other lengths.
    pub fn new(key: &[u8], iv: &[u8]) -> Option<TrafficKeys> {
        let mut k = TrafficKeys {
            key: [0; MAX_KEY_LEN],
            key_len: u8::try_from(key.len()).ok()?,
            iv: [0; NONCE_LEN],
            iv_len: u8::try_from(iv.len()).ok()?,
        };
        k.key.get_mut(..key.len())?.copy_from_slice(key);
        k.iv.get_mut(..iv.len())?.copy_from_slice(iv);
        Some(k)
    }

    /// Gives the write key.
    pub fn key(&self) -> &[u8] {
        self.key
            .get(..usize::from(self.key_len))
            .unwrap_or_default()
    }

    /// Gives the write IV: 12 bytes, or TLS 1.2 AES-GCM's 4-byte implicit salt.
    pub fn iv(&self) -> &[u8] {
        self.iv.get(..usize::from(self.iv_len)).unwrap_or_default()
    }
}

impl fmt::Debug for TrafficKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TrafficKeys(<{}-byte key>, <{}-byte iv>)",
            self.key_len, self.iv_len
        )
    }
}

impl Drop for TrafficKeys {
    fn drop(&mut self) {
        self.key.zeroize();
        self.iv.zeroize();
    }
}

/// What decryption needs of `suite`: its AEAD and hash; [`DecryptError::UnsupportedSuite`]
/// when it has no AEAD handled here or is not of `version`.
fn suite_info(version: Version, suite: u16) -> Result<(Aead, Hash), DecryptError> {
    match cipher_info(suite) {
        Some(CipherInfo {
            aead: Some(aead),
            hash,
            tls13,
        }) if tls13 == (version == Version::Tls13) => Ok((aead, hash)),
        _ => Err(DecryptError::UnsupportedSuite),
    }
}

/// TLS 1.3 traffic keys (RFC 8446 §7.3). Takes the suite's AEAD and hash and a traffic secret
/// (exactly the hash's length: a handshake, application or early traffic secret); gives
/// `[sender]_write_key` and `[sender]_write_iv`.
pub fn tls13_traffic_keys(
    aead: Aead,
    hash: Hash,
    traffic_secret: &[u8],
) -> Result<TrafficKeys, DecryptError> {
    if traffic_secret.len() != hash.output_len() {
        return Err(DecryptError::KeyLength);
    }
    let mut key = [0u8; MAX_KEY_LEN];
    let mut iv = [0u8; NONCE_LEN];
    let key_out = key
        .get_mut(..aead.key_len())
        .ok_or(DecryptError::KeyLength)?;
    let derived = hkdf_expand_label(hash, traffic_secret, b"key", b"", key_out)
        .and_then(|()| hkdf_expand_label(hash, traffic_secret, b"iv", b"", &mut iv))
        .and_then(|()| {
            key.get(..aead.key_len())
                .and_then(|k| TrafficKeys::new(k, &iv))
                .ok_or(DecryptError::KeyLength)
        });
    key.zeroize();
    iv.zeroize();
    derived
}

/// TLS 1.3 KeyUpdate (RFC 8446 §7.2). Takes the suite's hash and the current application
/// traffic secret (the hash's length); gives the next one:
/// HKDF-Expand-Label(secret, "traffic upd", "", Hash.length).
pub fn tls13_next_traffic_secret(
    hash: Hash,
    traffic_secret: &[u8],
) -> Result<Secret, DecryptError> {
    if traffic_secret.len() != hash.output_len() {
        return Err(DecryptError::KeyLength);
    }
    let mut next = [0u8; MAX_SECRET_LEN];
    let out = next
        .get_mut(..hash.output_len())
        .ok_or(DecryptError::KeyLength)?;
    let secret = hkdf_expand_label(hash, traffic_secret, b"traffic upd", b"", out).and_then(|()| {
        next.get(..hash.output_len())
            .and_then(Secret::new)
            .ok_or(DecryptError::KeyLength)
    });
    next.zeroize();
    secret
}

/// P_hash of the TLS 1.2 PRF with the HMAC `M`.
fn p_hash<M: Mac + KeyInit + Clone>(
    secret: &[u8],
    label: &[u8],
    seed: &[&[u8]],
    out: &mut [u8],
) -> Result<(), DecryptError> {
    let keyed = <M as KeyInit>::new_from_slice(secret).map_err(|_| DecryptError::KeyLength)?;
    // A(1) = HMAC(secret, label ‖ seed); A(i) = HMAC(secret, A(i-1)).
    let mut mac = keyed.clone();
    mac.update(label);
    seed.iter().for_each(|s| mac.update(s));
    let mut a = mac.finalize().into_bytes();
    for chunk in out.chunks_mut(a.len()) {
        let mut mac = keyed.clone();
        mac.update(&a);
        mac.update(label);
        seed.iter().for_each(|s| mac.update(s));
        let mut block = mac.finalize().into_bytes();
        chunk
            .iter_mut()
            .zip(block.iter())
            .for_each(|(o, b)| *o = *b);
        block.zeroize();
        let mut mac = keyed.clone();
        mac.update(&a);
        a.zeroize();
        a = mac.finalize().into_bytes();
    }
    a.zeroize();
    Ok(())
}

/// The TLS 1.2 PRF (RFC 5246 §5): P_SHA256 or P_SHA384, as the suite's hash says. Takes the
/// secret, the label (ASCII, e.g. `key expansion`) and the seed as pieces to be concatenated;
/// fills `out`.
pub fn tls12_prf(
    hash: Hash,
    secret: &[u8],
    label: &[u8],
    seed: &[&[u8]],
    out: &mut [u8],
) -> Result<(), DecryptError> {
    match hash {
        Hash::Sha256 => p_hash::<Hmac<Sha256>>(secret, label, seed, out),
        Hash::Sha384 => p_hash::<Hmac<Sha384>>(secret, label, seed, out),
    }
}

/// Both directions' keys of a TLS 1.2 connection.
#[derive(Debug, Clone)]
pub struct Tls12Keys {
    /// client_write_key and client_write_IV: the client's records.
    pub client: TrafficKeys,
    /// server_write_key and server_write_IV: the server's records.
    pub server: TrafficKeys,
}

/// The TLS 1.2 key block of an AEAD suite (RFC 5246 §6.3, no MAC keys): PRF(master_secret,
/// "key expansion", server_random ‖ client_random) cut into client and server write keys,
/// then client and server write IVs (4-byte salts for AES-GCM, RFC 5288; 12-byte IVs for
/// ChaCha20-Poly1305, RFC 7905). Takes the suite, the 48-byte master secret (`CLIENT_RANDOM`
/// in a key log) and both hellos' randoms.
pub fn tls12_key_block(
    suite: u16,
    master_secret: &[u8],
    client_random: &[u8; 32],
    server_random: &[u8; 32],
) -> Result<Tls12Keys, DecryptError> {
    let (aead, hash) = suite_info(Version::Tls12, suite)?;
    if master_secret.len() != 48 {
        return Err(DecryptError::KeyLength);
    }
    let (k, i) = (aead.key_len(), aead.iv_len(false));
    let mut block = [0u8; 2 * (MAX_KEY_LEN + NONCE_LEN)];
    let keys = (|| {
        let block = block
            .get_mut(..2 * (k + i))
            .ok_or(DecryptError::KeyLength)?;
        tls12_prf(
            hash,
            master_secret,
            b"key expansion",
            &[server_random, client_random],
            block,
        )?;
        let (client_key, rest) = block.split_at(k);
        let (server_key, rest) = rest.split_at(k);
        let (client_iv, server_iv) = rest.split_at(i);
        Ok(Tls12Keys {
            client: TrafficKeys::new(client_key, client_iv).ok_or(DecryptError::KeyLength)?,
            server: TrafficKeys::new(server_key, server_iv).ok_or(DecryptError::KeyLength)?,
        })
    })();
    block.zeroize();
    keys
}

// ---------------------------------------------------------------------------------------------
// Records

/// One AEAD, keyed.
enum Cipher {
    Aes128Gcm(Box<Aes128Gcm>),
    Aes256Gcm(Box<Aes256Gcm>),
    Chacha20Poly1305(Box<ChaCha20Poly1305>),
}

impl Cipher {
    fn new(aead: Aead, key: &[u8]) -> Result<Cipher, DecryptError> {
        let bad = |_| DecryptError::KeyLength;
        Ok(match aead {
            Aead::Aes128Gcm => {
                Cipher::Aes128Gcm(Box::new(Aes128Gcm::new_from_slice(key).map_err(bad)?))
            }
            Aead::Aes256Gcm => {
                Cipher::Aes256Gcm(Box::new(Aes256Gcm::new_from_slice(key).map_err(bad)?))
            }
            Aead::Chacha20Poly1305 => Cipher::Chacha20Poly1305(Box::new(
                ChaCha20Poly1305::new_from_slice(key).map_err(bad)?,
            )),
        })
    }

    /// Checks `tag` over `aad` and the ciphertext in `buf`, and only then decrypts `buf` in
    /// place.
    fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), DecryptError> {
        let nonce = (*nonce).into();
        let tag = (*tag).into();
        let buf = InOutBuf::from(buf);
        match self {
            Cipher::Aes128Gcm(c) => c.decrypt_inout_detached(&nonce, aad, buf, &tag),
            Cipher::Aes256Gcm(c) => c.decrypt_inout_detached(&nonce, aad, buf, &tag),
            Cipher::Chacha20Poly1305(c) => c.decrypt_inout_detached(&nonce, aad, buf, &tag),
        }
        .map_err(|_| DecryptError::Authentication)
    }
}

/// Decrypts the records of one direction of one connection, in order: knows the version, the
/// AEAD, the key and IV, and the sequence number of the next record (and in TLS 1.3 the
/// traffic secret, to follow KeyUpdate). Prints without its keys.
pub struct RecordDecryptor {
    cipher: Cipher,
    aead: Aead,
    hash: Hash,
    version: Version,
    /// The 12-byte IV (TLS 1.3, ChaCha20-Poly1305), or the 4-byte salt of TLS 1.2 AES-GCM
    /// followed by zeros.
    iv: [u8; NONCE_LEN],
    seq: u64,
    /// TLS 1.3: the current traffic secret, from which KeyUpdate derives the next.
    secret: Option<Secret>,
}

impl fmt::Debug for RecordDecryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordDecryptor")
            .field("version", &self.version)
            .field("aead", &self.aead)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl Drop for RecordDecryptor {
    fn drop(&mut self) {
        self.iv.zeroize();
    }
}

impl RecordDecryptor {
    /// Takes the version, the cipher suite (IANA value) and one direction's key and IV (from
    /// [`tls13_traffic_keys`] or [`tls12_key_block`]); gives the decryptor of that
    /// direction's records from sequence number 0.
    pub fn new(
        version: Version,
        suite: u16,
        keys: &TrafficKeys,
    ) -> Result<RecordDecryptor, DecryptError> {
        let (aead, hash) = suite_info(version, suite)?;
        if keys.key().len() != aead.key_len()
            || keys.iv().len() != aead.iv_len(version == Version::Tls13)
        {
            return Err(DecryptError::KeyLength);
        }
        let mut iv = [0u8; NONCE_LEN];
        iv.iter_mut().zip(keys.iv()).for_each(|(d, s)| *d = *s);
        Ok(RecordDecryptor {
            cipher: Cipher::new(aead, keys.key())?,
            aead,
            hash,
            version,
            iv,
            seq: 0,
            secret: None,
        })
    }

    /// Takes a TLS 1.3 cipher suite and a traffic secret (handshake, application or early,
    /// from the key log); gives the decryptor of the records it protects from sequence number
    /// 0, able to follow KeyUpdate.
    pub fn tls13(suite: u16, traffic_secret: &[u8]) -> Result<RecordDecryptor, DecryptError> {
        let (aead, hash) = suite_info(Version::Tls13, suite)?;
        let keys = tls13_traffic_keys(aead, hash, traffic_secret)?;
        let mut d = RecordDecryptor::new(Version::Tls13, suite, &keys)?;
        d.secret = Some(Secret::new(traffic_secret).ok_or(DecryptError::KeyLength)?);
        Ok(d)
    }

    /// Gives the record protection followed.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Gives the AEAD.
    pub fn aead(&self) -> Aead {
        self.aead
    }

    /// Gives the sequence number the next record is opened under.
    pub fn sequence(&self) -> u64 {
        self.seq
    }

    /// Takes the sequence number to open the next record under (records known lost, tests).
    pub fn set_sequence(&mut self, seq: u64) {
        self.seq = seq;
    }

    /// TLS 1.3: the peer sent KeyUpdate; its next records are under the next traffic secret
    /// (RFC 8446 §7.2), from sequence number 0. Call after the record that carried the
    /// KeyUpdate. [`DecryptError::MissingSecret`] for a decryptor not built from a secret.
    pub fn key_update(&mut self) -> Result<(), DecryptError> {
        let current = self.secret.as_ref().ok_or(DecryptError::MissingSecret)?;
        let next = tls13_next_traffic_secret(self.hash, current.as_bytes())?;
        let keys = tls13_traffic_keys(self.aead, self.hash, next.as_bytes())?;
        self.cipher = Cipher::new(self.aead, keys.key())?;
        self.iv.iter_mut().zip(keys.iv()).for_each(|(d, s)| *d = *s);
        self.secret = Some(next);
        self.seq = 0;
        Ok(())
    }

    /// Decrypts one record into the caller's buffer. Takes the record's 5-byte header as it
    /// came (it is the additional data), its payload, and `out`, to which the plaintext is
    /// appended (TLS 1.3: without the content type byte and padding); gives the record's
    /// content type (TLS 1.3: the inner one). On error `out` is as it was.
    ///
    /// The sequence number advances for every record that reached the AEAD, whether it
    /// authenticated or not (the sender used a number for it); it stays for records refused
    /// before (a bad header, a length no record has).
    pub fn open(
        &mut self,
        header: &[u8; RECORD_HEADER_LEN],
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<ContentType, DecryptError> {
        let start = out.len();
        out.extend_from_slice(payload);
        let opened = match out.get_mut(start..) {
            Some(buf) => self
                .open_in_place(header, buf)
                .map(|(t, range)| (t, range.start, range.len())),
            None => Err(DecryptError::ShortRecord),
        };
        match opened {
            Ok((content_type, offset, len)) => {
                if offset > 0 {
                    out.copy_within(start + offset..start + offset + len, start);
                }
                out.truncate(start + len);
                Ok(content_type)
            }
            Err(e) => {
                if let Some(rest) = out.get_mut(start..) {
                    rest.zeroize();
                }
                out.truncate(start);
                Err(e)
            }
        }
    }

    /// Decrypts one record in place. Takes the record's header and its payload; gives the
    /// content type and where in `payload` the plaintext now is (after TLS 1.2 AES-GCM's
    /// explicit nonce; TLS 1.3's content type and padding left out). On an error before or at
    /// authentication `payload` still holds the ciphertext; on [`DecryptError::NoContentType`]
    /// and [`DecryptError::BadContentType`] (authentic, but not a TLS 1.3 plaintext) it holds
    /// the plaintext. See [`RecordDecryptor::open`] for the sequence number.
    pub fn open_in_place(
        &mut self,
        header: &[u8; RECORD_HEADER_LEN],
        payload: &mut [u8],
    ) -> Result<(ContentType, std::ops::Range<usize>), DecryptError> {
        let &[record_type, v0, v1, l0, l1] = header;
        if usize::from(u16::from_be_bytes([l0, l1])) != payload.len() {
            return Err(DecryptError::BadHeader);
        }
        let tls13 = self.version == Version::Tls13;
        let explicit_len = self.aead.explicit_nonce_len(tls13);
        let max = if tls13 {
            MAX_TLS13_CIPHERTEXT
        } else {
            MAX_RECORD_LEN
        };
        if payload.len() > max {
            return Err(DecryptError::LongRecord);
        }
        if payload.len() < explicit_len + TAG_LEN + usize::from(tls13) {
            return Err(DecryptError::ShortRecord);
        }
        let outer_type = ContentType::from_u8(record_type).ok_or(DecryptError::BadHeader)?;
        if tls13 && outer_type != ContentType::ApplicationData {
            return Err(DecryptError::BadHeader);
        }
        let (explicit, rest) = payload.split_at_mut(explicit_len);
        let (ciphertext, tag) = rest
            .split_last_chunk_mut::<TAG_LEN>()
            .ok_or(DecryptError::ShortRecord)?;
        let tag = *tag;
        let seq = self.seq.to_be_bytes();
        let mut nonce = self.iv;
        if explicit_len > 0 {
            // RFC 5288: salt (4 bytes of the key block) ‖ the record's explicit nonce.
            nonce
                .iter_mut()
                .skip(NONCE_LEN - explicit_len)
                .zip(explicit.iter())
                .for_each(|(n, e)| *n = *e);
        } else {
            // RFC 8446 §5.3, RFC 7905: the IV XOR the sequence number, left-padded.
            nonce
                .iter_mut()
                .skip(NONCE_LEN - seq.len())
                .zip(seq)
                .for_each(|(n, s)| *n ^= s);
        }
        let aad_buf: [u8; 13];
        let aad: &[u8] = if tls13 {
            header
        } else {
            // RFC 5246 §6.2.3.3: seq_num ‖ type ‖ version ‖ length of the plaintext.
            let len = u16::try_from(ciphertext.len()).map_err(|_| DecryptError::LongRecord)?;
            let [n0, n1] = len.to_be_bytes();
            let [s0, s1, s2, s3, s4, s5, s6, s7] = seq;
            aad_buf = [s0, s1, s2, s3, s4, s5, s6, s7, record_type, v0, v1, n0, n1];
            &aad_buf
        };
        let opened = self.cipher.open(&nonce, aad, ciphertext, &tag);
        nonce.zeroize();
        self.seq = self.seq.wrapping_add(1);
        opened?;
        let len = ciphertext.len();
        if !tls13 {
            return Ok((outer_type, explicit_len..explicit_len + len));
        }
        // RFC 8446 §5.4: content ‖ type ‖ zeros.
        let Some(at) = ciphertext.iter().rposition(|&b| b != 0) else {
            return Err(DecryptError::NoContentType);
        };
        let inner = ciphertext
            .get(at)
            .copied()
            .and_then(ContentType::from_u8)
            .ok_or(DecryptError::BadContentType)?;
        Ok((inner, 0..at))
    }
}

/// Which keys protect one direction of a TLS 1.3 connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epoch {
    /// The handshake traffic secret: EncryptedExtensions to Finished.
    Handshake,
    /// The application traffic secrets: everything after that side's Finished.
    Application,
}

/// The decryptors of both directions of a TLS 1.3 connection, and which keys each is at. The
/// caller says when a side's handshake is over (after its Finished).
#[derive(Debug)]
pub struct Tls13Decryptors {
    suite: u16,
    client: RecordDecryptor,
    server: RecordDecryptor,
    client_epoch: Epoch,
    server_epoch: Epoch,
}

impl Tls13Decryptors {
    /// Takes the suite the ServerHello chose and the connection's secrets; gives both
    /// directions at their handshake keys (`CLIENT_HANDSHAKE_TRAFFIC_SECRET`,
    /// `SERVER_HANDSHAKE_TRAFFIC_SECRET`), for the records after the ServerHello.
    pub fn handshake(suite: u16, secrets: &Secrets) -> Result<Tls13Decryptors, DecryptError> {
        let client = secrets
            .client_handshake_traffic
            .as_ref()
            .ok_or(DecryptError::MissingSecret)?;
        let server = secrets
            .server_handshake_traffic
            .as_ref()
            .ok_or(DecryptError::MissingSecret)?;
        Ok(Tls13Decryptors {
            suite,
            client: RecordDecryptor::tls13(suite, client.as_bytes())?,
            server: RecordDecryptor::tls13(suite, server.as_bytes())?,
            client_epoch: Epoch::Handshake,
            server_epoch: Epoch::Handshake,
        })
    }

    /// Takes the suite and the connection's secrets; gives both directions at their first
    /// application keys (`CLIENT_TRAFFIC_SECRET_0`, `SERVER_TRAFFIC_SECRET_0`): for a
    /// connection whose handshake was not seen, from sequence numbers the caller sets.
    pub fn application(suite: u16, secrets: &Secrets) -> Result<Tls13Decryptors, DecryptError> {
        let client = secrets
            .client_traffic_0
            .as_ref()
            .ok_or(DecryptError::MissingSecret)?;
        let server = secrets
            .server_traffic_0
            .as_ref()
            .ok_or(DecryptError::MissingSecret)?;
        Ok(Tls13Decryptors {
            suite,
            client: RecordDecryptor::tls13(suite, client.as_bytes())?,
            server: RecordDecryptor::tls13(suite, server.as_bytes())?,
            client_epoch: Epoch::Application,
            server_epoch: Epoch::Application,
        })
    }

    /// The side sending in `dir` has sent its Finished: its next records are under its first
    /// application traffic secret, from sequence number 0. Takes the connection's secrets
    /// (looked up again: the key log may have given the application secrets after the
    /// handshake ones). Switching a direction already at its application keys does nothing.
    pub fn switch_to_application(
        &mut self,
        dir: Direction,
        secrets: &Secrets,
    ) -> Result<(), DecryptError> {
        if self.epoch(dir) == Epoch::Application {
            return Ok(());
        }
        let secret = match dir {
            Direction::ToServer => &secrets.client_traffic_0,
            Direction::ToClient => &secrets.server_traffic_0,
        }
        .as_ref()
        .ok_or(DecryptError::MissingSecret)?;
        let decryptor = RecordDecryptor::tls13(self.suite, secret.as_bytes())?;
        match dir {
            Direction::ToServer => {
                self.client = decryptor;
                self.client_epoch = Epoch::Application;
            }
            Direction::ToClient => {
                self.server = decryptor;
                self.server_epoch = Epoch::Application;
            }
        }
        Ok(())
    }

    /// Gives the keys the records sent in `dir` are under.
    pub fn epoch(&self, dir: Direction) -> Epoch {
        match dir {
            Direction::ToServer => self.client_epoch,
            Direction::ToClient => self.server_epoch,
        }
    }

    /// Gives the decryptor of the records sent in `dir` (for its sequence number, KeyUpdate).
    pub fn decryptor(&mut self, dir: Direction) -> &mut RecordDecryptor {
        match dir {
            Direction::ToServer => &mut self.client,
            Direction::ToClient => &mut self.server,
        }
    }

    /// [`RecordDecryptor::open`] on the records sent in `dir`.
    pub fn open(
        &mut self,
        dir: Direction,
        header: &[u8; RECORD_HEADER_LEN],
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<ContentType, DecryptError> {
        self.decryptor(dir).open(header, payload, out)
    }
}

/// The decryptors of both directions of a TLS 1.2 connection.
#[derive(Debug)]
pub struct Tls12Decryptors {
    /// The client's records (after its ChangeCipherSpec).
    pub client: RecordDecryptor,
    /// The server's records (after its ChangeCipherSpec).
    pub server: RecordDecryptor,
}

impl Tls12Decryptors {
    /// Takes the suite the ServerHello chose, the master secret (`CLIENT_RANDOM` in the key
    /// log) and both hellos' randoms; gives both directions from sequence number 0 (the
    /// Finished that follows each side's ChangeCipherSpec).
    pub fn new(
        suite: u16,
        master_secret: &[u8],
        client_random: &[u8; 32],
        server_random: &[u8; 32],
    ) -> Result<Tls12Decryptors, DecryptError> {
        let keys = tls12_key_block(suite, master_secret, client_random, server_random)?;
        Ok(Tls12Decryptors {
            client: RecordDecryptor::new(Version::Tls12, suite, &keys.client)?,
            server: RecordDecryptor::new(Version::Tls12, suite, &keys.server)?,
        })
    }

    /// Gives the decryptor of the records sent in `dir`.
    pub fn decryptor(&mut self, dir: Direction) -> &mut RecordDecryptor {
        match dir {
            Direction::ToServer => &mut self.client,
            Direction::ToClient => &mut self.server,
        }
    }

    /// [`RecordDecryptor::open`] on the records sent in `dir`.
    pub fn open(
        &mut self,
        dir: Direction,
        header: &[u8; RECORD_HEADER_LEN],
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<ContentType, DecryptError> {
        self.decryptor(dir).open(header, payload, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::tls::keylog::KeyLog;
    use crate::protocol::tls::wire::{
        handshake_messages, handshake_type, ClientHello, HandshakeMessage, Record, ServerHello,
    };

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn header(record: &[u8]) -> [u8; 5] {
        record[..5].try_into().unwrap()
    }

    /// Opens a whole record (header and payload) into a fresh buffer.
    fn open(
        d: &mut RecordDecryptor,
        record: &[u8],
    ) -> Result<(ContentType, Vec<u8>), DecryptError> {
        let mut out = Vec::new();
        d.open(&header(record), &record[5..], &mut out)
            .map(|t| (t, out))
    }

    // RFC 8448 §3 (Simple 1-RTT Handshake), TLS_AES_128_GCM_SHA256.
    const EARLY_SECRET: &str = "33 ad 0a 1c 60 7e c0 3b 09 e6 cd 98 93 68 0c e2 10 ad f3 00 aa 1f 26 60 e1 b2 2e 10 f1 70 f9 2a";
    const EMPTY_HASH: &str = "e3 b0 c4 42 98 fc 1c 14 9a fb f4 c8 99 6f b9 24 27 ae 41 e4 64 9b 93 4c a4 95 99 1b 78 52 b8 55";
    const DERIVED: &str = "6f 26 15 a1 08 c7 02 c5 67 8f 54 fc 9d ba b6 97 16 c0 76 18 9c 48 25 0c eb ea c3 57 6c 36 11 ba";
    const C_HS_TRAFFIC: &str = "b3 ed db 12 6e 06 7f 35 a7 80 b3 ab f4 5e 2d 8f 3b 1a 95 07 38 f5 2e 96 00 74 6a 0e 27 a5 5a 21";
    const S_HS_TRAFFIC: &str = "b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38";
    const S_HS_KEY: &str = "3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc";
    const S_HS_IV: &str = "5d 31 3e b2 67 12 76 ee 13 00 0b 30";
    const C_HS_KEY: &str = "db fa a6 93 d1 76 2c 5b 66 6a f5 d9 50 25 8d 01";
    const C_HS_IV: &str = "5b d3 c7 1b 83 6e 0b 76 bb 73 26 5f";
    const C_AP_KEY: &str = "17 42 2d da 59 6e d5 d9 ac d8 90 e3 c6 3f 50 51";
    const C_AP_IV: &str = "5b 78 92 3d ee 08 57 90 33 e5 23 d9";
    const S_AP_KEY: &str = "9f 02 28 3b 6c 9c 07 ef c2 6b b9 f2 ac 92 e3 56";
    const S_AP_IV: &str = "cf 78 2b 88 dd 83 54 9a ad f1 e9 84";
    const C_FINISHED_RECORD: &str = "17 03 03 00 35 75 ec 4d c2 38 cc e6 0b 29 80 44 a7 1e 21 9c 56 cc 77 b0 51 7f e9 b9 3c 7a 4b fc 44 d8 7f 38 f8 03 38 ac 98 fc 46 de b3 84 bd 1c ae ac ab 68 67 d7 26 c4 05 46";
    const C_AP_RECORD: &str = "17 03 03 00 43 a2 3f 70 54 b6 2c 94 d0 af fa fe 82 28 ba 55 cb ef ac ea 42 f9 14 aa 66 bc ab 3f 2b 98 19 a8 a5 b4 6b 39 5b d5 4a 9a 20 44 1e 2b 62 97 4e 1f 5a 62 92 a2 97 70 14 bd 1e 3d ea e6 3a ee bb 21 69 49 15 e4";
    const S_AP_RECORD: &str = "17 03 03 00 43 2e 93 7e 11 ef 4a c7 40 e5 38 ad 36 00 5f c4 a4 69 32 fc 32 25 d0 5f 82 aa 1b 36 e3 0e fa f9 7d 90 e6 df fc 60 2d cb 50 1a 59 a8 fc c4 9c 4b f2 e5 f0 a2 1c 00 47 c2 ab f3 32 54 0d d0 32 e1 67 c2 95 5d";
    /// The server's encrypted flight: EncryptedExtensions, Certificate, CertificateVerify,
    /// Finished (679 octets).
    const S_HS_RECORD: &str = include_str!("testdata/rfc8448_server_handshake_record.hex");
    const S_FINISHED: &str = "14 00 00 20 9b 9b 14 1d 90 63 37 fb d2 cb dc e7 1d f4 de da 4a b4 2c 30 95 72 cb 7f ff ee 54 54 b7 8f 07 18";
    const TLS_AES_128_GCM_SHA256: u16 = 0x1301;

    fn keys(key: &str, iv: &str) -> TrafficKeys {
        TrafficKeys::new(&hex(key), &hex(iv)).unwrap()
    }

    #[test]
    fn rfc8448_hkdf_expand_label_and_traffic_keys() {
        // Derive-Secret(Early Secret, "derived", "") = HKDF-Expand-Label(., "derived", Hash(""), 32).
        let mut out = [0u8; 32];
        hkdf_expand_label(
            Hash::Sha256,
            &hex(EARLY_SECRET),
            b"derived",
            &hex(EMPTY_HASH),
            &mut out,
        )
        .unwrap();
        assert_eq!(out.to_vec(), hex(DERIVED));
        // The early secret itself is HKDF-Extract(0, 0), as the RFC says.
        let (prk, _) = hkdf::Hkdf::<Sha256>::extract(Some(&[0u8; 32]), &[0u8; 32]);
        assert_eq!(prk.to_vec(), hex(EARLY_SECRET));
        // §7.3: the handshake traffic keys and IVs of both sides.
        for (secret, key, iv) in [
            (S_HS_TRAFFIC, S_HS_KEY, S_HS_IV),
            (C_HS_TRAFFIC, C_HS_KEY, C_HS_IV),
        ] {
            let k = tls13_traffic_keys(Aead::Aes128Gcm, Hash::Sha256, &hex(secret)).unwrap();
            assert_eq!(k.key(), hex(key));
            assert_eq!(k.iv(), hex(iv));
        }
        // A secret of the wrong length for the hash, a label too long.
        assert_eq!(
            tls13_traffic_keys(Aead::Aes128Gcm, Hash::Sha384, &hex(S_HS_TRAFFIC)).unwrap_err(),
            DecryptError::KeyLength
        );
        assert_eq!(
            hkdf_expand_label(
                Hash::Sha256,
                &hex(S_HS_TRAFFIC),
                &[b'x'; 250],
                b"",
                &mut out
            ),
            Err(DecryptError::KeyLength)
        );
        assert_eq!(
            hkdf_expand_label(Hash::Sha256, &[1; 16], b"key", b"", &mut out),
            Err(DecryptError::KeyLength),
            "a PRK shorter than the hash"
        );
    }

    #[test]
    fn rfc8448_server_handshake_record() {
        let record = hex(S_HS_RECORD);
        assert_eq!(record.len(), 679);
        let mut d = RecordDecryptor::tls13(TLS_AES_128_GCM_SHA256, &hex(S_HS_TRAFFIC)).unwrap();
        let (t, plain) = open(&mut d, &record).unwrap();
        assert_eq!(t, ContentType::Handshake);
        assert_eq!(plain.len(), 674 - 16 - 1);
        assert_eq!(d.sequence(), 1);
        // The flight's messages, whole: EncryptedExtensions, Certificate, CertificateVerify,
        // Finished (whose verify_data the RFC gives).
        let msgs = handshake_messages(&plain);
        let types: Vec<u8> = msgs.map(|m| m.msg_type).collect();
        assert_eq!(
            types,
            [
                handshake_type::ENCRYPTED_EXTENSIONS,
                handshake_type::CERTIFICATE,
                handshake_type::CERTIFICATE_VERIFY,
                handshake_type::FINISHED
            ]
        );
        assert!(plain.starts_with(&hex("08 00 00 24 00 22 00 0a 00 14 00 12 00 1d 00")));
        assert!(plain.ends_with(&hex(S_FINISHED)));
        // The same record in place: the plaintext where the ciphertext was.
        let mut payload = record[5..].to_vec();
        let mut d = RecordDecryptor::new(
            Version::Tls13,
            TLS_AES_128_GCM_SHA256,
            &keys(S_HS_KEY, S_HS_IV),
        )
        .unwrap();
        let (t, range) = d.open_in_place(&header(&record), &mut payload).unwrap();
        assert_eq!((t, &payload[range]), (ContentType::Handshake, &plain[..]));
    }

    #[test]
    fn rfc8448_client_finished_and_application_data() {
        let payload: Vec<u8> = (0u8..=0x31).collect();
        let mut c_hs = RecordDecryptor::tls13(TLS_AES_128_GCM_SHA256, &hex(C_HS_TRAFFIC)).unwrap();
        let (t, fin) = open(&mut c_hs, &hex(C_FINISHED_RECORD)).unwrap();
        assert_eq!(
            (t, fin.len(), &fin[..4]),
            (ContentType::Handshake, 36, &[0x14, 0, 0, 0x20][..])
        );
        let mut c_ap = RecordDecryptor::new(
            Version::Tls13,
            TLS_AES_128_GCM_SHA256,
            &keys(C_AP_KEY, C_AP_IV),
        )
        .unwrap();
        assert_eq!(
            open(&mut c_ap, &hex(C_AP_RECORD)),
            Ok((ContentType::ApplicationData, payload.clone()))
        );
        // The server's application data is its second record (after a NewSessionTicket).
        let mut s_ap = RecordDecryptor::new(
            Version::Tls13,
            TLS_AES_128_GCM_SHA256,
            &keys(S_AP_KEY, S_AP_IV),
        )
        .unwrap();
        assert_eq!(
            open(&mut s_ap, &hex(S_AP_RECORD)),
            Err(DecryptError::Authentication),
            "at seq 0"
        );
        s_ap.set_sequence(1);
        assert_eq!(
            open(&mut s_ap, &hex(S_AP_RECORD)),
            Ok((ContentType::ApplicationData, payload))
        );
        // The client's record under the server's key.
        s_ap.set_sequence(0);
        assert_eq!(
            open(&mut s_ap, &hex(C_AP_RECORD)),
            Err(DecryptError::Authentication)
        );
    }

    #[test]
    fn tls12_prf_vectors() {
        // The TLS 1.2 PRF test vectors published for the IETF TLS WG (P_SHA256, P_SHA384).
        let mut out = [0u8; 100];
        tls12_prf(
            Hash::Sha256,
            &hex("9b be 43 6b a9 40 f0 17 b1 76 52 84 9a 71 db 35"),
            b"test label",
            &[&hex("a0 ba 9f 93 6c da 31 18 27 a6 f7 96 ff d5 19 8c")],
            &mut out,
        )
        .unwrap();
        assert_eq!(
            out.to_vec(),
            hex("e3 f2 29 ba 72 7b e1 7b 8d 12 26 20 55 7c d4 53 c2 aa b2 1d 07 c3 d4 95 32 9b 52 d4 e6 1e db 5a
                 6b 30 17 91 e9 0d 35 c9 c9 a4 6b 4e 14 ba f9 af 0f a0 22 f7 07 7d ef 17 ab fd 37 97 c0 56 4b ab
                 4f bc 91 66 6e 9d ef 9b 97 fc e3 4f 79 67 89 ba a4 80 82 d1 22 ee 42 c5 a7 2e 5a 51 10 ff f7 01
                 87 34 7b 66")
        );
        let mut out = [0u8; 148];
        let seed = hex("cd 66 5c f6 a8 44 7d d6 ff 8b 27 55 5e db 74 65");
        // The seed in two pieces, as the key block passes the two randoms.
        tls12_prf(
            Hash::Sha384,
            &hex("b8 0b 73 3d 6c ee fc dc 71 56 6e a4 8e 55 67 df"),
            b"test label",
            &[&seed[..5], &seed[5..]],
            &mut out,
        )
        .unwrap();
        assert_eq!(
            out.to_vec(),
            hex("7b 0c 18 e9 ce d4 10 ed 18 04 f2 cf a3 4a 33 6a 1c 14 df fb 49 00 bb 5f d7 94 21 07 e8 1c 83 cd
                 e9 ca 0f aa 60 be 9f e3 4f 82 b1 23 3c 91 46 a0 e5 34 cb 40 0f ed 27 00 88 4f 9d c2 36 f8 0e dd
                 8b fa 96 11 44 c9 e8 d7 92 ec a7 22 a7 b3 2f c3 d4 16 d4 73 eb c2 c5 fd 4a bf da d0 5d 91 84 25
                 9b 5b f8 cd 4d 90 fa 0d 31 e2 de c4 79 e4 f1 a2 60 66 f2 ee a9 a6 92 36 a3 e5 26 55 c9 e9 ae e6
                 91 c8 f3 a2 68 54 30 8d 5e aa 3b e8 5e 09 90 70 3d 73 e5 6f")
        );
    }

    // -----------------------------------------------------------------------------------------
    // Real records from pcaps/tls/tls.pcap (testdata/*.records, *.keys; see their headers).

    struct Capture {
        name: &'static str,
        suite: u16,
        client_hello: Vec<u8>,
        server_hello: Vec<u8>,
        server_first: Vec<u8>,
        client_finished: Vec<u8>,
        client_data: Vec<u8>,
        /// tshark's decryption of `client_data`.
        tshark: Vec<u8>,
        keys: &'static str,
    }

    macro_rules! capture {
        ($name:literal, $suite:expr) => {
            Capture::new(
                $name,
                $suite,
                include_str!(concat!("testdata/", $name, ".records")),
                include_str!(concat!("testdata/", $name, ".keys")),
            )
        };
    }

    impl Capture {
        fn new(name: &'static str, suite: u16, records: &str, keys: &'static str) -> Capture {
            let lines: Vec<(&str, Vec<u8>)> = records
                .lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| (&l[..1], hex(&l[2..])))
                .collect();
            let kinds: Vec<&str> = lines.iter().map(|(k, _)| *k).collect();
            assert_eq!(kinds, ["C", "S", "S", "C", "C", "P"], "{name}");
            let mut it = lines.into_iter().map(|(_, b)| b);
            let mut next = || it.next().unwrap();
            Capture {
                name,
                suite,
                client_hello: next(),
                server_hello: next(),
                server_first: next(),
                client_finished: next(),
                client_data: next(),
                tshark: next(),
                keys,
            }
        }

        fn all() -> Vec<Capture> {
            vec![
                capture!("tls13_aes256gcm", 0x1302),
                capture!("tls13_chacha20", 0x1303),
                capture!("tls13_aes128gcm", 0x1301),
                capture!("tls12_ecdhe_aes256gcm", 0xc02c),
                capture!("tls12_ecdhe_aes128gcm", 0xc02b),
                capture!("tls12_ecdhe_chacha20", 0xcca9),
                capture!("tls12_rsa_aes128gcm", 0x009c),
            ]
        }

        fn tls13(&self) -> bool {
            self.suite >> 8 == 0x13
        }

        /// The ClientHello's random and the ServerHello's suite and random, read off the
        /// records with the wire reader.
        fn hellos(&self) -> ([u8; 32], u16, [u8; 32]) {
            let (rec, _) = Record::read(&self.client_hello).unwrap();
            let (msg, _) = HandshakeMessage::read(rec.payload).unwrap();
            let ch = ClientHello::parse(msg.body).unwrap();
            let (rec, _) = Record::read(&self.server_hello).unwrap();
            let (msg, _) = HandshakeMessage::read(rec.payload).unwrap();
            let sh = ServerHello::parse(msg.body).unwrap();
            (*ch.random, sh.cipher_suite, *sh.random)
        }

        fn secrets(&self) -> Secrets {
            let mut log = KeyLog::default();
            log.add_text(self.keys);
            assert_eq!(log.stats().malformed, 0);
            let (client_random, _, _) = self.hellos();
            log.lookup(&client_random)
                .expect("keys of this connection")
                .clone()
        }

        /// Both directions' decryptors at the keys of the first encrypted records.
        fn decryptors(&self, secrets: &Secrets) -> Decryptors {
            let (client_random, suite, server_random) = self.hellos();
            if self.tls13() {
                Decryptors::Tls13(Tls13Decryptors::handshake(suite, secrets).unwrap())
            } else {
                let master = secrets.master_secret.as_ref().unwrap();
                Decryptors::Tls12(
                    Tls12Decryptors::new(suite, master.as_bytes(), &client_random, &server_random)
                        .unwrap(),
                )
            }
        }
    }

    enum Decryptors {
        Tls13(Tls13Decryptors),
        Tls12(Tls12Decryptors),
    }

    impl Decryptors {
        fn open(
            &mut self,
            dir: Direction,
            record: &[u8],
        ) -> Result<(ContentType, Vec<u8>), DecryptError> {
            let mut out = b"kept".to_vec();
            let r = match self {
                Decryptors::Tls13(d) => d.open(dir, &header(record), &record[5..], &mut out),
                Decryptors::Tls12(d) => d.open(dir, &header(record), &record[5..], &mut out),
            };
            assert_eq!(&out[..4], b"kept", "appended after what was there");
            if r.is_err() {
                assert_eq!(out, b"kept", "nothing appended on an error");
            }
            r.map(|t| (t, out[4..].to_vec()))
        }

        fn finished(&mut self, dir: Direction, secrets: &Secrets) {
            if let Decryptors::Tls13(d) = self {
                assert_eq!(d.epoch(dir), Epoch::Handshake);
                d.switch_to_application(dir, secrets).unwrap();
                assert_eq!(d.epoch(dir), Epoch::Application);
            }
        }

        fn decryptor(&mut self, dir: Direction) -> &mut RecordDecryptor {
            match self {
                Decryptors::Tls13(d) => d.decryptor(dir),
                Decryptors::Tls12(d) => d.decryptor(dir),
            }
        }
    }

    /// Decrypts a connection's records as the pipeline will; gives the client's first
    /// application data.
    fn decrypt_capture(c: &Capture) -> Vec<u8> {
        let secrets = c.secrets();
        let (_, suite, _) = c.hellos();
        assert_eq!(suite, c.suite, "{}: the ServerHello's suite", c.name);
        let mut d = c.decryptors(&secrets);
        // The server's first encrypted record: EncryptedExtensions (1.3), Finished (1.2).
        let (t, plain) = d.open(Direction::ToClient, &c.server_first).unwrap();
        assert_eq!(t, ContentType::Handshake, "{}", c.name);
        let first = if c.tls13() {
            handshake_type::ENCRYPTED_EXTENSIONS
        } else {
            handshake_type::FINISHED
        };
        assert_eq!(plain[0], first, "{}", c.name);
        // The client's Finished (12 bytes of verify_data in 1.2, the hash's length in 1.3).
        let (t, plain) = d.open(Direction::ToServer, &c.client_finished).unwrap();
        let (msg, rest) = HandshakeMessage::read(&plain).unwrap();
        assert_eq!(
            (t, msg.msg_type, rest.len()),
            (ContentType::Handshake, handshake_type::FINISHED, 0),
            "{}",
            c.name
        );
        let verify_len = match (c.tls13(), cipher_info(c.suite).unwrap().hash) {
            (false, _) => 12,
            (true, h) => h.output_len(),
        };
        assert_eq!(msg.body.len(), verify_len, "{}", c.name);
        d.finished(Direction::ToServer, &secrets);
        // Its first application data.
        let (t, plain) = d.open(Direction::ToServer, &c.client_data).unwrap();
        assert_eq!(t, ContentType::ApplicationData, "{}", c.name);
        assert_eq!(
            d.decryptor(Direction::ToServer).sequence(),
            if c.tls13() { 1 } else { 2 }
        );
        plain
    }

    #[test]
    fn real_records_decrypt_to_what_the_client_sent() {
        for c in Capture::all() {
            let plain = decrypt_capture(&c);
            assert_eq!(plain, c.tshark, "{}: as tshark decrypts it", c.name);
            let h2 = plain.starts_with(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
            let h1 = plain.starts_with(b"GET /index.html HTTP/1.1\r\n")
                || plain.starts_with(b"GET /small.txt HTTP/1.1\r\n");
            assert!(
                h1 || h2,
                "{}: {:?}",
                c.name,
                String::from_utf8_lossy(&plain)
            );
        }
    }

    #[test]
    fn a_tampered_byte_fails_authentication() {
        for c in Capture::all() {
            let secrets = c.secrets();
            // Each byte position class: header (additional data), explicit nonce (1.2
            // AES-GCM), ciphertext, tag.
            let n = c.server_first.len();
            let positions = [0usize, 1, 2, 5, 5 + 7, n / 2, n - 17, n - 1];
            for &at in &positions {
                let mut record = c.server_first.clone();
                record[at] ^= 0x01;
                let mut d = c.decryptors(&secrets);
                let r = d.open(Direction::ToClient, &record);
                // A TLS 1.3 record of type 22 is not a protected one; anywhere else the bytes
                // (or the additional data made of them) no longer authenticate.
                let expected = if at == 0 && c.tls13() {
                    Err(DecryptError::BadHeader)
                } else {
                    Err(DecryptError::Authentication)
                };
                assert_eq!(r.map(|(t, _)| t), expected, "{}: byte {at}", c.name);
            }
        }
    }

    #[test]
    fn a_wrong_key_fails_authentication() {
        let captures = Capture::all();
        for (i, c) in captures.iter().enumerate() {
            // Another connection's secrets for a suite of the same version (and in TLS 1.3 the
            // same hash: the secrets' length); where there is none, this connection's with a
            // bit flipped.
            let hash = |c: &Capture| cipher_info(c.suite).unwrap().hash;
            let other = captures.iter().enumerate().find(|(j, o)| {
                *j != i && o.tls13() == c.tls13() && (!c.tls13() || hash(o) == hash(c))
            });
            let secrets = match other {
                Some((_, o)) => o.secrets(),
                None => {
                    let mut mine = c.secrets();
                    let flipped: Vec<u8> = mine
                        .server_handshake_traffic
                        .as_ref()
                        .unwrap()
                        .as_bytes()
                        .iter()
                        .map(|b| b ^ 0x80)
                        .collect();
                    mine.server_handshake_traffic = Secret::new(&flipped);
                    mine
                }
            };
            let mut d = c.decryptors(&secrets);
            assert_eq!(
                d.open(Direction::ToClient, &c.server_first).map(|(t, _)| t),
                Err(DecryptError::Authentication),
                "{}",
                c.name
            );
        }
    }

    #[test]
    fn a_record_under_the_wrong_sequence_number_fails() {
        for c in Capture::all() {
            let secrets = c.secrets();
            let mut d = c.decryptors(&secrets);
            d.decryptor(Direction::ToClient).set_sequence(1);
            // In TLS 1.3 and ChaCha20-Poly1305 the nonce is made of the sequence number; in TLS
            // 1.2 AES-GCM the nonce travels in the record but the additional data has it.
            let r = d.open(Direction::ToClient, &c.server_first);
            assert_eq!(
                r.map(|(t, _)| t),
                Err(DecryptError::Authentication),
                "{}",
                c.name
            );
            // The failure used up sequence number 1; at 0 the record opens.
            assert_eq!(d.decryptor(Direction::ToClient).sequence(), 2);
            d.decryptor(Direction::ToClient).set_sequence(0);
            assert!(
                d.open(Direction::ToClient, &c.server_first).is_ok(),
                "{}",
                c.name
            );
            // The same record twice (a retransmission handed in again) fails the second time.
            let fin = &c.client_finished;
            assert!(d.open(Direction::ToServer, fin).is_ok());
            assert_eq!(
                d.open(Direction::ToServer, fin).map(|(t, _)| t),
                Err(DecryptError::Authentication)
            );
        }
    }

    /// Seals a TLS 1.3 record (test only: the crate's encryption, for records no capture has).
    fn seal13(aead: Aead, keys: &TrafficKeys, seq: u64, inner: &[u8]) -> Vec<u8> {
        let len = inner.len() + TAG_LEN;
        let mut record = vec![23, 3, 3, (len >> 8) as u8, len as u8];
        let mut nonce: [u8; 12] = keys.iv().try_into().unwrap();
        for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
            *n ^= s;
        }
        let mut buf = inner.to_vec();
        let aad = record.clone();
        let nonce = nonce.into();
        let tag = match aead {
            Aead::Aes128Gcm => Aes128Gcm::new_from_slice(keys.key())
                .unwrap()
                .encrypt_inout_detached(&nonce, &aad, buf.as_mut_slice().into()),
            Aead::Aes256Gcm => Aes256Gcm::new_from_slice(keys.key())
                .unwrap()
                .encrypt_inout_detached(&nonce, &aad, buf.as_mut_slice().into()),
            Aead::Chacha20Poly1305 => ChaCha20Poly1305::new_from_slice(keys.key())
                .unwrap()
                .encrypt_inout_detached(&nonce, &aad, buf.as_mut_slice().into()),
        }
        .unwrap();
        record.extend_from_slice(&buf);
        record.extend_from_slice(&tag);
        record
    }

    #[test]
    fn key_update_padding_and_refused_records() {
        let secret = [0x42u8; 48];
        let suite = 0x1302; // TLS_AES_256_GCM_SHA384
        let mut d = RecordDecryptor::tls13(suite, &secret).unwrap();
        let keys0 = tls13_traffic_keys(Aead::Aes256Gcm, Hash::Sha384, &secret).unwrap();
        // Padding after the content type is dropped; a record of padding only has no type.
        let r = seal13(Aead::Aes256Gcm, &keys0, 0, b"hello\x17\0\0\0\0");
        assert_eq!(
            open(&mut d, &r),
            Ok((ContentType::ApplicationData, b"hello".to_vec()))
        );
        let r = seal13(Aead::Aes256Gcm, &keys0, 1, &[0; 20]);
        assert_eq!(open(&mut d, &r), Err(DecryptError::NoContentType));
        let r = seal13(Aead::Aes256Gcm, &keys0, 2, b"x\x63");
        assert_eq!(open(&mut d, &r), Err(DecryptError::BadContentType));
        let r = seal13(Aead::Aes256Gcm, &keys0, 3, b"\x15");
        assert_eq!(open(&mut d, &r), Ok((ContentType::Alert, vec![])));
        // KeyUpdate: the next records are under HKDF-Expand-Label(secret, "traffic upd").
        d.key_update().unwrap();
        assert_eq!(d.sequence(), 0);
        let next = tls13_next_traffic_secret(Hash::Sha384, &secret).unwrap();
        let mut expected = [0u8; 48];
        hkdf_expand_label(Hash::Sha384, &secret, b"traffic upd", b"", &mut expected).unwrap();
        assert_eq!(next.as_bytes(), expected);
        let keys1 = tls13_traffic_keys(Aead::Aes256Gcm, Hash::Sha384, next.as_bytes()).unwrap();
        let r = seal13(Aead::Aes256Gcm, &keys1, 0, b"after\x17");
        assert_eq!(
            open(&mut d, &r),
            Ok((ContentType::ApplicationData, b"after".to_vec()))
        );
        let old = seal13(Aead::Aes256Gcm, &keys0, 1, b"before\x17");
        assert_eq!(open(&mut d, &old), Err(DecryptError::Authentication));
        // A decryptor built from keys, not a secret, cannot follow KeyUpdate.
        let mut k = RecordDecryptor::new(Version::Tls13, suite, &keys0).unwrap();
        assert_eq!(k.key_update(), Err(DecryptError::MissingSecret));

        // Refused before the AEAD: the sequence number stays.
        let mut d = RecordDecryptor::tls13(suite, &secret).unwrap();
        let good = seal13(Aead::Aes256Gcm, &keys0, 0, b"ok\x17");
        let mut bad_len = header(&good);
        bad_len[4] ^= 1;
        let mut out = Vec::new();
        assert_eq!(
            d.open(&bad_len, &good[5..], &mut out),
            Err(DecryptError::BadHeader)
        );
        let mut handshake = header(&good);
        handshake[0] = 22;
        assert_eq!(
            d.open(&handshake, &good[5..], &mut out),
            Err(DecryptError::BadHeader)
        );
        assert_eq!(
            d.open(&[23, 3, 3, 0, 16], &[0; 16], &mut out),
            Err(DecryptError::ShortRecord)
        );
        let long = vec![0u8; MAX_TLS13_CIPHERTEXT + 1];
        let [h, l] = (long.len() as u16).to_be_bytes();
        assert_eq!(
            d.open(&[23, 3, 3, h, l], &long, &mut out),
            Err(DecryptError::LongRecord)
        );
        assert_eq!(d.sequence(), 0);
        assert!(out.is_empty());
        assert_eq!(
            open(&mut d, &good),
            Ok((ContentType::ApplicationData, b"ok".to_vec()))
        );
        // Every other length of junk is refused or fails, never panics.
        let mut d12 = RecordDecryptor::new(
            Version::Tls12,
            0xc02f,
            &TrafficKeys::new(&[1; 16], &[2; 4]).unwrap(),
        )
        .unwrap();
        for n in 0..64usize {
            let junk = vec![0x5a; n];
            let hdr = [23, 3, 3, 0, n as u8];
            assert!(d.open(&hdr, &junk, &mut out).is_err());
            assert!(d12.open(&hdr, &junk, &mut out).is_err());
            assert!(out.is_empty());
        }
    }

    #[test]
    fn suites_and_key_lengths_refused() {
        let k16 = TrafficKeys::new(&[1; 16], &[2; 12]).unwrap();
        // A CBC suite, a TLS 1.3 suite for TLS 1.2 and the reverse, an unknown suite.
        for (v, s) in [
            (Version::Tls12, 0xc013),
            (Version::Tls12, 0x1301),
            (Version::Tls13, 0xc02f),
            (Version::Tls13, 0xfefe),
        ] {
            assert_eq!(
                RecordDecryptor::new(v, s, &k16).unwrap_err(),
                DecryptError::UnsupportedSuite
            );
        }
        // AES-256 with a 16-byte key; TLS 1.2 AES-GCM with a 12-byte IV (it takes a 4-byte salt).
        assert_eq!(
            RecordDecryptor::new(Version::Tls13, 0x1302, &k16).unwrap_err(),
            DecryptError::KeyLength
        );
        assert_eq!(
            RecordDecryptor::new(Version::Tls12, 0xc02f, &k16).unwrap_err(),
            DecryptError::KeyLength
        );
        // A 32-byte secret for a SHA-384 suite; a master secret that is not 48 bytes.
        assert_eq!(
            RecordDecryptor::tls13(0x1302, &[1; 32]).unwrap_err(),
            DecryptError::KeyLength
        );
        assert_eq!(
            tls12_key_block(0xc02f, &[1; 32], &[0; 32], &[0; 32]).unwrap_err(),
            DecryptError::KeyLength
        );
        // Secrets missing from the key log.
        let none = Secrets::default();
        assert_eq!(
            Tls13Decryptors::handshake(0x1301, &none).unwrap_err(),
            DecryptError::MissingSecret
        );
        assert_eq!(
            Tls13Decryptors::application(0x1301, &none).unwrap_err(),
            DecryptError::MissingSecret
        );
        let hs = Secrets {
            client_handshake_traffic: Secret::new(&[1; 32]),
            server_handshake_traffic: Secret::new(&[2; 32]),
            ..Secrets::default()
        };
        let mut d = Tls13Decryptors::handshake(0x1301, &hs).unwrap();
        assert_eq!(
            d.switch_to_application(Direction::ToServer, &hs),
            Err(DecryptError::MissingSecret)
        );
        assert_eq!(d.epoch(Direction::ToServer), Epoch::Handshake);
        // The TLS 1.2 key block's layout: keys, then IVs (salts for AES-GCM).
        let kb = tls12_key_block(0xcca9, &[3; 48], &[4; 32], &[5; 32]).unwrap();
        let mut block = [0u8; 88];
        tls12_prf(
            Hash::Sha256,
            &[3; 48],
            b"key expansion",
            &[&[5; 32], &[4; 32]],
            &mut block,
        )
        .unwrap();
        assert_eq!(
            (kb.client.key(), kb.server.key()),
            (&block[..32], &block[32..64])
        );
        assert_eq!(
            (kb.client.iv(), kb.server.iv()),
            (&block[64..76], &block[76..88])
        );
        let kb = tls12_key_block(0xc02b, &[3; 48], &[4; 32], &[5; 32]).unwrap();
        assert_eq!((kb.client.key().len(), kb.client.iv().len()), (16, 4));
    }

    #[test]
    fn keys_print_redacted() {
        let c = &Capture::all()[0];
        let secrets = c.secrets();
        let (_, suite, _) = c.hellos();
        let secret = secrets.server_handshake_traffic.as_ref().unwrap();
        let keys = tls13_traffic_keys(Aead::Aes256Gcm, Hash::Sha384, secret.as_bytes()).unwrap();
        let d = Tls13Decryptors::handshake(suite, &secrets).unwrap();
        let r = RecordDecryptor::tls13(suite, secret.as_bytes()).unwrap();
        let hexes = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        for shown in [
            format!("{keys:?}"),
            format!("{d:?}"),
            format!("{r:#?}"),
            format!("{secret:?}"),
        ] {
            for bytes in [keys.key(), keys.iv(), secret.as_bytes()] {
                assert!(!shown.contains(&hexes(&bytes[..8])), "{shown}");
                assert!(
                    !shown.contains(&format!("{}, {}, {}", bytes[0], bytes[1], bytes[2])),
                    "{shown}"
                );
            }
        }
        assert_eq!(
            format!("{keys:?}"),
            "TrafficKeys(<32-byte key>, <12-byte iv>)"
        );
        for e in [DecryptError::Authentication, DecryptError::KeyLength] {
            assert!(!e.to_string().is_empty());
        }
    }

    /// Decryption throughput of one core on 16 KiB records (TLS 1.3 framing), printed:
    /// `cargo test --release --lib tls::decrypt -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn throughput_16k_records() {
        const RECORD: usize = 16 * 1024;
        const TOTAL: usize = 256 << 20;
        for (aead, suite, hash) in [
            (Aead::Aes128Gcm, 0x1301, Hash::Sha256),
            (Aead::Aes256Gcm, 0x1302, Hash::Sha384),
            (Aead::Chacha20Poly1305, 0x1303, Hash::Sha256),
        ] {
            let secret = vec![0x11u8; hash.output_len()];
            let keys = tls13_traffic_keys(aead, hash, &secret).unwrap();
            let mut inner = vec![0xabu8; RECORD];
            inner.push(23);
            let records: Vec<Vec<u8>> = (0..16)
                .map(|seq| seal13(aead, &keys, seq, &inner))
                .collect();
            let mut out = Vec::with_capacity(RECORD + 64);
            let mut best = f64::MAX;
            for _round in 0..3 {
                let mut d = RecordDecryptor::tls13(suite, &secret).unwrap();
                let start = std::time::Instant::now();
                let mut done = 0;
                while done < TOTAL {
                    let r = &records[(d.sequence() % 16) as usize];
                    if d.sequence() % 16 == 0 {
                        d.set_sequence(0);
                    }
                    out.clear();
                    d.open(&header(r), &r[5..], &mut out).unwrap();
                    done += out.len();
                }
                best = best.min(start.elapsed().as_secs_f64());
            }
            println!(
                "{}: {:.0} MiB/s of plaintext, one core, 16 KiB records",
                aead.name(),
                TOTAL as f64 / best / (1 << 20) as f64
            );
        }
    }
}

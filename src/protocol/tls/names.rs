//! IANA names of TLS parameters (the "Transport Layer Security (TLS) Parameters" registry,
//! RFC 8446, RFC 5246 and the RFCs they point to), and what decryption will need to know of a
//! cipher suite.
//!
//! Every lookup takes the number as it travels on the wire and gives the registry's name, or
//! `None` for a number the table does not hold (the caller then prints it as `0xC02F`). GREASE
//! values (RFC 8701) are never named: [`is_grease`] tells them.

/// Whether `v` is one of the GREASE values (RFC 8701: `0x0A0A`, `0x1A1A`, … `0xFAFA`) that
/// clients sprinkle among versions, cipher suites, extensions and groups to keep servers
/// tolerant; they mean nothing and are skipped wherever a real value is wanted.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// A protocol version as OpenTelemetry's `tls.protocol.version` wants it (`"1.2"`, `"1.3"`;
/// `"3.0"` for SSLv3); `None` for anything else (drafts, DTLS, GREASE).
pub fn version_name(version: u16) -> Option<&'static str> {
    Some(match version {
        0x0300 => "3.0",
        0x0301 => "1.0",
        0x0302 => "1.1",
        0x0303 => "1.2",
        0x0304 => "1.3",
        _ => return None,
    })
}

/// The IANA name of a cipher suite (`0xC02F` → `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`):
/// every TLS 1.3 suite and every suite OpenSSL, BoringSSL, Go, Java, rustls and NSS offer or
/// once offered (AES-GCM, AES-CBC, AES-CCM, CHACHA20-POLY1305, 3DES, RC4, ARIA, Camellia,
/// PSK, SRP, NULL), with the two signalling values. `None` for the rest.
pub fn cipher_suite_name(suite: u16) -> Option<&'static str> {
    Some(match suite {
        0x0000 => "TLS_NULL_WITH_NULL_NULL",
        0x0001 => "TLS_RSA_WITH_NULL_MD5",
        0x0002 => "TLS_RSA_WITH_NULL_SHA",
        0x0004 => "TLS_RSA_WITH_RC4_128_MD5",
        0x0005 => "TLS_RSA_WITH_RC4_128_SHA",
        0x000A => "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
        0x0013 => "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA",
        0x0016 => "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA",
        0x002C => "TLS_PSK_WITH_NULL_SHA",
        0x002D => "TLS_DHE_PSK_WITH_NULL_SHA",
        0x002E => "TLS_RSA_PSK_WITH_NULL_SHA",
        0x002F => "TLS_RSA_WITH_AES_128_CBC_SHA",
        0x0032 => "TLS_DHE_DSS_WITH_AES_128_CBC_SHA",
        0x0033 => "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
        0x0034 => "TLS_DH_anon_WITH_AES_128_CBC_SHA",
        0x0035 => "TLS_RSA_WITH_AES_256_CBC_SHA",
        0x0038 => "TLS_DHE_DSS_WITH_AES_256_CBC_SHA",
        0x0039 => "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
        0x003A => "TLS_DH_anon_WITH_AES_256_CBC_SHA",
        0x003B => "TLS_RSA_WITH_NULL_SHA256",
        0x003C => "TLS_RSA_WITH_AES_128_CBC_SHA256",
        0x003D => "TLS_RSA_WITH_AES_256_CBC_SHA256",
        0x0040 => "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256",
        0x0041 => "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA",
        0x0044 => "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA",
        0x0045 => "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA",
        0x0046 => "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA",
        0x0067 => "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
        0x006A => "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256",
        0x006B => "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
        0x006C => "TLS_DH_anon_WITH_AES_128_CBC_SHA256",
        0x006D => "TLS_DH_anon_WITH_AES_256_CBC_SHA256",
        0x0084 => "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA",
        0x0087 => "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA",
        0x0088 => "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA",
        0x0089 => "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA",
        0x008C => "TLS_PSK_WITH_AES_128_CBC_SHA",
        0x008D => "TLS_PSK_WITH_AES_256_CBC_SHA",
        0x0090 => "TLS_DHE_PSK_WITH_AES_128_CBC_SHA",
        0x0091 => "TLS_DHE_PSK_WITH_AES_256_CBC_SHA",
        0x0094 => "TLS_RSA_PSK_WITH_AES_128_CBC_SHA",
        0x0095 => "TLS_RSA_PSK_WITH_AES_256_CBC_SHA",
        0x009C => "TLS_RSA_WITH_AES_128_GCM_SHA256",
        0x009D => "TLS_RSA_WITH_AES_256_GCM_SHA384",
        0x009E => "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
        0x009F => "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
        0x00A2 => "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256",
        0x00A3 => "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384",
        0x00A6 => "TLS_DH_anon_WITH_AES_128_GCM_SHA256",
        0x00A7 => "TLS_DH_anon_WITH_AES_256_GCM_SHA384",
        0x00A8 => "TLS_PSK_WITH_AES_128_GCM_SHA256",
        0x00A9 => "TLS_PSK_WITH_AES_256_GCM_SHA384",
        0x00AA => "TLS_DHE_PSK_WITH_AES_128_GCM_SHA256",
        0x00AB => "TLS_DHE_PSK_WITH_AES_256_GCM_SHA384",
        0x00AC => "TLS_RSA_PSK_WITH_AES_128_GCM_SHA256",
        0x00AD => "TLS_RSA_PSK_WITH_AES_256_GCM_SHA384",
        0x00AE => "TLS_PSK_WITH_AES_128_CBC_SHA256",
        0x00AF => "TLS_PSK_WITH_AES_256_CBC_SHA384",
        0x00B0 => "TLS_PSK_WITH_NULL_SHA256",
        0x00B1 => "TLS_PSK_WITH_NULL_SHA384",
        0x00B2 => "TLS_DHE_PSK_WITH_AES_128_CBC_SHA256",
        0x00B3 => "TLS_DHE_PSK_WITH_AES_256_CBC_SHA384",
        0x00B4 => "TLS_DHE_PSK_WITH_NULL_SHA256",
        0x00B5 => "TLS_DHE_PSK_WITH_NULL_SHA384",
        0x00B6 => "TLS_RSA_PSK_WITH_AES_128_CBC_SHA256",
        0x00B7 => "TLS_RSA_PSK_WITH_AES_256_CBC_SHA384",
        0x00B8 => "TLS_RSA_PSK_WITH_NULL_SHA256",
        0x00B9 => "TLS_RSA_PSK_WITH_NULL_SHA384",
        0x00BA => "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA256",
        0x00BD => "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA256",
        0x00BE => "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA256",
        0x00BF => "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA256",
        0x00C0 => "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA256",
        0x00C3 => "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA256",
        0x00C4 => "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256",
        0x00C5 => "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA256",
        0x00C6 => "TLS_SM4_GCM_SM3",
        0x00C7 => "TLS_SM4_CCM_SM3",
        0x00FF => "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
        0x1301 => "TLS_AES_128_GCM_SHA256",
        0x1302 => "TLS_AES_256_GCM_SHA384",
        0x1303 => "TLS_CHACHA20_POLY1305_SHA256",
        0x1304 => "TLS_AES_128_CCM_SHA256",
        0x1305 => "TLS_AES_128_CCM_8_SHA256",
        0x5600 => "TLS_FALLBACK_SCSV",
        0xC004 => "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA",
        0xC005 => "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA",
        0xC006 => "TLS_ECDHE_ECDSA_WITH_NULL_SHA",
        0xC007 => "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
        0xC008 => "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA",
        0xC009 => "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
        0xC00A => "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
        0xC00E => "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA",
        0xC00F => "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA",
        0xC010 => "TLS_ECDHE_RSA_WITH_NULL_SHA",
        0xC011 => "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
        0xC012 => "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
        0xC013 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        0xC014 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        0xC015 => "TLS_ECDH_anon_WITH_NULL_SHA",
        0xC018 => "TLS_ECDH_anon_WITH_AES_128_CBC_SHA",
        0xC019 => "TLS_ECDH_anon_WITH_AES_256_CBC_SHA",
        0xC01D => "TLS_SRP_SHA_WITH_AES_128_CBC_SHA",
        0xC01E => "TLS_SRP_SHA_RSA_WITH_AES_128_CBC_SHA",
        0xC01F => "TLS_SRP_SHA_DSS_WITH_AES_128_CBC_SHA",
        0xC020 => "TLS_SRP_SHA_WITH_AES_256_CBC_SHA",
        0xC021 => "TLS_SRP_SHA_RSA_WITH_AES_256_CBC_SHA",
        0xC022 => "TLS_SRP_SHA_DSS_WITH_AES_256_CBC_SHA",
        0xC023 => "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
        0xC024 => "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
        0xC025 => "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256",
        0xC026 => "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384",
        0xC027 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        0xC028 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
        0xC029 => "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256",
        0xC02A => "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384",
        0xC02B => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        0xC02C => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        0xC02D => "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256",
        0xC02E => "TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384",
        0xC02F => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        0xC030 => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        0xC031 => "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256",
        0xC032 => "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384",
        0xC035 => "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA",
        0xC036 => "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA",
        0xC037 => "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256",
        0xC038 => "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA384",
        0xC039 => "TLS_ECDHE_PSK_WITH_NULL_SHA",
        0xC03A => "TLS_ECDHE_PSK_WITH_NULL_SHA256",
        0xC03B => "TLS_ECDHE_PSK_WITH_NULL_SHA384",
        0xC050 => "TLS_RSA_WITH_ARIA_128_GCM_SHA256",
        0xC051 => "TLS_RSA_WITH_ARIA_256_GCM_SHA384",
        0xC052 => "TLS_DHE_RSA_WITH_ARIA_128_GCM_SHA256",
        0xC053 => "TLS_DHE_RSA_WITH_ARIA_256_GCM_SHA384",
        0xC056 => "TLS_DHE_DSS_WITH_ARIA_128_GCM_SHA256",
        0xC057 => "TLS_DHE_DSS_WITH_ARIA_256_GCM_SHA384",
        0xC05C => "TLS_ECDHE_ECDSA_WITH_ARIA_128_GCM_SHA256",
        0xC05D => "TLS_ECDHE_ECDSA_WITH_ARIA_256_GCM_SHA384",
        0xC060 => "TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256",
        0xC061 => "TLS_ECDHE_RSA_WITH_ARIA_256_GCM_SHA384",
        0xC06A => "TLS_PSK_WITH_ARIA_128_GCM_SHA256",
        0xC06B => "TLS_PSK_WITH_ARIA_256_GCM_SHA384",
        0xC06C => "TLS_DHE_PSK_WITH_ARIA_128_GCM_SHA256",
        0xC06D => "TLS_DHE_PSK_WITH_ARIA_256_GCM_SHA384",
        0xC06E => "TLS_RSA_PSK_WITH_ARIA_128_GCM_SHA256",
        0xC06F => "TLS_RSA_PSK_WITH_ARIA_256_GCM_SHA384",
        0xC072 => "TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_CBC_SHA256",
        0xC073 => "TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_CBC_SHA384",
        0xC076 => "TLS_ECDHE_RSA_WITH_CAMELLIA_128_CBC_SHA256",
        0xC077 => "TLS_ECDHE_RSA_WITH_CAMELLIA_256_CBC_SHA384",
        0xC094 => "TLS_PSK_WITH_CAMELLIA_128_CBC_SHA256",
        0xC095 => "TLS_PSK_WITH_CAMELLIA_256_CBC_SHA384",
        0xC096 => "TLS_DHE_PSK_WITH_CAMELLIA_128_CBC_SHA256",
        0xC097 => "TLS_DHE_PSK_WITH_CAMELLIA_256_CBC_SHA384",
        0xC098 => "TLS_RSA_PSK_WITH_CAMELLIA_128_CBC_SHA256",
        0xC099 => "TLS_RSA_PSK_WITH_CAMELLIA_256_CBC_SHA384",
        0xC09A => "TLS_ECDHE_PSK_WITH_CAMELLIA_128_CBC_SHA256",
        0xC09B => "TLS_ECDHE_PSK_WITH_CAMELLIA_256_CBC_SHA384",
        0xC09C => "TLS_RSA_WITH_AES_128_CCM",
        0xC09D => "TLS_RSA_WITH_AES_256_CCM",
        0xC09E => "TLS_DHE_RSA_WITH_AES_128_CCM",
        0xC09F => "TLS_DHE_RSA_WITH_AES_256_CCM",
        0xC0A0 => "TLS_RSA_WITH_AES_128_CCM_8",
        0xC0A1 => "TLS_RSA_WITH_AES_256_CCM_8",
        0xC0A2 => "TLS_DHE_RSA_WITH_AES_128_CCM_8",
        0xC0A3 => "TLS_DHE_RSA_WITH_AES_256_CCM_8",
        0xC0A4 => "TLS_PSK_WITH_AES_128_CCM",
        0xC0A5 => "TLS_PSK_WITH_AES_256_CCM",
        0xC0A6 => "TLS_DHE_PSK_WITH_AES_128_CCM",
        0xC0A7 => "TLS_DHE_PSK_WITH_AES_256_CCM",
        0xC0A8 => "TLS_PSK_WITH_AES_128_CCM_8",
        0xC0A9 => "TLS_PSK_WITH_AES_256_CCM_8",
        0xC0AA => "TLS_PSK_DHE_WITH_AES_128_CCM_8",
        0xC0AB => "TLS_PSK_DHE_WITH_AES_256_CCM_8",
        0xC0AC => "TLS_ECDHE_ECDSA_WITH_AES_128_CCM",
        0xC0AD => "TLS_ECDHE_ECDSA_WITH_AES_256_CCM",
        0xC0AE => "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8",
        0xC0AF => "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8",
        0xCCA8 => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        0xCCA9 => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        0xCCAA => "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        0xCCAB => "TLS_PSK_WITH_CHACHA20_POLY1305_SHA256",
        0xCCAC => "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256",
        0xCCAD => "TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256",
        0xCCAE => "TLS_RSA_PSK_WITH_CHACHA20_POLY1305_SHA256",
        _ => return None,
    })
}

/// The IANA name of a named group (supported_groups and key_share), as OpenTelemetry's
/// `tls.curve` wants it: `x25519`, `secp256r1`, `X25519MLKEM768`, `ffdhe2048`, … `None` for
/// the rest (GREASE included).
pub fn group_name(group: u16) -> Option<&'static str> {
    Some(match group {
        1 => "sect163k1",
        2 => "sect163r1",
        3 => "sect163r2",
        4 => "sect193r1",
        5 => "sect193r2",
        6 => "sect233k1",
        7 => "sect233r1",
        8 => "sect239k1",
        9 => "sect283k1",
        10 => "sect283r1",
        11 => "sect409k1",
        12 => "sect409r1",
        13 => "sect571k1",
        14 => "sect571r1",
        15 => "secp160k1",
        16 => "secp160r1",
        17 => "secp160r2",
        18 => "secp192k1",
        19 => "secp192r1",
        20 => "secp224k1",
        21 => "secp224r1",
        22 => "secp256k1",
        23 => "secp256r1",
        24 => "secp384r1",
        25 => "secp521r1",
        26 => "brainpoolP256r1",
        27 => "brainpoolP384r1",
        28 => "brainpoolP512r1",
        29 => "x25519",
        30 => "x448",
        31 => "brainpoolP256r1tls13",
        32 => "brainpoolP384r1tls13",
        33 => "brainpoolP512r1tls13",
        41 => "curveSM2",
        256 => "ffdhe2048",
        257 => "ffdhe3072",
        258 => "ffdhe4096",
        259 => "ffdhe6144",
        260 => "ffdhe8192",
        0x0200 => "MLKEM512",
        0x0201 => "MLKEM768",
        0x0202 => "MLKEM1024",
        0x11eb => "SecP256r1MLKEM768",
        0x11ec => "X25519MLKEM768",
        0x11ed => "SecP384r1MLKEM1024",
        // The draft hybrid Chrome and others offered before the final code point.
        0x6399 => "X25519Kyber768Draft00",
        _ => return None,
    })
}

/// The IANA name of an alert description (`40` → `handshake_failure`); `None` for the rest.
pub fn alert_name(description: u8) -> Option<&'static str> {
    Some(match description {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        52 => "too_many_cids_requested",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        117 => "general_error",
        120 => "no_application_protocol",
        121 => "ech_required",
        _ => return None,
    })
}

/// The name of a handshake message type (`1` → `client_hello`); `None` for the rest.
pub fn handshake_type_name(msg_type: u8) -> Option<&'static str> {
    Some(match msg_type {
        0 => "hello_request",
        1 => "client_hello",
        2 => "server_hello",
        3 => "hello_verify_request",
        4 => "new_session_ticket",
        5 => "end_of_early_data",
        6 => "hello_retry_request",
        8 => "encrypted_extensions",
        9 => "request_connection_id",
        10 => "new_connection_id",
        11 => "certificate",
        12 => "server_key_exchange",
        13 => "certificate_request",
        14 => "server_hello_done",
        15 => "certificate_verify",
        16 => "client_key_exchange",
        17 => "client_certificate_request",
        20 => "finished",
        21 => "certificate_url",
        22 => "certificate_status",
        23 => "supplemental_data",
        24 => "key_update",
        25 => "compressed_certificate",
        26 => "ekt_key",
        254 => "message_hash",
        _ => return None,
    })
}

/// The IANA name of a hello extension (`0` → `server_name`, `16` →
/// `application_layer_protocol_negotiation`); `None` for the rest (GREASE included).
pub fn extension_name(ext: u16) -> Option<&'static str> {
    Some(match ext {
        0 => "server_name",
        1 => "max_fragment_length",
        2 => "client_certificate_url",
        3 => "trusted_ca_keys",
        4 => "truncated_hmac",
        5 => "status_request",
        6 => "user_mapping",
        7 => "client_authz",
        8 => "server_authz",
        9 => "cert_type",
        10 => "supported_groups",
        11 => "ec_point_formats",
        12 => "srp",
        13 => "signature_algorithms",
        14 => "use_srtp",
        15 => "heartbeat",
        16 => "application_layer_protocol_negotiation",
        17 => "status_request_v2",
        18 => "signed_certificate_timestamp",
        19 => "client_certificate_type",
        20 => "server_certificate_type",
        21 => "padding",
        22 => "encrypt_then_mac",
        23 => "extended_master_secret",
        24 => "token_binding",
        25 => "cached_info",
        27 => "compress_certificate",
        28 => "record_size_limit",
        34 => "delegated_credential",
        35 => "session_ticket",
        41 => "pre_shared_key",
        42 => "early_data",
        43 => "supported_versions",
        44 => "cookie",
        45 => "psk_key_exchange_modes",
        47 => "certificate_authorities",
        48 => "oid_filters",
        49 => "post_handshake_auth",
        50 => "signature_algorithms_cert",
        51 => "key_share",
        57 => "quic_transport_parameters",
        0x4469 => "application_settings_old",
        0x44cd => "application_settings",
        0xfe0d => "encrypted_client_hello",
        0xff01 => "renegotiation_info",
        _ => return None,
    })
}

/// The AEAD that protects a suite's records, among those decryption will handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aead {
    Aes128Gcm,
    Aes256Gcm,
    Chacha20Poly1305,
}

impl Aead {
    /// Its name (`AES-128-GCM`, `AES-256-GCM`, `CHACHA20-POLY1305`).
    pub fn name(self) -> &'static str {
        match self {
            Aead::Aes128Gcm => "AES-128-GCM",
            Aead::Aes256Gcm => "AES-256-GCM",
            Aead::Chacha20Poly1305 => "CHACHA20-POLY1305",
        }
    }

    /// Bytes of its key.
    pub fn key_len(self) -> usize {
        match self {
            Aead::Aes128Gcm => 16,
            Aead::Aes256Gcm | Aead::Chacha20Poly1305 => 32,
        }
    }

    /// Bytes of the IV the key schedule derives: 12 in TLS 1.3 and for CHACHA20-POLY1305 in
    /// TLS 1.2 (RFC 7905), 4 for AES-GCM in TLS 1.2 (RFC 5288), whose other 8 nonce bytes
    /// travel at the start of each record ([`Aead::explicit_nonce_len`]).
    pub fn iv_len(self, tls13: bool) -> usize {
        match self {
            Aead::Aes128Gcm | Aead::Aes256Gcm if !tls13 => 4,
            _ => 12,
        }
    }

    /// Bytes of nonce sent in front of each record's ciphertext: 8 for AES-GCM in TLS 1.2,
    /// none otherwise.
    pub fn explicit_nonce_len(self, tls13: bool) -> usize {
        match self {
            Aead::Aes128Gcm | Aead::Aes256Gcm if !tls13 => 8,
            _ => 0,
        }
    }

    /// Bytes of the authentication tag at the end of each record: 16 for all three.
    pub fn tag_len(self) -> usize {
        16
    }
}

/// The hash of a suite's key schedule: HKDF's in TLS 1.3, the PRF's in TLS 1.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha384,
}

impl Hash {
    /// Bytes of its output.
    pub fn output_len(self) -> usize {
        match self {
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
        }
    }
}

/// What decryption needs to know of a cipher suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CipherInfo {
    /// `None` when the records are protected by something decryption does not handle (CBC
    /// with HMAC, CCM, ARIA, Camellia, 3DES, RC4, NULL).
    pub aead: Option<Aead>,
    /// The key schedule's hash; for TLS 1.2 suites that name no SHA-384 it is SHA-256 (RFC
    /// 5246 5, RFC 6655).
    pub hash: Hash,
    /// A TLS 1.3 suite (`0x13xx`): its keys come from the TLS 1.3 key schedule.
    pub tls13: bool,
}

/// What decryption needs to know of `suite`, read off its IANA name: `None` for suites the
/// table does not name, for the signalling values and for SM3 suites (RFC 8998) whose hash is
/// neither SHA-256 nor SHA-384.
pub fn cipher_info(suite: u16) -> Option<CipherInfo> {
    let name = cipher_suite_name(suite)?;
    if name.ends_with("_SCSV") || name.ends_with("_SM3") || suite == 0 {
        return None;
    }
    let aead = if name.contains("_AES_128_GCM_") {
        Some(Aead::Aes128Gcm)
    } else if name.contains("_AES_256_GCM_") {
        Some(Aead::Aes256Gcm)
    } else if name.contains("_CHACHA20_POLY1305_") {
        Some(Aead::Chacha20Poly1305)
    } else {
        None
    };
    Some(CipherInfo {
        aead,
        hash: if name.ends_with("_SHA384") {
            Hash::Sha384
        } else {
            Hash::Sha256
        },
        tls13: suite >> 8 == 0x13,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_versions_suites_groups_and_alerts() {
        assert_eq!(version_name(0x0303), Some("1.2"));
        assert_eq!(version_name(0x0304), Some("1.3"));
        assert_eq!(version_name(0x0300), Some("3.0"));
        assert_eq!(version_name(0x7f1c), None);
        assert_eq!(cipher_suite_name(0x1301), Some("TLS_AES_128_GCM_SHA256"));
        assert_eq!(cipher_suite_name(0x1302), Some("TLS_AES_256_GCM_SHA384"));
        assert_eq!(
            cipher_suite_name(0x1303),
            Some("TLS_CHACHA20_POLY1305_SHA256")
        );
        assert_eq!(cipher_suite_name(0x1304), Some("TLS_AES_128_CCM_SHA256"));
        assert_eq!(cipher_suite_name(0x1305), Some("TLS_AES_128_CCM_8_SHA256"));
        assert_eq!(
            cipher_suite_name(0xc02f),
            Some("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
        );
        assert_eq!(
            cipher_suite_name(0xcca9),
            Some("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256")
        );
        assert_eq!(
            cipher_suite_name(0x009c),
            Some("TLS_RSA_WITH_AES_128_GCM_SHA256")
        );
        assert_eq!(
            cipher_suite_name(0xc0ac),
            Some("TLS_ECDHE_ECDSA_WITH_AES_128_CCM")
        );
        assert_eq!(
            cipher_suite_name(0x00ff),
            Some("TLS_EMPTY_RENEGOTIATION_INFO_SCSV")
        );
        assert_eq!(cipher_suite_name(0x0a0a), None);
        assert_eq!(group_name(0x11ec), Some("X25519MLKEM768"));
        assert_eq!(group_name(29), Some("x25519"));
        assert_eq!(group_name(23), Some("secp256r1"));
        assert_eq!(group_name(0x2a2a), None);
        assert_eq!(alert_name(0), Some("close_notify"));
        assert_eq!(alert_name(48), Some("unknown_ca"));
        assert_eq!(alert_name(80), Some("internal_error"));
        assert_eq!(alert_name(255), None);
        assert_eq!(
            extension_name(16),
            Some("application_layer_protocol_negotiation")
        );
        assert_eq!(handshake_type_name(11), Some("certificate"));
    }

    #[test]
    fn grease_values() {
        let grease: Vec<u16> = (0..=u16::MAX).filter(|&v| is_grease(v)).collect();
        assert_eq!(grease.len(), 16);
        assert_eq!(grease.first(), Some(&0x0a0a));
        assert_eq!(grease.last(), Some(&0xfafa));
    }

    #[test]
    fn cipher_info_of_aead_suites() {
        let info = |s| cipher_info(s).map(|i| (i.aead, i.hash, i.tls13));
        use Aead::*;
        use Hash::*;
        assert_eq!(info(0x1301), Some((Some(Aes128Gcm), Sha256, true)));
        assert_eq!(info(0x1302), Some((Some(Aes256Gcm), Sha384, true)));
        assert_eq!(info(0x1303), Some((Some(Chacha20Poly1305), Sha256, true)));
        assert_eq!(info(0x1304), Some((None, Sha256, true)));
        assert_eq!(info(0xc02f), Some((Some(Aes128Gcm), Sha256, false)));
        assert_eq!(info(0xc030), Some((Some(Aes256Gcm), Sha384, false)));
        assert_eq!(info(0xc02c), Some((Some(Aes256Gcm), Sha384, false)));
        assert_eq!(info(0xcca8), Some((Some(Chacha20Poly1305), Sha256, false)));
        assert_eq!(info(0x009d), Some((Some(Aes256Gcm), Sha384, false)));
        assert_eq!(info(0xc013), Some((None, Sha256, false)));
        assert_eq!(info(0xc028), Some((None, Sha384, false)));
        // ARIA-GCM is not AES-GCM.
        assert_eq!(info(0xc061), Some((None, Sha384, false)));
        assert_eq!(info(0x00ff), None);
        assert_eq!(info(0x00c6), None);
        assert_eq!(info(0xfafa), None);
        // Every GCM or CHACHA20 suite named is given its AEAD.
        for s in 0..=u16::MAX {
            if let Some(name) = cipher_suite_name(s) {
                let aead = cipher_info(s).and_then(|i| i.aead);
                let expect = (name.contains("AES_128_GCM")
                    || name.contains("AES_256_GCM")
                    || name.contains("CHACHA20"))
                    && !name.contains("SM4");
                assert_eq!(aead.is_some(), expect, "{name}");
            }
        }
        assert_eq!(Aead::Aes128Gcm.iv_len(false), 4);
        assert_eq!(Aead::Chacha20Poly1305.iv_len(false), 12);
        assert_eq!(Aead::Aes256Gcm.explicit_nonce_len(true), 0);
        assert_eq!(Hash::Sha384.output_len(), 48);
    }
}

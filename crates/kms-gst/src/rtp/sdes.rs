//! SDES-SRTP keys (RFC 4568) for RtpEndpoint: the `crypto` constructor
//! parameter (Kurento's `SDES` register: `key` or `keyBase64`, and a
//! `CryptoSuite`), the suites' SDP names, and what GStreamer's srtpenc /
//! srtpdec need to use them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// Kurento's `CryptoSuite`: AES counter mode with an HMAC-SHA1 tag of 32 or
/// 80 bits (RFC 3711 §8.1; 256-bit keys: RFC 6188).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptoSuite {
    Aes128CmHmacSha1_32,
    Aes128CmHmacSha1_80,
    Aes256CmHmacSha1_32,
    Aes256CmHmacSha1_80,
}

impl CryptoSuite {
    const ALL: [CryptoSuite; 4] =
        [CryptoSuite::Aes128CmHmacSha1_32, CryptoSuite::Aes128CmHmacSha1_80, CryptoSuite::Aes256CmHmacSha1_32, CryptoSuite::Aes256CmHmacSha1_80];

    /// The Kurento enum name (`AES_128_CM_HMAC_SHA1_80`, ...).
    pub fn kurento_name(self) -> &'static str {
        match self {
            CryptoSuite::Aes128CmHmacSha1_32 => "AES_128_CM_HMAC_SHA1_32",
            CryptoSuite::Aes128CmHmacSha1_80 => "AES_128_CM_HMAC_SHA1_80",
            CryptoSuite::Aes256CmHmacSha1_32 => "AES_256_CM_HMAC_SHA1_32",
            CryptoSuite::Aes256CmHmacSha1_80 => "AES_256_CM_HMAC_SHA1_80",
        }
    }

    /// The name in `a=crypto` (RFC 4568 §6.2, RFC 6188 §7.1).
    pub fn sdp_name(self) -> &'static str {
        match self {
            CryptoSuite::Aes128CmHmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
            CryptoSuite::Aes128CmHmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            CryptoSuite::Aes256CmHmacSha1_32 => "AES_256_CM_HMAC_SHA1_32",
            CryptoSuite::Aes256CmHmacSha1_80 => "AES_256_CM_HMAC_SHA1_80",
        }
    }

    pub fn from_kurento(name: &str) -> Option<CryptoSuite> {
        CryptoSuite::ALL.into_iter().find(|s| s.kurento_name() == name)
    }

    pub fn from_sdp(name: &str) -> Option<CryptoSuite> {
        CryptoSuite::ALL.into_iter().find(|s| s.sdp_name().eq_ignore_ascii_case(name))
    }

    /// Master key plus master salt, in bytes: 16 + 14 or 32 + 14.
    pub fn key_len(self) -> usize {
        match self {
            CryptoSuite::Aes128CmHmacSha1_32 | CryptoSuite::Aes128CmHmacSha1_80 => 30,
            _ => 46,
        }
    }

    /// srtpenc/srtpdec's cipher nick.
    pub fn gst_cipher(self) -> &'static str {
        match self {
            CryptoSuite::Aes128CmHmacSha1_32 | CryptoSuite::Aes128CmHmacSha1_80 => "aes-128-icm",
            _ => "aes-256-icm",
        }
    }

    /// srtpenc/srtpdec's authentication nick for RTP (RTCP always uses the
    /// 80-bit tag, RFC 4568 §6.2.1).
    pub fn gst_auth(self) -> &'static str {
        match self {
            CryptoSuite::Aes128CmHmacSha1_32 | CryptoSuite::Aes256CmHmacSha1_32 => "hmac-sha1-32",
            _ => "hmac-sha1-80",
        }
    }
}

/// A master key and salt for one suite.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKey {
    pub suite: CryptoSuite,
    pub key: Vec<u8>,
}

impl std::fmt::Debug for SrtpKey {
    /// Never prints the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SrtpKey({}, {} bytes)", self.suite.kurento_name(), self.key.len())
    }
}

/// Why an SDES configuration or an offered key cannot be used (KMS answers
/// these with 40001 at construction, and refuses the media line in an offer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdesError {
    #[error("crypto: no random source for a key")]
    NoRandom,
    #[error("crypto: 'keyBase64' is not base64")]
    NotBase64,
    #[error("crypto: {suite} needs a key of {expected} bytes (master key and salt), not {actual}")]
    KeyLength { suite: &'static str, expected: usize, actual: usize },
    #[error("crypto: unknown crypto suite '{0}'")]
    UnknownSuite(String),
}

impl SrtpKey {
    /// A key from its bytes, checked against the suite's length.
    pub fn new(suite: CryptoSuite, key: Vec<u8>) -> Result<SrtpKey, SdesError> {
        if key.len() != suite.key_len() {
            return Err(SdesError::KeyLength { suite: suite.kurento_name(), expected: suite.key_len(), actual: key.len() });
        }
        Ok(SrtpKey { suite, key })
    }

    /// The `SDES` register's fields, as KMS reads them: without a `crypto`
    /// suite there is no SRTP (`None`, any key ignored); `key` is taken as
    /// its bytes (a 30- or 46-character string) and wins over `keyBase64`;
    /// with neither, a random key is made. Errors (KMS: 40107): a key of the
    /// wrong length, `keyBase64` that is not base64, an unknown suite.
    pub fn from_sdes(key: Option<&str>, key_base64: Option<&str>, suite: Option<&str>) -> Result<Option<SrtpKey>, SdesError> {
        let Some(suite) = suite.filter(|s| !s.is_empty()) else { return Ok(None) };
        let suite = CryptoSuite::from_kurento(suite).ok_or_else(|| SdesError::UnknownSuite(suite.to_owned()))?;
        let bytes = match (key.filter(|k| !k.is_empty()), key_base64.filter(|k| !k.is_empty())) {
            (Some(k), _) => k.as_bytes().to_vec(),
            (None, Some(b)) => STANDARD.decode(b.trim()).map_err(|_| SdesError::NotBase64)?,
            (None, None) => random_bytes(suite.key_len()).map_err(|_| SdesError::NoRandom)?,
        };
        SrtpKey::new(suite, bytes).map(Some)
    }

    /// A key offered in `a=crypto`.
    pub fn from_sdp(suite: &str, key_base64: &str) -> Result<SrtpKey, SdesError> {
        let suite = CryptoSuite::from_sdp(suite).ok_or_else(|| SdesError::UnknownSuite(suite.to_owned()))?;
        let bytes = STANDARD.decode(key_base64).map_err(|_| SdesError::NotBase64)?;
        SrtpKey::new(suite, bytes)
    }

    /// The `inline:` value.
    pub fn base64(&self) -> String {
        STANDARD.encode(&self.key)
    }
}

/// `len` bytes from the kernel's random source (keys, SSRCs).
pub(super) fn random_bytes(len: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut key = vec![0; len];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdes_register_is_checked() {
        let k30 = "0123456789012345678901234567890"[..30].to_owned();
        let key = SrtpKey::from_sdes(Some(&k30), None, Some("AES_128_CM_HMAC_SHA1_80")).unwrap().unwrap();
        assert_eq!(key.key.len(), 30);
        let b64 = key.base64();
        assert_eq!(SrtpKey::from_sdes(None, Some(&b64), Some("AES_128_CM_HMAC_SHA1_80")).unwrap(), Some(key.clone()));
        assert_eq!(SrtpKey::from_sdp("AES_CM_128_HMAC_SHA1_80", &b64).unwrap(), key);
        assert_eq!(SrtpKey::from_sdes(Some(&k30), None, None), Ok(None), "no suite, no SRTP (KMS)");
        let random = SrtpKey::from_sdes(None, None, Some("AES_256_CM_HMAC_SHA1_32")).unwrap().unwrap();
        assert_eq!(random.key.len(), 46);
        assert!(matches!(SrtpKey::from_sdes(Some(&k30), None, Some("AES_256_CM_HMAC_SHA1_80")), Err(SdesError::KeyLength { expected: 46, .. })));
        assert!(matches!(SrtpKey::from_sdes(Some("short"), None, Some("AES_128_CM_HMAC_SHA1_80")), Err(SdesError::KeyLength { actual: 5, .. })));
        assert_eq!(SrtpKey::from_sdes(Some(&k30), Some("AAAA"), Some("AES_128_CM_HMAC_SHA1_80")).unwrap(), Some(key.clone()), "key wins (KMS)");
        assert!(matches!(SrtpKey::from_sdes(None, None, Some("ROT13")), Err(SdesError::UnknownSuite(_))));
        assert_eq!(SrtpKey::from_sdes(None, Some("***"), Some("AES_128_CM_HMAC_SHA1_80")), Err(SdesError::NotBase64));
        assert!(format!("{key:?}").contains("30 bytes") && !format!("{key:?}").contains("0123"));
    }
}

//! The ciphertext format, version 1.
//!
//! ```text
//! offset  size  field
//! 0       1     version = 0x01
//! 1       4     data key id, big-endian u32
//! 5       12    AES-GCM nonce (random)
//! 17      n     AES-256-GCM ciphertext of the plaintext (n = plaintext length)
//! 17+n    16    GCM tag
//! ```
//!
//! The GCM associated data is `header (bytes 0..17) || caller's aad`, so neither the key id,
//! the version nor the caller's context can be swapped without failing authentication.

use crate::{Error, Result};

/// Current format version.
pub const VERSION: u8 = 1;
/// Header length: version, key id, nonce.
pub const HEADER_LEN: usize = 1 + 4 + 12;
/// GCM tag length.
pub const TAG_LEN: usize = 16;

/// The parsed header of a ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Data key that sealed it.
    pub key_id: u32,
    /// The nonce.
    pub nonce: [u8; 12],
}

impl Header {
    /// Serialises the header.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = VERSION;
        out[1..5].copy_from_slice(&self.key_id.to_be_bytes());
        out[5..].copy_from_slice(&self.nonce);
        out
    }

    /// Parses the header of `ciphertext`; the rest (ciphertext + tag) follows it.
    pub fn parse(ciphertext: &[u8]) -> Result<Header> {
        let Some(&version) = ciphertext.first() else {
            return Err(Error::Malformed("empty input"));
        };
        if version != VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        if ciphertext.len() < HEADER_LEN + TAG_LEN {
            return Err(Error::Malformed("shorter than header and tag (33 bytes)"));
        }
        Ok(Header {
            key_id: u32::from_be_bytes(ciphertext[1..5].try_into().expect("4 bytes")),
            nonce: ciphertext[5..HEADER_LEN].try_into().expect("12 bytes"),
        })
    }
}

/// The key id a ciphertext names, without decrypting it (e.g. to find what needs re-encryption).
pub fn key_id_of(ciphertext: &[u8]) -> Result<u32> {
    Header::parse(ciphertext).map(|h| h.key_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Header::parse(&bytes);
        }

        #[test]
        fn header_round_trips(key_id in any::<u32>(), nonce in any::<[u8; 12]>()) {
            let h = Header { key_id, nonce };
            let mut bytes = h.to_bytes().to_vec();
            bytes.extend_from_slice(&[0; TAG_LEN]);
            prop_assert_eq!(Header::parse(&bytes).unwrap(), h);
        }
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(matches!(Header::parse(&[]), Err(Error::Malformed(_))));
        assert!(matches!(
            Header::parse(&[2; 40]),
            Err(Error::UnsupportedVersion(2))
        ));
        assert!(matches!(Header::parse(&[1; 20]), Err(Error::Malformed(_))));
    }
}

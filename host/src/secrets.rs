//! Secrets at rest: `Sealer` encrypts values (Ganeti RAPI passwords) with XChaCha20-Poly1305
//! under a key derived from the configured secret (Synnefo's `SECRET_ENCRYPTION_KEY`).
//! A leaf module: it imports nothing from the crate.

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

/// Encrypts and decrypts small secrets. Sealed values are `v1:<hex nonce><hex ciphertext>`.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<redacted>)")
    }
}

/// A sealed value could not be opened (wrong key or tampered).
#[derive(Debug, thiserror::Error)]
#[error("cannot decrypt a stored secret: the secret key changed or the value was altered")]
pub struct OpenError;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Sealer {
    /// A sealer keyed by SHA-256 of `secret`.
    pub fn new(secret: &str) -> Self {
        let key = Sha256::digest(secret.as_bytes());
        Sealer {
            cipher: XChaCha20Poly1305::new(&key),
        }
    }

    /// A new random secret, 256 bits as hex.
    pub fn generate_secret() -> String {
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        hex(&key)
    }

    pub fn seal(&self, plaintext: &str) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption of an in-memory buffer cannot fail.
        let ciphertext = self
            .cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .unwrap_or_default();
        format!("v1:{}{}", hex(&nonce), hex(&ciphertext))
    }

    pub fn open(&self, sealed: &str) -> Result<String, OpenError> {
        let body = sealed.strip_prefix("v1:").ok_or(OpenError)?;
        let bytes = unhex(body).ok_or(OpenError)?;
        if bytes.len() < 24 {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .map_err(|_| OpenError)?;
        String::from_utf8(plain).map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open() {
        let s = Sealer::new("key-1");
        let sealed = s.seal("rapi-password");
        assert!(sealed.starts_with("v1:") && !sealed.contains("rapi-password"));
        assert_ne!(sealed, s.seal("rapi-password"), "random nonces");
        assert_eq!(s.open(&sealed).unwrap(), "rapi-password");
        assert!(Sealer::new("key-2").open(&sealed).is_err());
        assert!(s.open("v1:00").is_err());
        assert!(s.open("plain").is_err());
        assert_eq!(Sealer::generate_secret().len(), 64);
    }
}

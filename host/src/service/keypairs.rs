//! SSH keypairs (spec §2.8): import a public key or generate an Ed25519 pair (the private key
//! is returned once and never stored), list, get, delete, a per-user limit, 409 on duplicates.
//! Fingerprints are Nova's: MD5 of the key blob as colon-separated hex.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use md5::{Digest, Md5};

use super::{Credentials, ServiceError, Services};
use crate::clock::Timestamp;
use crate::store::{KeyPair, StoreError};

/// `USERDATA_MAX_SSH_KEYS_PER_USER`.
pub const MAX_KEYPAIRS: usize = 10;
/// Longest accepted public key (Synnefo's content column).
const MAX_KEY_LEN: usize = 30000;
const KEY_TYPES: &[&str] = &[
    "ssh-rsa",
    "ssh-ed25519",
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
];

/// A keypair just created; `private_key` only when it was generated.
pub struct NewKeyPair {
    pub keypair: KeyPair,
    pub private_key: Option<String>,
}

fn check_name(name: &str) -> Result<(), ServiceError> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " _-.@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ServiceError::BadRequest(format!(
            "Invalid keypair name '{name}': use 1 to 255 letters, digits, spaces, '_', '-', '.' or '@'"
        )))
    }
}

/// The key blob of an OpenSSH public key line, checked against its declared type.
fn key_blob(public_key: &str) -> Result<Vec<u8>, ServiceError> {
    let bad = |why: &str| ServiceError::BadRequest(format!("Invalid public key: {why}"));
    if public_key.len() > MAX_KEY_LEN {
        return Err(bad("longer than 30000 characters"));
    }
    let mut parts = public_key.split_whitespace();
    let kind = parts.next().ok_or_else(|| bad("empty"))?;
    if !KEY_TYPES.contains(&kind) {
        return Err(bad(&format!("unsupported key type '{kind}'")));
    }
    let blob = B64
        .decode(parts.next().ok_or_else(|| bad("no key data"))?)
        .map_err(|_| bad("the key data is not base64"))?;
    let len = blob
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or_else(|| bad("truncated key data"))?;
    if blob.get(4..4 + len) != Some(kind.as_bytes()) {
        return Err(bad("the key data does not match its type"));
    }
    Ok(blob)
}

/// Nova's fingerprint: MD5 of the blob, `aa:bb:...`.
pub fn fingerprint(blob: &[u8]) -> String {
    Md5::digest(blob)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn ssh_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// A fresh Ed25519 pair: (OpenSSH public key line, OpenSSH private key PEM, blob).
fn generate_ed25519(comment: &str) -> (String, String, Vec<u8>) {
    let signing = ed25519_dalek::SigningKey::generate(&mut chacha20poly1305::aead::OsRng);
    let public = signing.verifying_key().to_bytes();
    let mut blob = Vec::new();
    ssh_string(&mut blob, b"ssh-ed25519");
    ssh_string(&mut blob, &public);
    let line = format!("ssh-ed25519 {} {comment}", B64.encode(&blob));

    let check = u32::from_be_bytes(
        uuid::Uuid::new_v4().as_bytes()[..4]
            .try_into()
            .unwrap_or([0; 4]),
    );
    let mut private = Vec::new();
    private.extend_from_slice(&check.to_be_bytes());
    private.extend_from_slice(&check.to_be_bytes());
    ssh_string(&mut private, b"ssh-ed25519");
    ssh_string(&mut private, &public);
    let mut secret = signing.to_bytes().to_vec();
    secret.extend_from_slice(&public);
    ssh_string(&mut private, &secret);
    ssh_string(&mut private, comment.as_bytes());
    let mut pad = 1u8;
    while private.len() % 8 != 0 {
        private.push(pad);
        pad += 1;
    }
    let mut body = b"openssh-key-v1\0".to_vec();
    ssh_string(&mut body, b"none");
    ssh_string(&mut body, b"none");
    ssh_string(&mut body, b"");
    body.extend_from_slice(&1u32.to_be_bytes());
    ssh_string(&mut body, &blob);
    ssh_string(&mut body, &private);
    let encoded = B64.encode(&body);
    let mut pem = String::from("-----BEGIN OPENSSH PRIVATE KEY-----\n");
    for chunk in encoded.as_bytes().chunks(70) {
        pem.push_str(&String::from_utf8_lossy(chunk));
        pem.push('\n');
    }
    pem.push_str("-----END OPENSSH PRIVATE KEY-----\n");
    (line, pem, blob)
}

impl Services {
    pub fn keypair_list(&self, caller: &Credentials) -> Result<Vec<KeyPair>, ServiceError> {
        Ok(self.store().keypair_list(&caller.user_id)?)
    }

    pub fn keypair_get(&self, caller: &Credentials, name: &str) -> Result<KeyPair, ServiceError> {
        match self.store().keypair_get(&caller.user_id, name) {
            Err(StoreError::NotFound { .. }) => Err(ServiceError::ItemNotFound(format!(
                "Keypair {name} not found."
            ))),
            other => Ok(other?),
        }
    }

    /// Imports `public_key`, or generates a pair when it is `None`.
    pub fn keypair_create(
        &self,
        caller: &Credentials,
        name: &str,
        public_key: Option<&str>,
    ) -> Result<NewKeyPair, ServiceError> {
        check_name(name)?;
        if self.store().keypair_list(&caller.user_id)?.len() >= MAX_KEYPAIRS {
            return Err(ServiceError::OverLimit(format!(
                "SSH keys limit exceeded ({MAX_KEYPAIRS} per user)"
            )));
        }
        let (line, private_key, blob) = match public_key {
            Some(k) => {
                let blob = key_blob(k.trim())?;
                (k.trim().to_string(), None, blob)
            }
            None => {
                let (line, pem, blob) = generate_ed25519(&format!("{}@cyclades", caller.user_name));
                (line, Some(pem), blob)
            }
        };
        let now = Timestamp::now();
        let keypair = match self.store().keypair_insert(&KeyPair {
            id: 0,
            user_id: caller.user_id.clone(),
            name: name.to_string(),
            public_key: line,
            fingerprint: fingerprint(&blob),
            kind: "ssh".into(),
            created: now,
            updated: now,
            generation: 0,
        }) {
            Err(StoreError::AlreadyExists { .. }) => {
                return Err(ServiceError::Conflict(format!(
                    "Key pair '{name}' already exists."
                )));
            }
            other => other?,
        };
        Ok(NewKeyPair {
            keypair,
            private_key,
        })
    }

    pub fn keypair_delete(&self, caller: &Credentials, name: &str) -> Result<(), ServiceError> {
        if self.store().keypair_remove(&caller.user_id, name)? {
            Ok(())
        } else {
            Err(ServiceError::ItemNotFound(format!(
                "Keypair {name} not found."
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_back_and_fingerprint_like_nova() {
        let (line, pem, blob) = generate_ed25519("t@x");
        assert_eq!(key_blob(&line).expect("valid"), blob);
        assert!(pem.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
        assert_eq!(fingerprint(&blob).len(), 47);
        // A key whose data claims another type is refused.
        let lie = line.replacen("ssh-ed25519", "ssh-rsa", 1);
        assert!(key_blob(&lie).is_err());
        assert!(key_blob("ssh-rsa !!!").is_err());
        assert!(key_blob("pgp-key AAAA").is_err());
    }
}

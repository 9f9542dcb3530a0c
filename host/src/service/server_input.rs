//! Pure checks and generators for server create input (spec §2.3): strict base64 for
//! `user_data` and personality files, and admin passwords (the strength rule, and a random one
//! that meets it). No store, no jobs.

/// Strict base64 (standard alphabet, padded), as Synnefo's user_data regex.
pub fn is_base64(text: &str) -> bool {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return false;
    }
    let body = text.trim_end_matches('=');
    text.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

pub(super) fn base64_decoded_len(text: &str) -> usize {
    let pad = text.len() - text.trim_end_matches('=').len();
    (text.len() / 4) * 3 - pad
}

/// A random admin password: 10 characters with upper, lower and digits (spec §2.3).
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    loop {
        let bytes: Vec<u8> = uuid::Uuid::new_v4()
            .as_bytes()
            .iter()
            .chain(uuid::Uuid::new_v4().as_bytes())
            .copied()
            .collect();
        let password: String = bytes
            .iter()
            .filter(|b| (**b as usize) < 256 - 256 % ALPHABET.len())
            .take(10)
            .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
            .collect();
        if password.len() == 10 && strong_password(&password) {
            return password;
        }
    }
}

pub(super) fn strong_password(p: &str) -> bool {
    p.chars().count() >= 10
        && p.chars().any(|c| c.is_ascii_uppercase())
        && p.chars().any(|c| c.is_ascii_lowercase())
        && p.chars().any(|c| c.is_ascii_digit())
}

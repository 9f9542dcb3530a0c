//! Ganeti names of cyclades' objects (spec §8, Synnefo's `BACKEND_PREFIX_ID`): instances
//! `<prefix><id>`, networks `<prefix>net-<id>`, NICs `<prefix>nic-<id>`, disks
//! `<prefix>vol-<id>`, default links `<prefix>link-<id>`, with the prefix `snf-` by default.
//!
//! The prefix is a deployment constant, set once at start from `[backends] name_prefix`:
//! changing it would orphan every existing instance and network, so a process refuses a second,
//! different value. Leaf module: it imports nothing from the crate.

use std::sync::OnceLock;

/// Synnefo's default `BACKEND_PREFIX_ID`.
pub const DEFAULT_PREFIX: &str = "snf-";

static PREFIX: OnceLock<String> = OnceLock::new();

/// Why a prefix cannot be used, or `None` if it can: 2 to 20 ASCII letters, digits and dashes,
/// ending with a dash (Synnefo requires a dash; the trailing one keeps `<prefix><id>` readable).
pub fn prefix_problem(prefix: &str) -> Option<String> {
    let ok_chars = prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !(2..=20).contains(&prefix.len()) || !ok_chars || !prefix.ends_with('-') {
        return Some(format!(
            "'{prefix}' must be 2 to 20 letters, digits and dashes, ending with a dash (like snf-)"
        ));
    }
    if prefix.starts_with('-') {
        return Some(format!("'{prefix}' must not start with a dash"));
    }
    None
}

/// Sets the prefix for this process (first call wins; the same value again is fine).
pub fn set_prefix(prefix: &str) -> Result<(), String> {
    if let Some(problem) = prefix_problem(prefix) {
        return Err(problem);
    }
    let current = PREFIX.get_or_init(|| prefix.to_string());
    if current != prefix {
        return Err(format!(
            "the Ganeti name prefix is already '{current}' in this process; it cannot become '{prefix}'"
        ));
    }
    Ok(())
}

/// The prefix in use.
pub fn prefix() -> &'static str {
    PREFIX.get().map(String::as_str).unwrap_or(DEFAULT_PREFIX)
}

pub fn instance(server_id: u64) -> String {
    format!("{}{server_id}", prefix())
}

pub fn network(network_id: u64) -> String {
    format!("{}net-{network_id}", prefix())
}

pub fn nic(port_id: u64) -> String {
    format!("{}nic-{port_id}", prefix())
}

pub fn volume(volume_id: u64) -> String {
    format!("{}vol-{volume_id}", prefix())
}

pub fn link(network_id: u64) -> String {
    format!("{}link-{network_id}", prefix())
}

/// The server id in an instance name of ours (`None` for anything else).
pub fn instance_id(name: &str) -> Option<u64> {
    digits(name.strip_prefix(prefix())?)
}

/// The network id in a Ganeti network name of ours.
pub fn network_id(name: &str) -> Option<u64> {
    digits(name.strip_prefix(prefix())?.strip_prefix("net-")?)
}

/// Whether a NIC name is one of ours (`<prefix>nic-<id>`).
pub fn is_nic(name: &str) -> bool {
    name.strip_prefix(prefix())
        .and_then(|r| r.strip_prefix("nic-"))
        .and_then(digits)
        .is_some()
}

fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_their_ids_round_trip_with_the_default_prefix() {
        assert_eq!(instance(42), "snf-42");
        assert_eq!(network(7), "snf-net-7");
        assert_eq!(nic(9), "snf-nic-9");
        assert_eq!(volume(3), "snf-vol-3");
        assert_eq!(instance_id("snf-42"), Some(42));
        assert_eq!(instance_id("snf-net-7"), None, "a network is no instance");
        assert_eq!(instance_id("other-42"), None);
        assert_eq!(instance_id("snf-+42"), None);
        assert_eq!(network_id("snf-net-7"), Some(7));
        assert_eq!(network_id("snf-7"), None);
        assert!(is_nic("snf-nic-9") && !is_nic("snf-nic-") && !is_nic("eth0"));
    }

    #[test]
    fn prefixes_are_checked() {
        assert_eq!(prefix_problem("snf-"), None);
        assert_eq!(prefix_problem("cyc-lab-"), None);
        for bad in ["", "snf", "-", "-snf-", "snf_", "sn f-", "ünf-"] {
            assert!(prefix_problem(bad).is_some(), "{bad:?}");
        }
    }
}

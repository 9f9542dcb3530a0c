//! Wall-clock timestamps as stored and as shown on the wire.
//!
//! Owns the `Timestamp` type (milliseconds since the Unix epoch, UTC) and its ISO 8601 renderings.
//! It is a leaf module: it must not import any other module of the crate.

use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

/// A UTC instant with millisecond precision, stored as an integer so that records stay compact
/// and comparisons are cheap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        let now = OffsetDateTime::now_utc();
        Timestamp((now.unix_timestamp_nanos() / 1_000_000) as i64)
    }

    /// This instant moved forward by `secs` seconds (saturating).
    pub fn plus_secs(self, secs: u64) -> Self {
        Timestamp(self.0.saturating_add((secs as i64).saturating_mul(1000)))
    }

    fn to_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128 * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// Keystone style: `2026-11-26T16:43:06.000000Z` (microseconds, `Z`).
    pub fn keystone(self) -> String {
        let t = self.to_datetime();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        )
    }

    /// Nova/Synnefo style: `2026-11-26T16:43:06Z` (whole seconds, `Z`).
    pub fn iso(self) -> String {
        let t = self.to_datetime();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }

    /// Parses an RFC 3339 / ISO 8601 instant such as `2026-11-26T16:43:06Z`.
    pub fn parse_iso(text: &str) -> Option<Self> {
        let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        Some(Timestamp((t.unix_timestamp_nanos() / 1_000_000) as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_keystone_and_iso_forms() {
        let t = Timestamp(1_764_175_386_123);
        assert_eq!(t.keystone(), "2025-11-26T16:43:06.123000Z");
        assert_eq!(t.iso(), "2025-11-26T16:43:06Z");
        assert_eq!(Timestamp::parse_iso("2025-11-26T16:43:06.123Z"), Some(t));
        assert_eq!(t.plus_secs(1).0, 1_764_175_387_123);
        assert!(Timestamp::parse_iso("yesterday").is_none());
    }
}

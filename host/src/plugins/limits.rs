//! The limits table: the configured defaults plus per-plugin overrides.

use std::collections::BTreeMap;

pub use crate::config::{PluginLimits as Limits, PluginLimitsOverride as LimitsOverride};

/// Limits per plugin name.
#[derive(Clone, Debug, Default)]
pub struct LimitsTable {
    pub default: Limits,
    pub overrides: BTreeMap<String, LimitsOverride>,
}

impl LimitsTable {
    /// The limits for the plugin called `name`.
    pub fn for_plugin(&self, name: &str) -> Limits {
        let mut limits = self.default;
        if let Some(o) = self.overrides.get(name) {
            limits.memory_mib = o.memory_mib.unwrap_or(limits.memory_mib);
            limits.deadline_ms = o.deadline_ms.unwrap_or(limits.deadline_ms);
            limits.fuel = o.fuel.or(limits.fuel);
            limits.table_elements = o.table_elements.unwrap_or(limits.table_elements);
        }
        limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_per_plugin() {
        let mut table = LimitsTable::default();
        table.overrides.insert(
            "slow".into(),
            LimitsOverride {
                deadline_ms: Some(10_000),
                ..Default::default()
            },
        );
        assert_eq!(table.for_plugin("slow").deadline_ms, 10_000);
        assert_eq!(table.for_plugin("slow").memory_mib, 64);
        assert_eq!(table.for_plugin("other"), Limits::default());
    }
}

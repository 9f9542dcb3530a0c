//! The quota resource catalogue: the names, units and default limits of spec §16.1.
//!
//! A leaf module (no imports from the crate) so that configuration validation, the quota
//! service and the admin CLI all agree on one list.

/// The unit a resource is counted in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Count,
    Bytes,
}

/// One quota resource.
#[derive(Clone, Copy, Debug)]
pub struct Resource {
    pub name: &'static str,
    pub unit: Unit,
    pub description: &'static str,
    /// The limit a project gets unless configured or set otherwise.
    pub default_limit: i64,
    /// Shown to end users (Synnefo hides the `total_*` ones).
    pub api_visible: bool,
}

/// Bytes in a GiB (`cyclades.disk` and the RAM resources count bytes).
pub const GIB: i64 = 1 << 30;

/// Every resource the quota holder knows, in display order.
pub const RESOURCES: &[Resource] = &[
    Resource {
        name: "cyclades.vm",
        unit: Unit::Count,
        description: "Number of virtual machines",
        default_limit: 10,
        api_visible: true,
    },
    Resource {
        name: "cyclades.total_cpu",
        unit: Unit::Count,
        description: "Number of virtual machine processors",
        default_limit: 40,
        api_visible: false,
    },
    Resource {
        name: "cyclades.cpu",
        unit: Unit::Count,
        description: "Number of virtual machine processors of running machines",
        default_limit: 40,
        api_visible: true,
    },
    Resource {
        name: "cyclades.total_ram",
        unit: Unit::Bytes,
        description: "Virtual machine memory size",
        default_limit: 80 * GIB,
        api_visible: false,
    },
    Resource {
        name: "cyclades.ram",
        unit: Unit::Bytes,
        description: "Virtual machine memory size of running machines",
        default_limit: 80 * GIB,
        api_visible: true,
    },
    Resource {
        name: "cyclades.disk",
        unit: Unit::Bytes,
        description: "Volume size",
        default_limit: 1000 * GIB,
        api_visible: true,
    },
    Resource {
        name: "cyclades.network.private",
        unit: Unit::Count,
        description: "Number of private networks",
        default_limit: 5,
        api_visible: true,
    },
    Resource {
        name: "cyclades.floating_ip",
        unit: Unit::Count,
        description: "Number of floating IP addresses",
        default_limit: 5,
        api_visible: true,
    },
];

/// Looks a resource up by name.
/// The resources a server holds (spec §16.2); the network ones have no holders yet.
pub const SERVER_RESOURCES: [&str; 6] = [
    "cyclades.vm",
    "cyclades.cpu",
    "cyclades.total_cpu",
    "cyclades.ram",
    "cyclades.total_ram",
    "cyclades.disk",
];

pub fn resource(name: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.name == name)
}

/// The names of all resources, comma separated (for error messages).
pub fn resource_names() -> String {
    RESOURCES
        .iter()
        .map(|r| r.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses a quantity such as `10`, `4096M`, `40G` or `1T` (binary multiples) into the
/// resource's unit. Suffixes are refused for count resources.
pub fn parse_quantity(resource: &Resource, text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (digits, multiplier) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: i64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => {
                    return Err(format!(
                        "unknown unit suffix '{c}' in '{text}' (use K, M, G or T)"
                    ));
                }
            };
            if resource.unit == Unit::Count {
                return Err(format!(
                    "{} is a count; '{text}' must be a plain number",
                    resource.name
                ));
            }
            (&text[..i], m)
        }
        _ => (text, 1),
    };
    let value: i64 = digits
        .parse()
        .map_err(|_| format!("'{text}' is not a number"))?;
    if value < 0 {
        return Err(format!("'{text}' is negative"));
    }
    value
        .checked_mul(multiplier)
        .ok_or_else(|| format!("'{text}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_with_binary_suffixes() {
        let ram = resource("cyclades.ram").unwrap();
        let vm = resource("cyclades.vm").unwrap();
        assert_eq!(parse_quantity(ram, "4G"), Ok(4 << 30));
        assert_eq!(parse_quantity(ram, "512m"), Ok(512 << 20));
        assert_eq!(parse_quantity(vm, "3"), Ok(3));
        assert!(parse_quantity(vm, "3G").unwrap_err().contains("count"));
        assert!(parse_quantity(ram, "-1").is_err());
        assert!(parse_quantity(ram, "x").is_err());
        assert!(parse_quantity(ram, "5Q").unwrap_err().contains("suffix"));
        assert!(resource("cyclades.nope").is_none());
    }
}

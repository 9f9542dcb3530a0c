//! `network-create/list/modify/remove`, `pool-create/list/remove`, `port-list`,
//! `floating-ip-list`, `reconcile-networks` and `reconcile-pools` (Synnefo's commands of the
//! same names), over the admin API. Owns
//! their arguments and the argument-to-request mapping only.

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Subcommand};
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::backend_commands::show_report;
use super::client::AdminClient;
use super::commands::{encode_segment, printed_whole, show_list, show_one};
use super::output::OutputFormat;
use super::{CliError, ListArgs};

/// Networks, pools, ports and floating IPs (spec §15, §17).
#[derive(Subcommand, Debug)]
pub enum NetworkCommand {
    /// Create a network; `--public` ones go on every online backend at once.
    NetworkCreate {
        #[arg(long)]
        name: String,
        /// CUSTOM, IP_LESS_ROUTED, MAC_FILTERED or PHYSICAL_VLAN.
        #[arg(long)]
        flavor: String,
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        public: bool,
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        floating_ip_pool: bool,
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        drained: bool,
        /// Overrides of the flavor's mode, link, MAC prefix and tags (where it allows them).
        #[arg(long)]
        mode: Option<String>,
        #[arg(long)]
        link: Option<String>,
        #[arg(long)]
        mac_prefix: Option<String>,
        /// Comma-separated Ganeti network tags.
        #[arg(long)]
        tags: Option<String>,
        /// Owner (user name or id; Synnefo: --owner) and project of a private network.
        #[arg(long, visible_alias = "owner")]
        user: Option<String>,
        #[arg(long)]
        project: Option<String>,
        /// IPv4 subnet, e.g. 203.0.113.0/24.
        #[arg(long)]
        subnet: Option<String>,
        #[arg(long)]
        gateway: Option<String>,
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        no_gateway: bool,
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        dhcp: bool,
        /// Comma-separated START-END ranges.
        #[arg(long)]
        allocation_pools: Option<String>,
        /// IPv6 subnet (a /64).
        #[arg(long)]
        subnet6: Option<String>,
        #[arg(long)]
        gateway6: Option<String>,
    },
    /// List networks.
    NetworkList {
        #[command(flatten)]
        list: ListArgs,
    },
    /// Show one network as the database records it (Synnefo's network-show).
    NetworkShow { id: u64 },
    /// Show one network with its backends and address usage.
    NetworkInspect { id: u64 },
    /// Change a network (operators): name, drain, floating-IP pool, reservations, backends.
    NetworkModify {
        id: u64,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_parser = BoolishValueParser::new())]
        drained: Option<bool>,
        #[arg(long, value_parser = BoolishValueParser::new())]
        floating_ip_pool: Option<bool>,
        /// Comma-separated IPv4 addresses.
        #[arg(long)]
        add_reserved_ips: Option<String>,
        #[arg(long)]
        remove_reserved_ips: Option<String>,
        /// Backend id to create the network on now (repeatable).
        #[arg(long)]
        add_to_backend: Vec<u64>,
    },
    /// Delete a network (taken off every backend first).
    NetworkRemove { id: u64 },
    /// Create the bridge or MAC-prefix pool (`--type bridge --base prv --size 20`).
    PoolCreate {
        #[arg(long = "type")]
        kind: String,
        #[arg(long)]
        base: String,
        #[arg(long)]
        size: u32,
    },
    /// List pools.
    PoolList {
        #[command(flatten)]
        list: ListArgs,
    },
    /// Reserve or free pool values (comma-separated).
    PoolModify {
        id: u64,
        #[arg(long)]
        add_reserved: Option<String>,
        #[arg(long)]
        remove_reserved: Option<String>,
    },
    /// Remove a pool (refused while values are in use).
    PoolRemove { id: u64 },
    /// Show one pool: its kind, base, size, and what is taken and reserved.
    PoolShow { id: u64 },
    /// List every port.
    PortList {
        #[command(flatten)]
        list: ListArgs,
    },
    /// Create a port of a server's owner on a network, attached to the server (Synnefo's
    /// `port-create --network=<id> --server=<id>`).
    PortCreate {
        #[arg(long)]
        network: String,
        #[arg(long)]
        server: String,
        /// The port's IPv4 address [default: the next free one].
        #[arg(long)]
        ipv4_address: Option<String>,
        #[arg(long)]
        name: Option<String>,
    },
    /// List every subnet.
    SubnetList {
        #[command(flatten)]
        list: ListArgs,
    },
    /// Show one subnet as the database records it.
    SubnetShow { id: String },
    /// Show one subnet with its address pool: counts and the IP pool map (Synnefo's
    /// `subnet-inspect`: `.` free, `X` in use, `R` reserved, `G` gateway).
    SubnetInspect { id: String },
    /// Show one port as the database records it.
    PortShow { id: String },
    /// Show one port: the database and its NIC in Ganeti side by side.
    PortInspect { id: String },
    /// Remove a port (detaching it from its server first).
    PortRemove { id: String },
    /// List every floating IP.
    FloatingIpList {
        #[command(flatten)]
        list: ListArgs,
    },
    /// Allocate a floating IP to a user (charged to the project's quota).
    FloatingIpCreate {
        /// Owner (user name or id).
        #[arg(long, visible_alias = "owner")]
        user: String,
        #[arg(long)]
        project: Option<String>,
        /// The public network [default: the first floating-IP pool with a free address].
        #[arg(long)]
        network: Option<String>,
        #[arg(long)]
        address: Option<String>,
    },
    /// Show one floating IP.
    FloatingIpShow { id: String },
    /// Attach a floating IP to a server (a new NIC holding the address).
    FloatingIpAttach {
        id: String,
        #[arg(long)]
        server: String,
    },
    /// Detach a floating IP from its server.
    FloatingIpDetach { id: String },
    /// Release a floating IP (it must be detached).
    FloatingIpRemove { id: String },
    /// Compare networks with Ganeti on every online backend (or one) and report drift:
    /// missing, unregistered, parted (node groups not connected), unsynced state, external
    /// reservations, stale, orphans. `--fix-all` repairs them (orphans are removed).
    ReconcileNetworks {
        /// Only this backend (id or cluster name).
        #[arg(long)]
        backend_id: Option<String>,
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        fix_all: bool,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Compare the bridge and MAC-prefix pools and each subnet's used addresses with what
    /// networks, ports and floating IPs hold; report duplicates and rebuild with `--fix`.
    ReconcilePools {
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        fix: bool,
        #[command(flatten)]
        list: ListArgs,
    },
}

const NETWORK_FIELDS: &[&str] = &[
    "id",
    "name",
    "type",
    "public",
    "SNF:floating_ip_pool",
    "status",
    "cidr",
    "link",
    "mac_prefix",
    "addresses_used",
    "addresses_free",
    "backends",
    "user_id",
    "tenant_id",
    "deleted",
];
const POOL_FIELDS: &[&str] = &[
    "id",
    "type",
    "base",
    "size",
    "used",
    "reserved",
    "available",
];
const SUBNET_FIELDS: &[&str] = &[
    "id",
    "network_id",
    "name",
    "ip_version",
    "cidr",
    "gateway_ip",
    "enable_dhcp",
    "allocation_pools",
    "user_id",
    "deleted",
];

const PORT_FIELDS: &[&str] = &[
    "id",
    "name",
    "network_id",
    "device_id",
    "status",
    "mac_address",
    "fixed_ips",
    "user_id",
];
const FIP_FIELDS: &[&str] = &[
    "id",
    "floating_ip_address",
    "floating_network_id",
    "instance_id",
    "port_id",
    "user_id",
    "tenant_id",
];

fn split(list: &Option<String>) -> Vec<String> {
    list.as_deref()
        .map(|s| {
            s.split(',')
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

pub async fn run(
    command: &NetworkCommand,
    client: &AdminClient,
    format: OutputFormat,
) -> Result<(), CliError> {
    match command {
        NetworkCommand::NetworkCreate {
            name,
            flavor,
            public,
            floating_ip_pool,
            drained,
            mode,
            link,
            mac_prefix,
            tags,
            user,
            project,
            subnet,
            gateway,
            no_gateway,
            dhcp,
            allocation_pools,
            subnet6,
            gateway6,
        } => {
            let mut body = Map::new();
            body.insert("name".into(), json!(name));
            body.insert("flavor".into(), json!(flavor));
            body.insert("public".into(), json!(public));
            body.insert("floating_ip_pool".into(), json!(floating_ip_pool));
            body.insert("drained".into(), json!(drained));
            for (k, v) in [
                ("mode", mode),
                ("link", link),
                ("mac_prefix", mac_prefix),
                ("user", user),
                ("project", project),
            ] {
                if let Some(v) = v {
                    body.insert(k.into(), json!(v));
                }
            }
            if tags.is_some() {
                body.insert("tags".into(), json!(split(tags)));
            }
            if let Some(cidr) = subnet {
                let mut s = json!({"cidr": cidr, "enable_dhcp": dhcp});
                if *no_gateway {
                    s["gateway_ip"] = Value::Null;
                } else if let Some(g) = gateway {
                    s["gateway_ip"] = json!(g);
                }
                if allocation_pools.is_some() {
                    let pools: Result<Vec<Value>, CliError> = split(allocation_pools)
                        .iter()
                        .map(|r| {
                            let (a, b) = r.split_once('-').ok_or_else(|| {
                                CliError::Message(format!(
                                    "allocation pool '{r}' must be START-END"
                                ))
                            })?;
                            Ok(json!({"start": a, "end": b}))
                        })
                        .collect();
                    s["allocation_pools"] = json!(pools?);
                }
                body.insert("subnet".into(), s);
            }
            if let Some(cidr) = subnet6 {
                let mut s = json!({"cidr": cidr, "enable_slaac": dhcp});
                if let Some(g) = gateway6 {
                    s["gateway_ip"] = json!(g);
                }
                body.insert("subnet6".into(), s);
            }
            let reply = client
                .call(Method::POST, "/networks", Some(Value::Object(body)))
                .await?;
            show_one(&reply["network"], format, NETWORK_FIELDS)
        }
        NetworkCommand::NetworkList { list } => {
            let path = if list.deleted {
                "/networks?deleted=only"
            } else {
                "/networks"
            };
            let reply = client.get(path).await?;
            show_list(&reply["networks"], format, list, NETWORK_FIELDS)
        }
        NetworkCommand::NetworkShow { id } => {
            let reply = client.get(&format!("/networks/{id}")).await?;
            show_one(&reply["network"], format, NETWORK_FIELDS)
        }
        NetworkCommand::NetworkInspect { id } => {
            let reply = client.get(&format!("/networks/{id}")).await?;
            show_one(&reply["network"], format, &[])
        }
        NetworkCommand::NetworkModify {
            id,
            name,
            drained,
            floating_ip_pool,
            add_reserved_ips,
            remove_reserved_ips,
            add_to_backend,
        } => {
            let mut body = Map::new();
            if let Some(n) = name {
                body.insert("name".into(), json!(n));
            }
            if let Some(d) = drained {
                body.insert("drained".into(), json!(d));
            }
            if let Some(p) = floating_ip_pool {
                body.insert("floating_ip_pool".into(), json!(p));
            }
            body.insert("add_reserved_ips".into(), json!(split(add_reserved_ips)));
            body.insert(
                "remove_reserved_ips".into(),
                json!(split(remove_reserved_ips)),
            );
            body.insert("add_to_backends".into(), json!(add_to_backend));
            let reply = client
                .call(
                    Method::PATCH,
                    &format!("/networks/{id}"),
                    Some(Value::Object(body)),
                )
                .await?;
            show_one(&reply["network"], format, NETWORK_FIELDS)
        }
        NetworkCommand::NetworkRemove { id } => {
            client
                .call(Method::DELETE, &format!("/networks/{id}"), None)
                .await?;
            println!("Network {id} removed.");
            Ok(())
        }
        NetworkCommand::PoolCreate { kind, base, size } => {
            let body = json!({"type": kind, "base": base, "size": size});
            let reply = client.call(Method::POST, "/pools", Some(body)).await?;
            show_one(&reply["pool"], format, POOL_FIELDS)
        }
        NetworkCommand::PoolList { list } => {
            let reply = client.get("/pools").await?;
            show_list(&reply["pools"], format, list, POOL_FIELDS)
        }
        NetworkCommand::PoolModify {
            id,
            add_reserved,
            remove_reserved,
        } => {
            let body = json!({"add_reserved": split(add_reserved), "remove_reserved": split(remove_reserved)});
            let reply = client
                .call(Method::PATCH, &format!("/pools/{id}"), Some(body))
                .await?;
            show_one(&reply["pool"], format, POOL_FIELDS)
        }
        NetworkCommand::PoolShow { id } => {
            let reply = client.get(&format!("/pools/{id}")).await?;
            show_one(&reply["pool"], format, &[])
        }
        NetworkCommand::PoolRemove { id } => {
            client
                .call(Method::DELETE, &format!("/pools/{id}"), None)
                .await?;
            println!("Pool {id} removed.");
            Ok(())
        }
        NetworkCommand::PortList { list } => {
            let reply = client.get("/ports").await?;
            show_list(&reply["ports"], format, list, PORT_FIELDS)
        }
        NetworkCommand::PortCreate {
            network,
            server,
            ipv4_address,
            name,
        } => {
            let body = json!({"network": network, "server": server,
                "ipv4_address": ipv4_address, "name": name});
            let reply = client.call(Method::POST, "/ports", Some(body)).await?;
            show_one(&reply["port"], format, PORT_FIELDS)
        }
        NetworkCommand::SubnetList { list } => {
            let reply = client.get("/subnets").await?;
            show_list(&reply["subnets"], format, list, SUBNET_FIELDS)
        }
        NetworkCommand::SubnetShow { id } => {
            let reply = client
                .get(&format!("/subnets/{}", encode_segment(id)))
                .await?;
            show_one(&reply["subnet"], format, SUBNET_FIELDS)
        }
        NetworkCommand::SubnetInspect { id } => {
            let reply = client
                .get(&format!("/subnets/{}", encode_segment(id)))
                .await?;
            if printed_whole(&reply, format) {
                return Ok(());
            }
            show_one(&reply["subnet"], format, &[])?;
            let pool = &reply["pool"];
            if pool.is_null() {
                println!("\nNo address pool (IPv6 addresses are EUI-64).");
                return Ok(());
            }
            println!(
                "\nIP pool: {} addresses, {} in use, {} reserved, {} free",
                pool["size"], pool["used"], pool["reserved"], pool["free"]
            );
            match pool["map"].as_array() {
                Some(lines) => {
                    println!("{}", pool["legend"].as_str().unwrap_or(""));
                    for line in lines {
                        println!("{}", line.as_str().unwrap_or(""));
                    }
                }
                None => println!("(no map: the subnet is larger than a /16)"),
            }
            Ok(())
        }
        NetworkCommand::PortShow { id } => {
            let reply = client
                .get(&format!("/ports/{}", encode_segment(id)))
                .await?;
            show_one(&reply["port"], format, PORT_FIELDS)
        }
        NetworkCommand::PortInspect { id } => {
            let reply = client
                .get(&format!("/ports/{}", encode_segment(id)))
                .await?;
            if printed_whole(&reply, format) {
                return Ok(());
            }
            println!("== Database");
            show_one(&reply["port"], format, &[])?;
            println!("\n== Ganeti NIC");
            println!(
                "{}",
                serde_json::to_string_pretty(&reply["ganeti"]).unwrap_or_default()
            );
            Ok(())
        }
        NetworkCommand::PortRemove { id } => {
            client
                .call(
                    Method::DELETE,
                    &format!("/ports/{}", encode_segment(id)),
                    None,
                )
                .await?;
            println!("Port {id} removed.");
            Ok(())
        }
        NetworkCommand::FloatingIpCreate {
            user,
            project,
            network,
            address,
        } => {
            let body = json!({"user": user, "project": project, "network": network,
                "address": address});
            let reply = client
                .call(Method::POST, "/floating-ips", Some(body))
                .await?;
            show_one(&reply["floating_ip"], format, FIP_FIELDS)
        }
        NetworkCommand::FloatingIpShow { id } => {
            let reply = client
                .get(&format!("/floating-ips/{}", encode_segment(id)))
                .await?;
            show_one(&reply["floating_ip"], format, FIP_FIELDS)
        }
        NetworkCommand::FloatingIpAttach { id, server } => {
            let path = format!("/floating-ips/{}/attach", encode_segment(id));
            client
                .call(Method::POST, &path, Some(json!({"server": server})))
                .await?;
            println!("Floating IP {id} is being attached to server {server}.");
            Ok(())
        }
        NetworkCommand::FloatingIpDetach { id } => {
            let path = format!("/floating-ips/{}/detach", encode_segment(id));
            client.call(Method::POST, &path, Some(json!({}))).await?;
            println!("Floating IP {id} is being detached.");
            Ok(())
        }
        NetworkCommand::FloatingIpRemove { id } => {
            let path = format!("/floating-ips/{}", encode_segment(id));
            client.call(Method::DELETE, &path, None).await?;
            println!("Floating IP {id} released.");
            Ok(())
        }
        NetworkCommand::FloatingIpList { list } => {
            let reply = client.get("/floating-ips").await?;
            show_list(&reply["floating_ips"], format, list, FIP_FIELDS)
        }
        NetworkCommand::ReconcileNetworks {
            backend_id,
            fix_all,
            list,
        } => {
            let body = json!({"backend": backend_id, "fix": fix_all});
            let reply = client
                .call(Method::POST, "/reconcile/networks", Some(body))
                .await?;
            show_report(
                &reply,
                "drift",
                format,
                list,
                &[
                    "backend",
                    "kind",
                    "network_id",
                    "ganeti_name",
                    "detail",
                    "fixed",
                ],
                &format!(
                    "No network drift on {} backend(s).",
                    reply["backends"].as_u64().unwrap_or(0)
                ),
            )
        }
        NetworkCommand::ReconcilePools { fix, list } => {
            let reply = client
                .call(Method::POST, "/reconcile/pools", Some(json!({"fix": fix})))
                .await?;
            show_report(
                &reply,
                "drift",
                format,
                list,
                &["kind", "pool", "detail", "fixed"],
                "No pool drift.",
            )
        }
    }
}

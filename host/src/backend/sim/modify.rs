//! Instance modification in the simulator (`OP_INSTANCE_SET_PARAMS`): NIC and disk
//! add/remove, disk detach/attach (Ganeti 3.0), beparams, Ganeti's hotplug rules (the fake
//! hypervisor cannot hot-plug, so a running instance keeps its disks; kvm can), and how NICs
//! get their MAC, mode and link from their network.

use serde_json::{Value, json};

use super::state::{Cluster, Disk, Nic, OpError, OpResult, missing, new_uuid};

/// Six colon-separated pairs of lower-case hex digits (Ganeti's `NormalizeAndValidateMac`).
fn is_mac(mac: &str) -> bool {
    let parts: Vec<&str> = mac.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

impl Cluster {
    /// A NIC from its RAPI parameters. As Ganeti: a requested `mac` is used (normalised to
    /// lower case; refused if malformed or already used in the cluster); `auto`, `generate` or
    /// none gives one from the network's MAC prefix (the cluster's, `aa:00:00`, without one).
    /// The mode and link come from the network's connection to the node group.
    pub(super) fn new_nic(&self, nic: &Value) -> Result<Nic, OpError> {
        let network = nic["network"].as_str().and_then(|n| self.networks.get(n));
        let prefix = network
            .and_then(|n| n.mac_prefix.clone())
            .unwrap_or_else(|| "aa:00:00".into());
        let random = uuid::Uuid::new_v4();
        let bytes = random.as_bytes();
        let mac = match nic["mac"].as_str() {
            None | Some("auto" | "generate") => format!(
                "{prefix}:{:02x}:{:02x}:{:02x}",
                bytes[0], bytes[1], bytes[2]
            ),
            Some(requested) => {
                let mac = requested.to_ascii_lowercase();
                if !is_mac(&mac) {
                    return Err((
                        "OpPrereqError",
                        format!("Invalid MAC address specified: {requested}"),
                        Some("wrong_input"),
                    ));
                }
                if self
                    .instances
                    .values()
                    .any(|i| i.nics.iter().any(|n| n.mac == mac))
                {
                    return Err((
                        "OpPrereqError",
                        format!("MAC address {mac} already in use in cluster"),
                        Some("not_unique"),
                    ));
                }
                mac
            }
        };
        let (mode, link) = network
            .and_then(|n| n.groups.first())
            .map(|(_, m, l, _)| (m.clone(), l.clone()))
            .unwrap_or_else(|| ("bridged".into(), "br0".into()));
        Ok(Nic {
            name: nic["name"].as_str().map(str::to_string),
            ip: nic["ip"].as_str().map(str::to_string),
            network: nic["network"].as_str().map(str::to_string),
            mac,
            uuid: random.to_string(),
            link: nic["link"].as_str().map(str::to_string).unwrap_or(link),
            mode: nic["mode"].as_str().map(str::to_string).unwrap_or(mode),
        })
    }

    /// Ganeti refuses hypervisor parameters its hypervisor does not have (the real fake
    /// hypervisor has only the migration ones: `serial_console` or `boot_order` fail the job).
    pub(super) fn check_hvparams(&self, hvparams: &Value) -> Result<(), OpError> {
        let known: &[&str] = if self.hypervisor == "kvm" {
            KVM_PARAMETERS
        } else {
            &["migration_mode", "migration_port"]
        };
        for key in hvparams.as_object().into_iter().flat_map(|m| m.keys()) {
            if !known.contains(&key.as_str()) {
                return Err((
                    "HypervisorError",
                    format!("Parameter '{key}' is not supported"),
                    None,
                ));
            }
        }
        Ok(())
    }

    /// Whether a disk name is taken: by any instance's disk, or (unless attaching it) by a
    /// detached disk.
    fn disk_name_used(&self, name: &str, attaching: bool) -> bool {
        self.instances
            .values()
            .any(|i| i.disks.iter().any(|d| d.name.as_deref() == Some(name)))
            || (!attaching && self.detached_disks.contains_key(name))
    }

    /// `OP_INSTANCE_SET_PARAMS`: NIC and disk add/remove, beparams, hvparams.
    pub(super) fn modify_instance(&mut self, op: &Value, name: &str, t: f64) -> OpResult {
        if !self.instances.contains_key(name) {
            return Err(missing(name));
        }
        self.check_hvparams(&op["hvparams"])?;
        let can_hotplug = self.hypervisor == "kvm";
        let hotplug = can_hotplug
            && (op["hotplug"].as_bool() == Some(true)
                || op["hotplug_if_possible"].as_bool() == Some(true));
        if op["hotplug"].as_bool() == Some(true) && !can_hotplug {
            return Err((
                "OpPrereqError",
                "Hotplug is not possible: Hotplug is not supported: Hotplug is not supported by this hypervisor".into(),
                Some("wrong_state"),
            ));
        }
        let mut changes = Vec::new();
        let mut log = Vec::new();
        for change in op["nics"].as_array().into_iter().flatten() {
            match change[0].as_str().unwrap_or("") {
                "add" => {
                    let params = &change[2];
                    if let (Some(network), Some(ip)) =
                        (params["network"].as_str(), params["ip"].as_str())
                    {
                        self.check_nic_ip(network, ip)?;
                    }
                    let nic = self.new_nic(params)?;
                    let inst = self.instances.get_mut(name).ok_or_else(|| missing(name))?;
                    changes.push(json!([
                        format!("nic.{}", inst.nics.len()),
                        format!(
                            "add:mac={},ip={},mode={},link={},network={}",
                            nic.mac,
                            nic.ip.clone().unwrap_or_else(|| "None".into()),
                            nic.mode,
                            nic.link,
                            nic.network.clone().unwrap_or_else(|| "None".into())
                        )
                    ]));
                    inst.nics.push(nic);
                    if op["hotplug_if_possible"].as_bool() == Some(true) && !can_hotplug {
                        log.push(" - WARNING: Hotplug is not supported by this hypervisor; the change applies at the next reboot".into());
                    }
                }
                "remove" => {
                    let inst = self.instances.get_mut(name).ok_or_else(|| missing(name))?;
                    let key = &change[1];
                    let index = match key.as_str() {
                        Some(n) => inst
                            .nics
                            .iter()
                            .position(|nic| nic.name.as_deref() == Some(n)),
                        None => key
                            .as_u64()
                            .map(|i| i as usize)
                            .filter(|i| *i < inst.nics.len()),
                    }
                    .ok_or((
                        "OpPrereqError",
                        format!("NIC {key} not found"),
                        Some("unknown_entity"),
                    ))?;
                    inst.nics.remove(index);
                    changes.push(json!([format!("NIC/{index}"), "remove"]));
                }
                other => {
                    return Err((
                        "OpPrereqError",
                        format!("NIC action '{other}' is not simulated"),
                        Some("wrong_input"),
                    ));
                }
            }
        }
        for change in op["disks"].as_array().into_iter().flatten() {
            let action = change[0].as_str().unwrap_or("");
            let wanted = change[2]["name"].as_str().map(str::to_string);
            if matches!(action, "add" | "attach")
                && let Some(n) = &wanted
                && self.disk_name_used(n, action == "attach")
            {
                return Err((
                    "OpPrereqError",
                    format!("Disk name '{n}' already used"),
                    Some("wrong_input"),
                ));
            }
            let inst = self.instances.get_mut(name).ok_or_else(|| missing(name))?;
            match action {
                "add" => {
                    let size = change[2]["size"].as_u64().unwrap_or(0);
                    let disk = Disk {
                        name: wanted,
                        size,
                        uuid: new_uuid(),
                    };
                    changes.push(json!([
                        format!("disk/{}", inst.disks.len()),
                        format!("add:size={size},mode=rw")
                    ]));
                    inst.disks.push(disk);
                }
                "attach" => {
                    let disk = wanted
                        .as_ref()
                        .and_then(|n| self.detached_disks.remove(n))
                        .ok_or((
                            "OpPrereqError",
                            format!(
                                "Disk '{}' not found among the detached disks",
                                wanted.clone().unwrap_or_default()
                            ),
                            Some("unknown_entity"),
                        ))?;
                    let inst = self.instances.get_mut(name).ok_or_else(|| missing(name))?;
                    changes.push(json!([
                        format!("disk/{}", inst.disks.len()),
                        format!("attach:size={},mode=rw", disk.size)
                    ]));
                    inst.disks.push(disk);
                }
                "remove" | "detach" => {
                    let key = &change[1];
                    let index = match key.as_str() {
                        Some(n) => inst.disks.iter().position(|d| d.name.as_deref() == Some(n)),
                        None => key
                            .as_u64()
                            .map(|i| i as usize)
                            .filter(|i| *i < inst.disks.len()),
                    }
                    .ok_or((
                        "OpPrereqError",
                        format!("Disk {key} not found"),
                        Some("unknown_entity"),
                    ))?;
                    // Ganeti 3.0: disks of a running instance go only by hot-plugging.
                    if action == "remove" && inst.admin_up && !hotplug {
                        return Err((
                            "OpPrereqError",
                            format!(
                                "Instance '{name}' is marked to be up, can't remove volume from a running instance without using hotplug"
                            ),
                            Some("wrong_state"),
                        ));
                    }
                    let disk = inst.disks.remove(index);
                    changes.push(json!([format!("disk/{index}"), action]));
                    if action == "detach"
                        && let Some(n) = disk.name.clone()
                    {
                        self.detached_disks.insert(n, disk);
                    }
                }
                other => {
                    return Err((
                        "OpPrereqError",
                        format!("Disk action '{other}' is not simulated"),
                        Some("wrong_input"),
                    ));
                }
            }
        }
        if let Some(be) = op["beparams"].as_object() {
            let inst = self.instances.get_mut(name).ok_or_else(|| missing(name))?;
            if let Some(v) = be.get("vcpus").and_then(Value::as_u64) {
                inst.vcpus = v as u32;
                changes.push(json!(["be/vcpus", v]));
            }
            if let Some(v) = be.get("maxmem").and_then(Value::as_u64) {
                inst.memory = v;
                changes.push(json!(["be/maxmem", v]));
            }
        }
        if let Some(hv) = op["hvparams"].as_object() {
            let inst = self.instances.get_mut(name).ok_or_else(|| missing(name))?;
            if !inst.hvparams.is_object() {
                inst.hvparams = json!({});
            }
            for (key, value) in hv {
                inst.hvparams[key] = value.clone();
                changes.push(json!([format!("hv/{key}"), value]));
            }
        }
        if let Some(inst) = self.instances.get_mut(name) {
            inst.mtime = t;
            inst.serial_no += 1;
        }
        Ok((json!(changes), log))
    }
}

/// The KVM hypervisor parameters the simulator accepts (Ganeti 3.0's `hv_kvm` set, abridged).
const KVM_PARAMETERS: &[&str] = &[
    "acpi",
    "boot_order",
    "cdrom_disk_type",
    "cdrom_image_path",
    "cdrom2_image_path",
    "cpu_type",
    "disk_type",
    "floppy_image_path",
    "initrd_path",
    "kernel_args",
    "kernel_path",
    "keymap",
    "kvm_extra",
    "machine_version",
    "mem_path",
    "migration_mode",
    "migration_port",
    "nic_type",
    "reboot_behavior",
    "root_path",
    "security_model",
    "serial_console",
    "serial_speed",
    "spice_bind",
    "usb_mouse",
    "use_chroot",
    "vhost_net",
    "vnc_bind_address",
    "vnc_password_file",
    "vnc_tls",
];

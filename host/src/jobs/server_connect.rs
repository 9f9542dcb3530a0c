//! NICs of existing servers (spec §9.2 CONNECT / DISCONNECT / SET_FIREWALL_PROFILE, §10.2 NIC
//! hot-add and remove, §15.8 firewall tags):
//!
//! - `server.connect` takes the port's address, puts its network on the server's backend and
//!   adds NIC `snf-nic-<port>` (`hotplug_if_possible` on kvm when `[backends] use_hotplug`);
//! - `server.disconnect` removes the NIC and its firewall tag, then the port (its address back
//!   to the pool, a floating IP back to its owner, unattached);
//! - `server.firewall` swaps the NIC's `synnefo:network:snf-nic-<port>:<profile>` tag.
//!
//! Each holds the server's task lock from submission and releases it in `finalize`, or in
//! `release_lock` when a step fails. Decisions (port id, address plan, hotplug) are made at
//! submission and recorded in the params (rule 4); remote steps look Ganeti up first (rule 3).

use serde_json::{Value, json};

use super::common::{nothing, strings, wait_or_gone, wait_then_verify, with_hotplug};
use super::outputs::{GANETI_NIC_ADD, GANETI_NIC_REMOVE, InstanceNics, NIC_ADD_WAITED};
use super::params::ServerNicParams;
use super::server_lock::{backend_id, modify_submitted, release_lock, unlock};
use super::server_nics::{allocate_ports, ensure_networks, nic_json, ports_active};
use super::{JobKind, StepCx, StepDef, StepDone, StepError, StepFuture};
use crate::store::{Batch, Server};

/// The firewall profiles and their Ganeti instance tags (Synnefo's `GANETI_FIREWALL_*_TAG`).
pub const FIREWALL_PROFILES: [(&str, &str); 3] = [
    ("ENABLED", "protected"),
    ("DISABLED", "unprotected"),
    ("PROTECTED", "limited"),
];

/// The instance tag of `profile` on NIC `nic` (`snf-nic-<port>`); DISABLED has none in Ganeti.
pub fn firewall_tag(nic: &str, profile: &str) -> Option<String> {
    FIREWALL_PROFILES
        .iter()
        .find(|(p, _)| *p == profile && *p != "DISABLED")
        .map(|(_, tag)| format!("synnefo:network:{nic}:{tag}"))
}

/// The profile a NIC's firewall tags in Ganeti say (`None` without one).
pub fn profile_from_tags(nic: &str, tags: &[String]) -> Option<&'static str> {
    FIREWALL_PROFILES.iter().find_map(|(profile, tag)| {
        tags.contains(&format!("synnefo:network:{nic}:{tag}"))
            .then_some(*profile)
    })
}

pub static SERVER_CONNECT: JobKind = JobKind {
    name: "server.connect",
    steps: &[
        StepDef {
            name: "allocate_port",
            run: allocate_port,
            undo: Some(release_port),
            remote: false,
            checkpoint: true,
        },
        StepDef {
            name: "ensure_networks",
            run: ensure_network,
            undo: None,
            remote: true,
            checkpoint: false,
        },
        // Rule 5: the NIC's removal is in place before the NIC is asked for.
        StepDef {
            name: "ganeti_nic_add_undo",
            run: nothing,
            undo: Some(remove_added_nic),
            remote: false,
            checkpoint: false,
        },
        StepDef {
            name: "ganeti_nic_add",
            run: ganeti_nic_add,
            undo: None,
            remote: true,
            checkpoint: false,
        },
        StepDef {
            name: "wait_ganeti_job",
            run: wait_nic_add,
            undo: None,
            remote: true,
            checkpoint: false,
        },
        StepDef {
            name: "finalize",
            run: finalize_connect,
            undo: None,
            remote: false,
            checkpoint: false,
        },
    ],
    finally: Some(release_lock),
    pivot: None,
};

pub static SERVER_DISCONNECT: JobKind = JobKind {
    name: "server.disconnect",
    steps: &[
        StepDef {
            name: "ganeti_nic_remove",
            run: ganeti_nic_remove,
            undo: None,
            remote: true,
            checkpoint: true,
        },
        StepDef {
            name: "wait_ganeti_job",
            run: wait_nic_remove,
            undo: None,
            remote: true,
            checkpoint: false,
        },
        StepDef {
            name: "finalize",
            run: finalize_disconnect,
            undo: None,
            remote: false,
            checkpoint: false,
        },
    ],
    finally: Some(release_lock),
    // Once Ganeti has dropped the NIC, the port can only go.
    pivot: Some("wait_ganeti_job"),
};

pub static SERVER_FIREWALL: JobKind = JobKind {
    name: "server.firewall",
    steps: &[
        StepDef {
            name: "ganeti_retag",
            run: ganeti_retag,
            undo: None,
            remote: true,
            checkpoint: true,
        },
        StepDef {
            name: "finalize",
            run: finalize_firewall,
            undo: None,
            remote: false,
            checkpoint: false,
        },
    ],
    finally: Some(release_lock),
    pivot: None,
};

fn load(cx: &StepCx) -> Result<(ServerNicParams, Server), StepError> {
    let p: ServerNicParams = cx.params()?;
    let s = cx.env.store.server_get(p.server_id)?;
    Ok((p, s))
}

/// Whether the server's instance has NIC `nic` (an instance Ganeti lost is an error).
async fn has_nic(cx: &StepCx, s: &Server, nic: &str) -> Result<(bool, Value), StepError> {
    let rapi = cx.env.rapi(backend_id(s)?)?;
    let instance = rapi.instance(&s.instance_name()).await?.ok_or_else(|| {
        StepError::conflict(format!(
            "Server {} has no instance {} in Ganeti",
            s.id,
            s.instance_name()
        ))
    })?;
    Ok((
        strings(&instance["nic.names"]).iter().any(|n| n == nic),
        instance,
    ))
}

// ----- connect -----

fn allocate_port(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (p, s) = load(cx)?;
        let plan = p
            .plan
            .ok_or_else(|| StepError::internal("server.connect without a NIC plan"))?;
        let mut batch = allocate_ports(&cx.env.store, s.id, &s.user_id, &s.project_id, &[plan])?;
        // The server's generation moves with its ports (cached renderings list them).
        batch.update_server(&s, &s);
        Ok(StepDone::with_batch(Value::Null, batch))
    })
}

fn release_port(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (p, s) = load(cx)?;
        let keep = p.plan.as_ref().is_some_and(|plan| plan.existing);
        let mut batch = super::server_nics::release_port(&cx.env.store, p.port_id, keep)?;
        batch.update_server(&s, &s);
        Ok(StepDone::with_batch(Value::Null, batch))
    })
}

fn ensure_network(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (p, s) = load(cx)?;
        let port = cx.env.store.port_get(p.port_id)?;
        let batch = ensure_networks(&cx.env, backend_id(&s)?, &[port]).await?;
        Ok(StepDone::with_batch(Value::Null, batch))
    })
}

/// Undo of `ganeti_nic_add`: lets a submitted add finish (so it cannot land afterwards), then
/// removes the NIC if Ganeti has it.
fn remove_added_nic(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (p, s) = load(cx)?;
        let rapi = cx.env.rapi(backend_id(&s)?)?;
        let timeout = cx.env.settings.ganeti_job_timeout;
        if let Some(job) = cx.read(GANETI_NIC_ADD)?.and_then(|s| s.job) {
            // Its outcome does not matter: only whether the NIC is there afterwards.
            let _ = rapi.wait_job(job, timeout).await;
        }
        let nic = crate::names::nic(p.port_id);
        let Some(instance) = rapi.instance(&s.instance_name()).await? else {
            return Ok(StepDone::default());
        };
        if strings(&instance["nic.names"]).contains(&nic) {
            let body = with_hotplug(json!({"nics": [["remove", nic, {}]]}), p.hotplug);
            let job = rapi.modify_instance(&s.instance_name(), body).await?;
            rapi.wait_job(job, timeout).await?;
        }
        Ok(StepDone::default())
    })
}

fn ganeti_nic_add(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (p, s) = load(cx)?;
        let port = cx.env.store.port_get(p.port_id)?;
        let (present, _) = has_nic(cx, &s, &port.ganeti_name()).await?;
        let job = if present {
            None
        } else {
            let body = with_hotplug(json!({"nics": [["add", -1, nic_json(&port)]]}), p.hotplug);
            let rapi = cx.env.rapi(backend_id(&s)?)?;
            Some(rapi.modify_instance(&s.instance_name(), body).await?)
        };
        Ok(modify_submitted(GANETI_NIC_ADD, &s, job))
    })
}

fn wait_nic_add(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (p, s) = load(cx)?;
        let nic = crate::names::nic(p.port_id);
        let mut instance = Value::Null;
        let present = async || {
            let (present, found) = has_nic(cx, &s, &nic).await?;
            instance = found;
            Ok(present)
        };
        let missing = || {
            StepError::conflict(format!(
                "Ganeti did not add NIC {nic} to {}",
                s.instance_name()
            ))
        };
        let submitted = cx.expect(GANETI_NIC_ADD)?;
        let mut waited = wait_then_verify(cx, backend_id(&s)?, submitted, present, missing).await?;
        // What Ganeti made of the NIC (its MAC), recorded for `finalize_connect` (rule 6).
        waited.nics = Some(InstanceNics::of(&instance));
        Ok(StepDone::recorded(NIC_ADD_WAITED, &waited))
    })
}

fn finalize_connect(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (p, before) = load(cx)?;
        let mut batch = ports_active(
            &cx.env.store,
            before.id,
            Some(p.port_id),
            &cx.expect(NIC_ADD_WAITED)?.nics.unwrap_or_default(),
        )?;
        batch.update_server(&before, &unlock(cx, &before));
        Ok(StepDone::with_batch(Value::Null, batch))
    })
}

// ----- disconnect -----

fn ganeti_nic_remove(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (p, s) = load(cx)?;
        let nic = crate::names::nic(p.port_id);
        let (present, instance) = has_nic(cx, &s, &nic).await?;
        let rapi = cx.env.rapi(backend_id(&s)?)?;
        // The NIC's firewall tag goes with it (spec §10.2).
        let tags: Vec<String> = strings(&instance["tags"])
            .into_iter()
            .filter(|t| t.starts_with(&format!("synnefo:network:{nic}:")))
            .collect();
        if !tags.is_empty() {
            let job = rapi.delete_instance_tags(&s.instance_name(), &tags).await?;
            rapi.wait_job(job, cx.env.settings.ganeti_job_timeout)
                .await?;
        }
        let job = if present {
            let body = with_hotplug(json!({"nics": [["remove", nic, {}]]}), p.hotplug);
            Some(rapi.modify_instance(&s.instance_name(), body).await?)
        } else {
            None
        };
        Ok(modify_submitted(GANETI_NIC_REMOVE, &s, job))
    })
}

fn wait_nic_remove(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (p, s) = load(cx)?;
        let nic = crate::names::nic(p.port_id);
        let gone = async || Ok(!has_nic(cx, &s, &nic).await?.0);
        let submitted = cx.expect(GANETI_NIC_REMOVE)?;
        let waited = wait_or_gone(cx, backend_id(&s)?, submitted, gone).await?;
        Ok(StepDone::logged(&waited))
    })
}

fn finalize_disconnect(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (p, before) = load(cx)?;
        let mut batch = super::server_nics::release_port(&cx.env.store, p.port_id, false)?;
        batch.update_server(&before, &unlock(cx, &before));
        Ok(StepDone::with_batch(Value::Null, batch))
    })
}

// ----- firewall profile -----

fn ganeti_retag(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (p, s) = load(cx)?;
        let profile = p
            .profile
            .as_deref()
            .ok_or_else(|| StepError::internal("server.firewall without a profile"))?;
        let nic = crate::names::nic(p.port_id);
        let rapi = cx.env.rapi(backend_id(&s)?)?;
        let instance = rapi.instance(&s.instance_name()).await?.ok_or_else(|| {
            StepError::conflict(format!("Server {} has no instance in Ganeti", s.id))
        })?;
        let tags = strings(&instance["tags"]);
        let wanted = firewall_tag(&nic, profile);
        let stale: Vec<String> = FIREWALL_PROFILES
            .iter()
            .filter_map(|(other, _)| firewall_tag(&nic, other))
            .filter(|t| tags.contains(t) && Some(t) != wanted.as_ref())
            .collect();
        let timeout = cx.env.settings.ganeti_job_timeout;
        if !stale.is_empty() {
            let job = rapi
                .delete_instance_tags(&s.instance_name(), &stale)
                .await?;
            rapi.wait_job(job, timeout).await?;
        }
        if let Some(tag) = wanted.filter(|t| !tags.contains(t)) {
            let job = rapi.add_instance_tags(&s.instance_name(), &[tag]).await?;
            rapi.wait_job(job, timeout).await?;
        }
        Ok(StepDone::output(json!({"removed": stale})))
    })
}

fn finalize_firewall(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (p, before) = load(cx)?;
        let mut batch = Batch::new();
        if let Ok(port) = cx.env.store.port_get(p.port_id) {
            let mut after = port.clone();
            after.firewall_profile = p.profile.clone();
            if after != port {
                batch.update(&after);
            }
        }
        batch.update_server(&before, &unlock(cx, &before));
        Ok(StepDone::with_batch(Value::Null, batch))
    })
}

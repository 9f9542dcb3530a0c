//! The typed outputs of job steps: what a step records for the steps (and undos) after it.
//!
//! Owns each output's type and the typed handle (`Output<T>`) that names the step recording it,
//! so that the compiler, not a string, says who writes and who reads an output: a step records
//! with `StepDone::recorded(HANDLE, &value)` and a later one reads with `cx.read(HANDLE)`.
//! Outputs are persisted in the job log as the same JSON as before they had types; every field
//! an older log may lack has a default, so a job written by an older build still resumes. It
//! runs nothing and must not touch the store or Ganeti.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::backend::rapi::JobInfo;
use crate::plugins::PluginPin;

/// A step's persisted name together with the type of the output it records.
pub struct Output<T> {
    step: &'static str,
    _type: PhantomData<fn() -> T>,
}

impl<T> Output<T> {
    pub const fn new(step: &'static str) -> Self {
        Output {
            step,
            _type: PhantomData,
        }
    }

    /// The step's persisted name (the `StepDef::name` of the step that records it).
    pub const fn step(&self) -> &'static str {
        self.step
    }
}

impl<T> Clone for Output<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Output<T> {}

// ----- the handles, by the step that records them -----

/// `server.create`: the backend chosen (and what it was charged).
pub const ALLOCATE_BACKEND: Output<Allocation> = Output::new("allocate_backend");
/// Every kind that charges quota: the pending commission.
pub const RESERVE_QUOTA: Output<Reservation> = Output::new("reserve_quota");
/// `server.create`: the disks and parameters the disk-template plugin rendered.
pub const RENDER_GANETI_REQUEST: Output<RenderedRequest> = Output::new("render_ganeti_request");
/// `server.create`: the instance creation submitted to Ganeti.
pub const GANETI_CREATE: Output<Submitted> = Output::new("ganeti_create");
/// `server.create`: the finished creation and what Ganeti made of the NICs.
pub const CREATE_WAITED: Output<Waited> = Output::new("wait_ganeti_job");
/// `server.destroy`: the instance removal submitted to Ganeti.
pub const GANETI_REMOVE: Output<Submitted> = Output::new("ganeti_remove");
/// `server.destroy`: the volumes detached and kept.
pub const KEEP_VOLUMES: Output<KeptVolumes> = Output::new("keep_volumes");
/// The server actions: the Ganeti job of the action.
pub const GANETI_SUBMIT: Output<Submitted> = Output::new("ganeti_submit");
/// `server.connect`: the NIC addition submitted to Ganeti.
pub const GANETI_NIC_ADD: Output<Submitted> = Output::new("ganeti_nic_add");
/// `server.connect`: the finished addition and the instance's NICs after it.
pub const NIC_ADD_WAITED: Output<Waited> = Output::new("wait_ganeti_job");
/// `server.disconnect`: the NIC removal submitted to Ganeti.
pub const GANETI_NIC_REMOVE: Output<Submitted> = Output::new("ganeti_nic_remove");
/// The volume jobs: the volume as the job found it.
pub const CLAIM_VOLUME: Output<ClaimedVolume> = Output::new("claim_volume");
/// `volume.attach`: the Ganeti disk parameters the disk-template plugin rendered.
pub const RENDER_DISK: Output<RenderedDisk> = Output::new("render_disk");
/// `volume.attach`: the disk addition submitted to Ganeti.
pub const GANETI_DISK_ADD: Output<Submitted> = Output::new("ganeti_disk_add");
/// `volume.detach` / `volume.delete`: the disk removal submitted to Ganeti.
pub const GANETI_DISK_REMOVE: Output<Submitted> = Output::new("ganeti_disk_remove");

// ----- the types -----

/// The plugin a step used, as recorded (rule 6).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedPin {
    pub name: String,
    pub version: String,
    pub digest: String,
}

impl From<&PluginPin> for RecordedPin {
    fn from(pin: &PluginPin) -> Self {
        RecordedPin {
            name: pin.name.clone(),
            version: pin.version.clone(),
            digest: pin.digest.clone(),
        }
    }
}

/// `allocate_backend`: the chosen backend, how, and what its free figures were charged.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Allocation {
    pub backend_id: u64,
    /// The operator chose it (`server-create --backend-id`): no allocator ran.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forced: bool,
    /// The allocator plugin that chose it, and its verdict on every backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<RecordedPin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates: Option<Vec<Candidate>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_fallback: Option<bool>,
    /// What was taken off the backend's free figures (a log from before charging has none).
    #[serde(default)]
    pub charge: Charge,
}

/// One backend as the allocator judged it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub backend_id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<String>,
}

/// The optimistic charge of an allocation (Synnefo: back-to-back creates see it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    #[serde(default)]
    pub mem_mb: u64,
    #[serde(default)]
    pub disk_mb: u64,
    /// A log written before instances were charged has no count to give back.
    #[serde(default)]
    pub instances: u64,
}

/// `reserve_quota`: the pending commission (`None`: nothing was charged).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    #[serde(default)]
    pub serial: Option<u64>,
}

/// A Ganeti document's parameters (`disks[i]`, `osparams`, top-level create fields).
pub type GanetiParams = Map<String, Value>;

/// `render_ganeti_request`: what the disk-template plugin rendered for a new server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RenderedRequest {
    pub disk_template: String,
    /// The root disk and the new volumes, in order.
    pub disks: Vec<GanetiParams>,
    /// Existing volumes that never held data, by volume id: added after the create.
    #[serde(default)]
    pub attach_disks: BTreeMap<String, GanetiParams>,
    #[serde(default)]
    pub instance_params: GanetiParams,
    #[serde(default)]
    pub os_params: GanetiParams,
    pub plugin: RecordedPin,
}

/// A step that submits a Ganeti job: its id (`None`: the step found the work already done).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitted {
    #[serde(default)]
    pub job: Option<u64>,
}

/// A Ganeti job as it finished.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinishedJob {
    pub job: u64,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub received_ts: Option<(i64, i64)>,
    #[serde(default)]
    pub end_ts: Option<(i64, i64)>,
}

impl FinishedJob {
    pub fn of(job: u64, info: &JobInfo) -> Self {
        FinishedJob {
            job,
            status: info.status.clone(),
            received_ts: info.received_ts,
            end_ts: info.end_ts,
        }
    }
}

/// What Ganeti made of an instance's NICs (`nic.names` / `nic.macs`), recorded (rule 6).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceNics {
    #[serde(rename = "nic.names", default)]
    pub names: Vec<Option<String>>,
    #[serde(rename = "nic.macs", default)]
    pub macs: Vec<Option<String>>,
}

impl InstanceNics {
    /// From a RAPI instance document.
    pub fn of(instance: &Value) -> Self {
        let list = |key: &str| -> Vec<Option<String>> {
            instance[key]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| v.as_str().map(str::to_string))
                .collect()
        };
        InstanceNics {
            names: list("nic.names"),
            macs: list("nic.macs"),
        }
    }

    /// The MAC Ganeti gave NIC `name`, if it has that NIC.
    pub fn mac_of(&self, name: &str) -> Option<&str> {
        let i = self.names.iter().position(|n| n.as_deref() == Some(name))?;
        self.macs.get(i)?.as_deref()
    }
}

/// A step that waited for a Ganeti job (and, for some, looked at the result).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Waited {
    /// The job as it finished (`None`: there was none, or it failed and its effect is there).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub finished: Option<FinishedJob>,
    /// The instance was found already created (a replayed create whose first submission won).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub instance_exists: bool,
    /// Ganeti's job found its target already gone: a success.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub already_gone: bool,
    /// The create was resubmitted once without opportunistic locking (spec §10.5).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retried_without_opportunistic_locking: bool,
    /// The instance's NICs after the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nics: Option<InstanceNics>,
}

/// `keep_volumes`: the volumes detached from a destroyed server and kept.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptVolumes {
    #[serde(default)]
    pub kept: Vec<u64>,
}

/// `claim_volume`: the volume as the job found it (its undo puts it back).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimedVolume {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub server_id: Option<u64>,
    #[serde(default)]
    pub index: Option<u32>,
}

/// `render_disk`: one volume's Ganeti disk parameters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RenderedDisk {
    pub disk: GanetiParams,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Outputs as the build before typed outputs wrote them decode, and a typed output writes
    /// the same JSON back.
    #[test]
    fn outputs_written_before_they_had_types_decode_and_round_trip() {
        let allocation = json!({"backend_id": 2,
            "plugin": {"name": "alloc-default", "version": "1.0.0", "digest": "d"},
            "candidates": [{"backend_id": 1, "rejected": "nomemory"}, {"backend_id": 2, "score": 0.5}],
            "capacity_fallback": false,
            "charge": {"mem_mb": 1024, "disk_mb": 2048}});
        let a: Allocation = serde_json::from_value(allocation.clone()).unwrap();
        assert_eq!((a.backend_id, a.charge.instances), (2, 0));
        let mut expected = allocation;
        expected["charge"]["instances"] = json!(0);
        assert_eq!(serde_json::to_value(&a).unwrap(), expected);

        let forced = json!({"backend_id": 3, "forced": true});
        let f: Allocation = serde_json::from_value(forced).unwrap();
        assert!(f.forced && f.plugin.is_none() && f.charge == Charge::default());

        let waited = json!({"job": 7, "status": "success", "received_ts": [1, 2], "end_ts": null,
            "retried_without_opportunistic_locking": true,
            "nics": {"nic.names": ["snf-nic-4", null], "nic.macs": ["aa:00:00:00:00:01", "x"]}});
        let w: Waited = serde_json::from_value(waited.clone()).unwrap();
        assert_eq!(w.finished.as_ref().map(|f| f.job), Some(7));
        assert_eq!(
            w.nics.as_ref().unwrap().mac_of("snf-nic-4"),
            Some("aa:00:00:00:00:01")
        );
        assert_eq!(serde_json::to_value(&w).unwrap(), waited);
        let exists: Waited = serde_json::from_value(json!({"instance_exists": true})).unwrap();
        assert!(exists.instance_exists && exists.finished.is_none() && exists.nics.is_none());
        // A connect's wait as written before: the job nested under `ganeti`.
        let nested: Waited = serde_json::from_value(json!({"ganeti": {"job": 3},
            "nics": {"nic.names": ["snf-nic-9"], "nic.macs": ["aa:00:00:00:00:09"]}}))
        .unwrap();
        assert!(nested.finished.is_none());
        assert_eq!(
            nested.nics.unwrap().mac_of("snf-nic-9"),
            Some("aa:00:00:00:00:09")
        );

        let none: Reservation = serde_json::from_value(json!({"serial": null})).unwrap();
        assert_eq!(none.serial, None);
        let submitted: Submitted = serde_json::from_value(json!({"job": null})).unwrap();
        assert_eq!(submitted.job, None);
        let claimed: ClaimedVolume = serde_json::from_value(
            json!({"status": "AVAILABLE", "server_id": null, "index": null}),
        )
        .unwrap();
        assert_eq!(claimed.status.as_deref(), Some("AVAILABLE"));
    }
}

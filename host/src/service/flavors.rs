//! Volume types and flavors (spec §2.6, §14): the operator commands (`volume-type-*`,
//! `flavor-create` with its cartesian product, `flavor-modify`, flavor access) and what end users
//! may see (public flavors and flavors shared with their projects).

use std::collections::BTreeMap;

use super::{Credentials, Deleted, ServiceError, Services};
use crate::clock::Timestamp;
use crate::store::{Flavor, StoreError, VolumeType};

/// Disk templates a volume type may name: Ganeti's, or `ext_<provider>`.
const TEMPLATES: &[&str] = &[
    "file",
    "sharedfile",
    "plain",
    "drbd",
    "rbd",
    "blockdev",
    "diskless",
];

fn check_disk_template(t: &str) -> Result<(), ServiceError> {
    let ok = TEMPLATES.contains(&t)
        || t.strip_prefix("ext_").is_some_and(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(ServiceError::BadRequest(format!(
            "Invalid disk template '{t}': use one of {} or ext_<provider>",
            TEMPLATES.join(", ")
        )))
    }
}

/// The most flavors one `flavor-create` may make (the product of its lists).
pub const MAX_FLAVORS_PER_CREATE: usize = 1000;

/// What `flavor-create` did with each combination.
#[derive(Clone, Debug)]
pub struct FlavorCreateReport {
    pub created: Vec<Flavor>,
    /// Combinations that already existed, with a hint.
    pub existing: Vec<(Flavor, String)>,
    /// Warnings (RAM rounding).
    pub warnings: Vec<String>,
}

/// `flavor-create` input: lists whose cartesian product is created.
#[derive(Clone, Debug)]
pub struct FlavorCreate {
    pub cpus: Vec<u32>,
    pub rams: Vec<u64>,
    pub disks: Vec<u64>,
    /// Volume type ids or names, or disk templates (a volume type is made for a bare template).
    pub volume_types: Vec<String>,
    pub public: bool,
    pub specs: BTreeMap<String, String>,
}

/// `flavor-modify` changes; `None` leaves a field alone.
#[derive(Clone, Debug, Default)]
pub struct FlavorChanges {
    pub deleted: Option<bool>,
    pub allow_create: Option<bool>,
    pub public: Option<bool>,
}

impl Services {
    pub fn volume_type_create(
        &self,
        name: &str,
        disk_template: &str,
        specs: BTreeMap<String, String>,
    ) -> Result<VolumeType, ServiceError> {
        if name.trim().is_empty() || name.len() > 255 {
            return Err(ServiceError::BadRequest(
                "Volume type name must be 1 to 255 characters".into(),
            ));
        }
        check_disk_template(disk_template)?;
        let now = Timestamp::now();
        Ok(self.store().volume_type_insert(&VolumeType {
            id: 0,
            name: name.to_string(),
            disk_template: disk_template.to_string(),
            specs,
            created: now,
            updated: now,
            deleted: false,
            generation: 0,
        })?)
    }

    pub fn volume_type_list(&self, deleted: Deleted) -> Result<Vec<VolumeType>, ServiceError> {
        Ok(self.store().volume_type_list(deleted)?)
    }

    /// A volume type by id or name (live ones first).
    pub fn volume_type_show(&self, id_or_name: &str) -> Result<VolumeType, ServiceError> {
        if let Ok(id) = id_or_name.parse::<u64>() {
            return match self.store().volume_type_get(id) {
                Err(StoreError::NotFound { .. }) => Err(ServiceError::ItemNotFound(format!(
                    "Volume type {id} not found"
                ))),
                other => Ok(other?),
            };
        }
        self.store()
            .volume_type_list(Deleted::Exclude)?
            .into_iter()
            .find(|v| v.name == id_or_name)
            .ok_or_else(|| {
                ServiceError::ItemNotFound(format!("Volume type {id_or_name} not found"))
            })
    }

    /// Marks a volume type deleted (or undeleted); deleting also deletes its flavors (spec §14).
    pub fn volume_type_set_deleted(
        &self,
        id_or_name: &str,
        deleted: bool,
    ) -> Result<VolumeType, ServiceError> {
        let vt = self.volume_type_show(id_or_name)?;
        let vt = self.store().volume_type_update(vt.id, |v| {
            v.deleted = deleted;
            Ok(())
        })?;
        if deleted {
            for f in self.store().flavor_list(Deleted::Exclude)? {
                if f.volume_type_id == vt.id {
                    self.store().flavor_update(f.id, |f| {
                        f.deleted = true;
                        Ok(())
                    })?;
                }
            }
        }
        Ok(vt)
    }

    /// Resolves a `flavor-create` volume type argument: an id, a name, or a disk template (the
    /// first live volume type using it, or a new one named after it).
    fn volume_type_for(&self, arg: &str) -> Result<(VolumeType, bool), ServiceError> {
        match self.volume_type_show(arg) {
            Ok(v) if v.deleted => Err(ServiceError::BadRequest(format!(
                "Volume type {arg} is deleted"
            ))),
            Ok(v) => Ok((v, false)),
            Err(ServiceError::ItemNotFound(_)) if arg.parse::<u64>().is_err() => {
                if let Some(v) = self
                    .store()
                    .volume_type_list(Deleted::Exclude)?
                    .into_iter()
                    .find(|v| v.disk_template == arg)
                {
                    return Ok((v, false));
                }
                check_disk_template(arg)?;
                Ok((self.volume_type_create(arg, arg, BTreeMap::new())?, true))
            }
            Err(e) => Err(e),
        }
    }

    /// `flavor-create`: the cartesian product of the lists; existing ones reported, not duplicated.
    pub fn flavor_create(&self, req: &FlavorCreate) -> Result<FlavorCreateReport, ServiceError> {
        let mut report = FlavorCreateReport {
            created: Vec::new(),
            existing: Vec::new(),
            warnings: Vec::new(),
        };
        if req.cpus.is_empty()
            || req.rams.is_empty()
            || req.disks.is_empty()
            || req.volume_types.is_empty()
        {
            return Err(ServiceError::BadRequest(
                "cpu, ram, disk and volume type lists must not be empty".into(),
            ));
        }
        if let Some(bad) = req.cpus.iter().find(|c| **c == 0 || **c > 1024) {
            return Err(ServiceError::BadRequest(format!(
                "Invalid cpu count {bad}: use 1 to 1024"
            )));
        }
        if let Some(bad) = req.disks.iter().find(|d| **d == 0 || **d > 1_048_576) {
            return Err(ServiceError::BadRequest(format!(
                "Invalid disk size {bad} GiB"
            )));
        }
        let combinations =
            req.cpus.len() * req.rams.len() * req.disks.len() * req.volume_types.len();
        if combinations > MAX_FLAVORS_PER_CREATE {
            return Err(ServiceError::BadRequest(format!(
                "flavor-create would make {combinations} combinations; at most {MAX_FLAVORS_PER_CREATE} at once"
            )));
        }
        let mut rams = Vec::new();
        for &ram in &req.rams {
            if ram == 0 || ram > 16 * 1024 * 1024 {
                return Err(ServiceError::BadRequest(format!(
                    "Invalid ram size {ram} MiB"
                )));
            }
            let rounded = ram.div_ceil(4) * 4;
            if rounded != ram {
                report.warnings.push(format!(
                    "RAM {ram} MiB rounded up to {rounded} MiB (a multiple of 4 MiB)"
                ));
            }
            rams.push(rounded);
        }
        let mut types = Vec::new();
        for arg in &req.volume_types {
            let (vt, made) = self.volume_type_for(arg)?;
            if made {
                report.warnings.push(format!(
                    "Created volume type {} ({}) for disk template {}",
                    vt.id, vt.name, vt.disk_template
                ));
            }
            types.push(vt);
        }
        for &cpu in &req.cpus {
            for &ram in &rams {
                for &disk in &req.disks {
                    for vt in &types {
                        if let Some(f) = self.store().flavor_find(cpu, ram, disk, vt.id)? {
                            let hint = if f.deleted {
                                "exists but is deleted (flavor-modify --deleted False)".to_string()
                            } else if f.public != req.public {
                                format!("exists with public={}", f.public)
                            } else {
                                "already exists".to_string()
                            };
                            report.existing.push((f, hint));
                            continue;
                        }
                        let now = Timestamp::now();
                        let flavor = Flavor {
                            id: 0,
                            cpu,
                            ram_mb: ram,
                            disk_gb: disk,
                            volume_type_id: vt.id,
                            disk_template: vt.disk_template.clone(),
                            public: req.public,
                            allow_create: true,
                            access: Vec::new(),
                            specs: req.specs.clone(),
                            created: now,
                            updated: now,
                            deleted: false,
                            generation: 0,
                        };
                        report.created.push(self.store().flavor_insert(&flavor)?);
                    }
                }
            }
        }
        Ok(report)
    }

    /// A flavor by id (deleted ones included: operators see everything).
    pub fn flavor_show(&self, id: &str) -> Result<Flavor, ServiceError> {
        let id: u64 = id
            .parse()
            .map_err(|_| ServiceError::BadRequest(format!("Invalid flavor id '{id}'")))?;
        match self.store().flavor_get(id) {
            Err(StoreError::NotFound { .. }) => {
                Err(ServiceError::ItemNotFound("Flavor not found.".into()))
            }
            other => Ok(other?),
        }
    }

    /// A live flavor by id or by name (`C2R2048D20drbd`), for operator commands.
    pub fn flavor_by_id_or_name(&self, flavor: &str) -> Result<Flavor, ServiceError> {
        if flavor.parse::<u64>().is_ok() {
            return self.flavor_show(flavor);
        }
        self.store()
            .flavor_list(Deleted::Exclude)?
            .into_iter()
            .find(|f| f.name() == flavor)
            .ok_or_else(|| ServiceError::ItemNotFound(format!("Flavor {flavor} not found")))
    }

    pub fn flavor_list(&self, deleted: Deleted) -> Result<Vec<Flavor>, ServiceError> {
        Ok(self.store().flavor_list(deleted)?)
    }

    pub fn flavor_modify(&self, id: &str, changes: &FlavorChanges) -> Result<Flavor, ServiceError> {
        let flavor = self.flavor_show(id)?;
        if changes.deleted == Some(false) {
            let vt = self.store().volume_type_get(flavor.volume_type_id)?;
            if vt.deleted {
                return Err(ServiceError::BadRequest(format!(
                    "Cannot undelete flavor {}: its volume type {} is deleted",
                    flavor.id, vt.id
                )));
            }
        }
        Ok(self.store().flavor_update(flavor.id, |f| {
            if let Some(d) = changes.deleted {
                f.deleted = d;
            }
            if let Some(a) = changes.allow_create {
                f.allow_create = a;
            }
            if let Some(p) = changes.public {
                f.public = p;
            }
            Ok(())
        })?)
    }

    /// Grants (or revokes) a project access to a non-public flavor.
    pub fn flavor_access(
        &self,
        id: &str,
        project: &str,
        grant: bool,
    ) -> Result<Flavor, ServiceError> {
        let flavor = self.flavor_show(id)?;
        let project = self.project_lookup(project)?;
        Ok(self.store().flavor_update(flavor.id, |f| {
            f.access.retain(|p| *p != project.id);
            if grant {
                f.access.push(project.id.clone());
            }
            Ok(())
        })?)
    }

    /// Whether `project_id` may use `flavor` (public, or shared with the project).
    pub fn flavor_usable_by(flavor: &Flavor, project_id: &str) -> bool {
        flavor.public || flavor.access.iter().any(|p| p == project_id)
    }

    /// Whether the caller can see `flavor` at all.
    fn flavor_visible(&self, caller: &Credentials, flavor: &Flavor) -> bool {
        flavor.public || flavor.access.iter().any(|p| caller.is_member_of(p))
    }

    /// Flavors a user lists: live, and public or shared with one of their projects.
    pub fn flavors_for(&self, caller: &Credentials) -> Result<Vec<Flavor>, ServiceError> {
        let mut all = self.store().flavor_list(Deleted::Exclude)?;
        all.retain(|f| self.flavor_visible(caller, f));
        Ok(all)
    }

    /// One flavor as a user sees it: visible ones (deleted included) and those of their servers.
    pub fn flavor_for(&self, caller: &Credentials, id: &str) -> Result<Flavor, ServiceError> {
        let flavor = self.flavor_show(id)?;
        if self.flavor_visible(caller, &flavor)
            || self
                .servers_of(caller)?
                .iter()
                .any(|s| s.flavor_id == flavor.id)
        {
            Ok(flavor)
        } else {
            Err(ServiceError::ItemNotFound("Flavor not found.".into()))
        }
    }
}

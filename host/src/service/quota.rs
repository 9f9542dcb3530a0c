//! The quota holder (Astakos' role): per-project limits and usage per resource, and the
//! commission protocol (issue pending → accept or reject, idempotent by a client-chosen name).
//!
//! Resource names and units come from `crate::resources`. Limits default to the configuration;
//! the check and the charge happen atomically in the store.

use std::collections::BTreeMap;

use super::{ServiceError, Services};
use crate::clock::Timestamp;
use crate::resources;
use crate::store::{Commission, CommissionState, Deleted, NewCommission};

/// One row of `quota-list`: a project's limit and holdings of one resource.
#[derive(Clone, Debug, PartialEq)]
pub struct QuotaRow {
    pub project_id: String,
    pub project_name: String,
    pub resource: &'static str,
    pub unit: resources::Unit,
    pub limit: i64,
    /// Accepted usage.
    pub usage: i64,
    /// Positive quantities of pending commissions (they count against the limit).
    pub pending: i64,
}

/// A commission as shown to operators and returned to the services that issue them.
#[derive(Clone, Debug, PartialEq)]
pub struct CommissionInfo {
    pub serial: u64,
    pub name: String,
    pub project_id: String,
    pub provisions: BTreeMap<String, i64>,
    pub state: &'static str,
    pub created: Timestamp,
    pub resolved: Option<Timestamp>,
}

impl From<Commission> for CommissionInfo {
    fn from(c: Commission) -> Self {
        CommissionInfo {
            serial: c.serial,
            name: c.name,
            project_id: c.project_id,
            provisions: c.provisions,
            state: c.state.as_str(),
            created: c.created,
            resolved: c.resolved,
        }
    }
}

/// What to charge.
#[derive(Clone, Debug)]
pub struct CommissionRequest {
    /// Unique client-chosen name; reissuing it returns the original commission.
    pub name: String,
    /// Project name or id.
    pub project: String,
    pub provisions: BTreeMap<String, i64>,
    pub force: bool,
}

fn known_resource(name: &str) -> Result<&'static resources::Resource, ServiceError> {
    resources::resource(name).ok_or_else(|| {
        ServiceError::BadRequest(format!(
            "Unknown quota resource '{name}'; known resources: {}",
            resources::resource_names()
        ))
    })
}

impl Services {
    /// Limits and holdings of every resource for one project (by name or id) or all projects.
    pub fn quota_list(&self, project: Option<&str>) -> Result<Vec<QuotaRow>, ServiceError> {
        let projects = match project {
            Some(p) => vec![self.project_lookup(p)?],
            None => self.project_list(Deleted::Exclude)?,
        };
        let mut rows = Vec::new();
        for project in projects {
            let limits = self.store().quota_limits(&project.id)?;
            let usages = self.store().quota_usages(&project.id)?;
            for resource in resources::RESOURCES {
                let limit = limits
                    .iter()
                    .find(|l| l.resource == resource.name)
                    .map(|l| l.limit)
                    .unwrap_or_else(|| self.config().default_limit(resource.name));
                let holding = usages.iter().find(|u| u.resource == resource.name);
                rows.push(QuotaRow {
                    project_id: project.id.clone(),
                    project_name: project.name.clone(),
                    resource: resource.name,
                    unit: resource.unit,
                    limit,
                    usage: holding.map_or(0, |h| h.usage),
                    pending: holding.map_or(0, |h| h.pending_add),
                });
            }
        }
        Ok(rows)
    }

    /// Sets one project's limit of one resource.
    pub fn quota_set(
        &self,
        project: &str,
        resource: &str,
        limit: i64,
    ) -> Result<QuotaRow, ServiceError> {
        known_resource(resource)?;
        if limit < 0 {
            return Err(ServiceError::BadRequest(format!(
                "Invalid limit {limit} for {resource}: must not be negative"
            )));
        }
        let project = self.project_lookup(project)?;
        self.store().quota_limit_set(&project.id, resource, limit)?;
        self.quota_list(Some(&project.id))?
            .into_iter()
            .find(|r| r.resource == resource)
            .ok_or_else(|| ServiceError::Internal {
                internal: format!("quota row {resource} vanished"),
            })
    }

    /// Issues a pending commission; 413 `overLimit` names the resource that does not fit.
    pub fn commission_issue(
        &self,
        request: &CommissionRequest,
    ) -> Result<CommissionInfo, ServiceError> {
        if request.name.is_empty() || request.name.len() > 200 {
            return Err(ServiceError::BadRequest(
                "Commission name must be 1 to 200 characters".into(),
            ));
        }
        if request.provisions.is_empty() {
            return Err(ServiceError::BadRequest(
                "Commission has no provisions".into(),
            ));
        }
        for resource in request.provisions.keys() {
            known_resource(resource)?;
        }
        let project = self.project_lookup(&request.project)?;
        let new = NewCommission {
            name: request.name.clone(),
            project_id: project.id,
            provisions: request.provisions.clone(),
            force: request.force,
        };
        let config = self.config();
        let commission = self
            .store()
            .commission_issue(&new, &|r| config.default_limit(r))?;
        Ok(commission.into())
    }

    /// Accepts or rejects a pending commission (idempotent for the same outcome).
    pub fn commission_resolve(
        &self,
        serial: u64,
        accept: bool,
    ) -> Result<CommissionInfo, ServiceError> {
        Ok(self.store().commission_resolve(serial, accept)?.into())
    }

    /// Commissions in serial order; `pending_only` keeps the unresolved ones.
    pub fn commission_list(&self, pending_only: bool) -> Result<Vec<CommissionInfo>, ServiceError> {
        let state = pending_only.then_some(CommissionState::Pending);
        Ok(self
            .store()
            .commission_list(state)?
            .into_iter()
            .map(CommissionInfo::from)
            .collect())
    }

    pub fn commission_show(&self, serial: u64) -> Result<CommissionInfo, ServiceError> {
        Ok(self.store().commission_get(serial)?.into())
    }
}

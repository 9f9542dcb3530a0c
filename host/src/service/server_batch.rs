//! Nova's multiple create (`min_count`/`max_count`): as many servers as the project's quota
//! has room for, at least `min_count` and at most `max_count`, each its own `server.create`
//! job, all or nothing. Owns the count rules and the headroom check; each server is created
//! by `Services::server_create` exactly as a single one is.

use super::servers::{CreatedServer, NewServer};
use super::{Credentials, ServiceError, Services};

/// The most servers one request may ask for.
pub const MAX_COUNT: u32 = 50;

/// How many servers a create asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count {
    pub min: u32,
    pub max: u32,
}

impl Default for Count {
    fn default() -> Self {
        Count { min: 1, max: 1 }
    }
}

impl Count {
    /// Nova's rules: `1 <= min <= max`, and at most `MAX_COUNT` here.
    pub fn new(min: Option<u32>, max: Option<u32>) -> Result<Count, ServiceError> {
        let min = min.unwrap_or(1);
        let max = max.unwrap_or(min);
        if min < 1 || max < min || max > MAX_COUNT {
            return Err(ServiceError::BadRequest(format!(
                "Invalid min_count {min} / max_count {max}: use 1 <= min_count <= max_count <= {MAX_COUNT}"
            )));
        }
        Ok(Count { min, max })
    }
}

impl Services {
    /// Creates `count` servers from one request. With more than one, they are named
    /// `<name>-1`, `<name>-2`, ... (Nova's default `multi_instance_display_name_template`).
    /// The quota's headroom decides how many, up to `count.max`; fewer than `count.min` is a
    /// 413 and creates nothing; if a create fails midway (another request took the quota
    /// meanwhile), the servers made so far are deleted and the error returned.
    pub async fn server_create_many(
        &self,
        caller: &Credentials,
        req: &NewServer,
        count: Count,
    ) -> Result<Vec<CreatedServer>, ServiceError> {
        if count == Count::default() {
            return Ok(vec![self.server_create(caller, req).await?]);
        }
        let n = self.servers_room(caller, req)?.min(count.max);
        if n < count.min {
            return Err(ServiceError::OverLimit(format!(
                "Quota exceeded: {} servers requested, room for {n}",
                count.min
            )));
        }
        let mut created: Vec<CreatedServer> = Vec::new();
        for i in 1..=n {
            let one = NewServer {
                name: format!("{}-{i}", req.name),
                ..req.clone()
            };
            match self.server_create(caller, &one).await {
                Ok(c) => created.push(c),
                Err(e) => {
                    for c in &created {
                        if let Err(undo) =
                            self.server_delete(caller, &c.server.id.to_string()).await
                        {
                            tracing::warn!(server = c.server.id, error = %undo,
                                "could not delete a server of a refused multiple create");
                        }
                    }
                    return Err(e);
                }
            }
        }
        Ok(created)
    }

    /// How many servers of `req`'s flavor the project's quota has room for (counting pending
    /// commissions), per Synnefo's server resources.
    fn servers_room(&self, caller: &Credentials, req: &NewServer) -> Result<u32, ServiceError> {
        let project = req
            .project
            .clone()
            .or_else(|| caller.project_id.clone())
            .ok_or_else(|| {
                ServiceError::BadRequest(
                    "No project: scope the token to a project or pass 'project'".into(),
                )
            })?;
        let flavor = self
            .flavor_for(caller, &req.flavor_ref)
            .map_err(|_| ServiceError::ItemNotFound("Flavor not found.".into()))?;
        const MIB: i64 = 1024 * 1024;
        let each = [
            ("cyclades.vm", 1),
            ("cyclades.total_cpu", i64::from(flavor.cpu)),
            ("cyclades.total_ram", flavor.ram_mb as i64 * MIB),
            ("cyclades.disk", flavor.disk_gb as i64 * 1024 * MIB),
        ];
        let rows = self.quota_list(Some(&project))?;
        let mut room = i64::from(MAX_COUNT);
        for (resource, per_server) in each {
            let Some(row) = rows.iter().find(|r| r.resource == resource) else {
                continue;
            };
            if row.limit < 0 || per_server == 0 {
                continue;
            }
            room = room.min((row.limit - row.usage - row.pending).max(0) / per_server);
        }
        Ok(u32::try_from(room).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_novas_rules() {
        assert_eq!(Count::new(None, None).ok(), Some(Count::default()));
        assert_eq!(
            Count::new(Some(2), Some(5)).ok(),
            Some(Count { min: 2, max: 5 })
        );
        assert_eq!(
            Count::new(Some(3), None).ok(),
            Some(Count { min: 3, max: 3 })
        );
        assert!(Count::new(Some(0), None).is_err());
        assert!(Count::new(Some(4), Some(2)).is_err());
        assert!(Count::new(Some(1), Some(MAX_COUNT + 1)).is_err());
    }
}

//! Server tags (spec §2.5, §9.6, §10.6): user tags live in Ganeti as `cyclades:user:<tag>`
//! (encoded by `tag_to_ganeti`) and in the record. Ganeti is changed first and waited for; the
//! record follows only when Ganeti accepted, so a failure changes nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Credentials, ServiceError, Services};
use crate::backend::rapi::tag_to_ganeti;
use crate::store::Server;

/// Namespace of user tags in Ganeti.
pub use crate::backend::rapi::USER_TAG_PREFIX;
/// Synnefo's tag column holds 60 characters including the namespace.
const MAX_TAG_LEN: usize = 60 - USER_TAG_PREFIX.len();
pub const MAX_TAGS: usize = 50;

fn check_tag(tag: &str) -> Result<(), ServiceError> {
    if tag.is_empty() || tag.chars().count() > MAX_TAG_LEN || tag.contains(['/', ',']) {
        return Err(ServiceError::BadRequest(format!(
            "Invalid tag '{tag}': use 1 to {MAX_TAG_LEN} characters, without '/' or ','"
        )));
    }
    Ok(())
}

/// A tag list as a request gives it (a replacement, or a create's `tags`): each tag valid,
/// duplicates dropped, at most `MAX_TAGS`.
pub(super) fn checked_tags(tags: &[String]) -> Result<Vec<String>, ServiceError> {
    let mut wanted: Vec<String> = Vec::new();
    for t in tags {
        check_tag(t)?;
        if !wanted.contains(t) {
            wanted.push(t.clone());
        }
    }
    if wanted.len() > MAX_TAGS {
        return Err(ServiceError::BadRequest(format!(
            "A server cannot have more than {MAX_TAGS} tags"
        )));
    }
    Ok(wanted)
}

impl Services {
    /// Adds and removes tags on the server's instance, then records the result.
    async fn retag(
        &self,
        caller: &Credentials,
        id: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<Server, ServiceError> {
        // Authorize and check the state before anything reaches Ganeti (a suspended server's
        // tags must not change anywhere).
        let s = self.server_for_change(caller, id)?;
        if s.operstate == "BUILD" {
            return Err(ServiceError::BuildInProgress(
                "Server is being built.".into(),
            ));
        }
        // An ERROR server whose creation failed has no instance: its tags are records only.
        if let (Some(backend), false) = (s.backend_id, s.operstate == "ERROR") {
            let rapi = self
                .jobs()
                .env()
                .rapi(backend)
                .map_err(|e| ServiceError::ServiceUnavailable(e.fault.message))?;
            let encode = |tags: &[String]| -> Vec<String> {
                tags.iter()
                    .map(|t| tag_to_ganeti(&format!("{USER_TAG_PREFIX}{t}")))
                    .collect()
            };
            let wait = Duration::from_secs(60);
            if !add.is_empty() {
                let job = rapi
                    .add_instance_tags(&s.instance_name(), &encode(add))
                    .await?;
                rapi.wait_job(job, wait).await?;
            }
            if !remove.is_empty() {
                let job = rapi
                    .delete_instance_tags(&s.instance_name(), &encode(remove))
                    .await?;
                rapi.wait_job(job, wait).await?;
            }
        }
        let (add, remove) = (add.to_vec(), remove.to_vec());
        self.server_mutate(caller, id, move |s| {
            for t in &remove {
                s.tags.remove(t);
            }
            for t in &add {
                s.tags.insert(t.clone(), "ACTIVE".into());
            }
            Ok(())
        })
    }

    pub fn server_tags(
        &self,
        caller: &Credentials,
        id: &str,
    ) -> Result<BTreeMap<String, String>, ServiceError> {
        Ok(self.server_for(caller, id)?.tags)
    }

    /// Replaces the tag set (`PUT /servers/<id>/tags`).
    pub async fn server_tags_replace(
        &self,
        caller: &Credentials,
        id: &str,
        tags: &[String],
    ) -> Result<BTreeMap<String, String>, ServiceError> {
        let wanted = checked_tags(tags)?;
        let current = self.server_for_change(caller, id)?.tags;
        let add: Vec<String> = wanted
            .iter()
            .filter(|t| !current.contains_key(*t))
            .cloned()
            .collect();
        let remove: Vec<String> = current
            .keys()
            .filter(|t| !wanted.contains(t))
            .cloned()
            .collect();
        Ok(self.retag(caller, id, &add, &remove).await?.tags)
    }

    /// Adds one tag; `true` if it is new.
    pub async fn server_tag_add(
        &self,
        caller: &Credentials,
        id: &str,
        tag: &str,
    ) -> Result<bool, ServiceError> {
        check_tag(tag)?;
        let current = self.server_for_change(caller, id)?.tags;
        if current.contains_key(tag) {
            return Ok(false);
        }
        if current.len() >= MAX_TAGS {
            return Err(ServiceError::BadRequest(format!(
                "A server cannot have more than {MAX_TAGS} tags"
            )));
        }
        self.retag(caller, id, &[tag.to_string()], &[]).await?;
        Ok(true)
    }

    /// Removes one tag (404 if absent), or all of them with `None` (404 if there were none).
    pub async fn server_tag_remove(
        &self,
        caller: &Credentials,
        id: &str,
        tag: Option<&str>,
    ) -> Result<(), ServiceError> {
        let current = self.server_for_change(caller, id)?.tags;
        let remove: Vec<String> = match tag {
            Some(t) if current.contains_key(t) => vec![t.to_string()],
            Some(t) => return Err(ServiceError::ItemNotFound(format!("Tag {t} not found"))),
            None if current.is_empty() => {
                return Err(ServiceError::ItemNotFound("The server has no tags".into()));
            }
            None => current.keys().cloned().collect(),
        };
        self.retag(caller, id, &[], &remove).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_encoded_as_synnefo_does() {
        assert_eq!(tag_to_ganeti("cyclades:user:web"), "cyclades:user:web");
        assert_eq!(
            tag_to_ganeti("cyclades:user:my_tag x/y"),
            "cyclades:user:my*tag+x/2Fy"
        );
        assert!(check_tag("ok-tag").is_ok());
        assert!(check_tag("a/b").is_err());
        assert!(check_tag(&"x".repeat(47)).is_err());
    }

    #[test]
    fn decoding_inverts_encoding() {
        use crate::backend::rapi::tag_from_ganeti;
        for tag in ["web", "my_tag x", "ελληνικά", "a+b*c%d", "x/y:z"] {
            let full = format!("{USER_TAG_PREFIX}{tag}");
            assert_eq!(
                tag_from_ganeti(&tag_to_ganeti(&full)).as_deref(),
                Some(full.as_str())
            );
        }
        assert_eq!(tag_from_ganeti("bad/ZZ"), None);
        assert_eq!(tag_from_ganeti("cut/4"), None);
    }
}

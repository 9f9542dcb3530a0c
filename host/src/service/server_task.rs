//! The server facts the task lock rests on (spec §9.2): whether a caller may change a server
//! at all (`check_changeable`: deleted 400, suspended 403) and how its pending task is named
//! (`SNF:task_state`). Owns no state and touches neither the store nor Ganeti.

use super::{Credentials, ServiceError};
use crate::store::Server;

/// `SNF:task_state` (spec §2.2).
pub fn task_state_of(s: &Server) -> &'static str {
    task_state_name(s.task.as_deref())
}

/// `SNF:task_state` of a task (Synnefo's `TASK_STATE_FROM_ACTION`, with the volume and
/// firewall tasks named too).
fn task_state_name(task: Option<&str>) -> &'static str {
    match task {
        None => "",
        Some("BUILD") => "BUILDING",
        Some("START") => "STARTING",
        Some("STOP") => "STOPPING",
        Some("REBOOT") => "REBOOTING",
        Some("DESTROY") => "DESTROYING",
        Some("RESIZE") => "RESIZING",
        Some("RESCUE") => "RESCUING",
        Some("UNRESCUE") => "UNRESCUING",
        Some("CONNECT") => "CONNECTING",
        Some("DISCONNECT") => "DISCONNECTING",
        Some("ATTACH_VOLUME") => "ATTACHING_VOLUME",
        Some("DETACH_VOLUME") => "DETACHING_VOLUME",
        Some("DELETE_VOLUME") => "DELETING_VOLUME",
        Some("SET_FIREWALL_PROFILE") => "SETTING_FIREWALL_PROFILE",
        Some(_) => "UNKNOWN",
    }
}

/// Deleted servers answer 400 and suspended ones 403 to every change but an operator's.
pub(super) fn check_changeable(caller: &Credentials, server: &Server) -> Result<(), ServiceError> {
    if server.deleted {
        return Err(ServiceError::BadRequest("Server has been deleted.".into()));
    }
    if server.suspended && !caller.is_admin {
        return Err(ServiceError::Forbidden(
            "Administratively Suspended VM".into(),
        ));
    }
    Ok(())
}

/// The refusal of `action` on a server whose task lock `task` holds (Synnefo's
/// `validate_server_action`): 409 `buildInProgress` while it is being built, else 400.
pub(super) fn pending_task_refusal(action: &str, task: &str) -> ServiceError {
    if task == "BUILD" {
        ServiceError::BuildInProgress("Server is being built.".into())
    } else {
        ServiceError::BadRequest(format!(
            "Cannot perform {action} while there is a pending {task}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every task a job takes (spec §2.2, checklist C49) has a name of its own.
    #[test]
    fn every_task_has_a_state_name() {
        let tasks = [
            "BUILD",
            "START",
            "STOP",
            "REBOOT",
            "DESTROY",
            "RESIZE",
            "RESCUE",
            "UNRESCUE",
            "CONNECT",
            "DISCONNECT",
            "ATTACH_VOLUME",
            "DETACH_VOLUME",
            "DELETE_VOLUME",
            "SET_FIREWALL_PROFILE",
        ];
        for task in tasks {
            assert_ne!(task_state_name(Some(task)), "UNKNOWN", "{task}");
        }
        assert_eq!(task_state_name(Some("ATTACH_VOLUME")), "ATTACHING_VOLUME");
        assert_eq!(task_state_name(None), "");
    }
}

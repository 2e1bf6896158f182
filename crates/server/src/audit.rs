//! The audit trail: every mutating call (and every denied one) leaves a
//! structured `tracing` line (target `audit`: user, action, object,
//! outcome) and, when it changed an object, a Kubernetes Event on that
//! object with Argo CD's reason (`ResourceCreated`, `ResourceUpdated`,
//! `ResourceDeleted`, `OperationStarted`) and a message naming the user.
//! Failing to publish an Event is logged, never the call's failure.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType};
use tracing::{info, warn};

use crate::State;

/// Argo CD's Event reasons.
pub const CREATED: &str = "ResourceCreated";
pub const UPDATED: &str = "ResourceUpdated";
pub const DELETED: &str = "ResourceDeleted";
pub const OPERATION_STARTED: &str = "OperationStarted";

/// The audit log line.
pub fn log(user: &str, action: &str, object: &str, outcome: &str) {
    info!(target: "audit", user, action, object, outcome, "audit");
}

/// Logs a change and records it as an Event on `object`.
pub async fn record(
    state: &State,
    user: &str,
    action: &str,
    object: &ObjectReference,
    reason: &str,
    message: String,
) {
    let name = format!(
        "{}/{}",
        object.kind.as_deref().unwrap_or(""),
        object.name.as_deref().unwrap_or("")
    );
    log(user, action, &name, "ok");
    let event = Event {
        type_: EventType::Normal,
        reason: reason.to_string(),
        note: Some(truncate(&message)),
        action: action.to_string(),
        secondary: None,
    };
    if let Err(e) = state.recorder.publish(&event, object).await {
        warn!(object = %name, error = %e, "publishing the audit event failed");
    }
}

/// Events take at most 1 KiB of note.
fn truncate(message: &str) -> String {
    const MAX: usize = 1024;
    if message.len() <= MAX {
        return message.to_string();
    }
    let mut end = MAX - 3;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &message[..end])
}

/// `admin initiated sync to main (abc1234)`, as Argo CD's message reads.
pub fn sync_message(user: &str, verb: &str, revision: &str, resolved: Option<&str>) -> String {
    let target = if revision.is_empty() {
        "HEAD"
    } else {
        revision
    };
    match resolved.filter(|r| !r.is_empty() && *r != target) {
        Some(sha) => format!("{user} initiated {verb} to {target} ({})", short(sha)),
        None => format!("{user} initiated {verb} to {target}"),
    }
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_messages_name_the_user_and_the_revision() {
        assert_eq!(
            sync_message("admin", "sync", "", None),
            "admin initiated sync to HEAD"
        );
        assert_eq!(
            sync_message("alice", "rollback", "main", Some("0123456789abcdef")),
            "alice initiated rollback to main (0123456)"
        );
    }

    #[test]
    fn long_notes_are_cut_on_a_character_boundary() {
        let long = "é".repeat(1000);
        let cut = truncate(&long);
        assert!(cut.len() <= 1024);
        assert!(cut.ends_with("..."));
    }
}

//! Job health from its conditions: no `Complete`, `Failed` or `Suspended`
//! condition yet is Progressing; `Failed` is Degraded; `Suspended=True` is
//! Suspended; otherwise Healthy.
//!
//! As in gitops-engine, `Complete` and `Failed` count whatever their status,
//! and a `Suspended=False` condition (a resumed Job) also ends the wait.

use crate::fields::conditions;
use crate::{HealthError, HealthStatus, HealthStatusCode};
use serde_json::Value;

pub fn health(obj: &Value) -> Result<HealthStatus, HealthError> {
    use HealthStatusCode::*;
    let (mut failed, mut complete, mut suspended) = (false, false, false);
    let (mut fail_message, mut message) = ("", "");
    for c in conditions(obj, "/status/conditions")? {
        match c.type_ {
            "Failed" => {
                failed = true;
                complete = true;
                fail_message = c.message;
            }
            "Complete" => {
                complete = true;
                message = c.message;
            }
            "Suspended" => {
                complete = true;
                message = c.message;
                suspended = c.status == "True";
            }
            _ => {}
        }
    }
    Ok(if !complete {
        HealthStatus::new(Progressing, message)
    } else if failed {
        HealthStatus::new(Degraded, fail_message)
    } else if suspended {
        // gitops-engine reports a suspended Job without a message (it uses
        // the failure message, which is empty here); kept for identical
        // status output.
        HealthStatus::new(Suspended, fail_message)
    } else {
        HealthStatus::new(Healthy, message)
    })
}

#[cfg(test)]
mod tests {
    use crate::HealthStatusCode::*;
    use crate::kinds::fixture;

    #[test]
    fn job_fixtures() {
        fixture::check(&[
            ("job-running.yaml", Progressing, ""),
            ("job-complete.yaml", Healthy, ""),
            (
                "job-failed.yaml",
                Degraded,
                "Job has reached the specified backoff limit",
            ),
            ("job-suspended.yaml", Suspended, ""),
        ]);
    }
}

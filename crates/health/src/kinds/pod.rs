//! Pod health from its phase, with two refinements: a long-running pod
//! (`restartPolicy: Always`) whose container waits in an error state
//! (`CrashLoopBackOff`, `ImagePullBackOff`, `ErrImagePull`,
//! `CreateContainerConfigError`, ...) is Degraded at once; and a running pod
//! with a finite life (`OnFailure`/`Never`, typically a hook) is only
//! Progressing until it ends.
//!
//! Why only `Always`: a hook pod marked Degraded while its image is being
//! pulled would fail the sync early, and then run anyway once the image
//! arrives.

use crate::fields::{array, int_in, str_in, string};
use crate::{HealthError, HealthStatus, HealthStatusCode};
use serde_json::Value;

pub fn health(obj: &Value) -> Result<HealthStatus, HealthError> {
    use HealthStatusCode::*;
    let restart_policy = string(obj, "/spec/restartPolicy")?;
    let containers = array(obj, "/status/containerStatuses")?;
    if restart_policy == "Always" {
        let mut messages = Vec::new();
        for c in containers {
            let reason = str_in(obj, c, "/state/waiting/reason")?;
            if reason.starts_with("Err") || reason.ends_with("Error") || reason.ends_with("BackOff")
            {
                messages.push(str_in(obj, c, "/state/waiting/message")?);
            }
        }
        if !messages.is_empty() {
            return Ok(HealthStatus::new(Degraded, messages.join(", ")));
        }
    }
    let message = string(obj, "/status/message")?;
    let status = match string(obj, "/status/phase")? {
        "Pending" => Progressing,
        "Succeeded" => Healthy,
        "Failed" => {
            if !message.is_empty() {
                return Ok(HealthStatus::new(Degraded, message));
            }
            let init = array(obj, "/status/initContainerStatuses")?;
            for c in init.iter().chain(containers) {
                let reason = fail_message(obj, c)?;
                if !reason.is_empty() {
                    return Ok(HealthStatus::new(Degraded, reason));
                }
            }
            Degraded
        }
        "Running" => match restart_policy {
            "Always" => {
                if is_ready(obj)? {
                    Healthy
                } else if containers.iter().any(|c| {
                    c.pointer("/lastState/terminated")
                        .is_some_and(|t| !t.is_null())
                }) {
                    // Not ready after a container died: it is crashing, not starting.
                    Degraded
                } else {
                    Progressing
                }
            }
            "OnFailure" | "Never" => Progressing,
            _ => Unknown,
        },
        _ => Unknown,
    };
    Ok(HealthStatus::new(status, message))
}

/// Why a container of a failed pod failed, or `""`.
fn fail_message(obj: &Value, c: &Value) -> Result<String, HealthError> {
    if c.pointer("/state/terminated").is_none_or(Value::is_null) {
        return Ok(String::new());
    }
    let message = str_in(obj, c, "/state/terminated/message")?;
    if !message.is_empty() {
        return Ok(message.to_string());
    }
    let reason = str_in(obj, c, "/state/terminated/reason")?;
    if reason == "OOMKilled" {
        return Ok(reason.to_string());
    }
    let exit_code = int_in(obj, c, "/state/terminated/exitCode")?;
    if exit_code != 0 {
        let name = str_in(obj, c, "/name")?;
        return Ok(format!(
            "container {name:?} failed with exit code {exit_code}"
        ));
    }
    Ok(String::new())
}

/// The pod's `Ready` condition is `True`.
fn is_ready(obj: &Value) -> Result<bool, HealthError> {
    Ok(crate::fields::conditions(obj, "/status/conditions")?
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[cfg(test)]
mod tests {
    use crate::HealthStatusCode::*;
    use crate::kinds::fixture;

    #[test]
    fn pod_fixtures() {
        fixture::check(&[
            ("pod-running-ready.yaml", Healthy, ""),
            ("pod-running-not-ready.yaml", Progressing, ""),
            ("pod-running-restarted-not-ready.yaml", Degraded, ""),
            ("pod-pending.yaml", Progressing, ""),
            ("pod-succeeded.yaml", Healthy, ""),
            (
                "pod-crashloop.yaml",
                Degraded,
                "back-off 5m0s restarting failed container=app pod=web-0_default(1234)",
            ),
            (
                "pod-imagepullbackoff.yaml",
                Degraded,
                "Back-off pulling image \"registry.example.com/missing:1.0\"",
            ),
            // The same waiting reason on a hook-style pod is not Degraded.
            ("pod-imagepullbackoff-never.yaml", Progressing, ""),
            ("pod-running-never.yaml", Progressing, ""),
            (
                "pod-failed-exit-code.yaml",
                Degraded,
                "container \"migrate\" failed with exit code 3",
            ),
            ("pod-failed-oomkilled.yaml", Degraded, "OOMKilled"),
            (
                "pod-failed-message.yaml",
                Degraded,
                "Pod was rejected: Node didn't have enough resource: cpu",
            ),
            ("pod-unknown-phase.yaml", Unknown, ""),
        ]);
    }
}

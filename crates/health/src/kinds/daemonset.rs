//! DaemonSet health: the spec must be observed; with `OnDelete` updates the
//! set is healthy as it is, otherwise every scheduled pod must be updated
//! and available.

use crate::fields::{int, name, string};
use crate::{HealthError, HealthStatus, HealthStatusCode};
use serde_json::Value;

pub fn health(obj: &Value) -> Result<HealthStatus, HealthError> {
    use HealthStatusCode::*;
    if int(obj, "/metadata/generation")? > int(obj, "/status/observedGeneration")? {
        return Ok(HealthStatus::new(
            Progressing,
            "Waiting for rollout to finish: observed daemon set generation less than desired generation",
        ));
    }
    let updated = int(obj, "/status/updatedNumberScheduled")?;
    let desired = int(obj, "/status/desiredNumberScheduled")?;
    let available = int(obj, "/status/numberAvailable")?;
    if string(obj, "/spec/updateStrategy/type")? == "OnDelete" {
        return Ok(HealthStatus::new(
            Healthy,
            format!("daemon set {updated} out of {desired} new pods have been updated"),
        ));
    }
    let name = name(obj);
    if updated < desired {
        return Ok(HealthStatus::new(
            Progressing,
            format!(
                "Waiting for daemon set {name:?} rollout to finish: {updated} out of {desired} new pods have been updated..."
            ),
        ));
    }
    if available < desired {
        return Ok(HealthStatus::new(
            Progressing,
            format!(
                "Waiting for daemon set {name:?} rollout to finish: {available} of {desired} updated pods are available..."
            ),
        ));
    }
    Ok(HealthStatus::new(Healthy, ""))
}

#[cfg(test)]
mod tests {
    use crate::HealthStatusCode::*;
    use crate::kinds::fixture;

    #[test]
    fn daemonset_fixtures() {
        fixture::check(&[
            ("daemonset-healthy.yaml", Healthy, ""),
            (
                "daemonset-not-observed.yaml",
                Progressing,
                "Waiting for rollout to finish: observed daemon set generation less than desired generation",
            ),
            (
                "daemonset-updating.yaml",
                Progressing,
                "Waiting for daemon set \"agent\" rollout to finish: 1 out of 3 new pods have been updated...",
            ),
            (
                "daemonset-unavailable.yaml",
                Progressing,
                "Waiting for daemon set \"agent\" rollout to finish: 2 of 3 updated pods are available...",
            ),
            (
                "daemonset-ondelete.yaml",
                Healthy,
                "daemon set 1 out of 3 new pods have been updated",
            ),
        ]);
    }
}

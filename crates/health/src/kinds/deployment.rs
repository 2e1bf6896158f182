//! Deployment health, following `kubectl rollout status`: the controller
//! must have seen the latest spec, then every replica must be updated,
//! old replicas gone and updated replicas available.

use crate::fields::{boolean, conditions, int, name, opt_int};
use crate::{HealthError, HealthStatus, HealthStatusCode};
use serde_json::Value;

pub fn health(obj: &Value) -> Result<HealthStatus, HealthError> {
    use HealthStatusCode::*;
    if boolean(obj, "/spec/paused")? {
        return Ok(HealthStatus::new(Suspended, "Deployment is paused"));
    }
    let generation = int(obj, "/metadata/generation")?;
    let observed = int(obj, "/status/observedGeneration")?;
    if generation > observed {
        return Ok(HealthStatus::new(
            Progressing,
            "Waiting for rollout to finish: observed deployment generation less than desired generation",
        ));
    }
    let progressing = conditions(obj, "/status/conditions")?
        .into_iter()
        .find(|c| c.type_ == "Progressing");
    // An unset spec.replicas skips the updated-replicas rule, as in
    // gitops-engine (live objects always have it defaulted).
    let desired = opt_int(obj, "/spec/replicas")?;
    let replicas = int(obj, "/status/replicas")?;
    let updated = int(obj, "/status/updatedReplicas")?;
    let available = int(obj, "/status/availableReplicas")?;
    let status = if progressing.is_some_and(|c| c.reason == "ProgressDeadlineExceeded") {
        HealthStatus::new(
            Degraded,
            format!("Deployment {:?} exceeded its progress deadline", name(obj)),
        )
    } else if let Some(desired) = desired.filter(|d| updated < *d) {
        HealthStatus::new(
            Progressing,
            format!(
                "Waiting for rollout to finish: {updated} out of {desired} new replicas have been updated..."
            ),
        )
    } else if replicas > updated {
        HealthStatus::new(
            Progressing,
            format!(
                "Waiting for rollout to finish: {} old replicas are pending termination...",
                replicas - updated
            ),
        )
    } else if available < updated {
        HealthStatus::new(
            Progressing,
            format!(
                "Waiting for rollout to finish: {available} of {updated} updated replicas are available..."
            ),
        )
    } else {
        HealthStatus::new(Healthy, "")
    };
    Ok(status)
}

#[cfg(test)]
mod tests {
    use crate::HealthStatusCode::*;
    use crate::kinds::fixture;

    #[test]
    fn deployment_fixtures() {
        fixture::check(&[
            ("deployment-healthy.yaml", Healthy, ""),
            ("deployment-paused.yaml", Suspended, "Deployment is paused"),
            (
                "deployment-generation-not-observed.yaml",
                Progressing,
                "Waiting for rollout to finish: observed deployment generation less than desired generation",
            ),
            (
                "deployment-updating.yaml",
                Progressing,
                "Waiting for rollout to finish: 1 out of 3 new replicas have been updated...",
            ),
            (
                "deployment-old-pending.yaml",
                Progressing,
                "Waiting for rollout to finish: 1 old replicas are pending termination...",
            ),
            (
                "deployment-unavailable.yaml",
                Progressing,
                "Waiting for rollout to finish: 1 of 2 updated replicas are available...",
            ),
            (
                "deployment-deadline-exceeded.yaml",
                Degraded,
                "Deployment \"web\" exceeded its progress deadline",
            ),
        ]);
    }

    #[test]
    fn wrong_field_type_is_unknown_naming_the_field() {
        let obj = serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": "3"}
        });
        let health = crate::resource_health(&obj, &Default::default()).unwrap();
        assert_eq!(health.status, Unknown);
        assert_eq!(
            health.message,
            "Deployment web: field spec.replicas is the string \"3\", expected an integer"
        );
    }
}

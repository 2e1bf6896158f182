//! ReplicaSet health: a `ReplicaFailure` condition is Degraded; otherwise
//! every desired replica must be available.

use crate::fields::{conditions, int, opt_int};
use crate::{HealthError, HealthStatus, HealthStatusCode};
use serde_json::Value;

pub fn health(obj: &Value) -> Result<HealthStatus, HealthError> {
    use HealthStatusCode::*;
    if int(obj, "/metadata/generation")? > int(obj, "/status/observedGeneration")? {
        // "then" is gitops-engine's spelling; kept so messages match Argo CD.
        return Ok(HealthStatus::new(
            Progressing,
            "Waiting for rollout to finish: observed replica set generation less then desired generation",
        ));
    }
    if let Some(failure) = conditions(obj, "/status/conditions")?
        .into_iter()
        .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
    {
        return Ok(HealthStatus::new(Degraded, failure.message));
    }
    let available = int(obj, "/status/availableReplicas")?;
    if let Some(desired) = opt_int(obj, "/spec/replicas")?.filter(|d| available < *d) {
        return Ok(HealthStatus::new(
            Progressing,
            format!(
                "Waiting for rollout to finish: {available} out of {desired} new replicas are available..."
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
    fn replicaset_fixtures() {
        fixture::check(&[
            ("replicaset-healthy.yaml", Healthy, ""),
            (
                "replicaset-unavailable.yaml",
                Progressing,
                "Waiting for rollout to finish: 1 out of 2 new replicas are available...",
            ),
            (
                "replicaset-failure.yaml",
                Degraded,
                "pods \"web-5d4f\" is forbidden: exceeded quota: compute, requested: cpu=1, used: cpu=2, limited: cpu=2",
            ),
            (
                "replicaset-not-observed.yaml",
                Progressing,
                "Waiting for rollout to finish: observed replica set generation less then desired generation",
            ),
        ]);
    }
}

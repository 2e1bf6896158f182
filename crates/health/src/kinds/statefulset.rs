//! StatefulSet health: the spec must be observed and all replicas ready;
//! then the update strategy decides (a partitioned rolling update is done
//! when the pods above the partition are updated, `OnDelete` never waits,
//! a plain rolling update waits for the update revision to become current).

use crate::fields::{int, is_set, opt_int, string};
use crate::{HealthError, HealthStatus, HealthStatusCode};
use serde_json::Value;

pub fn health(obj: &Value) -> Result<HealthStatus, HealthError> {
    use HealthStatusCode::*;
    let observed = int(obj, "/status/observedGeneration")?;
    if observed == 0 || int(obj, "/metadata/generation")? > observed {
        return Ok(HealthStatus::new(
            Progressing,
            "Waiting for statefulset spec update to be observed...",
        ));
    }
    let desired = opt_int(obj, "/spec/replicas")?;
    let ready = int(obj, "/status/readyReplicas")?;
    if let Some(desired) = desired.filter(|d| ready < *d) {
        return Ok(HealthStatus::new(
            Progressing,
            format!("Waiting for {} pods to be ready...", desired - ready),
        ));
    }
    let updated = int(obj, "/status/updatedReplicas")?;
    let strategy = string(obj, "/spec/updateStrategy/type")?;
    if strategy == "RollingUpdate" && is_set(obj, "/spec/updateStrategy/rollingUpdate") {
        let partition = opt_int(obj, "/spec/updateStrategy/rollingUpdate/partition")?;
        if let (Some(desired), Some(partition)) = (desired, partition)
            && updated < desired - partition
        {
            return Ok(HealthStatus::new(
                Progressing,
                format!(
                    "Waiting for partitioned roll out to finish: {updated} out of {} new pods have been updated...",
                    desired - partition
                ),
            ));
        }
        return Ok(HealthStatus::new(
            Healthy,
            format!("partitioned roll out complete: {updated} new pods have been updated..."),
        ));
    }
    if strategy == "OnDelete" {
        return Ok(HealthStatus::new(
            Healthy,
            format!("statefulset has {ready} ready pods"),
        ));
    }
    let update_revision = string(obj, "/status/updateRevision")?;
    let current_revision = string(obj, "/status/currentRevision")?;
    if update_revision != current_revision {
        return Ok(HealthStatus::new(
            Progressing,
            format!(
                "waiting for statefulset rolling update to complete {updated} pods at revision {update_revision}..."
            ),
        ));
    }
    Ok(HealthStatus::new(
        Healthy,
        format!(
            "statefulset rolling update complete {} pods at revision {current_revision}...",
            int(obj, "/status/currentReplicas")?
        ),
    ))
}

#[cfg(test)]
mod tests {
    use crate::HealthStatusCode::*;
    use crate::kinds::fixture;

    #[test]
    fn statefulset_fixtures() {
        fixture::check(&[
            (
                "statefulset-healthy.yaml",
                Healthy,
                "statefulset rolling update complete 2 pods at revision web-6d8f7c9b5...",
            ),
            (
                "statefulset-not-observed.yaml",
                Progressing,
                "Waiting for statefulset spec update to be observed...",
            ),
            (
                "statefulset-not-ready.yaml",
                Progressing,
                "Waiting for 1 pods to be ready...",
            ),
            (
                "statefulset-updating.yaml",
                Progressing,
                "waiting for statefulset rolling update to complete 1 pods at revision web-7f9d...",
            ),
            (
                "statefulset-partition-pending.yaml",
                Progressing,
                "Waiting for partitioned roll out to finish: 0 out of 1 new pods have been updated...",
            ),
            (
                "statefulset-partition-done.yaml",
                Healthy,
                "partitioned roll out complete: 1 new pods have been updated...",
            ),
            (
                "statefulset-ondelete.yaml",
                Healthy,
                "statefulset has 3 ready pods",
            ),
        ]);
    }
}

//! CustomResourceDefinition health, as the check Argo CD ships for
//! `apiextensions.k8s.io/CustomResourceDefinition` (a Lua script there,
//! native here): a terminating CRD is Progressing; names not accepted,
//! not established, or a non-structural schema are Degraded.

use crate::fields::{conditions, is_set};
use crate::{HealthError, HealthStatus, HealthStatusCode};
use serde_json::Value;

pub fn health(obj: &Value) -> Result<HealthStatus, HealthError> {
    use HealthStatusCode::*;
    if is_set(obj, "/metadata/deletionTimestamp") {
        return Ok(HealthStatus::new(Progressing, "CRD is terminating"));
    }
    let conditions = conditions(obj, "/status/conditions")?;
    if conditions.is_empty() {
        return Ok(HealthStatus::new(
            Progressing,
            "Status conditions not found",
        ));
    }
    let find = |type_: &str, status: &str| {
        conditions
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
    };
    // Checked in this order so the most specific problem is the one shown.
    if let Some(c) = find("Terminating", "True") {
        return Ok(HealthStatus::new(
            Progressing,
            format!("CRD is terminating: {}", c.message),
        ));
    }
    if let Some(c) = find("NamesAccepted", "False") {
        return Ok(HealthStatus::new(
            Degraded,
            format!("CRD names have not been accepted: {}", c.message),
        ));
    }
    if find("Established", "True").is_none() {
        return Ok(HealthStatus::new(Degraded, "CRD is not established"));
    }
    if let Some(c) = find("NonStructuralSchema", "True") {
        return Ok(HealthStatus::new(
            Degraded,
            format!("Schema violations found: {}", c.message),
        ));
    }
    Ok(HealthStatus::new(Healthy, "CRD is healthy"))
}

#[cfg(test)]
mod tests {
    use crate::HealthStatusCode::*;
    use crate::kinds::fixture;

    #[test]
    fn crd_fixtures() {
        fixture::check(&[
            ("crd-established.yaml", Healthy, "CRD is healthy"),
            (
                "crd-names-conflict.yaml",
                Degraded,
                "CRD names have not been accepted: \"widgets\" is already in use",
            ),
            (
                "crd-non-structural.yaml",
                Degraded,
                "Schema violations found: spec.versions[0].schema.openAPIV3Schema.type: Required value: must not be empty at the root",
            ),
            (
                "crd-no-status.yaml",
                Progressing,
                "Status conditions not found",
            ),
            (
                "crd-not-established.yaml",
                Degraded,
                "CRD is not established",
            ),
        ]);
    }
}

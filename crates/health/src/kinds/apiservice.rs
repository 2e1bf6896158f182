//! APIService health: its `Available` condition, with "reason: message".

use crate::fields::conditions;
use crate::{HealthError, HealthStatus, HealthStatusCode};
use serde_json::Value;

pub fn health(obj: &Value) -> Result<HealthStatus, HealthError> {
    let Some(available) = conditions(obj, "/status/conditions")?
        .into_iter()
        .find(|c| c.type_ == "Available")
    else {
        return Ok(HealthStatus::new(
            HealthStatusCode::Progressing,
            "Waiting to be processed",
        ));
    };
    let status = if available.status == "True" {
        HealthStatusCode::Healthy
    } else {
        HealthStatusCode::Progressing
    };
    Ok(HealthStatus::new(
        status,
        format!("{}: {}", available.reason, available.message),
    ))
}

#[cfg(test)]
mod tests {
    use crate::HealthStatusCode::*;
    use crate::kinds::fixture;

    #[test]
    fn apiservice_fixtures() {
        fixture::check(&[
            (
                "apiservice-local.yaml",
                Healthy,
                "Local: Local APIServices are always available",
            ),
            (
                "apiservice-unavailable.yaml",
                Progressing,
                "MissingEndpoints: endpoints for service/metrics-server in \"kube-system\" have no addresses with port name \"https\"",
            ),
            (
                "apiservice-no-status.yaml",
                Progressing,
                "Waiting to be processed",
            ),
        ]);
    }
}

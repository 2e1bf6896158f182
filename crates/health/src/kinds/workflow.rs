//! Argo Workflows `Workflow` health from `status.phase` (gitops-engine
//! checks it natively, since workflows are often used as sync hooks).

use crate::fields::string;
use crate::{HealthError, HealthStatus, HealthStatusCode};
use serde_json::Value;

pub fn health(obj: &Value) -> Result<HealthStatus, HealthError> {
    use HealthStatusCode::*;
    let status = match string(obj, "/status/phase")? {
        "" | "Pending" | "Running" => Progressing,
        "Succeeded" => Healthy,
        "Failed" | "Error" => Degraded,
        _ => Unknown,
    };
    Ok(HealthStatus::new(status, string(obj, "/status/message")?))
}

#[cfg(test)]
mod tests {
    use crate::HealthStatusCode::*;
    use crate::kinds::fixture;

    #[test]
    fn workflow_fixtures() {
        fixture::check(&[
            ("workflow-running.yaml", Progressing, ""),
            ("workflow-succeeded.yaml", Healthy, ""),
            ("workflow-failed.yaml", Degraded, "child 'hello-1' failed"),
        ]);
    }
}

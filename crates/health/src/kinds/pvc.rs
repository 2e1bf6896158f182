//! PersistentVolumeClaim health from its phase.

use crate::fields::string;
use crate::{HealthError, HealthStatus, HealthStatusCode};
use serde_json::Value;

pub fn health(obj: &Value) -> Result<HealthStatus, HealthError> {
    use HealthStatusCode::*;
    let status = match string(obj, "/status/phase")? {
        "Bound" => Healthy,
        "Pending" => Progressing,
        "Lost" => Degraded,
        _ => Unknown,
    };
    Ok(HealthStatus::new(status, ""))
}

#[cfg(test)]
mod tests {
    use crate::HealthStatusCode::*;
    use crate::kinds::fixture;

    #[test]
    fn pvc_fixtures() {
        fixture::check(&[
            ("pvc-bound.yaml", Healthy, ""),
            ("pvc-pending.yaml", Progressing, ""),
            ("pvc-lost.yaml", Degraded, ""),
            ("pvc-no-status.yaml", Unknown, ""),
        ]);
    }
}

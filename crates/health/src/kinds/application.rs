//! Health of an Argo CD `Application` managed by another (app of apps): the
//! child's own `status.health`, so a parent waits for its children.
//!
//! Argo CD removed this built-in check in v1.8 and documents a Lua
//! customization that restores it; gyro keeps it built in because the
//! app-of-apps layouts it targets rely on it. A custom check for
//! `argoproj.io/Application` still overrides it.

use crate::fields::{string, value_error};
use crate::{HealthError, HealthStatus, HealthStatusCode};
use serde_json::Value;

pub fn health(obj: &Value) -> Result<HealthStatus, HealthError> {
    let status = string(obj, "/status/health/status")?;
    if status.is_empty() {
        // Not reconciled yet: the child has no health to report.
        return Ok(HealthStatus::new(HealthStatusCode::Progressing, ""));
    }
    let code = HealthStatusCode::parse(status).ok_or_else(|| {
        value_error(
            obj,
            "status.health.status",
            format!("{status:?} is not a health status"),
        )
    })?;
    Ok(HealthStatus::new(
        code,
        string(obj, "/status/health/message")?,
    ))
}

#[cfg(test)]
mod tests {
    use crate::HealthStatusCode::*;
    use crate::kinds::fixture;

    #[test]
    fn application_fixtures() {
        fixture::check(&[
            ("application-healthy.yaml", Healthy, ""),
            ("application-degraded.yaml", Degraded, "child is failing"),
            ("application-new.yaml", Progressing, ""),
        ]);
    }

    #[test]
    fn unknown_health_code_is_an_error_naming_the_field() {
        let obj = serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "child"}, "status": {"health": {"status": "Fine"}}
        });
        assert_eq!(
            super::health(&obj).unwrap_err().to_string(),
            "Application child: field status.health.status: \"Fine\" is not a health status"
        );
    }
}

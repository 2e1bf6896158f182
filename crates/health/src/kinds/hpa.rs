//! HorizontalPodAutoscaler health from its conditions, in order: the first
//! condition that is a known failure (cannot get or update the scale, cannot
//! read metrics, bad selector) makes it Degraded, the first `AbleToScale` or
//! `ScalingLimited` condition that is `True` makes it Healthy; with neither
//! it is Progressing ("Waiting to Autoscale").
//!
//! `autoscaling/v1` objects carry their conditions as JSON in the
//! `autoscaling.alpha.kubernetes.io/conditions` annotation; `v2` objects in
//! `status.conditions`.

use crate::fields::{Condition, condition, conditions, value_error};
use crate::{HealthError, HealthStatus, HealthStatusCode};
use serde_json::Value;

const CONDITIONS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/conditions";

const DEGRADED: [(&str, &str); 4] = [
    ("AbleToScale", "FailedGetScale"),
    ("AbleToScale", "FailedUpdateScale"),
    ("ScalingActive", "FailedGetResourceMetric"),
    ("ScalingActive", "InvalidSelector"),
];

pub fn health(obj: &Value) -> Result<HealthStatus, HealthError> {
    let is_v1 = obj.get("apiVersion").and_then(Value::as_str) == Some("autoscaling/v1");
    if is_v1 {
        let pointer = format!(
            "/metadata/annotations/{}",
            CONDITIONS_ANNOTATION.replace('/', "~1")
        );
        let Some(text) = obj.pointer(&pointer).and_then(Value::as_str) else {
            return Ok(waiting());
        };
        let parsed: Value = serde_json::from_str(text).map_err(|e| {
            value_error(
                obj,
                &annotation_field(),
                format!("not a JSON list of conditions: {e}"),
            )
        })?;
        let list = parsed.as_array().ok_or_else(|| {
            value_error(obj, &annotation_field(), "not a JSON list of conditions")
        })?;
        let list = list
            .iter()
            .map(|c| condition(obj, c))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(assess(&list))
    } else {
        Ok(assess(&conditions(obj, "/status/conditions")?))
    }
}

fn annotation_field() -> String {
    format!("metadata.annotations[{CONDITIONS_ANNOTATION}]")
}

fn waiting() -> HealthStatus {
    HealthStatus::new(HealthStatusCode::Progressing, "Waiting to Autoscale")
}

fn assess(conditions: &[Condition<'_>]) -> HealthStatus {
    for c in conditions {
        if DEGRADED.contains(&(c.type_, c.reason)) {
            return HealthStatus::new(HealthStatusCode::Degraded, c.message);
        }
        if matches!(c.type_, "AbleToScale" | "ScalingLimited") && c.status == "True" {
            return HealthStatus::new(HealthStatusCode::Healthy, c.message);
        }
    }
    waiting()
}

#[cfg(test)]
mod tests {
    use crate::HealthStatusCode::*;
    use crate::kinds::fixture;

    #[test]
    fn hpa_fixtures() {
        fixture::check(&[
            (
                "hpa-v2-healthy.yaml",
                Healthy,
                "recommended size matches current size",
            ),
            (
                "hpa-v2-degraded.yaml",
                Degraded,
                "the HPA controller was unable to get the target's current scale: deployments/scale.apps \"web\" not found",
            ),
            (
                "hpa-v2-no-conditions.yaml",
                Progressing,
                "Waiting to Autoscale",
            ),
            (
                "hpa-v1-annotation.yaml",
                Healthy,
                "the HPA controller was able to update the target scale to 3",
            ),
            (
                "hpa-v1-no-annotation.yaml",
                Progressing,
                "Waiting to Autoscale",
            ),
        ]);
    }

    #[test]
    fn hpa_v1_with_broken_annotation_is_unknown() {
        let obj = serde_json::json!({
            "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "annotations": {super::CONDITIONS_ANNOTATION: "{not json"}}
        });
        let health = crate::resource_health(&obj, &Default::default()).unwrap();
        assert_eq!(health.status, Unknown);
        assert!(
            health.message.starts_with("HorizontalPodAutoscaler web: field metadata.annotations[autoscaling.alpha.kubernetes.io/conditions]: not a JSON list"),
            "{}",
            health.message
        );
    }
}

//! Derived parts of the status: `status.summary` and the messages of the
//! status-change Events (`Updated sync status: Synced -> OutOfSync`), as
//! Argo CD reports them. Pure functions of values.

use std::collections::BTreeSet;

use serde_json::Value;

/// The container images of the live objects (Pods and anything with a Pod
/// template, init containers included), sorted and without repeats: Argo
/// CD's `status.summary.images`.
pub fn images<'a>(live: impl IntoIterator<Item = &'a Value>) -> Vec<String> {
    let mut images = BTreeSet::new();
    for obj in live {
        let spec = obj.get("spec");
        let pod_specs = [
            // Pod
            spec,
            // Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, Rollout
            spec.and_then(|s| s.get("template"))
                .and_then(|t| t.get("spec")),
            // CronJob
            spec.and_then(|s| s.get("jobTemplate"))
                .and_then(|j| j.get("spec"))
                .and_then(|s| s.get("template"))
                .and_then(|t| t.get("spec")),
        ];
        for pod in pod_specs.into_iter().flatten() {
            for list in ["containers", "initContainers"] {
                let containers = pod.get(list).and_then(Value::as_array);
                for c in containers.into_iter().flatten() {
                    if let Some(image) = c.get("image").and_then(Value::as_str) {
                        images.insert(image.to_string());
                    }
                }
            }
        }
    }
    images.into_iter().collect()
}

/// The Event messages for a change of sync or health status (none when
/// neither changed, or on the first comparison).
pub fn status_changes(
    old_sync: Option<&str>,
    new_sync: &str,
    old_health: Option<&str>,
    new_health: &str,
) -> Vec<String> {
    let mut changes = Vec::new();
    if let Some(old) = old_sync.filter(|o| !o.is_empty() && *o != new_sync) {
        changes.push(format!("Updated sync status: {old} -> {new_sync}"));
    }
    if let Some(old) = old_health.filter(|o| !o.is_empty() && *o != new_health) {
        changes.push(format!("Updated health status: {old} -> {new_health}"));
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn images_come_from_pods_and_pod_templates() {
        let deployment = json!({"kind": "Deployment", "spec": {"template": {"spec": {
            "initContainers": [{"name": "init", "image": "busybox:1.36"}],
            "containers": [{"name": "web", "image": "nginx:1.27"}, {"name": "side", "image": "envoy:1"}]}}}});
        let pod = json!({"kind": "Pod", "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}});
        let cron = json!({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "job", "image": "alpine:3"}]}}}}}});
        let cm = json!({"kind": "ConfigMap", "data": {"image": "not-an-image"}});
        assert_eq!(
            images([&deployment, &pod, &cron, &cm]),
            ["alpine:3", "busybox:1.36", "envoy:1", "nginx:1.27"]
        );
    }

    #[test]
    fn only_changes_are_reported() {
        assert_eq!(
            status_changes(Some("Synced"), "OutOfSync", Some("Healthy"), "Healthy"),
            ["Updated sync status: Synced -> OutOfSync"]
        );
        assert_eq!(
            status_changes(Some("Synced"), "Synced", Some("Progressing"), "Degraded"),
            ["Updated health status: Progressing -> Degraded"]
        );
        assert!(status_changes(None, "Synced", None, "Healthy").is_empty());
        assert!(status_changes(Some("Synced"), "Synced", Some("Healthy"), "Healthy").is_empty());
    }
}

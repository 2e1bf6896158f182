//! The order kinds are applied in: things others depend on first
//! (namespaces, policies, service accounts, configuration, storage, CRDs,
//! RBAC, services), then workloads, then what routes to them. This is the
//! order Helm installs in and Argo CD syncs in; kinds it does not list
//! (custom resources, mostly) come last, after the CRDs that define them.
//! Pruning goes the other way.

const KINDS: [&str; 35] = [
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
];

/// A kind's place in the apply order; unknown kinds share the last place.
pub fn rank(kind: &str) -> usize {
    KINDS.iter().position(|k| *k == kind).unwrap_or(KINDS.len())
}

#[cfg(test)]
mod tests {
    use super::rank;

    #[test]
    fn dependencies_before_dependents_and_custom_kinds_last() {
        assert!(rank("Namespace") < rank("ServiceAccount"));
        assert!(rank("ConfigMap") < rank("Deployment"));
        assert!(rank("CustomResourceDefinition") < rank("Role"));
        assert!(rank("Service") < rank("Deployment"));
        assert!(rank("Deployment") < rank("Ingress"));
        assert!(rank("APIService") < rank("VirtualService"));
        assert_eq!(rank("VirtualService"), rank("Rollout"));
    }
}

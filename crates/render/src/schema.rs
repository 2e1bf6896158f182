//! The Kubernetes OpenAPI schema, as much of it as rendering needs: which
//! kinds are cluster-scoped, and each field's patch strategy and merge key
//! (for strategic merge patches).
//!
//! (in progress: being generated from the Kubernetes OpenAPI document)

use crate::kustomize::Gvk;

/// Whether objects of `gvk` are cluster-scoped. Unknown kinds are namespaced.
pub fn is_cluster_scoped(gvk: &Gvk) -> bool {
    // Placeholder list until the schema table lands.
    matches!(
        gvk.kind.as_str(),
        "Namespace"
            | "Node"
            | "PersistentVolume"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "CustomResourceDefinition"
            | "StorageClass"
            | "PriorityClass"
            | "APIService"
            | "MutatingWebhookConfiguration"
            | "ValidatingWebhookConfiguration"
            | "IngressClass"
            | "RuntimeClass"
    )
}

//! What repository and cluster Secrets share: Argo CD's naming
//! (`repo-<fnv32a>`, `cluster-<host>-<fnv32a>`), the type label, and
//! reading and writing them in the server's namespace.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, PostParams};

use crate::applications::kube_error;
use crate::{ApiError, State};

pub const TYPE_LABEL: &str = "argocd.argoproj.io/secret-type";

/// FNV-1a, 32 bits: Argo CD names a repository's Secret `repo-` and this
/// hash of the URL.
pub fn fnv32a(text: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// A Secret's `stringData`/`data` value as text.
pub fn value(secret: &Secret, key: &str) -> Option<String> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .and_then(|v| String::from_utf8(v.0.clone()).ok())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(key).cloned())
        })
}

impl State {
    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The Secrets of one type (`repository`, `cluster`).
    pub async fn typed_secrets(&self, kind: &str) -> Result<Vec<Secret>, ApiError> {
        Ok(self
            .secrets()
            .list(&ListParams::default().labels(&format!("{TYPE_LABEL}={kind}")))
            .await
            .map_err(kube_error)?
            .items)
    }

    /// Creates or (with `upsert`) replaces a typed Secret; without
    /// `upsert`, an existing one that differs is a 409.
    pub async fn write_secret(
        &self,
        name: &str,
        kind: &str,
        data: BTreeMap<String, String>,
        upsert: bool,
        what: &str,
    ) -> Result<Secret, ApiError> {
        let secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(self.namespace.clone()),
                labels: Some(BTreeMap::from([(TYPE_LABEL.to_string(), kind.to_string())])),
                ..Default::default()
            },
            string_data: Some(data.clone()),
            type_: Some("Opaque".to_string()),
            ..Default::default()
        };
        let api = self.secrets();
        match api.get_opt(name).await.map_err(kube_error)? {
            None => api
                .create(&PostParams::default(), &secret)
                .await
                .map_err(kube_error),
            Some(existing) => {
                let same = data
                    .iter()
                    .all(|(k, v)| value(&existing, k).as_ref() == Some(v));
                if same {
                    return Ok(existing);
                }
                if !upsert {
                    return Err(ApiError::conflict(format!(
                        "existing {what} spec is different; use upsert flag to force update"
                    )));
                }
                let mut replaced = secret;
                replaced.metadata.resource_version = existing.metadata.resource_version;
                replaced.data = None;
                api.replace(name, &PostParams::default(), &replaced)
                    .await
                    .map_err(kube_error)
            }
        }
    }

    pub async fn delete_secret(&self, name: &str) -> Result<(), ApiError> {
        self.secrets()
            .delete(name, &DeleteParams::default())
            .await
            .map_err(kube_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv32a_matches_the_reference_values() {
        assert_eq!(fnv32a(""), 0x811c_9dc5);
        assert_eq!(fnv32a("a"), 0xe40c_292c);
        assert_eq!(fnv32a("foobar"), 0xbf9c_f968);
    }
}

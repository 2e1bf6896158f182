//! The shared secrets webhooks are checked with, read from the keys Argo CD
//! uses in the `argocd-secret` Secret.

use std::collections::BTreeMap;
use std::fmt;

/// `argocd-secret` key of the GitHub HMAC secret.
pub const GITHUB_SECRET_KEY: &str = "webhook.github.secret";
/// `argocd-secret` key of the GitLab token.
pub const GITLAB_SECRET_KEY: &str = "webhook.gitlab.secret";
/// `argocd-secret` key of the Gitea HMAC secret (gyro only; Argo CD checks
/// Gitea with the Gogs key).
pub const GITEA_SECRET_KEY: &str = "webhook.gitea.secret";
/// `argocd-secret` key of the Gogs HMAC secret (also accepted for Gitea).
pub const GOGS_SECRET_KEY: &str = "webhook.gogs.secret";
/// `argocd-secret` key of the Bitbucket Cloud webhook UUID.
pub const BITBUCKET_UUID_KEY: &str = "webhook.bitbucket.uuid";
/// `argocd-secret` key of the Bitbucket Server HMAC secret.
pub const BITBUCKET_SERVER_SECRET_KEY: &str = "webhook.bitbucketserver.secret";

/// The configured webhook secrets, one per provider; `None` (or empty) means
/// the provider's requests are accepted unauthenticated, as in Argo CD.
/// Values are bytes because Secret data is; they are used exactly as stored
/// (no trimming, as Argo CD).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    /// `webhook.github.secret`: key of `X-Hub-Signature-256` (and the older
    /// SHA-1 `X-Hub-Signature`).
    pub github: Option<Vec<u8>>,
    /// `webhook.gitlab.secret`: the value `X-Gitlab-Token` must carry.
    pub gitlab: Option<Vec<u8>>,
    /// `webhook.gitea.secret`: key of `X-Gitea-Signature`.
    pub gitea: Option<Vec<u8>>,
    /// `webhook.gogs.secret`: key of `X-Gogs-Signature`; Gitea requests are
    /// accepted when signed with it too.
    pub gogs: Option<Vec<u8>>,
    /// `webhook.bitbucket.uuid`: the value `X-Hook-UUID` must carry.
    pub bitbucket_uuid: Option<Vec<u8>>,
    /// `webhook.bitbucketserver.secret`: key of Bitbucket Server's
    /// `X-Hub-Signature`.
    pub bitbucket_server: Option<Vec<u8>>,
}

impl Secrets {
    /// Reads the webhook keys from a Secret's decoded `data` (other keys are
    /// ignored; empty values count as not configured).
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> Secrets {
        let get = |key: &str| data.get(key).filter(|v| !v.is_empty()).cloned();
        Secrets {
            github: get(GITHUB_SECRET_KEY),
            gitlab: get(GITLAB_SECRET_KEY),
            gitea: get(GITEA_SECRET_KEY),
            gogs: get(GOGS_SECRET_KEY),
            bitbucket_uuid: get(BITBUCKET_UUID_KEY),
            bitbucket_server: get(BITBUCKET_SERVER_SECRET_KEY),
        }
    }
}

/// Says which secrets are set, never their values (they end up in logs).
impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |v: &Option<Vec<u8>>| {
            if v.as_ref().is_some_and(|v| !v.is_empty()) {
                "set"
            } else {
                "unset"
            }
        };
        f.debug_struct("Secrets")
            .field("github", &set(&self.github))
            .field("gitlab", &set(&self.gitlab))
            .field("gitea", &set(&self.gitea))
            .field("gogs", &set(&self.gogs))
            .field("bitbucket_uuid", &set(&self.bitbucket_uuid))
            .field("bitbucket_server", &set(&self.bitbucket_server))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_argocd_secret_keys_and_skips_empty_values() {
        let data: BTreeMap<String, Vec<u8>> = [
            ("webhook.github.secret", &b"gh"[..]),
            ("webhook.gitlab.secret", b""),
            ("webhook.gogs.secret", b"gogs"),
            ("webhook.bitbucket.uuid", b"{uuid}"),
            ("webhook.bitbucketserver.secret", b"bbs"),
            ("server.secretkey", b"unrelated"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_vec()))
        .collect();
        let s = Secrets::from_secret_data(&data);
        assert_eq!(s.github.as_deref(), Some(&b"gh"[..]));
        assert_eq!(s.gitlab, None);
        assert_eq!(s.gitea, None);
        assert_eq!(s.gogs.as_deref(), Some(&b"gogs"[..]));
        assert_eq!(s.bitbucket_uuid.as_deref(), Some(&b"{uuid}"[..]));
        assert_eq!(s.bitbucket_server.as_deref(), Some(&b"bbs"[..]));
        let shown = format!("{s:?}");
        assert!(!shown.contains("gh\"") && !shown.contains("bbs"), "{shown}");
    }
}

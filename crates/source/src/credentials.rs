//! Repository credentials as Argo CD reads them from Secrets.
//!
//! Argo CD keeps repositories in Secrets labelled
//! `argocd.argoproj.io/secret-type`: `repository` Secrets name one repository
//! by its exact `url`; `repo-creds` Secrets are templates whose `url` is a
//! prefix shared by many repositories. [`pick`] chooses, as Argo CD does:
//!
//! 1. a `repository` Secret whose `url` is the same repository (compared in
//!    [`crate::url::normalize`]d form) gives the credentials;
//! 2. when it has none (no `username`, `password` or `sshPrivateKey`), or no
//!    such Secret exists, the `repo-creds` Secret with the longest `url` that
//!    is a prefix of the repository URL gives them (on a tie, the first by
//!    namespace/name, so the choice does not depend on list order);
//! 3. Secrets whose `type` is not `git` (Helm and OCI repositories) are
//!    ignored; a missing `type` means `git`.
//!
//! Not read yet: TLS client certificates, GitHub App and cloud workload
//! identity credentials, proxies, `forceHttpBasicAuth`, `project` scoping.

use k8s_openapi::api::core::v1::Secret;

/// The label Argo CD marks its repository Secrets with.
pub const SECRET_TYPE_LABEL: &str = "argocd.argoproj.io/secret-type";

/// Credentials for one repository. `Debug` hides the secret values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: Option<String>,
    pub password: Option<String>,
    pub ssh_private_key: Option<String>,
    /// Skip TLS verification (HTTPS) or host key checking (SSH).
    pub insecure: bool,
    /// `namespace/name` of the Secret(s) the values came from, for messages.
    pub from: String,
}

impl Credentials {
    fn has_credentials(&self) -> bool {
        self.username.is_some() || self.password.is_some() || self.ssh_private_key.is_some()
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "<hidden>");
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &hidden(&self.password))
            .field("ssh_private_key", &hidden(&self.ssh_private_key))
            .field("insecure", &self.insecure)
            .field("from", &self.from)
            .finish()
    }
}

/// A Secret's string field, from `data` (as the API server returns it) or
/// `stringData` (as a manifest may still carry it). Empty values count as
/// absent, as in Argo CD.
fn field(secret: &Secret, key: &str) -> Option<String> {
    let from_data = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| String::from_utf8_lossy(&b.0).into_owned());
    let value = from_data.or_else(|| {
        secret
            .string_data
            .as_ref()
            .and_then(|d| d.get(key).cloned())
    });
    value.filter(|v| !v.is_empty())
}

fn secret_type(secret: &Secret) -> Option<&str> {
    secret
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SECRET_TYPE_LABEL))
        .map(String::as_str)
}

fn is_git(secret: &Secret) -> bool {
    field(secret, "type").is_none_or(|t| t == "git")
}

fn secret_name(secret: &Secret) -> String {
    format!(
        "{}/{}",
        secret.metadata.namespace.as_deref().unwrap_or_default(),
        secret.metadata.name.as_deref().unwrap_or_default()
    )
}

fn read(secret: &Secret) -> Credentials {
    Credentials {
        username: field(secret, "username"),
        password: field(secret, "password"),
        ssh_private_key: field(secret, "sshPrivateKey"),
        insecure: field(secret, "insecure").is_some_and(|v| v.eq_ignore_ascii_case("true")),
        from: secret_name(secret),
    }
}

/// The credentials for `url` from Argo CD repository Secrets (see the module
/// docs for the rules), or `None` when no Secret applies.
pub fn pick(url: &str, secrets: &[Secret]) -> Option<Credentials> {
    let wanted = crate::url::normalize(url);
    let repository = secrets
        .iter()
        .filter(|s| secret_type(s) == Some("repository") && is_git(s))
        .find(|s| field(s, "url").is_some_and(|u| crate::url::normalize(&u) == wanted))
        .map(read);

    let template = secrets
        .iter()
        .filter(|s| secret_type(s) == Some("repo-creds") && is_git(s))
        .filter_map(|s| {
            let prefix = crate::url::normalize(&field(s, "url")?);
            wanted.starts_with(&prefix).then_some((prefix.len(), s))
        })
        // Longest prefix first; on a tie the smaller namespace/name.
        .min_by(|(la, a), (lb, b)| lb.cmp(la).then_with(|| secret_name(a).cmp(&secret_name(b))))
        .map(|(_, s)| read(s));

    match (repository, template) {
        (Some(repo), _) if repo.has_credentials() => Some(repo),
        (Some(repo), Some(t)) => Some(Credentials {
            insecure: repo.insecure || t.insecure,
            from: format!("{} (credentials from {})", repo.from, t.from),
            ..t
        }),
        (repo, t) => repo.or(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    fn secret(name: &str, kind: &str, fields: &[(&str, &str)]) -> Secret {
        let mut s = Secret::default();
        s.metadata.name = Some(name.into());
        s.metadata.namespace = Some("argocd".into());
        s.metadata.labels = Some(BTreeMap::from([(
            SECRET_TYPE_LABEL.to_string(),
            kind.to_string(),
        )]));
        s.data = Some(
            fields
                .iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        );
        s
    }

    #[test]
    fn exact_repository_secret_wins_over_templates() {
        let secrets = [
            secret(
                "tmpl",
                "repo-creds",
                &[
                    ("url", "https://git.example.com/org"),
                    ("username", "t"),
                    ("password", "tp"),
                ],
            ),
            secret(
                "repo",
                "repository",
                &[
                    ("url", "https://git.example.com/org/app.git"),
                    ("username", "r"),
                    ("password", "rp"),
                ],
            ),
        ];
        let c = pick("https://git.example.com/org/app", &secrets).unwrap();
        assert_eq!(c.username.as_deref(), Some("r"));
        assert_eq!(c.password.as_deref(), Some("rp"));
        assert_eq!(c.from, "argocd/repo");
    }

    #[test]
    fn longest_matching_prefix_template_wins() {
        let secrets = [
            secret(
                "short",
                "repo-creds",
                &[("url", "https://git.example.com/"), ("username", "short")],
            ),
            secret(
                "long",
                "repo-creds",
                &[
                    ("url", "https://git.example.com/org/team"),
                    ("username", "long"),
                ],
            ),
            secret(
                "other",
                "repo-creds",
                &[
                    ("url", "https://other.example.com/org/team/app"),
                    ("username", "other"),
                ],
            ),
        ];
        let c = pick("https://git.example.com/org/team/app.git", &secrets).unwrap();
        assert_eq!(c.username.as_deref(), Some("long"));
        let c = pick("https://git.example.com/elsewhere/app", &secrets).unwrap();
        assert_eq!(c.username.as_deref(), Some("short"));
        assert!(pick("https://nowhere.example.com/app", &secrets).is_none());
    }

    #[test]
    fn tie_is_broken_by_name_not_list_order() {
        let a = secret(
            "a",
            "repo-creds",
            &[("url", "https://h/org"), ("username", "a")],
        );
        let b = secret(
            "b",
            "repo-creds",
            &[("url", "https://h/org/"), ("username", "b")],
        );
        for list in [[a.clone(), b.clone()], [b, a]] {
            assert_eq!(
                pick("https://h/org/app", &list)
                    .unwrap()
                    .username
                    .as_deref(),
                Some("a")
            );
        }
    }

    #[test]
    fn repository_without_credentials_takes_them_from_the_template() {
        let secrets = [
            secret(
                "repo",
                "repository",
                &[
                    ("url", "git@git.example.com:org/app.git"),
                    ("insecure", "true"),
                ],
            ),
            secret(
                "tmpl",
                "repo-creds",
                &[("url", "git@git.example.com:org"), ("sshPrivateKey", "KEY")],
            ),
        ];
        let c = pick("ssh://git@git.example.com/org/app", &secrets).unwrap();
        assert_eq!(c.ssh_private_key.as_deref(), Some("KEY"));
        assert!(c.insecure);
        assert!(c.from.contains("argocd/repo") && c.from.contains("argocd/tmpl"));
        assert!(!format!("{c:?}").contains("KEY"), "Debug must hide the key");
    }

    #[test]
    fn other_secret_types_and_labels_are_ignored() {
        let mut unlabelled = secret(
            "plain",
            "repository",
            &[("url", "https://h/app"), ("username", "x")],
        );
        unlabelled.metadata.labels = None;
        let helm = secret(
            "helm",
            "repository",
            &[
                ("url", "https://h/app"),
                ("type", "helm"),
                ("username", "h"),
            ],
        );
        let cluster = secret(
            "cl",
            "cluster",
            &[("url", "https://h/app"), ("username", "c")],
        );
        assert!(pick("https://h/app", &[unlabelled, helm, cluster]).is_none());
    }

    #[test]
    fn string_data_and_insecure_are_read() {
        let mut s = secret("repo", "repository", &[]);
        s.data = None;
        s.string_data = Some(BTreeMap::from([
            ("url".to_string(), "https://h/app".to_string()),
            ("password".to_string(), "p".to_string()),
            ("insecure".to_string(), "true".to_string()),
            ("type".to_string(), "git".to_string()),
        ]));
        let c = pick("https://h/app/", &[s]).unwrap();
        assert_eq!(c.password.as_deref(), Some("p"));
        assert_eq!(c.username, None);
        assert!(c.insecure);
    }
}

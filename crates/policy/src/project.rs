//! An AppProject's rules on what its Applications may deploy: from which
//! repositories (`sourceRepos`), to which clusters and namespaces
//! (`destinations`, `permitOnlyProjectScopedClusters`), which kinds
//! (`clusterResource*`, `namespaceResource*`), and from which namespaces an
//! Application may belong to the project at all (`sourceNamespaces`).
//!
//! Each check returns `Err(Denied)` naming the rule and the value refused,
//! with Argo CD's semantics (`util/glob`, `AppProject.IsSourcePermitted`,
//! `IsDestinationPermitted`, `IsGroupKindPermitted`).

use std::fmt;

use api::{AppProject, AppProjectSpec, ApplicationDestination};

use crate::glob;

/// The project every Argo CD installation has.
pub const DEFAULT_PROJECT: &str = "default";

/// The `default` project Argo CD creates: any repository, any destination,
/// any kind. gyro uses it when no AppProject named `default` exists; one
/// that exists is enforced as written, as Argo CD does.
pub fn implicit_default_project() -> AppProject {
    let all = |s: &str| Some(s.to_string());
    AppProject::new(
        DEFAULT_PROJECT,
        AppProjectSpec {
            source_repos: Some(vec!["*".to_string()]),
            destinations: Some(vec![ApplicationDestination {
                server: all("*"),
                namespace: all("*"),
                name: all("*"),
            }]),
            cluster_resource_whitelist: Some(vec![api::ClusterResourceRestrictionItem {
                group: "*".to_string(),
                kind: "*".to_string(),
                name: None,
            }]),
            ..Default::default()
        },
    )
}

/// Why a project refuses something: the rule (the field of the
/// AppProject's spec) and a message naming the value refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub rule: &'static str,
    pub message: String,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Denied {}

/// A destination as the controller resolved it: both the cluster's server
/// URL and its name (an Application may give either), the namespace, and
/// the project of the cluster when it is project-scoped (its Secret's
/// `project` key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Destination {
    pub server: String,
    pub name: String,
    pub namespace: String,
    pub cluster_project: Option<String>,
}

/// One object an Application would manage. `namespace` is `Some` for a
/// namespaced kind (the namespace it would be in), `None` for a
/// cluster-scoped one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource<'a> {
    pub group: &'a str,
    pub kind: &'a str,
    pub name: &'a str,
    pub namespace: Option<&'a str>,
}

impl fmt::Display for Resource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.group.is_empty() {
            write!(f, "{}/", self.group)?;
        }
        write!(f, "{}/{}", self.kind, self.name)?;
        if let Some(ns) = self.namespace.filter(|ns| !ns.is_empty()) {
            write!(f, " in namespace {ns}")?;
        }
        Ok(())
    }
}

fn name(project: &AppProject) -> &str {
    project.metadata.name.as_deref().unwrap_or("")
}

/// A repository URL as Argo CD compares them: lower case, without a
/// trailing `/` or `.git`.
pub fn normalize_repo_url(url: &str) -> String {
    let url = url.trim().to_lowercase();
    let url = url.trim_end_matches('/');
    url.strip_suffix(".git").unwrap_or(url).to_string()
}

/// `sourceRepos`: the repository must match a pattern, and a `!pattern`
/// that matches it denies it whatever else allows it.
pub fn check_source_repo(project: &AppProject, repo_url: &str) -> Result<(), Denied> {
    let url = normalize_repo_url(repo_url);
    let mut allowed = false;
    for pattern in project.spec.source_repos.iter().flatten() {
        let pattern = match pattern.strip_prefix('!') {
            Some(rest) => format!("!{}", normalize_repo_url(rest)),
            None => normalize_repo_url(pattern),
        };
        if glob::argo_match(&pattern, &url, true, &['/']) {
            allowed = true;
        } else if glob::is_deny(&pattern) {
            allowed = false;
            break;
        }
    }
    if allowed {
        Ok(())
    } else {
        Err(Denied {
            rule: "sourceRepos",
            message: format!(
                "application repo {repo_url} is not permitted in project '{}' (sourceRepos)",
                name(project)
            ),
        })
    }
}

/// Whether a destination matches the project's `destinations`: the server
/// or the name matches, and the namespace matches; a `!pattern` that does
/// not match denies.
fn destination_matched(project: &AppProject, dest: &Destination) -> bool {
    let mut matched_any = false;
    for item in project.spec.destinations.iter().flatten() {
        let server = item.server.as_deref().unwrap_or("");
        let cluster_name = item.name.as_deref().unwrap_or("");
        let namespace = item.namespace.as_deref().unwrap_or("");
        let name_ok =
            !dest.name.is_empty() && glob::argo_match(cluster_name, &dest.name, true, &[]);
        let server_ok =
            !dest.server.is_empty() && glob::argo_match(server, &dest.server, true, &[]);
        let namespace_ok = glob::argo_match(namespace, &dest.namespace, true, &[]);
        if (server_ok || name_ok) && namespace_ok {
            matched_any = true;
        } else if (!name_ok && glob::is_deny(cluster_name))
            || (!server_ok && glob::is_deny(server))
            || (!namespace_ok && glob::is_deny(namespace))
        {
            return false;
        }
    }
    matched_any
}

/// `destinations` and `permitOnlyProjectScopedClusters` for the
/// Application's destination.
pub fn check_destination(project: &AppProject, dest: &Destination) -> Result<(), Denied> {
    if !destination_matched(project, dest) {
        return Err(Denied {
            rule: "destinations",
            message: format!(
                "application destination server '{}' (name '{}') and namespace '{}' do not match any of the allowed destinations in project '{}' (destinations)",
                dest.server,
                dest.name,
                dest.namespace,
                name(project)
            ),
        });
    }
    if project.spec.permit_only_project_scoped_clusters == Some(true)
        && dest.cluster_project.as_deref() != Some(name(project))
    {
        return Err(Denied {
            rule: "permitOnlyProjectScopedClusters",
            message: format!(
                "application destination cluster '{}' is not scoped to project '{}' (permitOnlyProjectScopedClusters)",
                if dest.name.is_empty() {
                    &dest.server
                } else {
                    &dest.name
                },
                name(project)
            ),
        });
    }
    Ok(())
}

/// `sourceNamespaces`: an Application outside the controller's namespace
/// belongs to the project only when its namespace is listed.
pub fn check_source_namespace(
    project: &AppProject,
    app_namespace: &str,
    controller_namespace: &str,
) -> Result<(), Denied> {
    if app_namespace.is_empty() || app_namespace == controller_namespace {
        return Ok(());
    }
    let listed = project
        .spec
        .source_namespaces
        .iter()
        .flatten()
        .any(|p| glob::argo_match(p, app_namespace, false, &[]));
    if listed {
        Ok(())
    } else {
        Err(Denied {
            rule: "sourceNamespaces",
            message: format!(
                "application in namespace '{app_namespace}' is not permitted in project '{}' (sourceNamespaces)",
                name(project)
            ),
        })
    }
}

/// Whether a group and kind (and, for cluster-scoped items, a name) is in
/// a list of `group`/`kind`(/`name`) globs.
fn listed<'a>(
    items: impl IntoIterator<Item = (&'a str, &'a str, Option<&'a str>)>,
    res: &Resource<'_>,
) -> bool {
    items.into_iter().any(|(group, kind, name)| {
        glob::argo_match(group, res.group, false, &[])
            && glob::argo_match(kind, res.kind, false, &[])
            && name.is_none_or(|n| glob::argo_match(n, res.name, false, &[]))
    })
}

fn cluster_items(
    items: &Option<Vec<api::ClusterResourceRestrictionItem>>,
) -> Vec<(&str, &str, Option<&str>)> {
    items
        .iter()
        .flatten()
        .map(|i| (i.group.as_str(), i.kind.as_str(), i.name.as_deref()))
        .collect()
}

fn namespace_items(items: &Option<Vec<api::GroupKind>>) -> Vec<(&str, &str, Option<&str>)> {
    items
        .iter()
        .flatten()
        .map(|i| (i.group.as_str(), i.kind.as_str(), None))
        .collect()
}

/// Whether a kind is permitted: a cluster-scoped one must be in
/// `clusterResourceWhitelist` (none is, without one) and not in
/// `clusterResourceBlacklist`; a namespaced one must be in
/// `namespaceResourceWhitelist` when there is one (an empty list allows
/// none) and not in `namespaceResourceBlacklist`.
pub fn check_kind(project: &AppProject, res: &Resource<'_>) -> Result<(), Denied> {
    let spec = &project.spec;
    let deny = |rule: &'static str, why: &str| {
        Err(Denied {
            rule,
            message: format!(
                "{res} is not permitted in project {}: {rule} {why}",
                name(project)
            ),
        })
    };
    if res.namespace.is_none() {
        if !listed(cluster_items(&spec.cluster_resource_whitelist), res) {
            return deny("clusterResourceWhitelist", "does not list it");
        }
        if listed(cluster_items(&spec.cluster_resource_blacklist), res) {
            return deny("clusterResourceBlacklist", "lists it");
        }
    } else {
        if spec.namespace_resource_whitelist.is_some()
            && !listed(namespace_items(&spec.namespace_resource_whitelist), res)
        {
            return deny("namespaceResourceWhitelist", "does not list it");
        }
        if listed(namespace_items(&spec.namespace_resource_blacklist), res) {
            return deny("namespaceResourceBlacklist", "lists it");
        }
    }
    Ok(())
}

/// Whether the project permits an Application at `dest` to manage `res`:
/// its kind ([`check_kind`]) and, for a namespaced object, its namespace
/// on the destination's cluster (`destinations`).
pub fn check_resource(
    project: &AppProject,
    res: &Resource<'_>,
    dest: &Destination,
) -> Result<(), Denied> {
    check_kind(project, res)?;
    if let Some(namespace) = res.namespace.filter(|ns| !ns.is_empty()) {
        let in_namespace = Destination {
            namespace: namespace.to_string(),
            ..dest.clone()
        };
        if !destination_matched(project, &in_namespace) {
            return Err(Denied {
                rule: "destinations",
                message: format!(
                    "{res} is not permitted in project {}: destinations do not permit namespace {namespace}",
                    name(project)
                ),
            });
        }
    }
    Ok(())
}

/// Everything about the Application itself: where it lives
/// (`sourceNamespaces`), its sources' repositories and its destination.
pub fn check_application(
    project: &AppProject,
    app_namespace: &str,
    controller_namespace: &str,
    repo_urls: &[&str],
    dest: &Destination,
) -> Result<(), Denied> {
    check_source_namespace(project, app_namespace, controller_namespace)?;
    for url in repo_urls {
        check_source_repo(project, url)?;
    }
    check_destination(project, dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(spec: serde_json::Value) -> AppProject {
        AppProject::new(
            "team-a",
            serde_json::from_value(spec).expect("a valid spec"),
        )
    }

    fn dest(server: &str, name: &str, namespace: &str) -> Destination {
        Destination {
            server: server.into(),
            name: name.into(),
            namespace: namespace.into(),
            cluster_project: None,
        }
    }

    const IN_CLUSTER: &str = "https://kubernetes.default.svc";

    #[test]
    fn source_repos_allow_by_glob_and_deny_by_negation() {
        let cases: &[(&[&str], &str, bool)] = &[
            (&["*"], "https://github.com/org/app.git", true),
            (&[], "https://github.com/org/app.git", false),
            (
                &["https://github.com/org/*"],
                "https://github.com/org/app",
                true,
            ),
            (
                &["https://github.com/org/*"],
                "https://github.com/org/app.git",
                true,
            ),
            (
                &["https://github.com/org/*"],
                "https://GitHub.com/Org/App/",
                true,
            ),
            (
                &["https://github.com/org/*"],
                "https://github.com/org/team/app",
                false,
            ),
            (
                &["https://github.com/org/**"],
                "https://github.com/org/team/app",
                true,
            ),
            (
                &["https://github.com/org/app.git"],
                "https://github.com/org/app",
                true,
            ),
            (
                &["https://github.com/other/*"],
                "https://github.com/org/app",
                false,
            ),
            // A negation that matches denies, whatever allows it.
            (
                &["*", "!https://github.com/org/secret"],
                "https://github.com/org/secret.git",
                false,
            ),
            (
                &["!https://github.com/org/secret", "*"],
                "https://github.com/org/secret",
                false,
            ),
            (
                &["*", "!https://github.com/org/secret"],
                "https://github.com/org/app",
                true,
            ),
            // A negation alone allows everything else (Argo CD does too).
            (
                &["!https://github.com/org/secret"],
                "https://github.com/org/app",
                true,
            ),
        ];
        for (repos, url, want) in cases {
            let p = project(serde_json::json!({"sourceRepos": repos}));
            let got = check_source_repo(&p, url);
            assert_eq!(got.is_ok(), *want, "{repos:?} ~ {url}: {got:?}");
            if let Err(e) = got {
                assert_eq!(e.rule, "sourceRepos");
                assert!(
                    e.message.contains(url) && e.message.contains("team-a"),
                    "{e}"
                );
            }
        }
    }

    #[test]
    fn destinations_match_server_or_name_and_namespace() {
        let cases: &[(serde_json::Value, Destination, bool)] = &[
            (
                serde_json::json!([{"server": "*", "namespace": "*"}]),
                dest(IN_CLUSTER, "in-cluster", "anything"),
                true,
            ),
            (
                serde_json::json!([]),
                dest(IN_CLUSTER, "in-cluster", "a"),
                false,
            ),
            (
                serde_json::json!([{"server": IN_CLUSTER, "namespace": "team-a-*"}]),
                dest(IN_CLUSTER, "in-cluster", "team-a-web"),
                true,
            ),
            (
                serde_json::json!([{"server": IN_CLUSTER, "namespace": "team-a-*"}]),
                dest(IN_CLUSTER, "in-cluster", "team-b-web"),
                false,
            ),
            // By name: the destination named in-cluster resolves to the
            // server too, and either may match.
            (
                serde_json::json!([{"name": "in-cluster", "namespace": "*"}]),
                dest(IN_CLUSTER, "in-cluster", "x"),
                true,
            ),
            (
                serde_json::json!([{"name": "prod-*", "namespace": "*"}]),
                dest("https://prod.example.com", "prod-eu", "x"),
                true,
            ),
            (
                serde_json::json!([{"name": "prod-*", "namespace": "*"}]),
                dest(IN_CLUSTER, "in-cluster", "x"),
                false,
            ),
            // Negations deny what they do not match.
            (
                serde_json::json!([
                    {"server": "*", "namespace": "*"},
                    {"server": "*", "namespace": "!kube-system"}
                ]),
                dest(IN_CLUSTER, "in-cluster", "kube-system"),
                false,
            ),
            (
                serde_json::json!([
                    {"server": "*", "namespace": "*"},
                    {"server": "*", "namespace": "!kube-system"}
                ]),
                dest(IN_CLUSTER, "in-cluster", "web"),
                true,
            ),
            (
                serde_json::json!([
                    {"server": "!https://prod.example.com", "namespace": "*"},
                    {"server": "*", "namespace": "*"}
                ]),
                dest("https://prod.example.com", "", "web"),
                false,
            ),
        ];
        for (destinations, d, want) in cases {
            let p = project(serde_json::json!({"destinations": destinations}));
            let got = check_destination(&p, d);
            assert_eq!(got.is_ok(), *want, "{destinations} ~ {d:?}: {got:?}");
            if let Err(e) = got {
                assert_eq!(e.rule, "destinations");
                assert!(e.message.contains(&d.namespace), "{e}");
            }
        }
    }

    #[test]
    fn project_scoped_clusters_only_when_asked() {
        let p = project(serde_json::json!({
            "destinations": [{"server": "*", "namespace": "*"}],
            "permitOnlyProjectScopedClusters": true
        }));
        let mut d = dest("https://prod.example.com", "prod", "web");
        let e = check_destination(&p, &d).unwrap_err();
        assert_eq!(e.rule, "permitOnlyProjectScopedClusters");
        assert!(e.message.contains("prod"), "{e}");
        d.cluster_project = Some("team-b".into());
        assert!(check_destination(&p, &d).is_err());
        d.cluster_project = Some("team-a".into());
        assert_eq!(check_destination(&p, &d), Ok(()));
    }

    #[test]
    fn source_namespaces_list_where_applications_may_live() {
        let p = project(serde_json::json!({"sourceNamespaces": ["team-a-*"]}));
        let cases = [
            ("argocd", true),
            ("", true),
            ("team-a-apps", true),
            ("team-b", false),
        ];
        for (ns, want) in cases {
            let got = check_source_namespace(&p, ns, "argocd");
            assert_eq!(got.is_ok(), want, "{ns}: {got:?}");
        }
        let none = project(serde_json::json!({}));
        let e = check_source_namespace(&none, "team-a", "argocd").unwrap_err();
        assert_eq!(e.rule, "sourceNamespaces");
        assert!(e.message.contains("'team-a'"), "{e}");
    }

    fn res<'a>(group: &'a str, kind: &'a str, name: &'a str, ns: Option<&'a str>) -> Resource<'a> {
        Resource {
            group,
            kind,
            name,
            namespace: ns,
        }
    }

    #[test]
    fn kinds_follow_the_white_and_black_lists() {
        let rbac = "rbac.authorization.k8s.io";
        let cases: &[(serde_json::Value, Resource<'_>, Option<&str>)] = &[
            // Without a cluster whitelist no cluster-scoped kind is allowed.
            (
                serde_json::json!({}),
                res("", "Namespace", "foo", None),
                Some("clusterResourceWhitelist"),
            ),
            (
                serde_json::json!({}),
                res("", "ConfigMap", "c", Some("web")),
                None,
            ),
            (
                serde_json::json!({"clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}]}),
                res("", "Namespace", "foo", None),
                None,
            ),
            (
                serde_json::json!({"clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}]}),
                res(rbac, "ClusterRole", "r", None),
                Some("clusterResourceWhitelist"),
            ),
            (
                serde_json::json!({"clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
                    "clusterResourceBlacklist": [{"group": rbac, "kind": "*"}]}),
                res(rbac, "ClusterRole", "r", None),
                Some("clusterResourceBlacklist"),
            ),
            // A whitelist item with a name narrows it to that object.
            (
                serde_json::json!({"clusterResourceWhitelist": [{"group": "", "kind": "Namespace", "name": "team-a-*"}]}),
                res("", "Namespace", "team-a-web", None),
                None,
            ),
            (
                serde_json::json!({"clusterResourceWhitelist": [{"group": "", "kind": "Namespace", "name": "team-a-*"}]}),
                res("", "Namespace", "kube-system", None),
                Some("clusterResourceWhitelist"),
            ),
            (
                serde_json::json!({"namespaceResourceBlacklist": [{"group": "", "kind": "Secret"}]}),
                res("", "Secret", "s", Some("web")),
                Some("namespaceResourceBlacklist"),
            ),
            (
                serde_json::json!({"namespaceResourceWhitelist": [{"group": "apps", "kind": "*"}]}),
                res("", "ConfigMap", "c", Some("web")),
                Some("namespaceResourceWhitelist"),
            ),
            (
                serde_json::json!({"namespaceResourceWhitelist": [{"group": "apps", "kind": "*"}]}),
                res("apps", "Deployment", "d", Some("web")),
                None,
            ),
            // An empty whitelist (not an absent one) allows nothing.
            (
                serde_json::json!({"namespaceResourceWhitelist": []}),
                res("apps", "Deployment", "d", Some("web")),
                Some("namespaceResourceWhitelist"),
            ),
        ];
        for (spec, r, want) in cases {
            let p = project(spec.clone());
            let got = check_kind(&p, r);
            assert_eq!(
                got.as_ref().err().map(|e| e.rule),
                *want,
                "{spec} ~ {r}: {got:?}"
            );
        }
        let e = check_kind(
            &project(serde_json::json!({})),
            &res("", "Namespace", "foo", None),
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "Namespace/foo is not permitted in project team-a: clusterResourceWhitelist does not list it"
        );
    }

    #[test]
    fn a_resource_namespace_must_be_a_permitted_destination() {
        let p = project(serde_json::json!({
            "destinations": [{"server": IN_CLUSTER, "namespace": "web"}]
        }));
        let d = dest(IN_CLUSTER, "in-cluster", "web");
        assert_eq!(
            check_resource(&p, &res("", "ConfigMap", "c", Some("web")), &d),
            Ok(())
        );
        let e =
            check_resource(&p, &res("", "ConfigMap", "c", Some("kube-system")), &d).unwrap_err();
        assert_eq!(e.rule, "destinations");
        assert!(
            e.message.contains("ConfigMap/c in namespace kube-system"),
            "{e}"
        );
    }

    #[test]
    fn the_implicit_default_project_allows_everything() {
        let p = implicit_default_project();
        let d = dest("https://elsewhere.example.com", "", "kube-system");
        assert_eq!(
            check_application(&p, "argocd", "argocd", &["git@x:y/z.git"], &d),
            Ok(())
        );
        for r in [
            res("", "Namespace", "n", None),
            res("rbac.authorization.k8s.io", "ClusterRole", "r", None),
            res("", "Secret", "s", Some("kube-system")),
        ] {
            assert_eq!(check_resource(&p, &r, &d), Ok(()), "{r}");
        }
    }
}

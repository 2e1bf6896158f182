//! `gyro check`: a pre-flight check of the cluster gyro is pointed at.
//!
//! It asks the API server for its version, counts Ready nodes and asks
//! (through SelfSubjectAccessReviews) whether the current credentials may do
//! what gyro's controller does to the resources it manages. Each finding is
//! printed as one line; the command fails when any of them fails.

use std::process::ExitCode;

use anyhow::{Context, Result};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::Node;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};

use crate::kubeconfig::KubeArgs;

/// The oldest Kubernetes minor version gyro is built and tested against.
const MIN_MINOR: u32 = 33;

/// Verbs gyro's controller uses on the resources it manages, in any group.
const VERBS: [&str; 6] = ["get", "list", "watch", "create", "patch", "delete"];

/// One line of the report.
struct Finding {
    what: &'static str,
    detail: String,
    ok: bool,
}

pub async fn run(kube: &KubeArgs) -> Result<ExitCode> {
    let config = kube.config().await?;
    let url = config.cluster_url.to_string();
    let client = Client::try_from(config).context("building the Kubernetes client")?;

    let version = client
        .apiserver_version()
        .await
        .with_context(|| format!("cannot reach the Kubernetes API at {url}"))?;
    let findings = vec![
        version_finding(&url, &version.git_version, &version.major, &version.minor),
        nodes_finding(&client).await,
        permissions_finding(&client).await?,
    ];

    let mut failed = false;
    for f in &findings {
        println!(
            "{:<12} {:<4} {}",
            f.what,
            if f.ok { "ok" } else { "FAIL" },
            f.detail
        );
        failed |= !f.ok;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn version_finding(url: &str, git_version: &str, major: &str, minor: &str) -> Finding {
    let ok = match parse_minor(major, minor) {
        Some((1, m)) => m >= MIN_MINOR,
        Some((maj, _)) => maj > 1,
        None => false,
    };
    let mut detail = format!("{git_version} at {url}");
    if !ok {
        detail.push_str(&format!(" (gyro needs Kubernetes 1.{MIN_MINOR} or newer)"));
    }
    Finding {
        what: "kubernetes",
        detail,
        ok,
    }
}

/// Major and minor from the API server's `/version`; providers append
/// markers such as `+` to the minor (`"36+"`).
fn parse_minor(major: &str, minor: &str) -> Option<(u32, u32)> {
    let digits = |s: &str| -> Option<u32> {
        s.trim_end_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .ok()
    };
    Some((digits(major)?, digits(minor)?))
}

async fn nodes_finding(client: &Client) -> Finding {
    let nodes = match Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
    {
        Ok(nodes) => nodes,
        Err(kube::Error::Api(status)) if status.code == 403 => {
            return Finding {
                what: "nodes",
                detail: "may not list nodes (forbidden)".to_string(),
                ok: false,
            };
        }
        Err(e) => {
            return Finding {
                what: "nodes",
                detail: format!("listing nodes failed: {e}"),
                ok: false,
            };
        }
    };
    let ready = nodes
        .items
        .iter()
        .filter(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .count();
    Finding {
        what: "nodes",
        detail: format!("{ready} of {} Ready", nodes.items.len()),
        ok: ready > 0,
    }
}

async fn permissions_finding(client: &Client) -> Result<Finding> {
    let api = Api::<SelfSubjectAccessReview>::all(client.clone());
    let mut denied = Vec::new();
    for verb in VERBS {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(verb.to_string()),
                    group: Some("*".to_string()),
                    resource: Some("*".to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let answer = api
            .create(&PostParams::default(), &review)
            .await
            .with_context(|| format!("asking the API server whether we may {verb} resources"))?;
        if !answer.status.is_some_and(|s| s.allowed) {
            denied.push(verb);
        }
    }
    Ok(if denied.is_empty() {
        Finding {
            what: "permissions",
            detail: format!("may {} all resources", VERBS.join(", ")),
            ok: true,
        }
    } else {
        Finding {
            what: "permissions",
            detail: format!(
                "may not {} all resources; gyro's controller needs {}",
                denied.join(", "),
                VERBS.join(", ")
            ),
            ok: false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_versions_with_provider_suffixes_parse() {
        assert_eq!(parse_minor("1", "36"), Some((1, 36)));
        assert_eq!(parse_minor("1", "36+"), Some((1, 36)));
        assert_eq!(parse_minor("1", ""), None);
    }

    #[test]
    fn old_clusters_fail_the_version_check() {
        assert!(!version_finding("u", "v1.28.0", "1", "28").ok);
        assert!(version_finding("u", "v1.36.3", "1", "36").ok);
        let f = version_finding("u", "v1.32.1", "1", "32");
        assert!(f.detail.contains("needs Kubernetes 1.33"), "{}", f.detail);
    }
}

//! `gyro install`: installs gyro into the cluster: Argo CD's CRDs, the
//! controller's namespace, ServiceAccount and RBAC, its Deployment and
//! Service.
//!
//! The manifests are the files under `deploy/`, embedded in the binary and
//! built with gyro's own Kustomize (so `gyro install --print` is what
//! `kustomize build deploy/` prints, and `kubectl apply --server-side -k
//! deploy/` installs the same objects). They are applied the way a sync
//! applies an Application's objects (`sync::plan` for the kind order,
//! `sync::apply` for server-side apply as field manager `gyro`), CRDs first
//! and waited for until the API server serves them. Applying again changes
//! nothing that is already as described.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use ::render::Value;
use ::render::fs::MemFs;
use anyhow::{Context, Result, bail};
use clap::Args;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client};
use sync::apply::{Outcome, Status};
use sync::plan::{self, Plan};

use crate::kubeconfig::KubeArgs;

/// The namespace `deploy/kustomization.yaml` installs into.
pub const DEFAULT_NAMESPACE: &str = "argocd";

/// How long a new CRD may take to be served before the install gives up.
const CRD_ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(60);

/// Every file under `deploy/`, by its path in the repository. A unit test
/// checks that none is missing.
const DEPLOY_FILES: &[(&str, &str)] = &[
    (
        "deploy/kustomization.yaml",
        include_str!("../../../deploy/kustomization.yaml"),
    ),
    (
        "deploy/crds/kustomization.yaml",
        include_str!("../../../deploy/crds/kustomization.yaml"),
    ),
    (
        "deploy/crds/application-crd.yaml",
        include_str!("../../../deploy/crds/application-crd.yaml"),
    ),
    (
        "deploy/crds/appproject-crd.yaml",
        include_str!("../../../deploy/crds/appproject-crd.yaml"),
    ),
    (
        "deploy/crds/applicationset-crd.yaml",
        include_str!("../../../deploy/crds/applicationset-crd.yaml"),
    ),
    (
        "deploy/controller/namespace.yaml",
        include_str!("../../../deploy/controller/namespace.yaml"),
    ),
    (
        "deploy/controller/rbac.yaml",
        include_str!("../../../deploy/controller/rbac.yaml"),
    ),
    (
        "deploy/controller/deployment.yaml",
        include_str!("../../../deploy/controller/deployment.yaml"),
    ),
    (
        "deploy/controller/service.yaml",
        include_str!("../../../deploy/controller/service.yaml"),
    ),
];

#[derive(Args, Debug)]
pub struct InstallArgs {
    /// The namespace to install the controller into; it watches the
    /// Applications there and reads repository Secrets from it.
    #[arg(long, short = 'n', value_name = "NS", default_value = DEFAULT_NAMESPACE)]
    namespace: String,

    /// Let the API server check every object without changing anything
    /// (server-side dry run).
    #[arg(long, conflicts_with = "print")]
    dry_run: bool,

    /// Print the manifests as a YAML stream instead of installing them (no
    /// cluster needed).
    #[arg(long)]
    print: bool,
}

pub async fn run(kube: &KubeArgs, args: InstallArgs) -> Result<ExitCode> {
    let objects = manifests(&args.namespace)?;
    if args.print {
        let text = ::render::yaml::to_yaml_stream(&objects);
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .context("writing to standard output")?;
        return Ok(ExitCode::SUCCESS);
    }
    let config = kube.config().await?;
    let client = Client::try_from(config).context("building the Kubernetes client")?;
    install(&client, &objects, &args.namespace, args.dry_run).await?;
    Ok(ExitCode::SUCCESS)
}

/// The objects to install into `namespace`, in `kustomize build` order.
///
/// For the default namespace this is `kustomize build deploy/`; for another
/// one, an overlay over `deploy/` that sets `namespace:` (which moves the
/// Namespace object and every namespaced object) and points the
/// ClusterRoleBinding's subject at the ServiceAccount's new namespace (the
/// Deployment's arguments follow the pod's namespace by themselves).
pub fn manifests(namespace: &str) -> Result<Vec<Value>> {
    check_namespace_name(namespace)?;
    let mut fs = MemFs::new();
    for (path, text) in DEPLOY_FILES {
        fs.add(path, *text);
    }
    let dir = if namespace == DEFAULT_NAMESPACE {
        "deploy"
    } else {
        fs.add("install/kustomization.yaml", overlay(namespace));
        "install"
    };
    ::render::kustomize::build(&fs, dir)
        .with_context(|| format!("building the embedded {dir}/kustomization.yaml"))
}

/// The kustomization that moves the installation to `namespace` (a valid
/// namespace name, so it needs no quoting).
pub fn overlay(namespace: &str) -> String {
    format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {namespace}
resources:
- ../deploy
patches:
- target:
    kind: ClusterRoleBinding
    name: gyro-controller
  patch: |-
    - op: replace
      path: /subjects/0/namespace
      value: {namespace}
"
    )
}

/// A namespace name must be a DNS label (RFC 1123): checked here so a typo
/// is named before anything is built or sent.
fn check_namespace_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !valid {
        bail!(
            "--namespace {name:?} is not a valid namespace name: use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit"
        );
    }
    Ok(())
}

/// Applies `objects`: CRDs first (waited for until Established), then the
/// rest in Argo CD's kind order. Prints one line per object.
async fn install(client: &Client, objects: &[Value], namespace: &str, dry_run: bool) -> Result<()> {
    let is_crd =
        |o: &&Value| o.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition");
    let crds: Vec<Value> = objects.iter().filter(is_crd).cloned().collect();
    let mut rest: Vec<Value> = objects.iter().filter(|o| !is_crd(o)).cloned().collect();

    // One column for the object names, so the outcomes line up.
    let width = objects.iter().map(|o| key_of(o).len()).max().unwrap_or(0);
    apply(client, &crds, dry_run, width).await?;
    if !dry_run {
        for crd in &crds {
            let name = crd
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            wait_established(client, name).await?;
        }
    }

    // A server-side dry run cannot create the namespace, so the server
    // refuses to check objects in it while it does not exist yet.
    let mut unchecked = Vec::new();
    if dry_run && !namespace_exists(client, namespace).await? {
        rest.retain(|o| {
            let inside =
                o.pointer("/metadata/namespace").and_then(Value::as_str) == Some(namespace);
            if inside {
                unchecked.push(key_of(o));
            }
            !inside
        });
    }
    apply(client, &rest, dry_run, width).await?;
    for key in unchecked {
        println!("{key:<width$}  not checked: namespace {namespace} does not exist yet");
    }
    if !dry_run {
        println!(
            "gyro is installed in namespace {namespace}; `kubectl -n {namespace} get deployment gyro-controller` shows the controller"
        );
    }
    Ok(())
}

/// One server-side apply of `objects` through a sync plan (no pruning:
/// an install never deletes).
async fn apply(client: &Client, objects: &[Value], dry_run: bool, width: usize) -> Result<()> {
    if objects.is_empty() {
        return Ok(());
    }
    let options = sync::SyncOptions::default();
    let plan: Plan = plan::build(&plan::Input {
        desired: objects,
        live: &[],
        in_sync: &|_| false,
        options: &options,
        prune: false,
        namespace: "",
        cluster_scoped: &|_, _| false,
    })
    .context("planning the install")?;
    let result = sync::apply::run(client, &plan, dry_run).await;
    let suffix = if dry_run { " (server dry run)" } else { "" };
    for Outcome {
        key,
        status,
        message,
        ..
    } in &result.resources
    {
        match status {
            Status::Synced => println!("{:<width$}  applied{suffix}", key.to_string()),
            _ => println!("{:<width$}  {message}", key.to_string()),
        }
    }
    if let Some(failed) = result.resources.iter().find(|o| o.status == Status::Failed) {
        bail!(
            "installing {} failed: {}; nothing after it was applied",
            failed.key,
            failed.message
        );
    }
    Ok(())
}

async fn wait_established(client: &Client, name: &str) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    match tokio::time::timeout(
        CRD_ESTABLISHED_TIMEOUT,
        await_condition(api, name, conditions::is_crd_established()),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e).with_context(|| format!("watching CustomResourceDefinition {name}")),
        Err(_) => bail!(
            "CustomResourceDefinition {name} is not Established after {CRD_ESTABLISHED_TIMEOUT:?}; `kubectl get crd {name} -o yaml` shows why"
        ),
    }
}

async fn namespace_exists(client: &Client, name: &str) -> Result<bool> {
    let api: Api<Namespace> = Api::all(client.clone());
    let found = api
        .get_opt(name)
        .await
        .with_context(|| format!("reading namespace {name}"))?;
    Ok(found.is_some())
}

fn key_of(obj: &Value) -> String {
    plan::ResourceKey::of(obj).map_or_else(|| "(unnamed object)".to_string(), |k| k.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file under deploy/ is embedded: a file added there and not
    /// here would be missing from `gyro install` while `kubectl apply -k`
    /// has it (the kustomize build would fail on the missing file anyway,
    /// but an unreferenced one would go unnoticed).
    #[test]
    fn every_deploy_file_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut on_disk = Vec::new();
        let mut dirs = vec![root.join("deploy")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    let rel = path.strip_prefix(&root).unwrap();
                    on_disk.push(rel.to_str().unwrap().to_string());
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = DEPLOY_FILES.iter().map(|(p, _)| p.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn image_tag_is_the_crate_version() {
        let objects = manifests(DEFAULT_NAMESPACE).unwrap();
        let deployment = objects.iter().find(|o| o["kind"] == "Deployment").unwrap();
        assert_eq!(
            deployment["spec"]["template"]["spec"]["containers"][0]["image"],
            format!("ghcr.io/gyro-cd/gyro:{}", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn another_namespace_moves_everything_namespaced() {
        let objects = manifests("team-a").unwrap();
        let text = ::render::yaml::to_yaml_stream(&objects);
        assert!(!text.contains("argocd"), "{text}");
        let ns = objects.iter().find(|o| o["kind"] == "Namespace").unwrap();
        assert_eq!(ns["metadata"]["name"], "team-a");
        let binding = objects
            .iter()
            .find(|o| o["kind"] == "ClusterRoleBinding")
            .unwrap();
        assert_eq!(binding["subjects"][0]["namespace"], "team-a");
        for o in &objects {
            let namespaced = !matches!(
                o["kind"].as_str(),
                Some(
                    "Namespace" | "CustomResourceDefinition" | "ClusterRole" | "ClusterRoleBinding"
                )
            );
            if namespaced {
                assert_eq!(o["metadata"]["namespace"], "team-a", "{o}");
            }
        }
    }

    #[test]
    fn invalid_namespace_names_are_refused() {
        for bad in ["", "Argo", "-a", "a-", "a_b", "a/b", &"a".repeat(64)] {
            let err = manifests(bad).unwrap_err().to_string();
            assert!(err.contains("not a valid namespace name"), "{bad}: {err}");
        }
    }
}

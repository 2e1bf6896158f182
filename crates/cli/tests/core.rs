//! The CLI's `--core` mode against the real test cluster, no gyro server:
//! `gyro diff` compares a rendered directory with the live objects through
//! a server-side apply dry run (exit code 1 on differences, 0 when equal),
//! and `gyro app list/get --core` read Applications from the cluster.

use std::process::{Command, Output};

use anyhow::Result;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use testkit::{TestNamespace, describe_output};

fn gyro(args: &[&str]) -> Result<Output> {
    let kubeconfig = testkit::kubeconfig_path()?;
    Ok(Command::new(env!("CARGO_BIN_EXE_gyro"))
        .args(args)
        .args(["--kubeconfig", &kubeconfig.display().to_string()])
        .env_remove("KUBECONFIG")
        .env_remove("GYRO_SERVER")
        .env("GYRO_CONFIG", "/nonexistent/gyro-config")
        .output()?)
}

fn configmap(ns: &str, level: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\n  namespace: {ns}\ndata:\n  LEVEL: {level}\n"
    )
}

#[tokio::test]
async fn diff_compares_a_directory_with_the_live_objects() -> Result<()> {
    let client = testkit::client().await?;
    let ns = TestNamespace::create(&client, "cli-core-diff").await?;
    let ns = ns.name();
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("cm.yaml"), configmap(ns, "debug"))?;
    let path = dir.path().display().to_string();

    // Missing in the cluster: the whole object is the difference.
    let out = gyro(&["diff", &path])?;
    assert_eq!(out.status.code(), Some(1), "{}", describe_output(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("===== ConfigMap {ns}/web-config")),
        "{text}"
    );
    assert!(text.contains("+  LEVEL: debug"), "{text}");

    // Live with another value: a one-line change.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let live: Value = serde_saphyr::from_str(&configmap(ns, "info"))?;
    cms.patch(
        "web-config",
        &PatchParams::apply("gyro"),
        &Patch::Apply(&live),
    )
    .await?;
    let out = gyro(&["diff", &path])?;
    assert_eq!(out.status.code(), Some(1), "{}", describe_output(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("-  LEVEL: info\n+  LEVEL: debug"), "{text}");

    // Equal: nothing printed, exit code 0.
    std::fs::write(dir.path().join("cm.yaml"), configmap(ns, "info"))?;
    let out = gyro(&["diff", &path])?;
    assert_eq!(out.status.code(), Some(0), "{}", describe_output(&out));
    assert!(out.stdout.is_empty(), "{}", describe_output(&out));

    // Not a directory: a clear error, the generic exit code.
    let out = gyro(&["diff", "/nonexistent/dir"])?;
    assert_eq!(out.status.code(), Some(20), "{}", describe_output(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/nonexistent/dir: not a directory"),
        "{}",
        describe_output(&out)
    );
    Ok(())
}

#[tokio::test]
async fn app_list_and_get_read_the_cluster_with_core() -> Result<()> {
    let client = testkit::client().await?;
    api::crd::install(&client, "gyro-cli-test").await?;
    let ns = TestNamespace::create(&client, "cli-core-apps").await?;
    let ns = ns.name();
    let apps: Api<api::Application> = Api::namespaced(client.clone(), ns);
    for (name, project) in [("one", "default"), ("two", "other")] {
        let app: api::Application = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "labels": {"tier": name}},
            "spec": {"project": project,
                "source": {"repoURL": "https://example.com/r.git", "path": "p", "targetRevision": "HEAD"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": ns}}
        }))?;
        apps.patch(
            name,
            &PatchParams::apply("gyro-cli-test"),
            &Patch::Apply(&app),
        )
        .await?;
    }

    let out = gyro(&["app", "list", "--core", "-N", ns, "-o", "json"])?;
    assert!(out.status.success(), "{}", describe_output(&out));
    let list: Value = serde_json::from_slice(&out.stdout)?;
    let mut names: Vec<&str> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["metadata"]["name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["one", "two"]);

    let out = gyro(&["app", "list", "--core", "-N", ns, "-p", "other"])?;
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("NAME"), "{}", describe_output(&out));
    assert!(
        table.contains("two") && !table.contains("\none "),
        "{table}"
    );

    let out = gyro(&[
        "app", "list", "--core", "-N", ns, "-l", "tier=one", "-o", "name",
    ])?;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "one\n",
        "{}",
        describe_output(&out)
    );

    let out = gyro(&["app", "get", "one", "--core", "-N", ns])?;
    assert!(out.status.success(), "{}", describe_output(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Name:") && text.contains(&format!("{ns}/one")),
        "{text}"
    );
    assert!(text.contains("https://example.com/r.git"), "{text}");

    let out = gyro(&["app", "get", "missing", "--core", "-N", ns])?;
    assert_eq!(out.status.code(), Some(13), "{}", describe_output(&out));

    // Without a server and without --core, the commands that need one say so.
    let out = gyro(&["app", "sync", "one"])?;
    assert_eq!(out.status.code(), Some(20), "{}", describe_output(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no gyro server"),
        "{}",
        describe_output(&out)
    );
    Ok(())
}

#[test]
fn completions_are_generated_and_usage_errors_exit_2() -> Result<()> {
    for shell in ["bash", "zsh", "fish"] {
        let out = gyro(&["completion", shell])?;
        assert!(out.status.success(), "{}", describe_output(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains("rollback") && script.contains("hard-refresh"),
            "{shell}"
        );
    }
    let out = gyro(&["app", "sync"])?;
    assert_eq!(out.status.code(), Some(2), "{}", describe_output(&out));
    let out = gyro(&["app", "list", "-o", "csv"])?;
    assert_eq!(out.status.code(), Some(2), "{}", describe_output(&out));
    let out = gyro(&["--help"])?;
    assert_eq!(out.status.code(), Some(0), "{}", describe_output(&out));
    Ok(())
}

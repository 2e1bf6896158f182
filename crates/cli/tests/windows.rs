//! `gyro proj windows` and `gyro app windows` against the real test
//! cluster: a project's windows as a table with which are active, the
//! windows that apply to an Application with whether it may sync now, and
//! a window that does not parse named by its field.

use std::process::{Command, Output};

use anyhow::Result;
use api::{AppProject, Application};
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use testkit::{TestNamespace, describe_output};

const MANAGER: &str = "gyro-cli-test";

fn gyro(args: &[&str]) -> Result<Output> {
    let kubeconfig = testkit::kubeconfig_path()?;
    Ok(Command::new(env!("CARGO_BIN_EXE_gyro"))
        .args(args)
        .args(["--kubeconfig", &kubeconfig.display().to_string()])
        .env_remove("KUBECONFIG")
        .output()?)
}

async fn apply<K>(api: &Api<K>, value: Value) -> Result<()>
where
    K: kube::Resource
        + Clone
        + k8s_openapi::serde::Serialize
        + k8s_openapi::serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(value)?;
    let name = obj.meta().name.clone().unwrap_or_default();
    api.patch(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&obj),
    )
    .await?;
    Ok(())
}

fn project(name: &str, windows: Value) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
        "metadata": {"name": name},
        "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}],
                 "syncWindows": windows}
    })
}

#[tokio::test]
async fn windows_are_listed_for_projects_and_applications() -> Result<()> {
    let client = testkit::client().await?;
    api::crd::install(&client, MANAGER).await?;
    let ns = TestNamespace::create(&client, "cli-windows").await?;
    let ns = ns.name();
    let projects: Api<AppProject> = Api::namespaced(client.clone(), ns);
    let apps: Api<Application> = Api::namespaced(client.clone(), ns);
    apply(
        &projects,
        project(
            "team",
            json!([
                {"kind": "deny", "schedule": "* * * * *", "duration": "1h", "applications": ["web"], "manualSync": true},
                {"kind": "allow", "schedule": "0 3 * * *", "duration": "1m", "timeZone": "Europe/Paris", "namespaces": ["nowhere"]}
            ]),
        ),
    )
    .await?;
    apply(
        &apps,
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "web"},
            "spec": {"project": "team",
                     "source": {"repoURL": "https://example.com/repo.git", "path": "."},
                     "destination": {"server": "https://kubernetes.default.svc", "namespace": ns}}
        }),
    )
    .await?;

    let out = gyro(&["proj", "windows", "team", "--namespace", ns])?;
    let shown = describe_output(&out);
    assert!(out.status.success(), "{shown}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            vec![
                "INDEX",
                "KIND",
                "SCHEDULE",
                "DURATION",
                "TIME ZONE",
                "APPLICATIONS",
                "NAMESPACES",
                "CLUSTERS",
                "MANUAL SYNC",
                "ACTIVE"
            ],
            vec![
                "0",
                "deny",
                "* * * * *",
                "1h",
                "UTC",
                "web",
                "-",
                "-",
                "true",
                "yes"
            ],
            vec![
                "1",
                "allow",
                "0 3 * * *",
                "1m",
                "Europe/Paris",
                "-",
                "nowhere",
                "-",
                "false",
                "no"
            ],
        ],
        "{shown}"
    );

    let out = gyro(&["app", "windows", "web", "-n", ns])?;
    let shown = describe_output(&out);
    assert!(out.status.success(), "{shown}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("Application {ns}/web (project team)")),
        "{shown}"
    );
    // Only the deny window applies (the allow window is for another namespace).
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("0  ") && l.contains("deny")),
        "{shown}"
    );
    assert!(!stdout.lines().any(|l| l.starts_with("1  ")), "{shown}");
    assert!(
        stdout.contains(
            "Automated sync: blocked (blocked by sync window: deny window spec.syncWindows[0]"
        ),
        "{shown}"
    );
    assert!(stdout.contains("Manual sync:    allowed"), "{shown}");
    assert!(stdout.contains("Next change:"), "{shown}");

    // A window that does not parse is named by its field.
    apply(
        &projects,
        project(
            "team",
            json!([{"kind": "deny", "schedule": "at noon", "duration": "1h"}]),
        ),
    )
    .await?;
    let out = gyro(&["proj", "windows", "team", "--namespace", ns])?;
    let shown = describe_output(&out);
    assert!(!out.status.success(), "{shown}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("AppProject team spec.syncWindows[0].schedule"),
        "{shown}"
    );
    let out = gyro(&["app", "windows", "web", "-n", ns])?;
    assert!(!out.status.success(), "{}", describe_output(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Automated sync: blocked"));

    // A project that does not exist, and the implicit default project.
    let out = gyro(&["proj", "windows", "missing", "--namespace", ns])?;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains(&format!("AppProject {ns}/missing does not exist")),
        "{}",
        describe_output(&out)
    );
    let out = gyro(&["proj", "windows", "default", "--namespace", ns])?;
    assert!(out.status.success(), "{}", describe_output(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("AppProject default has no sync windows")
    );
    Ok(())
}

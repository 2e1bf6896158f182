//! `gyro check` against the real test cluster: it passes with admin
//! credentials, reports missing permissions for a service account with no
//! RBAC, and names the kubeconfig or the API address it could not use.

use std::process::{Command, Output};

use anyhow::{Context, Result};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use kube::config::{AuthInfo, Kubeconfig};
use testkit::{TestNamespace, describe_output};

fn gyro(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gyro"))
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("the gyro binary runs")
}

#[tokio::test]
async fn check_passes_with_admin_credentials() -> Result<()> {
    let kubeconfig = testkit::kubeconfig_path()?;
    let out = gyro(&["check", "--kubeconfig", &kubeconfig.display().to_string()]);
    let shown = describe_output(&out);
    assert!(out.status.success(), "{shown}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("kubernetes   ok   v1.36"), "{shown}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("nodes        ok") && l.contains("Ready")),
        "{shown}"
    );
    assert!(stdout.contains("permissions  ok"), "{shown}");
    Ok(())
}

#[tokio::test]
async fn check_reports_missing_permissions() -> Result<()> {
    let client = testkit::client().await?;
    let ns = TestNamespace::create(&client, "check").await?;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns.name());
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some("nobody".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    accounts.create(&PostParams::default(), &sa).await?;
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(600),
            ..Default::default()
        }),
        ..Default::default()
    };
    let token = accounts
        .create_token_request("nobody", &PostParams::default(), &request)
        .await
        .context("requesting a service account token")?
        .status
        .and_then(|s| s.token)
        .context("the token request returned no token")?;

    // The admin kubeconfig with its user swapped for the service account.
    let mut config = Kubeconfig::read_from(testkit::kubeconfig_path()?)?;
    for named in &mut config.auth_infos {
        named.auth_info = Some(AuthInfo {
            token: Some(token.clone().into()),
            ..Default::default()
        });
    }
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("nobody.kubeconfig");
    std::fs::write(&path, serde_json::to_vec(&config)?)?;

    let out = gyro(&["check", "--kubeconfig", &path.display().to_string()]);
    let shown = describe_output(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("kubernetes   ok"), "{shown}");
    assert!(
        stdout.contains("nodes        FAIL may not list nodes (forbidden)"),
        "{shown}"
    );
    assert!(
        stdout.contains(
            "permissions  FAIL may not get, list, watch, create, patch, delete all resources"
        ),
        "{shown}"
    );
    Ok(())
}

#[test]
fn check_names_a_missing_kubeconfig() {
    let out = gyro(&["check", "--kubeconfig", "/nonexistent/gyro.kubeconfig"]);
    assert_eq!(out.status.code(), Some(20), "{}", describe_output(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("reading kubeconfig /nonexistent/gyro.kubeconfig"),
        "{}",
        describe_output(&out)
    );
}

#[test]
fn check_names_an_unreachable_api_server() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("kubeconfig");
    // Port 1 on loopback: nothing listens there.
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n\
         users:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n\
         current-context: x\n",
    )?;
    let out = gyro(&["check", "--kubeconfig", &path.display().to_string()]);
    assert_eq!(out.status.code(), Some(20), "{}", describe_output(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("cannot reach the Kubernetes API at https://127.0.0.1:1"),
        "{}",
        describe_output(&out)
    );
    Ok(())
}

#[test]
fn help_and_version() {
    let out = gyro(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("gyro {}", env!("CARGO_PKG_VERSION"))
    );
    let out = gyro(&["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("check"));
}

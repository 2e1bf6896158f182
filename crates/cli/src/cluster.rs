//! `gyro cluster add|list`. `add` does what `argocd cluster add` does:
//! with the kubeconfig context, it creates the ServiceAccount
//! `argocd-manager` in `kube-system` of that cluster, a ClusterRole and
//! binding giving it full access, and a token Secret; then it registers the
//! cluster through the API with that bearer token and the context's CA.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine;
use clap::{Args, Subcommand};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use crate::client::{ServerArgs, query};
use crate::kubeconfig::KubeArgs;
use crate::output::{self, Format, s};

#[derive(Subcommand)]
pub enum ClusterCommand {
    /// Register the cluster of a kubeconfig context.
    Add(AddArgs),
    /// List the registered clusters.
    List(ListArgs),
}

#[derive(Args)]
pub struct AddArgs {
    /// The kubeconfig context of the cluster.
    pub context_name: String,
    /// The cluster's name in gyro (default: the context's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Only manage these namespaces (repeat for several; default: all).
    #[arg(long = "namespace")]
    pub namespaces: Vec<String>,
    /// The project the cluster is scoped to.
    #[arg(long)]
    pub project: Option<String>,
    /// The ServiceAccount to create in the cluster.
    #[arg(long, default_value = "argocd-manager")]
    pub service_account: String,
    /// Where the ServiceAccount and its token live.
    #[arg(long, default_value = "kube-system")]
    pub system_namespace: String,
    /// Replace the cluster's settings if it is registered.
    #[arg(long)]
    pub upsert: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Args)]
pub struct ListArgs {
    #[arg(long, short = 'o', value_enum, default_value_t)]
    output: Format,
}

pub async fn run(srv: &ServerArgs, kube: &KubeArgs, cmd: ClusterCommand) -> Result<ExitCode> {
    match cmd {
        ClusterCommand::Add(a) => add(srv, kube, a).await,
        ClusterCommand::List(a) => {
            let list = srv.client()?.get("/api/v1/clusters").await?;
            output::print_list(&list, a.output, "/server", list_rows)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn list_rows(items: &[Value]) -> Vec<Vec<String>> {
    let mut rows = vec![
        ["SERVER", "NAME", "VERSION", "STATUS", "MESSAGE", "PROJECT"]
            .map(String::from)
            .to_vec(),
    ];
    for c in items {
        let mut version = s(c, "/serverVersion");
        if version.is_empty() {
            version = s(c, "/info/serverVersion");
        }
        rows.push(vec![
            s(c, "/server"),
            s(c, "/name"),
            version,
            s(c, "/connectionState/status"),
            s(c, "/connectionState/message"),
            s(c, "/project"),
        ]);
    }
    rows
}

/// DER certificates as one base64-encoded PEM bundle (Argo CD's `caData`).
pub fn ca_data(der_certs: &[Vec<u8>]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut pem = String::new();
    for der in der_certs {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let text = b64.encode(der);
        for chunk in text.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(chunk));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    b64.encode(pem)
}

async fn add(srv: &ServerArgs, kube: &KubeArgs, a: AddArgs) -> Result<ExitCode> {
    let api_client = srv.client()?;
    let ctx = KubeArgs {
        kubeconfig: kube.kubeconfig.clone(),
        context: Some(a.context_name.clone()),
    };
    let config = ctx.config().await?;
    let server_url = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string();
    let ca = match (&config.root_cert, &config.root_cert_file) {
        (Some(certs), _) => Some(ca_data(certs)),
        (None, Some(file)) => {
            let pem = std::fs::read(file)
                .with_context(|| format!("reading the CA {}", file.display()))?;
            Some(base64::engine::general_purpose::STANDARD.encode(pem))
        }
        (None, None) => None,
    };
    let insecure = config.accept_invalid_certs;
    let tls_server_name = config.tls_server_name.clone();
    if !a.yes && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        let answer = crate::session::prompt(&format!(
            "This will create a ServiceAccount `{}` with full cluster level privileges in context `{}`. Continue? [y/n] ",
            a.service_account, a.context_name
        ))?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("Cancelled.");
            return Ok(ExitCode::SUCCESS);
        }
    }
    let client = kube::Client::try_from(config).context("building the Kubernetes client")?;
    let token = install_manager(&client, &a.system_namespace, &a.service_account).await?;
    let mut tls = json!({ "insecure": insecure });
    if let Some(ca) = ca {
        tls["caData"] = json!(ca);
    }
    if let Some(name) = tls_server_name {
        tls["serverName"] = json!(name);
    }
    let mut body = json!({
        "server": server_url,
        "name": a.name.clone().unwrap_or_else(|| a.context_name.clone()),
        "config": { "bearerToken": token, "tlsClientConfig": tls },
        "namespaces": a.namespaces,
    });
    if let Some(p) = &a.project {
        body["project"] = json!(p);
    }
    let upsert = a.upsert.to_string();
    api_client
        .post(
            &format!(
                "/api/v1/clusters{}",
                query(&[("upsert", Some(upsert.as_str()))])
            ),
            &body,
        )
        .await?;
    println!("Cluster '{server_url}' added");
    Ok(ExitCode::SUCCESS)
}

/// Creates (server-side apply, so it is idempotent) the manager
/// ServiceAccount, its ClusterRole and binding and its token Secret, and
/// returns the token once the cluster has filled it in.
async fn install_manager(client: &kube::Client, ns: &str, sa: &str) -> Result<String> {
    let pp = PatchParams::apply("gyro").force();
    let role = format!("{sa}-role");
    let binding = format!("{sa}-role-binding");
    let secret = format!("{sa}-long-lived-token");
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    sas.patch(sa, &pp, &Patch::Apply(json!({
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": { "name": sa, "namespace": ns }
    })))
    .await
    .with_context(|| format!("creating ServiceAccount {ns}/{sa}"))?;
    let roles: Api<ClusterRole> = Api::all(client.clone());
    roles
        .patch(
            &role,
            &pp,
            &Patch::Apply(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": { "name": role },
                "rules": [
                    { "apiGroups": ["*"], "resources": ["*"], "verbs": ["*"] },
                    { "nonResourceURLs": ["*"], "verbs": ["*"] },
                ],
            })),
        )
        .await
        .with_context(|| format!("creating ClusterRole {role}"))?;
    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    bindings
        .patch(&binding, &pp, &Patch::Apply(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": { "name": binding },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role },
            "subjects": [{ "kind": "ServiceAccount", "name": sa, "namespace": ns }],
        })))
        .await
        .with_context(|| format!("creating ClusterRoleBinding {binding}"))?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    secrets
        .patch(
            &secret,
            &pp,
            &Patch::Apply(json!({
                "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                "metadata": { "name": secret, "namespace": ns,
                    "annotations": { "kubernetes.io/service-account.name": sa } },
            })),
        )
        .await
        .with_context(|| format!("creating Secret {ns}/{secret}"))?;
    let start = Instant::now();
    loop {
        let current = secrets
            .get(&secret)
            .await
            .with_context(|| format!("reading Secret {ns}/{secret}"))?;
        if let Some(token) = current.data.as_ref().and_then(|d| d.get("token")) {
            let token = String::from_utf8(token.0.clone())
                .with_context(|| format!("Secret {ns}/{secret}: the token is not UTF-8"))?;
            if !token.is_empty() {
                return Ok(token);
            }
        }
        if start.elapsed() > Duration::from_secs(30) {
            bail!(
                "Secret {ns}/{secret} got no token within 30s: is the cluster's token controller running?"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_data_is_base64_pem() {
        let data = ca_data(&[vec![1, 2, 3]]);
        let pem = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            pem,
            "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n"
        );
        let rows = list_rows(&[
            json!({"server": "https://k:6443", "name": "k", "connectionState": {"status": "Successful"}}),
        ]);
        assert_eq!(
            rows[1],
            vec!["https://k:6443", "k", "", "Successful", "", ""]
        );
    }
}

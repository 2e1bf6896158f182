//! `gyro diff`: without a gyro server, renders a local directory (or an
//! Application's source in it, `--app`) and compares every object with the
//! live one through a server-side-apply dry run, as gyro's controller
//! does. Prints a unified diff per differing object; exit code 1 when any
//! differ (as `argocd app diff`).

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::{Value, json};

use crate::exit;
use crate::kubeconfig::KubeArgs;
use crate::output::s;
use crate::render::RenderArgs;

#[derive(Args)]
pub struct DiffArgs {
    #[command(flatten)]
    render: RenderArgs,
    /// The namespace of namespaced objects that name none (default: the
    /// Application's destination namespace, else the kubeconfig's).
    #[arg(long, short = 'n')]
    namespace: Option<String>,
    /// The namespace the controller runs in, for the tracking label's
    /// instance name (an Application elsewhere is tracked as NS_NAME).
    #[arg(long, default_value = "argocd")]
    controller_namespace: String,
}

pub async fn run(kube: &KubeArgs, a: DiffArgs) -> Result<ExitCode> {
    let (objects, app) = crate::render::objects(&a.render)?;
    let config = kube.config().await?;
    let default_ns = a
        .namespace
        .clone()
        .or_else(|| {
            app.as_ref()
                .map(|app| s(app, "/spec/destination/namespace"))
                .filter(|n| !n.is_empty())
        })
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = kube::Client::try_from(config).context("building the Kubernetes client")?;
    let instance = app.as_ref().map(|app| {
        controller::tracking::instance_name(
            &s(app, "/metadata/namespace"),
            &s(app, "/metadata/name"),
            &a.controller_namespace,
        )
    });
    let rules = diff::IgnoreRules::default();
    let mut differs = false;
    for mut obj in objects {
        if let Some(instance) = &instance {
            controller::tracking::TrackingMethod::Label.track(&mut obj, instance);
        }
        let predicted = match diff::predict::predict(&client, &obj).await {
            Err(diff::Error::MissingNamespace { .. }) => {
                obj["metadata"]["namespace"] = json!(default_ns);
                diff::predict::predict(&client, &obj).await?
            }
            other => other?,
        };
        let live = diff::predict::fetch_live(&client, &predicted)
            .await?
            .unwrap_or(Value::Null);
        let d = diff::diff(&predicted, &live, &rules);
        if d.synced {
            continue;
        }
        differs = true;
        let ns = s(&predicted, "/metadata/namespace");
        let name = s(&predicted, "/metadata/name");
        let id = if ns.is_empty() {
            name
        } else {
            format!("{ns}/{name}")
        };
        println!("\n===== {} {id} ======", s(&predicted, "/kind"));
        print!("{}", d.unified);
    }
    Ok(if differs {
        exit::exit(exit::DIFFERENCES)
    } else {
        ExitCode::SUCCESS
    })
}

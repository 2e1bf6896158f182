//! `gyro proj windows` and `gyro app windows`: an AppProject's sync
//! windows, and which of them apply to an Application and let it sync now,
//! read from the cluster and judged with [`policy::windows`] at the
//! current time.

use std::process::ExitCode;

use anyhow::{Context, Result};
use api::{AppProject, Application};
use clap::Args;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use kube::{Api, Client};
use policy::windows::{self, Target, Window};

use crate::kubeconfig::KubeArgs;
use crate::output::print_table;

#[derive(Args, Debug)]
pub struct ProjWindowsArgs {
    /// The AppProject's name.
    pub project: String,
    /// The namespace of the AppProject (the controller's).
    #[arg(long, short = 'n', default_value = "argocd")]
    pub namespace: String,
}

#[derive(Args, Debug)]
pub struct AppWindowsArgs {
    /// The Application's name.
    pub app: String,
    /// The namespace of the Application.
    #[arg(long, short = 'n', default_value = "argocd")]
    pub namespace: String,
    /// The namespace of its AppProject (the controller's; default: the
    /// Application's).
    #[arg(long)]
    pub project_namespace: Option<String>,
}

async fn client(kube: &KubeArgs) -> Result<Client> {
    Client::try_from(kube.config().await?).context("building the Kubernetes client")
}

/// The project, or the implicit `default` when none of that name exists.
async fn project(client: &Client, namespace: &str, name: &str) -> Result<AppProject> {
    let projects: Api<AppProject> = Api::namespaced(client.clone(), namespace);
    match projects
        .get_opt(name)
        .await
        .with_context(|| format!("reading AppProject {namespace}/{name}"))?
    {
        Some(p) => Ok(p),
        None if name == policy::DEFAULT_PROJECT => Ok(policy::implicit_default_project()),
        None => anyhow::bail!("AppProject {namespace}/{name} does not exist"),
    }
}

/// A window's applications, namespaces or clusters: comma-separated, `-`
/// for none.
pub fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_string()
    } else {
        items.join(",")
    }
}

/// The columns of `proj windows` / `app windows`, read from the cluster or
/// from the server.
pub const HEADER: [&str; 10] = [
    "INDEX",
    "KIND",
    "SCHEDULE",
    "DURATION",
    "TIME ZONE",
    "APPLICATIONS",
    "NAMESPACES",
    "CLUSTERS",
    "MANUAL SYNC",
    "ACTIVE",
];

fn row(w: &Window, now: Timestamp) -> Vec<String> {
    vec![
        w.index.to_string(),
        w.kind.as_str().to_string(),
        w.schedule.clone(),
        w.duration_text.clone(),
        if w.time_zone.is_empty() {
            "UTC".to_string()
        } else {
            w.time_zone.clone()
        },
        list(&w.applications),
        list(&w.namespaces),
        list(&w.clusters),
        w.manual_sync.to_string(),
        if w.active(now) { "yes" } else { "no" }.to_string(),
    ]
}

/// Parses every window; the invalid ones are returned as error lines.
fn parse_all(project: &AppProject) -> (Vec<Window>, Vec<String>) {
    let mut parsed = Vec::new();
    let mut errors = Vec::new();
    for (i, w) in project.spec.sync_windows.iter().flatten().enumerate() {
        match windows::parse_window(i, w) {
            Ok(w) => parsed.push(w),
            Err(e) => errors.push(format!(
                "AppProject {} {e}",
                project.metadata.name.as_deref().unwrap_or("")
            )),
        }
    }
    (parsed, errors)
}

fn report_errors(errors: &[String]) -> ExitCode {
    for e in errors {
        eprintln!("error: {e}");
    }
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

pub async fn proj(kube: &KubeArgs, args: &ProjWindowsArgs) -> Result<ExitCode> {
    let client = client(kube).await?;
    let project = project(&client, &args.namespace, &args.project).await?;
    let now = Timestamp::now();
    let (parsed, errors) = parse_all(&project);
    if parsed.is_empty() && errors.is_empty() {
        println!("AppProject {} has no sync windows", args.project);
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![HEADER.iter().map(|h| h.to_string()).collect()];
    rows.extend(parsed.iter().map(|w| row(w, now)));
    print_table(&rows);
    Ok(report_errors(&errors))
}

pub async fn app(kube: &KubeArgs, args: &AppWindowsArgs) -> Result<ExitCode> {
    let client = client(kube).await?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &args.namespace);
    let app = apps
        .get_opt(&args.app)
        .await
        .with_context(|| format!("reading Application {}/{}", args.namespace, args.app))?
        .with_context(|| format!("Application {}/{} does not exist", args.namespace, args.app))?;
    let project_ns = args.project_namespace.as_deref().unwrap_or(&args.namespace);
    let project = project(&client, project_ns, &app.spec.project).await?;
    let now = Timestamp::now();
    // The cluster Secrets live beside the projects (the controller's
    // namespace); a destination by name resolves through them.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), project_ns);
    let clusters = secrets
        .list(&ListParams::default().labels("argocd.argoproj.io/secret-type=cluster"))
        .await
        .with_context(|| format!("listing the cluster Secrets in {project_ns}"))?
        .items;
    let dest = controller::governance::resolved_destination(&app, &clusters);
    let target = Target {
        application: &args.app,
        namespace: &dest.namespace,
        server: &dest.server,
        cluster: &dest.name,
    };
    println!(
        "Application {}/{} (project {})",
        args.namespace, args.app, app.spec.project
    );
    let (parsed, errors) = parse_all(&project);
    if !errors.is_empty() {
        println!("Automated sync: blocked (the project's sync windows are invalid)");
        println!("Manual sync:    blocked (the project's sync windows are invalid)");
        return Ok(report_errors(&errors));
    }
    let verdict = windows::evaluate(&parsed, &target, now);
    let applying: Vec<&Window> = parsed
        .iter()
        .filter(|w| verdict.matching.contains(&w.index))
        .collect();
    if applying.is_empty() {
        println!("No sync window applies");
    } else {
        let mut rows = vec![HEADER.iter().map(|h| h.to_string()).collect()];
        rows.extend(applying.iter().map(|w| row(w, now)));
        print_table(&rows);
    }
    let allowed = |yes: bool| if yes { "allowed" } else { "blocked" };
    match &verdict.reason {
        Some(reason) => println!("Automated sync: {} ({reason})", allowed(verdict.automated)),
        None => println!("Automated sync: {}", allowed(verdict.automated)),
    }
    println!("Manual sync:    {}", allowed(verdict.manual));
    if let Some(next) = verdict.next_change {
        println!("Next change:    {next}");
    }
    Ok(ExitCode::SUCCESS)
}

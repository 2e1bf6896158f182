//! `gyro app ...`: Applications through the API server, with argocd's
//! command names and flags (`list`, `get`, `diff`, `sync`, `rollback`,
//! `history`, `wait`, `manifests`, `delete`, `set`, `create`). `list` and
//! `get` also work with `--core`, reading Applications straight from the
//! cluster.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::client::{ApiClient, ServerArgs, encode, query};
use crate::exit::{self, Failure};
use crate::kubeconfig::KubeArgs;
use crate::output::{self, Format, s};

#[derive(Subcommand)]
pub enum AppCommand {
    /// List Applications.
    List(ListArgs),
    /// An Application's details and resources.
    Get(GetArgs),
    /// The differences between the target and the live state (exit code 1
    /// when there are any).
    Diff(DiffArgs),
    /// Sync an Application to its target state.
    Sync(SyncArgs),
    /// Roll back to a deployment in the history (default: the previous one).
    Rollback(RollbackArgs),
    /// The deployments an Application has had.
    History(HistoryArgs),
    /// Wait until an Application is synced, healthy, and not operating.
    Wait(WaitArgs),
    /// The manifests an Application renders to.
    Manifests(ManifestsArgs),
    /// Delete an Application (and, by default, its resources).
    Delete(DeleteArgs),
    /// Change an Application's spec.
    Set(SetArgs),
    /// Create an Application from flags or a file.
    Create(CreateArgs),
    /// The sync windows that apply to an Application, which are active,
    /// and whether automated and manual syncs are allowed now.
    Windows(crate::windows::AppWindowsArgs),
}

#[derive(Args)]
pub struct NameArgs {
    /// The Application's name.
    pub name: String,
    /// The Application's namespace (default: the server's).
    #[arg(long, short = 'N')]
    pub app_namespace: Option<String>,
}

impl NameArgs {
    /// `/api/v1/applications/NAME`, then `suffix`, with `appNamespace` and
    /// `extra` in the query.
    fn path(&self, suffix: &str, extra: &[(&str, Option<&str>)]) -> String {
        let mut pairs = vec![("appNamespace", self.app_namespace.as_deref())];
        pairs.extend_from_slice(extra);
        format!(
            "/api/v1/applications/{}{suffix}{}",
            encode(&self.name),
            query(&pairs)
        )
    }
}

#[derive(Args)]
pub struct ListArgs {
    /// Only Applications with these labels (a label selector).
    #[arg(long, short = 'l')]
    selector: Option<String>,
    /// Only Applications of this project (repeat for several).
    #[arg(long, short = 'p')]
    project: Vec<String>,
    /// The namespace to read from with --core (default: the kubeconfig's).
    #[arg(long, short = 'N')]
    app_namespace: Option<String>,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    output: Format,
}

#[derive(Args)]
pub struct GetArgs {
    #[command(flatten)]
    app: NameArgs,
    /// Compare with the latest revision in Git before answering.
    #[arg(long)]
    refresh: bool,
    /// As --refresh, and regenerate the manifests (skip the caches).
    #[arg(long, conflicts_with = "refresh")]
    hard_refresh: bool,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    output: Format,
}

#[derive(Args)]
pub struct DiffArgs {
    #[command(flatten)]
    app: NameArgs,
    /// Compare the live state with the manifests of this local directory
    /// (the Application's source path), rendered by the server.
    #[arg(long, value_name = "DIR", conflicts_with = "revision")]
    local: Option<PathBuf>,
    /// The repository root that --local lies in, uploaded whole so that
    /// kustomizations may refer to files above --local (default: --local).
    #[arg(long, value_name = "DIR", requires = "local")]
    local_repo_root: Option<PathBuf>,
    /// Compare with this revision instead of the target revision.
    #[arg(long)]
    revision: Option<String>,
    /// Exit 0 even when there are differences.
    #[arg(long = "exit-code", default_value_t = true, action = clap::ArgAction::Set)]
    exit_code: bool,
}

#[derive(Args)]
pub struct SyncArgs {
    #[command(flatten)]
    app: NameArgs,
    /// Sync to this revision instead of the target revision.
    #[arg(long)]
    revision: Option<String>,
    /// Delete resources that are no longer in Git.
    #[arg(long)]
    prune: bool,
    /// Plan the sync without changing anything.
    #[arg(long)]
    dry_run: bool,
    /// Replace resources that cannot be patched (delete and re-create).
    #[arg(long)]
    force: bool,
    /// Sync only these resources, GROUP:KIND:NAME or
    /// GROUP:KIND:NAMESPACE/NAME (repeat for several).
    #[arg(long = "resource", value_name = "GROUP:KIND:NAME")]
    resources: Vec<String>,
    /// Sync options such as CreateNamespace=true (repeat for several).
    #[arg(long = "sync-option")]
    sync_options: Vec<String>,
    /// Do not wait for the operation to finish.
    #[arg(long = "async")]
    is_async: bool,
    /// Seconds to wait for the operation (0: no limit).
    #[arg(long, default_value_t = 0)]
    timeout: u64,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    output: Format,
}

#[derive(Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    app: NameArgs,
    /// The history id to roll back to (default: the previous deployment).
    id: Option<i64>,
    /// Delete resources that are not in that deployment.
    #[arg(long)]
    prune: bool,
    /// Seconds to wait for the operation (0: no limit).
    #[arg(long, default_value_t = 0)]
    timeout: u64,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    output: Format,
}

#[derive(Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    app: NameArgs,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    output: Format,
}

#[derive(Args)]
pub struct WaitArgs {
    #[command(flatten)]
    app: NameArgs,
    /// Wait for health status Healthy.
    #[arg(long)]
    health: bool,
    /// Wait for sync status Synced.
    #[arg(long)]
    sync: bool,
    /// Wait until no operation is in progress.
    #[arg(long)]
    operation: bool,
    /// Seconds to wait (0: no limit); exit code 3 when it runs out.
    #[arg(long, default_value_t = 0)]
    timeout: u64,
}

#[derive(Args)]
pub struct ManifestsArgs {
    #[command(flatten)]
    app: NameArgs,
    /// The manifests of this revision instead of the target revision.
    #[arg(long)]
    revision: Option<String>,
}

#[derive(Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    app: NameArgs,
    /// Also delete the Application's resources.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    cascade: bool,
    /// How the resources are deleted: foreground or background.
    #[arg(long)]
    propagation_policy: Option<String>,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    yes: bool,
}

#[derive(Args)]
pub struct SetArgs {
    #[command(flatten)]
    app: NameArgs,
    #[command(flatten)]
    spec: SpecFlags,
    /// A Helm parameter, NAME=VALUE (repeat for several).
    #[arg(long = "parameter", short = 'p', value_name = "NAME=VALUE")]
    params: Vec<String>,
}

/// Flags shared by `app create` and `app set`.
#[derive(Args, Default)]
pub struct SpecFlags {
    /// The repository URL.
    #[arg(long)]
    repo: Option<String>,
    /// The path inside the repository.
    #[arg(long)]
    path: Option<String>,
    /// The target revision (branch, tag, commit).
    #[arg(long)]
    revision: Option<String>,
    /// The destination cluster's API server URL.
    #[arg(long)]
    dest_server: Option<String>,
    /// The destination cluster's name (instead of --dest-server).
    #[arg(long, conflicts_with = "dest_server")]
    dest_name: Option<String>,
    /// The destination namespace.
    #[arg(long)]
    dest_namespace: Option<String>,
    /// The AppProject.
    #[arg(long)]
    project: Option<String>,
    /// `automated` (or `auto`, `automatic`) or `none`.
    #[arg(long)]
    sync_policy: Option<String>,
    /// With automated sync: undo changes made in the cluster.
    #[arg(long)]
    self_heal: Option<Option<bool>>,
    /// With automated sync: delete resources no longer in Git.
    #[arg(long)]
    auto_prune: Option<Option<bool>>,
}

#[derive(Args)]
pub struct CreateArgs {
    /// The Application's name (not with --file).
    #[arg(required_unless_present = "file")]
    name: Option<String>,
    /// The Application's namespace (default: the server's).
    #[arg(long, short = 'N')]
    app_namespace: Option<String>,
    /// An Application manifest (YAML or JSON) to create.
    #[arg(long, short = 'f', conflicts_with = "name")]
    file: Option<PathBuf>,
    /// Update the Application if it exists with another spec.
    #[arg(long)]
    upsert: bool,
    #[command(flatten)]
    spec: SpecFlags,
}

pub async fn run(srv: &ServerArgs, kube: &KubeArgs, cmd: AppCommand) -> Result<ExitCode> {
    match cmd {
        AppCommand::List(a) => list(srv, kube, a).await,
        AppCommand::Get(a) => get(srv, kube, a).await,
        AppCommand::Windows(a) => crate::windows::app(kube, &a).await,
        AppCommand::Diff(a) => diff(&srv.client()?, a).await,
        AppCommand::Sync(a) => sync(&srv.client()?, a).await,
        AppCommand::Rollback(a) => rollback(&srv.client()?, a).await,
        AppCommand::History(a) => history(&srv.client()?, a).await,
        AppCommand::Wait(a) => wait_cmd(&srv.client()?, a).await,
        AppCommand::Manifests(a) => manifests(&srv.client()?, a).await,
        AppCommand::Delete(a) => delete(&srv.client()?, a).await,
        AppCommand::Set(a) => set(&srv.client()?, a).await,
        AppCommand::Create(a) => create(&srv.client()?, a).await,
    }
}

async fn core_client(kube: &KubeArgs) -> Result<(kube::Client, String)> {
    let config = kube.config().await?;
    let ns = config.default_namespace.clone();
    let client = kube::Client::try_from(config).context("building the Kubernetes client")?;
    Ok((client, ns))
}

async fn list(srv: &ServerArgs, kube: &KubeArgs, a: ListArgs) -> Result<ExitCode> {
    let items = if srv.core {
        let (client, ns) = core_client(kube).await?;
        let ns = a.app_namespace.clone().unwrap_or(ns);
        let api: kube::Api<api::Application> = kube::Api::namespaced(client, &ns);
        let mut lp = kube::api::ListParams::default();
        if let Some(sel) = &a.selector {
            lp = lp.labels(sel);
        }
        let list = api
            .list(&lp)
            .await
            .with_context(|| format!("listing Applications in namespace {ns}"))?;
        let mut items = Vec::new();
        for app in list.items {
            items.push(serde_json::to_value(app).context("serializing an Application")?);
        }
        items.retain(|app| a.project.is_empty() || a.project.contains(&s(app, "/spec/project")));
        items
    } else {
        let c = srv.client()?;
        let projects = a.project.join(",");
        let path = format!(
            "/api/v1/applications{}",
            query(&[
                ("selector", a.selector.as_deref()),
                (
                    "projects",
                    Some(projects.as_str()).filter(|p| !p.is_empty())
                ),
                ("appNamespace", a.app_namespace.as_deref()),
            ])
        );
        let list = c.get(&path).await?;
        list.get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let value = json!({ "items": items });
    if output::print_structured(&value, a.output)? {
        return Ok(ExitCode::SUCCESS);
    }
    if a.output == Format::Name {
        for app in &items {
            println!("{}", s(app, "/metadata/name"));
        }
        return Ok(ExitCode::SUCCESS);
    }
    output::print_table(&list_rows(&items, a.output == Format::Wide));
    Ok(ExitCode::SUCCESS)
}

/// The rows of `app list`: argocd's columns; `wide` adds the source.
pub fn list_rows(items: &[Value], wide: bool) -> Vec<Vec<String>> {
    let mut header: Vec<String> = [
        "NAME",
        "CLUSTER",
        "NAMESPACE",
        "PROJECT",
        "STATUS",
        "HEALTH",
        "SYNCPOLICY",
        "CONDITIONS",
    ]
    .map(String::from)
    .to_vec();
    if wide {
        header.extend(["REPO", "PATH", "TARGET"].map(String::from));
    }
    let mut rows = vec![header];
    for app in items {
        let mut row = vec![
            s(app, "/metadata/name"),
            destination(app),
            s(app, "/spec/destination/namespace"),
            s(app, "/spec/project"),
            s(app, "/status/sync/status"),
            s(app, "/status/health/status"),
            sync_policy(app),
            conditions(app),
        ];
        if wide {
            let (repo, path, target) = source(app);
            row.extend([repo, path, target]);
        }
        rows.push(row);
    }
    rows
}

fn destination(app: &Value) -> String {
    let server = s(app, "/spec/destination/server");
    if server.is_empty() {
        s(app, "/spec/destination/name")
    } else {
        server
    }
}

fn sync_policy(app: &Value) -> String {
    match app.pointer("/spec/syncPolicy/automated") {
        Some(a) if !a.is_null() && a.get("enabled") != Some(&Value::Bool(false)) => {
            let mut p = "Auto".to_string();
            if a.get("prune") == Some(&Value::Bool(true)) {
                p.push_str("-Prune");
            }
            p
        }
        _ => "Manual".to_string(),
    }
}

fn conditions(app: &Value) -> String {
    let types: Vec<String> = app
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(|cs| cs.iter().map(|c| s(c, "/type")).collect())
        .unwrap_or_default();
    if types.is_empty() {
        "<none>".to_string()
    } else {
        types.join(",")
    }
}

/// Repo, path and target revision of the (first) source.
fn source(app: &Value) -> (String, String, String) {
    let src = app
        .pointer("/spec/source")
        .filter(|v| !v.is_null())
        .or_else(|| app.pointer("/spec/sources/0"))
        .cloned()
        .unwrap_or(Value::Null);
    (
        s(&src, "/repoURL"),
        s(&src, "/path"),
        s(&src, "/targetRevision"),
    )
}

async fn get(srv: &ServerArgs, kube: &KubeArgs, a: GetArgs) -> Result<ExitCode> {
    let app = if srv.core {
        let (client, ns) = core_client(kube).await?;
        let ns = a.app.app_namespace.clone().unwrap_or(ns);
        let api: kube::Api<api::Application> = kube::Api::namespaced(client, &ns);
        let found = api
            .get_opt(&a.app.name)
            .await
            .with_context(|| format!("reading Application {ns}/{}", a.app.name))?
            .ok_or_else(|| Failure::Api {
                status: 404,
                message: format!("application {ns}/{} not found", a.app.name),
            })?;
        serde_json::to_value(found).context("serializing the Application")?
    } else {
        let refresh = if a.hard_refresh {
            Some("hard")
        } else if a.refresh {
            Some("normal")
        } else {
            None
        };
        srv.client()?
            .get(&a.app.path("", &[("refresh", refresh)]))
            .await?
    };
    if output::print_structured(&app, a.output)? {
        return Ok(ExitCode::SUCCESS);
    }
    if a.output == Format::Name {
        println!("{}", s(&app, "/metadata/name"));
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", describe(&app));
    Ok(ExitCode::SUCCESS)
}

/// `app get`'s text: the summary, then the resources table.
pub fn describe(app: &Value) -> String {
    let (repo, path, target) = source(app);
    let revision = s(app, "/status/sync/revision");
    let sync = s(app, "/status/sync/status");
    let sync = if revision.is_empty() {
        sync
    } else {
        format!("{sync} to {target} ({})", short(&revision))
    };
    let mut health = s(app, "/status/health/status");
    let msg = s(app, "/status/health/message");
    if !msg.is_empty() {
        health = format!("{health} ({msg})");
    }
    let mut out = output::key_values(&[
        (
            "Name",
            format!(
                "{}/{}",
                s(app, "/metadata/namespace"),
                s(app, "/metadata/name")
            ),
        ),
        ("Project", s(app, "/spec/project")),
        ("Server", destination(app)),
        ("Namespace", s(app, "/spec/destination/namespace")),
        ("Repo", repo),
        ("Target", target),
        ("Path", path),
        ("Sync Policy", sync_policy(app)),
        ("Sync Status", sync),
        ("Health Status", health),
    ]);
    if let Some(op) = app
        .pointer("/status/operationState")
        .filter(|v| !v.is_null())
    {
        out.push('\n');
        out.push_str(&output::key_values(&[
            ("Operation", "Sync".to_string()),
            ("Sync Revision", s(op, "/syncResult/revision")),
            ("Phase", s(op, "/phase")),
            ("Start", s(op, "/startedAt")),
            ("Finished", s(op, "/finishedAt")),
            ("Message", s(op, "/message")),
        ]));
    }
    if let Some(conds) = app.pointer("/status/conditions").and_then(Value::as_array)
        && !conds.is_empty()
    {
        out.push('\n');
        let mut rows = vec![vec!["CONDITION".to_string(), "MESSAGE".to_string()]];
        rows.extend(conds.iter().map(|c| vec![s(c, "/type"), s(c, "/message")]));
        out.push_str(&output::table(&rows));
    }
    let resources = app
        .pointer("/status/resources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !resources.is_empty() {
        out.push('\n');
        let messages = app
            .pointer("/status/operationState/syncResult/resources")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        out.push_str(&output::table(&resource_rows(&resources, &messages)));
    }
    out
}

/// The resources table of `app get` / `app sync`.
fn resource_rows(resources: &[Value], results: &[Value]) -> Vec<Vec<String>> {
    let mut rows = vec![
        [
            "GROUP",
            "KIND",
            "NAMESPACE",
            "NAME",
            "STATUS",
            "HEALTH",
            "HOOK",
            "MESSAGE",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in resources {
        let same = |x: &&Value| {
            s(x, "/kind") == s(r, "/kind")
                && s(x, "/name") == s(r, "/name")
                && s(x, "/namespace") == s(r, "/namespace")
                && s(x, "/group") == s(r, "/group")
        };
        let result = results.iter().find(same);
        rows.push(vec![
            s(r, "/group"),
            s(r, "/kind"),
            s(r, "/namespace"),
            s(r, "/name"),
            s(r, "/status"),
            s(r, "/health/status"),
            result.map(|x| s(x, "/hookType")).unwrap_or_default(),
            result.map(|x| s(x, "/message")).unwrap_or_default(),
        ]);
    }
    rows
}

fn short(revision: &str) -> &str {
    if revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit()) {
        &revision[..7]
    } else {
        revision
    }
}

async fn history(c: &ApiClient, a: HistoryArgs) -> Result<ExitCode> {
    let app = c.get(&a.app.path("", &[])).await?;
    let history = app
        .pointer("/status/history")
        .cloned()
        .unwrap_or_else(|| json!([]));
    if output::print_structured(&history, a.output)? {
        return Ok(ExitCode::SUCCESS);
    }
    output::print_table(&history_rows(&history));
    Ok(ExitCode::SUCCESS)
}

pub fn history_rows(history: &Value) -> Vec<Vec<String>> {
    let mut rows = vec![vec!["ID".into(), "DATE".into(), "REVISION".into()]];
    for h in history.as_array().into_iter().flatten() {
        let mut revision = s(h, "/revision");
        if revision.is_empty() {
            revision = h
                .get("revisions")
                .and_then(Value::as_array)
                .map(|rs| {
                    rs.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
        }
        let repo = s(h, "/source/repoURL");
        let path = s(h, "/source/path");
        let shown = if repo.is_empty() {
            revision
        } else {
            format!("{revision} ({repo} {path})").replace(" )", ")")
        };
        rows.push(vec![s(h, "/id"), s(h, "/deployedAt"), shown]);
    }
    rows
}

/// The history id `app rollback` goes to without one: the deployment
/// before the latest, as argocd.
pub fn previous_history_id(app: &Value) -> Result<i64> {
    let mut ids: Vec<i64> = app
        .pointer("/status/history")
        .and_then(Value::as_array)
        .map(|h| {
            h.iter()
                .filter_map(|e| e.get("id").and_then(Value::as_i64))
                .collect()
        })
        .unwrap_or_default();
    ids.sort_unstable();
    match ids.len() {
        0 | 1 => bail!(
            "application {} has no earlier deployment to roll back to; give a history id (see `gyro app history`)",
            s(app, "/metadata/name")
        ),
        n => Ok(ids[n - 2]),
    }
}

async fn manifests(c: &ApiClient, a: ManifestsArgs) -> Result<ExitCode> {
    let m = c
        .get(
            &a.app
                .path("/manifests", &[("revision", a.revision.as_deref())]),
        )
        .await?;
    let mut out = String::new();
    for (i, text) in m
        .get("manifests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let obj = parse_state(text)?;
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&render::yaml::to_yaml(&obj));
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// A manifest or state as the server sends it: a JSON string (as Argo
/// CD), or the object itself.
fn parse_state(v: &Value) -> Result<Value> {
    match v {
        Value::String(text) if text.trim().is_empty() || text == "null" => Ok(Value::Null),
        Value::String(text) => serde_json::from_str(text)
            .with_context(|| format!("the server sent a manifest that is not JSON: {text:.80}")),
        other => Ok(other.clone()),
    }
}

/// `group/Kind namespace/name` of a managed-resources item.
fn resource_title(item: &Value) -> String {
    let group = s(item, "/group");
    let kind = s(item, "/kind");
    let ns = s(item, "/namespace");
    let name = s(item, "/name");
    let gk = if group.is_empty() {
        kind
    } else {
        format!("{group}/{kind}")
    };
    let id = if ns.is_empty() {
        name
    } else {
        format!("{ns}/{name}")
    };
    format!("{gk} {id}")
}

/// The unified diffs of managed-resources items (live to target), one
/// section per differing resource, as `argocd app diff` prints them.
pub fn render_diffs(items: &[Value]) -> Result<String> {
    let mut out = String::new();
    for item in items {
        // The server compared with a server-side apply dry run; a resource
        // it calls in sync differs only in what the API server defaults.
        if item.get("modified") == Some(&Value::Bool(false)) {
            continue;
        }
        let live = parse_state(
            item.get("normalizedLiveState")
                .filter(|v| !is_empty_state(v))
                .or_else(|| item.get("liveState"))
                .unwrap_or(&Value::Null),
        )?;
        let target = parse_state(
            item.get("predictedLiveState")
                .filter(|v| !is_empty_state(v))
                .or_else(|| item.get("targetState"))
                .unwrap_or(&Value::Null),
        )?;
        let text = unified(&live, &target);
        if text.is_empty() {
            continue;
        }
        out.push_str(&format!("\n===== {} ======\n", resource_title(item)));
        out.push_str(&text);
    }
    Ok(out)
}

fn is_empty_state(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty() || s == "null",
        _ => false,
    }
}

/// The unified diff of two objects' normalized YAML; empty when equal.
fn unified(live: &Value, target: &Value) -> String {
    let yaml = |v: &Value| {
        if v.is_null() {
            String::new()
        } else {
            render::yaml::to_yaml(&diff::normalize(v))
        }
    };
    let (a, b) = (yaml(live), yaml(target));
    if a == b {
        return String::new();
    }
    similar::TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header("live", "target")
        .to_string()
}

async fn diff(c: &ApiClient, a: DiffArgs) -> Result<ExitCode> {
    let items: Vec<Value> = if let Some(local) = &a.local {
        let root = a.local_repo_root.as_deref().unwrap_or(local);
        let (files, path) = collect_local(root, local)?;
        let body = json!({ "files": files, "path": path });
        let r = c.post(&a.app.path("/diff-local", &[]), &body).await?;
        array(&r, "items")
    } else {
        let r = c.get(&a.app.path("/managed-resources", &[])).await?;
        let mut items = array(&r, "items");
        if let Some(rev) = &a.revision {
            let m = c
                .get(&a.app.path("/manifests", &[("revision", Some(rev))]))
                .await?;
            items = against_revision(items, &array(&m, "manifests"))?;
        }
        items
    };
    let text = render_diffs(&items)?;
    print!("{text}");
    if !text.is_empty() && a.exit_code {
        return Ok(exit::exit(exit::DIFFERENCES));
    }
    Ok(ExitCode::SUCCESS)
}

fn array(v: &Value, key: &str) -> Vec<Value> {
    v.get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Managed-resources items whose target is the manifests of another
/// revision: each manifest paired with the live object of its identity.
fn against_revision(items: Vec<Value>, manifests: &[Value]) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for m in manifests {
        let obj = parse_state(m)?;
        let (group, kind) = group_kind(&obj);
        let name = s(&obj, "/metadata/name");
        let ns = s(&obj, "/metadata/namespace");
        let live = items.iter().find(|i| {
            s(i, "/group") == group
                && s(i, "/kind") == kind
                && s(i, "/name") == name
                && (ns.is_empty() || s(i, "/namespace") == ns)
        });
        if let Some(l) = live {
            seen.push(l.clone());
        }
        out.push(json!({
            "group": group, "kind": kind, "name": name,
            "namespace": live.map(|l| s(l, "/namespace")).unwrap_or(ns),
            "liveState": live.and_then(|l| l.get("liveState")).cloned().unwrap_or(Value::Null),
            "targetState": obj,
        }));
    }
    // Live objects the revision does not have would be removed.
    for i in items {
        if !seen.contains(&i) && !is_empty_state(i.get("liveState").unwrap_or(&Value::Null)) {
            let mut gone = i.clone();
            gone["targetState"] = Value::Null;
            gone["predictedLiveState"] = Value::Null;
            out.push(gone);
        }
    }
    Ok(out)
}

fn group_kind(obj: &Value) -> (String, String) {
    let api_version = s(obj, "/apiVersion");
    let group = api_version
        .rsplit_once('/')
        .map(|(g, _)| g.to_string())
        .unwrap_or_default();
    (group, s(obj, "/kind"))
}

/// The files under `root` to upload for `diff --local`, and `local`'s path
/// relative to `root`. Symlinks are followed only when they stay inside
/// `root`; one that leaves it is refused, naming it. `.git` is skipped.
pub fn collect_local(root: &Path, local: &Path) -> Result<(Vec<Value>, String)> {
    use base64::Engine;
    let root_abs = root
        .canonicalize()
        .with_context(|| format!("{}: cannot read the directory", root.display()))?;
    if !root_abs.is_dir() {
        bail!("{}: not a directory", root.display());
    }
    let local_abs = local
        .canonicalize()
        .with_context(|| format!("{}: cannot read the directory", local.display()))?;
    let rel = local_abs.strip_prefix(&root_abs).map_err(|_| {
        anyhow!(
            "{} is not inside --local-repo-root {}",
            local.display(),
            root.display()
        )
    })?;
    let rel = slash_path(rel)?;
    let mut files = Vec::new();
    let mut stack = vec![root_abs.clone()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .collect::<std::io::Result<_>>()
            .with_context(|| format!("reading {}", dir.display()))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            if entry.file_name() == ".git" {
                continue;
            }
            let shown = slash_path(path.strip_prefix(&root_abs).unwrap_or(&path))?;
            let meta = std::fs::symlink_metadata(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let is_link = meta.file_type().is_symlink();
            let target_meta = if is_link {
                let target = path
                    .canonicalize()
                    .map_err(|e| anyhow!("{shown}: a symlink that cannot be followed: {e}"))?;
                if !target.starts_with(&root_abs) {
                    bail!(
                        "{shown}: a symlink to {} which is outside {}; refusing to upload it",
                        target.display(),
                        root.display()
                    );
                }
                std::fs::metadata(&target).with_context(|| format!("reading {shown}"))?
            } else {
                meta
            };
            if target_meta.is_dir() {
                if !is_link {
                    stack.push(path);
                }
                // A symlinked directory inside the tree is uploaded where
                // it really is; following it could loop.
                continue;
            }
            if target_meta.is_file() {
                let bytes = std::fs::read(&path).with_context(|| format!("reading {shown}"))?;
                files.push(json!({
                    "path": shown,
                    "content": base64::engine::general_purpose::STANDARD.encode(bytes),
                }));
            }
        }
    }
    files.sort_by_key(|f| s(f, "/path"));
    let rel = if rel.is_empty() { ".".to_string() } else { rel };
    Ok((files, rel))
}

fn slash_path(p: &Path) -> Result<String> {
    let parts: Option<Vec<&str>> = p.components().map(|c| c.as_os_str().to_str()).collect();
    parts
        .map(|p| p.join("/"))
        .ok_or_else(|| anyhow!("{}: the path is not valid UTF-8", p.display()))
}

/// The body of `POST .../sync` from the flags.
pub fn sync_body(
    revision: Option<&str>,
    prune: bool,
    dry_run: bool,
    force: bool,
    resources: &[String],
    sync_options: &[String],
) -> Result<Value> {
    let mut body = json!({ "prune": prune, "dryRun": dry_run });
    if let Some(r) = revision {
        body["revision"] = json!(r);
    }
    if force {
        body["strategy"] = json!({ "apply": { "force": true } });
    }
    if !resources.is_empty() {
        let parsed: Result<Vec<Value>> = resources.iter().map(|r| parse_resource(r)).collect();
        body["resources"] = Value::Array(parsed?);
    }
    if !sync_options.is_empty() {
        body["syncOptions"] = json!({ "items": sync_options });
    }
    Ok(body)
}

/// `GROUP:KIND:NAME` or `GROUP:KIND:NAMESPACE/NAME` (the group empty for
/// the core group), as argocd's `--resource`.
pub fn parse_resource(text: &str) -> Result<Value> {
    let parts: Vec<&str> = text.split(':').collect();
    let [group, kind, name] = parts.as_slice() else {
        bail!("--resource {text:?}: expected GROUP:KIND:NAME or GROUP:KIND:NAMESPACE/NAME");
    };
    if kind.is_empty() || name.is_empty() {
        bail!("--resource {text:?}: the kind and the name may not be empty");
    }
    let (namespace, name) = match name.split_once('/') {
        Some((ns, n)) if !n.is_empty() => (ns, n),
        Some(_) => bail!("--resource {text:?}: the name after the namespace is empty"),
        None => ("", *name),
    };
    Ok(json!({ "group": group, "kind": kind, "name": name, "namespace": namespace }))
}

async fn sync(c: &ApiClient, a: SyncArgs) -> Result<ExitCode> {
    let body = sync_body(
        a.revision.as_deref(),
        a.prune,
        a.dry_run,
        a.force,
        &a.resources,
        &a.sync_options,
    )?;
    let before = c.get(&a.app.path("", &[])).await?;
    c.post(&a.app.path("/sync", &[]), &body).await?;
    if a.is_async {
        return Ok(ExitCode::SUCCESS);
    }
    finish_operation(c, &a.app, &before, a.timeout, a.output).await
}

async fn rollback(c: &ApiClient, a: RollbackArgs) -> Result<ExitCode> {
    let before = c.get(&a.app.path("", &[])).await?;
    let id = match a.id {
        Some(id) => id,
        None => previous_history_id(&before)?,
    };
    c.post(
        &a.app.path("/rollback", &[]),
        &json!({ "id": id, "prune": a.prune, "dryRun": false }),
    )
    .await?;
    finish_operation(c, &a.app, &before, a.timeout, a.output).await
}

/// Waits for the operation started after `before` to end, prints its
/// result, and fails (exit code 4) unless it succeeded.
async fn finish_operation(
    c: &ApiClient,
    app: &NameArgs,
    before: &Value,
    timeout: u64,
    format: Format,
) -> Result<ExitCode> {
    let previous = s(before, "/status/operationState/startedAt");
    let done = wait_for(c, app, timeout, |a| operation_finished(a, &previous)).await?;
    if !output::print_structured(&done, format)? {
        print!("{}", describe(&done));
    }
    let phase = s(&done, "/status/operationState/phase");
    if phase != "Succeeded" {
        return Err(Failure::OperationFailed(format!(
            "operation has completed with phase: {phase}: {}",
            s(&done, "/status/operationState/message")
        ))
        .into());
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether the operation requested after the state whose operation began
/// at `previous_start` has ended.
pub fn operation_finished(app: &Value, previous_start: &str) -> bool {
    let pending = app.get("operation").is_some_and(|o| !o.is_null());
    let phase = s(app, "/status/operationState/phase");
    let started = s(app, "/status/operationState/startedAt");
    !pending
        && !started.is_empty()
        && started != previous_start
        && matches!(phase.as_str(), "Succeeded" | "Failed" | "Error")
}

/// What `app wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitFor {
    pub health: bool,
    pub sync: bool,
    pub operation: bool,
}

impl WaitFor {
    /// With no flag, argocd waits for all three.
    pub fn from_flags(health: bool, sync: bool, operation: bool) -> Self {
        if !health && !sync && !operation {
            Self {
                health: true,
                sync: true,
                operation: true,
            }
        } else {
            Self {
                health,
                sync,
                operation,
            }
        }
    }

    /// What is still missing; empty when the Application is there.
    pub fn unmet(&self, app: &Value) -> Vec<String> {
        let mut out = Vec::new();
        let sync = s(app, "/status/sync/status");
        if self.sync && sync != "Synced" {
            out.push(format!("sync status is {:?}", or_unknown(&sync)));
        }
        let health = s(app, "/status/health/status");
        if self.health && health != "Healthy" {
            out.push(format!("health status is {:?}", or_unknown(&health)));
        }
        let phase = s(app, "/status/operationState/phase");
        let pending = app.get("operation").is_some_and(|o| !o.is_null());
        if self.operation && (pending || matches!(phase.as_str(), "Running" | "Terminating")) {
            out.push("an operation is in progress".to_string());
        }
        out
    }
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() { "Unknown" } else { s }
}

async fn wait_cmd(c: &ApiClient, a: WaitArgs) -> Result<ExitCode> {
    let want = WaitFor::from_flags(a.health, a.sync, a.operation);
    let app = wait_for(c, &a.app, a.timeout, |app| want.unmet(app).is_empty()).await?;
    print!("{}", describe(&app));
    Ok(ExitCode::SUCCESS)
}

/// Polls the Application until `done` holds; [`Failure::TimedOut`] after
/// `timeout` seconds (0: never).
async fn wait_for(
    c: &ApiClient,
    app: &NameArgs,
    timeout: u64,
    done: impl Fn(&Value) -> bool,
) -> Result<Value> {
    let start = Instant::now();
    let path = app.path("", &[]);
    loop {
        let current = c.get(&path).await?;
        if done(&current) {
            return Ok(current);
        }
        if timeout > 0 && start.elapsed() >= Duration::from_secs(timeout) {
            let unmet = WaitFor::from_flags(false, false, false).unmet(&current);
            return Err(Failure::TimedOut(format!(
                "timed out ({timeout}s) waiting for app {:?} to match the desired state{}",
                app.name,
                if unmet.is_empty() {
                    String::new()
                } else {
                    format!(": {}", unmet.join(", "))
                }
            ))
            .into());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn delete(c: &ApiClient, a: DeleteArgs) -> Result<ExitCode> {
    if !a.yes && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        let answer = crate::session::prompt(&format!(
            "Are you sure you want to delete '{}' and all its resources? [y/n] ",
            a.app.name
        ))?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("The command to delete '{}' was cancelled.", a.app.name);
            return Ok(ExitCode::SUCCESS);
        }
    }
    let cascade = a.cascade.to_string();
    c.delete(&a.app.path(
        "",
        &[
            ("cascade", Some(cascade.as_str())),
            ("propagationPolicy", a.propagation_policy.as_deref()),
        ],
    ))
    .await?;
    println!("application '{}' deleted", a.app.name);
    Ok(ExitCode::SUCCESS)
}

/// Applies the flags to an ApplicationSpec (JSON).
pub fn apply_spec_flags(spec: &mut Value, f: &SpecFlags, params: &[String]) -> Result<()> {
    if !spec.is_object() {
        *spec = json!({});
    }
    let uses_sources = spec.get("source").is_none_or(Value::is_null)
        && spec.get("sources").is_some_and(|v| !v.is_null());
    let src_ptr = if uses_sources {
        "/sources/0"
    } else {
        "/source"
    };
    let mut set = |ptr: &str, field: &str, value: &Option<String>| {
        if let Some(v) = value {
            ensure_object(spec, ptr)[field] = json!(v);
        }
    };
    set(src_ptr, "repoURL", &f.repo);
    set(src_ptr, "path", &f.path);
    set(src_ptr, "targetRevision", &f.revision);
    set("/destination", "namespace", &f.dest_namespace);
    if let Some(server) = &f.dest_server {
        let d = ensure_object(spec, "/destination");
        d["server"] = json!(server);
        if let Some(m) = d.as_object_mut() {
            m.remove("name");
        }
    }
    if let Some(name) = &f.dest_name {
        let d = ensure_object(spec, "/destination");
        d["name"] = json!(name);
        if let Some(m) = d.as_object_mut() {
            m.remove("server");
        }
    }
    if let Some(p) = &f.project {
        spec["project"] = json!(p);
    }
    match f.sync_policy.as_deref() {
        None => {}
        Some("automated" | "automatic" | "auto") => {
            let a = ensure_object(spec, "/syncPolicy/automated");
            if let Some(m) = a.as_object_mut() {
                m.remove("enabled");
            }
        }
        Some("none" | "manual") => {
            if let Some(sp) = spec.get_mut("syncPolicy").and_then(Value::as_object_mut) {
                sp.remove("automated");
            }
        }
        Some(other) => {
            bail!("--sync-policy {other:?}: expected automated (auto, automatic) or none (manual)")
        }
    }
    for (flag, field, value) in [
        ("--self-heal", "selfHeal", f.self_heal),
        ("--auto-prune", "prune", f.auto_prune),
    ] {
        if let Some(v) = value {
            let automated = spec
                .pointer("/syncPolicy/automated")
                .is_some_and(|a| !a.is_null());
            if !automated {
                bail!("{flag} needs automated sync: add --sync-policy automated");
            }
            ensure_object(spec, "/syncPolicy/automated")[field] = json!(v.unwrap_or(true));
        }
    }
    for p in params {
        let (name, value) = p
            .split_once('=')
            .filter(|(n, _)| !n.is_empty())
            .ok_or_else(|| anyhow!("-p {p:?}: expected NAME=VALUE"))?;
        let helm = ensure_object(spec, &format!("{src_ptr}/helm"));
        if !helm.get("parameters").is_some_and(Value::is_array) {
            helm["parameters"] = json!([]);
        }
        if let Some(list) = helm["parameters"].as_array_mut() {
            match list.iter_mut().find(|x| s(x, "/name") == name) {
                Some(x) => x["value"] = json!(value),
                None => list.push(json!({ "name": name, "value": value })),
            }
        }
    }
    Ok(())
}

/// The object at `ptr` (`/a/b`), created (and any non-object on the way
/// replaced) as needed.
fn ensure_object<'a>(root: &'a mut Value, ptr: &str) -> &'a mut Value {
    let mut cur = root;
    for key in ptr.split('/').filter(|k| !k.is_empty()) {
        let index = key.parse::<usize>().ok();
        let in_array = matches!((&*cur, index), (Value::Array(items), Some(i)) if i < items.len());
        if !in_array && !cur.is_object() {
            *cur = json!({});
        }
        cur = match cur {
            // In range: checked above.
            Value::Array(items) => &mut items[index.unwrap_or_default()],
            Value::Object(m) => m.entry(key.to_string()).or_insert_with(|| json!({})),
            _ => unreachable!("replaced by an object above"),
        };
    }
    if !cur.is_object() {
        *cur = json!({});
    }
    cur
}

async fn set(c: &ApiClient, a: SetArgs) -> Result<ExitCode> {
    let app = c.get(&a.app.path("", &[])).await?;
    let mut spec = app.get("spec").cloned().unwrap_or_else(|| json!({}));
    apply_spec_flags(&mut spec, &a.spec, &a.params)?;
    c.put(&a.app.path("/spec", &[]), &spec).await?;
    Ok(ExitCode::SUCCESS)
}

async fn create(c: &ApiClient, a: CreateArgs) -> Result<ExitCode> {
    let app = match &a.file {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            let docs = render::yaml::parse_documents(&text, &file.display().to_string())?;
            let app = docs
                .into_iter()
                .find(|d| s(d, "/kind") == "Application")
                .ok_or_else(|| {
                    anyhow!(
                        "{}: no Application (kind: Application) in the file",
                        file.display()
                    )
                })?;
            let mut app = app;
            let mut spec = app.get("spec").cloned().unwrap_or_else(|| json!({}));
            apply_spec_flags(&mut spec, &a.spec, &[])?;
            app["spec"] = spec;
            app
        }
        None => {
            let name = a.name.clone().unwrap_or_default();
            let mut spec = json!({ "project": "default", "destination": {}, "source": {} });
            apply_spec_flags(&mut spec, &a.spec, &[])?;
            let mut meta = json!({ "name": name });
            if let Some(ns) = &a.app_namespace {
                meta["namespace"] = json!(ns);
            }
            json!({
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "metadata": meta,
                "spec": spec,
            })
        }
    };
    let upsert = a.upsert.to_string();
    let created = c
        .post(
            &format!(
                "/api/v1/applications{}",
                query(&[("upsert", Some(upsert.as_str()))])
            ),
            &app,
        )
        .await?;
    println!("application '{}' created", s(&created, "/metadata/name"));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> Value {
        json!({
            "metadata": {"name": "guestbook", "namespace": "argocd"},
            "spec": {
                "project": "default",
                "source": {"repoURL": "https://git/r", "path": "guestbook", "targetRevision": "HEAD"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "gb"},
                "syncPolicy": {"automated": {"prune": true}},
            },
            "status": {
                "sync": {"status": "Synced", "revision": "0123456789abcdef0123456789abcdef01234567"},
                "health": {"status": "Healthy"},
                "history": [
                    {"id": 0, "revision": "aaa", "deployedAt": "2026-01-01T00:00:00Z"},
                    {"id": 1, "revision": "bbb", "deployedAt": "2026-01-02T00:00:00Z"},
                    {"id": 2, "revision": "ccc", "deployedAt": "2026-01-03T00:00:00Z"},
                ],
                "resources": [{"kind": "Service", "namespace": "gb", "name": "ui", "status": "Synced", "health": {"status": "Healthy"}}],
                "operationState": {"phase": "Succeeded", "startedAt": "2026-01-03T00:00:00Z",
                    "syncResult": {"resources": [{"kind": "Service", "namespace": "gb", "name": "ui", "group": "", "message": "service/ui created"}]}},
            }
        })
    }

    #[test]
    fn list_rows_have_argocds_columns() {
        let rows = list_rows(&[app()], false);
        assert_eq!(rows[0][0], "NAME");
        assert_eq!(
            rows[1],
            vec![
                "guestbook",
                "https://kubernetes.default.svc",
                "gb",
                "default",
                "Synced",
                "Healthy",
                "Auto-Prune",
                "<none>"
            ]
        );
        let wide = list_rows(&[app()], true);
        assert_eq!(wide[1][8..], ["https://git/r", "guestbook", "HEAD"]);
    }

    #[test]
    fn describe_shows_summary_and_resources() {
        let text = describe(&app());
        assert!(text.contains("Name:           argocd/guestbook"), "{text}");
        assert!(text.contains("Synced to HEAD (0123456)"), "{text}");
        assert!(text.contains("service/ui created"), "{text}");
    }

    #[test]
    fn rollback_defaults_to_the_previous_deployment() {
        assert_eq!(previous_history_id(&app()).unwrap(), 1);
        let mut one = app();
        one["status"]["history"] = json!([{"id": 5}]);
        assert!(
            previous_history_id(&one)
                .unwrap_err()
                .to_string()
                .contains("no earlier deployment")
        );
        let rows = history_rows(&app()["status"]["history"]);
        assert_eq!(rows[3], vec!["2", "2026-01-03T00:00:00Z", "ccc"]);
    }

    #[test]
    fn diffs_show_only_differing_resources() {
        let items = vec![
            json!({"kind": "ConfigMap", "namespace": "gb", "name": "same",
                "liveState": r#"{"kind":"ConfigMap","data":{"a":"1"}}"#,
                "targetState": r#"{"kind":"ConfigMap","data":{"a":"1"}}"#}),
            json!({"group": "apps", "kind": "Deployment", "namespace": "gb", "name": "web",
                "normalizedLiveState": r#"{"kind":"Deployment","spec":{"replicas":1}}"#,
                "predictedLiveState": r#"{"kind":"Deployment","spec":{"replicas":2}}"#}),
            json!({"kind": "Service", "namespace": "gb", "name": "new", "liveState": "null",
                "targetState": r#"{"kind":"Service"}"#}),
            json!({"kind": "Secret", "namespace": "gb", "name": "defaulted", "modified": false,
                "liveState": r#"{"kind":"Secret","type":"Opaque"}"#,
                "targetState": r#"{"kind":"Secret"}"#}),
        ];
        let text = render_diffs(&items).unwrap();
        assert!(!text.contains("same"), "{text}");
        assert!(
            text.contains("===== apps/Deployment gb/web ======"),
            "{text}"
        );
        assert!(text.contains("-  replicas: 1\n+  replicas: 2"), "{text}");
        assert!(text.contains("===== Service gb/new ======"), "{text}");
        assert!(!text.contains("defaulted"), "{text}");
        assert_eq!(render_diffs(&items[..1]).unwrap(), "");
    }

    #[test]
    fn sync_body_and_resources() {
        let b = sync_body(
            Some("v2"),
            true,
            false,
            true,
            &["apps:Deployment:gb/web".into(), ":Service:ui".into()],
            &["CreateNamespace=true".into()],
        )
        .unwrap();
        assert_eq!(b["revision"], "v2");
        assert_eq!(b["strategy"]["apply"]["force"], true);
        assert_eq!(
            b["resources"][0],
            json!({"group": "apps", "kind": "Deployment", "namespace": "gb", "name": "web"})
        );
        assert_eq!(b["resources"][1]["group"], "");
        assert_eq!(b["syncOptions"]["items"][0], "CreateNamespace=true");
        assert!(parse_resource("Deployment:web").is_err());
        assert!(parse_resource("apps::web").is_err());
    }

    #[test]
    fn operation_and_wait_conditions() {
        let a = app();
        assert!(!operation_finished(&a, "2026-01-03T00:00:00Z"));
        assert!(operation_finished(&a, "2026-01-02T00:00:00Z"));
        let mut running = a.clone();
        running["operation"] = json!({"sync": {}});
        assert!(!operation_finished(&running, ""));
        let all = WaitFor::from_flags(false, false, false);
        assert!(all.unmet(&a).is_empty());
        assert_eq!(all.unmet(&running), vec!["an operation is in progress"]);
        let mut degraded = a.clone();
        degraded["status"]["health"]["status"] = json!("Degraded");
        assert_eq!(
            WaitFor::from_flags(true, false, false)
                .unmet(&degraded)
                .len(),
            1
        );
        assert!(
            WaitFor::from_flags(false, true, false)
                .unmet(&degraded)
                .is_empty()
        );
    }

    #[test]
    fn spec_flags_edit_the_spec() {
        let mut spec = app()["spec"].clone();
        let flags = SpecFlags {
            revision: Some("v2".into()),
            dest_name: Some("prod".into()),
            sync_policy: Some("none".into()),
            ..SpecFlags::default()
        };
        apply_spec_flags(
            &mut spec,
            &flags,
            &["image.tag=1.2".into(), "replicas=3".into()],
        )
        .unwrap();
        assert_eq!(spec["source"]["targetRevision"], "v2");
        assert_eq!(
            spec["destination"],
            json!({"name": "prod", "namespace": "gb"})
        );
        assert!(spec["syncPolicy"].get("automated").is_none());
        assert_eq!(
            spec["source"]["helm"]["parameters"][1],
            json!({"name": "replicas", "value": "3"})
        );
        apply_spec_flags(&mut spec, &SpecFlags::default(), &["replicas=4".into()]).unwrap();
        assert_eq!(spec["source"]["helm"]["parameters"][1]["value"], "4");
        let heal = SpecFlags {
            self_heal: Some(None),
            ..SpecFlags::default()
        };
        assert!(
            apply_spec_flags(&mut spec, &heal, &[])
                .unwrap_err()
                .to_string()
                .contains("--sync-policy automated")
        );
        let auto = SpecFlags {
            sync_policy: Some("auto".into()),
            self_heal: Some(None),
            auto_prune: Some(Some(false)),
            ..SpecFlags::default()
        };
        apply_spec_flags(&mut spec, &auto, &[]).unwrap();
        assert_eq!(
            spec["syncPolicy"]["automated"],
            json!({"selfHeal": true, "prune": false})
        );
        assert!(apply_spec_flags(&mut spec, &SpecFlags::default(), &["=x".into()]).is_err());
        let bad = SpecFlags {
            sync_policy: Some("sometimes".into()),
            ..SpecFlags::default()
        };
        assert!(apply_spec_flags(&mut spec, &bad, &[]).is_err());
    }

    #[test]
    fn local_files_are_collected_and_escaping_symlinks_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir_all(root.join("app/base")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join(".git/HEAD"), "x").unwrap();
        std::fs::write(root.join("app/base/cm.yaml"), "kind: ConfigMap\n").unwrap();
        std::os::unix::fs::symlink("base/cm.yaml", root.join("app/link.yaml")).unwrap();
        let (files, path) = collect_local(&root, &root.join("app")).unwrap();
        assert_eq!(path, "app");
        let paths: Vec<String> = files.iter().map(|f| s(f, "/path")).collect();
        assert_eq!(paths, vec!["app/base/cm.yaml", "app/link.yaml"]);
        assert_eq!(s(&files[0], "/content"), "a2luZDogQ29uZmlnTWFwCg==");
        let (_, dot) = collect_local(&root.join("app"), &root.join("app")).unwrap();
        assert_eq!(dot, ".");

        std::fs::write(dir.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink("../../secret", root.join("app/evil.yaml")).unwrap();
        let err = collect_local(&root, &root.join("app"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("app/evil.yaml") && err.contains("outside"),
            "{err}"
        );
        assert!(collect_local(&root, dir.path()).is_err());
    }
}

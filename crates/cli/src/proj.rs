//! `gyro proj list|get|create|windows`: AppProjects through the API
//! server. `windows` reads the cluster through the kubeconfig instead when
//! no server is configured or `--core` is given.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::client::{ServerArgs, encode};
use crate::kubeconfig::KubeArgs;
use crate::output::{self, Format, s};

#[derive(Subcommand)]
pub enum ProjCommand {
    /// List projects.
    List(ListArgs),
    /// A project's details.
    Get(GetArgs),
    /// Create a project from flags or a file.
    Create(CreateArgs),
    /// List a project's sync windows and which are active now.
    Windows(crate::windows::ProjWindowsArgs),
}

#[derive(Args)]
pub struct ListArgs {
    #[arg(long, short = 'o', value_enum, default_value_t)]
    output: Format,
}

#[derive(Args)]
pub struct GetArgs {
    name: String,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    output: Format,
}

#[derive(Args)]
pub struct CreateArgs {
    /// The project's name (not with --file).
    #[arg(required_unless_present = "file")]
    name: Option<String>,
    /// A destination, SERVER,NAMESPACE (repeat for several).
    #[arg(long = "dest", short = 'd', value_name = "SERVER,NAMESPACE")]
    dests: Vec<String>,
    /// A permitted source repository (repeat for several).
    #[arg(long = "src", short = 's', value_name = "REPO")]
    srcs: Vec<String>,
    #[arg(long)]
    description: Option<String>,
    /// An AppProject manifest (YAML or JSON).
    #[arg(long, short = 'f', conflicts_with = "name")]
    file: Option<PathBuf>,
    /// Update the project if it exists with another spec.
    #[arg(long)]
    upsert: bool,
}

pub async fn run(srv: &ServerArgs, kube: &KubeArgs, cmd: ProjCommand) -> Result<ExitCode> {
    match cmd {
        ProjCommand::Windows(a) if !srv.has_server() => crate::windows::proj(kube, &a).await,
        ProjCommand::Windows(a) => {
            let w = srv
                .client()?
                .get(&format!(
                    "/api/v1/projects/{}/syncwindows",
                    encode(&a.project)
                ))
                .await?;
            let windows = w
                .get("windows")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if windows.is_empty() {
                println!("AppProject {} has no sync windows", a.project);
            } else {
                output::print_table(&window_rows(&windows));
            }
            Ok(ExitCode::SUCCESS)
        }
        ProjCommand::List(a) => {
            let list = srv.client()?.get("/api/v1/projects").await?;
            output::print_list(&list, a.output, "/metadata/name", list_rows)?;
            Ok(ExitCode::SUCCESS)
        }
        ProjCommand::Get(a) => {
            let p = srv
                .client()?
                .get(&format!("/api/v1/projects/{}", encode(&a.name)))
                .await?;
            if output::print_structured(&p, a.output)? {
                return Ok(ExitCode::SUCCESS);
            }
            print!("{}", describe(&p));
            Ok(ExitCode::SUCCESS)
        }
        ProjCommand::Create(a) => {
            let project = match &a.file {
                Some(file) => {
                    let text = std::fs::read_to_string(file)
                        .with_context(|| format!("reading {}", file.display()))?;
                    render::yaml::parse_documents(&text, &file.display().to_string())?
                        .into_iter()
                        .find(|d| s(d, "/kind") == "AppProject")
                        .ok_or_else(|| {
                            anyhow!(
                                "{}: no AppProject (kind: AppProject) in the file",
                                file.display()
                            )
                        })?
                }
                None => project_from_flags(
                    a.name.as_deref().unwrap_or_default(),
                    &a.dests,
                    &a.srcs,
                    a.description.as_deref(),
                )?,
            };
            let created = srv
                .client()?
                .post(
                    "/api/v1/projects",
                    &json!({ "project": project, "upsert": a.upsert }),
                )
                .await?;
            println!("project '{}' created", s(&created, "/metadata/name"));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// An AppProject from `proj create`'s flags.
pub fn project_from_flags(
    name: &str,
    dests: &[String],
    srcs: &[String],
    description: Option<&str>,
) -> Result<Value> {
    let destinations: Result<Vec<Value>> = dests
        .iter()
        .map(|d| match d.split_once(',') {
            Some((server, ns)) if !server.is_empty() && !ns.contains(',') => {
                Ok(json!({ "server": server, "namespace": ns }))
            }
            _ => bail!("--dest {d:?}: expected SERVER,NAMESPACE"),
        })
        .collect();
    let mut spec = json!({ "destinations": destinations?, "sourceRepos": srcs });
    if let Some(d) = description {
        spec["description"] = json!(d);
    }
    Ok(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": { "name": name },
        "spec": spec,
    }))
}

fn joined(v: &Value, pointer: &str, item: impl Fn(&Value) -> String) -> String {
    let items: Vec<String> = v
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(item).collect())
        .unwrap_or_default();
    if items.is_empty() {
        "<none>".to_string()
    } else {
        items.join(", ")
    }
}

fn dest(d: &Value) -> String {
    let server = s(d, "/server");
    let server = if server.is_empty() {
        s(d, "/name")
    } else {
        server
    };
    format!("{server},{}", s(d, "/namespace"))
}

pub fn list_rows(items: &[Value]) -> Vec<Vec<String>> {
    let mut rows = vec![
        ["NAME", "DESCRIPTION", "DESTINATIONS", "SOURCES"]
            .map(String::from)
            .to_vec(),
    ];
    for p in items {
        rows.push(vec![
            s(p, "/metadata/name"),
            s(p, "/spec/description"),
            joined(p, "/spec/destinations", dest),
            joined(p, "/spec/sourceRepos", |v| {
                v.as_str().unwrap_or_default().to_string()
            }),
        ]);
    }
    rows
}

fn describe(p: &Value) -> String {
    output::key_values(&[
        ("Name", s(p, "/metadata/name")),
        ("Description", s(p, "/spec/description")),
        ("Destinations", joined(p, "/spec/destinations", dest)),
        (
            "Repositories",
            joined(p, "/spec/sourceRepos", |v| {
                v.as_str().unwrap_or_default().to_string()
            }),
        ),
        ("Roles", joined(p, "/spec/roles", |r| s(r, "/name"))),
        (
            "Sync Windows",
            joined(p, "/spec/syncWindows", |w| {
                format!("{} {}", s(w, "/kind"), s(w, "/schedule"))
            }),
        ),
    ])
}

/// The rows of `proj windows` from the server's `/syncwindows` answer, in
/// the columns the cluster-reading form prints.
pub fn window_rows(windows: &[Value]) -> Vec<Vec<String>> {
    let list = |w: &Value, k: &str| {
        let items: Vec<String> = w
            .get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        crate::windows::list(&items)
    };
    let mut rows = vec![crate::windows::HEADER.map(String::from).to_vec()];
    for (i, w) in windows.iter().enumerate() {
        let tz = s(w, "/timeZone");
        rows.push(vec![
            i.to_string(),
            s(w, "/kind"),
            s(w, "/schedule"),
            s(w, "/duration"),
            if tz.is_empty() { "UTC".to_string() } else { tz },
            list(w, "applications"),
            list(w, "namespaces"),
            list(w, "clusters"),
            (w.get("manualSync") == Some(&Value::Bool(true))).to_string(),
            if w.get("active") == Some(&Value::Bool(true)) {
                "yes"
            } else {
                "no"
            }
            .to_string(),
        ]);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_from_flags_and_rows() {
        let p = project_from_flags(
            "team-a",
            &["https://k:6443,team-a".into()],
            &["https://git/x".into()],
            Some("A"),
        )
        .unwrap();
        assert_eq!(
            p["spec"]["destinations"][0],
            json!({"server": "https://k:6443", "namespace": "team-a"})
        );
        let rows = list_rows(&[p]);
        assert_eq!(
            rows[1],
            vec!["team-a", "A", "https://k:6443,team-a", "https://git/x"]
        );
        assert!(project_from_flags("x", &["nocomma".into()], &[], None).is_err());
    }

    #[test]
    fn windows_rows() {
        let rows = window_rows(&[
            json!({"kind": "deny", "schedule": "0 22 * * *", "duration": "1h", "applications": ["*"], "manualSync": true, "active": true}),
        ]);
        assert_eq!(
            rows[1],
            vec![
                "0",
                "deny",
                "0 22 * * *",
                "1h",
                "UTC",
                "*",
                "-",
                "-",
                "true",
                "yes"
            ]
        );
    }
}

//! `gyro render`: prints the objects a directory renders to, as a YAML
//! stream, the way gyro (and Argo CD) would render it.
//!
//! Without `--app` the directory is rendered as an Application source with
//! no options would be: a kustomization is built (the output then matches
//! `kustomize build`), a plain directory gives its manifests. With `--app`,
//! the directory is the repository root and the Application's source (its
//! path and its `directory`/`kustomize` options) says what to render.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ::render::Value;
use ::render::fs::DiskFs;
use ::render::source::{self, Env, Source};
use anyhow::{Context, Result, anyhow, bail};
use clap::Args;

#[derive(Args)]
pub struct RenderArgs {
    /// The directory to render; with --app, the repository root that the
    /// Application's source path is relative to.
    path: PathBuf,

    /// An Argo CD Application manifest whose source to render.
    #[arg(long, value_name = "APPLICATION.yaml")]
    app: Option<PathBuf>,

    /// Which entry of the Application's spec.sources to render, from 0
    /// (needed when it has more than one).
    #[arg(long, value_name = "N", requires = "app")]
    source_index: Option<usize>,
}

pub fn run(args: &RenderArgs) -> Result<ExitCode> {
    let (objects, _) = objects(args)?;
    let text = ::render::yaml::to_yaml_stream(&objects);
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("writing to standard output")?;
    Ok(ExitCode::SUCCESS)
}

/// The objects `args` render to, and the Application given with `--app`.
pub fn objects(args: &RenderArgs) -> Result<(Vec<Value>, Option<Value>)> {
    if !args.path.is_dir() {
        bail!("{}: not a directory", args.path.display());
    }
    match &args.app {
        None => {
            // Like `kustomize build`, a kustomization may use files above
            // the directory: the tree is the enclosing Git checkout, or the
            // whole file system.
            let (root, rel) = enclosing_tree(&args.path)?;
            let source = Source {
                path: rel,
                ..Source::default()
            };
            let objects = source::render(&DiskFs::new(&root), &source)
                .map_err(|e| anyhow::Error::new(with_local_path(e, &root)))?;
            Ok((objects, None))
        }
        Some(app_file) => {
            let (field, source, env, app) = app_source(app_file, args.source_index)?;
            let objects = source::render_with_env(&DiskFs::new(&args.path), &source, &env)
                .with_context(|| {
                    format!(
                        "rendering {field} of {} in {}",
                        app_file.display(),
                        args.path.display()
                    )
                })?;
            Ok((objects, Some(app)))
        }
    }
}

/// The error with its file named as the user would type it: relative to
/// the current directory when below it, absolute otherwise (the renderer
/// names files relative to the tree root it was given).
fn with_local_path(mut e: ::render::Error, root: &Path) -> ::render::Error {
    if let Some(file) = &e.file {
        let full = root.join(file);
        let cwd = std::env::current_dir()
            .ok()
            .and_then(|d| d.canonicalize().ok());
        let shown = cwd
            .as_deref()
            .and_then(|cwd| full.strip_prefix(cwd).ok())
            .unwrap_or(&full);
        e.file = Some(shown.display().to_string());
    }
    e
}

/// The root of the Git checkout holding `dir` (else `/`), and `dir` as a
/// `/`-separated path relative to it.
fn enclosing_tree(dir: &Path) -> Result<(PathBuf, String)> {
    let abs = dir
        .canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))?;
    let root = abs
        .ancestors()
        .find(|a| a.join(".git").exists())
        .or_else(|| abs.ancestors().last())
        .unwrap_or(&abs)
        .to_path_buf();
    let rel = abs.strip_prefix(&root).unwrap_or(Path::new(""));
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    let parts = parts.ok_or_else(|| anyhow!("{}: the path is not valid UTF-8", abs.display()))?;
    Ok((root, parts.join("/")))
}

/// The chosen source of the Application in `file`, the field it came from,
/// its build environment and the Application.
fn app_source(file: &Path, index: Option<usize>) -> Result<(String, Source, Env, Value)> {
    let shown = file.display().to_string();
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {shown}"))?;
    let docs = ::render::yaml::parse_documents(&text, &shown)?;
    let app = docs
        .iter()
        .find(|d| d.get("kind").and_then(Value::as_str) == Some("Application"))
        .ok_or_else(|| {
            anyhow!("{shown}: no Argo CD Application (kind: Application) in the file")
        })?;
    let mut sources = source::application_sources(app)
        .map_err(|e| anyhow::Error::new(e.in_file(shown.as_str())))?;
    let count = sources.len();
    let (field, source) = match index {
        Some(i) if i < count => sources.swap_remove(i),
        Some(i) => bail!(
            "{shown}: --source-index {i} is out of range: the Application has {count} source(s)"
        ),
        None if count == 1 => sources.swap_remove(0),
        None => bail!(
            "{shown}: the Application has {count} sources in spec.sources; choose one with --source-index"
        ),
    };
    let env = source::app_env(app, &source, None);
    Ok((field, source, env, app.clone()))
}

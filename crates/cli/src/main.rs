//! The `gyro` command-line program: thin glue over gyro's library crates.
//!
//! Each subcommand lives in its own module and gets the parsed arguments;
//! this file only parses the command line, sets up logging and maps errors
//! to exit codes.

mod check;
mod controller;
mod install;
mod kubeconfig;
mod render;
mod windows;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// GitOps continuous delivery for Kubernetes: keeps clusters in the state
/// that Git describes.
#[derive(Parser)]
#[command(name = "gyro", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    kube: kubeconfig::KubeArgs,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check that gyro can reach the cluster: API version, Ready nodes and
    /// the permissions gyro's controller needs.
    Check,
    /// Render a directory or kustomization (optionally as an Argo CD
    /// Application's source) and print the objects as a YAML stream.
    Render(render::RenderArgs),
    /// Run the Application controller: sync Argo CD Applications from Git
    /// and report their status.
    Controller(controller::ControllerArgs),
    /// Install gyro into the cluster: Argo CD's CRDs, the controller's
    /// namespace, RBAC, Deployment and Service (server-side apply).
    Install(install::InstallArgs),
    /// AppProject commands.
    #[command(subcommand)]
    Proj(ProjCommand),
    /// Application commands.
    #[command(subcommand)]
    App(AppCommand),
}

#[derive(Subcommand)]
enum ProjCommand {
    /// List a project's sync windows and which are active now.
    Windows(windows::ProjWindowsArgs),
}

#[derive(Subcommand)]
enum AppCommand {
    /// The sync windows that apply to an Application, which are active,
    /// and whether automated and manual syncs are allowed now.
    Windows(windows::AppWindowsArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("GYRO_LOG").unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();

    let result = match cli.command {
        Command::Check => check::run(&cli.kube).await,
        Command::Render(args) => crate::render::run(&args),
        Command::Controller(args) => crate::controller::run(&cli.kube, args).await,
        Command::Install(args) => crate::install::run(&cli.kube, args).await,
        Command::Proj(ProjCommand::Windows(args)) => windows::proj(&cli.kube, &args).await,
        Command::App(AppCommand::Windows(args)) => windows::app(&cli.kube, &args).await,
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

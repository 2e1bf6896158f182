//! The `gyro` command-line program: thin glue over gyro's library crates.
//!
//! Each subcommand lives in its own module and gets the parsed arguments;
//! this file only parses the command line, sets up logging and maps errors
//! to exit codes.

mod app;
mod check;
mod client;
mod cluster;
mod config;
mod controller;
mod core_diff;
mod exit;
mod install;
mod kubeconfig;
mod output;
mod proj;
mod render;
mod repo;
mod serve;
mod server;
mod session;
mod sso;
mod windows;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// GitOps continuous delivery for Kubernetes: keeps clusters in the state
/// that Git describes.
#[derive(Parser)]
#[command(name = "gyro", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    kube: kubeconfig::KubeArgs,

    #[command(flatten)]
    server: client::ServerArgs,

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
    /// Run the API server alone (no reconcile loops): Argo CD's REST API
    /// over HTTPS (or HTTP with --insecure).
    Server(server::ServerArgs),
    /// Install gyro into the cluster: Argo CD's CRDs, the controller's
    /// namespace, RBAC, Deployment and Service (server-side apply).
    Install(install::InstallArgs),
    /// Compare a local directory (or an Application's source in it) with
    /// the live objects, without a gyro server (exit code 1 on differences).
    Diff(core_diff::DiffArgs),
    /// Log in to a gyro server and store the token in the config file.
    Login(session::LoginArgs),
    /// Revoke the token and forget it.
    Logout(session::LogoutArgs),
    /// The versions of the client and the server.
    Version(session::VersionArgs),
    /// Application commands.
    #[command(subcommand)]
    App(app::AppCommand),
    /// AppProject commands.
    #[command(subcommand)]
    Proj(proj::ProjCommand),
    /// Repository commands.
    #[command(subcommand)]
    Repo(repo::RepoCommand),
    /// Cluster commands.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completion { shell: clap_complete::Shell },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version end here too, successfully.
            let code = if err.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = err.print();
            return exit::exit(code);
        }
    };
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
        Command::Server(args) => crate::server::run(&cli.kube, args).await,
        Command::Install(args) => crate::install::run(&cli.kube, args).await,
        Command::Diff(args) => core_diff::run(&cli.kube, args).await,
        Command::Login(args) => session::login(&cli.server, args).await,
        Command::Logout(args) => session::logout(&cli.server, args).await,
        Command::Version(args) => session::version(&cli.server, args).await,
        Command::App(cmd) => app::run(&cli.server, &cli.kube, cmd).await,
        Command::Proj(cmd) => proj::run(&cli.server, &cli.kube, cmd).await,
        Command::Repo(cmd) => repo::run(&cli.server, cmd).await,
        Command::Cluster(cmd) => cluster::run(&cli.server, &cli.kube, cmd).await,
        Command::Completion { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "gyro", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            exit::exit(exit::code_for(&err))
        }
    }
}

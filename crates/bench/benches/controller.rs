//! The controller scale benchmark: N Applications from one Git repository
//! against `gyro controller` as a separate process on the local cluster
//! (see docs/benchmarks.md, "Controller at scale").
//!
//! ```sh
//! cargo bench -p gyro-bench --bench controller                 # N = 1, 100, 1000
//! GYRO_BENCH_N=100 GYRO_BENCH_SKIP=idle cargo bench -p gyro-bench --bench controller
//! ```
//!
//! It builds the `gyro` binary itself (`cargo build --release -p gyro`)
//! unless `GYRO_BENCH_GYRO` names one.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use gyro_bench::scenario::{self, Options};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// The gyro binary: `GYRO_BENCH_GYRO`, or a fresh release build.
fn gyro_binary(root: &Path) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("GYRO_BENCH_GYRO") {
        return Ok(PathBuf::from(path));
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("bench: building gyro (cargo build --release -p gyro --bin gyro)");
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "gyro", "--bin", "gyro"])
        .current_dir(root)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build --release -p gyro failed ({status})");
    }
    Ok(target_dir(root).join("release/gyro"))
}

async fn run() -> Result<()> {
    let root = workspace_root();
    let gyro = gyro_binary(&root)?;
    let out_dir = target_dir(&root).join("gyro-bench");
    let opts = Options::from_env(root, gyro, out_dir)?;
    let outcomes = scenario::run_all(&opts).await?;
    println!("\n{}", scenario::table(&opts, &outcomes));
    for o in &outcomes {
        println!("{}", scenario::details(&opts, o));
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; this program has no options of its own.
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

//! The reference programs `scripts/build-tools` builds (kustomize, helm,
//! kubectl, ...), for tests that use them as oracles.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The directory holding the pinned tools: `$GYRO_TOOLS_BIN`, else the one
/// `scripts/build-tools --print` names (printing builds nothing).
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("GYRO_TOOLS_BIN") {
            return PathBuf::from(dir);
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/build-tools");
        let out = Command::new(&script)
            .arg("--print")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        PathBuf::from(stdout.lines().last().unwrap_or("").trim())
    })
}

/// The path of pinned tool `name`. Panics, saying how to build it, when it
/// is missing: a test that needs an oracle must not pass without one.
pub fn tool(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/build-tools (or set GYRO_TOOLS_BIN to the directory holding the pinned tools)",
        path.display()
    );
    path
}

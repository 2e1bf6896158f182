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

/// A temporary directory holding `files` (path relative to it, content);
/// parent directories are created. Removed when dropped.
pub fn write_tree<C: AsRef<[u8]>>(files: &[(&str, C)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (path, content) in files {
        let file = dir.path().join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).expect("a directory in the temporary tree");
        }
        std::fs::write(&file, content).expect("a file in the temporary tree");
    }
    dir
}

/// Runs the pinned `kustomize build dir`: its stdout, or its stderr when it
/// fails.
pub fn kustomize_build(dir: &Path) -> Result<String, String> {
    let bin = tool("kustomize");
    let out = Command::new(&bin)
        .arg("build")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    if out.status.success() {
        String::from_utf8(out.stdout).map_err(|e| format!("kustomize output is not UTF-8: {e}"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

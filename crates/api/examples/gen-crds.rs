//! Writes `deploy/crds/*-crd.yaml` from
//! the types in `gyro-api` (`cargo run -p gyro-api --example gen-crds`).
//! The `crd_files` test fails when the committed files differ from this
//! output.

use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    std::fs::create_dir_all(&dir)?;
    for (name, yaml) in api::crd::files()? {
        let path = dir.join(name);
        std::fs::write(&path, yaml)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

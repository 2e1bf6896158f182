//! The seed manifests in `testdata/seeds/`, shared by the tests.

// Each test binary uses a different part of this module.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use serde_json::Value;

/// A seed manifest: file name, and the document as JSON.
pub struct Seed {
    pub file: String,
    pub doc: Value,
}

impl Seed {
    pub fn kind(&self) -> &str {
        self.doc["kind"].as_str().unwrap_or_default()
    }
    pub fn name(&self) -> &str {
        self.doc["metadata"]["name"].as_str().unwrap_or_default()
    }
}

pub fn seeds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/seeds")
}

/// Every `*.yaml` in `testdata/seeds/`, sorted by file name.
pub fn seeds() -> Vec<Seed> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(seeds_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let seeds: Vec<Seed> = files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            let doc: Value =
                serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            Seed {
                file: p.file_name().unwrap().to_string_lossy().into_owned(),
                doc,
            }
        })
        .collect();
    assert!(
        seeds.len() >= 8,
        "expected the 8 seed manifests, found {}",
        seeds.len()
    );
    seeds
}

/// Whether `actual` holds everything in `expected` (objects may have more
/// keys; arrays and scalars must be equal). On a mismatch, the JSON
/// pointer of the first difference.
pub fn contains(actual: &Value, expected: &Value, at: &str) -> Result<(), String> {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            for (k, ev) in e {
                let here = format!("{at}/{k}");
                let av = a.get(k).ok_or_else(|| format!("{here} is missing"))?;
                contains(av, ev, &here)?;
            }
            Ok(())
        }
        (Value::Array(a), Value::Array(e)) => {
            if a.len() != e.len() {
                return Err(format!("{at}: {} items, expected {}", a.len(), e.len()));
            }
            for (i, (av, ev)) in a.iter().zip(e).enumerate() {
                contains(av, ev, &format!("{at}/{i}"))?;
            }
            Ok(())
        }
        _ if actual == expected => Ok(()),
        _ => Err(format!("{at}: {actual} != expected {expected}")),
    }
}

/// A document from `testdata/full/`: every field of the Argo CD v3 shape,
/// not only those the seeds use.
pub fn full(file: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/full")
        .join(file);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

//! The file tree a render reads from.
//!
//! Paths are `/`-separated and relative to the tree's root; `..` may not climb
//! above the root. [`DiskFs`] reads a directory on disk, [`MemFs`] holds a
//! tree in memory (tests, and callers that already have the bytes).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// What the renderer needs from a file tree.
pub trait Fs {
    /// The bytes of a file.
    fn read(&self, path: &str) -> Result<Vec<u8>>;
    /// Whether `path` is a directory.
    fn is_dir(&self, path: &str) -> bool;
    /// Whether `path` is a file.
    fn is_file(&self, path: &str) -> bool;
    /// The entries of a directory: names only, sorted by byte order.
    fn list(&self, dir: &str) -> Result<Vec<String>>;

    /// A file as UTF-8 text.
    fn read_to_string(&self, path: &str) -> Result<String> {
        let bytes = self.read(path)?;
        String::from_utf8(bytes).map_err(|_| Error::new("file is not valid UTF-8").in_file(path))
    }
}

/// Joins `rel` onto directory `dir` and resolves `.` and `..`. Fails when the
/// result would leave the tree.
pub fn join(dir: &str, rel: &str) -> Result<String> {
    let mut parts: Vec<&str> = if rel.starts_with('/') {
        Vec::new()
    } else {
        dir.split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect()
    };
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(
                        Error::new(format!("path '{rel}' leaves the tree being rendered"))
                            .in_file(if dir.is_empty() { "." } else { dir }),
                    );
                }
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// The directory part of a tree path (`""` for the root).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[..i],
        None => "",
    }
}

/// Shows a tree path in messages: the root is `.`.
pub fn display(path: &str) -> &str {
    if path.is_empty() { "." } else { path }
}

/// A directory on disk. Symlinks are followed as long as they stay inside
/// the root.
#[derive(Debug, Clone)]
pub struct DiskFs {
    root: PathBuf,
}

impl DiskFs {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DiskFs { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn full(&self, path: &str) -> PathBuf {
        if path.is_empty() {
            self.root.clone()
        } else {
            self.root.join(path)
        }
    }
}

impl Fs for DiskFs {
    fn read(&self, path: &str) -> Result<Vec<u8>> {
        std::fs::read(self.full(path))
            .map_err(|e| Error::new(io_message(&e)).in_file(display(path)))
    }

    fn is_dir(&self, path: &str) -> bool {
        self.full(path).is_dir()
    }

    fn is_file(&self, path: &str) -> bool {
        self.full(path).is_file()
    }

    fn list(&self, dir: &str) -> Result<Vec<String>> {
        let rd = std::fs::read_dir(self.full(dir))
            .map_err(|e| Error::new(io_message(&e)).in_file(display(dir)))?;
        let mut names = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| Error::new(io_message(&e)).in_file(display(dir)))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }
}

fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        _ => e.to_string(),
    }
}

/// A tree held in memory: file path -> bytes. Directories are implied by
/// the file paths.
#[derive(Debug, Clone, Default)]
pub struct MemFs {
    files: BTreeMap<String, Vec<u8>>,
}

impl MemFs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file (replacing any earlier one at that path).
    pub fn add(&mut self, path: &str, content: impl Into<Vec<u8>>) -> &mut Self {
        self.files
            .insert(path.trim_start_matches('/').to_string(), content.into());
        self
    }
}

impl Fs for MemFs {
    fn read(&self, path: &str) -> Result<Vec<u8>> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| Error::new("no such file or directory").in_file(display(path)))
    }

    fn is_dir(&self, path: &str) -> bool {
        if path.is_empty() {
            return true;
        }
        let prefix = format!("{path}/");
        self.files.keys().any(|k| k.starts_with(&prefix))
    }

    fn is_file(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }

    fn list(&self, dir: &str) -> Result<Vec<String>> {
        if !self.is_dir(dir) {
            return Err(Error::new("no such file or directory").in_file(display(dir)));
        }
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let mut names: Vec<String> = self
            .files
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
            .collect();
        names.dedup();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_resolves_dots_and_refuses_to_leave_the_tree() {
        assert_eq!(join("a/b", "../c/./d.yaml").unwrap(), "a/c/d.yaml");
        assert_eq!(join("", "x").unwrap(), "x");
        assert!(join("a", "../../x").is_err());
    }

    #[test]
    fn memfs_lists_directories_implied_by_files() {
        let mut fs = MemFs::new();
        fs.add("a/x.yaml", "")
            .add("a/b/y.yaml", "")
            .add("c.yaml", "");
        assert_eq!(fs.list("").unwrap(), vec!["a", "c.yaml"]);
        assert_eq!(fs.list("a").unwrap(), vec!["b", "x.yaml"]);
        assert!(fs.is_dir("a/b"));
        assert!(!fs.is_dir("a/x.yaml"));
    }
}

//! A read-only view of a repository at one revision, which the git
//! generator reads: its file paths and their contents.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A repository tree at one revision. Paths are relative, `/`-separated,
/// without a leading `./`.
pub trait Tree: Send + Sync {
    /// Every file's path.
    fn files(&self) -> Vec<String>;
    /// A file's contents.
    fn read(&self, path: &str) -> Result<Vec<u8>, String>;

    /// Every directory holding a file (at any depth), without the root.
    fn directories(&self) -> BTreeSet<String> {
        let mut dirs = BTreeSet::new();
        for file in self.files() {
            let mut current = file.as_str();
            while let Some((parent, _)) = current.rsplit_once('/') {
                dirs.insert(parent.to_string());
                current = parent;
            }
        }
        dirs
    }
}

/// A tree held in memory (for tests and small inputs).
#[derive(Debug, Clone, Default)]
pub struct MemoryTree(pub BTreeMap<String, Vec<u8>>);

impl MemoryTree {
    pub fn from_files<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(
            files
                .into_iter()
                .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
                .collect(),
        )
    }
}

impl Tree for MemoryTree {
    fn files(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| format!("{path}: no such file"))
    }
}

/// A checked-out directory (a Git worktree); `.git` and other hidden
/// entries are skipped, as Argo CD lists only tracked, visible paths.
#[derive(Debug, Clone)]
pub struct DirTree {
    root: PathBuf,
    files: Vec<String>,
}

impl DirTree {
    /// Lists the files under `root` once.
    pub fn open(root: &Path) -> Result<Self, String> {
        let mut files = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for entry in entries {
                let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
                let name = entry.file_name();
                if name.to_string_lossy().starts_with('.') {
                    continue;
                }
                let path = entry.path();
                let kind = entry
                    .file_type()
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                if kind.is_dir() {
                    stack.push(path);
                } else if let Ok(rel) = path.strip_prefix(root) {
                    let rel: Vec<String> = rel
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect();
                    files.push(rel.join("/"));
                }
            }
        }
        files.sort();
        Ok(Self {
            root: root.to_path_buf(),
            files,
        })
    }
}

impl Tree for DirTree {
    fn files(&self) -> Vec<String> {
        self.files.clone()
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        if path.split('/').any(|s| s == "..") {
            return Err(format!("{path}: outside the repository"));
        }
        std::fs::read(self.root.join(path)).map_err(|e| format!("{path}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_every_ancestor_of_a_file() {
        let tree =
            MemoryTree::from_files([("apps/a/k.yaml", ""), ("apps/b/c/x", ""), ("README", "")]);
        let dirs: Vec<String> = tree.directories().into_iter().collect();
        assert_eq!(dirs, vec!["apps", "apps/a", "apps/b", "apps/b/c"]);
    }

    #[test]
    fn dir_tree_lists_visible_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("apps/a")).unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join("apps/a/x.yaml"), "a: 1").unwrap();
        std::fs::write(dir.path().join(".git/HEAD"), "x").unwrap();
        let tree = DirTree::open(dir.path()).unwrap();
        assert_eq!(tree.files(), vec!["apps/a/x.yaml".to_string()]);
        assert_eq!(tree.read("apps/a/x.yaml").unwrap(), b"a: 1");
        assert!(tree.read("../etc/passwd").is_err());
    }
}

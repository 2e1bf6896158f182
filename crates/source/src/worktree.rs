//! Checked-out trees, one directory per commit, shared by every caller that
//! wants that commit and bounded in number.
//!
//! A [`Worktree`] is a handle: while any caller holds one, its directory is
//! never evicted. Beyond the configured number of trees, the least recently
//! used trees nobody holds are removed. The files are made read-only: a tree
//! is shared, and nothing may change it under another Application.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::Error;

/// A read-only checkout of one commit. Cloning is cheap; the directory stays
/// until every clone is dropped and the cache evicts it.
#[derive(Debug, Clone)]
pub struct Worktree {
    inner: Arc<Dir>,
}

#[derive(Debug)]
struct Dir {
    sha: String,
    path: PathBuf,
}

impl Worktree {
    /// The directory holding the tree (read it with `render::fs::DiskFs`).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The commit checked out.
    pub fn sha(&self) -> &str {
        &self.inner.sha
    }
}

struct Entry {
    tree: Worktree,
    last_used: u64,
}

pub(crate) struct Cache {
    root: PathBuf,
    capacity: usize,
    state: Mutex<State>,
}

struct State {
    entries: HashMap<String, Entry>,
    clock: u64,
}

impl Cache {
    /// A cache in `root`, emptied first: a tree left by an earlier process may
    /// be half-written, and is cheap to check out again.
    pub fn open(root: PathBuf, capacity: usize) -> Result<Self, Error> {
        if root.exists() {
            for entry in std::fs::read_dir(&root).map_err(|e| Error::cache(&root, e))? {
                let path = entry.map_err(|e| Error::cache(&root, e))?.path();
                remove_tree(&path).map_err(|e| Error::cache(&path, e))?;
            }
        }
        std::fs::create_dir_all(&root).map_err(|e| Error::cache(&root, e))?;
        Ok(Self {
            root,
            capacity: capacity.max(1),
            state: Mutex::new(State {
                entries: HashMap::new(),
                clock: 0,
            }),
        })
    }

    pub fn path_for(&self, sha: &str) -> PathBuf {
        self.root.join(sha)
    }

    /// The cached tree for `sha`, marked as just used.
    pub fn get(&self, sha: &str) -> Option<Worktree> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.clock += 1;
        let now = state.clock;
        state.entries.get_mut(sha).map(|e| {
            e.last_used = now;
            e.tree.clone()
        })
    }

    /// Adds the finished tree at `path_for(sha)` and evicts beyond capacity.
    pub async fn insert(&self, sha: &str) -> Worktree {
        let tree = Worktree {
            inner: Arc::new(Dir {
                sha: sha.to_string(),
                path: self.path_for(sha),
            }),
        };
        let doomed = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.clock += 1;
            let now = state.clock;
            state.entries.insert(
                sha.to_string(),
                Entry {
                    tree: tree.clone(),
                    last_used: now,
                },
            );
            self.evict(&mut state)
        };
        if !doomed.is_empty() {
            let removed = tokio::task::spawn_blocking(move || {
                for path in doomed {
                    if let Err(e) = remove_tree(&path) {
                        tracing::warn!(path = %path.display(), error = %e, "removing an evicted worktree");
                    }
                }
            })
            .await;
            if let Err(e) = removed {
                tracing::warn!(error = %e, "removing evicted worktrees");
            }
        }
        tree
    }

    /// Drops least recently used trees nobody holds until within capacity;
    /// returns their directories, already renamed aside so a new checkout of
    /// the same commit cannot collide with the removal.
    fn evict(&self, state: &mut State) -> Vec<PathBuf> {
        let mut doomed = Vec::new();
        while state.entries.len() > self.capacity {
            // Only the cache's own handle left: nobody is using it.
            let victim = state
                .entries
                .iter()
                .filter(|(_, e)| Arc::strong_count(&e.tree.inner) == 1)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone());
            let Some(sha) = victim else {
                tracing::info!(
                    held = state.entries.len(),
                    capacity = self.capacity,
                    "every cached worktree is in use; over capacity until one is released"
                );
                break;
            };
            state.entries.remove(&sha);
            let path = self.path_for(&sha);
            let aside = crate::git::sibling(&path, "evicted");
            match std::fs::rename(&path, &aside) {
                Ok(()) => doomed.push(aside),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "moving an evicted worktree aside")
                }
            }
            tracing::debug!(sha, "evicted worktree");
        }
        doomed
    }

    pub fn len(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entries
            .len()
    }
}

/// Clears write permission on everything under `dir` (symlinks untouched).
pub(crate) fn make_read_only(dir: &Path) -> std::io::Result<()> {
    set_writable(dir, false)
}

fn set_writable(path: &Path, writable: bool) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = meta.permissions().mode();
    let new = if writable {
        mode | 0o200
    } else {
        mode & !0o222
    };
    // A directory must be writable while its entries are removed, and stays
    // writable until they are changed when made read-only.
    if meta.is_dir() {
        if writable {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(new))?;
        }
        for entry in std::fs::read_dir(path)? {
            set_writable(&entry?.path(), writable)?;
        }
        if !writable {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(new))?;
        }
    } else {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(new))?;
    }
    Ok(())
}

/// Removes a (possibly read-only) tree.
pub(crate) fn remove_tree(path: &Path) -> std::io::Result<()> {
    if !path.exists() {
        return Ok(());
    }
    set_writable(path, true)?;
    if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
}

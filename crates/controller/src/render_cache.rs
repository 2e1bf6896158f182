//! Rendered manifests by (repository, commit, source spec).
//!
//! A commit's manifests never change, so a render is kept and reused on
//! every reconcile until the revision or the source spec changes: a refresh
//! then costs no checkout and no render. The cache is bounded: a source
//! keeps its renders of the last [`COMMITS_PER_SOURCE`] commits (the
//! current one and the one before, for a rollback or a sync to it), and
//! past its capacity the oldest entry goes.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// Repository URL, commit SHA, and the source spec as JSON.
pub type Key = (String, String, String);

/// How many commits' renders one source (repository + spec) keeps.
pub const COMMITS_PER_SOURCE: usize = 2;

/// A bounded map from [`Key`] to rendered objects.
pub struct RenderCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, Arc<Vec<Value>>>,
    order: VecDeque<Key>,
    /// Per (repository, spec): the commits held, oldest first.
    commits: HashMap<(String, String), VecDeque<String>>,
}

impl Inner {
    fn remove(&mut self, key: &Key) {
        self.entries.remove(key);
        self.order.retain(|k| k != key);
        let source = (key.0.clone(), key.2.clone());
        if let Some(commits) = self.commits.get_mut(&source) {
            commits.retain(|c| *c != key.1);
            if commits.is_empty() {
                self.commits.remove(&source);
            }
        }
    }
}

impl RenderCache {
    pub fn new(capacity: usize) -> Self {
        RenderCache {
            capacity: capacity.max(1),
            inner: Mutex::default(),
        }
    }

    /// The objects rendered for `key`, if they are cached.
    pub fn get(&self, key: &Key) -> Option<Arc<Vec<Value>>> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.entries.get(key).cloned()
    }

    /// Drops every render of a repository (a hard refresh).
    pub fn forget_repo(&self, url: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.entries.retain(|(u, _, _), _| u != url);
        inner.order.retain(|(u, _, _)| u != url);
        inner.commits.retain(|(u, _), _| u != url);
    }

    /// Remembers a render, dropping the source's older commits and the
    /// oldest entries past capacity.
    pub fn insert(&self, key: Key, objects: Arc<Vec<Value>>) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.entries.insert(key.clone(), objects).is_some() {
            return;
        }
        inner.order.push_back(key.clone());
        let source = (key.0.clone(), key.2.clone());
        let commits = inner.commits.entry(source).or_default();
        commits.push_back(key.1.clone());
        let stale: Vec<String> = if commits.len() > COMMITS_PER_SOURCE {
            commits
                .drain(..commits.len() - COMMITS_PER_SOURCE)
                .collect()
        } else {
            Vec::new()
        };
        for sha in stale {
            let old = (key.0.clone(), sha, key.2.clone());
            inner.entries.remove(&old);
            inner.order.retain(|k| *k != old);
        }
        while inner.entries.len() > self.capacity {
            let Some(oldest) = inner.order.front().cloned() else {
                break;
            };
            inner.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(sha: &str) -> Key {
        ("file:///repo".into(), sha.into(), "{}".into())
    }

    #[test]
    fn hits_by_key_and_drops_the_oldest_past_capacity() {
        let cache = RenderCache::new(2);
        cache.insert(key("a"), Arc::new(vec![json!({"kind": "A"})]));
        cache.insert(key("b"), Arc::new(vec![]));
        assert_eq!(cache.get(&key("a")).map(|v| v.len()), Some(1));
        cache.insert(key("c"), Arc::new(vec![]));
        assert!(cache.get(&key("a")).is_none());
        assert!(cache.get(&key("b")).is_some() && cache.get(&key("c")).is_some());
        // A source keeps its last two commits.
        let big = RenderCache::new(100);
        for sha in ["1", "2", "3"] {
            big.insert(key(sha), Arc::new(vec![]));
        }
        assert!(big.get(&key("1")).is_none());
        assert!(big.get(&key("2")).is_some() && big.get(&key("3")).is_some());
        cache.forget_repo("file:///other");
        assert!(cache.get(&key("b")).is_some());
        cache.forget_repo("file:///repo");
        assert!(cache.get(&key("b")).is_none() && cache.get(&key("c")).is_none());
        // The same spec at another commit is another entry.
        assert!(
            cache
                .get(&("file:///repo".into(), "c".into(), "{\"path\":\"x\"}".into()))
                .is_none()
        );
    }
}

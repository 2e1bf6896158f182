//! Rendered manifests by (repository, commit, source spec).
//!
//! A commit's manifests never change, so a render is kept and reused on
//! every reconcile until the revision or the source spec changes: a refresh
//! then costs no checkout and no render. The cache is bounded: past its
//! capacity the oldest entry goes.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// Repository URL, commit SHA, and the source spec as JSON.
pub type Key = (String, String, String);

/// A bounded map from [`Key`] to rendered objects.
pub struct RenderCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, Arc<Vec<Value>>>,
    order: VecDeque<Key>,
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
    }

    /// Remembers a render, dropping the oldest entries past capacity.
    pub fn insert(&self, key: Key, objects: Arc<Vec<Value>>) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.entries.insert(key.clone(), objects).is_none() {
            inner.order.push_back(key);
        }
        while inner.entries.len() > self.capacity {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            inner.entries.remove(&oldest);
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

//! App-of-apps loops: an Application whose manifests include an Application
//! that (directly or through its own parents) manages it.
//!
//! A root that manages its own manifest (seed 003's `apps/root-app.yaml`
//! inside `apps/`) is fine and common. A longer loop is not: with label
//! tracking each Application in it would claim the next one's manifest,
//! and deleting any of them with the resources finalizer would wait for
//! ever, each for the other. So an Application that would close a loop is
//! refused with a condition, and the loop never forms.
//!
//! Pure: the caller says who manages whom (from the Applications' tracking
//! marks).

use serde_json::Value;

/// An Application's (namespace, name).
pub type AppKey = (String, String);

/// How far up the parents are followed; deeper trees than this are not
/// app-of-apps layouts anyone writes.
const MAX_DEPTH: usize = 64;

/// The parents of `app`, nearest first: the Application that manages it,
/// the one that manages that one, and so on. Stops at a root (nothing
/// manages it, or it manages itself), at `app` itself, or at a repeat.
pub fn parents(app: &AppKey, manager_of: impl Fn(&AppKey) -> Option<AppKey>) -> Vec<AppKey> {
    let mut chain: Vec<AppKey> = Vec::new();
    let mut current = app.clone();
    while chain.len() < MAX_DEPTH {
        let Some(parent) = manager_of(&current) else {
            break;
        };
        if parent == current || parent == *app || chain.contains(&parent) {
            break;
        }
        chain.push(parent.clone());
        current = parent;
    }
    chain
}

/// The loop `app`'s desired objects would close, as the chain of
/// Applications from `app` back to it (`a -> b -> a`), or `None`. `desired`
/// are the rendered objects with their namespaces filled in.
pub fn closed_loop(
    app: &AppKey,
    desired: &[Value],
    manager_of: impl Fn(&AppKey) -> Option<AppKey>,
) -> Option<String> {
    let parents = parents(app, manager_of);
    for obj in desired {
        let Some(child) = application_key(obj) else {
            continue;
        };
        if let Some(at) = parents.iter().position(|p| *p == child) {
            // `app` would manage the ancestor, which manages its way down
            // (parents are nearest first) to `app`.
            let mut names: Vec<String> = vec![display(app)];
            names.extend(parents[..=at].iter().rev().map(display));
            names.push(display(app));
            return Some(names.join(" -> "));
        }
    }
    None
}

fn application_key(obj: &Value) -> Option<AppKey> {
    let group = obj["apiVersion"].as_str()?.split_once('/')?.0;
    if group != "argoproj.io" || obj["kind"] != "Application" {
        return None;
    }
    Some((
        obj["metadata"]["namespace"].as_str()?.to_string(),
        obj["metadata"]["name"].as_str()?.to_string(),
    ))
}

fn display((namespace, name): &AppKey) -> String {
    format!("{namespace}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    fn key(name: &str) -> AppKey {
        ("argocd".to_string(), name.to_string())
    }

    fn app(name: &str) -> Value {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
               "metadata": {"name": name, "namespace": "argocd"}})
    }

    fn managers(pairs: &[(&str, &str)]) -> impl Fn(&AppKey) -> Option<AppKey> {
        let map: HashMap<AppKey, AppKey> = pairs.iter().map(|(c, p)| (key(c), key(p))).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn parents_stop_at_a_root_a_self_managed_root_and_a_repeat() {
        let m = managers(&[("leaf", "mid"), ("mid", "root"), ("root", "root")]);
        assert_eq!(parents(&key("leaf"), &m), [key("mid"), key("root")]);
        assert_eq!(parents(&key("root"), &m), Vec::<AppKey>::new());
        let cycle = managers(&[("a", "b"), ("b", "c"), ("c", "b")]);
        assert_eq!(parents(&key("a"), cycle), [key("b"), key("c")]);
    }

    #[test]
    fn a_root_managing_itself_and_its_children_is_no_loop() {
        let m = managers(&[("root", "root"), ("api", "root")]);
        let desired = [app("root"), app("api"), app("worker")];
        assert_eq!(closed_loop(&key("root"), &desired, &m), None);
        // A child rendering its siblings is not a loop either.
        assert_eq!(closed_loop(&key("api"), &[app("worker")], &m), None);
    }

    #[test]
    fn rendering_a_parent_or_grandparent_closes_a_loop() {
        let m = managers(&[("b", "a"), ("c", "b")]);
        assert_eq!(
            closed_loop(&key("b"), &[app("a")], &m).as_deref(),
            Some("argocd/b -> argocd/a -> argocd/b")
        );
        assert_eq!(
            closed_loop(&key("c"), &[json!({"kind": "ConfigMap"}), app("a")], &m).as_deref(),
            Some("argocd/c -> argocd/a -> argocd/b -> argocd/c")
        );
        // Another namespace is another Application.
        let mut other = app("a");
        other["metadata"]["namespace"] = json!("team");
        assert_eq!(closed_loop(&key("b"), &[other], &m), None);
    }
}

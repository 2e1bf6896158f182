//! The benchmark's Git repository: one shared base (Deployment with one
//! replica, Service, ConfigMap) and `n` Kustomize overlays
//! `apps/app-<i>/`, each giving its objects a name prefix, a label and its
//! own ConfigMap value, committed with real `git` to a bare repository that
//! gyro reads through a `file://` URL.

use anyhow::Result;
use testkit::GitRepo;

/// Label on every benchmark object (base `commonLabels`), valued with the
/// run's id, so the benchmark's watches see only its own objects.
pub const RUN_LABEL: &str = "gyro.dev/bench-run";

/// The ConfigMap key every overlay sets on its own (changed for one app).
pub const APP_KEY: &str = "app";
/// The ConfigMap key the base sets for all apps (changed for all apps).
pub const SHARED_KEY: &str = "shared";

pub fn app_name(i: usize) -> String {
    format!("app-{i}")
}

/// The name of app `i`'s ConfigMap in the cluster (`namePrefix` + base name).
pub fn configmap_name(i: usize) -> String {
    format!("app-{i}-config")
}

fn base_configmap(shared: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config\ndata:\n  {SHARED_KEY}: \"{shared}\"\n  {APP_KEY}: \"unset\"\n"
    )
}

const BASE_DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: registry.local/web:1.0
        ports:
        - containerPort: 8080
";

const BASE_SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
";

fn overlay(i: usize) -> String {
    format!(
        "resources:\n- ../../base\nnamePrefix: app-{i}-\ncommonLabels:\n  gyro.dev/bench-app: app-{i}\npatches:\n- path: config.yaml\n"
    )
}

fn overlay_patch(value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config\ndata:\n  {APP_KEY}: \"{value}\"\n"
    )
}

/// Writes, commits and pushes the base and `n` overlays; returns the commit.
pub fn create(repo: &GitRepo, run: &str, n: usize) -> Result<String> {
    repo.write(
        "base/kustomization.yaml",
        &format!(
            "resources:\n- configmap.yaml\n- deployment.yaml\n- service.yaml\ncommonLabels:\n  {RUN_LABEL}: {run}\n"
        ),
    )?;
    repo.write("base/configmap.yaml", &base_configmap("s0"))?;
    repo.write("base/deployment.yaml", BASE_DEPLOYMENT)?;
    repo.write("base/service.yaml", BASE_SERVICE)?;
    for i in 0..n {
        repo.write(&format!("apps/app-{i}/kustomization.yaml"), &overlay(i))?;
        repo.write(&format!("apps/app-{i}/config.yaml"), &overlay_patch("v0"))?;
    }
    let sha = repo.commit(&format!("{n} apps"))?;
    repo.push()?;
    Ok(sha)
}

/// A commit that sets app `i`'s own ConfigMap value; returns the commit.
pub fn set_app_value(repo: &GitRepo, i: usize, value: &str) -> Result<String> {
    repo.write(&format!("apps/app-{i}/config.yaml"), &overlay_patch(value))?;
    let sha = repo.commit(&format!("app-{i}: {value}"))?;
    repo.push()?;
    Ok(sha)
}

/// A commit that sets the base's shared ConfigMap value, which every app
/// renders; returns the commit.
pub fn set_shared_value(repo: &GitRepo, value: &str) -> Result<String> {
    repo.write("base/configmap.yaml", &base_configmap(value))?;
    let sha = repo.commit(&format!("base: {value}"))?;
    repo.push()?;
    Ok(sha)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The overlays render with the real `kustomize` to what the benchmark
    /// watches for: the prefixed ConfigMap with both keys, the Deployment and
    /// the Service, all carrying the run label.
    #[test]
    fn overlays_render_with_kustomize() {
        let repo = GitRepo::new("bench").unwrap();
        create(&repo, "r1", 2).unwrap();
        set_app_value(&repo, 1, "v7").unwrap();
        let out = testkit::tools::kustomize_build(&repo.work_path().join("apps/app-1")).unwrap();
        assert!(out.contains("name: app-1-config"), "{out}");
        assert!(out.contains("app: v7"), "{out}");
        assert!(out.contains("shared: s0"), "{out}");
        assert!(out.contains("name: app-1-web"), "{out}");
        assert!(out.contains("kind: Service"), "{out}");
        assert!(out.contains("gyro.dev/bench-run: r1"), "{out}");
        assert_eq!(configmap_name(1), "app-1-config");
    }
}

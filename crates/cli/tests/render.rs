//! `gyro render` on trees in temporary directories, checked against the
//! real kustomize binary (the oracle): a kustomization must render byte for
//! byte as `kustomize build` does; a plain directory as kustomize renders
//! the same files listed in Argo CD's order (`sortOptions: fifo`); an
//! Application's kustomize options as the `kustomize edit` commands Argo CD
//! runs, followed by `kustomize build`. Errors must fail and name the file
//! or field at fault.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

fn gyro(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gyro"))
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("the gyro binary runs")
}

fn kustomize_bin() -> PathBuf {
    testkit::tools::tool("kustomize")
}

/// Runs the oracle in `dir` and returns its stdout; it must succeed.
fn kustomize(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(kustomize_bin())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the kustomize binary runs");
    assert!(out.status.success(), "kustomize {args:?}: {}", shown(&out));
    String::from_utf8(out.stdout).expect("kustomize prints UTF-8")
}

fn shown(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn write(root: &Path, rel: &str, content: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("a file has a parent")).expect("mkdir");
    std::fs::write(path, content).expect("write");
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// Runs `gyro render` and returns stdout; it must succeed.
fn render_ok(args: &[&str]) -> String {
    let mut all = vec!["render"];
    all.extend_from_slice(args);
    let out = gyro(&all);
    assert!(out.status.success(), "gyro {all:?}: {}", shown(&out));
    String::from_utf8(out.stdout).expect("gyro prints UTF-8")
}

/// What kustomize makes of `files` (relative to `root`), kept in the given
/// order: how a directory source must render.
fn oracle_for_files(root: &Path, files: &[&str]) -> String {
    let tmp = TempDir::new().expect("tempdir");
    for f in files {
        let text = std::fs::read_to_string(root.join(f)).expect("read");
        write(tmp.path(), f, &text);
    }
    let list: Vec<String> = files.iter().map(|f| format!("- {f}\n")).collect();
    write(
        tmp.path(),
        "kustomization.yaml",
        &format!("sortOptions:\n  order: fifo\nresources:\n{}", list.concat()),
    );
    kustomize(tmp.path(), &["build", "."])
}

fn config_map(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  key: value-{name}\n"
    )
}

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
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
        image: nginx:1.0
      - name: cache
        image: redis:6
";

const SERVICE: &str = "\
apiVersion: v1
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

/// A directory tree: top-level manifests, a nested one, files that are not
/// manifests.
fn plain_tree() -> TempDir {
    let tmp = TempDir::new().expect("tempdir");
    let root = tmp.path();
    write(root, "b.yaml", &format!("{DEPLOYMENT}---\n{SERVICE}"));
    write(
        root,
        "a.json",
        r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "from-json"}, "data": {"k": "v"}}"#,
    );
    write(root, "c.yml", &config_map("c"));
    write(root, "README.md", "# notes\n");
    write(root, "values.yaml", "replicaCount: 2\n");
    write(root, "sub/d.yaml", &config_map("d"));
    write(root, "sub/skip-me.yaml", &config_map("skipped"));
    write(root, "sub/deeper/e.yaml", &config_map("e"));
    tmp
}

#[test]
fn plain_directory_renders_its_top_level_manifests_in_order() {
    let tree = plain_tree();
    let got = render_ok(&[path_str(tree.path())]);
    let want = oracle_for_files(tree.path(), &["a.json", "b.yaml", "c.yml"]);
    assert_eq!(got, want);
}

#[test]
fn application_directory_options_recurse_include_exclude() {
    let tree = plain_tree();
    let apps = TempDir::new().expect("tempdir");
    let app = write_app(
        apps.path(),
        "  source:\n    repoURL: https://git.example/demo.git\n    path: .\n    directory:\n      recurse: true\n      include: '{*.yaml,*.yml}'\n      exclude: 'sub/skip*'\n",
    );
    let got = render_ok(&[path_str(tree.path()), "--app", path_str(&app)]);
    let want = oracle_for_files(
        tree.path(),
        &["b.yaml", "c.yml", "sub/d.yaml", "sub/deeper/e.yaml"],
    );
    assert_eq!(got, want);
}

/// A base, a component and an overlay using a good share of kustomize.
fn kustomize_tree() -> TempDir {
    let tmp = TempDir::new().expect("tempdir");
    let root = tmp.path();
    write(root, "base/deployment.yaml", DEPLOYMENT);
    write(root, "base/service.yaml", SERVICE);
    write(
        root,
        "base/kustomization.yaml",
        "resources:\n- deployment.yaml\n- service.yaml\ncommonLabels:\n  app: web\nimages:\n- name: nginx\n  newTag: \"1.1\"\nconfigMapGenerator:\n- name: settings\n  literals:\n  - MODE=base\n",
    );
    write(
        root,
        "comp/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ncommonAnnotations:\n  component: \"on\"\n",
    );
    write(
        root,
        "overlay/kustomization.yaml",
        "resources:\n- ../base\nnamePrefix: old-\nconfigMapGenerator:\n- name: settings\n  behavior: merge\n  literals:\n  - MODE=overlay\n",
    );
    tmp
}

#[test]
fn kustomization_renders_as_kustomize_build() {
    let tree = kustomize_tree();
    let overlay = tree.path().join("overlay");
    let got = render_ok(&[path_str(&overlay)]);
    let want = kustomize(&overlay, &["build", "."]);
    assert_eq!(got, want);
}

/// Copies the tree, runs the `kustomize edit` commands Argo CD would run in
/// `app_dir`, then builds it: what the Application must render to.
fn oracle_after_edits(tree: &Path, app_dir: &str, edits: &[&[&str]]) -> String {
    let copy = TempDir::new().expect("tempdir");
    for rel in [
        "base/deployment.yaml",
        "base/service.yaml",
        "base/kustomization.yaml",
        "comp/kustomization.yaml",
        "overlay/kustomization.yaml",
    ] {
        let text = std::fs::read_to_string(tree.join(rel)).expect("read");
        write(copy.path(), rel, &text);
    }
    let dir = copy.path().join(app_dir);
    for args in edits {
        let mut all = vec!["edit"];
        all.extend_from_slice(args);
        kustomize(&dir, &all);
    }
    kustomize(&dir, &["build", "."])
}

fn write_app(dir: &Path, source: &str) -> PathBuf {
    let app = dir.join("application.yaml");
    let text = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: demo\n  namespace: argocd\nspec:\n  project: default\n  destination:\n    namespace: prod\n{source}"
    );
    std::fs::write(&app, text).expect("write app");
    app
}

#[test]
fn application_kustomize_options_act_like_argo_cd_edits() {
    let tree = kustomize_tree();
    let apps = TempDir::new().expect("tempdir");
    let app = write_app(
        apps.path(),
        r#"  source:
    repoURL: https://git.example/demo.git
    path: overlay
    kustomize:
      namePrefix: p-
      nameSuffix: -s
      images:
      - nginx=nginx:1.27
      - redis:7
      replicas:
      - name: web
        count: "3"
      commonLabels:
        team: $ARGOCD_APP_NAME
      commonAnnotations:
        note: $ARGOCD_APP_NAME
      namespace: prod
      components:
      - ../comp
      patches:
      - target:
          kind: Service
        patch: |-
          - op: add
            path: /metadata/labels/patched
            value: "true"
"#,
    );
    let got = render_ok(&[path_str(tree.path()), "--app", path_str(&app)]);
    let want = oracle_after_edits(
        tree.path(),
        "overlay",
        &[
            &["set", "nameprefix", "--", "p-"],
            &["set", "namesuffix", "--", "-s"],
            &["set", "image", "nginx=nginx:1.27", "redis:7"],
            &["set", "replicas", "web=3"],
            &["add", "label", "team:demo"],
            &["add", "annotation", "note:$ARGOCD_APP_NAME"],
            &["set", "namespace", "--", "prod"],
            &[
                "add",
                "patch",
                "--kind",
                "Service",
                "--patch",
                "- op: add\n  path: /metadata/labels/patched\n  value: \"true\"",
            ],
            &["add", "component", "../comp"],
        ],
    );
    assert_eq!(got, want);
}

#[test]
fn application_labels_without_selector_act_like_argo_cd_edits() {
    let tree = kustomize_tree();
    let apps = TempDir::new().expect("tempdir");
    let app = write_app(
        apps.path(),
        "  sources:\n  - repoURL: https://git.example/values.git\n    ref: values\n  - repoURL: https://git.example/demo.git\n    path: overlay\n    kustomize:\n      commonLabels:\n        tier: front\n      labelWithoutSelector: true\n      labelIncludeTemplates: true\n      ignoreMissingComponents: true\n      components: [../missing, ../comp]\n",
    );
    let got = render_ok(&[
        path_str(tree.path()),
        "--app",
        path_str(&app),
        "--source-index",
        "1",
    ]);
    let want = oracle_after_edits(
        tree.path(),
        "overlay",
        &[
            &[
                "add",
                "label",
                "--without-selector",
                "--include-templates",
                "tier:front",
            ],
            &["add", "component", "../comp"],
        ],
    );
    assert_eq!(got, want);

    // The ref-only source renders nothing; two sources need a choice.
    assert_eq!(
        render_ok(&[
            path_str(tree.path()),
            "--app",
            path_str(&app),
            "--source-index",
            "0"
        ]),
        ""
    );
    let out = gyro(&["render", path_str(tree.path()), "--app", path_str(&app)]);
    assert!(!out.status.success(), "{}", shown(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--source-index"),
        "{}",
        shown(&out)
    );
}

#[test]
fn a_broken_manifest_fails_and_names_the_file() {
    let tree = TempDir::new().expect("tempdir");
    write(tree.path(), "good.yaml", &config_map("good"));
    write(
        tree.path(),
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n",
    );
    let out = gyro(&["render", path_str(tree.path())]);
    assert!(!out.status.success(), "{}", shown(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.yaml"), "{}", shown(&out));
    assert!(out.stdout.is_empty(), "{}", shown(&out));
}

#[test]
fn a_bad_application_field_fails_and_is_named() {
    let tree = plain_tree();
    let apps = TempDir::new().expect("tempdir");
    let app = write_app(
        apps.path(),
        "  source:\n    path: .\n    directory:\n      recurse: maybe\n",
    );
    let out = gyro(&["render", path_str(tree.path()), "--app", path_str(&app)]);
    assert!(!out.status.success(), "{}", shown(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("application.yaml"), "{}", shown(&out));
    assert!(
        stderr.contains("spec.source.directory.recurse"),
        "{}",
        shown(&out)
    );

    let app = write_app(apps.path(), "  source:\n    path: nowhere\n");
    let out = gyro(&["render", path_str(tree.path()), "--app", path_str(&app)]);
    assert!(!out.status.success(), "{}", shown(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nowhere"),
        "{}",
        shown(&out)
    );
}

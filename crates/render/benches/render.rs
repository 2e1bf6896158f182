//! Render benchmark: gyro's in-process Kustomize build against the real
//! `kustomize build`, and against only parsing the input YAML.
//!
//! Run with `cargo bench -p gyro-render --bench render`. It prints a table
//! of medians; `GYRO_BENCH_RUNS` sets the number of runs (default 30 for
//! gyro, a third of that for the kustomize binary). "parse-only" reads and
//! parses exactly the files the build reads, and nothing else: the floor
//! for any renderer that reads YAML.
//!
//! Cases: the seed 001 overlay and the seed 004 production overlay from
//! the conformance corpus, and a synthetic overlay of 500 resources with
//! 20 patches, written to a temporary directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use render::fs::{DiskFs, Fs};

struct Case {
    name: &'static str,
    root: PathBuf,
    build_path: String,
}

fn main() {
    let runs: usize = std::env::var("GYRO_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let kustomize = kustomize_binary();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/kustomize");
    let synthetic = tempfile::tempdir().expect("temporary directory");
    write_synthetic(synthetic.path(), 500, 20);

    let mut cases: Vec<Case> = [
        (
            "seed 001 ab-testing demo-prod",
            "seed001-ab-testing",
            "istio-demo/ab-testing/environments/demo-prod",
        ),
        (
            "seed 004 order-service production",
            "seed004-order-service",
            "apps/order-service/overlays/production",
        ),
    ]
    .into_iter()
    .map(|(name, dir, build_path)| Case {
        name,
        root: corpus.join(dir),
        build_path: build_path.to_string(),
    })
    .collect();
    cases.push(Case {
        name: "synthetic 500 resources, 20 patches",
        root: synthetic.path().to_path_buf(),
        build_path: "overlay".to_string(),
    });

    // GYRO_BENCH_CASE=<substring> runs one case (for profiling).
    if let Ok(only) = std::env::var("GYRO_BENCH_CASE") {
        cases.retain(|c| c.name.contains(&only));
    }
    println!(
        "| case | objects | gyro median | parse-only median | gyro / parse | kustomize median | kustomize / gyro |"
    );
    println!("|---|---|---|---|---|---|---|");
    for case in &cases {
        let fs = DiskFs::new(&case.root);
        let objects = match render::kustomize::build(&fs, &case.build_path) {
            Ok(objs) => objs.len(),
            Err(e) => {
                println!("| {} | build failed: {e} | | | | | |", case.name);
                continue;
            }
        };
        // The baseline parses exactly the files the build reads.
        let recorder = Recorder {
            inner: &fs,
            read: Default::default(),
        };
        render::kustomize::build(&recorder, &case.build_path).expect("build");
        let files: Vec<String> = recorder.read.into_inner().into_iter().collect();
        // Alternating the two keeps drift on a busy machine out of the ratio.
        let (gyro, parse) = medians_alternating(
            runs,
            || {
                let objs = render::kustomize::build(&fs, &case.build_path).expect("build");
                let out = render::yaml::to_yaml_stream(&objs);
                std::hint::black_box(out);
            },
            || {
                for f in &files {
                    let text = fs.read_to_string(f).expect("read");
                    let docs = render::yaml::parse_documents(&text, f).expect("parse");
                    std::hint::black_box(docs);
                }
            },
        );
        let dir = case.root.join(&case.build_path);
        let kz = median((runs / 3).max(3), || {
            let out = Command::new(&kustomize)
                .arg("build")
                .arg(&dir)
                .output()
                .expect("run kustomize");
            assert!(out.status.success(), "kustomize build failed");
        });
        println!(
            "| {} | {} | {} | {} | {:.2}x | {} | {:.1}x |",
            case.name,
            objects,
            fmt(gyro),
            fmt(parse),
            gyro.as_secs_f64() / parse.as_secs_f64(),
            fmt(kz),
            kz.as_secs_f64() / gyro.as_secs_f64()
        );
    }
}

/// An `Fs` that notes which files a build reads.
struct Recorder<'a> {
    inner: &'a DiskFs,
    read: std::cell::RefCell<std::collections::BTreeSet<String>>,
}

impl Fs for Recorder<'_> {
    fn read(&self, path: &str) -> render::Result<Vec<u8>> {
        self.read.borrow_mut().insert(path.to_string());
        self.inner.read(path)
    }
    fn is_dir(&self, path: &str) -> bool {
        self.inner.is_dir(path)
    }
    fn is_file(&self, path: &str) -> bool {
        self.inner.is_file(path)
    }
    fn list(&self, dir: &str) -> render::Result<Vec<String>> {
        self.inner.list(dir)
    }
}

/// Medians of `f` and `g`, run one after the other `runs` times.
fn medians_alternating(
    runs: usize,
    mut f: impl FnMut(),
    mut g: impl FnMut(),
) -> (Duration, Duration) {
    f(); // warm-up
    g();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        f();
        a.push(start.elapsed());
        let start = Instant::now();
        g();
        b.push(start.elapsed());
    }
    a.sort();
    b.sort();
    (a[a.len() / 2], b[b.len() / 2])
}

fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    f(); // warm-up
    let mut times: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

fn kustomize_binary() -> PathBuf {
    testkit::tools::tool("kustomize")
}

/// A base of `n` resources (Deployments, Services and ConfigMaps in 10
/// files) and an overlay with a prefix, labels, a namespace, an image
/// override, a generator and `patches` patches (half strategic merge, half
/// JSON 6902).
fn write_synthetic(root: &Path, n: usize, patches: usize) {
    let base = root.join("base");
    let overlay = root.join("overlay");
    std::fs::create_dir_all(&base).expect("mkdir");
    std::fs::create_dir_all(&overlay).expect("mkdir");
    let per_file = n.div_ceil(10);
    let mut files = Vec::new();
    for f in 0..10 {
        let mut text = String::new();
        for i in f * per_file..((f + 1) * per_file).min(n) {
            text.push_str(&match i % 3 {
                0 => format!(
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  labels:\n    app: app-{i}\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: app-{i}\n  template:\n    metadata:\n      labels:\n        app: app-{i}\n    spec:\n      containers:\n      - name: main\n        image: registry.example.com/app:1.0.{i}\n        ports:\n        - containerPort: 8080\n        env:\n        - name: MODE\n          value: \"production\"\n        envFrom:\n        - configMapRef:\n            name: settings\n        resources:\n          limits:\n            cpu: 500m\n            memory: 256Mi\n---\n"
                ),
                1 => format!(
                    "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\nspec:\n  selector:\n    app: app-{i}\n  ports:\n  - port: 80\n    targetPort: 8080\n---\n"
                ),
                _ => format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  key: \"value {i}\"\n  long: |\n    line one of {i}\n    line two of {i}\n---\n"
                ),
            });
        }
        let name = format!("resources-{f}.yaml");
        std::fs::write(base.join(&name), text).expect("write");
        files.push(name);
    }
    let mut k = String::from("resources:\n");
    for f in &files {
        k.push_str(&format!("- {f}\n"));
    }
    k.push_str("configMapGenerator:\n- name: settings\n  literals:\n  - LOG_LEVEL=info\n");
    std::fs::write(base.join("kustomization.yaml"), k).expect("write");

    let mut k = String::from(
        "resources:\n- ../base\nnamespace: bench\nnamePrefix: prod-\ncommonLabels:\n  env: production\nimages:\n- name: registry.example.com/app\n  newTag: \"2.0\"\npatches:\n",
    );
    let deployments: Vec<usize> = (0..n).filter(|i| i % 3 == 0).collect();
    for p in 0..patches {
        let i = deployments[p % deployments.len()];
        if p % 2 == 0 {
            k.push_str(&format!(
                "- target:\n    kind: Deployment\n    name: app-{i}\n  patch: |-\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: app-{i}\n    spec:\n      replicas: 3\n      template:\n        spec:\n          containers:\n          - name: main\n            env:\n            - name: PATCHED\n              value: \"yes\"\n"
            ));
        } else {
            k.push_str(&format!(
                "- target:\n    kind: Deployment\n    name: app-{i}\n  patch: |-\n    - op: replace\n      path: /spec/replicas\n      value: 5\n    - op: add\n      path: /metadata/annotations\n      value:\n        patched: json6902\n"
            ));
        }
    }
    std::fs::write(overlay.join("kustomization.yaml"), k).expect("write");
}

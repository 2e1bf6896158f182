//! One benchmark run per size N, against `gyro controller` running as a
//! separate process (so `/proc` shows its memory and CPU alone):
//!
//! 1. namespaces (one for the Applications, one per `apps_per_namespace`
//!    destinations) and the Git repository ([`crate::repo`]);
//! 2. gyro started, watching only the Applications' namespace;
//! 3. **sync**: N automated Applications applied (server-side apply,
//!    bounded concurrency); the clock runs from the first apply until every
//!    Application is `Synced` and `Healthy` at the pushed commit;
//! 4. **idle**: CPU over a window where nothing changes;
//! 5. **one app**: a commit changing app-0's ConfigMap, then the trigger
//!    (webhook, or the refresh annotation while gyro has no webhook); the
//!    clock runs from the push until the new value is in the cluster;
//! 6. **all apps**: a commit changing the base every app renders, the
//!    trigger for all apps; the clock per app runs until its ConfigMap has
//!    the new value;
//! 7. gyro stopped, its namespaces deleted (gyro has no cascading delete
//!    yet, so deleting the Applications would leave their objects behind).
//!
//! "In the cluster" is what a watch on the API server reports: one watch
//! on the Applications and one on the run's ConfigMaps record the first
//! instant each fact (an Application Synced+Healthy at a commit, a
//! ConfigMap key with a value) was seen.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource};
use serde_json::{Value, json};
use testkit::GitRepo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::metrics;
use crate::proc;
use crate::repo::{self, APP_KEY, RUN_LABEL, SHARED_KEY};
use crate::stats;

/// The flag of `gyro controller` that says where to serve the Git webhook
/// (`ADDR` or `off`). The benchmark uses the webhook as the trigger when
/// `gyro controller --help` lists this flag, and the refresh annotation
/// otherwise.
pub const WEBHOOK_FLAG: &str = "--listen";

/// Label on every namespace the benchmark creates, so leftovers of an
/// interrupted run are found and deleted.
const BENCH_LABEL: &str = "gyro.dev/bench";
const MANAGER: &str = "gyro-bench";
const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";

/// How a new commit is announced to gyro.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TriggerChoice {
    /// The webhook when gyro has one, else the refresh annotation.
    Auto,
    Webhook,
    Refresh,
}

/// What to run; [`Options::from_env`] reads it from `GYRO_BENCH_*`.
#[derive(Clone, Debug)]
pub struct Options {
    pub sizes: Vec<usize>,
    /// Parts left out: `idle`, `one`, `all`.
    pub skip: Vec<String>,
    /// Longest wait for one phase before it is reported as partial.
    pub timeout: Duration,
    pub one_rounds: usize,
    pub all_rounds: usize,
    pub idle: Duration,
    pub trigger: TriggerChoice,
    /// `GYRO_LOG` for the gyro process.
    pub gyro_log: String,
    pub gyro: PathBuf,
    pub apps_per_namespace: usize,
    pub concurrency: usize,
    pub reconcile_interval: String,
    /// Keep the namespaces after the run (to look at them).
    pub keep: bool,
    /// Where gyro's logs and caches go.
    pub out_dir: PathBuf,
    /// The repository root (for `scripts/cluster`).
    pub repo_root: PathBuf,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .ok()
            .with_context(|| format!("{name}={v:?} is not a number")),
        Err(_) => Ok(default),
    }
}

impl Options {
    pub fn from_env(repo_root: PathBuf, gyro: PathBuf, out_dir: PathBuf) -> Result<Self> {
        let sizes = env_or("GYRO_BENCH_N", "1,100,1000")
            .split(',')
            .map(|s| {
                s.trim()
                    .replace('_', "")
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .with_context(|| format!("GYRO_BENCH_N: {s:?} is not a positive number"))
            })
            .collect::<Result<Vec<_>>>()?;
        let skip = env_or("GYRO_BENCH_SKIP", "")
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>();
        if let Some(bad) = skip
            .iter()
            .find(|s| !["idle", "one", "all"].contains(&s.as_str()))
        {
            bail!("GYRO_BENCH_SKIP: unknown part {bad:?} (idle, one, all)");
        }
        let trigger = match env_or("GYRO_BENCH_TRIGGER", "auto").as_str() {
            "auto" => TriggerChoice::Auto,
            "webhook" => TriggerChoice::Webhook,
            "refresh" => TriggerChoice::Refresh,
            other => bail!("GYRO_BENCH_TRIGGER: {other:?} is not auto, webhook or refresh"),
        };
        Ok(Self {
            sizes,
            skip,
            timeout: Duration::from_secs(env_num("GYRO_BENCH_TIMEOUT", 300)?),
            one_rounds: env_num("GYRO_BENCH_ONE_ROUNDS", 5)?,
            all_rounds: env_num("GYRO_BENCH_ALL_ROUNDS", 1)?,
            idle: Duration::from_secs(env_num("GYRO_BENCH_IDLE", 30)?),
            trigger,
            gyro_log: env_or("GYRO_BENCH_LOG", "info"),
            gyro,
            apps_per_namespace: env_num("GYRO_BENCH_APPS_PER_NS", 100usize)?.max(1),
            concurrency: env_num("GYRO_BENCH_CONCURRENCY", 32usize)?.max(1),
            reconcile_interval: env_or("GYRO_BENCH_RECONCILE_INTERVAL", "180s"),
            keep: std::env::var("GYRO_BENCH_KEEP").is_ok_and(|v| v == "1"),
            out_dir,
            repo_root,
        })
    }

    fn runs(&self, part: &str) -> bool {
        !self.skip.iter().any(|s| s == part)
    }
}

/// How long the facts a phase waited for took to appear, from its start.
#[derive(Clone, Debug, Default)]
pub struct Waited {
    pub latencies: Vec<Duration>,
    pub expected: usize,
    pub timed_out: bool,
}

impl Waited {
    /// Time until the last fact, or `> timeout (k/N)` when cut short.
    fn total(&self, timeout: Duration) -> String {
        if self.timed_out {
            format!(
                "> {} s ({}/{} done)",
                timeout.as_secs(),
                self.latencies.len(),
                self.expected
            )
        } else {
            stats::percentile(&self.latencies, 100.0)
                .map_or("-".to_string(), |d| format!("{:.1} s", d.as_secs_f64()))
        }
    }

    fn summary(&self) -> String {
        let s = stats::summary(&self.latencies);
        if self.timed_out {
            format!("{s} ({}/{} done)", self.latencies.len(), self.expected)
        } else {
            s
        }
    }
}

/// CPU seconds per process, and gyro's peak RSS, over one phase.
#[derive(Clone, Debug)]
pub struct Phase {
    pub name: String,
    pub wall: Duration,
    pub cpu: Vec<f64>,
    pub gyro_hwm_kib: u64,
    /// API server requests in the phase (class, count, summed latency s),
    /// when its metrics could be read.
    pub requests: Vec<(String, f64, f64)>,
}

/// Everything measured for one N.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub n: usize,
    pub trigger: &'static str,
    pub sync: Waited,
    pub apply_wall: Duration,
    pub one: Vec<Duration>,
    pub one_timed_out: bool,
    pub all: Option<Waited>,
    pub idle: Option<Duration>,
    pub processes: Vec<String>,
    pub phases: Vec<Phase>,
    pub gyro_log: PathBuf,
}

/// The processes whose CPU is sampled: gyro first, then the cluster's
/// components, then the benchmark itself.
struct Procs {
    ticks: f64,
    list: Vec<(String, u32)>,
}

impl Procs {
    fn cpu(&self) -> Vec<f64> {
        self.list
            .iter()
            .map(|(_, pid)| proc::cpu_seconds(*pid, self.ticks).unwrap_or(f64::NAN))
            .collect()
    }
}

struct Clock<'a> {
    procs: &'a Procs,
    gyro_pid: u32,
    start: Instant,
    cpu: Vec<f64>,
    requests: Option<metrics::Requests>,
}

impl<'a> Clock<'a> {
    fn start(procs: &'a Procs, gyro_pid: u32) -> Self {
        Self {
            procs,
            gyro_pid,
            requests: metrics::scrape().ok(),
            start: Instant::now(),
            cpu: procs.cpu(),
        }
    }

    fn stop(self, name: &str) -> Phase {
        let now = self.procs.cpu();
        let wall = self.start.elapsed();
        let requests = match (&self.requests, metrics::scrape()) {
            (Some(before), Ok(after)) => metrics::delta(before, &after),
            _ => Vec::new(),
        };
        Phase {
            requests,
            name: name.to_string(),
            wall,
            cpu: now.iter().zip(&self.cpu).map(|(b, a)| b - a).collect(),
            gyro_hwm_kib: proc::peak_rss_kib(self.gyro_pid).unwrap_or(0),
        }
    }
}

/// First instant each fact was seen by a watch.
type Seen = Arc<Mutex<HashMap<String, Instant>>>;

fn record(seen: &Seen, facts: Vec<String>) {
    if facts.is_empty() {
        return;
    }
    let now = Instant::now();
    if let Ok(mut map) = seen.lock() {
        for f in facts {
            map.entry(f).or_insert(now);
        }
    }
}

fn app_fact(name: &str, sha: &str) -> String {
    format!("app/{name}/{sha}")
}

fn cm_fact(cm: &str, key: &str, value: &str) -> String {
    format!("cm/{cm}/{key}={value}")
}

/// `app/<name>/<revision>` when the Application is Synced and Healthy.
fn application_facts(app: &DynamicObject) -> Vec<String> {
    let status = app.data.get("status");
    let get = |p: &str| status.and_then(|s| s.pointer(p)).and_then(Value::as_str);
    match (
        get("/sync/status"),
        get("/health/status"),
        get("/sync/revision"),
    ) {
        (Some("Synced"), Some("Healthy"), Some(rev)) => {
            vec![app_fact(app.metadata.name.as_deref().unwrap_or(""), rev)]
        }
        _ => Vec::new(),
    }
}

fn configmap_facts(cm: &ConfigMap) -> Vec<String> {
    let name = cm.metadata.name.as_deref().unwrap_or("");
    cm.data
        .iter()
        .flatten()
        .map(|(k, v)| cm_fact(name, k, v))
        .collect()
}

fn spawn_watch<K>(
    api: Api<K>,
    config: watcher::Config,
    seen: Seen,
    facts: fn(&K) -> Vec<String>,
) -> tokio::task::JoinHandle<()>
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    tokio::spawn(async move {
        let mut events = watcher(api, config)
            .default_backoff()
            .applied_objects()
            .boxed();
        while let Some(event) = events.next().await {
            match event {
                Ok(obj) => record(&seen, facts(&obj)),
                Err(e) => eprintln!("bench: watch error (retrying): {e}"),
            }
        }
    })
}

/// Waits until every fact in `expected` was seen, or `timeout`; latencies
/// are measured from `t0`.
async fn wait_facts(seen: &Seen, expected: &[String], t0: Instant, timeout: Duration) -> Waited {
    let deadline = t0 + timeout;
    loop {
        let found: Vec<Duration> = match seen.lock() {
            Ok(map) => expected
                .iter()
                .filter_map(|f| map.get(f).map(|at| at.saturating_duration_since(t0)))
                .collect(),
            Err(_) => Vec::new(),
        };
        let done = found.len() == expected.len();
        if done || Instant::now() >= deadline {
            return Waited {
                latencies: found,
                expected: expected.len(),
                timed_out: !done,
            };
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How a commit is announced to the running gyro.
enum Trigger {
    Webhook(SocketAddr),
    Refresh,
}

impl Trigger {
    fn label(&self) -> &'static str {
        match self {
            Trigger::Webhook(_) => "webhook",
            Trigger::Refresh => "refresh annotation",
        }
    }

    async fn fire(&self, ctx: &Run<'_>, apps: &[String], sha: &str, paths: &[&str]) -> Result<()> {
        match self {
            Trigger::Webhook(addr) => post_webhook(*addr, &ctx.repo_url, sha, paths).await,
            Trigger::Refresh => {
                let api = ctx.apps_api();
                let patch = json!({"metadata": {"annotations": {REFRESH_ANNOTATION: "normal"}}});
                futures::stream::iter(apps.iter().map(|name| {
                    let api = api.clone();
                    let patch = patch.clone();
                    async move {
                        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                            .await
                            .with_context(|| format!("annotating Application {name}"))
                    }
                }))
                .buffer_unordered(ctx.opts.concurrency)
                .try_collect::<Vec<_>>()
                .await
                .map(drop)
            }
        }
    }
}

/// A GitHub push event for `sha` on `main`, posted to gyro's webhook.
async fn post_webhook(addr: SocketAddr, url: &str, sha: &str, paths: &[&str]) -> Result<()> {
    let body = json!({
        "ref": "refs/heads/main",
        "after": sha,
        "repository": {"html_url": url, "clone_url": url, "default_branch": "main"},
        "commits": [{"id": sha, "added": [], "removed": [], "modified": paths}],
    })
    .to_string();
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to gyro's webhook at {addr}"))?;
    let request = format!(
        "POST /api/webhook HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         X-GitHub-Event: push\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    let status = text.split_whitespace().nth(1).unwrap_or("");
    if !status.starts_with('2') {
        bail!(
            "gyro's webhook answered {:?}",
            text.lines().next().unwrap_or("")
        );
    }
    Ok(())
}

/// What one N's run shares.
struct Run<'a> {
    opts: &'a Options,
    client: Client,
    apps_ns: String,
    repo_url: String,
    app_resource: ApiResource,
}

impl Run<'_> {
    fn apps_api(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.apps_ns, &self.app_resource)
    }
}

fn application_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    )
}

/// Deletes the benchmark's namespaces (this run's or an interrupted one's)
/// and waits until they are gone, so the next run starts on a quiet
/// cluster.
async fn delete_namespaces(client: &Client, timeout: Duration) -> Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let lp = ListParams::default().labels(&format!("{BENCH_LABEL}=true"));
    for ns in api.list(&lp).await.context("listing bench namespaces")? {
        if ns.metadata.deletion_timestamp.is_none()
            && let Some(name) = ns.metadata.name.as_deref()
        {
            api.delete(name, &DeleteParams::background())
                .await
                .with_context(|| format!("deleting namespace {name}"))?;
        }
    }
    let deadline = Instant::now() + timeout;
    loop {
        let left = api.list(&lp).await?.items.len();
        if left == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("{left} bench namespaces still terminating after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn create_namespace(client: &Client, name: &str) -> Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {BENCH_LABEL: "true"}}
    }))?;
    api.create(&PostParams::default(), &ns)
        .await
        .with_context(|| format!("creating namespace {name}"))?;
    Ok(())
}

/// Whether this gyro serves the webhook (its `controller --help` lists
/// [`WEBHOOK_FLAG`]).
pub fn gyro_has_webhook(gyro: &std::path::Path) -> bool {
    Command::new(gyro)
        .args(["controller", "--help"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(WEBHOOK_FLAG))
}

fn free_port() -> Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// The gyro process; killed when dropped.
struct Gyro(Child);

impl Drop for Gyro {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs every size in `opts.sizes` and returns what was measured.
pub async fn run_all(opts: &Options) -> Result<Vec<Outcome>> {
    let client = testkit::client().await?;
    api::crd::install(&client, MANAGER)
        .await
        .context("installing the Argo CD CRDs")?;
    let mut outcomes = Vec::new();
    for &n in &opts.sizes {
        eprintln!("bench: N = {n}");
        let outcome = run_one(opts, &client, n).await?;
        eprintln!("{}", details(opts, &outcome));
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

async fn run_one(opts: &Options, client: &Client, n: usize) -> Result<Outcome> {
    delete_namespaces(client, Duration::from_secs(300)).await?;
    let run_id = format!("n{n}-{}", std::process::id());
    let apps_ns = format!("gyro-bench-{n}");
    let dest_ns = |i: usize| format!("gyro-bench-{n}-d{}", i / opts.apps_per_namespace);
    create_namespace(client, &apps_ns).await?;
    for k in 0..n.div_ceil(opts.apps_per_namespace) {
        create_namespace(client, &dest_ns(k * opts.apps_per_namespace)).await?;
    }

    let git = GitRepo::new("bench")?;
    let sha0 = repo::create(&git, &run_id, n)?;
    let run = Run {
        opts,
        client: client.clone(),
        apps_ns: apps_ns.clone(),
        repo_url: git.url(),
        app_resource: application_resource(),
    };

    // Watches first, so nothing is missed.
    let seen: Seen = Arc::default();
    let watches = [
        spawn_watch(
            run.apps_api(),
            watcher::Config::default(),
            seen.clone(),
            application_facts,
        ),
        spawn_watch(
            Api::<ConfigMap>::all(client.clone()),
            watcher::Config::default().labels(&format!("{RUN_LABEL}={run_id}")),
            seen.clone(),
            configmap_facts,
        ),
    ];

    // gyro, watching only this run's Applications.
    std::fs::create_dir_all(&opts.out_dir)?;
    let log_path = opts.out_dir.join(format!("gyro-n{n}.log"));
    let cache_dir = opts.out_dir.join(format!("cache-n{n}"));
    let _ = std::fs::remove_dir_all(&cache_dir);
    let has_webhook = gyro_has_webhook(&opts.gyro);
    let use_webhook = match opts.trigger {
        TriggerChoice::Refresh => false,
        TriggerChoice::Webhook => true,
        TriggerChoice::Auto => has_webhook,
    };
    let trigger = if use_webhook {
        Trigger::Webhook(free_port()?)
    } else {
        Trigger::Refresh
    };
    let mut cmd = Command::new(&opts.gyro);
    cmd.args(["controller", "--namespace", &apps_ns])
        .args(["--controller-namespace", &apps_ns])
        .args(["--reconcile-interval", &opts.reconcile_interval])
        .arg("--cache-dir")
        .arg(&cache_dir)
        .arg("--kubeconfig")
        .arg(testkit::kubeconfig_path()?)
        .env("GYRO_LOG", &opts.gyro_log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path)?);
    match &trigger {
        Trigger::Webhook(addr) => {
            cmd.args([WEBHOOK_FLAG, &addr.to_string()]);
        }
        // Not the default port, which another gyro may hold.
        Trigger::Refresh if has_webhook => {
            cmd.args([WEBHOOK_FLAG, "off"]);
        }
        Trigger::Refresh => {}
    }
    let mut gyro = Gyro(
        cmd.spawn()
            .with_context(|| format!("starting {}", opts.gyro.display()))?,
    );
    let gyro_pid = gyro.0.id();

    let mut list = vec![("gyro".to_string(), gyro_pid)];
    list.extend(proc::cluster_pids(&opts.repo_root)?);
    list.push(("bench".to_string(), std::process::id()));
    let procs = Procs {
        ticks: proc::clock_ticks(),
        list,
    };
    let mut phases = Vec::new();

    // Started: the webhook port answers, or (without one) a moment for the
    // Application watch to list.
    let clock = Clock::start(&procs, gyro_pid);
    let ready_by = Instant::now() + Duration::from_secs(20);
    match &trigger {
        Trigger::Webhook(addr) => {
            while tokio::net::TcpStream::connect(addr).await.is_err() {
                if Instant::now() > ready_by {
                    bail!(
                        "gyro's webhook at {addr} did not answer within 20 s; see {}",
                        log_path.display()
                    );
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Trigger::Refresh => tokio::time::sleep(Duration::from_secs(1)).await,
    }
    if let Some(status) = gyro.0.try_wait()? {
        bail!("gyro exited ({status}); see {}", log_path.display());
    }
    phases.push(clock.stop("start"));

    // Sync: apply N Applications, wait for all Synced + Healthy at sha0.
    let clock = Clock::start(&procs, gyro_pid);
    let t0 = Instant::now();
    let names: Vec<String> = (0..n).map(repo::app_name).collect();
    let api = run.apps_api();
    futures::stream::iter((0..n).map(|i| {
        let api = api.clone();
        let app = json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": repo::app_name(i), "namespace": apps_ns},
            "spec": {
                "project": "default",
                "source": {"repoURL": run.repo_url, "targetRevision": "main", "path": format!("apps/app-{i}")},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": dest_ns(i)},
                "syncPolicy": {"automated": {"prune": true, "selfHeal": true}},
            },
        });
        async move {
            api.patch(&repo::app_name(i), &PatchParams::apply(MANAGER).force(), &Patch::Apply(&app))
                .await
                .with_context(|| format!("applying Application app-{i}"))
        }
    }))
    .buffer_unordered(opts.concurrency)
    .try_collect::<Vec<_>>()
    .await?;
    let apply_wall = t0.elapsed();
    let expected: Vec<String> = names.iter().map(|a| app_fact(a, &sha0)).collect();
    let sync = wait_facts(&seen, &expected, t0, opts.timeout).await;
    phases.push(clock.stop("sync"));

    let mut outcome = Outcome {
        n,
        trigger: trigger.label(),
        sync: sync.clone(),
        apply_wall,
        one: Vec::new(),
        one_timed_out: false,
        all: None,
        idle: None,
        processes: procs.list.iter().map(|(name, _)| name.clone()).collect(),
        phases: Vec::new(),
        gyro_log: log_path.clone(),
    };

    // The rest only means something once everything is in sync.
    if !sync.timed_out {
        if opts.runs("idle") {
            let clock = Clock::start(&procs, gyro_pid);
            tokio::time::sleep(opts.idle).await;
            phases.push(clock.stop("idle"));
            outcome.idle = Some(opts.idle);
        }

        if opts.runs("one") {
            let clock = Clock::start(&procs, gyro_pid);
            let cm = repo::configmap_name(0);
            for round in 1..=opts.one_rounds {
                let value = format!("v{round}");
                let sha = repo::set_app_value(&git, 0, &value)?;
                let t0 = Instant::now();
                // The webhook announces the commit for every app of the
                // repository; the annotation refreshes app-0 only.
                let moved: &[String] = match trigger {
                    Trigger::Webhook(_) => &names,
                    Trigger::Refresh => &names[..1],
                };
                trigger
                    .fire(&run, &names[..1], &sha, &["apps/app-0/config.yaml"])
                    .await?;
                let live =
                    wait_facts(&seen, &[cm_fact(&cm, APP_KEY, &value)], t0, opts.timeout).await;
                outcome.one.extend(live.latencies);
                if live.timed_out {
                    outcome.one_timed_out = true;
                    break;
                }
                // Let the apps the trigger moved settle before the next round.
                let settled: Vec<String> = moved.iter().map(|a| app_fact(a, &sha)).collect();
                if wait_facts(&seen, &settled, t0, opts.timeout)
                    .await
                    .timed_out
                {
                    outcome.one_timed_out = true;
                    break;
                }
            }
            phases.push(clock.stop("one app"));
        }

        if opts.runs("all") && !outcome.one_timed_out {
            let clock = Clock::start(&procs, gyro_pid);
            let mut all = Waited::default();
            for round in 1..=opts.all_rounds {
                let value = format!("s{round}");
                let sha = repo::set_shared_value(&git, &value)?;
                let t0 = Instant::now();
                trigger
                    .fire(&run, &names, &sha, &["base/configmap.yaml"])
                    .await?;
                let expected: Vec<String> = (0..n)
                    .map(|i| cm_fact(&repo::configmap_name(i), SHARED_KEY, &value))
                    .collect();
                let live = wait_facts(&seen, &expected, t0, opts.timeout).await;
                all.expected += live.expected;
                all.latencies.extend(live.latencies);
                if live.timed_out {
                    all.timed_out = true;
                    break;
                }
                let settled: Vec<String> = names.iter().map(|a| app_fact(a, &sha)).collect();
                if wait_facts(&seen, &settled, t0, opts.timeout)
                    .await
                    .timed_out
                {
                    break;
                }
            }
            phases.push(clock.stop("all apps"));
            outcome.all = Some(all);
        }
    }

    outcome.phases = phases;
    drop(gyro);
    // gyro's Git mirror and checkouts; only its log is kept.
    let _ = std::fs::remove_dir_all(&cache_dir);
    for w in &watches {
        w.abort();
    }
    if !opts.keep {
        delete_namespaces(client, Duration::from_secs(600)).await?;
    }
    Ok(outcome)
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

fn cpu_of(outcome: &Outcome, process: &str, phase: Option<&str>) -> f64 {
    let Some(i) = outcome.processes.iter().position(|p| p == process) else {
        return f64::NAN;
    };
    outcome
        .phases
        .iter()
        .filter(|p| phase.is_none_or(|name| p.name == name))
        .map(|p| p.cpu[i])
        .sum()
}

/// The summary table, one row per N (Markdown).
pub fn table(opts: &Options, outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    let trigger = outcomes.first().map_or("webhook", |o| o.trigger);
    let _ = writeln!(
        out,
        "| N | apply -> all Synced+Healthy | {trigger} -> live, one app (p50 / p90 / max) | {trigger} -> live, all apps (p50 / p90 / max) | gyro peak RSS | gyro CPU s | apiserver CPU s | idle CPU % (gyro / apiserver) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for o in outcomes {
        let hwm = o.phases.iter().map(|p| p.gyro_hwm_kib).max().unwrap_or(0);
        let one = if o.one.is_empty() {
            "-".to_string()
        } else if o.one_timed_out {
            format!(
                "{} (cut at {} s)",
                stats::summary(&o.one),
                opts.timeout.as_secs()
            )
        } else {
            stats::summary(&o.one)
        };
        let idle = match o.idle {
            Some(window) => {
                let pct = |p: &str| 100.0 * cpu_of(o, p, Some("idle")) / window.as_secs_f64();
                format!("{:.1} / {:.1}", pct("gyro"), pct("kube-apiserver"))
            }
            None => "-".to_string(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.1} | {:.1} | {} |",
            o.n,
            o.sync.total(opts.timeout),
            one,
            o.all.as_ref().map_or("-".to_string(), Waited::summary),
            mib(hwm),
            cpu_of(o, "gyro", None),
            cpu_of(o, "kube-apiserver", None),
            idle,
        );
    }
    out
}

/// Per-phase wall time, CPU seconds per process and gyro's peak RSS for
/// one N (Markdown), so it shows where the time went.
pub fn details(opts: &Options, o: &Outcome) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nN = {}: Applications applied in {:.1} s; Synced+Healthy per app p50 / p90 / max {}; trigger: {}; gyro log {}\n",
        o.n,
        o.apply_wall.as_secs_f64(),
        o.sync.summary(),
        o.trigger,
        o.gyro_log.display()
    );
    let _ = writeln!(
        out,
        "| phase | wall s | {} CPU s | gyro peak RSS |",
        o.processes.join(" | ")
    );
    let _ = writeln!(out, "|---|---|{}---|", "---|".repeat(o.processes.len()));
    for p in &o.phases {
        let cpu: Vec<String> = p.cpu.iter().map(|c| format!("{c:.1}")).collect();
        let _ = writeln!(
            out,
            "| {} | {:.1} | {} | {} |",
            p.name,
            p.wall.as_secs_f64(),
            cpu.join(" | "),
            mib(p.gyro_hwm_kib)
        );
    }
    for p in o
        .phases
        .iter()
        .filter(|p| p.name != "start" && !p.requests.is_empty())
    {
        let total: f64 = p.requests.iter().map(|r| r.1).sum();
        let _ = writeln!(
            out,
            "\nAPI server requests during {} ({total:.0} in all; busiest 8 by summed latency):\n\n| request | count | summed latency s |\n|---|---|---|",
            p.name
        );
        for (class, count, secs) in p.requests.iter().take(8) {
            let _ = writeln!(out, "| {class} | {count:.0} | {secs:.1} |");
        }
    }
    if o.sync.timed_out {
        let _ = writeln!(
            out,
            "\nsync cut at {} s: {}/{} Applications Synced+Healthy; later phases not run",
            opts.timeout.as_secs(),
            o.sync.latencies.len(),
            o.sync.expected
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_facts_need_synced_and_healthy() {
        let app = |sync: &str, health: &str| -> DynamicObject {
            serde_json::from_value(json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                "metadata": {"name": "app-3"},
                "status": {"sync": {"status": sync, "revision": "abc"}, "health": {"status": health}},
            }))
            .unwrap()
        };
        assert_eq!(
            application_facts(&app("Synced", "Healthy")),
            vec!["app/app-3/abc"]
        );
        assert!(application_facts(&app("OutOfSync", "Healthy")).is_empty());
        assert!(application_facts(&app("Synced", "Progressing")).is_empty());
    }

    #[tokio::test]
    async fn waiting_for_facts_reports_latency_and_partial_results() {
        let seen: Seen = Arc::default();
        let t0 = Instant::now();
        record(&seen, vec!["a".into()]);
        let w = wait_facts(&seen, &["a".into()], t0, Duration::from_secs(5)).await;
        assert!(!w.timed_out);
        assert_eq!(w.latencies.len(), 1);
        let w = wait_facts(
            &seen,
            &["a".into(), "b".into()],
            t0,
            Duration::from_millis(50),
        )
        .await;
        assert!(w.timed_out);
        assert_eq!((w.latencies.len(), w.expected), (1, 2));
        assert!(w.total(Duration::from_secs(9)).starts_with("> 9 s (1/2"));
    }
}

//! The `gyro` CLI end to end: the built binary against `gyro controller`
//! (which serves the API) run as a child process on the real test cluster,
//! each test with its own namespace as the controller's namespace. Covers
//! login with the initial admin password, every app/proj/repo/cluster
//! command, the documented exit codes (a wait that times out, a diff with
//! differences, an unknown application, a forbidden action), `-o json`
//! and `-o yaml` output and shell completions.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::Api;
use serde_json::Value;
use testkit::{GitRepo, TestNamespace, describe_output};

const IN_CLUSTER: &str = "https://kubernetes.default.svc";

/// A `gyro controller` serving the API for one test namespace, and a
/// config directory of the CLI's own; the process is killed on drop.
struct Server {
    child: Child,
    addr: String,
    ns: TestNamespace,
    client: kube::Client,
    home: tempfile::TempDir,
    _cache: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn kubeconfig() -> Result<String> {
    Ok(testkit::kubeconfig_path()?.display().to_string())
}

impl Server {
    async fn start(prefix: &str) -> Result<Self> {
        let client = testkit::client().await?;
        api::crd::install(&client, "gyro-cli-e2e").await?;
        let ns = TestNamespace::create(&client, prefix).await?;
        let cache = tempfile::tempdir()?;
        let home = tempfile::tempdir()?;
        let addr = testkit::http::free_port()?.to_string();
        let child = Command::new(env!("CARGO_BIN_EXE_gyro"))
            .args(["controller", "--kubeconfig", &kubeconfig()?])
            .args([
                "--namespace",
                ns.name(),
                "--controller-namespace",
                ns.name(),
            ])
            .args(["--cache-dir", &cache.path().display().to_string()])
            .args(["--reconcile-interval", "5s", "--listen", &addr])
            .env_remove("KUBECONFIG")
            .env("GYRO_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting gyro controller")?;
        let server = Self {
            child,
            addr,
            ns,
            client,
            home,
            _cache: cache,
        };
        let start = Instant::now();
        loop {
            let out = server.gyro(&["version", "--server", &server.addr]);
            if out.status.success() {
                break;
            }
            if start.elapsed() > Duration::from_secs(90) {
                bail!("the API server did not come up: {}", describe_output(&out));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok(server)
    }

    fn ns(&self) -> &str {
        self.ns.name()
    }

    fn config_path(&self) -> PathBuf {
        self.home.path().join("gyro-config")
    }

    /// Runs the CLI with this test's config file and the TLS check off
    /// (the server's certificate is self-signed).
    fn gyro(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_gyro"))
            .args(args)
            .args(["--insecure", "--kubeconfig"])
            .arg(testkit::kubeconfig_path().expect("the test cluster's kubeconfig"))
            .env("GYRO_CONFIG", self.config_path())
            .env("HOME", self.home.path())
            .env_remove("GYRO_SERVER")
            .env_remove("GYRO_AUTH_TOKEN")
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .output()
            .expect("the gyro binary runs")
    }

    /// [`Server::gyro`], asserting the exit code; stdout.
    fn run(&self, args: &[&str], code: i32) -> String {
        let out = self.gyro(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "gyro {args:?}: {}",
            describe_output(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs and parses `-o json` output.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let text = self.run(&all, 0);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("gyro {args:?}: not JSON ({e}): {text}"))
    }

    async fn admin_password(&self) -> Result<String> {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), self.ns());
        let start = Instant::now();
        loop {
            if let Some(s) = secrets.get_opt("argocd-initial-admin-secret").await? {
                let pw = s
                    .data
                    .and_then(|d| d.get("password").cloned())
                    .context("argocd-initial-admin-secret has no password")?;
                return Ok(String::from_utf8(pw.0)?);
            }
            if start.elapsed() > Duration::from_secs(30) {
                bail!("argocd-initial-admin-secret was not created");
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    async fn login_admin(&self) -> Result<()> {
        let pw = self.admin_password().await?;
        let out = self.run(
            &[
                "login",
                &self.addr,
                "--username",
                "admin",
                "--password",
                &pw,
            ],
            0,
        );
        assert!(
            out.contains("'admin:login' logged in successfully"),
            "{out}"
        );
        Ok(())
    }
}

fn configmap(value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  LEVEL: {value}\n"
    )
}

fn repo(value: &str) -> Result<GitRepo> {
    let repo = GitRepo::new("cli-e2e")?;
    repo.write("app/configmap.yaml", &configmap(value))?;
    repo.commit("first")?;
    repo.push()?;
    Ok(repo)
}

async fn level(client: &kube::Client, ns: &str) -> Result<Option<String>> {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    Ok(cms
        .get_opt("web-config")
        .await?
        .and_then(|c| c.data)
        .and_then(|d| d.get("LEVEL").cloned()))
}

fn create_app(s: &Server, name: &str, url: &str) {
    s.run(
        &[
            "app",
            "create",
            name,
            "--repo",
            url,
            "--path",
            "app",
            "--revision",
            "main",
            "--dest-server",
            IN_CLUSTER,
            "--dest-namespace",
            s.ns(),
            "--project",
            "default",
        ],
        0,
    );
}

#[tokio::test]
async fn login_app_lifecycle_and_exit_codes() -> Result<()> {
    let s = Server::start("cli-e2e").await?;
    let ns = s.ns().to_string();

    // A wrong password is refused with the server's message.
    let out = s.gyro(&[
        "login",
        &s.addr,
        "--username",
        "admin",
        "--password",
        "wrong",
    ]);
    assert_eq!(out.status.code(), Some(12), "{}", describe_output(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("error: "),
        "{}",
        describe_output(&out)
    );
    // Without a token the server answers 401.
    assert_eq!(
        s.gyro(&["app", "list", "--server", &s.addr]).status.code(),
        Some(12)
    );

    s.login_admin().await?;
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(s.config_path())?.permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let version = s.run(&["version"], 0);
    assert!(
        version.contains("gyro: v") && version.contains("gyro-server:"),
        "{version}"
    );

    let git = repo("one")?;
    let url = git.url();
    s.run(&["repo", "add", &url], 0);
    let repos = s.json(&["repo", "list"]);
    assert!(
        repos["items"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["repo"] == url.as_str())),
        "{repos}"
    );

    create_app(&s, "web", &url);
    create_app(&s, "idle", &url);
    let list = s.json(&["app", "list"]);
    let names: Vec<&str> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["metadata"]["name"].as_str())
        .collect();
    assert!(names.contains(&"web") && names.contains(&"idle"), "{list}");
    let table = s.run(&["app", "list"], 0);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        s.run(&["app", "list", "-o", "name"], 0)
            .lines()
            .any(|l| l == "web")
    );
    let yaml = s.run(&["app", "get", "web", "-o", "yaml"], 0);
    let parsed: Value = serde_saphyr::from_str(&yaml)?;
    assert_eq!(parsed["spec"]["source"]["path"], "app");
    assert!(
        s.run(&["app", "get", "web", "--refresh"], 0)
            .contains("Project:")
    );

    // Not synced yet: the diff shows the missing ConfigMap, exit code 1.
    let start = Instant::now();
    loop {
        let out = s.gyro(&["app", "diff", "web"]);
        if out.status.code() == Some(1) {
            assert!(
                String::from_utf8_lossy(&out.stdout).contains("ConfigMap"),
                "{}",
                describe_output(&out)
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{}",
            describe_output(&out)
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // A wait on a condition that never comes ends with exit code 3.
    let out = s.gyro(&["app", "wait", "idle", "--sync", "--timeout", "3"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe_output(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("timed out"),
        "{}",
        describe_output(&out)
    );

    s.run(&["app", "sync", "web", "--timeout", "120"], 0);
    assert_eq!(level(&s.client, &ns).await?.as_deref(), Some("one"));
    s.run(
        &[
            "app",
            "wait",
            "web",
            "--sync",
            "--health",
            "--timeout",
            "120",
        ],
        0,
    );
    let start = Instant::now();
    while s.gyro(&["app", "diff", "web"]).status.code() != Some(0) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "app diff still differs after the sync"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let manifests = s.run(&["app", "manifests", "web"], 0);
    assert!(
        manifests.contains("kind: ConfigMap") && manifests.contains("LEVEL: one"),
        "{manifests}"
    );

    // A local directory that differs from the live state.
    let local = tempfile::tempdir()?;
    std::fs::write(local.path().join("configmap.yaml"), configmap("local"))?;
    let out = s.gyro(&[
        "app",
        "diff",
        "web",
        "--local",
        &local.path().display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe_output(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("-  LEVEL: one") && text.contains("+  LEVEL: local"),
        "{text}"
    );
    // ... and one with a symlink leaving it is refused before any upload.
    std::os::unix::fs::symlink("/etc/passwd", local.path().join("passwd.yaml"))?;
    let out = s.gyro(&[
        "app",
        "diff",
        "web",
        "--local",
        &local.path().display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(20), "{}", describe_output(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("passwd.yaml: a symlink"),
        "{}",
        describe_output(&out)
    );

    // A second deployment, then a rollback to the first by history id.
    git.write("app/configmap.yaml", &configmap("two"))?;
    git.commit("second")?;
    git.push()?;
    s.run(&["app", "get", "web", "--hard-refresh"], 0);
    s.run(&["app", "sync", "web", "--timeout", "120"], 0);
    assert_eq!(level(&s.client, &ns).await?.as_deref(), Some("two"));
    let history = s.json(&["app", "history", "web"]);
    let ids: Vec<i64> = history
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["id"].as_i64())
        .collect();
    assert!(ids.len() >= 2, "{history}");
    let table = s.run(&["app", "history", "web"], 0);
    assert!(table.starts_with("ID"), "{table}");
    s.run(
        &[
            "app",
            "rollback",
            "web",
            &ids[0].to_string(),
            "--timeout",
            "120",
        ],
        0,
    );
    assert_eq!(level(&s.client, &ns).await?.as_deref(), Some("one"));
    // An id that is not in the history is the server's 400.
    assert_eq!(
        s.gyro(&["app", "rollback", "web", "9999"]).status.code(),
        Some(12)
    );

    // set, then delete; an unknown application is exit code 13.
    s.run(
        &[
            "app",
            "set",
            "idle",
            "--revision",
            "v9",
            "-p",
            "image.tag=1",
        ],
        0,
    );
    let idle = s.json(&["app", "get", "idle"]);
    assert_eq!(idle["spec"]["source"]["targetRevision"], "v9", "{idle}");
    assert_eq!(
        idle["spec"]["source"]["helm"]["parameters"][0]["name"], "image.tag",
        "{idle}"
    );
    s.run(&["app", "delete", "idle", "-y", "--cascade=false"], 0);
    let start = Instant::now();
    while s.gyro(&["app", "get", "idle"]).status.code() != Some(13) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "idle was not deleted"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let out = s.gyro(&["app", "get", "no-such-app"]);
    assert_eq!(out.status.code(), Some(13), "{}", describe_output(&out));

    // Projects and their sync windows through the server.
    let dest = format!("{IN_CLUSTER},{ns}");
    s.run(
        &[
            "proj",
            "create",
            "team",
            "--dest",
            &dest,
            "--src",
            "*",
            "--description",
            "the team",
        ],
        0,
    );
    let projects = s.json(&["proj", "list"]);
    assert!(
        projects["items"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["metadata"]["name"] == "team")),
        "{projects}"
    );
    assert!(s.run(&["proj", "list"], 0).contains("the team"));
    let team = s.json(&["proj", "get", "team"]);
    assert_eq!(team["spec"]["destinations"][0]["namespace"], ns.as_str());
    assert!(
        s.run(&["proj", "windows", "team"], 0)
            .contains("no sync windows")
    );

    // Completions.
    for shell in ["bash", "zsh", "fish"] {
        let script = s.run(&["completion", shell], 0);
        assert!(
            script.contains("gyro") && script.contains("rollback"),
            "{shell}"
        );
    }

    // Logging out revokes the token: the next call is refused.
    s.run(&["logout"], 0);
    let out = s.gyro(&["app", "list"]);
    assert_eq!(out.status.code(), Some(12), "{}", describe_output(&out));
    Ok(())
}

#[tokio::test]
async fn cluster_add_registers_a_kubeconfig_context() -> Result<()> {
    let s = Server::start("cli-cluster").await?;
    s.login_admin().await?;
    let kc = kube::config::Kubeconfig::read_from(testkit::kubeconfig_path()?)?;
    let context = kc
        .current_context
        .clone()
        .context("the test kubeconfig has a current context")?;
    // A ServiceAccount of this test's own, in its own namespace, so that
    // the cluster-wide role and binding names are unique too.
    let sa = format!("mgr-{}", s.ns());
    let out = s.run(
        &[
            "cluster",
            "add",
            &context,
            "--name",
            "e2e-target",
            "--service-account",
            &sa,
            "--system-namespace",
            s.ns(),
            "-y",
            "--upsert",
        ],
        0,
    );
    assert!(out.contains("added"), "{out}");
    let clusters = s.json(&["cluster", "list"]);
    assert!(
        clusters["items"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["name"] == "e2e-target")),
        "{clusters}"
    );
    let roles: Api<ClusterRole> = Api::all(s.client.clone());
    let bindings: Api<ClusterRoleBinding> = Api::all(s.client.clone());
    assert!(roles.get_opt(&format!("{sa}-role")).await?.is_some());
    roles
        .delete(&format!("{sa}-role"), &Default::default())
        .await?;
    bindings
        .delete(&format!("{sa}-role-binding"), &Default::default())
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_forbidden_action_is_refused_with_the_rbac_message() -> Result<()> {
    let s = Server::start("cli-rbac").await?;
    s.login_admin().await?;
    let git = repo("one")?;
    create_app(&s, "guarded", &git.url());
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("proj.yaml");
    std::fs::write(
        &file,
        "apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata:\n  name: readers\nspec:\n  sourceRepos: ['*']\n  destinations:\n  - server: '*'\n    namespace: '*'\n  roles:\n  - name: viewer\n    policies:\n    - p, proj:readers:viewer, applications, get, readers/*, allow\n",
    )?;
    s.run(&["proj", "create", "-f", &file.display().to_string()], 0);
    s.run(&["app", "set", "guarded", "--project", "readers"], 0);
    let token = project_token(&s, "readers", "viewer").await?;
    // Reading is allowed, syncing is not.
    s.run(
        &[
            "app",
            "get",
            "guarded",
            "--auth-token",
            &token,
            "--server",
            &s.addr,
        ],
        0,
    );
    let out = s.gyro(&[
        "app",
        "sync",
        "guarded",
        "--auth-token",
        &token,
        "--server",
        &s.addr,
    ]);
    assert_eq!(out.status.code(), Some(12), "{}", describe_output(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("permission denied") && stderr.contains("applications, sync"),
        "{}",
        describe_output(&out)
    );
    Ok(())
}

/// A project role token, from the API (the CLI has no `proj role` yet).
async fn project_token(s: &Server, project: &str, role: &str) -> Result<String> {
    let cfg: Value = serde_saphyr::from_str(&std::fs::read_to_string(s.config_path())?)?;
    let admin = cfg["users"][0]["auth-token"]
        .as_str()
        .context("the admin token")?
        .to_string();
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()?;
    let r: Value = http
        .post(format!(
            "https://{}/api/v1/projects/{project}/roles/{role}/token",
            s.addr
        ))
        .bearer_auth(admin)
        .json(&serde_json::json!({"expiresIn": 3600, "id": "e2e"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(r["token"]
        .as_str()
        .context("a token in the answer")?
        .to_string())
}

/// A `--listen` port that is taken stops `gyro controller` at start with
/// an error naming it, rather than leaving a controller running without
/// its API and webhook.
#[tokio::test]
async fn a_listen_port_in_use_stops_the_controller_at_start() -> Result<()> {
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = taken.local_addr()?.to_string();
    let cache = tempfile::tempdir()?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_gyro"))
        .args(["controller", "--kubeconfig", &kubeconfig()?])
        .args(["--cache-dir", &cache.path().display().to_string()])
        .args(["--listen", &addr])
        .env_remove("KUBECONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting gyro controller")?;
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            child.kill()?;
            bail!("gyro controller kept running with --listen {addr} taken");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr)?;
    }
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("--listen {addr}")) && stderr.contains("in use"),
        "{stderr}"
    );
    drop(taken);
    Ok(())
}

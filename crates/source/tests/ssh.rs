//! Fetching over SSH from a real `sshd` this test starts on loopback, with
//! its own host key and `authorized_keys` (Debian package `openssh-server`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use source::{Config, Credentials, Error, Source};
use testkit::GitRepo;

const SSHD: &str = "/usr/sbin/sshd";

/// An sshd on 127.0.0.1, killed when dropped.
struct Sshd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn keygen(path: &Path) -> Result<()> {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "gyro-test", "-f"])
        .arg(path))
    .map(drop)
}

impl Sshd {
    /// Starts sshd accepting `client_key.pub`; fails (never skips) when the
    /// program is missing, as the other oracle-backed tests do.
    fn start() -> Result<Self> {
        if !Path::new(SSHD).exists() {
            bail!("{SSHD} is missing: install the Debian package openssh-server");
        }
        let dir = tempfile::Builder::new().prefix("gyro-sshd-").tempdir()?;
        let d = dir.path();
        keygen(&d.join("host_key"))?;
        keygen(&d.join("client_key"))?;
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys"))?;
        // sshd refuses to start as root without its privilege separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config)?;
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("sshd.log"))?)
            .spawn()
            .context("starting sshd")?;
        let mut sshd = Sshd { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline || sshd.child.try_wait()?.is_some() {
                bail!(
                    "sshd did not start: {}",
                    std::fs::read_to_string(sshd.path("sshd.log"))?
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(sshd)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn url(&self, repo: &Path) -> Result<String> {
        let user = run(Command::new("id").arg("-un"))?;
        Ok(format!(
            "ssh://{user}@127.0.0.1:{}{}",
            self.port,
            repo.display()
        ))
    }

    /// A known_hosts file naming this server's host key.
    fn known_hosts(&self) -> Result<PathBuf> {
        let key = std::fs::read_to_string(self.path("host_key.pub"))?;
        let path = self.path("known_hosts");
        std::fs::write(&path, format!("[127.0.0.1]:{} {key}", self.port))?;
        Ok(path)
    }
}

fn with_key(key: String) -> Credentials {
    Credentials {
        ssh_private_key: Some(key),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_with_a_private_key_and_host_key_checking() -> Result<()> {
    let sshd = Sshd::start()?;
    let repo = GitRepo::new("app")?;
    repo.write("cm.yaml", "over: ssh\n")?;
    let head = repo.commit("one")?;
    repo.push()?;
    let url = sshd.url(repo.bare_path())?;
    let key = std::fs::read_to_string(sshd.path("client_key"))?;

    let cache = tempfile::tempdir()?;
    let mut config = Config::new(cache.path());
    config.ssh_known_hosts = Some(sshd.known_hosts()?);
    let src = Source::new(config)?;
    let resolved = src
        .resolve(&url, "main", Some(&with_key(key.clone())))
        .await?;
    assert_eq!(resolved.sha, head);
    let tree = src.checkout(&url, &head).await?;
    assert_eq!(
        std::fs::read_to_string(tree.path().join("cm.yaml"))?,
        "over: ssh\n"
    );

    // A key the server does not accept.
    keygen(&sshd.path("other_key"))?;
    let other = std::fs::read_to_string(sshd.path("other_key"))?;
    let err = src
        .resolve(&url, "main", Some(&with_key(other)))
        .await
        .expect_err("wrong key");
    assert!(
        matches!(&err, Error::AuthenticationFailed { url: u, .. } if *u == url),
        "{err}"
    );

    // An unknown host key is refused unless the credentials say `insecure`.
    let cache = tempfile::tempdir()?;
    let mut config = Config::new(cache.path());
    let empty = sshd.path("empty_known_hosts");
    std::fs::write(&empty, "")?;
    config.ssh_known_hosts = Some(empty);
    let src = Source::new(config)?;
    let err = src
        .resolve(&url, "main", Some(&with_key(key.clone())))
        .await
        .expect_err("unknown host");
    assert!(matches!(&err, Error::AuthenticationFailed { .. }), "{err}");
    let insecure = Credentials {
        insecure: true,
        ..with_key(key)
    };
    assert_eq!(src.resolve(&url, "main", Some(&insecure)).await?.sha, head);
    Ok(())
}

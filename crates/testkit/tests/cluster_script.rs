//! `scripts/cluster` itself: a second independent cluster comes up and
//! `down` leaves none of its processes running; a port in use and stale PID
//! files give clear answers instead of hangs.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};

use anyhow::Result;
use testkit::describe_output;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/cluster")
}

fn cluster(args: &[&str]) -> Output {
    Command::new(script())
        .args(args)
        .env_remove("GYRO_CLUSTER")
        .output()
        .expect("scripts/cluster runs")
}

/// A base port whose six ports (API .. kwok) are all free right now. Each
/// test passes its own `lane` so tests running in parallel never pick the
/// same ports.
fn free_port_base(lane: u16) -> u16 {
    let start = 20000 + lane * 5000 + (std::process::id() % 500) as u16 * 6;
    (start..start + 4000)
        .step_by(6)
        .find(|&base| (0..6).all(|k| TcpListener::bind(("127.0.0.1", base + k)).is_ok()))
        .expect("some free ports on loopback")
}

/// Removes a cluster's state even when the test fails half way.
struct Wipe(String);
impl Drop for Wipe {
    fn drop(&mut self) {
        let _ = cluster(&["down", "--name", &self.0, "--wipe"]);
    }
}

fn pids_of(name: &str) -> Vec<u32> {
    let out = Command::new("pgrep")
        .args(["-f", &format!("clusters/{name}/")])
        .output()
        .expect("pgrep runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[test]
fn second_cluster_starts_and_stops_without_leftovers() -> Result<()> {
    let name = format!("t{}-second", std::process::id());
    let _wipe = Wipe(name.clone());
    let port = free_port_base(0).to_string();

    let out = cluster(&["up", "--name", &name, "--port", &port, "--nodes", "1"]);
    assert!(out.status.success(), "{}", describe_output(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 kwok nodes Ready"),
        "{}",
        describe_output(&out)
    );
    let running = pids_of(&name);
    assert_eq!(
        running.len(),
        5,
        "expected 5 processes of cluster {name}, found {running:?}"
    );

    // Up again is a no-op that says so.
    let again = cluster(&["up", "--name", &name]);
    assert!(again.status.success(), "{}", describe_output(&again));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already running"),
        "{}",
        describe_output(&again)
    );
    assert_eq!(pids_of(&name), running);

    let status = cluster(&["status", "--name", &name]);
    assert!(status.status.success(), "{}", describe_output(&status));

    let down = cluster(&["down", "--name", &name]);
    assert!(down.status.success(), "{}", describe_output(&down));
    assert_eq!(
        pids_of(&name),
        Vec::<u32>::new(),
        "processes left after down"
    );
    let status = cluster(&["status", "--name", &name]);
    assert_eq!(
        status.status.code(),
        Some(1),
        "{}",
        describe_output(&status)
    );
    Ok(())
}

#[test]
fn a_port_in_use_is_named_before_anything_starts() -> Result<()> {
    let name = format!("t{}-busy", std::process::id());
    let _wipe = Wipe(name.clone());
    let base = free_port_base(1);
    // Occupy the etcd client port (API port + 1).
    let _busy = TcpListener::bind(("127.0.0.1", base + 1))?;

    let out = cluster(&["up", "--name", &name, "--port", &base.to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", describe_output(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "step 'ports' failed: port {} on 127.0.0.1 is in use",
            base + 1
        )),
        "{}",
        describe_output(&out)
    );
    assert_eq!(pids_of(&name), Vec::<u32>::new());
    Ok(())
}

#[test]
fn stale_pid_files_are_ignored_and_never_killed() -> Result<()> {
    let name = format!("t{}-stale", std::process::id());
    let _wipe = Wipe(name.clone());
    let cache = std::env::var_os("GYRO_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/gyro")
        });
    let pids = cache.join("clusters").join(&name).join("pids");
    std::fs::create_dir_all(&pids)?;

    // A live process that is not ours: `down` must not touch it.
    let mut bystander = Command::new("sleep").arg("30").spawn()?;
    std::fs::write(pids.join("etcd.pid"), bystander.id().to_string())?;
    // A PID that no longer exists.
    std::fs::write(pids.join("kwok.pid"), "999999999")?;

    let status = cluster(&["status", "--name", &name]);
    assert_eq!(
        status.status.code(),
        Some(1),
        "{}",
        describe_output(&status)
    );
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(
        stdout.contains("etcd                     stopped"),
        "{}",
        describe_output(&status)
    );

    let down = cluster(&["down", "--name", &name]);
    assert!(down.status.success(), "{}", describe_output(&down));
    assert!(
        bystander.try_wait()?.is_none(),
        "down killed a process it did not start"
    );
    assert!(!pids.join("etcd.pid").exists() && !pids.join("kwok.pid").exists());
    bystander.kill()?;
    Ok(())
}

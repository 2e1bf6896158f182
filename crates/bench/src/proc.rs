//! What a process has cost so far, read from `/proc`: CPU seconds (user +
//! system) and peak resident memory. Reading `/proc` costs the measured
//! process nothing, unlike a profiler.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, anyhow};

/// CPU seconds (utime + stime) of `pid` from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: u32, ticks_per_second: f64) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_stat_cpu(&text, ticks_per_second).ok_or_else(|| anyhow!("{path}: unexpected format"))
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line, in
/// seconds. The command name (field 2) may hold spaces and parentheses, so
/// fields are counted from its last `)`.
pub fn parse_stat_cpu(stat: &str, ticks_per_second: f64) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / ticks_per_second)
}

/// Peak resident set size (`VmHWM`) of `pid`, in KiB.
pub fn peak_rss_kib(pid: u32) -> Result<u64> {
    status_field(pid, "VmHWM")
}

/// A `kB` field of `/proc/<pid>/status`.
fn status_field(pid: u32, field: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_status_kib(&text, field).ok_or_else(|| anyhow!("{path}: no {field}"))
}

/// The value of `field` (e.g. `VmHWM:   12345 kB`) in a `/proc/<pid>/status`
/// text, in KiB.
pub fn parse_status_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`; 100 on Linux
/// when `getconf` is missing).
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The PIDs of the local cluster's components, as `scripts/cluster status`
/// prints them (`kube-apiserver    running (pid 1234)`).
pub fn cluster_pids(repo: &Path) -> Result<Vec<(String, u32)>> {
    let script = repo.join("scripts/cluster");
    let out = Command::new(&script)
        .arg("status")
        .output()
        .with_context(|| format!("running {} status", script.display()))?;
    Ok(parse_cluster_status(&String::from_utf8_lossy(&out.stdout)))
}

/// The `(component, pid)` pairs of `scripts/cluster status` output.
pub fn parse_cluster_status(text: &str) -> Vec<(String, u32)> {
    text.lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once(char::is_whitespace)?;
            let pid = rest
                .trim()
                .strip_prefix("running (pid ")?
                .strip_suffix(')')?;
            Some((name.to_string(), pid.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_cpu_counts_fields_after_the_command_name() {
        // A command name with a space and a parenthesis, as a process may
        // set it; utime 250 and stime 50 ticks.
        let stat = "42 (gyro (x) y) S 1 42 42 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 3 0 1 2 3";
        assert_eq!(parse_stat_cpu(stat, 100.0), Some(3.0));
        assert_eq!(parse_stat_cpu("42 (x) S 1", 100.0), None);
    }

    #[test]
    fn stat_of_this_process_parses() {
        let ticks = clock_ticks();
        assert!(cpu_seconds(std::process::id(), ticks).unwrap() >= 0.0);
        assert!(peak_rss_kib(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn status_fields() {
        let status = "Name:\tgyro\nVmPeak:\t  900 kB\nVmHWM:\t   12345 kB\nVmRSS:\t 100 kB\n";
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(12345));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn cluster_status_lines() {
        let text = "etcd                     running (pid 22648)\n\
                    kube-apiserver           running (pid 22656)\n\
                    kwok                     stopped\n\
                    API                      ready at https://127.0.0.1:16443\n";
        assert_eq!(
            parse_cluster_status(text),
            vec![
                ("etcd".to_string(), 22648),
                ("kube-apiserver".to_string(), 22656)
            ]
        );
    }
}

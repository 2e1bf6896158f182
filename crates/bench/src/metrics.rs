//! What the API server was asked to do: `apiserver_request_total` and the
//! summed request latencies (`apiserver_request_duration_seconds_sum`) from
//! its `/metrics`, keyed by verb, dry run and resource, so a phase's delta
//! shows which requests the API server's CPU went to. Watches are left
//! out (their latency is how long they stayed open).

use std::collections::HashMap;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Request count and summed latency (seconds) per request class.
pub type Requests = HashMap<String, (f64, f64)>;

/// Scrapes the API server's metrics with the pinned `kubectl get --raw`.
pub fn scrape() -> Result<Requests> {
    let out = Command::new(testkit::tools::tool("kubectl"))
        .arg("--kubeconfig")
        .arg(testkit::kubeconfig_path()?)
        .args(["get", "--raw", "/metrics"])
        .output()
        .context("running kubectl get --raw /metrics")?;
    if !out.status.success() {
        bail!(
            "kubectl get --raw /metrics: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(parse(&String::from_utf8_lossy(&out.stdout)))
}

/// The request classes of a Prometheus text exposition: `VERB[ dry-run]
/// resource[/subresource]`.
pub fn parse(text: &str) -> Requests {
    let mut requests = Requests::new();
    for line in text.lines() {
        let (is_count, rest) = if let Some(r) = line.strip_prefix("apiserver_request_total{") {
            (true, r)
        } else if let Some(r) = line.strip_prefix("apiserver_request_duration_seconds_sum{") {
            (false, r)
        } else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split("\",")
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix("=\""))
                .map(|v| v.trim_end_matches('"'))
                .unwrap_or("")
        };
        // A watch's latency is how long it stayed open, not work done.
        if matches!(label("verb"), "WATCH" | "CONNECT") {
            continue;
        }
        let mut key = label("verb").to_string();
        if !label("dry_run").is_empty() {
            key.push_str(" dry-run");
        }
        key.push(' ');
        key.push_str(label("resource"));
        let sub = label("subresource");
        if !sub.is_empty() {
            key.push('/');
            key.push_str(sub);
        }
        let entry = requests.entry(key).or_default();
        if is_count {
            entry.0 += value;
        } else {
            entry.1 += value;
        }
    }
    requests
}

/// `after - before`, busiest (by summed latency) first, without classes
/// that saw no requests.
pub fn delta(before: &Requests, after: &Requests) -> Vec<(String, f64, f64)> {
    let mut rows: Vec<(String, f64, f64)> = after
        .iter()
        .map(|(k, (n, s))| {
            let (n0, s0) = before.get(k).copied().unwrap_or_default();
            (k.clone(), n - n0, s - s0)
        })
        .filter(|(_, n, _)| *n > 0.0)
        .collect();
    rows.sort_by(|a, b| b.2.total_cmp(&a.2));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP apiserver_request_total Counter
apiserver_request_total{code="200",component="apiserver",dry_run="All",group="",resource="configmaps",scope="resource",subresource="",verb="APPLY",version="v1"} 7
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="configmaps",scope="resource",subresource="",verb="APPLY",version="v1"} 2
apiserver_request_total{code="409",component="apiserver",dry_run="",group="",resource="configmaps",scope="resource",subresource="",verb="APPLY",version="v1"} 1
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="status",verb="PATCH",version="v1"} 3
apiserver_request_duration_seconds_sum{component="apiserver",dry_run="All",group="",resource="configmaps",scope="resource",subresource="",verb="APPLY",version="v1"} 0.5
apiserver_request_duration_seconds_count{component="apiserver",dry_run="All",group="",resource="configmaps",scope="resource",subresource="",verb="APPLY",version="v1"} 7
"#;

    #[test]
    fn classes_by_verb_dry_run_and_resource() {
        let r = parse(TEXT);
        assert_eq!(r["APPLY dry-run configmaps"], (7.0, 0.5));
        assert_eq!(r["APPLY configmaps"], (3.0, 0.0));
        assert_eq!(r["PATCH pods/status"], (3.0, 0.0));
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn delta_drops_idle_classes_and_sorts_by_time() {
        let before = parse(TEXT);
        let mut after = before.clone();
        after.insert("APPLY configmaps".into(), (5.0, 2.0));
        let rows = delta(&before, &after);
        assert_eq!(rows, vec![("APPLY configmaps".to_string(), 2.0, 2.0)]);
    }
}

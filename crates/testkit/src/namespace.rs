//! A namespace per test, so tests sharing the cluster never see each other's
//! objects.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::{Api, Client};

/// Label on every namespace made by [`TestNamespace`], for finding leftovers.
pub const TEST_LABEL: &str = "gyro.dev/test";

/// A namespace created for one test and deleted when dropped (set
/// `GYRO_TEST_KEEP_NAMESPACES=1` to keep it for a post-mortem).
pub struct TestNamespace {
    name: String,
    /// Made in the second test cluster ([`crate::second_cluster`]).
    second: bool,
}

impl TestNamespace {
    /// Creates `gyro-test-<prefix>-<unique suffix>`.
    pub async fn create(client: &Client, prefix: &str) -> Result<Self> {
        let name = unique_name(prefix);
        create(client, &name).await?;
        Ok(Self {
            name,
            second: false,
        })
    }

    /// Creates namespace `name` in the second test cluster (`client` is a
    /// client of it), e.g. one of the same name as a namespace of the
    /// first, so a test can tell where objects went.
    pub async fn create_in_second(client: &Client, name: &str) -> Result<Self> {
        create(client, name).await?;
        Ok(Self {
            name: name.to_string(),
            second: true,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

async fn create(client: &Client, name: &str) -> Result<()> {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some([(TEST_LABEL.to_string(), "true".to_string())].into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .with_context(|| format!("creating test namespace {name}"))?;
    Ok(())
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if std::env::var_os("GYRO_TEST_KEEP_NAMESPACES").is_some() {
            eprintln!("keeping test namespace {}", self.name);
            return;
        }
        // Drop cannot await, and the test's runtime may be shutting down:
        // delete from a thread with a runtime and client of its own. Only the
        // DELETE is awaited, not the namespace's finalization.
        let name = std::mem::take(&mut self.name);
        let second = self.second;
        let deleted = std::thread::spawn(move || -> Result<()> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let client = if second {
                    crate::second_cluster()?.client().await?
                } else {
                    crate::client().await?
                };
                Api::<Namespace>::all(client)
                    .delete(&name, &DeleteParams::background())
                    .await
                    .with_context(|| format!("deleting test namespace {name}"))?;
                Ok(())
            })
        })
        .join();
        match deleted {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: {e:#}"),
            Err(_) => eprintln!("warning: the thread deleting a test namespace panicked"),
        }
    }
}

/// A DNS-label name unique across processes and calls: prefix, then the
/// process id, a per-process counter and the clock's nanoseconds.
fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let prefix: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(30)
        .collect();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "gyro-test-{}-{:x}{:x}{:x}",
        prefix.trim_matches('-'),
        std::process::id(),
        n,
        nanos & 0xfff
    )
}

#[cfg(test)]
mod tests {
    use super::unique_name;

    #[test]
    fn names_are_dns_labels_and_unique() {
        let a = unique_name("Deploy_Test!");
        let b = unique_name("Deploy_Test!");
        assert_ne!(a, b);
        for n in [&a, &b] {
            assert!(n.len() <= 63, "{n}");
            assert!(n.starts_with("gyro-test-deploy-test-"), "{n}");
            assert!(
                n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{n}"
            );
        }
    }
}

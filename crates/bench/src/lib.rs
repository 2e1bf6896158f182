//! The controller scale benchmark (`cargo bench -p gyro-bench --bench
//! controller`, see docs/benchmarks.md): `gyro controller` runs as its own
//! process against the local test cluster while N Applications, each a
//! small Kustomize overlay from one Git repository, are created, synced and
//! changed by new commits; it reports time to Synced/Healthy,
//! commit-to-live latency, gyro's peak RSS and CPU seconds, and the CPU the
//! cluster's components spent meanwhile.
//!
//! It is a library only so its pieces have unit tests; the bench target
//! `benches/controller.rs` is the program.

pub mod metrics;
pub mod proc;
pub mod repo;
pub mod scenario;
pub mod stats;

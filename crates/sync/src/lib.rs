//! gyro's sync: what to apply and what to prune, and doing it.
//!
//! A sync is split as gitops-engine splits it, with the plan as a value:
//! [`plan::build`] is a pure function from the desired objects, the live
//! objects the Application manages and the sync options to an ordered
//! [`plan::Plan`] (create the namespace, apply in kind order, prune, prune
//! last); [`apply::run`] carries a plan out against the API server with
//! server-side apply (field manager `gyro`), or with kubectl's client-side
//! apply for `ServerSideApply=false` ([`client_side`], [`three_way`]), and
//! reports a result per resource. Sync waves and hooks (a later issue) extend the plan, not the
//! executor.
//!
//! What it is not: it does not decide whether an object is out of sync
//! (that is the `diff` crate's job; the plan takes the answer as input) and
//! it does not write Application status.

pub mod apply;
pub mod client_side;
pub mod options;
pub mod order;
pub mod plan;
pub mod three_way;

pub use options::SyncOptions;
pub use plan::{Action, Plan, ResourceKey, Task};

//! gyro's sync: what to apply and what to prune, and doing it.
//!
//! A sync is split as gitops-engine splits it, with the plan as a value:
//! [`plan::build`] is a pure function from the desired objects, the live
//! objects the Application manages and the sync options to an ordered
//! [`plan::Plan`] (create the namespace, apply in kind order, prune, prune
//! last); [`apply::run`] carries a plan out against the API server with
//! server-side apply (field manager `gyro`), or with kubectl's client-side
//! apply for `ServerSideApply=false` ([`client_side`], [`three_way`]), and
//! reports a result per resource. Phases, sync waves and hooks
//! ([`hook`]) are part of the plan: each task carries its phase and wave,
//! [`plan::Plan::steps`] groups them, and the caller applies one step at a
//! time and waits for it (the controller does, see its `phases` module).
//!
//! What it is not: it does not decide whether an object is out of sync
//! (that is the `diff` crate's job; the plan takes the answer as input) and
//! it does not write Application status.

pub mod apply;
pub mod client_side;
pub mod hook;
pub mod options;
pub mod order;
pub mod plan;
pub mod three_way;

pub use options::SyncOptions;
pub use plan::{Action, Plan, ResourceKey, Task};

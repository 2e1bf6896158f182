//! Running a sync plan step by step: phases, waves and hooks.
//!
//! The plan ([`sync::plan`]) is ordered and grouped into steps, one per
//! phase and wave. Each step is applied ([`sync::apply::run`]); then the
//! attempt waits, inside itself, for:
//!
//! - every hook of the step to finish: a Job when `Complete` or `Failed`, a
//!   Pod when `Succeeded` or `Failed`, any other kind when healthy (health
//!   crate: Healthy is success; Degraded, Unknown or gone is failure);
//! - when another step follows, every resource the step applied to be
//!   healthy (Degraded fails the sync), as Argo CD does before the next wave
//!   and before PostSync. The last step's resources are not waited for: a
//!   sync without waves or hooks ends when it has applied, as before.
//!
//! While it waits, `operationState` says `Running` with what it waits for.
//! The wait is bounded ([`Waits::timeout`] per step; Argo CD waits until
//! the operation is terminated): a step still not done then fails the sync.
//! Delete policies are applied after each step's hooks finish
//! (`HookSucceeded`, `HookFailed`; `BeforeHookCreation` is done when the
//! hook is created, in [`sync::apply`]). A failed step stops the sync; the
//! SyncFail hooks run then, the same way.
//!
//! The destination cluster is a parameter (`cluster`), the Application's
//! own API server another (`Progress`), so the controller can hand in a
//! per-destination client.

use std::time::{Duration, Instant};

use api::{Application, OperationState};
use health::{CustomHealthChecks, HealthStatusCode};
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use sync::apply::{Objects, Outcome, Status, SyncResult};
use sync::hook::{DeletePolicy, Phase};
use sync::plan::{Action, Plan, Task};
use tracing::{debug, info, warn};

/// How long a step may take to finish (hooks done, resources healthy) and
/// how often it is looked at.
#[derive(Debug, Clone, Copy)]
pub struct Waits {
    pub timeout: Duration,
    pub poll: Duration,
}

/// Argo CD's operation phase of one task, written as `hookPhase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskPhase {
    Running,
    Succeeded,
    Failed,
}

impl TaskPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskPhase::Running => "Running",
            TaskPhase::Succeeded => "Succeeded",
            TaskPhase::Failed => "Failed",
        }
    }
}

/// What became of one task.
#[derive(Debug, Clone)]
pub struct Ran {
    pub outcome: Outcome,
    /// The phase it ran in.
    pub phase: Phase,
    /// Whether it is a hook (then `phase` is its hook type).
    pub hook: bool,
    /// The object's API version (`version` in the result).
    pub version: String,
    /// `None` for a task that did not run.
    pub task_phase: Option<TaskPhase>,
}

/// What running a plan came to.
#[derive(Debug, Clone, Default)]
pub struct Phased {
    /// One per task of `plan.tasks`, in order.
    pub ran: Vec<Ran>,
    /// The SyncFail hooks that ran.
    pub sync_fail: Vec<Ran>,
    /// Why the sync failed, naming the resource or hook.
    pub failure: Option<String>,
}

impl Phased {
    /// The outcomes of `plan.tasks`, in order.
    pub fn result(&self) -> SyncResult {
        SyncResult {
            resources: self.ran.iter().map(|r| r.outcome.clone()).collect(),
        }
    }
}

/// Writes what a running operation waits for to the Application's
/// `status.operationState` (phase `Running`, message), on the API server
/// that holds the Application.
pub struct Progress<'a> {
    pub ctx: &'a crate::Context,
    pub app: &'a Application,
    pub state: &'a OperationState,
}

impl Progress<'_> {
    async fn report(&self, message: &str) {
        let (Some(ns), Some(name)) = (&self.app.metadata.namespace, &self.app.metadata.name) else {
            return;
        };
        let mut state = self.state.clone();
        state.phase = crate::operation::RUNNING.to_string();
        state.message = Some(message.to_string());
        state.finished_at = None;
        state.sync_result = None;
        let new = serde_json::to_value(&state).unwrap_or(Value::Null);
        let old = self
            .app
            .status
            .as_ref()
            .and_then(|s| s.operation_state.as_ref())
            .and_then(|s| serde_json::to_value(s).ok());
        let patch =
            json!({"status": {"operationState": crate::status::replacing(old.as_ref(), &new)}});
        let apps: Api<Application> = Api::namespaced(self.ctx.client.clone(), ns);
        match apps
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(written) => self.ctx.wrote(&written),
            Err(e) => warn!(app = %name, error = %e, "writing the operation's progress"),
        }
    }
}

/// Runs the plan's steps against `cluster`; with `dry_run`, every step is
/// sent as a dry run and nothing is waited for.
pub async fn run(
    cluster: &kube::Client,
    plan: &Plan,
    dry_run: bool,
    health: &CustomHealthChecks,
    waits: Waits,
    progress: &Progress<'_>,
) -> Phased {
    let mut objects = Objects::new(cluster.clone());
    let mut phased = Phased::default();
    let steps = plan.steps();
    let count = steps.len();
    for (i, step) in steps.into_iter().enumerate() {
        if phased.failure.is_some() {
            phased.ran.extend(step.iter().map(not_run));
            continue;
        }
        let last = i + 1 == count;
        let (ran, failure) = run_step(
            cluster,
            &mut objects,
            step,
            !last,
            dry_run,
            health,
            waits,
            progress,
        )
        .await;
        phased.ran.extend(ran);
        phased.failure = failure;
    }
    if let Some(failure) = &phased.failure
        && !dry_run
        && !plan.sync_fail.is_empty()
    {
        info!(%failure, hooks = plan.sync_fail.len(), "sync failed; running SyncFail hooks");
        let mut failed_hooks = Vec::new();
        for step in sync::plan::steps(&plan.sync_fail) {
            let (ran, failure) = run_step(
                cluster,
                &mut objects,
                step,
                false,
                false,
                health,
                waits,
                progress,
            )
            .await;
            phased.sync_fail.extend(ran);
            if let Some(f) = failure {
                failed_hooks.push(f);
                break;
            }
        }
        if !failed_hooks.is_empty() {
            phased.failure = Some(format!("{failure}; {}", failed_hooks.join("; ")));
        }
    }
    phased
}

fn version_of(obj: &Value) -> String {
    crate::compare::split_api_version(obj).1
}

fn not_run(task: &Task) -> Ran {
    Ran {
        outcome: Outcome {
            key: task.key.clone(),
            action: task.action.clone(),
            status: Status::NotRun,
            message: "not run: an earlier task failed".to_string(),
            live: None,
        },
        phase: task.phase,
        hook: task.hook.is_some(),
        version: version_of(&task.object),
        task_phase: None,
    }
}

/// One object a step waits for.
struct Waiting {
    /// Index into the step's results.
    index: usize,
    /// The object as applied (with the name the server gave it).
    object: Value,
    hook: bool,
}

/// Applies one step and waits for it: its hooks to finish, and with
/// `wait_resources` its applied resources to be healthy. Returns the
/// results and the failure, if any.
#[allow(clippy::too_many_arguments)]
async fn run_step(
    cluster: &kube::Client,
    objects: &mut Objects,
    step: &[Task],
    wait_resources: bool,
    dry_run: bool,
    health: &CustomHealthChecks,
    waits: Waits,
    progress: &Progress<'_>,
) -> (Vec<Ran>, Option<String>) {
    let sub = Plan {
        tasks: step.to_vec(),
        ..Plan::default()
    };
    let result = sync::apply::run(cluster, &sub, dry_run).await;
    let mut ran: Vec<Ran> = step
        .iter()
        .zip(result.resources)
        .map(|(task, outcome)| {
            let task_phase = match outcome.status {
                Status::Failed => Some(TaskPhase::Failed),
                Status::NotRun => None,
                // Hooks run until they are seen to finish.
                _ if task.action == Action::Hook && !dry_run => Some(TaskPhase::Running),
                _ => Some(TaskPhase::Succeeded),
            };
            Ran {
                outcome,
                phase: task.phase,
                hook: task.hook.is_some(),
                version: version_of(&task.object),
                task_phase,
            }
        })
        .collect();
    if let Some(failed) = ran.iter().find(|r| r.outcome.status == Status::Failed) {
        let what = if failed.hook {
            format!("{} hook {}", failed.phase, failed.outcome.key)
        } else {
            failed.outcome.key.to_string()
        };
        let failure = format!("{what}: {}", failed.outcome.message);
        return (ran, Some(failure));
    }
    if dry_run {
        return (ran, None);
    }
    let mut waiting: Vec<Waiting> = ran
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.outcome.status == Status::Synced
                && (r.hook || (wait_resources && r.outcome.action == Action::Apply))
        })
        .map(|(index, r)| {
            let task = &step[index];
            let mut object = r
                .outcome
                .live
                .clone()
                .unwrap_or_else(|| task.object.clone());
            object["metadata"]["name"] = Value::String(r.outcome.key.name.clone());
            Waiting {
                index,
                object,
                hook: r.hook,
            }
        })
        .collect();
    for w in &waiting {
        ran[w.index].task_phase = Some(TaskPhase::Running);
    }
    let mut failure = None;
    let started = Instant::now();
    let mut reported = String::new();
    while !waiting.is_empty() {
        let mut still = Vec::with_capacity(waiting.len());
        for w in waiting {
            let r = &mut ran[w.index];
            match look(objects, &w, health).await {
                Look::Wait(message) => {
                    if !message.is_empty() {
                        r.outcome.message = message;
                    }
                    still.push(w);
                }
                Look::Done(message) => {
                    r.task_phase = Some(TaskPhase::Succeeded);
                    if !message.is_empty() {
                        r.outcome.message = message;
                    }
                }
                Look::Failed(message) => {
                    r.task_phase = Some(TaskPhase::Failed);
                    r.outcome.message = message.clone();
                    if failure.is_none() {
                        failure = Some(if w.hook {
                            format!("{} hook {} failed: {message}", r.phase, r.outcome.key)
                        } else {
                            format!("{} is Degraded: {message}", r.outcome.key)
                        });
                    }
                }
            }
        }
        waiting = still;
        // A failed hook or a Degraded resource fails the step at once.
        if waiting.is_empty() || failure.is_some() {
            break;
        }
        let what = describe_wait(&waiting, &ran);
        if started.elapsed() > waits.timeout {
            failure.get_or_insert_with(|| format!("timed out after {:?} {what}", waits.timeout));
            break;
        }
        if what != reported {
            debug!(%what, "sync step not done yet");
            progress.report(&what).await;
            reported = what;
        }
        tokio::time::sleep(waits.poll).await;
    }
    // Delete policies, now that the step's hooks are done.
    for (task, r) in step.iter().zip(&ran) {
        let Some(hook) = &task.hook else {
            continue;
        };
        let delete = match r.task_phase {
            Some(TaskPhase::Succeeded) => hook.deletes_on(DeletePolicy::HookSucceeded),
            Some(TaskPhase::Failed) => hook.deletes_on(DeletePolicy::HookFailed),
            _ => false,
        };
        if delete {
            let mut object = task.object.clone();
            object["metadata"]["name"] = Value::String(r.outcome.key.name.clone());
            match objects.delete(&object).await {
                Ok(()) => debug!(hook = %r.outcome.key, "hook deleted by its delete policy"),
                Err(e) => warn!(hook = %r.outcome.key, error = %e, "deleting a finished hook"),
            }
        }
    }
    (ran, failure)
}

/// What one look at a waited-for object says.
#[derive(Debug, PartialEq)]
pub enum Look {
    Wait(String),
    Done(String),
    Failed(String),
}

async fn look(objects: &mut Objects, w: &Waiting, health: &CustomHealthChecks) -> Look {
    match objects.get(&w.object).await {
        Ok(live) => verdict(live.as_ref(), w.hook, health),
        // The API server may be briefly unavailable: look again.
        Err(e) => Look::Wait(format!("reading it: {e}")),
    }
}

/// Whether a hook (`hook`) or an applied resource is done, from its live
/// object (`None`: not found). Hooks: Healthy (a Job `Complete`, a Pod
/// `Succeeded`) or no health at all is success; Degraded (a Job or Pod
/// `Failed`), Unknown or gone is failure. Resources: Healthy or no health
/// is done; Degraded fails; anything else is waited for.
pub fn verdict(live: Option<&Value>, hook: bool, health: &CustomHealthChecks) -> Look {
    let Some(live) = live else {
        return if hook {
            Look::Failed("the hook object is gone".to_string())
        } else {
            Look::Wait("not found yet".to_string())
        };
    };
    let Some(status) = health::resource_health(live, health) else {
        return Look::Done(String::new());
    };
    let message = status.message.clone();
    match status.status {
        HealthStatusCode::Healthy => Look::Done(message),
        HealthStatusCode::Degraded => Look::Failed(message),
        HealthStatusCode::Unknown | HealthStatusCode::Missing if hook => Look::Failed(message),
        _ => Look::Wait(message),
    }
}

/// Argo CD's words for what a step waits for.
fn describe_wait(waiting: &[Waiting], ran: &[Ran]) -> String {
    let names: Vec<String> = waiting
        .iter()
        .map(|w| {
            let key = &ran[w.index].outcome.key;
            let kind = if key.group.is_empty() {
                key.kind.clone()
            } else {
                format!("{}/{}", key.group, key.kind)
            };
            let verb = if w.hook {
                "completion of hook"
            } else {
                "healthy state of"
            };
            format!("{verb} {kind}/{}", key.name)
        })
        .collect();
    format!("waiting for {}", names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(conditions: Value) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
               "status": {"conditions": conditions}})
    }

    fn pod(phase: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
               "spec": {"restartPolicy": "Never"}, "status": {"phase": phase}})
    }

    fn kind(look: Look) -> &'static str {
        match look {
            Look::Wait(_) => "wait",
            Look::Done(_) => "done",
            Look::Failed(_) => "failed",
        }
    }

    #[test]
    fn hooks_finish_when_jobs_and_pods_do_and_other_kinds_when_healthy() {
        let checks = CustomHealthChecks::default();
        let hook = |obj: &Value| kind(verdict(Some(obj), true, &checks));
        assert_eq!(hook(&job(json!([]))), "wait");
        let complete = job(json!([{"type": "Complete", "status": "True"}]));
        assert_eq!(hook(&complete), "done");
        let failed = job(json!([{"type": "Failed", "status": "True", "message": "deadline"}]));
        assert_eq!(
            verdict(Some(&failed), true, &checks),
            Look::Failed("deadline".to_string())
        );
        assert_eq!(hook(&pod("Running")), "wait");
        assert_eq!(hook(&pod("Succeeded")), "done");
        assert_eq!(hook(&pod("Failed")), "failed");
        let configmap = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert_eq!(hook(&configmap), "done");
        assert_eq!(kind(verdict(None, true, &checks)), "failed");
    }

    #[test]
    fn resources_are_waited_for_until_healthy_and_degraded_fails() {
        let checks = CustomHealthChecks::default();
        let resource = |obj: Option<&Value>| kind(verdict(obj, false, &checks));
        let deployment = |available: &str| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "d", "generation": 1},
                   "spec": {"replicas": 1},
                   "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                              "availableReplicas": if available == "True" { 1 } else { 0 },
                              "conditions": [{"type": "Available", "status": available}]}})
        };
        assert_eq!(resource(Some(&deployment("False"))), "wait");
        assert_eq!(resource(Some(&deployment("True"))), "done");
        assert_eq!(resource(None), "wait", "not in the API server's answer yet");
        assert_eq!(resource(Some(&pod("Failed"))), "failed");
    }
}

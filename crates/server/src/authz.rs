//! Authorization as the handlers see it: [`State::enforce`] asks RBAC
//! whether a caller may do `action` on `resource` `object` (Argo CD's
//! triple, e.g. `applications`, `sync`, `team-a/guestbook`) and turns a
//! denial into a 403 naming all four, logged as an audit line. Lists use
//! [`State::allowed`] to leave out what the caller may not `get`, as Argo
//! CD does.
//!
//! The decision itself is the rbac crate's: [`watch`] keeps an
//! `rbac::Rbac` current from the watched `argocd-rbac-cm` and AppProjects
//! of the server's namespace and answers with it.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::runtime::{reflector, watcher};
use tracing::warn;

use crate::{ApiError, Principal, State};

/// Decides one RBAC question: `Ok` to allow, `Err(reason)` to deny.
pub type Enforcer = Arc<dyn Fn(&Principal, &str, &str, &str) -> Result<(), String> + Send + Sync>;

/// The RBAC object of an Application (`<project>/<name>`, or
/// `<project>/<namespace>/<name>` outside the server's namespace).
pub use rbac::app_object;

/// The message of a denial, as Argo CD words it.
pub fn denied_message(principal: &Principal, resource: &str, action: &str, object: &str) -> String {
    rbac::permission_denied(resource, action, object, &principal.subject)
}

impl State {
    /// Whether `principal` may do `action` on `resource` `object`; a 403
    /// (and an audit line) when not.
    pub fn enforce(
        &self,
        principal: &Principal,
        resource: &str,
        action: &str,
        object: &str,
    ) -> Result<(), ApiError> {
        match (self.enforcer)(principal, resource, action, object) {
            Ok(()) => Ok(()),
            Err(reason) => {
                crate::audit::log(
                    &principal.subject,
                    &format!("{resource}/{action}"),
                    object,
                    &format!("denied: {reason}"),
                );
                Err(ApiError::forbidden(denied_message(
                    principal, resource, action, object,
                )))
            }
        }
    }

    /// Whether `principal` may do it, without logging (list filtering).
    pub fn allowed(
        &self,
        principal: &Principal,
        resource: &str,
        action: &str,
        object: &str,
    ) -> bool {
        (self.enforcer)(principal, resource, action, object).is_ok()
    }
}

/// An [`Enforcer`] over `rbac`.
pub fn enforcer(rbac: Arc<rbac::Rbac>) -> Enforcer {
    Arc::new(move |p, resource, action, object| {
        let d = rbac.enforce(&p.subject, &p.groups, resource, action, object);
        if d.allowed { Ok(()) } else { Err(d.reason) }
    })
}

/// Reads `argocd-rbac-cm` and the AppProjects of `namespace` now, then
/// keeps the policy current from watches (a ConfigMap that does not parse
/// is logged and the previous policy stays).
pub async fn watch(client: kube::Client, namespace: &str) -> Result<Arc<rbac::Rbac>, kube::Error> {
    let rbac = Arc::new(rbac::Rbac::default());
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let projects: Api<api::AppProject> = Api::namespaced(client, namespace);
    set_config_map(&rbac, maps.get_opt(rbac::RBAC_CONFIG_MAP).await?.as_ref());
    rbac.set_projects(projects.list(&Default::default()).await?.items);
    {
        let rbac = rbac.clone();
        let config =
            watcher::Config::default().fields(&format!("metadata.name={}", rbac::RBAC_CONFIG_MAP));
        tokio::spawn(async move {
            let mut events = watcher(maps, config).boxed();
            while let Some(event) = events.next().await {
                match event {
                    Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm)) => {
                        set_config_map(&rbac, Some(&cm))
                    }
                    Ok(watcher::Event::Delete(_)) => set_config_map(&rbac, None),
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, "watching argocd-rbac-cm"),
                }
            }
        });
    }
    {
        let rbac = rbac.clone();
        let (store, writer) = reflector::store();
        tokio::spawn(async move {
            let mut events =
                reflector(writer, watcher(projects, watcher::Config::default())).boxed();
            while let Some(event) = events.next().await {
                match event {
                    Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
                    Ok(_) => {
                        let all = store.state().iter().map(|p| (**p).clone()).collect();
                        for e in rbac.set_projects(all) {
                            warn!(error = %e, "a project role is left out of RBAC");
                        }
                    }
                    Err(e) => warn!(error = %e, "watching AppProjects for RBAC"),
                }
            }
        });
    }
    Ok(rbac)
}

fn set_config_map(rbac: &rbac::Rbac, cm: Option<&ConfigMap>) {
    let empty = Default::default();
    let data = cm.map(|c| c.data.as_ref().unwrap_or(&empty));
    if let Err(e) = rbac.set_config_map(data) {
        warn!(error = %e, "argocd-rbac-cm does not parse; the previous policy stays in force");
    }
}

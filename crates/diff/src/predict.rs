//! The server-side-apply dry run that predicts what the live object would
//! become, and reading the live object: the crate's only I/O.

use kube::api::{DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Scope};
use kube::{Api, Client};
use serde_json::Value;

use crate::{Error, ObjectRef};

/// The field manager gyro applies as.
pub const FIELD_MANAGER: &str = "gyro";

/// [`predict_as`] with field manager [`FIELD_MANAGER`].
pub async fn predict(client: &Client, desired: &Value) -> Result<Value, Error> {
    predict_as(client, desired, FIELD_MANAGER).await
}

/// What the live object would be after gyro applied `desired`: the API
/// server's answer to a server-side-apply dry run as `manager`, with every
/// default, admission mutation and other manager's field in place. For an
/// object that does not exist yet the dry run is a create and returns the
/// object as it would be created.
///
/// The dry run forces conflicts because gyro's sync does (as Argo CD's
/// server-side apply does): without it, a field another manager changed by
/// hand would fail the prediction with a conflict instead of showing as the
/// drift it is.
pub async fn predict_as(client: &Client, desired: &Value, manager: &str) -> Result<Value, Error> {
    let (api, id) = dynamic_api(client, desired).await?;
    let params = PatchParams::apply(manager).force().dry_run();
    let predicted = api
        .patch(&id.name, &params, &Patch::Apply(desired))
        .await
        .map_err(|source| Error::DryRun {
            object: id.to_string(),
            manager: manager.to_string(),
            source: Box::new(source),
        })?;
    tracing::debug!(object = %id, manager, "server-side apply dry run");
    serde_json::to_value(predicted).map_err(|source| Error::Unserializable {
        object: id.to_string(),
        source,
    })
}

/// The live object `desired` names, `None` when it does not exist. The
/// controller reads live objects from its watch cache instead; this is for
/// the CLI and tests.
pub async fn fetch_live(client: &Client, desired: &Value) -> Result<Option<Value>, Error> {
    let (api, id) = dynamic_api(client, desired).await?;
    let live = api.get_opt(&id.name).await.map_err(|source| Error::Get {
        object: id.to_string(),
        source: Box::new(source),
    })?;
    live.map(serde_json::to_value)
        .transpose()
        .map_err(|source| Error::Unserializable {
            object: id.to_string(),
            source,
        })
}

/// The dynamic API for the kind of `desired` (found by discovery), in its
/// namespace when the kind is namespaced, and the object's identity.
pub async fn dynamic_api(
    client: &Client,
    desired: &Value,
) -> Result<(Api<DynamicObject>, ObjectRef), Error> {
    let missing = |field| Error::NotAnObject {
        field,
        object: summary(desired),
    };
    let id = ObjectRef::of(desired).ok_or_else(|| missing("apiVersion or kind"))?;
    if id.name.is_empty() {
        return Err(missing("metadata.name"));
    }
    let gvk = GroupVersionKind::gvk(&id.group, &id.version, &id.kind);
    let (resource, caps) = discovery::pinned_kind(client, &gvk)
        .await
        .map_err(|source| Error::Discovery {
            object: id.to_string(),
            source: Box::new(source),
        })?;
    let api = match caps.scope {
        Scope::Namespaced if id.namespace.is_empty() => {
            return Err(Error::MissingNamespace {
                object: id.to_string(),
            });
        }
        Scope::Namespaced => Api::namespaced_with(client.clone(), &id.namespace, &resource),
        Scope::Cluster => Api::all_with(client.clone(), &resource),
    };
    Ok((api, id))
}

/// The start of an object's JSON, enough to recognise it in an error.
fn summary(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(120) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s,
    }
}

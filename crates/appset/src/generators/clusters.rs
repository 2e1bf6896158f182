//! The `clusters` generator: one parameter set per registered cluster,
//! filtered by the Secret labels `selector` matches.

use std::collections::BTreeMap;

use api::ClusterGenerator;
use serde_json::{Map, Value};

use super::{Env, GenError, invalid};
use crate::params::{Params, flatten, normalize, selector_matches};

/// The API server of the cluster gyro runs in.
pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";
/// Argo CD's name for it when no Secret names it.
pub const IN_CLUSTER_NAME: &str = "in-cluster";

/// A registered cluster, as its Secret describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cluster {
    pub name: String,
    pub server: String,
    /// The `project` data key, if any.
    pub project: Option<String>,
    /// The Secret's labels and annotations.
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

pub(super) fn generate(
    env: &Env,
    spec: &ClusterGenerator,
    field: &str,
) -> Result<Vec<Params>, GenError> {
    let selector = spec.selector.clone().unwrap_or_default();
    let unfiltered = selector
        .match_labels
        .as_ref()
        .is_none_or(BTreeMap::is_empty)
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty);
    let mut clusters = env.inputs.clusters.clone();
    // Argo CD lists the local cluster even without a Secret, but only for
    // a generator without a selector (it has no labels to match).
    if unfiltered && !clusters.iter().any(|c| c.server == IN_CLUSTER_SERVER) {
        clusters.push(Cluster {
            name: IN_CLUSTER_NAME.into(),
            server: IN_CLUSTER_SERVER.into(),
            ..Default::default()
        });
    }
    clusters.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = Vec::new();
    for cluster in clusters {
        if !selector_matches(&selector, &cluster.labels)
            .map_err(|e| invalid(&format!("{field}.selector"), e))?
        {
            continue;
        }
        let mut params = Map::new();
        params.insert("name".into(), cluster.name.clone().into());
        params.insert("nameNormalized".into(), normalize(&cluster.name).into());
        params.insert("server".into(), cluster.server.clone().into());
        params.insert(
            "project".into(),
            cluster.project.clone().unwrap_or_default().into(),
        );
        let mut metadata = Map::new();
        metadata.insert("labels".into(), to_object(&cluster.labels));
        metadata.insert("annotations".into(), to_object(&cluster.annotations));
        params.insert("metadata".into(), Value::Object(metadata));
        if let Some(values) = &spec.values {
            super::add_values(env, values, &mut params, field)?;
        }
        out.push(if env.mode.go {
            params
        } else {
            flatten(&params)
        });
    }
    Ok(out)
}

fn to_object(map: &BTreeMap<String, String>) -> Value {
    Value::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Inputs;
    use crate::render::Mode;
    use serde_json::json;

    #[test]
    fn local_cluster_only_without_a_selector() {
        let inputs = Inputs {
            clusters: vec![Cluster {
                name: "Prod_EU".into(),
                server: "https://prod".into(),
                labels: [("env".to_string(), "prod".to_string())].into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let env = Env {
            mode: Mode::default(),
            inputs: &inputs,
        };
        let all: ClusterGenerator =
            serde_json::from_value(json!({"values": {"where": "{{name}}@{{server}}"}})).unwrap();
        let sets = generate(&env, &all, "g").unwrap();
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[1]["name"], "in-cluster");
        assert_eq!(sets[0]["nameNormalized"], "prod-eu");
        assert_eq!(sets[0]["metadata.labels.env"], "prod");
        assert_eq!(sets[0]["values.where"], "Prod_EU@https://prod");
        let prod: ClusterGenerator =
            serde_json::from_value(json!({"selector": {"matchLabels": {"env": "prod"}}})).unwrap();
        assert_eq!(generate(&env, &prod, "g").unwrap().len(), 1);
    }
}

//! Client-side apply (`ServerSideApply=false`) against the real API server,
//! with the real `kubectl apply` as the oracle: the same sequence of
//! desired states goes to object A with `kubectl apply -f` and to object B
//! with gyro, and after every step the two live objects must be the same
//! (labels, annotations including the last-applied record, spec, data,
//! generation), hand edits made to both included.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};
use sync::SyncOptions;
use sync::apply::{self, Status};
use sync::client_side::{self, Applied, LAST_APPLIED, Params};
use sync::plan::{self, Input, ResourceKey};
use testkit::TestNamespace;

const APPLY: Params = Params {
    dry_run: false,
    validate: true,
};

fn kubectl(args: &[&str], stdin: Option<&str>) -> Result<String> {
    let mut child = Command::new(testkit::tools::tool("kubectl"))
        .env("KUBECONFIG", testkit::kubeconfig_path()?)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.unwrap_or("").as_bytes())?;
    }
    let out = child.wait_with_output()?;
    ensure!(
        out.status.success(),
        "kubectl {args:?}: {}",
        testkit::describe_output(&out)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// `kubectl apply -f -` of `obj` (as JSON, so both sides read the same).
fn kubectl_apply(obj: &Value) -> Result<String> {
    kubectl(&["apply", "-f", "-"], Some(&obj.to_string()))
}

async fn api_for(client: &kube::Client, obj: &Value) -> Result<Api<DynamicObject>> {
    let api_version = obj["apiVersion"].as_str().context("apiVersion")?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, obj["kind"].as_str().context("kind")?);
    let (ar, _) = kube::discovery::pinned_kind(client, &gvk).await?;
    let ns = obj["metadata"]["namespace"].as_str().context("namespace")?;
    Ok(Api::namespaced_with(client.clone(), ns, &ar))
}

async fn live(api: &Api<DynamicObject>, name: &str) -> Result<Value> {
    Ok(serde_json::to_value(api.get(name).await?)?)
}

/// What the comparison looks at: labels, annotations (the last-applied
/// record with the object's name blanked), generation, finalizers, spec
/// and data. The Deployment controller's revision annotation is written
/// asynchronously and left out.
fn comparable(obj: &Value) -> Value {
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    let mut annotations = obj["metadata"]["annotations"].clone();
    if let Some(a) = annotations.as_object_mut() {
        a.remove("deployment.kubernetes.io/revision");
        if let Some(Value::String(text)) = a.get_mut(LAST_APPLIED) {
            *text = text.replace(&format!("\"name\":\"{name}\""), "\"name\":\"NAME\"");
        }
    }
    json!({
        "labels": obj["metadata"]["labels"],
        "annotations": annotations,
        "generation": obj["metadata"]["generation"],
        "finalizers": obj["metadata"]["finalizers"],
        "spec": obj["spec"],
        "data": obj["data"],
    })
}

fn named(obj: &Value, name: &str) -> Value {
    let mut obj = obj.clone();
    obj["metadata"]["name"] = json!(name);
    obj
}

/// Applies `desired` as `by-kubectl` with kubectl and as `by-gyro` with
/// gyro, then checks that both live objects agree and that gyro did what
/// kubectl says it did (created, configured or unchanged).
async fn step(api: &Api<DynamicObject>, desired: &Value, what: &str) -> Result<Applied> {
    let said =
        kubectl_apply(&named(desired, "by-kubectl")).with_context(|| format!("step '{what}'"))?;
    let applied = client_side::apply(api, &named(desired, "by-gyro"), APPLY)
        .await
        .with_context(|| format!("step '{what}'"))?;
    let (a, b) = (live(api, "by-kubectl").await?, live(api, "by-gyro").await?);
    assert_eq!(
        comparable(&b),
        comparable(&a),
        "step '{what}': gyro (left) and kubectl (right) differ"
    );
    let verb = match &applied {
        Applied::Created => "created",
        Applied::Configured(_) => "configured",
        Applied::Unchanged => "unchanged",
    };
    assert_eq!(
        Some(verb),
        said.split_whitespace().last(),
        "step '{what}': gyro's result {applied:?}, kubectl said {said}"
    );
    Ok(applied)
}

fn deployment(ns: &str, env: Value, ports: Value, extra: impl FnOnce(&mut Value)) -> Value {
    let mut d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"namespace": ns, "labels": {"app": "web", "tier": "frontend"},
                     "annotations": {"note": "a <b> & c"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "web", "image": "registry.k8s.io/pause:3.10",
                    "env": env, "ports": ports,
                    "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}
                }]}
            }
        }
    });
    extra(&mut d);
    d
}

fn env(names: &[&str]) -> Value {
    names
        .iter()
        .map(|n| json!({"name": n, "value": n.to_lowercase()}))
        .collect()
}

fn ports(numbers: &[u16]) -> Value {
    numbers
        .iter()
        .map(|p| json!({"containerPort": p, "name": format!("p{p}")}))
        .collect()
}

fn label(obj: &Value) -> Option<&str> {
    obj["metadata"]["labels"]["owner"].as_str()
}

fn env_names(obj: &Value) -> Vec<String> {
    obj["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["name"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn deployment_steps_match_kubectl_apply() -> Result<()> {
    let client = testkit::client().await?;
    let ns = TestNamespace::create(&client, "csa").await?;
    let n = ns.name();
    let api = api_for(&client, &deployment(n, json!([]), json!([]), |_| {})).await?;

    let first = deployment(n, env(&["A", "B", "C"]), ports(&[8080, 9090]), |_| {});
    assert_eq!(step(&api, &first, "create").await?, Applied::Created);
    // kubectl sends `$retainKeys` for the strategy on every apply, so a
    // second apply of the same Deployment is "configured" for both.
    step(&api, &first, "apply again").await?;

    let changed = deployment(n, env(&["A", "B", "C"]), ports(&[8080, 9090]), |d| {
        d["spec"]["replicas"] = json!(2);
        d["spec"]["template"]["spec"]["containers"][0]["image"] =
            json!("registry.k8s.io/pause:3.9");
        d["spec"]["template"]["spec"]["containers"][0]["env"][1]["value"] = json!("changed");
    });
    assert!(matches!(
        step(&api, &changed, "change fields").await?,
        Applied::Configured(_)
    ));

    // Someone adds a label and an env entry by hand, to both objects.
    for name in ["by-kubectl", "by-gyro"] {
        kubectl(&["label", "-n", n, "deployment", name, "owner=ops"], None)?;
        kubectl(
            &[
                "set",
                "env",
                "-n",
                n,
                &format!("deployment/{name}"),
                "HAND=1",
            ],
            None,
        )?;
    }

    // Drop a label, an annotation and a limit, switch to Recreate (the
    // server defaulted `rollingUpdate`, which no apply set: only
    // `$retainKeys` clears it, else the server refuses Recreate with
    // rolling-update parameters), and drop an env entry and a port from
    // merge-keyed lists.
    let removed = deployment(n, env(&["A", "C"]), ports(&[8080]), |d| {
        d["metadata"]["labels"] = json!({"app": "web"});
        d["metadata"]["annotations"] = json!({});
        d["spec"]["replicas"] = json!(2);
        d["spec"]["strategy"] = json!({"type": "Recreate"});
        d["spec"]["template"]["spec"]["containers"][0]["resources"] =
            json!({"limits": {"cpu": "100m"}});
    });
    step(&api, &removed, "remove fields and list entries").await?;
    let b = live(&api, "by-gyro").await?;
    assert_eq!(label(&b), Some("ops"), "a hand-added label survives");
    assert_eq!(
        env_names(&b),
        ["A", "C", "HAND"],
        "dropped env entry goes, hand-added stays"
    );
    assert!(b["metadata"]["labels"].get("tier").is_none());
    assert!(b["metadata"]["annotations"].get("note").is_none());
    assert!(b["spec"]["strategy"].get("rollingUpdate").is_none());
    let container = &b["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["ports"].as_array().map(Vec::len), Some(1));
    assert!(container["resources"]["limits"].get("memory").is_none());

    // New entries in the middle of merged lists land where Git has them.
    let added = deployment(n, env(&["A", "B2", "C"]), ports(&[7070, 8080]), |d| {
        d["metadata"]["labels"] = json!({"app": "web"});
        d["spec"]["replicas"] = json!(2);
        d["spec"]["strategy"] = json!({"type": "Recreate"});
    });
    step(&api, &added, "add list entries").await?;
    let b = live(&api, "by-gyro").await?;
    assert_eq!(env_names(&b), ["A", "B2", "C", "HAND"]);

    // Back to a rolling update, with parameters this time.
    let mut back = first.clone();
    back["spec"]["strategy"]["rollingUpdate"] = json!({"maxSurge": 2});
    step(&api, &back, "back to a rolling update").await?;
    Ok(())
}

#[tokio::test]
async fn config_map_hand_edits_survive_and_dropped_keys_go() -> Result<()> {
    let client = testkit::client().await?;
    let ns = TestNamespace::create(&client, "csa-cm").await?;
    let n = ns.name();
    let cm = |data: Value| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"namespace": n, "labels": {"app": "x"}}, "data": data})
    };
    let api = api_for(&client, &cm(json!({}))).await?;
    step(&api, &cm(json!({"a": "1", "b": "2"})), "create").await?;
    for name in ["by-kubectl", "by-gyro"] {
        kubectl(&["label", "-n", n, "configmap", name, "owner=ops"], None)?;
        kubectl(
            &[
                "patch",
                "-n",
                n,
                "configmap",
                name,
                "-p",
                r#"{"data":{"hand":"yes"}}"#,
            ],
            None,
        )?;
    }
    step(&api, &cm(json!({"a": "1"})), "drop b").await?;
    assert_eq!(
        step(&api, &cm(json!({"a": "1"})), "apply again").await?,
        Applied::Unchanged,
        "an apply with nothing to change sends nothing"
    );
    let b = live(&api, "by-gyro").await?;
    assert_eq!(label(&b), Some("ops"));
    assert_eq!(b["data"], json!({"a": "1", "hand": "yes"}));
    Ok(())
}

/// A CRD of gyro's tests, created once per cluster and left in place
/// (CRDs are cluster-wide; deleting it would race other test runs).
async fn test_crd(client: &kube::Client) -> Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = "csawidgets.sync-test.gyro.dev";
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {"group": "sync-test.gyro.dev", "scope": "Namespaced",
                 "names": {"plural": "csawidgets", "singular": "csawidget", "kind": "CsaWidget"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                   "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}
    }))?;
    match crds.create(&PostParams::default(), &crd).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(e.into()),
    }
    testkit::wait_for_condition(&crds, name, Duration::from_secs(60), "Established").await?;
    Ok(())
}

#[tokio::test]
async fn custom_resource_steps_match_kubectl_apply() -> Result<()> {
    let client = testkit::client().await?;
    test_crd(&client).await?;
    let ns = TestNamespace::create(&client, "csa-cr").await?;
    let n = ns.name();
    let widget = |spec: Value| {
        json!({"apiVersion": "sync-test.gyro.dev/v1", "kind": "CsaWidget",
               "metadata": {"namespace": n, "labels": {"app": "w", "tier": "x"}}, "spec": spec})
    };
    let first = widget(json!({"a": 1, "b": "x", "list": [1, 2], "nested": {"p": 1, "q": 2}}));
    // Discovery (gyro's and kubectl's) may lag the CRD becoming Established.
    let mut tries = 0;
    let api = loop {
        tries += 1;
        match api_for(&client, &first).await {
            Ok(api) if kubectl_apply(&named(&first, "probe")).is_ok() => break api,
            _ if tries < 30 => tokio::time::sleep(Duration::from_secs(1)).await,
            Ok(_) => bail!("kubectl cannot apply CsaWidget objects"),
            Err(e) => return Err(e),
        }
    };
    assert_eq!(step(&api, &first, "create").await?, Applied::Created);
    for name in ["by-kubectl", "by-gyro"] {
        kubectl(&["label", "-n", n, "csawidget", name, "owner=ops"], None)?;
        kubectl(
            &[
                "patch",
                "-n",
                n,
                "csawidget",
                name,
                "--type=merge",
                "-p",
                r#"{"spec":{"hand":true}}"#,
            ],
            None,
        )?;
    }
    let mut second = widget(json!({"a": 2, "list": [3], "nested": {"p": 1}}));
    second["metadata"]["labels"] = json!({"app": "w"});
    let applied = step(&api, &second, "change, drop and replace").await?;
    let Applied::Configured(patch) = applied else {
        bail!("expected a patch, got {applied:?}");
    };
    assert!(
        matches!(patch, sync::three_way::ThreeWayPatch::Merge(_)),
        "a custom resource gets a JSON merge patch"
    );
    let b = live(&api, "by-gyro").await?;
    assert_eq!(
        b["spec"],
        json!({"a": 2, "hand": true, "list": [3], "nested": {"p": 1}})
    );
    assert_eq!(label(&b), Some("ops"));
    Ok(())
}

fn csa_plan(desired: &[Value], ns: &str, options: &[&str]) -> plan::Plan {
    let options = SyncOptions::parse(options.iter().copied()).expect("options");
    plan::build(&Input {
        desired,
        live: &[],
        in_sync: &|_: &ResourceKey| false,
        options: &options,
        prune: false,
        namespace: ns,
        cluster_scoped: &|_: &str, kind: &str| kind == "Namespace",
    })
    .expect("plan")
}

#[tokio::test]
async fn sync_runs_client_side_apply_for_server_side_apply_false() -> Result<()> {
    let client = testkit::client().await?;
    let ns = TestNamespace::create(&client, "csa-run").await?;
    let n = ns.name();
    let cm = |name: &str, annotations: Value| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": name, "annotations": annotations}, "data": {"k": "v"}})
    };
    let api = api_for(
        &client,
        &json!({"apiVersion": "v1", "kind": "ConfigMap",
                                        "metadata": {"namespace": n}}),
    )
    .await?;

    // A dry run creates nothing.
    let desired = [cm("app-wide", json!({}))];
    let result = apply::run(
        &client,
        &csa_plan(&desired, n, &["ServerSideApply=false"]),
        true,
    )
    .await;
    assert!(result.succeeded(), "{:?}", result.resources);
    assert!(api.get_opt("app-wide").await?.is_none());

    // For the whole Application, and for one object by its annotation.
    let desired = [
        cm("app-wide", json!({})),
        cm(
            "per-object",
            json!({"argocd.argoproj.io/sync-options": "ServerSideApply=false"}),
        ),
        cm("server-side", json!({})),
    ];
    let result = apply::run(
        &client,
        &csa_plan(&desired[..1], n, &["ServerSideApply=false"]),
        false,
    )
    .await;
    assert!(result.succeeded(), "{:?}", result.resources);
    assert_eq!(result.resources[0].message, "created (client-side apply)");
    let result = apply::run(&client, &csa_plan(&desired[1..], n, &[]), false).await;
    assert!(result.succeeded(), "{:?}", result.resources);
    for name in ["app-wide", "per-object", "server-side"] {
        let obj = api.get(name).await?;
        let has_record = obj
            .metadata
            .annotations
            .unwrap_or_default()
            .contains_key(LAST_APPLIED);
        let operations: Vec<(String, String)> = obj
            .metadata
            .managed_fields
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                (
                    m.manager.unwrap_or_default(),
                    m.operation.unwrap_or_default(),
                )
            })
            .collect();
        let client_side = name != "server-side";
        assert_eq!(has_record, client_side, "{name}");
        let expected = if client_side { "Update" } else { "Apply" };
        assert_eq!(
            operations,
            [("gyro".to_string(), expected.to_string())],
            "{name}"
        );
    }

    // Validation: an unknown field fails the sync, unless Validate=false.
    let mut bad = cm("bad", json!({}));
    bad["spec"] = json!({"nonsense": true});
    let result = apply::run(
        &client,
        &csa_plan(std::slice::from_ref(&bad), n, &["ServerSideApply=false"]),
        false,
    )
    .await;
    assert_eq!(result.resources[0].status, Status::Failed);
    assert!(
        result.resources[0].message.contains("spec"),
        "{}",
        result.resources[0].message
    );
    let result = apply::run(
        &client,
        &csa_plan(&[bad], n, &["ServerSideApply=false", "Validate=false"]),
        false,
    )
    .await;
    assert!(result.succeeded(), "{:?}", result.resources);
    assert!(api.get_opt("bad").await?.is_some());
    Ok(())
}

#[tokio::test]
async fn a_stale_live_object_is_read_again_on_conflict() -> Result<()> {
    let client = testkit::client().await?;
    let ns = TestNamespace::create(&client, "csa-conflict").await?;
    let n = ns.name();
    let cm = |data: Value| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "c", "namespace": n}, "data": data})
    };
    let api = api_for(&client, &cm(json!({}))).await?;
    client_side::apply(&api, &cm(json!({"a": "1"})), APPLY).await?;
    let stale = live(&api, "c").await?;
    // Another writer changes the object (and its resourceVersion) and sets
    // `a` to the value gyro is about to apply; against the stale copy gyro
    // would send no change for `a`.
    kubectl(
        &[
            "patch",
            "-n",
            n,
            "configmap",
            "c",
            "-p",
            r#"{"data":{"a":"2","w":"x"}}"#,
        ],
        None,
    )?;
    let applied =
        client_side::apply_to_live(&api, &cm(json!({"a": "1", "b": "1"})), &stale, APPLY).await?;
    assert!(matches!(applied, Applied::Configured(_)), "{applied:?}");
    let now = live(&api, "c").await?;
    assert_eq!(now["data"], json!({"a": "1", "b": "1", "w": "x"}));
    Ok(())
}

//! Differential tests: each case is built by the kustomize binary (a base
//! resource, a patch and a kustomization with `patches:`) and by [`apply`],
//! and the patched objects must be equal. Skipped, with a note, where the
//! binary is not installed.

use crate::kustomize::resource::{get_path, set_path};

use super::*;
use crate::schema::Layer;

/// One differential case: files of the kustomization directory, besides
/// `base.yaml` and `patch.yaml`.
#[derive(Default)]
struct Case<'a> {
    base: &'a str,
    patch: &'a str,
    /// Lines appended to the kustomization.
    kustomization: &'a str,
    files: &'a [(&'a str, &'a str)],
    /// The schema gyro should use (built-in when `None`).
    schema: Option<&'a Schema>,
}

fn yaml_docs(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .unwrap()
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

fn run_kustomize(case: &Case<'_>) -> Result<Vec<Value>, String> {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("base.yaml", case.base);
    write("patch.yaml", case.patch);
    for (name, text) in case.files {
        write(name, text);
    }
    write(
        "kustomization.yaml",
        &format!(
            "resources: [base.yaml]\npatches:\n- path: patch.yaml\n{}",
            case.kustomization
        ),
    );
    testkit::tools::kustomize_build(dir.path()).map(|text| yaml_docs(&text))
}

fn text_at<'v>(v: &'v Value, path: &[&str]) -> &'v str {
    get_path(v, path).and_then(Value::as_str).unwrap_or("")
}

/// What kustomize's patch transformer does around the merge: patch the
/// resource with the patch's kind and name, then put back its kind, name
/// and namespace.
fn run_gyro(case: &Case<'_>) -> Result<Vec<Value>, Error> {
    let patch = serde_saphyr::from_str::<Value>(case.patch).unwrap();
    let schema = case.schema.unwrap_or_else(|| Schema::builtin());
    let mut out = Vec::new();
    for mut obj in yaml_docs(case.base) {
        let targeted = text_at(&obj, &["kind"]) == text_at(&patch, &["kind"])
            && text_at(&obj, &["metadata", "name"]) == text_at(&patch, &["metadata", "name"]);
        if !targeted {
            out.push(obj);
            continue;
        }
        let kind = text_at(&obj, &["kind"]).to_string();
        let name = text_at(&obj, &["metadata", "name"]).to_string();
        let namespace = text_at(&obj, &["metadata", "namespace"]).to_string();
        if apply(&mut obj, &patch, schema)? == Applied::Deleted {
            continue;
        }
        set_path(&mut obj, &["kind"], Value::String(kind));
        set_path(&mut obj, &["metadata", "name"], Value::String(name));
        if namespace.is_empty() {
            if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
                meta.remove("namespace");
            }
        } else {
            set_path(
                &mut obj,
                &["metadata", "namespace"],
                Value::String(namespace),
            );
        }
        out.push(obj);
    }
    Ok(out)
}

fn check(name: &str, case: Case<'_>) {
    match (run_kustomize(&case), run_gyro(&case)) {
        (Ok(want), Ok(got)) => assert_eq!(
            got,
            want,
            "{name}: gyro differs from kustomize\n gyro: {}\n kustomize: {}",
            serde_json::to_string(&got).unwrap(),
            serde_json::to_string(&want).unwrap()
        ),
        (Err(_), Err(_)) => {}
        (Ok(want), Err(e)) => panic!("{name}: gyro failed ({e}) where kustomize gave {want:?}"),
        (Err(e), Ok(got)) => panic!("{name}: kustomize failed ({e}) where gyro gave {got:?}"),
    }
}

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, tier: front}
  finalizers: [a, 2, b]
  creationTimestamp: null
spec:
  replicas: 2
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1}
  template:
    metadata:
      labels: {app: web}
    spec:
      initContainers:
      - name: init1
        image: busybox
      - name: init2
        image: busybox
      containers:
      - name: app
        image: app:1
        args: [--a, --b]
        ports:
        - containerPort: 80
        - containerPort: 81
          protocol: UDP
        - containerPort: 9090
          name: metrics
        env:
        - name: X
          value: "1"
        - name: VY
          valueFrom:
            fieldRef: {fieldPath: metadata.name}
        volumeMounts:
        - name: data
          mountPath: /data
        - name: cache
          mountPath: /cache
        resources:
          limits: {cpu: "1", memory: 1Gi}
      - name: sidecar
        image: side:1
      - name: last
        image: last:1
      volumes:
      - name: data
        emptyDir: {}
      - name: cache
        configMap: {name: c}
      imagePullSecrets:
      - name: reg1
      hostAliases:
      - ip: 10.0.0.1
        hostnames: [a]
      topologySpreadConstraints:
      - topologyKey: zone
        whenUnsatisfiable: DoNotSchedule
        maxSkew: 1
      tolerations:
      - key: k1
        operator: Exists
"#;

#[test]
fn deployment_merges_containers_ports_env_and_mounts() {
    check(
        "deployment merge",
        Case {
            base: DEPLOYMENT,
            patch: r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {tier: null, extra: "yes"}
  finalizers: [c, a]
spec:
  replicas: 3
  template:
    spec:
      containers:
      - name: last
        image: last:2
      - name: new
        image: new:1
      - name: app
        args: [--c]
        ports:
        - containerPort: 80
          protocol: TCP
        - containerPort: 81
          name: udp
        - containerPort: 8080
        env:
        - name: VY
          value: plain
        - name: Z
          value: "3"
        volumeMounts:
        - mountPath: /cache
          readOnly: true
        - mountPath: /new
          name: new
        resources:
          requests: {cpu: 100m}
      imagePullSecrets:
      - name: reg2
      hostAliases:
      - ip: 10.0.0.2
        hostnames: [b]
      topologySpreadConstraints:
      - topologyKey: zone
        whenUnsatisfiable: ScheduleAnyway
        maxSkew: 2
      tolerations:
      - key: k2
"#,
            ..Case::default()
        },
    );
}

#[test]
fn deployment_directives() {
    check(
        "deployment directives",
        Case {
            base: DEPLOYMENT,
            patch: r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  $deleteFromPrimitiveList/finalizers: [b]
spec:
  strategy:
    $retainKeys: [type]
    type: Recreate
    rollingUpdate: null
  template:
    spec:
      $setElementOrder/containers:
      - name: sidecar
      - name: app
      initContainers:
      - $patch: replace
      - name: init3
        image: busybox
      containers:
      - name: sidecar
        $patch: delete
      - name: app
        resources:
          $patch: replace
          limits: {cpu: "2"}
        env:
        - name: X
          $patch: delete
      volumes:
      - name: cache
        $patch: replace
        secret: {secretName: s}
      tolerations:
      - $patch: delete
"#,
            ..Case::default()
        },
    );
}

#[test]
fn deployment_deletes_and_replaces_whole_parts() {
    check(
        "deployment list deletes",
        Case {
            base: DEPLOYMENT,
            patch: r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  strategy:
    $patch: delete
  template:
    metadata:
      $patch: replace
      annotations: {a: b}
    spec:
      volumes:
      - $patch: delete
      ephemeralContainers:
      - $patch: replace
      - name: debug
      containers:
      - $patch: merge
      - name: app
        image: app:2
"#,
            ..Case::default()
        },
    );
}

#[test]
fn whole_object_directives_match() {
    for directive in ["delete", "replace", "merge"] {
        let patch = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n$patch: {directive}\nspec:\n  replicas: 9\n"
        );
        check(
            &format!("whole object {directive}"),
            Case {
                base: DEPLOYMENT,
                patch: &patch,
                ..Case::default()
            },
        );
    }
}

#[test]
fn statefulset_claims_are_replaced_and_mounts_merged() {
    check(
        "statefulset",
        Case {
            base: r#"
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  template:
    spec:
      containers:
      - name: db
        image: db:1
        volumeMounts:
        - {name: data, mountPath: /var/lib/db}
        - {name: conf, mountPath: /etc/db}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
"#,
            patch: r#"
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  template:
    spec:
      containers:
      - name: db
        volumeMounts:
        - {name: data2, mountPath: /var/lib/db}
        - {name: logs, mountPath: /logs}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      resources: {requests: {storage: 5Gi}}
"#,
            ..Case::default()
        },
    );
}

#[test]
fn daemonset_and_cronjob_pod_templates_merge() {
    check(
        "daemonset",
        Case {
            base: r#"
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  updateStrategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 1}}
  template:
    spec:
      hostNetwork: true
      tolerations: [{operator: Exists}]
      containers:
      - name: agent
        image: agent:1
        env: [{name: A, value: a}]
"#,
            patch: r#"
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  updateStrategy: {type: OnDelete, rollingUpdate: null}
  template:
    spec:
      hostNetwork: null
      containers:
      - name: agent
        env: [{name: B, value: b}, {name: A, value: a2}]
"#,
            ..Case::default()
        },
    );
    check(
        "cronjob",
        Case {
            base: r#"
apiVersion: batch/v1
kind: CronJob
metadata:
  name: job
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      backoffLimit: 2
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: main
            image: job:1
            command: [run]
          - name: helper
            image: helper:1
"#,
            patch: r#"
apiVersion: batch/v1
kind: CronJob
metadata:
  name: job
spec:
  schedule: "0 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: helper
            image: helper:2
          - name: main
            command: [run, --fast]
"#,
            ..Case::default()
        },
    );
}

#[test]
fn service_ports_merge_by_port_and_protocol() {
    check(
        "service",
        Case {
            base: r#"
apiVersion: v1
kind: Service
metadata:
  name: svc
spec:
  type: ClusterIP
  selector: {app: web, tier: front}
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
"#,
            patch: r#"
apiVersion: v1
kind: Service
metadata:
  name: svc
spec:
  type: NodePort
  selector: {tier: null}
  ports:
  - {port: 80, nodePort: 30080}
  - {port: 53, protocol: TCP, targetPort: 5353}
  - {name: https, port: 443, targetPort: 8443}
"#,
            ..Case::default()
        },
    );
}

#[test]
fn ingress_rules_are_replaced() {
    check(
        "ingress",
        Case {
            base: r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: ing
  annotations: {a: "1"}
spec:
  ingressClassName: nginx
  tls: [{hosts: [a.example.com], secretName: a}]
  rules:
  - host: a.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: a, port: {number: 80}}}
"#,
            patch: r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: ing
  annotations: {b: "2"}
spec:
  rules:
  - host: b.example.com
    http:
      paths:
      - path: /b
        pathType: Exact
        backend: {service: {name: b, port: {name: http}}}
"#,
            ..Case::default()
        },
    );
}

const FOO: &str = r#"
apiVersion: example.com/v1
kind: Foo
metadata:
  name: f
spec:
  items:
  - {name: a, v: 1}
  - {name: b, v: 2}
  workload:
    apiVersion: apps/v1
    kind: Deployment
    spec:
      template:
        spec:
          containers:
          - {name: a, image: a}
          - {name: b, image: b}
  pod:
    spec:
      containers:
      - {name: a, image: a}
"#;

const FOO_PATCH: &str = r#"
apiVersion: example.com/v1
kind: Foo
metadata:
  name: f
spec:
  items:
  - {name: b, v: 3}
  workload:
    spec:
      template:
        spec:
          containers:
          - {name: b, image: b2}
  pod:
    spec:
      containers:
      - {name: b, image: b}
"#;

/// kustomize reads `crds:` files for reference rules only, so they leave
/// strategic merges alone.
const CRD_DEFINITIONS: &str = r#"{
  "com.example.v1.Foo": {
    "Schema": {
      "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"$ref": "k8s.io/apimachinery/pkg/apis/meta/v1.ObjectMeta"},
        "spec": {"$ref": "com.example.v1.FooSpec"}
      }
    },
    "Dependencies": []
  },
  "com.example.v1.FooSpec": {
    "Schema": {
      "properties": {
        "items": {"type": "array", "items": {"type": "object"},
                  "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge"}
      }
    },
    "Dependencies": []
  }
}"#;

#[test]
fn custom_resources_without_a_schema() {
    check(
        "crd",
        Case {
            base: FOO,
            patch: FOO_PATCH,
            ..Case::default()
        },
    );
    check(
        "crd with crds:",
        Case {
            base: FOO,
            patch: FOO_PATCH,
            kustomization: "crds: [crd.json]\n",
            files: &[("crd.json", CRD_DEFINITIONS)],
            ..Case::default()
        },
    );
}

const FOO_OPENAPI: &str = r##"
definitions:
  com.example.v1.Foo:
    type: object
    x-kubernetes-group-version-kind:
    - {group: example.com, version: v1, kind: Foo}
    properties:
      spec: {$ref: "#/definitions/com.example.v1.FooSpec"}
  com.example.v1.FooSpec:
    type: object
    properties:
      items:
        type: array
        x-kubernetes-patch-merge-key: name
        x-kubernetes-patch-strategy: merge
        items: {type: object}
"##;

#[test]
fn custom_resources_with_an_openapi_document() {
    let doc = serde_saphyr::from_str::<Value>(FOO_OPENAPI).unwrap();
    let schema = Schema::from_openapi_doc(&doc).unwrap();
    check(
        "crd with openapi:",
        Case {
            base: FOO,
            patch: FOO_PATCH,
            kustomization: "openapi:\n  path: openapi.yaml\n",
            files: &[("openapi.yaml", FOO_OPENAPI)],
            schema: Some(&schema),
        },
    );
}

#[test]
fn quirks_of_kyamls_list_merge() {
    check(
        "duplicate names and keyless elements",
        Case {
            base: r#"
apiVersion: v1
kind: Pod
metadata:
  name: p
  finalizers: [x, x, z]
spec:
  containers:
  - {name: a, image: a1}
  - {name: a, image: a2}
  - {name: b, image: b}
  volumes:
  - {name: v1, emptyDir: {}}
  - {name: v2, emptyDir: {}}
"#,
            patch: r#"
apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  volumes:
  - {emptyDir: {medium: Memory}}
"#,
            ..Case::default()
        },
    );
    check(
        "patch list where the object has null",
        Case {
            base: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers: null\n  volumes: null\n",
            patch: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - {name: a, image: a}\n",
            ..Case::default()
        },
    );
    check(
        "type mismatch",
        Case {
            base: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: b\n",
            patch: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata: [x]\n",
            ..Case::default()
        },
    );
    check(
        "unknown directive",
        Case {
            base: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: b\n",
            patch: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  $patch: nope\n",
            ..Case::default()
        },
    );
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }
}

/// Random pod-spec-like content for objects (`patch == false`) and
/// patches (`patch == true`, adding directives and nulls).
struct Gen {
    rng: Rng,
    patch: bool,
}

impl Gen {
    fn list(&mut self, max: u64, mut item: impl FnMut(&mut Gen) -> Value) -> Value {
        let n = self.rng.below(max + 1);
        let mut items: Vec<Value> = (0..n).map(|_| item(self)).collect();
        if self.rng.chance(5) {
            let odd = if self.rng.chance(50) {
                Value::Null
            } else {
                serde_json::json!({})
            };
            let at = self.rng.below(items.len() as u64 + 1) as usize;
            items.insert(at, odd);
        }
        if self.patch && self.rng.chance(15) {
            let directive = self.rng.pick(&["replace", "delete", "merge"]);
            let at = self.rng.below(items.len() as u64 + 1) as usize;
            items.insert(at, serde_json::json!({"$patch": directive}));
        }
        Value::Array(items)
    }

    /// Sets `key` in `map` most of the time; in patches sometimes to null.
    fn maybe(
        &mut self,
        map: &mut serde_json::Map<String, Value>,
        key: &str,
        value: impl FnOnce(&mut Gen) -> Value,
    ) {
        if self.rng.chance(35) {
            return;
        }
        let v = if self.patch && self.rng.chance(10) {
            Value::Null
        } else {
            value(self)
        };
        map.insert(key.to_string(), v);
    }

    fn element_directive(&mut self, map: &mut serde_json::Map<String, Value>) {
        if self.patch && self.rng.chance(10) {
            let directive = self.rng.pick(&["replace", "delete", "merge"]);
            map.insert("$patch".into(), Value::String(directive.into()));
        }
    }

    fn port(&mut self) -> Value {
        let mut m = serde_json::Map::new();
        let port = self
            .rng
            .pick(&["80", "81", "82"])
            .parse::<u64>()
            .unwrap_or(80);
        m.insert("containerPort".into(), port.into());
        if self.rng.chance(50) {
            m.insert("protocol".into(), self.rng.pick(&["TCP", "UDP"]).into());
        }
        if self.rng.chance(30) {
            m.insert("name".into(), self.rng.pick(&["web", "alt"]).into());
        }
        self.element_directive(&mut m);
        Value::Object(m)
    }

    fn env(&mut self) -> Value {
        let mut m = serde_json::Map::new();
        if self.rng.chance(95) {
            m.insert("name".into(), self.rng.pick(&["A", "B", "C"]).into());
        }
        m.insert("value".into(), self.rng.pick(&["v1", "v2", "v3"]).into());
        self.element_directive(&mut m);
        Value::Object(m)
    }

    fn container(&mut self) -> Value {
        let mut m = serde_json::Map::new();
        if self.rng.chance(93) {
            m.insert("name".into(), self.rng.pick(&["a", "b", "c"]).into());
        }
        self.maybe(&mut m, "image", |g| g.rng.pick(&["img:1", "img:2"]).into());
        self.maybe(&mut m, "args", |g| {
            g.list(2, |g| g.rng.pick(&["--p", "--q"]).into())
        });
        self.maybe(&mut m, "ports", |g| g.list(3, Gen::port));
        self.maybe(&mut m, "env", |g| g.list(3, Gen::env));
        self.maybe(&mut m, "resources", |g| {
            let mut r = serde_json::Map::new();
            g.maybe(
                &mut r,
                "limits",
                |g| serde_json::json!({"cpu": g.rng.pick(&["1", "2"])}),
            );
            g.maybe(
                &mut r,
                "requests",
                |g| serde_json::json!({"memory": g.rng.pick(&["1Gi", "2Gi"])}),
            );
            g.element_directive(&mut r);
            Value::Object(r)
        });
        self.element_directive(&mut m);
        Value::Object(m)
    }

    fn volume(&mut self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("name".into(), self.rng.pick(&["v1", "v2"]).into());
        if self.rng.chance(50) {
            m.insert("emptyDir".into(), serde_json::json!({}));
        } else {
            m.insert(
                "configMap".into(),
                serde_json::json!({"name": self.rng.pick(&["c1", "c2"])}),
            );
        }
        self.element_directive(&mut m);
        Value::Object(m)
    }

    fn object(&mut self, name: &str) -> Value {
        let mut spec = serde_json::Map::new();
        self.maybe(&mut spec, "containers", |g| g.list(4, Gen::container));
        self.maybe(&mut spec, "initContainers", |g| g.list(2, Gen::container));
        self.maybe(&mut spec, "volumes", |g| g.list(3, Gen::volume));
        self.maybe(&mut spec, "tolerations", |g| {
            g.list(2, |g| serde_json::json!({"key": g.rng.pick(&["k1", "k2"])}))
        });
        let mut meta = serde_json::Map::new();
        meta.insert("name".into(), name.into());
        self.maybe(&mut meta, "finalizers", |g| {
            g.list(3, |g| g.rng.pick(&["f1", "f2", "f3"]).into())
        });
        self.maybe(&mut meta, "labels", |g| {
            let mut labels = serde_json::Map::new();
            g.maybe(&mut labels, "app", |g| g.rng.pick(&["x1", "x2"]).into());
            g.maybe(&mut labels, "tier", |g| g.rng.pick(&["t1", "t2"]).into());
            Value::Object(labels)
        });
        let mut root = serde_json::json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {"template": {"spec": spec}}
        });
        if self.patch && self.rng.chance(3) {
            root["$patch"] = Value::String(self.rng.pick(&["delete", "replace"]).into());
        }
        root
    }
}

#[test]
fn random_pod_specs_merge_like_kustomize() {
    const CASES: usize = 300;
    let mut objects = Gen {
        rng: Rng(0x9e37_79b9_7f4a_7c15),
        patch: false,
    };
    let mut patches = Gen {
        rng: Rng(0x2545_f491_4f6c_dd1d),
        patch: true,
    };
    let names: Vec<String> = (0..CASES).map(|i| format!("d{i}")).collect();
    let bases: Vec<Value> = names.iter().map(|n| objects.object(n)).collect();
    let patch_docs: Vec<Value> = names.iter().map(|n| patches.object(n)).collect();

    let dir = tempfile::tempdir().unwrap();
    let docs: Vec<String> = bases
        .iter()
        .map(|b| serde_json::to_string(b).unwrap())
        .collect();
    std::fs::write(dir.path().join("base.yaml"), docs.join("\n---\n")).unwrap();
    let mut kustomization = String::from("resources: [base.yaml]\npatches:\n");
    for (i, patch) in patch_docs.iter().enumerate() {
        let file = format!("p{i}.yaml");
        std::fs::write(
            dir.path().join(&file),
            serde_json::to_string(patch).unwrap(),
        )
        .unwrap();
        kustomization.push_str(&format!("- path: {file}\n"));
    }
    std::fs::write(dir.path().join("kustomization.yaml"), kustomization).unwrap();
    let out = testkit::tools::kustomize_build(dir.path())
        .unwrap_or_else(|e| panic!("kustomize failed: {e}"));
    let mut want: std::collections::HashMap<String, Value> = yaml_docs(&out)
        .into_iter()
        .map(|d| (text_at(&d, &["metadata", "name"]).to_string(), d))
        .collect();

    let mut failures = Vec::new();
    for ((name, base), patch) in names.iter().zip(bases).zip(&patch_docs) {
        let mut got = base.clone();
        let applied = apply(&mut got, patch, Schema::builtin()).unwrap();
        set_path(&mut got, &["kind"], Value::String("Deployment".into()));
        set_path(&mut got, &["metadata", "name"], Value::String(name.clone()));
        let expected = want.remove(name);
        let matches = match (applied, &expected) {
            (Applied::Deleted, None) => true,
            (Applied::Patched, Some(w)) => *w == got,
            _ => false,
        };
        if !matches {
            failures.push(format!(
                "{name}:\n base: {}\n patch: {}\n gyro: {}\n kustomize: {}",
                serde_json::to_string(&base).unwrap(),
                serde_json::to_string(patch).unwrap(),
                serde_json::to_string(&got).unwrap(),
                serde_json::to_string(&expected).unwrap()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {CASES} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A base naming `openapi:` sets the schema for the whole build; when a
/// kind outside kyaml's fixed scope table was loaded before it, kyaml
/// layers the built-in schema over the document.
#[test]
fn openapi_documents_layered_with_the_builtin_schema() {
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      containers:\n      - {name: a, image: a}\n      - {name: b, image: b}\n";
    let foo = "apiVersion: example.com/v1\nkind: Foo\nmetadata:\n  name: f\nspec:\n  items:\n  - {name: a, v: 1}\n  - {name: b, v: 2}\n";
    let patches = [
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      containers:\n      - {name: b, image: b2}\n",
        "apiVersion: example.com/v1\nkind: Foo\nmetadata:\n  name: f\nspec:\n  items:\n  - {name: b, v: 3}\n",
    ];
    let doc = serde_saphyr::from_str::<Value>(FOO_OPENAPI).unwrap();
    let custom_only = Schema::from_openapi_doc(&doc).unwrap();
    let layered = Schema::from_layers(&[Layer::Document(&doc), Layer::Builtin]).unwrap();
    let cases = [
        ("v1", "ConfigMap", &custom_only),
        ("example.com/v1", "Bar", &layered),
    ];
    for (first_api_version, first_kind, schema) in cases {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        std::fs::create_dir(dir.path().join("base")).unwrap();
        write("base/openapi.yaml", FOO_OPENAPI);
        write("base/foo.yaml", foo);
        write(
            "base/kustomization.yaml",
            "openapi:\n  path: openapi.yaml\nresources: [foo.yaml]\n",
        );
        write("dep.yaml", deployment);
        write(
            "first.yaml",
            &format!(
                "apiVersion: {first_api_version}\nkind: {first_kind}\nmetadata:\n  name: first\n"
            ),
        );
        write("p0.yaml", patches[0]);
        write("p1.yaml", patches[1]);
        write(
            "kustomization.yaml",
            "resources: [first.yaml, base, dep.yaml]\npatches:\n- path: p0.yaml\n- path: p1.yaml\n",
        );
        let out = testkit::tools::kustomize_build(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let want = yaml_docs(&out);
        for (base, patch) in [(deployment, patches[0]), (foo, patches[1])] {
            let mut got = serde_saphyr::from_str::<Value>(base).unwrap();
            let patch = serde_saphyr::from_str::<Value>(patch).unwrap();
            apply(&mut got, &patch, schema).unwrap();
            assert!(
                want.contains(&got),
                "{first_kind} first: {got} not in {want:?}"
            );
        }
    }
}

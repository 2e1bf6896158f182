//! Rewrites references after renames: once prefixes, suffixes, content
//! hashes, namespace changes and patches have renamed objects, every field
//! that names one of them (a volume's ConfigMap, a RoleBinding's role and
//! subjects, an Ingress backend, ...) is changed to the new name, the way
//! kustomize's name reference transformer does it at the end of a build.
//!
//! Which fields refer to which kinds comes from the transformer
//! configuration's `nameReference` list. A reference is matched to an
//! object by one of the object's previous names and kinds; among several
//! matches, kustomize prefers objects in the referrer's namespace and
//! objects that were renamed with the same prefixes and suffixes as the
//! referrer (so an overlay's reference goes to its own copy of a base
//! object), and fails if that still leaves objects with different names.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use super::builtins::TransformerConfig;
use super::fieldspec::{FieldSpec, split_path};
use std::sync::OnceLock;

use super::resource::{Gvk, ResId, ResMap, Resource, get_path};
use crate::{Error, Result, Value};

/// Rewrites every reference in `resmap` to a renamed object.
pub fn fix(resmap: &mut ResMap, config: &TransformerConfig) -> Result<()> {
    // The built-in table's rules are split once per process, not per build.
    static BUILTIN_RULES: OnceLock<Vec<Rule<'static>>> = OnceLock::new();
    let custom;
    let rules: &[Rule<'_>] = if std::ptr::eq(config, TransformerConfig::builtin()) {
        BUILTIN_RULES.get_or_init(|| Rule::all(TransformerConfig::builtin()))
    } else {
        custom = Rule::all(config);
        &custom
    };
    let targets: Vec<Target> = resmap.iter().map(Target::new).collect();
    // A reference can only mean an object that once had the name it uses,
    // so candidates are looked up by previous name (in build order).
    let mut by_prev_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, t) in targets.iter().enumerate() {
        for p in &t.prev {
            let list = by_prev_name.entry(p.name.as_str()).or_default();
            if list.last() != Some(&i) {
                list.push(i);
            }
        }
    }
    for (index, target) in targets.iter().enumerate() {
        // kustomize picks the fields to visit by the referrer's original
        // kind, so a kind changed by a patch keeps its old references.
        let applicable: Vec<&Rule> = rules
            .iter()
            .filter(|rule| rule.referrer.selects(&target.orig_gvk))
            .collect();
        if applicable.is_empty() {
            continue;
        }
        let resource = &mut resmap.resources[index];
        let referrer = Referrer::new(resource, target)?;
        for rule in applicable {
            let mut fixer = Fixer {
                rule,
                referrer: &referrer,
                targets: &targets,
                by_prev_name: &by_prev_name,
            };
            let mut trail = String::new();
            fixer
                .walk(&mut resource.obj, &rule.path, &mut trail)
                .map_err(|e| {
                    e.for_object(resource.describe())
                        .in_file(resource.file.clone())
                })?;
        }
    }
    Ok(())
}

/// One referrer field spec of the configuration, with what it refers to.
struct Rule<'c> {
    /// The referred kind.
    target: &'c Gvk,
    /// The referring kind and field.
    referrer: Gvk,
    spec: &'c FieldSpec,
    path: Vec<String>,
    /// `roleRef/name` fields also say which kind they mean.
    role_ref: bool,
}

impl<'c> Rule<'c> {
    fn all(config: &'c TransformerConfig) -> Vec<Rule<'c>> {
        config
            .name_reference
            .iter()
            .flat_map(|nbr| {
                nbr.referrers.iter().map(|spec| Rule {
                    target: &nbr.gvk,
                    referrer: spec.gvk(),
                    spec,
                    path: split_path(&spec.path),
                    role_ref: spec.path.ends_with("roleRef/name"),
                })
            })
            .collect()
    }
}

/// What matching needs to know about a resource, read before any field is
/// rewritten (the rewrites never touch names, kinds or namespaces).
struct Target {
    /// The current id.
    id: ResId,
    cluster_scoped: bool,
    /// The current effective namespace (`default` for none).
    ns: String,
    /// The original effective namespace; `None` when it was cluster-scoped.
    orig_ns: Option<String>,
    orig_gvk: Gvk,
    /// The ids before renames, each with the current group and version
    /// (kustomize records only previous kinds, names and namespaces).
    prev: Vec<ResId>,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
}

impl Target {
    fn new(r: &Resource) -> Target {
        let id = r.cur_id();
        let prev: Vec<ResId> = r
            .prev_ids
            .iter()
            .map(|p| ResId {
                gvk: Gvk {
                    kind: p.gvk.kind.clone(),
                    ..id.gvk.clone()
                },
                name: p.name.clone(),
                namespace: p.namespace.clone(),
            })
            .collect();
        let orig_ns = match r.prev_ids.first() {
            Some(first) if first.gvk.is_cluster_scoped() => None,
            Some(first) => Some(first.effective_namespace().to_string()),
            None if id.gvk.is_cluster_scoped() => None,
            None => Some(id.effective_namespace().to_string()),
        };
        Target {
            cluster_scoped: id.gvk.is_cluster_scoped(),
            ns: id.effective_namespace().to_string(),
            orig_ns,
            orig_gvk: prev
                .first()
                .map_or_else(|| id.gvk.clone(), |p| p.gvk.clone()),
            prev,
            prefixes: r.prefixes.clone(),
            suffixes: r.suffixes.clone(),
            id,
        }
    }

    fn had_kind(&self, selector: &Gvk) -> bool {
        self.prev.iter().any(|p| selector.selects(&p.gvk))
    }

    /// Whether this object was renamed with the same trailing prefixes and
    /// suffixes as `r`. With `allow_empty`, a side without any matches.
    fn affixes_match(&self, r: &Target, allow_empty: bool) -> bool {
        let fits = |a: &[String], b: &[String]| {
            (allow_empty && (a.is_empty() || b.is_empty())) || same_ending(a, b)
        };
        fits(&self.prefixes, &r.prefixes) && fits(&self.suffixes, &r.suffixes)
    }
}

/// Whether the shorter list is the tail of the longer one (two empty lists
/// match; an empty and a non-empty one do not).
fn same_ending(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.is_empty() {
        return long.is_empty();
    }
    long.ends_with(short)
}

/// The object whose fields are being rewritten.
struct Referrer<'t> {
    /// Its id, namespace and affixes.
    me: &'t Target,
    /// For a RoleBinding: the namespaces its ServiceAccount subjects name,
    /// where it may refer to objects outside its own namespace.
    subject_namespaces: HashSet<String>,
    /// The kind a RoleBinding's `roleRef` names (group and kind), if any.
    role_ref: Option<Gvk>,
}

impl<'t> Referrer<'t> {
    fn new(r: &Resource, t: &'t Target) -> Result<Referrer<'t>> {
        let mut subject_namespaces = HashSet::new();
        if t.id.gvk.kind == "RoleBinding"
            && let Some(Value::Array(subjects)) = get_path(&r.obj, &["subjects"])
        {
            for subject in subjects.iter().filter_map(Value::as_object) {
                let (Some(ns), Some(kind)) = (subject.get("namespace"), subject.get("kind")) else {
                    continue;
                };
                if kind.as_str() != Some("ServiceAccount") {
                    continue;
                }
                let Some(ns) = ns.as_str() else {
                    return Err(
                        Error::new("a ServiceAccount subject's namespace is not a string")
                            .for_object(r.describe())
                            .at_field("subjects"),
                    );
                };
                subject_namespaces.insert(ns.to_string());
            }
        }
        let role_ref = get_path(&r.obj, &["roleRef"]).and_then(|rr| {
            let part = |k: &str| rr.as_object()?.get(k).map(scalar_text);
            Some(Gvk {
                group: part("apiGroup")?,
                version: String::new(),
                kind: part("kind")?,
            })
        });
        Ok(Referrer {
            me: t,
            subject_namespaces,
            role_ref,
        })
    }

    /// kustomize's first cut: a namespaced referrer sees cluster-scoped
    /// objects, objects of its own namespace and, for a RoleBinding, those
    /// in its ServiceAccount subjects' namespaces.
    fn may_refer_to(&self, t: &Target) -> bool {
        self.me.cluster_scoped
            || t.cluster_scoped
            || t.ns == self.me.ns
            || self.subject_namespaces.contains(&t.id.namespace)
    }

    /// The finer namespace rule applied after the name matched. Service
    /// accounts are exempt (RoleBinding subjects may name other
    /// namespaces).
    fn same_namespace(&self, t: &Target) -> bool {
        self.me.cluster_scoped
            || t.cluster_scoped
            || t.id.gvk.kind == "ServiceAccount"
            || t.ns == self.me.ns
    }
}

/// How candidates that survive every filter may still be one answer.
#[derive(Clone, Copy)]
enum Sameness {
    Names,
    NamesAndNamespaces,
}

struct Fixer<'a, 'c> {
    rule: &'a Rule<'c>,
    referrer: &'a Referrer<'a>,
    targets: &'a [Target],
    by_prev_name: &'a HashMap<&'a str, Vec<usize>>,
}

impl<'a> Fixer<'a, '_> {
    /// Follows `path` (through lists, element by element) to the fields to
    /// rewrite. `trail` is the concrete path so far, for messages.
    fn walk(&mut self, node: &mut Value, path: &[String], trail: &mut String) -> Result<()> {
        let Some((head, rest)) = path.split_first() else {
            return self.fix_field(node, trail);
        };
        let mark = trail.len();
        let result = match node {
            Value::Null => Ok(()),
            Value::Array(items) => items.iter_mut().enumerate().try_for_each(|(i, item)| {
                let _ = write!(trail, "[{i}]");
                let r = self.walk(item, path, trail);
                trail.truncate(mark);
                r
            }),
            Value::Object(map) => match map.get_mut(head.as_str()) {
                Some(child) => {
                    if !trail.is_empty() {
                        trail.push('.');
                    }
                    trail.push_str(head);
                    self.walk(child, rest, trail)
                }
                None => Ok(()),
            },
            _ => Err(Error::new(format!(
                "expected a map or a list on the way to '{}'",
                self.rule.spec.path
            ))
            .at_field(trail.clone())),
        };
        trail.truncate(mark);
        result
    }

    /// Rewrites the field at the end of a path: a name, a map holding
    /// `name` (and maybe `namespace`), or a list of either.
    fn fix_field(&mut self, node: &mut Value, trail: &mut String) -> Result<()> {
        match node {
            Value::Null => Ok(()),
            Value::Object(map) => self.fix_map(map, trail),
            Value::Array(items) => {
                let mark = trail.len();
                for (i, item) in items.iter_mut().enumerate() {
                    let _ = write!(trail, "[{i}]");
                    match item {
                        Value::Null => {}
                        Value::Object(map) => self.fix_map(map, trail)?,
                        Value::Array(_) => {
                            return Err(Error::new(
                                "expected a name or a map with a name, found a list",
                            )
                            .at_field(trail.clone()));
                        }
                        scalar => self.fix_scalar(scalar, trail)?,
                    }
                    trail.truncate(mark);
                }
                Ok(())
            }
            scalar => self.fix_scalar(scalar, trail),
        }
    }

    fn fix_scalar(&mut self, node: &mut Value, trail: &str) -> Result<()> {
        let old = scalar_text(node);
        if let Some(t) = self.select(&old, |_| true, Sameness::Names, trail)?
            && t.id.name != old
        {
            *node = Value::String(t.id.name.clone());
        }
        Ok(())
    }

    fn fix_map(&mut self, map: &mut serde_json::Map<String, Value>, trail: &str) -> Result<()> {
        let Some(name) = map.get("name") else {
            return Err(Error::new(format!(
                "no 'name' field in the reference (configured path '{}')",
                self.rule.spec.path
            ))
            .at_field(trail.to_string()));
        };
        let old = scalar_text(name);
        let found = match map.get("namespace").map(scalar_text) {
            None => self.select(&old, |_| true, Sameness::NamesAndNamespaces, trail)?,
            Some(ns) => {
                // A reference that names a namespace means objects that
                // were in that namespace, or failing any, are in it now.
                let was_in = |t: &Target| t.orig_ns.as_deref() == Some(ns.as_str());
                let originally_there = self
                    .targets
                    .iter()
                    .any(|t| self.referrer.may_refer_to(t) && was_in(t));
                let keep = |t: &Target| {
                    if originally_there {
                        was_in(t)
                    } else {
                        !t.cluster_scoped && t.ns == ns
                    }
                };
                self.select(&old, keep, Sameness::NamesAndNamespaces, trail)?
            }
        };
        let Some(t) = found else { return Ok(()) };
        if t.id.name == old && t.id.namespace.is_empty() {
            return Ok(());
        }
        map.insert("name".to_string(), Value::String(t.id.name.clone()));
        if !t.id.namespace.is_empty() {
            map.insert(
                "namespace".to_string(),
                Value::String(t.id.namespace.clone()),
            );
        }
        Ok(())
    }

    /// The object a reference to `old` means among those the referrer may
    /// refer to that pass `keep`; `None` when there is none.
    fn select(
        &self,
        old: &str,
        keep: impl Fn(&Target) -> bool,
        sameness: Sameness,
        trail: &str,
    ) -> Result<Option<&'a Target>> {
        let role_ref = self
            .rule
            .role_ref
            .then_some(self.referrer.role_ref.as_ref())
            .flatten();
        let Some(named) = self.by_prev_name.get(old) else {
            return Ok(None);
        };
        let mut found: Vec<&'a Target> = named
            .iter()
            .map(|&i| &self.targets[i])
            .filter(|t| {
                self.referrer.may_refer_to(t)
                    && keep(t)
                    && t.had_kind(self.rule.target)
                    && role_ref.is_none_or(|g| t.had_kind(g))
                    && self.referrer.same_namespace(t)
            })
            .collect();
        if found.len() == 1 {
            return Ok(found.pop());
        }
        found.retain(|t| t.affixes_match(self.referrer.me, true));
        if found.len() > 1 {
            found.retain(|t| t.affixes_match(self.referrer.me, false));
        }
        let Some(first) = found.first().copied() else {
            return Ok(None);
        };
        let same = found.iter().all(|t| {
            t.id.name == first.id.name
                && match sameness {
                    Sameness::Names => true,
                    Sameness::NamesAndNamespaces => t.id.namespace == first.id.namespace,
                }
        });
        if same {
            return Ok(Some(first));
        }
        let ids: Vec<String> = found.iter().map(|t| t.id.to_string()).collect();
        Err(Error::new(format!(
            "found multiple possible referrals for '{old}': {} (give the referrer the same \
             namePrefix/nameSuffix as the one it means, or make the names distinct)",
            ids.join(", ")
        ))
        .at_field(trail.to_string()))
    }
}

/// A scalar as YAML text (names are strings, but a YAML `name: 123` is a
/// number to serde).
fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(_) | Value::Object(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    //! Each test builds a ResMap the way kustomize's transformers leave it
    //! (names changed, previous ids, prefixes and suffixes recorded), fixes
    //! references, and compares with what the kustomize binary builds from
    //! the equivalent kustomization.

    use super::*;

    /// `kustomize build DIR` over `files`: the objects, or the error text.
    fn oracle(files: &[(&str, &str)], dir: &str) -> std::result::Result<Vec<Value>, String> {
        let tmp = testkit::tools::write_tree(files);
        let text = testkit::tools::kustomize_build(&tmp.path().join(dir))?;
        Ok(serde_saphyr::from_multiple(&text).unwrap())
    }

    fn load(yaml: &str) -> ResMap {
        let docs: Vec<Value> = serde_saphyr::from_multiple(yaml).unwrap();
        let mut rm = ResMap::new();
        for d in docs {
            rm.append(Resource::new(d, "r.yaml")).unwrap();
        }
        rm
    }

    /// Kinds kustomize never prefixes or suffixes.
    fn keeps_name(r: &Resource) -> bool {
        matches!(
            r.kind(),
            "CustomResourceDefinition" | "APIService" | "Namespace"
        )
    }

    fn add_prefix(rm: &mut ResMap, prefix: &str) {
        for r in rm.iter_mut().filter(|r| !keeps_name(r)) {
            r.prefixes.push(prefix.to_string());
            r.store_previous_id();
            let name = format!("{prefix}{}", r.name());
            r.set_name(&name);
        }
    }

    fn add_suffix(rm: &mut ResMap, suffix: &str) {
        for r in rm.iter_mut().filter(|r| !keeps_name(r)) {
            r.suffixes.push(suffix.to_string());
            r.store_previous_id();
            let name = format!("{}{suffix}", r.name());
            r.set_name(&name);
        }
    }

    fn set_namespace(rm: &mut ResMap, ns: &str) {
        for r in rm.iter_mut() {
            r.store_previous_id();
            if !r.gvk().is_cluster_scoped() {
                r.set_namespace(ns);
            }
        }
    }

    /// Renames one object, as the hash suffix or a patch does.
    fn rename(rm: &mut ResMap, kind: &str, namespace: &str, name: &str, new: &str) {
        let r = rm
            .iter_mut()
            .find(|r| r.kind() == kind && r.namespace() == namespace && r.name() == name)
            .unwrap();
        r.store_previous_id();
        r.set_name(new);
    }

    /// The name kustomize gave to a generated object.
    fn hashed<'a>(objs: &'a [Value], kind: &str, namespace: &str, prefix: &str) -> &'a str {
        objs.iter()
            .map(|o| Resource::new(o.clone(), ""))
            .find(|r| {
                r.kind() == kind && r.namespace() == namespace && r.name().starts_with(prefix)
            })
            .and_then(|r| objs.iter().find(|o| o["metadata"]["name"] == r.name()))
            .and_then(|o| o["metadata"]["name"].as_str())
            .unwrap()
    }

    fn sorted(mut objs: Vec<Value>) -> Vec<Value> {
        objs.sort_by_key(|o| {
            let r = Resource::new(o.clone(), "");
            (
                r.kind().to_string(),
                r.namespace().to_string(),
                r.name().to_string(),
            )
        });
        objs
    }

    fn fixed(mut rm: ResMap, config: &TransformerConfig) -> Vec<Value> {
        fix(&mut rm, config).unwrap();
        sorted(rm.into_objects())
    }

    fn assert_same(got: Vec<Value>, want: Vec<Value>) {
        let want = sorted(want);
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(
                g,
                w,
                "\n got: {}\nwant: {}",
                serde_json::to_string_pretty(g).unwrap(),
                serde_json::to_string_pretty(w).unwrap()
            );
        }
    }

    fn find<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
        objs.iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap()
    }

    const WORKLOADS: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
data: {a: b}
---
apiVersion: v1
kind: Secret
metadata: {name: sec}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: claim}
spec: {storageClassName: fast, volumeName: pv}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv}
spec: {storageClassName: fast}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: fast}
parameters: {secretName: sec}
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: prio}
---
apiVersion: v1
kind: Service
metadata: {name: svc}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: dep}
spec:
  template:
    spec:
      serviceAccountName: sa
      priorityClassName: prio
      imagePullSecrets: [{name: sec}, {name: elsewhere}]
      containers:
      - name: c
        envFrom: [{configMapRef: {name: cm}}, {secretRef: {name: sec}}]
        env:
        - {name: A, valueFrom: {configMapKeyRef: {name: cm, key: a}}}
        - {name: B, valueFrom: {secretKeyRef: {name: sec, key: b}}}
        - {name: C, value: cm}
      initContainers:
      - name: i
        envFrom: [{configMapRef: {name: missing}}]
      volumes:
      - {name: v1, configMap: {name: cm}}
      - {name: v2, secret: {secretName: sec}}
      - {name: v3, persistentVolumeClaim: {claimName: claim}}
      - name: v4
        projected:
          sources: [{configMap: {name: cm}}, {secret: {name: sec}}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: cron}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          serviceAccountName: sa
          volumes: [{name: v, configMap: {name: cm}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: sts}
spec:
  serviceName: svc
  volumeClaimTemplates: [{metadata: {name: data}, spec: {storageClassName: fast}}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: hpa}
spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: dep}}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: cls}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: ing
  annotations: {nginx.ingress.kubernetes.io/auth-secret: sec}
spec:
  ingressClassName: cls
  defaultBackend: {service: {name: svc}}
  tls: [{secretName: sec}]
  rules: [{http: {paths: [{path: /, backend: {service: {name: svc}}}]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: role}
rules: [{resources: [configmaps], resourceNames: [cm, other]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: crole}
rules: [{resources: [secrets], resourceNames: [sec, cm]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: role}
subjects:
- {kind: ServiceAccount, name: sa}
- {kind: User, name: sa}
- {kind: ServiceAccount, name: sa, namespace: elsewhere}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: crb}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: crole}
subjects: [{kind: ServiceAccount, name: sa, namespace: default}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: hook}
webhooks: [{name: h.example.com, clientConfig: {service: {name: svc, namespace: default}}}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1.example.com}
spec: {service: {name: svc, namespace: default}}
"#;

    #[test]
    fn rewrites_references_after_prefix_and_suffix() {
        let want = oracle(
            &[
                (
                    "kustomization.yaml",
                    "namePrefix: p-\nnameSuffix: -s\nresources: [r.yaml]\n",
                ),
                ("r.yaml", WORKLOADS),
            ],
            "",
        )
        .unwrap();
        let mut rm = load(WORKLOADS);
        add_prefix(&mut rm, "p-");
        add_suffix(&mut rm, "-s");
        let got = fixed(rm, TransformerConfig::builtin());
        let dep = find(&got, "Deployment", "p-dep-s");
        assert_eq!(
            dep["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"],
            "p-cm-s"
        );
        assert_eq!(
            find(&got, "Ingress", "p-ing-s")["spec"]["ingressClassName"],
            "cls"
        );
        assert_same(got, want);
    }

    #[test]
    fn namespaces_decide_between_same_named_objects() {
        let kustomization = r#"
namePrefix: p-
resources: [r.yaml]
configMapGenerator:
- {name: cm, namespace: a, literals: [x=1]}
- {name: cm, namespace: b, literals: [x=2]}
"#;
        let resources = r#"
apiVersion: v1
kind: Pod
metadata: {name: pod, namespace: a}
spec: {volumes: [{name: v, configMap: {name: cm}}]}
---
apiVersion: v1
kind: Pod
metadata: {name: pod, namespace: b}
spec: {volumes: [{name: v, configMap: {name: cm}}]}
---
apiVersion: v1
kind: Pod
metadata: {name: pod, namespace: c}
spec: {volumes: [{name: v, configMap: {name: cm}}]}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa, namespace: b}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb, namespace: a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}
subjects: [{kind: ServiceAccount, name: sa, namespace: b}]
"#;
        let generated = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: cm, namespace: a}
data: {x: "1"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm, namespace: b}
data: {x: "2"}
"#;
        let want = oracle(
            &[("kustomization.yaml", kustomization), ("r.yaml", resources)],
            "",
        )
        .unwrap();
        let mut rm = load(resources);
        rm.append_all(load(generated)).unwrap();
        add_prefix(&mut rm, "p-");
        rename(
            &mut rm,
            "ConfigMap",
            "a",
            "p-cm",
            hashed(&want, "ConfigMap", "a", "p-cm-"),
        );
        rename(
            &mut rm,
            "ConfigMap",
            "b",
            "p-cm",
            hashed(&want, "ConfigMap", "b", "p-cm-"),
        );
        assert_same(fixed(rm, TransformerConfig::builtin()), want);
    }

    #[test]
    fn namespace_change_follows_into_references() {
        let resources = r#"
apiVersion: v1
kind: Service
metadata: {name: svc, namespace: old}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: dep}
spec: {template: {spec: {volumes: [{name: v, configMap: {name: cm}}]}}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: hook}
webhooks:
- {name: a.example.com, clientConfig: {service: {name: svc, namespace: old}}}
- {name: b.example.com, clientConfig: {service: {name: svc}}}
- {name: c.example.com, clientConfig: {service: {name: svc, namespace: other}}}
- {name: d.example.com, clientConfig: {url: "https://example.com"}}
"#;
        let want = oracle(
            &[
                (
                    "kustomization.yaml",
                    "namespace: new\nnamePrefix: p-\nresources: [r.yaml]\n",
                ),
                ("r.yaml", resources),
            ],
            "",
        )
        .unwrap();
        let mut rm = load(resources);
        set_namespace(&mut rm, "new");
        add_prefix(&mut rm, "p-");
        assert_same(fixed(rm, TransformerConfig::builtin()), want);
    }

    const BASE_POD: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
---
apiVersion: v1
kind: Pod
metadata: {name: pod}
spec: {volumes: [{name: v, configMap: {name: cm}}]}
"#;
    const OVERLAY_POD: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
---
apiVersion: v1
kind: Pod
metadata: {name: pod2}
spec: {volumes: [{name: v, configMap: {name: cm}}]}
"#;

    #[test]
    fn references_prefer_objects_renamed_alike() {
        let want = oracle(
            &[
                (
                    "base/kustomization.yaml",
                    "namePrefix: b-\nresources: [r.yaml]\n",
                ),
                ("base/r.yaml", BASE_POD),
                (
                    "ov/kustomization.yaml",
                    "nameSuffix: -o\nresources: [../base, r.yaml]\n",
                ),
                ("ov/r.yaml", OVERLAY_POD),
            ],
            "ov",
        )
        .unwrap();
        let mut rm = load(BASE_POD);
        add_prefix(&mut rm, "b-");
        rm.append_all(load(OVERLAY_POD)).unwrap();
        add_suffix(&mut rm, "-o");
        let got = fixed(rm, TransformerConfig::builtin());
        assert_eq!(
            find(&got, "Pod", "b-pod-o")["spec"]["volumes"][0]["configMap"]["name"],
            "b-cm-o"
        );
        assert_eq!(
            find(&got, "Pod", "pod2-o")["spec"]["volumes"][0]["configMap"]["name"],
            "cm-o"
        );
        assert_same(got, want);
    }

    #[test]
    fn ambiguous_reference_is_an_error() {
        let err = oracle(
            &[
                (
                    "base/kustomization.yaml",
                    "namePrefix: b-\nresources: [r.yaml]\n",
                ),
                ("base/r.yaml", BASE_POD),
                (
                    "ov/kustomization.yaml",
                    "namePrefix: o-\nresources: [../base, r.yaml]\n",
                ),
                ("ov/r.yaml", OVERLAY_POD),
            ],
            "ov",
        )
        .unwrap_err();
        assert!(err.contains("found multiple possible referrals"), "{err}");
        let mut rm = load(BASE_POD);
        add_prefix(&mut rm, "b-");
        rm.append_all(load(OVERLAY_POD)).unwrap();
        add_prefix(&mut rm, "o-");
        let ours = fix(&mut rm, TransformerConfig::builtin()).unwrap_err();
        assert!(
            ours.message.contains("found multiple possible referrals"),
            "{ours}"
        );
        assert!(
            ours.message.contains("ConfigMap.v1.[noGrp]/o-b-cm.[noNs]"),
            "{ours}"
        );
        assert!(
            ours.message.contains("ConfigMap.v1.[noGrp]/o-cm.[noNs]"),
            "{ours}"
        );
        assert_eq!(ours.object.as_deref(), Some("Pod/o-b-pod"));
        assert_eq!(
            ours.field.as_deref(),
            Some("spec.volumes[0].configMap.name")
        );
    }

    #[test]
    fn role_ref_kind_picks_the_role() {
        let base = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: r}
"#;
        let top = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: r}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: to-cluster-role}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: r}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: to-role}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}
"#;
        let want = oracle(
            &[
                (
                    "base/kustomization.yaml",
                    "namePrefix: c-\nresources: [r.yaml]\n",
                ),
                ("base/r.yaml", base),
                (
                    "kustomization.yaml",
                    "namePrefix: p-\nresources: [base, r.yaml]\n",
                ),
                ("r.yaml", top),
            ],
            "",
        )
        .unwrap();
        let mut rm = load(base);
        add_prefix(&mut rm, "c-");
        rm.append_all(load(top)).unwrap();
        add_prefix(&mut rm, "p-");
        assert_same(fixed(rm, TransformerConfig::builtin()), want);
    }

    #[test]
    fn patched_names_are_followed() {
        let resources = r#"
apiVersion: v1
kind: Service
metadata: {name: svc}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: ing}
spec: {defaultBackend: {service: {name: svc}}}
"#;
        let kustomization = r#"
resources: [r.yaml]
patches:
- target: {kind: Service, name: svc}
  options: {allowNameChange: true}
  patch: |
    - {op: replace, path: /metadata/name, value: renamed}
"#;
        let want = oracle(
            &[("kustomization.yaml", kustomization), ("r.yaml", resources)],
            "",
        )
        .unwrap();
        let mut rm = load(resources);
        rename(&mut rm, "Service", "", "svc", "renamed");
        assert_same(fixed(rm, TransformerConfig::builtin()), want);
    }

    const WIDGET_CONFIG: &str = r#"
nameReference:
- kind: ConfigMap
  version: v1
  fieldSpecs:
  - {kind: Widget, path: spec/configs}
  - {kind: Widget, path: spec/ref}
"#;

    const WIDGETS: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
spec:
  configs: [cm, other, {name: cm}]
  ref: {name: cm}
"#;

    #[test]
    fn configured_references_of_custom_kinds() {
        let want = oracle(
            &[
                (
                    "kustomization.yaml",
                    "namePrefix: p-\nconfigurations: [c.yaml]\nresources: [r.yaml]\n",
                ),
                ("c.yaml", WIDGET_CONFIG),
                ("r.yaml", WIDGETS),
            ],
            "",
        )
        .unwrap();
        let doc: Value = serde_saphyr::from_str(WIDGET_CONFIG).unwrap();
        let merged = TransformerConfig::builtin().merged_with(&doc).unwrap();
        let mut rm = load(WIDGETS);
        add_prefix(&mut rm, "p-");
        assert_same(fixed(rm, &merged), want);
    }

    const CRDS: &str = r#"{
  "example.com/v1.Bee": {"Schema": {"properties": {
    "apiVersion": {"type": "string"}, "kind": {"type": "string"},
    "metadata": {"$ref": "k8s.io/apimachinery/pkg/apis/meta/v1.ObjectMeta"}}}},
  "example.com/v1.MyKind": {"Schema": {"properties": {
    "apiVersion": {"type": "string"}, "kind": {"type": "string"},
    "metadata": {"$ref": "k8s.io/apimachinery/pkg/apis/meta/v1.ObjectMeta"},
    "spec": {"$ref": "example.com/v1.MyKindSpec"}}}},
  "example.com/v1.MyKindSpec": {"Schema": {"properties": {
    "secretRef": {"x-kubernetes-object-ref-api-version": "v1",
                  "x-kubernetes-object-ref-kind": "Secret"},
    "beeRef": {"x-kubernetes-object-ref-api-version": "v1",
               "x-kubernetes-object-ref-kind": "Bee",
               "x-kubernetes-object-ref-name-key": "beeName"}}}}
}"#;

    const CRD_OBJECTS: &str = r#"
apiVersion: v1
kind: Secret
metadata: {name: s}
---
apiVersion: example.com/v1
kind: Bee
metadata: {name: b}
---
apiVersion: example.com/v1
kind: MyKind
metadata: {name: mk}
spec:
  secretRef: {name: s}
  beeRef: {beeName: b}
"#;

    #[test]
    fn references_declared_by_crd_schemas() {
        let want = oracle(
            &[
                (
                    "kustomization.yaml",
                    "namePrefix: p-\ncrds: [crds.json]\nresources: [r.yaml]\n",
                ),
                ("crds.json", CRDS),
                ("r.yaml", CRD_OBJECTS),
            ],
            "",
        )
        .unwrap();
        let doc: Value = serde_json::from_str(CRDS).unwrap();
        let merged = TransformerConfig::builtin()
            .merged_with_crds(&[doc])
            .unwrap();
        let mut rm = load(CRD_OBJECTS);
        add_prefix(&mut rm, "p-");
        let got = fixed(rm, &merged);
        assert_eq!(
            find(&got, "MyKind", "p-mk")["spec"]["beeRef"]["beeName"],
            "p-b"
        );
        assert_same(got, want);
    }

    #[test]
    fn reference_without_name_is_an_error() {
        let resources = r#"
apiVersion: v1
kind: Service
metadata: {name: svc}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: hook}
webhooks: [{name: h.example.com, clientConfig: {service: {namespace: default}}}]
"#;
        let err = oracle(
            &[
                ("kustomization.yaml", "resources: [r.yaml]\n"),
                ("r.yaml", resources),
            ],
            "",
        )
        .unwrap_err();
        assert!(err.contains("no 'name' field"), "{err}");
        let ours = fix(&mut load(resources), TransformerConfig::builtin()).unwrap_err();
        assert!(ours.message.contains("no 'name' field"), "{ours}");
        assert_eq!(
            ours.field.as_deref(),
            Some("webhooks[0].clientConfig.service")
        );
    }

    /// The whole build (ours against the binary) over the fixtures above
    /// and a few that need the other transformers: namespace changes with
    /// RBAC subjects, generators with hashes, overlays.
    #[test]
    fn whole_builds_match_kustomize() {
        let rbac = r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: r}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}
subjects:
- {kind: ServiceAccount, name: sa}
- {kind: ServiceAccount, name: sa, namespace: default}
- {kind: User, name: sa}
- {kind: Group, name: sa, namespace: other}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: crb}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: ServiceAccount, name: sa, namespace: default}]
"#;
        let generated = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: dep}
spec:
  template:
    spec:
      containers:
      - name: c
        envFrom: [{configMapRef: {name: env}}, {secretRef: {name: creds}}]
      volumes: [{name: v, configMap: {name: env}}]
"#;
        let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
            (
                "prefix, suffix, every builtin reference",
                vec![
                    (
                        "kustomization.yaml",
                        "namePrefix: p-\nnameSuffix: -s\nresources: [r.yaml]\n",
                    ),
                    ("r.yaml", WORKLOADS),
                ],
            ),
            (
                "namespace and prefix with RBAC",
                vec![
                    (
                        "kustomization.yaml",
                        "namespace: ns1\nnamePrefix: p-\nresources: [r.yaml]\n",
                    ),
                    ("r.yaml", rbac),
                ],
            ),
            (
                "generated objects with hashes, overlay prefix",
                vec![
                    (
                        "base/kustomization.yaml",
                        "resources: [r.yaml]\nconfigMapGenerator: [{name: env, literals: [a=b]}]\n\
                         secretGenerator: [{name: creds, literals: [p=q]}]\n",
                    ),
                    ("base/r.yaml", generated),
                    (
                        "kustomization.yaml",
                        "namePrefix: o-\nnamespace: prod\nresources: [base]\n",
                    ),
                ],
            ),
            (
                "overlay suffix on a prefixed base",
                vec![
                    (
                        "base/kustomization.yaml",
                        "namePrefix: b-\nresources: [r.yaml]\n",
                    ),
                    ("base/r.yaml", BASE_POD),
                    (
                        "kustomization.yaml",
                        "nameSuffix: -o\nresources: [base, r.yaml]\n",
                    ),
                    ("r.yaml", OVERLAY_POD),
                ],
            ),
            (
                "ambiguous reference",
                vec![
                    (
                        "base/kustomization.yaml",
                        "namePrefix: b-\nresources: [r.yaml]\n",
                    ),
                    ("base/r.yaml", BASE_POD),
                    (
                        "kustomization.yaml",
                        "namePrefix: o-\nresources: [base, r.yaml]\n",
                    ),
                    ("r.yaml", OVERLAY_POD),
                ],
            ),
            (
                "generator merged in an overlay",
                vec![
                    (
                        "base/kustomization.yaml",
                        "resources: [r.yaml]\nconfigMapGenerator: [{name: env, literals: [a=b]}]\n\
                         secretGenerator: [{name: creds, literals: [p=q]}]\n",
                    ),
                    ("base/r.yaml", generated),
                    (
                        "kustomization.yaml",
                        "namePrefix: o-\nresources: [base]\n\
                         configMapGenerator: [{name: env, behavior: merge, literals: [c=d]}]\n",
                    ),
                ],
            ),
            (
                "component with a generator",
                vec![
                    (
                        "comp/kustomization.yaml",
                        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n\
                      secretGenerator: [{name: creds, literals: [x=y]}]\n",
                    ),
                    (
                        "kustomization.yaml",
                        "nameSuffix: -x\nresources: [r.yaml]\ncomponents: [comp]\n\
                         configMapGenerator: [{name: env, literals: [a=b]}]\n",
                    ),
                    ("r.yaml", generated),
                ],
            ),
            (
                "configurations file",
                vec![
                    (
                        "kustomization.yaml",
                        "namePrefix: p-\nconfigurations: [c.yaml]\nresources: [r.yaml]\n",
                    ),
                    ("c.yaml", WIDGET_CONFIG),
                    ("r.yaml", WIDGETS),
                ],
            ),
            (
                "crds file",
                vec![
                    (
                        "kustomization.yaml",
                        "namePrefix: p-\ncrds: [crds.json]\nresources: [r.yaml]\n",
                    ),
                    ("crds.json", CRDS),
                    ("r.yaml", CRD_OBJECTS),
                ],
            ),
        ];
        for (what, files) in cases {
            let want = oracle(&files, "");
            let tmp = testkit::tools::write_tree(&files);
            let got = crate::kustomize::build(&crate::fs::DiskFs::new(tmp.path()), "");
            match (got, want) {
                (Ok(got), Ok(want)) => {
                    assert_eq!(got, want, "{what}: objects or their order differ");
                }
                (Err(got), Err(want)) => {
                    assert!(
                        want.contains("found multiple possible referrals")
                            && got.message.contains("found multiple possible referrals"),
                        "{what}: ours: {got}\nkustomize: {want}"
                    );
                }
                (got, want) => panic!("{what}: ours: {got:?}\nkustomize: {want:?}"),
            }
        }
    }
}

//! Which pod-template changes roll AIStore pods.
//!
//! Restarting an AIS node is expensive (it leaves and rejoins the cluster), so the StatefulSet's
//! pod template is only replaced when something the user controls changed: images, the node
//! container's env, resources, probes and security contexts, sidecar resources, pod security
//! context, labels and annotations (a non-`.initial` restart hash included), volumes, priority
//! class, tolerations, node selector and affinity. Anything else the operator itself generates
//! (argument order, a new default field in a newer operator version, `-ntargets` on proxies
//! when targets scale) keeps the pods running.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Container, PodTemplateSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde::Serialize;
use serde_json::{Value, json};

use crate::build::config::{RESTART_HASH_ANNOTATION, template_restart_hash};
use crate::build::labels;
use crate::build::quantity::quantity_millis;
use crate::reconcile::apply::{FIELD_MANAGER, contains};

/// The fields of a live pod template that this operator's field manager owns (the
/// `spec.template` subtree of its server-side-apply `managedFields` entry). Server-side apply
/// removes a field only from its own manager's set, so a key the live template has and the
/// desired one lacks is a change only when this operator owns it; a key another tool wrote
/// (`kubectl rollout restart`, a mutating webhook, a label added by hand) is not ours to roll.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ownership(Value);

impl Ownership {
    /// Our fields of `sts`'s pod template; none when we never applied it.
    pub fn of(sts: &StatefulSet) -> Self {
        let fields = sts
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .filter(|m| m.manager.as_deref() == Some(FIELD_MANAGER))
            .filter_map(|m| m.fields_v1.as_ref())
            .filter_map(|f| f.0.get("f:spec")?.get("f:template").cloned())
            .next()
            .unwrap_or(Value::Null);
        Self(fields)
    }

    /// Whether our manager owns the field at `path` (FieldsV1 keys: `f:name`,
    /// `k:{"name":"x"}`).
    fn owns(&self, path: &[String]) -> bool {
        let mut at = &self.0;
        for key in path {
            match at.get(key) {
                Some(next) => at = next,
                None => return false,
            }
        }
        true
    }
}

fn f(name: &str) -> String {
    format!("f:{name}")
}

fn by_name(name: &str) -> String {
    format!("k:{}", json!({ "name": name }))
}

/// A map of the template (labels, annotations, node selector): every desired entry must be
/// live with its value; a live entry the desired map lacks counts only when we own it.
fn map_change(
    live: Option<&BTreeMap<String, String>>,
    desired: Option<&BTreeMap<String, String>>,
    own: &Ownership,
    path: &[String],
) -> bool {
    let empty = BTreeMap::new();
    let (live, desired) = (live.unwrap_or(&empty), desired.unwrap_or(&empty));
    let missing = desired.iter().any(|(k, v)| live.get(k) != Some(v));
    let removed = live.keys().filter(|k| !desired.contains_key(*k)).any(|k| {
        let mut p = path.to_vec();
        p.push(f(k));
        own.owns(&p)
    });
    missing || removed
}

/// Named list entries (env vars, volumes, containers): each desired entry must be contained
/// in the live one of its name; a live name the desired list lacks counts only when we own it.
fn named_change<T: Serialize>(
    live: &[T],
    desired: &[T],
    name: impl Fn(&T) -> &str,
    own: &Ownership,
    path: &[String],
) -> bool {
    let json = |t: &T| serde_json::to_value(t).unwrap_or(Value::Null);
    let changed = desired.iter().any(|d| {
        live.iter()
            .find(|l| name(l) == name(d))
            .is_none_or(|l| !contains(&json(l), &json(d)))
    });
    let removed = live
        .iter()
        .filter(|l| !desired.iter().any(|d| name(d) == name(l)))
        .any(|l| {
            let mut p = path.to_vec();
            p.push(by_name(name(l)));
            own.owns(&p)
        });
    changed || removed
}

/// Requests and limits by value: `1000m` is `1`, `1024Mi` is `1Gi` (the API server stores the
/// canonical form, so text never matches). A resource we no longer set counts only when we
/// own it.
fn resources_change(
    live: Option<&ResourceRequirements>,
    desired: Option<&ResourceRequirements>,
    own: &Ownership,
    path: &[String],
) -> bool {
    let pick = |r: Option<&ResourceRequirements>, limits: bool| {
        r.and_then(|r| {
            if limits {
                r.limits.as_ref()
            } else {
                r.requests.as_ref()
            }
        })
        .cloned()
        .unwrap_or_default()
    };
    let same = |a: &Quantity, b: &Quantity| match (quantity_millis(a), quantity_millis(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    };
    [(false, "requests"), (true, "limits")]
        .iter()
        .any(|&(limits, field)| {
            let (l, d): (BTreeMap<String, Quantity>, BTreeMap<String, Quantity>) =
                (pick(live, limits), pick(desired, limits));
            let changed = d
                .iter()
                .any(|(k, v)| l.get(k).is_none_or(|lv| !same(lv, v)));
            let removed = l.keys().filter(|k| !d.contains_key(*k)).any(|k| {
                let mut p = path.to_vec();
                p.extend([f("resources"), f(field), f(k)]);
                own.owns(&p)
            });
            changed || removed
        })
}

/// Why one container differs in what rolls pods, if it does: image, env, resources, probes and
/// the security context (the node container); image, resources, security context (others).
fn container_change(
    l: &Container,
    d: &Container,
    own: &Ownership,
    path: &[String],
) -> Option<&'static str> {
    if l.image != d.image {
        return Some("image");
    }
    if resources_change(l.resources.as_ref(), d.resources.as_ref(), own, path) {
        return Some("resources");
    }
    if !contains(&json!(l.security_context), &json!(d.security_context)) {
        return Some("securityContext");
    }
    let main = d.name == crate::build::statefulset::NODE_CONTAINER;
    if !main {
        return None;
    }
    let mut env_path = path.to_vec();
    env_path.push(f("env"));
    let (le, de) = (
        l.env.as_deref().unwrap_or_default(),
        d.env.as_deref().unwrap_or_default(),
    );
    if named_change(le, de, |e| e.name.as_str(), own, &env_path) {
        return Some("env");
    }
    for (field, lv, dv) in [
        (
            "startupProbe",
            json!(l.startup_probe),
            json!(d.startup_probe),
        ),
        (
            "livenessProbe",
            json!(l.liveness_probe),
            json!(d.liveness_probe),
        ),
        (
            "readinessProbe",
            json!(l.readiness_probe),
            json!(d.readiness_probe),
        ),
    ] {
        if !contains(&lv, &dv) {
            return Some(field);
        }
    }
    None
}

/// Why the desired template must replace the live one, or `None` when the live one may stay.
/// Values the API server adds to the live template are ignored, quantities compare by value,
/// and fields another manager owns are not ours to remove (see [`Ownership`]).
pub fn template_change(
    live: &PodTemplateSpec,
    desired: &PodTemplateSpec,
    own: &Ownership,
) -> Option<String> {
    let changed = |what: &str| Some(format!("pod template {what} changed"));
    let (lm, dm) = (
        live.metadata.clone().unwrap_or_default(),
        desired.metadata.clone().unwrap_or_default(),
    );
    let meta = [f("metadata")];
    // Marks of older reference releases that a template may lack without rolling: the
    // managed-by label (pods before v3.3), and a restart hash that would only say "never
    // restarted". They are written with the next template change that rolls anyway.
    let adopted = |desired: Option<&BTreeMap<String, String>>,
                   live: Option<&BTreeMap<String, String>>,
                   key: &str,
                   when: fn(&str) -> bool| {
        desired.cloned().map(|mut d| {
            let absent = live.is_none_or(|l| !l.contains_key(key));
            if absent && d.get(key).is_some_and(|v| when(v)) {
                d.remove(key);
            }
            d
        })
    };
    let desired_labels = adopted(
        dm.labels.as_ref(),
        lm.labels.as_ref(),
        labels::MANAGED_BY,
        |_| true,
    );
    if map_change(
        lm.labels.as_ref(),
        desired_labels.as_ref(),
        own,
        &[meta[0].clone(), f("labels")],
    ) {
        return changed("labels");
    }
    // The restart hash: `""` (the reference's, never restarted) and `<hash>.initial` (this
    // operator's before it wrote `""` too) mean the same.
    let restart_hash = |a: Option<&BTreeMap<String, String>>| {
        a.cloned().map(|mut a| {
            if let Some(v) = a.get_mut(RESTART_HASH_ANNOTATION) {
                *v = template_restart_hash(v).to_string();
            }
            a
        })
    };
    let desired_annotations = adopted(
        restart_hash(dm.annotations.as_ref()).as_ref(),
        lm.annotations.as_ref(),
        RESTART_HASH_ANNOTATION,
        str::is_empty,
    );
    if map_change(
        restart_hash(lm.annotations.as_ref()).as_ref(),
        desired_annotations.as_ref(),
        own,
        &[meta[0].clone(), f("annotations")],
    ) {
        return changed("annotations");
    }
    let empty = Default::default();
    let ls = live.spec.as_ref().unwrap_or(&empty);
    let ds = desired.spec.as_ref().unwrap_or(&empty);
    let spec = f("spec");
    if map_change(
        ls.node_selector.as_ref(),
        ds.node_selector.as_ref(),
        own,
        &[spec.clone(), f("nodeSelector")],
    ) {
        return changed("nodeSelector");
    }
    for (kind, l, d) in [
        (
            "initContainers",
            ls.init_containers.as_deref().unwrap_or_default(),
            ds.init_containers.as_deref().unwrap_or_default(),
        ),
        (
            "containers",
            ls.containers.as_slice(),
            ds.containers.as_slice(),
        ),
    ] {
        for dc in d {
            let path = [spec.clone(), f(kind), by_name(&dc.name)];
            let Some(lc) = l.iter().find(|c| c.name == dc.name) else {
                return changed(kind);
            };
            let init = kind == "initContainers";
            let what = if init {
                // Init containers roll for their image and security context only.
                (lc.image != dc.image
                    || !contains(&json!(lc.security_context), &json!(dc.security_context)))
                .then_some("image")
            } else {
                container_change(lc, dc, own, &path)
            };
            if let Some(what) = what {
                return Some(format!("pod template {kind} ({}) {what} changed", dc.name));
            }
        }
        let removed = l
            .iter()
            .filter(|lc| !d.iter().any(|dc| dc.name == lc.name))
            .any(|lc| own.owns(&[spec.clone(), f(kind), by_name(&lc.name)]));
        if removed {
            return changed(kind);
        }
    }
    let (lv, dv) = (
        ls.volumes.as_deref().unwrap_or_default(),
        ds.volumes.as_deref().unwrap_or_default(),
    );
    if named_change(
        lv,
        dv,
        |v| v.name.as_str(),
        own,
        &[spec.clone(), f("volumes")],
    ) {
        return changed("volumes");
    }
    let others = [
        (
            "securityContext",
            json!(ls.security_context),
            json!(ds.security_context),
        ),
        (
            "priorityClassName",
            json!(ls.priority_class_name),
            json!(ds.priority_class_name),
        ),
        (
            "tolerations",
            json!(ls.tolerations.clone().unwrap_or_default()),
            json!(ds.tolerations.clone().unwrap_or_default()),
        ),
        ("affinity", json!(ls.affinity), json!(ds.affinity)),
    ];
    for (field, l, d) in others {
        if !contains(&l, &d) {
            return changed(field);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use k8s_openapi::api::core::v1::{EnvVar, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn template(image: &str, args: &[&str], annotations: &[(&str, &str)]) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                annotations: Some(
                    annotations
                        .iter()
                        .map(|(k, v)| ((*k).into(), (*v).into()))
                        .collect(),
                ),
                ..ObjectMeta::default()
            }),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "ais-node".into(),
                    image: Some(image.into()),
                    args: Some(args.iter().map(|a| (*a).into()).collect()),
                    env: Some(vec![EnvVar {
                        name: "A".into(),
                        value: Some("1".into()),
                        ..EnvVar::default()
                    }]),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
        }
    }

    fn with_server_defaults(mut t: PodTemplateSpec) -> PodTemplateSpec {
        let spec = t.spec.as_mut().unwrap();
        spec.restart_policy = Some("Always".into());
        spec.scheduler_name = Some("default-scheduler".into());
        spec.containers[0].termination_message_path = Some("/dev/termination-log".into());
        t
    }

    #[test]
    fn identical_templates_and_server_defaults_do_not_roll() {
        let d = template("ais:1", &["-ntargets=1"], &[("h", "x.initial")]);
        assert_eq!(
            template_change(&with_server_defaults(d.clone()), &d, &Ownership::default()),
            None
        );
    }

    #[test]
    fn operator_generated_args_do_not_roll() {
        let live = with_server_defaults(template("ais:1", &["-ntargets=1"], &[]));
        assert_eq!(
            template_change(
                &live,
                &template("ais:1", &["-ntargets=3"], &[]),
                &Ownership::default()
            ),
            None
        );
    }

    /// Ownership as the API server records it after our apply of `t`'s annotation `h` and
    /// env var `A`.
    fn ours() -> Ownership {
        Ownership(json!({
            "f:metadata": {"f:annotations": {"f:h": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"ais-node\"}": {
                "f:env": {"k:{\"name\":\"A\"}": {}},
                "f:resources": {"f:requests": {"f:memory": {}}}
            }}}
        }))
    }

    #[test]
    fn user_changes_roll() {
        let own = ours();
        let live = with_server_defaults(template("ais:1", &[], &[("h", "x.initial")]));
        let change = |d: &PodTemplateSpec| template_change(&live, d, &own);
        assert!(
            change(&template("ais:2", &[], &[("h", "x.initial")]))
                .unwrap()
                .contains("image")
        );
        assert!(
            change(&template("ais:1", &[], &[("h", "y")]))
                .unwrap()
                .contains("annotations")
        );
        assert!(
            change(&template("ais:1", &[], &[]))
                .unwrap()
                .contains("annotations"),
            "an annotation we set and the spec dropped rolls"
        );
        let mut env = template("ais:1", &[], &[("h", "x.initial")]);
        env.spec.as_mut().unwrap().containers[0].env = Some(vec![EnvVar {
            name: "A".into(),
            value: Some("2".into()),
            ..EnvVar::default()
        }]);
        assert!(change(&env).unwrap().contains("env"));
        let mut gone = template("ais:1", &[], &[("h", "x.initial")]);
        gone.spec.as_mut().unwrap().containers[0].env = Some(vec![]);
        assert!(
            change(&gone).unwrap().contains("env"),
            "our env var removed"
        );
        let mut tol = template("ais:1", &[], &[("h", "x.initial")]);
        tol.spec.as_mut().unwrap().node_selector =
            Some([("disk".to_string(), "nvme".to_string())].into());
        assert!(change(&tol).unwrap().contains("nodeSelector"));
    }

    #[test]
    fn what_others_wrote_does_not_roll() {
        let desired = template("ais:1", &[], &[("h", "x.initial")]);
        let mut live = with_server_defaults(desired.clone());
        let meta = live.metadata.as_mut().unwrap();
        meta.annotations.as_mut().unwrap().insert(
            "kubectl.kubernetes.io/restartedAt".into(),
            "2026-12-02T07:00:00Z".into(),
        );
        meta.labels = Some([("team".to_string(), "storage".to_string())].into());
        let spec = live.spec.as_mut().unwrap();
        spec.containers[0].env.as_mut().unwrap().push(EnvVar {
            name: "INJECTED".into(),
            value: Some("by a webhook".into()),
            ..EnvVar::default()
        });
        assert_eq!(template_change(&live, &desired, &ours()), None);
    }

    #[test]
    fn an_initial_restart_hash_is_the_same_in_either_spelling() {
        let key = "config.aistore.nvidia.com/restart-hash";
        let ours_before = with_server_defaults(template("ais:1", &[], &[(key, "abc.initial")]));
        let reference = with_server_defaults(template("ais:1", &[], &[(key, "")]));
        let desired = template("ais:1", &[], &[(key, "")]);
        assert_eq!(template_change(&ours_before, &desired, &ours()), None);
        assert_eq!(template_change(&reference, &desired, &ours()), None);
        // A real restart hash (net.http changed) rolls.
        let restart = template("ais:1", &[], &[(key, "def")]);
        assert!(template_change(&reference, &restart, &ours()).is_some());
    }

    #[test]
    fn quantities_compare_by_value() {
        let with = |cpu: &str, memory: &str| {
            let mut t = template("ais:1", &[], &[]);
            t.spec.as_mut().unwrap().containers[0].resources = Some(ResourceRequirements {
                requests: Some(
                    [
                        ("cpu".to_string(), Quantity(cpu.into())),
                        ("memory".to_string(), Quantity(memory.into())),
                    ]
                    .into(),
                ),
                ..ResourceRequirements::default()
            });
            t
        };
        // What the API server stores for `1000m` / `1024Mi`.
        let live = with_server_defaults(with("1", "1Gi"));
        let own = ours();
        assert_eq!(template_change(&live, &with("1000m", "1024Mi"), &own), None);
        assert_eq!(template_change(&live, &with("1", "1073741824"), &own), None);
        assert!(
            template_change(&live, &with("1", "2Gi"), &own)
                .unwrap()
                .contains("resources")
        );
        assert!(template_change(&live, &with("1500m", "1Gi"), &own).is_some());
    }
}

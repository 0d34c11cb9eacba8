//! Which pod-template changes roll AIStore pods.
//!
//! Restarting an AIS node is expensive (it leaves and rejoins the cluster), so the StatefulSet's
//! pod template is only replaced when something the user controls changed: images, the node
//! container's env, resources, probes and security contexts, sidecar resources, pod security
//! context, labels and annotations (a non-`.initial` restart hash included), volumes, priority
//! class, tolerations, node selector and affinity. Anything else the operator itself generates
//! (argument order, a new default field in a newer operator version, `-ntargets` on proxies
//! when targets scale) keeps the pods running.

use k8s_openapi::api::core::v1::{Container, PodTemplateSpec};
use serde_json::{Value, json};

use crate::reconcile::apply::contains;

/// The part of a container that rolls pods when it changes.
fn container_projection(c: &Container, main: bool) -> Value {
    let mut v = json!({"name": c.name, "image": c.image});
    if main {
        v["env"] = json!(c.env.clone().unwrap_or_default());
        v["resources"] = json!(c.resources);
        v["startupProbe"] = json!(c.startup_probe);
        v["livenessProbe"] = json!(c.liveness_probe);
        v["readinessProbe"] = json!(c.readiness_probe);
    } else {
        v["resources"] = json!(c.resources);
    }
    v["securityContext"] = json!(c.security_context);
    v
}

fn projection(t: &PodTemplateSpec) -> Value {
    let meta = t.metadata.clone().unwrap_or_default();
    let spec = t.spec.clone().unwrap_or_default();
    let containers: Vec<Value> = spec
        .containers
        .iter()
        .enumerate()
        .map(|(i, c)| container_projection(c, i == 0))
        .collect();
    let init: Vec<Value> = spec
        .init_containers
        .unwrap_or_default()
        .iter()
        .map(|c| json!({"name": c.name, "image": c.image, "securityContext": c.security_context}))
        .collect();
    let mut volumes = spec.volumes.unwrap_or_default();
    volumes.sort_by(|a, b| a.name.cmp(&b.name));
    json!({
        "labels": meta.labels.unwrap_or_default(),
        "annotations": meta.annotations.unwrap_or_default(),
        "securityContext": spec.security_context,
        "initContainers": init,
        "containers": containers,
        "volumes": volumes,
        "priorityClassName": spec.priority_class_name,
        "tolerations": spec.tolerations.unwrap_or_default(),
        "nodeSelector": spec.node_selector.unwrap_or_default(),
        "affinity": spec.affinity,
    })
}

/// Why the desired template must replace the live one, or `None` when the live one may stay.
/// Values the API server adds to the live template are ignored; maps compare both ways, so a
/// removed label or annotation counts as a change.
pub fn template_change(live: &PodTemplateSpec, desired: &PodTemplateSpec) -> Option<String> {
    let (l, d) = (projection(live), projection(desired));
    let fields = [
        "labels",
        "annotations",
        "securityContext",
        "initContainers",
        "containers",
        "volumes",
        "priorityClassName",
        "tolerations",
        "nodeSelector",
        "affinity",
    ];
    for field in fields {
        let (lv, dv) = (&l[field], &d[field]);
        let same = match field {
            "labels" | "annotations" | "nodeSelector" => lv == dv,
            _ => contains(lv, dv),
        };
        if !same {
            return Some(format!("pod template {field} changed"));
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
        assert_eq!(template_change(&with_server_defaults(d.clone()), &d), None);
    }

    #[test]
    fn operator_generated_args_do_not_roll() {
        let live = with_server_defaults(template("ais:1", &["-ntargets=1"], &[]));
        assert_eq!(
            template_change(&live, &template("ais:1", &["-ntargets=3"], &[])),
            None
        );
    }

    #[test]
    fn user_changes_roll() {
        let live = with_server_defaults(template("ais:1", &[], &[("h", "x.initial")]));
        assert!(
            template_change(&live, &template("ais:2", &[], &[("h", "x.initial")]))
                .unwrap()
                .contains("containers")
        );
        assert!(
            template_change(&live, &template("ais:1", &[], &[("h", "y")]))
                .unwrap()
                .contains("annotations")
        );
        assert!(
            template_change(&live, &template("ais:1", &[], &[]))
                .unwrap()
                .contains("annotations"),
            "a removed annotation rolls"
        );
        let mut env = template("ais:1", &[], &[("h", "x.initial")]);
        env.spec.as_mut().unwrap().containers[0].env = Some(vec![EnvVar {
            name: "A".into(),
            value: Some("2".into()),
            ..EnvVar::default()
        }]);
        assert!(template_change(&live, &env).is_some());
        let mut tol = template("ais:1", &[], &[("h", "x.initial")]);
        tol.spec.as_mut().unwrap().node_selector =
            Some([("disk".to_string(), "nvme".to_string())].into());
        assert!(
            template_change(&live, &tol)
                .unwrap()
                .contains("nodeSelector")
        );
    }
}

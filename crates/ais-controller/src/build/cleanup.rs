//! Host cleanup Jobs: after a deletion with `cleanupMetadata`, one Job per node that may hold
//! the cluster's host-path state removes `<prefix>/<namespace>/<cluster>` (and nothing else:
//! the Job mounts only that directory).

use std::collections::BTreeMap;

use ais_crd::AIStoreSpec;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Affinity, Container, HostPathVolumeSource, NodeAffinity, NodeSelector, NodeSelectorRequirement,
    NodeSelectorTerm, PodSpec, PodTemplateSpec, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::config::sha256_hex;
use super::labels;

/// Component label of the cleanup Jobs.
pub const COMPONENT: &str = "host-cleanup";
/// Image of the reference operator's helper (`/cleanup-helper -dir=...`).
pub const DEFAULT_IMAGE: &str = "docker.io/aistorage/ais-operator-helper:latest";

/// The host directory of a cluster's state, when its state lives on host paths.
pub fn state_dir(spec: &AIStoreSpec, namespace: &str, cluster: &str) -> Option<String> {
    let prefix = spec
        .state_storage
        .as_ref()?
        .host_path
        .as_ref()?
        .prefix
        .clone();
    Some(format!(
        "{}/{namespace}/{cluster}",
        prefix.trim_end_matches('/')
    ))
}

/// Name of the Job for `node`: `cleanup-<cluster>-<node>`, shortened with a hash to fit 63.
pub fn job_name(cluster: &str, node: &str) -> String {
    let full = format!("cleanup-{cluster}-{}", node.replace('.', "-"));
    if full.len() <= 63 {
        return full;
    }
    let hash = sha256_hex(full.as_bytes());
    let keep: String = full.chars().take(52).collect();
    format!("{}-{}", keep.trim_end_matches('-'), &hash[..10])
}

/// The Job that removes `dir` on `node`. Tolerates what the AIS pods tolerate.
pub fn job(
    spec: &AIStoreSpec,
    namespace: &str,
    cluster: &str,
    node: &str,
    dir: &str,
    image: &str,
) -> Job {
    let mut tolerations = spec.proxy_spec.tolerations.clone().unwrap_or_default();
    tolerations.extend(
        spec.target_spec
            .daemon
            .tolerations
            .clone()
            .unwrap_or_default(),
    );
    let labels: BTreeMap<String, String> = labels::object(cluster, COMPONENT);
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(cluster, node)),
            namespace: Some(namespace.to_string()),
            labels: Some(labels.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(3),
            ttl_seconds_after_finished: Some(600),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    affinity: Some(Affinity {
                        node_affinity: Some(NodeAffinity {
                            required_during_scheduling_ignored_during_execution: Some(
                                NodeSelector {
                                    node_selector_terms: vec![NodeSelectorTerm {
                                        match_expressions: Some(vec![NodeSelectorRequirement {
                                            key: "kubernetes.io/hostname".into(),
                                            operator: "In".into(),
                                            values: Some(vec![node.to_string()]),
                                        }]),
                                        ..NodeSelectorTerm::default()
                                    }],
                                },
                            ),
                            ..NodeAffinity::default()
                        }),
                        ..Affinity::default()
                    }),
                    tolerations: (!tolerations.is_empty()).then_some(tolerations),
                    containers: vec![Container {
                        name: "cleanup".into(),
                        image: Some(image.to_string()),
                        image_pull_policy: Some("IfNotPresent".into()),
                        command: Some(vec!["/cleanup-helper".into(), format!("-dir={dir}")]),
                        volume_mounts: Some(vec![VolumeMount {
                            name: "state".into(),
                            mount_path: dir.to_string(),
                            ..VolumeMount::default()
                        }]),
                        security_context: Some(SecurityContext {
                            allow_privilege_escalation: Some(false),
                            ..SecurityContext::default()
                        }),
                        ..Container::default()
                    }],
                    volumes: Some(vec![Volume {
                        name: "state".into(),
                        host_path: Some(HostPathVolumeSource {
                            path: dir.to_string(),
                            type_: Some("DirectoryOrCreate".into()),
                        }),
                        ..Volume::default()
                    }]),
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> AIStoreSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn only_host_path_state_is_cleaned_and_only_this_clusters_dir() {
        let s = spec(json!({"size": 1, "nodeImage": "a", "initImage": "b",
            "stateStorage": {"hostPath": {"prefix": "/etc/ais/"}}, "proxySpec": {}, "targetSpec": {}}));
        assert_eq!(
            state_dir(&s, "ns", "ais").as_deref(),
            Some("/etc/ais/ns/ais")
        );
        let j = job(
            &s,
            "ns",
            "ais",
            "node-1.example",
            "/etc/ais/ns/ais",
            DEFAULT_IMAGE,
        );
        let pod = j.spec.unwrap().template.spec.unwrap();
        assert_eq!(
            pod.volumes.unwrap()[0].host_path.as_ref().unwrap().path,
            "/etc/ais/ns/ais"
        );
        assert_eq!(
            pod.containers[0].command.as_ref().unwrap(),
            &vec![
                "/cleanup-helper".to_string(),
                "-dir=/etc/ais/ns/ais".to_string()
            ]
        );
        let e = spec(json!({"size": 1, "nodeImage": "a", "initImage": "b",
            "stateStorage": {"emptyDir": {}}, "proxySpec": {}, "targetSpec": {}}));
        assert_eq!(state_dir(&e, "ns", "ais"), None);
    }

    #[test]
    fn job_names_fit_and_differ() {
        assert_eq!(job_name("ais", "node.a"), "cleanup-ais-node-a");
        let long = "n".repeat(80);
        let a = job_name("ais", &format!("{long}1"));
        let b = job_name("ais", &format!("{long}2"));
        assert!(a.len() <= 63 && b.len() <= 63);
        assert_ne!(a, b);
    }
}

//! The small pieces of the AIS pod templates: env vars, mounts, volumes, host paths,
//! quantities and security contexts.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    HostPathVolumeSource, ObjectFieldSelector, PodSecurityContext, SeccompProfile,
    SecretVolumeSource, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::super::Cluster;
use super::super::names::Role;
use super::super::tls::DEFAULT_MODE;

pub(crate) fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: Some("v1".to_string()),
                field_path: path.to_string(),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

/// A plain `name=value` variable.
pub fn value_env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.to_string()),
        ..EnvVar::default()
    }
}

/// `MY_NODE`, `MY_POD`, `K8S_NS`.
pub(crate) fn identity_env() -> Vec<EnvVar> {
    vec![
        field_env("MY_NODE", "spec.nodeName"),
        field_env("MY_POD", "metadata.name"),
        field_env("K8S_NS", "metadata.namespace"),
    ]
}

/// User entries first, then the operator's entries whose names the user did not set.
pub fn merge_env(user: Option<&[EnvVar]>, operator: Vec<EnvVar>) -> Vec<EnvVar> {
    let user = user.unwrap_or_default();
    let mut out = user.to_vec();
    out.extend(
        operator
            .into_iter()
            .filter(|e| !user.iter().any(|u| u.name == e.name)),
    );
    out
}

pub(crate) fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.to_string(),
        mount_path: path.to_string(),
        ..VolumeMount::default()
    }
}

/// A read-only mount.
pub fn ro_mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        read_only: Some(true),
        ..mount(name, path)
    }
}

/// A Secret volume with mode 0644.
pub fn secret_volume(name: &str, secret: &str) -> Volume {
    Volume {
        name: name.to_string(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.to_string()),
            default_mode: Some(DEFAULT_MODE),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }
}

pub(crate) fn config_map_volume(name: &str, config_map: String) -> Volume {
    Volume {
        name: name.to_string(),
        config_map: Some(ConfigMapVolumeSource {
            name: config_map,
            default_mode: Some(DEFAULT_MODE),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }
}

pub(crate) fn empty_dir(name: &str) -> Volume {
    Volume {
        name: name.to_string(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }
}

/// A hostPath volume of type `DirectoryOrCreate`.
pub fn host_dir(name: &str, path: String) -> Volume {
    Volume {
        name: name.to_string(),
        host_path: Some(HostPathVolumeSource {
            path,
            type_: Some("DirectoryOrCreate".to_string()),
        }),
        ..Volume::default()
    }
}

/// `<prefix>/<namespace>/<cluster>/<leaf>`, without a doubled slash.
pub fn host_path(cluster: &Cluster<'_>, prefix: &str, leaf: &str) -> String {
    format!(
        "{}/{}/{}/{leaf}",
        prefix.trim_end_matches('/'),
        cluster.namespace,
        cluster.name
    )
}

pub(crate) fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), Quantity((*v).to_string())))
        .collect()
}

pub(crate) fn drop_all() -> Capabilities {
    Capabilities {
        drop: Some(vec!["ALL".to_string()]),
        ..Capabilities::default()
    }
}

/// Security context of the init container and the log sidecar.
pub fn restricted_security_context() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(drop_all()),
        read_only_root_filesystem: Some(true),
        ..SecurityContext::default()
    }
}

/// Security context of `ais-node`: the spec's, else no escalation and all capabilities
/// dropped (the root filesystem stays writable).
pub fn node_security_context(cluster: &Cluster<'_>, role: Role) -> SecurityContext {
    cluster
        .daemon(role)
        .ais_container_security_context
        .clone()
        .unwrap_or_else(|| SecurityContext {
            allow_privilege_escalation: Some(false),
            capabilities: Some(drop_all()),
            ..SecurityContext::default()
        })
}

/// Pod security context: the spec's, else `runAsNonRoot: false` with `RuntimeDefault`
/// seccomp.
pub fn pod_security_context(cluster: &Cluster<'_>, role: Role) -> PodSecurityContext {
    cluster
        .daemon(role)
        .security_context
        .clone()
        .unwrap_or_else(|| PodSecurityContext {
            run_as_non_root: Some(false),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_string(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        })
}

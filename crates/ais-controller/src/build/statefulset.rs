//! Pod-template pieces shared by proxies and targets (anchor §2.16): the `populate-env` init
//! container, the `ais-node` container, the log sidecar, the common volumes and mounts,
//! probes, security contexts, affinity and the StatefulSet around them.

use std::collections::BTreeMap;

use ais_crd::PublicNetDnsMode;
use ais_crd::daemon::ProbeSpec;
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec, StatefulSetUpdateStrategy};
use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerPort, EnvVar, HTTPGetAction, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PodAffinityTerm, PodAntiAffinity, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::config::RESTART_HASH_ANNOTATION;
use super::names::{self, Role, paths};
use super::quantity::{ais_size_bytes, bytes_quantity, quantity_bytes};
use super::{BuildError, Cluster, labels, tls};

mod parts;
pub use parts::*;

/// Name of the init container.
pub const INIT_CONTAINER: &str = "populate-env";
/// Name of the AIS container.
pub const NODE_CONTAINER: &str = "ais-node";
/// Name of the log sidecar.
pub const LOG_SIDECAR: &str = "ais-logs";
/// Pod annotation with the Multus networks.
pub const MULTUS_ANNOTATION: &str = "k8s.v1.cni.cncf.io/networks";
/// Topology key of the operator's anti-affinity.
pub const HOSTNAME_TOPOLOGY: &str = "kubernetes.io/hostname";
/// Resource name of ephemeral storage.
pub const EPHEMERAL_STORAGE: &str = "ephemeral-storage";
/// `log.max_total` AIS uses when the spec sets none.
pub const DEFAULT_LOG_MAX_TOTAL: u64 = 512 << 20;
/// Ephemeral storage added to `log.max_total` for other files (16MiB) and headroom (128MiB).
pub const EPHEMERAL_OVERHEAD: u64 = (16 << 20) + (128 << 20);
/// Size of a state PVC.
pub const STATE_PVC_SIZE: &str = "1Gi";
/// `$(MY_POD)`: per-pod sub-directory of a shared host directory.
pub const POD_SUBPATH: &str = "$(MY_POD)";

/// Role-specific parts the proxy and target builders hand to [`statefulset`].
#[derive(Clone, Debug, Default)]
pub struct RoleParts {
    /// `ais-node` args after `-role=<role>`.
    pub extra_args: Vec<String>,
    /// `ais-node` env after `MY_NODE`, `MY_POD`, `K8S_NS`.
    pub extra_env: Vec<EnvVar>,
    /// `ais-node` mounts after the common ones.
    pub extra_mounts: Vec<VolumeMount>,
    /// Volumes after the common ones.
    pub extra_volumes: Vec<Volume>,
    /// Volume claim templates before the state PVC.
    pub data_claims: Vec<PersistentVolumeClaim>,
    /// Whether to add the required hostname anti-affinity (when the user gives none).
    pub anti_affinity: bool,
    /// `OnDelete` or `RollingUpdate`.
    pub update_strategy: &'static str,
    /// Target only: `Some(hostNetwork)`, which also sets the DNS policy.
    pub host_network: Option<bool>,
    /// StatefulSet annotations.
    pub annotations: BTreeMap<String, String>,
}

/// The `populate-env` init container that renders the configs.
pub fn init_container(cluster: &Cluster<'_>, role: Role) -> Container {
    let spec = &cluster.spec;
    let mut args = vec![
        format!("-role={role}"),
        format!(
            "-local_config_template={}/{}",
            paths::CONFIG_TEMPLATE_DIR,
            paths::LOCAL_CONFIG_FILE
        ),
        format!(
            "-output_local_config={}/{}",
            paths::CONFIG_DIR,
            paths::LOCAL_CONFIG_FILE
        ),
        format!(
            "-cluster_config_override={}/{}",
            paths::CONFIG_GLOBAL_DIR,
            paths::CLUSTER_CONFIG_FILE
        ),
        format!(
            "-output_cluster_config={}/{}",
            paths::CONFIG_DIR,
            paths::CLUSTER_CONFIG_FILE
        ),
    ];
    if spec.hostname_map.as_ref().is_some_and(|m| !m.is_empty()) {
        args.push(format!(
            "-hostname_map_file={}/{}",
            paths::CONFIG_GLOBAL_DIR,
            paths::HOSTNAME_MAP_FILE
        ));
    }

    let mode = spec.public_net_dns_mode.unwrap_or_default();
    let external = cluster.external_access(role);
    let mut env = vec![
        field_env("HOST_IPS", "status.hostIPs"),
        value_env("AIS_K8S_CLUSTER_DOMAIN", &cluster.domain),
        value_env("ENABLE_EXTERNAL_ACCESS", &external.to_string()),
    ];
    if let Some(mode) = spec.public_net_dns_mode {
        let text = match mode {
            PublicNetDnsMode::Ip => "IP",
            PublicNetDnsMode::Node => "Node",
            PublicNetDnsMode::Pod => "Pod",
        };
        env.push(value_env("AIS_PUBLIC_DNS_MODE", text));
    }
    env.extend(identity_env());
    env.push(value_env("MY_SERVICE", &cluster.role_object(role)));
    let host_port = cluster.daemon(role).host_port.is_some();
    let public_hostname = match role {
        Role::Proxy => host_port,
        Role::Target => host_port && !external,
    };
    if public_hostname {
        let path = if mode == PublicNetDnsMode::Node {
            "spec.nodeName"
        } else {
            "status.hostIP"
        };
        env.push(field_env("AIS_PUBLIC_HOSTNAME", path));
    }
    if role == Role::Target && spec.target_spec.host_network == Some(true) {
        env.push(value_env("HOST_NETWORK", "true"));
    }

    let pods = &cluster.facts.pods;
    let cpu = pods.init_cpu.as_deref().unwrap_or("1");
    let memory = pods.init_memory.as_deref().unwrap_or("1Gi");
    Container {
        name: INIT_CONTAINER.to_string(),
        image: Some(spec.init_image.clone()),
        image_pull_policy: Some(ais_pull_policy(cluster)),
        args: Some(args),
        env: Some(env),
        resources: Some(ResourceRequirements {
            requests: Some(quantities(&[
                ("cpu", cpu),
                ("memory", memory),
                (EPHEMERAL_STORAGE, "48Mi"),
            ])),
            limits: Some(quantities(&[("cpu", cpu), ("memory", memory)])),
            ..ResourceRequirements::default()
        }),
        security_context: Some(restricted_security_context()),
        volume_mounts: Some(vec![
            mount(paths::CONFIG_TEMPLATE_VOLUME, paths::CONFIG_TEMPLATE_DIR),
            mount(paths::CONFIG_VOLUME, paths::CONFIG_DIR),
            mount(paths::CONFIG_GLOBAL_VOLUME, paths::CONFIG_GLOBAL_DIR),
        ]),
        ..Container::default()
    }
}

/// The ephemeral-storage request given when the spec sets none:
/// `log.max_total` (default 512MiB) + 16MiB + 128MiB.
pub fn default_ephemeral_storage(cluster: &Cluster<'_>) -> Result<Quantity, BuildError> {
    let max_total = cluster
        .spec
        .config_to_update
        .as_ref()
        .and_then(|c| c.log.as_ref())
        .and_then(|l| l.max_total.as_ref());
    let log = match max_total {
        None => DEFAULT_LOG_MAX_TOTAL,
        Some(v) => ais_size_bytes(&v.to_string()).map_err(|source| BuildError::InvalidSize {
            field: "spec.configToUpdate.log.max_total".to_string(),
            source,
        })?,
    };
    Ok(bytes_quantity(log.saturating_add(EPHEMERAL_OVERHEAD)))
}

/// Resources of `ais-node`: the spec's, with an absent or zero ephemeral-storage request
/// defaulted.
pub fn node_resources(
    cluster: &Cluster<'_>,
    role: Role,
) -> Result<ResourceRequirements, BuildError> {
    let mut resources = cluster.daemon(role).resources.clone().unwrap_or_default();
    let requests = resources.requests.get_or_insert_with(BTreeMap::new);
    let unset = requests
        .get(EPHEMERAL_STORAGE)
        .is_none_or(|q| quantity_bytes(q).is_ok_and(|b| b == 0));
    if unset {
        requests.insert(
            EPHEMERAL_STORAGE.to_string(),
            default_ephemeral_storage(cluster)?,
        );
    }
    Ok(resources)
}

fn probe(
    cluster: &Cluster<'_>,
    role: Role,
    path: &str,
    defaults: ProbeSpec,
    user: Option<&ProbeSpec>,
) -> Probe {
    let pick = |u: Option<i32>, d: Option<i32>| u.or(d);
    let user = user.cloned().unwrap_or_default();
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::Int(cluster.ports(role).public),
            scheme: Some(if cluster.use_https() { "HTTPS" } else { "HTTP" }.to_string()),
            ..HTTPGetAction::default()
        }),
        initial_delay_seconds: pick(user.initial_delay_seconds, defaults.initial_delay_seconds),
        period_seconds: pick(user.period_seconds, defaults.period_seconds),
        timeout_seconds: pick(user.timeout_seconds, defaults.timeout_seconds),
        failure_threshold: pick(user.failure_threshold, defaults.failure_threshold),
        success_threshold: Some(1),
        ..Probe::default()
    }
}

/// Startup, liveness and readiness probes, in that order.
pub fn probes(cluster: &Cluster<'_>, role: Role) -> (Probe, Probe, Probe) {
    let conf = cluster.daemon(role).probes.clone().unwrap_or_default();
    let timing = |delay: Option<i32>, failures: i32| ProbeSpec {
        period_seconds: Some(5),
        timeout_seconds: Some(5),
        failure_threshold: Some(failures),
        initial_delay_seconds: delay,
    };
    let ready = "/v1/health?readiness=true";
    (
        probe(
            cluster,
            role,
            ready,
            timing(None, 30),
            conf.startup.as_ref(),
        ),
        probe(
            cluster,
            role,
            "/v1/health",
            timing(Some(60), 10),
            conf.liveness.as_ref(),
        ),
        probe(
            cluster,
            role,
            ready,
            timing(None, 5),
            conf.readiness.as_ref(),
        ),
    )
}

/// Whether the state lives on a PVC.
fn state_on_pvc(cluster: &Cluster<'_>) -> bool {
    cluster
        .spec
        .state_storage
        .as_ref()
        .is_some_and(|s| s.pvc.is_some())
}

/// Targets share host directories between pods of a node: they mount per-pod sub-paths.
fn pod_subpath(role: Role) -> Option<String> {
    (role == Role::Target).then(|| POD_SUBPATH.to_string())
}

/// Mounts every `ais-node` has: config, logs, state, TLS, tracing token.
pub fn common_mounts(cluster: &Cluster<'_>, role: Role) -> Vec<VolumeMount> {
    let mut out = vec![
        mount(paths::CONFIG_VOLUME, paths::CONFIG_DIR),
        VolumeMount {
            sub_path_expr: pod_subpath(role),
            ..mount(paths::LOGS_VOLUME, paths::LOGS_DIR)
        },
    ];
    if state_on_pvc(cluster) {
        out.push(mount(
            &names::state_pvc(&cluster.namespace, &cluster.name),
            paths::STATE_DIR,
        ));
    } else {
        let host = cluster
            .spec
            .state_storage
            .as_ref()
            .is_some_and(|s| s.host_path.is_some());
        out.push(VolumeMount {
            sub_path_expr: if host { pod_subpath(role) } else { None },
            ..mount(paths::STATE_VOLUME, paths::STATE_DIR)
        });
    }
    if cluster.spec.tls.is_some() {
        out.push(ro_mount(paths::TLS_VOLUME, paths::TLS_DIR));
    }
    if cluster.spec.tracing_token_secret_name.is_some() {
        out.push(ro_mount(paths::TRACING_VOLUME, paths::TRACING_DIR));
    }
    out
}

/// Volumes every pod has: config template, config output, global config, logs, state (unless
/// on a PVC), TLS, tracing token.
pub fn common_volumes(cluster: &Cluster<'_>, role: Role) -> Result<Vec<Volume>, BuildError> {
    let spec = &cluster.spec;
    let mut out = vec![
        config_map_volume(paths::CONFIG_TEMPLATE_VOLUME, cluster.role_object(role)),
        empty_dir(paths::CONFIG_VOLUME),
        config_map_volume(
            paths::CONFIG_GLOBAL_VOLUME,
            names::global_config_map(&cluster.name),
        ),
    ];
    out.push(match spec.logs_dir.as_deref().filter(|d| !d.is_empty()) {
        Some(dir) => host_dir(paths::LOGS_VOLUME, host_path(cluster, dir, role.as_str())),
        None => empty_dir(paths::LOGS_VOLUME),
    });
    if let Some(storage) = &spec.state_storage {
        if let Some(host) = &storage.host_path {
            out.push(host_dir(
                paths::STATE_VOLUME,
                host_path(cluster, &host.prefix, role.as_str()),
            ));
        } else if storage.pvc.is_none() {
            out.push(empty_dir(paths::STATE_VOLUME));
        }
    } else {
        out.push(empty_dir(paths::STATE_VOLUME));
    }
    if let Some(v) = tls::volume(cluster, role)? {
        out.push(v);
    }
    if let Some(secret) = &spec.tracing_token_secret_name {
        out.push(secret_volume(paths::TRACING_VOLUME, secret));
    }
    Ok(out)
}

/// A ReadWriteOnce volume claim template (no storage request when `size` is `None`).
pub fn claim(
    name: String,
    size: Option<Quantity>,
    storage_class: Option<String>,
    selector: Option<LabelSelector>,
) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(name),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_string()]),
            resources: Some(VolumeResourceRequirements {
                requests: size.map(|size| BTreeMap::from([("storage".to_string(), size)])),
                ..VolumeResourceRequirements::default()
            }),
            storage_class_name: storage_class,
            selector,
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    }
}

/// The state claim template `<ns>-<name>-state` (1Gi), when state lives on PVCs.
pub fn state_claim(cluster: &Cluster<'_>) -> Option<PersistentVolumeClaim> {
    let pvc = cluster.spec.state_storage.as_ref()?.pvc.as_ref()?;
    Some(claim(
        names::state_pvc(&cluster.namespace, &cluster.name),
        Some(Quantity(STATE_PVC_SIZE.to_string())),
        Some(pvc.storage_class.clone()),
        None,
    ))
}

/// The log sidecar `ais-logs`, when `logSidecar` is set.
pub fn log_sidecar(cluster: &Cluster<'_>, role: Role) -> Option<Container> {
    let sidecar = cluster.spec.log_sidecar.as_ref()?;
    Some(Container {
        name: LOG_SIDECAR.to_string(),
        image: Some(sidecar.image.clone()),
        image_pull_policy: Some("IfNotPresent".to_string()),
        args: Some(vec![format!("{}/ais{role}.INFO", paths::LOGS_DIR)]),
        env: Some(vec![field_env("MY_POD", "metadata.name")]),
        resources: sidecar.resources.clone(),
        security_context: Some(restricted_security_context()),
        volume_mounts: Some(vec![VolumeMount {
            sub_path_expr: pod_subpath(role),
            ..mount(paths::LOGS_VOLUME, paths::LOGS_DIR)
        }]),
        ..Container::default()
    })
}

/// The user's affinity plus, when it has no pod anti-affinity and `anti_affinity` is asked
/// for, a required anti-affinity keeping two pods of the role off one node.
pub fn affinity(cluster: &Cluster<'_>, role: Role, anti_affinity: bool) -> Option<Affinity> {
    let user = cluster.daemon(role).affinity.clone();
    if !anti_affinity || user.as_ref().is_some_and(|a| a.pod_anti_affinity.is_some()) {
        return user;
    }
    let mut out = user.unwrap_or_default();
    out.pod_anti_affinity = Some(PodAntiAffinity {
        required_during_scheduling_ignored_during_execution: Some(vec![PodAffinityTerm {
            label_selector: Some(LabelSelector {
                match_labels: Some(cluster.selector(role)),
                ..LabelSelector::default()
            }),
            topology_key: HOSTNAME_TOPOLOGY.to_string(),
            ..PodAffinityTerm::default()
        }]),
        ..PodAntiAffinity::default()
    });
    Some(out)
}

/// The `ais-node` container.
pub fn node_container(
    cluster: &Cluster<'_>,
    role: Role,
    parts: &RoleParts,
) -> Result<Container, BuildError> {
    let daemon = cluster.daemon(role);
    let ports = cluster.ports(role);
    let mut args = vec![
        format!(
            "-config={}/{}",
            paths::CONFIG_DIR,
            paths::CLUSTER_CONFIG_FILE
        ),
        format!(
            "-local_config={}/{}",
            paths::CONFIG_DIR,
            paths::LOCAL_CONFIG_FILE
        ),
        format!("-role={role}"),
    ];
    args.extend(parts.extra_args.iter().cloned());
    let mut env = identity_env();
    env.extend(parts.extra_env.iter().cloned());
    let mut mounts = common_mounts(cluster, role);
    mounts.extend(parts.extra_mounts.iter().cloned());
    let (startup, liveness, readiness) = probes(cluster, role);
    Ok(Container {
        name: NODE_CONTAINER.to_string(),
        image: Some(cluster.spec.node_image.clone()),
        image_pull_policy: Some(ais_pull_policy(cluster)),
        command: Some(vec!["aisnode".to_string()]),
        args: Some(args),
        env: Some(merge_env(daemon.env.as_deref(), env)),
        ports: Some(vec![ContainerPort {
            name: Some("http".to_string()),
            container_port: ports.service,
            protocol: Some("TCP".to_string()),
            host_port: daemon.host_port.filter(|p| *p != 0),
            ..ContainerPort::default()
        }]),
        resources: Some(node_resources(cluster, role)?),
        security_context: Some(node_security_context(cluster, role)),
        startup_probe: Some(startup),
        liveness_probe: Some(liveness),
        readiness_probe: Some(readiness),
        volume_mounts: Some(mounts),
        ..Container::default()
    })
}

/// Pod template annotations: the Multus networks and the restart hash, then the user's (a
/// user key wins, as in the reference).
fn pod_annotations(
    cluster: &Cluster<'_>,
    role: Role,
    restart_hash: &str,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(nad) = &cluster.spec.network_attachment {
        out.insert(MULTUS_ANNOTATION.to_string(), nad.clone());
    }
    out.insert(
        RESTART_HASH_ANNOTATION.to_string(),
        super::config::template_restart_hash(restart_hash).to_string(),
    );
    out.extend(cluster.daemon(role).annotations.clone().unwrap_or_default());
    out
}

/// The StatefulSet `<name>-<role>` with its pod template.
pub fn statefulset(
    cluster: &Cluster<'_>,
    role: Role,
    restart_hash: &str,
    parts: RoleParts,
) -> Result<StatefulSet, BuildError> {
    let daemon = cluster.daemon(role);
    let pod_labels = labels::workload(&cluster.name, role.as_str(), daemon.labels.as_ref());
    let mut containers = vec![node_container(cluster, role, &parts)?];
    containers.extend(log_sidecar(cluster, role));
    let mut volumes = common_volumes(cluster, role)?;
    volumes.extend(parts.extra_volumes.iter().cloned());
    let mut claims = parts.data_claims.clone();
    claims.extend(state_claim(cluster));

    let (host_network, dns_policy) = match parts.host_network {
        None => (None, None),
        Some(true) => (Some(true), Some("ClusterFirstWithHostNet".to_string())),
        Some(false) => (None, Some("ClusterFirst".to_string())),
    };
    let pod_spec = PodSpec {
        service_account_name: Some(names::service_account(&cluster.name)),
        security_context: Some(pod_security_context(cluster, role)),
        affinity: affinity(cluster, role, parts.anti_affinity),
        node_selector: daemon.node_selector.clone(),
        tolerations: daemon.tolerations.clone(),
        priority_class_name: cluster.spec.priority_class_name.clone(),
        host_network,
        dns_policy,
        init_containers: Some(vec![init_container(cluster, role)]),
        containers,
        volumes: Some(volumes),
        ..PodSpec::default()
    };
    let mut metadata = cluster.meta(
        cluster.role_object(role),
        labels::workload(&cluster.name, role.as_str(), None),
    );
    if !parts.annotations.is_empty() {
        metadata.annotations = Some(parts.annotations.clone());
    }
    Ok(StatefulSet {
        metadata,
        spec: Some(StatefulSetSpec {
            replicas: Some(cluster.replicas(role)),
            service_name: Some(cluster.role_object(role)),
            pod_management_policy: Some("Parallel".to_string()),
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some(parts.update_strategy.to_string()),
                ..StatefulSetUpdateStrategy::default()
            }),
            persistent_volume_claim_retention_policy: daemon.pvc_retention_policy.clone(),
            selector: LabelSelector {
                match_labels: Some(cluster.selector(role)),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(pod_annotations(cluster, role, restart_hash)),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod_spec),
            },
            volume_claim_templates: (!claims.is_empty()).then_some(claims),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    })
}

/// Pull policy of the AIS containers: the operator's setting, else `Always` (reference).
fn ais_pull_policy(cluster: &Cluster<'_>) -> String {
    cluster
        .facts
        .pods
        .image_pull_policy
        .clone()
        .unwrap_or_else(|| "Always".to_string())
}

#[cfg(test)]
mod tests;

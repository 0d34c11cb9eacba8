//! The proxy StatefulSet `<name>-proxy` (anchor §2.16): Parallel, RollingUpdate, always with
//! hostname anti-affinity unless the user brings one; AuthN signing key env and OIDC CA mount.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, EnvVar, EnvVarSource, SecretKeySelector, Volume,
};

use super::names::{Role, paths};
use super::statefulset::{self, RoleParts, ro_mount};
use super::tls::DEFAULT_MODE;
use super::{BuildError, Cluster};

/// Key of the AuthN signing key in `spec.authNSecretName`.
pub const AUTHN_SIGNING_KEY: &str = "SIGNING-KEY";

/// The proxy role's parts of the pod template.
pub fn parts(cluster: &Cluster<'_>) -> RoleParts {
    let spec = &cluster.spec;
    let mut parts = RoleParts {
        extra_args: vec![format!("-ntargets={}", cluster.target_replicas)],
        anti_affinity: true,
        update_strategy: "RollingUpdate",
        ..RoleParts::default()
    };
    if let Some(secret) = &spec.authn_secret_name {
        parts.extra_env.push(EnvVar {
            name: "AIS_AUTHN_SECRET_KEY".to_string(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: secret.clone(),
                    key: AUTHN_SIGNING_KEY.to_string(),
                    ..SecretKeySelector::default()
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        });
    }
    if let Some(cm) = &spec.issuer_ca_config_map {
        parts
            .extra_mounts
            .push(ro_mount(paths::OIDC_CA_VOLUME, paths::OIDC_CA_DIR));
        parts.extra_volumes.push(Volume {
            name: paths::OIDC_CA_VOLUME.to_string(),
            config_map: Some(ConfigMapVolumeSource {
                name: cm.clone(),
                default_mode: Some(DEFAULT_MODE),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        });
    }
    parts
}

/// The proxy StatefulSet.
pub fn statefulset(cluster: &Cluster<'_>, restart_hash: &str) -> Result<StatefulSet, BuildError> {
    statefulset::statefulset(cluster, Role::Proxy, restart_hash, parts(cluster))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use k8s_openapi::api::core::v1::Container;

    use super::super::testing::{aistore, facts, from_yaml, pod};
    use super::super::{Cluster, Facts};
    use super::*;

    fn build(ais: &ais_crd::AIStore, f: &Facts) -> StatefulSet {
        let c = Cluster::new(ais, f).unwrap();
        statefulset(&c, "h.initial").unwrap()
    }

    fn container<'a>(sts: &'a StatefulSet, name: &str) -> &'a Container {
        pod(sts).containers.iter().find(|c| c.name == name).unwrap()
    }

    fn env_names(c: &Container) -> Vec<&str> {
        c.env
            .as_ref()
            .unwrap()
            .iter()
            .map(|e| e.name.as_str())
            .collect()
    }

    fn mounts(c: &Container) -> Vec<(&str, &str)> {
        c.volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| (m.name.as_str(), m.mount_path.as_str()))
            .collect()
    }

    #[test]
    fn statefulset_shape() {
        let sts = build(&aistore(), &facts());
        assert_eq!(sts.metadata.name.as_deref(), Some("ais-proxy"));
        let spec = sts.spec.as_ref().unwrap();
        assert_eq!(spec.replicas, Some(1));
        assert_eq!(spec.service_name.as_deref(), Some("ais-proxy"));
        assert_eq!(spec.pod_management_policy.as_deref(), Some("Parallel"));
        assert_eq!(
            spec.update_strategy.as_ref().unwrap().type_.as_deref(),
            Some("RollingUpdate")
        );
        let sel = spec.selector.match_labels.as_ref().unwrap();
        assert_eq!(sel.len(), 2);
        let tl = spec
            .template
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .as_ref()
            .unwrap();
        assert_eq!(tl["component"], "proxy");
        assert_eq!(tl["app"], "ais");
        assert_eq!(tl["app.kubernetes.io/managed-by"], "ais-operator");
        let ann = spec
            .template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .as_ref()
            .unwrap();
        // The initial hash is written as the reference writes it: empty.
        assert_eq!(ann["config.aistore.nvidia.com/restart-hash"], "");
        assert!(spec.volume_claim_templates.is_none());
        let p = pod(&sts);
        assert_eq!(p.service_account_name.as_deref(), Some("ais-sa"));
        assert!(p.host_network.is_none() && p.dns_policy.is_none());
    }

    #[test]
    fn node_container_args_env_ports() {
        let mut ais = aistore();
        ais.spec.size = Some(3);
        ais.spec.proxy_spec.host_port = Some(51080);
        ais.spec.authn_secret_name = Some("authn".into());
        let sts = build(&ais, &facts());
        let c = container(&sts, "ais-node");
        assert_eq!(c.command.as_ref().unwrap(), &["aisnode"]);
        assert_eq!(
            c.args.as_ref().unwrap(),
            &[
                "-config=/var/ais_config/ais.json",
                "-local_config=/var/ais_config/ais_local.json",
                "-role=proxy",
                "-ntargets=3",
            ]
        );
        assert_eq!(
            env_names(c),
            ["MY_NODE", "MY_POD", "K8S_NS", "AIS_AUTHN_SECRET_KEY"]
        );
        let key = c.env.as_ref().unwrap()[3]
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!(
            (key.name.as_str(), key.key.as_str()),
            ("authn", "SIGNING-KEY")
        );
        let port = &c.ports.as_ref().unwrap()[0];
        assert_eq!(port.name.as_deref(), Some("http"));
        assert_eq!(port.container_port, 51080);
        assert_eq!(port.host_port, Some(51080));
        assert_eq!(c.image_pull_policy.as_deref(), Some("Always"));
    }

    #[test]
    fn init_container_env_and_args() {
        let mut ais = aistore();
        ais.spec.proxy_spec.host_port = Some(51080);
        ais.spec.hostname_map = Some([("a".to_string(), "b".to_string())].into());
        let sts = build(&ais, &facts());
        let init = &pod(&sts).init_containers.as_ref().unwrap()[0];
        assert_eq!(init.name, "populate-env");
        assert_eq!(
            init.args.as_ref().unwrap(),
            &[
                "-role=proxy",
                "-local_config_template=/var/ais_config_template/ais_local.json",
                "-output_local_config=/var/ais_config/ais_local.json",
                "-cluster_config_override=/var/global_config/ais.json",
                "-output_cluster_config=/var/ais_config/ais.json",
                "-hostname_map_file=/var/global_config/hostname_map.json",
            ]
        );
        assert_eq!(
            env_names(init),
            [
                "HOST_IPS",
                "AIS_K8S_CLUSTER_DOMAIN",
                "ENABLE_EXTERNAL_ACCESS",
                "AIS_PUBLIC_DNS_MODE",
                "MY_NODE",
                "MY_POD",
                "K8S_NS",
                "MY_SERVICE",
                "AIS_PUBLIC_HOSTNAME",
            ]
        );
        let env = init.env.as_ref().unwrap();
        assert_eq!(env[1].value.as_deref(), Some("cluster.local"));
        assert_eq!(env[2].value.as_deref(), Some("false"));
        assert_eq!(env[3].value.as_deref(), Some("IP"));
        assert_eq!(env[7].value.as_deref(), Some("ais-proxy"));
        let host = env[8]
            .value_from
            .as_ref()
            .unwrap()
            .field_ref
            .as_ref()
            .unwrap();
        assert_eq!(host.field_path, "status.hostIP");
        let sc = init.security_context.as_ref().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        let res = init.resources.as_ref().unwrap();
        assert_eq!(
            res.requests.as_ref().unwrap()["ephemeral-storage"].0,
            "48Mi"
        );
        assert_eq!(res.limits.as_ref().unwrap()["memory"].0, "1Gi");
    }

    #[test]
    fn node_mode_public_hostname_uses_node_name() {
        let mut ais = aistore();
        ais.spec.proxy_spec.host_port = Some(51080);
        ais.spec.public_net_dns_mode = Some(ais_crd::PublicNetDnsMode::Node);
        let sts = build(&ais, &facts());
        let init = &pod(&sts).init_containers.as_ref().unwrap()[0];
        let e = init
            .env
            .as_ref()
            .unwrap()
            .iter()
            .find(|e| e.name == "AIS_PUBLIC_HOSTNAME")
            .unwrap();
        assert_eq!(
            e.value_from
                .as_ref()
                .unwrap()
                .field_ref
                .as_ref()
                .unwrap()
                .field_path,
            "spec.nodeName"
        );
    }

    #[test]
    fn probes_http_and_https() {
        let sts = build(&aistore(), &facts());
        let c = container(&sts, "ais-node");
        let l = c.liveness_probe.as_ref().unwrap();
        let get = l.http_get.as_ref().unwrap();
        assert_eq!(get.path.as_deref(), Some("/v1/health"));
        assert_eq!(get.scheme.as_deref(), Some("HTTP"));
        assert_eq!(l.initial_delay_seconds, Some(60));
        assert_eq!(l.failure_threshold, Some(10));
        let s = c.startup_probe.as_ref().unwrap();
        assert_eq!(
            s.http_get.as_ref().unwrap().path.as_deref(),
            Some("/v1/health?readiness=true")
        );
        assert_eq!(s.failure_threshold, Some(30));
        let r = c.readiness_probe.as_ref().unwrap();
        assert_eq!(r.failure_threshold, Some(5));
        assert_eq!(r.period_seconds, Some(5));
        assert_eq!(r.timeout_seconds, Some(5));
        assert_eq!(r.success_threshold, Some(1));

        let ais = from_yaml(
            r#"
metadata: {name: ais, namespace: ais, uid: u}
spec:
  size: 1
  configToUpdate: {net: {http: {use_https: true}}}
  proxySpec:
    portPublic: 52000
    probes: {readiness: {failureThreshold: 9}}
  targetSpec: {mounts: [{path: /d, size: 1Gi}]}
"#,
        );
        let sts = build(&ais, &facts());
        let c = container(&sts, "ais-node");
        let r = c.readiness_probe.as_ref().unwrap();
        assert_eq!(r.failure_threshold, Some(9));
        assert_eq!(r.period_seconds, Some(5));
        let get = r.http_get.as_ref().unwrap();
        assert_eq!(get.scheme.as_deref(), Some("HTTPS"));
        assert_eq!(
            get.port,
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(52000)
        );
    }

    #[test]
    fn mounts_and_volumes_host_path_state() {
        let mut ais = aistore();
        ais.spec.logs_dir = Some("/var/log/ais/".into());
        ais.spec.issuer_ca_config_map = Some("oidc".into());
        ais.spec.tracing_token_secret_name = Some("trace".into());
        let sts = build(&ais, &facts());
        let c = container(&sts, "ais-node");
        assert_eq!(
            mounts(c),
            [
                ("config-mount", "/var/ais_config"),
                ("logs-dir", "/var/log/ais"),
                ("state-mount", "/etc/ais"),
                ("tracing-token", "/var/traces"),
                ("oidc-ca", "/etc/ais/oidc-ca"),
            ]
        );
        assert!(c.volume_mounts.as_ref().unwrap()[1].sub_path_expr.is_none());
        let vols = pod(&sts).volumes.as_ref().unwrap();
        let names: Vec<_> = vols.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "config-template",
                "config-mount",
                "config-global",
                "logs-dir",
                "state-mount",
                "tracing-token",
                "oidc-ca",
            ]
        );
        assert_eq!(vols[0].config_map.as_ref().unwrap().name, "ais-proxy");
        assert_eq!(
            vols[0].config_map.as_ref().unwrap().default_mode,
            Some(0o644)
        );
        assert_eq!(vols[2].config_map.as_ref().unwrap().name, "ais-global-cm");
        assert_eq!(
            vols[3].host_path.as_ref().unwrap().path,
            "/var/log/ais/ais/ais/proxy"
        );
        let state = vols[4].host_path.as_ref().unwrap();
        assert_eq!(state.path, "/etc/ais/ais/ais/proxy");
        assert_eq!(state.type_.as_deref(), Some("DirectoryOrCreate"));
    }

    #[test]
    fn anti_affinity_always_unless_user_has_one() {
        let sts = build(&aistore(), &facts());
        let aa = pod(&sts)
            .affinity
            .as_ref()
            .unwrap()
            .pod_anti_affinity
            .as_ref()
            .unwrap();
        let term = &aa
            .required_during_scheduling_ignored_during_execution
            .as_ref()
            .unwrap()[0];
        assert_eq!(term.topology_key, "kubernetes.io/hostname");
        assert_eq!(
            term.label_selector
                .as_ref()
                .unwrap()
                .match_labels
                .as_ref()
                .unwrap()["app.kubernetes.io/component"],
            "proxy"
        );
        let mut ais = aistore();
        ais.spec.target_spec.disable_pod_anti_affinity = Some(true);
        let sts = build(&ais, &facts());
        assert!(
            pod(&sts)
                .affinity
                .as_ref()
                .unwrap()
                .pod_anti_affinity
                .is_some()
        );
    }

    #[test]
    fn pod_level_settings() {
        let ais = from_yaml(
            r#"
metadata: {name: ais, namespace: ais, uid: u}
spec:
  size: 1
  priorityClassName: high
  networkAttachment: macvlan-a,macvlan-b
  proxySpec:
    nodeSelector: {pool: ais}
    tolerations: [{key: dedicated, operator: Exists}]
    annotations: {team: storage}
    labels: {tier: gw}
    env: [{name: MY_POD, value: overridden}, {name: EXTRA, value: x}]
  targetSpec: {mounts: [{path: /d, size: 1Gi}]}
"#,
        );
        let sts = build(&ais, &facts());
        let p = pod(&sts);
        assert_eq!(p.priority_class_name.as_deref(), Some("high"));
        assert_eq!(p.node_selector.as_ref().unwrap()["pool"], "ais");
        assert_eq!(
            p.tolerations.as_ref().unwrap()[0].key.as_deref(),
            Some("dedicated")
        );
        let sc = p.security_context.as_ref().unwrap();
        assert_eq!(sc.run_as_non_root, Some(false));
        assert_eq!(sc.seccomp_profile.as_ref().unwrap().type_, "RuntimeDefault");
        let tmeta = sts
            .spec
            .as_ref()
            .unwrap()
            .template
            .metadata
            .as_ref()
            .unwrap();
        let ann = tmeta.annotations.as_ref().unwrap();
        assert_eq!(ann["k8s.v1.cni.cncf.io/networks"], "macvlan-a,macvlan-b");
        assert_eq!(ann["team"], "storage");
        assert_eq!(tmeta.labels.as_ref().unwrap()["tier"], "gw");
        // The StatefulSet itself carries only the operator's labels.
        assert!(!sts.metadata.labels.as_ref().unwrap().contains_key("tier"));
        let c = container(&sts, "ais-node");
        assert_eq!(env_names(c), ["MY_POD", "EXTRA", "MY_NODE", "K8S_NS"]);
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert!(sc.read_only_root_filesystem.is_none());
    }

    #[test]
    fn ephemeral_storage_request_defaulting() {
        let sts = build(&aistore(), &facts());
        let c = container(&sts, "ais-node");
        let req = c.resources.as_ref().unwrap().requests.as_ref().unwrap();
        assert_eq!(req["ephemeral-storage"].0, "656Mi");

        let ais = from_yaml(
            r#"
metadata: {name: ais, namespace: ais, uid: u}
spec:
  size: 1
  configToUpdate: {log: {max_total: 1GiB}}
  proxySpec:
    resources: {requests: {cpu: "2"}}
  targetSpec:
    resources: {requests: {ephemeral-storage: 5Gi}}
    mounts: [{path: /d, size: 1Gi}]
"#,
        );
        let f = facts();
        let c = Cluster::new(&ais, &f).unwrap();
        let proxy = statefulset::node_resources(&c, Role::Proxy).unwrap();
        let req = proxy.requests.unwrap();
        assert_eq!(req["ephemeral-storage"].0, "1168Mi");
        assert_eq!(req["cpu"].0, "2");
        let target = statefulset::node_resources(&c, Role::Target).unwrap();
        assert_eq!(target.requests.unwrap()["ephemeral-storage"].0, "5Gi");
    }

    #[test]
    fn log_sidecar() {
        let mut ais = aistore();
        ais.spec.log_sidecar_image = Some("busybox".into());
        let sts = build(&ais, &facts());
        let c = container(&sts, "ais-logs");
        assert_eq!(c.args.as_ref().unwrap(), &["/var/log/ais/aisproxy.INFO"]);
        assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
        assert_eq!(mounts(c), [("logs-dir", "/var/log/ais")]);
        assert_eq!(
            c.security_context
                .as_ref()
                .unwrap()
                .read_only_root_filesystem,
            Some(true)
        );
    }

    #[test]
    fn pvc_state() {
        let mut ais = aistore();
        ais.spec.state_storage = None;
        ais.spec.state_storage_class = Some("fast".into());
        let sts = build(&ais, &facts());
        let vct = sts
            .spec
            .as_ref()
            .unwrap()
            .volume_claim_templates
            .as_ref()
            .unwrap();
        assert_eq!(vct.len(), 1);
        assert_eq!(vct[0].metadata.name.as_deref(), Some("ais-ais-state"));
        let s = vct[0].spec.as_ref().unwrap();
        assert_eq!(s.storage_class_name.as_deref(), Some("fast"));
        assert_eq!(
            s.resources.as_ref().unwrap().requests.as_ref().unwrap()["storage"].0,
            "1Gi"
        );
        let c = container(&sts, "ais-node");
        assert!(mounts(c).contains(&("ais-ais-state", "/etc/ais")));
        let vols = pod(&sts).volumes.as_ref().unwrap();
        assert!(vols.iter().all(|v| v.name != "state-mount"));
    }
}

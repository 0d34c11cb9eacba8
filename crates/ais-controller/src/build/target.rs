//! The target StatefulSet `<name>-target` (anchor §2.16): Parallel, OnDelete (the operator
//! drives rollouts), data mountpaths as PVC templates or host directories, cloud credential
//! Secrets, host network and optional anti-affinity.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::VolumeMount;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::config::RESTART_HASH_ANNOTATION;
use super::names::{self, Role, paths};
use super::quantity::{bytes_quantity_as, quantity_bytes, quantity_format};
use super::statefulset::{
    self, RoleParts, claim, host_dir, host_path, ro_mount, secret_volume, value_env,
};
use super::{BuildError, Cluster};

/// `GOOGLE_APPLICATION_CREDENTIALS` with a GCP Secret.
pub const GCP_CREDENTIALS_FILE: &str = "/var/gcp/gcp.json";
/// `OCI_CLI_CONFIG_FILE` with an OCI Secret.
pub const OCI_CONFIG_FILE: &str = "/root/.oci/config";

/// The target role's parts of the pod template.
pub fn parts(cluster: &Cluster<'_>, restart_hash: &str) -> Result<RoleParts, BuildError> {
    let spec = &cluster.spec;
    let target = &spec.target_spec;
    let mut parts = RoleParts {
        anti_affinity: target.disable_pod_anti_affinity != Some(true),
        update_strategy: "OnDelete",
        host_network: Some(target.host_network == Some(true)),
        annotations: [(
            RESTART_HASH_ANNOTATION.to_string(),
            super::config::template_restart_hash(restart_hash).to_string(),
        )]
        .into(),
        ..RoleParts::default()
    };

    let in_config = |backend: &str| {
        spec.config_to_update
            .as_ref()
            .and_then(|c| c.backend.as_ref())
            .is_some_and(|b| b.contains_key(backend))
    };
    for (secret, volume, dir) in [
        (&spec.aws_secret_name, paths::AWS_VOLUME, paths::AWS_DIR),
        (&spec.gcp_secret_name, paths::GCP_VOLUME, paths::GCP_DIR),
        (&spec.oci_secret_name, paths::OCI_VOLUME, paths::OCI_DIR),
    ] {
        if let Some(secret) = secret {
            parts.extra_mounts.push(ro_mount(volume, dir));
            parts.extra_volumes.push(secret_volume(volume, secret));
        }
    }
    // The credential variables follow the backend, whether a Secret or the config enables it.
    if spec.gcp_secret_name.is_some() || in_config("gcp") {
        parts.extra_env.push(value_env(
            "GOOGLE_APPLICATION_CREDENTIALS",
            GCP_CREDENTIALS_FILE,
        ));
    }
    if spec.oci_secret_name.is_some() || in_config("oci") {
        parts
            .extra_env
            .push(value_env("OCI_CLI_CONFIG_FILE", OCI_CONFIG_FILE));
    }

    for (i, m) in target.mounts.iter().enumerate() {
        if m.use_host_path == Some(true) {
            let volume = names::host_data_volume(i);
            parts.extra_volumes.push(host_dir(
                &volume,
                host_path(cluster, &m.path, Role::Target.as_str()),
            ));
            parts.extra_mounts.push(VolumeMount {
                name: volume,
                mount_path: m.path.clone(),
                ..VolumeMount::default()
            });
            continue;
        }
        let claim_name = names::data_pvc(&cluster.name, &m.path);
        let field = || format!("spec.targetSpec.mounts[{i}].size");
        // Whole bytes, rounded down, printed in the format the size was written in. A size
        // that rounds to nothing, or none (accepted since the reference's v2.16), requests
        // "0", as the reference's zero quantity does: claim templates are immutable, so ours
        // must equal the reference's for a takeover. The API server refuses to create such a
        // claim; the spec works only with claims made beforehand (the webhook warns).
        let bytes = match m.size.as_ref() {
            Some(size) => quantity_bytes(size).map_err(|source| BuildError::InvalidSize {
                field: field(),
                source,
            })?,
            None => 0,
        };
        let request = match m.size.as_ref() {
            Some(size) if bytes > 0 => bytes_quantity_as(bytes, quantity_format(size)),
            _ => Quantity("0".to_string()),
        };
        parts.data_claims.push(claim(
            claim_name.clone(),
            Some(request),
            m.storage_class.clone(),
            m.selector.clone(),
        ));
        parts.extra_mounts.push(VolumeMount {
            name: claim_name,
            mount_path: m.path.clone(),
            ..VolumeMount::default()
        });
    }
    Ok(parts)
}

/// The target StatefulSet.
pub fn statefulset(cluster: &Cluster<'_>, restart_hash: &str) -> Result<StatefulSet, BuildError> {
    statefulset::statefulset(
        cluster,
        Role::Target,
        restart_hash,
        parts(cluster, restart_hash)?,
    )
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
        statefulset(&c, "abc").unwrap()
    }

    fn node(sts: &StatefulSet) -> &Container {
        &pod(sts).containers[0]
    }

    fn mounts(c: &Container) -> Vec<(&str, &str, Option<&str>)> {
        c.volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m.name.as_str(),
                    m.mount_path.as_str(),
                    m.sub_path_expr.as_deref(),
                )
            })
            .collect()
    }

    fn multi() -> ais_crd::AIStore {
        from_yaml(
            r#"
metadata: {name: ais, namespace: prod, uid: u}
spec:
  size: 2
  stateStorage: {hostPath: {prefix: /var/lib/ais}}
  logsDir: /var/log/ais
  awsSecretName: aws
  gcpSecretName: gcp
  ociSecretName: oci
  proxySpec: {}
  targetSpec:
    hostPort: 51081
    mounts:
      - {path: /ais/nvme0n1, size: 1.5Ti, storageClass: local, label: d1, selector: {matchLabels: {disk: nvme}}}
      - {path: /ais/hdd, useHostPath: true}
"#,
        )
    }

    #[test]
    fn statefulset_shape() {
        let sts = build(&aistore(), &facts());
        assert_eq!(sts.metadata.name.as_deref(), Some("ais-target"));
        assert_eq!(
            sts.metadata.annotations.as_ref().unwrap()["config.aistore.nvidia.com/restart-hash"],
            "abc"
        );
        let spec = sts.spec.as_ref().unwrap();
        assert_eq!(spec.pod_management_policy.as_deref(), Some("Parallel"));
        assert_eq!(
            spec.update_strategy.as_ref().unwrap().type_.as_deref(),
            Some("OnDelete")
        );
        assert_eq!(spec.service_name.as_deref(), Some("ais-target"));
        let p = pod(&sts);
        assert_eq!(p.dns_policy.as_deref(), Some("ClusterFirst"));
        assert!(p.host_network.is_none());
        assert_eq!(
            node(&sts).args.as_ref().unwrap().last().map(String::as_str),
            Some("-role=target")
        );
    }

    #[test]
    fn data_claims_and_host_mounts() {
        let sts = build(&multi(), &facts());
        let vct = sts
            .spec
            .as_ref()
            .unwrap()
            .volume_claim_templates
            .as_ref()
            .unwrap();
        assert_eq!(vct.len(), 1);
        assert_eq!(vct[0].metadata.name.as_deref(), Some("ais-ais-nvme0n1"));
        let s = vct[0].spec.as_ref().unwrap();
        assert_eq!(s.access_modes.as_ref().unwrap(), &["ReadWriteOnce"]);
        assert_eq!(s.storage_class_name.as_deref(), Some("local"));
        assert_eq!(
            s.resources.as_ref().unwrap().requests.as_ref().unwrap()["storage"].0,
            "1536Gi"
        );
        assert!(s.selector.is_some());
        assert_eq!(
            mounts(node(&sts)),
            [
                ("config-mount", "/var/ais_config", None),
                ("logs-dir", "/var/log/ais", Some("$(MY_POD)")),
                ("state-mount", "/etc/ais", Some("$(MY_POD)")),
                ("aws-creds", "/root/.aws", None),
                ("gcp-creds", "/var/gcp", None),
                ("oci-creds", "/root/.oci", None),
                ("ais-ais-nvme0n1", "/ais/nvme0n1", None),
                ("host-data-mount-1", "/ais/hdd", None),
            ]
        );
        let vols = pod(&sts).volumes.as_ref().unwrap();
        let find = |n: &str| vols.iter().find(|v| v.name == n).unwrap();
        assert_eq!(
            find("state-mount").host_path.as_ref().unwrap().path,
            "/var/lib/ais/prod/ais/target"
        );
        assert_eq!(
            find("logs-dir").host_path.as_ref().unwrap().path,
            "/var/log/ais/prod/ais/target"
        );
        assert_eq!(
            find("host-data-mount-1").host_path.as_ref().unwrap().path,
            "/ais/hdd/prod/ais/target"
        );
        assert_eq!(
            find("aws-creds")
                .secret
                .as_ref()
                .unwrap()
                .secret_name
                .as_deref(),
            Some("aws")
        );
        assert_eq!(
            find("config-template").config_map.as_ref().unwrap().name,
            "ais-target"
        );
    }

    #[test]
    fn cloud_env() {
        let sts = build(&multi(), &facts());
        let env = node(&sts).env.as_ref().unwrap();
        let names: Vec<_> = env.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "MY_NODE",
                "MY_POD",
                "K8S_NS",
                "GOOGLE_APPLICATION_CREDENTIALS",
                "OCI_CLI_CONFIG_FILE"
            ]
        );
        assert_eq!(env[3].value.as_deref(), Some("/var/gcp/gcp.json"));
        assert_eq!(env[4].value.as_deref(), Some("/root/.oci/config"));
    }

    #[test]
    fn backend_in_config_sets_credential_env_without_volumes() {
        let mut ais = aistore();
        ais.spec.config_to_update = Some(
            serde_json::from_value(serde_json::json!({"backend": {"gcp": {}, "oci": {}}})).unwrap(),
        );
        let sts = build(&ais, &facts());
        let names: Vec<_> = node(&sts)
            .env
            .as_ref()
            .unwrap()
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "MY_NODE",
                "MY_POD",
                "K8S_NS",
                "GOOGLE_APPLICATION_CREDENTIALS",
                "OCI_CLI_CONFIG_FILE"
            ]
        );
        let vols = pod(&sts).volumes.as_ref().unwrap();
        assert!(vols.iter().all(|v| v.secret.is_none()));
    }

    #[test]
    fn anti_affinity_on_and_off() {
        let sts = build(&aistore(), &facts());
        assert!(
            pod(&sts)
                .affinity
                .as_ref()
                .unwrap()
                .pod_anti_affinity
                .is_some()
        );
        let mut ais = aistore();
        ais.spec.disable_pod_anti_affinity = Some(true);
        let sts = build(&ais, &facts());
        assert!(pod(&sts).affinity.is_none());
        let mut ais = aistore();
        ais.spec.target_spec.disable_pod_anti_affinity = Some(true);
        ais.spec.target_spec.daemon.affinity = Some(serde_json::from_value(serde_json::json!({
            "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "k", "operator": "Exists"}]}]
            }}
        })).unwrap());
        let sts = build(&ais, &facts());
        let a = pod(&sts).affinity.as_ref().unwrap();
        assert!(a.node_affinity.is_some() && a.pod_anti_affinity.is_none());
    }

    #[test]
    fn user_anti_affinity_is_kept() {
        let mut ais = aistore();
        ais.spec.target_spec.daemon.affinity = Some(
            serde_json::from_value(serde_json::json!({
                "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                    "weight": 1,
                    "podAffinityTerm": {"topologyKey": "zone"}
                }]}
            }))
            .unwrap(),
        );
        let sts = build(&ais, &facts());
        let aa = pod(&sts)
            .affinity
            .as_ref()
            .unwrap()
            .pod_anti_affinity
            .as_ref()
            .unwrap();
        assert!(
            aa.required_during_scheduling_ignored_during_execution
                .is_none()
        );
    }

    #[test]
    fn host_network_and_public_hostname() {
        let mut ais = multi();
        ais.spec.target_spec.host_network = Some(true);
        let sts = build(&ais, &facts());
        let p = pod(&sts);
        assert_eq!(p.host_network, Some(true));
        assert_eq!(p.dns_policy.as_deref(), Some("ClusterFirstWithHostNet"));
        let init = &p.init_containers.as_ref().unwrap()[0];
        let names: Vec<_> = init
            .env
            .as_ref()
            .unwrap()
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert!(names.contains(&"AIS_PUBLIC_HOSTNAME"));
        assert_eq!(names.last(), Some(&"HOST_NETWORK"));
        assert_eq!(node(&sts).ports.as_ref().unwrap()[0].host_port, Some(51081));

        // With external access, targets advertise their LB, not the host.
        ais.spec.target_spec.daemon.external_access = Some(Default::default());
        let sts = build(&ais, &facts());
        let init = &pod(&sts).init_containers.as_ref().unwrap()[0];
        let env = init.env.as_ref().unwrap();
        assert!(env.iter().all(|e| e.name != "AIS_PUBLIC_HOSTNAME"));
        let ext = env
            .iter()
            .find(|e| e.name == "ENABLE_EXTERNAL_ACCESS")
            .unwrap();
        assert_eq!(ext.value.as_deref(), Some("true"));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod sizeless {
    use super::super::Cluster;
    use super::super::testing::{facts, from_yaml};
    use super::*;

    #[test]
    fn a_pvc_mount_without_size_requests_zero_bytes_as_the_reference_does() {
        let ais = from_yaml(
            r#"
apiVersion: ais.nvidia.com/v1beta1
kind: AIStore
metadata: {name: ais, namespace: ais, uid: "1"}
spec:
  size: 1
  nodeImage: n:1
  initImage: i:1
  proxySpec: {}
  targetSpec:
    mounts: [{path: /ais1, label: disk1}]
"#,
        );
        let f = facts();
        let sts = statefulset(&Cluster::new(&ais, &f).unwrap(), "h").unwrap();
        let claims = sts.spec.unwrap().volume_claim_templates.unwrap();
        let data = claims
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some("ais-ais1"))
            .unwrap();
        let spec = data.spec.as_ref().unwrap();
        assert_eq!(spec.access_modes, Some(vec!["ReadWriteOnce".to_string()]));
        assert_eq!(
            spec.resources.as_ref().unwrap().requests,
            Some(std::collections::BTreeMap::from([(
                "storage".to_string(),
                Quantity("0".to_string())
            )]))
        );
        assert_eq!(spec.storage_class_name, None);
    }
}

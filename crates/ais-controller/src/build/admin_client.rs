//! The admin client Deployment `<name>-client` (anchor §2.15): one pod with the AIS CLI,
//! pointed at the cluster. Its labels follow the reference exactly (`app.kubernetes.io/name`
//! is `<name>-client`): a Deployment selector cannot change, so an operator swap must keep it.

use std::collections::BTreeMap;

use ais_crd::admin_client::{AdminClientSpec, DEFAULT_ADMIN_CLIENT_IMAGE};
use ais_crd::auth::DEFAULT_AUTHN_SERVICE_URL;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, EnvVar, KeyToPath, PodSpec, PodTemplateSpec, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::statefulset::value_env;
use super::tls::DEFAULT_MODE;
use super::{Cluster, labels, names};

/// Component label of the admin client.
pub const COMPONENT: &str = "client";
/// Container name.
pub const CONTAINER: &str = "ais-client";
/// Volume with the CA bundle.
pub const CA_VOLUME: &str = "ais-ca";
/// Where the CA bundle is mounted.
pub const CA_DIR: &str = "/etc/ais-ca";
/// Default key of the CA bundle in its ConfigMap.
pub const DEFAULT_CA_KEY: &str = "trust-bundle.pem";

/// Whether the spec asks for the admin client: the block is present and not disabled.
pub fn enabled(spec: Option<&AdminClientSpec>) -> bool {
    spec.is_some_and(|c| c.enabled != Some(false))
}

/// `app.kubernetes.io/name` of the client: `<name>-client` (the Deployment selector, which
/// cannot change, so it must equal the reference's).
pub fn selector(cluster: &Cluster<'_>) -> BTreeMap<String, String> {
    labels::selector(&names::admin_client(&cluster.name), COMPONENT)
}

/// `AIS_AUTHN_URL` when the cluster has authentication: the profile's service URL (resolved
/// by the controller into [`super::Facts::authn_url`]) or the inline `serviceURL` (default
/// `https://ais-authn.ais:52001`).
fn authn_env(cluster: &Cluster<'_>) -> Vec<EnvVar> {
    let Some(auth) = cluster.spec.auth.as_ref() else {
        return Vec::new();
    };
    let url = match (&cluster.facts.authn_url, &auth.profile_ref) {
        (Some(url), _) => url.clone(),
        (None, Some(_)) => return Vec::new(),
        (None, None) => auth
            .service_url
            .clone()
            .unwrap_or_else(|| DEFAULT_AUTHN_SERVICE_URL.to_string()),
    };
    if url.is_empty() {
        return Vec::new();
    }
    vec![value_env("AIS_AUTHN_URL", &url)]
}

/// The Deployment, when enabled. Env: `AIS_ENDPOINT`, the user's, `AIS_CLIENT_CA`, AuthN.
pub fn deployment(cluster: &Cluster<'_>) -> Option<Deployment> {
    let spec = cluster.spec.admin_client.as_ref()?;
    if !enabled(Some(spec)) {
        return None;
    }
    let selector = selector(cluster);
    let mut pod_labels = selector.clone();
    pod_labels.extend(spec.labels.clone().unwrap_or_default());
    let mut deployment_labels = selector.clone();
    deployment_labels.insert(
        labels::MANAGED_BY.to_string(),
        labels::MANAGED_BY_VALUE.to_string(),
    );

    let mut env = vec![value_env("AIS_ENDPOINT", &cluster.intra_cluster_url())];
    env.extend(spec.env.iter().flatten().cloned());
    let mut mounts = Vec::new();
    let mut volumes = Vec::new();
    if let Some(ca) = &spec.ca_config_map {
        let key = ca.key.clone().unwrap_or_else(|| DEFAULT_CA_KEY.to_string());
        env.push(value_env("AIS_CLIENT_CA", &format!("{CA_DIR}/{key}")));
        mounts.push(VolumeMount {
            name: CA_VOLUME.to_string(),
            mount_path: CA_DIR.to_string(),
            read_only: Some(true),
            ..VolumeMount::default()
        });
        volumes.push(Volume {
            name: CA_VOLUME.to_string(),
            config_map: Some(ConfigMapVolumeSource {
                name: ca.name.clone(),
                items: Some(vec![KeyToPath {
                    key: key.clone(),
                    path: key,
                    ..KeyToPath::default()
                }]),
                optional: Some(true),
                default_mode: Some(DEFAULT_MODE),
            }),
            ..Volume::default()
        });
    }
    env.extend(authn_env(cluster));

    let container = Container {
        name: CONTAINER.to_string(),
        image: Some(
            spec.image
                .clone()
                .unwrap_or_else(|| DEFAULT_ADMIN_CLIENT_IMAGE.to_string()),
        ),
        image_pull_policy: spec.image_pull_policy.clone(),
        command: Some(vec!["sleep".to_string(), "infinity".to_string()]),
        env: Some(env),
        resources: spec.resources.clone(),
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        ..Container::default()
    };
    let mut metadata = cluster.meta(names::admin_client(&cluster.name), deployment_labels);
    metadata.annotations.clone_from(&spec.annotations);
    Some(Deployment {
        metadata,
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: spec.annotations.clone(),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some("default".to_string()),
                    automount_service_account_token: Some(false),
                    image_pull_secrets: cluster.spec.image_pull_secrets.clone(),
                    node_selector: spec.node_selector.clone(),
                    affinity: spec.affinity.clone(),
                    tolerations: spec.tolerations.clone(),
                    containers: vec![container],
                    volumes: (!volumes.is_empty()).then_some(volumes),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::super::testing::{aistore, facts, from_yaml};
    use super::*;

    #[test]
    fn disabled_or_absent_means_none() {
        let mut ais = aistore();
        let f = facts();
        assert!(deployment(&Cluster::new(&ais, &f).unwrap()).is_none());
        ais.spec.admin_client = Some(AdminClientSpec {
            enabled: Some(false),
            ..AdminClientSpec::default()
        });
        assert!(deployment(&Cluster::new(&ais, &f).unwrap()).is_none());
    }

    #[test]
    fn authn_url_from_profile_or_default() {
        let mut ais = aistore();
        ais.spec.admin_client = Some(AdminClientSpec::default());
        ais.spec.auth =
            Some(serde_json::from_value(serde_json::json!({"profileRef": {"name": "p"}})).unwrap());
        let url = |f: &super::super::Facts, ais: &ais_crd::AIStore| {
            let d = deployment(&Cluster::new(ais, f).unwrap()).unwrap();
            d.spec.unwrap().template.spec.unwrap().containers[0]
                .env
                .as_ref()
                .unwrap()
                .iter()
                .find(|e| e.name == "AIS_AUTHN_URL")
                .and_then(|e| e.value.clone())
        };
        assert_eq!(url(&facts(), &ais), None);
        let mut f = facts();
        f.authn_url = Some("https://idp.example:8443".into());
        assert_eq!(url(&f, &ais).as_deref(), Some("https://idp.example:8443"));
        ais.spec.auth =
            Some(serde_json::from_value(serde_json::json!({"tokenExchange": {}})).unwrap());
        assert_eq!(
            url(&facts(), &ais).as_deref(),
            Some("https://ais-authn.ais:52001")
        );
    }

    #[test]
    fn client_deployment() {
        let ais = from_yaml(
            r#"
metadata: {name: ais, namespace: ais, uid: u}
spec:
  size: 1
  imagePullSecrets: [{name: regcred}]
  auth: {serviceURL: "https://authn:52001", usernamePassword: {secretName: su}}
  adminClient:
    caConfigMap: {name: bundle}
    env: [{name: AIS_LOG, value: debug}]
    labels: {team: ops}
  proxySpec: {}
  targetSpec: {mounts: [{path: /d, size: 1Gi}]}
"#,
        );
        let f = facts();
        let d = deployment(&Cluster::new(&ais, &f).unwrap()).unwrap();
        assert_eq!(d.metadata.name.as_deref(), Some("ais-client"));
        let spec = d.spec.unwrap();
        assert_eq!(spec.replicas, Some(1));
        let pod = spec.template.spec.unwrap();
        assert_eq!(pod.service_account_name.as_deref(), Some("default"));
        assert_eq!(pod.automount_service_account_token, Some(false));
        assert_eq!(pod.image_pull_secrets.unwrap()[0].name, "regcred");
        let c = &pod.containers[0];
        assert_eq!(c.name, "ais-client");
        assert_eq!(
            c.image.as_deref(),
            Some("docker.io/aistorage/ais-util:latest")
        );
        assert_eq!(c.command.as_ref().unwrap(), &["sleep", "infinity"]);
        let env: Vec<_> = c
            .env
            .as_ref()
            .unwrap()
            .iter()
            .map(|e| (e.name.as_str(), e.value.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(
            env,
            [
                (
                    "AIS_ENDPOINT",
                    "http://ais-proxy.ais.svc.cluster.local:51080"
                ),
                ("AIS_LOG", "debug"),
                ("AIS_CLIENT_CA", "/etc/ais-ca/trust-bundle.pem"),
                ("AIS_AUTHN_URL", "https://authn:52001"),
            ]
        );
        let v = &pod.volumes.unwrap()[0];
        assert_eq!(v.config_map.as_ref().unwrap().optional, Some(true));
        let labels = spec.template.metadata.unwrap().labels.unwrap();
        assert_eq!(labels["team"], "ops");
        assert_eq!(labels["app.kubernetes.io/component"], "client");
        assert_eq!(labels["app.kubernetes.io/name"], "ais-client");
        assert_eq!(
            spec.selector.match_labels.unwrap(),
            BTreeMap::from([
                (
                    "app.kubernetes.io/name".to_string(),
                    "ais-client".to_string()
                ),
                (
                    "app.kubernetes.io/component".to_string(),
                    "client".to_string()
                ),
            ])
        );
        let items = v.config_map.as_ref().unwrap().items.as_ref().unwrap();
        assert_eq!(items[0].key, "trust-bundle.pem");
    }
}

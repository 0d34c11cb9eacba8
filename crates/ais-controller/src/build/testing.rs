//! Fixtures shared by the builder unit tests.
#![allow(clippy::unwrap_used)]

use ais_crd::AIStore;

use super::Facts;

/// A small AIStore `ais/ais`: size 1, one 10Gi mount `/ais/sda`, standard ports.
pub(crate) fn aistore() -> AIStore {
    from_yaml(
        r#"
apiVersion: ais.nvidia.com/v1beta1
kind: AIStore
metadata:
  name: ais
  namespace: ais
  uid: 00000000-0000-0000-0000-000000000001
spec:
  size: 1
  nodeImage: aistorage/aisnode:v4.9
  initImage: aistorage/ais-init:v4.9
  proxySpec: {}
  targetSpec:
    mounts:
      - path: /ais/sda
        size: 10Gi
"#,
    )
}

/// Parses an AIStore manifest.
pub(crate) fn from_yaml(text: &str) -> AIStore {
    serde_yaml::from_str(text).unwrap()
}

/// Facts of a running cluster with rebalance allowed.
pub(crate) fn facts() -> Facts {
    Facts {
        rebalance_allowed: true,
        ..Facts::unobserved(
            super::DEFAULT_CLUSTER_DOMAIN.to_string(),
            ais_crd::Defaults::default(),
            super::PodSettings::default(),
        )
    }
}

/// The pod spec of a built StatefulSet.
pub(crate) fn pod(
    sts: &k8s_openapi::api::apps::v1::StatefulSet,
) -> &k8s_openapi::api::core::v1::PodSpec {
    sts.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
}

//! `spec.stateStorage`: where each node keeps its AIS metadata (`/etc/ais`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where nodes keep their metadata (cluster map, bucket metadata, node ID). Exactly one mode.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = state_storage_rule)]
pub struct StateStorage {
    /// A directory on each node: `<prefix>/<namespace>/<cluster>/<role>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<HostPathStateStorage>,
    /// A PersistentVolumeClaim per pod, named `<namespace>-<cluster>-state`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvc: Option<PvcStateStorage>,
    /// An emptyDir: metadata is lost with the pod. For test clusters only; it forbids
    /// `shutdownCluster`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_dir: Option<EmptyDirStateStorage>,
}

fn state_storage_rule(schema: &mut schemars::Schema) {
    crate::schema::add_rule(
        schema,
        "[has(self.hostPath), has(self.pvc), has(self.emptyDir)].filter(x, x).size() == 1",
        "exactly one of hostPath, pvc, or emptyDir must be set",
    );
}

/// State on a host directory.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostPathStateStorage {
    /// Host directory under which each cluster gets `<namespace>/<cluster>/<role>`.
    #[schemars(length(min = 1))]
    pub prefix: String,
}

/// State on PersistentVolumeClaims.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PvcStateStorage {
    /// StorageClass of the state PVCs (1Gi, ReadWriteOnce). Cannot change once set.
    #[schemars(length(min = 1))]
    pub storage_class: String,
}

/// State on an emptyDir. Takes no settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EmptyDirStateStorage {}

/// The state storage a spec resolves to, after mapping the deprecated fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateStorageMode {
    /// Host directory with this prefix.
    HostPath(String),
    /// PVCs of this StorageClass.
    Pvc(String),
    /// emptyDir.
    EmptyDir,
}

impl std::fmt::Display for StateStorageMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::HostPath(prefix) => write!(f, "hostPath {prefix:?}"),
            Self::Pvc(class) => write!(f, "PVCs of StorageClass {class:?}"),
            Self::EmptyDir => f.write_str("emptyDir"),
        }
    }
}

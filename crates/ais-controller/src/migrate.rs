//! `ais-controller migrate`: what taking over each AIStore would change, before this operator
//! manages it (docs/migration.md). It builds the objects as the controller would and compares
//! them with the live StatefulSets the way the controller does, so "no change" means the first
//! reconciles restart no pod. It writes nothing.
//!
//! Compared: each StatefulSet's pod template (a change restarts that role's pods, one at a
//! time), its replica count (pods added or removed), and its selector, volume claim templates,
//! `podManagementPolicy` and `serviceName` (immutable: a difference can never be applied, so
//! the takeover would stop there).

use std::fmt;
use std::path::Path;

use ais_crd::AIStore;
use ais_crd::status::condition;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::build::names::{self, PerRole, Role};
use crate::build::{self, Facts};
use crate::plan::RESTART_HASH_ANNOTATION;
use crate::pod_template::{Ownership, template_change};
use crate::reconcile::apply::FIELD_MANAGER;

/// Why `migrate` could not tell.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not the YAML `kubectl get -o yaml` writes.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The API server refused a read.
    #[error("{action}: {source}")]
    Kube {
        /// What was read.
        action: String,
        /// Why it failed.
        source: kube::Error,
    },
}

/// What the takeover of one AIStore would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Takeover {
    /// `<namespace>/<name>`.
    pub cluster: String,
    /// One line per change; empty: none.
    pub changes: Vec<String>,
}

impl fmt::Display for Takeover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changes.is_empty() {
            return write!(f, "{}: no change", self.cluster);
        }
        write!(f, "{}:", self.cluster)?;
        for change in &self.changes {
            write!(f, "\n  - {change}")?;
        }
        Ok(())
    }
}

/// The facts the controller would build `ais` with, from what the AIStore records: the
/// restart hash it last wrote and whether rebalance is on (`ReadyRebalance`).
pub fn facts_for(ais: &AIStore, base: &Facts) -> Facts {
    let rebalance_on = ais.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == condition::READY_REBALANCE && c.status == "True")
    });
    Facts {
        rebalance_allowed: rebalance_on,
        previous_restart_hash: ais.annotations().get(RESTART_HASH_ANNOTATION).cloned(),
        ..base.clone()
    }
}

/// What taking over `ais`, whose StatefulSets are `live`, would change.
pub fn takeover(ais: &AIStore, live: PerRole<Option<&StatefulSet>>, base: &Facts) -> Takeover {
    let cluster = format!("{}/{}", ais.namespace().unwrap_or_default(), ais.name_any());
    let desired = match build::build(ais, &facts_for(ais, base)) {
        Ok(d) => d,
        Err(err) => {
            return Takeover {
                cluster,
                changes: vec![format!("cannot build the objects: {err}")],
            };
        }
    };
    let mut changes = Vec::new();
    for role in Role::BOTH {
        let want = desired.statefulset(role);
        let name = want.metadata.name.clone().unwrap_or_default();
        let Some(have) = *live.get(role) else {
            changes.push(format!("{name}: does not exist; it would be created"));
            continue;
        };
        changes.extend(
            statefulset_changes(have, want)
                .into_iter()
                .map(|c| format!("{name}: {c}")),
        );
    }
    Takeover { cluster, changes }
}

fn statefulset_changes(have: &StatefulSet, want: &StatefulSet) -> Vec<String> {
    let (Some(hs), Some(ws)) = (have.spec.as_ref(), want.spec.as_ref()) else {
        return vec!["has no spec".into()];
    };
    let mut out = Vec::new();
    if let Some(change) = template_change(&hs.template, &ws.template, &Ownership::of(have)) {
        out.push(format!(
            "{change}: its pods would be restarted, one at a time"
        ));
    }
    let (hr, wr) = (hs.replicas.unwrap_or(1), ws.replicas.unwrap_or(1));
    if hr != wr {
        out.push(format!("replicas {hr} → {wr}"));
    }
    let immutable = [
        (
            "podManagementPolicy",
            hs.pod_management_policy
                .as_deref()
                .unwrap_or("OrderedReady"),
            ws.pod_management_policy
                .as_deref()
                .unwrap_or("OrderedReady"),
        ),
        (
            "serviceName",
            hs.service_name.as_deref().unwrap_or_default(),
            ws.service_name.as_deref().unwrap_or_default(),
        ),
    ];
    for (field, have, want) in immutable {
        if have != want {
            out.push(format!(
                "{field} {have:?} → {want:?} (immutable: the StatefulSet would have to be recreated)"
            ));
        }
    }
    if hs.selector.match_labels != ws.selector.match_labels {
        out.push(format!(
            "selector {} → {} (immutable: the StatefulSet would have to be recreated)",
            json!(hs.selector.match_labels),
            json!(ws.selector.match_labels)
        ));
    }
    let claims = |s: &k8s_openapi::api::apps::v1::StatefulSetSpec| {
        s.volume_claim_templates
            .iter()
            .flatten()
            .map(|c| {
                let spec = c.spec.clone().unwrap_or_default();
                json!({
                    "name": c.metadata.name,
                    "storageClassName": spec.storage_class_name,
                    "requests": spec.resources.and_then(|r| r.requests),
                })
            })
            .collect::<Vec<_>>()
    };
    if claims(hs) != claims(ws) {
        out.push(format!(
            "volumeClaimTemplates {} → {} (immutable: the StatefulSet would have to be recreated)",
            json!(claims(hs)),
            json!(claims(ws))
        ));
    }
    out
}

/// The field manager of the reference operator's Update writes (controller-runtime's default
/// name): its StatefulSets, and its AIStore's annotations, finalizer and status. Its other
/// children it applies as `ais-operator`, like us.
pub const REFERENCE_MANAGER: &str = "manager";

/// When the reference operator wrote `meta`'s object after this operator last wrote it: the
/// time of that write. Nothing when this operator never wrote it (a takeover not yet made):
/// the reference's writes from before are how the cluster came to be.
pub fn written_after_us(meta: &ObjectMeta) -> Option<String> {
    let fields = meta.managed_fields.as_deref().unwrap_or_default();
    let last = |manager: &str| {
        fields
            .iter()
            .filter(|m| m.manager.as_deref() == Some(manager))
            .filter_map(|m| m.time.as_ref())
            .map(|t| t.0)
            .max()
    };
    let ours = last(FIELD_MANAGER)?;
    let theirs = last(REFERENCE_MANAGER)?;
    (theirs > ours).then(|| theirs.to_string())
}

/// From captured files: AIStores (`kubectl get aistore -o yaml`: one object or a List) and the
/// objects beside them (a List or multi-document YAML holding their StatefulSets).
pub fn from_files(
    aistores: &Path,
    objects: &Path,
    base: &Facts,
) -> Result<Vec<Takeover>, MigrateError> {
    let ais: Vec<AIStore> = objects_of(aistores)?
        .into_iter()
        .filter(|o| o["kind"] == "AIStore")
        .map(|o| parse(aistores, o))
        .collect::<Result<_, _>>()?;
    let sets: Vec<StatefulSet> = objects_of(objects)?
        .into_iter()
        .filter(|o| o["kind"] == "StatefulSet")
        .map(|o| parse(objects, o))
        .collect::<Result<_, _>>()?;
    Ok(ais
        .iter()
        .map(|a| {
            let find = |role| {
                let name = names::role_object(&a.name_any(), role);
                sets.iter()
                    .find(|s| s.name_any() == name && s.namespace() == a.namespace())
            };
            takeover(
                a,
                PerRole {
                    proxy: find(Role::Proxy),
                    target: find(Role::Target),
                },
                base,
            )
        })
        .collect())
}

fn objects_of(path: &Path) -> Result<Vec<serde_json::Value>, MigrateError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| MigrateError::Read {
        path: p.clone(),
        source,
    })?;
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let value: serde_json::Value =
            serde::Deserialize::deserialize(doc).map_err(|e| MigrateError::Parse {
                path: p.clone(),
                message: e.to_string(),
            })?;
        match value["kind"].as_str() {
            Some("List") => out.extend(value["items"].as_array().cloned().unwrap_or_default()),
            Some(_) => out.push(value),
            None => {}
        }
    }
    Ok(out)
}

fn parse<T: serde::de::DeserializeOwned>(
    path: &Path,
    value: serde_json::Value,
) -> Result<T, MigrateError> {
    serde_json::from_value(value).map_err(|e| MigrateError::Parse {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// From the live cluster: every AIStore of `namespace` (all namespaces when `None`).
pub async fn from_cluster(
    client: &Client,
    namespace: Option<&str>,
    base: &Facts,
) -> Result<Vec<Takeover>, MigrateError> {
    let api: Api<AIStore> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|source| MigrateError::Kube {
            action: "listing the AIStores".into(),
            source,
        })?;
    let mut out = Vec::new();
    for ais in &list.items {
        let ns = ais.namespace().unwrap_or_default();
        let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
        let mut live = PerRole {
            proxy: None,
            target: None,
        };
        for role in Role::BOTH {
            let name = names::role_object(&ais.name_any(), role);
            let sts = sets
                .get_opt(&name)
                .await
                .map_err(|source| MigrateError::Kube {
                    action: format!("reading StatefulSet {ns}/{name}"),
                    source,
                })?;
            *live.get_mut(role) = sts;
        }
        out.push(takeover(
            ais,
            PerRole {
                proxy: live.proxy.as_ref(),
                target: live.target.as_ref(),
            },
            base,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, Time};

    use super::*;

    fn entry(manager: &str, at: &str) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: Some(manager.into()),
            operation: Some(
                if manager == FIELD_MANAGER {
                    "Apply"
                } else {
                    "Update"
                }
                .into(),
            ),
            time: Some(Time(at.parse().unwrap())),
            ..ManagedFieldsEntry::default()
        }
    }

    fn meta(entries: Vec<ManagedFieldsEntry>) -> ObjectMeta {
        ObjectMeta {
            managed_fields: Some(entries),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn a_reference_write_after_ours_is_found_and_one_before_is_not() {
        let made = entry(REFERENCE_MANAGER, "2026-12-02T05:24:28Z");
        let ours = entry(FIELD_MANAGER, "2026-12-02T06:00:00Z");
        let again = entry(REFERENCE_MANAGER, "2026-12-02T06:10:00Z");
        assert_eq!(
            written_after_us(&meta(vec![made.clone()])),
            None,
            "not taken over yet"
        );
        assert_eq!(
            written_after_us(&meta(vec![made.clone(), ours.clone()])),
            None
        );
        assert_eq!(
            written_after_us(&meta(vec![made, ours, again])).as_deref(),
            Some("2026-12-02T06:10:00Z")
        );
        let kcm = entry("kube-controller-manager", "2026-12-02T07:00:00Z");
        assert_eq!(
            written_after_us(&meta(vec![
                entry(FIELD_MANAGER, "2026-12-02T06:00:00Z"),
                kcm
            ])),
            None,
            "the StatefulSet controller's status writes are no second operator"
        );
    }
}

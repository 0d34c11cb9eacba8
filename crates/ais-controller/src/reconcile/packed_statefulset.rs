//! StatefulSets as their watch cache holds them: the pod template and our managed-fields entry
//! as JSON text.
//!
//! Deserialized, a StatefulSet's pod template is tens of KiB (`k8s-openapi` holds every optional
//! field of each container and volume inline: a `Volume` is 3 KiB before its contents) and our
//! managed-fields entry, a `serde_json::Value` tree of a few hundred keys, as much again; at 200
//! clusters the two were 30 MiB of the controller's 66 MiB heap (`docs/benchmarks.md`). As
//! text they are a few KiB. A reconcile unpacks the one or two StatefulSets it reads, which
//! costs a parse of that text; nothing else reads the cache.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::FieldsV1;
use serde_json::{Value, json};

use super::apply::FIELD_MANAGER;

/// A StatefulSet with its pod template and our managed-fields entries held as JSON text.
#[derive(Clone, Debug)]
pub struct PackedStatefulSet {
    /// The StatefulSet without its pod template and without the fields of its managed-fields
    /// entries (only ours are kept: the pod-template comparison reads them).
    shell: StatefulSet,
    /// `spec.template`; `None` when the StatefulSet has no spec (or, in theory, when the
    /// template did not serialize: then [`Self::unpack`] fails and the object is read fresh).
    template: Option<Box<str>>,
    /// Of each of our managed-fields entries (in `shell`'s order), its `f:spec.f:template`.
    own_template_fields: Vec<Option<Box<str>>>,
}

impl PackedStatefulSet {
    /// Packs `sts`, dropping other managers' managed-fields entries and, of ours, everything
    /// but the pod template's fields (all that `pod_template::Ownership` reads).
    pub fn pack(mut sts: StatefulSet) -> Self {
        let mut own_template_fields = Vec::new();
        if let Some(entries) = sts.metadata.managed_fields.as_mut() {
            entries.retain(|f| f.manager.as_deref() == Some(FIELD_MANAGER));
            for entry in entries.iter_mut() {
                let template = entry
                    .fields_v1
                    .take()
                    .and_then(|f| f.0.get("f:spec")?.get("f:template").map(Value::to_string));
                own_template_fields.push(template.map(String::into_boxed_str));
            }
        }
        let template = sts.spec.as_mut().and_then(|spec| {
            let template = std::mem::take(&mut spec.template);
            serde_json::to_string(&template).ok()
        });
        Self {
            shell: sts,
            template: template.map(String::into_boxed_str),
            own_template_fields,
        }
    }

    /// The StatefulSet as [`Self::pack`] was given it, less what it dropped; `None` when the
    /// packed text does not parse back (never expected: it is our own serialization).
    pub fn unpack(&self) -> Option<StatefulSet> {
        let mut sts = self.shell.clone();
        if let Some(spec) = sts.spec.as_mut() {
            let text = self.template.as_deref()?;
            spec.template = serde_json::from_str::<PodTemplateSpec>(text).ok()?;
        }
        if let Some(entries) = sts.metadata.managed_fields.as_mut() {
            for (entry, fields) in entries.iter_mut().zip(&self.own_template_fields) {
                entry.fields_v1 = match fields.as_deref() {
                    Some(text) => {
                        let template = serde_json::from_str::<Value>(text).ok()?;
                        Some(FieldsV1(json!({ "f:spec": { "f:template": template } })))
                    }
                    None => None,
                };
            }
        }
        Some(sts)
    }
}

resource_as!(PackedStatefulSet, StatefulSet, shell.metadata);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use k8s_openapi::api::apps::v1::StatefulSetSpec;
    use k8s_openapi::api::core::v1::{Container, PodSpec, Volume};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
    use kube::api::ObjectMeta;

    use super::*;
    use crate::pod_template::Ownership;

    fn entry(manager: &str, fields: Value) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: Some(manager.into()),
            operation: Some("Apply".into()),
            fields_v1: Some(FieldsV1(fields)),
            ..ManagedFieldsEntry::default()
        }
    }

    fn live() -> StatefulSet {
        let template = PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some([("app".to_string(), "ais".to_string())].into()),
                ..ObjectMeta::default()
            }),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "ais-node".into(),
                    image: Some("aistorage/aisnode:v3.31".into()),
                    ..Container::default()
                }],
                volumes: Some(vec![Volume {
                    name: "config".into(),
                    ..Volume::default()
                }]),
                ..PodSpec::default()
            }),
        };
        StatefulSet {
            metadata: ObjectMeta {
                name: Some("c-target".into()),
                namespace: Some("ais".into()),
                uid: Some("u1".into()),
                generation: Some(4),
                managed_fields: Some(vec![
                    entry("kubectl-rollout", json!({ "f:spec": { "f:template": {} } })),
                    entry(
                        FIELD_MANAGER,
                        json!({
                            "f:metadata": { "f:labels": { "f:app": {} } },
                            "f:spec": {
                                "f:replicas": {},
                                "f:template": { "f:spec": { "f:containers": {
                                    "k:{\"name\":\"ais-node\"}": { ".": {}, "f:image": {} }
                                } } }
                            }
                        }),
                    ),
                ]),
                ..ObjectMeta::default()
            },
            spec: Some(StatefulSetSpec {
                replicas: Some(3),
                template,
                ..StatefulSetSpec::default()
            }),
            status: None,
        }
    }

    #[test]
    fn unpacks_the_template_and_our_template_fields() {
        let sts = live();
        let packed = PackedStatefulSet::pack(sts.clone());
        assert_eq!(
            packed.shell.spec.as_ref().map(|s| &s.template),
            Some(&PodTemplateSpec::default()),
            "the shell holds no template"
        );
        let unpacked = packed.unpack().unwrap();
        assert_eq!(
            unpacked.spec.as_ref().map(|s| &s.template),
            sts.spec.as_ref().map(|s| &s.template)
        );
        assert_eq!(unpacked.metadata.name, sts.metadata.name);
        assert_eq!(unpacked.metadata.generation, Some(4));
        let entries = unpacked.metadata.managed_fields.unwrap_or_default();
        assert_eq!(entries.len(), 1, "only our entry is kept: {entries:?}");
        assert_eq!(
            entries[0].fields_v1,
            Some(FieldsV1(
                json!({ "f:spec": { "f:template": { "f:spec": { "f:containers": {
                "k:{\"name\":\"ais-node\"}": { ".": {}, "f:image": {} }
            } } } } })
            ))
        );
    }

    #[test]
    fn the_ownership_of_the_unpacked_set_is_the_live_one() {
        let sts = live();
        let unpacked = PackedStatefulSet::pack(sts.clone()).unpack().unwrap();
        assert_eq!(Ownership::of(&unpacked), Ownership::of(&sts));
        assert_ne!(Ownership::of(&unpacked), Ownership::default());
    }

    #[test]
    fn a_set_without_spec_or_managed_fields_round_trips() {
        let sts = StatefulSet {
            metadata: ObjectMeta {
                name: Some("bare".into()),
                ..ObjectMeta::default()
            },
            ..StatefulSet::default()
        };
        assert_eq!(PackedStatefulSet::pack(sts.clone()).unpack(), Some(sts));
    }

    #[test]
    fn an_unparsable_template_is_a_miss_not_a_default() {
        let mut packed = PackedStatefulSet::pack(live());
        packed.template = Some("{\"spec\":".into());
        assert_eq!(packed.unpack(), None);
    }
}

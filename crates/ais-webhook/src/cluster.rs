//! Checks that need the cluster: enough nodes for the requested pods (a warning), the state
//! StorageClass exists (an error), the requesting user may use what `spec.auth` refers to
//! (a SubjectAccessReview run as that user), and a new target placement leaves every running
//! target a node that reaches its data (a warning; [`crate::placement`] decides).

use std::collections::BTreeMap;

use ais_crd::AIStoreSpec;
use ais_crd::legacy::{effective_spec, state_storage_mode};
use ais_crd::storage::StateStorageMode;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{Node, PersistentVolume, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, ListParams, PostParams};
use kube::core::admission::Operation;
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};

use crate::admission::Parsed;
use crate::placement::{self, NodeFacts, Placement, TargetData};

/// Findings of the cluster checks.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Reasons to deny.
    pub errors: Vec<String>,
    /// Warnings for the user.
    pub warnings: Vec<String>,
}

/// Runs the cluster-context checks with the webhook's own client.
#[derive(Clone)]
pub struct ClusterChecks {
    client: kube::Client,
}

impl std::fmt::Debug for ClusterChecks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterChecks")
    }
}

impl ClusterChecks {
    /// Checks with `client`.
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }

    /// Runs every check. A check that cannot reach the API server adds a warning rather than
    /// blocking the change.
    pub async fn check(&self, parsed: &Parsed) -> Outcome {
        let mut out = Outcome::default();
        let spec = effective_spec(&parsed.spec);
        self.nodes(&spec, &mut out).await;
        self.storage_class(&spec, parsed.old.as_ref(), &mut out)
            .await;
        self.auth_access(parsed, &mut out).await;
        self.data_placement(parsed, &spec, &mut out).await;
        out
    }

    /// On an update that changes the target placement: three lists (the AIStore's target pods,
    /// the nodes, and the PersistentVolumes when a pod has claims), whatever the cluster's size.
    async fn data_placement(&self, parsed: &Parsed, spec: &AIStoreSpec, out: &mut Outcome) {
        let Some(old) = parsed.old.as_ref().map(effective_spec) else {
            return;
        };
        let new = Placement::of_targets(spec);
        let Some(field) = new.changed_field(&Placement::of_targets(&old)) else {
            return;
        };
        let namespace = parsed.request.namespace.clone().unwrap_or_default();
        let name = &parsed.request.name;
        let targets = ListParams::default().labels(&format!(
            "app.kubernetes.io/name={name},app.kubernetes.io/component=target"
        ));
        let pods_api = Api::<Pod>::namespaced(self.client.clone(), &namespace);
        let pods = match pods_api.list(&targets).await {
            Ok(list) => list.items,
            Err(err) => {
                out.warnings.push(format!(
                    "could not check where the targets keep their data for {field}: {err}"
                ));
                return;
            }
        };
        if pods.is_empty() {
            return;
        }
        let nodes = match Api::<Node>::all(self.client.clone())
            .list_metadata(&ListParams::default())
            .await
        {
            Ok(list) => list
                .items
                .into_iter()
                .map(|n| NodeFacts {
                    name: n.metadata.name.unwrap_or_default(),
                    labels: n.metadata.labels.unwrap_or_default(),
                })
                .collect::<Vec<_>>(),
            Err(err) => {
                out.warnings.push(format!(
                    "could not list the nodes to check {field} against the targets' data: {err}"
                ));
                return;
            }
        };
        let claims = |pod: &Pod| -> Vec<String> {
            pod.spec
                .iter()
                .flat_map(|s| s.volumes.iter().flatten())
                .filter_map(|v| v.persistent_volume_claim.as_ref())
                .map(|c| c.claim_name.clone())
                .collect()
        };
        let pinned = if pods.iter().any(|p| !claims(p).is_empty()) {
            match Api::<PersistentVolume>::all(self.client.clone())
                .list(&ListParams::default())
                .await
            {
                Ok(list) => pinned_volumes(list.items, &namespace),
                Err(err) => {
                    out.warnings.push(format!(
                        "could not list the PersistentVolumes to check {field} against the targets' data: {err}"
                    ));
                    return;
                }
            }
        } else {
            BTreeMap::new()
        };
        // Data directories follow the stored spec: that is where the running pods keep them.
        let host_paths = placement::host_paths(&old);
        for pod in &pods {
            let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
                continue;
            };
            let target = TargetData {
                pod: pod.metadata.name.clone().unwrap_or_default(),
                node,
                host_paths: host_paths.clone(),
                volumes: claims(pod)
                    .iter()
                    .filter_map(|c| pinned.get(c).cloned())
                    .collect(),
            };
            out.warnings
                .extend(placement::stranded(&target, &nodes, &new, field));
        }
    }

    async fn nodes(&self, spec: &AIStoreSpec, out: &mut Outcome) {
        let roles = [
            (
                "proxy",
                spec.proxy_size(),
                &spec.proxy_spec.node_selector,
                false,
            ),
            (
                "target",
                spec.target_size(),
                &spec.target_spec.daemon.node_selector,
                spec.target_spec.disable_pod_anti_affinity == Some(true),
            ),
        ];
        for (role, size, selector, shared_nodes) in roles {
            let Some(wanted) = size.filter(|n| *n > 0) else {
                continue;
            };
            if shared_nodes {
                continue;
            }
            let params = ListParams::default().labels(&selector_string(selector.as_ref()));
            match Api::<Node>::all(self.client.clone())
                .list_metadata(&params)
                .await
            {
                Ok(list) => {
                    let found = list.items.len();
                    if found < usize::try_from(wanted).unwrap_or(usize::MAX) {
                        out.warnings.push(format!(
                            "spec for AIS {role} requires more K8s nodes matching the given selector: expected '{wanted}' but found '{found}'"
                        ));
                    }
                }
                Err(err) => out
                    .warnings
                    .push(format!("could not count nodes for the {role}s: {err}")),
            }
        }
    }

    async fn storage_class(
        &self,
        spec: &AIStoreSpec,
        old: Option<&AIStoreSpec>,
        out: &mut Outcome,
    ) {
        let StateStorageMode::Pvc(class) = state_storage_mode(spec) else {
            return;
        };
        if old.is_some_and(|o| state_storage_mode(o) == StateStorageMode::Pvc(class.clone())) {
            return;
        }
        match Api::<StorageClass>::all(self.client.clone()).get_opt(&class).await {
            Ok(Some(_)) => {}
            Ok(None) => out.errors.push(format!(
                "spec.stateStorage.pvc.storageClass: required storage class '{class}' not found (create it or name an existing one)"
            )),
            Err(err) => out.warnings.push(format!("could not check storage class '{class}': {err}")),
        }
    }

    async fn auth_access(&self, parsed: &Parsed, out: &mut Outcome) {
        let Some(auth) = &parsed.spec.auth else {
            return;
        };
        let old_auth = parsed.old.as_ref().and_then(|o| o.auth.as_ref());
        let namespace = parsed.request.namespace.clone().unwrap_or_default();
        if let Some(profile) = &auth.profile_ref {
            if old_auth.and_then(|a| a.profile_ref.as_ref()) == Some(profile) {
                return;
            }
            let attrs = ResourceAttributes {
                group: Some("auth.ais.nvidia.com".into()),
                version: Some("v1alpha1".into()),
                resource: Some("aistoreauthprofiles".into()),
                verb: Some("use".into()),
                name: Some(profile.name.clone()),
                ..ResourceAttributes::default()
            };
            self.require(parsed, attrs, "spec.auth.profileRef", out)
                .await;
            let gvk =
                GroupVersionKind::gvk("auth.ais.nvidia.com", "v1alpha1", "AIStoreAuthProfile");
            let api: Api<DynamicObject> = Api::all_with(
                self.client.clone(),
                &ApiResource::from_gvk_with_plural(&gvk, "aistoreauthprofiles"),
            );
            match api.get_opt(&profile.name).await {
                Ok(Some(_)) => {}
                Ok(None) | Err(kube::Error::Api(_)) => out.errors.push(format!(
                    "spec.auth.profileRef.name: referenced AIStoreAuthProfile does not exist: {:?}",
                    profile.name
                )),
                Err(err) => out.warnings.push(format!(
                    "could not check AIStoreAuthProfile {:?}: {err}",
                    profile.name
                )),
            }
        } else if let Some(up) = &auth.username_password {
            let unchanged = old_auth
                .and_then(|a| a.username_password.as_ref())
                .is_some_and(|o| {
                    o.secret_name == up.secret_name && o.secret_namespace == up.secret_namespace
                });
            if unchanged {
                return;
            }
            let attrs = ResourceAttributes {
                resource: Some("secrets".into()),
                verb: Some("get".into()),
                name: Some(up.secret_name.clone()),
                namespace: Some(up.secret_namespace.clone().unwrap_or(namespace)),
                ..ResourceAttributes::default()
            };
            self.require(parsed, attrs, "spec.auth.usernamePassword.secretName", out)
                .await;
        }
    }

    /// Asks the API server whether the requesting user may do `attrs`.
    async fn require(
        &self,
        parsed: &Parsed,
        attrs: ResourceAttributes,
        field: &str,
        out: &mut Outcome,
    ) {
        if parsed.request.operation != Operation::Create
            && parsed.request.operation != Operation::Update
        {
            return;
        }
        let user = &parsed.request.user_info;
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: user.username.clone(),
                uid: user.uid.clone(),
                groups: user.groups.clone(),
                extra: user.extra.as_ref().map(|e| {
                    e.iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect::<BTreeMap<_, _>>()
                }),
                resource_attributes: Some(attrs.clone()),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
        match api.create(&PostParams::default(), &review).await {
            Ok(result) if result.status.as_ref().is_some_and(|s| s.allowed) => {}
            Ok(_) => {
                let who = user.username.clone().unwrap_or_default();
                let verb = attrs.verb.unwrap_or_default();
                let resource = attrs.resource.unwrap_or_default();
                let name = attrs.name.unwrap_or_default();
                let place = attrs
                    .namespace
                    .map(|ns| format!(" in namespace \"{ns}\""))
                    .unwrap_or_default();
                out.errors.push(format!(
                    "{field}: Forbidden: user \"{who}\" is not authorized to {verb} {resource} resource \"{name}\"{place}"
                ));
            }
            Err(err) => out
                .warnings
                .push(format!("could not check access for {field}: {err}")),
        }
    }
}

/// The bound PersistentVolumes of `namespace` that only some nodes reach, by claim name.
fn pinned_volumes(
    volumes: Vec<PersistentVolume>,
    namespace: &str,
) -> BTreeMap<String, (String, k8s_openapi::api::core::v1::NodeSelector)> {
    volumes
        .into_iter()
        .filter_map(|pv| {
            let spec = pv.spec?;
            let claim = spec.claim_ref?;
            let required = spec.node_affinity?.required?;
            (claim.namespace.as_deref() == Some(namespace)).then_some(())?;
            Some((
                claim.name?,
                (pv.metadata.name.unwrap_or_default(), required),
            ))
        })
        .collect()
}

fn selector_string(selector: Option<&BTreeMap<String, String>>) -> String {
    selector
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

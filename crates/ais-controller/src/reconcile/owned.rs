//! The inventory's I/O: apply the prerequisite objects, find the owned objects of the kinds that
//! can leave the inventory, delete the ones that left it, and delete everything at the end.
//! Which objects are orphans is decided by the pure [`inventory::orphans`].

use std::collections::{BTreeSet, HashMap};
use std::fmt::Debug;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role as RbacRole, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

use super::{Context, Error, apply};
use crate::build::inventory::{self, Found};
use crate::build::{Desired, Owned, OwnedKind, labels};

/// What was last swept per cluster (`namespace/name` → fingerprint of the inventory's names).
/// The sweep lists five kinds; it runs when the inventory changed since the last sweep, and
/// once per cluster after a restart, so a converged cluster costs no lists.
#[derive(Clone, Debug, Default)]
pub struct Swept(Arc<Mutex<HashMap<String, u64>>>);

impl Swept {
    fn get(&self, key: &str) -> Option<u64> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .copied()
    }

    fn set(&self, key: &str, fingerprint: u64) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_string(), fingerprint);
    }

    /// Forgets a deleted cluster.
    pub fn forget(&self, key: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }
}

fn fingerprint(names: &BTreeSet<(OwnedKind, String)>) -> u64 {
    let mut h = DefaultHasher::new();
    names.hash(&mut h);
    h.finish()
}

/// The cert-manager Certificate resource.
fn certificate_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("cert-manager.io", "v1", "Certificate");
    ApiResource::from_gvk_with_plural(&gvk, "certificates")
}

/// Applies every object of the inventory but the StatefulSets and `skip`, in order.
pub async fn apply_prerequisites(
    ctx: &Context,
    ns: &str,
    desired: &Desired,
    skip: &[(OwnedKind, String)],
) -> Result<(), Error> {
    let (c, m) = (&ctx.client, &ctx.metrics);
    let skipped = |o: &Owned<'_>| skip.iter().any(|(k, n)| *k == o.kind() && n == o.name());
    for object in desired.prerequisites().filter(|o| !skipped(o)) {
        match object {
            Owned::ServiceAccount(o) => drop(apply::apply(ctx, ns, o).await?),
            Owned::Role(o) => drop(apply::apply(ctx, ns, o).await?),
            Owned::RoleBinding(o) => drop(apply::apply(ctx, ns, o).await?),
            Owned::ConfigMap(o) => drop(apply::apply(ctx, ns, o).await?),
            Owned::Service(o) => drop(apply::apply(ctx, ns, o).await?),
            Owned::PodDisruptionBudget(o) => drop(apply::apply(ctx, ns, o).await?),
            Owned::Deployment(o) => drop(apply::apply(ctx, ns, o).await?),
            Owned::Certificate(cert) => {
                let resource = certificate_resource();
                if apply::apply_dynamic(c, m, &resource, ns, cert)
                    .await?
                    .is_none()
                {
                    tracing::warn!(
                        namespace = ns,
                        "cert-manager is not installed: the Certificate for spec.tls.certificate cannot be created"
                    );
                }
            }
            // Their replicas and template are the lifecycle's choice.
            Owned::StatefulSet(_) => {}
        }
    }
    Ok(())
}

/// Deletes the owned objects that left the inventory, when the inventory changed since the
/// last sweep of this cluster. Returns what was deleted.
pub async fn sweep(
    ctx: &Context,
    ns: &str,
    cluster: &str,
    owner_uid: &str,
    desired: &Desired,
) -> Result<Vec<(OwnedKind, String)>, Error> {
    let key = format!("{ns}/{cluster}");
    let names = desired.names();
    let fp = fingerprint(&names);
    if ctx.swept.get(&key) == Some(fp) {
        return Ok(Vec::new());
    }
    let found = find(&ctx.client, ns, cluster).await?;
    let orphans = inventory::orphans(&names, &found, owner_uid);
    for (kind, name) in &orphans {
        ctx.metrics.writes.with_label_values(&[kind.as_str()]).inc();
        delete(&ctx.client, ns, *kind, name).await?;
    }
    ctx.swept.set(&key, fp);
    Ok(orphans)
}

/// The objects of every swept kind that carry the cluster's name label, and those found by name
/// ([`inventory::named_candidates`]).
pub async fn find(client: &Client, ns: &str, cluster: &str) -> Result<Vec<Found>, Error> {
    let selector = format!("{}={cluster}", labels::NAME);
    let mut out = Vec::new();
    for kind in OwnedKind::ALL.into_iter().filter(|k| k.swept()) {
        let metas = match kind {
            OwnedKind::ConfigMap => list::<ConfigMap>(client, ns, &selector).await?,
            OwnedKind::Service => list::<Service>(client, ns, &selector).await?,
            OwnedKind::PodDisruptionBudget => {
                list::<PodDisruptionBudget>(client, ns, &selector).await?
            }
            OwnedKind::Deployment => list::<Deployment>(client, ns, &selector).await?,
            OwnedKind::Certificate => list_certificates(client, ns, &selector).await?,
            // Not swept: always in the inventory while the cluster lives.
            OwnedKind::ServiceAccount
            | OwnedKind::Role
            | OwnedKind::RoleBinding
            | OwnedKind::StatefulSet => Vec::new(),
        };
        out.extend(metas.into_iter().map(|meta| found(kind, &meta)));
    }
    for (kind, name) in inventory::named_candidates(cluster) {
        if let Some(meta) = get_meta(client, ns, kind, &name).await? {
            out.push(found(kind, &meta));
        }
    }
    Ok(out)
}

fn found(kind: OwnedKind, meta: &ObjectMeta) -> Found {
    Found {
        kind,
        name: meta.name.clone().unwrap_or_default(),
        owners: meta
            .owner_references
            .iter()
            .flatten()
            .map(|o| o.uid.clone())
            .collect(),
        deleting: meta.deletion_timestamp.is_some(),
    }
}

async fn list<K>(client: &Client, ns: &str, selector: &str) -> Result<Vec<ObjectMeta>, Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    api.list_metadata(&ListParams::default().labels(selector))
        .await
        .map(|l| l.items.into_iter().map(|o| o.metadata).collect())
        .map_err(|source| Error::Kube {
            action: format!("listing {} in {ns} ({selector})", K::kind(&())),
            source,
        })
}

async fn list_certificates(
    client: &Client,
    ns: &str,
    selector: &str,
) -> Result<Vec<ObjectMeta>, Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &certificate_resource());
    match api.list(&ListParams::default().labels(selector)).await {
        Ok(list) => Ok(list.items.into_iter().map(|o| o.metadata).collect()),
        // cert-manager not installed: there can be no Certificate.
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(Vec::new()),
        Err(source) => Err(Error::Kube {
            action: format!("listing Certificates in {ns} ({selector})"),
            source,
        }),
    }
}

/// Metadata of one owned object, if it exists.
pub async fn get_meta(
    client: &Client,
    ns: &str,
    kind: OwnedKind,
    name: &str,
) -> Result<Option<ObjectMeta>, Error> {
    async fn typed<K>(client: &Client, ns: &str, name: &str) -> Result<Option<ObjectMeta>, Error>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + Debug
            + DeserializeOwned,
    {
        Ok(apply::get::<K>(client, ns, name)
            .await?
            .map(|o| o.meta().clone()))
    }
    match kind {
        OwnedKind::ServiceAccount => typed::<ServiceAccount>(client, ns, name).await,
        OwnedKind::Role => typed::<RbacRole>(client, ns, name).await,
        OwnedKind::RoleBinding => typed::<RoleBinding>(client, ns, name).await,
        OwnedKind::ConfigMap => typed::<ConfigMap>(client, ns, name).await,
        OwnedKind::Service => typed::<Service>(client, ns, name).await,
        OwnedKind::PodDisruptionBudget => typed::<PodDisruptionBudget>(client, ns, name).await,
        OwnedKind::Deployment => typed::<Deployment>(client, ns, name).await,
        OwnedKind::StatefulSet => typed::<StatefulSet>(client, ns, name).await,
        OwnedKind::Certificate => {
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), ns, &certificate_resource());
            match api.get_opt(name).await {
                Ok(obj) => Ok(obj.map(|o| o.metadata)),
                Err(kube::Error::Api(e)) if e.code == 404 => Ok(None),
                Err(source) => Err(Error::Kube {
                    action: format!("reading Certificate {ns}/{name}"),
                    source,
                }),
            }
        }
    }
}

/// Deletes one object (in the background: its dependents go after it); `true` when it still
/// existed.
pub async fn delete(client: &Client, ns: &str, kind: OwnedKind, name: &str) -> Result<bool, Error> {
    async fn typed<K>(client: &Client, ns: &str, name: &str) -> Result<bool, kube::Error>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + Debug
            + DeserializeOwned,
    {
        let api: Api<K> = Api::namespaced(client.clone(), ns);
        api.delete(name, &DeleteParams::background())
            .await
            .map(|_| true)
    }
    let result = match kind {
        OwnedKind::ServiceAccount => typed::<ServiceAccount>(client, ns, name).await,
        OwnedKind::Role => typed::<RbacRole>(client, ns, name).await,
        OwnedKind::RoleBinding => typed::<RoleBinding>(client, ns, name).await,
        OwnedKind::ConfigMap => typed::<ConfigMap>(client, ns, name).await,
        OwnedKind::Service => typed::<Service>(client, ns, name).await,
        OwnedKind::PodDisruptionBudget => typed::<PodDisruptionBudget>(client, ns, name).await,
        OwnedKind::Deployment => typed::<Deployment>(client, ns, name).await,
        OwnedKind::StatefulSet => typed::<StatefulSet>(client, ns, name).await,
        OwnedKind::Certificate => {
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), ns, &certificate_resource());
            api.delete(name, &DeleteParams::background())
                .await
                .map(|_| true)
        }
    };
    match result {
        Ok(existed) => Ok(existed),
        // Gone already, or (Certificates) cert-manager not installed.
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
        Err(source) => Err(Error::Kube {
            action: format!("deleting {kind} {ns}/{name}"),
            source,
        }),
    }
}

/// The objects among `candidates` and those found by the cluster's labels that still exist
/// and that the AIStore `owner_uid` owns. Objects of those names that it does not own are not
/// listed (and so never deleted).
pub async fn existing_owned(
    client: &Client,
    ns: &str,
    cluster: &str,
    owner_uid: &str,
    candidates: BTreeSet<(OwnedKind, String)>,
) -> Result<Vec<Found>, Error> {
    let mut all = candidates;
    for f in find(client, ns, cluster).await? {
        all.insert((f.kind, f.name));
    }
    let mut out = Vec::new();
    for (kind, name) in all {
        if let Some(meta) = get_meta(client, ns, kind, &name).await? {
            let f = found(kind, &meta);
            if f.owners.iter().any(|uid| uid == owner_uid) {
                out.push(f);
            }
        }
    }
    Ok(out)
}

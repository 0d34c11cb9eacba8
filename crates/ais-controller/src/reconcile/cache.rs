//! Watch caches of the owned objects the controller reads on every reconcile (the StatefulSets)
//! or compares before it applies them (ConfigMaps, Services, the ServiceAccount, Role and
//! RoleBinding, the PDB), so that a reconcile that changes nothing reads them from memory
//! instead of issuing a GET each.
//!
//! The caches only ever save a read: an object that is not in its cache (the watch has not
//! listed yet, the object lacks the managed-by label the watches select on, as objects of the
//! reference operator do until our first apply labels them) is read from the API server. A cached
//! object that lags behind the live one costs at most one apply that changes nothing; the change
//! that made it lag is itself a watch event, so the reconcile it triggers sees the new version.
//!
//! The plan decides on the StatefulSets, so their cache must also hold this controller's own
//! last write to them: each write is recorded ([`OwnedCache::wrote`], [`OwnedCache::deleted`]),
//! and a cached StatefulSet older than the generation that write returned, or one we deleted, is
//! read fresh. Lag behind anyone else's change is what every watch-driven decision lives with:
//! the StatefulSet controller's status always trails the pods, which is why the lifecycle only
//! trusts a status whose `observedGeneration` is the object's generation.
//!
//! The pods of each cluster are cached too (reduced by `pod_cache::CachedPod`); when that cache can
//! stand for a LIST is `pod_cache`'s decision.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use futures_util::FutureExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Resource as _;
use kube::runtime::reflector::{ObjectRef, Store};

use super::packed_statefulset::PackedStatefulSet;
use super::pod_cache::{self, CachedPod, ClusterPods, PodProof, PodWrite};

/// The caches of one controller's scope (one watched namespace, or all of them).
#[derive(Clone)]
#[allow(missing_debug_implementations)] // `Store` is not `Debug`; `OwnedCache` prints the count.
pub struct Stores {
    /// Proxy and target StatefulSets, packed (`packed_statefulset`: with this controller's
    /// managed-fields entry only, which the pod-template comparison needs).
    pub statefulsets: Store<PackedStatefulSet>,
    /// Global, proxy and target ConfigMaps.
    pub config_maps: Store<ConfigMap>,
    /// Headless and LoadBalancer Services.
    pub services: Store<Service>,
    /// The AIS pods' ServiceAccount.
    pub service_accounts: Store<ServiceAccount>,
    /// The AIS pods' Role.
    pub roles: Store<Role>,
    /// The AIS pods' RoleBinding.
    pub role_bindings: Store<RoleBinding>,
    /// The targets' PodDisruptionBudget.
    pub pdbs: Store<PodDisruptionBudget>,
    /// The AIS pods (trimmed: `pod_cache::CachedPod`).
    pub pods: Store<CachedPod>,
}

impl Default for Stores {
    /// Caches that stay empty (their writers are dropped): every read goes to the API server.
    fn default() -> Self {
        use kube::runtime::reflector::store;
        Self {
            statefulsets: store().0,
            config_maps: store().0,
            services: store().0,
            service_accounts: store().0,
            roles: store().0,
            role_bindings: store().0,
            pdbs: store().0,
            pods: store().0,
        }
    }
}

/// A kind whose objects may be cached: [`Cached::store`] names its cache, if it has one.
pub trait Cached: kube::Resource<DynamicType = ()> + Clone + 'static {
    /// What its cache holds of an object.
    type Stored: kube::Resource<DynamicType = ()> + Clone + 'static;

    /// This kind's cache among `stores`; `None`: always read from the API server.
    fn store(stores: &Stores) -> Option<&Store<Self::Stored>>;

    /// The object its cache holds as `stored`; `None`: read it from the API server.
    fn from_stored(stored: &Self::Stored) -> Option<Self>;
}

impl Cached for StatefulSet {
    type Stored = PackedStatefulSet;

    fn store(stores: &Stores) -> Option<&Store<PackedStatefulSet>> {
        Some(&stores.statefulsets)
    }

    fn from_stored(stored: &PackedStatefulSet) -> Option<Self> {
        stored.unpack()
    }
}

macro_rules! cached {
    ($($kind:ty => $field:ident),* ; uncached $($plain:ty),*) => {
        $(impl Cached for $kind {
            type Stored = Self;

            fn store(stores: &Stores) -> Option<&Store<Self>> {
                Some(&stores.$field)
            }

            fn from_stored(stored: &Self) -> Option<Self> {
                Some(stored.clone())
            }
        })*
        $(impl Cached for $plain {
            type Stored = Self;

            fn store(_: &Stores) -> Option<&Store<Self>> {
                None
            }

            fn from_stored(stored: &Self) -> Option<Self> {
                Some(stored.clone())
            }
        })*
    };
}

cached!(
    ConfigMap => config_maps,
    Service => services,
    ServiceAccount => service_accounts,
    Role => roles,
    RoleBinding => role_bindings,
    PodDisruptionBudget => pdbs;
    // The admin client Deployment's watch selects nothing (a user's Deployment of that name
    // must be seen), so a cache of it would hold every Deployment in scope.
    uncached Deployment
);

/// Every scope's caches; empty until the controllers start (commands that run no controller
/// read everything from the API server).
#[derive(Clone, Default)]
pub struct OwnedCache {
    scopes: Arc<RwLock<Vec<Scope>>>,
    /// `kind/namespace/name` → this controller's last write to the object, for the kinds whose
    /// writes are recorded.
    written: Arc<Mutex<HashMap<String, Written>>>,
    /// `namespace/cluster` → what decides whether the pod cache stands for a LIST.
    cluster_pods: Arc<Mutex<HashMap<String, ClusterPods>>>,
}

/// This controller's last write to an object.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Written {
    /// Applied or patched; the write returned this `metadata.uid` and `metadata.generation`
    /// (a re-created object starts its generations again).
    Object { uid: String, generation: i64 },
    /// Deleted: until the next write, only the API server knows whether it is gone.
    Deleted,
}

fn written_key<K: kube::Resource<DynamicType = ()>>(namespace: &str, name: &str) -> String {
    format!("{}/{namespace}/{name}", K::kind(&()))
}

fn cluster_key(namespace: &str, cluster: &str) -> String {
    format!("{namespace}/{cluster}")
}

/// The namespace a controller watches (`None`: all) and its caches.
type Scope = (Option<String>, Stores);

impl std::fmt::Debug for OwnedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scopes = self
            .scopes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("OwnedCache")
            .field("scopes", &scopes)
            .finish()
    }
}

impl OwnedCache {
    /// Adds the caches of a controller watching `namespace` (`None`: every namespace).
    pub fn register(&self, namespace: Option<String>, stores: Stores) {
        self.scopes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push((namespace, stores));
    }

    /// The cached object, if a cache of its scope holds it and it holds our last recorded
    /// write to it.
    pub fn get<K: Cached>(&self, namespace: &str, name: &str) -> Option<K> {
        let stores = self.stores_of(namespace)?;
        let key = ObjectRef::new(name).within(namespace);
        let cached = K::store(&stores)?.get(&key)?;
        let written = self
            .written
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&written_key::<K>(namespace, name))
            .cloned();
        let meta = cached.meta();
        let holds_our_write = match written {
            None => true,
            Some(Written::Object { uid, generation }) => {
                meta.uid.as_deref() == Some(uid.as_str())
                    && meta.generation.unwrap_or(0) >= generation
            }
            Some(Written::Deleted) => false,
        };
        if !holds_our_write {
            return None;
        }
        K::from_stored(&cached)
    }

    /// Records an object a write of ours returned: its cached copy is used again once it is
    /// this object (same UID) with at least this generation.
    pub fn wrote<K: Cached>(&self, namespace: &str, written: &K) {
        let meta = written.meta();
        let name = meta.name.clone().unwrap_or_default();
        let what = Written::Object {
            uid: meta.uid.clone().unwrap_or_default(),
            generation: meta.generation.unwrap_or(0),
        };
        self.record::<K>(namespace, &name, what);
    }

    /// Records that we deleted an object: it is read from the API server until we write it
    /// again.
    pub fn deleted<K: Cached>(&self, namespace: &str, name: &str) {
        self.record::<K>(namespace, name, Written::Deleted);
    }

    /// Forgets what we wrote to an object (its owner is gone).
    pub fn forget<K: Cached>(&self, namespace: &str, name: &str) {
        self.written
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&written_key::<K>(namespace, name));
    }

    /// The pods of cluster `cluster` that match `selector`, from the pod cache when it can stand
    /// for a LIST (`pod_cache`): it has listed once and a LIST proved it complete for the
    /// StatefulSets as `sets` are now, and it shows our pod writes.
    pub fn pods<'a>(
        &self,
        namespace: &str,
        cluster: &str,
        selector: &BTreeMap<String, String>,
        sets: impl IntoIterator<Item = Option<&'a StatefulSet>> + Clone,
    ) -> Option<Vec<Pod>> {
        let stores = self.stores_of(namespace)?;
        // Before its first list the watch's cache is empty, not the cluster.
        stores.pods.wait_until_ready().now_or_never()?.ok()?;
        let cached: Vec<Pod> = stores
            .pods
            .state_filter(|p| {
                p.meta().namespace.as_deref() == Some(namespace)
                    && pod_cache::matches(p.meta(), selector)
            })
            .iter()
            .map(|p| p.pod())
            .collect();
        let mut all = self
            .cluster_pods
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let state = all.get_mut(&cluster_key(namespace, cluster))?;
        state.trust(sets, &cached).then_some(cached)
    }

    /// Records what a LIST of the cluster's pods proves about the pod cache.
    pub fn listed<'a>(
        &self,
        namespace: &str,
        cluster: &str,
        sets: impl IntoIterator<Item = Option<&'a StatefulSet>> + Clone,
        listed: &[Pod],
    ) {
        self.cluster_pods
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(cluster_key(namespace, cluster))
            .or_default()
            .proof = PodProof::from_list(sets, listed);
    }

    /// Records a write of ours to a pod of the cluster: its pods are listed until the cache
    /// shows it.
    pub fn pod_written(&self, namespace: &str, cluster: &str, write: PodWrite) {
        self.cluster_pods
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(cluster_key(namespace, cluster))
            .or_default()
            .pending
            .push(write);
    }

    /// Forgets what was recorded about the cluster's pods (it is gone).
    pub fn forget_pods(&self, namespace: &str, cluster: &str) {
        self.cluster_pods
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&cluster_key(namespace, cluster));
    }

    /// The caches of the scope that holds `namespace` (handles: clones share the stores).
    fn stores_of(&self, namespace: &str) -> Option<Stores> {
        self.scopes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|(scope, _)| scope.as_deref().is_none_or(|s| s == namespace))
            .map(|(_, stores)| stores.clone())
    }

    fn record<K: Cached>(&self, namespace: &str, name: &str, what: Written) {
        self.written
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(written_key::<K>(namespace, name), what);
    }
}

#[cfg(test)]
mod tests {
    use kube::api::ObjectMeta;
    use kube::runtime::reflector::store;
    use kube::runtime::watcher::Event;

    use super::*;

    fn config_map(ns: &str, name: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        }
    }

    #[test]
    fn reads_the_scope_of_the_namespace_and_misses_what_no_cache_holds() {
        let (config_maps, mut writer) = store::<ConfigMap>();
        writer.apply_watcher_event(&Event::Apply(config_map("a", "c-proxy")));
        let stores = Stores {
            config_maps,
            ..Stores::default()
        };
        let cache = OwnedCache::default();
        assert!(
            cache.get::<ConfigMap>("a", "c-proxy").is_none(),
            "no scope yet"
        );
        cache.register(Some("a".into()), stores);
        assert!(cache.get::<ConfigMap>("a", "c-proxy").is_some());
        assert!(cache.get::<ConfigMap>("a", "c-target").is_none());
        assert!(
            cache.get::<ConfigMap>("b", "c-proxy").is_none(),
            "other scope"
        );
        assert!(cache.get::<Service>("a", "c-proxy").is_none(), "other kind");
        assert!(
            cache.get::<Deployment>("a", "c-proxy").is_none(),
            "never cached"
        );
    }

    fn packed(uid: &str, generation: i64) -> Event<PackedStatefulSet> {
        Event::Apply(PackedStatefulSet::pack(statefulset(uid, generation)))
    }

    fn statefulset(uid: &str, generation: i64) -> StatefulSet {
        StatefulSet {
            metadata: ObjectMeta {
                name: Some("c-target".into()),
                uid: Some(uid.into()),
                namespace: Some("a".into()),
                generation: Some(generation),
                ..ObjectMeta::default()
            },
            ..StatefulSet::default()
        }
    }

    #[test]
    fn a_statefulset_is_read_fresh_until_its_cache_holds_our_last_write() {
        let (statefulsets, mut writer) = store::<PackedStatefulSet>();
        writer.apply_watcher_event(&packed("u1", 3));
        let cache = OwnedCache::default();
        cache.register(
            None,
            Stores {
                statefulsets,
                ..Stores::default()
            },
        );
        let cached = |c: &OwnedCache| {
            c.get::<StatefulSet>("a", "c-target")
                .and_then(|s| s.metadata.generation)
        };
        assert_eq!(cached(&cache), Some(3), "no write of ours yet");
        cache.wrote("a", &statefulset("u1", 4));
        assert_eq!(cached(&cache), None, "the cache lags behind our write");
        writer.apply_watcher_event(&packed("u1", 4));
        assert_eq!(cached(&cache), Some(4));
        writer.apply_watcher_event(&packed("u1", 5));
        assert_eq!(cached(&cache), Some(5), "someone else's later change");
        cache.deleted::<StatefulSet>("a", "c-target");
        assert_eq!(cached(&cache), None, "deleted by us: ask the API server");
        cache.wrote("a", &statefulset("u2", 1));
        assert_eq!(
            cached(&cache),
            None,
            "re-created by us, the old one still cached"
        );
        writer.apply_watcher_event(&packed("u2", 1));
        assert_eq!(cached(&cache), Some(1));
        cache.deleted::<StatefulSet>("a", "c-target");
        cache.forget::<StatefulSet>("a", "c-target");
        assert_eq!(cached(&cache), Some(1), "nothing recorded any more");
        assert_eq!(
            cache.get::<ConfigMap>("a", "c-target").map(|_| ()),
            None,
            "other kinds keep their own records"
        );
    }

    fn labelled_pod(ns: &str, name: &str, cluster: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                uid: Some(format!("uid-{name}")),
                labels: Some(BTreeMap::from([
                    ("app.kubernetes.io/name".to_string(), cluster.to_string()),
                    (
                        crate::build::labels::MANAGED_BY.to_string(),
                        crate::build::labels::MANAGED_BY_VALUE.to_string(),
                    ),
                ])),
                ..ObjectMeta::default()
            },
            ..Pod::default()
        }
    }

    #[test]
    fn a_clusters_pods_come_from_the_cache_once_it_has_listed_and_a_list_proved_it() {
        let (pods, mut writer) = store::<CachedPod>();
        let cache = OwnedCache::default();
        cache.register(
            None,
            Stores {
                pods,
                ..Stores::default()
            },
        );
        let selector = BTreeMap::from([("app.kubernetes.io/name".to_string(), "c".to_string())]);
        let mine = labelled_pod("a", "c-proxy-0", "c");
        let names = |p: Option<Vec<Pod>>| {
            p.map(|ps| {
                ps.into_iter()
                    .filter_map(|p| p.metadata.name)
                    .collect::<Vec<_>>()
            })
        };
        cache.listed("a", "c", [None, None], std::slice::from_ref(&mine));
        assert_eq!(
            names(cache.pods("a", "c", &selector, [None, None])),
            None,
            "the watch has not listed yet"
        );
        writer.apply_watcher_event(&Event::Init);
        for pod in [
            mine.clone(),
            labelled_pod("a", "d-proxy-0", "d"),
            labelled_pod("b", "c-proxy-0", "c"),
        ] {
            writer.apply_watcher_event(&Event::InitApply(CachedPod::of(pod)));
        }
        writer.apply_watcher_event(&Event::InitDone);
        assert_eq!(
            names(cache.pods("a", "c", &selector, [None, None])),
            Some(vec!["c-proxy-0".to_string()]),
            "this namespace, this cluster"
        );
        assert_eq!(
            names(cache.pods("a", "x", &selector, [None, None])),
            None,
            "never listed"
        );
        cache.pod_written(
            "a",
            "c",
            PodWrite::Deleted {
                name: "c-proxy-0".into(),
                uid: "uid-c-proxy-0".into(),
            },
        );
        assert_eq!(names(cache.pods("a", "c", &selector, [None, None])), None);
        writer.apply_watcher_event(&Event::Delete(CachedPod::of(mine)));
        assert_eq!(
            names(cache.pods("a", "c", &selector, [None, None])),
            Some(vec![]),
            "our delete is in the cache"
        );
        cache.forget_pods("a", "c");
        assert_eq!(names(cache.pods("a", "c", &selector, [None, None])), None);
    }
}

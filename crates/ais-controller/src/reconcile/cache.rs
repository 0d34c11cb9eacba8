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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Resource as _;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::time::Instant;

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

impl Stores {
    /// Resolves once every cache has listed (or lost its watch for good).
    async fn listed(self) {
        let _ = tokio::join!(
            self.statefulsets.wait_until_ready(),
            self.config_maps.wait_until_ready(),
            self.services.wait_until_ready(),
            self.service_accounts.wait_until_ready(),
            self.roles.wait_until_ready(),
            self.role_bindings.wait_until_ready(),
            self.pdbs.wait_until_ready(),
            self.pods.wait_until_ready(),
        );
    }

    /// The caches whose watch has not listed yet, by the resource they hold.
    fn unlisted(&self) -> Vec<&'static str> {
        fn listed<K: Clone + kube::Resource<DynamicType = ()>>(store: &Store<K>) -> bool {
            store.wait_until_ready().now_or_never().is_some()
        }
        [
            ("statefulsets", listed(&self.statefulsets)),
            ("configmaps", listed(&self.config_maps)),
            ("services", listed(&self.services)),
            ("serviceaccounts", listed(&self.service_accounts)),
            ("roles", listed(&self.roles)),
            ("rolebindings", listed(&self.role_bindings)),
            ("poddisruptionbudgets", listed(&self.pdbs)),
            ("pods", listed(&self.pods)),
        ]
        .into_iter()
        .filter_map(|(name, listed)| (!listed).then_some(name))
        .collect()
    }
}

/// How long, from its start, a controller's reconciles wait for its caches' first lists.
pub const FILL_WAIT: Duration = Duration::from_secs(30);

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

impl Scope {
    fn covers(&self, namespace: &str) -> bool {
        self.namespace.as_deref().is_none_or(|s| s == namespace)
    }
}

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
    /// Whether a reconcile has logged caches that did not fill (once is enough).
    told_unfilled: Arc<AtomicBool>,
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

/// A controller's caches.
struct Scope {
    /// The namespace it watches; `None`: all.
    namespace: Option<String>,
    stores: Stores,
    /// Resolves once every cache has listed. Shared, because every waiting reconcile must be
    /// woken: kube's `Store::wait_until_ready` wakes only the last of several waiters, and the
    /// others waited out [`FILL_WAIT`] (measured: a restart with 200 clusters took 30 s).
    listed: Shared<BoxFuture<'static, ()>>,
    /// Until when a reconcile waits for them ([`OwnedCache::filled`]).
    wait_until: Instant,
}

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
        let scope = Scope {
            namespace,
            listed: stores.clone().listed().boxed().shared(),
            stores,
            wait_until: Instant::now() + FILL_WAIT,
        };
        self.scopes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(scope);
    }

    /// True the first time it is asked: whether to log caches that did not fill.
    pub fn tell_unfilled(&self) -> bool {
        !self.told_unfilled.swap(true, Ordering::Relaxed)
    }

    /// Waits until every cache of `namespace`'s scope has listed once, or its first
    /// [`FILL_WAIT`] have passed; then the caches still empty, by resource.
    ///
    /// A reconcile before its caches are filled reads every object from the API server: when
    /// the controller starts with hundreds of clusters present, that is thousands of GETs of
    /// objects the lists are bringing anyway (decision 019). The wait is bounded so that a
    /// watch that cannot list (RBAC, an API not served) costs reads, never reconciles.
    pub async fn filled(&self, namespace: &str) -> Result<(), Vec<&'static str>> {
        let scope = self
            .scopes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|scope| scope.covers(namespace))
            .map(|scope| (scope.listed.clone(), scope.stores.clone(), scope.wait_until));
        let Some((listed, stores, until)) = scope else {
            return Ok(());
        };
        match tokio::time::timeout_at(until, listed).await {
            Ok(()) => Ok(()),
            Err(_) => Err(stores.unlisted()),
        }
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
            .find(|scope| scope.covers(namespace))
            .map(|scope| scope.stores.clone())
    }

    fn record<K: Cached>(&self, namespace: &str, name: &str, what: Written) {
        self.written
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(written_key::<K>(namespace, name), what);
    }
}

#[cfg(test)]
mod tests;

//! Watch caches of the owned objects the controller compares before it applies them
//! (ConfigMaps, Services, the ServiceAccount, Role and RoleBinding, the PDB), so that a
//! reconcile that changes nothing reads them from memory instead of issuing a GET each.
//!
//! The caches only ever save a read: an object that is not in its cache (the watch has not
//! listed yet, the object lacks the managed-by label the watches select on, as objects of the
//! reference operator do until our first apply labels them) is read from the API server. A cached
//! object that lags behind the live one costs at most one apply that changes nothing; the change
//! that made it lag is itself a watch event, so the reconcile it triggers sees the new version.

use std::sync::{Arc, PoisonError, RwLock};

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::runtime::reflector::{ObjectRef, Store};

/// The caches of one controller's scope (one watched namespace, or all of them).
#[derive(Clone)]
#[allow(missing_debug_implementations)] // `Store` is not `Debug`; `OwnedCache` prints the count.
pub struct Stores {
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
}

/// A kind whose objects may be cached: [`Cached::store`] names its cache, if it has one.
pub trait Cached: kube::Resource<DynamicType = ()> + Clone + 'static {
    /// This kind's cache among `stores`; `None`: always read from the API server.
    fn store(stores: &Stores) -> Option<&Store<Self>>;
}

macro_rules! cached {
    ($($kind:ty => $field:ident),* ; uncached $($plain:ty),*) => {
        $(impl Cached for $kind {
            fn store(stores: &Stores) -> Option<&Store<Self>> {
                Some(&stores.$field)
            }
        })*
        $(impl Cached for $plain {
            fn store(_: &Stores) -> Option<&Store<Self>> {
                None
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
    // StatefulSets are read fresh: the plan decides on their status. The admin client
    // Deployment's watch selects nothing (a user's Deployment of that name must be seen), so a
    // cache of it would hold every Deployment in scope.
    uncached StatefulSet, Deployment
);

/// Every scope's caches; empty until the controllers start (commands that run no controller
/// read everything from the API server).
#[derive(Clone, Default)]
pub struct OwnedCache(Arc<RwLock<Vec<Scope>>>);

/// The namespace a controller watches (`None`: all) and its caches.
type Scope = (Option<String>, Stores);

impl std::fmt::Debug for OwnedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scopes = self.0.read().unwrap_or_else(PoisonError::into_inner).len();
        f.debug_struct("OwnedCache")
            .field("scopes", &scopes)
            .finish()
    }
}

impl OwnedCache {
    /// Adds the caches of a controller watching `namespace` (`None`: every namespace).
    pub fn register(&self, namespace: Option<String>, stores: Stores) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push((namespace, stores));
    }

    /// The cached object, if a cache of its scope holds it.
    pub fn get<K: Cached>(&self, namespace: &str, name: &str) -> Option<K> {
        let scopes = self.0.read().unwrap_or_else(PoisonError::into_inner);
        let (_, stores) = scopes
            .iter()
            .find(|(scope, _)| scope.as_deref().is_none_or(|s| s == namespace))?;
        let key = ObjectRef::new(name).within(namespace);
        K::store(stores)?.get(&key).map(|obj| (*obj).clone())
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
            services: store().0,
            service_accounts: store().0,
            roles: store().0,
            role_bindings: store().0,
            pdbs: store().0,
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
            cache.get::<StatefulSet>("a", "c-proxy").is_none(),
            "never cached"
        );
    }
}

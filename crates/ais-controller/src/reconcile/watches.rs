//! The watches behind the controller: each owned kind's watch fills its cache
//! (`reconcile::cache`), trimmed or packed as it arrives, and triggers the owners' reconciles.

use ais_crd::AIStore;
use futures_util::{StreamExt, TryStreamExt};
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Client, Resource};

use super::apply::FIELD_MANAGER;
use crate::migrate::REFERENCE_MANAGER;

/// The events of an owned kind's watch that trigger its owners' reconciles.
pub type OwnedEvents<K> = futures_util::stream::BoxStream<'static, Result<K, watcher::Error>>;

/// A namespaced kind the controller watches into a cache.
pub trait WatchedKind:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
    + Send
    + 'static
{
}

impl<K> WatchedKind for K where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + 'static
{
}

/// A watch of an owned kind (managed-by label, `trim` applied to each object: caches hold
/// thousands of objects) that fills a cache, and the events that trigger the owners' reconciles.
pub fn cached_watch<K>(
    client: &Client,
    ns: Option<&str>,
    config: &watcher::Config,
    trim: fn(&mut K),
) -> (Store<K>, Option<OwnedEvents<K>>)
where
    K: WatchedKind + Sync,
{
    cached_watch_as(client, ns, config, move |mut obj: K| {
        trim(&mut obj);
        obj
    })
}

/// As [`cached_watch`], the cache holding what `pack` makes of each object.
pub fn cached_watch_as<K, S>(
    client: &Client,
    ns: Option<&str>,
    config: &watcher::Config,
    pack: impl Fn(K) -> S + Send + 'static,
) -> (Store<S>, Option<OwnedEvents<S>>)
where
    K: WatchedKind,
    S: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let events = watcher(api::<K>(client, ns), config.clone())
        .default_backoff()
        .map_ok(move |event| map_event(event, &pack))
        .reflect(writer)
        .touched_objects()
        .boxed();
    (reader, Some(events))
}

fn map_event<K, S>(event: watcher::Event<K>, f: impl Fn(K) -> S) -> watcher::Event<S> {
    use watcher::Event;
    match event {
        Event::Apply(obj) => Event::Apply(f(obj)),
        Event::Delete(obj) => Event::Delete(f(obj)),
        Event::Init => Event::Init,
        Event::InitApply(obj) => Event::InitApply(f(obj)),
        Event::InitDone => Event::InitDone,
    }
}

/// Objects per page of a watch's (re-)list. Each page is deserialized whole, spec and managed
/// fields included, before the trim runs, and every watch lists at once when the process
/// starts: at kube-runtime's default of 500, the pages were most of a restart's memory at 200
/// clusters (`docs/benchmarks.md`). Smaller pages cost more LIST requests, reads only, at start.
pub const LIST_PAGE_SIZE: u32 = 50;

/// Drops an object's managed fields: nothing reads them of the kinds this trims.
pub fn drop_managed_fields<K: Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
}

/// Keeps, of an AIStore's managed fields, when we and the reference operator last wrote it.
pub fn keep_write_times(ais: &mut AIStore) {
    if let Some(entries) = ais.metadata.managed_fields.as_mut() {
        entries.retain(|f| {
            matches!(f.manager.as_deref(), Some(m) if m == FIELD_MANAGER || m == REFERENCE_MANAGER)
        });
        for entry in entries.iter_mut() {
            entry.fields_v1 = None;
        }
    }
}

/// The controller, its reconciles also triggered by `events` (taken: each stream is used once).
pub fn owns_cached<K>(
    controller: Controller<AIStore>,
    events: &mut Option<OwnedEvents<K>>,
) -> Controller<AIStore>
where
    K: Resource<DynamicType = ()> + Send + 'static,
{
    match events.take() {
        Some(events) => controller.owns_stream(events),
        None => controller,
    }
}

/// The API of a namespaced kind in `ns`, or in every namespace.
pub fn api<K: WatchedKind>(client: &Client, ns: Option<&str>) -> Api<K> {
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

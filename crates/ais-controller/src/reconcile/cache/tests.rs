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

#[tokio::test(start_paused = true)]
async fn reconciles_wait_for_the_first_lists_for_a_bounded_time() {
    let cache = OwnedCache::default();
    assert_eq!(
        cache.filled("a").await,
        Ok(()),
        "no scope: nothing to wait for"
    );
    let (pods, mut pod_writer) = store::<CachedPod>();
    let (config_maps, mut config_map_writer) = store::<ConfigMap>();
    cache.register(
        None,
        Stores {
            pods,
            config_maps,
            ..Stores::default()
        },
    );
    let started = Instant::now();
    pod_writer.apply_watcher_event(&Event::InitDone);
    let waiting = cache.filled("a");
    tokio::pin!(waiting);
    assert!(
        futures_util::poll!(waiting.as_mut()).is_pending(),
        "the ConfigMaps have not listed"
    );
    config_map_writer.apply_watcher_event(&Event::InitDone);
    assert_eq!(waiting.await, Ok(()));
    assert_eq!(started.elapsed(), Duration::ZERO);

    let late = OwnedCache::default();
    let (pods, _never_listed) = store::<CachedPod>();
    late.register(
        Some("b".into()),
        Stores {
            pods,
            ..Stores::default()
        },
    );
    let started = Instant::now();
    assert_eq!(
        late.filled("b").await,
        Err(vec!["pods"]),
        "a watch that never lists"
    );
    assert_eq!(started.elapsed(), FILL_WAIT);
    assert_eq!(late.filled("b").await, Err(vec!["pods"]));
    assert_eq!(
        started.elapsed(),
        FILL_WAIT,
        "waited once, not per reconcile"
    );
}

#[tokio::test(start_paused = true)]
async fn every_waiting_reconcile_is_woken_when_the_caches_fill() {
    // kube's runner polls every reconcile from one task, each with a waker of its own.
    let cache = OwnedCache::default();
    let (pods, mut writer) = store::<CachedPod>();
    cache.register(
        None,
        Stores {
            pods,
            ..Stores::default()
        },
    );
    let mut waiting: futures_util::stream::FuturesUnordered<_> =
        (0..3).map(|_| cache.filled("a")).collect();
    assert!(futures_util::poll!(futures_util::StreamExt::next(&mut waiting)).is_pending());
    let started = Instant::now();
    writer.apply_watcher_event(&Event::InitDone);
    let results: Vec<_> = futures_util::StreamExt::collect(waiting).await;
    assert_eq!(results, vec![Ok(()); 3]);
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "none waited out FILL_WAIT"
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

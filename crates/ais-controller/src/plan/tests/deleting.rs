//! Plans of deleted clusters: decommission, cleanup, host cleanup, finalizer.

use super::*;

#[test]
fn deletion_shuts_ais_down_then_stops_the_pods() {
    let p = deleted(ready(1), Some(ClusterState::Ready)).plan();
    assert_eq!(state(&p), Some(ClusterState::Decommissioning));
    let stop = Action::StopAis {
        decommission: false,
        rm_user_data: false,
    };
    let pos = |a: &Action| p.actions.iter().position(|x| x == a).unwrap();
    assert!(pos(&stop) < pos(&Action::ScaleToZero(Role::Proxy)));
    assert!(has(&p, &Action::ScaleToZero(Role::Target)));
    assert_eq!(p.requeue, Requeue::After(CHECK));
}

#[test]
fn deletion_with_cleanup_decommissions_and_removes_data_when_asked() {
    let w = ready(1).with(|a| {
        a.spec.cleanup_metadata = Some(true);
        a.spec.cleanup_data = Some(true);
    });
    let p = deleted(w, Some(ClusterState::Decommissioning)).plan();
    assert!(has(
        &p,
        &Action::StopAis {
            decommission: true,
            rm_user_data: true
        }
    ));
}

#[test]
fn deletion_with_auth_still_stops_ais() {
    // The executor authenticates the call with the operator's token; the plan asks for it
    // as for any cluster (the token is the observe step's and the executor's business).
    let w = ready(1).with(|a| {
        a.spec.auth = Some(
            serde_json::from_value(serde_json::json!({
                "serviceURL": "http://authn.example:52001",
                "usernamePassword": {"secretName": "creds"}
            }))
            .unwrap(),
        );
    });
    let p = deleted(w, Some(ClusterState::Decommissioning)).plan();
    assert!(has(
        &p,
        &Action::StopAis {
            decommission: false,
            rm_user_data: false
        }
    ));
}

#[test]
fn pods_gone_move_on_to_cleaning_resources() {
    let mut w = deleted(ready(1), Some(ClusterState::Decommissioning));
    w.o.pods = PerRole::default();
    let d = w.desired();
    w.o.statefulsets = PerRole {
        proxy: Some(live_sts(&d.proxy_statefulset, 0, 0, "r1", "r1")),
        target: Some(live_sts(&d.target_statefulset, 0, 0, "r1", "r1")),
    };
    let p = w.plan();
    assert_eq!(state(&p), Some(ClusterState::CleaningResources));
    assert!(!has(&p, &Action::ScaleToZero(Role::Proxy)));
}

#[test]
fn cleaning_deletes_what_is_left_and_pvcs_only_with_cleanup_metadata() {
    let found = |kind, name: &str, deleting| Found {
        kind,
        name: name.into(),
        owners: vec![],
        deleting,
    };
    let mut w = deleted(ready(1), Some(ClusterState::CleaningResources));
    w.o.teardown = Some(Teardown {
        owned: vec![
            found(OwnedKind::ConfigMap, "ais-global-cm", false),
            found(OwnedKind::StatefulSet, "ais-target", true),
        ],
        pvcs: vec!["ais-ais-sda-ais-target-0".into()],
        ..Teardown::default()
    });
    let p = w.clone().plan();
    assert!(has(
        &p,
        &Action::Delete(OwnedKind::ConfigMap, "ais-global-cm".into())
    ));
    assert!(
        !has(
            &p,
            &Action::Delete(OwnedKind::StatefulSet, "ais-target".into())
        ),
        "already terminating"
    );
    assert!(!p.actions.iter().any(|a| matches!(a, Action::DeletePvc(_))));
    assert_eq!(p.requeue, Requeue::After(CHECK));
    let p = w
        .clone()
        .with(|a| a.spec.cleanup_metadata = Some(true))
        .plan();
    assert!(has(
        &p,
        &Action::DeletePvc("ais-ais-sda-ais-target-0".into())
    ));
    w.o.teardown = Some(Teardown::default());
    assert_eq!(state(&w.plan()), Some(ClusterState::Finalized));
}

#[test]
fn host_cleanup_creates_one_job_per_node_once_then_waits() {
    let host = |a: &mut AIStore| {
        a.spec.cleanup_metadata = Some(true);
        a.spec.state_storage = None;
        a.spec.state_storage_class = None;
        a.spec.hostpath_prefix = Some("/etc/ais".into());
    };
    let mut w = deleted(ready(1).with(host), Some(ClusterState::CleaningResources));
    w.o.teardown = Some(Teardown::default());
    assert_eq!(state(&w.plan()), Some(ClusterState::HostCleanup));
    w.o.state = Some(ClusterState::HostCleanup);
    w.o.teardown = Some(Teardown {
        cleanup_nodes: vec![
            ("n1".into(), "cleanup-ais-n1".into()),
            ("n2".into(), "cleanup-ais-n2".into()),
        ],
        ..Teardown::default()
    });
    let p = w.plan();
    let jobs: Vec<&Action> = p
        .actions
        .iter()
        .filter(|a| matches!(a, Action::CreateCleanupJob { .. }))
        .collect();
    assert_eq!(jobs.len(), 2);
    assert!(has(
        &p,
        &Action::Annotate {
            key: CLEANUP_STARTED_ANNOTATION,
            value: "true".into()
        }
    ));
    w.o.cleanup_started = true;
    w.o.teardown = Some(Teardown {
        jobs: vec![
            JobView {
                name: "a".into(),
                succeeded: true,
                age_seconds: 5,
            },
            JobView {
                name: "b".into(),
                succeeded: false,
                age_seconds: 5,
            },
        ],
        ..Teardown::default()
    });
    let p = w.plan();
    assert!(has(&p, &Action::DeleteJob("a".into())));
    assert!(!has(&p, &Action::DeleteJob("b".into())));
    assert_eq!(state(&p), None, "still in HostCleanup");
    w.o.teardown = Some(Teardown::default());
    assert_eq!(state(&w.plan()), Some(ClusterState::Finalized));
}

#[test]
fn finalized_removes_the_finalizer_and_writes_no_status() {
    let p = deleted(ready(1), Some(ClusterState::Finalized)).plan();
    assert_eq!(p.actions, vec![Action::RemoveFinalizer]);
    assert!(p.status.is_none());
}

#[test]
fn host_cleanup_after_a_crash_creates_only_the_missing_jobs() {
    let host = |a: &mut AIStore| {
        a.spec.cleanup_metadata = Some(true);
        a.spec.state_storage = None;
        a.spec.state_storage_class = None;
        a.spec.hostpath_prefix = Some("/etc/ais".into());
    };
    // The first Job was created, then the controller died before it recorded the start.
    let mut w = deleted(ready(1).with(host), Some(ClusterState::HostCleanup));
    w.o.teardown = Some(Teardown {
        cleanup_nodes: vec![
            ("n1".into(), "cleanup-ais-n1".into()),
            ("n2".into(), "cleanup-ais-n2".into()),
        ],
        jobs: vec![JobView {
            name: "cleanup-ais-n1".into(),
            succeeded: false,
            age_seconds: 3,
        }],
        ..Teardown::default()
    });
    let p = w.plan();
    let created: Vec<&Action> = p
        .actions
        .iter()
        .filter(|a| matches!(a, Action::CreateCleanupJob { .. }))
        .collect();
    assert_eq!(
        created,
        vec![&Action::CreateCleanupJob { node: "n2".into() }]
    );
}

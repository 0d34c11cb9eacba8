//! Table-driven plan tests: each row is one observed world (a fixture) and what the plan must
//! do in it. The state machine checks at the end run every fixture from every state.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use ais_client::Smap;
use ais_crd::{AIStore, AIStoreSpec, ClusterState};
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};

use super::transitions::{TRANSITIONS, allowed, diagram_edges};
use super::*;
use crate::build::inventory::Found;
use crate::build::testing::{aistore, facts};
use crate::build::{self, Facts};
use crate::lifecycle::testing::{pod, smap};

const MAINT: u64 = 4;

/// An observed world and the AIStore it belongs to.
#[derive(Clone)]
struct World {
    ais: AIStore,
    o: Observed,
    deleting: bool,
}

impl World {
    fn spec(&self) -> AIStoreSpec {
        ais_crd::legacy::effective_spec(&ais_crd::default_spec(
            &self.ais.spec,
            &ais_crd::Defaults::default(),
        ))
    }

    fn facts(&self) -> Facts {
        Facts {
            rebalance_allowed: self.o.rebalance_on,
            previous_restart_hash: self.o.restart_hash.clone(),
            live_target_replicas: self
                .o
                .statefulsets
                .target
                .as_ref()
                .and_then(|s| s.spec.as_ref()?.replicas)
                .unwrap_or(0),
            ..facts()
        }
    }

    fn desired(&self) -> Desired {
        build::build(&self.ais, &self.facts()).unwrap()
    }

    fn plan(&self) -> Plan {
        let spec = self.spec();
        let desired = self.desired();
        let dir = build::cleanup::state_dir(&spec, "ais", "ais");
        let wanted = if self.deleting {
            Wanted::Deleting {
                spec: &spec,
                host_state_dir: dir.as_deref(),
            }
        } else {
            Wanted::Running {
                spec: &spec,
                desired: &desired,
            }
        };
        plan(&wanted, &self.o)
    }

    /// Sets a spec field and returns the world.
    fn with(mut self, f: impl FnOnce(&mut AIStore)) -> Self {
        f(&mut self.ais);
        self
    }

    fn observe(mut self, f: impl FnOnce(&mut Observed)) -> Self {
        f(&mut self.o);
        self
    }
}

/// A live StatefulSet as the StatefulSet controller reports it: `ready` of `replicas` pods
/// ready, on revision `current` (the update revision is `update`).
fn live_sts(
    desired: &StatefulSet,
    replicas: i32,
    ready: i32,
    current: &str,
    update: &str,
) -> StatefulSet {
    let mut s = desired.clone();
    s.metadata.generation = Some(1);
    if let Some(spec) = s.spec.as_mut() {
        spec.replicas = Some(replicas);
    }
    let updated = if current == update { replicas } else { 0 };
    s.status = Some(StatefulSetStatus {
        replicas,
        ready_replicas: Some(ready),
        updated_replicas: Some(updated),
        current_replicas: Some(replicas),
        current_revision: Some(current.into()),
        update_revision: Some(update.into()),
        observed_generation: Some(1),
        ..StatefulSetStatus::default()
    });
    s
}

fn connected(m: Smap) -> AisView {
    AisView::Connected {
        health: Ok(()),
        smap: Ok(Box::new(m)),
    }
}

/// A converged cluster of `targets` targets and one proxy: Ready, templates as desired,
/// every pod ready on revision `r1` and in the cluster map.
fn ready(targets: i32) -> World {
    let mut ais = aistore();
    ais.spec.target_spec.daemon.size = Some(targets);
    ais.spec.target_spec.disable_pod_anti_affinity = Some(true);
    let mut w = World {
        ais,
        o: Observed {
            generation: 1,
            state: Some(ClusterState::Ready),
            created: true,
            rebalance_on: true,
            ..Observed::default()
        },
        deleting: false,
    };
    let d = w.desired();
    w.o.restart_hash = Some(d.restart_hash.clone());
    w.o.statefulsets = PerRole {
        proxy: Some(live_sts(&d.proxy_statefulset, 1, 1, "r1", "r1")),
        target: Some(live_sts(
            &d.target_statefulset,
            targets,
            targets,
            "r1",
            "r1",
        )),
    };
    w.o.pods = PerRole {
        proxy: vec![pod("ais-proxy", 0, "r1")],
        target: (0..targets).map(|i| pod("ais-target", i, "r1")).collect(),
    };
    let tmap: Vec<(i32, u64)> = (0..targets).map(|i| (i, 0)).collect();
    w.o.ais = connected(smap(&[(0, 0)], &tmap, None));
    w
}

/// A new AIStore: nothing exists yet.
fn fresh() -> World {
    let mut w = ready(1);
    w.o = Observed {
        generation: 1,
        ..Observed::default()
    };
    w
}

fn deleted(mut w: World, state: Option<ClusterState>) -> World {
    w.deleting = true;
    w.o.state = state;
    w.o.teardown = Some(Teardown::default());
    w
}

fn state(p: &Plan) -> Option<ClusterState> {
    p.status.as_ref().and_then(|s| s.state)
}

fn has(p: &Plan, a: &Action) -> bool {
    p.actions.contains(a)
}

fn deletes_pods(p: &Plan) -> Vec<String> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::DeletePod(name) => Some(name.clone()),
            _ => None,
        })
        .collect()
}

fn ais_calls(p: &Plan) -> Vec<AisCall> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::Ais(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

fn sts_applies(p: &Plan) -> Vec<(Role, i32, bool)> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::ApplyStatefulSet {
                role,
                replicas,
                new_template,
                ..
            } => Some((*role, *replicas, *new_template)),
            _ => None,
        })
        .collect()
}

fn keep(role: Role, replicas: i32) -> Action {
    Action::ApplyStatefulSet {
        role,
        replicas,
        new_template: false,
        partition: None,
    }
}

/// Changes the image of a role's live template, as a pending upgrade looks.
fn old_image(w: &mut World, role: Role) {
    let sts = w.o.statefulsets.get_mut(role).as_mut().unwrap();
    let spec = sts.spec.as_mut().unwrap().template.spec.as_mut().unwrap();
    spec.containers[0].image = Some("aistorage/aisnode:old".into());
}

#[test]
fn a_converged_cluster_applies_nothing_new_and_stays_ready() {
    let p = ready(1).plan();
    assert_eq!(
        p.actions,
        vec![
            Action::ApplyInventory,
            Action::SweepInventory,
            keep(Role::Proxy, 1),
            keep(Role::Target, 1),
            Action::PushConfig,
        ]
    );
    assert_eq!(state(&p), Some(ClusterState::Ready));
    assert_eq!(p.requeue, Requeue::AwaitChange);
    let ready_cond = p.status.as_ref().unwrap().ready.clone().unwrap();
    assert!(ready_cond.ok);
}

#[test]
fn a_new_cluster_starts_with_one_proxy() {
    let p = fresh().plan();
    assert_eq!(sts_applies(&p), vec![(Role::Proxy, 1, true)]);
    assert!(has(
        &p,
        &Action::Annotate {
            key: RESTART_HASH_ANNOTATION,
            value: fresh().desired().restart_hash
        }
    ));
    assert_eq!(state(&p), Some(ClusterState::Initialized));
}

#[test]
fn targets_start_once_a_proxy_is_ready() {
    let mut w = fresh();
    let d = w.desired();
    w.o.statefulsets.proxy = Some(live_sts(&d.proxy_statefulset, 1, 1, "r1", "r1"));
    w.o.pods.proxy = vec![pod("ais-proxy", 0, "r1")];
    let p = w.plan();
    assert_eq!(sts_applies(&p), vec![(Role::Target, 1, true)]);
    assert_eq!(state(&p), Some(ClusterState::Created));
    assert!(p.status.unwrap().created);
}

#[test]
fn load_balancers_without_addresses_hold_everything() {
    let w = fresh().with(|a| a.spec.enable_external_lb = Some(true));
    let p = w.plan();
    assert!(sts_applies(&p).is_empty());
    assert_eq!(
        state(&p),
        Some(ClusterState::InitializingLoadBalancerService)
    );
    let w = ready(1)
        .with(|a| a.spec.enable_external_lb = Some(true))
        .observe(|o| {
            o.lb_ingress
                .insert("ais-proxy-lb".into(), vec!["10.9.0.1".into()]);
        });
    assert_eq!(
        state(&w.plan()),
        Some(ClusterState::PendingLoadBalancerService),
        "ais-target-0 has no address"
    );
}

#[test]
fn image_changed_target_2_in_maintenance_target_1_updated_restarts_target_2_only() {
    let mut w = ready(3).observe(|o| o.rebalance_on = false);
    let d = w.desired();
    w.o.statefulsets.target = Some(live_sts(&d.target_statefulset, 3, 2, "r1", "r2"));
    w.o.pods.target = vec![
        pod("ais-target", 0, "r2"),
        pod("ais-target", 1, "r2"),
        pod("ais-target", 2, "r1"),
    ];
    w.o.ais = connected(smap(&[(0, 0)], &[(0, 0), (1, 0), (2, MAINT)], None));
    w.o.state = Some(ClusterState::Upgrading);
    let p = w.plan();
    assert_eq!(deletes_pods(&p), vec!["ais-target-2".to_string()]);
    assert!(ais_calls(&p).is_empty());
    assert_eq!(state(&p), Some(ClusterState::Upgrading));
}

#[test]
fn a_target_is_put_in_maintenance_before_its_restart() {
    let mut w = ready(2).observe(|o| o.rebalance_on = false);
    let d = w.desired();
    w.o.statefulsets.target = Some(live_sts(&d.target_statefulset, 2, 2, "r1", "r2"));
    let p = w.plan();
    assert!(deletes_pods(&p).is_empty());
    assert!(matches!(
        ais_calls(&p).as_slice(),
        [AisCall::StartMaintenance { pod, .. }] if pod == "ais-target-0"
    ));
    assert_eq!(p.requeue, Requeue::After(AFTER_CALL));
}

#[test]
fn a_new_target_template_turns_rebalance_off_first() {
    let mut w = ready(2);
    old_image(&mut w, Role::Target);
    let p = w.plan();
    assert!(has(
        &p,
        &Action::SetRebalance {
            enabled: false,
            required: false
        }
    ));
    assert!(sts_applies(&p).iter().all(|(_, _, new)| !new));
    let mut w = ready(2).observe(|o| o.rebalance_on = false);
    old_image(&mut w, Role::Target);
    let p = w.plan();
    assert!(sts_applies(&p).contains(&(Role::Target, 2, true)));
    assert_eq!(state(&p), Some(ClusterState::Upgrading));
}

#[test]
fn the_only_proxy_rolls_with_partition_zero() {
    let mut w = ready(1);
    old_image(&mut w, Role::Proxy);
    let p = w.plan();
    assert!(has(
        &p,
        &Action::ApplyStatefulSet {
            role: Role::Proxy,
            replicas: 1,
            new_template: true,
            partition: Some(0)
        }
    ));
    assert!(
        !sts_applies(&p).iter().any(|(r, _, _)| *r == Role::Target),
        "targets wait for the proxies"
    );
}

#[test]
fn scale_up_by_more_than_one_turns_rebalance_off_then_scales() {
    let w = ready(1).with(|a| a.spec.target_spec.daemon.size = Some(3));
    let p = w.plan();
    assert!(has(
        &p,
        &Action::SetRebalance {
            enabled: false,
            required: false
        }
    ));
    let p = w.observe(|o| o.rebalance_on = false).plan();
    assert!(sts_applies(&p).contains(&(Role::Target, 3, false)));
    assert_eq!(state(&p), Some(ClusterState::Scaling));
}

#[test]
fn scale_down_decommissions_before_the_statefulset_shrinks() {
    let w = ready(2).with(|a| a.spec.target_spec.daemon.size = Some(1));
    let p = w.plan();
    assert!(matches!(
        ais_calls(&p).as_slice(),
        [AisCall::Decommission { pod, rm_user_data: false, .. }] if pod == "ais-target-1"
    ));
    assert!(!sts_applies(&p).contains(&(Role::Target, 1, false)));
    assert_eq!(state(&p), Some(ClusterState::Scaling));
}

#[test]
fn scale_down_without_ais_waits() {
    let w = ready(2)
        .with(|a| a.spec.target_spec.daemon.size = Some(1))
        .observe(|o| o.ais = AisView::Unavailable("no ready proxy".into()));
    let p = w.plan();
    assert!(ais_calls(&p).is_empty());
    assert!(!sts_applies(&p).contains(&(Role::Target, 1, false)));
    assert_eq!(p.requeue, Requeue::After(POLL));
}

#[test]
fn a_restarted_target_in_maintenance_is_taken_out_of_it() {
    let mut w = ready(1);
    w.o.pods.target[0].ready = false;
    w.o.ais = connected(smap(&[(0, 0)], &[(0, MAINT)], None));
    let p = w.plan();
    assert!(matches!(
        ais_calls(&p).as_slice(),
        [AisCall::StopMaintenance { pod, .. }] if pod == "ais-target-0"
    ));
}

#[test]
fn ready_needs_health_and_every_node_in_the_map() {
    let w = ready(2).observe(|o| {
        o.ais = AisView::Connected {
            health: Err("503".into()),
            smap: Ok(Box::new(smap(&[(0, 0)], &[(0, 0), (1, 0)], None))),
        }
    });
    let p = w.plan();
    assert_eq!(state(&p), Some(ClusterState::Upgrading));
    assert_eq!(p.requeue, Requeue::After(POLL));
    let w = ready(2).observe(|o| o.ais = connected(smap(&[(0, 0)], &[(0, 0)], None)));
    let p = w.plan();
    let cond = p.status.as_ref().unwrap().ready.clone().unwrap();
    assert!(cond.message.contains("1 of 2 targets"), "{cond:?}");
}

#[test]
fn first_ready_turns_rebalance_on_and_must_reach_ais() {
    let w = ready(1).observe(|o| {
        o.rebalance_on = false;
        o.state = Some(ClusterState::Created);
    });
    let p = w.plan();
    assert!(has(
        &p,
        &Action::SetRebalance {
            enabled: true,
            required: true
        }
    ));
    assert!(!has(&p, &Action::PushConfig));
    assert_eq!(state(&p), Some(ClusterState::Ready));
    assert_eq!(p.status.unwrap().cluster_id.as_deref(), Some("u1"));
}

#[test]
fn pdb_disabled_and_a_pdb_exists_sweeps_the_inventory() {
    // The sweep deletes what left the inventory; the inventory no longer has the PDB.
    let w = ready(1);
    assert!(has(&w.plan(), &Action::SweepInventory));
    let names = w.desired().names();
    assert!(!names.contains(&(OwnedKind::PodDisruptionBudget, "ais-target".into())));
    let found = vec![Found {
        kind: OwnedKind::PodDisruptionBudget,
        name: "ais-target".into(),
        owners: vec!["00000000-0000-0000-0000-000000000001".into()],
        deleting: false,
    }];
    assert_eq!(
        crate::build::inventory::orphans(&names, &found, "00000000-0000-0000-0000-000000000001"),
        vec![(OwnedKind::PodDisruptionBudget, "ais-target".to_string())]
    );
}

#[test]
fn shutdown_goes_through_shutting_down_to_shutdown() {
    let w = ready(1).with(|a| a.spec.shutdown_cluster = Some(true));
    let p = w.plan();
    assert_eq!(state(&p), Some(ClusterState::ShuttingDown));
    assert!(has(
        &p,
        &Action::SetRebalance {
            enabled: false,
            required: false
        }
    ));
    let w = w.observe(|o| {
        o.state = Some(ClusterState::ShuttingDown);
        o.rebalance_on = false;
    });
    let p = w.plan();
    assert!(has(&p, &Action::ShutdownAis));
    assert!(sts_applies(&p).contains(&(Role::Proxy, 0, false)));
    assert!(sts_applies(&p).contains(&(Role::Target, 0, false)));
    let mut w = w;
    let d = w.desired();
    w.o.statefulsets = PerRole {
        proxy: Some(live_sts(&d.proxy_statefulset, 0, 0, "r1", "r1")),
        target: Some(live_sts(&d.target_statefulset, 0, 0, "r1", "r1")),
    };
    w.o.pods = PerRole::default();
    assert_eq!(state(&w.plan()), Some(ClusterState::Shutdown));
}

#[test]
fn resume_scales_the_proxies_up_first() {
    let mut w = ready(1).observe(|o| {
        o.state = Some(ClusterState::Shutdown);
        o.rebalance_on = false;
    });
    let d = w.desired();
    w.o.statefulsets = PerRole {
        proxy: Some(live_sts(&d.proxy_statefulset, 0, 0, "r1", "r1")),
        target: Some(live_sts(&d.target_statefulset, 0, 0, "r1", "r1")),
    };
    w.o.pods = PerRole::default();
    w.o.ais = AisView::Unavailable("no ready proxy".into());
    let p = w.plan();
    assert!(sts_applies(&p).contains(&(Role::Proxy, 1, false)));
    assert!(!sts_applies(&p).contains(&(Role::Target, 1, false)));
}

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
        cleanup_nodes: vec!["n1".into(), "n2".into()],
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

/// Every fixture world the state machine checks run through, with the states a cluster can
/// be in when it looks like that.
fn worlds() -> Vec<(&'static str, World, Vec<ClusterState>)> {
    use ClusterState::*;
    let mut rolled = ready(2).observe(|o| o.rebalance_on = false);
    old_image(&mut rolled, Role::Target);
    let mut stopped = ready(1);
    let d = stopped.desired();
    stopped.o.statefulsets = PerRole {
        proxy: Some(live_sts(&d.proxy_statefulset, 0, 0, "r1", "r1")),
        target: Some(live_sts(&d.target_statefulset, 0, 0, "r1", "r1")),
    };
    stopped.o.pods = PerRole::default();
    stopped.o.ais = AisView::Unavailable("no ready proxy".into());
    let mut proxy_only = fresh();
    proxy_only.o.statefulsets.proxy = Some(live_sts(&d.proxy_statefulset, 1, 1, "r1", "r1"));
    proxy_only.o.pods.proxy = vec![pod("ais-proxy", 0, "r1")];
    let mut lb_ready = ready(1).with(|a| a.spec.enable_external_lb = Some(true));
    for name in ["ais-proxy-lb", "ais-target-0"] {
        lb_ready
            .o
            .lb_ingress
            .insert(name.into(), vec!["10.9.0.1".into()]);
    }
    let mut lb_fresh = fresh().with(|a| a.spec.enable_external_lb = Some(true));
    lb_fresh.o.lb_ingress = lb_ready.o.lb_ingress.clone();
    let gone = |mut w: World| {
        w.o.pods = PerRole::default();
        w.o.statefulsets = stopped.o.statefulsets.clone();
        w
    };
    let host_state = |a: &mut AIStore| {
        a.spec.cleanup_metadata = Some(true);
        a.spec.state_storage = None;
        a.spec.state_storage_class = None;
        a.spec.hostpath_prefix = Some("/etc/ais".into());
    };
    let mut jobs_done = deleted(gone(ready(1)), None).with(host_state);
    jobs_done.o.cleanup_started = true;
    let up = vec![Ready, Upgrading, Scaling];
    vec![
        // Initialized: adopted with its status lost; Created: bootstrapped, now healthy.
        (
            "converged",
            ready(1),
            vec![Ready, Upgrading, Scaling, Created, Initialized],
        ),
        ("new", fresh(), vec![Initialized]),
        ("proxy up", proxy_only, vec![Initialized]),
        (
            "lb pending",
            fresh().with(|a| a.spec.enable_external_lb = Some(true)),
            vec![Initialized, InitializingLoadBalancerService],
        ),
        (
            "lb lost",
            ready(1).with(|a| a.spec.enable_external_lb = Some(true)),
            up.clone(),
        ),
        ("lb back", lb_ready, vec![PendingLoadBalancerService]),
        (
            "lb ready, new",
            lb_fresh,
            vec![InitializingLoadBalancerService, PendingLoadBalancerService],
        ),
        ("image changed", rolled, up.clone()),
        (
            "scale up",
            ready(1).with(|a| a.spec.target_spec.daemon.size = Some(2)),
            up.clone(),
        ),
        (
            "scale down",
            ready(2).with(|a| a.spec.target_spec.daemon.size = Some(1)),
            up.clone(),
        ),
        (
            "unhealthy",
            ready(1).observe(|o| {
                o.ais = AisView::Connected {
                    health: Err("503".into()),
                    smap: Err("503".into()),
                }
            }),
            vec![Ready, Upgrading, Scaling, Created],
        ),
        (
            "shutdown asked",
            ready(1).with(|a| a.spec.shutdown_cluster = Some(true)),
            vec![Ready, Upgrading, Scaling, Created, ShuttingDown],
        ),
        (
            "shutdown, stopped",
            stopped
                .clone()
                .with(|a| a.spec.shutdown_cluster = Some(true)),
            vec![ShuttingDown, Shutdown],
        ),
        ("resumed", stopped.clone(), vec![Shutdown, ShuttingDown]),
        (
            "deleted",
            deleted(ready(1), None),
            vec![
                Ready,
                Upgrading,
                Scaling,
                Created,
                ShuttingDown,
                Decommissioning,
            ],
        ),
        (
            "deleted, no pods",
            deleted(gone(ready(1)), None),
            vec![Shutdown, Initialized, Decommissioning],
        ),
        (
            "deleted, objects gone",
            deleted(gone(ready(1)), None),
            vec![CleaningResources],
        ),
        (
            "deleted, host state",
            deleted(gone(ready(1)), None).with(host_state),
            vec![CleaningResources],
        ),
        ("deleted, host cleaned", jobs_done, vec![HostCleanup]),
        (
            "deleted, finalized",
            deleted(gone(ready(1)), None),
            vec![Finalized],
        ),
    ]
}

/// Every transition the fixtures make, from every state they can be observed in.
fn produced() -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut missing = Vec::new();
    for (name, world, states) in worlds() {
        for from in states {
            let w = world.clone().observe(|o| o.state = Some(from));
            let to = w.plan().next_state(Some(from)).unwrap();
            if !allowed(from, to) {
                missing.push(format!("{from:?} -> {to:?} (fixture {name:?})"));
            }
            if from != to {
                out.insert((format!("{from:?}"), format!("{to:?}")));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "transitions the table does not list:\n{}",
        missing.join("\n")
    );
    out
}

#[test]
fn every_transition_is_in_the_table_and_every_row_is_reached() {
    let produced = produced();
    let table: BTreeSet<(String, String)> = TRANSITIONS
        .iter()
        .map(|t| (format!("{:?}", t.from), format!("{:?}", t.to)))
        .collect();
    let unreached: Vec<_> = table.difference(&produced).collect();
    assert!(
        unreached.is_empty(),
        "rows of the transition table no fixture reaches: {unreached:?}"
    );
}

#[test]
fn the_state_diagram_in_the_docs_is_the_transition_table() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/controller.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let drawn: BTreeSet<(String, String)> = diagram_edges(&text)
        .into_iter()
        .filter(|(from, to)| from != "[*]" && to != "[*]")
        .collect();
    let table: BTreeSet<(String, String)> = TRANSITIONS
        .iter()
        .map(|t| (format!("{:?}", t.from), format!("{:?}", t.to)))
        .collect();
    assert_eq!(
        drawn, table,
        "docs/controller.md's state diagram differs from plan::transitions::TRANSITIONS"
    );
}

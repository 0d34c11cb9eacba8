//! Every fixture from the states it can be observed in, against the transition table and the
//! diagram in `docs/controller.md`.

use super::*;
use crate::plan::transitions::{TRANSITIONS, allowed, diagram_edges};

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

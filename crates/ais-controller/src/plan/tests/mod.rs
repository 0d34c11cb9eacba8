//! Table-driven plan tests: each test is one observed world (a fixture) and what the plan must
//! do in it (`running`, `holds`, `deleting`); `machine` runs the fixtures through the transition table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use ais_client::Smap;
use ais_crd::{AIStore, AIStoreSpec, ClusterState};
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};

mod deleting;
mod holds;
mod machine;
mod running;

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
    /// Nodes that match an autoscaling role's selector.
    autoscale_nodes: Vec<String>,
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
            autoscale_target_nodes: self.autoscale_nodes.clone(),
            autoscale_proxy_nodes: self.autoscale_nodes.clone(),
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

    /// The live StatefulSets carry the desired templates of the spec as it is now (a spec
    /// change made with [`Self::with`] that has rolled out already).
    fn rolled_out(mut self) -> Self {
        let d = self.desired();
        for role in [Role::Proxy, Role::Target] {
            if let Some(live) = self.o.statefulsets.get_mut(role).as_mut()
                && let (Some(spec), Some(want)) =
                    (live.spec.as_mut(), d.statefulset(role).spec.as_ref())
            {
                spec.template = want.template.clone();
            }
        }
        self.o.restart_hash = Some(d.restart_hash.clone());
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
        autoscale_nodes: Vec::new(),
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

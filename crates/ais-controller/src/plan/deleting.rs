//! The plan of a deleted AIStore: `Decommissioning` (AIS shuts down, or decommissions with
//! `cleanupMetadata`, then the pods stop) → `CleaningResources` (the owned objects; PVCs only
//! with `cleanupMetadata`) → `HostCleanup` (Jobs that remove this cluster's host-path state)
//! → `Finalized` (the finalizer goes, the API server deletes the AIStore).

use ais_crd::{AIStoreSpec, ClusterState};

use super::{
    Action, CHECK, CLEANUP_STARTED_ANNOTATION, Draft, JOB_DEADLINE_SECONDS, NEXT, Observed, Plan,
    Requeue, Teardown,
};
use crate::build::Role;
use crate::lifecycle::StsView;

/// What the spec of a deleted cluster asks for.
struct Spec<'a> {
    spec: &'a AIStoreSpec,
    host_state_dir: Option<&'a str>,
}

/// The plan of a deleted cluster.
pub(super) fn plan(spec: &AIStoreSpec, host_state_dir: Option<&str>, o: &Observed) -> Plan {
    let w = &Spec {
        spec,
        host_state_dir,
    };
    let empty = Teardown::default();
    let t = o.teardown.as_ref().unwrap_or(&empty);
    let mut d = Draft::default();
    let requeue = match o.state {
        Some(ClusterState::Finalized) => {
            return Plan {
                actions: vec![Action::RemoveFinalizer],
                status: None,
                requeue: Requeue::AwaitChange,
            };
        }
        Some(ClusterState::CleaningResources) => clean(w, t, &mut d),
        Some(ClusterState::HostCleanup) => host_cleanup(w, o, t, &mut d),
        state => {
            if state != Some(ClusterState::Decommissioning) {
                d.note("CRDeleted", "Decommissioning", plan_note(w));
                d.state(ClusterState::Decommissioning);
            }
            decommission(w, o, &mut d)
        }
    };
    let state = d.status.state.or(o.state);
    if let Some(state) = state {
        d.ready(
            false,
            "Deleting",
            format!("The cluster is being deleted ({state:?})"),
        );
    }
    d.done(requeue)
}

fn cleanup_metadata(w: &Spec<'_>) -> bool {
    w.spec.cleanup_metadata == Some(true)
}

fn plan_note(w: &Spec<'_>) -> &'static str {
    match (cleanup_metadata(w), w.spec.cleanup_data == Some(true)) {
        (true, true) => "Decommissioning the cluster: metadata, PVCs and user data are removed",
        (true, false) => {
            "Decommissioning the cluster: metadata and the state and data PVCs are removed"
        }
        _ => {
            "Shutting the cluster down: data, metadata and PVCs stay for a cluster of the same name"
        }
    }
}

/// AIS shuts down (or decommissions) while it runs; then the pods stop.
fn decommission(w: &Spec<'_>, o: &Observed, d: &mut Draft) -> Requeue {
    let view = |r: Role| o.statefulsets.get(r).as_ref().map(StsView::of);
    let up = |r: Role| view(r).is_some_and(|v| v.replicas > 0 && v.ready > 0);
    if up(Role::Proxy) && up(Role::Target) {
        d.act(Action::StopAis {
            decommission: cleanup_metadata(w),
            rm_user_data: w.spec.cleanup_data == Some(true),
        });
    }
    for role in Role::BOTH {
        if view(role).is_some_and(|v| v.replicas > 0) {
            d.act(Action::ScaleToZero(role));
        }
    }
    if !o.pods.proxy.is_empty() || !o.pods.target.is_empty() {
        return Requeue::After(CHECK);
    }
    d.note("DecommissionCompleted", "Delete", "Decommission completed");
    d.state(ClusterState::CleaningResources);
    Requeue::After(NEXT)
}

/// Deletes every owned object that is left (and, with `cleanupMetadata`, the PVCs); done when
/// none is left.
fn clean(w: &Spec<'_>, t: &Teardown, d: &mut Draft) -> Requeue {
    let mut left = false;
    for f in &t.owned {
        left = true;
        if !f.deleting {
            d.act(Action::Delete(f.kind, f.name.clone()));
        }
    }
    if cleanup_metadata(w) {
        for pvc in &t.pvcs {
            left = true;
            d.act(Action::DeletePvc(pvc.clone()));
        }
    }
    if left {
        return Requeue::After(CHECK);
    }
    d.state(if cleanup_metadata(w) && w.host_state_dir.is_some() {
        ClusterState::HostCleanup
    } else {
        ClusterState::Finalized
    });
    Requeue::After(NEXT)
}

/// One Job per node that may hold the cluster's host-path state; done when all finished (or
/// were given up on after [`JOB_DEADLINE_SECONDS`]).
fn host_cleanup(w: &Spec<'_>, o: &Observed, t: &Teardown, d: &mut Draft) -> Requeue {
    let Some(dir) = w.host_state_dir else {
        d.state(ClusterState::Finalized);
        return Requeue::After(NEXT);
    };
    if !o.cleanup_started {
        // From the list, each Job once: a crash between two creations leaves no node
        // uncleaned, and the next reconcile creates the missing ones.
        let mut created = 0;
        for (node, job) in &t.cleanup_nodes {
            if !t.jobs.iter().any(|j| &j.name == job) {
                d.act(Action::CreateCleanupJob { node: node.clone() });
                created += 1;
            }
        }
        d.act(Action::Annotate {
            key: CLEANUP_STARTED_ANNOTATION,
            value: "true".into(),
        });
        d.note(
            "HostCleanup",
            "Delete",
            format!(
                "Removing {dir} on {} node(s) ({created} cleanup Job(s) created now)",
                t.cleanup_nodes.len()
            ),
        );
        return Requeue::After(CHECK);
    }
    let mut running = 0;
    for job in &t.jobs {
        if job.succeeded || job.age_seconds > JOB_DEADLINE_SECONDS {
            if !job.succeeded {
                d.warn(
                    "HostCleanup",
                    "Delete",
                    format!(
                        "host cleanup Job {} did not finish within {JOB_DEADLINE_SECONDS}s; giving up on it",
                        job.name
                    ),
                );
            }
            d.act(Action::DeleteJob(job.name.clone()));
        } else {
            running += 1;
        }
    }
    if running > 0 {
        return Requeue::After(CHECK);
    }
    d.state(ClusterState::Finalized);
    Requeue::After(NEXT)
}

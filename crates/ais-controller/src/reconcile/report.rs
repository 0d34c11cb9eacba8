//! The last step of a reconcile: the status the plan decided, with the counts of the
//! StatefulSets as the execution left them, written when it changed; an event when the state
//! changed.

use ais_crd::status::AutoScaleStatus;
use ais_crd::{AIStore, ClusterState};
use k8s_openapi::api::apps::v1::StatefulSet;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::events::EventType;

use super::status::RoleObservation;
use super::{Context, Error, event, write_status};
use crate::build::{PerRole, Role};
use crate::plan::{Observed, Plan};

/// What the status reports besides the plan's decisions.
#[derive(Debug)]
pub struct Reported<'a> {
    /// `status.intraClusterURL`, when the spec could be built.
    pub url: Option<String>,
    /// `status.autoscaleStatus`, when a role autoscales.
    pub autoscale: Option<AutoScaleStatus>,
    /// The StatefulSets as the execution's applies left them.
    pub applied: &'a PerRole<Option<StatefulSet>>,
}

/// Writes the status when it changed, and the transition event.
pub async fn report(
    ctx: &Context,
    ais: &AIStore,
    observed: &Observed,
    plan: &Plan,
    reported: &Reported<'_>,
) -> Result<(), Error> {
    let Some(decided) = &plan.status else {
        return Ok(());
    };
    let ns = ais.namespace().unwrap_or_default();
    let key = format!("{ns}/{}", ais.name_any());
    let mut obs = decided.clone();
    obs.generation = observed.generation;
    if ais.metadata.deletion_timestamp.is_none() {
        let role = |r: Role| {
            reported
                .applied
                .get(r)
                .as_ref()
                .or(observed.statefulsets.get(r).as_ref())
                .map(RoleObservation::of)
        };
        obs.proxies = role(Role::Proxy);
        obs.targets = role(Role::Target);
        obs.intra_cluster_url.clone_from(&reported.url);
        obs.autoscale.clone_from(&reported.autoscale);
    }
    let api: Api<AIStore> = Api::namespaced(ctx.client.clone(), &ns);
    let (_, next) = write_status(&api, &ais.name_any(), ais.status.as_ref(), &obs, ctx).await?;
    if let Some(state) = next.state {
        ctx.metrics.set_state(&key, Some(&format!("{state:?}")));
    }
    if next.state != observed.state
        && let Some(state) = next.state
    {
        let (reason, note) = match state {
            ClusterState::Ready => (
                "Ready",
                "Successfully reconciled AIStore cluster".to_string(),
            ),
            ClusterState::Created => ("Created", "Successfully created AIS cluster".to_string()),
            ClusterState::Upgrading => ("Upgrading", "Waiting for cluster to upgrade".to_string()),
            ClusterState::Scaling => ("Scaling", "Waiting for cluster to scale".to_string()),
            other => ("StateChanged", format!("State is now {other:?}")),
        };
        event(ctx, ais, EventType::Normal, reason, "Reconcile", note).await;
    }
    Ok(())
}

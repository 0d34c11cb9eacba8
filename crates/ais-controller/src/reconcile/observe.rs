//! Every read of one reconcile: the AIStore's own state, what runs in Kubernetes, the facts the
//! builders need, the AIS view, and what is left of a cluster being deleted. The reads go into
//! [`Observed`] (for the plan) and [`Facts`] (for the builders); nothing here decides anything.

use ais_crd::status::{AutoScaleStatus, condition};
use ais_crd::{AIStore, AIStoreSpec, ClusterState};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};

use super::live::Live;
use super::status::is_true;
use super::{Context, Error, nodes, owned};
use crate::ais::{Session, endpoint};
use crate::build::inventory;
use crate::build::{Desired, Facts, OwnedKind, PerRole, Role, cleanup, labels, names};
use crate::lifecycle::Rebalance;
use crate::plan::{
    Action, AisView, CLEANUP_STARTED_ANNOTATION, JobView, MAINTAINED_ANNOTATION, Observed, Plan,
    RESTART_HASH_ANNOTATION, Teardown, parse_maintained,
};

/// What the Kubernetes reads gave: the observation so far and the builders' facts.
#[derive(Debug)]
pub struct KubeView {
    /// For the plan (the AIS view and the teardown come later).
    pub observed: Observed,
    /// For the builders.
    pub facts: Facts,
    /// `status.autoscaleStatus`, when a role autoscales.
    pub autoscale: Option<AutoScaleStatus>,
}

/// Reads the AIStore's state, its StatefulSets, pods, LoadBalancers and nodes.
pub async fn kubernetes(
    ctx: &Context,
    ais: &AIStore,
    spec: &AIStoreSpec,
) -> Result<KubeView, Error> {
    let ns = ais.namespace().ok_or(Error::NoNamespace)?;
    let name = ais.name_any();
    let external_access = spec.proxy_spec.external_access.is_some()
        || spec.target_spec.daemon.external_access.is_some();
    let live = Live::read(ctx, &ns, &name, external_access).await?;
    let node_facts = nodes::gather(&ctx.client, &ns, &name, spec).await?;
    let status = ais.status.as_ref();
    let rebalance_on = is_true(status, condition::READY_REBALANCE);
    let proxy_lb = names::proxy_lb_service(&name);
    let facts = Facts {
        cluster_domain: ctx.cluster_domain.clone(),
        rebalance_allowed: rebalance_on,
        proxy_lb_hosts: live.ingress_of([proxy_lb.as_str()]),
        target_lb_hosts: live.ingress_of(
            live.lb_ingress
                .keys()
                .map(String::as_str)
                .filter(|n| *n != proxy_lb),
        ),
        node_hosts: node_facts.hosts.clone(),
        autoscale_proxy_nodes: node_facts.proxy_nodes.clone().unwrap_or_default(),
        autoscale_target_nodes: node_facts.target_nodes.clone().unwrap_or_default(),
        live_target_replicas: live.view(Role::Target).map_or(0, |v| v.replicas),
        previous_restart_hash: ais.annotations().get(RESTART_HASH_ANNOTATION).cloned(),
        // `spec.auth.profileRef` (the only source of this URL) is not supported yet.
        authn_url: None,
        defaults: ctx.defaults.clone(),
        pods: ctx.pods.clone(),
    };
    let observed = Observed {
        generation: ais.metadata.generation.unwrap_or(0),
        state: status.and_then(|s| s.state),
        created: is_true(status, condition::CREATED),
        rebalance_on,
        restart_hash: facts.previous_restart_hash.clone(),
        cleanup_started: ais.annotations().contains_key(CLEANUP_STARTED_ANNOTATION),
        futile_applies: PerRole::default(),
        foreign: Vec::new(),
        objects_conflict: status.is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == condition::OBJECTS_APPLIED && c.status == "False")
        }),
        templates_stuck: status.is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == condition::TEMPLATES_CONVERGE && c.status == "False")
        }),
        maintained: ais
            .annotations()
            .get(MAINTAINED_ANNOTATION)
            .map(|v| parse_maintained(v))
            .unwrap_or_default(),
        statefulsets: PerRole {
            proxy: live.proxy,
            target: live.target,
        },
        pods: PerRole {
            proxy: live.proxy_pods,
            target: live.target_pods,
        },
        lb_ingress: live.lb_ingress,
        ais: AisView::default(),
        rebalance: Rebalance::Unknown,
        reference_wrote_at: crate::migrate::written_after_us(&ais.metadata),
        teardown: None,
    };
    let autoscale =
        (node_facts.proxy_nodes.is_some() || node_facts.target_nodes.is_some()).then(|| {
            AutoScaleStatus {
                expected_proxy_nodes: node_facts.proxy_nodes.clone(),
                expected_target_nodes: node_facts.target_nodes.clone(),
            }
        });
    Ok(KubeView {
        observed,
        facts,
        autoscale,
    })
}

/// The reads after the build: the AIS view of a live cluster (and its client), or what is
/// left of a deleted one.
pub async fn rest(
    ctx: &Context,
    ais: &AIStore,
    spec: &AIStoreSpec,
    desired: Option<&Desired>,
    observed: &mut Observed,
) -> Result<Option<Session>, Error> {
    if ais.metadata.deletion_timestamp.is_some() {
        let state = observed.state;
        observed.teardown = Some(teardown(ctx, ais, spec, desired, state).await?);
        return Ok(None);
    }
    let Some(desired) = desired else {
        return Ok(None);
    };
    let key = format!("{}/{}", ais.namespace().unwrap_or_default(), ais.name_any());
    observed.futile_applies = ctx.futile.counts(&key, desired, &observed.statefulsets);
    observed.foreign = foreign(ctx, ais, desired).await?;
    let (view, session) = ais_view(ctx, ais, desired, observed).await;
    observed.ais = view;
    let shutdown_pending = spec.shutdown_cluster == Some(true)
        && !matches!(
            observed.state,
            Some(ClusterState::ShuttingDown | ClusterState::Shutdown)
        );
    let decommissioning = observed
        .ais
        .smap()
        .is_some_and(|m| m.nodes().any(|n| n.is_target() && n.is_decommissioning()));
    if let (true, Some(session)) = (shutdown_pending || decommissioning, &session) {
        // A failed query holds nothing back: AIS resumes an interrupted rebalance when a
        // shut-down cluster comes back, and a stalled decommission is asked again only when
        // AIS said that no rebalance is awaited.
        match session.awaited_rebalance().await {
            Ok(running) => {
                observed.rebalance = running
                    .into_iter()
                    .next()
                    .map_or(Rebalance::Idle, Rebalance::Running);
            }
            Err(err) => tracing::warn!(error = %err, "cannot tell whether a rebalance runs"),
        }
    }
    Ok(session)
}

/// Objects of the inventory's names that someone else owns: the admin client Deployment, the
/// one owned name a user is likely to have taken.
async fn foreign(
    ctx: &Context,
    ais: &AIStore,
    desired: &Desired,
) -> Result<Vec<(OwnedKind, String)>, Error> {
    let Some(name) = desired
        .admin_client
        .as_ref()
        .and_then(|d| d.metadata.name.clone())
    else {
        return Ok(Vec::new());
    };
    let ns = ais.namespace().unwrap_or_default();
    let uid = ais.metadata.uid.as_deref().unwrap_or_default();
    let meta = owned::get_meta(&ctx.client, &ns, OwnedKind::Deployment, &name).await?;
    let theirs = meta.is_some_and(|m| !m.owner_references.iter().flatten().any(|o| o.uid == uid));
    Ok(if theirs {
        vec![(OwnedKind::Deployment, name)]
    } else {
        Vec::new()
    })
}

/// The AIS client a deletion plan needs to stop AIS, when it needs one.
pub async fn session_for(
    ctx: &Context,
    ais: &AIStore,
    desired: Option<&Desired>,
    observed: &Observed,
    plan: &Plan,
) -> Result<Option<Session>, Error> {
    if !plan
        .actions
        .iter()
        .any(|a| matches!(a, Action::StopAis { .. }))
    {
        return Ok(None);
    }
    let cluster = format!("{}/{}", ais.namespace().unwrap_or_default(), ais.name_any());
    let Some(desired) = desired else {
        return Err(Error::AisAccess {
            cluster,
            reason: "the spec cannot be built, so the AIS endpoint is unknown".into(),
        });
    };
    match connect(ctx, ais, desired, observed).await {
        Ok(session) => Ok(Some(session)),
        Err(AisView::AuthFailed(reason)) => Err(Error::AisAccess {
            cluster,
            reason: format!("cannot get a token for the AIS API: {reason}"),
        }),
        Err(AisView::Unavailable(reason)) => Err(Error::AisAccess { cluster, reason }),
        Err(AisView::Connected { .. }) => Ok(None),
    }
}

/// Sets up the AIS client of a cluster: the endpoint by the access mode, a ready proxy, the
/// operator's token when the cluster has auth.
pub async fn connect(
    ctx: &Context,
    ais: &AIStore,
    desired: &Desired,
    observed: &Observed,
) -> Result<Session, AisView> {
    let key = format!("{}/{}", ais.namespace().unwrap_or_default(), ais.name_any());
    let proxy_lb = desired
        .proxy_lb_service
        .as_ref()
        .and_then(|s| s.metadata.name.as_deref())
        .and_then(|n| observed.lb_ingress.get(n))
        .and_then(|i| i.first());
    let pods = &observed.pods.proxy;
    let url = endpoint(
        &desired.api,
        ctx.clients.settings().mode,
        pods,
        proxy_lb.map(String::as_str),
    )
    .map_err(|err| AisView::Unavailable(format!("no AIS endpoint yet: {err}")))?;
    if !pods.iter().any(|p| p.ready) {
        return Err(AisView::Unavailable("no proxy is ready".into()));
    }
    let token = ctx
        .clients
        .tokens
        .token(&key, &ctx.client, ais)
        .await
        .map_err(|err| AisView::AuthFailed(err.to_string()))?;
    ctx.clients
        .session(&key, &url, &desired.api, token, ctx.metrics.clone())
        .map_err(|err| AisView::Unavailable(format!("cannot set up the AIS client: {err}")))
}

/// The AIS view of a live cluster once it is created: health and the cluster map, read once
/// per reconcile. Bootstrap reads nothing (the first proxy answers nothing useful before
/// targets join).
pub async fn ais_view(
    ctx: &Context,
    ais: &AIStore,
    desired: &Desired,
    observed: &Observed,
) -> (AisView, Option<Session>) {
    let created = observed.created
        || (observed.statefulsets.proxy.is_some() && observed.statefulsets.target.is_some());
    if !created {
        return (AisView::Unavailable("not created yet".into()), None);
    }
    let session = match connect(ctx, ais, desired, observed).await {
        Ok(session) => session,
        Err(view) => return (view, None),
    };
    let health = session.healthy().await.map_err(|e| e.to_string());
    let smap = session
        .smap()
        .await
        .map(Box::new)
        .map_err(|e| e.to_string());
    (AisView::Connected { health, smap }, Some(session))
}

/// What is left of a deleted cluster, as far as its current deletion state needs to know.
pub async fn teardown(
    ctx: &Context,
    ais: &AIStore,
    spec: &AIStoreSpec,
    desired: Option<&Desired>,
    state: Option<ClusterState>,
) -> Result<Teardown, Error> {
    let (c, ns, name) = (
        &ctx.client,
        ais.namespace().unwrap_or_default(),
        ais.name_any(),
    );
    let mut out = Teardown::default();
    match state {
        Some(ClusterState::CleaningResources) => {
            let uid = ais.metadata.uid.as_deref().unwrap_or_default();
            // An AIStore whose spec cannot be built any more still has its fixed objects.
            let candidates = desired.map_or_else(|| inventory::fixed_names(&name), Desired::names);
            out.owned = owned::existing_owned(c, &ns, &name, uid, candidates).await?;
            if spec.cleanup_metadata == Some(true) {
                out.pvcs = role_pvcs(c, &ns, &name).await?;
            }
        }
        Some(ClusterState::HostCleanup) => {
            out.jobs = cleanup_jobs(c, &ns, &name).await?;
            if !ais.annotations().contains_key(CLEANUP_STARTED_ANNOTATION) {
                out.cleanup_nodes = cleanup_nodes(c, spec)
                    .await?
                    .into_iter()
                    .map(|node| {
                        let job = cleanup::job_name(&name, &node);
                        (node, job)
                    })
                    .collect();
            }
        }
        _ => {}
    }
    Ok(out)
}

/// The state and data PVCs of the cluster's proxies and targets.
async fn role_pvcs(client: &Client, ns: &str, cluster: &str) -> Result<Vec<String>, Error> {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    let selector = format!("{}={cluster}", labels::NAME);
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| Error::Kube {
            action: format!("listing the PVCs of {ns}/{cluster}"),
            source,
        })?;
    Ok(list
        .items
        .iter()
        .filter(|pvc| {
            let component = pvc.labels().get(labels::COMPONENT).map(String::as_str);
            matches!(component, Some("proxy" | "target"))
                && pvc.metadata.deletion_timestamp.is_none()
        })
        .map(ResourceExt::name_any)
        .collect())
}

async fn cleanup_jobs(client: &Client, ns: &str, cluster: &str) -> Result<Vec<JobView>, Error> {
    let api: Api<Job> = Api::namespaced(client.clone(), ns);
    let selector = format!(
        "{}={cluster},{}={}",
        labels::NAME,
        labels::COMPONENT,
        cleanup::COMPONENT
    );
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| Error::Kube {
            action: format!("listing Job in {ns} ({selector})"),
            source,
        })?;
    let now = Timestamp::now().as_second();
    Ok(list
        .items
        .iter()
        .map(|job| JobView {
            name: job.name_any(),
            succeeded: job.status.as_ref().and_then(|s| s.succeeded).unwrap_or(0) > 0,
            age_seconds: job
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or(0, |t| now - t.0.as_second()),
        })
        .collect())
}

/// Nodes the pods can have run on (selector and tolerated taints).
async fn cleanup_nodes(client: &Client, spec: &AIStoreSpec) -> Result<Vec<String>, Error> {
    let all: Api<Node> = Api::all(client.clone());
    let list = all
        .list(&ListParams::default())
        .await
        .map_err(|source| Error::Kube {
            action: "listing nodes for the host cleanup".into(),
            source,
        })?;
    Ok(list
        .items
        .iter()
        .filter(|node| {
            nodes::may_host(node, &spec.proxy_spec)
                || nodes::may_host(node, &spec.target_spec.daemon)
        })
        .map(ResourceExt::name_any)
        .collect())
}

//! The reconcile loop: read → validate → build → apply → status, after Stackable's
//! zookeeper-operator. Validation and building are the pure functions of `ais-crd` and
//! [`crate::build`]; this module does the I/O around them.

pub mod apply;
pub mod nodes;
pub mod status;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ais_crd::status::condition;
use ais_crd::{AIStore, ClusterState, Defaults, default_spec, validate};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

use crate::build::{self, Desired, Facts};
use crate::metrics::Metrics;
use status::{Observation, RoleObservation};

/// Finalizer of the reference operator, so clusters it created are adopted as they are.
pub const FINALIZER: &str = "finalize.ais";
/// AIStore annotation: SHA-256 of the generated global config.
pub const CONFIG_HASH_ANNOTATION: &str = "config.aistore.nvidia.com/hash";
/// AIStore annotation: hash of the restart-requiring config (`net.http`).
pub const RESTART_HASH_ANNOTATION: &str = "config.aistore.nvidia.com/restart-hash";

/// Shared state of the reconciles.
#[derive(Clone)]
pub struct Context {
    /// API client.
    pub client: Client,
    /// Event recorder (events.k8s.io).
    pub recorder: Recorder,
    /// Metrics.
    pub metrics: Metrics,
    /// Cluster DNS domain.
    pub cluster_domain: String,
    /// Images defaulted into specs that name none.
    pub defaults: Defaults,
    /// Installation-wide pod settings.
    pub pods: crate::build::PodSettings,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("cluster_domain", &self.cluster_domain)
            .finish_non_exhaustive()
    }
}

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API call failed.
    #[error("{action}: {source}")]
    Kube {
        /// What was being done.
        action: String,
        /// The API error.
        source: kube::Error,
    },
    /// An object could not be serialized.
    #[error("serializing a {kind}: {source}")]
    Serialize {
        /// The kind.
        kind: String,
        /// The error.
        source: serde_json::Error,
    },
    /// The objects could not be built.
    #[error("building the cluster's objects: {0}")]
    Build(#[from] build::BuildError),
    /// The finalizer helper failed.
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// The object lacks a namespace.
    #[error("the AIStore has no namespace")]
    NoNamespace,
}

/// Reconciles one AIStore.
pub async fn reconcile(ais: Arc<AIStore>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = ais.namespace().ok_or(Error::NoNamespace)?;
    let cluster = format!("{ns}/{}", ais.name_any());
    let started = Instant::now();
    let api: Api<AIStore> = Api::namespaced(ctx.client.clone(), &ns);
    let result = finalizer(&api, FINALIZER, ais, |event| async {
        match event {
            FinalizerEvent::Apply(ais) => apply_cluster(ais, &ctx).await,
            FinalizerEvent::Cleanup(ais) => cleanup(ais, &ctx).await,
        }
    })
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(e)
        | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer(other.to_string()),
    });
    ctx.metrics
        .duration
        .with_label_values(&[cluster.as_str()])
        .observe(started.elapsed().as_secs_f64());
    let label = if result.is_ok() { "ok" } else { "error" };
    ctx.metrics
        .reconciles
        .with_label_values(&[cluster.as_str(), label])
        .inc();
    result
}

/// Requeue after an error, with an event a person can act on.
pub fn error_policy(ais: Arc<AIStore>, error: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(cluster = %ais.name_any(), %error, "reconcile failed");
    let recorder = ctx.recorder.clone();
    let reference = ais.object_ref(&());
    let note = error.to_string();
    tokio::spawn(async move {
        let event = Event {
            type_: EventType::Warning,
            reason: "Failed".into(),
            note: Some(note),
            action: "Reconcile".into(),
            secondary: None,
        };
        let _ = recorder.publish(&event, &reference).await;
    });
    Action::requeue(Duration::from_secs(10))
}

async fn event(
    ctx: &Context,
    ais: &AIStore,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: action.into(),
        secondary: None,
    };
    if let Err(err) = ctx.recorder.publish(&ev, &ais.object_ref(&())).await {
        tracing::warn!(%err, "could not publish an event");
    }
}

async fn apply_cluster(ais: Arc<AIStore>, ctx: &Context) -> Result<Action, Error> {
    let ns = ais.namespace().ok_or(Error::NoNamespace)?;
    let name = ais.name_any();
    let api: Api<AIStore> = Api::namespaced(ctx.client.clone(), &ns);
    let generation = ais.metadata.generation.unwrap_or(0);

    // Validate: the webhook may have been bypassed. An invalid spec is a condition and an
    // event, not a crash loop; nothing is applied until it is fixed.
    let check = validate(&default_spec(&ais.spec, &ctx.defaults), None);
    if !check.is_valid() {
        let message = check.error_message();
        let obs = Observation {
            generation,
            invalid: Some(message.clone()),
            proxies: None,
            targets: None,
            intra_cluster_url: None,
            autoscale: None,
        };
        let (changed, _) = write_status(&api, &name, ais.status.as_ref(), &obs, ctx).await?;
        if changed {
            event(
                ctx,
                &ais,
                EventType::Warning,
                "Failed",
                "Validate",
                format!("Failed to validate AIStore spec: {message}"),
            )
            .await;
        }
        return Ok(Action::await_change());
    }

    // Build.
    let effective = ais_crd::legacy::effective_spec(&default_spec(&ais.spec, &ctx.defaults));
    let node_facts = nodes::gather(&ctx.client, &ns, &name, &effective).await?;
    let annotations = ais.annotations();
    let facts = Facts {
        node_hosts: node_facts.hosts.clone(),
        autoscale_proxy_nodes: node_facts.proxy_nodes.clone().unwrap_or_default(),
        autoscale_target_nodes: node_facts.target_nodes.clone().unwrap_or_default(),
        cluster_domain: ctx.cluster_domain.clone(),
        rebalance_allowed: status::is_true(ais.status.as_ref(), condition::READY_REBALANCE),
        previous_restart_hash: annotations.get(RESTART_HASH_ANNOTATION).cloned(),
        defaults: ctx.defaults.clone(),
        pods: ctx.pods.clone(),
        ..Facts::default()
    };
    let desired = build::build(&ais, &facts)?;

    // Apply, prerequisites first, StatefulSets last.
    let (proxy_sts, target_sts) = apply_all(ctx, &ns, &desired).await?;
    update_annotations(&api, &ais, &desired, ctx).await?;

    // Status.
    let obs = Observation {
        generation,
        invalid: None,
        proxies: Some(RoleObservation::of(&proxy_sts)),
        targets: Some(RoleObservation::of(&target_sts)),
        intra_cluster_url: Some(desired.intra_cluster_url.clone()),
        autoscale: (node_facts.proxy_nodes.is_some() || node_facts.target_nodes.is_some()).then(
            || ais_crd::status::AutoScaleStatus {
                expected_proxy_nodes: node_facts.proxy_nodes.clone(),
                expected_target_nodes: node_facts.target_nodes.clone(),
            },
        ),
    };
    let before = ais.status.as_ref().and_then(|s| s.state);
    let (_, next) = write_status(&api, &name, ais.status.as_ref(), &obs, ctx).await?;
    let after = next.state;
    if let Some(state) = after {
        ctx.metrics
            .set_state(&format!("{ns}/{name}"), Some(&format!("{state:?}")));
    }
    if after != before
        && let Some(state) = after
    {
        let (reason, note) = match state {
            ClusterState::Ready => (
                "Ready",
                "Successfully reconciled AIStore cluster".to_string(),
            ),
            ClusterState::Created => ("Created", "Successfully created AIS cluster".to_string()),
            ClusterState::Upgrading => ("Upgrading", "Waiting for cluster to upgrade".to_string()),
            other => ("StateChanged", format!("State is now {other:?}")),
        };
        event(ctx, &ais, EventType::Normal, reason, "Reconcile", note).await;
    }
    // Changes of the owned objects (pods becoming ready move the StatefulSet status) wake us.
    Ok(Action::await_change())
}

async fn apply_all(
    ctx: &Context,
    ns: &str,
    d: &Desired,
) -> Result<(StatefulSet, StatefulSet), Error> {
    let (c, m) = (&ctx.client, &ctx.metrics);
    apply::apply(c, m, ns, &d.service_account).await?;
    apply::apply(c, m, ns, &d.role).await?;
    apply::apply(c, m, ns, &d.role_binding).await?;
    apply::apply(c, m, ns, &d.global_config_map).await?;
    apply::apply(c, m, ns, &d.proxy_config_map).await?;
    apply::apply(c, m, ns, &d.target_config_map).await?;
    apply::apply(c, m, ns, &d.proxy_service).await?;
    apply::apply(c, m, ns, &d.target_service).await?;
    if let Some(lb) = &d.proxy_lb_service {
        apply::apply(c, m, ns, lb).await?;
    }
    for lb in &d.target_lb_services {
        apply::apply(c, m, ns, lb).await?;
    }
    if let Some(cert) = &d.certificate {
        let gvk = GroupVersionKind::gvk("cert-manager.io", "v1", "Certificate");
        let resource = ApiResource::from_gvk_with_plural(&gvk, "certificates");
        if apply::apply_dynamic(c, m, &resource, ns, cert)
            .await?
            .is_none()
        {
            tracing::warn!(
                namespace = ns,
                "cert-manager is not installed: the Certificate for spec.tls.certificate cannot be created"
            );
        }
    }
    if let Some(pdb) = &d.target_pdb {
        apply::apply(c, m, ns, pdb).await?;
    }
    if let Some(client) = &d.admin_client {
        apply::apply(c, m, ns, client).await?;
    }
    let proxy = apply_statefulset(ctx, ns, &d.proxy_statefulset).await?;
    let target = apply_statefulset(ctx, ns, &d.target_statefulset).await?;
    Ok((proxy, target))
}

/// Applies a StatefulSet, keeping the live pod template unless a change that must roll the
/// pods was made (see [`crate::rollout`]): a new operator version never restarts AIS by itself.
async fn apply_statefulset(
    ctx: &Context,
    ns: &str,
    desired: &StatefulSet,
) -> Result<StatefulSet, Error> {
    let name = desired.metadata.name.clone().unwrap_or_default();
    let live: Option<StatefulSet> = apply::get(&ctx.client, ns, &name).await?;
    let mut desired = desired.clone();
    if let (Some(live_spec), Some(spec)) = (
        live.as_ref().and_then(|l| l.spec.as_ref()),
        desired.spec.as_mut(),
    ) {
        match crate::rollout::template_change(&live_spec.template, &spec.template) {
            None => spec.template = live_spec.template.clone(),
            Some(reason) => {
                tracing::info!(statefulset = %name, %reason, "rolling out a new pod template")
            }
        }
    }
    apply::apply_over(&ctx.client, &ctx.metrics, ns, &desired, live).await
}

/// Writes the config and restart hashes onto the AIStore when they change.
async fn update_annotations(
    api: &Api<AIStore>,
    ais: &AIStore,
    d: &Desired,
    ctx: &Context,
) -> Result<(), Error> {
    let current = ais.annotations();
    if current.get(CONFIG_HASH_ANNOTATION) == Some(&d.config_hash)
        && current.get(RESTART_HASH_ANNOTATION) == Some(&d.restart_hash)
    {
        return Ok(());
    }
    let patch = json!({"metadata": {"annotations": {CONFIG_HASH_ANNOTATION: d.config_hash, RESTART_HASH_ANNOTATION: d.restart_hash}}});
    ctx.metrics.writes.with_label_values(&["AIStore"]).inc();
    api.patch(
        &ais.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(|source| Error::Kube {
        action: format!("annotating AIStore {}", ais.name_any()),
        source,
    })?;
    Ok(())
}

/// Patches the status when it differs from the current one; returns whether it wrote, and
/// the status.
async fn write_status(
    api: &Api<AIStore>,
    name: &str,
    current: Option<&ais_crd::AIStoreStatus>,
    obs: &Observation,
    ctx: &Context,
) -> Result<(bool, ais_crd::AIStoreStatus), Error> {
    let next = status::next(current, obs, Timestamp::now());
    if current == Some(&next) {
        return Ok((false, next));
    }
    ctx.metrics
        .writes
        .with_label_values(&["AIStore/status"])
        .inc();
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(&json!({"status": next})),
    )
    .await
    .map_err(|source| Error::Kube {
        action: format!("updating the status of AIStore {name}"),
        source,
    })?;
    Ok((true, next))
}

/// Deletion. Owned objects go with the AIStore through garbage collection; PVCs are never
/// owned, so data and metadata stay unless the AIS lifecycle (cleanupMetadata) removes them.
async fn cleanup(ais: Arc<AIStore>, ctx: &Context) -> Result<Action, Error> {
    ctx.metrics.set_state(
        &format!("{}/{}", ais.namespace().unwrap_or_default(), ais.name_any()),
        None,
    );
    event(
        ctx,
        &ais,
        EventType::Normal,
        "CRDeleted",
        "Decommissioning",
        "Deleting the cluster's Kubernetes objects; PVCs are kept".into(),
    )
    .await;
    Ok(Action::await_change())
}

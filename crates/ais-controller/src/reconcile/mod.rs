//! The reconcile loop: read → validate → build → apply → status, after Stackable's
//! zookeeper-operator. Validation and building are the pure functions of `ais-crd` and
//! [`crate::build`]; this module does the I/O around them.

pub mod apply;
mod cluster;
mod deletion;
pub mod finalizer;
pub mod live;
pub mod nodes;
pub mod owned;
pub mod statefulsets;
pub mod status;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ais_crd::{AIStore, Defaults};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

use crate::build;
use crate::metrics::Metrics;
use status::Observation;

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
    /// The AIS API clients.
    pub clients: crate::ais::Clients,
    /// Image of the host cleanup Jobs (`cleanupMetadata` with host-path state).
    pub cleanup_image: String,
    /// The inventory each cluster was last swept with.
    pub swept: owned::Swept,
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
    /// An AIS API call failed.
    #[error("AIS cluster {cluster}: {source}")]
    Ais {
        /// `namespace/name`.
        cluster: String,
        /// What AIS (or the network) said.
        source: ais_client::AisError,
    },
    /// The AIS client could not be set up.
    #[error("AIS cluster {cluster}: {reason}")]
    AisAccess {
        /// `namespace/name`.
        cluster: String,
        /// Why.
        reason: String,
    },
}

/// Reconciles one AIStore.
pub async fn reconcile(ais: Arc<AIStore>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = ais.namespace().ok_or(Error::NoNamespace)?;
    let cluster = format!("{ns}/{}", ais.name_any());
    let started = Instant::now();
    // The watch cache may lag behind the status this controller wrote a moment ago, and the
    // lifecycle decides on that status (conditions, state): read the object fresh.
    let api: Api<AIStore> = Api::namespaced(ctx.client.clone(), &ns);
    let ais = match api.get_opt(&ais.name_any()).await {
        Ok(Some(fresh)) => Arc::new(fresh),
        Ok(None) => return Ok(Action::await_change()),
        Err(source) => {
            return Err(Error::Kube {
                action: format!("reading AIStore {cluster}"),
                source,
            });
        }
    };
    let result = if ais.metadata.deletion_timestamp.is_some() {
        if finalizer::has(&ais) {
            deletion::run(&ais, &ctx).await
        } else {
            Ok(Action::await_change())
        }
    } else {
        match finalizer::add(&ctx.client, &ais).await {
            Ok(true) => Ok(Action::await_change()),
            Ok(false) => cluster::run(&ais, &ctx).await,
            Err(e) => Err(e),
        }
    };
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

pub(crate) async fn event(
    ctx: &Context,
    ais: &AIStore,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    event_about(ctx, ais, type_, reason, action, note, None).await;
}

/// An event about the AIStore, related to one of its pods. Events with the same reason,
/// action and related object form one series (the first note stays), so each pod gets its own.
pub(crate) async fn event_about(
    ctx: &Context,
    ais: &AIStore,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
    pod: Option<&str>,
) {
    let secondary = pod.map(|name| k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: Some(name.to_string()),
        namespace: ais.namespace(),
        ..k8s_openapi::api::core::v1::ObjectReference::default()
    });
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: action.into(),
        secondary,
    };
    if let Err(err) = ctx.recorder.publish(&ev, &ais.object_ref(&())).await {
        tracing::warn!(%err, "could not publish an event");
    }
}

/// Patches the status when it differs from the current one; returns whether it wrote, and
/// the status.
pub(crate) async fn write_status(
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

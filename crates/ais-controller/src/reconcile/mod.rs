//! The reconcile loop, one pipeline per AIStore: observe (every read, `observe`) → validate
//! (`ais_crd::validate`) → build the inventory (`crate::build`) → plan (`crate::plan`, pure) →
//! execute (`execute`) → status. Validation, building and planning are pure functions; this
//! module does the I/O around them.

/// `kube::Resource` for the form a watch cache holds a kind in (`$packed`, its metadata at
/// `$meta`): as the kind it packs, since the cache and the owner-reference mapping of the
/// watch's events read only kind and metadata.
macro_rules! resource_as {
    ($packed:ty, $kind:ty, $($meta:ident).+) => {
        impl kube::Resource for $packed {
            type DynamicType = ();
            type Scope = k8s_openapi::NamespaceResourceScope;

            fn kind(dt: &()) -> std::borrow::Cow<'_, str> {
                <$kind as kube::Resource>::kind(dt)
            }

            fn group(dt: &()) -> std::borrow::Cow<'_, str> {
                <$kind as kube::Resource>::group(dt)
            }

            fn version(dt: &()) -> std::borrow::Cow<'_, str> {
                <$kind as kube::Resource>::version(dt)
            }

            fn plural(dt: &()) -> std::borrow::Cow<'_, str> {
                <$kind as kube::Resource>::plural(dt)
            }

            fn meta(&self) -> &kube::api::ObjectMeta {
                &self.$($meta).+
            }

            fn meta_mut(&mut self) -> &mut kube::api::ObjectMeta {
                &mut self.$($meta).+
            }
        }
    };
}

pub mod apply;
pub mod cache;
pub mod execute;
pub mod finalizer;
pub mod futile;
pub mod last_write;
pub mod live;
pub mod nodes;
pub mod observe;
pub mod owned;
pub mod packed_statefulset;
pub mod pod_cache;
pub mod report;
pub mod statefulsets;
pub mod status;
pub mod watches;

use std::sync::Arc;
use std::time::Duration;

use ais_crd::{AIStore, Defaults, default_spec, validate};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

use crate::build;
use crate::metrics::Metrics;
use crate::plan::{self, Requeue, Wanted};
use execute::Executor;
use observe::KubeView;
use report::Reported;
use status::Observation;
use tracing::Instrument;

/// Finalizer of the reference operator, so clusters it created are adopted as they are.
pub const FINALIZER: &str = "finalize.ais";
pub use crate::plan::{CONFIG_HASH_ANNOTATION, RESTART_HASH_ANNOTATION};

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
    /// Pod-template applies that changed nothing.
    pub futile: futile::FutileApplies,
    /// Watch caches of the owned objects compared before each apply.
    pub cache: cache::OwnedCache,
    /// The version of each AIStore our last write returned.
    pub last_writes: last_write::LastWrites,
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

impl Error {
    /// A short name of the kind of failure (a metric label).
    pub fn category(&self) -> &'static str {
        match self {
            Self::Kube { .. } => "kube",
            Self::Serialize { .. } => "serialize",
            Self::Build(_) => "build",
            Self::Finalizer(_) => "finalizer",
            Self::NoNamespace => "metadata",
            Self::Ais { .. } => "ais",
            Self::AisAccess { .. } => "ais_access",
        }
    }
}

/// Reconciles one AIStore, inside a span that names it.
pub async fn reconcile(ais: Arc<AIStore>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = ais.namespace().ok_or(Error::NoNamespace)?;
    let key = format!("{ns}/{}", ais.name_any());
    // Before the timer: the wait is the watches' first lists, not this cluster's work.
    if let Err(unlisted) = ctx.cache.filled(&ns).await
        && ctx.cache.tell_unfilled()
    {
        tracing::warn!(cluster = %key, caches = ?unlisted, "watches have not listed within {:?} of the start; reading these kinds from the API server (check the operator's RBAC and the watch errors)", cache::FILL_WAIT);
    }
    let mut timer = ctx.metrics.reconcile_timer(&key);
    let result = pipeline(&ais, &ctx)
        .instrument(tracing::info_span!("reconcile", cluster = %key))
        .await;
    timer.finish(result.as_ref().map_or_else(Error::category, |_| "ok"));
    result
}

/// The pipeline: observe, validate, build, plan, execute, status.
async fn pipeline(ais: &AIStore, ctx: &Context) -> Result<Action, Error> {
    let Some(ais) = fetch(ctx, ais).await? else {
        return Ok(Action::await_change());
    };
    let deleting = ais.metadata.deletion_timestamp.is_some();
    if deleting && !finalizer::has(&ais) {
        return Ok(Action::await_change());
    }
    if !deleting && finalizer::add(ctx, &ais).await? {
        return Ok(Action::await_change());
    }
    // Validate: the webhook may have been bypassed. An invalid spec is a condition and an
    // event, not a crash loop; nothing is applied until it is fixed.
    let defaulted = default_spec(&ais.spec, &ctx.defaults);
    if !deleting && let Err(message) = invalid(&defaulted) {
        return report_invalid(ctx, &ais, message).await;
    }
    let spec = ais_crd::legacy::effective_spec(&defaulted);
    let KubeView {
        mut observed,
        facts,
        autoscale,
    } = observe::kubernetes(ctx, &ais, &spec).await?;
    let desired = inventory(&ais, &spec, &facts, deleting)?;
    let session = observe::rest(ctx, &ais, &spec, desired.as_ref(), &mut observed).await?;
    let host_dir = build::cleanup::state_dir(&spec, &observed_ns(&ais), &ais.name_any());
    let wanted = match &desired {
        Some(desired) if !deleting => Wanted::Running {
            spec: &spec,
            desired,
        },
        _ => Wanted::Deleting {
            spec: &spec,
            host_state_dir: host_dir.as_deref(),
        },
    };
    let plan = plan::plan(&wanted, &observed);
    let session = match session {
        Some(session) => Some(session),
        None => observe::session_for(ctx, &ais, desired.as_ref(), &observed, &plan).await?,
    };
    let url = desired.as_ref().map(|d| d.intra_cluster_url.clone());
    let mut exec = Executor::new(ctx, &ais, &spec, &observed, desired, facts, session);
    let outcome = exec.run(&plan.actions).await;
    // Status and events reflect what happened, also when an action failed.
    let reported = Reported {
        url,
        autoscale,
        applied: &exec.applied,
    };
    report::report(ctx, &ais, &observed, &plan, &reported).await?;
    outcome?;
    Ok(plan.requeue.into())
}

/// The inventory. A deleted AIStore whose spec cannot be built any more is still taken apart
/// (its fixed objects), so there a build error is no failure.
fn inventory(
    ais: &AIStore,
    spec: &ais_crd::AIStoreSpec,
    facts: &build::Facts,
    deleting: bool,
) -> Result<Option<build::Desired>, Error> {
    match build::build_with_spec(ais, spec.clone(), facts) {
        Ok(desired) => Ok(Some(desired)),
        Err(err) if deleting => {
            tracing::info!(%err, "the spec cannot be built; deleting the fixed objects");
            Ok(None)
        }
        Err(err) => Err(err.into()),
    }
}

fn observed_ns(ais: &AIStore) -> String {
    ais.namespace().unwrap_or_default()
}

/// The AIStore as the API server has it now. The handed-in object will do when it holds our
/// last write to it (`last_write`); otherwise the watch cache may lag behind a status this
/// controller wrote a moment ago, and the plan decides on that status, so it is read.
async fn fetch(ctx: &Context, ais: &AIStore) -> Result<Option<AIStore>, Error> {
    if ctx.last_writes.holds_last_write(ais) {
        return Ok(Some(ais.clone()));
    }
    let api: Api<AIStore> = Api::namespaced(ctx.client.clone(), &observed_ns(ais));
    let fresh = api
        .get_opt(&ais.name_any())
        .await
        .map_err(|source| Error::Kube {
            action: format!("reading AIStore {}/{}", observed_ns(ais), ais.name_any()),
            source,
        })?;
    match &fresh {
        Some(fresh) => ctx.last_writes.record(fresh),
        None => ctx.last_writes.forget(ais),
    }
    Ok(fresh)
}

fn invalid(spec: &ais_crd::AIStoreSpec) -> Result<(), String> {
    let check = validate(spec, None);
    if check.is_valid() {
        Ok(())
    } else {
        Err(check.error_message())
    }
}

/// Condition `Valid=False` and, when that is news, a Warning event.
async fn report_invalid(ctx: &Context, ais: &AIStore, message: String) -> Result<Action, Error> {
    let api: Api<AIStore> = Api::namespaced(ctx.client.clone(), &observed_ns(ais));
    let obs = Observation {
        generation: ais.metadata.generation.unwrap_or(0),
        invalid: Some(message.clone()),
        ..Observation::default()
    };
    let (changed, _) = write_status(&api, &ais.name_any(), ais.status.as_ref(), &obs, ctx).await?;
    if changed {
        event(
            ctx,
            ais,
            EventType::Warning,
            "Failed",
            "Validate",
            format!("Failed to validate AIStore spec: {message}"),
        )
        .await;
    }
    Ok(Action::await_change())
}

impl From<Requeue> for Action {
    fn from(r: Requeue) -> Self {
        match r {
            Requeue::AwaitChange => Action::await_change(),
            Requeue::After(d) => Action::requeue(d),
        }
    }
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
    let written = api
        .patch_status(
            name,
            &apply::update_params(),
            &Patch::Merge(&json!({"status": next})),
        )
        .await
        .map_err(|source| Error::Kube {
            action: format!("updating the status of AIStore {name}"),
            source,
        })?;
    ctx.last_writes.record(&written);
    Ok((true, next))
}

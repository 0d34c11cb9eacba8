//! Carries a [`Plan`]'s actions out, in order, stopping at the first that fails. Kubernetes
//! writes go through the API client (server-side apply with the field manager
//! `ais-operator`, merge patches for annotations and replicas); AIS calls go through the
//! [`AisApi`] trait, which the cluster's [`Session`] implements.

use std::future::Future;

use ais_client::{AisError, Smap};
use ais_crd::{AIStore, AIStoreSpec};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use super::pod_cache::PodWrite;
use super::statefulsets::{StsChoice, apply_choice};
use super::{Context, Error, apply, event_about, finalizer, owned};
use crate::ais::Session;
use crate::build::config::config_to_set;
use crate::build::{self, Desired, Facts, OwnedKind, PerRole, Role, cleanup, names};
use crate::lifecycle::AisCall;
use crate::lifecycle::views::DECOMMISSIONED_ANNOTATION;
use crate::plan::{Action, CONFIG_HASH_ANNOTATION, Note, Observed};

/// The AIS calls a plan can ask for.
pub trait AisApi {
    /// One call of a lifecycle step (maintenance, decommission, primary).
    fn run(
        &self,
        call: &AisCall,
        smap: Option<&Smap>,
    ) -> impl Future<Output = Result<(), AisError>> + Send;
    /// Pushes the cluster config.
    fn set_config(&self, config: &Value) -> impl Future<Output = Result<(), AisError>> + Send;
    /// Shuts the cluster down, keeping its metadata.
    fn shutdown_cluster(&self) -> impl Future<Output = Result<(), AisError>> + Send;
    /// Decommissions the cluster (with its user data when asked).
    fn decommission_cluster(
        &self,
        rm_user_data: bool,
    ) -> impl Future<Output = Result<(), AisError>> + Send;
}

impl AisApi for Session {
    fn run(
        &self,
        call: &AisCall,
        smap: Option<&Smap>,
    ) -> impl Future<Output = Result<(), AisError>> + Send {
        Session::run(self, call, smap)
    }

    fn set_config(&self, config: &Value) -> impl Future<Output = Result<(), AisError>> + Send {
        Session::set_config(self, config)
    }

    fn shutdown_cluster(&self) -> impl Future<Output = Result<(), AisError>> + Send {
        Session::shutdown_cluster(self)
    }

    fn decommission_cluster(
        &self,
        rm_user_data: bool,
    ) -> impl Future<Output = Result<(), AisError>> + Send {
        Session::decommission_cluster(self, rm_user_data)
    }
}

/// The state of one execution: the inventory (rebuilt when rebalance switches), the config
/// hash AIS has, and the StatefulSets as the applies left them.
#[derive(Debug)]
pub struct Executor<'a, A> {
    ctx: &'a Context,
    ais: &'a AIStore,
    spec: &'a AIStoreSpec,
    observed: &'a Observed,
    ns: String,
    key: String,
    /// `None` only for a deleted AIStore whose spec cannot be built (its plan applies nothing).
    desired: Option<Desired>,
    facts: Facts,
    session: Option<A>,
    config_hash: Option<String>,
    /// The StatefulSets after this execution's applies (the status reports them).
    pub applied: PerRole<Option<StatefulSet>>,
}

impl<'a, A: AisApi> Executor<'a, A> {
    /// An executor for one reconcile of `ais`.
    pub fn new(
        ctx: &'a Context,
        ais: &'a AIStore,
        spec: &'a AIStoreSpec,
        observed: &'a Observed,
        desired: Option<Desired>,
        facts: Facts,
        session: Option<A>,
    ) -> Self {
        let ns = ais.namespace().unwrap_or_default();
        Self {
            key: format!("{ns}/{}", ais.name_any()),
            ns,
            ctx,
            ais,
            spec,
            observed,
            desired,
            facts,
            session,
            config_hash: ais.annotations().get(CONFIG_HASH_ANNOTATION).cloned(),
            applied: PerRole::default(),
        }
    }

    /// Carries the actions out in order; the first failure ends the execution.
    pub async fn run(&mut self, actions: &[Action]) -> Result<(), Error> {
        for action in actions {
            self.one(action).await?;
        }
        Ok(())
    }

    fn session(&self) -> Result<&A, Error> {
        self.session.as_ref().ok_or_else(|| Error::AisAccess {
            cluster: self.key.clone(),
            reason: "no proxy is ready to take AIS API calls".into(),
        })
    }

    fn desired(&self) -> Result<&Desired, Error> {
        self.desired.as_ref().ok_or_else(|| Error::AisAccess {
            cluster: self.key.clone(),
            reason: "the spec cannot be built".into(),
        })
    }

    fn ais_error(&self, source: AisError) -> Error {
        Error::Ais {
            cluster: self.key.clone(),
            source,
        }
    }

    fn count(&self, kind: &str) {
        self.ctx.metrics.writes.with_label_values(&[kind]).inc();
    }

    async fn one(&mut self, action: &Action) -> Result<(), Error> {
        let ns = self.ns.clone();
        match action {
            Action::ApplyInventory { skip } => {
                owned::apply_prerequisites(self.ctx, &ns, self.desired()?, skip).await?;
            }
            Action::SweepInventory => {
                let uid = self.ais.meta().uid.as_deref().unwrap_or_default();
                let name = self.ais.name_any();
                let deleted = owned::sweep(self.ctx, &ns, &name, uid, self.desired()?).await?;
                for (kind, name) in deleted {
                    self.publish(&Note {
                        warning: false,
                        reason: "Deleted",
                        // One event series per kind (a series keeps its first note).
                        action: delete_action(kind),
                        text: format!("Deleted {kind} {name}: the spec no longer asks for it"),
                        pod: None,
                    })
                    .await;
                }
            }
            Action::Annotate { key, value } => self.annotate(key, value).await?,
            Action::ApplyStatefulSet {
                role,
                replicas,
                new_template,
                partition,
            } => {
                let live = self
                    .applied
                    .get(*role)
                    .clone()
                    .or_else(|| self.observed.statefulsets.get(*role).clone());
                let choice = StsChoice {
                    replicas: *replicas,
                    new_template: *new_template,
                    partition: *partition,
                };
                if *new_template {
                    self.ctx
                        .futile
                        .applied(&self.key, *role, self.desired()?, live.as_ref());
                }
                let desired = self.desired()?.statefulset(*role);
                let out = apply_choice(self.ctx, &ns, desired, live, choice).await?;
                *self.applied.get_mut(*role) = Some(out);
            }
            Action::Ais(call) => {
                let smap = self.observed.ais.smap();
                let result = self.session()?.run(call, smap).await;
                result.map_err(|e| self.ais_error(e))?;
            }
            Action::DeletePod(pod) => {
                let pods: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &ns);
                self.count("Pod");
                let deleted = pods.delete(pod, &DeleteParams::default()).await;
                // The UID of what was deleted: until the pod cache shows that pod terminating
                // or gone, the cluster's pods are listed (`pod_cache`).
                let uid = deleted.as_ref().ok().and_then(|d| {
                    d.as_ref().either(
                        |p| p.metadata.uid.clone(),
                        |status| status.details.as_ref().map(|d| d.uid.clone()),
                    )
                });
                ignore_missing(deleted, || format!("deleting pod {ns}/{pod}"))?;
                if let Some(uid) = uid {
                    let write = PodWrite::Deleted {
                        name: pod.clone(),
                        uid,
                    };
                    self.ctx.cache.pod_written(&ns, &self.ais.name_any(), write);
                }
            }
            Action::MarkDecommissioned { pod, node } => {
                let pods: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &ns);
                self.count("Pod");
                let patch = json!({"metadata": {"annotations": {DECOMMISSIONED_ANNOTATION: node}}});
                let result = pods
                    .patch(pod, &PatchParams::default(), &Patch::Merge(&patch))
                    .await;
                let uid = result.as_ref().ok().and_then(|p| p.metadata.uid.clone());
                ignore_missing(result, || format!("annotating pod {ns}/{pod}"))?;
                if let Some(uid) = uid {
                    let write = PodWrite::Annotated {
                        name: pod.clone(),
                        uid,
                        key: DECOMMISSIONED_ANNOTATION.to_string(),
                    };
                    self.ctx.cache.pod_written(&ns, &self.ais.name_any(), write);
                }
            }
            Action::SetRebalance { enabled, required } => {
                self.facts.rebalance_allowed = *enabled;
                let spec = self.spec.clone();
                self.desired = Some(build::build_with_spec(self.ais, spec, &self.facts)?);
                match self.push_config().await {
                    Ok(()) => {}
                    Err(err) if !required => {
                        tracing::warn!(%err, "could not push the rebalance setting");
                    }
                    Err(err) => return Err(err),
                }
            }
            Action::PushConfig => self.push_config().await?,
            Action::ShutdownAis => self.shutdown_ais().await,
            Action::StopAis {
                decommission,
                rm_user_data,
            } => {
                let session = self.session()?;
                let result = if *decommission {
                    session.decommission_cluster(*rm_user_data).await
                } else {
                    session.shutdown_cluster().await
                };
                result.map_err(|e| self.ais_error(e))?;
            }
            Action::ScaleToZero(role) => self.scale_to_zero(*role).await?,
            Action::Delete(kind, name) => {
                self.count(kind.as_str());
                owned::delete(&self.ctx.client, &ns, *kind, name).await?;
                if *kind == OwnedKind::StatefulSet {
                    self.ctx.cache.deleted::<StatefulSet>(&ns, name);
                }
            }
            Action::DeletePvc(name) => {
                let api: Api<PersistentVolumeClaim> = Api::namespaced(self.ctx.client.clone(), &ns);
                self.count("PersistentVolumeClaim");
                ignore_missing(api.delete(name, &DeleteParams::background()).await, || {
                    format!("deleting PersistentVolumeClaim {ns}/{name}")
                })?;
            }
            Action::CreateCleanupJob { node } => self.create_cleanup_job(node).await?,
            Action::DeleteJob(name) => {
                let jobs: Api<Job> = Api::namespaced(self.ctx.client.clone(), &ns);
                self.count("Job");
                ignore_missing(jobs.delete(name, &DeleteParams::background()).await, || {
                    format!("deleting Job {ns}/{name}")
                })?;
            }
            Action::RemoveFinalizer => {
                finalizer::remove(&self.ctx.client, self.ais).await?;
                self.ctx.clients.invalidate(&self.key);
                self.ctx.clients.tokens.forget(&self.key);
                self.ctx.swept.forget(&self.key);
                self.ctx.futile.forget(&self.key);
                self.ctx.last_writes.forget(self.ais);
                for role in Role::BOTH {
                    let sts = names::role_object(&self.ais.name_any(), role);
                    self.ctx.cache.forget::<StatefulSet>(&ns, &sts);
                }
                self.ctx.cache.forget_pods(&ns, &self.ais.name_any());
                self.ctx.metrics.set_state(&self.key, None);
            }
            Action::Event(note) => self.publish(note).await,
        }
        Ok(())
    }

    async fn publish(&self, note: &Note) {
        let type_ = if note.warning {
            EventType::Warning
        } else {
            EventType::Normal
        };
        if note.warning {
            tracing::warn!(reason = note.reason, pod = note.pod, "{}", note.text);
        } else {
            tracing::info!(reason = note.reason, pod = note.pod, "{}", note.text);
        }
        event_about(
            self.ctx,
            self.ais,
            type_,
            note.reason,
            note.action,
            note.text.clone(),
            note.pod.as_deref(),
        )
        .await;
    }

    async fn annotate(&self, key: &str, value: &str) -> Result<(), Error> {
        let api: Api<AIStore> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        self.count("AIStore");
        let params = apply::update_params();
        let written = api
            .patch(
                &self.ais.name_any(),
                &params,
                &Patch::Merge(&json!({"metadata": {"annotations": {key: value}}})),
            )
            .await
            .map_err(|source| Error::Kube {
                action: format!("annotating AIStore {}", self.key),
                source,
            })?;
        self.ctx.last_writes.record(&written);
        Ok(())
    }

    /// Writes the config into the ConfigMap and, when its hash changed, pushes it to AIS and
    /// records the hash.
    async fn push_config(&mut self) -> Result<(), Error> {
        let desired = self.desired()?;
        apply::apply(self.ctx, &self.ns, &desired.global_config_map).await?;
        if self.config_hash.as_deref() == Some(desired.config_hash.as_str()) {
            return Ok(());
        }
        let body = config_to_set(&desired.global_config);
        let hash = desired.config_hash.clone();
        let result = self.session()?.set_config(&body).await;
        result.map_err(|e| self.ais_error(e))?;
        self.annotate(CONFIG_HASH_ANNOTATION, &hash).await?;
        self.config_hash = Some(hash);
        Ok(())
    }

    /// AIS's shutdown call; the pods get SIGTERM anyway, which aisnode handles gracefully.
    async fn shutdown_ais(&self) {
        let Ok(session) = self.session() else {
            return;
        };
        let note = match session.shutdown_cluster().await {
            Ok(()) => Note {
                warning: false,
                reason: "ShuttingDown",
                action: "ShutdownCall",
                text: "AIS shut the cluster down".into(),
                pod: None,
            },
            Err(err) => Note {
                warning: true,
                reason: "ShutdownCall",
                action: "StartShutdown",
                text: format!("AIS shutdown call failed, stopping the pods instead: {err}"),
                pod: None,
            },
        };
        self.publish(&note).await;
    }

    async fn scale_to_zero(&self, role: Role) -> Result<(), Error> {
        let api: Api<StatefulSet> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        let sts = names::role_object(&self.ais.name_any(), role);
        self.count(OwnedKind::StatefulSet.as_str());
        let written = api
            .patch(
                &sts,
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": {"replicas": 0}})),
            )
            .await
            .map_err(|source| Error::Kube {
                action: format!("scaling StatefulSet {}/{sts} to 0", self.ns),
                source,
            })?;
        self.ctx.cache.wrote(&self.ns, &written);
        Ok(())
    }

    async fn create_cleanup_job(&self, node: &str) -> Result<(), Error> {
        let name = self.ais.name_any();
        let Some(dir) = cleanup::state_dir(self.spec, &self.ns, &name) else {
            return Ok(());
        };
        let job = cleanup::job(
            self.spec,
            &self.ns,
            &name,
            node,
            &dir,
            &self.ctx.cleanup_image,
        );
        let jobs: Api<Job> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        self.count("Job");
        match jobs.create(&PostParams::default(), &job).await {
            Ok(_) => Ok(()),
            // Made by an earlier attempt.
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
            Err(source) => Err(Error::Kube {
                action: format!("creating the host cleanup Job for node {node}"),
                source,
            }),
        }
    }
}

/// A delete or patch of an object that is gone already counts as done.
fn ignore_missing<T>(
    result: Result<T, kube::Error>,
    action: impl FnOnce() -> String,
) -> Result<(), Error> {
    match result {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(source) => Err(Error::Kube {
            action: action(),
            source,
        }),
    }
}

/// The event action of deleting an object of `kind` that left the inventory.
fn delete_action(kind: OwnedKind) -> &'static str {
    match kind {
        OwnedKind::ServiceAccount => "DeleteServiceAccount",
        OwnedKind::Role => "DeleteRole",
        OwnedKind::RoleBinding => "DeleteRoleBinding",
        OwnedKind::ConfigMap => "DeleteConfigMap",
        OwnedKind::Service => "DeleteService",
        OwnedKind::Certificate => "DeleteCertificate",
        OwnedKind::PodDisruptionBudget => "DeletePodDisruptionBudget",
        OwnedKind::Deployment => "DeleteDeployment",
        OwnedKind::StatefulSet => "DeleteStatefulSet",
    }
}

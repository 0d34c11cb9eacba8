//! Leader election on a `coordination.k8s.io` Lease: of several replicas, one reconciles; the
//! others wait. A replica that loses the lease stops reconciling and exits, so Kubernetes
//! restarts it as a follower; on SIGTERM the leader releases the lease for a fast handover.

use std::time::Duration;

use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Lease settings.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    /// Lease name.
    pub name: String,
    /// Namespace of the Lease.
    pub namespace: String,
    /// This replica's identity (pod name).
    pub identity: String,
    /// How long a lease is valid without renewal.
    pub duration: Duration,
    /// Extra time before a follower takes over an expired lease.
    pub grace: Duration,
}

/// A running election.
#[derive(Debug)]
pub struct Election {
    /// `true` while this replica holds the lease.
    pub leading: watch::Receiver<bool>,
    task: JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
}

impl Election {
    /// Joins the election.
    pub async fn start(
        client: Client,
        settings: &LeaseSettings,
    ) -> Result<Self, LeaseManagerError> {
        let manager = LeaseManagerBuilder::new(client, settings.name.clone())
            .with_namespace(settings.namespace.clone())
            .with_identity(settings.identity.clone())
            .with_duration(settings.duration.as_secs())
            .with_grace(settings.grace.as_secs())
            .with_field_manager("ais-operator")
            .build()
            .await?;
        let (leading, task) = manager.watch().await;
        Ok(Self { leading, task })
    }

    /// Waits until this replica leads. Returns `false` if the election ended first.
    pub async fn acquired(&mut self) -> bool {
        self.leading.wait_for(|l| *l).await.is_ok()
    }

    /// Resolves when this replica stops leading.
    pub async fn lost(&mut self) {
        let _ = self.leading.wait_for(|l| !*l).await;
    }

    /// Leaves the election, releasing the lease if held.
    pub async fn release(self) {
        drop(self.leading);
        match self.task.await {
            Ok(Ok(_)) => tracing::info!("lease released"),
            Ok(Err(err)) => tracing::warn!(%err, "releasing the lease failed"),
            Err(err) => tracing::warn!(%err, "the lease task failed"),
        }
    }
}

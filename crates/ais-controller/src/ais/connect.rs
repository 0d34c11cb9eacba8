//! The operator's AIS clients: one pooled client per cluster, rebuilt when its endpoint, TLS
//! settings or token change and dropped after AIS refuses its credentials; every call timed
//! and counted in the metrics.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ais_client::tls::ClientCert;
use ais_client::{ActValRmNode, AisClient, AisClientOptions, AisError, Smap, TlsOptions};
use serde_json::Value;

use super::endpoint::EndpointMode;
use crate::build::ApiAccess;
use crate::lifecycle::AisCall;
use crate::metrics::Metrics;

/// Installation-wide settings of the AIS clients (operator flags).
#[derive(Clone, Debug)]
pub struct ClientSettings {
    /// How the proxies are found.
    pub mode: EndpointMode,
    /// Timeout of every call.
    pub timeout: Duration,
    /// Skip certificate verification when the AIStore does not say
    /// (`spec.operatorSkipVerifyCrt`); env `OPERATOR_SKIP_VERIFY_CRT`.
    pub skip_verify: bool,
    /// Directory of CA certificates that verify AIS (`/etc/ais/ca`).
    pub ca_dir: Option<PathBuf>,
    /// Directory with the operator's client certificate (`tls.crt`, `tls.key`, `ca.crt`).
    pub client_cert_dir: PathBuf,
    /// Append `<namespace>/<name>` to `client_cert_dir`.
    pub client_cert_per_cluster: bool,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            mode: EndpointMode::Service,
            timeout: ais_client::DEFAULT_TIMEOUT,
            skip_verify: false,
            ca_dir: None,
            client_cert_dir: PathBuf::from("/etc/operator/tls"),
            client_cert_per_cluster: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Fingerprint {
    endpoint: String,
    skip_verify: bool,
    ca_dir: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    token: Option<String>,
}

/// The cache of AIS clients, by cluster (`namespace/name`).
#[derive(Clone, Debug, Default)]
pub struct Clients {
    settings: ClientSettings,
    cache: Arc<Mutex<HashMap<String, (Fingerprint, AisClient)>>>,
    /// The operator's tokens for clusters with `spec.auth`.
    pub tokens: super::Tokens,
}

impl Clients {
    /// A cache for `settings`.
    pub fn new(settings: ClientSettings) -> Self {
        Self {
            settings,
            cache: Arc::default(),
            tokens: super::Tokens::default(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    /// The client of a cluster at `endpoint`, reusing the cached one while nothing changed.
    pub fn session(
        &self,
        cluster: &str,
        endpoint: &str,
        api: &ApiAccess,
        token: Option<String>,
        metrics: Metrics,
    ) -> Result<Session, AisError> {
        let fp = self.fingerprint(cluster, endpoint, api, token);
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let client = match cache.get(cluster) {
            Some((cached, client)) if *cached == fp => client.clone(),
            _ => {
                let client = AisClient::with_options(options(&fp, self.settings.timeout))?;
                cache.insert(cluster.to_string(), (fp, client.clone()));
                client
            }
        };
        Ok(Session {
            client,
            cluster: cluster.to_string(),
            metrics,
            clients: self.clone(),
        })
    }

    /// Drops the cached client of `cluster` (after a 401/403, or when the cluster is gone).
    pub fn invalidate(&self, cluster: &str) {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(cluster);
    }

    fn fingerprint(
        &self,
        cluster: &str,
        endpoint: &str,
        api: &ApiAccess,
        token: Option<String>,
    ) -> Fingerprint {
        let s = &self.settings;
        let cert_dir = if s.client_cert_per_cluster {
            s.client_cert_dir.join(cluster)
        } else {
            s.client_cert_dir.clone()
        };
        let ca_dir = s
            .ca_dir
            .clone()
            .filter(|d| d.is_dir())
            .or_else(|| cert_dir.join("ca.crt").is_file().then(|| cert_dir.clone()));
        Fingerprint {
            endpoint: endpoint.to_string(),
            skip_verify: api.skip_verify.unwrap_or(s.skip_verify),
            ca_dir: if api.https { ca_dir } else { None },
            client_cert: (api.https && api.client_auth).then_some(cert_dir),
            token,
        }
    }
}

fn options(fp: &Fingerprint, timeout: Duration) -> AisClientOptions {
    let https = fp.endpoint.starts_with("https://");
    AisClientOptions {
        endpoint: fp.endpoint.clone(),
        timeout,
        token: fp.token.clone(),
        tls: https.then(|| TlsOptions {
            ca_dir: fp.ca_dir.clone(),
            client_cert: fp.client_cert.as_ref().map(|d| ClientCert {
                cert_chain: d.join("tls.crt"),
                key: d.join("tls.key"),
            }),
            skip_verify: fp.skip_verify,
        }),
    }
}

/// A cluster's AIS client for one reconcile: every call is timed and counted, and a refused
/// credential drops the cached client so the next reconcile logs in again.
#[derive(Clone, Debug)]
pub struct Session {
    client: AisClient,
    cluster: String,
    metrics: Metrics,
    clients: Clients,
}

impl Session {
    /// The endpoint called.
    pub fn endpoint(&self) -> &str {
        self.client.endpoint()
    }

    async fn timed<T>(
        &self,
        call: &str,
        fut: impl Future<Output = Result<T, AisError>>,
    ) -> Result<T, AisError> {
        let started = Instant::now();
        let result = fut.await;
        self.metrics.ais_call(
            &self.cluster,
            call,
            result.is_ok(),
            started.elapsed().as_secs_f64(),
        );
        if let Err(err) = &result
            && err.is_auth_error()
        {
            self.clients.invalidate(&self.cluster);
            self.clients.tokens.invalidate(&self.cluster).await;
        }
        result
    }

    /// `health` with ready-to-rebalance: the cluster is up and may rebalance.
    pub async fn healthy(&self) -> Result<(), AisError> {
        self.timed("health", self.client.health(true)).await
    }

    /// The cluster map.
    pub async fn smap(&self) -> Result<Smap, AisError> {
        self.timed("cluster_map", self.client.cluster_map()).await
    }

    /// The rebalances AIS still awaits (`rebalance[id]`), empty when none: while one is, the
    /// primary refuses to remove a node.
    pub async fn awaited_rebalance(&self) -> Result<Vec<String>, AisError> {
        self.timed(
            "awaited_xactions",
            self.client.awaited_xactions("rebalance"),
        )
        .await
    }

    /// Pushes a config (`set-config`, persistent).
    pub async fn set_config(&self, config: &Value) -> Result<(), AisError> {
        self.timed("set_config", self.client.set_cluster_config(config, false))
            .await
    }

    /// Shuts the whole cluster down, keeping its metadata.
    pub async fn shutdown_cluster(&self) -> Result<(), AisError> {
        self.timed("shutdown_cluster", self.client.shutdown_cluster())
            .await
    }

    /// Decommissions the whole cluster (metadata gone; user data too with `rm_user_data`).
    pub async fn decommission_cluster(&self, rm_user_data: bool) -> Result<(), AisError> {
        self.timed(
            "decommission_cluster",
            self.client.decommission_cluster(rm_user_data),
        )
        .await
    }

    /// `decommission-node`, its rebalance ID dropped (the cluster map tells when it ended).
    async fn decommission(&self, node: &str, rm_user_data: bool) -> Result<(), AisError> {
        let val = ActValRmNode {
            rm_user_data,
            ..ActValRmNode::for_node(node.to_string())
        };
        self.timed("decommission_node", self.client.decommission_node(&val))
            .await
            .map(drop)
    }

    /// Carries out one call of a lifecycle step.
    pub async fn run(&self, call: &AisCall, smap: Option<&Smap>) -> Result<(), AisError> {
        match call {
            AisCall::StartMaintenance { node, .. } => {
                let val = ActValRmNode {
                    skip_rebalance: true,
                    ..ActValRmNode::for_node(node.clone())
                };
                self.timed("start_maintenance", self.client.start_maintenance(&val))
                    .await
                    .map(drop)
            }
            AisCall::StopMaintenance { node, .. } => {
                let val = ActValRmNode::for_node(node.clone());
                self.timed("stop_maintenance", self.client.stop_maintenance(&val))
                    .await
                    .map(drop)
            }
            AisCall::Decommission {
                node, rm_user_data, ..
            } => self.decommission(node, *rm_user_data).await,
            AisCall::FinishDecommission {
                node, rm_user_data, ..
            } => {
                match self.decommission(node, *rm_user_data).await {
                    // A refusal is an answer, not a failure: AIS refuses (400) while a
                    // rebalance runs and when the node left the map between our read and the
                    // call (404, or 400 when it left during the call); the next poll looks
                    // again.
                    Err(err) if matches!(err.status(), Some(400 | 404)) => {
                        tracing::info!(%node, %err, "AIS did not remove the node yet");
                        Ok(())
                    }
                    other => other,
                }
            }
            AisCall::SetPrimary { node, .. } => {
                let url = smap
                    .and_then(|m| m.get_node(node))
                    .map(|n| n.public_net.direct_url.clone())
                    .unwrap_or_default();
                self.timed("set_primary", self.client.set_primary(node, &url))
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn metrics() -> Metrics {
        Metrics::new(&prometheus::Registry::new()).unwrap()
    }

    #[test]
    fn the_client_is_reused_until_something_changes() {
        let clients = Clients::new(ClientSettings::default());
        let api = ApiAccess::default();
        let a = clients
            .session("ns/a", "http://10.0.0.1:51080", &api, None, metrics())
            .unwrap();
        let b = clients
            .session("ns/a", "http://10.0.0.1:51080", &api, None, metrics())
            .unwrap();
        assert_eq!(a.endpoint(), b.endpoint());
        let fp = |c: &Clients| c.cache.lock().unwrap().get("ns/a").unwrap().0.clone();
        let before = fp(&clients);
        clients
            .session("ns/a", "http://10.0.0.2:51080", &api, None, metrics())
            .unwrap();
        assert_ne!(fp(&clients), before, "a new endpoint makes a new client");
        clients.invalidate("ns/a");
        assert!(clients.cache.lock().unwrap().get("ns/a").is_none());
    }

    #[test]
    fn skip_verify_follows_the_spec_then_the_installation() {
        let clients = Clients::new(ClientSettings {
            skip_verify: true,
            ..ClientSettings::default()
        });
        let mut api = ApiAccess {
            https: true,
            ..ApiAccess::default()
        };
        assert!(
            clients
                .fingerprint("ns/a", "https://x:1", &api, None)
                .skip_verify
        );
        api.skip_verify = Some(false);
        assert!(
            !clients
                .fingerprint("ns/a", "https://x:1", &api, None)
                .skip_verify
        );
    }

    #[test]
    fn client_certificates_only_when_ais_asks_for_them() {
        let clients = Clients::new(ClientSettings {
            client_cert_per_cluster: true,
            ..ClientSettings::default()
        });
        let mut api = ApiAccess {
            https: true,
            ..ApiAccess::default()
        };
        assert_eq!(
            clients
                .fingerprint("ns/a", "https://x:1", &api, None)
                .client_cert,
            None
        );
        api.client_auth = true;
        assert_eq!(
            clients
                .fingerprint("ns/a", "https://x:1", &api, None)
                .client_cert,
            Some(PathBuf::from("/etc/operator/tls/ns/a"))
        );
    }
}

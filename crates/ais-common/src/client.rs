//! The Kubernetes client of the operator binaries: in-cluster config or `KUBECONFIG`, with a
//! user agent naming the component, so its requests are recognizable in audit logs.

use http::{HeaderName, HeaderValue};

/// Errors while creating the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No usable configuration.
    #[error("no Kubernetes configuration (in-cluster service account or KUBECONFIG): {0}")]
    Config(#[from] kube::config::InferConfigError),
    /// The client could not be built.
    #[error("building the Kubernetes client: {0}")]
    Build(#[from] kube::Error),
}

/// The user agent of `component`, e.g. `ais-operator/0.1.0 (controller)`.
pub fn user_agent(component: &str) -> String {
    format!("ais-operator/{} ({component})", env!("CARGO_PKG_VERSION"))
}

/// A client for `component` (`controller`, `webhook`; a replica may append its identity, as in
/// `controller; pod-1`).
pub async fn kube_client(component: &str) -> Result<kube::Client, ClientError> {
    let mut config = kube::Config::infer().await?;
    if let Ok(value) = HeaderValue::from_str(&user_agent(component)) {
        config
            .headers
            .push((HeaderName::from_static("user-agent"), value));
    }
    Ok(kube::Client::try_from(config)?)
}

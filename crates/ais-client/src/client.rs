//! [`AisClient`]: the AIS REST calls the operator makes, with a per-call timeout, a bearer
//! token and HTTP or HTTPS.
//!
//! Transport choice: hyper 1 + hyper-util's pooled legacy client + hyper-rustls, all with
//! `default-features = false` and rustls' `ring` provider. The workspace already builds
//! hyper, hyper-util, rustls and tokio-rustls with ring for the webhook and kube, so this adds
//! no second TLS stack and no aws-lc-rs (which reqwest's default rustls feature pulls in and
//! which needs cmake/NASM); and it gives direct control of the rustls config (CA directory,
//! mTLS, skip-verify).

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, header};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::actions::{ActMsg, ActValRmNode, names};
use crate::error::{AisError, body_excerpt};
use crate::exchange::{ExchangeError, HttpClient, exchange};
use crate::tls::{TlsOptions, client_config, plain_http_config};
use crate::types::{Smap, Snode};

/// Per-call timeout when none is given (the reference operator uses 10 s too).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

const USER_AGENT: &str = "ais-operator";
/// Longest AIS answer read (a cluster map of thousands of nodes is a few MiB).
const MAX_ANSWER_LEN: usize = 64 << 20;

/// How to reach and authenticate to AIS.
#[derive(Debug, Clone)]
pub struct AisClientOptions {
    /// Base URL of a proxy (or the proxy Service), e.g. `http://ais-proxy.ns:51080`.
    pub endpoint: String,
    /// Per-call timeout: connect, send and read the whole answer.
    pub timeout: Duration,
    /// `Authorization: Bearer <token>` on every call.
    pub token: Option<String>,
    /// HTTPS settings; needed when `endpoint` is `https://`.
    pub tls: Option<TlsOptions>,
}

impl AisClientOptions {
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            timeout: DEFAULT_TIMEOUT,
            token: None,
            tls: None,
        }
    }
}

/// A client for one AIS endpoint. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct AisClient {
    base: String,
    timeout: Duration,
    auth: Option<HeaderValue>,
    http: HttpClient,
}

impl std::fmt::Debug for AisClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AisClient")
            .field("base", &self.base)
            .field("timeout", &self.timeout)
            .field("token", &self.auth.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl AisClient {
    /// A client for `endpoint` with the default timeout, no token, plain HTTP.
    pub fn new(endpoint: impl Into<String>) -> Result<Self, AisError> {
        Self::with_options(AisClientOptions::new(endpoint))
    }

    pub fn with_options(opts: AisClientOptions) -> Result<Self, AisError> {
        let base = opts.endpoint.trim_end_matches('/').to_owned();
        let invalid = |reason: &str| AisError::InvalidEndpoint {
            url: opts.endpoint.clone(),
            reason: reason.to_owned(),
        };
        let uri: http::Uri = base.parse().map_err(|e| invalid(&format!("{e}")))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(invalid("scheme must be http or https")),
        };
        if uri.host().is_none_or(str::is_empty) {
            return Err(invalid("no host"));
        }
        if uri.query().is_some() {
            return Err(invalid("must not have a query"));
        }

        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(opts.timeout));
        let connector = match (&opts.tls, https) {
            (Some(tls), _) => hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(client_config(tls)?)
                .https_or_http()
                .enable_http1()
                .wrap_connector(http),
            (None, true) => {
                return Err(invalid(
                    "https endpoint needs TLS options (CA dir or skip_verify)",
                ));
            }
            (None, false) => {
                // Plain HTTP: the rustls config is never used; the connector type is shared.
                hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(plain_http_config()?)
                    .https_or_http()
                    .enable_http1()
                    .wrap_connector(http)
            }
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);

        let auth = match opts.token.as_deref().filter(|t| !t.is_empty()) {
            Some(t) => Some(
                HeaderValue::from_str(&format!("Bearer {t}"))
                    .map_err(|_| {
                        AisError::Tls("token has characters not allowed in a header".into())
                    })
                    .map(|mut v| {
                        v.set_sensitive(true);
                        v
                    })?,
            ),
            None => None,
        };
        Ok(Self {
            base,
            timeout: opts.timeout,
            auth,
            http: client,
        })
    }

    /// The base URL calls go to.
    pub fn endpoint(&self) -> &str {
        &self.base
    }

    /// The per-call timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Same endpoint, another per-call timeout.
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            timeout,
            ..self.clone()
        }
    }

    /// `GET /v1/health` (liveness), or with `ready_to_rebalance` `GET /v1/health?prr=true`:
    /// the primary answers 200 only once the cluster has started and its rebalance state has
    /// settled (the operator's readiness check). A 503 comes back as [`AisError::Status`]
    /// ([`AisError::is_unavailable`]).
    pub async fn health(&self, ready_to_rebalance: bool) -> Result<(), AisError> {
        let path = if ready_to_rebalance {
            "/v1/health?prr=true"
        } else {
            "/v1/health"
        };
        self.call("health", Method::GET, path, None).await.map(drop)
    }

    /// `GET /v1/health?readiness=true`: the Kubernetes readiness of the answering node.
    pub async fn node_readiness(&self) -> Result<(), AisError> {
        self.call("readiness", Method::GET, "/v1/health?readiness=true", None)
            .await
            .map(drop)
    }

    /// `GET /v1/daemon?what=smap`: the answering proxy's copy of the cluster map.
    pub async fn cluster_map(&self) -> Result<Smap, AisError> {
        self.get_json("cluster map", "/v1/daemon?what=smap").await
    }

    /// `GET /v1/cluster?what=running_all` with body `{"kind":<kind>}`: the xactions of that
    /// kind running on any target, each as `kind[id]` (empty when none). The proxy asks every
    /// target, so this is one request whatever the cluster's size.
    pub async fn running_xactions(&self, kind: &str) -> Result<Vec<String>, AisError> {
        let query = serde_json::json!({ "kind": kind });
        self.xaction_query("running xactions", "running_all", &query)
            .await
    }

    /// `GET /v1/cluster?what=status_all` with body `{"kind":<kind>,"show_active":true}`: the
    /// xactions of that kind whose completion the answering proxy still awaits, each as
    /// `kind[id]`. This is the primary's own test before it accepts a node's removal
    /// ("rebalance[..] is currently running, please try .. later"): a rebalance counts until
    /// every target reported it finished, which can be long after `running_xactions` shows
    /// none. Every proxy of the information center (the primary and up to two more) keeps
    /// these records; another proxy answers with none.
    pub async fn awaited_xactions(&self, kind: &str) -> Result<Vec<String>, AisError> {
        #[derive(serde::Deserialize)]
        struct Status {
            kind: String,
            uuid: String,
        }
        let query = serde_json::json!({ "kind": kind, "show_active": true });
        let statuses: Vec<Status> = self
            .xaction_query("awaited xactions", "status_all", &query)
            .await?;
        Ok(statuses
            .into_iter()
            .map(|s| format!("{}[{}]", s.kind, s.uuid))
            .collect())
    }

    /// `GET /v1/cluster?what=<what>` with a JSON query body, answered with a list (AIS writes
    /// an empty body or JSON `null` for none).
    async fn xaction_query<T: serde::de::DeserializeOwned>(
        &self,
        call: &'static str,
        what: &str,
        query: &serde_json::Value,
    ) -> Result<Vec<T>, AisError> {
        let path = format!("/v1/cluster?what={what}");
        let body = serde_json::to_vec(query).map_err(|source| AisError::Encode { call, source })?;
        let answer = self
            .call(call, Method::GET, &path, Some(Bytes::from(body)))
            .await?;
        if answer.iter().all(u8::is_ascii_whitespace) {
            return Ok(Vec::new());
        }
        let list: Option<Vec<T>> =
            serde_json::from_slice(&answer).map_err(|source| AisError::Decode {
                call,
                url: self.url(&path),
                source,
                body: body_excerpt(&answer),
            })?;
        Ok(list.unwrap_or_default())
    }

    /// `GET /v1/cluster?what=cluster_config`: the full cluster config as JSON.
    pub async fn cluster_config(&self) -> Result<serde_json::Value, AisError> {
        self.get_json("get cluster config", "/v1/cluster?what=cluster_config")
            .await
    }

    /// `GET /v1/daemon?what=config`: the answering node's own config (cluster + local).
    pub async fn node_config(&self) -> Result<serde_json::Value, AisError> {
        self.get_json("get node config", "/v1/daemon?what=config")
            .await
    }

    /// `PUT /v1/cluster` `{"action":"set-config","value":<ConfigToSet>}`. `config` is a
    /// partial config with AIS's JSON keys (e.g. `{"rebalance":{"enabled":false}}`).
    /// `transient=true` keeps it in memory only; the operator passes `false`.
    pub async fn set_cluster_config(
        &self,
        config: &serde_json::Value,
        transient: bool,
    ) -> Result<(), AisError> {
        let path = if transient {
            "/v1/cluster?transient=true"
        } else {
            "/v1/cluster"
        };
        self.act(
            "set cluster config",
            path,
            &ActMsg::new(names::SET_CONFIG, config),
        )
        .await
        .map(drop)
    }

    /// `PUT /v1/cluster/proxy/<id>?frc=true&can=<url>`: make proxy `daemon_id` the primary.
    /// `candidate_url` is the proxy's public URL (`public_net.direct_url`).
    pub async fn set_primary(&self, daemon_id: &str, candidate_url: &str) -> Result<(), AisError> {
        let path = format!(
            "/v1/cluster/proxy/{}?frc=true&can={}",
            encode(daemon_id),
            encode(candidate_url)
        );
        self.call("set primary", Method::PUT, &path, None)
            .await
            .map(drop)
    }

    /// [`Self::set_primary`] to `node` using its public URL.
    pub async fn set_primary_node(&self, node: &Snode) -> Result<(), AisError> {
        self.set_primary(&node.daemon_id, &node.public_net.direct_url)
            .await
    }

    /// `start-maintenance`. Returns the rebalance xaction ID, if one started.
    pub async fn start_maintenance(&self, val: &ActValRmNode) -> Result<Option<String>, AisError> {
        self.rm_node("start maintenance", names::START_MAINTENANCE, val)
            .await
    }

    /// `stop-maintenance`. Returns the rebalance xaction ID, if one started.
    pub async fn stop_maintenance(&self, val: &ActValRmNode) -> Result<Option<String>, AisError> {
        self.rm_node("stop maintenance", names::STOP_MAINTENANCE, val)
            .await
    }

    /// `decommission-node`. Returns the rebalance xaction ID, if one started. The node leaves
    /// the cluster map when done and exits unless `no_shutdown`.
    pub async fn decommission_node(&self, val: &ActValRmNode) -> Result<Option<String>, AisError> {
        self.rm_node("decommission node", names::DECOMMISSION_NODE, val)
            .await
    }

    /// `PUT /v1/cluster` `{"action":"shutdown","value":null}`: every node exits, metadata is
    /// kept.
    pub async fn shutdown_cluster(&self) -> Result<(), AisError> {
        let msg = ActMsg::new(names::SHUTDOWN_CLUSTER, None::<()>);
        self.act("shutdown cluster", "/v1/cluster", &msg)
            .await
            .map(drop)
    }

    /// `PUT /v1/cluster` `{"action":"decommission"}`: every node wipes its AIS metadata (and
    /// user data if `rm_user_data`) and exits. The connection may break as the primary exits;
    /// like the reference client, a broken connection counts as success here.
    pub async fn decommission_cluster(&self, rm_user_data: bool) -> Result<(), AisError> {
        let val = rm_user_data.then(|| ActValRmNode {
            rm_user_data: true,
            ..ActValRmNode::default()
        });
        let msg = ActMsg::new(names::DECOMMISSION_CLUSTER, val);
        match self.act("decommission cluster", "/v1/cluster", &msg).await {
            Err(AisError::Body { .. }) => Ok(()),
            Err(AisError::Request { source, .. }) if !source.is_connect() => Ok(()),
            other => other.map(drop),
        }
    }

    async fn rm_node(
        &self,
        call: &'static str,
        action: &str,
        val: &ActValRmNode,
    ) -> Result<Option<String>, AisError> {
        let body = self
            .act(call, "/v1/cluster", &ActMsg::new(action, val))
            .await?;
        let xid = String::from_utf8_lossy(&body).trim().to_owned();
        Ok((!xid.is_empty()).then_some(xid))
    }

    async fn act<T: Serialize>(
        &self,
        call: &'static str,
        path: &str,
        msg: &ActMsg<T>,
    ) -> Result<Bytes, AisError> {
        let body = serde_json::to_vec(msg).map_err(|source| AisError::Encode { call, source })?;
        self.call(call, Method::PUT, path, Some(Bytes::from(body)))
            .await
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        call: &'static str,
        path: &str,
    ) -> Result<T, AisError> {
        let body = self.call(call, Method::GET, path, None).await?;
        serde_json::from_slice(&body).map_err(|source| AisError::Decode {
            call,
            url: self.url(path),
            source,
            body: body_excerpt(&body),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// One call: send, read the whole answer within the timeout, map ≥400 to an error.
    async fn call(
        &self,
        call: &'static str,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Bytes, AisError> {
        let url = self.url(path);
        let mut req = Request::builder()
            .method(method)
            .uri(&url)
            .header(header::USER_AGENT, USER_AGENT);
        if let Some(auth) = &self.auth {
            req = req.header(header::AUTHORIZATION, auth.clone());
        }
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req.body(Full::new(body.unwrap_or_default())).map_err(|e| {
            AisError::InvalidEndpoint {
                url: url.clone(),
                reason: e.to_string(),
            }
        })?;

        let (status, bytes) = exchange(&self.http, req, self.timeout, MAX_ANSWER_LEN)
            .await
            .map_err(|e| match e {
                ExchangeError::Request(source) => AisError::Request {
                    call,
                    url: url.clone(),
                    source,
                },
                ExchangeError::Body(source) => AisError::Body {
                    call,
                    url: url.clone(),
                    source,
                },
                ExchangeError::Timeout => AisError::Timeout {
                    call,
                    url: url.clone(),
                    timeout: self.timeout,
                },
            })?;
        tracing::debug!(call, %url, status = status.as_u16(), "AIS call");
        if status.is_success() {
            return Ok(bytes);
        }
        Err(AisError::Status {
            call,
            url,
            status: status.as_u16(),
            body: if status == StatusCode::SERVICE_UNAVAILABLE && bytes.is_empty() {
                "starting up, please try again later".to_owned()
            } else {
                body_excerpt(&bytes)
            },
        })
    }
}

/// Percent-encode everything but RFC 3986 unreserved characters (path segment or query value).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn encodes_query_values() {
        assert_eq!(
            encode("http://127.0.0.1:8083"),
            "http%3A%2F%2F127.0.0.1%3A8083"
        );
        assert_eq!(encode("p-1_x.y~"), "p-1_x.y~");
    }

    #[test]
    fn endpoint_validation() {
        assert!(AisClient::new("ftp://x").is_err());
        assert!(AisClient::new("http://").is_err());
        assert!(AisClient::new("http://x:1/?a=b").is_err());
        assert!(AisClient::new("https://x:1").is_err());
        let c = AisClient::new("http://127.0.0.1:1/").unwrap();
        assert_eq!(c.endpoint(), "http://127.0.0.1:1");
        assert_eq!(c.timeout(), DEFAULT_TIMEOUT);
        let tls = AisClient::with_options(AisClientOptions {
            token: Some("abc".into()),
            tls: Some(TlsOptions {
                skip_verify: true,
                ..TlsOptions::default()
            }),
            ..AisClientOptions::new("https://x:1")
        })
        .unwrap();
        assert!(!format!("{tls:?}").contains("abc"));
    }

    #[tokio::test]
    async fn unreachable_node_names_call_and_url() {
        // Port 1 on loopback: nothing listens there.
        let c = AisClient::new("http://127.0.0.1:1").unwrap();
        let err = c.cluster_map().await.unwrap_err();
        assert!(err.is_connection_error(), "{err}");
        let s = err.to_string();
        assert!(s.contains("cluster map") && s.contains("http://127.0.0.1:1/v1/daemon?what=smap"));
    }

    /// A one-shot HTTP server on loopback: returns its URL and the raw request it got.
    async fn one_shot(
        answer: Option<&'static str>,
    ) -> (String, tokio::sync::oneshot::Receiver<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 8192];
            let n = s.read(&mut buf).await.unwrap();
            let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
            match answer {
                Some(a) => s.write_all(a.as_bytes()).await.unwrap(),
                None => tokio::time::sleep(Duration::from_secs(30)).await,
            }
        });
        (url, rx)
    }

    #[tokio::test]
    async fn sends_token_user_agent_and_act_msg() {
        let (url, rx) = one_shot(Some("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nxid-42")).await;
        let c = AisClient::with_options(AisClientOptions {
            token: Some("tok".into()),
            ..AisClientOptions::new(url)
        })
        .unwrap();
        let xid = c
            .start_maintenance(&ActValRmNode {
                skip_rebalance: true,
                ..ActValRmNode::for_node("t1")
            })
            .await
            .unwrap();
        assert_eq!(xid.as_deref(), Some("xid-42"));
        let req = rx.await.unwrap().to_ascii_lowercase();
        assert!(req.starts_with("put /v1/cluster http/1.1"), "{req}");
        assert!(req.contains("authorization: bearer tok"), "{req}");
        assert!(req.contains("user-agent: ais-operator"), "{req}");
        assert!(req.contains("content-type: application/json"), "{req}");
        assert!(req.contains(r#""action":"start-maintenance""#), "{req}");
    }

    #[tokio::test]
    async fn set_primary_query_and_error_body() {
        let (url, rx) = one_shot(Some(
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 33\r\n\r\n{\"message\":\"not electable\",\"x\":1}",
        ))
        .await;
        let c = AisClient::new(url).unwrap();
        let err = c.set_primary("p1", "http://h:1").await.unwrap_err();
        assert_eq!(err.status(), Some(400));
        assert!(
            err.to_string().contains("set primary") && err.to_string().contains("not electable")
        );
        let req = rx.await.unwrap();
        assert!(
            req.starts_with("PUT /v1/cluster/proxy/p1?frc=true&can=http%3A%2F%2Fh%3A1 HTTP/1.1"),
            "{req}"
        );
    }

    #[tokio::test]
    async fn per_call_timeout() {
        let (url, _rx) = one_shot(None).await;
        let c = AisClient::new(url)
            .unwrap()
            .with_timeout(Duration::from_millis(300));
        let err = c.health(false).await.unwrap_err();
        assert!(matches!(err, AisError::Timeout { .. }), "{err}");
        assert!(err.to_string().contains("300ms"), "{err}");
    }
}

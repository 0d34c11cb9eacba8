//! A real webhook server on 127.0.0.1 with certificates from a throwaway CA, and an HTTPS
//! client for it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ais_common::health::Readiness;
use ais_webhook::certs::{CertPaths, CertStore};
use ais_webhook::metrics::Metrics;
use ais_webhook::routes::{Settings, router};
use ais_webhook::server::{Limits, serve, tls_config};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

pub struct Ca {
    key: rcgen::KeyPair,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pub cert_der: CertificateDer<'static>,
}

impl Ca {
    pub fn new() -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "test ca");
        let cert = params.self_signed(&key).unwrap();
        let cert_der = cert.der().clone();
        let issuer = rcgen::Issuer::new(
            params,
            rcgen::KeyPair::from_pem(&key.serialize_pem()).unwrap(),
        );
        Self {
            key,
            issuer,
            cert_der,
        }
    }

    /// A serving pair for 127.0.0.1/localhost: (cert PEM, key PEM, cert DER).
    pub fn leaf(&self, cn: &str) -> (String, String, CertificateDer<'static>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().clone())
    }
}

/// Writes a pair the way the kubelet updates a Secret volume: into a fresh timestamped
/// directory, then an atomic swap of the `..data` symlink.
pub fn publish(dir: &Path, cert: &str, key: &str, generation: u32) {
    let data = dir.join(format!("..{generation}"));
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("tls.crt"), cert).unwrap();
    std::fs::write(data.join("tls.key"), key).unwrap();
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(data.file_name().unwrap(), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    for name in ["tls.crt", "tls.key"] {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(PathBuf::from("..data").join(name), &link).unwrap();
        }
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub store: Arc<CertStore>,
    pub metrics: Metrics,
    pub registry: prometheus::Registry,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub async fn start(cert_dir: &Path, reload: Duration, settings: Settings) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let registry = prometheus::Registry::new();
        let metrics = Metrics::new(&registry).unwrap();
        let store = CertStore::new(
            CertPaths {
                cert: cert_dir.join("tls.crt"),
                key: cert_dir.join("tls.key"),
            },
            provider.clone(),
            metrics.clone(),
            Readiness::default(),
        );
        store.reload().unwrap();
        let tls = Arc::new(tls_config(provider, store.clone()).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, rx) = tokio::sync::watch::channel(false);
        let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        tokio::spawn(store.clone().watch(reload, wait(rx.clone())));
        let app = router(settings, metrics.clone(), None);
        let task = tokio::spawn(serve(listener, tls, app, Limits::default(), wait(rx)));
        Self {
            addr,
            store,
            metrics,
            registry,
            stop,
            task,
        }
    }

    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

pub fn connector(ca: &CertificateDer<'static>, alpn: &[&[u8]], tls12_only: bool) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12_only {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    // Full handshakes only: a resumed session would not show the certificate now served.
    config.resumption = rustls::client::Resumption::disabled();
    TlsConnector::from(Arc::new(config))
}

/// An HTTP/1.1 keep-alive connection.
pub struct Client {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    pub peer_cert: CertificateDer<'static>,
}

impl Client {
    pub async fn connect(addr: SocketAddr, connector: &TlsConnector) -> Result<Self, String> {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let tls = connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .map_err(|e| e.to_string())?;
        let peer_cert = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        Ok(Self { sender, peer_cert })
    }

    pub async fn post(&mut self, path: &str, body: Vec<u8>) -> Result<(u16, Vec<u8>), String> {
        let req = hyper::Request::post(path)
            .header("content-type", "application/json")
            .header("host", "localhost")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, bytes.to_vec()))
    }
}

pub fn review(op: &str, spec: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "uid-1",
            "kind": {"group": "ais.nvidia.com", "version": "v1beta1", "kind": "AIStore"},
            "resource": {"group": "ais.nvidia.com", "version": "v1beta1", "resource": "aistores"},
            "name": "ais", "namespace": "ns", "operation": op,
            "userInfo": {"username": "alice"},
            "object": {"apiVersion": "ais.nvidia.com/v1beta1", "kind": "AIStore", "metadata": {"name": "ais", "namespace": "ns"}, "spec": spec},
            "oldObject": null
        }
    }))
    .unwrap()
}

pub fn valid_spec() -> serde_json::Value {
    serde_json::json!({
        "size": 1, "nodeImage": "n:1", "initImage": "i:1",
        "stateStorage": {"hostPath": {"prefix": "/etc/ais"}},
        "proxySpec": {"servicePort": 51080, "portPublic": 51080, "portIntraControl": 51082, "portIntraData": 51083},
        "targetSpec": {"servicePort": 51081, "portPublic": 51081, "portIntraControl": 51082, "portIntraData": 51083,
                        "mounts": [{"path": "/ais1", "size": "10Gi"}]}
    })
}

/// The response's `patch`: kube serializes the bytes as a JSON array of numbers (which the
/// API server decodes into its `[]byte`); base64 strings are accepted too.
pub fn patch_bytes(v: &serde_json::Value) -> Vec<u8> {
    match v {
        serde_json::Value::Array(items) => items
            .iter()
            .map(|n| u8::try_from(n.as_u64().unwrap()).unwrap())
            .collect(),
        other => panic!("unexpected patch encoding: {other}"),
    }
}

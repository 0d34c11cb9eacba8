//! rustls client configuration for HTTPS to AIS: a CA bundle directory, an optional client
//! certificate (mTLS) and an explicit skip-verify switch. Only the `ring` crypto provider is
//! used (no aws-lc-rs, which needs cmake/NASM to build).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::Resumption;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::error::AisError;

/// HTTPS settings of an [`crate::AisClient`].
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Directory of PEM files with the CA certificates to trust (e.g. a mounted Secret or
    /// ConfigMap). Every regular, non-hidden file is read; files without certificates (keys)
    /// are ignored.
    pub ca_dir: Option<PathBuf>,
    /// Client certificate chain and private key (PEM) for mutual TLS.
    pub client_cert: Option<ClientCert>,
    /// Accept any server certificate. Insecure; for tests and self-signed dev clusters only.
    pub skip_verify: bool,
}

#[derive(Debug, Clone)]
pub struct ClientCert {
    pub cert_chain: PathBuf,
    pub key: PathBuf,
}

fn ring_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Build the rustls client config for `opts`.
pub fn client_config(opts: &TlsOptions) -> Result<ClientConfig, AisError> {
    let provider = ring_provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| AisError::Tls(format!("protocol versions: {e}")))?;

    let builder = if opts.skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(
                provider.signature_verification_algorithms,
            )))
    } else {
        let mut roots = RootCertStore::empty();
        if let Some(dir) = &opts.ca_dir {
            for cert in load_ca_dir(dir)? {
                roots
                    .add(cert)
                    .map_err(|e| AisError::Tls(format!("CA in {}: {e}", dir.display())))?;
            }
        }
        if roots.is_empty() {
            return Err(AisError::Tls(
                "HTTPS needs a CA bundle directory (ca_dir) or skip_verify".to_owned(),
            ));
        }
        builder.with_root_certificates(roots)
    };

    let mut config = match &opts.client_cert {
        Some(cc) => {
            let chain = load_certs(&cc.cert_chain)?;
            if chain.is_empty() {
                return Err(AisError::Tls(format!(
                    "no certificate in {}",
                    cc.cert_chain.display()
                )));
            }
            let key = PrivateKeyDer::from_pem_file(&cc.key)
                .map_err(|e| AisError::Tls(format!("client key {}: {e}", cc.key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| AisError::Tls(format!("client certificate: {e}")))?
        }
        None => builder.with_no_client_auth(),
    };
    // No ALPN here: the hyper-rustls connector sets it (HTTP/1.1 only).
    // Sessions of the one server a client talks to. rustls's default cache is sized for 32
    // servers and allocated whole with each config; the controller holds a client per
    // cluster, so that was about 16 KiB a cluster kept for servers never met.
    config.resumption = Resumption::in_memory_sessions(SESSION_TICKETS);
    Ok(config)
}

/// TLS tickets a client keeps: rustls keeps up to 8 per server, and a client talks to one
/// endpoint.
const SESSION_TICKETS: usize = 8;

/// The config of a plain-HTTP client, which never makes a TLS connection (the connector
/// type is shared with HTTPS): no session cache at all.
pub fn plain_http_config() -> Result<ClientConfig, AisError> {
    let mut config = ClientConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| AisError::Tls(e.to_string()))?
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth();
    config.resumption = Resumption::disabled();
    Ok(config)
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, AisError> {
    CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| AisError::Tls(format!("{}: {e}", path.display())))
}

/// All certificates of the PEM files in `dir` (sorted by name; hidden files such as the
/// `..data` links of mounted volumes are skipped).
pub fn load_ca_dir(dir: &Path) -> Result<Vec<CertificateDer<'static>>, AisError> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| AisError::Tls(format!("CA directory {}: {e}", dir.display())))?;
    let mut paths: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    let mut certs = Vec::new();
    for p in paths {
        // A file that is not a certificate bundle (e.g. tls.key) yields nothing or an error;
        // only certificates count.
        if let Ok(mut c) = load_certs(&p) {
            certs.append(&mut c);
        }
    }
    if certs.is_empty() {
        return Err(AisError::Tls(format!(
            "no PEM certificate in CA directory {}",
            dir.display()
        )));
    }
    Ok(certs)
}

/// skip_verify: accepts any certificate chain but still checks the handshake signatures
/// with the ring algorithms (so the peer holds the key of the certificate it sent).
#[derive(Debug)]
struct NoVerify(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn https_without_trust_is_rejected() {
        let err = client_config(&TlsOptions::default()).unwrap_err();
        assert!(err.to_string().contains("ca_dir"));
        assert!(
            client_config(&TlsOptions {
                skip_verify: true,
                ..TlsOptions::default()
            })
            .is_ok()
        );
    }

    #[test]
    fn ca_dir_and_client_cert_are_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let ca = rcgen::generate_simple_self_signed(vec!["ais".into()]).unwrap();
        std::fs::write(dir.path().join("ca.crt"), ca.cert.pem()).unwrap();
        std::fs::write(dir.path().join("tls.key"), ca.signing_key.serialize_pem()).unwrap();
        std::fs::write(dir.path().join(".hidden"), "junk").unwrap();
        assert_eq!(load_ca_dir(dir.path()).unwrap().len(), 1);
        let opts = TlsOptions {
            ca_dir: Some(dir.path().to_owned()),
            client_cert: Some(ClientCert {
                cert_chain: dir.path().join("ca.crt"),
                key: dir.path().join("tls.key"),
            }),
            skip_verify: false,
        };
        assert!(client_config(&opts).is_ok());

        let empty = tempfile::tempdir().unwrap();
        assert!(load_ca_dir(empty.path()).is_err());
    }
}

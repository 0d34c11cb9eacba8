//! The serving certificate, reloaded without a restart.
//!
//! cert-manager rotates the Secret; the kubelet swaps the mounted files (a `..data` symlink)
//! some time later. A background task re-reads `tls.crt`/`tls.key` every interval; when the
//! bytes changed and the new pair parses and matches, it is swapped in atomically. A pair that
//! fails to load leaves the last good one in service. TLS handshakes read the current pair
//! lock-free through [`ResolvesServerCert`].

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ais_common::health::Readiness;
use arc_swap::ArcSwapOption;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::metrics::Metrics;

/// Where the certificate and key live.
#[derive(Clone, Debug)]
pub struct CertPaths {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// Why a certificate pair could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The PEM did not parse.
    #[error("parsing {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The key does not fit the certificate, or the provider cannot use it.
    #[error("the key in {key} does not match the certificate in {cert}: {reason}")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The current serving certificate, reloadable.
#[derive(Debug)]
pub struct CertStore {
    paths: CertPaths,
    provider: Arc<CryptoProvider>,
    current: ArcSwapOption<CertifiedKey>,
    loaded_bytes: Mutex<Option<(Vec<u8>, Vec<u8>)>>,
    metrics: Metrics,
    readiness: Readiness,
}

impl CertStore {
    /// A store that has not loaded anything yet. `readiness` turns true with the first pair.
    pub fn new(
        paths: CertPaths,
        provider: Arc<CryptoProvider>,
        metrics: Metrics,
        readiness: Readiness,
    ) -> Arc<Self> {
        Arc::new(Self {
            paths,
            provider,
            current: ArcSwapOption::empty(),
            loaded_bytes: Mutex::new(None),
            metrics,
            readiness,
        })
    }

    /// Whether a certificate pair has been loaded (readiness).
    pub fn is_loaded(&self) -> bool {
        self.current.load().is_some()
    }

    /// The pair in service.
    pub fn current(&self) -> Option<Arc<CertifiedKey>> {
        self.current.load_full()
    }

    /// Reads the files and swaps in the pair if it changed. Returns whether it changed. On
    /// error the previous pair stays in service.
    pub fn reload(&self) -> Result<bool, CertError> {
        let result = self.try_reload();
        if result.is_err() {
            self.metrics.cert_reload_errors.inc();
        }
        result
    }

    fn try_reload(&self) -> Result<bool, CertError> {
        let cert_pem = read(&self.paths.cert)?;
        let key_pem = read(&self.paths.key)?;
        {
            let loaded = self
                .loaded_bytes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if loaded
                .as_ref()
                .is_some_and(|(c, k)| *c == cert_pem && *k == key_pem)
            {
                return Ok(false);
            }
        }
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| CertError::Parse {
                path: self.paths.cert.clone(),
                reason: e.to_string(),
            })?;
        if chain.is_empty() {
            return Err(CertError::Parse {
                path: self.paths.cert.clone(),
                reason: "no CERTIFICATE block".into(),
            });
        }
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| CertError::Parse {
            path: self.paths.key.clone(),
            reason: e.to_string(),
        })?;
        let mismatch = |reason: String| CertError::Mismatch {
            cert: self.paths.cert.clone(),
            key: self.paths.key.clone(),
            reason,
        };
        let certified = CertifiedKey::from_der(chain, key, &self.provider)
            .map_err(|e| mismatch(e.to_string()))?;
        if let Some(expiry) = chain_not_after(&certified) {
            #[allow(clippy::cast_precision_loss)]
            self.metrics.cert_not_after.set(expiry as f64);
        }
        self.current.store(Some(Arc::new(certified)));
        *self
            .loaded_bytes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((cert_pem, key_pem));
        self.metrics.cert_reloads.inc();
        self.readiness.set(true);
        Ok(true)
    }

    /// Reloads every `interval` until `shutdown` resolves.
    pub async fn watch(
        self: Arc<Self>,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = tick.tick() => match self.reload() {
                    Ok(true) => tracing::info!(cert = %self.paths.cert.display(), "serving certificate loaded"),
                    Ok(false) => {}
                    Err(err) => tracing::warn!(%err, "serving certificate not reloaded; keeping the previous one"),
                },
            }
        }
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.load_full()
    }
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, CertError> {
    std::fs::read(path).map_err(|source| CertError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// `notAfter` of the leaf certificate, Unix seconds.
pub fn chain_not_after(key: &CertifiedKey) -> Option<i64> {
    let leaf = key.cert.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    Some(cert.validity().not_after.timestamp())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn store(dir: &std::path::Path) -> Arc<CertStore> {
        let metrics = Metrics::new(&prometheus::Registry::new()).unwrap();
        CertStore::new(
            CertPaths {
                cert: dir.join("tls.crt"),
                key: dir.join("tls.key"),
            },
            Arc::new(rustls::crypto::ring::default_provider()),
            metrics,
            Readiness::default(),
        )
    }

    #[test]
    fn loads_keeps_last_good_and_swaps_on_change() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        assert!(s.reload().is_err(), "no files yet");
        assert!(!s.is_loaded());

        let (c1, k1) = pair("one.example");
        std::fs::write(dir.path().join("tls.crt"), &c1).unwrap();
        std::fs::write(dir.path().join("tls.key"), &k1).unwrap();
        assert!(s.reload().unwrap());
        assert!(!s.reload().unwrap(), "unchanged files are not reloaded");
        let first = s.current().unwrap();

        // A key that does not match the certificate is refused; the old pair stays.
        let (_, k2) = pair("two.example");
        std::fs::write(dir.path().join("tls.key"), &k2).unwrap();
        let err = s.reload().unwrap_err().to_string();
        assert!(err.contains("does not match"), "{err}");
        assert!(Arc::ptr_eq(&first, &s.current().unwrap()));

        // Garbage is refused too.
        std::fs::write(dir.path().join("tls.crt"), "not pem").unwrap();
        assert!(s.reload().is_err());
        assert!(Arc::ptr_eq(&first, &s.current().unwrap()));

        let (c3, k3) = pair("three.example");
        std::fs::write(dir.path().join("tls.crt"), &c3).unwrap();
        std::fs::write(dir.path().join("tls.key"), &k3).unwrap();
        assert!(s.reload().unwrap());
        assert!(!Arc::ptr_eq(&first, &s.current().unwrap()));
        assert!(chain_not_after(&s.current().unwrap()).is_some());
    }
}

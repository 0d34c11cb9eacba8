//! The HTTP client of the token services: plain or TLS with the operator's CA and client
//! certificate options.

use super::*;

fn ring_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client for one fetch. The rustls config is only built for `https` (a plain-HTTP service
/// needs no CA); the connector type is shared.
pub(super) fn http_client(opts: &AuthOptions, https: bool) -> Result<HttpClient, String> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(opts.timeout));
    let tls = if https {
        tls_config(opts)?
    } else {
        ClientConfig::builder_with_provider(ring_provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth()
    };
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(connector))
}

fn tls_reason(e: AisError) -> String {
    match e {
        AisError::Tls(reason) => reason,
        other => other.to_string(),
    }
}

/// Trust: system store + `ca_file` + `tls.ca_dir`, or anything with `skip_verify`.
pub(super) fn tls_config(opts: &AuthOptions) -> Result<ClientConfig, String> {
    if opts.tls.skip_verify {
        return client_config(&opts.tls).map_err(tls_reason);
    }
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::debug!(error = %e, "system CA store");
    }
    roots.add_parsable_certificates(native.certs);
    if let Some(file) = &opts.ca_file {
        let certs = CertificateDer::pem_file_iter(file)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("CA file {}: {e}", file.display()))?;
        if certs.is_empty() {
            return Err(format!("no PEM certificate in CA file {}", file.display()));
        }
        for c in certs {
            roots
                .add(c)
                .map_err(|e| format!("CA file {}: {e}", file.display()))?;
        }
    }
    if let Some(dir) = &opts.tls.ca_dir {
        for c in load_ca_dir(dir).map_err(tls_reason)? {
            roots
                .add(c)
                .map_err(|e| format!("CA in {}: {e}", dir.display()))?;
        }
    }
    if roots.is_empty() {
        return Err(
            "no CA certificate to verify the auth service (no system store; set a CA file or \
             directory, or skip_verify)"
                .to_owned(),
        );
    }
    let builder = ClientConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("protocol versions: {e}"))?
        .with_root_certificates(roots);
    match &opts.tls.client_cert {
        None => Ok(builder.with_no_client_auth()),
        Some(cc) => {
            let chain = CertificateDer::pem_file_iter(&cc.cert_chain)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("{}: {e}", cc.cert_chain.display()))?;
            if chain.is_empty() {
                return Err(format!("no certificate in {}", cc.cert_chain.display()));
            }
            let key = PrivateKeyDer::from_pem_file(&cc.key)
                .map_err(|e| format!("client key {}: {e}", cc.key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("client certificate: {e}"))
        }
    }
}

//! Deprecated fields (v1.x and v2.x manifests) and their modern equivalents.
//!
//! The operator keeps accepting every field older manifests used. [`effective_spec`] maps each
//! one onto the field that replaced it, so the rest of the operator only ever reads the modern
//! fields; [`deprecations`] lists what a spec still uses, for warnings.

use crate::aistore::{AIStoreSpec, LogSidecarSpec};
use crate::config::{AuthSignatureConf, ConfigToUpdate};
use crate::daemon::ExternalAccessSpec;
use crate::schema::IntOrStr;
use crate::storage::{
    EmptyDirStateStorage, HostPathStateStorage, PvcStateStorage, StateStorage, StateStorageMode,
};
use crate::tls::{CertificateMode, CertificateSpec, IssuerKind, IssuerRef, TlsSpec};

/// State directory prefix used when a spec names no state storage at all (the v1.x default).
pub const DEFAULT_STATE_HOSTPATH_PREFIX: &str = "/etc/ais";

/// Mountpath label given to unlabelled mounts of a v1.x spec with `allowSharedNoDisks: true`.
pub const SHARED_NO_DISKS_LABEL: &str = "shared";

/// One deprecated field a spec uses, and what replaces it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deprecation {
    /// Path of the deprecated field, e.g. `spec.hostpathPrefix`.
    pub field: &'static str,
    /// What to use instead.
    pub replacement: &'static str,
}

impl Deprecation {
    /// The warning shown to users.
    pub fn warning(&self) -> String {
        format!(
            "{} is deprecated and will be removed in a future release; use {} instead",
            self.field, self.replacement
        )
    }
}

/// Lists the deprecated fields a spec sets.
pub fn deprecations(spec: &AIStoreSpec) -> Vec<Deprecation> {
    let mut out = Vec::new();
    let mut add = |set: bool, field: &'static str, replacement: &'static str| {
        if set {
            out.push(Deprecation { field, replacement });
        }
    };
    if let Some(auth) = &spec.auth {
        add(
            auth.service_url.is_some(),
            "spec.auth.serviceURL",
            "spec.auth.profileRef",
        );
        add(
            auth.username_password.is_some(),
            "spec.auth.usernamePassword",
            "spec.auth.profileRef",
        );
        add(
            auth.token_exchange.is_some(),
            "spec.auth.tokenExchange",
            "spec.auth.profileRef",
        );
        add(auth.tls.is_some(), "spec.auth.tls", "spec.auth.profileRef");
    }
    add(
        spec.cluster_domain.is_some(),
        "spec.clusterDomain",
        "the operator's configured or discovered cluster domain",
    );
    add(
        spec.hostpath_prefix.is_some(),
        "spec.hostpathPrefix",
        "spec.stateStorage.hostPath.prefix",
    );
    add(
        spec.state_storage_class.is_some(),
        "spec.stateStorageClass",
        "spec.stateStorage.pvc.storageClass",
    );
    add(
        spec.enable_external_lb == Some(true),
        "spec.enableExternalLB",
        "spec.proxySpec.externalAccess and/or spec.targetSpec.externalAccess",
    );
    add(
        spec.proxy_spec.capabilities.is_some(),
        "spec.proxySpec.capabilities",
        "spec.proxySpec.aisContainerSecurityContext",
    );
    add(
        spec.target_spec.daemon.capabilities.is_some(),
        "spec.targetSpec.capabilities",
        "spec.targetSpec.aisContainerSecurityContext",
    );
    add(
        spec.tls_secret_name.is_some(),
        "spec.tlsSecretName",
        "spec.tls.secretName",
    );
    add(
        spec.tls_cert_manager_issuer_name.is_some(),
        "spec.tlsCertManagerIssuerName",
        "spec.tls.certificate (mode: csi, issuerRef.kind: Issuer)",
    );
    add(
        spec.enable_prom_exporter.is_some(),
        "spec.enablePromExporter",
        "nothing (AIS serves Prometheus metrics itself; the field is ignored)",
    );
    add(
        spec.log_sidecar_image.is_some(),
        "spec.logSidecarImage",
        "spec.logSidecar.image",
    );
    add(
        spec.log_sidecar_resources.is_some(),
        "spec.logSidecarResources",
        "spec.logSidecar.resources",
    );
    add(
        spec.disable_pod_anti_affinity.is_some(),
        "spec.disablePodAntiAffinity",
        "spec.targetSpec.disablePodAntiAffinity",
    );
    add(
        spec.target_spec.allow_shared_no_disks.is_some(),
        "spec.targetSpec.allowSharedNoDisks",
        "a common label on each spec.targetSpec.mounts entry",
    );
    if let Some(conf) = &spec.config_to_update {
        add(
            conf.auth.as_ref().is_some_and(|a| a.secret.is_some()),
            "spec.configToUpdate.auth.secret",
            "spec.authNSecretName (a Secret with key SIGNING-KEY; ais-init masks a key given in spec.configToUpdate.auth.signature.key)",
        );
        add(
            integer_sizes(conf).next().is_some(),
            "integer values of spec.configToUpdate log.max_size, log.max_total, memsys.*, fshc.io_err_time",
            "strings such as \"4MiB\" or \"10s\"",
        );
    }
    out
}

/// The state storage a spec resolves to. The modern field wins over the deprecated ones, and
/// `stateStorageClass` over `hostpathPrefix`, as in the reference operator; a spec with none
/// of them gets the v1.x default host directory.
pub fn state_storage_mode(spec: &AIStoreSpec) -> StateStorageMode {
    if let Some(storage) = &spec.state_storage {
        if let Some(pvc) = &storage.pvc {
            return StateStorageMode::Pvc(pvc.storage_class.clone());
        }
        if let Some(host) = &storage.host_path {
            return StateStorageMode::HostPath(host.prefix.clone());
        }
        if storage.empty_dir.is_some() {
            return StateStorageMode::EmptyDir;
        }
    }
    if let Some(class) = &spec.state_storage_class {
        return StateStorageMode::Pvc(class.clone());
    }
    let prefix = spec
        .hostpath_prefix
        .clone()
        .unwrap_or_else(|| DEFAULT_STATE_HOSTPATH_PREFIX.to_string());
    StateStorageMode::HostPath(prefix)
}

/// The spec with every deprecated field moved onto its modern equivalent and cleared.
/// Modern fields the user set always win over deprecated ones.
pub fn effective_spec(spec: &AIStoreSpec) -> AIStoreSpec {
    let mut out = spec.clone();

    out.state_storage = Some(match state_storage_mode(spec) {
        StateStorageMode::Pvc(storage_class) => StateStorage {
            pvc: Some(PvcStateStorage { storage_class }),
            ..StateStorage::default()
        },
        StateStorageMode::HostPath(prefix) => StateStorage {
            host_path: Some(HostPathStateStorage { prefix }),
            ..StateStorage::default()
        },
        StateStorageMode::EmptyDir => StateStorage {
            empty_dir: Some(EmptyDirStateStorage {}),
            ..StateStorage::default()
        },
    });
    out.hostpath_prefix = None;
    out.state_storage_class = None;

    if out.tls.is_none() {
        if let Some(secret) = spec.tls_secret_name.clone() {
            out.tls = Some(TlsSpec {
                secret_name: Some(secret),
                certificate: None,
            });
        } else if let Some(issuer) = spec.tls_cert_manager_issuer_name.clone() {
            out.tls = Some(TlsSpec {
                secret_name: None,
                certificate: Some(CertificateSpec {
                    issuer_ref: IssuerRef {
                        name: issuer,
                        kind: Some(IssuerKind::Issuer),
                    },
                    mode: Some(CertificateMode::Csi),
                    ..CertificateSpec::default()
                }),
            });
        }
    }
    out.tls_secret_name = None;
    out.tls_cert_manager_issuer_name = None;

    if out.log_sidecar.is_none()
        && let Some(image) = spec.log_sidecar_image.clone()
    {
        out.log_sidecar = Some(LogSidecarSpec {
            image,
            resources: spec.log_sidecar_resources.clone(),
        });
    }
    out.log_sidecar_image = None;
    out.log_sidecar_resources = None;
    out.enable_prom_exporter = None;

    if out.target_spec.disable_pod_anti_affinity.is_none() {
        out.target_spec.disable_pod_anti_affinity = spec.disable_pod_anti_affinity;
    }
    out.disable_pod_anti_affinity = None;

    if spec.target_spec.allow_shared_no_disks == Some(true) {
        for mount in &mut out.target_spec.mounts {
            if mount.label.as_deref().is_none_or(str::is_empty) {
                mount.label = Some(SHARED_NO_DISKS_LABEL.to_string());
            }
        }
    }
    out.target_spec.allow_shared_no_disks = None;

    if spec.enable_external_lb == Some(true) {
        for access in [
            &mut out.proxy_spec.external_access,
            &mut out.target_spec.daemon.external_access,
        ] {
            access.get_or_insert_with(ExternalAccessSpec::default);
        }
    }
    out.enable_external_lb = None;

    for role in [&mut out.proxy_spec, &mut out.target_spec.daemon] {
        if role.ais_container_security_context.is_none() {
            role.ais_container_security_context = role.capabilities.clone();
        }
        role.capabilities = None;
    }

    if let Some(conf) = out.config_to_update.as_mut() {
        modernize_config(conf);
    }
    out
}

/// Moves `auth.secret` to `auth.signature` and turns v1.x integer sizes into strings.
fn modernize_config(conf: &mut ConfigToUpdate) {
    if let Some(auth) = conf.auth.as_mut()
        && let Some(secret) = auth.secret.take()
    {
        let signature = auth
            .signature
            .get_or_insert_with(AuthSignatureConf::default);
        if signature.key.is_none() {
            signature.key = Some(secret);
            signature.method.get_or_insert_with(|| "HS256".to_string());
        }
    }
    if let Some(l) = conf.log.as_mut() {
        for value in [&mut l.max_size, &mut l.max_total] {
            stringify(value);
        }
    }
    if let Some(m) = conf.memsys.as_mut() {
        for value in [&mut m.default_buf, &mut m.min_free, &mut m.to_gc] {
            stringify(value);
        }
    }
    if let Some(f) = conf.fshc.as_mut() {
        // v1.x wrote this duration as nanoseconds.
        if let Some(IntOrStr::Int(nanos)) = f.io_err_time {
            f.io_err_time = Some(IntOrStr::Str(format!("{}ms", nanos / 1_000_000)));
        }
    }
}

fn stringify(value: &mut Option<IntOrStr>) {
    if let Some(IntOrStr::Int(n)) = value {
        *value = Some(IntOrStr::Str(n.to_string()));
    }
}

/// The v1.x integer-typed config values a spec still sets.
fn integer_sizes(conf: &ConfigToUpdate) -> impl Iterator<Item = &IntOrStr> {
    let log = conf.log.as_ref();
    let memsys = conf.memsys.as_ref();
    [
        log.and_then(|l| l.max_size.as_ref()),
        log.and_then(|l| l.max_total.as_ref()),
        memsys.and_then(|m| m.default_buf.as_ref()),
        memsys.and_then(|m| m.min_free.as_ref()),
        memsys.and_then(|m| m.to_gc.as_ref()),
        conf.fshc.as_ref().and_then(|f| f.io_err_time.as_ref()),
    ]
    .into_iter()
    .flatten()
    .filter(|v| matches!(v, IntOrStr::Int(_)))
}

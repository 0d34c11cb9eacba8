//! Validation of an AIStore spec: pure, shared by the admission webhook and the controller
//! (which re-checks because a webhook can be bypassed).
//!
//! [`validate`] returns every error at once, each naming the field and the fix, plus warnings.

use std::fmt;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::aistore::AIStoreSpec;
use crate::daemon::{DaemonSpec, ScaleDownMode};
use crate::legacy::{self, DEFAULT_STATE_HOSTPATH_PREFIX};
use crate::storage::StateStorageMode;

/// What kind of problem a [`FieldError`] is, as in Kubernetes' `field.ErrorType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The value is not acceptable.
    Invalid,
    /// The field must be set.
    Required,
    /// The field may not be set, or not changed, in this situation.
    Forbidden,
}

impl ErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Invalid => "Invalid value",
            Self::Required => "Required value",
            Self::Forbidden => "Forbidden",
        }
    }
}

/// One problem with one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the field, e.g. `spec.targetSpec.mounts[1].path`.
    pub path: String,
    /// Kind of problem.
    pub kind: ErrorKind,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {} (fix: {})",
            self.path,
            self.kind.as_str(),
            self.message,
            self.fix
        )
    }
}

/// The outcome of validating a spec.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validation {
    /// Every error found; empty when the spec is valid.
    pub errors: Vec<FieldError>,
    /// Warnings for the user; they do not block the change.
    pub warnings: Vec<String>,
}

impl Validation {
    /// Whether the spec may be applied.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// All errors in one message, for an admission denial or a condition.
    pub fn error_message(&self) -> String {
        let parts: Vec<String> = self.errors.iter().map(ToString::to_string).collect();
        parts.join("; ")
    }

    fn error(
        &mut self,
        path: impl Into<String>,
        kind: ErrorKind,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.errors.push(FieldError {
            path: path.into(),
            kind,
            message: message.into(),
            fix: fix.into(),
        });
    }

    fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }
}

/// Validates `new`; with `old` (an update) also checks what may not change.
pub fn validate(new: &AIStoreSpec, old: Option<&AIStoreSpec>) -> Validation {
    let mut v = Validation::default();
    for deprecation in legacy::deprecations(new) {
        v.warn(deprecation.warning());
    }
    check_images(new, &mut v);
    check_size(new, &mut v);
    check_state_storage(new, &mut v);
    check_shutdown(new, &mut v);
    check_single_proxy_state(new, &mut v);
    check_autoscaling(new, &mut v);
    check_ports("spec.proxySpec", &new.proxy_spec, &mut v);
    check_ports("spec.targetSpec", &new.target_spec.daemon, &mut v);
    check_mounts(new, &mut v);
    check_cleanup(new, &mut v);
    check_tls(new, &mut v);
    check_auth(new, &mut v);
    check_signing_key(new, &mut v);
    check_safe_decommission(new, &mut v);
    if let Some(old) = old {
        check_update(new, old, &mut v);
    }
    v
}

fn check_images(spec: &AIStoreSpec, v: &mut Validation) {
    for (path, image) in [
        ("spec.nodeImage", &spec.node_image),
        ("spec.initImage", &spec.init_image),
    ] {
        if image.trim().is_empty() {
            v.error(
                path,
                ErrorKind::Required,
                "an image is required",
                "set the aisnode and ais-init images of the same AIS version",
            );
        }
    }
}

fn check_size(spec: &AIStoreSpec, v: &mut Validation) {
    for (role, path, size) in [
        ("proxy", "spec.proxySpec.size", spec.proxy_spec.size),
        (
            "target",
            "spec.targetSpec.size",
            spec.target_spec.daemon.size,
        ),
    ] {
        let autoscaling = spec.size == Some(-1) || size == Some(-1);
        if let Some(n) = size.filter(|n| *n <= 0 && !autoscaling) {
            v.error(
                path,
                ErrorKind::Invalid,
                format!("invalid {role} daemon size {n}, should be at least 1"),
                "set a positive size, or -1 to autoscale",
            );
        }
    }
    let roles_set = spec.proxy_spec.size.is_some() && spec.target_spec.daemon.size.is_some();
    if !roles_set {
        match spec.size {
            None => v.error(
                "spec.size",
                ErrorKind::Required,
                "cluster size is not specified",
                "set spec.size, or both spec.proxySpec.size and spec.targetSpec.size",
            ),
            Some(n) if n == 0 || n <= -2 => v.error(
                "spec.size",
                ErrorKind::Invalid,
                format!("invalid cluster size {n}, should be at least 1 or -1 for autoScaling"),
                "set spec.size to a positive number, or -1 to autoscale",
            ),
            Some(_) => {}
        }
    }
}

fn check_state_storage(spec: &AIStoreSpec, v: &mut Validation) {
    if let Some(storage) = &spec.state_storage {
        let modes = [
            storage.host_path.is_some(),
            storage.pvc.is_some(),
            storage.empty_dir.is_some(),
        ];
        if modes.iter().filter(|m| **m).count() != 1 {
            v.error(
                "spec.stateStorage",
                ErrorKind::Invalid,
                "AIS spec stateStorage must define exactly one of hostPath, pvc, or emptyDir",
                "keep exactly one of stateStorage.hostPath, stateStorage.pvc, stateStorage.emptyDir",
            );
        }
        if spec.hostpath_prefix.is_some() || spec.state_storage_class.is_some() {
            v.warn("spec.stateStorage is set; ignoring legacy hostpathPrefix and stateStorageClass fields");
        }
        return;
    }
    match (&spec.hostpath_prefix, &spec.state_storage_class) {
        (Some(_), Some(class)) => v.warn(format!(
            "Spec defines both hostpathPrefix and stateStorageClass. Using stateStorageClass {class}"
        )),
        (None, None) => v.warn(format!(
            "spec.stateStorage is not set; node state goes to the host directory {DEFAULT_STATE_HOSTPATH_PREFIX} \
             (the v1.x default). Set spec.stateStorage.hostPath, .pvc or .emptyDir to choose"
        )),
        _ => {}
    }
}

fn check_shutdown(spec: &AIStoreSpec, v: &mut Validation) {
    if spec.shutdown_cluster == Some(true)
        && legacy::state_storage_mode(spec) == StateStorageMode::EmptyDir
    {
        v.error(
            "spec.shutdownCluster",
            ErrorKind::Forbidden,
            "shutdownCluster cannot be enabled when stateStorage.emptyDir is used; emptyDir state is ephemeral and is lost when the cluster is shut down",
            "use stateStorage.hostPath or stateStorage.pvc for a cluster you want to shut down, or delete the cluster instead",
        );
    }
}

/// One proxy with its state in an emptyDir holds the only copy of the cluster map: restarting
/// it brings up a new cluster UUID that the targets refuse (AIS: split-brain uuid).
fn check_single_proxy_state(spec: &AIStoreSpec, v: &mut Validation) {
    if legacy::state_storage_mode(spec) == StateStorageMode::EmptyDir
        && spec.proxy_size() == Some(1)
    {
        v.warn(
            "spec.stateStorage.emptyDir with one proxy: the cluster map lives only in that proxy's emptyDir, \
             so the operator holds back every change that would restart it (proxy image, env, resources, ...); \
             run two or more proxies (spec.proxySpec.size) to upgrade in place",
        );
    }
}

fn check_autoscaling(spec: &AIStoreSpec, v: &mut Validation) {
    if spec.size == Some(-1) {
        for (path, size) in [
            ("spec.targetSpec.size", spec.target_spec.daemon.size),
            ("spec.proxySpec.size", spec.proxy_spec.size),
        ] {
            if size.is_some_and(|n| n != -1) {
                v.warn(format!(
                    "{path} is set when spec.Size is -1; defaulting to use the -1 of spec.Size"
                ));
            }
        }
    }
    for (role, path, autoscaling, selector) in [
        (
            "target",
            "spec.targetSpec.nodeSelector",
            spec.is_target_autoscaling(),
            &spec.target_spec.daemon.node_selector,
        ),
        (
            "proxy",
            "spec.proxySpec.nodeSelector",
            spec.is_proxy_autoscaling(),
            &spec.proxy_spec.node_selector,
        ),
    ] {
        if autoscaling && selector.is_none() {
            v.error(
                path,
                ErrorKind::Required,
                format!("missing nodeSelector for {role}; nodeSelector is required when autoScale is enabled"),
                "set a nodeSelector that picks the nodes this role should run on",
            );
        }
    }
}

/// The numeric value of a port, as Kubernetes' `IntOrString.IntValue()` reads it.
pub fn port_number(port: &IntOrString) -> Option<i32> {
    match port {
        IntOrString::Int(n) => Some(*n),
        IntOrString::String(s) => s.trim().parse().ok(),
    }
}

fn check_ports(prefix: &str, role: &DaemonSpec, v: &mut Validation) {
    let ports = &role.ports;
    for (name, port) in [
        ("servicePort", &ports.service_port),
        ("portPublic", &ports.port_public),
        ("portIntraControl", &ports.port_intra_control),
        ("portIntraData", &ports.port_intra_data),
    ] {
        let path = format!("{prefix}.{name}");
        match port {
            None => v.error(
                path,
                ErrorKind::Required,
                "port is required",
                "set the port, or let the defaulting webhook fill the standard one",
            ),
            Some(p) => {
                if !port_number(p).is_some_and(|n| (1..=65535).contains(&n)) {
                    v.error(
                        path,
                        ErrorKind::Invalid,
                        format!("{}: must be between 1 and 65535, inclusive", show_port(p)),
                        "use a port number from 1 to 65535",
                    );
                }
            }
        }
    }
    if let Some(host_port) = role.host_port
        && !(1..=65535).contains(&host_port)
    {
        v.error(
            format!("{prefix}.hostPort"),
            ErrorKind::Invalid,
            format!("{host_port}: must be between 1 and 65535, inclusive"),
            "use a port number from 1 to 65535, or remove hostPort",
        );
    }
}

fn show_port(port: &IntOrString) -> String {
    match port {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => format!("{s:?}"),
    }
}

fn check_mounts(spec: &AIStoreSpec, v: &mut Validation) {
    let mounts = &spec.target_spec.mounts;
    if mounts.is_empty() {
        v.error(
            "spec.targetSpec.mounts",
            ErrorKind::Required,
            "at least one mount is required",
            "add a mount with a path and a size",
        );
    }
    for (i, mount) in mounts.iter().enumerate() {
        let path = format!("spec.targetSpec.mounts[{i}]");
        let p = mount.path.trim_end_matches('/');
        if !mount.path.starts_with('/') || p.is_empty() {
            v.error(
                format!("{path}.path"),
                ErrorKind::Invalid,
                format!("{:?} is not an absolute path below /", mount.path),
                "use an absolute path such as /ais/disk1",
            );
            continue;
        }
        if mount.use_host_path != Some(true) && mount.size.is_none() {
            // Accepted since the reference's v2.16, whose claim template then requests
            // storage "0". The API server refuses to create a claim without a positive size,
            // so this works only with claims created beforehand under the template's names.
            v.warn(format!(
                "{path}.size is not set: its PVC template requests storage \"0\" (as the reference's), and the API server refuses to create such a claim, so the target pods stay Pending unless their claims exist already; set size (e.g. 100Gi), or useHostPath: true"
            ));
        }
        for (j, other) in mounts.iter().enumerate().take(i) {
            let q = other.path.trim_end_matches('/');
            if q == p {
                v.error(
                    format!("{path}.path"),
                    ErrorKind::Invalid,
                    format!(
                        "{:?} duplicates spec.targetSpec.mounts[{j}].path",
                        mount.path
                    ),
                    "give every mount its own path",
                );
            } else if !q.is_empty()
                && (p.starts_with(&format!("{q}/")) || q.starts_with(&format!("{p}/")))
            {
                v.error(format!("{path}.path"), ErrorKind::Invalid, format!("{:?} and spec.targetSpec.mounts[{j}].path {:?} are nested; AIS rejects nested mountpaths", mount.path, other.path), "use sibling directories such as /ais/disk1 and /ais/disk2");
            }
        }
    }
}

fn check_cleanup(spec: &AIStoreSpec, v: &mut Validation) {
    let cleanup_metadata = spec.cleanup_metadata == Some(true);
    if spec.cleanup_data == Some(true) && !cleanup_metadata {
        v.error(
            "spec.cleanupData",
            ErrorKind::Invalid,
            "cleanupData requires cleanupMetadata to be enabled",
            "set cleanupMetadata: true as well, or remove cleanupData",
        );
    }
    let host_state = matches!(
        legacy::state_storage_mode(spec),
        StateStorageMode::HostPath(_)
    );
    let empty = |s: &Option<std::collections::BTreeMap<String, String>>| {
        s.as_ref().is_none_or(|m| m.is_empty())
    };
    if cleanup_metadata
        && host_state
        && (empty(&spec.target_spec.daemon.node_selector) || empty(&spec.proxy_spec.node_selector))
    {
        v.warn("cleanupMetadata is enabled with hostpath state and empty nodeSelector; host cleanup jobs will run on ALL nodes in the cluster");
    }
}

fn check_tls(spec: &AIStoreSpec, v: &mut Validation) {
    let Some(tls) = &spec.tls else { return };
    if tls.secret_name.is_some() && tls.certificate.is_some() {
        v.error(
            "spec.tls",
            ErrorKind::Invalid,
            "specify only one: secretName or certificate",
            "remove spec.tls.secretName or spec.tls.certificate",
        );
    }
    if tls.secret_name.is_none() && tls.certificate.is_none() {
        v.error(
            "spec.tls",
            ErrorKind::Required,
            "spec.tls names no certificate source",
            "set spec.tls.secretName or spec.tls.certificate, or remove spec.tls",
        );
    }
    let http = spec
        .config_to_update
        .as_ref()
        .and_then(|c| c.net.as_ref())
        .and_then(|n| n.http.as_ref());
    if let Some(http) = http {
        let set: Vec<&str> = [
            ("server_crt", http.server_crt.is_some()),
            ("server_key", http.server_key.is_some()),
            ("client_ca_tls", http.client_ca_tls.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        if !set.is_empty() {
            v.error(
                "spec.configToUpdate.net.http",
                ErrorKind::Forbidden,
                format!("configToUpdate.net.http.[{}] cannot be set together with spec.tls; the operator manages cert paths under /var/certs", set.join(",")),
                "remove these keys; the certificate from spec.tls is mounted at /var/certs/{tls.crt,tls.key,ca.crt}",
            );
        }
    }
}

fn check_auth(spec: &AIStoreSpec, v: &mut Validation) {
    let Some(auth) = &spec.auth else { return };
    if auth.profile_ref.is_none()
        && (auth.username_password.is_some() == auth.token_exchange.is_some())
    {
        v.error(
            "spec.auth",
            ErrorKind::Invalid,
            "exactly one of usernamePassword or tokenExchange must be specified when profileRef is not set",
            "set spec.auth.profileRef (preferred), or exactly one of usernamePassword and tokenExchange",
        );
    }
}

/// ais-init writes the node's cluster config with only the public part of `auth`: an HMAC
/// signing key becomes `**********` (aistore `cmn.AuthConf.PublicClone`), the secret being
/// expected in `AIS_AUTHN_SECRET_KEY`. A key given in the config alone leaves AIS checking
/// tokens against the mask.
fn check_signing_key(spec: &AIStoreSpec, v: &mut Validation) {
    if spec.authn_secret_name.is_some() {
        return;
    }
    let Some(auth) = spec.config_to_update.as_ref().and_then(|c| c.auth.as_ref()) else {
        return;
    };
    let rsa = |method: Option<&str>| {
        method.is_some_and(|m| {
            ["RSA", "RS256", "RS384", "RS512"].contains(&m.to_uppercase().as_str())
        })
    };
    let field = match (&auth.signature, &auth.secret) {
        (Some(sig), _) if sig.key.is_some() && !rsa(sig.method.as_deref()) => {
            "spec.configToUpdate.auth.signature.key"
        }
        (_, Some(_)) => "spec.configToUpdate.auth.secret",
        _ => return,
    };
    v.warn(format!(
        "{field}: ais-init writes an HMAC signing key into the node config as \"**********\" (it keeps only the public part of auth and expects the secret in the environment), so AIS would refuse every AuthN token; put the key in a Secret under SIGNING-KEY and name it in spec.authNSecretName (passed to the proxies as AIS_AUTHN_SECRET_KEY)"
    ));
}

fn check_safe_decommission(spec: &AIStoreSpec, v: &mut Validation) {
    let mode = spec.target_spec.scale_down_mode.unwrap_or_default();
    let rebalance_off = spec
        .config_to_update
        .as_ref()
        .and_then(|c| c.rebalance.as_ref())
        .and_then(|r| r.enabled)
        == Some(false);
    if mode == ScaleDownMode::SafeDecommission && rebalance_off {
        v.warn("scaleDownMode is \"safe_decommission\" but rebalance is disabled; enable configToUpdate.rebalance.enabled so target data is migrated on scale-down");
    }
}

fn check_update(new: &AIStoreSpec, old: &AIStoreSpec, v: &mut Validation) {
    crate::immutability::check(new, old, v);
}

impl Validation {
    /// Records a field that may not change (used by the immutability rules).
    pub(crate) fn immutable(&mut self, path: String, message: String, fix: &str) {
        self.error(path, ErrorKind::Forbidden, message, fix);
    }
}

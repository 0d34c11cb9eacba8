//! `spec.tls`: TLS material of the AIS nodes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where the nodes' certificate comes from. At most one of `secretName` and `certificate`.
/// HTTPS itself is turned on by `configToUpdate.net.http.use_https`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = tls_rule)]
pub struct TlsSpec {
    /// An existing Secret with `tls.crt`, `tls.key` and `ca.crt`, mounted at `/var/certs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// A certificate the operator requests from cert-manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateSpec>,
}

fn tls_rule(schema: &mut schemars::Schema) {
    crate::schema::add_rule(
        schema,
        "[has(self.secretName), has(self.certificate)].filter(x, x).size() <= 1",
        "specify only one: secretName or certificate",
    );
}

/// A cert-manager certificate for the nodes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSpec {
    /// The cert-manager issuer that signs the certificate.
    pub issuer_ref: IssuerRef,
    /// DNS names added to the certificate besides the ones the operator derives.
    #[serde(
        rename = "additionalDNSNames",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub additional_dns_names: Option<Vec<String>>,
    /// Requested lifetime, such as `2160h`; cert-manager's default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// How long before expiry the certificate is renewed; cert-manager's default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_before: Option<String>,
    /// `secret`: the operator creates a Certificate `<cluster>-tls-cert` whose Secret
    /// `<cluster>-tls` every pod mounts. `csi`: each pod gets its own certificate from the
    /// cert-manager csi-driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "secret"))]
    pub mode: Option<CertificateMode>,
}

/// Reference to a cert-manager issuer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuerRef {
    /// Name of the issuer.
    #[schemars(length(min = 1))]
    pub name: String,
    /// `Issuer` (in the cluster's namespace) or `ClusterIssuer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "ClusterIssuer"))]
    pub kind: Option<IssuerKind>,
}

/// Kind of a cert-manager issuer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum IssuerKind {
    /// A namespaced `Issuer`.
    Issuer,
    /// A cluster-scoped `ClusterIssuer`.
    #[default]
    ClusterIssuer,
}

/// How the certificate reaches the pods.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum CertificateMode {
    /// One Certificate and Secret for the whole cluster.
    #[default]
    #[serde(rename = "secret")]
    Secret,
    /// A per-pod certificate from the cert-manager csi-driver.
    #[serde(rename = "csi")]
    Csi,
}

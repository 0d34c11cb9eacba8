//! The `auth` config section: token signature, required claims, OIDC and the cluster key.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `auth` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuthConf {
    /// AIS cluster config `auth.cluster_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_key: Option<AuthClusterKeyConf>,
    /// Enables this feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// AIS cluster config `auth.oidc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<AuthOidcConf>,
    /// AIS cluster config `auth.required_claims`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_claims: Option<AuthRequiredClaimsConf>,
    /// Deprecated (v1.x): the HMAC secret of AuthN (the operator maps it to auth.signature.key). Use spec.authNSecretName: ais-init masks an HMAC key given in the config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// AIS cluster config `auth.signature`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<AuthSignatureConf>,
}

/// The `auth.signature` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuthSignatureConf {
    /// Signing key (HMAC secret). Prefer a Secret: spec.authNSecretName.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Signing method, such as "HS256".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

/// The `auth.required_claims` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuthRequiredClaimsConf {
    /// Audiences a token must carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Vec<String>>,
}

/// The `auth.oidc` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuthOidcConf {
    /// OIDC issuers whose tokens are accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_iss: Option<Vec<String>>,
    /// Path of a CA bundle for the OIDC issuers; set automatically from spec.issuerCAConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_ca_bundle: Option<String>,
}

/// The `auth.cluster_key` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuthClusterKeyConf {
    /// Enables this feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// AIS cluster config `auth.cluster_key.nonce_window`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce_window: Option<String>,
    /// AIS cluster config `auth.cluster_key.rotation_grace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_grace: Option<String>,
    /// AIS cluster config `auth.cluster_key.ttl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
}

//! `spec.auth`: how the operator obtains a token for its own calls to the AIS API.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Default AuthN service URL of the inline (deprecated) auth modes.
pub const DEFAULT_AUTHN_SERVICE_URL: &str = "https://ais-authn.ais:52001";

/// Operator authentication to AIS. Set `profileRef`, or (deprecated) exactly one of
/// `usernamePassword` and `tokenExchange`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = auth_rule)]
pub struct AuthSpec {
    /// A cluster-scoped `AIStoreAuthProfile` chosen by an administrator. The other fields are
    /// ignored when it is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_ref: Option<ProfileRef>,
    /// Deprecated: use `profileRef`. URL of the AuthN or OAuth service
    /// (default `https://ais-authn.ais:52001`).
    #[serde(
        rename = "serviceURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub service_url: Option<String>,
    /// Deprecated: use `profileRef`. Log in with a username and password from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_password: Option<UsernamePasswordAuth>,
    /// Deprecated: use `profileRef`. Exchange a Kubernetes ServiceAccount token for an AIS
    /// token (RFC 8693).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_exchange: Option<TokenExchangeAuth>,
    /// Deprecated: use `profileRef`. TLS settings for the auth service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<AuthTls>,
}

fn auth_rule(schema: &mut schemars::Schema) {
    crate::schema::add_rule(
        schema,
        "has(self.profileRef) || (has(self.usernamePassword) != has(self.tokenExchange))",
        "exactly one of usernamePassword or tokenExchange must be specified when profileRef is not set",
    );
}

/// Reference to an `AIStoreAuthProfile`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileRef {
    /// Name of the profile.
    #[schemars(length(min = 1))]
    pub name: String,
}

/// Username and password login.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsernamePasswordAuth {
    /// Secret with the keys `SU-NAME` and `SU-PASS`.
    #[schemars(length(min = 1))]
    pub secret_name: String,
    /// Namespace of the Secret; the cluster's namespace when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub secret_namespace: Option<String>,
    /// Use an OAuth2 password grant instead of the AIS AuthN login API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_conf: Option<LoginConf>,
}

/// OAuth2 password-grant settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LoginConf {
    /// OAuth2 client ID.
    #[serde(rename = "clientID")]
    pub client_id: String,
    /// OAuth2 scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// RFC 8693 token exchange.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenExchangeAuth {
    /// File with the subject token; when unset the operator mints a token for its own
    /// ServiceAccount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_path: Option<String>,
    /// Path of the exchange endpoint on the service (default `/token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_exchange_endpoint: Option<String>,
}

/// TLS settings for talking to the auth service.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthTls {
    /// CA bundle that verifies the auth service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert_path: Option<String>,
    /// Skip verification of the auth service's certificate (testing only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_skip_verify: Option<bool>,
}

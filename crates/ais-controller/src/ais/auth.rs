//! `spec.auth` → how the operator gets its token for a cluster's AIS API
//! ([`ais_client::auth::TokenSource`] and [`ais_client::auth::AuthOptions`]), as the
//! reference operator's `AuthNClient.getAdminToken` (`internal/services/authn_api.go`,
//! `auth_spec.go`):
//!
//! - `usernamePassword`: the username and password are the keys `SU-NAME` and `SU-PASS` of
//!   the Secret `secretName` (in `secretNamespace`, default the AIStore's namespace). Without
//!   `loginConf` that is an AIS AuthN login at `serviceURL`; with it, an OAuth2 password grant
//!   posted to `serviceURL` with `loginConf.clientID` and `loginConf.scope`.
//! - `tokenExchange`: an RFC 8693 exchange at `serviceURL` + `tokenExchangeEndpoint` (default
//!   `/token`) of the token in the file `tokenPath`, or, without it, of a token minted through
//!   the TokenRequest API for the operator's own ServiceAccount (10 minutes, default audience;
//!   needs `create` on `serviceaccounts/token`). The audiences requested are
//!   `spec.configToUpdate.auth.required_claims.aud`.
//! - `profileRef` (`AIStoreAuthProfile`) is not supported yet: an error says so.
//!
//! `serviceURL` defaults to `https://ais-authn.ais:52001`. TLS to the auth service trusts the
//! system store plus `spec.auth.tls.caCertPath`, else `/etc/ssl/certs/auth-ca/ca.crt` when that
//! file exists (the operator chart's optional CA mount), and skips verification with
//! `spec.auth.tls.insecureSkipVerify`.
//!
//! Use with [`ais_client::auth::TokenCache::get_with`], so that the Secret is read and the
//! subject token minted again only when a new AIS token is needed:
//!
//! ```ignore
//! // E: From<AuthError> + From<AuthConfigError>; `cache` was built from the first source and
//! // `auth_options(spec.auth)`.
//! let token = cache
//!     .get_with(|| async {
//!         token_source(&kube, &ais, &me).await?.ok_or(E::AuthRemoved)
//!     })
//!     .await?;
//! ```

use std::path::{Path, PathBuf};

use ais_client::TlsOptions;
use ais_client::auth::{AuthOptions, TokenSource};
use ais_crd::AIStore;
use ais_crd::auth::{AuthSpec, DEFAULT_AUTHN_SERVICE_URL, TokenExchangeAuth, UsernamePasswordAuth};
use k8s_openapi::api::authentication::v1::{SelfSubjectReview, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{Api, PostParams};

/// Secret key of the username.
pub const SECRET_USERNAME_KEY: &str = "SU-NAME";
/// Secret key of the password.
pub const SECRET_PASSWORD_KEY: &str = "SU-PASS";
/// CA bundle of the auth service used when `spec.auth.tls.caCertPath` is unset and the file
/// exists.
pub const DEFAULT_AUTH_CA_CERT_PATH: &str = "/etc/ssl/certs/auth-ca/ca.crt";
/// Token exchange endpoint path when `tokenExchangeEndpoint` is unset.
pub const DEFAULT_TOKEN_EXCHANGE_ENDPOINT: &str = "/token";
/// Lifetime requested for a minted subject token (the API server's minimum is 10 minutes).
pub const SUBJECT_TOKEN_EXPIRATION_SECONDS: i64 = 600;

const FIELD_SECRET: &str = "spec.auth.usernamePassword.secretName";
const FIELD_TOKEN_PATH: &str = "spec.auth.tokenExchange.tokenPath";
const FIELD_TOKEN_EXCHANGE: &str = "spec.auth.tokenExchange";

/// The ServiceAccount the operator runs as, whose token is exchanged when `tokenPath` is
/// unset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorIdentity {
    /// Namespace of the ServiceAccount.
    pub namespace: String,
    /// Name of the ServiceAccount.
    pub service_account: String,
}

impl OperatorIdentity {
    /// The ServiceAccount of a Kubernetes username `system:serviceaccount:<namespace>:<name>`.
    pub fn from_username(username: &str) -> Option<Self> {
        let rest = username.strip_prefix("system:serviceaccount:")?;
        let (namespace, name) = rest.split_once(':')?;
        (!namespace.is_empty() && !name.is_empty() && !name.contains(':')).then(|| Self {
            namespace: namespace.to_owned(),
            service_account: name.to_owned(),
        })
    }

    /// Who `client` authenticates as, from a SelfSubjectReview (as the reference operator's
    /// `opinfo.Resolve`). An error when that is not a ServiceAccount.
    pub async fn resolve(client: &kube::Client) -> Result<Self, AuthConfigError> {
        let review = Api::<SelfSubjectReview>::all(client.clone())
            .create(&PostParams::default(), &SelfSubjectReview::default())
            .await
            .map_err(AuthConfigError::SelfReview)?;
        let username = review
            .status
            .and_then(|s| s.user_info)
            .and_then(|u| u.username)
            .unwrap_or_default();
        Self::from_username(&username).ok_or_else(|| AuthConfigError::Invalid {
            field: FIELD_TOKEN_EXCHANGE,
            reason: format!(
                "the operator runs as {username:?}, not as a ServiceAccount, so it has no \
                 ServiceAccount token to exchange; set tokenPath"
            ),
        })
    }
}

/// `spec.auth` cannot be turned into a token source. Each variant names the field.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    /// `profileRef` is set.
    #[error(
        "spec.auth.profileRef: AIStoreAuthProfile {name:?} is not supported yet; use the \
         inline spec.auth.usernamePassword or spec.auth.tokenExchange"
    )]
    ProfileNotSupported {
        /// The referenced profile.
        name: String,
    },

    /// Neither or both of `usernamePassword` and `tokenExchange`.
    #[error(
        "spec.auth: exactly one of usernamePassword or tokenExchange must be set when \
         profileRef is not"
    )]
    Mode,

    /// A value is missing or unusable (e.g. the Secret lacks a key).
    #[error("{field}: {reason}")]
    Invalid {
        /// The field, e.g. `spec.auth.usernamePassword.secretName`.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },

    /// The Secret could not be read.
    #[error("{FIELD_SECRET}: reading Secret {secret}: {source}")]
    SecretRead {
        /// `namespace/name`.
        secret: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },

    /// `tokenPath` could not be read.
    #[error("{FIELD_TOKEN_PATH}: cannot read {path}: {source}")]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The TokenRequest for the operator's ServiceAccount failed.
    #[error(
        "{FIELD_TOKEN_EXCHANGE}: minting a token for ServiceAccount {service_account} \
         (needs create on serviceaccounts/token): {source}"
    )]
    TokenRequest {
        /// `namespace/name`.
        service_account: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },

    /// The SelfSubjectReview that finds the operator's own ServiceAccount failed.
    #[error(
        "{FIELD_TOKEN_EXCHANGE}: finding the operator's ServiceAccount (SelfSubjectReview): {0}"
    )]
    SelfReview(#[source] kube::Error),
}

impl AuthConfigError {
    /// The `spec` field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::ProfileNotSupported { .. } => "spec.auth.profileRef",
            Self::Mode => "spec.auth",
            Self::Invalid { field, .. } => field,
            Self::SecretRead { .. } => FIELD_SECRET,
            Self::TokenFile { .. } => FIELD_TOKEN_PATH,
            Self::TokenRequest { .. } | Self::SelfReview(_) => FIELD_TOKEN_EXCHANGE,
        }
    }
}

/// A username and password read from a Secret. `Debug` shows no password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `SU-NAME`.
    pub username: String,
    /// `SU-PASS`.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The token source of `ais`, or `None` when `spec.auth` is unset (no authentication).
///
/// Reads the credentials Secret, the `tokenPath` file, or mints a ServiceAccount token, so call
/// it only when a new AIS token is needed ([`ais_client::auth::TokenCache::get_with`]).
pub async fn token_source(
    client: &kube::Client,
    ais: &AIStore,
    operator: &OperatorIdentity,
) -> Result<Option<TokenSource>, AuthConfigError> {
    let Some(auth) = &ais.spec.auth else {
        return Ok(None);
    };
    match mode(auth)? {
        Mode::UsernamePassword(up) => {
            let namespace = secret_namespace(up, ais)?;
            let secret = Api::<Secret>::namespaced(client.clone(), &namespace)
                .get_opt(&up.secret_name)
                .await
                .map_err(|source| AuthConfigError::SecretRead {
                    secret: format!("{namespace}/{}", up.secret_name),
                    source,
                })?
                .ok_or_else(|| AuthConfigError::Invalid {
                    field: FIELD_SECRET,
                    reason: format!("Secret {namespace}/{} not found", up.secret_name),
                })?;
            let creds = secret_credentials(&secret, &namespace, &up.secret_name)?;
            Ok(Some(password_source(auth, up, creds)))
        }
        Mode::TokenExchange(tx) => {
            let subject_token = match &tx.token_path {
                Some(path) => read_token_file(Path::new(path))?,
                None => mint_subject_token(client, operator).await?,
            };
            Ok(Some(exchange_source(auth, tx, subject_token, ais)))
        }
    }
}

/// The settings of the calls to the auth service of `auth`: its CA (`tls.caCertPath`, else
/// [`DEFAULT_AUTH_CA_CERT_PATH`] if that file exists) and `tls.insecureSkipVerify`; the default
/// timeout and refresh margin.
pub fn auth_options(auth: &AuthSpec) -> AuthOptions {
    auth_options_with(auth, Path::new(DEFAULT_AUTH_CA_CERT_PATH).is_file())
}

fn auth_options_with(auth: &AuthSpec, default_ca_present: bool) -> AuthOptions {
    let tls = auth.tls.as_ref();
    let ca_file = tls
        .and_then(|t| t.ca_cert_path.as_deref())
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| default_ca_present.then(|| PathBuf::from(DEFAULT_AUTH_CA_CERT_PATH)));
    AuthOptions {
        tls: TlsOptions {
            skip_verify: tls.and_then(|t| t.insecure_skip_verify).unwrap_or(false),
            ..TlsOptions::default()
        },
        ca_file,
        ..AuthOptions::default()
    }
}

/// The audiences to request in a token exchange: `spec.configToUpdate.auth.required_claims.aud`
/// (empty when unset: the cluster requires none).
pub fn required_audiences(ais: &AIStore) -> Vec<String> {
    ais.spec
        .config_to_update
        .as_ref()
        .and_then(|c| c.auth.as_ref())
        .and_then(|a| a.required_claims.as_ref())
        .and_then(|r| r.aud.clone())
        .unwrap_or_default()
}

/// `SU-NAME` and `SU-PASS` of `secret` (`namespace/name` for the messages).
pub fn secret_credentials(
    secret: &Secret,
    namespace: &str,
    name: &str,
) -> Result<Credentials, AuthConfigError> {
    let invalid = |reason: String| AuthConfigError::Invalid {
        field: FIELD_SECRET,
        reason,
    };
    let data = secret
        .data
        .as_ref()
        .filter(|d| !d.is_empty())
        .ok_or_else(|| invalid(format!("Secret {namespace}/{name} has no data")))?;
    let value = |key: &str| -> Result<String, AuthConfigError> {
        let bytes = data
            .get(key)
            .ok_or_else(|| invalid(format!("Secret {namespace}/{name} has no key {key}")))?;
        if bytes.0.is_empty() {
            return Err(invalid(format!(
                "Secret {namespace}/{name} has an empty {key}"
            )));
        }
        String::from_utf8(bytes.0.clone())
            .map_err(|_| invalid(format!("Secret {namespace}/{name}: {key} is not UTF-8")))
    };
    Ok(Credentials {
        username: value(SECRET_USERNAME_KEY)?,
        password: value(SECRET_PASSWORD_KEY)?,
    })
}

enum Mode<'a> {
    UsernamePassword(&'a UsernamePasswordAuth),
    TokenExchange(&'a TokenExchangeAuth),
}

fn mode(auth: &AuthSpec) -> Result<Mode<'_>, AuthConfigError> {
    if let Some(p) = &auth.profile_ref {
        return Err(AuthConfigError::ProfileNotSupported {
            name: p.name.clone(),
        });
    }
    match (&auth.username_password, &auth.token_exchange) {
        (Some(up), None) => Ok(Mode::UsernamePassword(up)),
        (None, Some(tx)) => Ok(Mode::TokenExchange(tx)),
        _ => Err(AuthConfigError::Mode),
    }
}

fn service_url(auth: &AuthSpec) -> String {
    auth.service_url
        .as_deref()
        .filter(|u| !u.is_empty())
        .unwrap_or(DEFAULT_AUTHN_SERVICE_URL)
        .to_owned()
}

/// `base` and `path` joined with exactly one `/` (Go's `url.JoinPath` for the usual cases).
fn join_url(base: &str, path: &str) -> String {
    let path = path.trim_start_matches('/');
    if path.is_empty() {
        return base.to_owned();
    }
    format!("{}/{path}", base.trim_end_matches('/'))
}

fn secret_namespace(up: &UsernamePasswordAuth, ais: &AIStore) -> Result<String, AuthConfigError> {
    up.secret_namespace
        .clone()
        .filter(|n| !n.is_empty())
        .or_else(|| ais.metadata.namespace.clone())
        .ok_or_else(|| AuthConfigError::Invalid {
            field: "spec.auth.usernamePassword.secretNamespace",
            reason: "unset, and the AIStore has no namespace".to_owned(),
        })
}

fn password_source(auth: &AuthSpec, up: &UsernamePasswordAuth, creds: Credentials) -> TokenSource {
    let url = service_url(auth);
    match &up.login_conf {
        None => TokenSource::AuthnLogin {
            url,
            username: creds.username,
            password: creds.password,
        },
        Some(conf) => TokenSource::PasswordGrant {
            token_url: url,
            client_id: conf.client_id.clone(),
            username: creds.username,
            password: creds.password,
            scope: conf.scope.clone(),
        },
    }
}

fn exchange_source(
    auth: &AuthSpec,
    tx: &TokenExchangeAuth,
    subject_token: String,
    ais: &AIStore,
) -> TokenSource {
    let endpoint = tx
        .token_exchange_endpoint
        .as_deref()
        .filter(|e| !e.is_empty())
        .unwrap_or(DEFAULT_TOKEN_EXCHANGE_ENDPOINT);
    TokenSource::TokenExchange {
        token_url: join_url(&service_url(auth), endpoint),
        subject_token,
        audiences: required_audiences(ais),
    }
}

fn read_token_file(path: &Path) -> Result<String, AuthConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| AuthConfigError::TokenFile {
        path: path.to_owned(),
        source,
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(AuthConfigError::Invalid {
            field: FIELD_TOKEN_PATH,
            reason: format!("{} is empty", path.display()),
        });
    }
    Ok(token.to_owned())
}

async fn mint_subject_token(
    client: &kube::Client,
    operator: &OperatorIdentity,
) -> Result<String, AuthConfigError> {
    let sa = format!("{}/{}", operator.namespace, operator.service_account);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            // The API server's default audience, as the reference operator for inline spec.auth.
            audiences: Vec::new(),
            bound_object_ref: None,
            expiration_seconds: Some(SUBJECT_TOKEN_EXPIRATION_SECONDS),
        },
        ..TokenRequest::default()
    };
    let answer = Api::<ServiceAccount>::namespaced(client.clone(), &operator.namespace)
        .create_token_request(&operator.service_account, &PostParams::default(), &request)
        .await
        .map_err(|source| AuthConfigError::TokenRequest {
            service_account: sa.clone(),
            source,
        })?;
    let token = answer.status.map(|s| s.token).unwrap_or_default();
    if token.is_empty() {
        return Err(AuthConfigError::Invalid {
            field: FIELD_TOKEN_EXCHANGE,
            reason: format!("the TokenRequest for ServiceAccount {sa} returned no token"),
        });
    }
    Ok(token)
}

#[cfg(test)]
mod tests;

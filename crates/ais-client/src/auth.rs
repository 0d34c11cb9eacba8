//! Operator authentication to AIS: how the operator gets the bearer token that
//! [`crate::AisClient`] sends (`AisClientOptions::token`), and when it gets a new one.
//!
//! Three ways to get a token ([`TokenSource`]), as the reference operator
//! (`internal/services/authn_api.go`):
//!
//! - **AIS AuthN login** (`api/authn.LoginUser` of AIS v1.4.9): `POST <url>/v1/users/<user>`,
//!   `Content-Type: application/json`, body `{"expires_in":0,"password":"…"}` (`authn.LoginMsg`;
//!   `expires_in` is a Go `time.Duration` in nanoseconds). Like the reference, the operator asks
//!   for `0`, which AuthN v1.4.9 turns into its longest lifetime (`auth.max_token_age`). The
//!   answer is `{"token":"<JWT>"}` and says nothing about the lifetime, so the expiry is read
//!   from the JWT's `exp` claim (payload decoded, signature not checked: AIS checks it).
//! - **OAuth2 password grant** (RFC 6749 §4.3): form `POST` of
//!   `grant_type=password&client_id=…&username=…&password=…[&scope=…]`; the answer must have
//!   `token_type` bearer (case-insensitive); `expires_in` is honoured.
//! - **RFC 8693 token exchange**: form `POST` of
//!   `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`, `subject_token`,
//!   `subject_token_type=urn:ietf:params:oauth:token-type:jwt` and one `audience` per requested
//!   audience; the token is `access_token` or the legacy `token` field.
//!
//! When `expires_in` is absent (or 0) the JWT `exp` claim is used, if the token is a JWT.
//!
//! [`TokenCache`] keeps the current token for one cluster: [`TokenCache::get`] returns it until
//! it is about to expire and fetches a new one then; [`TokenCache::invalidate`] drops it when
//! AIS answers 401/403 ([`crate::AisError::is_auth_error`]).
//!
//! Errors ([`AuthError`]) name the mode, the URL, the HTTP status and what the service
//! answered, and never carry the password, the subject token or an issued token.
//!
//! HTTPS to the auth service trusts the system CA store plus [`AuthOptions::ca_file`] and
//! [`TlsOptions::ca_dir`] (the reference operator also starts from the system pool), or nothing
//! at all with [`TlsOptions::skip_verify`]. The TLS configuration is rebuilt for every fetch, so a
//! rotated CA file is picked up by the next fetch without a cache TTL.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request, Uri, header};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use crate::error::{AisError, BODY_EXCERPT_LEN, truncate};
use crate::exchange::{ExchangeError, HttpClient, exchange};
use crate::tls::{TlsOptions, client_config, load_ca_dir};

/// How long before its expiry a token is replaced (the reference operator uses 5 minutes).
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Timeout of one call to the auth service: connect, send and read the whole answer (the
/// reference operator uses 10 s).
pub const DEFAULT_AUTH_TIMEOUT: Duration = Duration::from_secs(10);

/// Path prefix of the AuthN user API (`apc.URLPathUsers`); a login is `POST <prefix>/<user>`.
pub const AUTHN_USERS_PATH: &str = "/v1/users";

/// `grant_type` of the OAuth2 resource owner password credentials grant (RFC 6749 §4.3.2).
pub const GRANT_TYPE_PASSWORD: &str = "password";

/// `grant_type` of an RFC 8693 token exchange (§2.1).
pub const GRANT_TYPE_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// `subject_token_type` the operator sends: a JWT (RFC 8693 §3).
pub const TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

/// Largest answer read from the auth service; token answers are a few KiB.
const MAX_ANSWER_LEN: usize = 1 << 20;

const USER_AGENT: &str = "ais-operator";
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
const REDACTED: &str = "<redacted>";

/// Which way a token is obtained; named in every [`AuthError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// AIS AuthN username/password login.
    AuthnLogin,
    /// OAuth2 password grant (RFC 6749 §4.3).
    PasswordGrant,
    /// RFC 8693 token exchange.
    TokenExchange,
}

impl fmt::Display for AuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AuthnLogin => "AuthN login",
            Self::PasswordGrant => "OAuth2 password grant",
            Self::TokenExchange => "token exchange",
        })
    }
}

/// Where and how to get a token. `Debug` shows no password or token.
#[derive(Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// AIS AuthN login as `username`.
    AuthnLogin {
        /// Base URL of AuthN, e.g. `https://ais-authn.ais:52001`.
        url: String,
        /// AuthN user (the Secret's `SU-NAME`).
        username: String,
        /// Its password (the Secret's `SU-PASS`).
        password: String,
    },
    /// OAuth2 password grant.
    PasswordGrant {
        /// Token endpoint the form is posted to.
        token_url: String,
        /// `client_id` (public client; no client secret).
        client_id: String,
        /// Resource owner's username.
        username: String,
        /// Resource owner's password.
        password: String,
        /// `scope`, sent only when set.
        scope: Option<String>,
    },
    /// RFC 8693 token exchange of `subject_token` (a JWT, e.g. a ServiceAccount token).
    TokenExchange {
        /// Token endpoint the form is posted to.
        token_url: String,
        /// The JWT to exchange.
        subject_token: String,
        /// Audiences to request, one `audience` field each (empty ones are skipped).
        audiences: Vec<String>,
    },
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AuthnLogin { url, username, .. } => f
                .debug_struct("AuthnLogin")
                .field("url", url)
                .field("username", username)
                .field("password", &REDACTED)
                .finish(),
            Self::PasswordGrant {
                token_url,
                client_id,
                username,
                scope,
                ..
            } => f
                .debug_struct("PasswordGrant")
                .field("token_url", token_url)
                .field("client_id", client_id)
                .field("username", username)
                .field("password", &REDACTED)
                .field("scope", scope)
                .finish(),
            Self::TokenExchange {
                token_url,
                audiences,
                ..
            } => f
                .debug_struct("TokenExchange")
                .field("token_url", token_url)
                .field("subject_token", &REDACTED)
                .field("audiences", audiences)
                .finish(),
        }
    }
}

impl TokenSource {
    /// The mode, as named in errors.
    pub fn mode(&self) -> AuthMode {
        match self {
            Self::AuthnLogin { .. } => AuthMode::AuthnLogin,
            Self::PasswordGrant { .. } => AuthMode::PasswordGrant,
            Self::TokenExchange { .. } => AuthMode::TokenExchange,
        }
    }

    /// The URL the token request is posted to (for AuthN: `<url>/v1/users/<username>`).
    pub fn request_url(&self) -> String {
        match self {
            Self::AuthnLogin { url, username, .. } => format!(
                "{}{AUTHN_USERS_PATH}/{}",
                url.trim_end_matches('/'),
                encode_path_segment(username)
            ),
            Self::PasswordGrant { token_url, .. } | Self::TokenExchange { token_url, .. } => {
                token_url.clone()
            }
        }
    }

    /// Content type and body of the token request.
    fn request_body(&self) -> (&'static str, String) {
        match self {
            Self::AuthnLogin { password, .. } => (
                "application/json",
                // authn.LoginMsg; Value's Display cannot fail.
                serde_json::json!({ "expires_in": 0, "password": password }).to_string(),
            ),
            Self::PasswordGrant {
                client_id,
                username,
                password,
                scope,
                ..
            } => {
                let mut form = form_urlencoded::Serializer::new(String::new());
                form.append_pair("grant_type", GRANT_TYPE_PASSWORD)
                    .append_pair("client_id", client_id)
                    .append_pair("username", username)
                    .append_pair("password", password);
                if let Some(scope) = scope {
                    form.append_pair("scope", scope);
                }
                (FORM_CONTENT_TYPE, form.finish())
            }
            Self::TokenExchange {
                subject_token,
                audiences,
                ..
            } => {
                let mut form = form_urlencoded::Serializer::new(String::new());
                form.append_pair("grant_type", GRANT_TYPE_TOKEN_EXCHANGE)
                    .append_pair("subject_token", subject_token)
                    .append_pair("subject_token_type", TOKEN_TYPE_JWT);
                for aud in audiences.iter().filter(|a| !a.is_empty()) {
                    form.append_pair("audience", aud);
                }
                (FORM_CONTENT_TYPE, form.finish())
            }
        }
    }

    /// The secrets of the request, scrubbed from anything the service echoes back.
    fn secrets(&self) -> Vec<&str> {
        match self {
            Self::AuthnLogin { password, .. } | Self::PasswordGrant { password, .. } => {
                vec![password.as_str()]
            }
            Self::TokenExchange { subject_token, .. } => vec![subject_token.as_str()],
        }
    }

    /// Turn a 2xx answer into a token.
    fn parse_answer(&self, body: &[u8], now: SystemTime) -> Result<Token, String> {
        match self {
            Self::AuthnLogin { .. } => {
                #[derive(Deserialize)]
                struct TokenMsg {
                    #[serde(default)]
                    token: String,
                }
                let msg: TokenMsg = serde_json::from_slice(body)
                    .map_err(|e| format!("not an AuthN token answer: {e}"))?;
                if msg.token.is_empty() {
                    return Err("no token in the answer".to_owned());
                }
                let expires_at = jwt_expiry(&msg.token);
                Ok(Token::new(msg.token, expires_at))
            }
            Self::PasswordGrant { .. } => {
                let ans = OAuthAnswer::parse(body)?;
                let token = ans
                    .access_token
                    .clone()
                    .filter(|t| !t.is_empty())
                    .ok_or("no access_token in the answer")?;
                match ans.token_type.as_deref() {
                    Some(t) if t.eq_ignore_ascii_case("bearer") => {}
                    Some(t) => return Err(format!("token_type is {t:?}, expected bearer")),
                    None => return Err("no token_type in the answer, expected bearer".to_owned()),
                }
                let expires_at = ans.expires_at(now)?.or_else(|| jwt_expiry(&token));
                Ok(Token::new(token, expires_at))
            }
            Self::TokenExchange { .. } => {
                let ans = OAuthAnswer::parse(body)?;
                let token = ans
                    .access_token
                    .clone()
                    .filter(|t| !t.is_empty())
                    .or_else(|| ans.token.clone().filter(|t| !t.is_empty()))
                    .ok_or("no access_token (nor legacy token) in the answer")?;
                // RFC 8693 §2.2.1: "Bearer" for access tokens, "N_A" for other token types.
                // Legacy services send no token_type at all.
                match ans.token_type.as_deref() {
                    None => tracing::debug!("token exchange answer without token_type"),
                    Some(t) if t.eq_ignore_ascii_case("bearer") || t == "N_A" => {}
                    Some(t) => return Err(format!("token_type is {t:?}, expected bearer")),
                }
                let expires_at = ans.expires_at(now)?.or_else(|| jwt_expiry(&token));
                Ok(Token::new(token, expires_at))
            }
        }
    }
}

/// The fields of an RFC 6749 §5.1 / RFC 8693 §2.2.1 token answer the operator reads.
#[derive(Deserialize)]
struct OAuthAnswer {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
    /// A number per the RFCs; some services send a numeric string.
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    /// Legacy token-exchange services.
    #[serde(default)]
    token: Option<String>,
}

impl OAuthAnswer {
    fn parse(body: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(body).map_err(|e| format!("not an OAuth2 token answer: {e}"))
    }

    /// `now + expires_in`; `None` when absent, null or 0.
    fn expires_at(&self, now: SystemTime) -> Result<Option<SystemTime>, String> {
        let secs = match &self.expires_in {
            None | Some(serde_json::Value::Null) => return Ok(None),
            Some(serde_json::Value::Number(n)) => n.as_f64(),
            Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
            Some(_) => None,
        };
        let secs = secs.filter(|s| s.is_finite() && *s >= 0.0).ok_or_else(|| {
            format!(
                "expires_in is not a number of seconds: {}",
                self.expires_in
                    .as_ref()
                    .map_or_else(String::new, |v| v.to_string())
            )
        })?;
        if secs == 0.0 {
            return Ok(None);
        }
        Ok(Duration::try_from_secs_f64(secs)
            .ok()
            .and_then(|d| now.checked_add(d)))
    }
}

/// A bearer token and, when known, when it expires. `Debug` shows no token.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// The token (`Authorization: Bearer <value>`).
    pub value: String,
    /// Expiry, from `expires_in` or the JWT `exp` claim; `None` when unknown.
    pub expires_at: Option<SystemTime>,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("value", &REDACTED)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl Token {
    /// A token with a known or unknown expiry.
    pub fn new(value: impl Into<String>, expires_at: Option<SystemTime>) -> Self {
        Self {
            value: value.into(),
            expires_at,
        }
    }

    /// A token whose expiry is read from its JWT `exp` claim (unknown if it has none).
    pub fn from_jwt(value: impl Into<String>) -> Self {
        let value = value.into();
        let expires_at = jwt_expiry(&value);
        Self { value, expires_at }
    }

    /// Whether the token has expired or expires within `margin` of `now`. A token with an
    /// unknown expiry never does.
    pub fn expires_within(&self, margin: Duration, now: SystemTime) -> bool {
        self.expires_at
            .is_some_and(|exp| now.checked_add(margin).is_none_or(|limit| exp <= limit))
    }
}

/// The `exp` claim of a JWT (RFC 7519 §4.1.4, seconds since the epoch), read from the
/// base64url payload without checking the signature. `None` when the token is not a JWS
/// compact serialization, its payload is not JSON, or it has no numeric `exp`.
pub fn jwt_expiry(token: &str) -> Option<SystemTime> {
    #[derive(Deserialize)]
    struct Claims {
        #[serde(default)]
        exp: Option<serde_json::Value>,
    }
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None; // five parts: an encrypted JWT (JWE) whose claims cannot be read
    }
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let secs = serde_json::from_slice::<Claims>(&json)
        .ok()?
        .exp?
        .as_f64()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(secs).ok()?)
}

/// Settings of the calls to the auth service and of [`TokenCache`].
#[derive(Debug, Clone)]
pub struct AuthOptions {
    /// HTTPS to the auth service: `ca_dir` (a directory of PEM files), `client_cert` (mTLS)
    /// and `skip_verify`. Only used for `https://` URLs.
    pub tls: TlsOptions,
    /// A PEM bundle of CA certificates to trust in addition to the system store and
    /// `tls.ca_dir` (e.g. `spec.auth.tls.caCertPath`).
    pub ca_file: Option<PathBuf>,
    /// Timeout of one call.
    pub timeout: Duration,
    /// A token is replaced when it expires within this margin (capped at half its lifetime,
    /// so that a token living less than twice the margin is still reused for a while).
    pub refresh_margin: Duration,
}

impl Default for AuthOptions {
    fn default() -> Self {
        Self {
            tls: TlsOptions::default(),
            ca_file: None,
            timeout: DEFAULT_AUTH_TIMEOUT,
            refresh_margin: DEFAULT_REFRESH_MARGIN,
        }
    }
}

/// Get one token from `source` (no caching).
pub async fn fetch_token(source: &TokenSource, opts: &AuthOptions) -> Result<Token, AuthError> {
    let mode = source.mode();
    let url = source.request_url();
    let uri = parse_url(source, &url)?;
    let https = uri.scheme_str() == Some("https");
    let client = http_client(opts, https).map_err(|reason| AuthError::Tls {
        mode,
        url: url.clone(),
        reason,
    })?;
    let (content_type, body) = source.request_body();
    let req = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::ACCEPT, "application/json")
        .header(header::USER_AGENT, USER_AGENT)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| AuthError::InvalidUrl {
            mode,
            url: url.clone(),
            reason: e.to_string(),
        })?;

    let (status, answer) = exchange(&client, req, opts.timeout, MAX_ANSWER_LEN)
        .await
        .map_err(|e| match e {
            ExchangeError::Request(source) => AuthError::Request {
                mode,
                url: url.clone(),
                source,
            },
            ExchangeError::Body(source) => AuthError::Body {
                mode,
                url: url.clone(),
                source,
            },
            ExchangeError::Timeout => AuthError::Timeout {
                mode,
                url: url.clone(),
                timeout: opts.timeout,
            },
        })?;
    tracing::debug!(%mode, %url, status = status.as_u16(), "auth service call");
    if !status.is_success() {
        return Err(AuthError::Status {
            mode,
            url,
            status: status.as_u16(),
            answer: answer_excerpt(&answer, &source.secrets()),
        });
    }
    source
        .parse_answer(&answer, SystemTime::now())
        .map_err(|reason| AuthError::Answer {
            mode,
            url,
            status: status.as_u16(),
            reason: redact(reason, &source.secrets()),
        })
}

fn parse_url(source: &TokenSource, url: &str) -> Result<Uri, AuthError> {
    let invalid = |reason: &str| AuthError::InvalidUrl {
        mode: source.mode(),
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: Uri = url.parse().map_err(|e| invalid(&format!("{e}")))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(invalid("scheme must be http or https"));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    if matches!(source, TokenSource::AuthnLogin { .. }) && uri.query().is_some() {
        return Err(invalid("the AuthN URL must not have a query"));
    }
    Ok(uri)
}

/// What an error answer says: OAuth2 `error: error_description` (RFC 6749 §5.2), the AIS
/// `message`, or the body; secrets removed, then cut to [`BODY_EXCERPT_LEN`].
fn answer_excerpt(body: &[u8], secrets: &[&str]) -> String {
    #[derive(Deserialize)]
    struct OAuthError {
        error: String,
        #[serde(default)]
        error_description: Option<String>,
    }
    #[derive(Deserialize)]
    struct AisMessage {
        message: String,
    }
    if body.is_empty() {
        return "(empty body)".to_owned();
    }
    let text = if let Ok(e) = serde_json::from_slice::<OAuthError>(body) {
        match e.error_description.filter(|d| !d.is_empty()) {
            Some(d) => format!("{}: {d}", e.error),
            None => e.error,
        }
    } else if let Ok(m) = serde_json::from_slice::<AisMessage>(body) {
        m.message
    } else {
        String::from_utf8_lossy(body).trim().to_owned()
    };
    truncate(redact(text, secrets), BODY_EXCERPT_LEN)
}

fn redact(mut text: String, secrets: &[&str]) -> String {
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        if text.contains(s) {
            text = text.replace(s, REDACTED);
        }
    }
    text
}

/// Percent-encode everything but RFC 3986 unreserved characters.
fn encode_path_segment(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

mod cache;
mod error;
mod transport;

pub use cache::TokenCache;
pub use error::AuthError;
use transport::http_client;

#[cfg(test)]
mod tests;

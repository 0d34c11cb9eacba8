//! Operator authentication to AIS ([`ais_client::auth`]):
//!
//! - AIS AuthN login against a real `authn` process (AIS v1.4.9 `cmd/authn`, built by
//!   `e2e/cluster/build.sh authn`), plain HTTP and HTTPS, and its token accepted by a real
//!   `aisnode` cluster with auth enabled;
//! - the OAuth2 password grant (RFC 6749 §4.3) and the RFC 8693 token exchange against an
//!   in-test token endpoint that checks every form field, plus the [`TokenCache`] refresh and
//!   invalidation rules.
//!
//! Every process is started and killed by PID; every directory is a `TempDir`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_debug_implementations
)]

mod common;

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use ais_client::auth::{
    AuthError, AuthMode, AuthOptions, GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_JWT, Token, TokenCache,
    TokenSource, fetch_token, jwt_expiry,
};
use ais_client::{AisClient, AisClientOptions, TlsOptions};
use common::Cluster;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A random hex string (std only: `RandomState` is seeded per instance from the OS).
fn random_hex(bytes: usize) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut s = String::new();
    while s.len() < 2 * bytes {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_nanos(),
        );
        s.push_str(&format!("{:016x}", h.finish()));
    }
    s.truncate(2 * bytes);
    s
}

/// A free port below Linux's ephemeral range (32768+), so that the `bind(0)` of other tests
/// running meanwhile (which pick a port, drop it, and hand it to a child process) cannot be
/// given the same one.
/// A port the kernel picks among the free ones, so tests running at once do not pick the same
/// one (as random picks did: one AuthN then saw another test's server as its own).
fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

fn opts() -> AuthOptions {
    AuthOptions {
        timeout: Duration::from_secs(5),
        ..AuthOptions::default()
    }
}

/// `t` is within `tol` of `want`.
fn assert_near(t: SystemTime, want: SystemTime, tol: Duration) {
    let diff = t
        .duration_since(want)
        .or_else(|_| want.duration_since(t))
        .unwrap();
    assert!(diff <= tol, "{t:?} is {diff:?} away from {want:?}");
}

// ---------------------------------------------------------------------------------------------
// A real AIS AuthN server
// ---------------------------------------------------------------------------------------------

/// The authn binary: `$AUTHN_BIN`, else the one `e2e/cluster/build.sh authn` builds for the
/// pinned `AISTORE_VERSION`; `None` (the test is skipped) when it is missing, see
/// [`common::built_binary`].
fn authn_bin() -> Option<PathBuf> {
    common::built_binary("authn", "AUTHN_BIN")
}

/// Token lifetime the test AuthN gives a login that asks for `expires_in: 0` (its
/// `auth.max_token_age`), and the default one (`auth.expiration_time`).
const AUTHN_MAX_TOKEN_AGE: Duration = Duration::from_secs(2 * 3600);

/// One `authn` process on 127.0.0.1 with its own config dir (`authn.json`, the buntdb file
/// `authn.db`, logs). Dropping it kills the process by PID and removes the dir.
struct Authn {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    scheme: &'static str,
    /// The HMAC signing secret (also AIS's `auth.signature.key`).
    secret: String,
    admin_password: String,
}

impl Authn {
    /// Start one on a free port (`None`: no binary, the test is skipped); retried on another
    /// port if the one picked was taken meanwhile.
    fn start(https: bool) -> Option<Self> {
        let bin = authn_bin()?;
        for _ in 0..4 {
            if let Some(a) = Self::try_start(&bin, https) {
                return Some(a);
            }
        }
        panic!("authn did not start (see the logs above)");
    }

    fn try_start(bin: &Path, https: bool) -> Option<Self> {
        let dir = tempfile::Builder::new()
            .prefix("ais-client-authn-")
            .tempdir()
            .unwrap();
        let port = free_port();
        let secret = random_hex(32);
        let admin_password = format!("pw-{}", random_hex(12));
        let (crt, key) = if https {
            common::write_test_pki(&dir.path().join("tls"));
            (
                dir.path().join("tls/server.crt"),
                dir.path().join("tls/server.key"),
            )
        } else {
            (PathBuf::from("server.crt"), PathBuf::from("server.key"))
        };
        // api/authn.Config of v1.4.9 (durations are Go duration strings).
        let config = serde_json::json!({
            "log": {"dir": dir.path().join("log"), "level": "3", "flush_interval": "10s"},
            "net": {"http": {"port": port, "use_https": https, "server_crt": crt, "server_key": key}},
            "auth": {
                "secret": secret,
                "expiration_time": "1h",
                "max_token_age": format!("{}s", AUTHN_MAX_TOKEN_AGE.as_secs()),
            },
            "timeout": {"default_timeout": "30s"},
        });
        fs::write(
            dir.path().join("authn.json"),
            serde_json::to_vec_pretty(&config).unwrap(),
        )
        .unwrap();
        let out = fs::File::create(dir.path().join("out.log")).unwrap();
        let err = out.try_clone().unwrap();
        let mut cmd = Command::new(bin);
        cmd.arg(format!("-config={}", dir.path().display()));
        for var in [
            "AIS_AUTHN_CONF_DIR",
            "AIS_AUTHN_LOG_DIR",
            "AIS_AUTHN_PORT",
            "AIS_AUTHN_USE_HTTPS",
            "AIS_AUTHN_SECRET_KEY",
            "AIS_AUTHN_PRIVATE_KEY_FILE",
            "AIS_AUTHN_PRIVATE_KEY_PASS",
            "AIS_AUTHN_EXTERNAL_URL",
            "AIS_SERVER_CRT",
            "AIS_SERVER_KEY",
        ] {
            cmd.env_remove(var);
        }
        // The initial admin user (cmd/authn/mgr.go initializeDB).
        cmd.env("AIS_AUTHN_SU_NAME", "admin")
            .env("AIS_AUTHN_SU_PASS", &admin_password)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut authn = Self {
            child,
            dir,
            port,
            scheme: if https { "https" } else { "http" },
            secret,
            admin_password,
        };
        authn
            .wait_listening(Duration::from_secs(20))
            .then_some(authn)
    }

    fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.path().join("tls/ca.crt")
    }

    fn login(&self, password: &str) -> TokenSource {
        TokenSource::AuthnLogin {
            url: self.url(),
            username: "admin".into(),
            password: password.into(),
        }
    }

    /// Whether it listens. `false` when it exited because the port was taken; a panic (with
    /// the logs) when it exited for another reason or never listened.
    fn wait_listening(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                let logs = self.logs();
                if logs.contains("address already in use") {
                    eprintln!("authn: port {} taken, retrying", self.port);
                    return false;
                }
                panic!("authn exited: {st}\n{logs}");
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                // Something listens; it is this AuthN only if this one is still running a
                // moment later (one that lost the port to another process exits at once).
                std::thread::sleep(Duration::from_millis(300));
                if let Ok(None) = self.child.try_wait() {
                    return true;
                }
                continue;
            }
            assert!(
                Instant::now() < deadline,
                "authn not listening on {} within {timeout:?}\n{}",
                self.port,
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn logs(&self) -> String {
        let mut s = fs::read_to_string(self.dir.path().join("out.log")).unwrap_or_default();
        if let Ok(rd) = fs::read_dir(self.dir.path().join("log")) {
            for e in rd.filter_map(Result::ok) {
                if let Ok(t) = fs::read_to_string(e.path()) {
                    s.push_str(&format!("--- {}\n{t}", e.path().display()));
                }
            }
        }
        s
    }

    /// `GET <path>` on plain-HTTP AuthN with `Authorization: Bearer <token>`: status and body.
    async fn get_with_token(&self, path: &str, token: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        assert_eq!(self.scheme, "http");
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap();
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
             Connection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut resp = String::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut resp))
            .await
            .unwrap()
            .unwrap();
        let status = resp
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status in {resp:?}"));
        let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        (status, body.to_owned())
    }
}

impl Drop for Authn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The TempDir removes the directory after this.
    }
}

#[tokio::test]
async fn authn_login_token_is_accepted_and_its_expiry_read() {
    let Some(authn) = Authn::start(false) else {
        return;
    };
    let before = SystemTime::now();
    let token = fetch_token(&authn.login(&authn.admin_password), &opts())
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", authn.logs()));
    assert_eq!(token.value.split('.').count(), 3, "not a JWS: {token:?}");
    // `expires_in: 0` asks for the longest lifetime (auth.max_token_age = 2h), and the JWT exp
    // says so (whole seconds).
    let exp = token.expires_at.expect("AuthN tokens carry exp");
    assert_near(exp, before + AUTHN_MAX_TOKEN_AGE, Duration::from_secs(5));
    assert_eq!(jwt_expiry(&token.value), Some(exp));

    // AuthN itself accepts the token: the user API answers only to admin or self.
    let (status, body) = authn.get_with_token("/v1/users/admin", &token.value).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""id":"admin""#), "{body}");
    // ...and checks it: a token with a broken signature is refused. (The first signature
    // character: the last one may only carry padding bits a decoder ignores.)
    let sig_at = token.value.rfind('.').unwrap() + 1;
    let mut forged = token.value.clone();
    let first = &token.value[sig_at..=sig_at];
    forged.replace_range(sig_at..=sig_at, if first == "A" { "B" } else { "A" });
    let (status, _) = authn.get_with_token("/v1/users/admin", &forged).await;
    assert_eq!(status, 401);

    // Through the cache: the second get is served from it.
    let cache = TokenCache::new(authn.login(&authn.admin_password), opts());
    let t1 = cache.get().await.unwrap();
    let t2 = cache.get().await.unwrap();
    assert_eq!(t1, t2);
    assert!(t1.expires_at.is_some());
}

#[tokio::test]
async fn authn_wrong_password_names_the_status_and_not_the_password() {
    let Some(authn) = Authn::start(false) else {
        return;
    };
    let wrong = "not-the-Passw0rd";
    let err = fetch_token(&authn.login(wrong), &opts()).await.unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    assert_eq!(err.mode(), AuthMode::AuthnLogin);
    let msg = err.to_string();
    assert!(msg.contains("AuthN login"), "{msg}");
    assert!(
        msg.contains(&format!("{}/v1/users/admin", authn.url())),
        "{msg}"
    );
    assert!(
        msg.contains("401") && msg.contains("invalid credentials"),
        "{msg}"
    );
    assert!(
        !msg.contains(wrong) && !msg.contains(&authn.admin_password),
        "{msg}"
    );
    assert!(!format!("{err:?}").contains(wrong));

    // An unknown user gets the same answer.
    let err = fetch_token(
        &TokenSource::AuthnLogin {
            url: authn.url(),
            username: "nobody".into(),
            password: wrong.into(),
        },
        &opts(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
}

#[tokio::test]
async fn authn_over_https_trusts_the_configured_ca_only() {
    let Some(authn) = Authn::start(true) else {
        return;
    };
    let src = authn.login(&authn.admin_password);

    // The CA as a file (spec.auth.tls.caCertPath)...
    let with_file = AuthOptions {
        ca_file: Some(authn.ca_file()),
        ..opts()
    };
    let token = fetch_token(&src, &with_file)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", authn.logs()));
    assert!(token.expires_at.is_some());

    // ...or as a directory.
    let with_dir = AuthOptions {
        tls: TlsOptions {
            ca_dir: Some(authn.ca_file().parent().unwrap().to_owned()),
            ..TlsOptions::default()
        },
        ..opts()
    };
    fetch_token(&src, &with_dir).await.unwrap();

    // Without it, the system store does not know the test CA.
    let err = fetch_token(&src, &opts()).await.unwrap_err();
    assert!(matches!(err, AuthError::Request { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("certificate") && msg.contains(&authn.url()),
        "{msg}"
    );

    // skip_verify accepts anything.
    let skip = AuthOptions {
        tls: TlsOptions {
            skip_verify: true,
            ..TlsOptions::default()
        },
        ..opts()
    };
    fetch_token(&src, &skip).await.unwrap();

    // A CA file that does not exist is a TLS setup error naming it.
    let missing = AuthOptions {
        ca_file: Some(authn.dir.path().join("nope.crt")),
        ..opts()
    };
    let err = fetch_token(&src, &missing).await.unwrap_err();
    assert!(matches!(err, AuthError::Tls { .. }), "{err}");
    assert!(err.to_string().contains("nope.crt"), "{err}");
}

/// The AuthN token is what a real AIS cluster with auth enabled accepts: without it the
/// cluster refuses with 401, with a token from another signing key too.
#[tokio::test]
async fn ais_with_auth_enabled_accepts_the_authn_token() {
    let Some(authn) = Authn::start(false) else {
        return;
    };
    let token = fetch_token(&authn.login(&authn.admin_password), &opts())
        .await
        .unwrap();

    let Some(mut c) = Cluster::new(1, 1) else {
        return;
    };
    // Auth on from the start, HMAC key = AuthN's secret (cmn.AuthConf of v1.4.9).
    let cfg_path = c.root().join("ais.json");
    let mut cfg: serde_json::Value = serde_json::from_slice(&fs::read(&cfg_path).unwrap()).unwrap();
    cfg["auth"] = serde_json::json!({
        "enabled": true,
        "signature": {"key": authn.secret, "method": "HS256"},
    });
    fs::write(&cfg_path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    c.start_all();

    let node_url = c.nodes[0].url();
    let client = |token: Option<&str>| {
        AisClient::with_options(AisClientOptions {
            token: token.map(str::to_owned),
            ..AisClientOptions::new(node_url.clone())
        })
        .unwrap()
    };
    let with_token = client(Some(&token.value));
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Err(e) = with_token.health(true).await {
        c.assert_running();
        assert!(
            Instant::now() < deadline,
            "cluster not ready: {e}\n{}",
            c.log_tails()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let conf = with_token
        .cluster_config()
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tails()));
    assert_eq!(conf["auth"]["enabled"], true);

    let err = client(None).cluster_config().await.unwrap_err();
    assert!(err.is_auth_error(), "{err}");

    // A token AIS cannot verify (signed by another AuthN) is refused: the operator's cue to
    // invalidate its cached token.
    let Some(other) = Authn::start(false) else {
        return;
    };
    let foreign = fetch_token(&other.login(&other.admin_password), &opts())
        .await
        .unwrap();
    let err = client(Some(&foreign.value))
        .cluster_config()
        .await
        .unwrap_err();
    assert!(err.is_auth_error(), "{err}");
    let cache = TokenCache::new(other.login(&other.admin_password), opts());
    let stale = cache.get().await.unwrap();
    assert!(cache.invalidate_token(&stale).await);
    assert!(cache.cached().await.is_none());
}

// ---------------------------------------------------------------------------------------------
// An OAuth2 / RFC 8693 token endpoint
// ---------------------------------------------------------------------------------------------

mod idp {
    //! A token endpoint (`POST /token`) implementing the password grant (RFC 6749 §4.3) and
    //! the token exchange (RFC 8693 §2) strictly: form content type, no repeated parameter
    //! (but `audience`), no unknown parameter, exact values. Anything else is an RFC 6749
    //! §5.2 error answer, so a client that sends the wrong form fails its test.

    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::post;
    use serde_json::{Value, json};

    use super::{GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_JWT};

    pub const CLIENT_ID: &str = "ais-operator";
    pub const USERNAME: &str = "ais-admin";
    pub const PASSWORD: &str = "pa ss&w=rd+%ü";
    /// A ServiceAccount-like JWT (unsigned for the test; the IdP checks it by value).
    pub const SUBJECT_TOKEN: &str =
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YWlzOm9wIn0.c2lnbmF0dXJl";

    /// How the endpoint answers.
    #[derive(Clone, Debug)]
    pub struct Behaviour {
        /// `expires_in` of successful answers (omitted when `None`).
        pub expires_in: Option<Value>,
        /// `token_type` of successful answers.
        pub token_type: String,
        /// Token exchange answers with the legacy `{"token": …}` only.
        pub legacy_token_field: bool,
        /// The `scope` a password grant must carry (`None`: must carry none).
        pub scope: Option<String>,
        /// Wait this long before answering.
        pub delay: Duration,
    }

    impl Default for Behaviour {
        fn default() -> Self {
            Self {
                expires_in: Some(json!(3600)),
                token_type: "Bearer".into(),
                legacy_token_field: false,
                scope: None,
                delay: Duration::ZERO,
            }
        }
    }

    #[derive(Default)]
    struct St {
        behaviour: Behaviour,
        /// Every request's form, in order.
        forms: Vec<Vec<(String, String)>>,
        /// Tokens issued so far.
        issued: u32,
    }

    #[derive(Clone)]
    pub struct Idp {
        pub url: String,
        st: Arc<Mutex<St>>,
    }

    impl Idp {
        pub async fn start(behaviour: Behaviour) -> Self {
            let st = Arc::new(Mutex::new(St {
                behaviour,
                ..St::default()
            }));
            let app = Router::new()
                .route("/token", post(token))
                .with_state(st.clone());
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", l.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(l, app).await });
            Self { url, st }
        }

        pub fn token_url(&self) -> String {
            format!("{}/token", self.url)
        }

        pub fn issued(&self) -> u32 {
            self.st.lock().unwrap().issued
        }

        pub fn forms(&self) -> Vec<Vec<(String, String)>> {
            self.st.lock().unwrap().forms.clone()
        }

        pub fn set(&self, f: impl FnOnce(&mut Behaviour)) {
            f(&mut self.st.lock().unwrap().behaviour);
        }
    }

    fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
        (
            status,
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(json!({"error": error, "error_description": description})),
        )
            .into_response()
    }

    /// The single value of `key`; an error when absent or repeated.
    fn one<'a>(form: &'a [(String, String)], key: &str) -> Result<&'a str, String> {
        let mut vals = form.iter().filter(|(k, _)| k == key);
        match (vals.next(), vals.next()) {
            (Some((_, v)), None) => Ok(v),
            (None, _) => Err(format!("missing parameter {key}")),
            (Some(_), Some(_)) => Err(format!("parameter {key} repeated")),
        }
    }

    fn only_keys(form: &[(String, String)], allowed: &[&str]) -> Result<(), String> {
        match form.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            Some((k, _)) => Err(format!("unexpected parameter {k}")),
            None => Ok(()),
        }
    }

    async fn token(State(st): State<Arc<Mutex<St>>>, headers: HeaderMap, body: Bytes) -> Response {
        let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
        let behaviour = {
            let mut s = st.lock().unwrap();
            s.forms.push(form.clone());
            s.behaviour.clone()
        };
        if !behaviour.delay.is_zero() {
            tokio::time::sleep(behaviour.delay).await;
        }
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if ct != "application/x-www-form-urlencoded" {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("content type {ct:?}"),
            );
        }
        let checked = match one(&form, "grant_type") {
            Ok("password") => password_grant(&form, &behaviour),
            Ok(g) if g == GRANT_TYPE_TOKEN_EXCHANGE => token_exchange(&form),
            Ok(g) => Err((
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("grant_type {g}"),
            )),
            Err(e) => Err((StatusCode::BAD_REQUEST, "invalid_request", e)),
        };
        if let Err((status, error, description)) = checked {
            return oauth_error(status, error, &description);
        }
        let n = {
            let mut s = st.lock().unwrap();
            s.issued += 1;
            s.issued
        };
        let access_token = format!("access-token-{n}");
        let exchange = one(&form, "grant_type") == Ok(GRANT_TYPE_TOKEN_EXCHANGE);
        let mut answer = if exchange && behaviour.legacy_token_field {
            json!({ "token": access_token })
        } else if exchange {
            json!({
                "access_token": access_token,
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "token_type": behaviour.token_type,
            })
        } else {
            json!({ "access_token": access_token, "token_type": behaviour.token_type })
        };
        if let Some(e) = &behaviour.expires_in {
            answer["expires_in"] = e.clone();
        }
        (
            StatusCode::OK,
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(answer),
        )
            .into_response()
    }

    type Refusal = (StatusCode, &'static str, String);

    fn password_grant(form: &[(String, String)], b: &Behaviour) -> Result<(), Refusal> {
        let bad = |e: String| (StatusCode::BAD_REQUEST, "invalid_request", e);
        only_keys(
            form,
            &["grant_type", "client_id", "username", "password", "scope"],
        )
        .map_err(bad)?;
        let client_id = one(form, "client_id").map_err(bad)?;
        let username = one(form, "username").map_err(bad)?;
        let password = one(form, "password").map_err(bad)?;
        let scope = match form.iter().filter(|(k, _)| k == "scope").count() {
            0 => None,
            _ => Some(one(form, "scope").map_err(bad)?),
        };
        if client_id != CLIENT_ID {
            return Err((
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                format!("unknown client {client_id}"),
            ));
        }
        if scope != b.scope.as_deref() {
            return Err((
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                format!("scope {scope:?}"),
            ));
        }
        if username != USERNAME || password != PASSWORD {
            return Err((
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "Invalid user credentials".into(),
            ));
        }
        Ok(())
    }

    fn token_exchange(form: &[(String, String)]) -> Result<(), Refusal> {
        let bad = |e: String| (StatusCode::BAD_REQUEST, "invalid_request", e);
        only_keys(
            form,
            &[
                "grant_type",
                "subject_token",
                "subject_token_type",
                "audience",
            ],
        )
        .map_err(bad)?;
        let subject = one(form, "subject_token").map_err(bad)?;
        let subject_type = one(form, "subject_token_type").map_err(bad)?;
        if subject_type != TOKEN_TYPE_JWT {
            return Err(bad(format!("subject_token_type {subject_type}")));
        }
        if form.iter().any(|(k, v)| k == "audience" && v.is_empty()) {
            return Err(bad("empty audience".into()));
        }
        if subject != SUBJECT_TOKEN {
            // Echoes the token, as some services do: the client must not repeat it.
            return Err((
                StatusCode::UNAUTHORIZED,
                "invalid_grant",
                format!("subject token {subject} is not valid"),
            ));
        }
        Ok(())
    }
}

use idp::{Behaviour, Idp};

fn grant(idp: &Idp, scope: Option<&str>) -> TokenSource {
    TokenSource::PasswordGrant {
        token_url: idp.token_url(),
        client_id: idp::CLIENT_ID.into(),
        username: idp::USERNAME.into(),
        password: idp::PASSWORD.into(),
        scope: scope.map(str::to_owned),
    }
}

fn exchange(idp: &Idp, subject: &str, audiences: &[&str]) -> TokenSource {
    TokenSource::TokenExchange {
        token_url: idp.token_url(),
        subject_token: subject.into(),
        audiences: audiences.iter().map(|a| (*a).to_owned()).collect(),
    }
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn password_grant_sends_the_form_and_honours_expires_in() {
    let idp = Idp::start(Behaviour {
        scope: Some("openid ais".into()),
        ..Behaviour::default()
    })
    .await;
    let before = SystemTime::now();
    let token = fetch_token(&grant(&idp, Some("openid ais")), &opts())
        .await
        .unwrap();
    assert_eq!(token.value, "access-token-1");
    assert_near(
        token.expires_at.unwrap(),
        before + Duration::from_secs(3600),
        Duration::from_secs(5),
    );
    assert_eq!(
        idp.forms(),
        vec![pairs(&[
            ("grant_type", "password"),
            ("client_id", idp::CLIENT_ID),
            ("username", idp::USERNAME),
            ("password", idp::PASSWORD),
            ("scope", "openid ais"),
        ])]
    );

    // No scope configured: none sent. A numeric-string expires_in is read too.
    idp.set(|b| {
        b.scope = None;
        b.expires_in = Some(serde_json::json!("120"));
    });
    let before = SystemTime::now();
    let token = fetch_token(&grant(&idp, None), &opts()).await.unwrap();
    assert_near(
        token.expires_at.unwrap(),
        before + Duration::from_secs(120),
        Duration::from_secs(5),
    );
    assert!(idp.forms()[1].iter().all(|(k, _)| k != "scope"));

    // token_type is case-insensitive.
    idp.set(|b| b.token_type = "bearer".into());
    fetch_token(&grant(&idp, None), &opts()).await.unwrap();
}

#[tokio::test]
async fn password_grant_rejects_a_non_bearer_token() {
    let idp = Idp::start(Behaviour {
        token_type: "mac".into(),
        ..Behaviour::default()
    })
    .await;
    let err = fetch_token(&grant(&idp, None), &opts()).await.unwrap_err();
    assert!(
        matches!(err, AuthError::Answer { status: 200, .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("OAuth2 password grant") && msg.contains(&idp.token_url()),
        "{msg}"
    );
    assert!(msg.contains(r#""mac""#) && msg.contains("bearer"), "{msg}");
    // Neither the issued token nor the password is repeated.
    assert!(
        !msg.contains("access-token-1") && !msg.contains(idp::PASSWORD),
        "{msg}"
    );
}

#[tokio::test]
async fn password_grant_refusal_names_the_status_and_the_oauth_error() {
    let idp = Idp::start(Behaviour::default()).await;
    let wrong = TokenSource::PasswordGrant {
        token_url: idp.token_url(),
        client_id: idp::CLIENT_ID.into(),
        username: idp::USERNAME.into(),
        password: "wrong-password".into(),
        scope: None,
    };
    let err = fetch_token(&wrong, &opts()).await.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("OAuth2 password grant")
            && msg.contains(&idp.token_url())
            && msg.contains("400")
            && msg.contains("invalid_grant: Invalid user credentials"),
        "{msg}"
    );
    assert!(!msg.contains("wrong-password"), "{msg}");

    // Unknown client: RFC 6749 §5.2 invalid_client with 401.
    let other_client = TokenSource::PasswordGrant {
        token_url: idp.token_url(),
        client_id: "someone-else".into(),
        username: idp::USERNAME.into(),
        password: idp::PASSWORD.into(),
        scope: None,
    };
    let err = fetch_token(&other_client, &opts()).await.unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    assert!(err.to_string().contains("invalid_client"), "{err}");
    assert_eq!(idp.issued(), 0);
}

#[tokio::test]
async fn token_exchange_sends_one_audience_each_and_reads_access_token() {
    let idp = Idp::start(Behaviour::default()).await;
    let src = exchange(&idp, idp::SUBJECT_TOKEN, &["ais-cluster-a", "", "ais b"]);
    let token = fetch_token(&src, &opts()).await.unwrap();
    assert_eq!(token.value, "access-token-1");
    assert!(token.expires_at.is_some());
    assert_eq!(
        idp.forms(),
        vec![pairs(&[
            ("grant_type", GRANT_TYPE_TOKEN_EXCHANGE),
            ("subject_token", idp::SUBJECT_TOKEN),
            ("subject_token_type", TOKEN_TYPE_JWT),
            ("audience", "ais-cluster-a"),
            ("audience", "ais b"),
        ])]
    );

    // No audiences: none sent.
    fetch_token(&exchange(&idp, idp::SUBJECT_TOKEN, &[]), &opts())
        .await
        .unwrap();
    assert!(idp.forms()[1].iter().all(|(k, _)| k != "audience"));
}

#[tokio::test]
async fn token_exchange_accepts_the_legacy_token_field() {
    let idp = Idp::start(Behaviour {
        legacy_token_field: true,
        expires_in: None,
        ..Behaviour::default()
    })
    .await;
    let token = fetch_token(&exchange(&idp, idp::SUBJECT_TOKEN, &[]), &opts())
        .await
        .unwrap();
    // An opaque token without expires_in: expiry unknown.
    assert_eq!(token, Token::new("access-token-1", None));
}

#[tokio::test]
async fn token_exchange_refusal_does_not_repeat_the_subject_token() {
    let idp = Idp::start(Behaviour::default()).await;
    let bogus = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJtYWxsb3J5In0.bogus-signature";
    let err = fetch_token(&exchange(&idp, bogus, &["a"]), &opts())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("token exchange") && msg.contains("invalid_grant"),
        "{msg}"
    );
    assert!(
        msg.contains("subject token <redacted> is not valid"),
        "{msg}"
    );
    assert!(!msg.contains(bogus), "{msg}");
}

#[tokio::test]
async fn cache_refreshes_a_token_close_to_expiry() {
    // A 2 s token: the 5 min margin is capped at half its lifetime, so it is reused for 1 s.
    let idp = Idp::start(Behaviour {
        expires_in: Some(serde_json::json!(2)),
        ..Behaviour::default()
    })
    .await;
    let cache = TokenCache::new(grant(&idp, None), opts());
    let t1 = cache.get().await.unwrap();
    assert_eq!(cache.get().await.unwrap(), t1);
    assert_eq!(idp.issued(), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let t2 = cache.get().await.unwrap();
    assert_ne!(t2, t1);
    assert_eq!(t2.value, "access-token-2");
    assert_eq!(idp.issued(), 2);

    // A 1 h token stays until 5 min before its expiry; a margin of 0 only at expiry.
    idp.set(|b| b.expires_in = Some(serde_json::json!(3600)));
    let cache = TokenCache::new(grant(&idp, None), opts());
    for _ in 0..5 {
        cache.get().await.unwrap();
    }
    assert_eq!(idp.issued(), 3);
}

#[tokio::test]
async fn cache_invalidate_fetches_a_new_token() {
    let idp = Idp::start(Behaviour {
        expires_in: None, // unknown expiry: kept until invalidated
        ..Behaviour::default()
    })
    .await;
    let cache = TokenCache::new(grant(&idp, None), opts());
    let t1 = cache.get().await.unwrap();
    assert_eq!(t1.expires_at, None);
    assert_eq!(cache.get().await.unwrap(), t1);
    assert_eq!(idp.issued(), 1);

    // AIS answered 401: drop it.
    cache.invalidate().await;
    assert!(cache.cached().await.is_none());
    let t2 = cache.get().await.unwrap();
    assert_eq!(t2.value, "access-token-2");

    // A stale 401 for t1 must not drop t2.
    assert!(!cache.invalidate_token(&t1).await);
    assert_eq!(cache.get().await.unwrap(), t2);
    assert!(cache.invalidate_token(&t2).await);
    assert_eq!(cache.get().await.unwrap().value, "access-token-3");
    assert_eq!(idp.issued(), 3);

    // A failed fetch leaves nothing cached and is retried on the next get.
    cache.invalidate().await;
    idp.set(|b| b.token_type = "mac".into());
    assert!(cache.get().await.is_err());
    assert!(cache.cached().await.is_none());
    idp.set(|b| b.token_type = "Bearer".into());
    assert!(cache.get().await.is_ok());

    // Another source (spec.auth changed) drops the token; the same source keeps it.
    let kept = cache.cached().await.unwrap();
    cache.set_source(grant(&idp, None)).await;
    assert_eq!(cache.cached().await, Some(kept));
    cache
        .set_source(exchange(&idp, idp::SUBJECT_TOKEN, &[]))
        .await;
    assert!(cache.cached().await.is_none());
}

#[tokio::test]
async fn cache_get_with_rebuilds_the_source_only_to_fetch() {
    let idp = Idp::start(Behaviour {
        expires_in: None,
        ..Behaviour::default()
    })
    .await;
    // The initial source has an invalid subject token: only fresh sources are used.
    let cache = TokenCache::new(exchange(&idp, "expired-subject-token", &[]), opts());
    let built = AtomicU32::new(0);
    let fresh = || async {
        built.fetch_add(1, Ordering::SeqCst);
        Ok::<_, AuthError>(exchange(&idp, idp::SUBJECT_TOKEN, &["aud"]))
    };
    let t1 = cache.get_with(fresh).await.unwrap();
    let t2 = cache.get_with(fresh).await.unwrap();
    assert_eq!(t1, t2);
    assert_eq!(built.load(Ordering::SeqCst), 1);
    cache.invalidate().await;
    cache.get_with(fresh).await.unwrap();
    assert_eq!(built.load(Ordering::SeqCst), 2);
    assert_eq!(idp.issued(), 2);

    // The builder's own error comes back as is, and nothing is fetched.
    #[derive(Debug)]
    enum OpError {
        Config(&'static str),
        Auth(AuthError),
    }
    impl From<AuthError> for OpError {
        fn from(e: AuthError) -> Self {
            Self::Auth(e)
        }
    }
    impl std::fmt::Display for OpError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                Self::Config(s) => f.write_str(s),
                Self::Auth(e) => e.fmt(f),
            }
        }
    }
    cache.invalidate().await;
    let err = cache
        .get_with(|| async { Err::<TokenSource, _>(OpError::Config("no Secret")) })
        .await
        .unwrap_err();
    assert!(matches!(err, OpError::Config("no Secret")));
    let err = cache
        .get_with(|| async { Ok::<_, OpError>(exchange(&idp, "bad", &[])) })
        .await
        .unwrap_err();
    assert!(
        matches!(err, OpError::Auth(AuthError::Status { status: 401, .. })),
        "{err:?}"
    );
    assert_eq!(idp.issued(), 2);
}

#[tokio::test]
async fn cache_keeps_an_unexpired_token_while_the_service_fails() {
    // A 4 s token is due for a refresh after 2 s (half its lifetime).
    let idp = Idp::start(Behaviour {
        expires_in: Some(serde_json::json!(4)),
        ..Behaviour::default()
    })
    .await;
    let cache = TokenCache::new(grant(&idp, None), opts());
    let t1 = cache.get().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2200)).await;
    // The service now answers with an unusable token: the current one is still valid.
    idp.set(|b| b.token_type = "mac".into());
    assert_eq!(cache.get().await.unwrap(), t1);
    assert_eq!(idp.issued(), 2, "the refresh was attempted");
    // Once it has expired, the error comes through.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let err = cache.get().await.unwrap_err();
    assert!(matches!(err, AuthError::Answer { .. }), "{err}");
    // The service recovers: a new token.
    idp.set(|b| b.token_type = "Bearer".into());
    assert_eq!(cache.get().await.unwrap().value, "access-token-4");
}

#[tokio::test]
async fn concurrent_gets_share_one_fetch() {
    let idp = Idp::start(Behaviour {
        delay: Duration::from_millis(200),
        ..Behaviour::default()
    })
    .await;
    let cache = Arc::new(TokenCache::new(grant(&idp, None), opts()));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let c = cache.clone();
            tokio::spawn(async move { c.get().await.unwrap() })
        })
        .collect();
    let mut values = Vec::new();
    for t in tasks {
        values.push(t.await.unwrap().value);
    }
    assert!(values.iter().all(|v| v == "access-token-1"), "{values:?}");
    assert_eq!(idp.issued(), 1);
}

#[tokio::test]
async fn timeouts_and_unreachable_services_name_the_url() {
    let idp = Idp::start(Behaviour {
        delay: Duration::from_secs(5),
        ..Behaviour::default()
    })
    .await;
    let short = AuthOptions {
        timeout: Duration::from_millis(300),
        ..AuthOptions::default()
    };
    let err = fetch_token(&grant(&idp, None), &short).await.unwrap_err();
    assert!(matches!(err, AuthError::Timeout { .. }), "{err}");
    assert!(
        err.to_string().contains(&idp.token_url()) && err.to_string().contains("300ms"),
        "{err}"
    );

    // Port 1 on loopback: nothing listens there.
    let src = TokenSource::AuthnLogin {
        url: "http://127.0.0.1:1".into(),
        username: "admin".into(),
        password: "x".into(),
    };
    let err = fetch_token(&src, &short).await.unwrap_err();
    assert!(matches!(err, AuthError::Request { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("AuthN login http://127.0.0.1:1/v1/users/admin"),
        "{msg}"
    );
    assert!(msg.to_lowercase().contains("refused"), "{msg}");
}

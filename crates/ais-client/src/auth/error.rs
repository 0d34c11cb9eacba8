//! Why getting a token failed, named by mode and URL and never carrying a secret.

use super::*;

/// A failed attempt to get a token. Each variant names the mode and the URL; none carries a
/// password or token.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The service URL cannot be used.
    #[error("{mode} {url}: invalid URL: {reason}")]
    InvalidUrl {
        /// The mode.
        mode: AuthMode,
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The TLS configuration (CA file or directory, client certificate) cannot be built.
    #[error("{mode} {url}: TLS setup: {reason}")]
    Tls {
        /// The mode.
        mode: AuthMode,
        /// The request URL.
        url: String,
        /// What failed.
        reason: String,
    },

    /// No answer: connection refused, DNS, TLS handshake (e.g. an untrusted certificate).
    #[error("{mode} {url}: request failed: {}", error_chain(source))]
    Request {
        /// The mode.
        mode: AuthMode,
        /// The request URL.
        url: String,
        /// The transport error.
        #[source]
        source: hyper_util::client::legacy::Error,
    },

    /// The connection broke while the answer was read, or the answer was too large.
    #[error("{mode} {url}: reading the answer failed: {source}")]
    Body {
        /// The mode.
        mode: AuthMode,
        /// The request URL.
        url: String,
        /// What failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// No complete answer within the timeout.
    #[error("{mode} {url}: no answer within {timeout:?}")]
    Timeout {
        /// The mode.
        mode: AuthMode,
        /// The request URL.
        url: String,
        /// The timeout.
        timeout: Duration,
    },

    /// The service refused: a non-2xx status.
    #[error("{mode} {url}: the auth service answered {status}: {answer}")]
    Status {
        /// The mode.
        mode: AuthMode,
        /// The request URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The service's message: OAuth2 `error: error_description`, the AIS `message`, or an
        /// excerpt of the body, with the request's secrets removed.
        answer: String,
    },

    /// A 2xx answer without a usable token (not JSON, no token, not a bearer token, bad
    /// `expires_in`).
    #[error("{mode} {url}: unusable answer (status {status}): {reason}")]
    Answer {
        /// The mode.
        mode: AuthMode,
        /// The request URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// What is wrong with it (the body itself is not repeated: it may hold a token).
        reason: String,
    },
}

impl AuthError {
    /// The mode of the failed attempt.
    pub fn mode(&self) -> AuthMode {
        match self {
            Self::InvalidUrl { mode, .. }
            | Self::Tls { mode, .. }
            | Self::Request { mode, .. }
            | Self::Body { mode, .. }
            | Self::Timeout { mode, .. }
            | Self::Status { mode, .. }
            | Self::Answer { mode, .. } => *mode,
        }
    }

    /// The HTTP status the service answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } | Self::Answer { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// An error and its sources, `a: b: c` (the transport's own message is terse: "client error
/// (Connect)"; the cause, e.g. an unknown TLS issuer, is in the chain).
pub(super) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

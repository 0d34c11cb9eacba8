//! Errors of [`crate::AisClient`]: each names the call, the endpoint (URL) and what AIS answered.

use std::time::Duration;

/// Longest part of an error body kept in [`AisError::Status`].
pub const BODY_EXCERPT_LEN: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum AisError {
    #[error("invalid AIS endpoint {url:?}: {reason}")]
    InvalidEndpoint { url: String, reason: String },

    #[error("AIS client TLS setup: {0}")]
    Tls(String),

    #[error("{call} {url}: request failed: {source}")]
    Request {
        call: &'static str,
        url: String,
        #[source]
        source: hyper_util::client::legacy::Error,
    },

    #[error("{call} {url}: reading the response failed: {source}")]
    Body {
        call: &'static str,
        url: String,
        /// The transport's error, or the answer was longer than the client reads.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error("{call} {url}: no answer within {timeout:?}")]
    Timeout {
        call: &'static str,
        url: String,
        timeout: Duration,
    },

    #[error("{call} {url}: AIS answered {status}: {body}")]
    Status {
        call: &'static str,
        url: String,
        status: u16,
        /// The AIS error message (`message` of its JSON error) or a body excerpt.
        body: String,
    },

    #[error("{call} {url}: cannot decode the answer ({source}): {body}")]
    Decode {
        call: &'static str,
        url: String,
        #[source]
        source: serde_json::Error,
        body: String,
    },

    #[error("{call}: cannot encode the request: {source}")]
    Encode {
        call: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl AisError {
    /// The HTTP status AIS answered with, if it answered with an error status.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// 401/403: the token is missing, expired or lacks permission (refresh it).
    pub fn is_auth_error(&self) -> bool {
        matches!(self.status(), Some(401 | 403))
    }

    /// 503: AIS is starting up or not ready (retry later).
    pub fn is_unavailable(&self) -> bool {
        self.status() == Some(503)
    }

    /// The node could not be reached at all, or the connection broke before an answer.
    pub fn is_connection_error(&self) -> bool {
        matches!(self, Self::Request { .. } | Self::Body { .. })
    }
}

/// AIS error bodies are JSON `{"message": …, "status": …, …}`; keep the message, else an
/// excerpt of the raw body. An empty body is what AIS sends while starting up.
pub(crate) fn body_excerpt(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct AisErrBody {
        message: String,
    }
    if body.is_empty() {
        return "(empty body)".to_owned();
    }
    let text = match serde_json::from_slice::<AisErrBody>(body) {
        Ok(e) => e.message,
        Err(_) => String::from_utf8_lossy(body).trim().to_owned(),
    };
    truncate(text, BODY_EXCERPT_LEN)
}

/// `s` cut to at most `max` bytes (on a char boundary), with `…` when cut.
pub(crate) fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn excerpt_prefers_ais_message() {
        let b = br#"{"message":"p[x] primary is not ready yet","method":"GET","status":503}"#;
        assert_eq!(body_excerpt(b), "p[x] primary is not ready yet");
        assert_eq!(body_excerpt(b""), "(empty body)");
        assert_eq!(body_excerpt(b"plain text\n"), "plain text");
        let long = "é".repeat(600);
        let ex = body_excerpt(long.as_bytes());
        assert!(ex.len() <= BODY_EXCERPT_LEN + '…'.len_utf8());
    }

    #[test]
    fn display_names_call_url_and_answer() {
        let e = AisError::Status {
            call: "start-maintenance",
            url: "http://p:8080/v1/cluster".into(),
            status: 404,
            body: "node t9 does not exist".into(),
        };
        let s = e.to_string();
        assert!(s.contains("start-maintenance") && s.contains("http://p:8080/v1/cluster"));
        assert!(s.contains("404") && s.contains("t9"));
        assert!(!e.is_auth_error());
    }
}

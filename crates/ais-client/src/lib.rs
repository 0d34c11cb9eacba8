//! Typed client for the AIStore (AIS) REST API calls the operator makes.
//!
//! The wire contract is AIS v1.4.9 (`api`/`apc` packages): health, the cluster map
//! (`GET /v1/daemon?what=smap`), set-primary, node maintenance/decommission, cluster
//! config, cluster shutdown and decommission.
//!
//! - `client`: [`AisClient`] and its options (timeout, bearer token, TLS).
//! - `types`: the cluster map ([`Smap`], [`Snode`], [`NodeFlags`]) and the pod → node lookup.
//! - `actions`: the `ActMsg` bodies and action names.
//! - `error`: [`AisError`], which names the call, the URL and what AIS answered.
//! - `tls`: rustls client configuration (ring provider only).
//! - `auth`: the operator's token for AIS: AuthN login, OAuth2 password grant, RFC 8693 token
//!   exchange ([`TokenSource`]), and the [`TokenCache`] that refreshes it before expiry.

pub mod actions;
pub mod auth;
pub mod client;
pub mod error;
mod exchange;
pub mod tls;
pub mod types;

pub use actions::{ActMsg, ActValRmNode};
pub use auth::{AuthError, AuthMode, AuthOptions, Token, TokenCache, TokenSource};
pub use client::{AisClient, AisClientOptions, DEFAULT_TIMEOUT};
pub use error::AisError;
pub use tls::TlsOptions;
pub use types::{NetInfo, NodeFlags, Smap, Snode, pod_matches_node};

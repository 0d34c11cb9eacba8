//! Talking to a cluster's AIS API: which endpoint (`endpoint`), the per-cluster clients with
//! their TLS settings, metrics and invalidation (`connect`), and the operator's credentials
//! (`auth`).

pub mod auth;
pub mod connect;
pub mod endpoint;
pub mod tokens;

pub use connect::{ClientSettings, Clients, Session};
pub use endpoint::{EndpointError, EndpointMode, endpoint};
pub use tokens::{TokenError, Tokens};

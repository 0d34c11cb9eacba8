//! Talking to a cluster's AIS API: which endpoint (`endpoint`), and the per-cluster clients
//! with their TLS settings, metrics and invalidation (`connect`).

pub mod connect;
pub mod endpoint;

pub use connect::{ClientSettings, Clients, Session};
pub use endpoint::{EndpointError, EndpointMode, endpoint};

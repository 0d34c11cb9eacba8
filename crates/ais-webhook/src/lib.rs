//! The AIStore admission webhook: validating and defaulting `AIStore` resources over TLS.

pub mod admission;
pub mod certs;
pub mod cluster;
pub mod metrics;
pub mod patch;
pub mod placement;
pub mod routes;
pub mod server;

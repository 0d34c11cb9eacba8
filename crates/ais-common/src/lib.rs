//! Runtime plumbing shared by the operator binaries: logging, the health and metrics
//! endpoints, and shutdown signals.

pub mod client;
pub mod health;
pub mod shutdown;
pub mod telemetry;

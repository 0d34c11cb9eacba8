//! `ais-controller` library: the pure builders of every Kubernetes object the operator
//! creates for an `AIStore`, and the reconcile loop that applies them.

#![warn(missing_docs)]

pub mod build;
pub mod leader;
pub mod metrics;
pub mod reconcile;
pub mod render;
pub mod rollout;

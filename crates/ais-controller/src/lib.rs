//! `ais-controller` library: the pure builders of every Kubernetes object the operator
//! creates for an `AIStore`, and the reconcile loop that applies them.

#![warn(missing_docs)]

pub mod ais;
pub mod build;
pub mod cluster_domain;
pub mod leader;
pub mod lifecycle;
pub mod metrics;
pub mod migrate;
pub mod plan;
pub mod pod_template;
pub mod reconcile;
pub mod render;

//! `ais-controller` library: the pure builders of every Kubernetes object the operator
//! creates for an `AIStore` (the reconcile loop uses them).

#![warn(missing_docs)]

pub mod build;

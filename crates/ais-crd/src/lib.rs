//! The AIStore API (`ais.nvidia.com/v1beta1`): custom resource types, the pure validation and
//! defaulting both operator binaries run, the mapping of deprecated v1.x fields, and CRD
//! generation.

pub mod admin_client;
pub mod aistore;
pub mod auth;
pub mod config;
pub mod crd;
pub mod daemon;
pub mod defaults;
mod immutability;
pub mod legacy;
pub mod schema;
mod sizes;
pub mod status;
pub mod storage;
pub mod tls;
pub mod validation;

pub use aistore::{AIStore, AIStoreSpec, LogSidecarSpec, PublicNetDnsMode};
pub use defaults::{Defaults, apply_defaults, default_spec};
pub use sizes::AUTOSCALE;
pub use status::{AIStoreStatus, ClusterState};
pub use validation::{FieldError, Validation, validate};

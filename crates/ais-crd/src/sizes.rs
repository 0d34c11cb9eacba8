//! How many proxies and targets a spec asks for.

use crate::aistore::AIStoreSpec;
use crate::daemon::DaemonSpec;

/// `size` value that turns on autoscaling.
pub const AUTOSCALE: i32 = -1;

impl AIStoreSpec {
    /// The proxy count the spec asks for (`-1` for autoscaling), if any.
    pub fn proxy_size(&self) -> Option<i32> {
        role_size(self.size, &self.proxy_spec)
    }

    /// The target count the spec asks for (`-1` for autoscaling), if any.
    pub fn target_size(&self) -> Option<i32> {
        role_size(self.size, &self.target_spec.daemon)
    }

    /// Whether proxies are autoscaled.
    pub fn is_proxy_autoscaling(&self) -> bool {
        self.proxy_size() == Some(AUTOSCALE)
    }

    /// Whether targets are autoscaled.
    pub fn is_target_autoscaling(&self) -> bool {
        self.target_size() == Some(AUTOSCALE)
    }
}

/// A global `size: -1` wins over role sizes; otherwise the role size overrides the global one.
fn role_size(global: Option<i32>, role: &DaemonSpec) -> Option<i32> {
    if global == Some(AUTOSCALE) {
        return global;
    }
    role.size.or(global)
}

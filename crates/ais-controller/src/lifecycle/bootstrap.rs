//! Bootstrap of a new cluster: one proxy first (it becomes the primary), then every proxy,
//! then, once a proxy pod is ready, all targets at once. When one is already ready as the
//! other proxies are asked for, the targets are asked for with them: the reference operator
//! does the same in one reconcile, and a separate step waited for the next event burst to
//! settle (about a second per cluster on kwok, issue 16).

use super::{PodView, StsView};

/// What bootstrap observes.
#[derive(Clone, Copy, Debug)]
pub struct BootstrapInput<'a> {
    /// Proxy replicas the spec asks for.
    pub proxies: i32,
    /// Target replicas the spec asks for.
    pub targets: i32,
    /// The proxy StatefulSet, if it exists.
    pub proxy_sts: Option<&'a StsView>,
    /// Its pods.
    pub proxy_pods: &'a [PodView],
    /// The target StatefulSet, if it exists.
    pub target_sts: Option<&'a StsView>,
}

/// The next bootstrap step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bootstrap {
    /// Create (or resize) the proxy StatefulSet with this many replicas.
    Proxies(i32),
    /// Create the target StatefulSet with this many replicas.
    Targets(i32),
    /// Resize the proxy StatefulSet and create the target StatefulSet: a proxy serves.
    ProxiesAndTargets {
        /// Proxy replicas.
        proxies: i32,
        /// Target replicas.
        targets: i32,
    },
    /// Wait for a pod event.
    Wait(String),
    /// Both StatefulSets exist: the cluster is created.
    Created,
}

/// The next bootstrap step.
pub fn plan(b: &BootstrapInput<'_>) -> Bootstrap {
    let Some(proxy) = b.proxy_sts else {
        return Bootstrap::Proxies(1.min(b.proxies));
    };
    if b.target_sts.is_some() {
        return Bootstrap::Created;
    }
    let first = b.proxy_pods.iter().find(|p| p.ordinal == 0);
    if !first.is_some_and(|p| p.running) {
        return Bootstrap::Wait("waiting for the primary proxy to come up".into());
    }
    let serving = b.proxy_pods.iter().any(|p| p.ready);
    if proxy.replicas < b.proxies {
        if serving {
            return Bootstrap::ProxiesAndTargets {
                proxies: b.proxies,
                targets: b.targets,
            };
        }
        return Bootstrap::Proxies(b.proxies);
    }
    if !serving {
        return Bootstrap::Wait("waiting for a proxy to be ready".into());
    }
    Bootstrap::Targets(b.targets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::testing::{pod, sts};

    #[test]
    fn one_proxy_then_all_then_targets() {
        let mut b = BootstrapInput {
            proxies: 3,
            targets: 4,
            proxy_sts: None,
            proxy_pods: &[],
            target_sts: None,
        };
        assert_eq!(plan(&b), Bootstrap::Proxies(1));
        let one = sts(1, "a");
        b.proxy_sts = Some(&one);
        assert!(matches!(plan(&b), Bootstrap::Wait(_)));
        let mut p0 = pod("ais-proxy", 0, "a");
        p0.ready = false;
        let pods = [p0.clone()];
        b.proxy_pods = &pods;
        assert_eq!(plan(&b), Bootstrap::Proxies(3));
        let three = sts(3, "a");
        b.proxy_sts = Some(&three);
        assert!(matches!(plan(&b), Bootstrap::Wait(_)), "no proxy ready yet");
        p0.ready = true;
        let pods = [p0];
        b.proxy_pods = &pods;
        assert_eq!(plan(&b), Bootstrap::Targets(4));
        let t = sts(4, "a");
        b.target_sts = Some(&t);
        assert_eq!(plan(&b), Bootstrap::Created);
    }

    #[test]
    fn a_primary_that_already_serves_gets_the_other_proxies_and_the_targets_at_once() {
        let one = sts(1, "a");
        let pods = [pod("ais-proxy", 0, "a")];
        let mut b = BootstrapInput {
            proxies: 3,
            targets: 4,
            proxy_sts: Some(&one),
            proxy_pods: &pods,
            target_sts: None,
        };
        assert_eq!(
            plan(&b),
            Bootstrap::ProxiesAndTargets {
                proxies: 3,
                targets: 4
            }
        );
        // One proxy in all: nothing to resize.
        b.proxies = 1;
        assert_eq!(plan(&b), Bootstrap::Targets(4));
    }
}

//! The end of a reconcile of a live cluster: both roles are done, and the cluster is Ready
//! once AIS agrees.

use ais_crd::ClusterState;

use super::Running;
use crate::lifecycle::RebalanceReason;
use crate::plan::{Action, AisView, Requeue};

impl Running<'_> {
    /// Both roles are done: Ready once AIS says it is healthy and every node is in the map;
    /// then rebalance comes back on and the config is pushed.
    pub(super) fn converge(&mut self) -> Requeue {
        let (health, smap) = match &self.o.ais {
            AisView::Unavailable(_) | AisView::AuthFailed(_) => {
                return self.progress("waiting for a proxy to take AIS API calls", true);
            }
            AisView::Connected { health, smap } => (health, smap),
        };
        if let Err(err) = health {
            return self.progress(&format!("AIS is not healthy yet: {err}"), true);
        }
        let smap = match smap {
            Ok(smap) => smap,
            Err(err) => return self.progress(&format!("no cluster map from AIS: {err}"), true),
        };
        let (want_p, want_t) = self.min_ready();
        if smap.count_proxies() < want_p || smap.count_targets() < want_t {
            return self.progress(
                &format!(
                    "waiting for nodes to join AIS: {} of {want_p} proxies, {} of {want_t} targets",
                    smap.count_proxies(),
                    smap.count_targets()
                ),
                true,
            );
        }
        if !smap.uuid.is_empty() {
            self.draft.status.cluster_id = Some(smap.uuid.clone());
        }
        if self.rebalance_on {
            self.draft.act(Action::PushConfig);
        } else {
            self.set_rebalance(true, RebalanceReason::Scaling, true);
        }
        self.draft.ready(true, "Ready", "Cluster is ready");
        self.draft.state(ClusterState::Ready);
        Requeue::AwaitChange
    }

    /// Proxies and targets AIS must list before the cluster counts as ready: all of them, or
    /// `maxUnavailable` fewer when the role autoscales (at least one).
    fn min_ready(&self) -> (usize, usize) {
        let spec = self.w.spec;
        let need = |replicas: i32, daemon: &ais_crd::daemon::DaemonSpec| {
            let slack = if daemon.size == Some(-1) || spec.size == Some(-1) {
                daemon
                    .auto_scale
                    .as_ref()
                    .and_then(|a| a.max_unavailable)
                    .unwrap_or(0)
            } else {
                0
            };
            usize::try_from((replicas - slack).max(1)).unwrap_or(1)
        };
        (
            need(self.w.desired.replicas.proxy, &spec.proxy_spec),
            need(self.w.desired.replicas.target, &spec.target_spec.daemon),
        )
    }
}

//! Applying the proxy and target StatefulSets with the replicas, template and partition the
//! lifecycle chose. Shaping is pure; the apply is one server-side apply, skipped when the live
//! object already matches.

use k8s_openapi::api::apps::v1::{
    RollingUpdateStatefulSetStrategy, StatefulSet, StatefulSetUpdateStrategy,
};

use super::{Context, Error, apply};

/// What the lifecycle chose for a StatefulSet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StsChoice {
    /// `spec.replicas`.
    pub replicas: i32,
    /// Replace the live pod template with the desired one (rolls pods).
    pub new_template: bool,
    /// Rolling-update partition (proxies); `None` keeps the live one.
    pub partition: Option<i32>,
}

/// The StatefulSet to apply: the desired object with the chosen replicas, the live template
/// unless a new one was chosen, and the partition. A partition is always written once one was
/// set, since server-side apply would otherwise drop it.
pub fn shape(desired: &StatefulSet, live: Option<&StatefulSet>, choice: StsChoice) -> StatefulSet {
    let mut out = desired.clone();
    let live_spec = live.and_then(|l| l.spec.as_ref());
    if let Some(spec) = out.spec.as_mut() {
        spec.replicas = Some(choice.replicas);
        if !choice.new_template
            && let Some(live_spec) = live_spec
        {
            spec.template = live_spec.template.clone();
        }
        let rolling = spec
            .update_strategy
            .as_ref()
            .and_then(|u| u.type_.as_deref())
            .is_none_or(|t| t == "RollingUpdate");
        let live_partition = live_spec
            .and_then(|s| s.update_strategy.as_ref())
            .and_then(|u| u.rolling_update.as_ref())
            .and_then(|r| r.partition);
        if let Some(partition) = choice.partition.or(live_partition).filter(|_| rolling) {
            spec.update_strategy = Some(StatefulSetUpdateStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateStatefulSetStrategy {
                    partition: Some(partition),
                    ..RollingUpdateStatefulSetStrategy::default()
                }),
            });
        }
    }
    out
}

/// Shapes and applies a StatefulSet; returns the live object after the apply.
pub async fn apply_choice(
    ctx: &Context,
    ns: &str,
    desired: &StatefulSet,
    live: Option<StatefulSet>,
    choice: StsChoice,
) -> Result<StatefulSet, Error> {
    let obj = shape(desired, live.as_ref(), choice);
    let written = apply::apply_over(&ctx.client, &ctx.metrics, ns, &obj, live).await?;
    ctx.cache.wrote(ns, &written);
    Ok(written)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn sts(image: &str, replicas: i32, strategy: serde_json::Value) -> StatefulSet {
        serde_json::from_value(json!({
            "metadata": {"name": "ais-proxy"},
            "spec": {"replicas": replicas, "selector": {}, "serviceName": "ais-proxy",
                     "updateStrategy": strategy,
                     "template": {"spec": {"containers": [{"name": "ais-node", "image": image}]}}}
        }))
        .unwrap()
    }

    fn image(s: &StatefulSet) -> String {
        s.spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
            .image
            .clone()
            .unwrap()
    }

    fn partition(s: &StatefulSet) -> Option<i32> {
        s.spec
            .as_ref()
            .unwrap()
            .update_strategy
            .as_ref()
            .unwrap()
            .rolling_update
            .as_ref()
            .and_then(|r| r.partition)
    }

    #[test]
    fn keeps_the_live_template_unless_told() {
        let desired = sts("new", 3, json!({"type": "RollingUpdate"}));
        let live = sts("old", 1, json!({"type": "RollingUpdate"}));
        let choice = StsChoice {
            replicas: 2,
            new_template: false,
            partition: None,
        };
        let out = shape(&desired, Some(&live), choice);
        assert_eq!(image(&out), "old");
        assert_eq!(out.spec.as_ref().unwrap().replicas, Some(2));
        let out = shape(
            &desired,
            Some(&live),
            StsChoice {
                new_template: true,
                ..choice
            },
        );
        assert_eq!(image(&out), "new");
    }

    #[test]
    fn a_partition_once_set_is_kept_until_changed() {
        let desired = sts("new", 3, json!({"type": "RollingUpdate"}));
        let live = sts(
            "old",
            3,
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}),
        );
        let keep = StsChoice {
            replicas: 3,
            new_template: false,
            partition: None,
        };
        assert_eq!(partition(&shape(&desired, Some(&live), keep)), Some(1));
        let reset = StsChoice {
            partition: Some(0),
            ..keep
        };
        assert_eq!(partition(&shape(&desired, Some(&live), reset)), Some(0));
    }

    #[test]
    fn on_delete_never_gets_a_partition() {
        let desired = sts("new", 3, json!({"type": "OnDelete"}));
        let out = shape(
            &desired,
            None,
            StsChoice {
                replicas: 3,
                new_template: true,
                partition: Some(1),
            },
        );
        assert_eq!(
            out.spec.unwrap().update_strategy.unwrap().type_.as_deref(),
            Some("OnDelete")
        );
    }
}

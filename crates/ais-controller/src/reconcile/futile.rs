//! Applies of a pod template that change nothing. Server-side apply cannot take a field from
//! another field manager, so a template the comparison still finds different after an apply
//! would be applied on every reconcile; this remembers, per cluster and role, how often in a
//! row the same desired template went over the same live one, and the plan stops at
//! [`crate::plan::MAX_FUTILE_APPLIES`] and says which field does not converge.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use k8s_openapi::api::apps::v1::StatefulSet;

use crate::build::{Desired, PerRole, Role};

/// `(desired template, live template)` fingerprints and how often that pair was applied.
type Entry = (u64, u64, u32);

/// The tracker, shared by the reconciles.
#[derive(Clone, Debug, Default)]
pub struct FutileApplies(Arc<Mutex<HashMap<(String, Role), Entry>>>);

fn template_hash(sts: Option<&StatefulSet>) -> u64 {
    let text = sts
        .and_then(|s| s.spec.as_ref())
        .and_then(|s| serde_json::to_string(&s.template).ok())
        .unwrap_or_default();
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

impl FutileApplies {
    /// How often in a row the desired template of each role was applied over the live one
    /// as it is now.
    pub fn counts(
        &self,
        key: &str,
        desired: &Desired,
        live: &PerRole<Option<StatefulSet>>,
    ) -> PerRole<u32> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        live.map(|role, sts| {
            let pair = (
                template_hash(Some(desired.statefulset(role))),
                template_hash(sts.as_ref()),
            );
            match map.get(&(key.to_string(), role)) {
                Some(&(d, l, n)) if (d, l) == pair => n,
                _ => 0,
            }
        })
    }

    /// Records an apply of `desired`'s template of `role` over `live`.
    pub fn applied(&self, key: &str, role: Role, desired: &Desired, live: Option<&StatefulSet>) {
        let pair = (
            template_hash(Some(desired.statefulset(role))),
            template_hash(live),
        );
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = map
            .entry((key.to_string(), role))
            .or_insert((pair.0, pair.1, 0));
        if (entry.0, entry.1) == pair {
            entry.2 = entry.2.saturating_add(1);
        } else {
            *entry = (pair.0, pair.1, 1);
        }
    }

    /// Forgets a deleted cluster.
    pub fn forget(&self, key: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(k, _), _| k != key);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::build::testing::{aistore, facts};

    #[test]
    fn counts_only_applies_over_the_same_live_template() {
        let d = crate::build::build(&aistore(), &facts()).unwrap();
        let t = FutileApplies::default();
        let live = PerRole {
            proxy: Some(d.proxy_statefulset.clone()),
            target: None,
        };
        for _ in 0..3 {
            t.applied("ais/ais", Role::Proxy, &d, live.proxy.as_ref());
        }
        assert_eq!(
            t.counts("ais/ais", &d, &live),
            PerRole {
                proxy: 3,
                target: 0
            }
        );
        // The live template changed: the apply did something.
        let mut other = d.proxy_statefulset.clone();
        other.metadata.name = Some("changed".into());
        if let Some(spec) = other.spec.as_mut() {
            spec.template.metadata = None;
        }
        let moved = PerRole {
            proxy: Some(other),
            target: None,
        };
        assert_eq!(t.counts("ais/ais", &d, &moved).proxy, 0);
        t.forget("ais/ais");
        assert_eq!(t.counts("ais/ais", &d, &live).proxy, 0);
    }
}

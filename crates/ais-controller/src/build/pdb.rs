//! The targets' PodDisruptionBudget (anchor §2.3).

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::names::{self, Role};
use super::{Cluster, labels};

/// PodDisruptionBudget `<name>-target` when `targetSpec.pdb.enabled`; `maxUnavailable`
/// defaults to 0.
pub fn target_pdb(cluster: &Cluster<'_>) -> Option<PodDisruptionBudget> {
    let pdb = cluster.spec.target_spec.pdb.as_ref()?;
    if pdb.enabled != Some(true) {
        return None;
    }
    Some(PodDisruptionBudget {
        metadata: cluster.meta(
            names::target_pdb(&cluster.name),
            labels::workload(&cluster.name, Role::Target.as_str(), None),
        ),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(pdb.max_unavailable.clone().unwrap_or(IntOrString::Int(0))),
            selector: Some(LabelSelector {
                match_labels: Some(cluster.selector(Role::Target)),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use ais_crd::daemon::PdbSpec;

    use super::super::testing::{aistore, facts};
    use super::*;

    #[test]
    fn pdb_only_when_enabled() {
        let mut ais = aistore();
        let f = facts();
        assert!(target_pdb(&Cluster::new(&ais, &f).unwrap()).is_none());
        ais.spec.target_spec.pdb = Some(PdbSpec {
            enabled: Some(false),
            max_unavailable: None,
        });
        assert!(target_pdb(&Cluster::new(&ais, &f).unwrap()).is_none());
        ais.spec.target_spec.pdb = Some(PdbSpec {
            enabled: Some(true),
            max_unavailable: None,
        });
        let pdb = target_pdb(&Cluster::new(&ais, &f).unwrap()).unwrap();
        assert_eq!(pdb.metadata.name.as_deref(), Some("ais-target"));
        assert_eq!(pdb.metadata.labels.as_ref().unwrap()["component"], "target");
        let spec = pdb.spec.unwrap();
        assert_eq!(spec.max_unavailable, Some(IntOrString::Int(0)));
        assert_eq!(
            spec.selector.unwrap().match_labels.unwrap()["app.kubernetes.io/component"],
            "target"
        );
        ais.spec.target_spec.pdb = Some(PdbSpec {
            enabled: Some(true),
            max_unavailable: Some(IntOrString::String("25%".into())),
        });
        let pdb = target_pdb(&Cluster::new(&ais, &f).unwrap()).unwrap();
        assert_eq!(
            pdb.spec.unwrap().max_unavailable,
            Some(IntOrString::String("25%".into()))
        );
    }
}

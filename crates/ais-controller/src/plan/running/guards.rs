//! What holds a live cluster's plan back or is reported beside it: objects of owned names that
//! belong to someone else, templates that do not converge, and autoscale scale-downs.

use super::{Running, StsView};
use crate::plan::{Action, MAX_FUTILE_APPLIES, SECOND_OPERATOR_ANNOTATION};
use crate::reconcile::status::Cond;

/// What to do with a scale-down that autoscaling wants.
pub(super) enum Shrink {
    /// Not now: within `maxUnavailable`.
    Defer,
    /// Not while it would remove healthy targets for a lost one.
    Hold(String),
}

impl Running<'_> {
    /// Condition `ObjectsApplied`: False (and a Warning) while an object of an owned name
    /// belongs to someone else; True again once it does not.
    pub(super) fn objects_applied(&mut self) {
        if self.o.foreign.is_empty() {
            if self.o.objects_conflict {
                self.draft.status.objects_applied = Some(Cond::new(
                    true,
                    "Applied",
                    "Every object of the cluster is applied",
                ));
            }
            return;
        }
        let names: Vec<String> = self
            .o
            .foreign
            .iter()
            .map(|(kind, name)| format!("{kind} {name}"))
            .collect();
        let message = format!(
            "{} exists and is not owned by this AIStore, so the operator leaves it alone; delete or rename it to let the operator create its own, or disable what needs it (spec.adminClient)",
            names.join(", ")
        );
        self.draft.warn("Conflict", "Apply", message.clone());
        self.draft.status.objects_applied = Some(Cond::new(false, "ForeignObject", message));
    }

    /// A Warning, once per write, when the reference operator wrote the AIStore after this
    /// operator did: two operators on one cluster undo each other's changes and restart pods
    /// in turn. The reference writes its AIStore's status and annotations as `manager`.
    pub(super) fn second_operator(&mut self) {
        let Some(at) = self.o.reference_wrote_at.clone() else {
            return;
        };
        self.draft.warn(
            "SecondOperator",
            "Reconcile",
            format!(
                "the AIStore was written at {at} by the field manager \"{}\" (the Go operator) after this operator took it over; two operators must not manage one cluster: stop the other one (its leader lease is 60c23797.nvidia.com)",
                crate::migrate::REFERENCE_MANAGER
            ),
        );
        self.draft.act(Action::Annotate {
            key: SECOND_OPERATOR_ANNOTATION,
            value: at,
        });
    }

    /// Condition `TemplatesConverge`: False (and a Warning) while a template change does not
    /// converge; True again once it does.
    pub(super) fn templates_converge(&mut self) {
        if self.stuck.is_empty() {
            if self.o.templates_stuck {
                self.draft.status.templates_converge =
                    Some(Cond::new(true, "Converged", "The pod templates converge"));
            }
            return;
        }
        let message = format!(
            "applying the pod template changed nothing {MAX_FUTILE_APPLIES} times in a row ({}); another field manager probably owns the field (kubectl get statefulset -o yaml --show-managed-fields). The operator stops applying it until the spec or that field changes",
            self.stuck.join("; ")
        );
        self.draft
            .warn("TemplateNotConverging", "Reconcile", message.clone());
        self.draft.status.templates_converge =
            Some(Cond::new(false, "TemplateNotConverging", message));
    }

    /// Whether a target scale-down that autoscaling wants may start. Within
    /// `autoScale.maxUnavailable` it is deferred (the cluster counts as Ready with that many
    /// fewer targets). Beyond it, while a target is not serving (its node is gone or broken),
    /// the StatefulSet would remove the highest ordinals, which run on healthy nodes: that is
    /// held back, so a lost node never decommissions (or, with `decommission`, wipes) a healthy
    /// target. A shrink with every target serving (a node label taken away) goes on.
    pub(super) fn autoscale_shrink(&self, view: &StsView) -> Option<Shrink> {
        let desired = self.w.desired.replicas.target;
        if !self.w.spec.is_target_autoscaling() || desired >= view.replicas {
            return None;
        }
        let slack = self
            .w
            .spec
            .target_spec
            .daemon
            .auto_scale
            .as_ref()
            .and_then(|a| a.max_unavailable)
            .unwrap_or(0);
        if view.replicas - desired <= slack {
            return Some(Shrink::Defer);
        }
        let pods = &self.o.pods.target;
        let lost: Vec<&str> = pods
            .iter()
            .filter(|p| p.ordinal < view.replicas && (!p.ready || p.not_serving()))
            .map(|p| p.name.as_str())
            .collect();
        let healthy_removed: Vec<&str> = pods
            .iter()
            .filter(|p| p.ordinal >= desired && p.ready && !p.not_serving())
            .map(|p| p.name.as_str())
            .collect();
        if lost.is_empty() || healthy_removed.is_empty() {
            return None;
        }
        Some(Shrink::Hold(format!(
            "autoscaling wants {desired} targets (fewer matching nodes), but {} is not serving while {} would be removed: a lost node never decommissions a healthy target. Bring the node back or replace it; the scale-down goes on once every target serves",
            lost.join(", "),
            healthy_removed.join(", ")
        )))
    }
}

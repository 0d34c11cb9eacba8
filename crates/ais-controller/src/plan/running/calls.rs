//! How the AIS calls of a plan are named in events and status.

use crate::lifecycle::AisCall;

/// Reason, action and pod of the event of an AIS call; none for a call that repeats one
/// already told. `FinishDecommission` is asked at every poll while AIS refuses it (its
/// answering proxy may not know of a running rebalance, decision 018): an event each time
/// would be a write every few seconds for as long as the rebalance runs.
pub(super) fn call_event(call: &AisCall) -> Option<(&'static str, &'static str, &str)> {
    Some(match call {
        AisCall::StartMaintenance { pod, .. } => ("Maintenance", "StartMaintenance", pod),
        AisCall::StopMaintenance { pod, .. } => ("Maintenance", "StopMaintenance", pod),
        AisCall::Decommission { pod, .. } => ("Decommissioning", "DecommissionNode", pod),
        AisCall::FinishDecommission { .. } => return None,
        AisCall::SetPrimary { pod, .. } => ("PrimaryMoved", "SetPrimary", pod),
    })
}

pub(super) fn describe(calls: &[AisCall]) -> String {
    calls
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

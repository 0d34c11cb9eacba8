//! How the AIS calls of a plan are named in events and status.

use crate::lifecycle::AisCall;

/// Reason, action and pod of the event of an AIS call.
pub(super) fn call_event(call: &AisCall) -> (&'static str, &'static str, &str) {
    match call {
        AisCall::StartMaintenance { pod, .. } => ("Maintenance", "StartMaintenance", pod),
        AisCall::StopMaintenance { pod, .. } => ("Maintenance", "StopMaintenance", pod),
        AisCall::Decommission { pod, .. } => ("Decommissioning", "DecommissionNode", pod),
        AisCall::FinishDecommission { pod, .. } => ("Decommissioning", "FinishDecommission", pod),
        AisCall::SetPrimary { pod, .. } => ("PrimaryMoved", "SetPrimary", pod),
    }
}

pub(super) fn describe(calls: &[AisCall]) -> String {
    calls
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

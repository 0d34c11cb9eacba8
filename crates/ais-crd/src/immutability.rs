//! What may not change on an existing cluster, and why (see `docs/api.md`).
//!
//! Comparisons run on the effective specs, so moving from a deprecated field to its modern
//! equivalent with the same value is never an error.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::aistore::AIStoreSpec;
use crate::daemon::DaemonSpec;
use crate::legacy::{effective_spec, state_storage_mode};
use crate::validation::{Validation, port_number};

const PORT_FIX: &str = "revert the change: every node registered its ports in the AIS cluster map, so new ports need a redeployment (delete without cleanupMetadata, then re-create)";
const EXTERNAL_FIX: &str = "revert the change: nodes advertise their LoadBalancer address as their public address, so external access is chosen when the cluster is created";
const MOUNT_FIX: &str = "revert the change: mountpaths hold the cluster's data and StatefulSet volume claims cannot change; add capacity with new targets instead";
const HOST_NETWORK_FIX: &str =
    "revert the change: host networking changes every target's address, which needs a redeployment";
const STATE_FIX: &str = "revert the change: node metadata (cluster map, node IDs) lives there and would be lost; redeploy to move it";

pub(crate) fn check(new: &AIStoreSpec, old: &AIStoreSpec, v: &mut Validation) {
    let new = effective_spec(new);
    let old = effective_spec(old);
    check_role("proxySpec", &new.proxy_spec, &old.proxy_spec, v);
    check_role(
        "targetSpec",
        &new.target_spec.daemon,
        &old.target_spec.daemon,
        v,
    );

    let (n, o) = (&new.target_spec, &old.target_spec);
    if n.mounts != o.mounts {
        v.immutable(
            "spec.targetSpec.mounts".into(),
            format!(
                "cannot update spec \"targetSpec\" for an existing cluster: mounts changed from {} to {}",
                describe(&o.mounts),
                describe(&n.mounts)
            ),
            MOUNT_FIX,
        );
    }
    if n.host_network.unwrap_or(false) != o.host_network.unwrap_or(false) {
        v.immutable(
            "spec.targetSpec.hostNetwork".into(),
            "cannot update spec \"targetSpec\" for an existing cluster: hostNetwork changed".into(),
            HOST_NETWORK_FIX,
        );
    }
    let (new_state, old_state) = (state_storage_mode(&new), state_storage_mode(&old));
    if new_state != old_state {
        v.immutable(
            "spec.stateStorage".into(),
            format!(
                "cannot update spec \"stateStorage\" for an existing cluster: {old_state} changed to {new_state}"
            ),
            STATE_FIX,
        );
    }
}

fn check_role(name: &str, new: &DaemonSpec, old: &DaemonSpec, v: &mut Validation) {
    let ports = [
        (
            "servicePort",
            &new.ports.service_port,
            &old.ports.service_port,
        ),
        ("portPublic", &new.ports.port_public, &old.ports.port_public),
        (
            "portIntraControl",
            &new.ports.port_intra_control,
            &old.ports.port_intra_control,
        ),
        (
            "portIntraData",
            &new.ports.port_intra_data,
            &old.ports.port_intra_data,
        ),
    ];
    for (field, n, o) in ports {
        let (n, o) = (number(n), number(o));
        if n != o {
            v.immutable(
                format!("spec.{name}.{field}"),
                format!(
                    "cannot update spec \"{name}\" for an existing cluster: {field} changed from {} to {}",
                    show(o),
                    show(n)
                ),
                PORT_FIX,
            );
        }
    }
    if new.host_port != old.host_port {
        v.immutable(
            format!("spec.{name}.hostPort"),
            format!(
                "cannot update spec \"{name}\" for an existing cluster: hostPort changed from {} to {}",
                show(old.host_port),
                show(new.host_port)
            ),
            PORT_FIX,
        );
    }
    if new.external_access.is_some() != old.external_access.is_some() {
        v.immutable(
            format!("spec.{name}.externalAccess"),
            format!(
                "cannot update spec \"{name}\" for an existing cluster: external access was {} and would be {}",
                on_off(old.external_access.is_some()),
                on_off(new.external_access.is_some())
            ),
            EXTERNAL_FIX,
        );
    }
}

fn number(port: &Option<IntOrString>) -> Option<i32> {
    port.as_ref().and_then(port_number)
}

fn show(value: Option<i32>) -> String {
    value.map_or_else(|| "unset".to_string(), |n| n.to_string())
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

fn describe(mounts: &[crate::daemon::Mount]) -> String {
    let paths: Vec<&str> = mounts.iter().map(|m| m.path.as_str()).collect();
    format!("{paths:?}")
}

//! One AIStore of a data case as its tests see it: the proxy's address (pod IP and the
//! `aistore()` manifest's port), the cluster map, the pods of a role, objects stored and read
//! back, and the rebalances AIS ran. Every reader returns `None` while the answer is not there
//! (no pod IP yet, AIS not answering), so waits can poll it.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::data::{self, Written};
use crate::{get_json, http_get_json, http_request, wait_for};

/// The proxies' public port in [`crate::aistore`] manifests.
pub const PROXY_PORT: u16 = 51080;

/// An AIStore `name` in namespace `ns`.
#[derive(Clone, Copy, Debug)]
pub struct Ais<'a> {
    /// Its namespace.
    pub ns: &'a str,
    /// Its name.
    pub name: &'a str,
}

impl Ais<'_> {
    /// Proxy 0's API address (`None` while its pod has no IP, or kubectl failed once).
    pub fn proxy(&self) -> Option<String> {
        let pod = get_json(&["pod", "-n", self.ns, &format!("{}-proxy-0", self.name)])?;
        Some(format!("{}:{PROXY_PORT}", pod["status"]["podIP"].as_str()?))
    }

    /// Proxy 0's API address, waited for.
    pub fn proxy_now(&self) -> String {
        wait_for(
            self.ns,
            "the proxy's pod IP",
            Duration::from_secs(60),
            || self.proxy(),
        )
    }

    /// Targets in the AIS cluster map: (all, flagged: in maintenance or decommission).
    pub fn targets_in_map(&self) -> Option<(usize, usize)> {
        let map = http_get_json(&self.proxy()?, "/v1/daemon?what=smap")?;
        let tmap = map["tmap"].as_object()?;
        let flagged = tmap
            .values()
            .filter(|n| n["flags"].as_u64().unwrap_or(0) != 0)
            .count();
        Some((tmap.len(), flagged))
    }

    /// The AIStore resource.
    pub fn resource(&self) -> Option<Value> {
        get_json(&["aistore", "-n", self.ns, self.name])
    }

    /// Whether the AIStore is Ready with `n` of `n` targets.
    pub fn ready_with(&self, n: usize) -> bool {
        self.resource().is_some_and(|ais| {
            ais["status"]["state"] == "Ready"
                && ais["status"]["targets"]["summary"] == format!("{n}/{n}")
        })
    }

    /// The pods of `component` (`proxy` or `target`) of this AIStore.
    pub fn pods(&self, component: &str) -> Option<Vec<Value>> {
        let selector = format!(
            "app.kubernetes.io/component={component},app.kubernetes.io/name={}",
            self.name
        );
        let pods = get_json(&["pods", "-n", self.ns, "-l", &selector])?;
        Some(pods["items"].as_array()?.clone())
    }

    /// Stores `count` objects of 32 KiB in `bucket`, retried until AIS takes them.
    pub fn store(&self, bucket: &str, count: usize) -> Written {
        wait_for(self.ns, "objects stored", Duration::from_secs(120), || {
            data::write_objects(&self.proxy()?, bucket, count, 32 * 1024)
                .map_err(|e| println!("{}/{}: storing objects: {e}", self.ns, self.name))
                .ok()
        })
    }

    /// Reads `written` back, checksummed; fails the test naming `when` unless all are intact.
    pub fn verify(&self, written: &Written, when: &str) {
        data::assert_intact(
            &self.proxy_now(),
            written,
            &format!("{}/{} {when}", self.ns, self.name),
        );
    }

    /// The IDs of the rebalances the targets know of (running or finished since each target
    /// started); an empty set when AIS found none (404).
    pub fn rebalance_ids(&self) -> Option<BTreeSet<String>> {
        let (code, body) = http_request(
            &self.proxy()?,
            "GET",
            "/v1/cluster?what=qryxstats",
            Some(&json!({"kind": "rebalance"})),
        )?;
        match code {
            404 => Some(BTreeSet::new()),
            200 => {
                let by_target: Value = serde_json::from_str(&body).ok()?;
                Some(
                    by_target
                        .as_object()?
                        .values()
                        .filter_map(Value::as_array)
                        .flatten()
                        .filter_map(|snap| snap["id"].as_str().map(str::to_string))
                        .collect(),
                )
            }
            _ => None,
        }
    }
}

/// The image of a pod's first container.
pub fn image_of(pod: &Value) -> &str {
    pod["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or_default()
}

/// Whether a pod's `Ready` condition is True.
pub fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// Why a pod's containers (init containers included) wait, e.g. `ImagePullBackOff`.
pub fn waiting_reasons(pod: &Value) -> Vec<String> {
    ["initContainerStatuses", "containerStatuses"]
        .iter()
        .filter_map(|k| pod["status"][k].as_array())
        .flatten()
        .filter_map(|c| c["state"]["waiting"]["reason"].as_str())
        .map(str::to_string)
        .collect()
}

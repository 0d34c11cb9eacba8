//! One real cluster on the real node (real aisnode pods): seconds from `kubectl apply` to
//! Ready for 1 proxy + 3 targets, for scaling 3 → 5 → 3 targets and for an image change, each
//! split into the controller's own work (the sum of its reconcile durations) and the rest
//! (waiting for pods and AIS, and its requeue waits).

use std::time::{Duration, Instant};

use ais_e2e::{
    Namespace, ReleaseFinalizers, aistore, free_port, get_json, kubectl_ok, node_image, patch_spec,
    spawn_controller,
};
use anyhow::{Result, bail};
use serde_json::json;

/// One timed step.
#[derive(Debug)]
pub struct Step {
    /// What was done.
    pub what: &'static str,
    /// Seconds until Ready again.
    pub total: f64,
    /// Seconds the controller spent reconciling.
    pub operator: f64,
}

fn reconcile_seconds(port: u16) -> f64 {
    crate::metrics(port)
        .lines()
        .filter(|l| l.starts_with("ais_operator_reconcile_duration_seconds_sum"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn settled(ns: &str, targets: usize, image: &str) -> bool {
    let Some(ais) = get_json(&["aistore", "-n", ns, "ais"]) else {
        return false;
    };
    let pods = get_json(&["pods", "-n", ns, "-l", "app.kubernetes.io/component=target"]);
    let on_image = pods
        .as_ref()
        .and_then(|p| p["items"].as_array().cloned())
        .is_some_and(|items| {
            items.len() == targets
                && items
                    .iter()
                    .all(|p| p["spec"]["containers"][0]["image"] == image)
        });
    ais["status"]["state"] == "Ready"
        && ais["status"]["targets"]["summary"] == format!("{targets}/{targets}")
        && on_image
}

fn timed(
    ns: &str,
    port: u16,
    what: &'static str,
    targets: usize,
    image: &str,
    act: impl FnOnce(),
) -> Result<Step> {
    let before = reconcile_seconds(port);
    let start = Instant::now();
    act();
    // A step starts from Ready: wait until the change is visible before waiting for Ready.
    std::thread::sleep(Duration::from_secs(2));
    while !settled(ns, targets, image) {
        if start.elapsed() > Duration::from_secs(900) {
            bail!("{what}: not Ready within 15 minutes");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let step = Step {
        what,
        total: start.elapsed().as_secs_f64(),
        operator: reconcile_seconds(port) - before,
    };
    println!(
        "real cluster: {what}: {:.1} s ({:.2} s in the controller)",
        step.total, step.operator
    );
    Ok(step)
}

/// The steps on one real cluster.
pub fn run(logs: &std::path::Path) -> Result<Vec<Step>> {
    let ns_guard = Namespace::create("real-bench", &[]);
    let ns = ns_guard.0.as_str();
    let _release = ReleaseFinalizers(ns.to_string());
    let port = free_port("127.0.0.1");
    let _controller =
        spawn_controller(Some(ns), port, crate::log_file(logs, "controller-real.log"));
    let image = node_image();
    let next = format!("{image}-next");
    let mut doc: serde_json::Value = serde_json::from_str(&aistore("ais", json!({})))?;
    doc["spec"]["targetSpec"]["size"] = json!(3);
    doc["spec"]["targetSpec"]["disablePodAntiAffinity"] = json!(true);
    doc["spec"]["stateStorage"] = json!({"pvc": {"storageClass": "e2e-hostpath"}});
    let mut steps = Vec::new();
    steps.push(timed(
        ns,
        port,
        "apply to Ready (1 proxy, 3 targets)",
        3,
        &image,
        || {
            kubectl_ok(&["apply", "-n", ns, "-f", "-"], Some(&doc.to_string()));
        },
    )?);
    steps.push(timed(ns, port, "scale 3 → 5 targets", 5, &image, || {
        patch_spec(ns, "ais", &json!({"targetSpec": {"size": 5}}));
    })?);
    steps.push(timed(ns, port, "scale 5 → 3 targets", 3, &image, || {
        patch_spec(ns, "ais", &json!({"targetSpec": {"size": 3}}));
    })?);
    steps.push(timed(
        ns,
        port,
        "image change (every pod rolls)",
        3,
        &next,
        || {
            patch_spec(ns, "ais", &json!({"nodeImage": next}));
        },
    )?);
    kubectl_ok(
        &[
            "delete",
            "aistore",
            "-n",
            ns,
            "ais",
            "--wait=true",
            "--timeout=300s",
        ],
        None,
    );
    // The scale runs start on a quiet cluster: the namespace's deletion (its PVCs) ran into
    // the first of them.
    crate::remove_namespaces(&[ns.to_string()], true);
    Ok(steps)
}

//! The Helm chart on the real cluster, with the operator's own images (built by
//! `just images`): install in `namespaceScope` mode with the chart's own webhook certificate
//! (`webhook.certs.mode=helm`), the operator pods become Ready, an AIStore in the scoped
//! namespace becomes Ready through them (the API server calls the chart's webhook), one outside
//! the scope is never touched; `helm upgrade` rolls the operator but no AIS pod; `helm
//! uninstall` leaves the AIStore and its PVCs. The controller's log has no `forbidden`: the
//! chart's RBAC is enough for everything the code did.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::Duration;

use ais_e2e::{
    Namespace, aistore, eventually, get_json, helm_bin, kubectl, kubectl_ok, pod_uids, state,
};
use serde_json::json;

const LONG: Duration = Duration::from_secs(300);

fn helm(args: &[&str]) -> String {
    let out = Command::new(helm_bin()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "helm {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn operator_pods(ns: &str, component: &str) -> Vec<String> {
    let pods = get_json(&[
        "pods",
        "-n",
        ns,
        "-l",
        &format!("app.kubernetes.io/component={component}"),
    ])
    .unwrap();
    pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

fn rollout(ns: &str, deploy: &str) {
    kubectl_ok(
        &[
            "rollout",
            "status",
            "-n",
            ns,
            &format!("deployment/{deploy}"),
            "--timeout=240s",
        ],
        None,
    );
}

#[test]
fn chart_install_upgrade_uninstall_in_namespace_scope() {
    ais_e2e::install_crd();
    let chart = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/ais-operator");
    let chart = chart.to_str().unwrap();
    let op = Namespace::create("e2e-helm-op", &[]);
    let scoped = Namespace::create("e2e-helm-ais", &[]);
    let outside = Namespace::create("e2e-helm-out", &[]);
    let release = format!("aisop-{}", &op.0[op.0.len() - 6..]);
    let node_image = std::env::var("AIS_NODE_IMAGE")
        .unwrap_or_else(|_| "localhost/aistore/aisnode:v1.4.9".into());
    let init_image = std::env::var("AIS_INIT_IMAGE")
        .unwrap_or_else(|_| "localhost/aistore/aisinit:v1.4.9".into());
    let scope = format!("namespaceScope={{{}}}", scoped.0);
    let set_node = format!("aisDefaults.nodeImage={node_image}");
    let set_init = format!("aisDefaults.initImage={init_image}");
    // The CRD is the one every e2e test shares; the small cluster gets a small init container.
    let base: Vec<&str> = vec![
        "--namespace",
        &op.0,
        "--wait",
        "--timeout",
        "180s",
        "--set",
        "crds.install=false",
        "--set",
        "webhook.certs.mode=helm",
        "--set",
        &scope,
        "--set",
        &set_node,
        "--set",
        &set_init,
        "--set",
        "controller.aisImagePullPolicy=IfNotPresent",
        "--set",
        "controller.extraArgs={--init-cpu=100m,--init-memory=128Mi}",
    ];
    let mut install = vec!["install", &release, chart];
    install.extend(&base);
    helm(&install);
    let controller = format!("{release}-ais-operator-controller");
    let webhook = format!("{release}-ais-operator-webhook");
    let deployments = kubectl_ok(&["get", "deploy", "-n", &op.0, "-o", "name"], None);
    assert!(
        deployments.contains(&controller) && deployments.contains(&webhook),
        "{deployments}"
    );
    rollout(&op.0, &controller);
    rollout(&op.0, &webhook);

    // An AIStore in the scoped namespace: defaulted and validated by the chart's webhook,
    // reconciled by the chart's controller to Ready.
    let name = "ais";
    let mut doc: serde_json::Value = serde_json::from_str(&aistore(name, json!({}))).unwrap();
    let spec = doc["spec"].as_object_mut().unwrap();
    spec.remove("nodeImage");
    spec.remove("initImage");
    kubectl_ok(
        &["apply", "-n", &scoped.0, "-f", "-"],
        Some(&doc.to_string()),
    );
    eventually(LONG, || {
        (state(&scoped.0, name).as_deref() == Some("Ready")).then_some(())
    });
    let ais = get_json(&["aistore", "-n", &scoped.0, name]).unwrap();
    assert_eq!(
        ais["spec"]["nodeImage"], node_image,
        "the webhook's defaulting filled in the image"
    );
    // The webhook rejects an invalid AIStore in the scoped namespace.
    let bad = kubectl(
        &["apply", "-n", &scoped.0, "-f", "-"],
        Some(&aistore("bad", json!({"size": -2})).to_string()),
    );
    assert!(
        !bad.status.success(),
        "the chart's webhook let an invalid spec through"
    );

    // Outside the scope: nothing reconciles it.
    kubectl_ok(
        &["apply", "-n", &outside.0, "-f", "-"],
        Some(&aistore("other", json!({}))),
    );
    std::thread::sleep(Duration::from_secs(20));
    let other = get_json(&["aistore", "-n", &outside.0, "other"]).unwrap();
    assert!(
        other["status"].is_null(),
        "touched outside the scope: {other}"
    );
    assert!(other["metadata"]["finalizers"].is_null(), "{other}");
    assert!(get_json(&["statefulset", "-n", &outside.0, "other-proxy"]).is_none());

    // Upgrade with changed values: the operator rolls, AIS does not.
    let ais_pods = pod_uids(&scoped.0);
    let before = operator_pods(&op.0, "controller");
    let mut upgrade = vec!["upgrade", &release, chart];
    upgrade.extend(&base);
    upgrade.extend(["--set", "controller.logLevel=debug"]);
    helm(&upgrade);
    rollout(&op.0, &controller);
    let after = operator_pods(&op.0, "controller");
    assert!(
        after.iter().all(|p| !before.contains(p)),
        "{before:?} -> {after:?}"
    );
    std::thread::sleep(Duration::from_secs(20));
    assert_eq!(
        pod_uids(&scoped.0),
        ais_pods,
        "helm upgrade restarted AIS pods"
    );
    assert_eq!(state(&scoped.0, name).as_deref(), Some("Ready"));

    // The chart's RBAC covered everything the controller did.
    for pod in operator_pods(&op.0, "controller") {
        let logs = kubectl_ok(&["logs", "-n", &op.0, &pod], None);
        assert!(!logs.contains("forbidden"), "{pod}: {logs}");
    }

    // Uninstall: the AIStore and its PVCs stay.
    let pvcs = kubectl_ok(&["get", "pvc", "-n", &scoped.0, "-o", "name"], None);
    assert!(!pvcs.trim().is_empty());
    helm(&["uninstall", &release, "--namespace", &op.0, "--wait"]);
    assert!(get_json(&["aistore", "-n", &scoped.0, name]).is_some());
    assert_eq!(
        kubectl_ok(&["get", "pvc", "-n", &scoped.0, "-o", "name"], None),
        pvcs
    );
    assert!(get_json(&["crd", "aistores.ais.nvidia.com"]).is_some());

    // Cleanup without an operator: drop the finalizers, then the namespaces go.
    for (ns, n) in [(&scoped.0, name), (&outside.0, "other")] {
        let _ = kubectl(
            &[
                "patch",
                "aistore",
                "-n",
                ns,
                n,
                "--type=merge",
                "-p",
                r#"{"metadata":{"finalizers":null}}"#,
            ],
            None,
        );
    }
    let _ = kubectl(
        &["delete", "pvc", "-n", &scoped.0, "--all", "--wait=false"],
        None,
    );
}

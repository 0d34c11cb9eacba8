//! The Helm chart and `deploy/` on the real cluster, with the operator's own images (built by
//! `just images`).
//!
//! `chart_install_upgrade_uninstall_in_namespace_scope`: install in `namespaceScope` mode with the
//! chart's own webhook certificate (`webhook.certs.mode=helm`), the operator pods become Ready,
//! an AIStore in the scoped namespace becomes Ready through them (the API server calls the
//! chart's webhook), one outside the scope is never touched; `helm upgrade` rolls the operator
//! but no AIS pod; `helm uninstall` leaves the AIStore and its PVCs. The controller's log has no
//! `forbidden`: the chart's RBAC is enough for everything the code did.
//!
//! `chart_default_values_with_cert_manager`: the default values (cluster-wide, webhook
//! certificate from cert-manager, which the local cluster runs): cert-manager signs the serving
//! certificate, its CA injector fills both webhook configurations, an AIStore becomes Ready, and
//! a re-issued certificate is picked up by the running webhook pods without a restart.
//!
//! `kubectl_apply_of_deploy_manifests`: the same default installation from
//! `deploy/operator.yaml` with `kubectl apply`, an AIStore Ready, `kubectl delete -f` keeps PVCs.
//!
//! The tests run one after the other: a cluster-wide operator would also reconcile the other
//! tests' AIStores.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use ais_e2e::{
    Namespace, aistore, delete_aistore, eventually, get_json, helm_bin, init_image, kubectl,
    kubectl_ok, node_image, pod_uids, rand_u32, state, wait_certificate, wait_state,
};
use base64::Engine;
use serde_json::json;

static SERIAL: Mutex<()> = Mutex::new(());

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

/// A Helm release uninstalled when dropped (a failed test leaves no webhook behind that would
/// reject the next test's AIStores), and the AIStores in `ais_namespaces` released (no
/// operator would remove their finalizers, and their namespaces would never go). Declared after
/// the namespaces, it is dropped before them.
struct Release {
    name: String,
    ns: String,
    ais_namespaces: Vec<String>,
}

impl Release {
    fn uninstall(&self) {
        helm(&["uninstall", &self.name, "--namespace", &self.ns, "--wait"]);
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        for ns in &self.ais_namespaces {
            release_aistores(ns);
        }
        let _ = Command::new(helm_bin())
            .args([
                "uninstall",
                &self.name,
                "--namespace",
                &self.ns,
                "--wait",
                "--ignore-not-found",
            ])
            .output();
    }
}

fn chart_dir() -> String {
    let chart = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/ais-operator");
    chart.to_str().unwrap().to_string()
}

/// Values every install here needs, whatever the mode: the CRD is the one every e2e test shares
/// (identical to the chart's, a drift test checks that), the AIS images are the locally built
/// ones (preloaded, never pulled), and the two-core node gets a small init container.
fn cluster_values() -> Vec<String> {
    [
        "crds.install=false".to_string(),
        format!("aisDefaults.nodeImage={}", node_image()),
        format!("aisDefaults.initImage={}", init_image()),
        "controller.aisImagePullPolicy=IfNotPresent".to_string(),
        "controller.extraArgs={--init-cpu=100m,--init-memory=128Mi}".to_string(),
    ]
    .into_iter()
    .flat_map(|v| ["--set".to_string(), v])
    .collect()
}

/// The AIStore of these tests without images: the webhook's defaulting fills them in.
fn aistore_without_images(name: &str) -> String {
    let mut doc: serde_json::Value = serde_json::from_str(&aistore(name, json!({}))).unwrap();
    let spec = doc["spec"].as_object_mut().unwrap();
    spec.remove("nodeImage");
    spec.remove("initImage");
    doc.to_string()
}

/// Drops the finalizers of the AIStores of `ns` (no operator serves them any more) and its PVCs.
fn release_aistores(ns: &str) {
    let names = kubectl(&["get", "aistore", "-n", ns, "-o", "name"], None);
    for aistore in String::from_utf8_lossy(&names.stdout).lines() {
        let _ = kubectl(
            &[
                "patch",
                "-n",
                ns,
                aistore,
                "--type=merge",
                "-p",
                r#"{"metadata":{"finalizers":null}}"#,
            ],
            None,
        );
    }
    let _ = kubectl(&["delete", "pvc", "-n", ns, "--all", "--wait=false"], None);
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

/// No request of the chart's controller was refused by RBAC (`... is forbidden: User "..."
/// cannot ...`; other 403s, such as writes into a terminating namespace, are not RBAC's).
fn assert_no_forbidden(ns: &str) {
    for pod in operator_pods(ns, "controller") {
        let logs = kubectl_ok(&["logs", "-n", ns, &pod], None);
        let denied: Vec<&str> = logs
            .lines()
            .filter(|l| l.contains("forbidden: User"))
            .collect();
        assert!(denied.is_empty(), "{pod}: {denied:#?}");
    }
}

#[test]
fn chart_install_upgrade_uninstall_in_namespace_scope() {
    let _case = ais_e2e::report::Case::start();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    ais_e2e::install_crd();
    let chart = chart_dir();
    let op = Namespace::create("e2e-helm-op", &[]);
    let scoped = Namespace::create("e2e-helm-ais", &[]);
    let outside = Namespace::create("e2e-helm-out", &[]);
    let release = Release {
        name: format!("aisop-{}", &op.0[op.0.len() - 6..]),
        ns: op.0.clone(),
        ais_namespaces: vec![scoped.0.clone(), outside.0.clone()],
    };
    let scope = format!("namespaceScope={{{}}}", scoped.0);
    let values = cluster_values();
    let mut base: Vec<&str> = vec!["--namespace", &op.0, "--wait", "--timeout", "180s"];
    base.extend(["--set", "webhook.certs.mode=helm", "--set", &scope]);
    base.extend(values.iter().map(String::as_str));
    let mut install = vec!["install", &release.name, &chart];
    install.extend(&base);
    helm(&install);
    let controller = format!("{}-ais-operator-controller", release.name);
    let webhook = format!("{}-ais-operator-webhook", release.name);
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
    kubectl_ok(
        &["apply", "-n", &scoped.0, "-f", "-"],
        Some(&aistore_without_images(name)),
    );
    wait_state(&scoped.0, name, "Ready");
    let ais = get_json(&["aistore", "-n", &scoped.0, name]).unwrap();
    assert_eq!(
        ais["spec"]["nodeImage"],
        node_image(),
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
    let mut upgrade = vec!["upgrade", &release.name, &chart];
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
    assert_no_forbidden(&op.0);

    // Uninstall: the AIStore and its PVCs stay.
    let pvcs = kubectl_ok(&["get", "pvc", "-n", &scoped.0, "-o", "name"], None);
    assert!(!pvcs.trim().is_empty());
    release.uninstall();
    assert!(get_json(&["aistore", "-n", &scoped.0, name]).is_some());
    assert_eq!(
        kubectl_ok(&["get", "pvc", "-n", &scoped.0, "-o", "name"], None),
        pvcs
    );
    assert!(get_json(&["crd", "aistores.ais.nvidia.com"]).is_some());
    // Cleanup without an operator: `release` drops the finalizers, then the namespaces go.
}

/// A user's write to an AIStore (annotation `e2e/probe`), which admission sees.
fn probe_write(ns: &str, name: &str, value: &str) -> std::process::Output {
    kubectl(
        &[
            "annotate",
            "aistore",
            "-n",
            ns,
            name,
            "--overwrite",
            &format!("e2e/probe={value}"),
        ],
        None,
    )
}

/// Base64 `ca.crt` of a Secret; empty while it does not exist.
fn secret_ca(ns: &str, secret: &str) -> String {
    get_json(&["secret", "-n", ns, secret])
        .and_then(|s| s["data"]["ca.crt"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The caBundle of every webhook of a (validating or mutating) webhook configuration.
fn ca_bundles(kind: &str, name: &str) -> Vec<String> {
    let c = get_json(&[kind, name]).unwrap();
    c["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            w["clientConfig"]["caBundle"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

fn pem(b64: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).trim().to_string()
}

/// Every webhook of the configuration trusts `ca` (base64 PEM). cert-manager's CA injector
/// merges a new CA into the existing bundle (old and new both trusted while pods catch up).
fn trusts(kind: &str, name: &str, ca: &str) -> bool {
    let want = pem(ca);
    !want.is_empty()
        && ca_bundles(kind, name)
            .iter()
            .all(|b| pem(b).contains(&want))
}

#[test]
fn chart_default_values_with_cert_manager() {
    let _case = ais_e2e::report::Case::start();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    ais_e2e::install_crd();
    let chart = chart_dir();
    let op = Namespace::create("e2e-helmcm-op", &[]);
    let ais_ns = Namespace::create("e2e-helmcm-ais", &[]);
    let release = Release {
        name: format!("aiscm-{}", &op.0[op.0.len() - 6..]),
        ns: op.0.clone(),
        ais_namespaces: vec![ais_ns.0.clone()],
    };
    let values = cluster_values();
    let mut install = vec!["install", &release.name, &chart];
    install.extend(["--namespace", &op.0, "--wait", "--timeout", "240s"]);
    install.extend(values.iter().map(String::as_str));
    helm(&install);
    let full = format!("{}-ais-operator", release.name);
    let controller = format!("{full}-controller");
    let webhook = format!("{full}-webhook");
    rollout(&op.0, &controller);
    rollout(&op.0, &webhook);

    // cert-manager signed the serving certificate for the webhook Service's names.
    let cert_name = format!("{webhook}-serving-cert");
    wait_certificate(&op.0, &cert_name);
    let cert = get_json(&["certificate", "-n", &op.0, &cert_name]).unwrap();
    let secret = cert["spec"]["secretName"].as_str().unwrap().to_string();
    let dns = cert["spec"]["dnsNames"].to_string();
    assert!(dns.contains(&format!(".{}.svc", op.0)), "{dns}");

    // The CA injector put the certificate's CA into both webhook configurations.
    let ca = secret_ca(&op.0, &secret);
    assert!(!ca.is_empty(), "secret {secret} has no ca.crt");
    let configs = [
        (
            "validatingwebhookconfiguration",
            format!("{full}-validating"),
        ),
        ("mutatingwebhookconfiguration", format!("{full}-mutating")),
    ];
    for (kind, name) in &configs {
        assert!(get_json(&[kind, name]).is_some(), "{kind}/{name} missing");
        eventually(Duration::from_secs(60), || {
            ca_bundles(kind, name)
                .iter()
                .all(|b| *b == ca)
                .then_some(())
        });
    }

    // An AIStore through the cert-manager-secured webhook (defaulting) to Ready.
    let name = "ais";
    kubectl_ok(
        &["apply", "-n", &ais_ns.0, "-f", "-"],
        Some(&aistore_without_images(name)),
    );
    wait_state(&ais_ns.0, name, "Ready");
    let ais = get_json(&["aistore", "-n", &ais_ns.0, name]).unwrap();
    assert_eq!(ais["spec"]["nodeImage"], node_image());

    // Re-issue: a deleted Secret makes cert-manager sign a new certificate (new self-signed
    // CA); the CA injector updates the configurations and the running webhook pods serve the
    // new certificate without a restart: admission keeps working.
    let webhook_pods = pod_uids(&op.0);
    kubectl_ok(&["delete", "secret", "-n", &op.0, &secret], None);
    let new_ca = eventually(Duration::from_secs(120), || {
        let now = secret_ca(&op.0, &secret);
        (!now.is_empty() && now != ca).then_some(now)
    });
    for (kind, name) in &configs {
        eventually(Duration::from_secs(60), || {
            trusts(kind, name, &new_ca).then_some(())
        });
    }
    // Kubelet refreshes the mounted Secret within its sync period; the webhook reloads it.
    eventually(Duration::from_secs(240), || {
        probe_write(&ais_ns.0, name, &rand_u32().to_string())
            .status
            .success()
            .then_some(())
    });
    let bad = kubectl(
        &["apply", "-n", &ais_ns.0, "-f", "-"],
        Some(&aistore("bad", json!({"size": -2})).to_string()),
    );
    let err = String::from_utf8_lossy(&bad.stderr).into_owned();
    assert!(
        !bad.status.success() && err.contains("size"),
        "the webhook with the re-issued certificate did not validate: {err}"
    );
    assert_eq!(
        pod_uids(&op.0),
        webhook_pods,
        "operator pods restarted for the new certificate"
    );
    assert_eq!(state(&ais_ns.0, name).as_deref(), Some("Ready"));

    // The webhook Deployment deleted: a user's write is refused (failurePolicy Fail: nothing
    // is stored unvalidated), while the controller goes on repairing the cluster and releases
    // a deleted AIStore (its own writes skip admission: the chart's matchConditions).
    kubectl_ok(
        &["delete", "deployment", "-n", &op.0, &webhook, "--wait=true"],
        None,
    );
    let refused = eventually(Duration::from_secs(60), || {
        let out = probe_write(&ais_ns.0, name, "no-webhook");
        (!out.status.success()).then(|| String::from_utf8_lossy(&out.stderr).into_owned())
    });
    assert!(
        refused.contains("webhook"),
        "a write without the webhook failed for another reason: {refused}"
    );
    let service = format!("{name}-proxy");
    let old_service =
        get_json(&["service", "-n", &ais_ns.0, &service]).unwrap()["metadata"]["uid"].clone();
    kubectl_ok(&["delete", "service", "-n", &ais_ns.0, &service], None);
    eventually(Duration::from_secs(60), || {
        get_json(&["service", "-n", &ais_ns.0, &service])
            .filter(|s| s["metadata"]["uid"] != old_service)
            .map(|_| ())
    });
    kubectl_ok(
        &[
            "delete",
            "aistore",
            "-n",
            &ais_ns.0,
            name,
            "--wait=true",
            "--timeout=180s",
        ],
        None,
    );
    assert_no_forbidden(&op.0);

    // Uninstall: cert-manager's objects of the release go (an AIStore that outlives the
    // operator is `chart_install_upgrade_uninstall_in_namespace_scope`'s case).
    release.uninstall();
    assert!(get_json(&["certificate", "-n", &op.0, &cert_name]).is_none());
}

/// `deploy/operator.yaml` deleted when dropped (its namespace and cluster-wide objects).
struct Manifest(String);

impl Drop for Manifest {
    fn drop(&mut self) {
        let _ = kubectl(
            &[
                "delete",
                "-f",
                &self.0,
                "--ignore-not-found",
                "--wait=true",
                "--timeout=120s",
            ],
            None,
        );
    }
}

/// `kubectl apply -f deploy/operator.yaml` (the chart rendered with default values) gives a
/// working cluster-wide installation: both Deployments Ready from the local images, the webhook
/// certificate from cert-manager, defaulting and an AIStore reconciled to Ready; deleting the
/// manifest removes the operator and leaves the AIStore's PVCs.
#[test]
fn kubectl_apply_of_deploy_manifests() {
    let _case = ais_e2e::report::Case::start();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    ais_e2e::install_crd();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/operator.yaml");
    let path = path.to_str().unwrap().to_string();
    let ais_ns = Namespace::create("e2e-manifest-ais", &[]);
    let manifest = Manifest(path.clone());
    kubectl_ok(&["apply", "-f", &path], None);
    let ns = "ais-operator-system";
    // What a user of deploy/ on an air-gapped two-core cluster sets through the controller's
    // environment: the preloaded AIS images, never pulled, and a small init container.
    kubectl_ok(
        &[
            "set",
            "env",
            "-n",
            ns,
            "deployment/ais-operator-controller",
            "AIS_IMAGE_PULL_POLICY=IfNotPresent",
            "AIS_INIT_CPU=100m",
            "AIS_INIT_MEMORY=128Mi",
        ],
        None,
    );
    rollout(ns, "ais-operator-controller");
    rollout(ns, "ais-operator-webhook");
    wait_certificate(ns, "ais-operator-webhook-serving-cert");
    let ca = secret_ca(ns, "ais-operator-webhook-cert");
    eventually(Duration::from_secs(60), || {
        trusts("mutatingwebhookconfiguration", "ais-operator-mutating", &ca).then_some(())
    });

    // The defaulting webhook fills in the images of an AIStore that names none (server-side
    // dry run: nothing is stored).
    let defaulted = kubectl_ok(
        &[
            "create",
            "--dry-run=server",
            "-n",
            &ais_ns.0,
            "-o",
            "json",
            "-f",
            "-",
        ],
        Some(&aistore_without_images("probe")),
    );
    let defaulted: serde_json::Value = serde_json::from_str(&defaulted).unwrap();
    assert!(
        defaulted["spec"]["nodeImage"]
            .as_str()
            .is_some_and(|i| !i.is_empty()),
        "{defaulted}"
    );

    // An AIStore naming the local images, reconciled to Ready by the manifest's controller.
    let name = "ais";
    kubectl_ok(
        &["apply", "-n", &ais_ns.0, "-f", "-"],
        Some(&aistore(name, json!({}))),
    );
    wait_state(&ais_ns.0, name, "Ready");
    assert_no_forbidden(ns);
    delete_aistore(&ais_ns.0, name);
    let pvcs = kubectl_ok(&["get", "pvc", "-n", &ais_ns.0, "-o", "name"], None);
    assert!(
        !pvcs.trim().is_empty(),
        "deletion without cleanupMetadata dropped the PVCs"
    );
    drop(manifest);
    assert!(
        get_json(&["namespace", ns]).is_none_or(|n| !n["metadata"]["deletionTimestamp"].is_null())
    );
    assert!(get_json(&["crd", "aistores.ais.nvidia.com"]).is_some());
    let _ = kubectl(
        &["delete", "pvc", "-n", &ais_ns.0, "--all", "--wait=false"],
        None,
    );
}

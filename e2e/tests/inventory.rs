//! The inventory of owned objects on the real cluster with real aisnode pods (controller commit
//! 4410ac7): objects that leave the spec are deleted (the admin client Deployment, the target
//! PodDisruptionBudget, the cert-manager Certificate when TLS moves to the csi-driver) without
//! touching the AIS pods or a user's look-alike object; the LoadBalancer of a leaving target
//! goes only after its StatefulSet shrank; the Certificate names the LoadBalancer addresses
//! (and a client that reaches the proxy through its LoadBalancer IP verifies it); and an
//! AIStore whose AIS requires AuthN tokens (`spec.auth`) is deleted to the end.
//!
//! The auth test runs a real AuthN (`cmd/authn` of the pinned AIStore, built by
//! `e2e/cluster/build.sh authn`) on the host at `127.0.0.1`: only the controller, which also
//! runs on the host, talks to it. The AIS proxies verify its tokens with its HMAC key, which
//! they get from `spec.authNSecretName` (`AIS_AUTHN_SECRET_KEY`; `configToUpdate.auth` says
//! `enabled` and `signature.method: HS256`), so they never need to reach it. (The key cannot
//! go in `configToUpdate.auth.signature.key`: aisinit v1.4.9 writes the cluster config with it
//! censored, `auth.PublicClone()` in `cmd/aisinit/main.go`, and AIS then refuses every token
//! with "token signature is invalid".)
//!
//! A failed test releases the finalizers of its AIStores after its controller stopped
//! ([`ReleaseFinalizers`]), so its namespace does not stay Terminating.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::{Duration, Instant};

use ais_e2e::{
    Authn, Namespace, ReleaseFinalizers, ais_pod_uids, aistore, apply_sample_ca,
    describe_namespace, event_notes, free_port, get_json, http_get, http_get_text,
    http_get_with_token, install_crd, kubectl_ok, patch_spec, start_controller, state,
    wait_certificate, wait_for, wait_state_within,
};
use base64::Engine;
use serde_json::{Value, json};

const NAME: &str = "ais";
/// Bootstrap of a small cluster on a loaded 2-core machine.
const LONG: Duration = Duration::from_secs(420);
/// An object the controller applies or deletes on its next reconcile.
const SHORT: Duration = Duration::from_secs(90);

/// Prints how long the test took (also when it fails), for the test log.
struct Timer(Instant, String);

impl Timer {
    fn start() -> Self {
        let name = std::thread::current().name().unwrap_or("test").to_string();
        Self(Instant::now(), name)
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        eprintln!("{} took {:?}", self.1, self.0.elapsed());
    }
}

/// The AIStore manifest of [`aistore`] as JSON, to edit nested fields.
fn manifest(extra: Value) -> Value {
    serde_json::from_str(&aistore(NAME, extra)).unwrap()
}

fn apply(ns: &str, doc: &Value) {
    kubectl_ok(&["apply", "-n", ns, "-f", "-"], Some(&doc.to_string()));
}

/// The object, unless it is absent or being deleted.
fn live(kind: &str, ns: &str, name: &str) -> Option<Value> {
    get_json(&[kind, "-n", ns, name]).filter(|o| o["metadata"]["deletionTimestamp"].is_null())
}

fn uid_of(kind: &str, ns: &str, name: &str) -> String {
    live(kind, ns, name).unwrap_or_else(|| panic!("{kind} {ns}/{name} missing\n{}", describe_namespace(ns)))["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The object is owned by the AIStore `uid`.
fn assert_owned(obj: &Value, uid: &str) {
    let what = format!("{} {}", obj["kind"], obj["metadata"]["name"]);
    let owners = obj["metadata"]["ownerReferences"].as_array();
    assert!(
        owners.is_some_and(|o| o.iter().any(|r| r["uid"] == uid)),
        "{what} is not owned by the AIStore: {owners:?}"
    );
}

fn position(ns: &str, notes: &[String], needle: &str) -> usize {
    notes
        .iter()
        .position(|n| n.contains(needle))
        .unwrap_or_else(|| panic!("no event with {needle:?}\n{}", describe_namespace(ns)))
}

/// The AIStore stays Ready for `window` (sampled every second).
fn stays_ready(ns: &str, window: Duration) {
    let start = Instant::now();
    while start.elapsed() < window {
        let now = state(ns, NAME);
        assert_eq!(
            now.as_deref(),
            Some("Ready"),
            "the cluster left Ready after {:?}\n{}",
            start.elapsed(),
            describe_namespace(ns)
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// The first ingress IP of a LoadBalancer Service.
fn lb_ip(ns: &str, svc: &str) -> Option<String> {
    let s = live("service", ns, svc)?;
    assert_eq!(s["spec"]["type"], "LoadBalancer", "{svc}: {}", s["spec"]);
    s["status"]["loadBalancer"]["ingress"][0]["ip"]
        .as_str()
        .map(String::from)
}

/// Deletes the AIStore and waits (bounded) until the API server no longer has it, i.e. the
/// operator's finalizer ran to the end. Returns how long that took.
fn delete_within(ns: &str, timeout: Duration) -> Duration {
    let start = Instant::now();
    kubectl_ok(&["delete", "aistore", "-n", ns, NAME, "--wait=false"], None);
    wait_for(
        ns,
        &format!("the deleted AIStore {ns}/{NAME} is gone (finalizer released)"),
        timeout,
        || {
            get_json(&["aistore", "-n", ns, NAME])
                .is_none()
                .then_some(())
        },
    );
    start.elapsed()
}

/// 1. The admin client Deployment and the target PDB appear when enabled and are deleted
///    when disabled; the cluster stays Ready, no AIS pod restarts, and a user's ConfigMap that
///    carries the cluster's name label but no owner reference survives the sweep.
#[test]
fn admin_client_and_target_pdb_come_and_go_without_restarts() {
    let _case = ais_e2e::report::Case::start();
    let _timer = Timer::start();
    install_crd();
    let ns_guard = Namespace::create("e2e-inv-opt", &[]);
    let ns = ns_guard.0.as_str();
    let _release = ReleaseFinalizers(ns.to_string());
    let _controller = start_controller(ns, free_port("127.0.0.1"));
    apply(ns, &manifest(json!({})));
    wait_state_within(ns, NAME, "Ready", LONG);
    let uid = uid_of("aistore", ns, NAME);
    assert!(live("deployment", ns, "ais-client").is_none());
    assert!(live("pdb", ns, "ais-target").is_none());

    // A user's object that looks like the cluster's (same name label), not owned by it.
    kubectl_ok(
        &[
            "create",
            "configmap",
            "-n",
            ns,
            "ais-user-notes",
            "--from-literal=k=v",
        ],
        None,
    );
    kubectl_ok(
        &[
            "label",
            "configmap",
            "-n",
            ns,
            "ais-user-notes",
            "app.kubernetes.io/name=ais",
        ],
        None,
    );
    let user_cm = uid_of("configmap", ns, "ais-user-notes");
    let pods = ais_pod_uids(ns, NAME);
    assert_eq!(pods.len(), 2, "{pods:?}");

    // Enabled: both appear, owned and labelled.
    patch_spec(
        ns,
        NAME,
        &json!({
            "adminClient": {"enabled": true, "image": "localhost/e2e/busybox:1", "imagePullPolicy": "IfNotPresent"},
            "targetSpec": {"pdb": {"enabled": true}}
        }),
    );
    let (client, pdb) = wait_for(
        ns,
        "Deployment ais-client and PDB ais-target",
        SHORT,
        || {
            Some((
                live("deployment", ns, "ais-client")?,
                live("pdb", ns, "ais-target")?,
            ))
        },
    );
    assert_owned(&client, &uid);
    assert_owned(&pdb, &uid);
    stays_ready(ns, Duration::from_secs(20));
    assert_eq!(
        ais_pod_uids(ns, NAME),
        pods,
        "enabling the admin client and the PDB restarted AIS pods"
    );

    // Disabled: both are deleted, with an event each. The PDB is checked first, and the
    // Deployment's deletion is awaited only after every other check, so that a failure there
    // says exactly what was left.
    patch_spec(
        ns,
        NAME,
        &json!({"adminClient": {"enabled": false}, "targetSpec": {"pdb": {"enabled": false}}}),
    );
    wait_for(ns, "PDB ais-target deleted", SHORT, || {
        live("pdb", ns, "ais-target").is_none().then_some(())
    });
    position(
        ns,
        &event_notes(ns, NAME),
        "Deleted PodDisruptionBudget ais-target: the spec no longer asks for it",
    );
    stays_ready(ns, Duration::from_secs(20));
    assert_eq!(
        ais_pod_uids(ns, NAME),
        pods,
        "disabling the admin client and the PDB restarted AIS pods"
    );
    assert_eq!(
        uid_of("configmap", ns, "ais-user-notes"),
        user_cm,
        "the sweep touched a ConfigMap the AIStore does not own"
    );
    // Objects every cluster has are untouched.
    for (kind, obj) in [("configmap", "ais-global-cm"), ("service", "ais-proxy")] {
        assert!(live(kind, ns, obj).is_some(), "{kind}/{obj} is gone");
    }

    let start = Instant::now();
    let client_gone = loop {
        if live("deployment", ns, "ais-client").is_none() {
            break true;
        }
        if start.elapsed() > SHORT {
            break false;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let left = (!client_gone).then(|| {
        format!(
            "the disabled admin client's Deployment ais-client is still there {SHORT:?} after the \
             change (its labels: {}; the sweep lists Deployments by app.kubernetes.io/name={NAME})\n{}",
            live("deployment", ns, "ais-client").map_or(Value::Null, |d| d["metadata"]["labels"].clone()),
            describe_namespace(ns)
        )
    });
    if let Some(message) = left {
        // Leave nothing behind, then fail.
        delete_within(ns, Duration::from_secs(300));
        panic!("{message}");
    }
    position(
        ns,
        &event_notes(ns, NAME),
        "Deleted Deployment ais-client: the spec no longer asks for it",
    );
    // The Deployment's pods go with it (background deletion, garbage collector).
    wait_for(ns, "the admin client's pods are gone", SHORT, || {
        pod_names(ns)
            .iter()
            .all(|p| !p.starts_with("ais-client-"))
            .then_some(())
    });
    stays_ready(ns, Duration::from_secs(10));
    assert_eq!(
        ais_pod_uids(ns, NAME),
        pods,
        "deleting the admin client restarted AIS pods"
    );

    delete_within(ns, Duration::from_secs(300));
}

fn pod_names(ns: &str) -> Vec<String> {
    ais_e2e::pod_uids(ns).into_keys().collect()
}

/// 2. With external access on both roles, a scale-down from 2 targets to 1 deletes the
///    LoadBalancer `ais-target-1` only once the target StatefulSet asks for 1 replica (never
///    while it still has ordinal 1, e.g. during AIS's decommission of that target); the
///    proxy LoadBalancer and `ais-target-0` stay, the same objects.
#[test]
fn scale_down_deletes_the_leaving_targets_load_balancer_after_the_statefulset_shrank() {
    let _case = ais_e2e::report::Case::start();
    let _timer = Timer::start();
    install_crd();
    let ns_guard = Namespace::create("e2e-inv-lb", &[]);
    let ns = ns_guard.0.as_str();
    let _release = ReleaseFinalizers(ns.to_string());
    let _controller = start_controller(ns, free_port("127.0.0.1"));
    let mut doc = manifest(json!({}));
    let spec = &mut doc["spec"];
    spec["proxySpec"]["externalAccess"] = json!({});
    spec["targetSpec"]["externalAccess"] = json!({});
    spec["targetSpec"]["size"] = json!(2);
    // Two targets on the one real node.
    spec["targetSpec"]["disablePodAntiAffinity"] = json!(true);
    apply(ns, &doc);
    wait_state_within(ns, NAME, "Ready", LONG);
    let uid = uid_of("aistore", ns, NAME);
    for svc in ["ais-proxy-lb", "ais-target-0", "ais-target-1"] {
        assert!(
            lb_ip(ns, svc).is_some(),
            "{svc} has no ingress address\n{}",
            describe_namespace(ns)
        );
        assert_owned(&live("service", ns, svc).unwrap(), &uid);
    }
    let kept: Vec<(&str, String)> = ["ais-proxy-lb", "ais-target-0"]
        .into_iter()
        .map(|s| (s, uid_of("service", ns, s)))
        .collect();

    patch_spec(ns, NAME, &json!({"targetSpec": {"size": 1}}));
    // Read the Service first, then the StatefulSet: the StatefulSet only shrinks in this
    // phase, so "Service gone, StatefulSet still at 2" read in this order is a real violation.
    let mut seen_shrunk_with_lb = false;
    let start = Instant::now();
    loop {
        let svc_present = live("service", ns, "ais-target-1").is_some();
        let replicas =
            get_json(&["statefulset", "-n", ns, "ais-target"]).unwrap()["spec"]["replicas"]
                .as_i64()
                .unwrap();
        assert!(
            svc_present || replicas < 2,
            "the LoadBalancer ais-target-1 was deleted while the target StatefulSet still had {replicas} replicas\n{}",
            describe_namespace(ns)
        );
        seen_shrunk_with_lb |= svc_present && replicas == 1;
        if !svc_present {
            break;
        }
        assert!(
            start.elapsed() < LONG,
            "ais-target-1 still there {LONG:?} after the scale-down (StatefulSet replicas {replicas})\n{}",
            describe_namespace(ns)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!(
        "ais-target-1 deleted {:?} after the scale-down; observed the shrunk StatefulSet with the LoadBalancer still there: {seen_shrunk_with_lb}",
        start.elapsed()
    );
    wait_for(ns, "Ready with 1/1 targets", LONG, || {
        let ais = get_json(&["aistore", "-n", ns, NAME])?;
        (ais["status"]["state"] == "Ready" && ais["status"]["targets"]["summary"] == "1/1")
            .then_some(())
    });
    let notes = event_notes(ns, NAME);
    let scaled = position(ns, &notes, "Scaling targets from 2 to 1");
    let deleted = position(
        ns,
        &notes,
        "Deleted Service ais-target-1: the spec no longer asks for it",
    );
    assert!(
        scaled < deleted,
        "LoadBalancer deleted before the scale: {notes:#?}"
    );
    for (svc, before) in &kept {
        assert_eq!(
            &uid_of("service", ns, svc),
            before,
            "{svc} was deleted or replaced"
        );
        assert!(lb_ip(ns, svc).is_some(), "{svc} lost its address");
    }
    // And it does not come back.
    std::thread::sleep(Duration::from_secs(10));
    assert!(
        live("service", ns, "ais-target-1").is_none(),
        "ais-target-1 came back\n{}",
        describe_namespace(ns)
    );

    delete_within(ns, Duration::from_secs(300));
}

/// The `tls-certs` volume of a StatefulSet's pod template.
fn tls_volume(ns: &str, sts: &str) -> Option<Value> {
    get_json(&["statefulset", "-n", ns, sts])?["spec"]["template"]["spec"]["volumes"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == "tls-certs")
        .cloned()
}

/// 3. `tls.certificate` in `secret` mode has the operator's Certificate `ais-tls-cert`; once
///    the spec switches to `csi` mode (per-pod certificates from the cert-manager csi-driver)
///    the Certificate is deleted with an event, and the pod templates mount a csi volume. The
///    local cluster has no csi-driver, so the pods are not required to come up after the
///    switch: only the objects are checked.
#[test]
fn switching_tls_to_csi_mode_deletes_the_certificate() {
    let _case = ais_e2e::report::Case::start();
    let _timer = Timer::start();
    install_crd();
    let ns_guard = Namespace::create("e2e-inv-csi", &[]);
    let ns = ns_guard.0.as_str();
    let _release = ReleaseFinalizers(ns.to_string());
    let _controller = start_controller(ns, free_port("127.0.0.1"));
    apply_sample_ca(ns);
    apply(
        ns,
        &manifest(json!({
            "tls": {"certificate": {"mode": "secret", "issuerRef": {"name": "ais-ca", "kind": "Issuer"}}},
            // Not emptyDir: the switch restarts the only proxy, which the controller holds
            // back while that proxy's emptyDir holds the only cluster map.
            "stateStorage": {"hostPath": {"prefix": format!("/tmp/ais-e2e-state-{ns}")}}
        })),
    );
    let cert = "ais-tls-cert";
    wait_for(ns, "Certificate ais-tls-cert", SHORT, || {
        live("certificate", ns, cert).map(drop)
    });
    wait_certificate(ns, cert);
    wait_state_within(ns, NAME, "Ready", LONG);
    let uid = uid_of("aistore", ns, NAME);
    assert_owned(&live("certificate", ns, cert).unwrap(), &uid);
    let volume = tls_volume(ns, "ais-proxy").unwrap();
    assert_eq!(volume["secret"]["secretName"], "ais-tls", "{volume}");

    patch_spec(ns, NAME, &json!({"tls": {"certificate": {"mode": "csi"}}}));
    wait_for(ns, "Certificate ais-tls-cert deleted", SHORT, || {
        live("certificate", ns, cert).is_none().then_some(())
    });
    position(
        ns,
        &event_notes(ns, NAME),
        "Deleted Certificate ais-tls-cert: the spec no longer asks for it",
    );
    // The switch reached the pod templates: a csi-driver volume instead of the Secret.
    wait_for(
        ns,
        "a csi tls-certs volume in a pod template",
        SHORT,
        || {
            ["ais-proxy", "ais-target"]
                .iter()
                .filter_map(|sts| tls_volume(ns, sts))
                .any(|v| v["csi"]["driver"] == "csi.cert-manager.io")
                .then_some(())
        },
    );
    // Nothing brings the Certificate back.
    std::thread::sleep(Duration::from_secs(10));
    assert!(live("certificate", ns, cert).is_none());

    delete_within(ns, Duration::from_secs(300));
}

/// The IP addresses in the subject alternative names of a PEM certificate (openssl).
fn san_ips(pem: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("ais-e2e-san-{}", ais_e2e::random_hex(6)));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tls.crt");
    std::fs::write(&file, pem).unwrap();
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn secret_file(ns: &str, secret: &str, key: &str) -> Option<Vec<u8>> {
    let s = get_json(&["secret", "-n", ns, secret])?;
    base64::engine::general_purpose::STANDARD
        .decode(s["data"][key].as_str()?)
        .ok()
}

/// 4. With external access and `tls.certificate`, the Certificate lists the proxy's and the
///    target's LoadBalancer ingress IPs in `spec.ipAddresses`, the issued certificate carries
///    them, and a client that trusts only the private CA reaches the proxy over HTTPS at its
///    LoadBalancer IP.
#[test]
fn certificate_names_the_load_balancer_addresses() {
    let _case = ais_e2e::report::Case::start();
    let _timer = Timer::start();
    install_crd();
    let ns_guard = Namespace::create("e2e-inv-san", &[]);
    let ns = ns_guard.0.as_str();
    let _release = ReleaseFinalizers(ns.to_string());
    let _controller = start_controller(ns, free_port("127.0.0.1"));
    apply_sample_ca(ns);
    let mut doc = manifest(json!({
        "tls": {"certificate": {"mode": "secret", "issuerRef": {"name": "ais-ca", "kind": "Issuer"}}},
        "configToUpdate": {"net": {"http": {"use_https": true}}},
        // The host-side controller reaches the proxies by pod IP, which no certificate names.
        "operatorSkipVerifyCrt": true
    }));
    doc["spec"]["proxySpec"]["externalAccess"] = json!({});
    doc["spec"]["targetSpec"]["externalAccess"] = json!({});
    apply(ns, &doc);
    wait_state_within(ns, NAME, "Ready", LONG);
    let proxy_lb = lb_ip(ns, "ais-proxy-lb").unwrap();
    let target_lb = lb_ip(ns, "ais-target-0").unwrap();

    let cert = "ais-tls-cert";
    let ips = wait_for(
        ns,
        "the Certificate lists both LoadBalancer IPs",
        SHORT,
        || {
            let c = live("certificate", ns, cert)?;
            let ips: Vec<String> = c["spec"]["ipAddresses"]
                .as_array()?
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect();
            (ips.contains(&proxy_lb) && ips.contains(&target_lb)).then_some(ips)
        },
    );
    eprintln!("Certificate ipAddresses: {ips:?} (proxy LB {proxy_lb}, target LB {target_lb})");
    wait_certificate(ns, cert);
    let issued = wait_for(
        ns,
        "the issued certificate names the proxy LB IP",
        SHORT,
        || {
            let sans = san_ips(&secret_file(ns, "ais-tls", "tls.crt")?);
            sans.contains(&format!("IP Address:{proxy_lb}"))
                .then_some(sans)
        },
    );
    assert!(
        issued.contains(&format!("IP Address:{target_lb}")),
        "{issued}"
    );

    // HTTPS through the LoadBalancer, verified against the private CA by IP.
    let dir = std::env::temp_dir().join(format!("ais-e2e-san-ca-{ns}"));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.crt");
    std::fs::write(&ca_file, secret_file(ns, "ais-root-ca", "ca.crt").unwrap()).unwrap();
    let url = format!("https://{proxy_lb}:51080/v1/health");
    let mut last = String::new();
    let ok = wait_for(
        ns,
        "HTTPS at the proxy LB IP, verified",
        Duration::from_secs(150),
        || {
            let out = Command::new("curl")
                .args(["-sS", "--fail", "--max-time", "10", "--cacert"])
                .arg(&ca_file)
                .arg(&url)
                .output()
                .unwrap();
            if out.status.success() {
                return Some(true);
            }
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            if err != last {
                eprintln!("curl {url}: {err}");
                last = err;
            }
            None
        },
    );
    assert!(ok);
    let _ = std::fs::remove_dir_all(&dir);

    delete_within(ns, Duration::from_secs(300));
}

/// 5. An AIStore whose AIS requires AuthN tokens (`configToUpdate.auth` on, the HMAC key of a
///    real AuthN from `authNSecretName`) and whose `spec.auth` tells the operator how to log in
///    becomes Ready; AIS refuses an unauthenticated request and accepts an AuthN token; and
///    deleting the AIStore finishes (the finalizer is released, the object is gone) within a
///    bounded time, AIS having accepted the operator's authenticated call: the cluster shutdown
///    (plain deletion), then, for a second cluster of the same name, the cluster decommission
///    (`cleanupMetadata`). Neither call is ever refused.
#[test]
fn deleting_an_aistore_with_auth_finishes() {
    let _case = ais_e2e::report::Case::start();
    let _timer = Timer::start();
    install_crd();
    let ns_guard = Namespace::create("e2e-inv-auth", &[]);
    let ns = ns_guard.0.as_str();
    let _release = ReleaseFinalizers(ns.to_string());
    let authn = Authn::start();
    let health = free_port("127.0.0.1");
    let _controller = start_controller(ns, health);
    let secret = "ais-operator-auth";
    kubectl_ok(
        &[
            "create",
            "secret",
            "generic",
            "-n",
            ns,
            secret,
            "--from-literal=SU-NAME=admin",
            &format!("--from-literal=SU-PASS={}", authn.admin_password),
        ],
        None,
    );
    // The HMAC key reaches the proxies as AIS_AUTHN_SECRET_KEY from spec.authNSecretName: a
    // key in configToUpdate.auth.signature.key does not work, because aisinit v1.4.9 writes
    // the cluster config with the key censored (`auth.PublicClone()`, cmd/aisinit/main.go),
    // and AIS then checks signatures against "**********".
    let signing = "ais-authn-signing-key";
    kubectl_ok(
        &[
            "create",
            "secret",
            "generic",
            "-n",
            ns,
            signing,
            &format!("--from-literal=SIGNING-KEY={}", authn.secret),
        ],
        None,
    );
    let cluster = |cleanup: bool| {
        manifest(json!({
            "auth": {"serviceURL": authn.url(), "usernamePassword": {"secretName": secret}},
            "authNSecretName": signing,
            "configToUpdate": {"auth": {"enabled": true, "signature": {"method": "HS256"}}},
            "cleanupMetadata": cleanup
        }))
    };
    // The controller's own count of its AIS calls `call` for this cluster with `result`.
    let calls = |call: &str, result: &str| -> u64 {
        let (_, metrics) = http_get_text(&format!("127.0.0.1:{health}"), "/metrics", "").unwrap();
        metrics
            .lines()
            .filter(|l| l.starts_with("ais_operator_ais_calls_total{"))
            .filter(|l| {
                l.contains(&format!("cluster=\"{ns}/{NAME}\""))
                    && l.contains(&format!("call=\"{call}\""))
                    && l.contains(&format!("result=\"{result}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };

    for (cleanup, call) in [(false, "shutdown_cluster"), (true, "decommission_cluster")] {
        apply(ns, &cluster(cleanup));
        let start = Instant::now();
        while state(ns, NAME).as_deref() != Some("Ready") {
            assert!(
                start.elapsed() < LONG,
                "not Ready with auth within {LONG:?}\n{}\n--- AuthN:\n{}",
                describe_namespace(ns),
                authn.logs()
            );
            std::thread::sleep(Duration::from_secs(1));
        }

        // AIS really requires a token: none is refused, AuthN's is accepted.
        let pod = get_json(&["pod", "-n", ns, "ais-proxy-0"]).unwrap();
        let addr = format!("{}:51080", pod["status"]["podIP"].as_str().unwrap());
        let path = "/v1/cluster?what=cluster_config";
        assert_eq!(
            http_get(&addr, path),
            Some(401),
            "AIS answered without a token"
        );
        let (code, body) = http_get_with_token(&addr, path, &authn.login()).unwrap();
        assert_eq!(code, 200, "{body}");
        let conf: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(conf["auth"]["enabled"], true, "{body}");

        let took = delete_within(ns, Duration::from_secs(240));
        eprintln!("deletion with auth (cleanupMetadata {cleanup}) took {took:?}");
        let notes = event_notes(ns, NAME);
        assert!(
            notes
                .iter()
                .all(|n| !n.contains("did not accept the shutdown")),
            "AIS refused the {call} at least once: {notes:#?}\n--- AuthN:\n{}",
            authn.logs()
        );
        position(ns, &notes, "Decommission completed");
        assert!(
            calls(call, "ok") >= 1 && calls(call, "error") == 0,
            "{call} calls: {} ok, {} refused",
            calls(call, "ok"),
            calls(call, "error")
        );

        // The next cluster of this name starts afresh (no PVCs with the old cluster's data).
        kubectl_ok(&["delete", "pvc", "-n", ns, "--all", "--wait=false"], None);
        wait_for(ns, "the PVCs are gone", SHORT, || {
            kubectl_ok(&["get", "pvc", "-n", ns, "-o", "name"], None)
                .trim()
                .is_empty()
                .then_some(())
        });
    }
}

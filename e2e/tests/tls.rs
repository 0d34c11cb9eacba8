//! HTTPS for AIStore with a certificate from cert-manager (the local cluster runs cert-manager):
//! the private CA of `deploy/samples/tls-cert-manager.yaml` (self-signed root → CA Issuer), an
//! AIStore with `tls.certificate` in `secret` mode and `net.http.use_https`. The controller's
//! Certificate is signed for the cluster's Service and pod names, the pods mount it, AIS comes
//! up Ready over HTTPS, and a client that trusts only the private CA verifies the proxy's
//! certificate by its Service name. AIS no longer answers plain HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::Duration;

use ais_e2e::{
    DeleteAistore, Namespace, aistore, apply_sample_ca, delete_aistore, eventually, free_port,
    get_json, http_get, install_crd, kubectl_ok, start_controller, wait_certificate, wait_for,
    wait_state,
};
use base64::Engine;
use serde_json::json;

#[test]
fn aistore_serves_https_with_a_cert_manager_certificate() {
    let _case = ais_e2e::report::Case::start();
    install_crd();
    let ns_guard = Namespace::create("e2e-tls", &[]);
    let ns = ns_guard.0.as_str();
    let _controller = start_controller(ns, free_port("127.0.0.1"));
    apply_sample_ca(ns);

    let name = "ais";
    let manifest = aistore(
        name,
        json!({
            "tls": {"certificate": {"mode": "secret", "issuerRef": {"name": "ais-ca", "kind": "Issuer"}}},
            "configToUpdate": {"net": {"http": {"use_https": true}}},
            // The host-side controller reaches the proxies by pod IP, which no certificate names.
            "operatorSkipVerifyCrt": true
        }),
    );
    kubectl_ok(&["apply", "-n", ns, "-f", "-"], Some(&manifest));

    // The operator's Certificate: owned by the AIStore, signed by the private CA.
    let cert_name = format!("{name}-tls-cert");
    eventually(Duration::from_secs(120), || {
        get_json(&["certificate", "-n", ns, &cert_name]).map(|_| ())
    });
    wait_certificate(ns, &cert_name);
    let cert = get_json(&["certificate", "-n", ns, &cert_name]).unwrap();
    assert_eq!(cert["metadata"]["ownerReferences"][0]["kind"], "AIStore");
    let dns = cert["spec"]["dnsNames"].to_string();
    let svc = format!("{name}-proxy.{ns}.svc.cluster.local");
    assert!(
        dns.contains(&format!("\"*.{svc}\"")) && dns.contains(&svc),
        "{dns}"
    );

    wait_state(ns, name, "Ready");

    // A client trusting only the private CA verifies the proxy by its Service name.
    let secret = get_json(&["secret", "-n", ns, "ais-root-ca"]).unwrap();
    let ca = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["ca.crt"].as_str().unwrap())
        .unwrap();
    let dir = std::env::temp_dir().join(format!("ais-e2e-tls-{ns}"));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.crt");
    std::fs::write(&ca_file, ca).unwrap();
    let pod = get_json(&["pod", "-n", ns, &format!("{name}-proxy-0")]).unwrap();
    let ip = pod["status"]["podIP"].as_str().unwrap().to_string();
    let url = format!("https://{svc}:51080/v1/health");
    let out = Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "10", "--cacert"])
        .arg(&ca_file)
        .args(["--resolve", &format!("{svc}:51080:{ip}"), &url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "HTTPS with the private CA: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Plain HTTP gets no AIS answer any more.
    assert_ne!(http_get(&format!("{ip}:51080"), "/v1/health"), Some(200));
    let _ = std::fs::remove_dir_all(&dir);

    delete_aistore(ns, name);
}

/// The name and InternalIP of the node that runs the pods (the local cluster has one; its
/// kwok nodes run none).
fn node_name_and_ip() -> (String, String) {
    let nodes = get_json(&["nodes", "-l", "ais-e2e/node=real"]).unwrap();
    let node = &nodes["items"][0];
    let ip = node["status"]["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "InternalIP")
        .unwrap()["address"]
        .as_str()
        .unwrap()
        .to_string();
    (node["metadata"]["name"].as_str().unwrap().to_string(), ip)
}

/// The reference's "TLS Certificate" context: in `secret` mode the Certificate names the nodes
/// AIS advertises as public hosts, as `publicNetDNSMode` says: the node IPs (`IP`, the
/// default), the node names (`Node`), or no node at all (`Pod`: the pods' own DNS names).
#[test]
fn certificate_sans_follow_public_net_dns_mode() {
    let _case = ais_e2e::report::Case::start();
    install_crd();
    let ns_guard = Namespace::create("e2e-sans", &[]);
    let ns = ns_guard.0.as_str();
    let _controller = start_controller(ns, free_port("127.0.0.1"));
    apply_sample_ca(ns);
    let (node, ip) = node_name_and_ip();
    let modes = [("by-ip", "IP"), ("by-node", "Node"), ("by-pod", "Pod")];
    let _deletes: Vec<DeleteAistore<'_>> = modes
        .iter()
        .map(|&(name, _)| DeleteAistore { ns, name })
        .collect();
    for (name, mode) in modes {
        let manifest = aistore(
            name,
            json!({
                "publicNetDNSMode": mode,
                "tls": {"certificate": {"mode": "secret", "issuerRef": {"name": "ais-ca", "kind": "Issuer"}}},
            }),
        );
        kubectl_ok(&["apply", "-n", ns, "-f", "-"], Some(&manifest));
    }
    for (name, mode) in modes {
        let cert_name = format!("{name}-tls-cert");
        // Waits for the Certificate to exist and to name what the mode asks for (the IP and
        // Node modes show that the controller read the node, so the Pod mode's lack of it is
        // the mode's doing).
        let want_ip = mode == "IP";
        let want_node = mode == "Node";
        let spec = wait_for(
            ns,
            &format!("Certificate {cert_name} for publicNetDNSMode {mode}"),
            Duration::from_secs(120),
            || {
                let spec = get_json(&["certificate", "-n", ns, &cert_name])?["spec"].clone();
                let has = |field: &str, v: &str| {
                    spec[field]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x == v))
                };
                (has("ipAddresses", &ip) == want_ip && has("dnsNames", &node) == want_node)
                    .then_some(spec)
            },
        );
        println!(
            "{ns}/{name} ({mode}): dnsNames {} ipAddresses {}",
            spec["dnsNames"], spec["ipAddresses"]
        );
        // Every mode keeps the cluster's own Service names.
        let svc = format!("{name}-proxy.{ns}.svc.cluster.local");
        assert!(
            spec["dnsNames"].to_string().contains(&svc),
            "{mode}: {}",
            spec["dnsNames"]
        );
    }
}

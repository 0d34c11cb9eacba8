//! Two replicas with leader election: one reconciles; killing it hands over within the lease
//! time (SIGKILL: after expiry; SIGTERM: released at once); the audit log shows that no two
//! replicas ever wrote in overlapping periods. The leader is killed in the middle of a real
//! AIS cluster's bootstrap; the follower finishes it, and objects stored then are read back
//! after the second handover.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ais_e2e::cluster::Ais;
use ais_e2e::{
    Namespace, Process, aistore, delete_aistore, env_path, eventually, free_port, get_json,
    install_crd, kubectl_ok, wait_state,
};
use serde_json::{Value, json};

const LEASE_SECONDS: u64 = 6;

struct Replica {
    name: &'static str,
    health: u16,
    process: Option<Process>,
}

fn start(name: &'static str, ns: &str) -> Replica {
    let health = free_port("127.0.0.1");
    let bin = env_path(
        "AIS_CONTROLLER_BIN",
        "point AIS_CONTROLLER_BIN at the controller binary (`just e2e` does)",
    );
    let child = Command::new(bin)
        .env("POD_NAME", name)
        // The chart's RBAC, nothing more (its Lease Role lives in the operator namespace).
        .env("KUBECONFIG", ais_e2e::operator_kubeconfig())
        // The controller runs on the host, outside the cluster DNS: it calls AIS on the pod
        // IPs, which the host reaches over the cluster bridge.
        .env("AIS_ENDPOINT_MODE", "pod-ip")
        // The host's resolv.conf has no `svc.<domain>` entry to discover the domain from.
        .env("KUBERNETES_CLUSTER_DOMAIN", "cluster.local")
        .args([
            "--watch-namespaces",
            ns,
            "--health-addr",
            &format!("127.0.0.1:{health}"),
        ])
        .args([
            "--leader-elect",
            "true",
            "--leader-election-namespace",
            ais_e2e::OPERATOR_NAMESPACE,
            "--leader-election-lease",
            &format!("leader-{ns}"),
        ])
        .args([
            "--leader-election-lease-seconds",
            &LEASE_SECONDS.to_string(),
        ])
        .args(ais_e2e::LOCAL_CLUSTER_ARGS)
        .stdout(ais_e2e::controller_log(&format!("{ns}-{name}")))
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    Replica {
        name,
        health,
        process: Some(Process(child)),
    }
}

fn metrics(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    Some(out)
}

fn leading(r: &Replica) -> bool {
    metrics(r.health).is_some_and(|m| m.lines().any(|l| l == "ais_operator_leader 1"))
}

/// (time, replica) of every write by a replica in the namespace, in order.
fn writes(ns: &str) -> Vec<(String, String)> {
    let audit = env_path(
        "AIS_E2E_AUDIT_LOG",
        "path of the API server's audit log (`just e2e` sets it)",
    );
    let mut out: Vec<(String, String)> = std::fs::read_to_string(audit)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["stage"] == "ResponseComplete" && e["objectRef"]["namespace"] == ns)
        .filter(|e| e["objectRef"]["resource"] != "leases")
        .filter(|e| {
            matches!(
                e["verb"].as_str(),
                Some("create" | "update" | "patch" | "delete")
            )
        })
        .filter_map(|e| {
            let ua = e["userAgent"].as_str()?;
            let replica = ua
                .strip_prefix("ais-operator/")?
                .split("(controller; ")
                .nth(1)?
                .trim_end_matches(')')
                .to_string();
            Some((e["requestReceivedTimestamp"].as_str()?.to_string(), replica))
        })
        .collect();
    out.sort();
    out
}

fn signal(r: &mut Replica, sig: &str) {
    let pid = r.process.as_ref().unwrap().0.id().to_string();
    Command::new("kill").args([sig, &pid]).status().unwrap();
    let mut p = r.process.take().unwrap();
    let _ = p.0.wait();
}

fn touch(ns: &str) {
    // A change that needs writes: delete a child; the leader restores it.
    kubectl_ok(
        &[
            "delete",
            "configmap",
            "-n",
            ns,
            "ha-target",
            "--ignore-not-found",
        ],
        None,
    );
    eventually(Duration::from_secs(60), || {
        get_json(&["configmap", "-n", ns, "ha-target"]).map(|_| ())
    });
}

#[test]
fn one_leader_fast_handover_no_overlapping_writes() {
    let _case = ais_e2e::report::Case::start();
    install_crd();
    let ns_guard = Namespace::create("e2e-leader", &[]);
    let ns = ns_guard.0.as_str();
    let mut a = start("replica-a", ns);
    let mut b = start("replica-b", ns);
    eventually(Duration::from_secs(60), || {
        (leading(&a) != leading(&b)).then_some(())
    });
    let (first, second) = if leading(&a) {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };

    // A real AIS cluster, its leader killed in the middle of the bootstrap: the follower
    // finishes it, and the cluster stores and serves objects.
    let ais = Ais { ns, name: "ha" };
    kubectl_ok(
        &["apply", "-n", ns, "-f", "-"],
        Some(&aistore(ais.name, json!({}))),
    );
    eventually(Duration::from_secs(60), || {
        get_json(&["statefulset", "-n", ns, "ha-proxy"]).map(|_| ())
    });
    touch(ns);
    assert!(!leading(second), "two leaders");

    // SIGKILL: no release; the follower takes over once the lease expires.
    let killed = Instant::now();
    let first_name = first.name;
    signal(first, "-KILL");
    eventually(Duration::from_secs(LEASE_SECONDS * 3), || {
        leading(second).then_some(())
    });
    let took = killed.elapsed();
    assert!(
        took <= Duration::from_secs(LEASE_SECONDS * 2 + 4),
        "handover after SIGKILL took {took:?}"
    );
    wait_state(ns, ais.name, "Ready");
    let written = ais.store("leader", 10);
    touch(ns);

    // SIGTERM: the leader releases the lease; a new replica takes over at once.
    let mut c = start("replica-c", ns);
    std::thread::sleep(Duration::from_secs(3));
    assert!(!leading(&c), "two leaders");
    let released = Instant::now();
    let second_name = second.name;
    signal(second, "-TERM");
    eventually(Duration::from_secs(LEASE_SECONDS * 3), || {
        leading(&c).then_some(())
    });
    let took = released.elapsed();
    assert!(
        took <= Duration::from_secs(LEASE_SECONDS),
        "handover after SIGTERM took {took:?}"
    );
    touch(ns);
    ais.verify(&written, "after two leader handovers");

    // Writers never overlap: every write of a replica comes after the last one of its
    // predecessor, and each replica wrote while it led.
    let log = writes(ns);
    let order: Vec<&str> = log.iter().map(|(_, r)| r.as_str()).collect();
    let mut runs: Vec<&str> = order.clone();
    runs.dedup();
    assert_eq!(
        runs,
        vec![first_name, second_name, "replica-c"],
        "interleaved writers: {order:?}"
    );
    // Deleted while replica c leads, so its finalizer is released.
    delete_aistore(ns, ais.name);
    drop(c.process.take());
}

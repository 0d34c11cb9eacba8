//! Correctness of the controller against real aisnode pods (1 proxy, 2 targets on the one real
//! node): quantities the API server normalises cause no rollout loop; `kubectl rollout restart`
//! of the (OnDelete) target StatefulSet is carried out one target at a time, each in
//! maintenance first; a target an admin put into maintenance stays there across reconciles.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime};

use ais_e2e::{
    DeleteAistore, Namespace, aistore, env_path, free_port, get_json, http_get_json, http_request,
    install_crd, kubectl, kubectl_ok, operator_username, pod_uids, start_controller, state,
};
use serde_json::{Value, json};

/// The bound of every wait.
const LONG: Duration = Duration::from_secs(300);
const NAME: &str = "ais";
const TARGETS: [&str; 2] = ["ais-target-0", "ais-target-1"];
/// `SnodeMaint` in the cluster map's node flags.
const MAINT: u64 = 4;

/// The primary proxy's API address (`<pod IP>:51080`).
fn proxy_addr(ns: &str) -> Option<String> {
    let pod = get_json(&["pod", "-n", ns, &format!("{NAME}-proxy-0")])?;
    Some(format!("{}:51080", pod["status"]["podIP"].as_str()?))
}

/// The cluster map, read from the primary proxy pod.
fn smap(ns: &str) -> Option<Value> {
    http_get_json(&proxy_addr(ns)?, "/v1/daemon?what=smap")
}

/// The pod of a cluster-map node: the first DNS label of its intra-control hostname.
fn node_pod(node: &Value) -> &str {
    node["intra_control_net"]["node_ip_addr"]
        .as_str()
        .and_then(|h| h.split('.').next())
        .unwrap_or_default()
}

/// (node id, node) of the target whose pod is `pod`.
fn target_node(smap: &Value, pod: &str) -> Option<(String, Value)> {
    smap["tmap"]
        .as_object()?
        .iter()
        .find(|(_, n)| node_pod(n) == pod)
        .map(|(id, n)| (id.clone(), n.clone()))
}

fn flags(node: &Value) -> u64 {
    node["flags"].as_u64().unwrap_or(0)
}

/// One line per cluster-map node: id, pod, flags.
fn smap_summary(smap: &Value) -> String {
    let mut out = format!("smap version {}:", smap["version"]);
    for key in ["pmap", "tmap"] {
        for (id, n) in smap[key].as_object().into_iter().flatten() {
            let _ = write!(out, "\n  {key} {id} pod={} flags={}", node_pod(n), flags(n));
        }
    }
    out
}

/// (event time, note, count) of the AIStore's events, oldest first.
fn events(ns: &str) -> Vec<(String, String, u64)> {
    let Some(list) = get_json(&["events.events.k8s.io", "-n", ns]) else {
        return Vec::new();
    };
    let mut out: Vec<_> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["regarding"]["name"] == NAME)
        .map(|e| {
            let at = e["eventTime"]
                .as_str()
                .or_else(|| e["metadata"]["creationTimestamp"].as_str())
                .unwrap_or_default()
                .to_string();
            let count = e["series"]["count"].as_u64().unwrap_or(1);
            (
                at,
                e["note"].as_str().unwrap_or_default().to_string(),
                count,
            )
        })
        .collect();
    out.sort();
    out
}

/// What a failed wait prints: the AIStore's status, the pods, the cluster map, recent events.
fn dump(ns: &str) -> String {
    let status = get_json(&["aistore", "-n", ns, NAME]).map_or_else(
        || "<no AIStore>".to_string(),
        |v| serde_json::to_string_pretty(&v["status"]).unwrap_or_default(),
    );
    let pods = kubectl(&["get", "pods", "-n", ns, "-o", "wide"], None);
    let map = smap(ns).map_or_else(|| "<no cluster map>".to_string(), |m| smap_summary(&m));
    let evs = events(ns);
    let recent: Vec<String> = evs
        .iter()
        .skip(evs.len().saturating_sub(25))
        .map(|(at, note, count)| format!("  {at} (x{count}) {note}"))
        .collect();
    format!(
        "--- AIStore {ns}/{NAME} status:\n{status}\n--- pods:\n{}{}\n--- {map}\n--- events:\n{}\n--- controller log: $AIS_E2E_LOG_DIR/controller-{ns}.log",
        String::from_utf8_lossy(&pods.stdout),
        String::from_utf8_lossy(&pods.stderr),
        recent.join("\n"),
    )
}

/// Retries `f` every half second until it returns `Some`; after `timeout`, fails with [`dump`].
fn within<T>(ns: &str, what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "{what}: not within {timeout:?}\n{}",
            dump(ns)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Waits until the AIStore is Ready with both targets in the cluster map.
fn wait_ready(ns: &str) {
    within(
        ns,
        "AIStore Ready with 2 targets in the cluster map",
        LONG,
        || {
            let ready = state(ns, NAME).as_deref() == Some("Ready");
            (ready && smap(ns)?["tmap"].as_object()?.len() == TARGETS.len()).then_some(())
        },
    );
}

/// Applies the test cluster: 1 proxy, 2 targets (anti-affinity off: one real node), with
/// `resources` (proxy, target) on the proxy and the target spec when given.
fn create_cluster(ns: &str, resources: Option<(&Value, &Value)>) {
    let mut doc: Value = serde_json::from_str(&aistore(NAME, json!({}))).unwrap();
    doc["spec"]["targetSpec"]["size"] = json!(2);
    doc["spec"]["targetSpec"]["disablePodAntiAffinity"] = json!(true);
    if let Some((proxy, target)) = resources {
        doc["spec"]["proxySpec"]["resources"] = proxy.clone();
        doc["spec"]["targetSpec"]["resources"] = target.clone();
    }
    kubectl_ok(&["apply", "-n", ns, "-f", "-"], Some(&doc.to_string()));
}

/// `t` as the audit log writes times (`metav1.MicroTime`, UTC): `2026-12-02T07:30:57.852116Z`.
fn audit_time(t: SystemTime) -> String {
    let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap();
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap();
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_micros()
    )
}

/// "time verb name" of every write (create, update, patch) by the operator's identity to
/// StatefulSets in `ns` received in `[from, to]` (audit times; `None`: unbounded). Reads the
/// audit log and its rotated backups.
fn statefulset_writes(ns: &str, from: Option<&str>, to: Option<&str>) -> Vec<String> {
    let audit = env_path(
        "AIS_E2E_AUDIT_LOG",
        "path of the API server's audit log (`just e2e` sets it for the local cluster)",
    );
    let dir = audit.parent().unwrap();
    let user = operator_username();
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("audit") && n.ends_with(".log")
        })
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for e in text
            .lines()
            .filter(|l| l.contains(ns) && l.contains("statefulsets"))
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        {
            let at = e["requestReceivedTimestamp"].as_str().unwrap_or_default();
            let write = matches!(e["verb"].as_str(), Some("create" | "update" | "patch"));
            if write
                && e["user"]["username"] == user.as_str()
                && e["objectRef"]["resource"] == "statefulsets"
                && e["objectRef"]["namespace"] == ns
                && from.is_none_or(|f| at >= f)
                && to.is_none_or(|t| at <= t)
                && seen.insert(e["auditID"].to_string())
            {
                out.push(format!(
                    "{at} {} {}{}",
                    e["verb"].as_str().unwrap_or_default(),
                    e["objectRef"]["name"].as_str().unwrap_or_default(),
                    e["objectRef"]["subresource"]
                        .as_str()
                        .map(|s| format!("/{s}"))
                        .unwrap_or_default()
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn normalised_quantities_cause_no_rollout_loop() {
    let _case = ais_e2e::report::Case::start();
    let test_start = Instant::now();
    install_crd();
    let ns_guard = Namespace::create("e2e-corr-qty", &[]);
    let ns = ns_guard.0.as_str();
    let health = free_port("127.0.0.1");
    let _controller = start_controller(ns, health);
    let _delete = DeleteAistore { ns, name: NAME };
    // The API server stores the proxies' requests as cpu 1 and memory 1Gi, the targets' as
    // cpu 100m and memory 1Gi.
    let proxy = json!({"requests": {"cpu": "1000m", "memory": "1024Mi"}});
    let target = json!({"requests": {"cpu": "0.1", "memory": "1024Mi"}});
    create_cluster(ns, Some((&proxy, &target)));
    wait_ready(ns);

    // The test exercises normalisation: the StatefulSets hold the normalised quantities.
    for (sts, cpu) in [("ais-proxy", "1"), ("ais-target", "100m")] {
        let s = get_json(&["statefulset", "-n", ns, sts]).unwrap();
        let containers = s["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        assert!(
            containers
                .iter()
                .any(|c| c["resources"]["requests"]["cpu"] == cpu
                    && c["resources"]["requests"]["memory"] == "1Gi"),
            "{sts}: no container with the normalised requests (cpu {cpu}, memory 1Gi): {containers:#?}"
        );
    }
    // The identity filter is right: the operator's creation of the StatefulSets is in the log.
    let all = statefulset_writes(ns, None, None);
    assert!(
        all.iter().any(|w| w.ends_with(" ais-target")),
        "the audit log shows no write of StatefulSet ais-target by {}; is the identity filter right? {all:#?}",
        operator_username()
    );

    let uids = pod_uids(ns);
    let from = audit_time(SystemTime::now());
    let start = Instant::now();
    let mut states = BTreeMap::<String, usize>::new();
    // Each poke makes the controller reconcile at once (its resync is minutes away), so the
    // window holds reconciles that compare the live templates with the spec.
    let mut pokes = 0;
    while start.elapsed() < Duration::from_secs(60) {
        let s = state(ns, NAME).unwrap_or_else(|| "<none>".into());
        *states.entry(s).or_default() += 1;
        if start.elapsed() >= Duration::from_secs(10 * pokes) && pokes < 5 {
            pokes += 1;
            let before = reconciles(health).unwrap();
            ais_e2e::annotate_aistore(ns, NAME, &format!("e2e/poke={pokes}"), None);
            within(
                ns,
                &format!("a reconcile after poke {pokes}"),
                Duration::from_secs(30),
                || reconciles(health).filter(|n| *n > before),
            );
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    let to = audit_time(SystemTime::now());
    // The audit log is written after the response: give the last entries a moment.
    std::thread::sleep(Duration::from_secs(3));
    let writes = statefulset_writes(ns, Some(&from), Some(&to));
    let after = pod_uids(ns);
    assert_eq!(
        after,
        uids,
        "pods were restarted in the 60 s window\n{}",
        dump(ns)
    );
    assert!(
        writes.is_empty(),
        "StatefulSet writes by the operator in the 60 s window {from}..{to}: {writes:#?}\n{}",
        dump(ns)
    );
    assert_eq!(
        states.keys().map(String::as_str).collect::<Vec<_>>(),
        ["Ready"],
        "status.state left Ready in the window (state → polls): {states:?}\n{}",
        dump(ns)
    );
    let conditions =
        get_json(&["aistore", "-n", ns, NAME]).unwrap()["status"]["conditions"].clone();
    assert!(
        !conditions
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "TemplatesConverge" && c["status"] == "False"),
        "a pod template does not converge: {conditions:#}"
    );
    println!(
        "normalised_quantities_cause_no_rollout_loop: passed in {:?}",
        test_start.elapsed()
    );
}

/// Target pod name → (UID, ready) of the target pods that exist and are not being deleted.
fn target_pods(ns: &str) -> Option<BTreeMap<String, (String, bool)>> {
    let pods = get_json(&["pods", "-n", ns])?;
    Some(
        pods["items"]
            .as_array()?
            .iter()
            .filter(|p| TARGETS.contains(&p["metadata"]["name"].as_str().unwrap_or_default()))
            .map(|p| {
                let ready = p["metadata"]["deletionTimestamp"].is_null()
                    && p["status"]["conditions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True");
                (
                    p["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    (
                        p["metadata"]["uid"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        ready,
                    ),
                )
            })
            .collect(),
    )
}

#[test]
fn rollout_restart_replaces_each_target_once_in_maintenance() {
    let _case = ais_e2e::report::Case::start();
    let test_start = Instant::now();
    install_crd();
    let ns_guard = Namespace::create("e2e-corr-roll", &[]);
    let ns = ns_guard.0.as_str();
    let _controller = start_controller(ns, free_port("127.0.0.1"));
    let _delete = DeleteAistore { ns, name: NAME };
    create_cluster(ns, None);
    wait_ready(ns);
    let before = pod_uids(ns);
    let sts = get_json(&["statefulset", "-n", ns, "ais-target"]).unwrap();
    assert_eq!(
        sts["spec"]["updateStrategy"]["type"], "OnDelete",
        "Kubernetes itself would roll the targets"
    );

    kubectl_ok(
        &["rollout", "restart", "-n", ns, "statefulset/ais-target"],
        None,
    );
    // Poll every second: each target's UID sequence, and how many targets are missing or not
    // ready at once. Done when both were replaced and the AIStore is Ready again; then 20 s
    // more, to see that nothing restarts a second time.
    let mut seq: BTreeMap<&str, Vec<String>> = TARGETS
        .iter()
        .map(|p| (*p, vec![before[*p].clone()]))
        .collect();
    let (mut max_down, mut worst) = (0, String::new());
    // A line each time what the poll sees changes: (seconds, target pod → (UID prefix, ready)).
    let mut timeline: Vec<String> = Vec::new();
    let mut last_seen = String::new();
    let start = Instant::now();
    let mut done: Option<Instant> = None;
    let mut states_after = BTreeMap::<String, usize>::new();
    while done.is_none_or(|d| d.elapsed() < Duration::from_secs(20)) {
        let tick = Instant::now();
        if let Some(pods) = target_pods(ns) {
            let mut down = 0;
            for p in TARGETS {
                match pods.get(p) {
                    Some((uid, ready)) => {
                        if seq[p].last() != Some(uid) {
                            seq.get_mut(p).unwrap().push(uid.clone());
                        }
                        down += usize::from(!ready);
                    }
                    None => down += 1,
                }
            }
            let seen: Vec<String> = TARGETS
                .iter()
                .map(|p| {
                    pods.get(*p).map_or_else(
                        || format!("{p}=missing"),
                        |(uid, ready)| {
                            format!(
                                "{p}={}{}",
                                &uid[..8.min(uid.len())],
                                if *ready { "" } else { "(not ready)" }
                            )
                        },
                    )
                })
                .collect();
            let seen = seen.join(" ");
            if seen != last_seen {
                timeline.push(format!("{:>4}s {seen}", start.elapsed().as_secs()));
                last_seen = seen;
            }
            if down > max_down {
                max_down = down;
                worst = format!("at {:?}: {pods:?}", start.elapsed());
            }
            let replaced = seq.values().all(|s| s.len() >= 2);
            let st = state(ns, NAME).unwrap_or_else(|| "<none>".into());
            if let Some(_at) = done {
                *states_after.entry(st).or_default() += 1;
            } else if replaced && down == 0 && st == "Ready" {
                done = Some(Instant::now());
            }
        }
        assert!(
            start.elapsed() < LONG,
            "the restart did not finish within {LONG:?}: UID sequences {seq:#?}\n{}",
            dump(ns)
        );
        std::thread::sleep(Duration::from_secs(1).saturating_sub(tick.elapsed()));
    }
    let took = done.unwrap().duration_since(start);
    println!(
        "rollout restart done in {took:?}; max targets down at once: {max_down}; timeline:\n{}",
        timeline.join("\n")
    );

    for (pod, uids) in &seq {
        assert_eq!(
            uids.len(),
            2,
            "{pod} was not replaced exactly once: UIDs {uids:?}\n{}",
            dump(ns)
        );
    }
    assert!(
        max_down <= 1,
        "{max_down} target pods were missing or not ready at once ({worst})\n{}",
        dump(ns)
    );
    assert_eq!(
        pod_uids(ns).get("ais-proxy-0"),
        before.get("ais-proxy-0"),
        "restarting the targets restarted the proxy"
    );
    assert_eq!(
        states_after.keys().map(String::as_str).collect::<Vec<_>>(),
        ["Ready"],
        "status.state after the restart (state → polls): {states_after:?}"
    );

    // Each target went into maintenance before its restart, and was restarted once.
    let evs = events(ns);
    let notes: Vec<String> = evs.iter().map(|(_, n, _)| n.clone()).collect();
    println!("events:\n  {}", notes.join("\n  "));
    for pod in TARGETS {
        let maint = notes.iter().position(|n| {
            n.contains("start maintenance of") && n.contains(&format!("(pod {pod})"))
        });
        let restart_needle = format!("Restarting pod {pod} ");
        let restarts: Vec<_> = evs
            .iter()
            .enumerate()
            .filter(|(_, (_, n, _))| n.contains(&restart_needle))
            .collect();
        let restart_count: u64 = restarts.iter().map(|(_, (_, _, c))| c).sum();
        assert_eq!(restart_count, 1, "{pod}: restart events {evs:#?}");
        let restart = restarts[0].0;
        assert!(
            maint.is_some_and(|m| m < restart),
            "{pod}: no maintenance before its restart: {notes:#?}"
        );
    }

    // Every target is back in the cluster map, none in maintenance.
    let map = smap(ns).unwrap();
    assert_eq!(
        map["tmap"].as_object().map(serde_json::Map::len),
        Some(TARGETS.len()),
        "{}",
        smap_summary(&map)
    );
    for pod in TARGETS {
        let (id, node) = target_node(&map, pod)
            .unwrap_or_else(|| panic!("{pod} not in the map: {}", smap_summary(&map)));
        assert_eq!(
            flags(&node) & MAINT,
            0,
            "{pod} ({id}) stayed in maintenance: {}",
            smap_summary(&map)
        );
    }
    println!(
        "rollout_restart_replaces_each_target_once_in_maintenance: passed in {:?}",
        test_start.elapsed()
    );
}

/// `ais_operator_reconciles_total`, summed over clusters and results (the controller watches
/// one namespace with one AIStore).
fn reconciles(health: u16) -> Option<u64> {
    let (code, body) = http_request(&format!("127.0.0.1:{health}"), "GET", "/metrics", None)?;
    (code == 200).then(|| {
        body.lines()
            .filter(|l| l.starts_with("ais_operator_reconciles_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    })
}

/// `start-maintenance` / `stop-maintenance` of node `sid`, through the primary proxy.
fn maintenance(ns: &str, action: &str, sid: &str) {
    let addr = proxy_addr(ns).unwrap();
    let body = json!({"action": action, "value": {"sid": sid, "skip_rebalance": true}});
    let answer = http_request(&addr, "PUT", "/v1/cluster", Some(&body));
    assert!(
        answer.as_ref().is_some_and(|(code, _)| *code == 200),
        "{action} {sid}: {answer:?}"
    );
}

#[test]
fn manual_maintenance_is_kept_across_reconciles() {
    let _case = ais_e2e::report::Case::start();
    let test_start = Instant::now();
    install_crd();
    let ns_guard = Namespace::create("e2e-corr-maint", &[]);
    let ns = ns_guard.0.as_str();
    let health = free_port("127.0.0.1");
    let _controller = start_controller(ns, health);
    let _delete = DeleteAistore { ns, name: NAME };
    create_cluster(ns, None);
    wait_ready(ns);
    let pod = "ais-target-1";
    let (sid, _) = target_node(&smap(ns).unwrap(), pod).unwrap();
    let uid = pod_uids(ns)[pod].clone();

    maintenance(ns, "start-maintenance", &sid);
    within(ns, "the maintenance flag", Duration::from_secs(60), || {
        let (_, node) = target_node(&smap(ns)?, pod)?;
        (flags(&node) & MAINT != 0).then_some(())
    });

    let base = reconciles(health).unwrap();
    for i in 1..=5 {
        if i == 4 {
            // A node in maintenance fails its readiness probe: the last pokes find the pod not
            // ready, which a controller might take for a pod to repair.
            within(
                ns,
                &format!("{pod} not ready (in maintenance)"),
                Duration::from_secs(120),
                || {
                    let pods = target_pods(ns)?;
                    pods.get(pod).is_some_and(|(_, ready)| !ready).then_some(())
                },
            );
        }
        let before = reconciles(health).unwrap();
        ais_e2e::annotate_aistore(ns, NAME, &format!("e2e/poke={i}"), None);
        let now = within(
            ns,
            &format!("a reconcile after poke {i}"),
            Duration::from_secs(60),
            || reconciles(health).filter(|n| *n > before),
        );
        // Let what that reconcile did reach AIS.
        std::thread::sleep(Duration::from_secs(4));
        let map = smap(ns).unwrap();
        let node = map["tmap"][&sid].clone();
        assert!(
            flags(&node) & MAINT != 0,
            "after poke {i} ({} reconciles since maintenance started), {pod} ({sid}) is no longer in maintenance\n{}",
            now - base,
            dump(ns)
        );
        assert_eq!(
            pod_uids(ns).get(pod),
            Some(&uid),
            "after poke {i}, {pod} was restarted\n{}",
            dump(ns)
        );
        let status = get_json(&["aistore", "-n", ns, NAME]).unwrap()["status"].clone();
        let conditions: Vec<String> = status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| format!("{}={} ({})", c["type"], c["status"], c["message"]))
            .collect();
        println!(
            "poke {i}: {} reconciles since maintenance started, {pod} flags {}, state {}, conditions {conditions:?}",
            now - base,
            flags(&node),
            status["state"]
        );
        if i >= 4 {
            // An admin's maintenance is no step of the operator's: the cluster is not
            // "Upgrading", and the Ready condition says which node is held and why.
            assert_eq!(status["state"], "Ready", "{conditions:?}");
            let ready = status["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "Ready")
                .cloned()
                .unwrap_or_default();
            assert_eq!(ready["reason"], "NodeInMaintenance", "{conditions:?}");
            assert!(
                ready["message"].as_str().unwrap_or_default().contains(pod),
                "{conditions:?}"
            );
        }
    }
    let total = reconciles(health).unwrap() - base;
    println!("{total} reconciles while {pod} was in maintenance");
    assert!(total >= 5, "only {total} reconciles");
    let notes: Vec<String> = events(ns).into_iter().map(|(_, n, _)| n).collect();
    assert!(
        !notes.iter().any(|n| n.contains("stop maintenance of")),
        "the operator stopped the maintenance: {notes:#?}"
    );

    maintenance(ns, "stop-maintenance", &sid);
    within(
        ns,
        "the maintenance flag cleared",
        Duration::from_secs(60),
        || {
            let (_, node) = target_node(&smap(ns)?, pod)?;
            (flags(&node) & MAINT == 0).then_some(())
        },
    );
    wait_ready(ns);
    assert_eq!(pod_uids(ns).get(pod), Some(&uid), "{pod} was restarted");
    println!(
        "manual_maintenance_is_kept_across_reconciles: passed in {:?}",
        test_start.elapsed()
    );
}

//! `just bench`: the operator's cost at scale on the local cluster. N AIStores at once on kwok
//! nodes (their AIS API answered by [`ais_e2e::sim`], benchmark infrastructure), the controller
//! as a host process with the chart's RBAC; per N: seconds until every pod runs and every
//! AIStore is Ready, the controller's peak RSS and CPU seconds, its API requests by verb and
//! resource (the API server's audit log), a steady-state window and a restart. Results go to a
//! TSV and a PNG plot under `docs/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod kwok;
mod operator;
mod plot;
mod proc;
mod real;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use ais_e2e::{
    audit, http_get, init_image, install_crd, kubectl, kubectl_ok, node_image, now_rfc3339,
    operator_username, sim,
};
use anyhow::{Context, Result, bail};
use clap::Parser;
use operator::Operator;
use serde_json::json;

const PROXY_PORT: u16 = 58080;
const TARGET_PORT: u16 = 58081;
const NS_PREFIX: &str = "bench-";

#[derive(Parser, Debug)]
#[command(about = "Scale, steady-state and restart benchmarks of the controller (local cluster)")]
struct Args {
    /// Cluster counts to run, one run each.
    #[arg(long, value_delimiter = ',', default_value = "10,50,100,200")]
    clusters: Vec<usize>,
    /// Proxies per cluster.
    #[arg(long, default_value_t = 3)]
    proxies: usize,
    /// Targets per cluster.
    #[arg(long, default_value_t = 10)]
    targets: usize,
    /// Seconds of the steady-state window after convergence (the issue's figure: 600).
    #[arg(long, default_value_t = 600)]
    steady: u64,
    /// Seconds a run may take to converge before the benchmark gives up on it.
    #[arg(long, default_value_t = 900)]
    deadline: u64,
    /// Seconds after a controller restart in which writes are counted.
    #[arg(long, default_value_t = 60)]
    restart_window: u64,
    /// Where the results (TSV) and the plot (PNG) go.
    #[arg(long, default_value = "docs/bench")]
    out: PathBuf,
    /// Skip the real-cluster timings.
    #[arg(long)]
    no_real: bool,
    /// Only draw the plot from the TSVs in `out` (no cluster needed).
    #[arg(long)]
    plot_only: bool,
    /// Measure the reference Go operator instead: its `manager` binary (ais-k8s v3.4.0 built
    /// from source, `docs/benchmarks.md`). Results go to `scale-go.tsv`.
    #[arg(long, requires = "go_crds")]
    go_bin: Option<PathBuf>,
    /// The reference operator's CRD directory (`operator/config/base/crd`).
    #[arg(long)]
    go_crds: Option<PathBuf>,
}

/// One run's figures.
#[derive(Debug, Default)]
struct Run {
    clusters: usize,
    pods: usize,
    secs_pods_running: f64,
    secs_all_ready: f64,
    peak_rss_mib: f64,
    cpu_secs: f64,
    requests: audit::Requests,
    steady_secs: u64,
    steady_mutating: u64,
    steady_reads: u64,
    steady_rss_mib: f64,
    steady_cpu_secs: f64,
    restart_relist_secs: f64,
    restart_writes: u64,
    /// RSS of the restarted controller at the end of its window: the caches of N clusters
    /// without the creation burst.
    restart_rss_mib: f64,
}

fn manifest(ns: &str, name: &str, proxies: usize, targets: usize) -> serde_json::Value {
    let placement = json!({
        "nodeSelector": {kwok::NODE_LABEL: "true"},
        "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}]
    });
    let mut proxy = json!({"size": proxies, "servicePort": PROXY_PORT, "portPublic": PROXY_PORT,
        "portIntraControl": 58082, "portIntraData": 58083});
    let mut target = json!({"size": targets, "servicePort": TARGET_PORT, "portPublic": TARGET_PORT,
        "portIntraControl": 58082, "portIntraData": 58083, "disablePodAntiAffinity": true,
        "mounts": [{"path": "/ais1", "useHostPath": true, "label": "disk1"}]});
    for role in [&mut proxy, &mut target] {
        for (k, v) in placement.as_object().unwrap() {
            role[k] = v.clone();
        }
    }
    json!({"apiVersion": "ais.nvidia.com/v1beta1", "kind": "AIStore",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"size": targets, "nodeImage": node_image(), "initImage": init_image(),
            "stateStorage": {"emptyDir": {}}, "proxySpec": proxy, "targetSpec": target}})
}

/// How many AIStores of the run are Ready (one list of the AIStores, names and states only).
fn ready_aistores(prefix: &str) -> usize {
    let out = kubectl(
        &[
            "get",
            "aistores",
            "-A",
            "-o",
            "jsonpath={range .items[*]}{.metadata.namespace} {.status.state}{\"\\n\"}{end}",
        ],
        None,
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(prefix) && l.ends_with(" Ready"))
        .count()
}

pub(crate) fn metrics(port: u16) -> String {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(s, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

pub(crate) fn log_file(out: &std::path::Path, name: &str) -> Stdio {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(out.join(name))
        .map_or_else(|_| Stdio::null(), Stdio::from)
}

/// One run of `n` clusters; the steady-state window and the restart only when `idle` (the
/// largest count: they take minutes each). The `last` run does not wait for its namespaces to
/// go: nothing is measured after it, and 200 of them take the namespace controller 2 minutes.
fn run(
    args: &Args,
    op: &Operator,
    n: usize,
    idle: bool,
    last: bool,
    simulator: &sim::Simulator,
    logs: &std::path::Path,
) -> Result<Run> {
    let prefix = format!("{NS_PREFIX}{n}-");
    let pods = n * (args.proxies + args.targets);
    kwok::ensure_nodes(kwok::nodes_for(pods));
    // The reference operator dials each cluster's proxy Service by name.
    let names: Vec<String> = (0..n).map(|i| format!("ais-proxy.{prefix}{i}")).collect();
    simulator
        .resolve_to_loopback(&names)
        .map_err(anyhow::Error::msg)?;
    let user = operator_username();
    let log = |what: &str| log_file(logs, &format!("{}-{what}-{n}.log", op.name()));
    let mut controller = op.spawn(log("controller"))?;
    let pid = controller.process.0.id();
    let mut run = Run {
        clusters: n,
        pods,
        ..Run::default()
    };

    // N namespaces and N AIStores in one apply, as a GitOps sync would.
    let mut docs = Vec::new();
    for i in 0..n {
        let ns = format!("{prefix}{i}");
        docs.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
        docs.push(manifest(&ns, "ais", args.proxies, args.targets));
    }
    let list = json!({"apiVersion": "v1", "kind": "List", "items": docs});
    let t0 = now_rfc3339();
    let start = Instant::now();
    kubectl_ok(&["apply", "-f", "-"], Some(&list.to_string()));
    let deadline = Duration::from_secs(args.deadline);
    let mut peak_cpu = 0.0;
    loop {
        let running = simulator
            .pods
            .all()
            .iter()
            .filter(|p| p.ns.starts_with(&prefix) && p.running)
            .count();
        if running >= pods && run.secs_pods_running == 0.0 {
            run.secs_pods_running = start.elapsed().as_secs_f64();
            println!(
                "N={n}: {pods} pods Running after {:.1} s",
                run.secs_pods_running
            );
        }
        if run.secs_pods_running > 0.0 && ready_aistores(&prefix) >= n {
            run.secs_all_ready = start.elapsed().as_secs_f64();
            println!(
                "N={n}: {n} AIStores Ready after {:.1} s",
                run.secs_all_ready
            );
            break;
        }
        if start.elapsed() > deadline {
            let ready = ready_aistores(&prefix);
            drop(controller);
            cleanup(&prefix, n, true);
            bail!(
                "N={n}: not converged within {deadline:?} ({running}/{pods} pods Running, {ready} AIStores Ready; logs in {})",
                logs.display()
            );
        }
        peak_cpu = proc::cpu_seconds(pid).unwrap_or(peak_cpu);
        // A fifth of a second: at N = 10 both operators take 6-7 s, and a 1 s poll made the
        // difference between them smaller than the resolution.
        std::thread::sleep(Duration::from_millis(200));
    }
    let t_conv = now_rfc3339();
    run.cpu_secs = proc::cpu_seconds(pid).unwrap_or(peak_cpu);
    run.peak_rss_mib = mib(proc::memory_kib(pid).map_or(0, |m| m.0));
    // Requests still in flight for the last status writes land within a few seconds.
    std::thread::sleep(Duration::from_secs(5));
    run.requests = audit::count(&audit_dir(), &window(&user, &t0, &t_conv));

    if !idle {
        drop(controller);
        cleanup(&prefix, n, !last);
        return Ok(run);
    }

    // Steady state: nothing changes for `steady` seconds.
    let cpu_before = proc::cpu_seconds(pid).unwrap_or(0.0);
    let t_s0 = now_rfc3339();
    std::thread::sleep(Duration::from_secs(args.steady));
    let t_s1 = now_rfc3339();
    let steady = audit::count(&audit_dir(), &window(&user, &t_s0, &t_s1));
    run.steady_secs = args.steady;
    run.steady_mutating = steady.mutating();
    run.steady_reads = steady.total() - steady.mutating();
    run.steady_rss_mib = mib(proc::memory_kib(pid).map_or(0, |m| m.1));
    run.steady_cpu_secs = proc::cpu_seconds(pid).unwrap_or(0.0) - cpu_before;
    if run.steady_mutating > 0 {
        println!("N={n}: steady-state writes: {:?}", steady.lines());
    }

    // Restart with every cluster present: time until it reconciled each once, and its writes.
    drop(controller);
    let t_r0 = now_rfc3339();
    let restart = Instant::now();
    controller = op.spawn(log("restarted"))?;
    while op.reconciles(controller.metrics_port) < n as f64
        && restart.elapsed() < Duration::from_secs(600)
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    run.restart_relist_secs = restart.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(args.restart_window));
    let after = audit::count(&audit_dir(), &window(&user, &t_r0, &now_rfc3339()));
    run.restart_writes = after.mutating();
    run.restart_rss_mib = mib(proc::memory_kib(controller.process.0.id()).map_or(0, |m| m.1));
    if run.restart_writes > 0 {
        println!("N={n}: writes after the restart: {:?}", after.lines());
    }
    drop(controller);
    cleanup(&prefix, n, !last);
    Ok(run)
}

/// Removes the run's AIStores without an operator (their finalizers dropped) and namespaces;
/// waits until the namespaces are gone when `wait`.
fn cleanup(prefix: &str, n: usize, wait: bool) {
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    remove_namespaces(&names, wait);
}

/// Waits until the namespaces an earlier run left deleting (the last run does not wait for
/// its own) are gone, finishing their removal if that run was cut short: a new run would
/// otherwise apply into a terminating namespace, and the real cluster would share the cores
/// with the deletion.
fn await_earlier_runs() {
    let out = kubectl_ok(&["get", "namespaces", "-o", "name"], None);
    let names: Vec<String> = out
        .lines()
        .filter_map(|l| l.strip_prefix("namespace/"))
        .filter(|n| n.starts_with(NS_PREFIX))
        .map(String::from)
        .collect();
    if !names.is_empty() {
        println!(
            "waiting for {} namespaces of an earlier run to go",
            names.len()
        );
        remove_namespaces(&names, true);
    }
}

fn remove_namespaces(names: &[String], wait: bool) {
    // One kubectl per namespace (a patch cannot span namespaces), eight at a time: one after
    // the other they took about 90 s of a `just bench` run.
    std::thread::scope(|scope| {
        for chunk in names.chunks(names.len().div_ceil(8).max(1)) {
            scope.spawn(move || {
                for ns in chunk {
                    let _ = kubectl(
                        &[
                            "patch",
                            "aistore",
                            "ais",
                            "-n",
                            ns,
                            "--type=merge",
                            "-p",
                            r#"{"metadata":{"finalizers":null}}"#,
                        ],
                        None,
                    );
                }
            });
        }
    });
    let mut delete = vec!["delete", "namespace", "--ignore-not-found"];
    if wait {
        delete.extend(["--wait=true", "--timeout=600s"]);
    } else {
        delete.push("--wait=false");
    }
    delete.extend(names.iter().map(String::as_str));
    let _ = kubectl(&delete, None);
}

/// Every request of the operator's identity in `[from, to)`: the benchmark's operator is the
/// only process with that identity while it runs, and its cluster-scoped requests count too.
fn window<'a>(user: &'a str, from: &'a str, to: &'a str) -> audit::Filter<'a> {
    audit::Filter {
        user,
        namespace: None,
        from,
        to,
    }
}

fn audit_dir() -> PathBuf {
    ais_e2e::env_path(
        "AIS_E2E_AUDIT_LOG",
        "path of the API server's audit log (`just bench` sets it)",
    )
    .parent()
    .map(PathBuf::from)
    .unwrap_or_default()
}

const HEADER: &str = "date\tclusters\tpods\tsecs_pods_running\tsecs_all_ready\tpeak_rss_mib\tcpu_secs\trequests\tmutating\trequests_per_cluster\tsteady_secs\tsteady_mutating\tsteady_reads\tsteady_rss_mib\tsteady_cpu_secs\trestart_relist_secs\trestart_writes\trestart_rss_mib";

fn row(r: &Run) -> String {
    format!(
        "{}\t{}\t{}\t{:.1}\t{:.1}\t{:.1}\t{:.1}\t{}\t{}\t{:.1}\t{}\t{}\t{}\t{:.1}\t{:.1}\t{:.1}\t{}\t{:.1}",
        &now_rfc3339()[..10],
        r.clusters,
        r.pods,
        r.secs_pods_running,
        r.secs_all_ready,
        r.peak_rss_mib,
        r.cpu_secs,
        r.requests.total(),
        r.requests.mutating(),
        r.requests.total() as f64 / r.clusters as f64,
        r.steady_secs,
        r.steady_mutating,
        r.steady_reads,
        r.steady_rss_mib,
        r.steady_cpu_secs,
        r.restart_relist_secs,
        r.restart_writes,
        r.restart_rss_mib
    )
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.plot_only {
        return plot::draw(&args.out, &args.out.join("scale.png"));
    }
    let op = match (&args.go_bin, &args.go_crds) {
        (Some(bin), Some(crds)) => Operator::Go {
            bin: bin.clone(),
            crds: crds.clone(),
        },
        _ => Operator::Rust,
    };
    ais_e2e::require_cluster();
    install_crd();
    std::fs::create_dir_all(&args.out).context("creating the output directory")?;
    let logs = std::env::temp_dir().join("ais-bench-logs");
    std::fs::create_dir_all(&logs)?;
    let simulator =
        sim::start(NS_PREFIX, &[PROXY_PORT, TARGET_PORT]).map_err(anyhow::Error::msg)?;
    // The simulator answers once its listeners run; nothing else listens on these ports.
    if http_get(&format!("127.0.0.1:{PROXY_PORT}"), "/v1/health").is_none() {
        bail!("the AIS simulator does not answer on :{PROXY_PORT}");
    }
    let tsv = args.out.join(match op {
        Operator::Rust => "scale.tsv",
        Operator::Go { .. } => "scale-go.tsv",
    });
    await_earlier_runs();
    // The real cluster first, on a quiet cluster: the scale runs' last namespaces are still
    // being deleted when the command ends.
    if !args.no_real && matches!(op, Operator::Rust) {
        let steps = real::run(&logs)?;
        let mut text = String::from("step\tsecs_total\tsecs_in_controller\tsecs_waiting\n");
        for s in &steps {
            text.push_str(&format!(
                "{}\t{:.1}\t{:.2}\t{:.1}\n",
                s.what,
                s.total,
                s.operator,
                s.total - s.operator
            ));
        }
        std::fs::write(args.out.join("real.tsv"), text)?;
    }
    let mut rows = Vec::new();
    let largest = args.clusters.iter().copied().max().unwrap_or(0);
    op.prepare()?;
    for (i, &n) in args.clusters.iter().enumerate() {
        let last = i + 1 == args.clusters.len();
        let r = run(&args, &op, n, n == largest, last, &simulator, &logs);
        let r = match r {
            Ok(r) => r,
            Err(err) => {
                op.finish();
                return Err(err);
            }
        };
        println!(
            "N={n}: requests by verb and resource:\n  {}",
            r.requests.lines().join("\n  ")
        );
        rows.push(row(&r));
        std::fs::write(&tsv, format!("{HEADER}\n{}\n", rows.join("\n")))?;
    }
    op.finish();
    plot::draw(&args.out, &args.out.join("scale.png"))?;
    if let Some(n) = args.clusters.last() {
        println!(
            "the last run's namespaces ({NS_PREFIX}{n}-*) are still being deleted (200 take about two minutes); the next run waits for them"
        );
    }
    println!(
        "results: {} and {}",
        tsv.display(),
        args.out.join("scale.png").display()
    );
    println!(
        "AIS simulator requests: {:?}; its pod watch restarted {} times",
        simulator.served.counts(),
        simulator
            .watch_restarts
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    Ok(())
}

//! `ais-controller`: reconciles `AIStore` resources into running AIStore clusters.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ais_common::health::{Readiness, router};
use ais_common::shutdown::signal_received;
use ais_common::telemetry::{self, LogFormat};
use ais_controller::ais::{ClientSettings, Clients, EndpointMode};
use ais_controller::build::{self, Facts, OwnedKind, PodSettings};
use ais_controller::leader::{Election, LeaseSettings};
use ais_controller::metrics::Metrics;
use ais_controller::reconcile::cache::{OwnedCache, Stores};
use ais_controller::reconcile::packed_statefulset::PackedStatefulSet;
use ais_controller::reconcile::pod_cache::CachedPod;
use ais_controller::reconcile::watches::{
    LIST_PAGE_SIZE, api, cached_watch, cached_watch_as, drop_managed_fields, keep_write_times,
    owns_cached,
};
use ais_controller::reconcile::{Context, error_policy, nodes, reconcile};
use ais_crd::{AIStore, Defaults};
use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Controller, WatchStreamExt, controller, watcher};
use kube::{Client, ResourceExt};

/// How long a reconcile waits for the next event of the same burst (`docs/benchmarks.md`):
/// short against AIS's own pace (a pod restart takes seconds), long enough to fold a pod's
/// phase changes and our own writes' echoes into one run.
const RECONCILE_DEBOUNCE: Duration = Duration::from_millis(250);

/// Label every owned object carries; the watches of owned kinds select on it.
const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=ais-operator";

#[derive(Debug, Parser)]
#[command(
    name = "ais-controller",
    version,
    about = "AIStore operator controller"
)]
struct Args {
    /// Namespaces to watch (repeat or comma-separate); all namespaces when empty.
    #[arg(long, env = "AIS_WATCH_NAMESPACES", value_delimiter = ',')]
    watch_namespaces: Vec<String>,
    /// Cluster DNS domain of pod and Service names. Unset: the `svc.<domain>` search entry of
    /// /etc/resolv.conf (every pod has one); the controller does not start without either.
    /// `render` and `migrate` use cluster.local when unset.
    #[arg(long, global = true, env = "KUBERNETES_CLUSTER_DOMAIN")]
    cluster_domain: Option<String>,
    /// aisnode image for specs that name none.
    #[arg(long, global = true, env = "AIS_DEFAULT_NODE_IMAGE", default_value = ais_crd::defaults::DEFAULT_NODE_IMAGE)]
    default_node_image: String,
    /// ais-init image for specs that name none.
    #[arg(long, global = true, env = "AIS_DEFAULT_INIT_IMAGE", default_value = ais_crd::defaults::DEFAULT_INIT_IMAGE)]
    default_init_image: String,
    /// imagePullPolicy of the aisnode and ais-init containers (default: Always, as the reference
    /// operator). `IfNotPresent` or `Never` for air-gapped clusters with preloaded images.
    #[arg(long, global = true, env = "AIS_IMAGE_PULL_POLICY")]
    ais_image_pull_policy: Option<String>,
    /// CPU request and limit of the ais-init container (default: 1).
    #[arg(long, global = true, env = "AIS_INIT_CPU")]
    init_cpu: Option<String>,
    /// Memory request and limit of the ais-init container (default: 1Gi).
    #[arg(long, global = true, env = "AIS_INIT_MEMORY")]
    init_memory: Option<String>,
    /// How the operator reaches the AIS API: `service` (the proxy Service's DNS name, for an
    /// operator in the cluster) or `pod-ip` (a ready proxy's pod IP, for an operator outside
    /// the cluster DNS).
    #[arg(long, env = "AIS_ENDPOINT_MODE", value_enum, default_value = "service")]
    ais_endpoint: EndpointMode,
    /// Timeout of every AIS API call, in seconds.
    #[arg(long, default_value_t = 10)]
    ais_timeout_seconds: u64,
    /// Skip verification of AIS's certificate when the AIStore does not set
    /// `operatorSkipVerifyCrt` (the reference installation sets it).
    #[arg(long, env = "OPERATOR_SKIP_VERIFY_CRT", default_value_t = false, action = clap::ArgAction::Set, value_parser = parse_bool)]
    ais_skip_verify: bool,
    /// Directory of CA certificates that verify AIS over HTTPS.
    #[arg(long, default_value = "/etc/ais/ca")]
    ais_ca_dir: PathBuf,
    /// Directory of the operator's client certificate for AIS (`tls.crt`, `tls.key`), used
    /// when AIS asks for one (`net.http.client_auth_tls`).
    #[arg(long, default_value = "/etc/operator/tls")]
    ais_client_cert_path: PathBuf,
    /// Look for the client certificate in `<path>/<namespace>/<name>`.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    ais_client_cert_per_cluster: bool,
    /// Image of the host cleanup Jobs (`cleanupMetadata` with host-path state).
    #[arg(long, env = "AIS_CLEANUP_IMAGE", default_value = build::cleanup::DEFAULT_IMAGE)]
    cleanup_image: String,
    /// Elect a leader among replicas through a Lease; only the leader reconciles.
    #[arg(long, env = "AIS_LEADER_ELECT", default_value_t = false, action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// Namespace of the leader Lease (default: this pod's namespace, from POD_NAMESPACE).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    leader_election_namespace: String,
    /// Name of the leader Lease.
    #[arg(long, default_value = "ais-operator-leader")]
    leader_election_lease: String,
    /// Seconds a lease stays valid without renewal; a follower takes over after it expires.
    #[arg(long, default_value_t = 15)]
    leader_election_lease_seconds: u64,
    /// Address of the plain-HTTP port for /healthz, /readyz and /metrics.
    #[arg(long, env = "AIS_HEALTH_ADDR", default_value = "0.0.0.0:8081")]
    health_addr: SocketAddr,
    /// Reconciles that run at once across the clusters of one watch scope (all namespaces, or
    /// each namespace of `--watch-namespaces`); one cluster never has two; 0: no bound.
    /// A start or a re-list reconciles every cluster at once, and each reconcile in flight
    /// leaves freed fragments between what the caches keep: with 200 clusters a restarted
    /// controller holds 71–73 MiB at 32, 58 MiB at 8 (decision 020).
    #[arg(long, env = "AIS_MAX_CONCURRENT_RECONCILES", default_value_t = 8)]
    max_concurrent_reconciles: u16,
    /// Log format: text or json.
    #[arg(long, env = "AIS_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    /// Log filter, e.g. `info` or `ais_controller=debug,info`.
    #[arg(long, env = "AIS_LOG_LEVEL", default_value = "info")]
    log_level: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the AIStore CustomResourceDefinition as YAML.
    Crd,
    /// Print every object the operator would create for the AIStores in a manifest, without a
    /// cluster.
    Render {
        /// The manifest (other kinds in it are skipped).
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
    },
    /// Before a takeover: list, per AIStore, what this operator would change in the objects
    /// another operator made (none, or the fields), without writing anything. Reads the live
    /// cluster, or captured files with --aistores and --objects. Uses the same flags as the
    /// controller (--ais-image-pull-policy, --init-cpu, ...): give the values it will run with.
    Migrate {
        /// Only this namespace (default: all).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// Captured AIStores (`kubectl get aistore -o yaml`) instead of the live cluster.
        #[arg(long, requires = "objects")]
        aistores: Option<PathBuf>,
        /// Captured objects holding their StatefulSets (`kubectl get statefulset -o yaml`).
        #[arg(long, requires = "aistores")]
        objects: Option<PathBuf>,
    },
}

/// Booleans as the reference reads `OPERATOR_SKIP_VERIFY_CRT` (`true`, `True`, `1`, ...).
fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "y" | "yes" | "on" => Ok(true),
        "" | "0" | "f" | "false" | "n" | "no" | "off" => Ok(false),
        other => Err(format!("{other:?} is not a boolean (true or false)")),
    }
}

/// The facts of the subcommands that build objects without reconciling (`render`,
/// `migrate`): the flags, and cluster.local for a domain not given.
fn offline_facts(args: &Args, pods: PodSettings) -> Facts {
    let defaults = Defaults {
        node_image: args.default_node_image.clone(),
        init_image: args.default_init_image.clone(),
    };
    let domain = args
        .cluster_domain
        .clone()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| build::DEFAULT_CLUSTER_DOMAIN.to_string());
    Facts::unobserved(domain, defaults, pods)
}

fn write_stdout(text: &str) -> anyhow::Result<()> {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(err.into()),
        _ => Ok(()),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let pods = PodSettings {
        image_pull_policy: args.ais_image_pull_policy.clone(),
        init_cpu: args.init_cpu.clone(),
        init_memory: args.init_memory.clone(),
    };
    match &args.command {
        Some(Command::Crd) => return write_stdout(&ais_crd::crd::aistore_crd_yaml()?),
        Some(Command::Render { file }) => {
            let facts = offline_facts(&args, pods);
            return write_stdout(&ais_controller::render::render_file(file, &facts)?);
        }
        Some(Command::Migrate {
            namespace,
            aistores,
            objects,
        }) => {
            let facts = offline_facts(&args, pods);
            let found = match (aistores, objects) {
                (Some(a), Some(o)) => ais_controller::migrate::from_files(a, o, &facts)?,
                _ => {
                    let _ = rustls_provider();
                    let client = ais_common::client::kube_client("migrate").await?;
                    ais_controller::migrate::from_cluster(&client, namespace.as_deref(), &facts)
                        .await?
                }
            };
            let mut text: String = found.iter().map(|t| format!("{t}\n")).collect();
            if found.is_empty() {
                text = "no AIStore found\n".into();
            }
            return write_stdout(&text);
        }
        None => {}
    }
    telemetry::init(args.log_format, &args.log_level)?;
    let cluster_domain = ais_controller::cluster_domain::resolve(
        args.cluster_domain.as_deref(),
        std::fs::read_to_string("/etc/resolv.conf")
            .map_err(|e| format!("reading /etc/resolv.conf: {e}")),
    )?;
    tracing::info!(%cluster_domain, "cluster DNS domain");
    let _ = rustls_provider();
    let identity = std::env::var("POD_NAME")
        .unwrap_or_else(|_| format!("{}-{}", hostname(), std::process::id()));
    let component = if args.leader_elect {
        format!("controller; {identity}")
    } else {
        "controller".to_string()
    };
    let client = ais_common::client::kube_client(&component).await?;
    preflight(&client, &args.watch_namespaces).await?;

    let registry = prometheus::Registry::new();
    let metrics = Metrics::new(&registry).context("registering metrics")?;
    let readiness = Readiness::default();
    let reporter = Reporter {
        controller: "ais-operator".into(),
        instance: Some(identity.clone()),
    };
    let ctx = Arc::new(Context {
        client: client.clone(),
        recorder: Recorder::new(client.clone(), reporter),
        metrics: metrics.clone(),
        cluster_domain,
        defaults: Defaults {
            node_image: args.default_node_image,
            init_image: args.default_init_image,
        },
        pods,
        clients: Clients::new(ClientSettings {
            mode: args.ais_endpoint,
            timeout: Duration::from_secs(args.ais_timeout_seconds),
            skip_verify: args.ais_skip_verify,
            ca_dir: Some(args.ais_ca_dir.clone()),
            client_cert_dir: args.ais_client_cert_path.clone(),
            client_cert_per_cluster: args.ais_client_cert_per_cluster,
        }),
        cleanup_image: args.cleanup_image.clone(),
        swept: ais_controller::reconcile::owned::Swept::default(),
        futile: ais_controller::reconcile::futile::FutileApplies::default(),
        cache: OwnedCache::default(),
        last_writes: ais_controller::reconcile::last_write::LastWrites::default(),
    });

    let health = tokio::net::TcpListener::bind(args.health_addr)
        .await
        .with_context(|| format!("binding the health port {}", args.health_addr))?;
    let health_app = router(readiness.clone(), registry);
    tokio::spawn(async move {
        if let Err(err) = axum_serve(health, health_app).await {
            tracing::error!(%err, "health port failed");
        }
    });

    let signal = signal_received();
    tokio::pin!(signal);
    // Ready means: the CRD is served and RBAC allows the reads; a follower is ready to take over.
    readiness.set(true);
    let mut election = if args.leader_elect {
        let settings = LeaseSettings {
            name: args.leader_election_lease.clone(),
            namespace: args.leader_election_namespace.clone(),
            identity: identity.clone(),
            duration: Duration::from_secs(args.leader_election_lease_seconds),
            grace: Duration::from_secs(2),
        };
        let mut election = Election::start(client.clone(), &settings)
            .await
            .context("joining the leader election")?;
        tracing::info!(%identity, lease = %settings.name, "waiting to become the leader");
        tokio::select! {
            acquired = election.acquired() => if !acquired { bail!("the leader election ended before this replica led") },
            sig = &mut signal => {
                tracing::info!(signal = sig?, "shutting down as a follower");
                election.release().await;
                return Ok(());
            }
        }
        tracing::info!(%identity, "leading");
        Some(election)
    } else {
        None
    };
    metrics.leader.set(1);

    let namespaces: Vec<Option<String>> = if args.watch_namespaces.is_empty() {
        vec![None]
    } else {
        args.watch_namespaces.iter().cloned().map(Some).collect()
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for ns in namespaces {
        tasks.push(tokio::spawn(run_controller(
            client.clone(),
            ns,
            ctx.clone(),
            args.max_concurrent_reconciles,
            stop_rx.clone(),
        )));
    }
    tracing::info!("controller started");
    let lost = async {
        match election.as_mut() {
            Some(e) => e.lost().await,
            None => std::future::pending().await,
        }
    };
    let outcome = tokio::select! {
        sig = &mut signal => { tracing::info!(signal = sig?, "shutting down"); Ok(()) }
        () = lost => Err(anyhow::anyhow!("lost the leader lease; exiting so that Kubernetes restarts this replica as a follower")),
    };
    readiness.set(false);
    metrics.leader.set(0);
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
    if let Some(election) = election {
        election.release().await;
    }
    outcome
}

async fn run_controller(
    client: Client,
    ns: Option<String>,
    ctx: Arc<Context>,
    concurrency: u16,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let owned = watcher::Config::default()
        .labels(MANAGED_SELECTOR)
        .page_size(LIST_PAGE_SIZE);
    // The AIStores as `Controller::new` would watch them, with their managed fields trimmed:
    // only the times of our writes and the reference operator's are read (`migrate`).
    let (aistores, aistore_writer) = reflector::store();
    let aistore_events = watcher(
        api::<AIStore>(&client, ns.as_deref()),
        watcher::Config::default().page_size(LIST_PAGE_SIZE),
    )
    .default_backoff()
    .modify(keep_write_times)
    .reflect(aistore_writer)
    .applied_objects();
    let mut controller = Controller::for_stream(aistore_events, aistores);
    // Owned cert-manager Certificates, when cert-manager serves its API (checked once at
    // start; install cert-manager before the operator to have them watched).
    let gvk = GroupVersionKind::gvk("cert-manager.io", "v1", "Certificate");
    match kube::discovery::pinned_kind(&client, &gvk).await {
        Ok((resource, _)) => {
            let certs: Api<DynamicObject> = match ns.as_deref() {
                Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
                None => Api::all_with(client.clone(), &resource),
            };
            controller = controller.owns_with(certs, resource, owned.clone());
        }
        Err(err) => {
            tracing::info!(%err, "cert-manager Certificates are not served; not watching them");
        }
    }
    let store = controller.store();
    let defaults = ctx.defaults.clone();
    let namespace = ns.as_deref();
    // The kinds compared before each apply are watched into caches (`reconcile::cache`), so
    // a reconcile that changes nothing reads them from memory; their watches trigger as
    // `owns` would.
    // The pod-template comparison reads our own managed-fields entry of a StatefulSet
    // (`pod_template::Ownership`), kept with the template as text (`packed_statefulset`); the
    // other kinds need none.
    let (statefulsets, mut statefulset_events) =
        cached_watch_as(&client, namespace, &owned, PackedStatefulSet::pack);
    let (config_maps, mut config_map_events) =
        cached_watch(&client, namespace, &owned, drop_managed_fields);
    let (services, mut service_events) =
        cached_watch(&client, namespace, &owned, drop_managed_fields);
    let (service_accounts, mut service_account_events) =
        cached_watch(&client, namespace, &owned, drop_managed_fields);
    let (roles, mut role_events) = cached_watch(&client, namespace, &owned, drop_managed_fields);
    let (role_bindings, mut role_binding_events) =
        cached_watch(&client, namespace, &owned, drop_managed_fields);
    let (pdbs, mut pdb_events) = cached_watch(&client, namespace, &owned, drop_managed_fields);
    // Pods of managed clusters only (a cluster-wide pod cache would not scale), each reduced
    // to what the lifecycle reads.
    let (pods, pod_events) = cached_watch(&client, namespace, &owned, CachedPod::trim);
    ctx.cache.register(
        ns.clone(),
        Stores {
            statefulsets,
            config_maps,
            services,
            service_accounts,
            roles,
            role_bindings,
            pdbs,
            pods,
        },
    );
    // Every kind of the inventory, by an exhaustive match: a new owned kind must say here
    // whether (and how) it is watched.
    for kind in OwnedKind::ALL {
        controller = match kind {
            OwnedKind::StatefulSet => owns_cached(controller, &mut statefulset_events),
            OwnedKind::Service => owns_cached(controller, &mut service_events),
            OwnedKind::ConfigMap => owns_cached(controller, &mut config_map_events),
            OwnedKind::PodDisruptionBudget => owns_cached(controller, &mut pdb_events),
            OwnedKind::ServiceAccount => owns_cached(controller, &mut service_account_events),
            OwnedKind::Role => owns_cached(controller, &mut role_events),
            OwnedKind::RoleBinding => owns_cached(controller, &mut role_binding_events),
            // No selector: a Deployment of the admin client's name that someone else made must
            // be seen (`observe::foreign`).
            OwnedKind::Deployment => controller.owns(
                api::<Deployment>(&client, namespace),
                watcher::Config::default(),
            ),
            // Watched above when cert-manager serves its API.
            OwnedKind::Certificate => controller,
        };
    }
    controller
        // A cluster's watch events come in bursts (its own writes, each pod's phases); a short
        // trailing debounce runs one reconcile per burst instead of one per event.
        .with_config(
            controller::Config::default()
                .debounce(RECONCILE_DEBOUNCE)
                .concurrency(concurrency),
        )
        .watches_stream(
            futures_util::stream::iter(pod_events).flatten(),
            |pod: CachedPod| {
                let cluster = pod.labels().get("app.kubernetes.io/name")?.clone();
                Some(ObjectRef::new(&cluster).within(&pod.namespace()?))
            },
        )
        // Node changes matter to autoscaling clusters and to certificate SANs.
        .watches(
            Api::<Node>::all(client.clone()),
            watcher::Config::default(),
            move |_node| {
                store
                    .state()
                    .into_iter()
                    .filter(|ais| {
                        nodes::needed(&ais_crd::legacy::effective_spec(&ais_crd::default_spec(
                            &ais.spec, &defaults,
                        )))
                    })
                    .map(|ais| ObjectRef::from_obj(&*ais))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(%err, "reconcile error");
            }
        })
        .await;
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "ais-controller".into())
}

async fn axum_serve(listener: tokio::net::TcpListener, app: axum::Router) -> std::io::Result<()> {
    axum::serve(listener, app).await
}

fn rustls_provider() -> Result<(), Arc<rustls::crypto::CryptoProvider>> {
    rustls::crypto::ring::default_provider().install_default()
}

/// Fails fast, with a message saying what to fix, when the CRD is missing or RBAC denies
/// what the controller needs.
async fn preflight(client: &Client, namespaces: &[String]) -> anyhow::Result<()> {
    let targets: Vec<Api<AIStore>> = if namespaces.is_empty() {
        vec![Api::all(client.clone())]
    } else {
        namespaces
            .iter()
            .map(|ns| Api::namespaced(client.clone(), ns))
            .collect()
    };
    for api in targets {
        match api.list(&ListParams::default().limit(1)).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => bail!(
                "the AIStore CRD (aistores.ais.nvidia.com) is not installed: kubectl apply --server-side -f deploy/crds/ais.nvidia.com_aistores.yaml (or install the Helm chart)"
            ),
            Err(kube::Error::Api(e)) if e.code == 403 => bail!(
                "RBAC: the operator may not list aistores.ais.nvidia.com ({}); install the chart's ClusterRole or Roles",
                e.message
            ),
            Err(err) => return Err(err).context("listing AIStores at startup"),
        }
    }
    Ok(())
}

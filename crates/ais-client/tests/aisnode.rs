//! The client against real aisnode processes on 127.0.0.1 (no mock). Each test starts and
//! stops its own cluster (free ports, own temp dir). Needs the aisnode binary built by
//! `e2e/cluster/build.sh aisnode`; fails (never skips) without it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use ais_client::{ActValRmNode, AisClient, AisClientOptions, AisError, TlsOptions};
use common::{Cluster, eventually};
use serde_json::json;

const READY: Duration = Duration::from_secs(90);
/// Bound on every other wait (a node starting, a metasync, a flag in the smap). These are
/// liveness bounds, not speed claims: CI runs the eight clusters of this file side by side
/// on two cores, where an aisnode can take over 20 s to open its port.
const SETTLE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_before_and_after_ready_and_cluster_map() {
    let Some(mut c) = Cluster::new(1, 2) else {
        return;
    };
    c.start_node(0);
    let client = c.client(0);

    // The primary is up but no target has joined: prr answers 503 (never 200).
    let err = eventually("primary to answer health?prr=true", READY, || {
        let client = client.clone();
        async move {
            match client.health(true).await {
                Err(e) if e.is_connection_error() => None,
                other => Some(other),
            }
        }
    })
    .await
    .expect_err("prr must not be 200 before any target joined");
    assert!(err.is_unavailable(), "want 503, got: {err}");
    assert!(err.to_string().contains("/v1/health?prr=true"), "{err}");

    c.start_node(1);
    c.start_node(2);
    let smap = c.wait_ready(READY).await;
    client.health(true).await.unwrap();
    client.health(false).await.unwrap();
    c.client(1).health(false).await.unwrap(); // a target's liveness
    c.client(1).node_readiness().await.unwrap();

    // Cluster map shape.
    assert_eq!(smap.count_proxies(), 1);
    assert_eq!(smap.count_targets(), 2);
    assert_eq!(smap.primary_id(), Some("aisprx00"));
    assert!(smap.version > 0);
    assert!(!smap.uuid.is_empty());
    let p = smap.primary().unwrap();
    assert!(p.is_proxy() && !p.in_maint_or_decomm());
    assert_eq!(p.public_net.direct_url, c.nodes[0].url());
    assert_eq!(p.intra_control_net.node_ip_addr, "127.0.0.1");
    assert_eq!(
        p.intra_control_net.daemon_port,
        c.nodes[0].ctl_port.to_string()
    );
    for t in c.targets() {
        let n = smap.tmap.get(&t.id).unwrap();
        assert!(n.is_target() && n.flags.0 == 0, "{n:?}");
    }
    // Asking a target works too (it answers its own copy).
    let via_target = c.client(1).cluster_map().await.unwrap();
    assert_eq!(via_target.uuid, smap.uuid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_config_set_and_read_back() {
    let Some(mut c) = Cluster::new(1, 2) else {
        return;
    };
    c.start_all();
    c.wait_ready(READY).await;
    let client = c.client(0);

    let before = client.cluster_config().await.unwrap();
    assert_eq!(before["rebalance"]["enabled"], json!(true));
    client
        .set_cluster_config(
            &json!({"rebalance": {"enabled": false}, "periodic": {"stats_time": "20s"}}),
            false,
        )
        .await
        .unwrap();
    let after = client.cluster_config().await.unwrap();
    assert_eq!(after["rebalance"]["enabled"], json!(false));
    assert_eq!(after["periodic"]["stats_time"], json!("20s"));
    // Metasynced: a target runs with it too.
    let via_target = eventually("target to see the new config", SETTLE, || {
        let t = c.client(1);
        async move {
            let cfg = t.node_config().await.ok()?;
            (cfg["rebalance"]["enabled"] == json!(false)).then_some(cfg)
        }
    })
    .await;
    assert_eq!(via_target["periodic"]["stats_time"], json!("20s"));

    // An invalid value: AIS answers 4xx and the error says which call and what AIS said.
    let err = client
        .set_cluster_config(&json!({"periodic": {"stats_time": "1h"}}), false)
        .await
        .unwrap_err();
    let status = err.status().unwrap_or(0);
    assert!((400..500).contains(&status), "{err}");
    assert!(err.to_string().contains("set cluster config"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_start_and_stop() {
    let Some(mut c) = Cluster::new(1, 2) else {
        return;
    };
    c.start_all();
    c.wait_ready(READY).await;
    let client = c.client(0);
    let tid = c.nodes[1].id.clone();

    // The running-xaction query: an idle cluster (once a join rebalance is over) runs no
    // rebalance.
    eventually("no rebalance running", SETTLE, || {
        let client = client.clone();
        async move {
            let running = client.running_xactions("rebalance").await.ok()?;
            running.is_empty().then_some(())
        }
    })
    .await;

    client
        .start_maintenance(&ActValRmNode {
            skip_rebalance: true,
            ..ActValRmNode::for_node(&tid)
        })
        .await
        .unwrap();
    let smap = eventually("maintenance flag in the smap", SETTLE, || {
        let client = client.clone();
        let tid = tid.clone();
        async move {
            let smap = client.cluster_map().await.ok()?;
            smap.tmap.get(&tid)?.in_maintenance().then_some(smap)
        }
    })
    .await;
    let n = &smap.tmap[&tid];
    assert!(n.in_maint_or_decomm() && !n.is_decommissioning());
    assert!(!smap.tmap[&c.nodes[2].id].in_maint_or_decomm());

    // Unknown node: AIS answers 404 and the error carries it.
    let err = client
        .start_maintenance(&ActValRmNode::for_node("nosuchnode"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");

    client
        .stop_maintenance(&ActValRmNode::for_node(&tid))
        .await
        .unwrap();
    eventually("maintenance flag cleared", SETTLE, || {
        let client = client.clone();
        let tid = tid.clone();
        async move {
            let smap = client.cluster_map().await.ok()?;
            (!smap.tmap.get(&tid)?.in_maint_or_decomm()).then_some(())
        }
    })
    .await;
    c.assert_running();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decommission_target_leaves_the_smap() {
    let Some(mut c) = Cluster::new(1, 2) else {
        return;
    };
    c.start_all();
    c.wait_ready(READY).await;
    let client = c.client(0);
    let tid = c.nodes[2].id.clone();

    client
        .decommission_node(&ActValRmNode {
            rm_user_data: true,
            ..ActValRmNode::for_node(&tid)
        })
        .await
        .unwrap();
    let smap = eventually("target gone from the smap", SETTLE, || {
        let client = client.clone();
        let tid = tid.clone();
        async move {
            let smap = client.cluster_map().await.ok()?;
            (!smap.tmap.contains_key(&tid)).then_some(smap)
        }
    })
    .await;
    assert_eq!(smap.count_targets(), 1);
    // The decommissioned node exits by itself.
    c.wait_exit(&tid, SETTLE).await;
    client.health(false).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_primary_with_two_proxies() {
    let Some(mut c) = Cluster::new(2, 2) else {
        return;
    };
    c.start_all();
    let smap = c.wait_ready(READY).await;
    assert_eq!(smap.primary_id(), Some("aisprx00"));
    let new_primary = smap.pmap.get("aisprx01").unwrap().clone();
    assert!(!new_primary.is_non_electable());

    // Ask the non-primary; it forwards to the primary.
    let via_p1 = c.client(1);
    via_p1.set_primary_node(&new_primary).await.unwrap();
    for i in [0, 1] {
        let client = c.client(i);
        eventually("aisprx01 primary in every proxy's smap", SETTLE, || {
            let client = client.clone();
            async move {
                let smap = client.cluster_map().await.ok()?;
                smap.is_primary("aisprx01").then_some(())
            }
        })
        .await;
    }
    c.client(1).health(true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cluster_stops_every_node() {
    let Some(mut c) = Cluster::new(1, 2) else {
        return;
    };
    c.start_all();
    c.wait_ready(READY).await;
    let client = c.client(0);
    match client.shutdown_cluster().await {
        Ok(()) => {}
        // The primary may go away before its answer is read.
        Err(e @ (AisError::Body { .. } | AisError::Request { .. })) => {
            eprintln!("shutdown: connection ended early: {e}")
        }
        Err(e) => panic!("shutdown: {e}"),
    }
    let ids: Vec<String> = c.nodes.iter().map(|n| n.id.clone()).collect();
    for id in ids {
        let st = c.wait_exit(&id, SETTLE).await;
        eprintln!("{id} exited: {st}");
    }
    let err = client.health(false).await.unwrap_err();
    assert!(err.is_connection_error(), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decommission_cluster_stops_every_node() {
    let Some(mut c) = Cluster::new(1, 2) else {
        return;
    };
    c.start_all();
    c.wait_ready(READY).await;
    let smap_file = c.root().join("aisprx00/conf/.ais.smap");
    assert!(smap_file.exists(), "{} missing", smap_file.display());
    c.client(0).decommission_cluster(true).await.unwrap();
    let ids: Vec<String> = c.nodes.iter().map(|n| n.id.clone()).collect();
    for id in ids {
        c.wait_exit(&id, SETTLE).await;
    }
    // Metadata is wiped: the proxy's persisted cluster map is gone.
    assert!(!smap_file.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_ca_dir_skip_verify_and_token() {
    let Some(mut c) = Cluster::new_https(1, 1) else {
        return;
    };
    c.start_all();
    let smap = c.wait_ready(READY).await;
    assert!(
        smap.primary()
            .unwrap()
            .public_net
            .direct_url
            .starts_with("https://")
    );
    let url = c.nodes[0].url();
    let ca_dir = c.tls_dir.clone().unwrap();

    // CA bundle dir + a bearer token (AIS auth is off, so the token is just carried).
    let with_ca = AisClient::with_options(AisClientOptions {
        token: Some("test-token".into()),
        tls: Some(TlsOptions {
            ca_dir: Some(ca_dir),
            ..TlsOptions::default()
        }),
        ..AisClientOptions::new(&url)
    })
    .unwrap();
    with_ca.health(true).await.unwrap();
    assert_eq!(with_ca.cluster_map().await.unwrap().uuid, smap.uuid);

    // Explicit skip-verify.
    let insecure = AisClient::with_options(AisClientOptions {
        tls: Some(TlsOptions {
            skip_verify: true,
            ..TlsOptions::default()
        }),
        ..AisClientOptions::new(&url)
    })
    .unwrap();
    insecure.health(false).await.unwrap();

    // A CA that did not sign the node's certificate: the handshake fails.
    let other = tempfile::tempdir().unwrap();
    let ca = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    std::fs::write(other.path().join("ca.crt"), ca.cert.pem()).unwrap();
    let wrong = AisClient::with_options(AisClientOptions {
        tls: Some(TlsOptions {
            ca_dir: Some(other.path().to_owned()),
            ..TlsOptions::default()
        }),
        ..AisClientOptions::new(&url)
    })
    .unwrap();
    let err = wrong.health(false).await.unwrap_err();
    assert!(err.is_connection_error(), "{err}");
}

//! Throughput and latency of the webhook over TLS with keep-alive connections.
//!
//! The server runs on a single-threaded runtime (one core); the load generator on another
//! thread. Usage: `cargo run --release -p ais-webhook --example bench -- [SECONDS] [CONNECTIONS]`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use ais_webhook::routes::{MUTATE_PATH, Settings, VALIDATE_PATH};
use support::{Ca, Client, Server, connector, publish, review, valid_spec};

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map_or(10, |s| s.parse().unwrap());
    let connections: usize = args.next().map_or(8, |s| s.parse().unwrap());

    let ca = Ca::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = ca.leaf("bench");
    publish(dir.path(), &cert, &key, 0);

    // The server: one thread, one core.
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let cert_dir = dir.path().to_path_buf();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server =
                Server::start(&cert_dir, Duration::from_secs(3600), Settings::default()).await;
            addr_tx.send(server.addr).unwrap();
            std::future::pending::<()>().await;
        });
    });
    let addr = addr_rx.recv().unwrap();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("| endpoint | connections | seconds | reviews/s | p50 | p99 | max |");
    println!("|---|---|---|---|---|---|---|");
    for (name, path, body) in [
        ("validate", VALIDATE_PATH, review("CREATE", valid_spec())),
        (
            "mutate",
            MUTATE_PATH,
            review(
                "CREATE",
                serde_json::json!({"size": 3, "targetSpec": {"mounts": [{"path": "/d", "size": "1Gi"}]}}),
            ),
        ),
    ] {
        let conn = connector(&ca.cert_der, &[b"http/1.1"], false);
        let mut latencies = rt.block_on(async {
            let mut tasks = Vec::new();
            for _ in 0..connections {
                let conn = conn.clone();
                let body = body.clone();
                tasks.push(tokio::spawn(async move {
                    let mut client = Client::connect(addr, &conn).await.unwrap();
                    // Warm-up, then measure.
                    let warm = Instant::now();
                    while warm.elapsed() < Duration::from_millis(500) {
                        assert_eq!(client.post(path, body.clone()).await.unwrap().0, 200);
                    }
                    let mut lat = Vec::new();
                    let start = Instant::now();
                    while start.elapsed() < Duration::from_secs(seconds) {
                        let t = Instant::now();
                        let (status, _) = client.post(path, body.clone()).await.unwrap();
                        assert_eq!(status, 200);
                        lat.push(t.elapsed());
                    }
                    lat
                }));
            }
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.unwrap());
            }
            all
        });
        latencies.sort();
        let n = latencies.len();
        let pct = |p: f64| {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let i = ((n as f64) * p) as usize;
            latencies[i.min(n - 1)]
        };
        #[allow(clippy::cast_precision_loss)]
        let rate = n as f64 / seconds as f64;
        println!(
            "| {name} | {connections} | {seconds} | {rate:.0} | {:.3} ms | {:.3} ms | {:.3} ms |",
            pct(0.50).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
            latencies[n - 1].as_secs_f64() * 1e3
        );
    }
}

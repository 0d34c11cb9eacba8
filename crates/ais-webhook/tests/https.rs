//! The webhook over real TLS on 127.0.0.1: endpoints, malformed input, protocol versions,
//! certificate rotation under load, and graceful shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use ais_webhook::routes::{MUTATE_PATH, Settings, VALIDATE_PATH};
use support::{Ca, Client, Server, connector, publish, review, valid_spec};

async fn setup(reload: Duration, settings: Settings) -> (Ca, tempfile::TempDir, Server) {
    let ca = Ca::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = ca.leaf("gen-0");
    publish(dir.path(), &cert, &key, 0);
    let server = Server::start(dir.path(), reload, settings).await;
    (ca, dir, server)
}

#[tokio::test]
async fn validates_and_mutates_over_tls_with_keep_alive() {
    let (ca, _dir, server) = setup(Duration::from_secs(60), Settings::default()).await;
    let mut client = Client::connect(server.addr, &connector(&ca.cert_der, &[b"http/1.1"], false))
        .await
        .unwrap();
    for _ in 0..3 {
        let (status, body) = client
            .post(VALIDATE_PATH, review("CREATE", valid_spec()))
            .await
            .unwrap();
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["response"]["allowed"], true);
        assert_eq!(v["response"]["uid"], "uid-1");
    }
    let (status, body) = client
        .post(
            VALIDATE_PATH,
            review("CREATE", serde_json::json!({"size": 0})),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["response"]["allowed"], false);
    assert!(
        v["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("spec.size")
    );

    let minimal =
        serde_json::json!({"size": 1, "targetSpec": {"mounts": [{"path": "/d", "size": "1Gi"}]}});
    let (status, body) = client
        .post(MUTATE_PATH, review("CREATE", minimal))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["response"]["patchType"], "JSONPatch");
    let patch = support::patch_bytes(&v["response"]["patch"]);
    let ops: serde_json::Value = serde_json::from_slice(&patch).unwrap();
    assert!(
        ops.as_array()
            .unwrap()
            .iter()
            .any(|op| op["path"] == "/spec/nodeImage"),
        "{ops}"
    );

    let metrics = prometheus::TextEncoder::new()
        .encode_to_string(&server.registry.gather())
        .unwrap();
    assert!(
        metrics.contains(r#"ais_webhook_requests_total{endpoint="validate",verdict="allowed"} 3"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"ais_webhook_requests_total{endpoint="mutate",verdict="patched"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("ais_webhook_cert_not_after_seconds"));
    server.shutdown().await;
}

#[tokio::test]
async fn malformed_requests_get_400_never_a_crash() {
    let settings = Settings {
        max_body_bytes: 64 * 1024,
        ..Settings::default()
    };
    let (ca, _dir, server) = setup(Duration::from_secs(60), settings).await;
    let conn = connector(&ca.cert_der, &[b"http/1.1"], false);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("not json", b"hello".to_vec()),
        ("json, not a review", br#"{"a": 1}"#.to_vec()),
        ("truncated", review("CREATE", valid_spec())[..40].to_vec()),
        ("huge", vec![b' '; 200 * 1024]),
    ];
    for (name, body) in cases {
        let mut client = Client::connect(server.addr, &conn).await.unwrap();
        let (status, text) = client.post(VALIDATE_PATH, body).await.unwrap();
        assert_eq!(status, 400, "{name}: {}", String::from_utf8_lossy(&text));
        assert!(!text.is_empty(), "{name}: a 400 says why");
    }
    // The server still answers afterwards.
    let mut client = Client::connect(server.addr, &conn).await.unwrap();
    assert_eq!(
        client
            .post(VALIDATE_PATH, review("CREATE", valid_spec()))
            .await
            .unwrap()
            .0,
        200
    );
    server.shutdown().await;
}

#[tokio::test]
async fn speaks_tls12_and_h2() {
    let (ca, _dir, server) = setup(Duration::from_secs(60), Settings::default()).await;
    let mut tls12 = Client::connect(server.addr, &connector(&ca.cert_der, &[b"http/1.1"], true))
        .await
        .unwrap();
    assert_eq!(
        tls12
            .post(VALIDATE_PATH, review("CREATE", valid_spec()))
            .await
            .unwrap()
            .0,
        200
    );

    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let tls = connector(&ca.cert_der, &[b"h2"], false)
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::post(format!("https://localhost{VALIDATE_PATH}"))
        .body(http_body_util::Full::new(hyper::body::Bytes::from(review(
            "CREATE",
            valid_spec(),
        ))))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    server.shutdown().await;
}

/// cert-manager rotates the Secret while reviews keep coming: no request fails, and the new
/// certificate is served within the reload interval (plus one request's time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_load_fails_no_request() {
    let interval = Duration::from_millis(200);
    let (ca, dir, server) = setup(interval, Settings::default()).await;
    let conn = connector(&ca.cert_der, &[b"http/1.1"], false);
    let addr = server.addr;
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let load = tokio::spawn({
        let conn = conn.clone();
        async move {
            let (mut ok, mut failed) = (0u32, Vec::new());
            while !*done_rx.borrow() {
                // A new connection each time, so every handshake sees the current certificate.
                match Client::connect(addr, &conn).await {
                    Ok(mut c) => {
                        match c.post(VALIDATE_PATH, review("CREATE", valid_spec())).await {
                            Ok((200, _)) => ok += 1,
                            Ok((s, b)) => {
                                failed.push(format!("status {s}: {}", String::from_utf8_lossy(&b)))
                            }
                            Err(e) => failed.push(e),
                        }
                    }
                    Err(e) => failed.push(e),
                }
            }
            (ok, failed)
        }
    });
    let mut served_within = Vec::new();
    for generation in 1..=4u32 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let (cert, key, der) = ca.leaf(&format!("gen-{generation}"));
        publish(dir.path(), &cert, &key, generation);
        let published = Instant::now();
        loop {
            let c = Client::connect(addr, &conn).await.unwrap();
            if c.peer_cert == der {
                served_within.push(published.elapsed());
                break;
            }
            assert!(
                published.elapsed() < Duration::from_secs(5),
                "generation {generation} never served"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let _ = done_tx.send(true);
    let (ok, failed) = load.await.unwrap();
    assert!(
        failed.is_empty(),
        "{} failed requests: {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    assert!(ok > 20, "too few requests to mean anything: {ok}");
    for d in &served_within {
        assert!(
            *d <= interval * 2,
            "new certificate took {d:?} (interval {interval:?})"
        );
    }
    server.shutdown().await;
}

/// SIGTERM semantics: stop accepting, finish what is in flight.
#[tokio::test]
async fn shutdown_finishes_in_flight_reviews() {
    let (ca, _dir, server) = setup(Duration::from_secs(60), Settings::default()).await;
    let addr = server.addr;
    let conn = connector(&ca.cert_der, &[b"http/1.1"], false);
    // Open a connection and start a request whose body arrives late.
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = conn
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    let (mut sender, c) =
        hyper::client::conn::http1::handshake::<_, ChannelBody>(hyper_util::rt::TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(c);
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let req = hyper::Request::post(VALIDATE_PATH)
        .header("host", "localhost")
        .body(ChannelBody(rx))
        .unwrap();
    let in_flight =
        tokio::spawn(async move { sender.send_request(req).await.map(|r| r.status().as_u16()) });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let shutdown = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(100)).await;
    // New connections are refused once shutdown has begun.
    assert!(
        Client::connect(addr, &conn).await.is_err(),
        "accepted a connection during shutdown"
    );
    tx.send(hyper::body::Bytes::from(review("CREATE", valid_spec())))
        .await
        .unwrap();
    drop(tx);
    assert_eq!(in_flight.await.unwrap().unwrap(), 200);
    shutdown.await.unwrap();
}

/// A request body delivered in pieces through a channel.
struct ChannelBody(tokio::sync::mpsc::Receiver<hyper::body::Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = hyper::body::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

//! One HTTP request and its whole answer, bounded in time and size: the transport step the AIS
//! client and the auth client share. Callers add what the error was about (call, mode, URL).

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

/// The pooled HTTP(S) client both clients use.
pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// What went wrong before an answer's status could be looked at.
#[derive(Debug)]
pub(crate) enum ExchangeError {
    /// The request could not be sent or no response head came back.
    Request(hyper_util::client::legacy::Error),
    /// The body could not be read, or it was longer than the limit.
    Body(Box<dyn std::error::Error + Send + Sync>),
    /// No whole answer within the timeout.
    Timeout,
}

/// Sends `req` and reads the whole answer, at most `limit` bytes, all within `timeout`.
pub(crate) async fn exchange(
    client: &HttpClient,
    req: Request<Full<Bytes>>,
    timeout: Duration,
    limit: usize,
) -> Result<(StatusCode, Bytes), ExchangeError> {
    let send = async {
        let resp = client.request(req).await.map_err(ExchangeError::Request)?;
        let status = resp.status();
        let body = Limited::new(resp.into_body(), limit)
            .collect()
            .await
            .map_err(ExchangeError::Body)?
            .to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(timeout, send)
        .await
        .map_err(|_| ExchangeError::Timeout)?
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use hyper_util::rt::TokioExecutor;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn client() -> HttpClient {
        let cfg = rustls::ClientConfig::builder()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(cfg)
            .https_or_http()
            .enable_http1()
            .build();
        Client::builder(TokioExecutor::new()).build(connector)
    }

    /// A loopback server answering every connection with `body` after `delay`.
    async fn server(body: usize, delay: Duration) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = conn.read(&mut buf).await;
                    tokio::time::sleep(delay).await;
                    let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {body}\r\n\r\n");
                    let _ = conn.write_all(head.as_bytes()).await;
                    let _ = conn.write_all(&vec![b'x'; body]).await;
                });
            }
        });
        format!("http://{addr}/")
    }

    fn get(url: &str) -> Request<Full<Bytes>> {
        Request::get(url).body(Full::default()).unwrap()
    }

    #[tokio::test]
    async fn reads_an_answer_within_the_limit() {
        let url = server(1000, Duration::ZERO).await;
        let (status, body) = exchange(&client(), get(&url), Duration::from_secs(5), 1000)
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body.len(), 1000);
    }

    #[tokio::test]
    async fn refuses_an_answer_over_the_limit() {
        let url = server(1001, Duration::ZERO).await;
        let err = exchange(&client(), get(&url), Duration::from_secs(5), 1000)
            .await
            .unwrap_err();
        assert!(matches!(err, ExchangeError::Body(_)), "{err:?}");
    }

    #[tokio::test]
    async fn gives_up_after_the_timeout() {
        let url = server(10, Duration::from_secs(5)).await;
        let err = exchange(&client(), get(&url), Duration::from_millis(200), 1000)
            .await
            .unwrap_err();
        assert!(matches!(err, ExchangeError::Timeout), "{err:?}");
    }

    #[tokio::test]
    async fn names_a_refused_connection_a_request_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        drop(listener);
        let err = exchange(&client(), get(&url), Duration::from_secs(5), 1000)
            .await
            .unwrap_err();
        assert!(matches!(err, ExchangeError::Request(_)), "{err:?}");
    }
}

//! A small AIS data client for the e2e tests: bucket, PUT, GET, checksums. It speaks AIStore's
//! REST API directly (`../shared/reference/aistore-api.md`): the proxy answers object requests
//! with a redirect to the target that owns the object, and the client follows it with the same
//! method and the body. Plain HTTP/1.0 over a TcpStream, so that a body is never chunked and no
//! HTTP library decides anything for the test.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};

/// Objects written to one bucket, with the SHA-256 of each content.
#[derive(Clone, Debug, Default)]
pub struct Written {
    /// The bucket (provider `ais`).
    pub bucket: String,
    /// Object name → SHA-256 of what was written.
    pub objects: BTreeMap<String, [u8; 32]>,
}

impl Written {
    /// An empty set for `bucket`, which must exist.
    pub fn into_bucket(bucket: &str) -> Self {
        Self {
            bucket: bucket.to_string(),
            objects: BTreeMap::new(),
        }
    }

    /// Stores one more object of `len` random bytes through the proxy at `addr` and records it
    /// when AIS took it (an operation under way may refuse a write: that is not counted).
    pub fn put_one(&mut self, addr: &str, len: usize) -> Result<(), String> {
        let name = format!("during-{:04}", self.objects.len());
        let bytes = content(u64::from(crate::rand_u32()) << 20, len);
        put(addr, &self.bucket, &name, &bytes)?;
        self.objects.insert(name, Sha256::digest(&bytes).into());
        crate::report::note(|c| c.written += 1);
        Ok(())
    }
}

/// What reading a [`Written`] set back found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verified {
    /// Objects read back with the checksum they were written with.
    pub intact: usize,
    /// One line per object that was missing, unreadable or different.
    pub failures: Vec<String>,
}

/// One HTTP answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    location: Option<String>,
    body: Vec<u8>,
}

fn request(addr: &str, method: &str, path: &str, body: &[u8]) -> Result<Answer, String> {
    let sock: SocketAddr = addr.parse().map_err(|e| format!("address {addr}: {e}"))?;
    let mut s = TcpStream::connect_timeout(&sock, Duration::from_secs(3))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())
        .and_then(|()| s.write_all(body))
        .map_err(|e| format!("{method} {addr}{path}: {e}"))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)
        .map_err(|e| format!("{method} {addr}{path}: reading the answer: {e}"))?;
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("{method} {addr}{path}: no HTTP header in the answer"))?;
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("{method} {addr}{path}: no status in {head:?}"))?;
    let location = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("location")
            .then(|| v.trim().to_string())
    });
    Ok(Answer {
        status,
        location,
        body: buf[split + 4..].to_vec(),
    })
}

/// Sends a request to the proxy at `addr` and follows one redirect to a target. The proxy gets no
/// body: it redirects without reading one, and closing a connection with unread data resets
/// it, which can lose the redirect itself. The target gets the body.
fn object_request(addr: &str, method: &str, path: &str, body: &[u8]) -> Result<Answer, String> {
    let first = request(addr, method, path, b"")?;
    // AIS redirects a PUT with 307 and a GET with 301; both keep the method here.
    if !matches!(first.status, 301 | 302 | 307 | 308) {
        return Ok(first);
    }
    let location = first
        .location
        .ok_or_else(|| format!("{method} {path}: a redirect without Location"))?;
    let rest = location
        .strip_prefix("http://")
        .ok_or_else(|| format!("{method} {path}: redirected to {location}, not plain HTTP"))?;
    let (host, target_path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    request(host, method, target_path, body)
}

/// Creates bucket `bucket` (provider `ais`) through the proxy at `addr`.
pub fn create_bucket(addr: &str, bucket: &str) -> Result<(), String> {
    let body = br#"{"action":"create-bck"}"#;
    let answer = request(
        addr,
        "POST",
        &format!("/v1/buckets/{bucket}?provider=ais"),
        body,
    )?;
    match answer.status {
        200 => Ok(()),
        code => Err(format!(
            "creating bucket {bucket}: HTTP {code}: {}",
            String::from_utf8_lossy(&answer.body)
        )),
    }
}

/// Whether bucket `bucket` (provider `ais`) exists, as the proxy at `addr` answers `HEAD`.
pub fn bucket_exists(addr: &str, bucket: &str) -> Result<bool, String> {
    let answer = request(
        addr,
        "HEAD",
        &format!("/v1/buckets/{bucket}?provider=ais"),
        b"",
    )?;
    match answer.status {
        200 => Ok(true),
        404 => Ok(false),
        code => Err(format!("HEAD bucket {bucket}: HTTP {code}")),
    }
}

/// Stores `content` as `bucket/name`.
pub fn put(addr: &str, bucket: &str, name: &str, content: &[u8]) -> Result<(), String> {
    let path = format!("/v1/objects/{bucket}/{name}?provider=ais");
    let answer = object_request(addr, "PUT", &path, content)?;
    match answer.status {
        200 => Ok(()),
        code => Err(format!(
            "PUT {bucket}/{name}: HTTP {code}: {}",
            String::from_utf8_lossy(&answer.body)
        )),
    }
}

/// Reads `bucket/name` back.
pub fn get(addr: &str, bucket: &str, name: &str) -> Result<Vec<u8>, String> {
    let path = format!("/v1/objects/{bucket}/{name}?provider=ais");
    let answer = object_request(addr, "GET", &path, b"")?;
    match answer.status {
        200 => Ok(answer.body),
        code => Err(format!(
            "GET {bucket}/{name}: HTTP {code}: {}",
            String::from_utf8_lossy(&answer.body)
        )),
    }
}

/// Content of `len` bytes that differs per object and per run (xorshift from `seed`).
pub fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Creates `bucket` and writes `count` objects of `len` bytes of random content into it.
pub fn write_objects(
    addr: &str,
    bucket: &str,
    count: usize,
    len: usize,
) -> Result<Written, String> {
    // A retry after a failed PUT finds the bucket made: AIS answers 409, which is fine here.
    match create_bucket(addr, bucket) {
        Err(err) if !err.contains("HTTP 409") => return Err(err),
        _ => {}
    }
    let seed = u64::from(crate::rand_u32()) << 20;
    let mut written = Written {
        bucket: bucket.to_string(),
        objects: BTreeMap::new(),
    };
    for i in 0..count {
        let name = format!("obj-{i:04}");
        let bytes = content(seed + i as u64, len);
        put(addr, bucket, &name, &bytes)?;
        written.objects.insert(name, Sha256::digest(&bytes).into());
    }
    crate::report::note(|c| c.written += written.objects.len());
    Ok(written)
}

/// Reads every object of `written` back through the proxy at `addr` and compares checksums.
/// Call it once per check: its failures count as lost objects in the suite's summary.
pub fn verify(addr: &str, written: &Written) -> Verified {
    let mut out = Verified::default();
    for (name, want) in &written.objects {
        match get(addr, &written.bucket, name) {
            Ok(bytes) if <[u8; 32]>::from(Sha256::digest(&bytes)) == *want => out.intact += 1,
            Ok(bytes) => out.failures.push(format!(
                "{}/{name}: {} bytes with another checksum",
                written.bucket,
                bytes.len()
            )),
            Err(err) => out.failures.push(err),
        }
    }
    crate::report::note(|c| {
        c.verified += out.intact;
        c.lost += out.failures.len();
    });
    out
}

/// Reads `written` back through the proxy at `addr` and fails the test, naming `when` and
/// every object that is missing or different, unless all are intact.
pub fn assert_intact(addr: &str, written: &Written, when: &str) {
    let found = verify(addr, written);
    assert!(
        found.failures.is_empty() && found.intact == written.objects.len(),
        "{when}: {} of {} objects intact: {:#?}",
        found.intact,
        written.objects.len(),
        found.failures
    );
    println!(
        "{when}: {} of {} objects read back intact",
        found.intact,
        written.objects.len()
    );
}

/// Reads and checks failed or succeeded by a [`Reader`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadCount {
    /// Reads that returned the written content.
    pub ok: usize,
    /// Reads that failed or returned other content.
    pub failed: usize,
}

/// A reader that keeps reading a written set, one object after another, while an operation
/// runs: how available the data stayed.
#[derive(Debug)]
pub struct Reader {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<ReadCount>>,
}

impl Reader {
    /// Starts reading `written` through the proxy at `addr`, about ten reads a second.
    pub fn start(addr: &str, written: &Written) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, addr, written) = (stop.clone(), addr.to_string(), written.clone());
        let handle = std::thread::spawn(move || {
            let mut count = ReadCount::default();
            for (name, want) in written.objects.iter().cycle() {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                match get(&addr, &written.bucket, name) {
                    Ok(bytes) if <[u8; 32]>::from(Sha256::digest(&bytes)) == *want => {
                        count.ok += 1;
                    }
                    _ => count.failed += 1,
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            count
        });
        Self {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops reading; what the reads found.
    pub fn stop(mut self) -> ReadCount {
        self.stop.store(true, Ordering::Relaxed);
        let count = self
            .handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        crate::report::note(|c| {
            c.reads += count.ok;
            c.failed_reads += count.failed;
        });
        count
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_differs_by_seed_and_is_reproducible() {
        assert_eq!(content(7, 64), content(7, 64));
        assert_ne!(content(7, 64), content(8, 64));
        assert_eq!(content(7, 1000).len(), 1000);
    }
}

//! Whether the AIStore a reconcile was handed already holds this controller's last write to it,
//! so that the reconcile can skip reading it again.
//!
//! The controller's watch cache may lag behind a status or annotation this controller wrote a
//! moment ago, and the plan decides on those; a reconcile used to read the AIStore fresh every
//! time for that reason. Each write's response carries the object's new `resourceVersion`: a
//! handed-in object with exactly that version holds the write, and anything else (older, or
//! newer because someone else wrote since) is read fresh. Without a write since the process
//! started there is nothing the cache could lag behind.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use ais_crd::AIStore;
use kube::ResourceExt;

/// `namespace/name` → the `resourceVersion` this controller's last write returned.
#[derive(Clone, Debug, Default)]
pub struct LastWrites(Arc<Mutex<HashMap<String, String>>>);

fn key(ais: &AIStore) -> String {
    format!("{}/{}", ais.namespace().unwrap_or_default(), ais.name_any())
}

impl LastWrites {
    /// Records the object a write of ours returned (or a fresh read).
    pub fn record(&self, written: &AIStore) {
        if let Some(version) = written.resource_version() {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key(written), version);
        }
    }

    /// Whether `handed` holds our last write (or we wrote none).
    pub fn holds_last_write(&self, handed: &AIStore) -> bool {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(&key(handed))
            .is_none_or(|version| handed.resource_version().as_ref() == Some(version))
    }

    /// Forgets a deleted AIStore.
    pub fn forget(&self, ais: &AIStore) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key(ais));
    }
}

#[cfg(test)]
mod tests {
    use kube::api::ObjectMeta;

    use super::*;

    fn ais(version: &str) -> AIStore {
        let mut ais = AIStore::new("c", ais_crd::AIStoreSpec::default());
        ais.metadata = ObjectMeta {
            name: Some("c".into()),
            namespace: Some("ns".into()),
            resource_version: Some(version.into()),
            ..ObjectMeta::default()
        };
        ais
    }

    #[test]
    fn only_the_version_our_write_returned_skips_the_read() {
        let writes = LastWrites::default();
        assert!(writes.holds_last_write(&ais("7")), "no write yet");
        writes.record(&ais("9"));
        assert!(!writes.holds_last_write(&ais("7")), "older than our write");
        assert!(writes.holds_last_write(&ais("9")));
        assert!(
            !writes.holds_last_write(&ais("12")),
            "someone wrote after us: read it fresh"
        );
        writes.forget(&ais("9"));
        assert!(writes.holds_last_write(&ais("7")));
    }
}

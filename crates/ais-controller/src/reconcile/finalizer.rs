//! The finalizer `finalize.ais` (the reference operator's, so clusters it created are adopted
//! as they are). JSON patches that first `test` the resource version they were made from, so a
//! concurrent change of the finalizers fails the patch instead of being overwritten.

use ais_crd::AIStore;
use kube::api::{Api, Patch};
use kube::{Client, ResourceExt};
use serde_json::json;

use super::{Error, FINALIZER};

/// Whether the AIStore carries our finalizer.
pub fn has(ais: &AIStore) -> bool {
    ais.finalizers().iter().any(|f| f == FINALIZER)
}

fn api(client: &Client, ais: &AIStore) -> Result<Api<AIStore>, Error> {
    let ns = ais.namespace().ok_or(Error::NoNamespace)?;
    Ok(Api::namespaced(client.clone(), &ns))
}

/// The JSON patch that adds the finalizer to `current` (read at `resource_version`).
pub fn add_patch(current: &[String], resource_version: &str) -> serde_json::Value {
    let test =
        json!({"op": "test", "path": "/metadata/resourceVersion", "value": resource_version});
    if current.is_empty() {
        json!([test, {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}])
    } else {
        json!([test, {"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER}])
    }
}

/// The JSON patch that removes the finalizer from `current`, if it is there.
pub fn remove_patch(current: &[String]) -> Option<serde_json::Value> {
    let index = current.iter().position(|f| f == FINALIZER)?;
    Some(json!([
        {"op": "test", "path": format!("/metadata/finalizers/{index}"), "value": FINALIZER},
        {"op": "remove", "path": format!("/metadata/finalizers/{index}")}
    ]))
}

/// Adds the finalizer; `true` when it wrote (the change wakes the next reconcile).
pub async fn add(ctx: &super::Context, ais: &AIStore) -> Result<bool, Error> {
    if has(ais) {
        return Ok(false);
    }
    let patch: json_patch::Patch = serde_json::from_value(add_patch(
        ais.finalizers(),
        ais.metadata.resource_version.as_deref().unwrap_or_default(),
    ))
    .map_err(|source| Error::Serialize {
        kind: "finalizer patch".into(),
        source,
    })?;
    let written = api(&ctx.client, ais)?
        .patch(
            &ais.name_any(),
            &super::apply::update_params(),
            &Patch::Json::<()>(patch),
        )
        .await
        .map_err(|source| Error::Kube {
            action: format!(
                "adding the finalizer {FINALIZER} to AIStore {}",
                ais.name_any()
            ),
            source,
        })?;
    ctx.last_writes.record(&written);
    Ok(true)
}

/// Removes the finalizer; the API server then deletes the AIStore.
pub async fn remove(client: &Client, ais: &AIStore) -> Result<(), Error> {
    let Some(patch) = remove_patch(ais.finalizers()) else {
        return Ok(());
    };
    let patch: json_patch::Patch =
        serde_json::from_value(patch).map_err(|source| Error::Serialize {
            kind: "finalizer patch".into(),
            source,
        })?;
    match api(client, ais)?
        .patch(
            &ais.name_any(),
            &super::apply::update_params(),
            &Patch::Json::<()>(patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(source) => Err(Error::Kube {
            action: format!(
                "removing the finalizer {FINALIZER} from AIStore {}",
                ais.name_any()
            ),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn patches_test_the_list_they_change() {
        assert_eq!(
            add_patch(&[], "42"),
            json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": "42"},
                {"op": "add", "path": "/metadata/finalizers", "value": ["finalize.ais"]}
            ])
        );
        let other = vec!["other".to_string()];
        assert_eq!(add_patch(&other, "42")[1]["path"], "/metadata/finalizers/-");
        let both = vec!["other".to_string(), FINALIZER.to_string()];
        assert_eq!(
            remove_patch(&both).unwrap()[1],
            json!({"op": "remove", "path": "/metadata/finalizers/1"})
        );
        assert!(remove_patch(&other).is_none());
    }
}

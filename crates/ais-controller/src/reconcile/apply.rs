//! Server-side apply of the built objects, skipped when the live object already holds every
//! value we would write (so a converged cluster costs reads, not writes).

use std::fmt::Debug;

use kube::api::{Api, Patch, PatchParams};
use kube::core::{ApiResource, DynamicObject};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::cache::Cached;
use super::{Context, Error};
use crate::metrics::Metrics;

/// Field manager of every write, as the reference operator's.
pub const FIELD_MANAGER: &str = "ais-operator";

/// Parameters of the operator's patches that are not server-side applies (status, annotations,
/// finalizer): under its field manager too, so that the AIStore's `managedFields` record when
/// this operator last wrote it, and a later write of the reference operator stands out
/// (`migrate::written_after_us`).
pub fn update_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    }
}

/// Whether `live` already contains everything in `desired`: objects by key, arrays element by
/// element (same length), scalars equal. Fields the API server adds are ignored.
pub fn contains(live: &Value, desired: &Value) -> bool {
    match (live, desired) {
        (Value::Object(l), Value::Object(d)) => d.iter().all(|(k, dv)| match l.get(k) {
            Some(lv) => contains(lv, dv),
            None => {
                dv.is_null()
                    || dv.as_object().is_some_and(serde_json::Map::is_empty)
                    || dv.as_array().is_some_and(Vec::is_empty)
            }
        }),
        (Value::Array(l), Value::Array(d)) => {
            l.len() == d.len() && l.iter().zip(d).all(|(lv, dv)| contains(lv, dv))
        }
        (Value::Number(l), Value::Number(d)) => l.as_f64() == d.as_f64(),
        _ => live == desired,
    }
}

/// Reads the live object of a namespaced kind, if it exists.
pub async fn get<K>(client: &Client, namespace: &str, name: &str) -> Result<Option<K>, Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    api.get_opt(name).await.map_err(|source| Error::Kube {
        action: format!("reading {} {namespace}/{name}", K::kind(&())),
        source,
    })
}

/// The live object, from the watch cache when it holds it ([`super::cache`]), else read.
pub async fn read<K>(ctx: &Context, namespace: &str, name: &str) -> Result<Option<K>, Error>
where
    K: Cached
        + Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Debug
        + DeserializeOwned,
{
    match ctx.cache.get::<K>(namespace, name) {
        Some(cached) => Ok(Some(cached)),
        None => get::<K>(&ctx.client, namespace, name).await,
    }
}

/// Applies a namespaced object of a typed kind unless the live one already matches.
/// Returns the live object.
pub async fn apply<K>(ctx: &Context, namespace: &str, obj: &K) -> Result<K, Error>
where
    K: Cached
        + Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Debug
        + Serialize
        + DeserializeOwned,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    let live = read::<K>(ctx, namespace, &name).await?;
    apply_over(&ctx.client, &ctx.metrics, namespace, obj, live).await
}

/// Like [`apply`], with the live object already read by the caller.
pub async fn apply_over<K>(
    client: &Client,
    metrics: &Metrics,
    namespace: &str,
    obj: &K,
    live: Option<K>,
) -> Result<K, Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    let kind = K::kind(&()).into_owned();
    let serialize = |source| Error::Serialize {
        kind: kind.clone(),
        source,
    };
    let desired = serde_json::to_value(obj).map_err(serialize)?;
    if let Some(live) = live
        && contains(&serde_json::to_value(&live).map_err(serialize)?, &desired)
    {
        return Ok(live);
    }
    metrics.writes.with_label_values(&[kind.as_str()]).inc();
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&desired),
    )
    .await
    .map_err(|source| Error::Kube {
        action: format!("applying {kind} {namespace}/{name}"),
        source,
    })
}

/// Applies a dynamic object (e.g. a cert-manager Certificate). `Ok(None)` when the API is not
/// served (cert-manager not installed).
pub async fn apply_dynamic(
    client: &Client,
    metrics: &Metrics,
    resource: &ApiResource,
    namespace: &str,
    obj: &DynamicObject,
) -> Result<Option<DynamicObject>, Error> {
    let name = obj.metadata.name.clone().unwrap_or_default();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, resource);
    let desired = serde_json::to_value(obj).map_err(|source| Error::Serialize {
        kind: resource.kind.clone(),
        source,
    })?;
    match api.get_opt(&name).await {
        Ok(Some(live)) => {
            let live_json = serde_json::to_value(&live).map_err(|source| Error::Serialize {
                kind: resource.kind.clone(),
                source,
            })?;
            if contains(&live_json, &desired) {
                return Ok(Some(live));
            }
        }
        Ok(None) => {}
        Err(kube::Error::Api(resp)) if resp.code == 404 => return Ok(None),
        Err(source) => {
            return Err(Error::Kube {
                action: format!("reading {} {namespace}/{name}", resource.kind),
                source,
            });
        }
    }
    metrics
        .writes
        .with_label_values(&[resource.kind.as_str()])
        .inc();
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&desired),
    )
    .await
    .map(Some)
    .map_err(|source| Error::Kube {
        action: format!("applying {} {namespace}/{name}", resource.kind),
        source,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::contains;

    #[test]
    fn subset_semantics() {
        let live = json!({"a": 1, "b": {"c": [1, {"d": 2, "e": 3}], "x": "y"}, "extra": true});
        assert!(contains(&live, &json!({"a": 1, "b": {"c": [1, {"d": 2}]}})));
        assert!(contains(&live, &json!({"a": 1.0})));
        assert!(!contains(&live, &json!({"a": 2})));
        assert!(
            !contains(&live, &json!({"b": {"c": [1]}})),
            "array length differs"
        );
        assert!(!contains(&live, &json!({"missing": "x"})));
        assert!(
            contains(&live, &json!({"missing": {}})),
            "empty objects are not written by the server"
        );
    }
}

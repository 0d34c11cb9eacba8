//! Reading what runs: the two StatefulSets, the cluster's pods and the ingress addresses of its
//! LoadBalancer Services, before anything is built (the builders need the addresses for the
//! certificate SANs, and the live target count for the LoadBalancers of leaving targets).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::Client;
use kube::api::{Api, ListParams};

use super::pod_cache::CachedPod;
use super::{Context, Error, apply};
use crate::build::labels;
use crate::build::names::{self, Role};
use crate::lifecycle::views::{PodView, StsView, pods_of};

/// The StatefulSets and pods of one cluster.
#[derive(Clone, Debug, Default)]
pub struct Live {
    /// The proxy StatefulSet.
    pub proxy: Option<StatefulSet>,
    /// The target StatefulSet.
    pub target: Option<StatefulSet>,
    /// Proxy pods, by ordinal.
    pub proxy_pods: Vec<PodView>,
    /// Target pods, by ordinal.
    pub target_pods: Vec<PodView>,
    /// Ingress addresses (IP, else host name) of the cluster's LoadBalancer Services, by
    /// Service name; a Service without an address yet maps to an empty list. Read only when a
    /// role has external access.
    pub lb_ingress: BTreeMap<String, Vec<String>>,
}

impl Live {
    /// Reads both StatefulSets (from the watch cache when it holds our last write), the pods
    /// labelled with the cluster's name (from the pod cache when it stands for a LIST) and, with `external_access`, the LoadBalancer Services.
    pub async fn read(
        ctx: &Context,
        ns: &str,
        cluster: &str,
        external_access: bool,
    ) -> Result<Self, Error> {
        let client = &ctx.client;
        let proxy_name = names::role_object(cluster, Role::Proxy);
        let target_name = names::role_object(cluster, Role::Target);
        let proxy = apply::read::<StatefulSet>(ctx, ns, &proxy_name).await?;
        let target = apply::read::<StatefulSet>(ctx, ns, &target_name).await?;
        let sets = [proxy.as_ref(), target.as_ref()];
        let selector = selector_labels(cluster, sets);
        let pods = match ctx.cache.pods(ns, cluster, &selector, sets) {
            Some(pods) => pods,
            None => {
                // Listed as the pod cache holds pods: the specs are skipped while parsed.
                let pods: Api<CachedPod> = Api::namespaced(client.clone(), ns);
                let list = pods
                    .list(&ListParams::default().labels(&format_selector(&selector)))
                    .await
                    .map_err(|source| Error::Kube {
                        action: format!("listing the pods of {ns}/{cluster}"),
                        source,
                    })?;
                let pods: Vec<Pod> = list
                    .items
                    .into_iter()
                    .map(|mut p| {
                        p.trim();
                        p.into_pod()
                    })
                    .collect();
                ctx.cache.listed(ns, cluster, sets, &pods);
                pods
            }
        };
        let lb_ingress = if external_access {
            load_balancers(client, ns, cluster).await?
        } else {
            BTreeMap::new()
        };
        Ok(Self {
            proxy_pods: pods_of(&pods, &proxy_name),
            target_pods: pods_of(&pods, &target_name),
            proxy,
            target,
            lb_ingress,
        })
    }

    /// Ingress addresses of the LoadBalancer Services named `names`, flattened.
    pub fn ingress_of<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        names
            .into_iter()
            .filter_map(|n| self.lb_ingress.get(n))
            .flatten()
            .cloned()
            .collect()
    }

    /// The view of a role's StatefulSet.
    pub fn view(&self, role: Role) -> Option<StsView> {
        match role {
            Role::Proxy => self.proxy.as_ref(),
            Role::Target => self.target.as_ref(),
        }
        .map(StsView::of)
    }

    /// A role's pods.
    pub fn pods(&self, role: Role) -> &[PodView] {
        match role {
            Role::Proxy => &self.proxy_pods,
            Role::Target => &self.target_pods,
        }
    }

    /// A role's StatefulSet.
    pub fn sts(&self, role: Role) -> Option<&StatefulSet> {
        match role {
            Role::Proxy => self.proxy.as_ref(),
            Role::Target => self.target.as_ref(),
        }
    }
}

/// The labels that select the pods of both StatefulSets in one request: the labels
/// their own selectors share (a StatefulSet's pods carry its selector's labels whoever made
/// it: pods of the reference operator before v3.3 lack `app.kubernetes.io/managed-by`, and
/// before v3.0 the selector was `app` and `component`). The pods are then told apart by name.
/// Without a StatefulSet, the cluster's name label.
pub fn selector_labels<'a>(
    cluster: &str,
    sets: impl IntoIterator<Item = Option<&'a StatefulSet>>,
) -> BTreeMap<String, String> {
    let mut shared: Option<BTreeMap<String, String>> = None;
    for labels in sets
        .into_iter()
        .flatten()
        .filter_map(|s| s.spec.as_ref()?.selector.match_labels.clone())
    {
        shared = Some(match shared {
            None => labels,
            Some(mut common) => {
                common.retain(|k, v| labels.get(k) == Some(v));
                common
            }
        });
    }
    shared
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| BTreeMap::from([(labels::NAME.to_string(), cluster.to_string())]))
}

/// A label selector in the API's query syntax (`k=v,k2=v2`).
pub fn format_selector(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The cluster's LoadBalancer Services (one list, by the cluster's name label) and their
/// ingress addresses.
async fn load_balancers(
    client: &Client,
    ns: &str,
    cluster: &str,
) -> Result<BTreeMap<String, Vec<String>>, Error> {
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    let selector = format!("{}={cluster}", labels::NAME);
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| Error::Kube {
            action: format!("listing the Services of {ns}/{cluster}"),
            source,
        })?;
    Ok(list
        .items
        .iter()
        .filter(|s| s.spec.as_ref().and_then(|sp| sp.type_.as_deref()) == Some("LoadBalancer"))
        .map(|s| (s.metadata.name.clone().unwrap_or_default(), ingress(s)))
        .collect())
}

/// A Service's LoadBalancer ingress addresses: each entry's IP, else its host name.
pub fn ingress(svc: &Service) -> Vec<String> {
    svc.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.clone().or_else(|| i.hostname.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use k8s_openapi::api::apps::v1::StatefulSetSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    use super::*;

    fn sts(labels: &[(&str, &str)]) -> StatefulSet {
        StatefulSet {
            spec: Some(StatefulSetSpec {
                selector: LabelSelector {
                    match_labels: Some(
                        labels
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect(),
                    ),
                    match_expressions: None,
                },
                ..StatefulSetSpec::default()
            }),
            ..StatefulSet::default()
        }
    }

    #[test]
    fn pods_are_listed_by_what_the_statefulset_selectors_share() {
        let name = "app.kubernetes.io/name";
        let component = "app.kubernetes.io/component";
        let proxy = sts(&[(name, "mig3"), (component, "proxy")]);
        let target = sts(&[(name, "mig3"), (component, "target")]);
        assert_eq!(
            format_selector(&selector_labels("mig3", [Some(&proxy), Some(&target)])),
            "app.kubernetes.io/name=mig3",
            "never managed-by: the reference's pods before v3.3 lack it"
        );
        let old_proxy = sts(&[("app", "mig3"), ("component", "proxy")]);
        let old_target = sts(&[("app", "mig3"), ("component", "target")]);
        assert_eq!(
            format_selector(&selector_labels(
                "mig3",
                [Some(&old_proxy), Some(&old_target)]
            )),
            "app=mig3"
        );
        assert_eq!(
            format_selector(&selector_labels("mig3", [None, Some(&target)])),
            "app.kubernetes.io/component=target,app.kubernetes.io/name=mig3"
        );
        assert_eq!(
            format_selector(&selector_labels("mig3", [None, None])),
            "app.kubernetes.io/name=mig3"
        );
        assert_eq!(
            format_selector(&selector_labels("mig3", [Some(&proxy), Some(&old_target)])),
            "app.kubernetes.io/name=mig3",
            "nothing shared: the name label"
        );
    }
}

//! Reading what runs: the two StatefulSets and the cluster's pods.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, ListParams};

use super::{Error, apply};
use crate::build::labels;
use crate::build::names::{self, Role};
use crate::lifecycle::observe::{PodView, StsView, pods_of};

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
}

impl Live {
    /// Reads both StatefulSets and the pods labelled with the cluster's name.
    pub async fn read(client: &Client, ns: &str, cluster: &str) -> Result<Self, Error> {
        let proxy_name = names::role_object(cluster, Role::Proxy);
        let target_name = names::role_object(cluster, Role::Target);
        let proxy = apply::get::<StatefulSet>(client, ns, &proxy_name).await?;
        let target = apply::get::<StatefulSet>(client, ns, &target_name).await?;
        let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
        let selector = format!(
            "{}={cluster},{}={}",
            labels::NAME,
            labels::MANAGED_BY,
            labels::MANAGED_BY_VALUE
        );
        let list = pods
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|source| Error::Kube {
                action: format!("listing the pods of {ns}/{cluster}"),
                source,
            })?;
        Ok(Self {
            proxy_pods: pods_of(&list.items, &proxy_name),
            target_pods: pods_of(&list.items, &target_name),
            proxy,
            target,
        })
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

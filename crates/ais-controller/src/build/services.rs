//! Services (anchor §2.3, §2.12): the headless Service of each role and the LoadBalancer
//! Services of external access.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::names::{self, Role};
use super::{Cluster, labels};

/// Annotation that lets Prometheus scrape AIS metrics.
pub const PROMETHEUS_SCRAPE: &str = "prometheus.io/scrape";

fn scrape_annotations() -> BTreeMap<String, String> {
    BTreeMap::from([(PROMETHEUS_SCRAPE.to_string(), "true".to_string())])
}

fn tcp_port(name: &str, port: i32, target: Option<i32>) -> ServicePort {
    ServicePort {
        name: Some(name.to_string()),
        port,
        protocol: Some("TCP".to_string()),
        target_port: target.map(IntOrString::Int),
        ..ServicePort::default()
    }
}

/// Headless Service `<name>-<role>`: `clusterIP: None`, publishes not-ready addresses, ports
/// `pub` (service port), `control` and `data`, each targeting the same port number.
pub fn headless(cluster: &Cluster<'_>, role: Role) -> Service {
    let ports = cluster.ports(role);
    let mut metadata = cluster.meta(
        cluster.role_object(role),
        labels::object(&cluster.name, &labels::headless_component(role.as_str())),
    );
    metadata.annotations = Some(scrape_annotations());
    Service {
        metadata,
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_string()),
            publish_not_ready_addresses: Some(true),
            selector: Some(cluster.selector(role)),
            ports: Some(vec![
                tcp_port("pub", ports.service, Some(ports.service)),
                tcp_port("control", ports.intra_control, Some(ports.intra_control)),
                tcp_port("data", ports.intra_data, Some(ports.intra_data)),
            ]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn lb(
    cluster: &Cluster<'_>,
    role: Role,
    name: String,
    selector: BTreeMap<String, String>,
) -> Service {
    let ports = cluster.ports(role);
    let mut annotations = scrape_annotations();
    if let Some(user) = cluster
        .daemon(role)
        .external_access
        .as_ref()
        .and_then(|e| e.annotations.as_ref())
    {
        annotations.extend(user.clone());
    }
    let mut metadata = cluster.meta(
        name,
        labels::object(&cluster.name, &labels::lb_component(role.as_str())),
    );
    metadata.annotations = Some(annotations);
    Service {
        metadata,
        spec: Some(ServiceSpec {
            type_: Some("LoadBalancer".to_string()),
            selector: Some(selector),
            ports: Some(vec![tcp_port("pub", ports.service, Some(ports.public))]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// LoadBalancer `<name>-proxy-lb` in front of all proxies, when proxies have external access.
pub fn proxy_lb(cluster: &Cluster<'_>) -> Option<Service> {
    cluster.external_access(Role::Proxy).then(|| {
        lb(
            cluster,
            Role::Proxy,
            names::proxy_lb_service(&cluster.name),
            cluster.selector(Role::Proxy),
        )
    })
}

/// LoadBalancer `<name>-target-<i>` for one target ordinal (selects that pod only).
pub fn target_lb(cluster: &Cluster<'_>, ordinal: i32) -> Service {
    let pod = names::pod(&cluster.name, Role::Target, ordinal);
    let mut selector = cluster.selector(Role::Target);
    selector.insert(labels::POD_NAME.to_string(), pod.clone());
    lb(cluster, Role::Target, pod, selector)
}

/// One LoadBalancer per target ordinal, desired or still running, when targets have external
/// access.
pub fn target_lbs(cluster: &Cluster<'_>) -> Vec<Service> {
    if !cluster.external_access(Role::Target) {
        return Vec::new();
    }
    (0..cluster
        .target_replicas
        .max(cluster.facts.live_target_replicas))
        .map(|i| target_lb(cluster, i))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::super::testing::{aistore, facts};
    use super::*;

    fn port_triples(svc: &Service) -> Vec<(String, i32, Option<IntOrString>)> {
        svc.spec
            .as_ref()
            .unwrap()
            .ports
            .as_ref()
            .unwrap()
            .iter()
            .map(|p| (p.name.clone().unwrap(), p.port, p.target_port.clone()))
            .collect()
    }

    #[test]
    fn headless_services() {
        let ais = aistore();
        let f = facts();
        let c = Cluster::new(&ais, &f).unwrap();
        let svc = headless(&c, Role::Target);
        assert_eq!(svc.metadata.name.as_deref(), Some("ais-target"));
        let l = svc.metadata.labels.as_ref().unwrap();
        assert_eq!(l["app.kubernetes.io/component"], "target-svc");
        assert_eq!(l["app"], "ais");
        assert_eq!(
            svc.metadata.annotations.as_ref().unwrap()["prometheus.io/scrape"],
            "true"
        );
        let spec = svc.spec.as_ref().unwrap();
        assert_eq!(spec.cluster_ip.as_deref(), Some("None"));
        assert_eq!(spec.publish_not_ready_addresses, Some(true));
        assert_eq!(spec.selector.as_ref().unwrap(), &c.selector(Role::Target));
        assert_eq!(
            port_triples(&svc),
            [
                ("pub".into(), 51081, Some(IntOrString::Int(51081))),
                ("control".into(), 51082, Some(IntOrString::Int(51082))),
                ("data".into(), 51083, Some(IntOrString::Int(51083))),
            ]
        );
    }

    #[test]
    fn no_lb_services_without_external_access() {
        let ais = aistore();
        let f = facts();
        let c = Cluster::new(&ais, &f).unwrap();
        assert!(proxy_lb(&c).is_none());
        assert!(target_lbs(&c).is_empty());
    }

    #[test]
    fn lb_services_with_external_access() {
        let mut ais = aistore();
        ais.spec.size = Some(3);
        ais.spec.proxy_spec.external_access = Some(ais_crd::daemon::ExternalAccessSpec {
            annotations: Some(BTreeMap::from([(
                "service.beta.kubernetes.io/aws-load-balancer-internal".into(),
                "true".into(),
            )])),
        });
        ais.spec.enable_external_lb = Some(true);
        let f = facts();
        let c = Cluster::new(&ais, &f).unwrap();
        let p = proxy_lb(&c).unwrap();
        assert_eq!(p.metadata.name.as_deref(), Some("ais-proxy-lb"));
        assert_eq!(
            p.metadata.labels.as_ref().unwrap()["app.kubernetes.io/component"],
            "proxy-lb"
        );
        let ann = p.metadata.annotations.as_ref().unwrap();
        assert_eq!(ann.len(), 2);
        assert_eq!(
            p.spec.as_ref().unwrap().type_.as_deref(),
            Some("LoadBalancer")
        );
        assert_eq!(
            port_triples(&p),
            [("pub".into(), 51080, Some(IntOrString::Int(51080)))]
        );
        let t = target_lbs(&c);
        assert_eq!(t.len(), 3);
        assert_eq!(t[2].metadata.name.as_deref(), Some("ais-target-2"));
        let sel = t[2].spec.as_ref().unwrap().selector.as_ref().unwrap();
        assert_eq!(sel["statefulset.kubernetes.io/pod-name"], "ais-target-2");
        assert_eq!(sel["app.kubernetes.io/component"], "target");
        assert_eq!(
            t[0].metadata.labels.as_ref().unwrap()["app.kubernetes.io/component"],
            "target-lb"
        );
    }
}

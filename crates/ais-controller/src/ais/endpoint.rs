//! Which URL the operator calls a cluster's AIS API on (pure).
//!
//! As the reference operator: the proxy LoadBalancer when proxies have external access, a
//! ready proxy's host IP with `apiMode: public`, otherwise the headless proxy Service. New:
//! `--ais-endpoint=pod-ip` for an operator that runs outside the cluster (development, the
//! local e2e cluster), which calls a ready proxy pod's IP directly.

use crate::build::ApiAccess;
use crate::lifecycle::PodView;

/// How an operator outside the AIS pods' network finds the proxies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum EndpointMode {
    /// The proxy Service's cluster DNS name (in-cluster operators).
    #[default]
    Service,
    /// The pod IP of a ready proxy (operators outside the cluster DNS).
    PodIp,
}

/// Why no endpoint can be chosen yet.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// No proxy pod is ready (public and pod-IP modes need one).
    #[error("no proxy pod is ready yet, so there is no {0} to call AIS on")]
    NoReadyProxy(&'static str),
    /// The proxy LoadBalancer has no ingress address yet.
    #[error("the proxy LoadBalancer Service has no ingress address yet")]
    NoIngress,
}

/// The base URL of the AIS API. `proxies` are the proxy pods; `lb_ingress` the first ingress
/// IP or host name of `<name>-proxy-lb`.
pub fn endpoint(
    api: &ApiAccess,
    mode: EndpointMode,
    proxies: &[PodView],
    lb_ingress: Option<&str>,
) -> Result<String, EndpointError> {
    let scheme = api.scheme();
    let ready = || proxies.iter().filter(|p| p.ready && !p.terminating);
    if api.public_mode {
        let host = ready()
            .find_map(|p| p.host_ip.clone())
            .ok_or(EndpointError::NoReadyProxy("host IP"))?;
        return Ok(format!(
            "{scheme}://{}:{}",
            host_port(&host),
            api.public_port
        ));
    }
    if api.via_load_balancer {
        let host = lb_ingress.ok_or(EndpointError::NoIngress)?;
        return Ok(format!(
            "{scheme}://{}:{}",
            host_port(host),
            api.service_port
        ));
    }
    match mode {
        EndpointMode::Service => Ok(format!(
            "{scheme}://{}:{}",
            api.service_host, api.service_port
        )),
        EndpointMode::PodIp => {
            let ip = ready()
                .find_map(|p| p.pod_ip.clone())
                .ok_or(EndpointError::NoReadyProxy("pod IP"))?;
            Ok(format!("{scheme}://{}:{}", host_port(&ip), api.public_port))
        }
    }
}

/// IPv6 literals go in brackets.
fn host_port(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::lifecycle::testing::pod;

    fn api() -> ApiAccess {
        ApiAccess {
            https: false,
            service_host: "ais-proxy.ns.svc.cluster.local".into(),
            service_port: 51080,
            public_port: 51081,
            ..ApiAccess::default()
        }
    }

    #[test]
    fn service_by_default() {
        assert_eq!(
            endpoint(&api(), EndpointMode::Service, &[], None).unwrap(),
            "http://ais-proxy.ns.svc.cluster.local:51080"
        );
    }

    #[test]
    fn pod_ip_picks_a_ready_proxy() {
        let mut p0 = pod("ais-proxy", 0, "a");
        p0.ready = false;
        let p1 = pod("ais-proxy", 1, "a");
        assert_eq!(
            endpoint(&api(), EndpointMode::PodIp, &[p0.clone(), p1], None).unwrap(),
            "http://10.0.0.11:51081"
        );
        assert_eq!(
            endpoint(&api(), EndpointMode::PodIp, &[p0], None),
            Err(EndpointError::NoReadyProxy("pod IP"))
        );
    }

    #[test]
    fn public_mode_uses_the_host_ip_and_https() {
        let a = ApiAccess {
            public_mode: true,
            https: true,
            ..api()
        };
        let mut p = pod("ais-proxy", 0, "a");
        p.host_ip = Some("fd00::1".into());
        assert_eq!(
            endpoint(&a, EndpointMode::Service, &[p], None).unwrap(),
            "https://[fd00::1]:51081"
        );
    }

    #[test]
    fn load_balancer_waits_for_ingress() {
        let a = ApiAccess {
            via_load_balancer: true,
            ..api()
        };
        assert_eq!(
            endpoint(&a, EndpointMode::PodIp, &[], None),
            Err(EndpointError::NoIngress)
        );
        assert_eq!(
            endpoint(&a, EndpointMode::PodIp, &[], Some("10.1.2.3")).unwrap(),
            "http://10.1.2.3:51080"
        );
    }
}

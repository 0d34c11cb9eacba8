//! TLS of the AIS nodes (anchor §2.13): the cert-manager Certificate of `mode: secret`, the
//! `tls-certs` volume (an existing Secret, the Certificate's Secret, or a csi-driver volume)
//! and the subject alternative names. Durations are written as Go prints them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ais_crd::PublicNetDnsMode;
use ais_crd::tls::{CertificateMode, CertificateSpec, IssuerKind};
use k8s_openapi::api::core::v1::{CSIVolumeSource, SecretVolumeSource, Volume};
use kube::core::{DynamicObject, TypeMeta};
use serde_json::json;

use super::duration::normalize;
use super::names::{self, Role, paths};
use super::{BuildError, Cluster, labels};

/// API version of cert-manager Certificates.
pub const CERT_MANAGER_API_VERSION: &str = "cert-manager.io/v1";
/// API group of cert-manager issuers.
pub const CERT_MANAGER_GROUP: &str = "cert-manager.io";
/// The cert-manager csi-driver.
pub const CSI_DRIVER: &str = "csi.cert-manager.io";
/// Component label of the Certificate.
pub const COMPONENT: &str = "tls";
/// Key usages of the node certificate.
pub const USAGES: [&str; 4] = [
    "digital signature",
    "key encipherment",
    "server auth",
    "client auth",
];
/// Mode bits of Secret and ConfigMap volumes (0644).
pub const DEFAULT_MODE: i32 = 0o644;

fn issuer_kind(cert: &CertificateSpec) -> &'static str {
    match cert.issuer_ref.kind.unwrap_or_default() {
        IssuerKind::Issuer => "Issuer",
        IssuerKind::ClusterIssuer => "ClusterIssuer",
    }
}

/// The spec's certificate request, if any, and its mode.
fn certificate_spec<'c>(
    cluster: &'c Cluster<'_>,
) -> Option<(&'c CertificateSpec, CertificateMode)> {
    let cert = cluster.spec.tls.as_ref()?.certificate.as_ref()?;
    Some((cert, cert.mode.unwrap_or_default()))
}

/// Subject alternative names, split as cert-manager wants them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sans {
    /// DNS names, sorted and deduplicated.
    pub dns: BTreeSet<String>,
    /// IP addresses, sorted and deduplicated.
    pub ips: BTreeSet<String>,
}

impl Sans {
    /// Adds a host: an IP address goes to `ips`, anything else to `dns`; empty is skipped.
    fn add_host(&mut self, host: &str) {
        let host = host.trim();
        if host.is_empty() {
            return;
        }
        if host.parse::<IpAddr>().is_ok() {
            self.ips.insert(host.to_string());
        } else {
            self.dns.insert(host.to_string());
        }
    }
}

/// The SANs of the cluster: the role Services (short, namespaced and fully qualified),
/// wildcards for pod names, hostname-map hosts, `public_hosts`, and `additionalDNSNames`
/// (always DNS names).
pub fn sans(cluster: &Cluster<'_>, public_hosts: &[String]) -> Sans {
    let mut out = Sans::default();
    for role in [Role::Proxy, Role::Target] {
        let svc = cluster.role_object(role);
        out.dns.insert(format!("{svc}.{}", cluster.namespace));
        out.dns.insert(format!("*.{}", cluster.service_fqdn(role)));
        out.dns.insert(cluster.service_fqdn(role));
        out.dns.insert(svc);
    }
    if let Some(map) = &cluster.spec.hostname_map {
        for host in map.values().flat_map(|v| v.split(',')) {
            out.add_host(host);
        }
    }
    for host in public_hosts {
        out.add_host(host);
    }
    if let Some((cert, _)) = certificate_spec(cluster) {
        out.dns.extend(
            cert.additional_dns_names
                .iter()
                .flatten()
                .filter(|n| !n.is_empty())
                .cloned(),
        );
    }
    out
}

/// Public hosts of the Certificate: the nodes' (except in `Pod` mode) and the LoadBalancer
/// ingress hosts of roles with external access.
pub fn public_hosts(cluster: &Cluster<'_>) -> Vec<String> {
    let facts = cluster.facts;
    let mut out = Vec::new();
    if cluster.spec.public_net_dns_mode.unwrap_or_default() != PublicNetDnsMode::Pod {
        out.extend(facts.node_hosts.iter().cloned());
    }
    if cluster.external_access(Role::Proxy) {
        out.extend(facts.proxy_lb_hosts.iter().cloned());
    }
    if cluster.external_access(Role::Target) {
        out.extend(facts.target_lb_hosts.iter().cloned());
    }
    out
}

/// A duration as Go prints it, or the error naming the field.
fn duration(field: &str, value: Option<&String>) -> Result<Option<String>, BuildError> {
    value
        .map(|v| {
            normalize(v).map_err(|source| BuildError::InvalidDuration {
                field: format!("spec.tls.certificate.{field}"),
                source,
            })
        })
        .transpose()
}

/// cert-manager Certificate `<name>-tls-cert` (Secret `<name>-tls`) for
/// `tls.certificate` with `mode: secret`.
pub fn certificate(cluster: &Cluster<'_>) -> Result<Option<DynamicObject>, BuildError> {
    let Some((cert, mode)) = certificate_spec(cluster) else {
        return Ok(None);
    };
    if mode != CertificateMode::Secret {
        return Ok(None);
    }
    let sans = sans(cluster, &public_hosts(cluster));
    let mut spec = json!({
        "secretName": names::certificate_secret(&cluster.name),
        "issuerRef": {
            "name": cert.issuer_ref.name,
            "kind": issuer_kind(cert),
            "group": CERT_MANAGER_GROUP,
        },
        "usages": USAGES,
        "dnsNames": sans.dns,
    });
    if !sans.ips.is_empty() {
        spec["ipAddresses"] = json!(sans.ips);
    }
    if let Some(d) = duration("duration", cert.duration.as_ref())? {
        spec["duration"] = json!(d);
    }
    if let Some(r) = duration("renewBefore", cert.renew_before.as_ref())? {
        spec["renewBefore"] = json!(r);
    }
    Ok(Some(DynamicObject {
        types: Some(TypeMeta {
            api_version: CERT_MANAGER_API_VERSION.to_string(),
            kind: "Certificate".to_string(),
        }),
        metadata: cluster.meta(
            names::certificate(&cluster.name),
            labels::object(&cluster.name, COMPONENT),
        ),
        data: json!({ "spec": spec }),
    }))
}

/// Attributes of the csi-driver volume of a role. The DNS names leave out node and
/// LoadBalancer hosts (and every IP), so node changes never roll pods.
pub fn csi_attributes(
    cluster: &Cluster<'_>,
    cert: &CertificateSpec,
    role: Role,
) -> Result<BTreeMap<String, String>, BuildError> {
    let key = |k: &str| format!("{CSI_DRIVER}/{k}");
    let dns = sans(cluster, &[]).dns.into_iter().collect::<Vec<_>>();
    let mut attrs = BTreeMap::from([
        (key("issuer-name"), cert.issuer_ref.name.clone()),
        (key("issuer-kind"), issuer_kind(cert).to_string()),
        (
            key("common-name"),
            format!("{}.{}", cluster.role_object(role), cluster.namespace),
        ),
        (key("dns-names"), dns.join(",")),
        (key("key-usages"), USAGES.join(",")),
    ]);
    if let Some(d) = duration("duration", cert.duration.as_ref())? {
        attrs.insert(key("duration"), d);
    }
    if let Some(r) = duration("renewBefore", cert.renew_before.as_ref())? {
        attrs.insert(key("renew-before"), r);
    }
    Ok(attrs)
}

/// The `tls-certs` volume of a role, when `spec.tls` names a source.
pub fn volume(cluster: &Cluster<'_>, role: Role) -> Result<Option<Volume>, BuildError> {
    let Some(tls) = cluster.spec.tls.as_ref() else {
        return Ok(None);
    };
    let secret = |name: String| Volume {
        name: paths::TLS_VOLUME.to_string(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(name),
            default_mode: Some(DEFAULT_MODE),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    };
    if let Some(name) = tls.secret_name.as_ref().filter(|n| !n.is_empty()) {
        return Ok(Some(secret(name.clone())));
    }
    let Some(cert) = tls.certificate.as_ref() else {
        return Ok(None);
    };
    Ok(Some(match cert.mode.unwrap_or_default() {
        CertificateMode::Secret => secret(names::certificate_secret(&cluster.name)),
        CertificateMode::Csi => Volume {
            name: paths::TLS_VOLUME.to_string(),
            csi: Some(CSIVolumeSource {
                driver: CSI_DRIVER.to_string(),
                read_only: Some(true),
                volume_attributes: Some(csi_attributes(cluster, cert, role)?),
                ..CSIVolumeSource::default()
            }),
            ..Volume::default()
        },
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::super::testing::{facts, from_yaml};
    use super::super::{Cluster, Facts};
    use super::*;

    fn tls_ais(tls: &str) -> ais_crd::AIStore {
        from_yaml(&format!(
            r#"
metadata: {{name: ais, namespace: ns, uid: u}}
spec:
  size: 2
  hostnameMap: {{"10.0.0.1": "a.example, b.example, 192.168.1.9"}}
  tls: {tls}
  proxySpec: {{externalAccess: {{}}}}
  targetSpec:
    mounts: [{{path: /d, size: 1Gi}}]
"#
        ))
    }

    fn with_hosts() -> Facts {
        Facts {
            node_hosts: vec!["10.1.0.1".into(), "node-a".into()],
            proxy_lb_hosts: vec!["lb.example".into()],
            target_lb_hosts: vec!["tlb.example".into()],
            ..facts()
        }
    }

    #[test]
    fn secret_mode_certificate_and_sans() {
        let ais = tls_ais(
            "{certificate: {issuerRef: {name: ca}, additionalDNSNames: [extra.example, 10.9.9.9], duration: 2160h}}",
        );
        let f = with_hosts();
        let c = Cluster::new(&ais, &f).unwrap();
        let cert = certificate(&c).unwrap().unwrap();
        assert_eq!(cert.metadata.name.as_deref(), Some("ais-tls-cert"));
        assert_eq!(
            cert.types.as_ref().unwrap().api_version,
            "cert-manager.io/v1"
        );
        let spec = &cert.data["spec"];
        assert_eq!(spec["secretName"], "ais-tls");
        assert_eq!(
            spec["issuerRef"],
            json!({"name": "ca", "kind": "ClusterIssuer", "group": "cert-manager.io"})
        );
        assert_eq!(spec["duration"], "2160h0m0s");
        assert!(spec.get("renewBefore").is_none());
        assert_eq!(spec["ipAddresses"], json!(["10.1.0.1", "192.168.1.9"]));
        assert_eq!(
            spec["dnsNames"],
            json!([
                "*.ais-proxy.ns.svc.cluster.local",
                "*.ais-target.ns.svc.cluster.local",
                "10.9.9.9",
                "a.example",
                "ais-proxy",
                "ais-proxy.ns",
                "ais-proxy.ns.svc.cluster.local",
                "ais-target",
                "ais-target.ns",
                "ais-target.ns.svc.cluster.local",
                "b.example",
                "extra.example",
                "lb.example",
                "node-a",
            ])
        );
        let v = volume(&c, Role::Proxy).unwrap().unwrap();
        assert_eq!(v.secret.unwrap().secret_name.as_deref(), Some("ais-tls"));
    }

    #[test]
    fn pod_mode_has_no_node_sans() {
        let mut ais = tls_ais("{certificate: {issuerRef: {name: ca}}}");
        ais.spec.public_net_dns_mode = Some(PublicNetDnsMode::Pod);
        let f = with_hosts();
        let c = Cluster::new(&ais, &f).unwrap();
        let hosts = public_hosts(&c);
        assert_eq!(hosts, ["lb.example"]);
    }

    #[test]
    fn csi_mode_has_no_certificate_and_stable_names() {
        let ais = tls_ais(
            "{certificate: {issuerRef: {name: ca, kind: Issuer}, mode: csi, renewBefore: 720h}}",
        );
        let f = with_hosts();
        let c = Cluster::new(&ais, &f).unwrap();
        assert!(certificate(&c).unwrap().is_none());
        let v = volume(&c, Role::Target).unwrap().unwrap();
        let csi = v.csi.unwrap();
        assert_eq!(csi.driver, "csi.cert-manager.io");
        assert_eq!(csi.read_only, Some(true));
        let attrs = csi.volume_attributes.unwrap();
        assert_eq!(attrs["csi.cert-manager.io/issuer-name"], "ca");
        assert_eq!(attrs["csi.cert-manager.io/issuer-kind"], "Issuer");
        assert_eq!(attrs["csi.cert-manager.io/common-name"], "ais-target.ns");
        assert_eq!(attrs["csi.cert-manager.io/renew-before"], "720h0m0s");
        assert!(!attrs.contains_key("csi.cert-manager.io/duration"));
        let dns = &attrs["csi.cert-manager.io/dns-names"];
        assert!(dns.contains("*.ais-target.ns.svc.cluster.local"));
        assert!(dns.contains("a.example"));
        assert!(!dns.contains("node-a") && !dns.contains("lb.example"));
        assert!(!dns.contains("192.168.1.9"));
        assert_eq!(
            attrs["csi.cert-manager.io/key-usages"],
            "digital signature,key encipherment,server auth,client auth"
        );
    }

    #[test]
    fn invalid_duration_is_reported() {
        let ais = tls_ais("{certificate: {issuerRef: {name: ca}, duration: soon}}");
        let f = facts();
        let c = Cluster::new(&ais, &f).unwrap();
        let err = certificate(&c).unwrap_err().to_string();
        assert!(
            err.starts_with("spec.tls.certificate.duration: \"soon\""),
            "{err}"
        );
    }

    #[test]
    fn existing_secret_mode() {
        let ais = tls_ais("{secretName: my-certs}");
        let f = facts();
        let c = Cluster::new(&ais, &f).unwrap();
        assert!(certificate(&c).unwrap().is_none());
        let s = volume(&c, Role::Proxy).unwrap().unwrap().secret.unwrap();
        assert_eq!(s.secret_name.as_deref(), Some("my-certs"));
        assert_eq!(s.default_mode, Some(0o644));
    }
}

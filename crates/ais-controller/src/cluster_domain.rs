//! The cluster's DNS domain: given (`--cluster-domain`, `KUBERNETES_CLUSTER_DOMAIN`), or read
//! from the pod's `/etc/resolv.conf`, whose search list has `svc.<domain>` in every pod. A
//! wrong domain breaks every URL, certificate name and config the operator writes, so without
//! either the controller does not start (as the reference's v3.4).

/// Why the domain could not be had.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The given domain is not a DNS name.
    #[error(
        "cluster domain {0:?} is not a DNS-1123 subdomain (lowercase letters, digits, '-' and '.'); fix --cluster-domain or KUBERNETES_CLUSTER_DOMAIN"
    )]
    Invalid(String),
    /// Neither given nor found.
    #[error(
        "cannot tell the cluster DNS domain: /etc/resolv.conf has no `search svc.<domain>` entry ({0}); set --cluster-domain or KUBERNETES_CLUSTER_DOMAIN (the chart's kubernetesClusterDomain), e.g. cluster.local, when the controller runs outside a pod"
    )]
    NotFound(String),
}

/// Whether `name` is a DNS-1123 subdomain.
pub fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// The domain of the first `svc.<domain>` entry of a resolv.conf's search lists.
pub fn from_resolv_conf(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .filter_map(|line| line.strip_prefix("search"))
        .flat_map(str::split_whitespace)
        .find_map(|entry| entry.trim_end_matches('.').strip_prefix("svc."))
        .filter(|d| is_dns_subdomain(d))
        .map(String::from)
}

/// The given domain (validated), else the one in `resolv_conf` (its text, or why it could not
/// be read).
pub fn resolve(
    given: Option<&str>,
    resolv_conf: Result<String, String>,
) -> Result<String, DomainError> {
    if let Some(domain) = given.map(str::trim).filter(|d| !d.is_empty()) {
        let domain = domain.trim_end_matches('.');
        return if is_dns_subdomain(domain) {
            Ok(domain.to_string())
        } else {
            Err(DomainError::Invalid(domain.to_string()))
        };
    }
    match resolv_conf {
        Ok(text) => from_resolv_conf(&text)
            .ok_or_else(|| DomainError::NotFound("no search entry starting with svc.".to_string())),
        Err(why) => Err(DomainError::NotFound(why)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const POD: &str = "search ais.svc.corp.example svc.corp.example corp.example\nnameserver 10.96.0.10\noptions ndots:5\n";

    #[test]
    fn a_pods_resolv_conf_names_the_domain() {
        assert_eq!(from_resolv_conf(POD).as_deref(), Some("corp.example"));
        assert_eq!(
            resolve(None, Ok(POD.into())).unwrap(),
            "corp.example".to_string()
        );
    }

    #[test]
    fn the_given_domain_wins_and_is_checked() {
        assert_eq!(
            resolve(Some("cluster.local"), Ok(POD.into())).unwrap(),
            "cluster.local"
        );
        assert!(matches!(
            resolve(Some("Bad_Domain"), Ok(POD.into())),
            Err(DomainError::Invalid(_))
        ));
    }

    #[test]
    fn outside_a_pod_it_says_what_to_set() {
        let host = "search example.org\nnameserver 1.1.1.1\n";
        let err = resolve(None, Ok(host.into())).unwrap_err().to_string();
        assert!(err.contains("--cluster-domain"), "{err}");
        let err = resolve(None, Err("no such file".into()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no such file"), "{err}");
    }
}

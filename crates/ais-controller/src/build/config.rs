//! The AIS configuration the operator generates (anchor §2.8, aistore-api §3.1–3.2): the
//! global override `ais.json` (a partial `ConfigToSet`), the per-role local config template
//! `ais_local.json`, and the hashes the controller stores on the AIStore.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::names::{self, Role, paths};
use super::{BuildError, Cluster, duration, labels};

/// AIStore annotation with the SHA-256 of the global config last pushed.
pub const CONFIG_HASH_ANNOTATION: &str = "config.aistore.nvidia.com/hash";
/// AIStore, target StatefulSet and pod-template annotation with the hash of `net.http`.
pub const RESTART_HASH_ANNOTATION: &str = "config.aistore.nvidia.com/restart-hash";
/// Suffix of a restart hash that has never changed; such a hash triggers no restart.
pub const INITIAL_SUFFIX: &str = ".initial";
/// Component label of the global ConfigMap.
pub const GLOBAL_COMPONENT: &str = "config";

/// Certificate paths forced into `net.http` when `spec.tls` is set.
const TLS_CRT: &str = "/var/certs/tls.crt";
const TLS_KEY: &str = "/var/certs/tls.key";
const TLS_CA: &str = "/var/certs/ca.crt";
/// Where proxies see the OIDC issuer CA bundle.
const OIDC_CA_BUNDLE: &str = "/etc/ais/oidc-ca/ca.crt";
/// Target env variables that enable the Azure backend.
const AZURE_ENV: [&str; 3] = [
    "AZURE_STORAGE_ACCOUNT",
    "AZURE_STORAGE_KEY",
    "AIS_AZURE_URL",
];

/// Compact JSON of a value.
pub fn to_json<T: Serialize>(value: &T, what: &'static str) -> Result<String, BuildError> {
    serde_json::to_string(value).map_err(|source| BuildError::Serialize { what, source })
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The primary proxy URL: proxy-0's pod DNS name on the intra-control port.
pub fn primary_url(cluster: &Cluster<'_>) -> String {
    format!(
        "{}://{}.{}:{}",
        cluster.scheme(),
        names::pod(&cluster.name, Role::Proxy, 0),
        cluster.service_fqdn(Role::Proxy),
        cluster.ports(Role::Proxy).intra_control
    )
}

/// The discovery URL: the proxy Service on the intra-control port.
pub fn discovery_url(cluster: &Cluster<'_>) -> String {
    format!(
        "{}://{}:{}",
        cluster.scheme(),
        cluster.service_fqdn(Role::Proxy),
        cluster.ports(Role::Proxy).intra_control
    )
}

/// The global config override: the initial proxy URLs, then `configToUpdate`, then what the
/// operator forces (rebalance gate, TLS paths, backends, auth).
pub fn global_config(cluster: &Cluster<'_>) -> Result<Value, BuildError> {
    let primary = primary_url(cluster);
    let mut conf = json!({
        "proxy": {
            "primary_url": primary,
            "original_url": primary,
            "discovery_url": discovery_url(cluster),
        }
    });
    if let Some(user) = &cluster.spec.config_to_update {
        let user = serde_json::to_value(user).map_err(|source| BuildError::Serialize {
            what: "spec.configToUpdate",
            source,
        })?;
        merge(&mut conf, user);
    }
    let spec = &cluster.spec;

    let rebalance = cluster.facts.rebalance_allowed
        && spec
            .config_to_update
            .as_ref()
            .and_then(|c| c.rebalance.as_ref())
            .and_then(|r| r.enabled)
            .unwrap_or(true);
    set(&mut conf, &["rebalance", "enabled"], Value::Bool(rebalance));

    if spec.tls.is_some() {
        set(&mut conf, &["net", "http", "server_crt"], json!(TLS_CRT));
        set(&mut conf, &["net", "http", "server_key"], json!(TLS_KEY));
        set(&mut conf, &["net", "http", "client_ca_tls"], json!(TLS_CA));
    }

    let target_env = spec.target_spec.daemon.env.as_deref().unwrap_or_default();
    let azure = target_env
        .iter()
        .any(|e| AZURE_ENV.contains(&e.name.as_str()));
    for (enabled, backend) in [
        (spec.aws_secret_name.is_some(), "aws"),
        (spec.gcp_secret_name.is_some(), "gcp"),
        (spec.oci_secret_name.is_some(), "oci"),
        (azure, "azure"),
    ] {
        if enabled {
            set(&mut conf, &["backend", backend], json!({}));
        }
    }

    if spec.auth.is_some() && get(&conf, &["auth", "enabled"]).is_none() {
        set(&mut conf, &["auth", "enabled"], Value::Bool(true));
    }
    if spec.auth.is_some() && spec.issuer_ca_config_map.is_some() {
        set(
            &mut conf,
            &["auth", "oidc", "issuer_ca_bundle"],
            json!(OIDC_CA_BUNDLE),
        );
    }
    Ok(conf)
}

/// The part of the global config pushed to a running cluster (`set-config`): everything but
/// the bootstrap proxy URLs, which only seed new nodes (the live primary is AIS's business).
pub fn config_to_set(global: &Value) -> Value {
    let mut conf = global.clone();
    if let Some(root) = conf.as_object_mut()
        && let Some(proxy) = root.get_mut("proxy").and_then(Value::as_object_mut)
    {
        for key in ["primary_url", "original_url", "discovery_url"] {
            proxy.remove(key);
        }
        if proxy.is_empty() {
            root.remove("proxy");
        }
    }
    conf
}

/// Keys of AIS's `HTTPConfToSet` (v1.4.9) in declaration order: the reference hashes that
/// struct as Go serializes it, so the restart hash only matches with this order.
const NET_HTTP_KEYS: [&str; 13] = [
    "server_crt",
    "server_key",
    "domain_tls",
    "client_ca_tls",
    "idle_conn_time",
    "idle_conns_per_host",
    "idle_conns",
    "write_buffer_size",
    "read_buffer_size",
    "client_auth_tls",
    "use_https",
    "skip_verify",
    "chunked_transfer",
];

/// `net.http` serialized as AIS does: keys in struct order, unknown keys dropped, the
/// duration in AIS form (Go's, with a trailing `m0s` cut to `m`: `1m0s` → `1m`).
pub fn net_http_json(http: &Map<String, Value>) -> Result<String, BuildError> {
    let mut parts = Vec::new();
    for key in NET_HTTP_KEYS {
        let Some(value) = http.get(key) else {
            continue;
        };
        let value = match (key, value) {
            ("idle_conn_time", Value::String(s)) => match duration::parse_nanos(s) {
                Ok(nanos) => {
                    let go = duration::format_nanos(nanos);
                    let ais = match go.strip_suffix("m0s") {
                        Some(head) => format!("{head}m"),
                        None => go,
                    };
                    Value::String(ais)
                }
                Err(_) => value.clone(),
            },
            _ => value.clone(),
        };
        parts.push(format!(
            "{}:{}",
            to_json(&key, "net.http")?,
            to_json(&value, "net.http")?
        ));
    }
    Ok(format!("{{{}}}", parts.join(",")))
}

/// The restart hash: SHA-256 of the generated `net.http` section as AIS serializes it (of
/// nothing when there is none). A cluster without a
/// previous hash gets it with the `.initial` suffix; a previous hash (initial or not) that
/// matches is kept, so only a real change of `net.http` yields a plain hash (and a rollout).
pub fn restart_hash(global: &Value, previous: Option<&str>) -> Result<String, BuildError> {
    let hash = match get(global, &["net", "http"]).and_then(Value::as_object) {
        Some(http) => sha256_hex(net_http_json(http)?.as_bytes()),
        None => sha256_hex(b""),
    };
    Ok(match previous {
        None => format!("{hash}{INITIAL_SUFFIX}"),
        Some(prev) if prev.strip_suffix(INITIAL_SUFFIX).unwrap_or(prev) == hash => prev.to_string(),
        Some(_) => hash,
    })
}

/// The restart hash as pod templates (and the target StatefulSet) carry it: empty while it is
/// the initial one, as the reference writes it for a cluster whose `net.http` never changed,
/// so templates of either operator compare equal; the hash itself once a change must restart
/// the pods.
pub fn template_restart_hash(restart_hash: &str) -> &str {
    if restart_hash.ends_with(INITIAL_SUFFIX) {
        ""
    } else {
        restart_hash
    }
}

/// ConfigMap `<name>-global-cm` with `ais.json` and, when a hostname map is set (even
/// empty), `hostname_map.json`.
pub fn global_config_map(
    cluster: &Cluster<'_>,
    global_json: String,
) -> Result<ConfigMap, BuildError> {
    let mut data = BTreeMap::from([(paths::CLUSTER_CONFIG_FILE.to_string(), global_json)]);
    if let Some(map) = cluster.spec.hostname_map.as_ref() {
        data.insert(
            paths::HOSTNAME_MAP_FILE.to_string(),
            to_json(map, "spec.hostnameMap")?,
        );
    }
    Ok(ConfigMap {
        metadata: cluster.meta(
            names::global_config_map(&cluster.name),
            labels::object(&cluster.name, GLOBAL_COMPONENT),
        ),
        data: Some(data),
        ..ConfigMap::default()
    })
}

/// AIS `LocalConfig`, fields in the order AIS serializes them; ports are JSON strings.
#[derive(Serialize)]
struct LocalConfig<'a> {
    fspaths: Option<BTreeMap<&'a str, &'a str>>,
    confdir: &'a str,
    log_dir: &'a str,
    test_fspaths: TestFspaths,
    host_net: HostNet,
}

#[derive(Serialize)]
struct TestFspaths {
    root: &'static str,
    count: u32,
    instance: u32,
}

#[derive(Serialize)]
struct HostNet {
    hostname: &'static str,
    hostname_intra_control: &'static str,
    hostname_intra_data: &'static str,
    port: String,
    port_intra_control: String,
    port_intra_data: String,
}

/// The local config template of a role (`ais_local.json`). Targets list their mountpaths
/// with their labels (`""` for none).
pub fn local_config(cluster: &Cluster<'_>, role: Role) -> Result<String, BuildError> {
    let ports = cluster.ports(role);
    let fspaths = match role {
        Role::Proxy => None,
        Role::Target => Some(
            cluster
                .spec
                .target_spec
                .mounts
                .iter()
                .map(|m| (m.path.as_str(), m.label.as_deref().unwrap_or("")))
                .collect(),
        ),
    };
    let local = LocalConfig {
        fspaths,
        confdir: paths::STATE_DIR,
        log_dir: paths::LOGS_DIR,
        test_fspaths: TestFspaths {
            root: "",
            count: 0,
            instance: 0,
        },
        host_net: HostNet {
            hostname: "${AIS_PUBLIC_HOSTNAME}",
            hostname_intra_control: "${AIS_INTRA_HOSTNAME}",
            hostname_intra_data: "${AIS_DATA_HOSTNAME}",
            port: ports.public.to_string(),
            port_intra_control: ports.intra_control.to_string(),
            port_intra_data: ports.intra_data.to_string(),
        },
    };
    to_json(&local, "local config")
}

/// ConfigMap `<name>-<role>` with `ais_local.json`.
pub fn local_config_map(cluster: &Cluster<'_>, role: Role) -> Result<ConfigMap, BuildError> {
    Ok(ConfigMap {
        metadata: cluster.meta(
            cluster.role_object(role),
            labels::object(&cluster.name, role.as_str()),
        ),
        data: Some(BTreeMap::from([(
            paths::LOCAL_CONFIG_FILE.to_string(),
            local_config(cluster, role)?,
        )])),
        ..ConfigMap::default()
    })
}

/// Deep merge: objects merge key by key, anything else in `from` replaces `into`.
fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                match into.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        into.insert(key, value);
                    }
                }
            }
        }
        (into, from) => *into = from,
    }
}

/// Sets `path` in `conf`, creating (or replacing non-object) intermediate objects.
fn set(conf: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = conf;
    for key in parents {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(map) = node else {
            return;
        };
        node = map
            .entry((*key).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    if let Value::Object(map) = node {
        map.insert((*last).to_string(), value);
    }
}

fn get<'v>(conf: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(conf, |node, key| node.get(key))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::super::testing::{aistore, facts, from_yaml};
    use super::super::{Cluster, Facts};
    use super::*;

    fn global(ais: &ais_crd::AIStore, f: &Facts) -> Value {
        global_config(&Cluster::new(ais, f).unwrap()).unwrap()
    }

    #[test]
    fn default_cluster_config_matches_the_reference_message() {
        let conf = global(&aistore(), &facts());
        assert_eq!(
            conf,
            json!({
                "rebalance": {"enabled": true},
                "proxy": {
                    "primary_url": "http://ais-proxy-0.ais-proxy.ais.svc.cluster.local:51082",
                    "original_url": "http://ais-proxy-0.ais-proxy.ais.svc.cluster.local:51082",
                    "discovery_url": "http://ais-proxy.ais.svc.cluster.local:51082",
                }
            })
        );
    }

    #[test]
    fn rebalance_is_off_until_ready_rebalance() {
        let f = Facts {
            rebalance_allowed: false,
            ..facts()
        };
        assert_eq!(
            global(&aistore(), &f)["rebalance"]["enabled"],
            Value::Bool(false)
        );
        let mut ais = aistore();
        ais.spec.config_to_update = Some(
            serde_json::from_value(json!({
                "rebalance": {"enabled": false, "bundle_multiplier": 4}
            }))
            .unwrap(),
        );
        let conf = global(&ais, &facts());
        assert_eq!(
            conf["rebalance"],
            json!({"enabled": false, "bundle_multiplier": 4})
        );
    }

    #[test]
    fn https_tls_backends_and_auth_are_forced() {
        let ais = from_yaml(
            r#"
metadata: {name: c, namespace: ns, uid: u}
spec:
  size: 1
  awsSecretName: aws
  gcpSecretName: gcp
  ociSecretName: oci
  issuerCAConfigMap: oidc
  auth: {profileRef: {name: p}}
  tls: {secretName: certs}
  configToUpdate:
    net: {http: {use_https: true}}
    backend: {ais: {}}
  proxySpec: {}
  targetSpec:
    env: [{name: AZURE_STORAGE_ACCOUNT, value: acct}]
    mounts: [{path: /d, size: 1Gi}]
"#,
        );
        let conf = global(&ais, &facts());
        assert_eq!(
            conf["net"]["http"],
            json!({
                "use_https": true,
                "server_crt": "/var/certs/tls.crt",
                "server_key": "/var/certs/tls.key",
                "client_ca_tls": "/var/certs/ca.crt",
            })
        );
        assert_eq!(
            conf["backend"],
            json!({"ais": {}, "aws": {}, "gcp": {}, "oci": {}, "azure": {}})
        );
        assert_eq!(conf["auth"]["enabled"], Value::Bool(true));
        assert_eq!(
            conf["auth"]["oidc"]["issuer_ca_bundle"],
            json!("/etc/ais/oidc-ca/ca.crt")
        );
        assert_eq!(
            conf["proxy"]["primary_url"],
            json!("https://c-proxy-0.c-proxy.ns.svc.cluster.local:51082")
        );
    }

    #[test]
    fn explicit_auth_enabled_is_kept() {
        let mut ais = aistore();
        ais.spec.auth = Some(serde_json::from_value(json!({"profileRef": {"name": "p"}})).unwrap());
        ais.spec.config_to_update =
            Some(serde_json::from_value(json!({"auth": {"enabled": false}})).unwrap());
        assert_eq!(
            global(&ais, &facts())["auth"]["enabled"],
            Value::Bool(false)
        );
    }

    #[test]
    fn pushed_config_leaves_out_the_bootstrap_urls() {
        let conf = json!({"proxy": {"primary_url": "a", "original_url": "a", "discovery_url": "b"},
                          "rebalance": {"enabled": false}});
        assert_eq!(
            config_to_set(&conf),
            json!({"rebalance": {"enabled": false}})
        );
        let conf = json!({"proxy": {"primary_url": "a", "non_electable": true}});
        assert_eq!(
            config_to_set(&conf),
            json!({"proxy": {"non_electable": true}})
        );
    }

    #[test]
    fn restart_hash_initial_rule() {
        let conf = json!({"net": {"http": {"use_https": false}}});
        let first = restart_hash(&conf, None).unwrap();
        assert!(first.ends_with(".initial"));
        assert_eq!(restart_hash(&conf, Some(&first)).unwrap(), first);
        let plain = first.trim_end_matches(".initial").to_string();
        assert_eq!(restart_hash(&conf, Some(&plain)).unwrap(), plain);
        let changed = json!({"net": {"http": {"use_https": true}}});
        let second = restart_hash(&changed, Some(&first)).unwrap();
        assert!(!second.ends_with(".initial"));
        assert_ne!(second, plain);
        assert_eq!(second.len(), 64);
    }

    #[test]
    fn restart_hash_without_net_http_hashes_nothing() {
        let h = restart_hash(&json!({"proxy": {}}), None).unwrap();
        assert_eq!(
            h,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.initial"
        );
    }

    #[test]
    fn issuer_ca_bundle_needs_spec_auth() {
        let mut ais = aistore();
        ais.spec.issuer_ca_config_map = Some("oidc".into());
        assert!(global(&ais, &facts()).get("auth").is_none());
        ais.spec.config_to_update =
            Some(serde_json::from_value(json!({"auth": {"enabled": true}})).unwrap());
        assert_eq!(global(&ais, &facts())["auth"], json!({"enabled": true}));
    }

    #[test]
    fn net_http_is_serialized_in_ais_order() {
        let conf = json!({"net": {"http": {
            "use_https": true,
            "server_crt": "/var/certs/tls.crt",
            "idle_conn_time": "60s",
            "client_auth_tls": 0,
            "unknown": 1,
        }}});
        let http = conf["net"]["http"].as_object().unwrap();
        assert_eq!(
            net_http_json(http).unwrap(),
            r#"{"server_crt":"/var/certs/tls.crt","idle_conn_time":"1m","client_auth_tls":0,"use_https":true}"#
        );
        let expected = sha256_hex(net_http_json(http).unwrap().as_bytes());
        assert_eq!(
            restart_hash(&conf, None).unwrap(),
            format!("{expected}.initial")
        );
    }

    #[test]
    fn sha256_is_hex() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn local_config_template_has_string_ports_and_fspaths() {
        let mut ais = aistore();
        ais.spec.target_spec.mounts[0].label = Some("disk1".into());
        let f = facts();
        let c = Cluster::new(&ais, &f).unwrap();
        assert_eq!(
            local_config(&c, Role::Proxy).unwrap(),
            r#"{"fspaths":null,"confdir":"/etc/ais","log_dir":"/var/log/ais","test_fspaths":{"root":"","count":0,"instance":0},"host_net":{"hostname":"${AIS_PUBLIC_HOSTNAME}","hostname_intra_control":"${AIS_INTRA_HOSTNAME}","hostname_intra_data":"${AIS_DATA_HOSTNAME}","port":"51080","port_intra_control":"51082","port_intra_data":"51083"}}"#
        );
        let target: Value = serde_json::from_str(&local_config(&c, Role::Target).unwrap()).unwrap();
        assert_eq!(target["fspaths"], json!({"/ais/sda": "disk1"}));
        assert_eq!(target["host_net"]["port"], json!("51081"));
        let cm = local_config_map(&c, Role::Target).unwrap();
        assert_eq!(cm.metadata.name.as_deref(), Some("ais-target"));
        assert!(cm.data.unwrap().contains_key("ais_local.json"));
    }

    #[test]
    fn global_config_map_has_hostname_map_only_when_set() {
        let mut ais = aistore();
        let f = facts();
        let c = Cluster::new(&ais, &f).unwrap();
        let cm = global_config_map(&c, "{}".into()).unwrap();
        assert_eq!(cm.metadata.name.as_deref(), Some("ais-global-cm"));
        let data = cm.data.unwrap();
        assert_eq!(data.keys().collect::<Vec<_>>(), ["ais.json"]);
        ais.spec.hostname_map = Some(BTreeMap::from([("10.0.0.1".into(), "a,b".into())]));
        let c = Cluster::new(&ais, &f).unwrap();
        let data = global_config_map(&c, "{}".into()).unwrap().data.unwrap();
        assert_eq!(data["hostname_map.json"], r#"{"10.0.0.1":"a,b"}"#);
    }
}

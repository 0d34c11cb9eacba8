//! Unit tests of the parent module.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use std::collections::BTreeMap;

use ais_crd::auth::{AuthTls, LoginConf, ProfileRef};
use ais_crd::config::{AuthConf, AuthRequiredClaimsConf, ConfigToUpdate};
use k8s_openapi::ByteString;

use super::*;

fn secret(pairs: &[(&str, &[u8])]) -> Secret {
    Secret {
        data: Some(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), ByteString(v.to_vec())))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..Secret::default()
    }
}

fn ais_with(auth: AuthSpec, aud: Option<Vec<&str>>) -> AIStore {
    let mut ais = AIStore::new("ais", ais_crd::AIStoreSpec::default());
    ais.metadata.namespace = Some("ais-ns".into());
    ais.spec.auth = Some(auth);
    if let Some(aud) = aud {
        ais.spec.config_to_update = Some(ConfigToUpdate {
            auth: Some(AuthConf {
                required_claims: Some(AuthRequiredClaimsConf {
                    aud: Some(aud.into_iter().map(str::to_owned).collect()),
                }),
                ..AuthConf::default()
            }),
            ..ConfigToUpdate::default()
        });
    }
    ais
}

fn creds() -> Credentials {
    Credentials {
        username: "admin".into(),
        password: "pw".into(),
    }
}

#[test]
fn credentials_come_from_su_name_and_su_pass() {
    let s = secret(&[("SU-NAME", b"admin"), ("SU-PASS", b"s3cret\n")]);
    let c = secret_credentials(&s, "ns", "x").unwrap();
    assert_eq!(c.username, "admin");
    // Used as stored (like the reference), trailing newline included.
    assert_eq!(c.password, "s3cret\n");
    assert!(!format!("{c:?}").contains("s3cret"));

    let err = secret_credentials(&secret(&[("SU-NAME", b"admin")]), "ns", "x").unwrap_err();
    assert_eq!(
        err.to_string(),
        "spec.auth.usernamePassword.secretName: Secret ns/x has no key SU-PASS"
    );
    assert_eq!(err.field(), FIELD_SECRET);
    let err = secret_credentials(&secret(&[("SU-PASS", b"p")]), "ns", "x").unwrap_err();
    assert!(
        err.to_string().ends_with("Secret ns/x has no key SU-NAME"),
        "{err}"
    );
    let err =
        secret_credentials(&secret(&[("SU-NAME", b""), ("SU-PASS", b"p")]), "ns", "x").unwrap_err();
    assert!(err.to_string().contains("empty SU-NAME"), "{err}");
    let err = secret_credentials(
        &secret(&[("SU-NAME", b"a"), ("SU-PASS", &[0xff, 0xfe])]),
        "ns",
        "x",
    )
    .unwrap_err();
    assert!(err.to_string().contains("SU-PASS is not UTF-8"), "{err}");
    let err = secret_credentials(&Secret::default(), "ns", "x").unwrap_err();
    assert!(err.to_string().contains("Secret ns/x has no data"), "{err}");
}

#[test]
fn audiences_from_required_claims() {
    let auth = AuthSpec::default();
    assert!(required_audiences(&ais_with(auth.clone(), None)).is_empty());
    assert_eq!(
        required_audiences(&ais_with(auth.clone(), Some(vec!["ais-a", "ais-b"]))),
        vec!["ais-a", "ais-b"]
    );
    // A config section without required_claims: none.
    let mut ais = ais_with(auth, None);
    ais.spec.config_to_update = Some(ConfigToUpdate {
        auth: Some(AuthConf {
            enabled: Some(true),
            ..AuthConf::default()
        }),
        ..ConfigToUpdate::default()
    });
    assert!(required_audiences(&ais).is_empty());
}

#[test]
fn username_password_maps_to_authn_login_or_password_grant() {
    let up = UsernamePasswordAuth {
        secret_name: "x".into(),
        ..UsernamePasswordAuth::default()
    };
    let auth = AuthSpec {
        username_password: Some(up.clone()),
        ..AuthSpec::default()
    };
    assert_eq!(
        password_source(&auth, &up, creds()),
        TokenSource::AuthnLogin {
            url: DEFAULT_AUTHN_SERVICE_URL.into(),
            username: "admin".into(),
            password: "pw".into(),
        }
    );

    let up = UsernamePasswordAuth {
        login_conf: Some(LoginConf {
            client_id: "ais-operator".into(),
            scope: Some("openid".into()),
        }),
        ..up
    };
    let auth = AuthSpec {
        service_url: Some("https://kc/realms/ais/protocol/openid-connect/token".into()),
        username_password: Some(up.clone()),
        ..AuthSpec::default()
    };
    assert_eq!(
        password_source(&auth, &up, creds()),
        TokenSource::PasswordGrant {
            token_url: "https://kc/realms/ais/protocol/openid-connect/token".into(),
            client_id: "ais-operator".into(),
            username: "admin".into(),
            password: "pw".into(),
            scope: Some("openid".into()),
        }
    );
}

#[test]
fn secret_namespace_defaults_to_the_aistore_one() {
    let up = UsernamePasswordAuth {
        secret_name: "x".into(),
        ..UsernamePasswordAuth::default()
    };
    let mut ais = ais_with(AuthSpec::default(), None);
    assert_eq!(secret_namespace(&up, &ais).unwrap(), "ais-ns");
    let other = UsernamePasswordAuth {
        secret_namespace: Some("secrets".into()),
        ..up.clone()
    };
    assert_eq!(secret_namespace(&other, &ais).unwrap(), "secrets");
    ais.metadata.namespace = None;
    assert!(secret_namespace(&up, &ais).is_err());
}

#[test]
fn token_exchange_url_and_audiences() {
    let tx = TokenExchangeAuth::default();
    let auth = AuthSpec {
        service_url: Some("https://authn.ais:52001/".into()),
        token_exchange: Some(tx.clone()),
        ..AuthSpec::default()
    };
    let ais = ais_with(auth.clone(), Some(vec!["cluster-1"]));
    assert_eq!(
        exchange_source(&auth, &tx, "sa-jwt".into(), &ais),
        TokenSource::TokenExchange {
            token_url: "https://authn.ais:52001/token".into(),
            subject_token: "sa-jwt".into(),
            audiences: vec!["cluster-1".into()],
        }
    );
    let tx = TokenExchangeAuth {
        token_exchange_endpoint: Some("realms/ais/protocol/openid-connect/token".into()),
        ..TokenExchangeAuth::default()
    };
    match exchange_source(&auth, &tx, "t".into(), &ais) {
        TokenSource::TokenExchange { token_url, .. } => assert_eq!(
            token_url,
            "https://authn.ais:52001/realms/ais/protocol/openid-connect/token"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(join_url("http://a/", ""), "http://a/");
    assert_eq!(join_url("http://a", "/b"), "http://a/b");
}

#[test]
fn modes_and_profile_ref() {
    let err = mode(&AuthSpec {
        profile_ref: Some(ProfileRef {
            name: "corp".into(),
        }),
        ..AuthSpec::default()
    })
    .err()
    .unwrap();
    assert!(
        err.to_string().starts_with("spec.auth.profileRef:")
            && err
                .to_string()
                .contains("AIStoreAuthProfile \"corp\" is not supported yet"),
        "{err}"
    );
    assert!(matches!(
        mode(&AuthSpec::default()),
        Err(AuthConfigError::Mode)
    ));
    let both = AuthSpec {
        username_password: Some(UsernamePasswordAuth::default()),
        token_exchange: Some(TokenExchangeAuth::default()),
        ..AuthSpec::default()
    };
    assert!(matches!(mode(&both), Err(AuthConfigError::Mode)));
}

#[test]
fn tls_options_ca_path_default_and_skip_verify() {
    let none = auth_options_with(&AuthSpec::default(), false);
    assert_eq!(none.ca_file, None);
    assert!(!none.tls.skip_verify);
    let default_ca = auth_options_with(&AuthSpec::default(), true);
    assert_eq!(
        default_ca.ca_file.as_deref(),
        Some(Path::new(DEFAULT_AUTH_CA_CERT_PATH))
    );
    let auth = AuthSpec {
        tls: Some(AuthTls {
            ca_cert_path: Some("/etc/auth/ca.pem".into()),
            insecure_skip_verify: Some(true),
        }),
        ..AuthSpec::default()
    };
    let o = auth_options_with(&auth, true);
    assert_eq!(o.ca_file.as_deref(), Some(Path::new("/etc/auth/ca.pem")));
    assert!(o.tls.skip_verify);
}

/// A scratch directory removed on drop (also when the test fails).
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn token_file_is_trimmed_and_must_not_be_empty() {
    let scratch =
        ScratchDir(std::env::temp_dir().join(format!("ais-auth-test-{}", std::process::id())));
    let dir = scratch.0.clone();
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("token");
    std::fs::write(&f, "eyJ.a.b\n").unwrap();
    assert_eq!(read_token_file(&f).unwrap(), "eyJ.a.b");
    std::fs::write(&f, " \n").unwrap();
    let err = read_token_file(&f).unwrap_err();
    assert!(err.to_string().starts_with(FIELD_TOKEN_PATH) && err.to_string().contains("empty"));
    std::fs::remove_dir_all(&dir).unwrap();
    let err = read_token_file(&f).unwrap_err();
    assert!(matches!(err, AuthConfigError::TokenFile { .. }), "{err}");
    assert!(err.to_string().contains(&f.display().to_string()), "{err}");
}

#[test]
fn operator_identity_from_username() {
    assert_eq!(
        OperatorIdentity::from_username("system:serviceaccount:ais-operator-system:ais-operator"),
        Some(OperatorIdentity {
            namespace: "ais-operator-system".into(),
            service_account: "ais-operator".into(),
        })
    );
    assert_eq!(OperatorIdentity::from_username("kubernetes-admin"), None);
    assert_eq!(
        OperatorIdentity::from_username("system:serviceaccount:ns"),
        None
    );
    assert_eq!(
        OperatorIdentity::from_username("system:serviceaccount::x"),
        None
    );
}

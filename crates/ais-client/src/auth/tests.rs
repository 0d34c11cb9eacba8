//! Unit tests of the parent module.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use super::cache::Cached;
use super::*;

fn jwt(payload: &str) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!("{}.{}.sig", b64(r#"{"alg":"HS256"}"#), b64(payload))
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[test]
fn jwt_exp_is_read_without_verification() {
    assert_eq!(
        jwt_expiry(&jwt(r#"{"sub":"admin","exp":1700000000}"#)),
        Some(at(1_700_000_000))
    );
    assert_eq!(
        jwt_expiry(&jwt(r#"{"exp":1700000000.5}"#)),
        Some(at(1_700_000_000) + Duration::from_millis(500))
    );
    assert_eq!(jwt_expiry(&jwt(r#"{"sub":"admin"}"#)), None);
    assert_eq!(jwt_expiry(&jwt(r#"{"exp":"soon"}"#)), None);
    assert_eq!(jwt_expiry(&jwt(r#"{"exp":-5}"#)), None);
    assert_eq!(jwt_expiry(&jwt(r#"{"exp":1e300}"#)), None);
    assert_eq!(jwt_expiry("opaque-token"), None);
    assert_eq!(jwt_expiry("a.!!!.c"), None);
    assert_eq!(jwt_expiry("a.b.c.d.e"), None);
    // Padded base64url is accepted too.
    let padded = format!(
        "h.{}.s",
        base64::engine::general_purpose::URL_SAFE.encode(r#"{"exp":10}"#)
    );
    assert_eq!(jwt_expiry(&padded), Some(at(10)));
    assert_eq!(
        Token::from_jwt(jwt(r#"{"exp":10}"#)).expires_at,
        Some(at(10))
    );
}

#[test]
fn refresh_margin_capped_at_half_the_lifetime() {
    let cached = |fetched: u64, exp: Option<u64>| Cached {
        token: Token::new("t", exp.map(at)),
        fetched_at: at(fetched),
    };
    let m = DEFAULT_REFRESH_MARGIN;
    // 1 h token: refreshed 5 min before expiry.
    let c = cached(0, Some(3600));
    assert!(!c.refresh_due(m, at(3299)));
    assert!(c.refresh_due(m, at(3300)));
    assert!(c.refresh_due(m, at(4000)));
    // 5 min token: reused for half its life.
    let c = cached(0, Some(300));
    assert!(!c.refresh_due(m, at(149)));
    assert!(c.refresh_due(m, at(150)));
    // Unknown expiry: never.
    assert!(!cached(0, None).refresh_due(m, at(u32::MAX.into())));
    // Already expired when fetched (clock skew): always.
    assert!(cached(100, Some(50)).refresh_due(m, at(100)));
    assert!(Token::new("t", Some(at(10))).expires_within(Duration::ZERO, at(10)));
    assert!(!Token::new("t", None).expires_within(Duration::MAX, at(10)));
}

#[test]
fn request_bodies_and_urls() {
    let login = TokenSource::AuthnLogin {
        url: "https://authn:52001/".into(),
        username: "ad min@x".into(),
        password: "p\"w&=".into(),
    };
    assert_eq!(
        login.request_url(),
        "https://authn:52001/v1/users/ad%20min%40x"
    );
    let (ct, body) = login.request_body();
    assert_eq!(ct, "application/json");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"expires_in": 0, "password": "p\"w&="})
    );

    let grant = TokenSource::PasswordGrant {
        token_url: "https://kc/realms/ais/protocol/openid-connect/token".into(),
        client_id: "ais-op".into(),
        username: "admin".into(),
        password: "p w&=".into(),
        scope: Some("openid profile".into()),
    };
    let (ct, body) = grant.request_body();
    assert_eq!(ct, FORM_CONTENT_TYPE);
    assert_eq!(
        body,
        "grant_type=password&client_id=ais-op&username=admin&password=p+w%26%3D&scope=openid+profile"
    );

    let exchange = TokenSource::TokenExchange {
        token_url: "https://authn/token".into(),
        subject_token: "eyJ.x.y".into(),
        audiences: vec!["a1".into(), String::new(), "a 2".into()],
    };
    assert_eq!(exchange.request_url(), "https://authn/token");
    assert_eq!(
        exchange.request_body().1,
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange\
         &subject_token=eyJ.x.y\
         &subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt\
         &audience=a1&audience=a+2"
    );
}

#[test]
fn debug_shows_no_secret() {
    let sources = [
        TokenSource::AuthnLogin {
            url: "u".into(),
            username: "admin".into(),
            password: "hunter2".into(),
        },
        TokenSource::PasswordGrant {
            token_url: "u".into(),
            client_id: "c".into(),
            username: "admin".into(),
            password: "hunter2".into(),
            scope: None,
        },
        TokenSource::TokenExchange {
            token_url: "u".into(),
            subject_token: "hunter2".into(),
            audiences: vec![],
        },
    ];
    for s in &sources {
        let d = format!("{s:?}");
        assert!(!d.contains("hunter2") && d.contains(REDACTED), "{d}");
    }
    let t = Token::new("hunter2", None);
    assert!(!format!("{t:?}").contains("hunter2"));
    let cache = TokenCache::new(sources[0].clone(), AuthOptions::default());
    assert!(!format!("{cache:?}").contains("hunter2"));
}

#[test]
fn answers_are_parsed_per_mode() {
    let now = at(1000);
    let grant = TokenSource::PasswordGrant {
        token_url: "u".into(),
        client_id: "c".into(),
        username: "u".into(),
        password: "p".into(),
        scope: None,
    };
    let t = grant
        .parse_answer(
            br#"{"access_token":"a","token_type":"bearer","expires_in":60}"#,
            now,
        )
        .unwrap();
    assert_eq!(t, Token::new("a", Some(at(1060))));
    let t = grant
        .parse_answer(
            br#"{"access_token":"a","token_type":"Bearer","expires_in":"60"}"#,
            now,
        )
        .unwrap();
    assert_eq!(t.expires_at, Some(at(1060)));
    // No expires_in: the JWT exp.
    let j = jwt(r#"{"exp":5000}"#);
    let body = serde_json::json!({"access_token": j, "token_type": "BEARER"}).to_string();
    assert_eq!(
        grant.parse_answer(body.as_bytes(), now).unwrap().expires_at,
        Some(at(5000))
    );
    let err = grant
        .parse_answer(br#"{"access_token":"a","token_type":"mac"}"#, now)
        .unwrap_err();
    assert!(err.contains("\"mac\"") && err.contains("bearer"), "{err}");
    assert!(grant.parse_answer(br#"{"access_token":"a"}"#, now).is_err());
    assert!(
        grant
            .parse_answer(br#"{"token":"a","token_type":"bearer"}"#, now)
            .is_err()
    );
    let err = grant
        .parse_answer(
            br#"{"access_token":"a","token_type":"bearer","expires_in":"x"}"#,
            now,
        )
        .unwrap_err();
    assert!(err.contains("expires_in"), "{err}");

    let exchange = TokenSource::TokenExchange {
        token_url: "u".into(),
        subject_token: "s".into(),
        audiences: vec![],
    };
    assert_eq!(
        exchange
            .parse_answer(br#"{"token":"legacy"}"#, now)
            .unwrap(),
        Token::new("legacy", None)
    );
    assert_eq!(
        exchange
            .parse_answer(
                br#"{"access_token":"a","token":"legacy","token_type":"N_A"}"#,
                now
            )
            .unwrap()
            .value,
        "a"
    );
    assert!(
        exchange
            .parse_answer(br#"{"access_token":"a","token_type":"DPoP"}"#, now)
            .is_err()
    );
    assert!(
        exchange
            .parse_answer(br#"{"issued_token_type":"x"}"#, now)
            .is_err()
    );

    let login = TokenSource::AuthnLogin {
        url: "u".into(),
        username: "u".into(),
        password: "p".into(),
    };
    let body = serde_json::json!({ "token": j }).to_string();
    assert_eq!(
        login.parse_answer(body.as_bytes(), now).unwrap().expires_at,
        Some(at(5000))
    );
    assert!(login.parse_answer(br#"{"token":""}"#, now).is_err());
    assert!(login.parse_answer(b"<html>", now).is_err());
}

#[test]
fn error_answers_keep_the_message_and_drop_secrets() {
    let s = ["hunter2"];
    assert_eq!(
        answer_excerpt(
            br#"{"error":"invalid_grant","error_description":"Invalid user credentials"}"#,
            &s
        ),
        "invalid_grant: Invalid user credentials"
    );
    assert_eq!(
        answer_excerpt(br#"{"error":"invalid_client"}"#, &s),
        "invalid_client"
    );
    assert_eq!(
        answer_excerpt(br#"{"message":"invalid credentials","status":401}"#, &s),
        "invalid credentials"
    );
    assert_eq!(
        answer_excerpt(b"bad password hunter2 for admin\n", &s),
        "bad password <redacted> for admin"
    );
    assert_eq!(answer_excerpt(b"", &s), "(empty body)");
    let long = format!("{}hunter2", "x".repeat(BODY_EXCERPT_LEN - 3));
    assert!(!answer_excerpt(long.as_bytes(), &s).contains("hun"));
}

#[test]
fn invalid_urls_are_named() {
    let src = |url: &str| TokenSource::AuthnLogin {
        url: url.into(),
        username: "admin".into(),
        password: "p".into(),
    };
    for url in ["ftp://h", "http://", "not a url"] {
        let s = src(url);
        let err = parse_url(&s, &s.request_url()).unwrap_err();
        assert!(matches!(err, AuthError::InvalidUrl { .. }), "{err}");
        assert!(err.to_string().contains("AuthN login"), "{err}");
    }
}

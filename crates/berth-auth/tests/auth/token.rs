use std::path::PathBuf;

use berth_auth::{
    Access, AccessController, AuthError, ChallengeError, ConfigError, Grant, Request, Resource,
    TokenAccessController, TokenOptions, UserInfo,
};
use serde_json::{Value, json};

use crate::common::{
    ISSUER, REALM, SERVICE, assemble, assert_challenge, b64url, claims, jwt, now, pki,
};

fn options() -> TokenOptions {
    let pki = pki();
    TokenOptions {
        realm: REALM.into(),
        service: SERVICE.into(),
        issuer: ISSUER.into(),
        rootcertbundle: Some(pki.bundle.clone()),
        jwks: Some(pki.jwks.clone()),
        ..TokenOptions::default()
    }
}

fn controller() -> TokenAccessController {
    TokenAccessController::new(options()).unwrap()
}

async fn authorize(
    c: &TokenAccessController,
    token: &str,
    access: &[Access],
) -> Result<Grant, AuthError> {
    let header = format!("Bearer {token}");
    c.authorize(&Request::new().with_authorization(&header), access)
        .await
}

fn pull(name: &str) -> Access {
    Access::repository(name, "pull")
}

fn grant_pull(name: &str) -> Value {
    json!([{"type": "repository", "name": name, "actions": ["pull"]}])
}

const PULL_INVALID: &str = r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:team/app:pull",error="invalid_token""#;
const PULL_SCOPE: &str = r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:team/app:pull",error="insufficient_scope""#;

#[tokio::test]
async fn valid_rs256_with_libtrust_kid() {
    let pki = pki();
    let c = controller();
    let token = jwt(
        json!({"typ": "JWT", "alg": "RS256", "kid": pki.rsa_root.libtrust_kid}),
        &claims(grant_pull("team/app")),
        &pki.rsa_root.key,
    );
    let grant = authorize(&c, &token, &[pull("team/app")]).await.unwrap();
    assert_eq!(
        grant.user,
        Some(UserInfo {
            name: "alice".into()
        })
    );
    assert_eq!(grant.resources, vec![Resource::repository("team/app")]);
    assert_eq!(grant.access, vec![pull("team/app")]);
}

#[tokio::test]
async fn valid_with_every_root_and_key_id_format() {
    let pki = pki();
    let c = controller();
    let cases = [
        (
            "RS256",
            pki.rsa_root.libtrust_kid.clone(),
            &pki.rsa_root.key,
        ),
        ("RS384", pki.rsa_root.key.thumbprint(), &pki.rsa_root.key),
        (
            "RS512",
            pki.rsa_root.libtrust_kid.clone(),
            &pki.rsa_root.key,
        ),
        (
            "PS256",
            pki.rsa_root.libtrust_kid.clone(),
            &pki.rsa_root.key,
        ),
        (
            "ES256",
            pki.ec256_root.libtrust_kid.clone(),
            &pki.ec256_root.key,
        ),
        (
            "ES256",
            pki.ec256_root.key.thumbprint(),
            &pki.ec256_root.key,
        ),
        // What a token server built for Distribution 3 sends for any P-256 key.
        (
            "ES256",
            pki.distribution3_p256_kid.clone(),
            &pki.ec256_root.key,
        ),
        (
            "ES384",
            pki.ec384_root.libtrust_kid.clone(),
            &pki.ec384_root.key,
        ),
        ("EdDSA", pki.ed_root.libtrust_kid.clone(), &pki.ed_root.key),
        ("EdDSA", pki.ed_root.key.thumbprint(), &pki.ed_root.key),
    ];
    for (alg, kid, key) in cases {
        let token = jwt(
            json!({"alg": alg, "kid": kid}),
            &claims(grant_pull("team/app")),
            key,
        );
        let result = authorize(&c, &token, &[pull("team/app")]).await;
        assert!(result.is_ok(), "{alg} with kid {kid}: {result:?}");
    }
}

#[tokio::test]
async fn valid_with_jwks_kids() {
    let pki = pki();
    let c = controller();
    for (alg, kid, key) in [
        ("ES256", "jwks-ec", &pki.jwks_ec),
        ("RS256", "jwks-rsa", &pki.jwks_rsa),
    ] {
        let token = jwt(
            json!({"alg": alg, "kid": kid}),
            &claims(grant_pull("team/app")),
            key,
        );
        authorize(&c, &token, &[pull("team/app")]).await.unwrap();
    }
    // A JWKS-only controller.
    let jwks_only = TokenAccessController::new(TokenOptions {
        rootcertbundle: None,
        ..options()
    })
    .unwrap();
    let token = jwt(
        json!({"alg": "ES256", "kid": "jwks-ec"}),
        &claims(grant_pull("team/app")),
        &pki.jwks_ec,
    );
    authorize(&jwks_only, &token, &[pull("team/app")])
        .await
        .unwrap();
    // The oct key is not trusted for anything.
    let token = jwt(
        json!({"alg": "ES256", "kid": "hmac"}),
        &claims(grant_pull("team/app")),
        &pki.jwks_ec,
    );
    assert_challenge(
        authorize(&c, &token, &[pull("team/app")]).await,
        Some(ChallengeError::InvalidToken),
        PULL_INVALID,
    );
}

#[tokio::test]
async fn valid_x5c_leaf_signed_by_a_root() {
    let pki = pki();
    let c = controller();
    let token = jwt(
        json!({"alg": "ES256", "x5c": [pki.leaf.x5c()]}),
        &claims(grant_pull("team/app")),
        &pki.leaf.key,
    );
    authorize(&c, &token, &[pull("team/app")]).await.unwrap();

    // Through an intermediate.
    let token = jwt(
        json!({"alg": "RS256", "x5c": [pki.inter_leaf.x5c(), pki.intermediate.x5c()]}),
        &claims(grant_pull("team/app")),
        &pki.inter_leaf.key,
    );
    authorize(&c, &token, &[pull("team/app")]).await.unwrap();

    // A root itself as the chain.
    let token = jwt(
        json!({"alg": "ES256", "x5c": [pki.ec256_root.x5c()]}),
        &claims(grant_pull("team/app")),
        &pki.ec256_root.key,
    );
    authorize(&c, &token, &[pull("team/app")]).await.unwrap();

    // x5c inside a jwk header.
    let mut jwk = pki.leaf.key.jwk();
    jwk["x5c"] = json!([pki.leaf.x5c()]);
    let token = jwt(
        json!({"alg": "ES256", "jwk": jwk}),
        &claims(grant_pull("team/app")),
        &pki.leaf.key,
    );
    authorize(&c, &token, &[pull("team/app")]).await.unwrap();
}

#[tokio::test]
async fn x5c_chains_that_do_not_reach_a_root_are_refused() {
    let pki = pki();
    let c = controller();
    let cases = [
        // Signed by a root not in the bundle.
        (json!([pki.rogue_leaf.x5c()]), &pki.rogue_leaf.key, "ES256"),
        // A self-signed root not in the bundle.
        (json!([pki.rogue_root.x5c()]), &pki.rogue_root.key, "ES256"),
        // The intermediate is missing.
        (json!([pki.inter_leaf.x5c()]), &pki.inter_leaf.key, "RS256"),
        // Not base64 DER.
        (json!(["not a certificate"]), &pki.leaf.key, "ES256"),
        // A CA certificate as the leaf (Go accepts it; webpki does not).
        (
            json!([pki.intermediate.x5c()]),
            &pki.intermediate.key,
            "ES384",
        ),
    ];
    for (x5c, key, alg) in cases {
        let token = jwt(
            json!({"alg": alg, "x5c": x5c}),
            &claims(grant_pull("team/app")),
            key,
        );
        assert_challenge(
            authorize(&c, &token, &[pull("team/app")]).await,
            Some(ChallengeError::InvalidToken),
            PULL_INVALID,
        );
    }
    // The leaf is trusted but the token is signed by another key.
    let token = jwt(
        json!({"alg": "ES256", "x5c": [pki.leaf.x5c()]}),
        &claims(grant_pull("team/app")),
        &pki.rogue_leaf.key,
    );
    assert_challenge(
        authorize(&c, &token, &[pull("team/app")]).await,
        Some(ChallengeError::InvalidToken),
        PULL_INVALID,
    );
    // Without a bundle, no x5c chain can be trusted.
    let jwks_only = TokenAccessController::new(TokenOptions {
        rootcertbundle: None,
        ..options()
    })
    .unwrap();
    let token = jwt(
        json!({"alg": "ES256", "x5c": [pki.leaf.x5c()]}),
        &claims(grant_pull("team/app")),
        &pki.leaf.key,
    );
    assert_challenge(
        authorize(&jwks_only, &token, &[pull("team/app")]).await,
        Some(ChallengeError::InvalidToken),
        PULL_INVALID,
    );
}

#[tokio::test]
async fn x5c_certificates_must_be_valid_now() {
    let pki = pki();
    let c = controller();
    // A leaf that expired, signed by a trusted root.
    let token = jwt(
        json!({"alg": "ES256", "x5c": [pki.expired_leaf.x5c()]}),
        &claims(grant_pull("team/app")),
        &pki.expired_leaf.key,
    );
    assert_challenge(
        authorize(&c, &token, &[pull("team/app")]).await,
        Some(ChallengeError::InvalidToken),
        PULL_INVALID,
    );

    // A valid leaf under a root that expired (Go checks the root too).
    let expired = TokenAccessController::new(TokenOptions {
        rootcertbundle: Some(pki.expired_bundle.clone()),
        jwks: None,
        ..options()
    })
    .unwrap();
    let token = jwt(
        json!({"alg": "ES256", "x5c": [pki.expired_root_leaf.x5c()]}),
        &claims(grant_pull("team/app")),
        &pki.expired_root_leaf.key,
    );
    assert_challenge(
        authorize(&expired, &token, &[pull("team/app")]).await,
        Some(ChallengeError::InvalidToken),
        PULL_INVALID,
    );
    // The expired root itself as the chain.
    let token = jwt(
        json!({"alg": "ES256", "x5c": [pki.expired_root.x5c()]}),
        &claims(grant_pull("team/app")),
        &pki.expired_root.key,
    );
    assert_challenge(
        authorize(&expired, &token, &[pull("team/app")]).await,
        Some(ChallengeError::InvalidToken),
        PULL_INVALID,
    );
    // Its key by kid: Distribution trusts root keys whatever the dates.
    let token = jwt(
        json!({"alg": "ES256", "kid": pki.expired_root.libtrust_kid}),
        &claims(grant_pull("team/app")),
        &pki.expired_root.key,
    );
    authorize(&expired, &token, &[pull("team/app")])
        .await
        .unwrap();
}

#[tokio::test]
async fn jwk_header_must_carry_a_trusted_key() {
    let pki = pki();
    let c = controller();
    // A root's key, no kid.
    let token = jwt(
        json!({"alg": "ES256", "jwk": pki.ec256_root.key.jwk()}),
        &claims(grant_pull("team/app")),
        &pki.ec256_root.key,
    );
    authorize(&c, &token, &[pull("team/app")]).await.unwrap();
    // A JWKS key named by the jwk's kid.
    let mut jwk = pki.jwks_rsa.jwk();
    jwk["kid"] = json!("jwks-rsa");
    let token = jwt(
        json!({"alg": "RS256", "jwk": jwk}),
        &claims(grant_pull("team/app")),
        &pki.jwks_rsa,
    );
    authorize(&c, &token, &[pull("team/app")]).await.unwrap();
    // An untrusted key that signed the token itself.
    let token = jwt(
        json!({"alg": "ES256", "jwk": pki.rogue_root.key.jwk()}),
        &claims(grant_pull("team/app")),
        &pki.rogue_root.key,
    );
    assert_challenge(
        authorize(&c, &token, &[pull("team/app")]).await,
        Some(ChallengeError::InvalidToken),
        PULL_INVALID,
    );
}

#[tokio::test]
async fn unknown_kid_or_no_key_reference_is_invalid() {
    let pki = pki();
    let c = controller();
    for header in [
        json!({"alg": "ES256", "kid": "AAAA:BBBB:CCCC"}),
        json!({"alg": "ES256", "kid": pki.rogue_root.libtrust_kid}),
        json!({"alg": "ES256"}),
    ] {
        let token = jwt(header, &claims(grant_pull("team/app")), &pki.rogue_root.key);
        assert_challenge(
            authorize(&c, &token, &[pull("team/app")]).await,
            Some(ChallengeError::InvalidToken),
            PULL_INVALID,
        );
    }
}

async fn with_claims(edit: impl FnOnce(&mut Value)) -> Result<Grant, AuthError> {
    let pki = pki();
    let mut claims = claims(grant_pull("team/app"));
    edit(&mut claims);
    let token = jwt(
        json!({"alg": "ES256", "kid": pki.ec256_root.libtrust_kid}),
        &claims,
        &pki.ec256_root.key,
    );
    authorize(&controller(), &token, &[pull("team/app")]).await
}

#[tokio::test]
async fn expiry_and_not_before_with_leeway() {
    let now = now();
    // Expired beyond the 60 s leeway.
    assert_challenge(
        with_claims(|c| c["exp"] = json!(now - 90)).await,
        Some(ChallengeError::InvalidToken),
        PULL_INVALID,
    );
    // Expired, but within the leeway.
    with_claims(|c| c["exp"] = json!(now - 30)).await.unwrap();
    // Not yet valid beyond the leeway.
    assert_challenge(
        with_claims(|c| c["nbf"] = json!(now + 90)).await,
        Some(ChallengeError::InvalidToken),
        PULL_INVALID,
    );
    // Not yet valid, but within the leeway.
    with_claims(|c| c["nbf"] = json!(now + 30)).await.unwrap();
    // No nbf at all is fine; no exp at all is expired.
    with_claims(|c| {
        c.as_object_mut().unwrap().remove("nbf");
    })
    .await
    .unwrap();
    assert_challenge(
        with_claims(|c| {
            c.as_object_mut().unwrap().remove("exp");
        })
        .await,
        Some(ChallengeError::InvalidToken),
        PULL_INVALID,
    );
    // Times are integers, as Go's int64.
    assert_challenge(
        with_claims(|c| c["exp"] = json!(now as f64 + 300.5)).await,
        Some(ChallengeError::InvalidToken),
        PULL_INVALID,
    );
}

#[tokio::test]
async fn issuer_and_audience() {
    assert_challenge(
        with_claims(|c| c["iss"] = json!("someone-else")).await,
        Some(ChallengeError::InvalidToken),
        PULL_INVALID,
    );
    assert_challenge(
        with_claims(|c| {
            c.as_object_mut().unwrap().remove("iss");
        })
        .await,
        Some(ChallengeError::InvalidToken),
        PULL_INVALID,
    );
    assert_challenge(
        with_claims(|c| c["aud"] = json!("other.example.com")).await,
        Some(ChallengeError::InvalidToken),
        PULL_INVALID,
    );
    with_claims(|c| c["aud"] = json!(["other.example.com", SERVICE]))
        .await
        .unwrap();
    assert_challenge(
        with_claims(|c| c["aud"] = json!(["other.example.com"])).await,
        Some(ChallengeError::InvalidToken),
        PULL_INVALID,
    );
}

#[tokio::test]
async fn bad_signatures_are_invalid() {
    let pki = pki();
    let c = controller();
    let header = json!({"alg": "ES256", "kid": pki.ec256_root.libtrust_kid});
    // Signed by another key.
    let token = jwt(
        header.clone(),
        &claims(grant_pull("team/app")),
        &pki.rogue_root.key,
    );
    assert_challenge(
        authorize(&c, &token, &[pull("team/app")]).await,
        Some(ChallengeError::InvalidToken),
        PULL_INVALID,
    );
    // Claims changed after signing.
    let token = jwt(
        header.clone(),
        &claims(grant_pull("team/app")),
        &pki.ec256_root.key,
    );
    let (head, rest) = token.split_once('.').unwrap();
    let signature = rest.split_once('.').unwrap().1;
    let forged = claims(json!([{"type": "repository", "name": "team/app", "actions": ["*"]}]));
    let tampered = format!(
        "{head}.{}.{signature}",
        b64url(forged.to_string().as_bytes())
    );
    assert_challenge(
        authorize(&c, &tampered, &[pull("team/app")]).await,
        Some(ChallengeError::InvalidToken),
        PULL_INVALID,
    );
    // No signature.
    let unsigned = format!("{}.", token.rsplit_once('.').unwrap().0);
    assert_challenge(
        authorize(&c, &unsigned, &[pull("team/app")]).await,
        Some(ChallengeError::InvalidToken),
        PULL_INVALID,
    );
    // The header's alg does not fit the key (RS256 for an EC key).
    let token = jwt(
        json!({"alg": "RS256", "kid": pki.ec256_root.libtrust_kid}),
        &claims(grant_pull("team/app")),
        &pki.rsa_root.key,
    );
    assert_challenge(
        authorize(&c, &token, &[pull("team/app")]).await,
        Some(ChallengeError::InvalidToken),
        PULL_INVALID,
    );
}

#[tokio::test]
async fn alg_none_is_refused() {
    let pki = pki();
    let c = controller();
    let header = json!({"alg": "none", "kid": pki.rsa_root.libtrust_kid});
    let token = assemble(&header, &claims(grant_pull("team/app")), |_| Vec::new());
    assert!(token.ends_with('.'));
    assert_challenge(
        authorize(&c, &token, &[pull("team/app")]).await,
        Some(ChallengeError::InvalidToken),
        PULL_INVALID,
    );
}

#[tokio::test]
async fn hs256_with_the_public_key_as_secret_is_refused() {
    let pki = pki();
    for algorithms in [vec![], vec!["HS256".to_string(), "RS256".to_string()]] {
        let c = TokenAccessController::new(TokenOptions {
            signingalgorithms: algorithms,
            ..options()
        })
        .unwrap();
        for secret in [pki.rsa_root.public_pem.clone(), pki.rsa_root.der.clone()] {
            let header = json!({"alg": "HS256", "kid": pki.rsa_root.libtrust_kid});
            let token = assemble(&header, &claims(grant_pull("team/app")), |input| {
                let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret);
                aws_lc_rs::hmac::sign(&key, input).as_ref().to_vec()
            });
            assert_challenge(
                authorize(&c, &token, &[pull("team/app")]).await,
                Some(ChallengeError::InvalidToken),
                PULL_INVALID,
            );
        }
    }
}

#[tokio::test]
async fn signing_algorithms_option_limits_alg() {
    let pki = pki();
    let c = TokenAccessController::new(TokenOptions {
        signingalgorithms: vec!["RS256".into()],
        ..options()
    })
    .unwrap();
    let token = jwt(
        json!({"alg": "ES256", "kid": pki.ec256_root.libtrust_kid}),
        &claims(grant_pull("team/app")),
        &pki.ec256_root.key,
    );
    assert_challenge(
        authorize(&c, &token, &[pull("team/app")]).await,
        Some(ChallengeError::InvalidToken),
        PULL_INVALID,
    );
    let token = jwt(
        json!({"alg": "RS256", "kid": pki.rsa_root.libtrust_kid}),
        &claims(grant_pull("team/app")),
        &pki.rsa_root.key,
    );
    authorize(&c, &token, &[pull("team/app")]).await.unwrap();
}

async fn scoped(granted: Value, wanted: &[Access]) -> Result<Grant, AuthError> {
    let pki = pki();
    let token = jwt(
        json!({"alg": "ES256", "kid": pki.ec256_root.libtrust_kid}),
        &claims(granted),
        &pki.ec256_root.key,
    );
    authorize(&controller(), &token, wanted).await
}

#[tokio::test]
async fn missing_scope_is_insufficient() {
    assert_challenge(
        scoped(json!([]), &[pull("team/app")]).await,
        Some(ChallengeError::InsufficientScope),
        PULL_SCOPE,
    );
    assert_challenge(
        scoped(Value::Null, &[pull("team/app")]).await,
        Some(ChallengeError::InsufficientScope),
        PULL_SCOPE,
    );
    // Another repository.
    assert_challenge(
        scoped(grant_pull("team/other"), &[pull("team/app")]).await,
        Some(ChallengeError::InsufficientScope),
        PULL_SCOPE,
    );
    // Another type with the same name.
    assert_challenge(
        scoped(
            json!([{"type": "registry", "name": "team/app", "actions": ["*"]}]),
            &[pull("team/app")],
        )
        .await,
        Some(ChallengeError::InsufficientScope),
        PULL_SCOPE,
    );
    // Pull only, push wanted.
    assert_challenge(
        scoped(
            grant_pull("team/app"),
            &[pull("team/app"), Access::repository("team/app", "push")],
        )
        .await,
        Some(ChallengeError::InsufficientScope),
        r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:team/app:pull,push",error="insufficient_scope""#,
    );
}

#[tokio::test]
async fn star_grants_every_action() {
    let wanted = [
        pull("team/app"),
        Access::repository("team/app", "push"),
        Access::repository("team/app", "delete"),
    ];
    let grant = scoped(
        json!([{"type": "repository", "name": "team/app", "actions": ["*"]}]),
        &wanted,
    )
    .await
    .unwrap();
    assert_eq!(grant.access, vec![Access::repository("team/app", "*")]);
}

#[tokio::test]
async fn catalog_scope() {
    let catalog = json!([{"type": "registry", "name": "catalog", "actions": ["*"]}]);
    scoped(catalog, &[Access::catalog()]).await.unwrap();
    // A repository wildcard does not grant the catalog.
    assert_challenge(
        scoped(
            json!([{"type": "repository", "name": "catalog", "actions": ["*"]}]),
            &[Access::catalog()],
        )
        .await,
        Some(ChallengeError::InsufficientScope),
        r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="registry:catalog:*",error="insufficient_scope""#,
    );
}

#[tokio::test]
async fn multiple_scopes() {
    let wanted = [
        pull("team/app"),
        Access::repository("team/app", "push"),
        pull("base/image"),
    ];
    let granted = json!([
        {"type": "repository", "name": "team/app", "actions": ["pull", "push"]},
        {"type": "repository", "name": "base/image", "actions": ["pull"]},
    ]);
    let grant = scoped(granted, &wanted).await.unwrap();
    assert_eq!(
        grant.resources,
        vec![
            Resource::repository("team/app"),
            Resource::repository("base/image")
        ]
    );

    let partial = json!([{"type": "repository", "name": "team/app", "actions": ["pull", "push"]}]);
    assert_challenge(
        scoped(partial, &wanted).await,
        Some(ChallengeError::InsufficientScope),
        r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:team/app:pull,push repository:base/image:pull",error="insufficient_scope""#,
    );
}

#[tokio::test]
async fn no_or_other_credentials_get_a_plain_challenge() {
    let c = controller();
    let plain = r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:team/app:pull""#;
    assert_challenge(
        c.authorize(&Request::new(), &[pull("team/app")]).await,
        None,
        plain,
    );
    for header in ["Basic YWxpY2U6cGFzcw==", "Bearer", "Bearer ", "Token abc"] {
        assert_challenge(
            c.authorize(
                &Request::new().with_authorization(header),
                &[pull("team/app")],
            )
            .await,
            None,
            plain,
        );
    }
    // GET /v2/ asks for no access: no scope.
    assert_challenge(
        c.authorize(&Request::new(), &[]).await,
        None,
        r#"Bearer realm="https://auth.example.com/token",service="registry.example.com""#,
    );
}

#[tokio::test]
async fn malformed_tokens_are_invalid() {
    let c = controller();
    for token in ["abc", "a.b", "a.b.c", "e30.e30.e30", "Zm9v.e30.", "x y z"] {
        match authorize(&c, token, &[pull("team/app")]).await {
            Err(AuthError::Challenge(challenge)) => {
                assert_eq!(challenge.www_authenticate(), PULL_INVALID, "{token}");
                assert_eq!(challenge.error(), Some(ChallengeError::InvalidToken));
                assert_eq!(challenge.message(), "malformed token");
            }
            other => panic!("{token}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn bearer_scheme_is_case_insensitive() {
    let pki = pki();
    let c = controller();
    let token = jwt(
        json!({"alg": "ES256", "kid": pki.ec256_root.libtrust_kid}),
        &claims(grant_pull("team/app")),
        &pki.ec256_root.key,
    );
    let header = format!("bEaReR {token}");
    c.authorize(
        &Request::new().with_authorization(&header),
        &[pull("team/app")],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn no_sub_means_no_user() {
    let grant = with_claims(|c| {
        c.as_object_mut().unwrap().remove("sub");
    })
    .await
    .unwrap();
    assert_eq!(grant.user, None);
}

#[tokio::test]
async fn autoredirect_realm_comes_from_the_request() {
    let c = TokenAccessController::new(TokenOptions {
        realm: String::new(),
        autoredirect: true,
        ..options()
    })
    .unwrap();
    let request = Request::new().with_host("registry.local:5000");
    assert_challenge(
        c.authorize(&request, &[pull("team/app")]).await,
        None,
        r#"Bearer realm="https://registry.local:5000/auth/token",service="registry.example.com",scope="repository:team/app:pull""#,
    );
    let c = TokenAccessController::new(TokenOptions {
        autoredirect: true,
        autoredirectpath: Some("/v2/token".into()),
        ..options()
    })
    .unwrap();
    let request = Request::new()
        .with_host("registry.local:5000")
        .with_scheme("http")
        .with_authorization("Bearer not.a.token");
    assert_challenge(
        c.authorize(&request, &[pull("team/app")]).await,
        Some(ChallengeError::InvalidToken),
        r#"Bearer realm="http://registry.local:5000/v2/token",service="registry.example.com",scope="repository:team/app:pull",error="invalid_token""#,
    );
}

#[test]
fn construction_errors_name_the_option_and_file() {
    let pki = pki();
    let missing = |o: TokenOptions| TokenAccessController::new(o).unwrap_err();

    let err = missing(TokenOptions {
        issuer: String::new(),
        ..options()
    });
    assert!(
        matches!(
            err,
            ConfigError::Missing {
                option: "auth.token.issuer"
            }
        ),
        "{err}"
    );
    let err = missing(TokenOptions {
        service: String::new(),
        ..options()
    });
    assert!(
        matches!(
            err,
            ConfigError::Missing {
                option: "auth.token.service"
            }
        ),
        "{err}"
    );
    let err = missing(TokenOptions {
        realm: String::new(),
        ..options()
    });
    assert!(
        matches!(
            err,
            ConfigError::Missing {
                option: "auth.token.realm"
            }
        ),
        "{err}"
    );

    let nowhere = pki.dir.join("no-such-bundle.pem");
    let err = missing(TokenOptions {
        rootcertbundle: Some(nowhere.clone()),
        ..options()
    });
    assert!(
        matches!(&err, ConfigError::Io { option: "auth.token.rootcertbundle", path, .. } if *path == nowhere),
        "{err}"
    );
    assert!(err.to_string().contains("no-such-bundle.pem"), "{err}");

    let err = missing(TokenOptions {
        rootcertbundle: None,
        jwks: None,
        ..options()
    });
    assert!(
        err.to_string().contains("at least one token signing key"),
        "{err}"
    );

    // A bundle with no certificate and no JWKS.
    let empty = pki.dir.join("empty.pem");
    std::fs::write(&empty, "no certificates here\n").unwrap();
    let err = missing(TokenOptions {
        rootcertbundle: Some(empty),
        jwks: None,
        ..options()
    });
    assert!(
        err.to_string().contains("at least one token signing key"),
        "{err}"
    );

    // A certificate that is not one.
    let garbage = pki.dir.join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let err = missing(TokenOptions {
        rootcertbundle: Some(garbage),
        ..options()
    });
    assert!(
        matches!(
            err,
            ConfigError::File {
                option: "auth.token.rootcertbundle",
                ..
            }
        ),
        "{err}"
    );

    let bad_jwks = pki.dir.join("bad-jwks.json");
    std::fs::write(
        &bad_jwks,
        r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k"}]}"#,
    )
    .unwrap();
    let err = missing(TokenOptions {
        jwks: Some(bad_jwks),
        ..options()
    });
    assert!(
        matches!(
            err,
            ConfigError::File {
                option: "auth.token.jwks",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("key 0"), "{err}");

    let err = missing(TokenOptions {
        jwks: Some(PathBuf::from("https://auth.example.com/jwks")),
        ..options()
    });
    assert!(
        matches!(
            err,
            ConfigError::Invalid {
                option: "auth.token.jwks",
                ..
            }
        ),
        "{err}"
    );

    let err = missing(TokenOptions {
        signingalgorithms: vec!["RS256".into(), "XY999".into()],
        ..options()
    });
    assert!(
        matches!(
            err,
            ConfigError::Invalid {
                option: "auth.token.signingalgorithms",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("XY999"), "{err}");
    let err = missing(TokenOptions {
        signingalgorithms: vec!["HS256".into()],
        ..options()
    });
    assert!(
        matches!(
            err,
            ConfigError::Invalid {
                option: "auth.token.signingalgorithms",
                ..
            }
        ),
        "{err}"
    );
    let err = missing(TokenOptions {
        signingalgorithms: vec!["none".into()],
        ..options()
    });
    assert!(
        matches!(
            err,
            ConfigError::Invalid {
                option: "auth.token.signingalgorithms",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_bundle_with_other_pem_blocks_still_loads() {
    let pki = pki();
    let mixed = pki.dir.join("mixed.pem");
    let mut text = std::fs::read(pki.dir.join("rsa-root.key")).unwrap();
    text.extend(std::fs::read(&pki.bundle).unwrap());
    std::fs::write(&mixed, text).unwrap();
    TokenAccessController::new(TokenOptions {
        rootcertbundle: Some(mixed),
        jwks: None,
        ..options()
    })
    .unwrap();
}

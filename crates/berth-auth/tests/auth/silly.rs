use berth_auth::{
    Access, AccessController, ConfigError, Request, SillyAccessController, SillyOptions, UserInfo,
};

use crate::common::assert_challenge;

fn controller() -> SillyAccessController {
    SillyAccessController::new(SillyOptions {
        realm: "https://auth.example.com/token".into(),
        service: "registry.example.com".into(),
    })
    .unwrap()
}

#[tokio::test]
async fn no_header_gets_a_bearer_challenge_with_every_access() {
    let c = controller();
    let wanted = [
        Access::repository("team/app", "pull"),
        Access::repository("team/app", "push"),
        Access::catalog(),
    ];
    let expected = r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:team/app:pull repository:team/app:push registry:catalog:*""#;
    assert_challenge(c.authorize(&Request::new(), &wanted).await, None, expected);
    // An empty header counts as none, as Go's Header.Get.
    assert_challenge(
        c.authorize(&Request::new().with_authorization(""), &wanted)
            .await,
        None,
        expected,
    );
    assert_challenge(
        c.authorize(&Request::new(), &[]).await,
        None,
        r#"Bearer realm="https://auth.example.com/token",service="registry.example.com""#,
    );
}

#[tokio::test]
async fn any_header_is_granted_as_silly() {
    let c = controller();
    for header in ["Bearer whatever", "Basic Zm9vOmJhcg==", "x"] {
        let grant = c
            .authorize(
                &Request::new().with_authorization(header),
                &[Access::repository("team/app", "push")],
            )
            .await
            .unwrap();
        assert_eq!(
            grant.user,
            Some(UserInfo {
                name: "silly".into()
            })
        );
    }
}

#[test]
fn realm_and_service_are_required() {
    let err = SillyAccessController::new(SillyOptions {
        realm: String::new(),
        service: "s".into(),
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Missing {
                option: "auth.silly.realm"
            }
        ),
        "{err}"
    );
    let err = berth_auth::silly(SillyOptions {
        realm: "r".into(),
        service: String::new(),
    })
    .err()
    .unwrap();
    assert_eq!(err.to_string(), "auth.silly.service must be set");
}

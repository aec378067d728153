//! Authentication against Distribution 2.8: htpasswd (Basic), and token
//! auth with a token server of our own signing RS256 JWTs.

use std::time::Duration;

use berth_client::Client;
use berth_core::{ErrorKind, Namespace, PageRequest, Repository};
use berth_reference::RepositoryName;
use berth_testkit::DockerRegistry;
use bytes::Bytes;

use crate::common::{ISSUER, SERVICE, TokenServer, htpasswd, options, signer, tempdir};

fn name(s: &str) -> RepositoryName {
    RepositoryName::parse(s).unwrap()
}

#[tokio::test]
async fn basic_auth_with_htpasswd() {
    let dir = tempdir();
    let Some(file) = htpasswd(dir.path(), "alice", "wonder land") else {
        return;
    };
    let Some(registry) = DockerRegistry::start_with(
        &dir.path().join("root"),
        &format!(
            "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
            file.display()
        ),
    ) else {
        return;
    };

    let anonymous = Client::new(options(&registry.url)).unwrap();
    let err = anonymous.ping().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied, "{err:?}");

    let wrong = Client::new(options(&registry.url).credentials("alice", "wrong")).unwrap();
    assert_eq!(wrong.ping().await.unwrap_err().kind(), ErrorKind::Denied);
    let err = wrong
        .repository(&name("a"))
        .blobs()
        .put("application/octet-stream", Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied);

    let alice = Client::new(options(&registry.url).credentials("alice", "wonder land")).unwrap();
    alice.ping().await.unwrap();
    let repo = alice.repository(&name("team/app"));
    let d = repo
        .blobs()
        .put(
            "application/octet-stream",
            Bytes::from_static(b"secret layer"),
        )
        .await
        .unwrap();
    assert_eq!(repo.blobs().get(&d.digest).await.unwrap(), "secret layer");
    // Streamed bodies cannot be sent twice: the credentials go up front.
    let body = crate::common::stream_of(b"streamed", 3);
    repo.remote_blobs()
        .upload(body, &berth_digest::Digest::sha256(b"streamed"), None)
        .await
        .unwrap();
    let page = alice.catalog(PageRequest::default()).await.unwrap();
    assert_eq!(page.items, ["team/app"]);
}

/// A registry with token auth and its token server.
struct TokenSetup {
    _dir: tempfile::TempDir,
    tokens: TokenServer,
    registry: DockerRegistry,
}

fn token_setup() -> Option<TokenSetup> {
    let signer = signer()?;
    let dir = tempdir();
    let tokens = TokenServer::start(signer);
    let registry = DockerRegistry::start_with(
        &dir.path().join("root"),
        &format!(
            "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
            tokens.realm(),
            signer.cert_pem.display()
        ),
    )?;
    Some(TokenSetup {
        _dir: dir,
        tokens,
        registry,
    })
}

const PULL: &str = "repository:team/app:pull";
const PUSH: &str = "repository:team/app:pull,push";

#[tokio::test]
async fn token_dance_fetches_once_per_scope_and_caches() {
    let Some(s) = token_setup() else { return };
    let client = Client::new(options(&s.registry.url).credentials("alice", "pw")).unwrap();
    client.ping().await.unwrap();
    assert_eq!(s.tokens.count(""), 1, "ping: a token without scope");

    let repo = client.repository(&name("team/app"));
    let mut digests = Vec::new();
    for i in 0..3u8 {
        let d = repo
            .blobs()
            .put("application/octet-stream", Bytes::from(vec![i; 100]))
            .await
            .unwrap();
        digests.push(d.digest);
    }
    assert_eq!(s.tokens.count(PUSH), 1);
    for d in &digests {
        repo.blobs().stat(d).await.unwrap();
        assert_eq!(repo.blobs().get(d).await.unwrap().len(), 100);
    }
    assert_eq!(s.tokens.count(PULL), 1);
    // Concurrent requests of a new scope share one token.
    let other = client.repository(&name("team/other"));
    let stats =
        futures_util::future::join_all((0..6).map(|_| other.blobs().stat(&digests[0]))).await;
    assert!(
        stats
            .iter()
            .all(|r| r.as_ref().unwrap_err().kind() == ErrorKind::BlobUnknown)
    );
    assert_eq!(s.tokens.count("repository:team/other:pull"), 1);

    // Mount: the challenge asks for the source repository too.
    let created = other
        .blobs()
        .create(berth_core::CreateOptions {
            mount_from: Some((name("team/app"), digests[0].clone())),
        })
        .await
        .unwrap();
    assert!(
        matches!(created, berth_core::Created::Mounted(_)),
        "{created:?}"
    );
    assert_eq!(
        s.tokens
            .count("repository:team/app:pull repository:team/other:pull,push"),
        1
    );

    let catalog = client
        .namespace()
        .catalog(PageRequest::default())
        .await
        .unwrap();
    assert_eq!(catalog.items, ["team/app", "team/other"]);
    client.catalog(PageRequest::default()).await.unwrap();
    assert_eq!(s.tokens.count("registry:catalog:*"), 1);

    // The token server got the credentials, and the account.
    let requests = s.tokens.server.all();
    assert!(requests.iter().all(|r| {
        r.header("authorization")
            .is_some_and(|a| a.starts_with("Basic "))
    }));
    assert!(requests.iter().all(|r| r.query("account") == ["alice"]));
}

#[tokio::test]
async fn tokens_are_refreshed_after_expiry_and_on_401() {
    let Some(s) = token_setup() else { return };
    // `expires_in` of 2 s: cached for less than that.
    s.tokens.policy.lock().unwrap().expires_in = Some(2);
    let client = Client::new(options(&s.registry.url)).unwrap();
    let repo = client.repository(&name("team/app"));
    let digest = berth_digest::Digest::sha256(b"none");
    let stat = || async { repo.blobs().stat(&digest).await.unwrap_err().kind() };
    assert_eq!(stat().await, ErrorKind::BlobUnknown);
    assert_eq!(stat().await, ErrorKind::BlobUnknown);
    assert_eq!(s.tokens.count(PULL), 1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(stat().await, ErrorKind::BlobUnknown);
    assert_eq!(s.tokens.count(PULL), 2, "a new token after expiry");

    // A token the registry refuses (expired by its clock) is replaced
    // once, and the request retried.
    s.tokens.policy.lock().unwrap().expires_in = None; // 60 s by default
    let client = Client::new(options(&s.registry.url)).unwrap();
    client.ping().await.unwrap(); // learns the realm
    {
        let mut policy = s.tokens.policy.lock().unwrap();
        policy.expired_next = 1;
        policy.access_token_field = true;
    }
    let repo = client.repository(&name("team/app"));
    let err = repo.blobs().stat(&digest).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BlobUnknown, "{err:?}");
    assert_eq!(s.tokens.count(PULL), 4, "one refused, one accepted");
    assert_eq!(
        repo.blobs().stat(&digest).await.unwrap_err().kind(),
        ErrorKind::BlobUnknown
    );
    assert_eq!(s.tokens.count(PULL), 4, "then cached");

    // Tokens that are always refused: one new token, then Denied.
    s.tokens.policy.lock().unwrap().expired_next = 1000;
    let client = Client::new(options(&s.registry.url)).unwrap();
    let err = client
        .repository(&name("team/app"))
        .blobs()
        .stat(&digest)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied, "{err:?}");
    assert_eq!(s.tokens.count(PULL), 5);
}

#[tokio::test]
async fn a_token_server_that_refuses_the_credentials_is_denied() {
    let Some(s) = token_setup() else { return };
    s.tokens.policy.lock().unwrap().require = Some(("alice".into(), "pw".into()));
    let wrong = Client::new(options(&s.registry.url).credentials("alice", "nope")).unwrap();
    let err = wrong.ping().await.unwrap_err();
    assert!(
        matches!(&err, berth_core::Error::Denied { reason } if reason.contains("token server")),
        "{err:?}"
    );
    assert!(
        !err.to_string().contains("nope"),
        "no credentials in errors"
    );
    let anonymous = Client::new(options(&s.registry.url)).unwrap();
    assert_eq!(
        anonymous.ping().await.unwrap_err().kind(),
        ErrorKind::Denied
    );
    assert_eq!(s.tokens.total(), 0, "no token issued");
    let right = Client::new(options(&s.registry.url).credentials("alice", "pw")).unwrap();
    right.ping().await.unwrap();
    assert_eq!(s.tokens.total(), 1);
    assert!(!format!("{right:?}").contains("pw\""));
}

//! Access control end to end: the real binary with `auth:` configured.

mod common;

use std::path::Path;
use std::process::Command;

use common::Berth;

/// Distribution 2.8's body for a challenge on `/v2/` (no access records).
const UNAUTHORIZED_BASE: &str =
    r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#;

/// `htpasswd -Bbc FILE USER PASSWORD` (Debian's apache2-utils).
fn add_user(file: &Path, user: &str, password: &str) {
    let mut cmd = Command::new("htpasswd");
    cmd.arg("-B").arg("-C").arg("5").arg("-b");
    if !file.exists()
        || std::fs::metadata(file)
            .map(|m| m.len() == 0)
            .unwrap_or(true)
    {
        cmd.arg("-c");
    }
    let out = cmd.arg(file).arg(user).arg(password).output().unwrap();
    assert!(out.status.success(), "htpasswd: {out:?}");
}

/// Whether `htpasswd` is here (scripts/test.sh installs apache2-utils);
/// when the environment says services are required its absence fails.
fn have_htpasswd() -> bool {
    berth_testkit::program("htpasswd")
}

/// The file Debian's `docker-registry` package installs, served as it is
/// but for its paths and address: a 401 Basic challenge until a user is
/// added with `htpasswd -B`, then pushes and pulls with that user.
#[test]
fn debian_stock_config_with_htpasswd() {
    let stock = Path::new("/etc/docker/registry/config.yml");
    if !stock.exists() || !have_htpasswd() {
        assert!(
            !berth_testkit::services_required(),
            "{} (Debian's docker-registry) is required",
            stock.display()
        );
        eprintln!("skipped: {} is missing", stock.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let users = dir.path().join("auth").join("htpasswd");
    let port = berth_testkit::free_port();
    let mut yaml = std::fs::read_to_string(stock).unwrap();
    for (from, to) in [
        (
            "rootdirectory: /var/lib/docker-registry",
            format!("rootdirectory: {}", root.display()),
        ),
        (
            "path: /etc/docker/registry",
            format!("path: {}", users.display()),
        ),
        ("addr: :5000", format!("addr: 127.0.0.1:{port}")),
    ] {
        assert_eq!(yaml.matches(from).count(), 1, "{from} in\n{yaml}");
        yaml = yaml.replace(from, &to);
    }
    let config = dir.path().join("config.yml");
    std::fs::write(&config, &yaml).unwrap();
    let b = Berth::spawn(
        dir,
        config,
        format!("http://127.0.0.1:{port}"),
        "",
        root,
        401,
    );

    // The missing htpasswd file was created empty, with a warning.
    assert_eq!(std::fs::metadata(&users).unwrap().len(), 0);
    assert!(b.log_text().contains("htpasswd"), "{}", b.log_text());

    let r = b.get("/v2/");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Basic realm="basic-realm""#)
    );
    assert_eq!(r.text(), UNAUTHORIZED_BASE);
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let r = b.get("/v2/app/manifests/latest");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json()["errors"][0]["detail"],
        serde_json::json!([{"Type":"repository","Class":"","Name":"app","Action":"pull"}])
    );

    // The file is re-read when it changes: alice can now push and pull.
    add_user(&users, "alice", "s3cret");
    let b = b.with_basic("alice", "s3cret");
    assert_eq!(b.get("/v2/").status, 200);
    let (manifest, digest) = b.push_image("team/app", "v1", 3);
    let r = b.get_with(
        "/v2/team/app/manifests/v1",
        &[("Accept", "application/vnd.oci.image.manifest.v1+json")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, manifest);
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));

    // Wrong credentials: refused before anything is stored.
    let b = b.with_basic("alice", "wrong");
    let r = b.post("/v2/team/app/blobs/uploads/", b"");
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["errors"][0]["code"], "UNAUTHORIZED");
    let uploads = b
        .root
        .join("docker/registry/v2/repositories/team/app/_uploads");
    let left = std::fs::read_dir(&uploads)
        .map(|d| d.count())
        .unwrap_or_default();
    assert_eq!(
        left,
        0,
        "an upload was left behind in {}",
        uploads.display()
    );
    let b = b.with_basic("mallory", "s3cret");
    assert_eq!(b.get("/v2/team/app/tags/list").status, 401);
}

/// A mount needs pull on the source; Distribution's request records list
/// it in the challenge's detail.
#[test]
fn mount_challenge_names_the_source() {
    if !have_htpasswd() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("htpasswd");
    add_user(&users, "bob", "pw");
    let b = Berth::start_with(&format!(
        "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
        users.display()
    ));
    let digest = berth_digest::Digest::sha256(b"x");
    let r = b.post(
        &format!("/v2/dst/blobs/uploads/?mount={digest}&from=src"),
        b"",
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json()["errors"][0]["detail"],
        serde_json::json!([
            {"Type":"repository","Class":"","Name":"dst","Action":"pull"},
            {"Type":"repository","Class":"","Name":"dst","Action":"push"}
        ])
    );
    let r = b.get("/v2/_catalog");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json()["errors"][0]["detail"],
        serde_json::json!([{"Type":"registry","Class":"","Name":"catalog","Action":"*"}])
    );
    // With credentials the mount goes through as usual.
    let b = b.with_basic("bob", "pw");
    let blob = b.push_blob("src", b"x");
    assert_eq!(blob, digest);
    let r = b.post(
        &format!("/v2/dst/blobs/uploads/?mount={digest}&from=src"),
        b"",
    );
    assert_eq!(r.status, 201, "{}", r.text());
}

/// `silly`: a Bearer challenge without an Authorization header; any
/// header passes.
#[test]
fn silly_challenges_then_lets_anyone_in() {
    let b = Berth::start_with(
        "auth:\n  silly:\n    realm: https://auth.example/token\n    service: berth-test\n",
    );
    let r = b.get("/v2/app/tags/list");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some(
            r#"Bearer realm="https://auth.example/token",service="berth-test",scope="repository:app:pull""#
        )
    );
    let mut b = b;
    b.authorization = Some("Bearer anything".into());
    let (_, digest) = b.push_image("app", "v1", 1);
    let r = b.head(&format!("/v2/app/manifests/{digest}"));
    assert_eq!(r.status, 200);
}

/// A token server's signing material (`berth_testkit::TokenIssuer`: an
/// RSA key and its self-signed certificate, the `rootcertbundle`).
struct Issuer(berth_testkit::TokenIssuer);

impl Issuer {
    fn new() -> Issuer {
        Issuer(berth_testkit::TokenIssuer::new("berth test token issuer").expect("openssl"))
    }

    fn bundle(&self) -> std::path::PathBuf {
        self.0.bundle()
    }

    /// An RS256 JWT for `sub` granting `access`.
    fn token(&self, sub: &str, access: serde_json::Value) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = serde_json::json!({
            "iss": "berth-test-issuer", "sub": sub, "aud": "berth-test",
            "exp": now + 300, "nbf": now - 10, "iat": now - 10,
            "jti": format!("{sub}-{now}"), "access": access,
        });
        self.0.sign(&claims.to_string())
    }
}

/// Bearer tokens: the challenge names realm, service and scope; a token's
/// `access` claim decides; a mount without pull on its source becomes a
/// plain upload; the user goes to the access log, the token never does.
#[test]
fn token_auth_scopes_mounts_and_logs() {
    if !berth_testkit::program("openssl") {
        return;
    }
    let issuer = Issuer::new();
    let b = Berth::start_with(&format!(
        "log:\n  level: info\nauth:\n  token:\n    realm: https://auth.example/token\n    service: berth-test\n    issuer: berth-test-issuer\n    rootcertbundle: {}\n",
        issuer.bundle().display()
    ));
    let r = b.get("/v2/app/tags/list");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some(
            r#"Bearer realm="https://auth.example/token",service="berth-test",scope="repository:app:pull""#
        )
    );

    let mut b = b;
    let push = issuer.token(
        "alice",
        serde_json::json!([{"type": "repository", "name": "app", "actions": ["pull", "push"]}]),
    );
    b.authorization = Some(format!("Bearer {push}"));
    let (_, digest) = b.push_image("app", "v1", 7);
    assert_eq!(b.head(&format!("/v2/app/manifests/{digest}")).status, 200);

    // Pull only: a push is refused with insufficient_scope.
    let pull = issuer.token(
        "bob",
        serde_json::json!([{"type": "repository", "name": "app", "actions": ["pull"]}]),
    );
    b.authorization = Some(format!("Bearer {pull}"));
    assert_eq!(b.get("/v2/app/tags/list").status, 200);
    let r = b.post("/v2/app/blobs/uploads/", b"");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some(
            r#"Bearer realm="https://auth.example/token",service="berth-test",scope="repository:app:pull,push",error="insufficient_scope""#
        )
    );
    // Another repository, and the catalog, need their own scopes.
    assert_eq!(b.get("/v2/other/tags/list").status, 401);
    assert_eq!(b.get("/v2/_catalog").status, 401);
    let catalog = issuer.token(
        "carol",
        serde_json::json!([{"type": "registry", "name": "catalog", "actions": ["*"]}]),
    );
    b.authorization = Some(format!("Bearer {catalog}"));
    assert_eq!(
        b.get("/v2/_catalog").json()["repositories"],
        serde_json::json!(["app"])
    );

    // A mount into `dst` without pull on `app` is an upload (202); with
    // it, the blob is mounted (201).
    b.authorization = Some(format!("Bearer {pull}"));
    let manifest = b.get_with(
        &format!("/v2/app/manifests/{digest}"),
        &[("Accept", "application/vnd.oci.image.manifest.v1+json")],
    );
    let layer = manifest.json()["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let dst_only = issuer.token(
        "dave",
        serde_json::json!([{"type": "repository", "name": "dst", "actions": ["pull", "push"]}]),
    );
    b.authorization = Some(format!("Bearer {dst_only}"));
    let r = b.post(
        &format!("/v2/dst/blobs/uploads/?mount={layer}&from=app"),
        b"",
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let both = issuer.token(
        "dave",
        serde_json::json!([
            {"type": "repository", "name": "dst", "actions": ["pull", "push"]},
            {"type": "repository", "name": "app", "actions": ["pull"]}
        ]),
    );
    b.authorization = Some(format!("Bearer {both}"));
    let r = b.post(
        &format!("/v2/dst/blobs/uploads/?mount={layer}&from=app"),
        b"",
    );
    assert_eq!(r.status, 201, "{}", r.text());

    // A bad signature: invalid_token.
    let mut forged = push.clone();
    forged.truncate(forged.len() - 4);
    forged.push_str("AAAA");
    b.authorization = Some(format!("Bearer {forged}"));
    let r = b.get("/v2/app/tags/list");
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .is_some_and(|h| h.ends_with(r#",error="invalid_token""#)),
        "{:?}",
        r.header("www-authenticate")
    );

    std::thread::sleep(std::time::Duration::from_millis(200));
    let log = b.log_text();
    assert!(log.contains(r#"user="alice""#), "{log}");
    for secret in [&push, &pull, &catalog, &forged] {
        let signature = secret.rsplit('.').next().unwrap();
        assert!(!log.contains(signature), "a token reached the log");
    }
}

use std::path::{Path, PathBuf};

use base64::Engine as _;
use berth_auth::{
    Access, AccessController, AuthError, ConfigError, Grant, HtpasswdAccessController,
    HtpasswdOptions, Request, UserInfo,
};

use crate::common::{assert_challenge, run};

const CHALLENGE: &str = r#"Basic realm="Registry Realm""#;

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn htpasswd(dir: &Path, args: &[&str]) {
    run("htpasswd", args, dir);
}

/// alice (bcrypt, cost 5), bob (bcrypt, cost 5 given with -C), carol (MD5).
fn fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    let f = file.to_str().unwrap();
    htpasswd(dir.path(), &["-B", "-b", "-c", f, "alice", "s3cret"]);
    htpasswd(dir.path(), &["-B", "-C", "5", "-b", f, "bob", "hunter2"]);
    htpasswd(dir.path(), &["-m", "-b", f, "carol", "md5pass"]);
    (dir, file)
}

fn controller(path: &Path) -> HtpasswdAccessController {
    HtpasswdAccessController::new(HtpasswdOptions {
        realm: "Registry Realm".into(),
        path: path.to_path_buf(),
    })
    .unwrap()
}

async fn login(c: &HtpasswdAccessController, header: &str) -> Result<Grant, AuthError> {
    c.authorize(
        &Request::new().with_authorization(header),
        &[Access::repository("team/app", "pull")],
    )
    .await
}

fn user(grant: Grant) -> String {
    grant.user.expect("a user").name
}

#[tokio::test]
async fn valid_users_are_granted() {
    let (_dir, file) = fixture();
    let c = controller(&file);
    let grant = login(&c, &basic("alice", "s3cret")).await.unwrap();
    assert_eq!(
        grant.user,
        Some(UserInfo {
            name: "alice".into()
        })
    );
    assert!(grant.resources.is_empty() && grant.access.is_empty());
    assert_eq!(
        user(login(&c, &basic("bob", "hunter2")).await.unwrap()),
        "bob"
    );
    // Again: answered from the remembered credentials.
    assert_eq!(
        user(login(&c, &basic("alice", "s3cret")).await.unwrap()),
        "alice"
    );
    // The scheme is case-insensitive, as Go's BasicAuth.
    let lower = basic("alice", "s3cret").replacen("Basic", "basic", 1);
    assert_eq!(user(login(&c, &lower).await.unwrap()), "alice");
}

#[tokio::test]
async fn wrong_password_unknown_user_and_no_credentials_get_the_same_challenge() {
    let (_dir, file) = fixture();
    let c = controller(&file);
    // Remember alice's good password first: a wrong one must still fail.
    login(&c, &basic("alice", "s3cret")).await.unwrap();
    for header in [
        basic("alice", "wrong"),
        basic("alice", ""),
        basic("alice", "s3cret "),
        basic("mallory", "s3cret"),
        basic("", ""),
    ] {
        assert_challenge(login(&c, &header).await, None, CHALLENGE);
    }
    match login(&c, &basic("mallory", "x")).await {
        Err(AuthError::Challenge(ch)) => assert_eq!(ch.message(), "authentication failure"),
        other => panic!("{other:?}"),
    }
    assert_challenge(
        c.authorize(&Request::new(), &[Access::repository("team/app", "pull")])
            .await,
        None,
        CHALLENGE,
    );
}

#[tokio::test]
async fn malformed_headers_get_the_challenge() {
    let (_dir, file) = fixture();
    let c = controller(&file);
    let no_colon = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("alices3cret")
    );
    for header in [
        "",
        "Basic",
        "Basic !!!notbase64",
        "Bearer abc.def.ghi",
        "Basic YWxpY2U6czNjcmV0\u{0}",
        &no_colon,
    ] {
        match login(&c, header).await {
            Err(AuthError::Challenge(ch)) => {
                assert_eq!(ch.www_authenticate(), CHALLENGE, "{header:?}");
                assert_eq!(ch.error(), None);
                assert_eq!(
                    ch.message(),
                    "invalid authorization credential",
                    "{header:?}"
                );
            }
            other => panic!("{header:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn non_bcrypt_entries_never_match() {
    let (_dir, file) = fixture();
    let c = controller(&file);
    assert_challenge(login(&c, &basic("carol", "md5pass")).await, None, CHALLENGE);
}

#[tokio::test]
async fn the_file_is_read_again_when_it_changes() {
    let (dir, file) = fixture();
    let f = file.to_str().unwrap();
    let c = controller(&file);
    assert_eq!(
        user(login(&c, &basic("alice", "s3cret")).await.unwrap()),
        "alice"
    );
    assert_challenge(login(&c, &basic("dave", "newpass")).await, None, CHALLENGE);

    htpasswd(dir.path(), &["-B", "-b", f, "dave", "newpass"]);
    htpasswd(dir.path(), &["-D", f, "alice"]);
    assert_eq!(
        user(login(&c, &basic("dave", "newpass")).await.unwrap()),
        "dave"
    );
    assert_challenge(login(&c, &basic("alice", "s3cret")).await, None, CHALLENGE);

    // A changed password: the remembered one is forgotten.
    assert_eq!(
        user(login(&c, &basic("bob", "hunter2")).await.unwrap()),
        "bob"
    );
    htpasswd(dir.path(), &["-B", "-b", f, "bob", "changed"]);
    assert_challenge(login(&c, &basic("bob", "hunter2")).await, None, CHALLENGE);
    assert_eq!(
        user(login(&c, &basic("bob", "changed")).await.unwrap()),
        "bob"
    );

    // A broken rewrite keeps the users read before.
    let good = std::fs::read(&file).unwrap();
    std::fs::write(&file, b"this line has no colon\n").unwrap();
    assert_eq!(
        user(login(&c, &basic("bob", "changed")).await.unwrap()),
        "bob"
    );
    std::fs::write(&file, &good).unwrap();
    htpasswd(dir.path(), &["-B", "-b", f, "erin", "pw"]);
    assert_eq!(user(login(&c, &basic("erin", "pw")).await.unwrap()), "erin");

    // A file that disappears is an internal error (Distribution's 400).
    std::fs::remove_file(&file).unwrap();
    assert!(matches!(
        login(&c, &basic("bob", "changed")).await,
        Err(AuthError::Internal(_))
    ));
}

#[tokio::test]
async fn a_missing_file_is_created_empty() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("auth/nested/htpasswd");
    let c = controller(&file);
    let metadata = std::fs::metadata(&file).unwrap();
    assert!(metadata.is_file());
    assert_eq!(metadata.len(), 0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
        let parent = std::fs::metadata(file.parent().unwrap()).unwrap();
        assert_eq!(parent.permissions().mode() & 0o777, 0o700);
    }
    assert_challenge(login(&c, &basic("docker", "")).await, None, CHALLENGE);
    // Users added later can log in.
    htpasswd(
        dir.path(),
        &["-B", "-b", file.to_str().unwrap(), "frank", "pw"],
    );
    assert_eq!(
        user(login(&c, &basic("frank", "pw")).await.unwrap()),
        "frank"
    );
}

#[test]
fn bad_paths_and_files_are_errors_at_construction() {
    let dir = tempfile::tempdir().unwrap();
    let build = |path: PathBuf| {
        HtpasswdAccessController::new(HtpasswdOptions {
            realm: "r".into(),
            path,
        })
    };

    let err = build(dir.path().to_path_buf()).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Io { option: "auth.htpasswd.path", path, .. } if path == dir.path()),
        "{err}"
    );
    assert!(
        err.to_string().contains(dir.path().to_str().unwrap()),
        "{err}"
    );

    let broken = dir.path().join("broken");
    std::fs::write(&broken, "alice:$2y$05$abc\nno colon here\n").unwrap();
    let err = build(broken).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::File {
                option: "auth.htpasswd.path",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("line 2"), "{err}");
    assert!(!err.to_string().contains("no colon here"), "{err}");

    let err = build(PathBuf::new()).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Missing {
                option: "auth.htpasswd.path"
            }
        ),
        "{err}"
    );
    let err = HtpasswdAccessController::new(HtpasswdOptions {
        realm: String::new(),
        path: dir.path().join("x"),
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Missing {
                option: "auth.htpasswd.realm"
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn works_behind_dyn() {
    let (_dir, file) = fixture();
    let c = berth_auth::htpasswd(HtpasswdOptions {
        realm: "Registry Realm".into(),
        path: file,
    })
    .unwrap();
    let header = basic("alice", "s3cret");
    let grant = c
        .authorize(&Request::new().with_authorization(&header), &[])
        .await
        .unwrap();
    assert_eq!(user(grant), "alice");
}

/// The fastest of a few logins, so that a busy machine does not make a
/// slow path look fast.
async fn fastest(c: &HtpasswdAccessController, header: &str) -> std::time::Duration {
    let mut best = std::time::Duration::MAX;
    for _ in 0..3 {
        let start = std::time::Instant::now();
        assert!(login(c, header).await.is_err());
        best = best.min(start.elapsed());
    }
    best
}

#[tokio::test]
async fn unknown_users_pay_a_bcrypt_like_wrong_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    let f = file.to_str().unwrap();
    htpasswd(
        dir.path(),
        &["-B", "-C", "7", "-b", "-c", f, "alice", "s3cret"],
    );
    htpasswd(dir.path(), &["-m", "-b", f, "carol", "md5pass"]);
    let c = controller(&file);
    let wrong_password = fastest(&c, &basic("alice", "wrong")).await;
    let unknown_user = fastest(&c, &basic("mallory", "wrong")).await;
    let not_bcrypt = fastest(&c, &basic("carol", "md5pass")).await;
    // Without the dummy hash these would answer in microseconds.
    assert!(
        unknown_user * 3 > wrong_password && not_bcrypt * 3 > wrong_password,
        "wrong password {wrong_password:?}, unknown user {unknown_user:?}, not bcrypt {not_bcrypt:?}"
    );
}

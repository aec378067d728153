//! Signed bearer tokens for tests: an RSA key and its self-signed
//! certificate made with the `openssl` CLI, and RS256 JWTs signed with
//! `openssl dgst`, as a Distribution token server would issue them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// A token issuer: the signing key, and the certificate a registry trusts
/// (`auth.token.rootcertbundle`), which every token carries in `x5c`.
pub struct TokenIssuer {
    dir: tempfile::TempDir,
    x5c: String,
}

impl TokenIssuer {
    /// A new RSA 2048 key and a CA certificate for it named `cn`, valid
    /// two days, in a temporary directory; `None` when `openssl` is not
    /// installed.
    pub fn new(cn: &str) -> Option<TokenIssuer> {
        TokenIssuer::new_in(&std::env::temp_dir(), cn)
    }

    /// [`new`](Self::new), its files in a directory made below `parent`
    /// (for an issuer kept in a `static`, which is never dropped: give it
    /// the test target's `CARGO_TARGET_TMPDIR`).
    pub fn new_in(parent: &Path, cn: &str) -> Option<TokenIssuer> {
        if !crate::program("openssl") {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("berth-token-issuer-")
            .tempdir_in(parent)
            .expect("temp dir");
        let subject = format!("/CN={cn}");
        openssl(
            dir.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &subject,
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,digitalSignature",
                "-keyout",
                "key.pem",
                "-out",
                "cert.pem",
            ],
            None,
        );
        let der = openssl(
            dir.path(),
            &["x509", "-in", "cert.pem", "-outform", "DER"],
            None,
        );
        Some(TokenIssuer {
            x5c: STANDARD.encode(der),
            dir,
        })
    }

    /// The certificate (PEM): what the registry's `rootcertbundle` names.
    pub fn bundle(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// The certificate's DER, base64 (the `x5c` entry of every token).
    pub fn x5c(&self) -> &str {
        &self.x5c
    }

    /// An RS256 JWT of `claims` (a JSON object), its header naming the
    /// certificate in `x5c`.
    pub fn sign(&self, claims: &str) -> String {
        let header = format!(r#"{{"typ":"JWT","alg":"RS256","x5c":["{}"]}}"#, self.x5c);
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let signature = openssl(
            self.dir.path(),
            &["dgst", "-sha256", "-sign", "key.pem"],
            Some(input.as_bytes()),
        );
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// The `access` claim (a JSON array) granting `scopes`, each
/// `TYPE:NAME:ACTIONS` as a client asks for them (`repository:a/b:pull,push`).
pub fn access_claim(scopes: &[String]) -> String {
    let entries: Vec<String> = scopes
        .iter()
        .filter_map(|scope| {
            let (kind, rest) = scope.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            let actions: Vec<String> = actions.split(',').map(|a| format!("{a:?}")).collect();
            Some(format!(
                r#"{{"type":{kind:?},"name":{name:?},"actions":[{}]}}"#,
                actions.join(",")
            ))
        })
        .collect();
    format!("[{}]", entries.join(","))
}

/// Runs `openssl args` in `dir` (feeding `input`), panicking with its
/// output when it fails; answers its standard output.
fn openssl(dir: &Path, args: &[&str], input: Option<&[u8]>) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl");
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.unwrap_or_default())
            .expect("write to openssl");
    }
    let out = child.wait_with_output().expect("wait for openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

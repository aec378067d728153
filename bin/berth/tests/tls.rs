//! `http.tls`: the real `berth` binary serving HTTPS with a test CA made by
//! the `openssl` command, checked with `curl` and `skopeo` (push and pull
//! over TLS, with and without client certificates), and its start errors.
//!
//! Needs `openssl` and `curl` (and `skopeo` + `umoci` for the image round
//! trips); without them the tests are skipped, unless
//! `BERTH_TEST_REQUIRE_SERVICES=1`, which makes them fail.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_testkit::{ChildGuard, free_port, program};
use common::run;
use common::skopeo::{raw_digest, skopeo, skopeo_ok};

/// A test PKI: a CA, a server certificate for 127.0.0.1, a client
/// certificate, all signed by the CA, and an unrelated CA.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn file(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

/// Makes the PKI with `openssl`; `None` when `openssl` or `curl` is missing.
fn pki() -> Option<Pki> {
    if !program("openssl") || !program("curl") {
        return None;
    }
    let pki = Pki {
        dir: tempfile::tempdir().unwrap(),
    };
    let p = |name: &str| pki.file(name);
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    for ca in ["ca", "other-ca"] {
        let (key, cert) = (p(&format!("{ca}.key")), p(&format!("{ca}.pem")));
        let mut args = vec!["req", "-x509", "-nodes", "-days", "2"];
        args.extend(ec);
        args.extend([
            "-keyout",
            &key,
            "-out",
            &cert,
            "-subj",
            "/CN=berth test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        run("openssl", &args);
    }
    for (name, ext) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
        ),
        (
            "client",
            "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
        ),
    ] {
        let (key, csr, cert, extfile) = (
            p(&format!("{name}.key")),
            p(&format!("{name}.csr")),
            p(&format!("{name}.pem")),
            p(&format!("{name}.ext")),
        );
        std::fs::write(&extfile, ext).unwrap();
        let mut args = vec!["req", "-nodes"];
        args.extend(ec);
        args.extend(["-keyout", &key, "-out", &csr, "-subj"]);
        args.push(if name == "server" {
            "/CN=127.0.0.1"
        } else {
            "/CN=berth test client"
        });
        run("openssl", &args);
        run(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &p("ca.pem"),
                "-CAkey",
                &p("ca.key"),
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &extfile,
                "-out",
                &cert,
            ],
        );
    }
    Some(pki)
}

/// The configuration: filesystem storage, TLS with the PKI's server
/// certificate; `tls_extra` goes under `http.tls` (indented 4 spaces).
fn config(dir: &Path, pki: &Pki, port: u16, tls_extra: &str) -> PathBuf {
    let path = dir.join("config.yml");
    std::fs::write(
        &path,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: tls-secret\n  tls:\n    certificate: {cert}\n    key: {key}\n{tls_extra}",
            root = dir.join("root").display(),
            cert = pki.file("server.pem"),
            key = pki.file("server.key"),
        ),
    )
    .unwrap();
    path
}

/// A berth serving HTTPS on 127.0.0.1, stopped (by PID) when dropped.
struct TlsBerth {
    port: u16,
    _child: ChildGuard,
    _dir: tempfile::TempDir,
}

impl TlsBerth {
    fn start(pki: &Pki, tls_extra: &str) -> TlsBerth {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = config(dir.path(), pki, port, tls_extra);
        let child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start berth");
        let mut guard = ChildGuard(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = guard.0.try_wait().unwrap() {
                panic!("berth exited at start: {status}");
            }
            assert!(Instant::now() < deadline, "berth did not listen in time");
            std::thread::sleep(Duration::from_millis(50));
        }
        TlsBerth {
            port,
            _child: guard,
            _dir: dir,
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{}{path}", self.host())
    }
}

/// curl's answer: whether it succeeded, the status (`000` without a
/// response), the response headers, curl's error text.
struct Curl {
    ok: bool,
    status: String,
    headers: String,
    stderr: String,
}

fn curl(url: &str, args: &[&str]) -> Curl {
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-D", "-", "-w", "\n%{http_code}"])
        .args(["--max-time", "20", "--noproxy", "*"])
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("run curl");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let (headers, status) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    Curl {
        ok: out.status.success(),
        status: status.trim().to_owned(),
        headers: headers.to_ascii_lowercase(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn assert_v2_ok(c: &Curl) {
    assert!(c.ok && c.status == "200", "{} {}", c.status, c.stderr);
    assert!(
        c.headers
            .contains("docker-distribution-api-version: registry/2.0"),
        "{}",
        c.headers
    );
}

fn assert_refused(c: &Curl, what: &str) {
    assert!(
        !c.ok && c.status == "000",
        "{what}: expected a failed connection, got {} {}",
        c.status,
        c.headers
    );
}

#[test]
fn https_with_a_test_ca() {
    let Some(pki) = pki() else { return };
    let berth = TlsBerth::start(&pki, "");
    let v2 = berth.url("https", "/v2/");

    assert_v2_ok(&curl(&v2, &["--cacert", &pki.file("ca.pem")]));
    // Both versions are on by default (minimumtls tls1.2).
    assert_v2_ok(&curl(
        &v2,
        &[
            "--cacert",
            &pki.file("ca.pem"),
            "--tlsv1.2",
            "--tls-max",
            "1.2",
        ],
    ));
    assert_v2_ok(&curl(&v2, &["--cacert", &pki.file("ca.pem"), "--tlsv1.3"]));
    // Upload locations are https URLs.
    let post = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-D", "-", "-X", "POST"])
        .args(["--cacert", &pki.file("ca.pem")])
        .arg(berth.url("https", "/v2/tls/probe/blobs/uploads/"))
        .output()
        .unwrap();
    let headers = String::from_utf8_lossy(&post.stdout).to_ascii_lowercase();
    assert!(headers.starts_with("http/1.1 202"), "{headers}");
    let location = headers
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .unwrap_or_default();
    assert!(
        location.starts_with("/v2/") || location.starts_with(&berth.url("https", "/v2/")),
        "{location}"
    );

    assert_refused(
        &curl(&berth.url("http", "/v2/"), &[]),
        "plain HTTP to the TLS port",
    );
    let untrusted = curl(&v2, &["--cacert", &pki.file("other-ca.pem")]);
    assert_refused(&untrusted, "a client not trusting the CA");
    assert!(
        untrusted.stderr.contains("certificate"),
        "{}",
        untrusted.stderr
    );
}

#[test]
fn minimum_tls13_and_cipher_suites() {
    let Some(pki) = pki() else { return };
    let ca = pki.file("ca.pem");

    let berth = TlsBerth::start(&pki, "    minimumtls: tls1.3\n");
    let v2 = berth.url("https", "/v2/");
    assert_v2_ok(&curl(&v2, &["--cacert", &ca]));
    assert_refused(
        &curl(&v2, &["--cacert", &ca, "--tls-max", "1.2"]),
        "TLS 1.2 with minimumtls tls1.3",
    );

    let berth = TlsBerth::start(
        &pki,
        "    ciphersuites:\n      - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n      - TLS_RSA_WITH_RC4_128_SHA\n",
    );
    let v2 = berth.url("https", "/v2/");
    let tls12 = ["--cacert", &ca, "--tls-max", "1.2"];
    assert_v2_ok(&curl(
        &v2,
        &[&tls12[..], &["--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256"]].concat(),
    ));
    assert_refused(
        &curl(
            &v2,
            &[&tls12[..], &["--ciphers", "ECDHE-ECDSA-AES256-GCM-SHA384"]].concat(),
        ),
        "a TLS 1.2 suite left out of ciphersuites",
    );
    // TLS 1.3 suites are not limited by the setting.
    assert_v2_ok(&curl(&v2, &["--cacert", &ca, "--tlsv1.3"]));
}

#[test]
fn mutual_tls_with_clientcas() {
    let Some(pki) = pki() else { return };
    let berth = TlsBerth::start(
        &pki,
        &format!("    clientcas:\n      - {}\n", pki.file("ca.pem")),
    );
    let v2 = berth.url("https", "/v2/");
    let ca = pki.file("ca.pem");

    let anonymous = curl(&v2, &["--cacert", &ca]);
    assert_refused(&anonymous, "a client without a certificate");
    let anonymous12 = curl(&v2, &["--cacert", &ca, "--tls-max", "1.2"]);
    assert_refused(&anonymous12, "a client without a certificate (TLS 1.2)");

    let (cert, key) = (pki.file("client.pem"), pki.file("client.key"));
    assert_v2_ok(&curl(
        &v2,
        &["--cacert", &ca, "--cert", &cert, "--key", &key],
    ));
    // A certificate signed by another CA is refused too.
    let stranger = curl(
        &v2,
        &[
            "--cacert",
            &ca,
            "--cert",
            &pki.file("other-ca.pem"),
            "--key",
            &pki.file("other-ca.key"),
        ],
    );
    assert_refused(&stranger, "a client certificate from another CA");

    if !program("skopeo") || !program("umoci") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let layout = build_image(work.path());
    let certs = work.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    std::fs::copy(pki.path("ca.pem"), certs.join("ca.crt")).unwrap();
    let image = format!("docker://{}/tls/mutual:v1", berth.host());
    let src = format!("oci:{}:v1", layout.display());
    let dir = certs.display().to_string();

    // Without a client certificate, skopeo is refused.
    let refused = skopeo(&["copy", "--dest-cert-dir", &dir, &src, &image]);
    assert!(
        !refused.status.success(),
        "push without a client certificate"
    );

    std::fs::copy(pki.path("client.pem"), certs.join("client.cert")).unwrap();
    std::fs::copy(pki.path("client.key"), certs.join("client.key")).unwrap();
    skopeo_ok(&["copy", "--dest-cert-dir", &dir, &src, &image]);
    assert_eq!(
        raw_digest(&["--cert-dir", &dir, &image]),
        raw_digest(&[&src])
    );
}

#[test]
fn skopeo_round_trip_over_tls() {
    let Some(pki) = pki() else { return };
    if !program("skopeo") || !program("umoci") {
        return;
    }
    let berth = TlsBerth::start(&pki, "");
    let work = tempfile::tempdir().unwrap();
    let layout = build_image(work.path());
    let certs = work.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    std::fs::copy(pki.path("ca.pem"), certs.join("ca.crt")).unwrap();
    let dir = certs.display().to_string();

    let src = format!("oci:{}:v1", layout.display());
    let image = format!("docker://{}/tls/image:v1", berth.host());
    let out = format!("oci:{}:v1", work.path().join("out").display());
    skopeo_ok(&["copy", "--dest-cert-dir", &dir, &src, &image]);
    skopeo_ok(&["copy", "--src-cert-dir", &dir, &image, &out]);

    let pushed = raw_digest(&[&src]);
    assert_eq!(raw_digest(&["--cert-dir", &dir, &image]), pushed);
    assert_eq!(raw_digest(&[&out]), pushed);

    // Without the CA, skopeo does not trust berth.
    let empty = work.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let untrusted = skopeo(&[
        "inspect",
        "--raw",
        "--cert-dir",
        &empty.display().to_string(),
        &image,
    ]);
    assert!(!untrusted.status.success(), "skopeo without the CA");
}

#[test]
fn start_errors() {
    let Some(pki) = pki() else { return };
    let dir = tempfile::tempdir().unwrap();

    let missing = dir.path().join("missing.key");
    let stderr = start_fails(
        dir.path(),
        &pki,
        &format!("    key: {}\n", missing.display()),
    );
    assert!(stderr.contains("http.tls.key"), "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");

    let stderr = start_fails(dir.path(), &pki, "    minimumtls: tls1.0\n");
    assert!(stderr.contains("http.tls.minimumtls"), "{stderr}");
    assert!(stderr.contains("1.2 and 1.3"), "{stderr}");

    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let stderr = start_fails(
        dir.path(),
        &pki,
        &format!("    certificate: {}\n", garbage.display()),
    );
    assert!(stderr.contains("http.tls.certificate"), "{stderr}");
    assert!(stderr.contains(&garbage.display().to_string()), "{stderr}");

    // The client certificate's key with the server certificate.
    let stderr = start_fails(
        dir.path(),
        &pki,
        &format!("    key: {}\n", pki.file("client.key")),
    );
    assert!(stderr.contains("http.tls.key"), "{stderr}");
}

/// Starts berth with `tls_override` replacing keys under `http.tls` and
/// expects it to exit with an error; answers its stderr.
fn start_fails(dir: &Path, pki: &Pki, tls_override: &str) -> String {
    let port = free_port();
    let path = config(dir, pki, port, "");
    let mut text = std::fs::read_to_string(&path).unwrap();
    for line in tls_override.lines() {
        let key = line.trim().split(':').next().unwrap();
        let at = text
            .find(&format!("    {key}:"))
            .map(|at| (at, text[at..].find('\n').unwrap() + at + 1));
        match at {
            Some((start, end)) => text.replace_range(start..end, &format!("{line}\n")),
            None => text.push_str(&format!("{line}\n")),
        }
    }
    std::fs::write(&path, text).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("serve")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start berth");
    let mut guard = ChildGuard(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = guard.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "berth kept running with {tls_override:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    guard
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success(), "{tls_override:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// A one-layer OCI image tagged `v1` in a layout made with umoci.
fn build_image(work: &Path) -> PathBuf {
    let layout = work.join("layout");
    let data = vec![7u8; 100_000];
    common::umoci::build_image(
        &layout,
        "v1",
        &[&[("hello.txt", b"hello over TLS\n"), ("data.bin", &data)]],
    );
    layout
}

//! `berth config check`, run as a real process.

use std::path::Path;
use std::process::{Command, Output};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// Debian's `docker-registry` package's `/etc/docker/registry/config.yml`.
const DEBIAN_CONFIG: &str = "\
version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/docker-registry
  delete:
    enabled: true
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  htpasswd:
    realm: basic-realm
    path: /etc/docker/registry
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
";

/// Runs `berth config check` on `yaml` (written to a file; `None`: no
/// file) with `env` added to a process environment cleared of
/// `REGISTRY_*` variables.
fn check(yaml: Option<&str>, env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BERTH);
    cmd.args(["config", "check"]);
    if let Some(yaml) = yaml {
        let path = dir.path().join("config.yml");
        std::fs::write(&path, yaml).unwrap();
        cmd.arg(&path);
    }
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("REGISTRY_") {
            cmd.env_remove(&name);
        }
    }
    cmd.envs(env.iter().copied()).current_dir(dir.path());
    cmd.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// The printed configuration, as a YAML tree.
fn printed(o: &Output) -> serde_yaml::Value {
    assert!(o.status.success(), "stderr: {}", stderr(o));
    serde_yaml::from_str(&stdout(o)).unwrap()
}

fn at<'v>(v: &'v serde_yaml::Value, path: &str) -> &'v serde_yaml::Value {
    path.split('.').fold(v, |v, k| &v[k])
}

#[test]
fn valid_config_prints_every_default_with_secrets_masked() {
    let yaml = "\
version: 0.1
storage:
  s3:
    region: eu-west-1
    bucket: images
    accesskey: AKIAEXAMPLE
    secretkey: s3-secret-value
http:
  secret: http-secret-value
redis:
  addr: localhost:6379
  password: redis-secret-value
";
    let out = check(Some(yaml), &[]);
    let text = stdout(&out);
    let tree = printed(&out);
    for secret in ["s3-secret-value", "http-secret-value", "redis-secret-value"] {
        assert!(!text.contains(secret), "{secret} printed:\n{text}");
    }
    assert_eq!(at(&tree, "http.secret").as_str(), Some(berth_config::MASK));
    assert_eq!(
        at(&tree, "storage.s3.secretkey").as_str(),
        Some(berth_config::MASK)
    );
    assert_eq!(
        at(&tree, "redis.password").as_str(),
        Some(berth_config::MASK)
    );
    // Not secret: shown as written.
    assert_eq!(
        at(&tree, "storage.s3.accesskey").as_str(),
        Some("AKIAEXAMPLE")
    );
    // Defaults filled in.
    assert_eq!(at(&tree, "http.addr").as_str(), Some(":5000"));
    assert_eq!(
        at(&tree, "storage.maintenance.uploadpurging.age").as_str(),
        Some("168h")
    );
    assert_eq!(at(&tree, "catalog.maxentries").as_u64(), Some(1000));
    assert_eq!(at(&tree, "log.level").as_str(), Some("info"));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn output_reads_back_as_the_same_configuration() {
    let out = check(Some(DEBIAN_CONFIG), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let again = berth_config::Configuration::parse(&stdout(&out)).unwrap();
    let original = berth_config::Configuration::parse(DEBIAN_CONFIG).unwrap();
    assert_eq!(again.config, original.config);
}

#[test]
fn no_file_checks_the_embedded_default() {
    let out = check(None, &[]);
    let tree = printed(&out);
    let embedded =
        serde_yaml::to_value(berth_config::Configuration::default_embedded().masked()).unwrap();
    assert_eq!(tree, embedded);
}

#[test]
fn invalid_version_fails_naming_key_and_value() {
    let out = check(Some("version: 0.2\nstorage: inmemory\n"), &[]);
    assert!(!out.status.success());
    assert!(stdout(&out).is_empty());
    let err = stderr(&out);
    assert!(err.contains("version") && err.contains("0.2"), "{err}");
}

#[test]
fn bad_duration_fails_naming_key_and_value() {
    let yaml = "\
version: 0.1
storage:
  inmemory:
  maintenance:
    uploadpurging:
      age: 3 days
";
    let out = check(Some(yaml), &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("storage.maintenance.uploadpurging.age") && err.contains("3 days"),
        "{err}"
    );
}

#[test]
fn bad_environment_value_fails_naming_the_variable() {
    let out = check(
        Some(DEBIAN_CONFIG),
        &[("REGISTRY_STORAGE_DELETE_ENABLED", "maybe")],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("storage.delete.enabled") && err.contains("REGISTRY_STORAGE_DELETE_ENABLED"),
        "{err}"
    );
}

#[test]
fn s3_parameters_are_checked_as_serve_would() {
    let yaml = "\
version: 0.1
storage:
  s3:
    region: eu-west-1
    bucket: images
    chunksize: 1024
";
    let out = check(Some(yaml), &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("chunksize") && err.contains("1024"), "{err}");
}

#[test]
fn missing_file_fails() {
    let out = Command::new(BERTH)
        .args(["config", "check"])
        .arg(Path::new("/nonexistent/berth/config.yml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("/nonexistent/berth/config.yml"));
}

#[test]
fn unknown_key_warns_on_stderr_and_still_succeeds() {
    let yaml = format!("{DEBIAN_CONFIG}catalog:\n  maxentrys: 5\n");
    let out = check(Some(&yaml), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("catalog.maxentrys"), "{err}");
    assert!(!stdout(&out).contains("maxentrys"));
}

#[test]
fn unsupported_keys_are_reported_on_stderr() {
    let yaml = format!("{DEBIAN_CONFIG}reporting:\n  bugsnag:\n    apikey: k\n");
    let out = check(Some(&yaml), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("reporting") && err.contains("not supported yet"),
        "{err}"
    );
}

#[test]
fn environment_overrides_show_in_the_output() {
    let out = check(
        Some(DEBIAN_CONFIG),
        &[
            ("REGISTRY_HTTP_ADDR", "127.0.0.1:5001"),
            ("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", "/srv/registry"),
            ("REGISTRY_HTTP_SECRET", "from-the-environment"),
            ("REGISTRY_PORT", "tcp://10.0.0.1:5000"),
        ],
    );
    let tree = printed(&out);
    assert_eq!(at(&tree, "http.addr").as_str(), Some("127.0.0.1:5001"));
    assert_eq!(
        at(&tree, "storage.filesystem.rootdirectory").as_str(),
        Some("/srv/registry")
    );
    assert_eq!(at(&tree, "http.secret").as_str(), Some(berth_config::MASK));
    assert!(!stdout(&out).contains("from-the-environment"));
    // REGISTRY_PORT (set by Docker links) is ignored with a warning.
    assert!(stderr(&out).contains("REGISTRY_PORT"), "{}", stderr(&out));
}

#[test]
fn debians_config_parses_without_error() {
    let out = check(Some(DEBIAN_CONFIG), &[]);
    let tree = printed(&out);
    assert_eq!(
        at(&tree, "storage.filesystem.rootdirectory").as_str(),
        Some("/var/lib/docker-registry")
    );
    assert_eq!(
        at(&tree, "auth.htpasswd.realm").as_str(),
        Some("basic-realm")
    );
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

//! `REGISTRY_*` environment overrides: one test per form.

use std::time::Duration;

use berth_config::*;
use serde_yaml::Value;

const BASE: &str = "\
version: 0.1
log:
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: false
  cache:
    blobdescriptor: inmemory
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
notifications:
  endpoints:
    - name: first
      url: http://first.example/events
    - name: second
      url: http://second.example/events
";

fn with_env(yaml: &str, env: &[(&str, &str)]) -> LoadedConfig {
    match Configuration::parse_with_env(yaml, env.iter().copied()) {
        Ok(loaded) => loaded,
        Err(e) => panic!("{e}"),
    }
}

fn env_err(yaml: &str, env: &[(&str, &str)]) -> String {
    match Configuration::parse_with_env(yaml, env.iter().copied()) {
        Ok(loaded) => panic!("expected an error, got {:?}", loaded.config),
        Err(e) => e.to_string(),
    }
}

fn filesystem(c: &Configuration) -> &Filesystem {
    match &c.storage.driver {
        StorageDriver::Filesystem(fs) => fs,
        other => panic!("expected filesystem, got {other:?}"),
    }
}

#[test]
fn scalar_string() {
    let loaded = with_env(
        BASE,
        &[("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", "/srv/registry")],
    );
    assert_eq!(
        filesystem(&loaded.config).rootdirectory.to_str().unwrap(),
        "/srv/registry"
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn boolean() {
    let c = with_env(BASE, &[("REGISTRY_STORAGE_DELETE_ENABLED", "true")]).config;
    assert!(c.storage.delete.enabled);
    let c = with_env(
        BASE,
        &[("REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED", "yes")],
    )
    .config;
    assert!(c.storage.maintenance.readonly.enabled);
}

#[test]
fn number_and_duration() {
    let c = with_env(
        BASE,
        &[
            ("REGISTRY_STORAGE_FILESYSTEM_MAXTHREADS", "200"),
            ("REGISTRY_CATALOG_MAXENTRIES", "50"),
            ("REGISTRY_HTTP_DRAINTIMEOUT", "1m30s"),
        ],
    )
    .config;
    assert_eq!(filesystem(&c).maxthreads, 200);
    assert_eq!(c.catalog.maxentries, 50);
    assert_eq!(c.http.draintimeout, Some(Duration::from_secs(90)));
}

#[test]
fn a_number_where_a_string_goes_is_its_text_and_an_empty_value_is_unset() {
    let c = with_env(BASE, &[("REGISTRY_HTTP_SECRET", "12345")]).config;
    assert_eq!(c.http.secret.as_deref(), Some("12345"));
    let c = with_env(
        "version: 0.1\nstorage: inmemory\nhttp: {secret: s}",
        &[("REGISTRY_HTTP_SECRET", "")],
    )
    .config;
    assert_eq!(c.http.secret, None);
}

#[test]
fn version_from_the_environment() {
    let c = with_env("storage: inmemory", &[("REGISTRY_VERSION", "0.1")]).config;
    assert_eq!(c.version, "0.1");
    assert_eq!(c.storage.driver, StorageDriver::InMemory);
}

#[test]
fn nested_sections_are_created() {
    let loaded = with_env(
        BASE,
        &[
            ("REGISTRY_REDIS_ADDR", "redis.internal:6379"),
            ("REGISTRY_REDIS_POOL_MAXIDLE", "16"),
            ("REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR", "redis"),
            ("REGISTRY_HTTP_TLS_CERTIFICATE", "/certs/tls.crt"),
            ("REGISTRY_HTTP_TLS_KEY", "/certs/tls.key"),
            ("REGISTRY_AUTH_HTPASSWD_REALM", "basic-realm"),
            ("REGISTRY_AUTH_HTPASSWD_PATH", "/auth/htpasswd"),
        ],
    );
    let c = loaded.config;
    let redis = c.redis.expect("redis");
    assert_eq!(redis.addrs, ["redis.internal:6379"]);
    assert_eq!(redis.pool.maxidle, Some(16));
    assert_eq!(c.storage.cache.blobdescriptor, BlobDescriptorCache::Redis);
    let tls = c.http.tls.expect("tls");
    assert_eq!(
        (tls.certificate.as_str(), tls.key.as_str()),
        ("/certs/tls.crt", "/certs/tls.key")
    );
    assert_eq!(
        c.auth,
        Some(Auth::Htpasswd(Htpasswd {
            realm: "basic-realm".into(),
            path: "/auth/htpasswd".into()
        }))
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn a_whole_section_as_yaml_then_keys_inside_it() {
    // Applied shortest path first, whatever the order given.
    let c = with_env(
        BASE,
        &[
            ("REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_DRYRUN", "true"),
            (
                "REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING",
                "{enabled: false, age: 1h}",
            ),
        ],
    )
    .config;
    let purging = &c.storage.maintenance.uploadpurging;
    assert!(!purging.enabled);
    assert!(purging.dryrun);
    assert_eq!(purging.age, Duration::from_secs(3600));
    assert_eq!(purging.interval, Duration::from_secs(24 * 3600));
}

#[test]
fn list_items_by_index() {
    let c = with_env(
        BASE,
        &[
            // Change an existing item, append one, set inside the new one.
            (
                "REGISTRY_NOTIFICATIONS_ENDPOINTS_1_URL",
                "http://changed.example/events",
            ),
            ("REGISTRY_NOTIFICATIONS_ENDPOINTS_2_NAME", "third"),
            (
                "REGISTRY_NOTIFICATIONS_ENDPOINTS_2_URL",
                "http://third.example/events",
            ),
            ("REGISTRY_NOTIFICATIONS_ENDPOINTS_2_TIMEOUT", "5s"),
            (
                "REGISTRY_NOTIFICATIONS_ENDPOINTS_2_HEADERS_AUTHORIZATION",
                "[Bearer t]",
            ),
        ],
    )
    .config;
    let e = &c.notifications.endpoints;
    assert_eq!(e.len(), 3);
    assert_eq!(
        (e[0].name.as_str(), e[0].url.as_str()),
        ("first", "http://first.example/events")
    );
    assert_eq!(
        (e[1].name.as_str(), e[1].url.as_str()),
        ("second", "http://changed.example/events")
    );
    assert_eq!(
        (e[2].name.as_str(), e[2].url.as_str()),
        ("third", "http://third.example/events")
    );
    assert_eq!(e[2].timeout, Duration::from_secs(5));
    assert_eq!(
        e[2].headers.get("Authorization"),
        Some(&["Bearer t".to_string()][..])
    );
}

#[test]
fn list_items_into_a_file_without_the_list_and_in_numeric_order() {
    let mut env: Vec<(String, String)> = Vec::new();
    for i in 0..12 {
        env.push((
            format!("REGISTRY_NOTIFICATIONS_ENDPOINTS_{i}_NAME"),
            format!("e{i}"),
        ));
        env.push((
            format!("REGISTRY_NOTIFICATIONS_ENDPOINTS_{i}_URL"),
            format!("http://e{i}.example/"),
        ));
    }
    env.reverse();
    let c = Configuration::parse_with_env("version: 0.1\nstorage: {inmemory: }", env)
        .unwrap()
        .config;
    let names: Vec<&str> = c
        .notifications
        .endpoints
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9", "e10", "e11"
        ]
    );
}

#[test]
fn a_whole_list_as_yaml() {
    let c = with_env(
        BASE,
        &[(
            "REGISTRY_NOTIFICATIONS_ENDPOINTS",
            "[{name: only, url: 'http://only.example/'}]",
        )],
    )
    .config;
    assert_eq!(c.notifications.endpoints.len(), 1);
    assert_eq!(c.notifications.endpoints[0].name, "only");
}

#[test]
fn a_list_index_past_the_end_is_an_error() {
    assert_eq!(
        env_err(BASE, &[("REGISTRY_NOTIFICATIONS_ENDPOINTS_3_NAME", "x")]),
        "REGISTRY_NOTIFICATIONS_ENDPOINTS_3_NAME: notifications.endpoints is a list of 2 item(s); \
         an override may set an item 0..2 (the next index appends one), not 3"
    );
    assert_eq!(
        env_err(
            BASE,
            &[("REGISTRY_NOTIFICATIONS_ENDPOINTS_FIRST_NAME", "x")]
        ),
        "REGISTRY_NOTIFICATIONS_ENDPOINTS_FIRST_NAME: notifications.endpoints is a list of 2 item(s); \
         an override may set an item 0..2 (the next index appends one), not FIRST"
    );
}

#[test]
fn map_keys() {
    let c = with_env(
        BASE,
        &[
            // An existing header keeps its spelling; a new one is lower case.
            (
                "REGISTRY_HTTP_HEADERS_X-CONTENT-TYPE-OPTIONS",
                "[nosniff, other]",
            ),
            ("REGISTRY_HTTP_HEADERS_X-FRAME-OPTIONS", "[DENY]"),
            ("REGISTRY_LOG_FIELDS_ENVIRONMENT", "production"),
        ],
    )
    .config;
    assert_eq!(
        c.http.headers,
        Headers(vec![
            (
                "X-Content-Type-Options".into(),
                vec!["nosniff".into(), "other".into()]
            ),
            ("x-frame-options".into(), vec!["DENY".into()]),
        ])
    );
    assert_eq!(
        c.log.fields.get("environment"),
        Some(&Value::String("production".into()))
    );
    assert_eq!(
        c.log.fields.get("service"),
        Some(&Value::String("registry".into()))
    );
}

#[test]
fn keys_match_case_insensitively() {
    let yaml = "version: 0.1\nstorage:\n  filesystem:\n    RootDirectory: /a\n";
    let c = with_env(yaml, &[("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", "/b")]);
    // The file's spelling is kept, so it is still an unknown key; the
    // override landed on it.
    assert_eq!(
        c.warnings,
        [
            "unknown configuration key storage.filesystem.RootDirectory (set by REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY); ignored"
        ]
    );
}

#[test]
fn another_driver_replaces_the_files_driver() {
    let loaded = with_env(
        BASE,
        &[
            ("REGISTRY_STORAGE_S3_BUCKET", "images"),
            ("REGISTRY_STORAGE_S3_REGION", "eu-west-1"),
            ("REGISTRY_STORAGE_S3_CHUNKSIZE", "10485760"),
            ("REGISTRY_STORAGE_S3_FORCEPATHSTYLE", "true"),
        ],
    );
    let c = &loaded.config;
    let StorageDriver::S3(s3) = &c.storage.driver else {
        panic!("expected s3, got {:?}", c.storage.driver)
    };
    assert_eq!(s3.bucket, "images");
    assert_eq!(s3.region.as_deref(), Some("eu-west-1"));
    assert_eq!(s3.chunksize, 10 << 20);
    assert!(s3.forcepathstyle);
    // The sections beside the driver stay.
    assert_eq!(
        c.storage.cache.blobdescriptor,
        BlobDescriptorCache::InMemory
    );
    assert_eq!(
        loaded.warnings,
        [
            "REGISTRY_STORAGE_S3_BUCKET replaces storage driver filesystem of the configuration file with s3"
        ]
    );
}

#[test]
fn the_driver_by_name() {
    let loaded = with_env(BASE, &[("REGISTRY_STORAGE", "inmemory")]);
    assert_eq!(loaded.config.storage.driver, StorageDriver::InMemory);
    assert_eq!(
        loaded.config.storage.cache.blobdescriptor,
        BlobDescriptorCache::InMemory
    );
    assert_eq!(
        loaded.warnings,
        [
            "REGISTRY_STORAGE replaces storage driver filesystem of the configuration file with inmemory"
        ]
    );
    // Then keys of that driver.
    let c = with_env(
        "version: 0.1\nstorage: inmemory",
        &[
            ("REGISTRY_STORAGE", "filesystem"),
            ("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", "/data"),
        ],
    )
    .config;
    assert_eq!(filesystem(&c).rootdirectory.to_str().unwrap(), "/data");
}

#[test]
fn two_drivers_from_the_environment_are_an_error() {
    assert_eq!(
        env_err(
            BASE,
            &[
                ("REGISTRY_STORAGE_S3_BUCKET", "images"),
                ("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", "/data"),
            ]
        ),
        "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY selects storage driver filesystem but \
         REGISTRY_STORAGE_S3_BUCKET selects s3: set keys of one storage driver only"
    );
}

#[test]
fn another_access_controller_replaces_the_files() {
    let yaml = format!("{BASE}auth:\n  htpasswd:\n    realm: r\n    path: /auth/htpasswd\n");
    let loaded = with_env(
        &yaml,
        &[
            ("REGISTRY_AUTH_TOKEN_REALM", "https://auth.example/token"),
            ("REGISTRY_AUTH_TOKEN_SERVICE", "registry"),
            ("REGISTRY_AUTH_TOKEN_ISSUER", "auth.example"),
            ("REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE", "/certs/bundle.pem"),
        ],
    );
    let Some(Auth::Token(token)) = &loaded.config.auth else {
        panic!("expected token auth, got {:?}", loaded.config.auth)
    };
    assert_eq!(token.realm, "https://auth.example/token");
    assert_eq!(
        token.rootcertbundle.as_deref(),
        Some(std::path::Path::new("/certs/bundle.pem"))
    );
    assert_eq!(
        loaded.warnings,
        [
            "REGISTRY_AUTH_TOKEN_ISSUER replaces access controller htpasswd of the configuration file with token"
        ]
    );
    assert_eq!(
        env_err(
            &yaml,
            &[
                ("REGISTRY_AUTH_TOKEN_REALM", "x"),
                ("REGISTRY_AUTH_SILLY_REALM", "y")
            ]
        ),
        "REGISTRY_AUTH_SILLY_REALM selects access controller silly but REGISTRY_AUTH_TOKEN_REALM \
         selects token: set keys of one access controller only"
    );
}

#[test]
fn a_bad_value_names_the_variable() {
    assert_eq!(
        env_err(BASE, &[("REGISTRY_STORAGE_DELETE_ENABLED", "maybe")]),
        "storage.delete.enabled (set by REGISTRY_STORAGE_DELETE_ENABLED): \"maybe\" is not valid: \
         expected true or false"
    );
    assert_eq!(
        env_err(BASE, &[("REGISTRY_HTTP_DRAINTIMEOUT", "30")]),
        "http.draintimeout (set by REGISTRY_HTTP_DRAINTIMEOUT): 30 is not valid: expected a \
         duration such as 300ms, 10s, 5m, 168h or 1h30m; a number needs a unit, such as 30s"
    );
    // A section set as YAML: the error inside it names the variable too.
    assert_eq!(
        env_err(
            BASE,
            &[("REGISTRY_STORAGE_FILESYSTEM", "{maxthreads: lots}")]
        ),
        "storage.filesystem.maxthreads (set by REGISTRY_STORAGE_FILESYSTEM): \"lots\" is not valid: \
         expected a non-negative integer"
    );
    assert_eq!(
        env_err(BASE, &[("REGISTRY_LOG_LEVEL", "loud")]),
        "log.level (set by REGISTRY_LOG_LEVEL): \"loud\" is not valid: expected one of error, warn, info, debug"
    );
}

#[test]
fn a_value_that_is_not_yaml_is_an_error() {
    let message = env_err(BASE, &[("REGISTRY_HTTP_HEADERS", "{X-A: [b")]);
    assert!(
        message.starts_with("REGISTRY_HTTP_HEADERS: \"{X-A: [b\" is not a valid YAML value: "),
        "{message}"
    );
}

#[test]
fn variables_outside_the_schema_are_ignored_with_a_warning() {
    let loaded = with_env(
        BASE,
        &[
            ("PATH", "/usr/bin"),
            ("REGISTRY_PORT", "tcp://10.0.0.1:5000"),
            ("REGISTRY_PORT_5000_TCP_ADDR", "10.0.0.1"),
            ("REGISTRY_HTTP__ADDR", ":1"),
            ("REGISTRY_HTTP_COLOUR", "blue"),
        ],
    );
    assert_eq!(
        loaded.warnings,
        [
            "ignoring environment variable REGISTRY_PORT: port is not a configuration key",
            "ignoring environment variable REGISTRY_PORT_5000_TCP_ADDR: port is not a configuration key",
            "ignoring environment variable REGISTRY_HTTP__ADDR: empty key between underscores",
            "unknown configuration key http.colour (set by REGISTRY_HTTP_COLOUR); ignored",
        ]
    );
    assert_eq!(loaded.config.http.addr, ":5000");
}

#[test]
fn the_embedded_configuration_takes_overrides() {
    let loaded = Configuration::embedded_with_env([
        ("REGISTRY_HTTP_ADDR", "127.0.0.1:5001"),
        ("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", "/srv"),
    ])
    .unwrap();
    assert_eq!(
        loaded.config.http.listen().unwrap(),
        Listen::Tcp("127.0.0.1:5001".into())
    );
    assert_eq!(
        filesystem(&loaded.config).rootdirectory.to_str().unwrap(),
        "/srv"
    );
    assert!(loaded.config.storage.delete.enabled);
}

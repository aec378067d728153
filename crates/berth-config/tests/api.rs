//! The embedded default, listening addresses, default paths, dumps.

use std::path::Path;

use berth_config::*;

#[test]
fn the_embedded_default_is_its_yaml() {
    let loaded = Configuration::parse(DEFAULT_CONFIG_YAML).unwrap();
    assert_eq!(loaded.config, Configuration::default_embedded());
    assert!(loaded.warnings.is_empty() && loaded.unsupported.is_empty());
    let no_env = Configuration::embedded_with_env(std::iter::empty::<(String, String)>()).unwrap();
    assert_eq!(no_env, loaded);

    let c = Configuration::default_embedded();
    assert_eq!(
        c.storage.driver,
        StorageDriver::Filesystem(Filesystem {
            rootdirectory: "./data".into(),
            maxthreads: 100
        })
    );
    assert_eq!(
        c.storage.cache.blobdescriptor,
        BlobDescriptorCache::InMemory
    );
    assert!(c.storage.delete.enabled);
    assert_eq!(c.http.listen().unwrap(), Listen::Tcp("0.0.0.0:5000".into()));
    assert_eq!(
        c.http.headers.get("X-Content-Type-Options"),
        Some(&["nosniff".to_string()][..])
    );
    assert_eq!(c.http.secret, None);
}

#[test]
fn listening_addresses() {
    let listen = |net: Net, addr: &str| {
        Http {
            net,
            addr: addr.into(),
            ..Http::default()
        }
        .listen()
    };
    for (addr, bind) in [
        (":5000", "0.0.0.0:5000"),
        ("", "0.0.0.0:5000"),
        ("0.0.0.0:5000", "0.0.0.0:5000"),
        ("127.0.0.1:8080", "127.0.0.1:8080"),
        ("[::1]:5000", "[::1]:5000"),
        ("[::]:5000", "[::]:5000"),
        ("registry.local:443", "registry.local:443"),
        (":0", "0.0.0.0:0"),
    ] {
        assert_eq!(
            listen(Net::Tcp, addr).unwrap(),
            Listen::Tcp(bind.into()),
            "{addr}"
        );
    }
    for bad in [
        "5000",
        "localhost",
        ":",
        ":http",
        ":65536",
        "::1:5000",
        "[::1]",
        "[]:5000",
        "[::1]5000",
        "a b:1",
    ] {
        let err = listen(Net::Tcp, bad).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "http.addr: {bad:?} is not valid: expected an address such as :5000, 0.0.0.0:5000, [::1]:5000 or registry.local:5000"
            )
        );
    }
    assert_eq!(
        listen(Net::Unix, "/run/berth.sock").unwrap(),
        Listen::Unix("/run/berth.sock".into())
    );
    let c = Configuration::parse(
        "version: 0.1\nstorage: inmemory\nhttp: {net: unix, addr: /run/r.sock}",
    )
    .unwrap()
    .config;
    assert_eq!(c.http.listen().unwrap(), Listen::Unix("/run/r.sock".into()));
}

#[test]
fn default_config_paths() {
    assert_eq!(
        DEFAULT_CONFIG_PATHS,
        [
            "/etc/distribution/config.yml",
            "/etc/docker/registry/config.yml"
        ]
    );
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let a = fixtures.join("missing.yml");
    let b = fixtures.join("proxy.yml");
    let c = fixtures.join("config-dev.yml");
    assert_eq!(
        first_existing([a.as_path(), b.as_path(), c.as_path()]),
        Some(b.clone())
    );
    assert_eq!(first_existing([a.as_path(), fixtures.as_path()]), None); // a directory is no file
    // Whatever this machine has, the answer is one of the two, in order.
    if let Some(found) = default_config_path() {
        assert!(DEFAULT_CONFIG_PATHS.iter().any(|p| Path::new(p) == found));
    }
}

#[test]
fn the_dump_is_yaml_with_defaults_and_masked_secrets() {
    let yaml = "\
version: 0.1
storage:
  s3:
    bucket: b
    region: eu-west-1
    secretkey: topsecret
    sessiontoken: tok
http:
  secret: hush
redis:
  addr: r:6379
  password: pw
";
    let c = Configuration::parse(yaml).unwrap().config;
    let dump = c.masked().to_yaml().unwrap();
    for secret in ["topsecret", "tok\n", "hush", "pw\n"] {
        assert!(!dump.contains(secret), "{secret} in\n{dump}");
    }
    assert!(dump.contains("bucket: b\n"), "{dump}");
    assert!(dump.contains("age: 168h\n"), "{dump}");
    assert!(dump.contains("maxentries: 1000\n"), "{dump}");
    // Masked, it still reads back.
    let again = Configuration::parse(&dump).unwrap().config;
    assert_eq!(again.http.secret.as_deref(), Some(MASK));
    // Unmasked, it reads back as the same configuration.
    assert_eq!(
        Configuration::parse(&c.to_yaml().unwrap()).unwrap().config,
        c
    );
}

#[test]
fn short_forms_and_yaml_1_1_booleans() {
    let c = Configuration::parse(
        "version: 0.1\nstorage: inmemory\nauth: silly\nhttp:\n  relativeurls: yes\n  http2: {disabled: on}",
    );
    // `auth: silly` without its realm and service is incomplete.
    assert_eq!(
        c.unwrap_err().to_string(),
        "auth.silly.realm: missing: expected the realm of the challenge"
    );
    let c = Configuration::parse(
        "version: 0.1\nstorage: inmemory\nhttp:\n  relativeurls: yes\n  http2: {disabled: On}",
    )
    .unwrap()
    .config;
    assert_eq!(c.storage.driver, StorageDriver::InMemory);
    assert!(c.http.relativeurls && c.http.http2.disabled);
}

#[test]
fn distribution_2_and_3_spellings() {
    let c = Configuration::parse(
        "\
version: '0.1'
loglevel: warn
storage:
  filesystem: {}
  cache:
    layerinfo: inmemory
redis:
  addrs: [a:6379, b:6379]
  username: default
  tls:
    certificate: /c
    key: /k
validation:
  enabled: true
  disabled: true
catalog:
  maxentries: -5
",
    )
    .unwrap()
    .config;
    assert_eq!(c.log.level, LogLevel::Warn);
    assert_eq!(
        c.storage.cache.blobdescriptor,
        BlobDescriptorCache::InMemory
    );
    let redis = c.redis.unwrap();
    assert_eq!(redis.addrs, ["a:6379", "b:6379"]);
    assert_eq!(redis.username.as_deref(), Some("default"));
    assert!(redis.tls.enabled);
    assert!(!c.validation.disabled, "2.8's enabled: true wins");
    assert_eq!(c.catalog.maxentries, 1000);
}

/// Free-form mappings keep no YAML tags: a tagged value reads as the
/// plain value (as Go's decoder does), so the configuration writes back
/// as YAML and reads back equal. (Found by the `config` fuzz target: a
/// `! service` key was accepted and then `to_yaml` failed.)
#[test]
fn tagged_values_in_free_form_mappings_are_plain() {
    let yaml = "version: 0.1\nlog:\n  fields:\n   ! service: registry\n   env: !custom [a, !!str 1]\nstorage:\n  inmemory: {}\ncompatibility:\n  ! x: !y {k: !z v}\n";
    let loaded = berth_config::Configuration::parse(yaml).unwrap();
    let fields = &loaded.config.log.fields;
    assert_eq!(
        fields.get("service").and_then(|v| v.as_str()),
        Some("registry")
    );
    let text = loaded.config.to_yaml().expect("writes as YAML");
    let again = berth_config::Configuration::parse(&text).unwrap();
    assert_eq!(again.config, loaded.config, "{text}");
}

//! Bad configurations, each with its exact message; unknown keys and
//! keys not supported yet, each with its full path.

use berth_config::{ConfigError, Configuration};

/// A valid start that each case adds to.
const OK: &str = "version: 0.1\nstorage:\n  inmemory:\n";

fn error_of(yaml: &str) -> ConfigError {
    match Configuration::parse(yaml) {
        Ok(loaded) => panic!("expected an error for\n{yaml}\ngot {:?}", loaded.config),
        Err(e) => e,
    }
}

#[test]
fn bad_configurations() {
    let s3 = |extra: &str| format!("version: 0.1\nstorage:\n  s3:\n    region: us-east-1\n{extra}");
    let cases: Vec<(String, &str)> = vec![
        // version
        ("".into(), "version: missing: expected \"0.1\""),
        ("storage: {inmemory: }".into(), "version: missing: expected \"0.1\""),
        ("version: 0.2\nstorage: {inmemory: }".into(), "version: 0.2 is not valid: expected \"0.1\""),
        ("version: '1.0'\nstorage: {inmemory: }".into(), "version: \"1.0\" is not valid: expected \"0.1\""),
        // the document
        ("- version".into(), "configuration: expected a mapping of configuration keys (version, storage, http, ...), found a list"),
        // storage drivers
        ("version: 0.1".into(), "storage: no storage driver configured: expected exactly one of filesystem, inmemory, s3"),
        ("version: 0.1\nstorage:".into(), "storage: no storage driver configured: expected exactly one of filesystem, inmemory, s3"),
        ("version: 0.1\nstorage:\n  delete: {enabled: true}\n  cache: {blobdescriptor: inmemory}".into(),
         "storage: no storage driver configured: expected exactly one of filesystem, inmemory, s3"),
        ("version: 0.1\nstorage:\n  filesystem: {}\n  delete: {enabled: true}\n  s3: {bucket: b}".into(),
         "storage: more than one storage driver configured (filesystem, s3): expected exactly one of filesystem, inmemory, s3"),
        ("version: 0.1\nstorage:\n  azure: {accountname: a}".into(),
         "storage.azure: storage driver \"azure\" is not supported yet: expected one of filesystem, inmemory, s3"),
        ("version: 0.1\nstorage:\n  filesytem: {rootdirectory: /x}".into(),
         "storage.filesytem: storage driver \"filesytem\" is unknown: expected one of filesystem, inmemory, s3"),
        ("version: 0.1\nstorage: [filesystem]".into(), "storage: a list is not valid: expected a mapping"),
        ("version: 0.1\nstorage:\n  filesystem: /var/lib/registry".into(),
         "storage.filesystem: \"/var/lib/registry\" is not valid: expected a mapping"),
        ("version: 0.1\nstorage:\n  filesystem:\n    maxthreads: -1".into(),
         "storage.filesystem.maxthreads: -1 is not valid: expected a non-negative integer"),
        (s3(""), "storage.s3.bucket: missing: expected the name of the S3 bucket"),
        (s3("    bucket: b\n    chunksize: big"), "storage.s3.chunksize: \"big\" is not valid: expected a non-negative integer"),
        (s3("    bucket: b\n    secure: sometimes"), "storage.s3.secure: \"sometimes\" is not valid: expected true or false"),
        // storage sections
        (format!("{OK}  delete:\n    enabled: maybe"), "storage.delete.enabled: \"maybe\" is not valid: expected true or false"),
        (format!("{OK}  cache:\n    blobdescriptor: redis"), "storage.cache.blobdescriptor: \"redis\" needs redis.addr (or redis.addrs) to be set"),
        (format!("{OK}  cache:\n    blobdescriptorsize: 0"), "storage.cache.blobdescriptorsize: 0 is not valid: expected a positive integer"),
        (format!("{OK}  maintenance:\n    uploadpurging:\n      age: 7d"),
         "storage.maintenance.uploadpurging.age: \"7d\" is not valid: expected a duration such as 300ms, 10s, 5m, 168h or 1h30m; unknown unit \"d\" (use ns, us, ms, s, m or h)"),
        (format!("{OK}  maintenance:\n    uploadpurging:\n      interval: true"),
         "storage.maintenance.uploadpurging.interval: true is not valid: expected a duration such as 300ms, 10s, 5m, 168h or 1h30m"),
        (format!("{OK}  maintenance:\n    uploadpurging:\n      interval: 0s"),
         "storage.maintenance.uploadpurging.interval: \"0s\" is not valid: expected a duration above zero while upload purging is enabled"),
        (format!("{OK}  tag:\n    concurrencylimit: 0"), "storage.tag.concurrencylimit: 0 is not valid: expected a positive integer"),
        // log
        (format!("{OK}log:\n  level: loud"), "log.level: \"loud\" is not valid: expected one of error, warn, info, debug"),
        (format!("{OK}loglevel: verbose"), "loglevel: \"verbose\" is not valid: expected one of error, warn, info, debug"),
        (format!("{OK}log:\n  formatter: xml"), "log.formatter: \"xml\" is not valid: expected one of text, json, logstash"),
        (format!("{OK}log:\n  fields: [a, b]"), "log.fields: a list is not valid: expected a mapping"),
        // http
        (format!("{OK}http: :5000"), "http: \":5000\" is not valid: expected a mapping"),
        (format!("{OK}http:\n  addr: '5000'"), "http.addr: \"5000\" is not valid: expected an address such as :5000, 0.0.0.0:5000, [::1]:5000 or registry.local:5000"),
        (format!("{OK}http:\n  addr: 5000"), "http.addr: 5000 is not valid: expected an address such as :5000, 0.0.0.0:5000, [::1]:5000 or registry.local:5000"),
        (format!("{OK}http:\n  addr: ':http'"), "http.addr: \":http\" is not valid: expected an address such as :5000, 0.0.0.0:5000, [::1]:5000 or registry.local:5000"),
        (format!("{OK}http:\n  addr: ':70000'"), "http.addr: \":70000\" is not valid: expected an address such as :5000, 0.0.0.0:5000, [::1]:5000 or registry.local:5000"),
        (format!("{OK}http:\n  addr: '::1:5000'"), "http.addr: \"::1:5000\" is not valid: expected an address such as :5000, 0.0.0.0:5000, [::1]:5000 or registry.local:5000"),
        (format!("{OK}http:\n  net: udp"), "http.net: \"udp\" is not valid: expected tcp or unix"),
        (format!("{OK}http:\n  net: unix"), "http.addr: missing: expected a socket path (http.net is unix)"),
        (format!("{OK}http:\n  host: registry.example.com"), "http.host: \"registry.example.com\" is not valid: expected an absolute URL such as https://registry.example.com"),
        (format!("{OK}http:\n  prefix: registry/"), "http.prefix: \"registry/\" is not valid: expected a path starting with / (such as /registry/)"),
        (format!("{OK}http:\n  draintimeout: 60"), "http.draintimeout: 60 is not valid: expected a duration such as 300ms, 10s, 5m, 168h or 1h30m; a number needs a unit, such as 60s"),
        (format!("{OK}http:\n  tls:\n    certificate: /c.pem"), "http.tls.key: missing: expected the private key file for http.tls.certificate"),
        (format!("{OK}http:\n  tls:\n    key: /k.pem"), "http.tls.certificate: missing: expected the certificate file for http.tls.key"),
        (format!("{OK}http:\n  tls:\n    certificate: /c\n    key: /k\n    minimumtls: tls1.4"), "http.tls.minimumtls: \"tls1.4\" is not valid: expected one of tls1.0, tls1.1, tls1.2, tls1.3"),
        (format!("{OK}http:\n  headers:\n    X-A: {{b: c}}"), "http.headers.X-A: a mapping is not valid: expected a string"),
        (format!("{OK}http:\n  debug:\n    addr: localhost"), "http.debug.addr: \"localhost\" is not valid: expected an address such as :5000, 0.0.0.0:5000, [::1]:5000 or registry.local:5000"),
        // redis
        (format!("{OK}redis:\n  addr: r:6379\n  db: first"), "redis.db: \"first\" is not valid: expected a non-negative integer"),
        (format!("{OK}redis:\n  addr: r:6379\n  dialtimeout: soon"), "redis.dialtimeout: \"soon\" is not valid: expected a duration such as 300ms, 10s, 5m, 168h or 1h30m; expected a number at \"soon\""),
        (format!("{OK}redis:\n  addr: r:6379\n  tls:\n    certificate: /c"), "redis.tls.key: missing: expected the private key file for redis.tls.certificate"),
        // auth
        (format!("{OK}auth:\n  htpasswd: {{realm: r, path: /p}}\n  silly: {{realm: r, service: s}}"),
         "auth: more than one access controller configured (htpasswd, silly): expected exactly one of htpasswd, silly, token"),
        (format!("{OK}auth:\n  ldap: {{url: ldap://x}}"), "auth.ldap: unknown access controller \"ldap\": expected one of htpasswd, silly, token"),
        (format!("{OK}auth:\n  htpasswd:\n    realm: r"), "auth.htpasswd.path: missing: expected the htpasswd file"),
        (format!("{OK}auth: htpasswd"), "auth.htpasswd.realm: missing: expected the realm of the basic-auth challenge"),
        (format!("{OK}auth:\n  token: {{realm: 'https://auth/token', service: s, issuer: i}}"),
         "auth.token.rootcertbundle: missing: expected the certificate bundle that signs tokens (or auth.token.jwks)"),
        // notifications
        (format!("{OK}notifications:\n  endpoints:\n    - name: a"), "notifications.endpoints[0].url: missing: expected the URL events are posted to"),
        (format!("{OK}notifications:\n  endpoints:\n    name: a"), "notifications.endpoints: a mapping is not valid: expected a list"),
        (format!("{OK}notifications:\n  endpoints:\n    - {{name: a, url: 'http://x', timeout: 0}}\n    - {{name: b, url: 'http://y', backoff: 1x}}"),
         "notifications.endpoints[1].backoff: \"1x\" is not valid: expected a duration such as 300ms, 10s, 5m, 168h or 1h30m; unknown unit \"x\" (use ns, us, ms, s, m or h)"),
        // proxy, health, validation
        (format!("{OK}proxy:\n  remoteurl: registry-1.docker.io"), "proxy.remoteurl: \"registry-1.docker.io\" is not valid: expected an http:// or https:// URL such as https://registry-1.docker.io"),
        (format!("{OK}proxy:\n  remoteurl: 'https://r'\n  ttl: forever"), "proxy.ttl: \"forever\" is not valid: expected a duration such as 300ms, 10s, 5m, 168h or 1h30m; expected a number at \"forever\""),
        (format!("{OK}health:\n  http:\n    - uri: 'http://x'\n      statuscode: 700"), "health.http[0].statuscode: 700 is not valid: expected an HTTP status code (100 to 599)"),
        (format!("{OK}health:\n  file:\n    - interval: 10s"), "health.file[0].file: missing: expected the path of the file to check"),
        (format!("{OK}health:\n  tcp:\n    - {{timeout: 1s}}"), "health.tcp[0].addr: missing: expected the host:port to check"),
        (format!("{OK}validation:\n  manifests:\n    indexes:\n      platforms: some"), "validation.manifests.indexes.platforms: \"some\" is not valid: expected one of none, all, list"),
        (format!("{OK}validation:\n  manifests:\n    indexes:\n      platforms: list"), "validation.manifests.indexes.platformlist: missing: expected the platforms an index must have (platforms is list)"),
        (format!("{OK}validation:\n  manifests:\n    indexes:\n      platforms: list\n      platformlist:\n        - os: linux"),
         "validation.manifests.indexes.platformlist[0].architecture: missing: expected a CPU architecture such as amd64"),
        (format!("{OK}catalog:\n  maxentries: many"), "catalog.maxentries: \"many\" is not valid: expected an integer"),
        (format!("{OK}middleware:\n  storage:\n    - options: {{}}"), "middleware.storage[0].name: missing: expected the middleware's name"),
    ];
    let mut failures = Vec::new();
    for (yaml, expected) in &cases {
        let got = error_of(yaml).to_string();
        if got != *expected {
            failures.push(format!(
                "--- config:\n{yaml}\n    expected: {expected}\n    got:      {got}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn yaml_syntax_errors_say_where() {
    let message = error_of("version: 0.1\nstorage: [\n").to_string();
    assert!(
        message.starts_with("configuration: not valid YAML: "),
        "{message}"
    );
    assert!(message.contains("line"), "{message}");
}

#[test]
fn a_missing_file_names_it() {
    let err = Configuration::load(
        std::path::Path::new("/nonexistent/berth/config.yml"),
        std::iter::empty::<(String, String)>(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot read configuration file /nonexistent/berth/config.yml: "),
        "{err}"
    );
    assert!(matches!(err, ConfigError::Read { .. }));
}

#[test]
fn unknown_keys_are_warnings_with_full_paths() {
    let yaml = "\
version: 0.1
colour: blue
loglevel: debug
log:
  accesslog:
    enabled: true
storage:
  filesystem:
    rootdir: /srv
    maxthreads: 10
  cache:
    blobdescriptor: memcached
    ttl: 1h
  maintenance:
    uploadpurging:
      maxage: 1h
http:
  addr: :5000
  tls:
    clientcas: [/ca.pem]
    sni: true
  debug:
    prometheus:
      enabled: true
notifications:
  endpoints:
    - name: a
      url: http://a.example/
      retries: 3
      ignore:
        tags: [latest]
redis:
  pool:
    wait: true
health:
  file:
    - file: /down
      mode: exists
proxy:
  username: u
";
    let loaded = Configuration::parse(yaml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        loaded.warnings,
        [
            "loglevel: deprecated; use log.level",
            "unknown configuration key log.accesslog.enabled; ignored",
            "storage.filesystem.maxthreads: 10 is below the minimum of 25; using 25",
            "unknown configuration key storage.filesystem.rootdir; ignored",
            "storage.cache.blobdescriptor: unknown cache type \"memcached\", caching disabled (expected inmemory or redis)",
            "unknown configuration key storage.cache.ttl; ignored",
            "unknown configuration key storage.maintenance.uploadpurging.maxage; ignored",
            "http.tls.clientcas: ignored: TLS is off without http.tls.certificate",
            "unknown configuration key http.tls.sni; ignored",
            "http.debug.prometheus: prometheus is enabled but http.debug.addr is not set; no metrics are served",
            "unknown configuration key redis.pool.wait; ignored",
            "redis: no addr set; Redis is not used",
            "unknown configuration key notifications.endpoints[0].ignore.tags; ignored",
            "unknown configuration key notifications.endpoints[0].retries; ignored",
            "proxy: remoteurl is not set; not running as a proxy",
            "unknown configuration key health.file[0].mode; ignored",
            "unknown configuration key colour; ignored",
        ]
    );
    let c = loaded.config;
    assert_eq!(c.log.level, berth_config::LogLevel::Debug);
    assert!(
        matches!(&c.storage.driver, berth_config::StorageDriver::Filesystem(fs) if fs.maxthreads == 25 && fs.rootdirectory.to_str() == Some("/var/lib/registry"))
    );
    assert_eq!(
        c.storage.cache.blobdescriptor,
        berth_config::BlobDescriptorCache::None
    );
    assert_eq!(c.http.tls, None);
    assert_eq!(c.http.debug, None);
    assert_eq!(c.redis, None);
    assert_eq!(c.proxy, None);
    assert!(loaded.unsupported.is_empty(), "{:?}", loaded.unsupported);
}

#[test]
fn known_keys_not_supported_yet_are_reported() {
    let yaml = "\
version: 0.1
log:
  hooks:
    - type: mail
storage:
  inmemory:
http:
  tls:
    letsencrypt:
      cachefile: /le.cache
      email: ops@example.com
redis:
  addrs: [r1:6379, r2:6379]
  mastername: primary
  poolsize: 10
proxy:
  remoteurl: https://registry-1.docker.io
  exec:
    command: docker-credential-helper
middleware:
  registry:
    - name: ratelimit
      disabled: true
  storage:
    - name: cloudfront
      options:
        baseurl: https://d111111abcdef8.cloudfront.net
        privatekey: /pk.pem
        keypairid: K1
compatibility:
  schema1:
    enabled: true
reporting:
  bugsnag:
    apikey: k
";
    let loaded = Configuration::parse(yaml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        loaded.unsupported,
        [
            "log.hooks: log hooks (mail) is not supported yet; ignored",
            "http.tls.letsencrypt: Let's Encrypt (ACME) certificates is not supported yet; ignored",
            "redis.mastername: Redis Sentinel is not supported yet; ignored",
            "proxy.exec: credential helpers for the upstream is not supported yet; ignored",
            "middleware.storage[0]: storage middleware \"cloudfront\" is not supported yet; ignored",
            "compatibility: schema1 signing (compatibility.schema1) is not supported yet; ignored",
            "reporting: error reporting (bugsnag, newrelic) is not supported yet; ignored",
        ]
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = loaded.config;
    assert_eq!(
        c.redis.as_ref().map(|r| r.addrs.clone()),
        Some(vec!["r1:6379".to_owned(), "r2:6379".to_owned()])
    );
    assert_eq!(c.redis.as_ref().and_then(|r| r.poolsize), Some(10));
    assert_eq!(c.middleware.storage[0].name, "cloudfront");
    assert_eq!(c.middleware.storage[0].options.len(), 3);
    assert!(c.middleware.registry[0].disabled);
    assert_eq!(c.compatibility.len(), 1);
}

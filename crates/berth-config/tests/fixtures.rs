//! Distribution's documented configurations, and the one Debian's
//! `docker-registry` package installs, parsed; each expected value written
//! out in full, so every key is checked where it lands.

use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_config::*;
use serde_yaml::{Mapping, Value};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn load(name: &str) -> LoadedConfig {
    match Configuration::load(&fixture(name), std::iter::empty::<(String, String)>()) {
        Ok(loaded) => loaded,
        Err(e) => panic!("{name}: {e}"),
    }
}

fn map(pairs: &[(&str, &str)]) -> Mapping {
    pairs
        .iter()
        .map(|(k, v)| (Value::String((*k).into()), Value::String((*v).into())))
        .collect()
}

fn headers(pairs: &[(&str, &[&str])]) -> Headers {
    Headers(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
            .collect(),
    )
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The stock configuration's sections (Distribution's
/// `cmd/registry/config-example.yml`, which Debian and the registry image
/// ship with small changes).
fn stock(rootdirectory: &str) -> Configuration {
    Configuration {
        version: "0.1".into(),
        log: Log {
            fields: map(&[("service", "registry")]),
            ..Log::default()
        },
        storage: Storage {
            driver: StorageDriver::Filesystem(Filesystem {
                rootdirectory: rootdirectory.into(),
                maxthreads: 100,
            }),
            delete: Delete { enabled: false },
            redirect: Redirect { disable: false },
            cache: Cache {
                blobdescriptor: BlobDescriptorCache::InMemory,
                blobdescriptorsize: 10_000,
            },
            maintenance: Maintenance {
                uploadpurging: UploadPurging {
                    enabled: true,
                    age: secs(168 * 3600),
                    interval: secs(24 * 3600),
                    dryrun: false,
                },
                readonly: ReadOnly { enabled: false },
                gc: Default::default(),
            },
            tag: Tag {
                concurrencylimit: None,
            },
        },
        http: Http {
            addr: ":5000".into(),
            net: Net::Tcp,
            prefix: None,
            host: None,
            secret: None,
            relativeurls: false,
            draintimeout: None,
            tls: None,
            headers: headers(&[("X-Content-Type-Options", &["nosniff"])]),
            debug: None,
            http2: Http2 { disabled: false },
            h2c: H2c { enabled: false },
        },
        redis: None,
        auth: None,
        notifications: Notifications::default(),
        proxy: None,
        health: Health {
            storagedriver: StorageDriverCheck {
                enabled: true,
                interval: secs(10),
                threshold: 3,
            },
            file: vec![],
            http: vec![],
            tcp: vec![],
        },
        validation: Validation {
            disabled: false,
            manifests: ManifestValidation {
                urls: UrlValidation {
                    allow: vec![],
                    deny: vec![],
                },
                indexes: IndexValidation {
                    platforms: IndexPlatforms::None,
                    platformlist: vec![],
                },
            },
        },
        catalog: Catalog { maxentries: 1000 },
        middleware: Middleware::default(),
        compatibility: Mapping::new(),
    }
}

#[test]
fn debian_docker_registry_config() {
    // A verbatim copy of /etc/docker/registry/config.yml from Debian's
    // docker-registry package.
    let loaded = load("debian-docker-registry.yml");
    let mut expected = stock("/var/lib/docker-registry");
    expected.storage.delete.enabled = true;
    expected.auth = Some(Auth::Htpasswd(Htpasswd {
        realm: "basic-realm".into(),
        path: "/etc/docker/registry".into(),
    }));
    assert_eq!(loaded.config, expected);
    assert_eq!(loaded.warnings, Vec::<String>::new());
    assert_eq!(loaded.unsupported, Vec::<String>::new());
    assert_eq!(
        loaded.config.http.listen().unwrap(),
        Listen::Tcp("0.0.0.0:5000".into())
    );
}

#[test]
fn registry_image_config() {
    let loaded = load("registry-image.yml");
    assert_eq!(loaded.config, stock("/var/lib/registry"));
    assert!(loaded.warnings.is_empty() && loaded.unsupported.is_empty());
}

#[test]
fn development_config() {
    let loaded = load("config-dev.yml");
    let mut expected = stock("/var/lib/registry");
    expected.log = Log {
        level: LogLevel::Debug,
        formatter: LogFormatter::Text,
        fields: map(&[("service", "registry"), ("environment", "development")]),
        accesslog: AccessLog { disabled: false },
        reportcaller: false,
    };
    expected.storage.delete.enabled = true;
    expected.storage.maintenance.uploadpurging.enabled = false;
    expected.storage.tag.concurrencylimit = Some(5);
    expected.http.debug = Some(Debug {
        addr: ":5001".into(),
        prometheus: Prometheus {
            enabled: true,
            path: "/metrics".into(),
        },
    });
    let endpoint = |name: &str, url: &str, headers: Headers| Endpoint {
        name: name.into(),
        disabled: true,
        url: url.into(),
        headers,
        timeout: secs(1),
        threshold: 10,
        backoff: secs(1),
        ignoredmediatypes: vec![],
        ignore: Ignore::default(),
    };
    expected.notifications = Notifications {
        events: Events {
            includereferences: true,
            ..Events::default()
        },
        spool: Default::default(),
        endpoints: vec![
            endpoint(
                "local-5003",
                "http://localhost:5003/callback",
                headers(&[("Authorization", &["Bearer <an example token>"])]),
            ),
            endpoint(
                "local-8083",
                "http://localhost:8083/callback",
                Headers::default(),
            ),
        ],
    };
    assert_eq!(loaded.config, expected);
    assert_eq!(loaded.warnings, Vec::<String>::new());
    assert_eq!(
        loaded.unsupported,
        ["log.hooks: log hooks (mail) is not supported yet; ignored"]
    );
}

#[test]
fn s3_redis_notifications_htpasswd_config() {
    let loaded = load("s3-redis-htpasswd.yml");
    let c = &loaded.config;
    assert_eq!(c.version, "0.1");
    assert_eq!(
        c.log,
        Log {
            level: LogLevel::Info,
            formatter: LogFormatter::Json,
            fields: map(&[("service", "registry"), ("environment", "staging")]),
            accesslog: AccessLog { disabled: true },
            reportcaller: false,
        }
    );
    let StorageDriver::S3(s3) = &c.storage.driver else {
        panic!("expected s3, got {:?}", c.storage.driver)
    };
    assert_eq!(
        **s3,
        S3Parameters {
            region: Some("us-west-1".into()),
            regionendpoint: Some("http://myobjects.local".into()),
            forcepathstyle: true,
            bucket: "bucketname".into(),
            rootdirectory: Some("/s3/object/name/prefix".into()),
            accesskey: Some("awsaccesskey".into()),
            secretkey: Some("awssecretkey".into()),
            sessiontoken: None,
            secure: true,
            skipverify: false,
            v4auth: true,
            encrypt: true,
            keyid: Some("mykeyid".into()),
            chunksize: 5_242_880,
            multipartcopychunksize: 33_554_432,
            multipartcopymaxconcurrency: 100,
            multipartcopythresholdsize: 33_554_432,
            storageclass: "STANDARD".into(),
            objectacl: "private".into(),
            useragent: Some("berth-test".into()),
            usedualstack: false,
            accelerate: false,
            loglevel: Some("debug".into()),
            checksumcalculation: ChecksumMode::WhenRequired,
            checksumvalidation: ChecksumMode::WhenSupported,
            connecttimeout: Duration::from_secs(2),
            readtimeout: Duration::from_secs(90),
            operationtimeout: Duration::from_secs(300),
            unknown: vec![],
        }
    );
    // Written back under Distribution's names, as the driver reads them.
    let Value::Mapping(params) = serde_yaml::to_value(&**s3).unwrap() else {
        panic!("s3 parameters write a mapping")
    };
    assert_eq!(
        params.get("bucket"),
        Some(&Value::String("bucketname".into()))
    );
    assert_eq!(
        params.get("chunksize"),
        Some(&Value::Number(5_242_880.into()))
    );
    assert_eq!(params.get("sessiontoken"), None);
    // Durations go to the driver in Go's form.
    assert_eq!(
        params.get("readtimeout"),
        Some(&Value::String("1m30s".into()))
    );
    assert_eq!(params.len(), 27);

    assert_eq!(c.storage.delete, Delete { enabled: true });
    assert_eq!(c.storage.redirect, Redirect { disable: false });
    assert_eq!(
        c.storage.cache,
        Cache {
            blobdescriptor: BlobDescriptorCache::Redis,
            blobdescriptorsize: 10_000,
        }
    );
    assert_eq!(c.storage.maintenance, Maintenance::default());
    assert_eq!(
        c.auth,
        Some(Auth::Htpasswd(Htpasswd {
            realm: "basic-realm".into(),
            path: "/path/to/htpasswd".into(),
        }))
    );
    assert_eq!(
        c.http,
        Http {
            addr: "localhost:5000".into(),
            net: Net::Tcp,
            prefix: Some("/my/nested/registry/".into()),
            host: Some("https://myregistryaddress.org:5000".into()),
            secret: Some("asecretforlocaldevelopment".into()),
            relativeurls: false,
            draintimeout: Some(secs(60)),
            tls: Some(Tls {
                certificate: "/path/to/x509/public".into(),
                key: "/path/to/x509/private".into(),
                clientcas: strings(&["/path/to/ca.pem", "/path/to/another/ca.pem"]),
                minimumtls: TlsVersion::Tls12,
                ciphersuites: vec![],
            }),
            headers: headers(&[("X-Content-Type-Options", &["nosniff"])]),
            debug: Some(Debug {
                addr: "localhost:5001".into(),
                prometheus: Prometheus {
                    enabled: true,
                    path: "/metrics".into(),
                },
            }),
            http2: Http2 { disabled: false },
            h2c: H2c { enabled: false },
        }
    );
    assert_eq!(
        c.http.listen().unwrap(),
        Listen::Tcp("localhost:5000".into())
    );
    assert_eq!(
        c.notifications,
        Notifications {
            events: Events {
                includereferences: true,
                ..Events::default()
            },
            spool: Default::default(),
            endpoints: vec![Endpoint {
                name: "alistener".into(),
                disabled: false,
                url: "https://my.listener.com/event".into(),
                headers: headers(&[
                    ("Authorization", &["Bearer s3cr3t"]),
                    ("X-Registry", &["berth", "test"]),
                ]),
                timeout: secs(1),
                threshold: 10,
                backoff: secs(1),
                ignoredmediatypes: strings(&["application/octet-stream"]),
                ignore: Ignore {
                    mediatypes: strings(&["application/octet-stream"]),
                    actions: strings(&["pull"]),
                },
            }],
        }
    );
    assert_eq!(
        c.redis,
        Some(Redis {
            addrs: strings(&["localhost:6379"]),
            username: None,
            password: Some("asecret".into()),
            db: 0,
            dialtimeout: Some(Duration::from_millis(10)),
            readtimeout: Some(Duration::from_millis(10)),
            writetimeout: Some(Duration::from_millis(10)),
            pool: RedisPool {
                maxidle: Some(16),
                maxactive: Some(64),
                idletimeout: Some(secs(300)),
            },
            poolsize: None,
            maxidleconns: None,
            maxactiveconns: None,
            connmaxidletime: None,
            tls: RedisTls::default(),
        })
    );
    assert_eq!(
        c.health,
        Health {
            storagedriver: StorageDriverCheck {
                enabled: true,
                interval: secs(10),
                threshold: 3,
            },
            file: vec![FileCheck {
                file: "/path/to/checked/file".into(),
                interval: secs(10),
            }],
            http: vec![HttpCheck {
                uri: "http://server.to.check/must/return/200".into(),
                headers: headers(&[("Authorization", &["Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="])]),
                statuscode: 200,
                timeout: Some(secs(3)),
                interval: secs(10),
                threshold: 3,
            }],
            tcp: vec![TcpCheck {
                addr: "redis-server.domain.com:6379".into(),
                timeout: Some(secs(3)),
                interval: secs(10),
                threshold: 3,
            }],
        }
    );
    assert_eq!(
        c.validation.manifests.urls,
        UrlValidation {
            allow: strings(&[r"^https?://([^/]+\.)*example\.com/"]),
            deny: strings(&[r"^https?://www\.example\.com/"]),
        }
    );
    assert!(!c.validation.disabled);
    assert_eq!(c.catalog, Catalog { maxentries: 500 });
    assert_eq!(c.proxy, None);
    assert!(c.middleware.is_empty());
    assert_eq!(loaded.warnings, Vec::<String>::new());
    assert_eq!(loaded.unsupported, Vec::<String>::new());

    // Masked: every secret, nothing else.
    let m = c.masked();
    assert_eq!(m.http.secret.as_deref(), Some(MASK));
    let StorageDriver::S3(ms3) = &m.storage.driver else {
        unreachable!()
    };
    assert_eq!(ms3.secretkey.as_deref(), Some(MASK));
    assert_eq!(ms3.accesskey.as_deref(), Some("awsaccesskey"));
    assert_eq!(
        m.redis.as_ref().and_then(|r| r.password.as_deref()),
        Some(MASK)
    );
    assert_eq!(
        m.notifications.endpoints[0].headers.get("authorization"),
        Some(&[MASK.to_string()][..])
    );
    assert_eq!(
        m.notifications.endpoints[0].headers.get("X-Registry"),
        Some(&strings(&["berth", "test"])[..])
    );
    assert_eq!(
        m.health.http[0].headers.get("Authorization"),
        Some(&[MASK.to_string()][..])
    );
    let dump = m.to_yaml().unwrap();
    for secret in [
        "awssecretkey",
        "asecret\n",
        "asecretforlocaldevelopment",
        "s3cr3t",
        "QWxhZGRp",
    ] {
        assert!(!dump.contains(secret), "{secret} in\n{dump}");
    }
}

#[test]
fn proxy_config() {
    let loaded = load("proxy.yml");
    let mut expected = stock("/var/lib/registry");
    expected.proxy = Some(Proxy {
        remoteurl: "https://registry-1.docker.io".into(),
        username: Some("mirror-user".into()),
        password: Some("mirror-password".into()),
        ttl: Some(secs(168 * 3600)),
    });
    assert_eq!(loaded.config, expected);
    assert!(loaded.warnings.is_empty() && loaded.unsupported.is_empty());
    let masked = loaded.config.masked();
    assert_eq!(masked.proxy.and_then(|p| p.password), Some(MASK.to_owned()));
}

#[test]
fn every_fixture_dumps_and_reads_back_the_same() {
    for name in [
        "debian-docker-registry.yml",
        "registry-image.yml",
        "config-dev.yml",
        "s3-redis-htpasswd.yml",
        "proxy.yml",
    ] {
        let config = load(name).config;
        let yaml = config.to_yaml().unwrap();
        let again = Configuration::parse(&yaml).unwrap_or_else(|e| panic!("{name}: {e}\n{yaml}"));
        assert_eq!(again.config, config, "{name}:\n{yaml}");
        assert_eq!(again.warnings, Vec::<String>::new(), "{name}:\n{yaml}");
    }
}

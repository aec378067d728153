//! The deployment files under `deploy/`, checked without Docker, systemd or
//! a cluster: every YAML file parses; every berth configuration in them
//! (the image's, the compose file's, the Kubernetes ConfigMaps') loads,
//! with the variables its deployment sets, without an error, a warning or
//! an unsupported key; and the pieces point at each other — ports, paths,
//! service names, secrets, stop timeouts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_config::{BlobDescriptorCache, Configuration, LoadedConfig, StorageDriver};
use serde::Deserialize;
use serde_yaml::Value;

/// Where the image's configuration lives, and what the systemd unit and the
/// Kubernetes manifests pass to `berth serve`.
const CONFIG_PATH: &str = "/etc/berth/config.yml";

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn read(relative: &str) -> String {
    let path = deploy_dir().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every document of a (multi-document) YAML text.
fn documents(name: &str, text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{name}: {e}")))
        .filter(|doc| !doc.is_null())
        .collect()
}

/// The value at a dotted path of mapping keys, or `Null`.
fn at<'a>(value: &'a Value, path: &str) -> &'a Value {
    static NULL: Value = Value::Null;
    path.split('.')
        .fold(value, |v, key| v.get(key).unwrap_or(&NULL))
}

fn str_at<'a>(value: &'a Value, path: &str) -> &'a str {
    at(value, path)
        .as_str()
        .unwrap_or_else(|| panic!("{path} is not a string in {value:?}"))
}

fn seq_at<'a>(value: &'a Value, path: &str) -> &'a [Value] {
    at(value, path)
        .as_sequence()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("{path} is not a list in {value:?}"))
}

fn strings(values: &[Value]) -> Vec<&str> {
    values
        .iter()
        .map(|v| v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}")))
        .collect()
}

/// Loads a berth configuration and insists it is clean.
fn load_clean(name: &str, yaml: &str, env: &BTreeMap<String, String>) -> LoadedConfig {
    let loaded = Configuration::parse_with_env(yaml, env)
        .unwrap_or_else(|e| panic!("{name}: invalid configuration: {e}"));
    assert!(
        loaded.warnings.is_empty(),
        "{name}: warnings {:?}",
        loaded.warnings
    );
    assert!(
        loaded.unsupported.is_empty(),
        "{name}: unsupported keys {:?}",
        loaded.unsupported
    );
    loaded
}

/// The port of `:5000`, `0.0.0.0:5000`, `[::]:5000`, `host:5000`,
/// `http://host:5000`.
fn port_of(addr: &str) -> u16 {
    let addr = addr.rsplit("://").next().unwrap_or(addr);
    let port = addr.rsplit(':').next().unwrap_or_default();
    port.parse()
        .unwrap_or_else(|_| panic!("no port in address {addr:?}"))
}

/// The host of `host:5000` or `http://host:5000`.
fn host_of(addr: &str) -> &str {
    let addr = addr.rsplit("://").next().unwrap_or(addr);
    addr.rsplit_once(':').map_or(addr, |(host, _)| host)
}

fn debug_port(config: &Configuration) -> u16 {
    let debug = config.http.debug.as_ref().expect("http.debug is set");
    port_of(&debug.addr)
}

fn drain(config: &Configuration) -> Duration {
    config.http.draintimeout.expect("http.draintimeout is set")
}

/// The checks every deployed configuration passes.
fn check_common(name: &str, config: &Configuration) {
    assert_eq!(port_of(&config.http.addr), 5000, "{name}: http.addr");
    let debug = config.http.debug.as_ref().expect("http.debug is set");
    assert_eq!(port_of(&debug.addr), 5001, "{name}: http.debug.addr");
    assert!(
        debug.addr.starts_with(':'),
        "{name}: the probes reach the debug server from outside the container"
    );
    assert!(debug.prometheus.enabled, "{name}: metrics");
    assert!(config.health.storagedriver.enabled, "{name}: storage check");
    assert!(config.storage.delete.enabled, "{name}: deletes");
    assert!(drain(config) > Duration::ZERO, "{name}: draintimeout");
    let nosniff = config
        .http
        .headers
        .0
        .iter()
        .find(|(header, _)| header.eq_ignore_ascii_case("X-Content-Type-Options"))
        .map(|(_, values)| values.clone());
    assert_eq!(nosniff, Some(vec!["nosniff".to_owned()]), "{name}: headers");
    assert!(config.auth.is_none(), "{name}: berth refuses to serve auth");
}

fn secret_env() -> BTreeMap<String, String> {
    BTreeMap::from([(
        "REGISTRY_HTTP_SECRET".to_owned(),
        "0123456789abcdef0123456789abcdef".to_owned(),
    )])
}

#[test]
fn every_yaml_file_parses() {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yml" | "yaml")
            ) {
                found.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&deploy_dir(), &mut files);
    assert!(files.len() >= 12, "YAML files found: {files:?}");
    for file in files {
        let name = file.display().to_string();
        let docs = documents(&name, &std::fs::read_to_string(&file).unwrap());
        assert!(!docs.is_empty(), "{name}: empty");
        if name.contains("/kubernetes/") {
            for doc in &docs {
                assert!(at(doc, "apiVersion").is_string(), "{name}: apiVersion");
                let kind = str_at(doc, "kind");
                if kind != "Kustomization" {
                    assert!(at(doc, "metadata.name").is_string(), "{name}: {kind} name");
                }
            }
        }
    }
}

#[test]
fn the_image_configuration() {
    let loaded = load_clean("deploy/config.yml", &read("config.yml"), &secret_env());
    let config = &loaded.config;
    check_common("deploy/config.yml", config);
    match &config.storage.driver {
        StorageDriver::Filesystem(fs) => {
            assert_eq!(fs.rootdirectory.to_str().unwrap(), "/var/lib/registry")
        }
        other => panic!("storage: {other:?}"),
    }
    assert_eq!(
        config.storage.cache.blobdescriptor,
        BlobDescriptorCache::InMemory
    );
    assert_eq!(
        config.http.secret.as_deref(),
        Some("0123456789abcdef0123456789abcdef"),
        "REGISTRY_HTTP_SECRET sets http.secret"
    );
    // No secret in the file itself.
    let bare = load_clean("deploy/config.yml", &read("config.yml"), &BTreeMap::new());
    assert_eq!(bare.config.http.secret, None);
}

/// The Dockerfile's instructions, continuation lines joined, comments and
/// the parser directive dropped: (INSTRUCTION, arguments).
fn dockerfile() -> Vec<(String, String)> {
    let text = read("Dockerfile");
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (current.is_empty() && trimmed.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (instruction, args) = current.split_once(char::is_whitespace).unwrap();
                out.push((instruction.to_ascii_uppercase(), args.trim().to_owned()));
                current.clear();
            }
        }
    }
    assert!(current.is_empty(), "Dockerfile ends inside a continuation");
    out
}

#[test]
fn the_dockerfile() {
    let instructions = dockerfile();
    let all = |name: &str| -> Vec<&str> {
        instructions
            .iter()
            .filter(|(i, _)| i == name)
            .map(|(_, args)| args.as_str())
            .collect()
    };
    let config = load_clean("deploy/config.yml", &read("config.yml"), &secret_env()).config;

    let froms = all("FROM");
    assert!(froms.len() >= 2, "multi-stage: {froms:?}");
    assert!(froms[0].ends_with(" AS build"), "builder stage: {froms:?}");
    assert!(
        froms.last().unwrap().starts_with("debian:"),
        "runtime stage: {froms:?}"
    );
    let runs = all("RUN").join("\n");
    assert!(runs.contains("cargo build --release -p berth --locked"));

    let copies = all("COPY");
    assert!(copies.contains(&"--from=build /usr/local/bin/berth /usr/local/bin/berth"));
    assert!(copies.contains(&format!("deploy/config.yml {CONFIG_PATH}").as_str()));

    let users = all("USER");
    let user = users.last().expect("a USER");
    let uid = user.split(':').next().unwrap();
    assert!(uid != "root" && uid != "0", "non-root user: {user}");
    // The USER comes after the last FROM: the runtime stage's.
    let last_from = instructions.iter().rposition(|(i, _)| i == "FROM").unwrap();
    let last_user = instructions.iter().rposition(|(i, _)| i == "USER").unwrap();
    assert!(last_user > last_from);

    let StorageDriver::Filesystem(fs) = &config.storage.driver else {
        panic!("filesystem storage");
    };
    assert_eq!(all("VOLUME"), [fs.rootdirectory.to_str().unwrap()]);

    let exposed: Vec<u16> = all("EXPOSE")
        .iter()
        .flat_map(|args| args.split_whitespace())
        .map(|port| port.parse().unwrap())
        .collect();
    assert!(exposed.contains(&port_of(&config.http.addr)), "{exposed:?}");
    assert!(exposed.contains(&debug_port(&config)), "{exposed:?}");

    let healthcheck = all("HEALTHCHECK");
    assert_eq!(healthcheck.len(), 1);
    let url = format!("http://127.0.0.1:{}/debug/health", debug_port(&config));
    assert!(healthcheck[0].contains(&url), "{}", healthcheck[0]);
    assert!(healthcheck[0].contains("curl"));
    assert!(
        runs.contains(" curl"),
        "curl is installed for the health check"
    );

    assert_eq!(all("STOPSIGNAL"), ["SIGTERM"]);
    assert_eq!(all("ENTRYPOINT"), [r#"["/usr/local/bin/berth"]"#]);
    assert_eq!(all("CMD"), [format!(r#"["serve", "{CONFIG_PATH}"]"#)]);
}

/// `${NAME:-default}` with nothing set, as compose reads it.
fn interpolate(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closing brace") + start;
        let inner = &rest[start + 2..end];
        let (_, default) = inner
            .split_once(":-")
            .unwrap_or_else(|| panic!("${{{inner}}} has no default"));
        out.push_str(default);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn compose_env(service: &Value) -> BTreeMap<String, String> {
    at(service, "environment")
        .as_mapping()
        .expect("environment as a mapping")
        .iter()
        .map(|(k, v)| {
            let value = match v {
                Value::String(s) => interpolate(s),
                other => panic!("environment value {other:?}"),
            };
            (k.as_str().unwrap().to_owned(), value)
        })
        .collect()
}

/// `key = "value"` lines of a flat TOML file (enough for garage.toml).
fn toml_value(text: &str, key: &str) -> String {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .unwrap_or_else(|| panic!("garage.toml has no {key}"))
}

#[test]
fn the_compose_file() {
    let compose = documents("deploy/compose.yml", &read("compose.yml")).remove(0);
    let services = at(&compose, "services");
    let berth = at(services, "berth");
    let garage = at(services, "garage");
    let redis = at(services, "redis");
    assert!(redis.is_mapping() && garage.is_mapping());

    assert_eq!(str_at(berth, "build.dockerfile"), "deploy/Dockerfile");
    assert_eq!(
        strings(seq_at(berth, "command")),
        ["serve", CONFIG_PATH],
        "berth serves the mounted file"
    );
    let mount = format!("./config-s3.yml:{CONFIG_PATH}:ro");
    assert!(strings(seq_at(berth, "volumes")).contains(&mount.as_str()));

    let env = compose_env(berth);
    for var in [
        "REGISTRY_HTTP_SECRET",
        "REGISTRY_STORAGE_S3_ACCESSKEY",
        "REGISTRY_STORAGE_S3_SECRETKEY",
    ] {
        assert!(env.get(var).is_some_and(|v| !v.is_empty()), "{var}");
    }
    let loaded = load_clean("deploy/config-s3.yml", &read("config-s3.yml"), &env);
    let config = &loaded.config;
    check_common("deploy/config-s3.yml", config);

    // Redis: the redis service, as the descriptor cache.
    assert_eq!(
        config.storage.cache.blobdescriptor,
        BlobDescriptorCache::Redis
    );
    let redis_addr = &config.redis.as_ref().expect("redis").addrs[0];
    assert_eq!(host_of(redis_addr), "redis");
    assert_eq!(port_of(redis_addr), 6379);

    // S3: the garage service, its region, bucket and default key.
    let StorageDriver::S3(s3) = &config.storage.driver else {
        panic!("s3 storage");
    };
    let garage_toml = read("garage.toml");
    let endpoint = s3.regionendpoint.as_deref().expect("regionendpoint");
    assert_eq!(host_of(endpoint), "garage");
    assert_eq!(
        port_of(endpoint),
        port_of(&toml_value(&garage_toml, "api_bind_addr"))
    );
    assert_eq!(
        s3.region.as_deref(),
        Some(toml_value(&garage_toml, "s3_region").as_str())
    );
    assert!(s3.forcepathstyle);
    assert!(
        config.storage.redirect.disable,
        "clients cannot resolve http://garage:3900"
    );
    let garage_env = compose_env(garage);
    assert_eq!(garage_env["GARAGE_DEFAULT_BUCKET"], s3.bucket);
    let access = s3.accesskey.as_deref().expect("accesskey");
    let secret = s3.secretkey.as_deref().expect("secretkey");
    assert_eq!(garage_env["GARAGE_DEFAULT_ACCESS_KEY"], access);
    assert_eq!(garage_env["GARAGE_DEFAULT_SECRET_KEY"], secret);
    // Garage's formats: "GK" and 24 hex digits; 64 hex digits.
    let hex = |s: &str| s.chars().all(|c| c.is_ascii_hexdigit());
    assert!(access.len() == 26 && access.starts_with("GK") && hex(&access[2..]));
    assert!(secret.len() == 64 && hex(secret));
    assert_eq!(
        strings(seq_at(garage, "command")),
        ["/garage", "server", "--single-node", "--default-bucket"]
    );
    assert!(strings(seq_at(garage, "volumes")).contains(&"./garage.toml:/etc/garage.toml:ro"));

    // Ports and stopping.
    let ports = strings(seq_at(berth, "ports"));
    assert!(ports.contains(&"5000:5000"), "{ports:?}");
    assert!(ports.contains(&"127.0.0.1:5001:5001"), "{ports:?}");
    let grace = berth_config::parse_duration(str_at(berth, "stop_grace_period")).unwrap();
    assert!(grace > drain(config));
    let depends = at(berth, "depends_on").as_mapping().unwrap();
    assert!(depends.contains_key("redis") && depends.contains_key("garage"));
}

/// `Key=value` lines of the unit, in order.
fn unit_settings() -> Vec<(String, String)> {
    read("berth.service")
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn the_systemd_unit() {
    let settings = unit_settings();
    let one = |key: &str| -> &str {
        let values: Vec<&str> = settings
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(values.len(), 1, "{key}: {values:?}");
        values[0]
    };
    assert_eq!(
        one("ExecStart"),
        format!("/usr/local/bin/berth serve {CONFIG_PATH}")
    );
    let user = one("User");
    assert!(user != "root" && user != "0");
    let config = load_clean("deploy/config.yml", &read("config.yml"), &secret_env()).config;
    let StorageDriver::Filesystem(fs) = &config.storage.driver else {
        panic!("filesystem storage");
    };
    assert!(
        one("ReadWritePaths")
            .split_whitespace()
            .any(|p| p == fs.rootdirectory.to_str().unwrap())
    );
    assert_eq!(one("ProtectSystem"), "strict");
    assert_eq!(one("NoNewPrivileges"), "yes");
    assert_eq!(one("PrivateTmp"), "yes");
    assert_eq!(one("Restart"), "on-failure");
    assert_eq!(one("KillSignal"), "SIGTERM");
    let stop = berth_config::parse_duration(one("TimeoutStopSec")).unwrap();
    assert!(stop > drain(&config), "TimeoutStopSec {stop:?}");
}

/// The documents of one Kubernetes variant, by (kind, name).
struct Manifests {
    dir: String,
    docs: BTreeMap<(String, String), Value>,
    files: Vec<String>,
}

impl Manifests {
    fn read(variant: &str) -> Manifests {
        let dir = format!("kubernetes/{variant}");
        let mut docs = BTreeMap::new();
        let mut files = Vec::new();
        for entry in std::fs::read_dir(deploy_dir().join(&dir)).unwrap() {
            let path = entry.unwrap().path();
            let file = path.file_name().unwrap().to_str().unwrap().to_owned();
            let name = format!("{dir}/{file}");
            for doc in documents(&name, &std::fs::read_to_string(&path).unwrap()) {
                let kind = str_at(&doc, "kind").to_owned();
                let key = match kind.as_str() {
                    "Kustomization" => String::new(),
                    _ => str_at(&doc, "metadata.name").to_owned(),
                };
                assert!(
                    docs.insert((kind.clone(), key.clone()), doc).is_none(),
                    "{name}: {kind} {key} twice"
                );
            }
            files.push(file);
        }
        files.sort();
        Manifests { dir, docs, files }
    }

    fn get(&self, kind: &str, name: &str) -> &Value {
        self.docs
            .get(&(kind.to_owned(), name.to_owned()))
            .unwrap_or_else(|| panic!("{}: no {kind} {name}", self.dir))
    }

    fn names(&self, kind: &str) -> Vec<&str> {
        self.docs
            .keys()
            .filter(|(k, _)| k == kind)
            .map(|(_, n)| n.as_str())
            .collect()
    }
}

/// What a Kubernetes variant's berth looks like, once checked.
struct Checked {
    config: Configuration,
    deployment: Value,
    env: BTreeMap<String, Value>,
}

/// The checks both variants pass.
fn check_kubernetes(m: &Manifests) -> Checked {
    // kustomization.yaml lists every other file.
    let kustomization = m.get("Kustomization", "");
    let mut listed = strings(seq_at(kustomization, "resources"));
    listed.push("kustomization.yaml");
    listed.sort();
    assert_eq!(listed, m.files, "{}: kustomization resources", m.dir);

    let deployment = m.get("Deployment", "berth").clone();
    let pod = at(&deployment, "spec.template.spec");
    let labels = at(&deployment, "spec.template.metadata.labels");
    assert_eq!(at(&deployment, "spec.selector.matchLabels"), labels);
    let containers = seq_at(pod, "containers");
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    assert_eq!(
        strings(seq_at(container, "args")),
        ["serve", CONFIG_PATH],
        "{}",
        m.dir
    );

    // The environment: literal values, and secrets from Secrets here (or
    // optional ones).
    let env: BTreeMap<String, Value> = seq_at(container, "env")
        .iter()
        .map(|e| (str_at(e, "name").to_owned(), e.clone()))
        .collect();
    let mut config_env = BTreeMap::new();
    for (name, entry) in &env {
        let value = if let Some(value) = at(entry, "value").as_str() {
            value.to_owned()
        } else {
            let secret = str_at(entry, "valueFrom.secretKeyRef.name");
            let key = str_at(entry, "valueFrom.secretKeyRef.key");
            if at(entry, "valueFrom.secretKeyRef.optional") != &Value::Bool(true) {
                let data = at(m.get("Secret", secret), "stringData");
                assert!(data.get(key).is_some(), "{}: {secret} has no {key}", m.dir);
            }
            format!("placeholder-for-{secret}-{key}")
        };
        config_env.insert(name.clone(), value);
    }

    // The ConfigMap is mounted where `serve` reads it.
    let mount_dir = Path::new(CONFIG_PATH).parent().unwrap().to_str().unwrap();
    let file_name = Path::new(CONFIG_PATH)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    let volume_of = |mount_path: &str| -> &Value {
        let mount = seq_at(container, "volumeMounts")
            .iter()
            .find(|v| str_at(v, "mountPath") == mount_path)
            .unwrap_or_else(|| panic!("{}: nothing mounted at {mount_path}", m.dir));
        let name = str_at(mount, "name");
        seq_at(pod, "volumes")
            .iter()
            .find(|v| str_at(v, "name") == name)
            .unwrap_or_else(|| panic!("{}: no volume {name}", m.dir))
    };
    let configmap_name = str_at(volume_of(mount_dir), "configMap.name");
    let configmap = m.get("ConfigMap", configmap_name);
    // (A key with a dot: not a path for `at`.)
    let yaml = at(configmap, "data")
        .get(file_name)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{}: {configmap_name} has no {file_name}", m.dir));
    let name = format!("{}/{configmap_name}", m.dir);
    let config = load_clean(&name, yaml, &config_env).config;
    check_common(&name, &config);

    // Ports: http.addr and the Service; http.debug.addr and the probes.
    let ports: BTreeMap<&str, u64> = seq_at(container, "ports")
        .iter()
        .map(|p| (str_at(p, "name"), at(p, "containerPort").as_u64().unwrap()))
        .collect();
    let resolve = |port: &Value| -> u64 {
        match port {
            Value::String(name) => *ports
                .get(name.as_str())
                .unwrap_or_else(|| panic!("{}: no container port {name}", m.dir)),
            other => other.as_u64().unwrap(),
        }
    };
    assert_eq!(ports["http"], u64::from(port_of(&config.http.addr)));
    let debug = u64::from(debug_port(&config));
    let readiness = at(container, "readinessProbe.httpGet");
    assert_eq!(str_at(readiness, "path"), "/debug/health");
    assert_eq!(resolve(at(readiness, "port")), debug);
    let liveness = at(container, "livenessProbe.httpGet");
    let metrics = &config.http.debug.as_ref().unwrap().prometheus.path;
    let path = str_at(liveness, "path");
    assert!(
        path == "/debug/health" || path == metrics,
        "liveness {path}"
    );
    assert_eq!(resolve(at(liveness, "port")), debug);

    let service = m.get("Service", "berth");
    assert_eq!(at(service, "spec.selector"), labels);
    let service_ports = seq_at(service, "spec.ports");
    assert_eq!(service_ports.len(), 1, "only the registry is a Service");
    assert_eq!(resolve(at(&service_ports[0], "targetPort")), ports["http"]);

    // Stopping, and running as nobody in particular.
    let grace = at(pod, "terminationGracePeriodSeconds").as_u64().unwrap();
    assert!(Duration::from_secs(grace) > drain(&config));
    assert_eq!(at(pod, "enableServiceLinks"), &Value::Bool(false));
    assert_eq!(at(pod, "securityContext.runAsNonRoot"), &Value::Bool(true));
    assert_ne!(at(pod, "securityContext.runAsUser").as_u64(), Some(0));
    assert_eq!(
        at(container, "securityContext.allowPrivilegeEscalation"),
        &Value::Bool(false)
    );

    Checked {
        config,
        deployment,
        env,
    }
}

#[test]
fn kubernetes_filesystem() {
    let m = Manifests::read("filesystem");
    let checked = check_kubernetes(&m);
    let deployment = &checked.deployment;
    assert_eq!(at(deployment, "spec.replicas").as_u64(), Some(1));
    assert_eq!(str_at(deployment, "spec.strategy.type"), "Recreate");
    let StorageDriver::Filesystem(fs) = &checked.config.storage.driver else {
        panic!("filesystem storage");
    };
    // The claim is mounted at the root directory.
    let pod = at(deployment, "spec.template.spec");
    let container = &seq_at(pod, "containers")[0];
    let mount = seq_at(container, "volumeMounts")
        .iter()
        .find(|v| str_at(v, "mountPath") == fs.rootdirectory.to_str().unwrap())
        .expect("a volume at the root directory");
    let volume = seq_at(pod, "volumes")
        .iter()
        .find(|v| at(v, "name") == at(mount, "name"))
        .unwrap();
    let claim = str_at(volume, "persistentVolumeClaim.claimName");
    assert_eq!(m.names("PersistentVolumeClaim"), [claim]);
    assert!(at(pod, "securityContext.fsGroup").as_u64().is_some());
}

#[test]
fn kubernetes_scaled() {
    let m = Manifests::read("scaled");
    let checked = check_kubernetes(&m);
    let config = &checked.config;
    assert_eq!(at(&checked.deployment, "spec.replicas").as_u64(), Some(2));
    assert!(m.names("PersistentVolumeClaim").is_empty());

    // The shared secrets come from the Secret, never optional.
    for var in [
        "REGISTRY_HTTP_SECRET",
        "REGISTRY_STORAGE_S3_ACCESSKEY",
        "REGISTRY_STORAGE_S3_SECRETKEY",
    ] {
        let entry = checked.env.get(var).unwrap_or_else(|| panic!("{var}"));
        let secret = str_at(entry, "valueFrom.secretKeyRef.name");
        m.get("Secret", secret);
        assert_ne!(
            at(entry, "valueFrom.secretKeyRef.optional"),
            &Value::Bool(true)
        );
    }
    assert!(config.http.secret.is_some());
    let StorageDriver::S3(s3) = &config.storage.driver else {
        panic!("s3 storage");
    };
    assert!(s3.accesskey.is_some() && s3.secretkey.is_some());

    // Redis: the Service deployed beside berth.
    assert_eq!(
        config.storage.cache.blobdescriptor,
        BlobDescriptorCache::Redis
    );
    let addr = &config.redis.as_ref().expect("redis").addrs[0];
    let service = m.get("Service", host_of(addr));
    let port = seq_at(service, "spec.ports")
        .iter()
        .find(|p| at(p, "port").as_u64() == Some(u64::from(port_of(addr))));
    assert!(port.is_some(), "redis Service port {addr}");
    m.get("Deployment", host_of(addr));
    m.get("PodDisruptionBudget", "berth");
}

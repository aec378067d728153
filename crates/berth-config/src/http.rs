//! `http:` — the listener, URLs, TLS, headers, the debug server.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::decode::{Ctx, Obj};
use crate::error::{ConfigError, Location};
use crate::headers::Headers;

/// `http.addr`'s default: every interface, port 5000.
pub const DEFAULT_HTTP_ADDR: &str = ":5000";
/// `http.debug.prometheus.path`'s default.
pub const DEFAULT_PROMETHEUS_PATH: &str = "/metrics";

/// `http:`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Http {
    /// `addr`: where to listen, in Go's form (`:5000`, `127.0.0.1:5000`,
    /// `[::1]:5000`), or a socket path when `net` is `unix`. Default
    /// `:5000`. [`listen`](Http::listen) turns it into a bindable address.
    pub addr: String,
    /// `net`: `tcp` (default) or `unix`.
    pub net: Net,
    /// `prefix`: the path before `/v2/` when the registry is not served at
    /// the root (`/registry/`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// `host`: the externally reachable base URL (`https://registry.example.com`),
    /// used to build absolute URLs in `Location` headers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `secret`: signs upload state. `None` when not set or empty: the
    /// server then makes one at start and warns that uploads will not
    /// survive across replicas (or restarts), as Distribution does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// `relativeurls`: `Location` headers relative to the request.
    /// Default false.
    pub relativeurls: bool,
    /// `draintimeout`: how long to let requests finish on shutdown. Not
    /// set: stop at once.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::duration::ser::option"
    )]
    pub draintimeout: Option<Duration>,
    /// `tls`: `Some` when `tls.certificate` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
    /// `headers`: added to every response. Distribution's sample
    /// configuration sets `X-Content-Type-Options: [nosniff]`.
    #[serde(skip_serializing_if = "Headers::is_empty")]
    pub headers: Headers,
    /// `debug`: `Some` when `debug.addr` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub debug: Option<Debug>,
    /// `http2`.
    pub http2: Http2,
    /// `h2c`.
    pub h2c: H2c,
}

impl Default for Http {
    fn default() -> Http {
        Http {
            addr: DEFAULT_HTTP_ADDR.to_owned(),
            net: Net::Tcp,
            prefix: None,
            host: None,
            secret: None,
            relativeurls: false,
            draintimeout: None,
            tls: None,
            headers: Headers::default(),
            debug: None,
            http2: Http2::default(),
            h2c: H2c::default(),
        }
    }
}

impl Http {
    /// Where to listen: for `net: tcp`, `addr` as `host:port` ready to
    /// bind — `:5000` becomes `0.0.0.0:5000`; `127.0.0.1:5000`,
    /// `[::1]:5000` and `registry.local:5000` stay as they are; for
    /// `net: unix`, the socket path.
    ///
    /// ```
    /// use berth_config::{Http, Listen};
    ///
    /// let http = Http::default();
    /// assert_eq!(http.listen()?, Listen::Tcp("0.0.0.0:5000".into()));
    /// # Ok::<(), berth_config::ConfigError>(())
    /// ```
    pub fn listen(&self) -> Result<Listen, ConfigError> {
        parse_listen(self.net, &self.addr).map_err(|expected| {
            ConfigError::from(berth_settings::SettingError::Invalid {
                at: Location {
                    key: "http.addr".to_owned(),
                    env: None,
                },
                value: format!("{:?}", self.addr),
                expected: expected.to_owned(),
            })
        })
    }
}

/// A bindable listening address, from [`Http::listen`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A TCP `host:port` (`0.0.0.0:5000`, `[::1]:5000`).
    Tcp(String),
    /// A Unix socket path.
    Unix(PathBuf),
}

/// `http.net`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Net {
    /// `tcp`: the default.
    Tcp,
    /// `unix`: `addr` is a socket path.
    Unix,
}

/// `http.tls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tls {
    /// `certificate`: the PEM certificate (chain) file.
    pub certificate: String,
    /// `key`: the PEM private key file.
    pub key: String,
    /// `clientcas`: CA files for verifying client certificates; empty:
    /// no client certificates asked for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clientcas: Vec<String>,
    /// `minimumtls`: the lowest TLS version accepted. Default `tls1.2`.
    pub minimumtls: TlsVersion,
    /// `ciphersuites`: the cipher suites allowed (TLS 1.2 and below);
    /// empty: the TLS library's defaults.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ciphersuites: Vec<String>,
}

/// `http.tls.minimumtls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum TlsVersion {
    /// `tls1.0`.
    #[serde(rename = "tls1.0")]
    Tls10,
    /// `tls1.1`.
    #[serde(rename = "tls1.1")]
    Tls11,
    /// `tls1.2`: the default.
    #[serde(rename = "tls1.2")]
    Tls12,
    /// `tls1.3`.
    #[serde(rename = "tls1.3")]
    Tls13,
}

/// `http.debug`: a second listener for debugging and metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Debug {
    /// `addr`: where the debug server listens (`:5001`).
    pub addr: String,
    /// `prometheus`.
    pub prometheus: Prometheus,
}

impl Debug {
    /// `addr` as a bindable TCP address (`:5001` becomes `0.0.0.0:5001`),
    /// by the same rule as [`Http::listen`]; checked when the
    /// configuration was read.
    pub fn listen(&self) -> Result<String, ConfigError> {
        match parse_listen(Net::Tcp, &self.addr) {
            Ok(Listen::Tcp(addr)) => Ok(addr),
            Ok(Listen::Unix(_)) | Err(_) => {
                Err(ConfigError::from(berth_settings::SettingError::Invalid {
                    at: Location {
                        key: "http.debug.addr".to_owned(),
                        env: None,
                    },
                    value: format!("{:?}", self.addr),
                    expected: ADDR_EXPECTED.to_owned(),
                }))
            }
        }
    }
}

/// `http.debug.prometheus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prometheus {
    /// `enabled`: serve metrics on the debug server. Default false.
    pub enabled: bool,
    /// `path`: default `/metrics`.
    pub path: String,
}

impl Default for Prometheus {
    fn default() -> Prometheus {
        Prometheus {
            enabled: false,
            path: DEFAULT_PROMETHEUS_PATH.to_owned(),
        }
    }
}

/// `http.http2` (Distribution 2.8).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Http2 {
    /// `disabled`: no HTTP/2 over TLS. Default false.
    pub disabled: bool,
}

/// `http.h2c` (Distribution 3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct H2c {
    /// `enabled`: HTTP/2 without TLS. Default false.
    pub enabled: bool,
}

const ADDR_EXPECTED: &str =
    "an address such as :5000, 0.0.0.0:5000, [::1]:5000 or registry.local:5000";

/// Go's listening address forms → a bindable one; `Err` holds what is
/// expected.
pub(crate) fn parse_listen(net: Net, addr: &str) -> Result<Listen, &'static str> {
    if net == Net::Unix {
        if addr.is_empty() {
            return Err("a socket path (http.net is unix)");
        }
        return Ok(Listen::Unix(PathBuf::from(addr)));
    }
    let addr = if addr.is_empty() {
        DEFAULT_HTTP_ADDR
    } else {
        addr
    };
    let (host, port, bracketed) = if let Some(rest) = addr.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or(ADDR_EXPECTED)?;
        let port = after.strip_prefix(':').ok_or(ADDR_EXPECTED)?;
        if host.is_empty() {
            return Err(ADDR_EXPECTED);
        }
        (host, port, true)
    } else {
        let (host, port) = addr.rsplit_once(':').ok_or(ADDR_EXPECTED)?;
        if host.contains(':') || host.contains(['[', ']']) {
            return Err(ADDR_EXPECTED);
        }
        (host, port, false)
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().is_err()
    {
        return Err(ADDR_EXPECTED);
    }
    if host.contains(char::is_whitespace) {
        return Err(ADDR_EXPECTED);
    }
    Ok(Listen::Tcp(if host.is_empty() {
        format!("0.0.0.0:{port}")
    } else if bracketed {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }))
}

/// Reads `http:`, and whether `tls.letsencrypt` is set.
pub(crate) fn decode(ctx: &mut Ctx<'_>, mut o: Obj<'_>) -> Result<(Http, bool), ConfigError> {
    let mut http = Http::default();
    if let Some((path, value)) = o.take("net") {
        let text = ctx.string(&path, value)?;
        http.net = match text.as_str() {
            "" | "tcp" => Net::Tcp,
            "unix" => Net::Unix,
            _ => return Err(ctx.invalid(&path, value, "tcp or unix")),
        };
    }
    match o.take("addr") {
        Some((path, value)) => {
            let addr = ctx.string(&path, value)?;
            if let Err(expected) = parse_listen(http.net, &addr) {
                return Err(ctx.invalid(&path, value, expected));
            }
            if !addr.is_empty() {
                http.addr = addr;
            }
        }
        None if http.net == Net::Unix => {
            return Err(ctx.missing(&o.key_path("addr"), "a socket path (http.net is unix)"));
        }
        None => {}
    }
    if let Some((path, value)) = o.take("prefix") {
        let prefix = ctx.string(&path, value)?;
        if !prefix.is_empty() {
            if !prefix.starts_with('/') {
                return Err(ctx.invalid(
                    &path,
                    value,
                    "a path starting with / (such as /registry/)",
                ));
            }
            http.prefix = Some(prefix);
        }
    }
    if let Some((path, value)) = o.take("host") {
        let host = ctx.string(&path, value)?;
        if !host.is_empty() {
            let rest = host
                .strip_prefix("https://")
                .or_else(|| host.strip_prefix("http://"));
            match rest {
                Some(r) if !r.is_empty() && !r.starts_with('/') => http.host = Some(host),
                _ => {
                    return Err(ctx.invalid(
                        &path,
                        value,
                        "an absolute URL such as https://registry.example.com",
                    ));
                }
            }
        }
    }
    http.secret = o.non_empty(ctx, "secret")?;
    http.relativeurls = o.flag(ctx, "relativeurls")?;
    http.draintimeout = o.duration(ctx, "draintimeout")?;
    let (tls, letsencrypt) = decode_tls(ctx, o.child(ctx, "tls")?)?;
    http.tls = tls;
    http.headers = o.headers(ctx, "headers")?;

    let mut debug = o.child(ctx, "debug")?;
    let debug_addr = debug.non_empty(ctx, "addr")?;
    let mut prom = debug.child(ctx, "prometheus")?;
    let mut prometheus = Prometheus {
        enabled: prom.flag(ctx, "enabled")?,
        ..Prometheus::default()
    };
    if let Some(p) = prom.non_empty(ctx, "path")? {
        prometheus.path = p;
    }
    let prom_path = prom.path.clone();
    prom.finish(ctx);
    debug.finish(ctx);
    match debug_addr {
        Some(addr) => {
            if let Err(expected) = parse_listen(Net::Tcp, &addr) {
                return Err(ConfigError::from(berth_settings::SettingError::Invalid {
                    at: ctx.at(&format!("{}.debug.addr", o.path)),
                    value: format!("{addr:?}"),
                    expected: expected.to_owned(),
                }));
            }
            http.debug = Some(Debug { addr, prometheus });
        }
        None if prometheus.enabled => ctx.warn(
            &prom_path,
            "prometheus is enabled but http.debug.addr is not set; no metrics are served",
        ),
        None => {}
    }

    let mut http2 = o.child(ctx, "http2")?;
    http.http2.disabled = http2.flag(ctx, "disabled")?;
    http2.finish(ctx);
    let mut h2c = o.child(ctx, "h2c")?;
    http.h2c.enabled = h2c.flag(ctx, "enabled")?;
    h2c.finish(ctx);
    o.finish(ctx);
    Ok((http, letsencrypt))
}

/// `http.tls`, and whether it asks for Let's Encrypt.
fn decode_tls(ctx: &mut Ctx<'_>, mut o: Obj<'_>) -> Result<(Option<Tls>, bool), ConfigError> {
    let certificate = o.non_empty(ctx, "certificate")?;
    let key = o.non_empty(ctx, "key")?;
    let clientcas = o.strings(ctx, "clientcas")?;
    let minimumtls = match o.take("minimumtls") {
        Some((path, value)) => match ctx.string(&path, value)?.as_str() {
            "tls1.0" => TlsVersion::Tls10,
            "tls1.1" => TlsVersion::Tls11,
            "tls1.2" => TlsVersion::Tls12,
            "tls1.3" => TlsVersion::Tls13,
            _ => return Err(ctx.invalid(&path, value, "one of tls1.0, tls1.1, tls1.2, tls1.3")),
        },
        None => TlsVersion::Tls12,
    };
    let ciphersuites = o.strings(ctx, "ciphersuites")?;
    let letsencrypt = o.unsupported(ctx, "letsencrypt", "Let's Encrypt (ACME) certificates");
    let tls = match (certificate, key) {
        (Some(certificate), Some(key)) => Some(Tls {
            certificate,
            key,
            clientcas,
            minimumtls,
            ciphersuites,
        }),
        (Some(_), None) => {
            return Err(ctx.missing(
                &o.key_path("key"),
                "the private key file for http.tls.certificate",
            ));
        }
        (None, Some(_)) => {
            return Err(ctx.missing(
                &o.key_path("certificate"),
                "the certificate file for http.tls.key",
            ));
        }
        (None, None) => {
            if !clientcas.is_empty() {
                ctx.warn(
                    &o.key_path("clientcas"),
                    "ignored: TLS is off without http.tls.certificate",
                );
            }
            None
        }
    };
    o.finish(ctx);
    Ok((tls, letsencrypt))
}

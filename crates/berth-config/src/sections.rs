//! The smaller sections: `validation`, `catalog`, `middleware`.

use serde::Serialize;
use serde_yaml::{Mapping, Value};

use crate::decode::{Ctx, Obj};
use crate::error::ConfigError;

/// `catalog.maxentries`'s default.
pub const DEFAULT_CATALOG_MAX_ENTRIES: u64 = 1000;

// --- validation ----------------------------------------------------------

/// `validation:`: checks on pushed manifests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Validation {
    /// `disabled`: skip the URL checks of `manifests.urls`. Default false.
    /// (Distribution 2.8's `enabled: true` wins over `disabled`, as there.)
    pub disabled: bool,
    /// `manifests`.
    pub manifests: ManifestValidation,
}

/// `validation.manifests`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ManifestValidation {
    /// `urls`: which foreign-layer URLs a manifest may name.
    pub urls: UrlValidation,
    /// `indexes`: which platforms of an index must be present.
    pub indexes: IndexValidation,
}

/// `validation.manifests.urls`: regular expressions (RE2/Rust `regex`
/// syntax), compiled by the server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UrlValidation {
    /// `allow`: a URL must match one of these (when any is given).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// `deny`: a URL must match none of these.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

/// `validation.manifests.indexes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IndexValidation {
    /// `platforms`: `none` (default), `all` or `list`.
    pub platforms: IndexPlatforms,
    /// `platformlist`: the platforms that must be present with `list`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platformlist: Vec<PlatformSpec>,
}

/// `validation.manifests.indexes.platforms`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexPlatforms {
    /// `none`: an index's manifests need not be present (the default).
    #[default]
    None,
    /// `all`: every manifest of an index must be present.
    All,
    /// `list`: those of `platformlist` must be present.
    List,
}

/// One of `validation.manifests.indexes.platformlist`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlatformSpec {
    /// `architecture` (`amd64`).
    pub architecture: String,
    /// `os` (`linux`).
    pub os: String,
}

pub(crate) fn decode_validation(
    ctx: &mut Ctx<'_>,
    mut o: Obj<'_>,
) -> Result<Validation, ConfigError> {
    let enabled = o.flag(ctx, "enabled")?;
    let disabled = o.flag(ctx, "disabled")?;
    let mut manifests = o.child(ctx, "manifests")?;
    let mut urls = manifests.child(ctx, "urls")?;
    let url_validation = UrlValidation {
        allow: urls.strings(ctx, "allow")?,
        deny: urls.strings(ctx, "deny")?,
    };
    urls.finish(ctx);
    let mut indexes = manifests.child(ctx, "indexes")?;
    let platforms = match indexes.take("platforms") {
        Some((p, v)) => match ctx.string(&p, v)?.to_ascii_lowercase().as_str() {
            "" | "none" => IndexPlatforms::None,
            "all" => IndexPlatforms::All,
            "list" => IndexPlatforms::List,
            _ => return Err(ctx.invalid(&p, v, "one of none, all, list")),
        },
        None => IndexPlatforms::None,
    };
    let platformlist =
        indexes.list::<_, ConfigError>(ctx, "platformlist", |ctx, path, value: &Value| {
            let mut c = Obj::new(ctx, path, value)?;
            let spec = PlatformSpec {
                architecture: c.required(
                    ctx,
                    "architecture",
                    "a CPU architecture such as amd64",
                )?,
                os: c.required(ctx, "os", "an operating system such as linux")?,
            };
            c.finish(ctx);
            Ok(spec)
        })?;
    if platforms == IndexPlatforms::List && platformlist.is_empty() {
        return Err(ctx.missing(
            &indexes.key_path("platformlist"),
            "the platforms an index must have (platforms is list)",
        ));
    }
    indexes.finish(ctx);
    manifests.finish(ctx);
    o.finish(ctx);
    Ok(Validation {
        disabled: disabled && !enabled,
        manifests: ManifestValidation {
            urls: url_validation,
            indexes: IndexValidation {
                platforms,
                platformlist,
            },
        },
    })
}

// --- catalog -------------------------------------------------------------

/// `catalog:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Catalog {
    /// `maxentries`: the most repositories one `/v2/_catalog` page lists.
    /// Default (and when 0 or less) 1000.
    pub maxentries: u64,
}

impl Default for Catalog {
    fn default() -> Catalog {
        Catalog {
            maxentries: DEFAULT_CATALOG_MAX_ENTRIES,
        }
    }
}

pub(crate) fn decode_catalog(ctx: &mut Ctx<'_>, mut o: Obj<'_>) -> Result<Catalog, ConfigError> {
    let maxentries = match o.signed(ctx, "maxentries")? {
        Some(n) if n > 0 => n as u64,
        _ => DEFAULT_CATALOG_MAX_ENTRIES,
    };
    o.finish(ctx);
    Ok(Catalog { maxentries })
}

// --- middleware ----------------------------------------------------------

/// `middleware:`: wrappers around the registry, repositories or the
/// storage driver (Distribution's `cloudfront`, `redirect`, `rewrite`, …).
/// Parsed and kept; berth runs none yet, so each enabled entry is reported
/// as not supported.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Middleware {
    /// `registry`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub registry: Vec<MiddlewareEntry>,
    /// `repository`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repository: Vec<MiddlewareEntry>,
    /// `storage`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub storage: Vec<MiddlewareEntry>,
}

impl Middleware {
    /// Whether no middleware is configured.
    pub fn is_empty(&self) -> bool {
        self.registry.is_empty() && self.repository.is_empty() && self.storage.is_empty()
    }
}

/// One middleware.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MiddlewareEntry {
    /// `name` (`cloudfront`, `redirect`).
    pub name: String,
    /// `disabled`. Default false.
    pub disabled: bool,
    /// `options`: the middleware's own parameters, as written.
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub options: Mapping,
}

pub(crate) fn decode_middleware(
    ctx: &mut Ctx<'_>,
    mut o: Obj<'_>,
) -> Result<Middleware, ConfigError> {
    let mut middleware = Middleware::default();
    for (kind, slot) in [
        ("registry", &mut middleware.registry),
        ("repository", &mut middleware.repository),
        ("storage", &mut middleware.storage),
    ] {
        *slot = o.list::<_, ConfigError>(ctx, kind, |ctx, path, value: &Value| {
            let mut c = Obj::new(ctx, path, value)?;
            let entry = MiddlewareEntry {
                name: c.required(ctx, "name", "the middleware's name")?,
                disabled: c.flag(ctx, "disabled")?,
                options: c.mapping(ctx, "options")?,
            };
            c.finish(ctx);
            // The storage `redirect` middleware is served (by berth-storage:
            // blob redirects to `options.baseurl` + the storage path).
            let served = kind == "storage" && entry.name == "redirect";
            if !entry.disabled && !served {
                ctx.report_unsupported(path, &format!("{kind} middleware {:?}", entry.name));
            }
            Ok(entry)
        })?;
    }
    o.finish(ctx);
    Ok(middleware)
}

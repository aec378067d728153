//! The `proxy:` section of a Distribution-style configuration: this
//! crate's settings, read with berth-settings, and the options they give.

use std::time::Duration;

use berth_client::ClientOptions;
use berth_settings::{Reader, Section, SettingError};
use serde::Serialize;

use crate::{ProxyOptions, client_options};

/// `proxy:`: run as a pull-through cache of another registry. Present
/// only when `remoteurl` is set, as Distribution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Proxy {
    /// `remoteurl`: the upstream registry (`https://registry-1.docker.io`).
    pub remoteurl: String,
    /// `username` for the upstream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `password` for the upstream (masked in configuration dumps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// `ttl`: how long cached content is kept. Not set: Distribution's
    /// default, 168h; `0`: kept for ever.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "berth_settings::ser::option"
    )]
    pub ttl: Option<Duration>,
}

impl Proxy {
    /// Reads the `proxy:` section; `None` without a `remoteurl`.
    pub fn read(ctx: &mut Reader<'_>, mut o: Section<'_>) -> Result<Option<Proxy>, SettingError> {
        let remoteurl = match o.take("remoteurl") {
            Some((path, value)) => {
                let url = ctx.string(&path, value)?;
                let rest = url
                    .strip_prefix("https://")
                    .or_else(|| url.strip_prefix("http://"));
                match rest {
                    Some(r) if !r.is_empty() => Some(url),
                    _ if url.is_empty() => None,
                    _ => {
                        return Err(ctx.invalid(
                            &path,
                            value,
                            "an http:// or https:// URL such as https://registry-1.docker.io",
                        ));
                    }
                }
            }
            None => None,
        };
        let username = o.non_empty(ctx, "username")?;
        let password = o.non_empty(ctx, "password")?;
        let ttl = o.duration(ctx, "ttl")?;
        o.unsupported(ctx, "exec", "credential helpers for the upstream");
        let path = o.path.clone();
        let had_keys = !o.is_empty();
        o.finish(ctx);
        match remoteurl {
            Some(remoteurl) => Ok(Some(Proxy {
                remoteurl,
                username,
                password,
                ttl,
            })),
            None => {
                if had_keys {
                    ctx.warn(&path, "remoteurl is not set; not running as a proxy");
                }
                Ok(None)
            }
        }
    }

    /// The options of the client for the upstream.
    pub fn client_options(&self) -> ClientOptions {
        client_options(
            &self.remoteurl,
            self.username.as_deref(),
            self.password.as_deref(),
        )
    }

    /// The proxy's options: `ttl` with Distribution's meaning.
    pub fn options(&self) -> ProxyOptions {
        ProxyOptions::with_config_ttl(self.ttl)
    }
}

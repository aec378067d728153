//! The registry's manifest validation policy: which layer URLs are allowed,
//! and how strict index entries are.

use regex::Regex;

use crate::error::{At, ManifestError, excerpt};

/// What a registry's configuration adds to the specifications' rules.
///
/// The URL lists are Distribution's `validation.manifests.urls.allow` and
/// `validation.manifests.urls.deny`, with Distribution's semantics (each
/// list is a set of alternatives; a regex matches anywhere in the URL unless
/// anchored):
///
/// | allow | deny | a layer URL is accepted when |
/// |---|---|---|
/// | empty | empty | never (the default: a manifest with layer URLs is refused) |
/// | empty | set | it matches no deny pattern |
/// | set | empty | it matches some allow pattern |
/// | set | set | it matches some allow pattern and no deny pattern |
///
/// and in every case the URL must be an absolute `http` or `https` URL with
/// a host and no fragment. Only layers are checked (config, index entries
/// and `subject` URLs are not), as in Distribution. To accept any URL, as
/// Distribution does with `validation.disabled: true`, use
/// [`ValidationPolicy::allow_any_url`].
#[derive(Debug, Clone, Default)]
pub struct ValidationPolicy {
    /// Patterns a layer URL must match (any one of them).
    pub urls_allow: Vec<Regex>,
    /// Patterns a layer URL must not match (none of them).
    pub urls_deny: Vec<Regex>,
    /// Refuse index and manifest-list entries whose media type is a known
    /// blob type (a layer, an image config, the OCI empty type).
    ///
    /// Off by default: BuildKit's registry cache export (`--cache-to
    /// type=registry` without `image-manifest=true`, the default before
    /// BuildKit 0.21) pushes an index whose entries are layers and a
    /// `application/vnd.buildkit.cacheconfig.v0` config, and Distribution
    /// accepts it.
    pub strict_index_children: bool,
}

impl ValidationPolicy {
    /// The default policy: no layer URLs allowed, index entries not checked
    /// for blob types (Distribution's behaviour with its default
    /// configuration).
    pub fn new() -> ValidationPolicy {
        ValidationPolicy::default()
    }

    /// A policy accepting every well-formed `http`/`https` layer URL.
    pub fn allow_any_url() -> ValidationPolicy {
        ValidationPolicy {
            // An empty pattern matches every string.
            urls_allow: Regex::new("").map(|r| vec![r]).unwrap_or_default(),
            ..ValidationPolicy::default()
        }
    }

    /// A policy from pattern strings, as they appear in the configuration.
    pub fn from_patterns<A, D>(allow: A, deny: D) -> Result<ValidationPolicy, regex::Error>
    where
        A: IntoIterator,
        A::Item: AsRef<str>,
        D: IntoIterator,
        D::Item: AsRef<str>,
    {
        let compile = |p: &str| Regex::new(p);
        Ok(ValidationPolicy {
            urls_allow: allow
                .into_iter()
                .map(|p| compile(p.as_ref()))
                .collect::<Result<_, _>>()?,
            urls_deny: deny
                .into_iter()
                .map(|p| compile(p.as_ref()))
                .collect::<Result<_, _>>()?,
            strict_index_children: false,
        })
    }

    /// Sets [`strict_index_children`](ValidationPolicy::strict_index_children).
    pub fn with_strict_index_children(mut self, strict: bool) -> ValidationPolicy {
        self.strict_index_children = strict;
        self
    }

    /// Checks one layer URL against the URL rules and this policy.
    pub fn check_url(&self, url: &str) -> Result<(), UrlRejection> {
        check_url_syntax(url).map_err(UrlRejection::Invalid)?;
        if self.urls_allow.is_empty() && self.urls_deny.is_empty() {
            return Err(UrlRejection::NotAllowed);
        }
        if !self.urls_allow.is_empty() && !self.urls_allow.iter().any(|r| r.is_match(url)) {
            return Err(UrlRejection::NotAllowed);
        }
        if self.urls_deny.iter().any(|r| r.is_match(url)) {
            return Err(UrlRejection::Denied);
        }
        Ok(())
    }

    pub(crate) fn check_url_at(&self, url: &str, at: &At<'_>) -> Result<(), ManifestError> {
        self.check_url(url).map_err(|rejection| match rejection {
            UrlRejection::Invalid(reason) => ManifestError::InvalidUrl {
                path: at.path(),
                url: excerpt(url),
                reason,
            },
            UrlRejection::NotAllowed => ManifestError::UrlNotAllowed {
                path: at.path(),
                url: excerpt(url),
            },
            UrlRejection::Denied => ManifestError::UrlDenied {
                path: at.path(),
                url: excerpt(url),
            },
        })
    }
}

/// Why [`ValidationPolicy::check_url`] refused a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlRejection {
    /// The URL is malformed, not `http`/`https`, or has a fragment.
    Invalid(&'static str),
    /// No allow pattern matches (or neither list is configured).
    NotAllowed,
    /// A deny pattern matches.
    Denied,
}

/// The URL rules every layer URL must pass whatever the policy: absolute
/// `http` or `https` (any casing) with `//` and a non-empty host, no ASCII
/// control characters or spaces, `%` only as a two-hex-digit escape, and no
/// fragment.
fn check_url_syntax(url: &str) -> Result<(), &'static str> {
    if url
        .bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b >= 0x80)
    {
        return Err("it contains a control character, a space or a non-ASCII character");
    }
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err("it has no scheme");
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err("the scheme must be http or https");
    }
    if url.contains('#') {
        return Err("it must not have a fragment");
    }
    let Some(rest) = rest.strip_prefix("//") else {
        return Err("it must be an absolute URL (scheme://host/...)");
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host.is_empty() || host.starts_with(':') {
        return Err("it has no host");
    }
    let bytes = url.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'%' {
            let ok = matches!(
                (bytes.get(i + 1), bytes.get(i + 2)),
                (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit()
            );
            if !ok {
                return Err("it has a malformed percent escape");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_syntax() {
        assert_eq!(check_url_syntax("https://example.com/layer"), Ok(()));
        assert_eq!(check_url_syntax("HTTP://example.com"), Ok(()));
        assert_eq!(
            check_url_syntax("http://u:p@example.com:8080/a%20b?x=1"),
            Ok(())
        );
        assert!(check_url_syntax("ftp://example.com").is_err());
        assert!(check_url_syntax("https://example.com/#frag").is_err());
        assert!(check_url_syntax("https:example.com").is_err());
        assert!(check_url_syntax("https:///path").is_err());
        assert!(check_url_syntax("https://example.com/a b").is_err());
        assert!(check_url_syntax("https://example.com/%zz").is_err());
        assert!(check_url_syntax("https://example.com/%2").is_err());
        assert!(check_url_syntax("example.com").is_err());
        assert!(check_url_syntax("").is_err());
    }

    #[test]
    fn distribution_semantics() {
        let none = ValidationPolicy::new();
        assert_eq!(
            none.check_url("https://example.com/x"),
            Err(UrlRejection::NotAllowed)
        );

        let deny_only = ValidationPolicy::from_patterns(Vec::<&str>::new(), ["^https?://bad"])
            .expect("valid patterns");
        assert_eq!(deny_only.check_url("https://good/x"), Ok(()));
        assert_eq!(
            deny_only.check_url("https://bad/x"),
            Err(UrlRejection::Denied)
        );

        let both = ValidationPolicy::from_patterns(
            ["^https?://foo", "^https://bar"],
            ["^https?://foo/nope"],
        )
        .expect("valid patterns");
        assert_eq!(both.check_url("http://foo/yes"), Ok(()));
        assert_eq!(both.check_url("https://bar/yes"), Ok(()));
        assert_eq!(
            both.check_url("http://bar/no"),
            Err(UrlRejection::NotAllowed)
        );
        assert_eq!(
            both.check_url("https://foo/nope"),
            Err(UrlRejection::Denied)
        );

        let any = ValidationPolicy::allow_any_url();
        assert_eq!(any.check_url("https://anything/at/all"), Ok(()));
        assert!(matches!(
            any.check_url("file:///etc"),
            Err(UrlRejection::Invalid(_))
        ));
    }
}

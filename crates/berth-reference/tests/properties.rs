//! Properties: no input makes a parser panic; valid references built from
//! the grammar parse back to their parts; normalization and the familiar
//! form undo each other.

use berth_reference::{
    AnyReference, Canonical, Name, Reference, RepositoryName, Tag, Tagged, validate_name,
    validate_repository_name, validate_tag,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

/// Runs every parser on `s`; checks what must hold of any result.
fn exercise(s: &str) {
    match Reference::parse(s) {
        // Parsing as written is lossless.
        Ok(r) => assert_eq!(r.to_string(), s),
        Err(e) => {
            let _ = e.to_string();
        }
    }
    for result in [
        Reference::parse_normalized(s),
        Reference::parse_named(s),
        Reference::parse_docker(s),
    ] {
        match result {
            Ok(r) => assert_eq!(Reference::parse(&r.to_string()), Ok(r)),
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    if let Ok(r) = AnyReference::parse(s) {
        let _ = r.familiar_string();
    }
    if let Ok(name) = Name::parse(s) {
        assert_eq!(name.as_str(), s);
        let _ = name.familiar_name();
    }
    let _ = Name::parse_normalized(s);
    if let Ok(repo) = RepositoryName::parse(s) {
        assert_eq!(Name::from(repo.clone()), Name::parse(s).unwrap());
    }
    assert_eq!(
        validate_repository_name(s).is_ok(),
        RepositoryName::parse(s).is_ok()
    );
    assert_eq!(validate_tag(s).is_ok(), Tag::parse(s).is_ok());
    assert_eq!(validate_name(s), Name::parse(s).map(|_| ()));
    let _ = Tagged::parse(s);
    let _ = Canonical::parse(s);
}

/// A domain label: `[a-zA-Z0-9]` or `[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`.
fn label() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        vec(label(), 1..4).prop_map(|labels| labels.join(".")),
        (0u8..=255, 0u8..=255, 0u8..=255, 0u8..=255)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        "\\[[a-fA-F0-9:]{1,24}\\]",
    ]
}

fn domain() -> impl Strategy<Value = String> {
    (host(), option::of("[0-9]{1,5}")).prop_map(|(host, port)| match port {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

/// A path component: alphanumeric runs joined by `.`, `_`, `__` or `-`+.
fn component() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,6}((\\.|_|__|-{1,3})[a-z0-9]{1,6}){0,3}"
}

fn tag() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
}

fn digest() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-f0-9]{64}".prop_map(|hex| format!("sha256:{hex}")),
        "[a-f0-9]{96}".prop_map(|hex| format!("sha384:{hex}")),
        "[a-f0-9]{128}".prop_map(|hex| format!("sha512:{hex}")),
    ]
}

/// The parts of a valid reference, and its string.
#[derive(Debug, Clone)]
struct Generated {
    domain: Option<String>,
    components: Vec<String>,
    tag: Option<String>,
    digest: Option<String>,
}

impl Generated {
    fn name(&self) -> String {
        let path = self.components.join("/");
        match &self.domain {
            Some(domain) => format!("{domain}/{path}"),
            None => path,
        }
    }

    fn string(&self) -> String {
        let mut s = self.name();
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(digest);
        }
        s
    }

    /// The domain and path the grammar must find. Without a generated
    /// domain, a first component is still read as the domain when more
    /// components follow and it is a valid domain; a valid path component
    /// is a valid domain exactly when it has no `_`.
    fn expected_split(&self) -> (Option<String>, String) {
        match (&self.domain, self.components.as_slice()) {
            (Some(domain), _) => (Some(domain.clone()), self.components.join("/")),
            (None, [first, rest @ ..]) if !rest.is_empty() && !first.contains('_') => {
                (Some(first.clone()), rest.join("/"))
            }
            (None, _) => (None, self.components.join("/")),
        }
    }
}

fn valid_reference() -> impl Strategy<Value = Generated> {
    (
        option::of(domain()),
        vec(component(), 1..5),
        option::of(tag()),
        option::of(digest()),
    )
        .prop_map(|(domain, components, tag, digest)| Generated {
            domain,
            components,
            tag,
            digest,
        })
        .prop_filter("name within 255 characters", |g| g.name().len() <= 255)
}

/// Inputs as people type them: maybe a registry, a path, maybe tag and
/// digest.
fn familiar_input() -> impl Strategy<Value = String> {
    let registry = prop_oneof![
        Just(None),
        Just(Some("docker.io".to_owned())),
        Just(Some("index.docker.io".to_owned())),
        Just(Some("localhost".to_owned())),
        Just(Some("localhost:5000".to_owned())),
        (vec(label(), 1..3), option::of("[0-9]{1,5}")).prop_map(|(labels, port)| {
            let host = format!("{}.example", labels.join("."));
            Some(match port {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        }),
        "\\[[a-fA-F0-9:]{1,24}\\]:[0-9]{1,5}".prop_map(Some),
        "[A-Z][a-zA-Z0-9]{0,5}".prop_map(Some),
    ];
    (
        registry,
        vec(component(), 1..4),
        option::of(tag()),
        option::of(digest()),
    )
        .prop_map(|(registry, components, tag, digest)| {
            let mut s = components.join("/");
            if let Some(registry) = registry {
                s = format!("{registry}/{s}");
            }
            if let Some(tag) = tag {
                s = format!("{s}:{tag}");
            }
            if let Some(digest) = digest {
                s = format!("{s}@{digest}");
            }
            s
        })
}

proptest! {
    #[test]
    fn never_panics_on_any_string(s in "\\PC{0,64}") {
        exercise(&s);
    }

    #[test]
    fn never_panics_on_any_unicode(s in any::<String>()) {
        exercise(&s);
    }

    #[test]
    fn never_panics_on_the_grammar_alphabet(s in "[a-zA-Z0-9._:/@\\-\\[\\]]{0,80}") {
        exercise(&s);
    }

    #[test]
    fn never_panics_on_near_misses(g in valid_reference(), at in any::<prop::sample::Index>(), c in prop::sample::select(vec!['/', ':', '@', '[', ']', '.', '-', '_', 'A', 'é', ' '])) {
        // A valid reference with one character replaced or inserted.
        let s = g.string();
        let chars: Vec<char> = s.chars().collect();
        let i = at.index(chars.len() + 1);
        let mut inserted = chars.clone();
        inserted.insert(i, c);
        exercise(&inserted.iter().collect::<String>());
        if i < chars.len() {
            let mut replaced = chars;
            replaced[i] = c;
            exercise(&replaced.iter().collect::<String>());
        }
    }

    #[test]
    fn valid_references_round_trip(g in valid_reference()) {
        let s = g.string();
        let r = Reference::parse(&s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        let (domain, path) = g.expected_split();
        prop_assert_eq!(r.domain(), domain.as_deref());
        prop_assert_eq!(r.path(), path);
        prop_assert_eq!(r.name().as_str(), g.name());
        prop_assert_eq!(r.tag().map(Tag::as_str), g.tag.as_deref());
        prop_assert_eq!(r.digest().map(|d| d.as_str()), g.digest.as_deref());
        prop_assert_eq!(r.to_string(), s.clone());
        prop_assert_eq!(Reference::parse(&r.to_string()), Ok(r.clone()));
        prop_assert_eq!(s.parse::<Reference>(), Ok(r.clone()));

        // The typed views agree.
        prop_assert_eq!(Name::parse(&g.name()), Ok(r.name().clone()));
        if let Some(t) = r.tagged() {
            prop_assert_eq!(Some(t.tag().as_str()), g.tag.as_deref());
            prop_assert_eq!(Tagged::parse(&t.to_string()), Ok(t.clone()));
        }
        if let Some(c) = r.canonical() {
            prop_assert_eq!(Canonical::parse(&c.to_string()), Ok(c.clone()));
        }
        let rebuilt = match (&g.tag, r.digest()) {
            (Some(tag), Some(d)) => r.trim().with_tag(tag).unwrap().with_digest(d.clone()),
            (Some(tag), None) => r.trim().with_tag(tag).unwrap().into(),
            (None, Some(d)) => r.trim().with_digest(d.clone()).into(),
            (None, None) => r.trim().into(),
        };
        prop_assert_eq!(rebuilt, r);
    }

    #[test]
    fn normalized_familiar_normalized(s in familiar_input()) {
        let r = Reference::parse_normalized(&s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        // Normalized strings are canonical and stable.
        prop_assert_eq!(Reference::parse_named(&r.to_string()), Ok(r.clone()));
        prop_assert_eq!(Reference::parse_normalized(&r.to_string()), Ok(r.clone()));
        // The familiar form normalizes back, unless its first component
        // would itself be read as a domain (a Docker Hub namespace with a
        // '.', or "localhost"), as in Distribution.
        let familiar = r.familiar_string();
        let first = familiar.split('/').next().unwrap_or_default();
        let hub_namespace_like_domain = r.domain() == Some("docker.io")
            && familiar.contains('/')
            && (first.contains('.') || first == "localhost");
        if !hub_namespace_like_domain {
            prop_assert_eq!(Reference::parse_normalized(&familiar), Ok(r.clone()));
        }
        // And the familiar name is a suffix of the full name.
        prop_assert!(r.name().as_str().ends_with(r.familiar_name()));
    }
}

//! The typed values: building, converting, comparing, serde.

use std::collections::HashMap;

use berth_reference::{
    AnyReference, Canonical, Digest, Error, FormatError, Name, Reference, RepositoryName, Tag,
    Tagged,
};

fn digest() -> Digest {
    Digest::sha256(b"")
}

#[test]
fn with_tag_and_digest() {
    let name = Name::parse("quay.io/a/b").unwrap();
    let tagged = name.with_tag("v1").unwrap();
    assert_eq!(tagged.to_string(), "quay.io/a/b:v1");
    assert_eq!(tagged.tag(), "v1");
    assert!(matches!(
        name.with_tag("-v1"),
        Err(Error::InvalidTag { .. })
    ));
    assert!(matches!(name.with_tag(""), Err(Error::InvalidTag { .. })));

    let canonical = name.with_digest(digest());
    assert_eq!(canonical.to_string(), format!("quay.io/a/b@{}", digest()));
    assert_eq!(canonical.digest(), &digest());

    // Distribution keeps the other part: WithTag on a canonical reference
    // keeps the digest, WithDigest on a tagged one keeps the tag.
    let both = canonical.with_tag("v1").unwrap();
    assert_eq!(both.to_string(), format!("quay.io/a/b:v1@{}", digest()));
    assert_eq!(tagged.with_digest(digest()), both);
    assert_eq!(
        both.with_tag("v2").unwrap().to_string(),
        format!("quay.io/a/b:v2@{}", digest())
    );
    let other = Digest::sha256(b"x");
    assert_eq!(both.with_digest(other.clone()).digest(), Some(&other));
    assert_eq!(both.with_digest(other).tag().unwrap(), "v1");

    // Trimming leaves the name.
    assert_eq!(both.trim(), name);
    assert_eq!(tagged.trim(), name);
    assert_eq!(canonical.trim(), name);

    // The typed views of a full reference.
    assert_eq!(both.tagged(), Some(tagged.clone()));
    assert_eq!(both.canonical(), Some(canonical.clone()));
    assert_eq!(Reference::from(name.clone()).tagged(), None);
    assert_eq!(Reference::from(name.clone()).canonical(), None);
    assert!(Reference::from(name.clone()).is_name_only());
    assert_eq!(
        Reference::from(tagged.clone()).tagged(),
        Some(tagged.clone())
    );
    assert_eq!(
        Reference::from(canonical.clone()).canonical(),
        Some(canonical.clone())
    );
    let (n, t, d) = both.into_parts();
    assert_eq!(
        (n, t.unwrap(), d.unwrap()),
        (name, Tag::parse("v1").unwrap(), digest())
    );
}

#[test]
fn tagged_and_canonical_parse_shapes() {
    let d = digest();
    assert_eq!(Tagged::parse("a:b").unwrap().to_string(), "a:b");
    assert!(matches!(
        Tagged::parse("a"),
        Err(Error::InvalidFormat(FormatError::MissingTag))
    ));
    assert!(matches!(
        Tagged::parse(&format!("a:b@{d}")),
        Err(Error::InvalidFormat(FormatError::UnexpectedDigest))
    ));
    assert_eq!(
        Canonical::parse(&format!("a@{d}")).unwrap().to_string(),
        format!("a@{d}")
    );
    assert!(matches!(
        Canonical::parse("a"),
        Err(Error::InvalidFormat(FormatError::MissingDigest))
    ));
    assert!(matches!(
        Canonical::parse(&format!("a:b@{d}")),
        Err(Error::InvalidFormat(FormatError::UnexpectedTag))
    ));
    assert_eq!(
        "a:b".parse::<Tagged>().unwrap(),
        Tagged::try_from("a:b").unwrap()
    );
}

#[test]
fn familiar_strings_of_each_type() {
    let r = Reference::parse_normalized("ubuntu:22.04").unwrap();
    let tagged = r.tagged().unwrap();
    assert_eq!(tagged.familiar_string(), "ubuntu:22.04");
    assert_eq!(tagged.familiar_name(), "ubuntu");
    let canonical = r.trim().with_digest(digest());
    assert_eq!(canonical.familiar_string(), format!("ubuntu@{}", digest()));
    assert_eq!(canonical.familiar_name(), "ubuntu");
}

#[test]
fn names_are_map_keys_by_str() {
    let mut map = HashMap::new();
    map.insert(Name::parse("a/b").unwrap(), 1);
    map.insert(Name::parse("c").unwrap(), 2);
    assert_eq!(map.get("a/b"), Some(&1));
    assert_eq!(map.get("c"), Some(&2));
    let mut repos = HashMap::new();
    repos.insert(RepositoryName::parse("x/y").unwrap(), ());
    assert!(repos.contains_key("x/y"));
    let mut tags = HashMap::new();
    tags.insert(Tag::latest(), ());
    assert!(tags.contains_key("latest"));
}

#[test]
fn ordering_follows_strings() {
    let mut names: Vec<Name> = ["b/a", "a/z", "a", "a/b"]
        .iter()
        .map(|s| Name::parse(s).unwrap())
        .collect();
    names.sort();
    let sorted: Vec<&str> = names.iter().map(Name::as_str).collect();
    assert_eq!(sorted, ["a", "a/b", "a/z", "b/a"]);
}

#[test]
fn debug_forms() {
    assert_eq!(
        format!("{:?}", AnyReference::from(digest())),
        format!("Digested(Digest({}))", digest())
    );
    assert_eq!(
        format!("{:?}", Reference::parse("a:b").unwrap()),
        r#"Reference("a:b")"#
    );
    assert_eq!(format!("{:?}", Tag::parse("b").unwrap()), r#"Tag("b")"#);
}

#[cfg(feature = "serde")]
#[test]
fn serde_as_strings() {
    let d = digest();
    let r = Reference::parse(&format!("quay.io/a:b@{d}")).unwrap();
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(json, format!("\"quay.io/a:b@{d}\""));
    assert_eq!(serde_json::from_str::<Reference>(&json).unwrap(), r);

    let name: Name = serde_json::from_str("\"a/b\"").unwrap();
    assert_eq!(name.domain(), Some("a"));
    assert_eq!(serde_json::to_string(&name).unwrap(), "\"a/b\"");

    let tagged: Tagged = serde_json::from_str("\"a:b\"").unwrap();
    assert_eq!(serde_json::to_string(&tagged).unwrap(), "\"a:b\"");
    let canonical: Canonical = serde_json::from_str(&format!("\"a@{d}\"")).unwrap();
    assert_eq!(canonical.digest(), &d);
    let tag: Tag = serde_json::from_str("\"v1\"").unwrap();
    assert_eq!(tag, "v1");
    let repo: RepositoryName = serde_json::from_str("\"a/b\"").unwrap();
    assert_eq!(repo, "a/b");
    let any: AnyReference = serde_json::from_str("\"redis\"").unwrap();
    assert_eq!(any.to_string(), "docker.io/library/redis");

    // Deserialization does not normalize a Reference, and validates.
    let err = serde_json::from_str::<Reference>("\"Foo/Bar\"").unwrap_err();
    assert!(
        err.to_string()
            .contains("repository name must be lowercase"),
        "{err}"
    );
    assert!(serde_json::from_str::<Tag>("\".x\"").is_err());
    assert!(serde_json::from_str::<Reference>("3").is_err());
    // Escaped strings (which cannot be borrowed) work too.
    let escaped: Name = serde_json::from_str("\"a\\/b\"").unwrap();
    assert_eq!(escaped, "a/b");

    // In a struct.
    #[derive(serde::Deserialize)]
    struct Pull {
        image: Reference,
    }
    let pull: Pull = serde_json::from_str(r#"{"image":"docker.io/library/ubuntu:22.04"}"#).unwrap();
    assert_eq!(pull.image.familiar_string(), "ubuntu:22.04");
}

#[test]
fn errors_are_std_errors_with_sources() {
    use std::error::Error as _;
    let err = Reference::parse("a@sha256:abc").unwrap_err();
    assert!(err.source().is_some());
    let err = Reference::parse("a:").unwrap_err();
    assert!(err.source().is_none());
}

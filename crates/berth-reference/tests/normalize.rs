//! Normalization, familiar forms, the strict canonical check, and the
//! Docker and any-reference helpers. Cases marked "Distribution" are test
//! vectors of Distribution's reference package.

use berth_reference::{AnyReference, Digest, Error, FormatError, Name, Reference};

const ID: &str = "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c";

/// (input, normalized string, domain, path, familiar string)
fn round_trips() -> Vec<(String, String, &'static str, String, String)> {
    let d = format!("sha256:{ID}");
    let t = |input: &str, normalized: &str, domain: &'static str, path: &str, familiar: &str| {
        (
            input.to_owned(),
            normalized.to_owned(),
            domain,
            path.to_owned(),
            familiar.to_owned(),
        )
    };
    vec![
        // Distribution (TestParseRepositoryInfo and friends).
        t(
            "fooo/bar",
            "docker.io/fooo/bar",
            "docker.io",
            "fooo/bar",
            "fooo/bar",
        ),
        t(
            "docker.io/fooo/bar",
            "docker.io/fooo/bar",
            "docker.io",
            "fooo/bar",
            "fooo/bar",
        ),
        t(
            "index.docker.io/fooo/bar",
            "docker.io/fooo/bar",
            "docker.io",
            "fooo/bar",
            "fooo/bar",
        ),
        t(
            "library/ubuntu",
            "docker.io/library/ubuntu",
            "docker.io",
            "library/ubuntu",
            "ubuntu",
        ),
        t(
            "ubuntu",
            "docker.io/library/ubuntu",
            "docker.io",
            "library/ubuntu",
            "ubuntu",
        ),
        t(
            "docker.io/library/ubuntu",
            "docker.io/library/ubuntu",
            "docker.io",
            "library/ubuntu",
            "ubuntu",
        ),
        t(
            "docker.io/ubuntu",
            "docker.io/library/ubuntu",
            "docker.io",
            "library/ubuntu",
            "ubuntu",
        ),
        t(
            "index.docker.io/ubuntu",
            "docker.io/library/ubuntu",
            "docker.io",
            "library/ubuntu",
            "ubuntu",
        ),
        t(
            "index.docker.io/library/ubuntu",
            "docker.io/library/ubuntu",
            "docker.io",
            "library/ubuntu",
            "ubuntu",
        ),
        t(
            "nonlibrary/ubuntu",
            "docker.io/nonlibrary/ubuntu",
            "docker.io",
            "nonlibrary/ubuntu",
            "nonlibrary/ubuntu",
        ),
        t(
            "other/library",
            "docker.io/other/library",
            "docker.io",
            "other/library",
            "other/library",
        ),
        t(
            "127.0.0.1:8000/private/moonbase",
            "127.0.0.1:8000/private/moonbase",
            "127.0.0.1:8000",
            "private/moonbase",
            "127.0.0.1:8000/private/moonbase",
        ),
        t(
            "127.0.0.1:8000/privatebase",
            "127.0.0.1:8000/privatebase",
            "127.0.0.1:8000",
            "privatebase",
            "127.0.0.1:8000/privatebase",
        ),
        t(
            "example.com/private/moonbase",
            "example.com/private/moonbase",
            "example.com",
            "private/moonbase",
            "example.com/private/moonbase",
        ),
        t(
            "example.com/privatebase",
            "example.com/privatebase",
            "example.com",
            "privatebase",
            "example.com/privatebase",
        ),
        t(
            "example.com:8000/private/moonbase",
            "example.com:8000/private/moonbase",
            "example.com:8000",
            "private/moonbase",
            "example.com:8000/private/moonbase",
        ),
        t(
            "example.com:8000/privatebasee",
            "example.com:8000/privatebasee",
            "example.com:8000",
            "privatebasee",
            "example.com:8000/privatebasee",
        ),
        t(
            "ubuntu-12.04-base",
            "docker.io/library/ubuntu-12.04-base",
            "docker.io",
            "library/ubuntu-12.04-base",
            "ubuntu-12.04-base",
        ),
        t(
            "index.docker.io/library/ubuntu-12.04-base",
            "docker.io/library/ubuntu-12.04-base",
            "docker.io",
            "library/ubuntu-12.04-base",
            "ubuntu-12.04-base",
        ),
        t(
            "docker.io/foo",
            "docker.io/library/foo",
            "docker.io",
            "library/foo",
            "foo",
        ),
        t(
            "library/foo/bar",
            "docker.io/library/foo/bar",
            "docker.io",
            "library/foo/bar",
            "library/foo/bar",
        ),
        t(
            "docker.io/library/foo/bar",
            "docker.io/library/foo/bar",
            "docker.io",
            "library/foo/bar",
            "library/foo/bar",
        ),
        t(
            "store/foo/bar",
            "docker.io/store/foo/bar",
            "docker.io",
            "store/foo/bar",
            "store/foo/bar",
        ),
        t("Foo/bar", "Foo/bar", "Foo", "bar", "Foo/bar"),
        t("FOO/bar", "FOO/bar", "FOO", "bar", "FOO/bar"),
        // Domains by rule.
        t(
            "localhost/foo",
            "localhost/foo",
            "localhost",
            "foo",
            "localhost/foo",
        ),
        t(
            "localhost:5000/foo/bar",
            "localhost:5000/foo/bar",
            "localhost:5000",
            "foo/bar",
            "localhost:5000/foo/bar",
        ),
        t(
            "[::1]:5000/foo",
            "[::1]:5000/foo",
            "[::1]:5000",
            "foo",
            "[::1]:5000/foo",
        ),
        t(
            "[fc00::1]:5000/docker/docker",
            "[fc00::1]:5000/docker/docker",
            "[fc00::1]:5000",
            "docker/docker",
            "[fc00::1]:5000/docker/docker",
        ),
        t(
            "gcr.io/library/busybox",
            "gcr.io/library/busybox",
            "gcr.io",
            "library/busybox",
            "gcr.io/library/busybox",
        ),
        // Without '/', host-like names are names on Docker Hub; ':' starts a tag.
        t(
            "localhost",
            "docker.io/library/localhost",
            "docker.io",
            "library/localhost",
            "localhost",
        ),
        t(
            "localhost:5000",
            "docker.io/library/localhost:5000",
            "docker.io",
            "library/localhost",
            "localhost:5000",
        ),
        t(
            "192.168.0.1",
            "docker.io/library/192.168.0.1",
            "docker.io",
            "library/192.168.0.1",
            "192.168.0.1",
        ),
        t(
            "192.168.0.1:80",
            "docker.io/library/192.168.0.1:80",
            "docker.io",
            "library/192.168.0.1",
            "192.168.0.1:80",
        ),
        t(
            "example.com",
            "docker.io/library/example.com",
            "docker.io",
            "library/example.com",
            "example.com",
        ),
        // Tags and digests ride along.
        t(
            "ubuntu:22.04",
            "docker.io/library/ubuntu:22.04",
            "docker.io",
            "library/ubuntu",
            "ubuntu:22.04",
        ),
        t(
            "foo/bar:Tag",
            "docker.io/foo/bar:Tag",
            "docker.io",
            "foo/bar",
            "foo/bar:Tag",
        ),
        t(
            &format!("busybox:latest@{d}"),
            &format!("docker.io/library/busybox:latest@{d}"),
            "docker.io",
            "library/busybox",
            &format!("busybox:latest@{d}"),
        ),
        t(
            &format!("redis@{d}"),
            &format!("docker.io/library/redis@{d}"),
            "docker.io",
            "library/redis",
            &format!("redis@{d}"),
        ),
        t(
            &format!("quay.io/a/b:c@{d}"),
            &format!("quay.io/a/b:c@{d}"),
            "quay.io",
            "a/b",
            &format!("quay.io/a/b:c@{d}"),
        ),
        // A digest-looking string is a name with a tag here.
        t(
            &d,
            &format!("docker.io/library/sha256:{ID}"),
            "docker.io",
            "library/sha256",
            &d,
        ),
        // 63 hex characters is a name, not an ID (Distribution).
        t(
            &ID[..63],
            &format!("docker.io/library/{}", &ID[..63]),
            "docker.io",
            &format!("library/{}", &ID[..63]),
            &ID[..63],
        ),
        t(
            "dbcc1c",
            "docker.io/library/dbcc1c",
            "docker.io",
            "library/dbcc1c",
            "dbcc1c",
        ),
    ]
}

#[test]
fn normalized_and_familiar_round_trips() {
    let cases = round_trips();
    assert!(cases.len() >= 30);
    for (input, normalized, domain, path, familiar) in cases {
        let r = Reference::parse_normalized(&input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(r.to_string(), normalized, "{input:?}");
        assert_eq!(r.domain(), Some(domain), "{input:?}");
        assert_eq!(r.path(), path, "{input:?}");
        assert_eq!(r.familiar_string(), familiar, "{input:?}");
        // The normalized string is canonical: strict parse agrees.
        assert_eq!(Reference::parse(&normalized).unwrap(), r, "{input:?}");
        assert_eq!(Reference::parse_named(&normalized).unwrap(), r, "{input:?}");
        // Familiar → normalized comes back to the same reference.
        assert_eq!(
            Reference::parse_normalized(&familiar).unwrap(),
            r,
            "{input:?}"
        );
        // And normalization is idempotent.
        assert_eq!(
            Reference::parse_normalized(&normalized).unwrap(),
            r,
            "{input:?}"
        );
        if r.is_name_only() {
            assert_eq!(Name::parse_normalized(&input).unwrap(), *r.name());
            assert_eq!(r.familiar_name(), familiar);
        }
    }
}

/// A check of which error a case gets.
type Check = fn(&Error) -> bool;

#[test]
fn normalization_errors() {
    let cases: Vec<(String, Check)> = vec![
        (ID.to_owned(), |e| {
            matches!(e, Error::IdentifierNotAllowed { .. })
        }),
        (String::new(), |e| matches!(e, Error::NameEmpty)),
        (
            "FOO".into(),
            |e| matches!(e, Error::NameContainsUppercase { name } if name == "library/FOO"),
        ),
        (
            "docker/Docker".into(),
            |e| matches!(e, Error::NameContainsUppercase { name } if name == "docker/Docker"),
        ),
        (
            "docker.io/docker/Docker".into(),
            |e| matches!(e, Error::NameContainsUppercase { name } if name == "docker/Docker"),
        ),
        (
            "Foo/Bar:Tag".into(),
            |e| matches!(e, Error::NameContainsUppercase { name } if name == "Bar"),
        ),
        ("-docker".into(), |e| matches!(e, Error::InvalidFormat(_))),
        ("-docker/docker".into(), |e| {
            matches!(e, Error::InvalidFormat(_))
        }),
        ("-docker.io/docker/docker".into(), |e| {
            matches!(e, Error::InvalidFormat(_))
        }),
        ("docker///docker".into(), |e| {
            matches!(e, Error::InvalidFormat(FormatError::EmptyPathComponent))
        }),
        ("docker.io/docker///docker".into(), |e| {
            matches!(e, Error::InvalidFormat(FormatError::EmptyPathComponent))
        }),
        ("[fc00::1]".into(), |e| matches!(e, Error::InvalidFormat(_))),
        ("[fc00::1]:5000".into(), |e| {
            matches!(e, Error::InvalidFormat(_))
        }),
        ("fc00::1:5000/debian".into(), |e| {
            matches!(e, Error::InvalidFormat(FormatError::InvalidDomain { .. }))
        }),
        ("[fe80::1%eth0]:5000/debian".into(), |e| {
            matches!(e, Error::InvalidFormat(FormatError::InvalidDomain { .. }))
        }),
        ("[2001:db8:3:4::192.0.2.33]:5000/debian".into(), |e| {
            matches!(e, Error::InvalidFormat(FormatError::InvalidDomain { .. }))
        }),
        ("https://github.com/docker/docker".into(), |e| {
            matches!(e, Error::InvalidFormat(FormatError::InvalidDomain { .. }))
        }),
        ("test_com:5000/foo".into(), |e| {
            matches!(e, Error::InvalidFormat(FormatError::InvalidDomain { .. }))
        }),
        ("docker.io/".into(), |e| {
            matches!(e, Error::InvalidFormat(FormatError::EmptyPathComponent))
        }),
        ("/foo".into(), |e| {
            matches!(e, Error::InvalidFormat(FormatError::EmptyPathComponent))
        }),
        ("a:-x".into(), |e| matches!(e, Error::InvalidTag { .. })),
        ("a@sha256:abc".into(), |e| {
            matches!(e, Error::InvalidDigest(_))
        }),
        // The library/ prefix counts towards the length.
        ("a".repeat(240), |e| {
            matches!(e, Error::NameTooLong { length: 258 })
        }),
    ];
    for (input, check) in cases {
        let err = Reference::parse_normalized(&input).unwrap_err();
        assert!(check(&err), "{input:?}: {err:?}");
    }
    assert_eq!(
        Reference::parse_normalized(ID).unwrap_err().to_string(),
        format!("invalid repository name ({ID}): cannot specify 64-byte hexadecimal strings")
    );
    // An ID with a tag, or under a domain, is a name.
    assert!(Reference::parse_normalized(&format!("{ID}:tag")).is_ok());
    assert!(Reference::parse_normalized(&format!("library/{ID}")).is_ok());
    // So the familiar form of such a name does not normalize back.
    let under_hub = Reference::parse_normalized(&format!("docker.io/{ID}")).unwrap();
    assert_eq!(under_hub.to_string(), format!("docker.io/library/{ID}"));
    assert_eq!(under_hub.familiar_string(), ID);
    // But strict parsing has no such rule.
    assert_eq!(Reference::parse(ID).unwrap().path(), ID);
}

#[test]
fn domain_like_but_invalid_first_component() {
    // As in Distribution: "a_b.c" has a '.', so normalization keeps it as
    // the domain, but it is not a valid domain, so the grammar reads the
    // whole input as a path with no domain.
    let r = Reference::parse_normalized("a_b.c/d").unwrap();
    assert_eq!(r.domain(), None);
    assert_eq!(r.path(), "a_b.c/d");
    assert_eq!(r.familiar_string(), "a_b.c/d");
    assert_eq!(Reference::parse_named("a_b.c/d").unwrap(), r);
}

#[test]
fn parse_named_requires_canonical_form() {
    let d = format!("sha256:{ID}");
    for ok in [
        "docker.io/library/ubuntu".to_owned(),
        "docker.io/library/ubuntu:22.04".to_owned(),
        format!("docker.io/library/ubuntu@{d}"),
        format!("docker.io/library/ubuntu:22.04@{d}"),
        "quay.io/a/b".to_owned(),
        "localhost/a".to_owned(),
        "Foo/bar".to_owned(),
    ] {
        let r = Reference::parse_named(&ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert_eq!(r.to_string(), ok);
    }
    for (input, canonical) in [
        ("ubuntu", "docker.io/library/ubuntu"),
        ("ubuntu:22.04", "docker.io/library/ubuntu:22.04"),
        ("library/ubuntu", "docker.io/library/ubuntu"),
        ("docker.io/ubuntu", "docker.io/library/ubuntu"),
        ("index.docker.io/library/ubuntu", "docker.io/library/ubuntu"),
        ("foo/bar", "docker.io/foo/bar"),
    ] {
        match Reference::parse_named(input) {
            Err(Error::NameNotCanonical {
                input: got_input,
                canonical: got,
            }) => {
                assert_eq!(got_input, input);
                assert_eq!(got, canonical);
            }
            other => panic!("{input}: {other:?}"),
        }
    }
    assert_eq!(
        Reference::parse_named("ubuntu").unwrap_err().to_string(),
        "repository name must be canonical: \"ubuntu\" is \"docker.io/library/ubuntu\" in canonical form"
    );
    // Other errors come through unchanged.
    assert!(matches!(
        Reference::parse_named("a:-x"),
        Err(Error::InvalidTag { .. })
    ));
}

#[test]
fn docker_refs() {
    let d = "sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582";
    // Distribution's TestParseDockerRef.
    for (input, expected) in [
        (
            "busybox".to_owned(),
            "docker.io/library/busybox:latest".to_owned(),
        ),
        (
            "busybox:latest".into(),
            "docker.io/library/busybox:latest".into(),
        ),
        (
            format!("busybox@{d}"),
            format!("docker.io/library/busybox@{d}"),
        ),
        (
            "library/busybox".into(),
            "docker.io/library/busybox:latest".into(),
        ),
        (
            "docker.io/busybox".into(),
            "docker.io/library/busybox:latest".into(),
        ),
        (
            "docker.io/library/busybox".into(),
            "docker.io/library/busybox:latest".into(),
        ),
        (
            "docker.io/busybox:latest".into(),
            "docker.io/library/busybox:latest".into(),
        ),
        (
            "library/busybox:latest".into(),
            "docker.io/library/busybox:latest".into(),
        ),
        (
            "docker.io/library/busybox:latest".into(),
            "docker.io/library/busybox:latest".into(),
        ),
        (
            "gcr.io/library/busybox".into(),
            "gcr.io/library/busybox:latest".into(),
        ),
        (
            format!("gcr.io/library/busybox:latest@{d}"),
            format!("gcr.io/library/busybox@{d}"),
        ),
    ] {
        let r = Reference::parse_docker(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(r.to_string(), expected, "{input}");
        assert!(r.tag().is_some() != r.digest().is_some(), "{input}");
    }
    assert!(matches!(
        Reference::parse_docker(ID),
        Err(Error::IdentifierNotAllowed { .. })
    ));

    let bare = Reference::parse("quay.io/a").unwrap();
    assert_eq!(bare.clone().tag_name_only().to_string(), "quay.io/a:latest");
    let tagged = Reference::parse("quay.io/a:v1").unwrap();
    assert_eq!(tagged.clone().tag_name_only(), tagged);
}

#[test]
fn any_references() {
    let d = format!("sha256:{ID}");
    // Distribution's TestParseAnyReference.
    for (input, equivalent) in [
        ("redis".to_owned(), "docker.io/library/redis".to_owned()),
        (
            "redis:latest".into(),
            "docker.io/library/redis:latest".into(),
        ),
        (
            "docker.io/library/redis:latest".into(),
            "docker.io/library/redis:latest".into(),
        ),
        (format!("redis@{d}"), format!("docker.io/library/redis@{d}")),
        (
            format!("docker.io/library/redis@{d}"),
            format!("docker.io/library/redis@{d}"),
        ),
        ("dmcgowan/myapp".into(), "docker.io/dmcgowan/myapp".into()),
        (
            "dmcgowan/myapp:latest".into(),
            "docker.io/dmcgowan/myapp:latest".into(),
        ),
        (
            "docker.io/mcgowan/myapp:latest".into(),
            "docker.io/mcgowan/myapp:latest".into(),
        ),
        (
            format!("dmcgowan/myapp@{d}"),
            format!("docker.io/dmcgowan/myapp@{d}"),
        ),
        (
            ID[..63].to_owned(),
            format!("docker.io/library/{}", &ID[..63]),
        ),
        ("dbcc1c".into(), "docker.io/library/dbcc1c".into()),
        ("dbcc1".into(), "docker.io/library/dbcc1".into()),
    ] {
        let r = AnyReference::parse(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert!(matches!(r, AnyReference::Named(_)), "{input}");
        assert_eq!(r.to_string(), equivalent, "{input}");
        assert_eq!(
            r.familiar_string(),
            Reference::parse_normalized(&input)
                .unwrap()
                .familiar_string()
        );
    }
    // A bare ID is a sha256 digest; so is a digest string.
    for input in [ID.to_owned(), d.clone()] {
        let r = AnyReference::parse(&input).unwrap();
        assert_eq!(
            r,
            AnyReference::Digested(Digest::parse(&d).unwrap()),
            "{input}"
        );
        assert_eq!(r.to_string(), d);
        assert!(r.name().is_none() && r.tag().is_none());
        assert_eq!(r.digest().map(Digest::as_str), Some(d.as_str()));
    }
    let d512 = format!("sha512:{}", "a".repeat(128));
    assert_eq!(
        AnyReference::parse(&d512).unwrap(),
        AnyReference::Digested(Digest::parse(&d512).unwrap())
    );
    // An uppercase ID is not an ID, and not a valid name either.
    assert!(matches!(
        AnyReference::parse(&ID.to_uppercase()),
        Err(Error::NameContainsUppercase { .. })
    ));
    assert!(matches!(AnyReference::parse(""), Err(Error::NameEmpty)));
    let parsed: AnyReference = "ubuntu".parse().unwrap();
    assert_eq!(
        parsed.name().map(Name::as_str),
        Some("docker.io/library/ubuntu")
    );
}

#[test]
fn name_parse_normalized_refuses_tags_and_digests() {
    assert_eq!(
        Name::parse_normalized("ubuntu").unwrap().as_str(),
        "docker.io/library/ubuntu"
    );
    assert!(matches!(
        Name::parse_normalized("ubuntu:1"),
        Err(Error::InvalidFormat(FormatError::UnexpectedTag))
    ));
    assert!(matches!(
        Name::parse_normalized(&format!("ubuntu@sha256:{ID}")),
        Err(Error::InvalidFormat(FormatError::UnexpectedDigest))
    ));
    assert!(matches!(
        Name::parse_normalized(ID),
        Err(Error::IdentifierNotAllowed { .. })
    ));
}

#[test]
fn familiar_forms_of_names_as_written() {
    for (input, familiar) in [
        ("docker.io/library/ubuntu", "ubuntu"),
        ("docker.io/ubuntu", "ubuntu"),
        ("docker.io/library/foo/bar", "library/foo/bar"),
        ("docker.io/foo/bar", "foo/bar"),
        (
            "index.docker.io/library/ubuntu",
            "index.docker.io/library/ubuntu",
        ),
        ("quay.io/library/ubuntu", "quay.io/library/ubuntu"),
        ("library/ubuntu", "library/ubuntu"),
        ("ubuntu", "ubuntu"),
    ] {
        assert_eq!(
            Name::parse(input).unwrap().familiar_name(),
            familiar,
            "{input}"
        );
    }
}

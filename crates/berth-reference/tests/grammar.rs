//! The reference grammar, case by case (`Reference::parse`, no normalization).
//!
//! Every valid case checks domain, path, tag and digest; every invalid case
//! checks which error (and, for format and digest errors, which rule).
//! Cases marked "Distribution" are test vectors of Distribution's reference
//! package; the others follow from the grammar.

use berth_digest::DigestError;
use berth_reference::{
    Error, FormatError, Name, Reference, RepositoryName, TagError, validate_repository_name,
    validate_tag,
};

/// Which rule an invalid input breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `Error::NameEmpty`
    Empty,
    /// `InvalidFormat(MissingName)`
    MissingName,
    /// `InvalidFormat(EmptyPathComponent)`
    EmptyComponent,
    /// `InvalidFormat(InvalidPathComponent)`
    Component,
    /// `InvalidFormat(InvalidDomain)`
    Domain,
    /// `NameContainsUppercase`
    Uppercase,
    /// `NameTooLong`
    TooLong,
    /// `InvalidTag`
    Tag,
    /// `InvalidDigest(InvalidLength)`
    DigestLength,
    /// `InvalidDigest(UnsupportedAlgorithm)`
    DigestUnsupported,
    /// `InvalidDigest(InvalidAlgorithm)`
    DigestAlgorithm,
    /// `InvalidDigest(InvalidEncoding)`
    DigestEncoding,
    /// `InvalidDigest(Empty | MissingSeparator)`
    DigestShape,
}

fn kind(err: &Error) -> Kind {
    match err {
        Error::NameEmpty => Kind::Empty,
        Error::InvalidFormat(FormatError::MissingName) => Kind::MissingName,
        Error::InvalidFormat(FormatError::EmptyPathComponent) => Kind::EmptyComponent,
        Error::InvalidFormat(FormatError::InvalidPathComponent { .. }) => Kind::Component,
        Error::InvalidFormat(FormatError::InvalidDomain { .. }) => Kind::Domain,
        Error::NameContainsUppercase { .. } => Kind::Uppercase,
        Error::NameTooLong { .. } => Kind::TooLong,
        Error::InvalidTag { .. } => Kind::Tag,
        Error::InvalidDigest(DigestError::InvalidLength { .. }) => Kind::DigestLength,
        Error::InvalidDigest(DigestError::UnsupportedAlgorithm { .. }) => Kind::DigestUnsupported,
        Error::InvalidDigest(DigestError::InvalidAlgorithm { .. }) => Kind::DigestAlgorithm,
        Error::InvalidDigest(DigestError::InvalidEncoding { .. }) => Kind::DigestEncoding,
        Error::InvalidDigest(DigestError::Empty | DigestError::MissingSeparator { .. }) => {
            Kind::DigestShape
        }
        other => panic!("unexpected error {other:?}"),
    }
}

#[derive(Debug)]
struct Parts {
    domain: Option<String>,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

#[derive(Debug)]
struct Case {
    input: String,
    expect: Result<Parts, Kind>,
}

fn full(
    input: impl Into<String>,
    domain: Option<&str>,
    path: impl Into<String>,
    tag: Option<&str>,
    digest: Option<&str>,
) -> Case {
    Case {
        input: input.into(),
        expect: Ok(Parts {
            domain: domain.map(str::to_owned),
            path: path.into(),
            tag: tag.map(str::to_owned),
            digest: digest.map(str::to_owned),
        }),
    }
}

fn name(input: impl Into<String>, domain: Option<&str>, path: impl Into<String>) -> Case {
    full(input, domain, path, None, None)
}

fn tagged(input: impl Into<String>, domain: Option<&str>, path: &str, tag: &str) -> Case {
    full(input, domain, path, Some(tag), None)
}

fn err(input: impl Into<String>, kind: Kind) -> Case {
    Case {
        input: input.into(),
        expect: Err(kind),
    }
}

fn sha256() -> String {
    format!("sha256:{}", "f".repeat(64))
}

fn sha384() -> String {
    format!("sha384:{}", "0123456789abcdef".repeat(6))
}

fn sha512() -> String {
    format!("sha512:{}", "f".repeat(128))
}

fn cases() -> Vec<Case> {
    use Kind::*;
    let d256 = sha256();
    let d384 = sha384();
    let d512 = sha512();
    let d = d256.as_str();
    vec![
        // --- Distribution's vectors -------------------------------------
        name("test_com", None, "test_com"),
        tagged("test.com:tag", None, "test.com", "tag"),
        tagged("test.com:5000", None, "test.com", "5000"),
        tagged("test.com/repo:tag", Some("test.com"), "repo", "tag"),
        name("test:5000/repo", Some("test:5000"), "repo"),
        tagged("test:5000/repo:tag", Some("test:5000"), "repo", "tag"),
        full(
            format!("test:5000/repo@{d}"),
            Some("test:5000"),
            "repo",
            None,
            Some(d),
        ),
        full(
            format!("test:5000/repo:tag@{d}"),
            Some("test:5000"),
            "repo",
            Some("tag"),
            Some(d),
        ),
        err("", Empty),
        err(":justtag", MissingName),
        err(format!("@{d}"), MissingName),
        err(format!("repo@sha256:{}", "f".repeat(63)), DigestLength),
        err(
            format!("validname@invaliddigest:{}", "f".repeat(64)),
            DigestUnsupported,
        ),
        err("Uppercase:tag", Uppercase),
        tagged(
            "Uppercase/lowercase:tag",
            Some("Uppercase"),
            "lowercase",
            "tag",
        ),
        err("test:5000/Uppercase/lowercase:tag", Uppercase),
        tagged("lowercase:Uppercase", None, "lowercase", "Uppercase"),
        err(format!("{}a:tag", "a/".repeat(128)), TooLong),
        full(
            format!("{}a:tag-puts-this-over-max", "a/".repeat(127)),
            Some("a"),
            format!("{}a", "a/".repeat(126)),
            Some("tag-puts-this-over-max"),
            None,
        ),
        err("aa/asdf$$^/aa", Component),
        name(
            "sub-dom1.foo.com/bar/baz/quux",
            Some("sub-dom1.foo.com"),
            "bar/baz/quux",
        ),
        tagged(
            "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
            Some("sub-dom1.foo.com"),
            "bar/baz/quux",
            "some-long-tag",
        ),
        tagged(
            "b.gcr.io/test.example.com/my-app:test.example.com",
            Some("b.gcr.io"),
            "test.example.com/my-app",
            "test.example.com",
        ),
        tagged(
            "xn--n3h.com/myimage:xn--n3h.com",
            Some("xn--n3h.com"),
            "myimage",
            "xn--n3h.com",
        ),
        full(
            format!("xn--7o8h.com/myimage:xn--7o8h.com@{d512}"),
            Some("xn--7o8h.com"),
            "myimage",
            Some("xn--7o8h.com"),
            Some(&d512),
        ),
        tagged("foo_bar.com:8080", None, "foo_bar.com", "8080"),
        tagged("foo/foo_bar.com:8080", Some("foo"), "foo_bar.com", "8080"),
        name("192.168.1.1", None, "192.168.1.1"),
        tagged("192.168.1.1:tag", None, "192.168.1.1", "tag"),
        tagged("192.168.1.1:5000", None, "192.168.1.1", "5000"),
        name("192.168.1.1/repo", Some("192.168.1.1"), "repo"),
        name("192.168.1.1:5000/repo", Some("192.168.1.1:5000"), "repo"),
        err("[2001:db8::1]", Component),
        err("[2001:db8::1]:5000", Component),
        err("[2001:db8::1]:tag", Component),
        name("[2001:db8::1]/repo", Some("[2001:db8::1]"), "repo"),
        tagged(
            "[2001:db8:1:2:3:4:5:6]/repo:tag",
            Some("[2001:db8:1:2:3:4:5:6]"),
            "repo",
            "tag",
        ),
        name(
            "[2001:db8::1]:5000/repo",
            Some("[2001:db8::1]:5000"),
            "repo",
        ),
        tagged(
            "[2001:db8::1]:5000/repo:tag",
            Some("[2001:db8::1]:5000"),
            "repo",
            "tag",
        ),
        full(
            format!("[2001:db8::1]:5000/repo@{d}"),
            Some("[2001:db8::1]:5000"),
            "repo",
            None,
            Some(d),
        ),
        full(
            format!("[2001:db8::1]:5000/repo:tag@{d}"),
            Some("[2001:db8::1]:5000"),
            "repo",
            Some("tag"),
            Some(d),
        ),
        name("[2001:db8::]:5000/repo", Some("[2001:db8::]:5000"), "repo"),
        name("[::1]:5000/repo", Some("[::1]:5000"), "repo"),
        err("[fe80::1%eth0]:5000/repo", Domain),
        // The '@' starts the digest, leaving "[fe80::1%" as the name part.
        err("[fe80::1%@invalidzone]:5000/repo", Component),
        // Distribution's normalization vectors, read as written.
        err("https://github.com/docker/docker", Domain),
        err("-docker", Component),
        err("-docker/docker", Component),
        err("-docker.io/docker/docker", Component),
        err("docker///docker", EmptyComponent),
        err("docker.io/docker///docker", EmptyComponent),
        err("fc00::1:5000/debian", Domain),
        err("[2001:db8:3:4::192.0.2.33]:5000/debian", Domain),
        name(
            "[fc00::1]:5000/docker/docker",
            Some("[fc00::1]:5000"),
            "docker/docker",
        ),
        name(
            "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
            Some("[fc00:1:2:3:4:5:6:7]:5000"),
            "library/debian",
        ),
        tagged("192.168.0.1:80", None, "192.168.0.1", "80"),
        name("192.168.0.1:8/debian", Some("192.168.0.1:8"), "debian"),
        name(
            "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
            None,
            "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
        ),
        name("Docker/docker", Some("Docker"), "docker"),
        name("DOCKER/docker", Some("DOCKER"), "docker"),
        err("docker/Docker", Uppercase),
        // --- domains --------------------------------------------------------
        name("localhost", None, "localhost"),
        name("localhost/repo", Some("localhost"), "repo"),
        name("localhost:5000/repo", Some("localhost:5000"), "repo"),
        tagged("localhost:5000", None, "localhost", "5000"),
        name("foo/bar", Some("foo"), "bar"),
        name("a_b/c", None, "a_b/c"),
        name("exa_mple.com/repo", None, "exa_mple.com/repo"),
        name("FOO/bar", Some("FOO"), "bar"),
        name("HOST.COM:80/x", Some("HOST.COM:80"), "x"),
        name("a.b.c/d", Some("a.b.c"), "d"),
        name("a-b/c", Some("a-b"), "c"),
        name("a--b/c", Some("a--b"), "c"),
        name("0/1", Some("0"), "1"),
        name("9.9.9.9.9/x", Some("9.9.9.9.9"), "x"),
        name(
            "xn--bcher-kva.example/foo",
            Some("xn--bcher-kva.example"),
            "foo",
        ),
        tagged(
            "example.com:443/org/repo:1.0",
            Some("example.com:443"),
            "org/repo",
            "1.0",
        ),
        tagged("1.2.3.4:5000/a/b/c:t", Some("1.2.3.4:5000"), "a/b/c", "t"),
        name("a:0/b", Some("a:0"), "b"),
        name("host:123456789/x", Some("host:123456789"), "x"),
        name("[ABCDEF::1]/repo", Some("[ABCDEF::1]"), "repo"),
        name("[::]/repo", Some("[::]"), "repo"),
        err("-a/b", Component),
        err("a-/b", Component),
        err("a.b-/c", Component),
        err("a.-b/c", Component),
        err("a-.b/c", Component),
        err("a:/b", Domain),
        err("a:b/c", Domain),
        err("a:5000:6000/b", Domain),
        err(":5000/b", Domain),
        err("test_com:5000/foo", Domain),
        err("exa_mple.com:5000/foo", Domain),
        err("[]/repo", Domain),
        err("[::1/repo", Domain),
        err("[::1]x/repo", Domain),
        err("[::g]/repo", Domain),
        err("[::1]:/repo", Domain),
        err("a..b:5000/c", Domain),
        err("-a:5000/c", Domain),
        // --- path components and separators ---------------------------------
        name("a", None, "a"),
        name("0", None, "0"),
        name("a.b", None, "a.b"),
        name("a_b", None, "a_b"),
        name("a__b", None, "a__b"),
        name("a-b", None, "a-b"),
        name("a--b", None, "a--b"),
        name("a-----b", None, "a-----b"),
        name("a.b_c__d-e--f", None, "a.b_c__d-e--f"),
        name("foo/a__b/c-d.e", Some("foo"), "a__b/c-d.e"),
        name("x_y/a.b_c__d---e/f", None, "x_y/a.b_c__d---e/f"),
        name("a/b/c/d/e/f/g", Some("a"), "b/c/d/e/f/g"),
        err("a___b", Component),
        err("a..b", Component),
        err("a._b", Component),
        err("a_.b", Component),
        err("a-_b", Component),
        err("a_-b", Component),
        err("a.-b", Component),
        err("a__-b", Component),
        err("_a", Component),
        err(".a", Component),
        err("a_", Component),
        err("a.", Component),
        err("a-", Component),
        err("a__", Component),
        err("foo/.bar", Component),
        err("foo/bar.", Component),
        err("foo/_bar", Component),
        err("foo/bar___baz", Component),
        err("foo//bar", EmptyComponent),
        err("foo/", EmptyComponent),
        err("/foo", EmptyComponent),
        err("a/b/", EmptyComponent),
        err("a/:", EmptyComponent),
        err("a/b c", Component),
        err("a b", Component),
        err("a+b", Component),
        err("a\tb", Component),
        // --- uppercase ------------------------------------------------------
        err("Uppercase", Uppercase),
        err("foo/Bar", Uppercase),
        err("Foo/Bar", Uppercase),
        err("a_B/c", Uppercase),
        err("A_b/c", Uppercase),
        err("foo/BAR:Tag", Uppercase),
        err(format!("UPPER@{d}"), Uppercase),
        err("A".repeat(300), Uppercase),
        // An invalid tag is reported before uppercase in the path.
        err("Foo:-bad", Tag),
        // --- tags -----------------------------------------------------------
        tagged(
            format!("a:{}", "a".repeat(128)),
            None,
            "a",
            &"a".repeat(128),
        ),
        err(format!("a:{}", "a".repeat(129)), Tag),
        tagged("a:_tag", None, "a", "_tag"),
        tagged("a:_", None, "a", "_"),
        tagged("a:9", None, "a", "9"),
        tagged("a:TAG", None, "a", "TAG"),
        tagged(
            "a:tag.with-dots_and-dashes",
            None,
            "a",
            "tag.with-dots_and-dashes",
        ),
        tagged("a:a.b.c-1_2", None, "a", "a.b.c-1_2"),
        tagged("a:x..--__y", None, "a", "x..--__y"),
        tagged("a:x.", None, "a", "x."),
        err("a:.tag", Tag),
        err("a:-tag", Tag),
        err("a:", Tag),
        err("a:tag:more", Tag),
        err("a:tag with space", Tag),
        err("a:tag+1", Tag),
        err("a:x/y", Domain),
        err(format!("a:tag@{d}@{d}"), DigestEncoding),
        // --- digests --------------------------------------------------------
        full(format!("a@{d}"), None, "a", None, Some(d)),
        full(format!("a@{d512}"), None, "a", None, Some(&d512)),
        full(format!("a@{d384}"), None, "a", None, Some(&d384)),
        full(format!("a:tag@{d}"), None, "a", Some("tag"), Some(d)),
        full(format!("a/b@{d}"), Some("a"), "b", None, Some(d)),
        err(format!("a@sha256:{}", "f".repeat(65)), DigestLength),
        err(format!("a@sha512:{}", "f".repeat(64)), DigestLength),
        err("a@sha256:abc", DigestLength),
        err(format!("a@md5:{}", "f".repeat(32)), DigestUnsupported),
        err(format!("a@sha256:{}", "F".repeat(64)), DigestEncoding),
        err(format!("a@sha256:{}", "g".repeat(64)), DigestEncoding),
        err(format!("a@SHA256:{}", "f".repeat(64)), DigestAlgorithm),
        err("a@", DigestShape),
        err("a@sha256", DigestShape),
        err("a:t@g", DigestShape),
        err(format!("a@{d}@{d}"), DigestEncoding),
        // --- length ---------------------------------------------------------
        name(
            format!("{}a", "a/".repeat(127)),
            Some("a"),
            format!("{}a", "a/".repeat(126)),
        ),
        err(format!("{}a", "a/".repeat(128)), TooLong),
        name("a".repeat(255), None, "a".repeat(255)),
        err("a".repeat(256), TooLong),
        name(
            format!("{}/b", "a".repeat(253)),
            Some(&"a".repeat(253)),
            "b",
        ),
        err(format!("{}/b", "a".repeat(254)), TooLong),
        err(format!("{}.com/b", "a".repeat(250)), TooLong),
        tagged(
            format!("{}:{}", "a".repeat(255), "t".repeat(128)),
            None,
            &"a".repeat(255),
            &"t".repeat(128),
        ),
        err(format!("{}@{d}", "a".repeat(256)), TooLong),
        // --- lone separators and empties ------------------------------------
        err(":", MissingName),
        err("@", MissingName),
        err("::", MissingName),
        err("@@", MissingName),
        err(":@", MissingName),
        err(":tag", MissingName),
        err("/", EmptyComponent),
        err("//", EmptyComponent),
        err("[", Component),
        err("]", Component),
        err(".", Component),
        err("-", Component),
        err("_", Component),
        err(" ", Component),
        // --- non-ASCII -------------------------------------------------------
        err("ünïcode", Component),
        err("foo/bär", Component),
        err("föo.com/bar", Component),
        err("foo.com:5000/bär", Component),
        err("föo.com:5000/bar", Domain),
        err("foo:tägs", Tag),
        err("foo@sha256:ää", DigestEncoding),
        err("日本/語", Component),
        err("a\u{0}b", Component),
        err("🐳", Component),
    ]
}

#[test]
fn grammar_table() {
    let cases = cases();
    assert!(cases.len() >= 150, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let got = Reference::parse(&case.input);
        let ok = match (&got, &case.expect) {
            (Ok(r), Ok(parts)) => {
                r.domain() == parts.domain.as_deref()
                    && r.path() == parts.path
                    && r.tag().map(|t| t.as_str()) == parts.tag.as_deref()
                    && r.digest().map(|d| d.as_str()) == parts.digest.as_deref()
                    && r.to_string() == case.input
                    && r.name().as_str().len()
                        + r.tag().map_or(0, |t| t.as_str().len() + 1)
                        + r.digest().map_or(0, |d| d.as_str().len() + 1)
                        == case.input.len()
            }
            (Err(e), Err(expected)) => kind(e) == *expected,
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{:?}: expected {:?}, got {:?}",
                case.input, case.expect, got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `Name::parse` agrees with `Reference::parse` on every case without a
/// digest: the same name when the reference is a bare name, the same error
/// when the input has no `:` at all.
#[test]
fn name_parse_agrees() {
    for case in cases() {
        if case.input.contains('@') {
            continue;
        }
        let reference = Reference::parse(&case.input);
        let name = Name::parse(&case.input);
        match &reference {
            Ok(r) if r.is_name_only() => {
                assert_eq!(Ok(r.name()), name.as_ref(), "{:?}", case.input)
            }
            Ok(_) => assert!(name.is_err(), "{:?}", case.input),
            Err(e) if !case.input.contains(':') => {
                assert_eq!(Err(e), name.as_ref(), "{:?}", case.input)
            }
            Err(_) => assert!(name.is_err(), "{:?}", case.input),
        }
    }
}

#[test]
fn repository_names() {
    use Kind::*;
    let ok = [
        "a",
        "library/ubuntu",
        "a/b/c/d",
        "team/app-1.2_x",
        "a__b/c---d",
        "localhost/foo",
        "0/1",
    ];
    for input in ok {
        assert_eq!(validate_repository_name(input), Ok(()), "{input}");
        assert_eq!(RepositoryName::parse(input).unwrap(), input);
    }
    let long_ok = format!("{}a", "a/".repeat(127));
    assert_eq!(validate_repository_name(&long_ok), Ok(()));
    let bad: Vec<(String, Kind)> = vec![
        ("".into(), Empty),
        ("Foo/bar".into(), Uppercase),
        ("foo/Bar".into(), Uppercase),
        ("localhost:5000/a".into(), Component),
        ("example.com/A".into(), Uppercase),
        ("[::1]/a".into(), Component),
        ("a//b".into(), EmptyComponent),
        ("/a".into(), EmptyComponent),
        ("a/".into(), EmptyComponent),
        ("a___b".into(), Component),
        ("a:tag".into(), Component),
        ("a@sha256:x".into(), Component),
        ("é".into(), Component),
        ("a".repeat(256), TooLong),
        (format!("{}a", "a/".repeat(128)), TooLong),
    ];
    for (input, expected) in bad {
        let err = validate_repository_name(&input).unwrap_err();
        assert_eq!(kind(&err), expected, "{input:?}: {err}");
        assert_eq!(RepositoryName::parse(&input).unwrap_err(), err);
    }
}

#[test]
fn tags() {
    for ok in [
        "latest",
        "v1.0.0",
        "_",
        "A",
        "sha256-abc.sig",
        &"x".repeat(128),
    ] {
        assert_eq!(validate_tag(ok), Ok(()), "{ok}");
    }
    let cases: Vec<(String, TagError)> = vec![
        (String::new(), TagError::Empty),
        (
            ".x".into(),
            TagError::InvalidFirstCharacter { character: '.' },
        ),
        (
            "-x".into(),
            TagError::InvalidFirstCharacter { character: '-' },
        ),
        (
            "x:y".into(),
            TagError::InvalidCharacter {
                character: ':',
                offset: 1,
            },
        ),
        (
            "xé".into(),
            TagError::InvalidCharacter {
                character: 'é',
                offset: 1,
            },
        ),
        ("x".repeat(129), TagError::TooLong { length: 129 }),
    ];
    for (input, reason) in cases {
        match validate_tag(&input) {
            Err(Error::InvalidTag { reason: got, .. }) => assert_eq!(got, reason, "{input:?}"),
            other => panic!("{input:?}: {other:?}"),
        }
    }
}

#[test]
fn messages() {
    let msg = |s: &str| Reference::parse(s).unwrap_err().to_string();
    assert_eq!(msg(""), "repository name must have at least one component");
    assert_eq!(
        msg(":tag"),
        "invalid reference format: the repository name is missing before the tag or digest"
    );
    assert_eq!(
        msg("a--"),
        "invalid reference format: path component \"a--\" ends with a separator"
    );
    assert_eq!(
        msg("a/b___c"),
        "invalid reference format: path component \"b___c\" has invalid separator \"___\" \
         (allowed: '.', '_', '__' or a run of '-')"
    );
    assert_eq!(
        msg("test_com:5000/foo"),
        "invalid reference format: domain \"test_com:5000\" has invalid character '_' at offset 4"
    );
    assert_eq!(
        msg("foo//bar"),
        "invalid reference format: empty path component (the name starts or ends with '/', or has '//')"
    );
    assert_eq!(
        msg("foo/Bar"),
        "repository name must be lowercase: \"Bar\" has uppercase letters"
    );
    assert_eq!(
        msg(&"a".repeat(256)),
        "repository name must not be more than 255 characters: it has 256"
    );
    assert_eq!(
        msg("a:.x"),
        "invalid tag format: \".x\": starts with '.' (must start with a letter, digit or '_')"
    );
    assert_eq!(
        msg("a@sha256:abc"),
        "invalid digest format: invalid sha256 digest length: expected 64 hex characters, got 3"
    );
    assert_eq!(msg("a@"), "invalid digest format: the digest is empty");
    // Untrusted input is quoted shortened.
    let long = msg(&format!("{}$", "a".repeat(500)));
    assert!(long.len() < 300, "{long}");
    assert!(long.contains('…'), "{long}");
}

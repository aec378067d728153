//! Parsing and validating digest strings: every rule, with its reason.

use berth_digest::{Algorithm, Digest, DigestError};
use proptest::prelude::*;

const EMPTY256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[test]
fn valid_digests() {
    let sha512 = "a".repeat(128);
    let sha384 = "0".repeat(96);
    for (s, alg) in [
        (format!("sha256:{EMPTY256}"), Algorithm::Sha256),
        (format!("sha384:{sha384}"), Algorithm::Sha384),
        (format!("sha512:{sha512}"), Algorithm::Sha512),
    ] {
        let d = Digest::parse(&s).unwrap();
        assert_eq!(d.algorithm(), alg);
        assert_eq!(d.as_str(), s);
        assert_eq!(d.to_string(), s);
        assert_eq!(d.encoded(), &s[7..]);
        assert_eq!(d, s.as_str());
        assert_eq!(Digest::try_from(s.clone()).unwrap(), d);
    }
}

#[test]
fn malformed_digests_say_why() {
    use DigestError::*;
    let cases: Vec<(String, DigestError)> = vec![
        (String::new(), Empty),
        (
            EMPTY256.into(),
            MissingSeparator {
                input: EMPTY256.into(),
            },
        ),
        (
            format!(":{EMPTY256}"),
            InvalidAlgorithm {
                algorithm: String::new(),
            },
        ),
        (
            format!("SHA256:{EMPTY256}"),
            InvalidAlgorithm {
                algorithm: "SHA256".into(),
            },
        ),
        (
            format!("sha256+:{EMPTY256}"),
            InvalidAlgorithm {
                algorithm: "sha256+".into(),
            },
        ),
        (
            format!("md5:{EMPTY256}"),
            UnsupportedAlgorithm {
                algorithm: "md5".into(),
            },
        ),
        (
            format!("sha256+b64u:{EMPTY256}"),
            UnsupportedAlgorithm {
                algorithm: "sha256+b64u".into(),
            },
        ),
        (
            "sha256:".into(),
            InvalidLength {
                algorithm: Algorithm::Sha256,
                expected: 64,
                actual: 0,
            },
        ),
        (
            "sha256:abc".into(),
            InvalidLength {
                algorithm: Algorithm::Sha256,
                expected: 64,
                actual: 3,
            },
        ),
        (
            format!("sha256:{EMPTY256}0"),
            InvalidLength {
                algorithm: Algorithm::Sha256,
                expected: 64,
                actual: 65,
            },
        ),
        (
            format!("sha512:{EMPTY256}"),
            InvalidLength {
                algorithm: Algorithm::Sha512,
                expected: 128,
                actual: 64,
            },
        ),
        (
            format!("sha256:{}", EMPTY256.to_uppercase()),
            InvalidEncoding {
                algorithm: Algorithm::Sha256,
                character: 'E',
                offset: 0,
            },
        ),
        (
            format!("sha256:{}g", &EMPTY256[..63]),
            InvalidEncoding {
                algorithm: Algorithm::Sha256,
                character: 'g',
                offset: 63,
            },
        ),
        (
            format!("sha256:{}:", &EMPTY256[..63]),
            InvalidEncoding {
                algorithm: Algorithm::Sha256,
                character: ':',
                offset: 63,
            },
        ),
        (
            format!("sha256:{}é", &EMPTY256[..62]),
            InvalidEncoding {
                algorithm: Algorithm::Sha256,
                character: 'é',
                offset: 62,
            },
        ),
        (
            format!("sha256: {}", &EMPTY256[1..]),
            InvalidEncoding {
                algorithm: Algorithm::Sha256,
                character: ' ',
                offset: 0,
            },
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(
            Digest::parse(&input).unwrap_err(),
            expected,
            "input {input:?}"
        );
    }
}

#[test]
fn messages_name_the_bad_part() {
    let msg = |s: &str| Digest::parse(s).unwrap_err().to_string();
    assert_eq!(
        msg("sha256:xyz"),
        "invalid sha256 digest: character 'x' at offset 0 of the encoded value is not lowercase hex"
    );
    assert_eq!(
        msg("md5:00"),
        "unsupported digest algorithm \"md5\": supported are sha256, sha384 and sha512"
    );
    assert_eq!(
        msg("nocolon"),
        "invalid digest format: \"nocolon\" has no ':' between algorithm and encoded value"
    );
    // Huge inputs are quoted shortened, never whole.
    let huge = "x".repeat(100_000);
    assert!(msg(&huge).len() < 200);
}

#[test]
fn ordering_equality_and_hashing_follow_the_string() {
    use std::collections::HashSet;
    let a = Digest::sha256(b"a");
    let b = Digest::sha256(b"b");
    assert_eq!(a.cmp(&b), a.as_str().cmp(b.as_str()));
    let set: HashSet<Digest> = [a.clone(), b.clone(), a.clone()].into_iter().collect();
    assert_eq!(set.len(), 2);
    assert!(set.contains(a.as_str()));
}

#[test]
fn serde_as_string() {
    let d = Digest::sha256(b"");
    let json = serde_json::to_string(&d).unwrap();
    assert_eq!(json, format!("\"sha256:{EMPTY256}\""));
    assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
    let err = serde_json::from_str::<Digest>("\"sha256:abc\"").unwrap_err();
    assert!(
        err.to_string()
            .contains("expected 64 hex characters, got 3"),
        "{err}"
    );
    assert_eq!(
        serde_json::to_string(&Algorithm::Sha512).unwrap(),
        "\"sha512\""
    );
    assert_eq!(
        serde_json::from_str::<Algorithm>("\"sha384\"").unwrap(),
        Algorithm::Sha384
    );
}

proptest! {
    #[test]
    fn parse_never_panics(s in ".*") {
        let _ = Digest::parse(&s);
    }

    #[test]
    fn parse_never_panics_near_valid(alg in "(sha256|sha512|sha384|[a-z0-9+._-]{0,8})",
                                     hex in "[0-9a-fA-F:é]{0,140}") {
        let s = format!("{alg}:{hex}");
        if let Ok(d) = Digest::parse(&s) {
            prop_assert_eq!(d.as_str(), s.as_str());
            prop_assert_eq!(d.encoded().len(), d.algorithm().hex_len());
        }
    }

    #[test]
    fn display_round_trips(raw in proptest::collection::vec(any::<u8>(), 64),
                           alg in prop::sample::select(Algorithm::ALL.to_vec())) {
        let d = Digest::from_raw(alg, &raw[..alg.size()]).unwrap();
        let text = format!("{d}");
        prop_assert_eq!(Digest::parse(&text).unwrap(), d.clone());
        prop_assert_eq!(d.to_raw(), raw[..alg.size()].to_vec());
    }
}

//! Saving and restoring the digester's state.

use berth_digest::{Algorithm, Digester, StateError};
use proptest::prelude::*;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 7 + 3) % 256) as u8).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// States that Go's `MarshalBinary` wrote after hashing `pattern(200)`
/// (Go 1.19 `crypto/sha256` and `crypto/sha512`), which is what
/// Distribution stores under `_uploads/<id>/hashstates/`.
const GO_SHA256: &str = "7368610354ac04f9009ded19e7537c8f986d5e428b33e710563b63548ddaa0ad8fcf15ba434a51585f666d74000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000c8";
const GO_SHA384: &str = "736861049e2693784f783a5db184c2f90884852709208558d0e68bbf7f855ced953b583f7f2895bf7e3bf07ad7de4d9f591703174385c777f3fc104fb2422c23bc29f6c9838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d74000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000c8";
const GO_SHA512: &str = "7368610796a86b5c40ba44cd212db43934134ab6a115683b2c48d6a4d0700675e841e8182def191d24927d3be900f80af8ce3f9d80206ad24b8615b76a27b339440dc33b838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d74000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000c8";

#[test]
fn saved_state_is_byte_identical_to_go() {
    for (alg, go) in [
        (Algorithm::Sha256, GO_SHA256),
        (Algorithm::Sha384, GO_SHA384),
        (Algorithm::Sha512, GO_SHA512),
    ] {
        let mut d = Digester::new(alg);
        d.update(&pattern(200));
        assert_eq!(d.save_state(), unhex(go), "{alg}");
    }
}

#[test]
fn go_state_resumes_to_the_right_digest() {
    let whole = pattern(1000);
    for (alg, go) in [
        (Algorithm::Sha256, GO_SHA256),
        (Algorithm::Sha384, GO_SHA384),
        (Algorithm::Sha512, GO_SHA512),
    ] {
        let mut d = Digester::restore(&unhex(go)).unwrap();
        assert_eq!(d.algorithm(), alg);
        assert_eq!(d.offset(), 200);
        d.update(&whole[200..]);
        assert_eq!(d.finish(), alg.digest(&whole), "{alg}");
    }
}

#[test]
fn state_sizes() {
    assert_eq!(Digester::new(Algorithm::Sha256).save_state().len(), 108);
    assert_eq!(Digester::new(Algorithm::Sha384).save_state().len(), 204);
    assert_eq!(Digester::new(Algorithm::Sha512).save_state().len(), 204);
}

/// Every split point of a 1 KiB input, for every algorithm, and a chain of
/// saves: save, restore, hash a little, save again.
#[test]
fn save_and_restore_at_every_split_point() {
    let data = pattern(1024);
    for alg in Algorithm::ALL {
        let expected = alg.digest(&data);
        for split in 0..=data.len() {
            let mut first = Digester::new(alg);
            first.update(&data[..split]);
            let mut resumed = Digester::restore(&first.save_state()).unwrap();
            assert_eq!(resumed.offset(), split as u64);
            resumed.update(&data[split..]);
            assert_eq!(resumed.finish(), expected, "{alg} split at {split}");
        }
        let mut d = Digester::new(alg);
        for piece in data.chunks(37) {
            d = Digester::restore(&d.save_state()).unwrap();
            d.update(piece);
        }
        assert_eq!(d.finish(), expected, "{alg} chained");
    }
}

#[test]
fn restore_checks_algorithm() {
    let saved = Digester::new(Algorithm::Sha512).save_state();
    assert_eq!(
        Digester::restore_as(Algorithm::Sha256, &saved).unwrap_err(),
        StateError::AlgorithmMismatch {
            expected: Algorithm::Sha256,
            actual: Algorithm::Sha512
        }
    );
    assert!(Digester::restore_as(Algorithm::Sha512, &saved).is_ok());
}

#[test]
fn corrupt_states_are_rejected() {
    let saved = Digester::new(Algorithm::Sha256).save_state();
    assert_eq!(
        Digester::restore(&[]).unwrap_err(),
        StateError::UnknownMagic
    );
    assert_eq!(
        Digester::restore(b"sha").unwrap_err(),
        StateError::UnknownMagic
    );
    assert_eq!(
        Digester::restore(b"md5\x01xxxx").unwrap_err(),
        StateError::UnknownMagic
    );
    // sha224's magic in Go: a real state, but not an algorithm we register.
    let mut sha224 = saved.clone();
    sha224[3] = 2;
    assert_eq!(
        Digester::restore(&sha224).unwrap_err(),
        StateError::UnknownMagic
    );
    assert_eq!(
        Digester::restore(&saved[..107]).unwrap_err(),
        StateError::InvalidSize {
            algorithm: Algorithm::Sha256,
            expected: 108,
            actual: 107
        }
    );
    let mut long = saved.clone();
    long.push(0);
    assert!(matches!(
        Digester::restore(&long),
        Err(StateError::InvalidSize { actual: 109, .. })
    ));
    assert_eq!(
        Digester::restore(&saved[..108]).unwrap().finish(),
        Algorithm::Sha256.digest(b"")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Arbitrary data, arbitrary split points, arbitrary algorithm.
    #[test]
    fn any_split_resumes(data in proptest::collection::vec(any::<u8>(), 0..3000),
                         cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..5),
                         alg in prop::sample::select(Algorithm::ALL.to_vec())) {
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
        cuts.sort_unstable();
        let mut d = Digester::new(alg);
        let mut at = 0;
        for cut in cuts {
            d.update(&data[at..cut]);
            d = Digester::restore(&d.save_state()).unwrap();
            at = cut;
        }
        d.update(&data[at..]);
        prop_assert_eq!(d.finish(), alg.digest(&data));
    }

    /// Arbitrary bytes as a saved state never panic.
    #[test]
    fn arbitrary_state_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Digester::restore(&bytes);
    }
}

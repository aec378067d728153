//! Known-answer tests for every algorithm, through every way of hashing.

use std::io::Write;

use berth_digest::{Algorithm, Digest, Digester};

/// (algorithm, input, expected hex) — the values `sha256sum`, `sha384sum`
/// and `sha512sum` print for the same inputs.
fn vectors() -> Vec<(Algorithm, Vec<u8>, &'static str)> {
    let zeros = vec![0u8; 1 << 20];
    let two_blocks = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".to_vec();
    vec![
        (
            Algorithm::Sha256,
            vec![],
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (
            Algorithm::Sha256,
            b"abc".to_vec(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            Algorithm::Sha256,
            zeros.clone(),
            "30e14955ebf1352266dc2ff8067e68104607e750abb9d3b36582b8af909fcb58",
        ),
        (
            Algorithm::Sha256,
            two_blocks.clone(),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        ),
        (
            Algorithm::Sha384,
            vec![],
            "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b",
        ),
        (
            Algorithm::Sha384,
            b"abc".to_vec(),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
        ),
        (
            Algorithm::Sha384,
            zeros.clone(),
            "3164673a8ac27576ab5fc06b9adc4ce0aca5bd3025384b1cf2128a8795e747c431e882785a0bf8dc70b42995db388575",
        ),
        (
            Algorithm::Sha384,
            two_blocks.clone(),
            "3391fdddfc8dc7393707a65b1b4709397cf8b1d162af05abfe8f450de5f36bc6b0455a8520bc4e6f5fe95b1fe3c8452b",
        ),
        (
            Algorithm::Sha512,
            vec![],
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
        ),
        (
            Algorithm::Sha512,
            b"abc".to_vec(),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
        (
            Algorithm::Sha512,
            zeros,
            "d6292685b380e338e025b3415a90fe8f9d39a46e7bdba8cb78c50a338cefca741f69e4e46411c32de1afdedfb268e579a51f81ff85e56f55b0ee7c33fe8c25c9",
        ),
        (
            Algorithm::Sha512,
            two_blocks,
            "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c33596fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445",
        ),
    ]
}

#[test]
fn one_shot() {
    for (alg, input, hex) in vectors() {
        let d = alg.digest(&input);
        assert_eq!(d.encoded(), hex, "{alg} of {} bytes", input.len());
        assert_eq!(d.as_str(), format!("{alg}:{hex}"));
        assert_eq!(d.algorithm(), alg);
    }
}

#[test]
fn byte_at_a_time_and_odd_chunks() {
    for (alg, input, hex) in vectors() {
        let input = &input[..input.len().min(4096)];
        let expected = alg.digest(input);
        for chunk in [1, 3, 63, 64, 65, 127, 128, 129, 1000] {
            let mut d = Digester::new(alg);
            for piece in input.chunks(chunk) {
                d.update(piece);
            }
            assert_eq!(d.offset(), input.len() as u64);
            assert_eq!(d.finish(), expected, "{alg} chunk {chunk}");
        }
        if input.len() < 4096 {
            assert_eq!(expected.encoded(), hex);
        }
    }
}

#[test]
fn io_write() {
    let mut d = Digester::new(Algorithm::Sha256);
    d.write_all(b"ab").unwrap();
    write!(d, "c").unwrap();
    assert_eq!(d.finish(), Digest::sha256(b"abc"));
}

#[test]
fn current_does_not_consume() {
    let mut d = Digester::default();
    d.update(b"ab");
    assert_eq!(d.current(), Digest::sha256(b"ab"));
    d.update(b"c");
    assert_eq!(d.current(), Digest::sha256(b"abc"));
    assert_eq!(d.finish(), Digest::sha256(b"abc"));
}

/// Lengths around every padding boundary: the length field must spill into
/// a second block exactly when it no longer fits in the first.
#[test]
fn padding_boundaries_agree_with_chunked_hashing() {
    let data: Vec<u8> = (0..600u32).map(|i| (i * 31 % 251) as u8).collect();
    for alg in Algorithm::ALL {
        for len in 0..data.len() {
            let one = alg.digest(&data[..len]);
            let mut split = Digester::new(alg);
            let (a, b) = data[..len].split_at(len / 3);
            split.update(a);
            split.update(b);
            assert_eq!(split.finish(), one, "{alg} len {len}");
        }
    }
}

#[test]
fn verifier_accepts_and_rejects() {
    let expected = Digest::sha256(b"payload");
    let mut v = expected.verifier();
    v.update(b"pay");
    assert!(!v.verified());
    v.update(b"load");
    assert!(v.verified());
    assert_eq!(v.offset(), 7);
    assert_eq!(v.finish(), Ok(expected.clone()));

    let mut v = expected.verifier();
    v.write_all(b"tampered").unwrap();
    let err = v.finish().unwrap_err();
    assert_eq!(err.expected, expected);
    assert_eq!(err.actual, Digest::sha256(b"tampered"));
    assert_eq!(
        err.to_string(),
        format!(
            "digest mismatch: expected {expected}, computed {}",
            Digest::sha256(b"tampered")
        )
    );
}

#[test]
fn verifier_uses_the_expected_algorithm() {
    let expected = Algorithm::Sha512.digest(b"x");
    let mut v = expected.verifier();
    v.update(b"x");
    assert!(v.verified());
    assert_eq!(v.expected(), &expected);
}

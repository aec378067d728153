//! The streaming digester, its saved state, and the verifier.
//!
//! The hashing itself is `sha2`'s block compression, which picks the CPU's
//! SHA extensions (x86 SHA-NI, ARMv8 SHA2) at run time. This module only
//! buffers partial blocks, pads, and saves or restores the running state.
//!
//! # Saved state format
//!
//! [`Digester::save_state`] writes exactly what Go's `crypto/sha256` and
//! `crypto/sha512` write from `MarshalBinary`, which is what Distribution
//! stores under `_uploads/<id>/hashstates/<alg>/<offset>`. So an upload
//! started by Distribution can be finished by berth and the reverse. All
//! integers are big-endian:
//!
//! | field | sha256 | sha384 / sha512 |
//! |---|---|---|
//! | magic | `"sha\x03"` | `"sha\x04"` / `"sha\x07"` |
//! | chaining state | 8 × u32 | 8 × u64 |
//! | pending block | 64 bytes | 128 bytes |
//! | bytes hashed so far | u64 | u64 |
//! | **total** | **108 bytes** | **204 bytes** |
//!
//! The pending block holds the `length % block` bytes not yet compressed,
//! followed by zeros. This format is stable: berth will always read it.

use std::fmt;
use std::io;

use crate::error::StateError;
use crate::{Algorithm, Digest};

const MAGIC_SHA256: &[u8; 4] = b"sha\x03";
const MAGIC_SHA384: &[u8; 4] = b"sha\x04";
const MAGIC_SHA512: &[u8; 4] = b"sha\x07";

const IV_SHA256: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];
const IV_SHA384: [u64; 8] = [
    0xcbbb9d5dc1059ed8,
    0x629a292a367cd507,
    0x9159015a3070dd17,
    0x152fecd8f70e5939,
    0x67332667ffc00b31,
    0x8eb44a8768581511,
    0xdb0c2e0d64f98fa7,
    0x47b5481dbefa4fa4,
];
const IV_SHA512: [u64; 8] = [
    0x6a09e667f3bcc908,
    0xbb67ae8584caa73b,
    0x3c6ef372fe94f82b,
    0xa54ff53a5f1d36f1,
    0x510e527fade682d1,
    0x9b05688c2b3e6c1f,
    0x1f83d9abfb41bd6b,
    0x5be0cd19137e2179,
];

/// One SHA-2 compression function: its block size, chaining words and the
/// width of the length field in the final padding.
trait Compression {
    /// Block size in bytes.
    const BLOCK: usize;
    /// Width of the message-length field that ends the padding, in bytes.
    const LENGTH_FIELD: usize;
    /// The chaining state.
    type Words: Copy;

    /// Compresses `blocks`, whose length is a multiple of `BLOCK`.
    fn compress(words: &mut Self::Words, blocks: &[u8]);
    /// Appends the words big-endian.
    fn put_words(words: &Self::Words, out: &mut Vec<u8>);
    /// Reads the words big-endian from exactly their encoded size.
    fn get_words(bytes: &[u8]) -> Self::Words;
}

struct Sha256Core;
struct Sha512Core;

impl Compression for Sha256Core {
    const BLOCK: usize = 64;
    const LENGTH_FIELD: usize = 8;
    type Words = [u32; 8];

    fn compress(words: &mut [u32; 8], blocks: &[u8]) {
        let (blocks, rest) = blocks.as_chunks::<64>();
        debug_assert!(rest.is_empty());
        sha2::block_api::compress256(words, blocks);
    }

    fn put_words(words: &[u32; 8], out: &mut Vec<u8>) {
        for w in words {
            out.extend_from_slice(&w.to_be_bytes());
        }
    }

    fn get_words(bytes: &[u8]) -> [u32; 8] {
        let mut words = [0u32; 8];
        for (w, chunk) in words.iter_mut().zip(bytes.chunks_exact(4)) {
            *w = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        words
    }
}

impl Compression for Sha512Core {
    const BLOCK: usize = 128;
    const LENGTH_FIELD: usize = 16;
    type Words = [u64; 8];

    fn compress(words: &mut [u64; 8], blocks: &[u8]) {
        let (blocks, rest) = blocks.as_chunks::<128>();
        debug_assert!(rest.is_empty());
        sha2::block_api::compress512(words, blocks);
    }

    fn put_words(words: &[u64; 8], out: &mut Vec<u8>) {
        for w in words {
            out.extend_from_slice(&w.to_be_bytes());
        }
    }

    fn get_words(bytes: &[u8]) -> [u64; 8] {
        let mut words = [0u64; 8];
        for (w, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut be = [0u8; 8];
            be.copy_from_slice(chunk);
            *w = u64::from_be_bytes(be);
        }
        words
    }
}

/// A running hash: chaining words, the pending partial block, the length.
struct Running<C: Compression> {
    words: C::Words,
    pending: [u8; 128],
    pending_len: usize,
    length: u64,
}

// Manual impls: deriving would demand `C: Clone`.
impl<C: Compression> Clone for Running<C> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<C: Compression> Copy for Running<C> {}

impl<C: Compression> Running<C> {
    fn new(iv: C::Words) -> Self {
        Running {
            words: iv,
            pending: [0; 128],
            pending_len: 0,
            length: 0,
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        self.length = self.length.wrapping_add(data.len() as u64);
        if self.pending_len > 0 {
            let take = (C::BLOCK - self.pending_len).min(data.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&data[..take]);
            self.pending_len += take;
            data = &data[take..];
            if self.pending_len < C::BLOCK {
                return;
            }
            C::compress(&mut self.words, &self.pending[..C::BLOCK]);
            self.pending_len = 0;
        }
        let whole = data.len() - data.len() % C::BLOCK;
        if whole > 0 {
            C::compress(&mut self.words, &data[..whole]);
        }
        let rest = &data[whole..];
        self.pending[..rest.len()].copy_from_slice(rest);
        self.pending_len = rest.len();
    }

    /// Pads and compresses the final block(s); returns the chaining words.
    fn finish(mut self) -> C::Words {
        let bits = u128::from(self.length) * 8;
        let mut tail = [0u8; 256];
        tail[..self.pending_len].copy_from_slice(&self.pending[..self.pending_len]);
        tail[self.pending_len] = 0x80;
        let tail_len = if self.pending_len + 1 + C::LENGTH_FIELD <= C::BLOCK {
            C::BLOCK
        } else {
            2 * C::BLOCK
        };
        let be = bits.to_be_bytes();
        tail[tail_len - C::LENGTH_FIELD..tail_len].copy_from_slice(&be[16 - C::LENGTH_FIELD..]);
        C::compress(&mut self.words, &tail[..tail_len]);
        self.words
    }

    fn save(&self, magic: &[u8; 4], out: &mut Vec<u8>) {
        out.extend_from_slice(magic);
        C::put_words(&self.words, out);
        out.extend_from_slice(&self.pending[..self.pending_len]);
        out.resize(out.len() + C::BLOCK - self.pending_len, 0);
        out.extend_from_slice(&self.length.to_be_bytes());
    }

    /// The size of a saved state, magic included.
    const fn saved_size() -> usize {
        4 + 8 * (C::LENGTH_FIELD / 2) + C::BLOCK + 8
    }

    /// Restores from a saved state whose size the caller has checked.
    fn restore(saved: &[u8]) -> Self {
        let words_end = 4 + 8 * (C::LENGTH_FIELD / 2);
        let block_end = words_end + C::BLOCK;
        let mut length = [0u8; 8];
        length.copy_from_slice(&saved[block_end..block_end + 8]);
        let length = u64::from_be_bytes(length);
        let mut pending = [0u8; 128];
        pending[..C::BLOCK].copy_from_slice(&saved[words_end..block_end]);
        Running {
            words: C::get_words(&saved[4..words_end]),
            pending,
            pending_len: (length % C::BLOCK as u64) as usize,
            length,
        }
    }
}

#[derive(Clone, Copy)]
enum Engine {
    Sha256(Running<Sha256Core>),
    Sha384(Running<Sha512Core>),
    Sha512(Running<Sha512Core>),
}

/// A streaming digester whose state can be saved and restored.
///
/// Feed it bytes with [`update`](Digester::update) (or through
/// [`std::io::Write`]), read the result with [`finish`](Digester::finish) or
/// peek at the digest so far with [`current`](Digester::current). At any
/// point [`save_state`](Digester::save_state) gives bytes from which
/// [`Digester::restore`] continues where it stopped, in another process or
/// on another machine (see the [module docs](self) for the format).
///
/// ```
/// use berth_digest::{Algorithm, Digester};
///
/// let mut first = Digester::new(Algorithm::Sha256);
/// first.update(b"hello, ");
/// let saved = first.save_state();
///
/// let mut resumed = Digester::restore(&saved).unwrap();
/// resumed.update(b"world");
/// assert_eq!(resumed.offset(), 12);
/// assert_eq!(
///     resumed.finish(),
///     Algorithm::Sha256.digest(b"hello, world"),
/// );
/// ```
#[derive(Clone, Copy)]
pub struct Digester {
    engine: Engine,
}

impl Digester {
    /// A fresh digester for `algorithm`.
    pub fn new(algorithm: Algorithm) -> Digester {
        let engine = match algorithm {
            Algorithm::Sha256 => Engine::Sha256(Running::new(IV_SHA256)),
            Algorithm::Sha384 => Engine::Sha384(Running::new(IV_SHA384)),
            Algorithm::Sha512 => Engine::Sha512(Running::new(IV_SHA512)),
        };
        Digester { engine }
    }

    /// The algorithm this digester computes.
    pub fn algorithm(&self) -> Algorithm {
        match self.engine {
            Engine::Sha256(_) => Algorithm::Sha256,
            Engine::Sha384(_) => Algorithm::Sha384,
            Engine::Sha512(_) => Algorithm::Sha512,
        }
    }

    /// Hashes `data`.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.engine {
            Engine::Sha256(r) => r.update(data),
            Engine::Sha384(r) | Engine::Sha512(r) => r.update(data),
        }
    }

    /// How many bytes have been hashed so far (modulo 2^64).
    pub fn offset(&self) -> u64 {
        match &self.engine {
            Engine::Sha256(r) => r.length,
            Engine::Sha384(r) | Engine::Sha512(r) => r.length,
        }
    }

    /// The digest of everything hashed.
    pub fn finish(self) -> Digest {
        let mut raw = Vec::with_capacity(64);
        match self.engine {
            Engine::Sha256(r) => r.finish().iter().for_each(|w| raw.extend(w.to_be_bytes())),
            Engine::Sha384(r) | Engine::Sha512(r) => {
                r.finish().iter().for_each(|w| raw.extend(w.to_be_bytes()))
            }
        }
        let algorithm = self.algorithm();
        raw.truncate(algorithm.size());
        Digest::encode(algorithm, &raw)
    }

    /// The digest of everything hashed so far, leaving the digester usable.
    pub fn current(&self) -> Digest {
        self.finish()
    }

    /// The running state as bytes, in the format of the [module docs](self).
    pub fn save_state(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(204);
        match &self.engine {
            Engine::Sha256(r) => r.save(MAGIC_SHA256, &mut out),
            Engine::Sha384(r) => r.save(MAGIC_SHA384, &mut out),
            Engine::Sha512(r) => r.save(MAGIC_SHA512, &mut out),
        }
        out
    }

    /// Continues from a state saved by [`save_state`](Digester::save_state)
    /// (or by Go's `MarshalBinary` for sha256, sha384 and sha512).
    pub fn restore(saved: &[u8]) -> Result<Digester, StateError> {
        let (algorithm, expected) = match saved.get(..4) {
            Some(m) if m == MAGIC_SHA256 => {
                (Algorithm::Sha256, Running::<Sha256Core>::saved_size())
            }
            Some(m) if m == MAGIC_SHA384 => {
                (Algorithm::Sha384, Running::<Sha512Core>::saved_size())
            }
            Some(m) if m == MAGIC_SHA512 => {
                (Algorithm::Sha512, Running::<Sha512Core>::saved_size())
            }
            _ => return Err(StateError::UnknownMagic),
        };
        if saved.len() != expected {
            return Err(StateError::InvalidSize {
                algorithm,
                expected,
                actual: saved.len(),
            });
        }
        let engine = match algorithm {
            Algorithm::Sha256 => Engine::Sha256(Running::restore(saved)),
            Algorithm::Sha384 => Engine::Sha384(Running::restore(saved)),
            Algorithm::Sha512 => Engine::Sha512(Running::restore(saved)),
        };
        Ok(Digester { engine })
    }

    /// Like [`restore`](Digester::restore), but the state must be for
    /// `algorithm`.
    pub fn restore_as(algorithm: Algorithm, saved: &[u8]) -> Result<Digester, StateError> {
        let digester = Digester::restore(saved)?;
        if digester.algorithm() != algorithm {
            return Err(StateError::AlgorithmMismatch {
                expected: algorithm,
                actual: digester.algorithm(),
            });
        }
        Ok(digester)
    }
}

impl Default for Digester {
    /// A digester for the canonical algorithm (sha256).
    fn default() -> Self {
        Digester::new(Algorithm::CANONICAL)
    }
}

impl fmt::Debug for Digester {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Digester")
            .field("algorithm", &self.algorithm())
            .field("offset", &self.offset())
            .finish()
    }
}

impl io::Write for Digester {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The digest computed from a stream differs from the one expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("digest mismatch: expected {expected}, computed {actual}")]
pub struct DigestMismatch {
    /// The digest the stream was expected to have.
    pub expected: Digest,
    /// The digest the stream has.
    pub actual: Digest,
}

/// Tells whether streamed bytes have an expected digest.
///
/// ```
/// use berth_digest::Digest;
///
/// let expected = Digest::sha256(b"layer bytes");
/// let mut verifier = expected.verifier();
/// verifier.update(b"layer ");
/// verifier.update(b"bytes");
/// assert!(verifier.verified());
/// assert!(verifier.finish().is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct Verifier {
    expected: Digest,
    digester: Digester,
}

impl Verifier {
    /// A verifier for `expected`, hashing with its algorithm.
    pub fn new(expected: Digest) -> Verifier {
        Verifier {
            digester: Digester::new(expected.algorithm()),
            expected,
        }
    }

    /// Hashes more of the stream.
    pub fn update(&mut self, data: &[u8]) {
        self.digester.update(data);
    }

    /// How many bytes have been verified so far.
    pub fn offset(&self) -> u64 {
        self.digester.offset()
    }

    /// The digest this verifier expects.
    pub fn expected(&self) -> &Digest {
        &self.expected
    }

    /// Whether the bytes so far have the expected digest.
    pub fn verified(&self) -> bool {
        self.digester.current() == self.expected
    }

    /// Ends the stream: the digest when it matches, else both digests.
    pub fn finish(self) -> Result<Digest, DigestMismatch> {
        let actual = self.digester.finish();
        if actual == self.expected {
            Ok(actual)
        } else {
            Err(DigestMismatch {
                expected: self.expected,
                actual,
            })
        }
    }
}

impl io::Write for Verifier {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

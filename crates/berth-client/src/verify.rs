//! Response bodies as verified streams of `Bytes`.
//!
//! A body is hashed as it streams; when it ends, the length and (for a
//! whole blob) the digest are checked, and a mismatch ends the stream with
//! an error instead of a clean end. A consumer that writes the chunks
//! somewhere and commits only at the end therefore never commits a body
//! that is short, long or not what its digest says.

use berth_core::{ByteStream, Error};
use berth_digest::Verifier;
use bytes::Bytes;
use reqwest::Response;

use crate::error::BodyError;

/// What to check and which part of the body to pass on.
pub(crate) struct Expect {
    /// Bytes the response must carry, when known.
    pub(crate) length: Option<u64>,
    /// The digest the response must have (whole blobs only).
    pub(crate) digest: Option<Verifier>,
    /// Bytes to drop at the start (a registry that ignored `Range`).
    pub(crate) skip: u64,
    /// Bytes to pass on after `skip`, then stop reading (`None`: all).
    pub(crate) take: Option<u64>,
    /// `registry host:port`, for `Unavailable` errors.
    pub(crate) service: String,
}

struct State {
    response: Option<Response>,
    expect: Expect,
    received: u64,
    passed: u64,
}

/// The body of `response` as a stream that checks `expect`.
pub(crate) fn body_stream(response: Response, expect: Expect) -> ByteStream {
    let state = State {
        response: Some(response),
        expect,
        received: 0,
        passed: 0,
    };
    Box::pin(futures_util::stream::unfold(state, next))
}

async fn next(mut state: State) -> Option<(berth_core::Result<Bytes>, State)> {
    loop {
        let response = state.response.as_mut()?;
        match response.chunk().await {
            Ok(Some(chunk)) => {
                state.received += chunk.len() as u64;
                if let Some(length) = state.expect.length
                    && state.received > length
                {
                    state.response = None;
                    let err = Error::unavailable(
                        &state.expect.service,
                        BodyError(format!(
                            "the body is longer than the {length} bytes announced"
                        )),
                    );
                    return Some((Err(err), state));
                }
                if let Some(verifier) = &mut state.expect.digest {
                    verifier.update(&chunk);
                }
                let chunk = state.window(chunk);
                if state.expect.take.is_some_and(|take| state.passed >= take) {
                    // The range is complete; the rest is not wanted.
                    state.response = None;
                    if chunk.is_empty() {
                        return None;
                    }
                }
                if chunk.is_empty() {
                    continue;
                }
                return Some((Ok(chunk), state));
            }
            Ok(None) => {
                state.response = None;
                return state.finish().map(|err| (Err(err), state));
            }
            Err(err) => {
                state.response = None;
                return Some((Err(Error::unavailable(&state.expect.service, err)), state));
            }
        }
    }
}

impl State {
    /// The part of `chunk` after `skip` and within `take`.
    fn window(&mut self, chunk: Bytes) -> Bytes {
        let start_of_chunk = self.received - chunk.len() as u64;
        let from = self.expect.skip.saturating_sub(start_of_chunk);
        let from = usize::try_from(from).unwrap_or(usize::MAX).min(chunk.len());
        let mut piece = chunk.slice(from..);
        if let Some(take) = self.expect.take {
            let room = usize::try_from(take - self.passed.min(take)).unwrap_or(usize::MAX);
            piece.truncate(room);
        }
        self.passed += piece.len() as u64;
        piece
    }

    /// The error a complete body ends with, if any.
    fn finish(&mut self) -> Option<Error> {
        if let Some(length) = self.expect.length
            && self.received < length
        {
            return Some(Error::unavailable(
                &self.expect.service,
                BodyError(format!(
                    "the body ended after {} of the {length} bytes announced",
                    self.received
                )),
            ));
        }
        if let Some(take) = self.expect.take
            && self.passed < take
        {
            return Some(Error::unavailable(
                &self.expect.service,
                BodyError(format!(
                    "the body ended after {} of the {take} bytes asked for",
                    self.passed
                )),
            ));
        }
        let verifier = self.expect.digest.take()?;
        match verifier.finish() {
            Ok(_) => None,
            Err(mismatch) => {
                tracing::warn!(
                    expected = %mismatch.expected,
                    computed = %mismatch.actual,
                    "the registry sent content that does not match its digest"
                );
                Some(Error::DigestMismatch {
                    given: mismatch.expected,
                    computed: mismatch.actual,
                })
            }
        }
    }
}

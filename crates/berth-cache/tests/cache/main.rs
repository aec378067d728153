//! berth-cache's contract and integration tests, in one binary.
//!
//! - `contract`: one function per behaviour of a provider, run against
//!   the in-memory provider (`memory`) and a real Redis (`redis`).
//! - `cached`: the cache-in-front-of-storage wrapper.
//! - `outage`: a Redis server stopped and restarted under the wrapper.
//!
//! Redis tests read `BERTH_TEST_REDIS_URL`; with
//! `BERTH_TEST_REQUIRE_SERVICES=1` they fail when it is missing or Redis
//! does not answer, otherwise they say they were skipped.

#[macro_use]
mod contract;
mod cached;
mod common;
mod memory;
mod outage;
mod redis;

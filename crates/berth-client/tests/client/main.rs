//! berth-client's integration tests, in one binary.
//!
//! Everything runs against real servers on loopback:
//!
//! - `distribution`: Debian's `docker-registry` (Distribution 2.8) for
//!   every operation: uploads of every kind, mounts, ranged reads,
//!   manifests by tag and digest, pagination, referrers, deletes, errors.
//! - `auth`: `docker-registry` with `auth.htpasswd` (a file made by
//!   `htpasswd -B`) and with `auth.token` (a token server here signing
//!   RS256 JWTs with a key and certificate made by `openssl`).
//! - `verify`: a small server that lies (wrong or short bodies).
//! - `retries`: servers that fail, then answer.
//!
//! A test whose program (`docker-registry`, `htpasswd`, `openssl`) is
//! missing is skipped with a message, or fails when
//! `BERTH_TEST_REQUIRE_SERVICES=1`.

mod auth;
mod common;
mod distribution;
mod retries;
mod verify;

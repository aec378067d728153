//! berth-handlers' own tests: the actix-web application through actix's
//! test service over the in-memory driver (no binary, no socket), so a
//! handler change is checked in seconds. Every expectation is what berth
//! answers today; the end-to-end tests (bin/berth/tests) still cover the
//! wiring from a configuration file.

mod auth;
mod base;
mod blobs;
mod common;
mod lists;
mod manifests;
mod uploads;

//! berth-spool's integration tests, in one binary, each in a fresh
//! temporary directory.
//!
//! - `recovery`: restarts, torn and corrupt records, the bound, segment
//!   rotation and the directory lock.
//! - `crash`: an appender killed with SIGKILL loses no acknowledged record.

mod common;
mod crash;
mod recovery;

//! The access controllers against real htpasswd files (made with
//! `htpasswd`), real keys and certificates (made with `openssl`) and
//! JWTs signed in the tests.

mod common;
mod htpasswd;
mod silly;
mod token;

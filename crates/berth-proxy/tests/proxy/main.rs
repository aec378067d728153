//! The pull-through cache against upstreams on loopback: a small fake
//! registry whose pace and failures the tests steer, and Debian's
//! `docker-registry` (Distribution 2.8).

mod common;
mod distribution;
mod expiry;
mod fetch;
mod pull;

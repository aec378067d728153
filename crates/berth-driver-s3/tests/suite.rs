//! The driver test suite of `berth-driver`, unchanged, against the S3
//! server of `BERTH_TEST_S3_*` (a Garage that `scripts/test.sh` starts).
//! Each case gets a fresh root in the bucket, deleted when it ends.
//!
//! Without a configured S3 (and without `BERTH_TEST_REQUIRE_SERVICES=1`,
//! which makes that a failure) each case says it is skipped; the suite's
//! macro has no way to skip a case, so it then runs against the in-memory
//! driver instead, which proves nothing about S3 but costs nothing.

mod common;
#[allow(unused_imports)]
use common::S3EnvExt;

use std::sync::Arc;

use berth_driver::{InMemoryDriver, StorageDriver};

async fn driver() -> (Arc<dyn StorageDriver>, Option<common::Cleanup>) {
    match common::s3_env("driver test suite case") {
        Some(env) => {
            let (driver, cleanup) = env.driver(env.params()).await;
            (Arc::new(driver), Some(cleanup))
        }
        None => (Arc::new(InMemoryDriver::new()), None),
    }
}

berth_driver::driver_test_suite!(driver);

//! The S3 server the tests use, from the environment `scripts/test.sh`
//! sets (`BERTH_TEST_S3_*`), and fresh roots in its bucket.

#![allow(dead_code)]

use berth_driver::StorageDriver;
use berth_driver_s3::{S3Driver, S3Parameters};

pub use berth_testkit::{S3Env, s3_env, unique_root};

/// What the tests do with the test server.
pub trait S3EnvExt {
    /// Parameters for the test server, under a fresh root.
    fn params(&self) -> S3Parameters;
    /// A driver on `params` with a guard that deletes its root at the end.
    async fn driver(&self, params: S3Parameters) -> (S3Driver, Cleanup);
}

impl S3EnvExt for S3Env {
    /// Parameters for the test server, under a fresh root.
    fn params(&self) -> S3Parameters {
        let mut p = S3Parameters::new(self.bucket.clone());
        p.region = Some(self.region.clone());
        p.regionendpoint = Some(self.endpoint.clone());
        p.forcepathstyle = true;
        p.accesskey = Some(self.access_key.clone());
        p.secretkey = Some(self.secret_key.clone());
        p.rootdirectory = Some(unique_root());
        p
    }

    /// A driver on `params` with a guard that deletes its root at the end.
    async fn driver(&self, params: S3Parameters) -> (S3Driver, Cleanup) {
        let driver = S3Driver::new(params.clone())
            .await
            .unwrap_or_else(|e| panic!("S3Driver::new: {e}"));
        (driver, Cleanup { params })
    }
}

/// Deletes a test root (objects and uploads) when dropped.
pub struct Cleanup {
    params: S3Parameters,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // Its own thread and runtime: drop may run inside another runtime,
        // and the driver's connections belong to that one.
        let params = self.params.clone();
        let done = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let driver = S3Driver::new(params).await.ok()?;
                driver.delete("/").await.ok()
            })
        })
        .join();
        if !matches!(done, Ok(Some(()))) {
            eprintln!("warning: could not clean up a test root in S3");
        }
    }
}

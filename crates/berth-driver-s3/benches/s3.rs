//! S3 driver throughput against the S3 server of `BERTH_TEST_S3_*`.
//!
//! `cargo bench -p berth-driver-s3 --bench s3` writes 1 GiB through the
//! driver's writer in 8 MiB writes (default `chunksize`, 10 MiB parts, one
//! part in flight while the next is gathered) and commits it, then reads
//! it back through `reader`; beside it, the same through the bare SDK the
//! plain way (a multipart upload of 8 MiB parts sent one after another,
//! then one `GetObject`), as the store's own baseline. 3 rounds,
//! alternating who goes first; MB/s for each and the ratios of the
//! medians.
//!
//! Without `--bench` (as `cargo test` runs it) it moves 16 MiB once, to
//! prove it works. Without a configured S3 it says it is skipped (and
//! fails when `BERTH_TEST_REQUIRE_SERVICES=1`).

#[path = "../tests/common/mod.rs"]
mod common;
#[allow(unused_imports)]
use common::S3EnvExt;

use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use berth_driver::StorageDriver;
use berth_driver_s3::S3Driver;
use bytes::Bytes;
use futures_util::StreamExt;

const CHUNK: usize = 8 << 20;

fn mbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Deterministic non-repeating data (so no layer can compress it).
fn block(seed: u64) -> Bytes {
    berth_driver::testsuite::pattern(CHUNK, seed)
}

async fn berth_round(driver: &S3Driver, blocks: &[Bytes], path: &str) -> (f64, f64) {
    let total: u64 = blocks.iter().map(|b| b.len() as u64).sum();
    let start = Instant::now();
    let mut w = driver
        .writer(path, false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for b in blocks {
        w.write(b.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    }
    w.commit().await.unwrap_or_else(|e| panic!("{e}"));
    let write = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let mut stream = driver
        .reader(path, 0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut read = 0u64;
    while let Some(chunk) = stream.next().await {
        read += chunk.unwrap_or_else(|e| panic!("{e}")).len() as u64;
    }
    let read_secs = start.elapsed().as_secs_f64();
    assert_eq!(read, total, "read back");
    (mbps(total, write), mbps(total, read_secs))
}

async fn sdk_round(driver: &S3Driver, blocks: &[Bytes], path: &str) -> (f64, f64) {
    let (client, bucket, key) = (driver.client(), driver.bucket(), driver.key(path));
    let total: u64 = blocks.iter().map(|b| b.len() as u64).sum();
    let start = Instant::now();
    let upload = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let id = upload.upload_id().unwrap_or_default().to_owned();
    let mut parts = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        let out = client
            .upload_part()
            .bucket(bucket)
            .key(&key)
            .upload_id(&id)
            .part_number(i as i32 + 1)
            .body(ByteStream::from(b.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        parts.push(
            CompletedPart::builder()
                .part_number(i as i32 + 1)
                .set_e_tag(out.e_tag().map(str::to_owned))
                .build(),
        );
    }
    client
        .complete_multipart_upload()
        .bucket(bucket)
        .key(&key)
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let write = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let mut body = client
        .get_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .body;
    let mut read = 0u64;
    while let Some(chunk) = body.next().await {
        read += chunk.unwrap_or_else(|e| panic!("{e}")).len() as u64;
    }
    let read_secs = start.elapsed().as_secs_f64();
    assert_eq!(read, total, "read back");
    (mbps(total, write), mbps(total, read_secs))
}

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let Some(env) = common::s3_env("s3 benchmark") else {
        return;
    };
    let (chunks, rounds) = if benching { (128, 3) } else { (2, 1) };
    let total = (CHUNK * chunks) as u64;
    println!(
        "s3 driver vs bare SDK: {} MiB in 8 MiB writes, {rounds} round(s), against {}",
        total >> 20,
        env.endpoint
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    runtime.block_on(async {
        let (driver, _cleanup) = env.driver(env.params()).await;
        // A handful of distinct blocks, reused: generating 1 GiB would
        // cost more than sending it.
        let distinct: Vec<Bytes> = (0..8).map(block).collect();
        let blocks: Vec<Bytes> = (0..chunks).map(|i| distinct[i % 8].clone()).collect();

        let mut results: [Vec<f64>; 4] = Default::default();
        for round in 1..=rounds {
            let run_berth = || berth_round(&driver, &blocks, "/bench/berth");
            let run_sdk = || sdk_round(&driver, &blocks, "/bench/sdk");
            let (b, s) = if round % 2 == 1 {
                let b = run_berth().await;
                (b, run_sdk().await)
            } else {
                let s = run_sdk().await;
                (run_berth().await, s)
            };
            println!(
                "round {round}: berth write {:7.1} MB/s  read {:7.1} MB/s | sdk write {:7.1} MB/s  read {:7.1} MB/s",
                b.0, b.1, s.0, s.1
            );
            for (v, x) in results.iter_mut().zip([b.0, b.1, s.0, s.1]) {
                v.push(x);
            }
        }
        let [bw, br, sw, sr] = &mut results;
        let (bw, br, sw, sr) = (median(bw), median(br), median(sw), median(sr));
        println!(
            "median: berth write {bw:.1} MB/s, read {br:.1} MB/s; sdk write {sw:.1} MB/s, read {sr:.1} MB/s; \
             berth/sdk: write {:.2}, read {:.2}",
            bw / sw,
            br / sr
        );
    });
}

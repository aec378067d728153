//! Filesystem driver throughput against `dd` on the same disk, in one run.
//!
//! `cargo bench -p berth-driver --bench filesystem` writes 1 GiB through
//! `FilesystemDriver`'s writer in 8 MiB writes and commits it (which syncs
//! the data), reads it back through `reader`, and runs
//! `dd if=/dev/zero of=FILE bs=8M count=128 conv=fdatasync` and
//! `dd if=FILE of=/dev/null bs=8M` in the same directory, alternating for 3
//! rounds (berth first in odd rounds, dd first in even ones); it prints
//! MB/s for each and the ratios of the medians.
//!
//! The directory is `BERTH_BENCH_DIR` if set, else a temporary directory
//! under Cargo's target directory. Caches cannot be dropped here, so both
//! reads (each right after its write) are most likely served from the page
//! cache: they measure the read path's overhead, not the disk.
//!
//! One untimed pass of each comes first: on these machines the first large
//! write after a quiet spell runs at a fraction of the disk's speed,
//! whichever program does it.
//!
//! Without `--bench` (as `cargo test` runs it) it moves 16 MiB once, to
//! prove it works.

use std::time::Instant;

use berth_driver::{FilesystemDriver, StorageDriver};
use berth_testkit::bench::{benching, dd_read, dd_write, median};
use bytes::Bytes;
use futures_util::StreamExt;

const CHUNK: usize = 8 << 20;

fn main() {
    let (chunks, rounds) = if benching() { (128, 3) } else { (2, 1) };
    let total = (CHUNK * chunks) as u64;

    let (dir, _guard) = berth_testkit::bench::bench_dir(env!("CARGO_TARGET_TMPDIR"));
    println!(
        "filesystem driver vs dd: {} MiB in 8 MiB blocks, {rounds} round(s), in {}",
        total >> 20,
        dir.display()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let driver = FilesystemDriver::new(dir.join("berth-root"));
    let dd_file = dir.join("dd.bin");

    if benching() {
        // The first large write after a quiet spell runs at a fraction of
        // the disk's speed (the kernel's write-back estimate starts low),
        // whoever does it: one untimed pass of each first.
        runtime.block_on(berth_round(&driver, chunks));
        dd_write(&dd_file, chunks);
        dd_read(&dd_file);
        let _ = std::fs::remove_file(&dd_file);
    }

    let mut results: [Vec<f64>; 4] = Default::default();
    for round in 1..=rounds {
        // Who goes first alternates, so neither always meets a disk the
        // other just filled.
        let dd_round = || {
            let times = (dd_write(&dd_file, chunks), dd_read(&dd_file));
            let _ = std::fs::remove_file(&dd_file);
            times
        };
        let ((w, r), (dd_w, dd_r)) = if round % 2 == 1 {
            let berth = runtime.block_on(berth_round(&driver, chunks));
            (berth, dd_round())
        } else {
            let dd = dd_round();
            (runtime.block_on(berth_round(&driver, chunks)), dd)
        };
        let mbps = |secs: f64| total as f64 / 1e6 / secs;
        let row = [Some(w), Some(r), dd_w, dd_r].map(|s| s.map(mbps));
        println!(
            "round {round}: berth write {:>7.0} MB/s  dd write {:>7}  |  berth read {:>7.0} MB/s  dd read {:>7}",
            row[0].unwrap_or(0.0),
            show(row[2]),
            row[1].unwrap_or(0.0),
            show(row[3]),
        );
        for (i, v) in row.into_iter().enumerate() {
            if let Some(v) = v {
                results[i].push(v);
            }
        }
    }

    let [bw, br, dw, dr] = results.map(median);
    println!(
        "median: berth write {:.0} MB/s, dd write {}",
        bw.unwrap_or(0.0),
        show(dw)
    );
    println!(
        "median: berth read  {:.0} MB/s, dd read  {}",
        br.unwrap_or(0.0),
        show(dr)
    );
    if let (Some(bw), Some(dw), Some(br), Some(dr)) = (bw, dw, br, dr) {
        println!(
            "ratio berth/dd: write {:.2}, read {:.2} (reads likely from the page cache for both)",
            bw / dw,
            br / dr
        );
    } else {
        println!("dd was not available: no ratios");
    }
}

/// One write (to commit) and one read through the driver, in seconds.
async fn berth_round(driver: &FilesystemDriver, chunks: usize) -> (f64, f64) {
    let block = Bytes::from(
        (0..CHUNK)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761) as u8)
            .collect::<Vec<u8>>(),
    );
    let path = "/docker/registry/v2/blobs/sha256/be/bench/data";

    let start = Instant::now();
    let mut w = driver
        .writer(path, false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..chunks {
        w.write(block.clone())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
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
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(read, (CHUNK * chunks) as u64, "read everything back");
    driver
        .delete("/docker")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (write, elapsed)
}

fn show(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.0} MB/s"))
}

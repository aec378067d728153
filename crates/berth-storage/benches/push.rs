//! A local push against its two ceilings, in one run.
//!
//! `cargo bench -p berth-storage --bench push` uploads 1 GiB through
//! berth-storage on the filesystem driver in 8 MiB chunks (create, write,
//! commit: hashing, the data write and its sync, the move into `blobs/`, the
//! link), and in the same run times the two things such a push cannot beat:
//! `dd if=/dev/zero bs=8M count=128 conv=fdatasync` to the same disk, and
//! the digester alone over the same chunks. Three rounds, alternating;
//! prints MB/s of each, and the upload's share of the slower ceiling.
//!
//! The directory is `BERTH_BENCH_DIR` if set, else a temporary directory
//! under Cargo's target directory. Without `--bench` (as `cargo test` runs
//! it) it pushes 16 MiB once.

use std::sync::Arc;
use std::time::Instant;

use berth_core::{BlobIngester, CreateOptions, Created};
use berth_digest::{Algorithm, Digester};
use berth_driver::FilesystemDriver;
use berth_reference::RepositoryName;
use berth_storage::{Registry, StorageOptions};
use berth_testkit::bench::{benching, dd_write, median};
use bytes::Bytes;

const CHUNK: usize = 8 << 20;

fn main() {
    let (chunks, rounds) = if benching() { (128, 3) } else { (2, 1) };
    let total = (CHUNK * chunks) as f64;
    let (dir, _guard) = berth_testkit::bench::bench_dir(env!("CARGO_TARGET_TMPDIR"));
    println!(
        "local push vs dd vs digester: {} MiB in 8 MiB chunks, {rounds} round(s), in {}",
        (CHUNK * chunks) >> 20,
        dir.display()
    );

    // Eight distinct chunks, cycled: the content varies as a real layer's.
    let pieces: Vec<Bytes> = (0..8u32)
        .map(|seed| {
            (0..CHUNK as u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) ^ seed.wrapping_mul(40_503)) as u8)
                .collect::<Vec<u8>>()
                .into()
        })
        .collect();
    let chunk_at = |i: usize| pieces[i % pieces.len()].clone();
    let digest = {
        let mut d = Digester::new(Algorithm::Sha256);
        for i in 0..chunks {
            d.update(&chunk_at(i));
        }
        d.finish()
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let root = dir.join("berth-root");
    let dd_file = dir.join("dd.bin");
    let name = RepositoryName::parse("bench/push").unwrap_or_else(|e| panic!("{e}"));

    let push = || {
        let _ = std::fs::remove_dir_all(&root);
        let registry = Registry::new(
            Arc::new(FilesystemDriver::new(&root)),
            StorageOptions::default(),
        );
        let blobs = registry.blobs(&name);
        let start = Instant::now();
        runtime.block_on(async {
            let Ok(Created::Upload(mut upload)) = blobs.create(CreateOptions::default()).await
            else {
                panic!("could not start an upload");
            };
            for i in 0..chunks {
                upload
                    .write(chunk_at(i))
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            upload
                .commit(&digest, Some((CHUNK * chunks) as u64))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        });
        start.elapsed().as_secs_f64()
    };
    let hash = || {
        let start = Instant::now();
        let mut d = Digester::new(Algorithm::Sha256);
        for i in 0..chunks {
            d.update(&chunk_at(i));
        }
        std::hint::black_box(d.finish());
        start.elapsed().as_secs_f64()
    };
    let dd = || {
        let secs = dd_write(&dd_file, chunks);
        let _ = std::fs::remove_file(&dd_file);
        secs
    };

    if benching() {
        // The first large write after a quiet spell is slow whoever does it.
        push();
        dd();
    }
    let (mut pushes, mut dds, mut hashes) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let (p, d) = if round % 2 == 1 {
            (push(), dd())
        } else {
            let d = dd();
            (push(), d)
        };
        let h = hash();
        let mbps = |secs: f64| total / 1e6 / secs;
        println!(
            "round {round}: push {:>6.0} MB/s  dd {:>6}  digester {:>6.0} MB/s",
            mbps(p),
            d.map(|d| format!("{:.0} MB/s", mbps(d)))
                .unwrap_or_else(|| "n/a".into()),
            mbps(h)
        );
        pushes.push(mbps(p));
        hashes.push(mbps(h));
        if let Some(d) = d {
            dds.push(mbps(d));
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    let (p, h) = (median(pushes).unwrap_or(0.0), median(hashes).unwrap_or(0.0));
    match median(dds) {
        Some(d) => {
            let ceiling = d.min(h);
            println!(
                "median: push {p:.0} MB/s, dd {d:.0} MB/s, digester {h:.0} MB/s; push / slower ceiling = {:.2}",
                p / ceiling
            );
        }
        None => println!("median: push {p:.0} MB/s, digester {h:.0} MB/s (dd not available)"),
    }
}

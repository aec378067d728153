//! Digester throughput against `openssl speed -evp sha256`, in one run.
//!
//! `cargo bench -p berth-digest` hashes 64 MiB with the streaming digester,
//! fed in 1 MiB writes as an upload is, and runs `openssl speed -evp sha256
//! -bytes 1048576`, alternating the two for several rounds, then prints the
//! medians and their ratio. Set `BERTH_BENCH_ROUNDS` to change the number of
//! rounds and `BERTH_BENCH_JSON` to a path to also write the result as JSON.
//!
//! Two shapes of input are timed:
//! - `hot`: the same 1 MiB buffer written 64 times. This is what `openssl
//!   speed` does (it hashes one cache-resident buffer over and over), and
//!   what an upload does (each chunk is hashed right after the socket read
//!   wrote it, while it is in cache), so the ratio is taken on it.
//! - `cold`: 64 MiB of distinct memory, hashed once. On the shared machines
//!   this is bounded by memory reads, not by the hasher: OpenSSL's own
//!   assembly (through ring or aws-lc) runs at the same speed there.

use std::process::Command;
use std::time::Instant;

use berth_digest::{Algorithm, Digester};

const TOTAL: usize = 64 << 20;
const WRITE: usize = 1 << 20;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then a single short round is enough to prove the bench runs.
    let benching = std::env::args().any(|a| a == "--bench");
    let rounds: usize = std::env::var("BERTH_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(if benching { 5 } else { 1 });

    // Non-trivial input: a simple xorshift stream.
    let mut data = vec![0u8; TOTAL];
    let mut x = 0x9e3779b97f4a7c15u64;
    for chunk in data.chunks_exact_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes());
    }

    let hot = &data[..WRITE];
    let mut ours = Vec::new();
    let mut openssl = Vec::new();
    for round in 0..rounds {
        for alg in [Algorithm::Sha256, Algorithm::Sha512] {
            let mbps = time_digester(alg, (0..TOTAL / WRITE).map(|_| hot));
            println!("round {round}: berth-digest {alg} 64 MiB hot:  {mbps:.0} MB/s");
            if alg == Algorithm::Sha256 {
                ours.push(mbps);
            }
            let mbps = time_digester(alg, data.chunks(WRITE));
            println!("round {round}: berth-digest {alg} 64 MiB cold: {mbps:.0} MB/s");
        }
        if benching {
            match openssl_speed() {
                Some(mbps) => {
                    println!(
                        "round {round}: openssl speed -evp sha256 (1 MiB blocks): {mbps:.0} MB/s"
                    );
                    openssl.push(mbps);
                }
                None => println!("round {round}: openssl not available"),
            }
        }
    }

    let ours = median(&mut ours);
    println!("median berth-digest sha256 (hot): {ours:.0} MB/s");
    let mut json = format!("{{\"berth_sha256_mbps\":{ours:.1}");
    if !openssl.is_empty() {
        let openssl = median(&mut openssl);
        let ratio = ours / openssl;
        println!("median openssl sha256:            {openssl:.0} MB/s");
        println!("ratio berth/openssl:              {ratio:.3}");
        json.push_str(&format!(
            ",\"openssl_sha256_mbps\":{openssl:.1},\"ratio\":{ratio:.4}"
        ));
    }
    json.push('}');
    if let Ok(path) = std::env::var("BERTH_BENCH_JSON")
        && let Err(e) = std::fs::write(&path, json + "\n")
    {
        eprintln!("cannot write {path}: {e}");
    }
}

/// Hashes `writes` with a fresh digester; returns MB/s.
fn time_digester<'a>(alg: Algorithm, writes: impl Iterator<Item = &'a [u8]>) -> f64 {
    let start = Instant::now();
    let mut digester = Digester::new(alg);
    for write in writes {
        digester.update(write);
    }
    // Keep the digest observable so the work cannot be optimized away.
    std::hint::black_box(digester.finish());
    TOTAL as f64 / start.elapsed().as_secs_f64() / 1e6
}

/// Runs `openssl speed -evp sha256 -bytes 1048576` and returns MB/s.
fn openssl_speed() -> Option<f64> {
    let out = Command::new("openssl")
        .args([
            "speed", "-evp", "sha256", "-bytes", "1048576", "-seconds", "2",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // The last line reads `sha256   1734102.32k`: thousands of bytes per second.
    let last = text.lines().rev().find(|l| l.starts_with("sha256"))?;
    let kilo = last.split_whitespace().nth(1)?.trim_end_matches('k');
    kilo.parse::<f64>().ok().map(|k| k * 1000.0 / 1e6)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

//! An appender killed with SIGKILL in the middle of its appends.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::Duration;

use berth_spool::Record;

use crate::common::*;

const CHILD_DIR: &str = "BERTH_SPOOL_TEST_CHILD_DIR";

/// Not a test on its own: the appender `killed_appender_loses_nothing`
/// runs in a child process and kills. Prints `acked <n>` once each append
/// is durable.
#[test]
fn child_appender() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let spool = open(Path::new(&dir), 256 << 20);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let spool = spool.clone();
            std::thread::spawn(move || {
                for i in 0.. {
                    let n = t * 1_000_000 + i;
                    spool
                        .append(&Record::new(&payload(n)).unwrap())
                        .unwrap()
                        .wait()
                        .unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "acked {n}").unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
}

#[test]
fn killed_appender_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash::child_appender",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(n) = line.strip_prefix("acked ")
                && let Ok(n) = n.parse::<usize>()
            {
                let _ = tx.send(payload(n));
            }
        }
    });
    let mut acked = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while acked.len() < 200 {
        let wait = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(wait) {
            Ok(p) => acked.push(p),
            Err(_) => panic!("the child acknowledged only {} records", acked.len()),
        }
    }
    // SIGKILL, in the middle of whatever it is doing.
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
    acked.extend(rx.try_iter());

    let spool = open(dir.path(), 256 << 20);
    let pending = spool.stats().pending as usize;
    assert!(
        pending >= acked.len(),
        "{pending} queued, {} acknowledged",
        acked.len()
    );
    let got = drain(&spool);
    assert_eq!(got.len(), pending);
    for p in &acked {
        assert!(
            got.contains(p),
            "acknowledged record {} was lost",
            String::from_utf8_lossy(p)
        );
    }
    let mut unique = got.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), got.len(), "no duplicates");
    assert_eq!(spool.stats().dropped, 0);
    spool.close();
}

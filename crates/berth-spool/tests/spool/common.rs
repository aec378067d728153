//! Helpers the tests share.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_spool::{ReadRecord, Record, Spool, SpoolOptions};

/// A payload of fixed size (15 bytes), recognisable by `n`.
pub fn payload(n: usize) -> Vec<u8> {
    format!("{{\"n\":{n:08}}}").into_bytes()
}

/// The size of `payload(n)`'s record in the queue (8-byte header + payload).
pub fn record_len() -> u64 {
    8 + payload(0).len() as u64
}

pub fn open(dir: &Path, max_bytes: u64) -> Arc<Spool> {
    Spool::open(dir, SpoolOptions::new(max_bytes).name("test")).unwrap()
}

pub fn append_all(spool: &Spool, payloads: &[Vec<u8>]) {
    for p in payloads {
        spool
            .append(&Record::new(p).unwrap())
            .unwrap()
            .wait()
            .unwrap();
    }
}

/// Reads and acknowledges every record, skipping corrupt ones.
pub fn drain(spool: &Spool) -> Vec<Vec<u8>> {
    let mut read = Vec::new();
    while let Some(head) = spool.next() {
        match spool.read(head).unwrap() {
            ReadRecord::Record { payload, next } => {
                assert!(spool.acknowledge(head.position(), next).unwrap());
                read.push(payload);
            }
            ReadRecord::Corrupt { next, .. } => spool.skip(head.position(), next).unwrap(),
        }
    }
    read
}

/// The segment files of the queue in `dir`, oldest first.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

//! Restarts, torn and corrupt records, the bound, rotation, the lock.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::time::Duration;

use berth_spool::{Error, ReadRecord, Record, Spool, SpoolOptions};

use crate::common::*;

#[test]
fn restart_reads_pending_records_first_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let payloads: Vec<_> = (0..5).map(payload).collect();
    let spool = open(dir.path(), 1 << 20);
    append_all(&spool, &payloads);
    assert_eq!(spool.stats().pending, 5);
    assert_eq!(spool.stats().bytes, 5 * record_len());
    spool.close();
    assert!(matches!(
        spool.append(&Record::new(&payload(9)).unwrap()),
        Err(Error::Closed)
    ));

    let spool = open(dir.path(), 1 << 20);
    assert_eq!(spool.stats().pending, 5);
    let later = payload(5);
    append_all(&spool, std::slice::from_ref(&later));
    let mut expected = payloads.clone();
    expected.push(later);
    assert_eq!(drain(&spool), expected);
    assert_eq!(spool.stats().pending, 0);
    assert_eq!(spool.stats().bytes, 0);
    spool.close();

    // Acknowledged records are not read again, and their segments are
    // gone but for the one being written.
    let spool = open(dir.path(), 1 << 20);
    assert_eq!(spool.stats().pending, 0);
    assert!(spool.next().is_none());
    assert_eq!(segments(dir.path()).len(), 1);
    spool.close();
}

#[test]
fn torn_tail_record_is_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let payloads: Vec<_> = (0..3).map(payload).collect();
    let spool = open(dir.path(), 1 << 20);
    append_all(&spool, &payloads);
    spool.close();
    // A crash in the middle of an append: a header claiming 500 bytes and
    // only 20 of them.
    let segment = segments(dir.path()).pop().unwrap();
    let mut file = OpenOptions::new().append(true).open(&segment).unwrap();
    file.write_all(&500u32.to_le_bytes()).unwrap();
    file.write_all(&0xdead_beefu32.to_le_bytes()).unwrap();
    file.write_all(&[b'{'; 20]).unwrap();
    drop(file);

    let spool = open(dir.path(), 1 << 20);
    assert_eq!(spool.stats().pending, 3);
    let later = payload(3);
    append_all(&spool, std::slice::from_ref(&later));
    let mut expected = payloads.clone();
    expected.push(later);
    assert_eq!(drain(&spool), expected);
    assert_eq!(spool.stats().dropped, 0);
    spool.close();
}

#[test]
fn corrupt_records_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let payloads: Vec<_> = (0..4).map(payload).collect();
    let spool = open(dir.path(), 1 << 20);
    append_all(&spool, &payloads);
    spool.close();
    // Damage the payload of the second record (in the middle) and of the
    // last one (the tail).
    let segment = segments(dir.path()).pop().unwrap();
    let len = record_len();
    let mut file = OpenOptions::new().write(true).open(&segment).unwrap();
    for record in [1, 3] {
        file.seek(SeekFrom::Start(16 + record * len + 8 + 10))
            .unwrap();
        file.write_all(b"#").unwrap();
    }
    drop(file);

    let spool = open(dir.path(), 1 << 20);
    // The tail was cut off at open (an append that never completed, as far
    // as anyone can tell); the middle one is reported when read.
    assert_eq!(spool.stats().pending, 3);
    let head = spool.next().unwrap();
    assert!(matches!(
        spool.read(head).unwrap(),
        ReadRecord::Record { .. }
    ));
    let later = payload(4);
    append_all(&spool, std::slice::from_ref(&later));
    assert_eq!(
        drain(&spool),
        [payloads[0].clone(), payloads[2].clone(), later]
    );
    assert_eq!(spool.stats().pending, 0);
    assert_eq!(spool.stats().dropped, 1);
    spool.close();
}

#[test]
fn full_queue_drops_the_oldest_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let payloads: Vec<_> = (0..10).map(payload).collect();
    let len = record_len();
    let spool = open(dir.path(), 3 * len + len / 2);
    append_all(&spool, &payloads);
    let stats = spool.stats();
    assert_eq!(stats.pending, 3);
    assert_eq!(stats.dropped, 7);
    assert_eq!(stats.bytes, 3 * len);
    spool.close();

    // The drops were made durable: a restart finds the newest three only.
    let spool = open(dir.path(), 3 * len + len / 2);
    assert_eq!(spool.stats().pending, 3);
    assert_eq!(drain(&spool), payloads[7..]);
    spool.close();
    let spool = open(dir.path(), 3 * len + len / 2);
    assert_eq!(spool.stats().pending, 0);
    spool.close();
}

#[test]
fn a_record_dropped_while_read_is_no_longer_current() {
    let dir = tempfile::tempdir().unwrap();
    let len = record_len();
    let spool = open(dir.path(), 2 * len);
    append_all(&spool, &[payload(0), payload(1)]);
    let head = spool.next().unwrap();
    let ReadRecord::Record { next, .. } = spool.read(head).unwrap() else {
        panic!("a record");
    };
    // The bound drops record 0 while it is being handled.
    append_all(&spool, &[payload(2)]);
    assert!(!spool.is_current(head.position()));
    assert!(!spool.acknowledge(head.position(), next).unwrap());
    assert_eq!(drain(&spool), [payload(1), payload(2)]);
    assert_eq!(spool.stats().dropped, 1);
    spool.close();
}

#[test]
fn segments_rotate_and_are_removed_once_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    // Segments of 64 KiB (the smallest); 300 records of 400 bytes fill
    // two. A segment is started by the first commit after the last one
    // is full, so the records are appended one commit at a time.
    let spool = open(dir.path(), 512 << 10);
    let payloads: Vec<_> = (0..300)
        .map(|n| {
            let mut p = payload(n);
            p.resize(400, b' ');
            p
        })
        .collect();
    append_all(&spool, &payloads);
    assert!(segments(dir.path()).len() > 1);
    assert_eq!(spool.stats().pending, 300);
    assert_eq!(drain(&spool), payloads);
    assert_eq!(spool.stats().pending, 0);
    assert_eq!(segments(dir.path()).len(), 1);
    spool.close();
}

#[test]
fn concurrent_appends_are_committed_together_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let spool = open(dir.path(), 512 << 10);
    let payloads: Vec<_> = (0..6000).map(payload).collect();
    let commits: Vec<_> = payloads
        .iter()
        .map(|p| spool.append(&Record::new(p).unwrap()).unwrap())
        .collect();
    for commit in commits {
        commit.wait().unwrap();
    }
    assert_eq!(spool.stats().pending, 6000);
    assert_eq!(spool.stats().bytes, 6000 * record_len());
    assert_eq!(drain(&spool), payloads);
    spool.close();
}

#[test]
fn a_directory_is_used_by_one_spool_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path(), 1 << 20);
    let second = Spool::open(dir.path(), SpoolOptions::new(1 << 20));
    assert!(matches!(second, Err(Error::Locked { .. })), "{second:?}");
    first.close();
    let third = open(dir.path(), 1 << 20);
    third.close();
}

#[test]
fn options_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let zero = Spool::open(dir.path(), SpoolOptions::new(0));
    assert!(matches!(zero, Err(Error::Invalid(_))), "{zero:?}");
    assert!(matches!(
        Record::new(b"x"),
        Err(Error::RecordSize { len: 1 })
    ));
    let defaults: SpoolOptions = serde_json::from_str("{}").unwrap();
    assert_eq!(defaults, SpoolOptions::default());
    assert_eq!(defaults.max_bytes, berth_spool::DEFAULT_MAX_BYTES);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_reader_is_woken_by_a_commit() {
    let dir = tempfile::tempdir().unwrap();
    let spool = open(dir.path(), 1 << 20);
    let reader = {
        let spool = spool.clone();
        tokio::spawn(async move {
            loop {
                let s = spool.clone();
                if let Some(head) = tokio::task::spawn_blocking(move || s.next()).await.unwrap() {
                    return head;
                }
                spool.appended().await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    spool
        .append(&Record::new(&payload(1)).unwrap())
        .unwrap()
        .await
        .unwrap();
    let head = tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .expect("the reader woke up")
        .unwrap();
    assert!(spool.is_current(head.position()));
    tokio::task::spawn_blocking(move || spool.close())
        .await
        .unwrap();
}

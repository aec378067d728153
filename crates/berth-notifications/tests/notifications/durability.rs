//! Durability: restarts, torn and corrupt records, the queue bound, and a
//! publisher killed with SIGKILL.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_notifications::{Error, Event, Notifier};

use crate::common::*;

/// The segment files of endpoint `hook`'s queue, oldest first.
fn segments(spool: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(spool.join("hook"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

/// The size of `event`'s record in the queue (8-byte header + JSON).
fn record_len(event: &Event) -> u64 {
    8 + serde_json::to_vec(event).unwrap().len() as u64
}

/// Starts a notifier whose endpoint `hook` has nothing to talk to, and
/// queues `events` in it.
async fn queue_undeliverable(spool: &Path, events: &[Event]) -> Notifier {
    let dead = format!("http://{}/events", free_addr());
    let notifier = Notifier::start(one_endpoint(spool, &dead)).await.unwrap();
    publish_all(&notifier, events).await;
    notifier
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_delivers_pending_events_first_with_the_same_ids() {
    let spool = tempfile::tempdir().unwrap();
    let events: Vec<_> = (0..5).map(event).collect();
    let notifier = queue_undeliverable(spool.path(), &events).await;
    assert_eq!(notifier.stats()[0].pending, 5);
    notifier.shutdown().await;
    assert!(matches!(
        notifier.publish(&event(9)).await,
        Err(Error::Closed)
    ));

    let receiver = Receiver::start();
    let notifier = Notifier::start(one_endpoint(spool.path(), &receiver.url()))
        .await
        .unwrap();
    let later = event(5);
    notifier.publish(&later).await.unwrap();
    let got = receiver.wait_for_events(6, Duration::from_secs(5)).await;
    let mut expected = ids(&events);
    expected.push(later.id.clone());
    assert_eq!(ids(&got), expected);
    assert_eq!(got[..5], events[..]);
    wait_until("an empty queue", Duration::from_secs(5), || {
        notifier.stats()[0].pending == 0
    })
    .await;
    notifier.shutdown().await;

    // Delivered events are not sent again, and their segments are gone
    // but for the one being written.
    let notifier = Notifier::start(one_endpoint(spool.path(), &receiver.url()))
        .await
        .unwrap();
    assert_eq!(notifier.stats()[0].pending, 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.events().len(), 6);
    assert_eq!(segments(spool.path()).len(), 1);
    notifier.shutdown().await;
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_tail_record_is_discarded() {
    let spool = tempfile::tempdir().unwrap();
    let events: Vec<_> = (0..3).map(event).collect();
    queue_undeliverable(spool.path(), &events)
        .await
        .shutdown()
        .await;
    // A crash in the middle of an append: a header claiming 500 bytes and
    // only 20 of them.
    let segment = segments(spool.path()).pop().unwrap();
    let mut file = OpenOptions::new().append(true).open(&segment).unwrap();
    file.write_all(&500u32.to_le_bytes()).unwrap();
    file.write_all(&0xdead_beefu32.to_le_bytes()).unwrap();
    file.write_all(&[b'{'; 20]).unwrap();
    drop(file);

    let receiver = Receiver::start();
    let notifier = Notifier::start(one_endpoint(spool.path(), &receiver.url()))
        .await
        .unwrap();
    assert_eq!(notifier.stats()[0].pending, 3);
    let later = event(3);
    notifier.publish(&later).await.unwrap();
    let got = receiver.wait_for_events(4, Duration::from_secs(5)).await;
    let mut expected = ids(&events);
    expected.push(later.id);
    assert_eq!(ids(&got), expected);
    assert_eq!(notifier.stats()[0].dropped, 0);
    notifier.shutdown().await;
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_records_are_skipped() {
    let spool = tempfile::tempdir().unwrap();
    let events: Vec<_> = (0..4).map(event).collect();
    queue_undeliverable(spool.path(), &events)
        .await
        .shutdown()
        .await;
    // Damage the payload of the second record (in the middle) and of the
    // last one (the tail).
    let segment = segments(spool.path()).pop().unwrap();
    let len = record_len(&events[0]);
    let mut file = OpenOptions::new().write(true).open(&segment).unwrap();
    for record in [1, 3] {
        file.seek(SeekFrom::Start(16 + record * len + 8 + 10))
            .unwrap();
        file.write_all(b"#").unwrap();
    }
    drop(file);

    let receiver = Receiver::start();
    let notifier = Notifier::start(one_endpoint(spool.path(), &receiver.url()))
        .await
        .unwrap();
    let later = event(4);
    notifier.publish(&later).await.unwrap();
    let got = receiver.wait_for_events(3, Duration::from_secs(5)).await;
    assert_eq!(
        ids(&got),
        [events[0].id.clone(), events[2].id.clone(), later.id]
    );
    // The middle one was skipped when read (counted); the tail was cut
    // off at start (an append that never completed, as far as anyone
    // can tell).
    wait_until("an empty queue", Duration::from_secs(5), || {
        notifier.stats()[0].pending == 0
    })
    .await;
    assert_eq!(notifier.stats()[0].dropped, 1);
    notifier.shutdown().await;
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_drops_the_oldest_and_counts_them() {
    let spool = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let events: Vec<_> = (0..10).map(event).collect();
    let len = record_len(&events[0]);
    let mut options = one_endpoint(spool.path(), &format!("http://{addr}/events"));
    options.max_queue_bytes = 3 * len + len / 2;
    let notifier = Notifier::start(options).await.unwrap();
    publish_all(&notifier, &events).await;
    let stats = &notifier.stats()[0];
    assert_eq!(stats.pending, 3);
    assert_eq!(stats.dropped, 7);
    assert_eq!(stats.queue_bytes, 3 * len);

    let receiver = Receiver::start_with(addr, |_| Reply::ok());
    let got = receiver.wait_for_events(3, Duration::from_secs(5)).await;
    assert_eq!(ids(&got), ids(&events[7..]));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.events().len(), 3);
    notifier.shutdown().await;

    // The drops were made durable too: a restart sends nothing again.
    let notifier = Notifier::start(one_endpoint(spool.path(), &receiver.url()))
        .await
        .unwrap();
    assert_eq!(notifier.stats()[0].pending, 0);
    notifier.shutdown().await;
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_rotate_and_are_removed_once_delivered() {
    let spool = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let mut options = one_endpoint(spool.path(), &format!("http://{addr}/events"));
    // Segments of 64 KiB (the smallest); some 300 records of 200+ bytes
    // fill several.
    options.max_queue_bytes = 512 << 10;
    let notifier = Notifier::start(options).await.unwrap();
    let events: Vec<_> = (0..300).map(event).collect();
    publish_all(&notifier, &events).await;
    assert!(segments(spool.path()).len() > 1);
    assert_eq!(notifier.stats()[0].pending, 300);
    let receiver = Receiver::start_with(addr, |_| Reply::ok());
    let got = receiver.wait_for_events(300, Duration::from_secs(20)).await;
    assert_eq!(ids(&got), ids(&events));
    wait_until("an empty queue", Duration::from_secs(5), || {
        notifier.stats()[0].pending == 0
    })
    .await;
    assert_eq!(segments(spool.path()).len(), 1);
    notifier.shutdown().await;
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spool_is_used_by_one_notifier_at_a_time() {
    let spool = tempfile::tempdir().unwrap();
    let dead = format!("http://{}/events", free_addr());
    let first = Notifier::start(one_endpoint(spool.path(), &dead))
        .await
        .unwrap();
    let second = Notifier::start(one_endpoint(spool.path(), &dead)).await;
    assert!(matches!(second, Err(Error::Locked { .. })), "{second:?}");
    first.shutdown().await;
    let third = Notifier::start(one_endpoint(spool.path(), &dead))
        .await
        .unwrap();
    third.shutdown().await;
}

const CHILD_SPOOL: &str = "BERTH_NOTIFICATIONS_TEST_CHILD_SPOOL";

/// Not a test on its own: the publisher `killed_publisher_loses_nothing`
/// runs in a child process and kills. Prints `acked <id>` once each
/// publish has returned.
#[test]
fn child_publisher() {
    let Some(spool) = std::env::var_os(CHILD_SPOOL) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let dead = format!("http://{}/events", free_addr());
        let notifier = Notifier::start(one_endpoint(Path::new(&spool), &dead))
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for t in 0..4 {
            let notifier = notifier.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0.. {
                    let e = event(t * 1_000_000 + i);
                    notifier.publish(&e).await.unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "acked {}", e.id).unwrap();
                    out.flush().unwrap();
                }
            }));
        }
        for task in tasks {
            let _ = task.await;
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_publisher_loses_nothing() {
    let spool = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "durability::child_publisher",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_SPOOL, spool.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(id) = line.strip_prefix("acked ")
                && id.len() == 36
            {
                let _ = tx.send(id.to_owned());
            }
        }
    });
    let mut acked = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while acked.len() < 200 {
        let wait = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(wait) {
            Ok(id) => acked.push(id),
            Err(_) => panic!("the child acknowledged only {} events", acked.len()),
        }
    }
    // SIGKILL, in the middle of whatever it is doing.
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
    acked.extend(rx.try_iter());

    let receiver = Receiver::start();
    let notifier = Notifier::start(one_endpoint(spool.path(), &receiver.url()))
        .await
        .unwrap();
    let pending = notifier.stats()[0].pending as usize;
    assert!(
        pending >= acked.len(),
        "{pending} queued, {} acknowledged",
        acked.len()
    );
    let got = ids(&receiver
        .wait_for_events(pending, Duration::from_secs(30))
        .await);
    for id in &acked {
        assert!(got.contains(id), "acknowledged event {id} was lost");
    }
    let mut unique = got.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        got.len(),
        "nothing was in flight: no duplicates"
    );
    notifier.shutdown().await;
    receiver.stop().await;
}

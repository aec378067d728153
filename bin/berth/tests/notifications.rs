//! Webhook notifications end to end: the real binary posting to a real
//! receiver on loopback.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Berth, Receiver};
use serde_json::Value;

/// The configuration section for one endpoint at `url`, spooling in `spool`.
fn section(url: &str, spool: &std::path::Path, extra_endpoint: &str) -> String {
    format!(
        "notifications:\n  events:\n    includereferences: true\n  endpoints:\n    - name: hook\n      url: {url}/events\n      headers:\n        X-Token: [s3cret]\n      timeout: 2s\n      threshold: 2\n      backoff: 100ms\n{extra_endpoint}  spool:\n    directory: {}\n",
        spool.display()
    )
}

fn find<'a>(events: &'a [Value], action: &str, media_type: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["action"] == action && e["target"]["mediaType"] == media_type)
        .collect()
}

/// Pushes, pulls and deletes produce Distribution's events with every
/// field: target, request, actor (the authenticated user), source.
#[test]
fn events_for_push_pull_mount_and_delete() {
    let receiver = Receiver::start();
    let spool = tempfile::tempdir().unwrap();
    let b = Berth::start_with(&format!(
        "auth:\n  silly:\n    realm: https://auth.example/token\n    service: test\n{}",
        section(&receiver.url, spool.path(), "")
    ));
    let mut b = b;
    b.authorization = Some("Bearer anything".into());
    let (manifest, digest) = b.push_image("team/app", "v1", 5);
    let m: Value = serde_json::from_slice(&manifest).unwrap();
    let layer = m["layers"][0]["digest"].as_str().unwrap().to_owned();
    let r = b.get_with(
        "/v2/team/app/manifests/v1",
        &[
            ("Accept", "application/vnd.oci.image.manifest.v1+json"),
            ("User-Agent", "notify-test/1.0"),
        ],
    );
    assert_eq!(r.status, 200);
    let request_id = r.header("x-request-id").unwrap().to_owned();
    assert_eq!(b.get(&format!("/v2/team/app/blobs/{layer}")).status, 200);
    let r = b.post(
        &format!("/v2/other/blobs/uploads/?mount={layer}&from=team/app"),
        b"",
    );
    assert_eq!(r.status, 201);
    assert_eq!(
        b.delete(&format!("/v2/team/app/manifests/{digest}")).status,
        202
    );

    let oci = "application/vnd.oci.image.manifest.v1+json";
    let events = receiver.wait_for("the delete event", |e| {
        !find(e, "delete", oci).is_empty() || e.iter().any(|e| e["action"] == "delete")
    });
    // Two blob pushes (config, layer), the manifest push, its pull, the
    // blob pull, the mount, the delete.
    let pushes = find(&events, "push", oci);
    assert_eq!(pushes.len(), 1, "{events:#?}");
    let push = pushes[0];
    assert_eq!(push["target"]["digest"], digest.as_str());
    assert_eq!(push["target"]["repository"], "team/app");
    assert_eq!(push["target"]["tag"], "v1");
    assert_eq!(push["target"]["size"], manifest.len());
    assert_eq!(push["target"]["length"], manifest.len());
    assert_eq!(
        push["target"]["url"],
        format!("{}/v2/team/app/manifests/{digest}", b.url)
    );
    assert_eq!(
        push["target"]["references"].as_array().map(Vec::len),
        Some(2),
        "includereferences lists the config and the layer"
    );
    assert_eq!(push["actor"]["name"], "silly");
    assert_eq!(push["request"]["method"], "PUT");
    assert_eq!(push["request"]["addr"], "127.0.0.1");
    assert!(
        push["source"]["instanceID"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert!(
        push["source"]["addr"]
            .as_str()
            .is_some_and(|a| a.ends_with(&format!(":{}", b.url.rsplit(':').next().unwrap())))
    );
    let blob_pushes: Vec<_> = events
        .iter()
        .filter(|e| e["action"] == "push" && e["target"]["mediaType"] != oci)
        .collect();
    assert_eq!(blob_pushes.len(), 2, "{events:#?}");

    let pulls = find(&events, "pull", oci);
    assert_eq!(pulls.len(), 1, "{events:#?}");
    assert_eq!(pulls[0]["target"]["tag"], "v1");
    assert_eq!(pulls[0]["request"]["id"], request_id.as_str());
    assert_eq!(pulls[0]["request"]["useragent"], "notify-test/1.0");
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "pull" && e["target"]["digest"] == layer.as_str()),
        "{events:#?}"
    );
    let mount = events
        .iter()
        .find(|e| e["action"] == "mount")
        .expect("a mount event");
    assert_eq!(mount["target"]["repository"], "other");
    assert_eq!(mount["target"]["fromRepository"], "team/app");
    assert_eq!(mount["target"]["digest"], layer.as_str());
    let delete = events
        .iter()
        .find(|e| e["action"] == "delete" && e["target"]["digest"] == digest.as_str())
        .expect("a manifest delete event");
    assert_eq!(delete["target"]["repository"], "team/app");

    // Ids are unique; headers as configured; Distribution's media type.
    let ids: BTreeSet<_> = events.iter().map(|e| e["id"].to_string()).collect();
    assert_eq!(ids.len(), events.len());
    let requests = receiver.requests.lock().unwrap();
    let (head, _) = &requests[0];
    assert!(head.starts_with("post /events "), "{head}");
    assert!(head.contains("x-token: s3cret"), "{head}");
    assert!(
        head.contains("content-type: application/vnd.docker.distribution.events.v2+json"),
        "{head}"
    );
}

/// The receiver is down while images are pushed; berth is killed with
/// SIGKILL and started again; when the receiver comes up every event
/// arrives, duplicates (if any) carrying the same id.
#[test]
fn events_survive_kill_9_while_the_receiver_is_down() {
    let port = berth_testkit::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let spool = tempfile::tempdir().unwrap();
    let mut b = Berth::start_with(&section(&url, spool.path(), ""));
    let mut pushed = BTreeSet::new();
    for i in 0..4u8 {
        let (_, digest) = b.push_image(&format!("crash/app{i}"), "v1", 40 + i);
        pushed.insert(digest.to_string());
    }
    // Each image: two blob pushes and a manifest push, acknowledged, so
    // on disk.
    let expected = pushed.len() * 3;
    let killed = std::process::Command::new("kill")
        .args(["-9", &b.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(b.wait_exit(Duration::from_secs(10)));

    // The same configuration (and spool) again, then the receiver.
    let again = b.restart();
    let receiver = Receiver::start_on(port);
    let events = receiver.wait_for("every event from before the kill", |e| {
        e.iter()
            .map(|e| e["id"].to_string())
            .collect::<BTreeSet<_>>()
            .len()
            >= expected
    });
    let ids: BTreeSet<_> = events.iter().map(|e| e["id"].to_string()).collect();
    assert_eq!(ids.len(), expected, "{events:#?}");
    let manifests: BTreeSet<_> = events
        .iter()
        .filter(|e| e["target"]["mediaType"] == "application/vnd.oci.image.manifest.v1+json")
        .map(|e| e["target"]["digest"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(manifests, pushed);
    // Duplicates are allowed only as repeats of an event (same id, same
    // content).
    for e in &events {
        let same: Vec<_> = events.iter().filter(|o| o["id"] == e["id"]).collect();
        assert!(same.iter().all(|o| *o == e));
    }
    drop(again);
}

/// Filters: an endpoint ignoring pulls and one media type gets neither;
/// the debug server reports each endpoint's counters.
#[test]
fn filters_and_metrics() {
    let receiver = Receiver::start();
    let spool = tempfile::tempdir().unwrap();
    let debug_port = berth_testkit::free_port();
    let b = Berth::start_with(&format!(
        "  debug:\n    addr: 127.0.0.1:{debug_port}\n    prometheus:\n      enabled: true\n{}",
        section(
            &receiver.url,
            spool.path(),
            &format!(
                "    - name: picky\n      url: {}/picky\n      ignore:\n        actions: [pull]\n        mediatypes: [application/octet-stream]\n",
                receiver.url
            ),
        )
    ));
    let (_, digest) = b.push_image("filter/app", "v1", 9);
    assert_eq!(
        b.get_with(
            "/v2/filter/app/manifests/v1",
            &[("Accept", "application/vnd.oci.image.manifest.v1+json")]
        )
        .status,
        200
    );
    // hook: 2 blob pushes + manifest push + pull = 4; picky: the manifest
    // push only (blob events have Distribution's application/octet-stream).
    receiver.wait_for("five deliveries", |e| e.len() >= 5);
    std::thread::sleep(Duration::from_millis(300));
    let requests = receiver.requests.lock().unwrap().clone();
    let picky: Vec<Value> = requests
        .iter()
        .filter(|(head, _)| head.starts_with("post /picky "))
        .flat_map(|(_, body)| {
            serde_json::from_slice::<Value>(body).unwrap()["events"]
                .as_array()
                .cloned()
                .unwrap()
        })
        .collect();
    assert_eq!(picky.len(), 1, "{picky:#?}");
    assert_eq!(picky[0]["action"], "push");
    assert_eq!(picky[0]["target"]["digest"], digest.as_str());
    assert_eq!(requests.len(), 5, "no more than the five");

    let text = common::Resp::from(
        berth_testkit::http()
            .get(&format!("http://127.0.0.1:{debug_port}/metrics"))
            .call()
            .unwrap(),
    )
    .text();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let value = |metric: &str, endpoint: &str| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == metric && s.labels.get("endpoint") == Some(endpoint))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .unwrap_or_else(|| panic!("no {metric} for {endpoint} in\n{text}"))
    };
    assert_eq!(value("berth_notifications_delivered_total", "hook"), 4.0);
    assert_eq!(value("berth_notifications_delivered_total", "picky"), 1.0);
    assert_eq!(value("berth_notifications_pending", "hook"), 0.0);
    assert_eq!(value("berth_notifications_last_status", "picky"), 200.0);
}

/// Resident set size and its peak (KiB) of process `pid`.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// 10,000 events through a slow receiver (20 ms a request while they are
/// made): berth's memory stays bounded while the queue is long (the
/// queue is on disk, not in memory); then every event arrives.
#[test]
fn ten_thousand_events_through_a_slow_receiver() {
    const EVENTS: usize = 10_000;
    let receiver = Receiver::start();
    let slow = |ms| {
        receiver
            .delay_ms
            .store(ms, std::sync::atomic::Ordering::SeqCst)
    };
    slow(20);
    let spool = tempfile::tempdir().unwrap();
    let b = std::sync::Arc::new(Berth::start_with(&section(&receiver.url, spool.path(), "")));
    // One push event, then a pull event per blob HEAD (as Distribution).
    let digest = b.push_blob("load/app", b"a blob pulled many times");
    let (_, idle_peak) = rss_kib(b.pid());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let b = b.clone();
            let path = format!("/v2/load/app/blobs/{digest}");
            std::thread::spawn(move || {
                for _ in (t..EVENTS - 1).step_by(8) {
                    assert_eq!(b.head(&path).status, 200);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (after_events, peak_queued) = rss_kib(b.pid());
    let queued = EVENTS - receiver.requests.lock().unwrap().len();
    let spooled: u64 = walk_size(spool.path());
    slow(0);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while receiver.requests.lock().unwrap().len() < EVENTS {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {EVENTS} events delivered",
            receiver.requests.lock().unwrap().len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (after_delivery, peak) = rss_kib(b.pid());
    eprintln!(
        "notifications load: {EVENTS} events, {queued} queued ({spooled} bytes spooled) when the last was made; RSS KiB: peak before {idle_peak}, after the events {after_events} (peak {peak_queued}), after delivery {after_delivery}, peak {peak}"
    );
    let events = receiver.events();
    let ids: BTreeSet<_> = events.iter().map(|e| e["id"].to_string()).collect();
    assert_eq!(ids.len(), EVENTS);
    assert!(
        queued > EVENTS / 2,
        "the receiver was not slower than the requests ({queued} queued)"
    );
    // Bounded: the queue is on disk; far below what holding 10,000
    // events and their requests in memory would take.
    assert!(peak < idle_peak + 32 * 1024, "peak RSS {peak} KiB");
}

/// The bytes of the files under `dir`.
fn walk_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => walk_size(&e.path()),
                    _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                })
                .sum()
        })
        .unwrap_or(0)
}

//! Delivery: headers, media types, filters, failing, slow and absent
//! endpoints. Everything arrives, once, in order.

use std::time::Duration;

use berth_notifications::{Action, EndpointOptions, EventsMediaType, Notifier};

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_and_media_type_are_sent() {
    let receiver = Receiver::start();
    let spool = tempfile::tempdir().unwrap();
    let mut options = one_endpoint(spool.path(), &receiver.url());
    options.endpoints[0].headers = vec![
        ("Authorization".into(), vec!["Bearer s3cret".into()]),
        ("X-Multi".into(), vec!["a".into(), "b".into()]),
    ];
    let notifier = Notifier::start(options).await.unwrap();
    let sent = event(1);
    notifier.publish(&sent).await.unwrap();
    receiver.wait_for_events(1, Duration::from_secs(5)).await;
    let request = &receiver.accepted()[0];
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.header("content-type"),
        ["application/vnd.docker.distribution.events.v2+json"]
    );
    assert_eq!(request.header("authorization"), ["Bearer s3cret"]);
    assert_eq!(request.header("x-multi"), ["a", "b"]);
    // One event per envelope, indented as Go's MarshalIndent.
    let body = String::from_utf8(request.body.clone()).unwrap();
    assert!(
        body.starts_with("{\n   \"events\": [\n      {\n         \"id\": "),
        "{body}"
    );
    assert_eq!(request.envelope().events, vec![sent]);
    notifier.shutdown().await;

    // The v1 media type, for Distribution 2.x consumers.
    let spool = tempfile::tempdir().unwrap();
    let mut options = one_endpoint(spool.path(), &receiver.url());
    options.media_type = EventsMediaType::V1;
    let notifier = Notifier::start(options).await.unwrap();
    let mut tag_delete = event(2);
    tag_delete.action = Action::Delete;
    tag_delete.target = Default::default();
    tag_delete.target.repository = "test/repo".into();
    tag_delete.target.tag = "latest".into();
    notifier.publish(&tag_delete).await.unwrap();
    receiver.wait_for_events(2, Duration::from_secs(5)).await;
    let request = &receiver.accepted()[1];
    assert_eq!(
        request.header("content-type"),
        ["application/vnd.docker.distribution.events.v1+json"]
    );
    let json: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        json["events"][0]["target"],
        serde_json::json!({"repository": "test/repo", "tag": "latest"})
    );
    notifier.shutdown().await;
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_by_media_type_and_action() {
    let all = Receiver::start();
    let filtered = Receiver::start();
    let spool = tempfile::tempdir().unwrap();
    let mut options = one_endpoint(spool.path(), &all.url());
    let mut picky = EndpointOptions::new("picky", filtered.url());
    picky.ignored_media_types = vec!["application/octet-stream".into()];
    picky.ignore_actions = vec!["pull".into(), "mount".into()];
    options.endpoints.push(picky);
    let notifier = Notifier::start(options).await.unwrap();

    let mut events = Vec::new();
    for (i, (action, media_type)) in [
        (Action::Push, "application/vnd.oci.image.layer.v1.tar"),
        (Action::Push, "application/octet-stream"),
        (Action::Pull, "application/vnd.oci.image.layer.v1.tar"),
        (Action::Mount, "application/vnd.oci.image.layer.v1.tar"),
        (Action::Delete, ""),
        (Action::Pull, "application/octet-stream"),
        (Action::Push, "application/vnd.oci.image.manifest.v1+json"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut e = event(i);
        e.action = action;
        e.target.media_type = media_type.into();
        events.push(e);
    }
    publish_all(&notifier, &events).await;
    let got_all = all
        .wait_for_events(events.len(), Duration::from_secs(5))
        .await;
    assert_eq!(ids(&got_all), ids(&events));
    let wanted = [&events[0], &events[4], &events[6]];
    let got = filtered
        .wait_for_events(wanted.len(), Duration::from_secs(5))
        .await;
    let wanted_ids: Vec<String> = wanted.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids(&got), wanted_ids);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(filtered.events().len(), wanted.len());
    // A filtered event never entered the picky endpoint's queue.
    let stats = notifier.stats();
    assert_eq!(stats[0].delivered, events.len() as u64);
    assert_eq!(stats[1].name, "picky");
    assert_eq!(stats[1].delivered, wanted.len() as u64);
    notifier.shutdown().await;
    all.stop().await;
    filtered.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_endpoint_gets_everything_in_order() {
    // The first five requests are answered 500, then 202.
    let receiver = Receiver::start_with("127.0.0.1:0".parse().unwrap(), |n| {
        if n < 5 {
            Reply::status(500)
        } else {
            Reply::status(202)
        }
    });
    let spool = tempfile::tempdir().unwrap();
    let notifier = Notifier::start(one_endpoint(spool.path(), &receiver.url()))
        .await
        .unwrap();
    let events: Vec<_> = (0..4).map(event).collect();
    publish_all(&notifier, &events).await;
    let got = receiver.wait_for_events(4, Duration::from_secs(5)).await;
    assert_eq!(ids(&got), ids(&events));
    // The receiver has the last event before the notifier has read the
    // answer and counted it: wait for the count.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while notifier.stats()[0].delivered < 4 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = &notifier.stats()[0];
    assert_eq!(stats.failed, 5);
    assert_eq!(stats.retries, 5);
    assert_eq!(stats.delivered, 4);
    assert_eq!(stats.last_status, Some(202));
    assert_eq!(stats.pending, 0);
    notifier.shutdown().await;
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_report_each_endpoint() {
    // One 500, then 202s.
    let receiver = Receiver::start_with("127.0.0.1:0".parse().unwrap(), |n| {
        if n < 1 {
            Reply::status(500)
        } else {
            Reply::status(202)
        }
    });
    let spool = tempfile::tempdir().unwrap();
    let notifier = Notifier::start(one_endpoint(spool.path(), &receiver.url()))
        .await
        .unwrap();
    let mut metrics = berth_metrics::MetricsRegistry::new();
    metrics.register(&notifier);
    let events: Vec<_> = (0..2).map(event).collect();
    publish_all(&notifier, &events).await;
    receiver.wait_for_events(2, Duration::from_secs(5)).await;
    // The receiver has the events; the notifier counts them on its answers.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while notifier.stats()[0].pending > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let text = metrics.render();
    for line in [
        "# HELP berth_notifications_pending Events queued for an endpoint, not yet delivered.",
        "# TYPE berth_notifications_pending gauge",
        r#"berth_notifications_pending{endpoint="hook"} 0"#,
        "# TYPE berth_notifications_delivered counter",
        r#"berth_notifications_delivered_total{endpoint="hook"} 2"#,
        r#"berth_notifications_failed_total{endpoint="hook"} 1"#,
        r#"berth_notifications_retries_total{endpoint="hook"} 1"#,
        r#"berth_notifications_dropped_total{endpoint="hook"} 0"#,
        r#"berth_notifications_spool_errors_total{endpoint="hook"} 0"#,
        "# TYPE berth_notifications_last_status gauge",
        r#"berth_notifications_last_status{endpoint="hook"} 202"#,
        "# EOF",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
    }
    notifier.shutdown().await;
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoff_after_threshold_failures() {
    // Always 503 for the first 6 requests: threshold 2 means two quick
    // tries, then one try per backoff (200 ms).
    let receiver = Receiver::start_with("127.0.0.1:0".parse().unwrap(), |n| {
        if n < 6 {
            Reply::status(503)
        } else {
            Reply::ok()
        }
    });
    let spool = tempfile::tempdir().unwrap();
    let mut options = one_endpoint(spool.path(), &receiver.url());
    options.endpoints[0].backoff = Duration::from_millis(200);
    let notifier = Notifier::start(options).await.unwrap();
    let started = std::time::Instant::now();
    notifier.publish(&event(0)).await.unwrap();
    receiver.wait_for_events(1, Duration::from_secs(5)).await;
    let elapsed = started.elapsed();
    // Attempts 3 to 7 each waited 200 ms after the previous failure.
    assert!(elapsed >= Duration::from_millis(5 * 200), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert_eq!(receiver.attempts(), 7);
    notifier.shutdown().await;
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_endpoint_times_out_and_is_retried() {
    // The first two requests take 700 ms, past the 250 ms timeout.
    let receiver = Receiver::start_with("127.0.0.1:0".parse().unwrap(), |n| {
        if n < 2 {
            Reply::slow(Duration::from_millis(700))
        } else {
            Reply::ok()
        }
    });
    let spool = tempfile::tempdir().unwrap();
    let mut options = one_endpoint(spool.path(), &receiver.url());
    options.endpoints[0].timeout = Duration::from_millis(250);
    let notifier = Notifier::start(options).await.unwrap();
    let events: Vec<_> = (0..3).map(event).collect();
    publish_all(&notifier, &events).await;
    let got = receiver.wait_for_events(3, Duration::from_secs(6)).await;
    assert_eq!(ids(&got), ids(&events));
    let stats = &notifier.stats()[0];
    assert_eq!(stats.failed, 2);
    assert_eq!(stats.delivered, 3);
    notifier.shutdown().await;
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_then_up() {
    let addr = free_addr();
    let spool = tempfile::tempdir().unwrap();
    let notifier = Notifier::start(one_endpoint(spool.path(), &format!("http://{addr}/events")))
        .await
        .unwrap();
    let events: Vec<_> = (0..5).map(event).collect();
    publish_all(&notifier, &events).await;
    wait_until("failed attempts", Duration::from_secs(5), || {
        notifier.stats()[0].failed >= 3
    })
    .await;
    let stats = &notifier.stats()[0];
    assert_eq!(stats.pending, 5);
    assert!(stats.queue_bytes > 0);
    assert_eq!(stats.delivered, 0);
    assert_eq!(stats.last_status, None);

    let receiver = Receiver::start_with(addr, |_| Reply::ok());
    let got = receiver.wait_for_events(5, Duration::from_secs(5)).await;
    assert_eq!(ids(&got), ids(&events));
    wait_until("an empty queue", Duration::from_secs(5), || {
        notifier.stats()[0].pending == 0
    })
    .await;
    assert_eq!(notifier.stats()[0].queue_bytes, 0);
    notifier.shutdown().await;
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_status_counts_as_delivered() {
    // 302 without a Location: nothing to follow, and 3xx is accepted.
    let receiver = Receiver::start_with("127.0.0.1:0".parse().unwrap(), |_| Reply::status(302));
    let spool = tempfile::tempdir().unwrap();
    let notifier = Notifier::start(one_endpoint(spool.path(), &receiver.url()))
        .await
        .unwrap();
    notifier.publish(&event(0)).await.unwrap();
    receiver.wait_for_events(1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(receiver.attempts(), 1);
    assert_eq!(notifier.stats()[0].last_status, Some(302));
    notifier.shutdown().await;
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishers_share_commits_and_keep_their_order() {
    let receiver = Receiver::start();
    let spool = tempfile::tempdir().unwrap();
    let notifier = Notifier::start(one_endpoint(spool.path(), &receiver.url()))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for t in 0..8 {
        let notifier = notifier.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            for i in 0..25 {
                let e = event(t * 100 + i);
                notifier.publish(&e).await.unwrap();
                sent.push(e.id);
            }
            sent
        }));
    }
    let mut per_task = Vec::new();
    for task in tasks {
        per_task.push(task.await.unwrap());
    }
    let got = ids(&receiver.wait_for_events(200, Duration::from_secs(20)).await);
    // Each publisher's events arrive in the order it published them.
    for sent in per_task {
        let positions: Vec<usize> = sent
            .iter()
            .map(|id| got.iter().position(|g| g == id).expect("delivered"))
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]));
    }
    let mut unique = got.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 200);
    notifier.shutdown().await;
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_endpoints_are_refused() {
    let spool = tempfile::tempdir().unwrap();
    for (endpoint, what) in [
        (EndpointOptions::new("a", "not a url"), "url"),
        (EndpointOptions::new("a", "ftp://example.com/"), "scheme"),
        (
            EndpointOptions {
                headers: vec![("bad header".into(), vec!["x".into()])],
                ..EndpointOptions::new("a", "http://127.0.0.1:9/")
            },
            "header",
        ),
    ] {
        let options =
            berth_notifications::NotificationsOptions::new(spool.path()).endpoint(endpoint);
        let err = Notifier::start(options).await.unwrap_err();
        assert!(err.to_string().contains(what), "{err}");
    }
    let options = berth_notifications::NotificationsOptions::new(spool.path())
        .endpoint(EndpointOptions::new("same", "http://127.0.0.1:9/"))
        .endpoint(EndpointOptions::new("same", "http://127.0.0.1:9/"));
    assert!(Notifier::start(options).await.is_err());
}

//! The JSON, against Distribution's own test and documentation.

use berth_notifications::{Action, Envelope, Event, EventsMediaType};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Distribution 3.0's `notifications/event_test.go` expects exactly this
/// from `json.MarshalIndent(envelope, "", "   ")`.
const DISTRIBUTION_ENVELOPE: &str = r#"{
   "events": [
      {
         "id": "asdf-asdf-asdf-asdf-0",
         "timestamp": "2006-01-02T15:04:05Z",
         "action": "push",
         "target": {
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "digest": "sha256:0123456789abcdef0",
            "size": 1,
            "length": 1,
            "repository": "library/test",
            "url": "http://example.com/v2/library/test/manifests/latest"
         },
         "request": {
            "id": "asdfasdf",
            "addr": "client.local",
            "host": "registrycluster.local",
            "method": "PUT",
            "useragent": "test/0.1"
         },
         "actor": {
            "name": "test-actor"
         },
         "source": {
            "addr": "hostname.local:port"
         }
      },
      {
         "id": "asdf-asdf-asdf-asdf-1",
         "timestamp": "2006-01-02T15:04:05Z",
         "action": "push",
         "target": {
            "mediaType": "application/vnd.docker.container.image.rootfs.diff+x-gtar",
            "digest": "sha256:3b3692957d439ac1928219a83fac91e7bf96c153725526874673ae1f2023f8d5",
            "size": 2,
            "length": 2,
            "repository": "library/test",
            "url": "http://example.com/v2/library/test/manifests/latest"
         },
         "request": {
            "id": "asdfasdf",
            "addr": "client.local",
            "host": "registrycluster.local",
            "method": "PUT",
            "useragent": "test/0.1"
         },
         "actor": {
            "name": "test-actor"
         },
         "source": {
            "addr": "hostname.local:port"
         }
      },
      {
         "id": "asdf-asdf-asdf-asdf-2",
         "timestamp": "2006-01-02T15:04:05Z",
         "action": "push",
         "target": {
            "mediaType": "application/vnd.docker.container.image.rootfs.diff+x-gtar",
            "digest": "sha256:3b3692957d439ac1928219a83fac91e7bf96c153725526874673ae1f2023f8d6",
            "size": 3,
            "length": 3,
            "repository": "library/test",
            "url": "http://example.com/v2/library/test/manifests/latest"
         },
         "request": {
            "id": "asdfasdf",
            "addr": "client.local",
            "host": "registrycluster.local",
            "method": "PUT",
            "useragent": "test/0.1"
         },
         "actor": {
            "name": "test-actor"
         },
         "source": {
            "addr": "hostname.local:port"
         }
      }
   ]
}"#;

/// The pull example of Distribution's `docs/content/about/notifications.md`.
const DOCUMENTED_PULL: &str = r#"{
  "events": [
    {
      "id": "320678d8-ca14-430f-8bb6-4ca139cd83f7",
      "timestamp": "2016-03-09T14:44:26.402973972-08:00",
      "action": "pull",
      "target": {
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "digest": "sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf",
        "size": 708,
        "length": 708,
        "repository": "hello-world",
        "url": "http://192.168.100.227:5000/v2/hello-world/manifests/sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf",
        "tag": "latest"
      },
      "request": {
        "id": "6df24a34-0959-4923-81ca-14f09767db19",
        "addr": "192.168.64.11:42961",
        "host": "192.168.100.227:5000",
        "method": "GET",
        "useragent": "curl/7.38.0"
      },
      "actor": {},
      "source": {
        "addr": "xtal.local:5000",
        "instanceID": "a53db899-3b4b-4a62-a067-8dd013beaca4"
      }
    }
  ]
}"#;

/// The delete target of the same documentation (Distribution 2.x form).
const DOCUMENTED_DELETE_TARGET: &str = r#"{
  "target": {
    "digest": "sha256:d89e1bee20d9cb344674e213b581f14fbd8e70274ecf9d10c514bab78a307845",
    "repository": "library/test"
  }
}"#;

fn prototype() -> Event {
    let mut e = Event::new(Action::Push);
    e.timestamp = OffsetDateTime::parse("2006-01-02T15:04:05Z", &Rfc3339).unwrap();
    e.actor.name = "test-actor".into();
    e.request.id = "asdfasdf".into();
    e.request.addr = "client.local".into();
    e.request.host = "registrycluster.local".into();
    e.request.method = "PUT".into();
    e.request.user_agent = "test/0.1".into();
    e.source.addr = "hostname.local:port".into();
    e
}

#[test]
fn envelope_is_byte_for_byte_distributions() {
    let mut events = Vec::new();
    for (i, (media_type, digest, size)) in [
        (
            "application/vnd.docker.distribution.manifest.v2+json",
            "sha256:0123456789abcdef0",
            1,
        ),
        (
            "application/vnd.docker.container.image.rootfs.diff+x-gtar",
            "sha256:3b3692957d439ac1928219a83fac91e7bf96c153725526874673ae1f2023f8d5",
            2,
        ),
        (
            "application/vnd.docker.container.image.rootfs.diff+x-gtar",
            "sha256:3b3692957d439ac1928219a83fac91e7bf96c153725526874673ae1f2023f8d6",
            3,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mut e = prototype();
        e.id = format!("asdf-asdf-asdf-asdf-{i}");
        e.target.media_type = media_type.into();
        e.target.digest = digest.into();
        e.target.size = size;
        e.target.length = size;
        e.target.repository = "library/test".into();
        e.target.url = "http://example.com/v2/library/test/manifests/latest".into();
        events.push(e);
    }
    let envelope = Envelope { events };
    let json = String::from_utf8(envelope.to_json(EventsMediaType::V2)).unwrap();
    assert_eq!(json, DISTRIBUTION_ENVELOPE);

    // And it parses back to the same events.
    let parsed: Envelope = serde_json::from_str(DISTRIBUTION_ENVELOPE).unwrap();
    assert_eq!(parsed, envelope);
}

#[test]
fn documented_pull_example_round_trips() {
    let parsed: Envelope = serde_json::from_str(DOCUMENTED_PULL).unwrap();
    assert_eq!(parsed.events.len(), 1);
    let e = &parsed.events[0];
    assert_eq!(e.id, "320678d8-ca14-430f-8bb6-4ca139cd83f7");
    assert_eq!(e.action, Action::Pull);
    assert_eq!(e.target.size, 708);
    assert_eq!(e.target.tag, "latest");
    assert_eq!(e.request.user_agent, "curl/7.38.0");
    assert_eq!(e.actor.name, "");
    assert_eq!(e.source.instance_id, "a53db899-3b4b-4a62-a067-8dd013beaca4");

    let expected: Value = serde_json::from_str(DOCUMENTED_PULL).unwrap();
    for media_type in [EventsMediaType::V2, EventsMediaType::V1] {
        let again: Value = serde_json::from_slice(&parsed.to_json(media_type)).unwrap();
        assert_eq!(again, expected, "{media_type}");
    }
    // The timestamp keeps its nanoseconds and offset, as Go prints them.
    let compact = String::from_utf8(parsed.events[0].to_json(EventsMediaType::V2)).unwrap();
    assert!(compact.contains(r#""timestamp":"2016-03-09T14:44:26.402973972-08:00""#));
    // Every field name, spelled as Distribution's.
    for name in [
        "\"id\"",
        "\"timestamp\"",
        "\"action\"",
        "\"target\"",
        "\"mediaType\"",
        "\"digest\"",
        "\"size\"",
        "\"length\"",
        "\"repository\"",
        "\"url\"",
        "\"tag\"",
        "\"request\"",
        "\"addr\"",
        "\"host\"",
        "\"method\"",
        "\"useragent\"",
        "\"actor\"",
        "\"source\"",
        "\"instanceID\"",
    ] {
        assert!(compact.contains(name), "{name} missing from {compact}");
    }
}

#[test]
fn delete_targets_in_each_form() {
    // A manifest delete: digest and repository only. Distribution 2.x
    // (and its documentation) omits the empty fields; 3.0 serializes an
    // OCI descriptor, whose mediaType, digest and size are always there.
    let mut e = prototype();
    e.action = Action::Delete;
    e.target.digest =
        "sha256:d89e1bee20d9cb344674e213b581f14fbd8e70274ecf9d10c514bab78a307845".into();
    e.target.repository = "library/test".into();
    let documented: Value = serde_json::from_str(DOCUMENTED_DELETE_TARGET).unwrap();
    let v1: Value = serde_json::from_slice(&e.to_json(EventsMediaType::V1)).unwrap();
    assert_eq!(v1["target"], documented["target"]);
    let v2: Value = serde_json::from_slice(&e.to_json(EventsMediaType::V2)).unwrap();
    assert_eq!(
        v2["target"],
        serde_json::json!({
            "mediaType": "",
            "digest": "sha256:d89e1bee20d9cb344674e213b581f14fbd8e70274ecf9d10c514bab78a307845",
            "size": 0,
            "repository": "library/test",
        })
    );

    // A tag delete: repository and tag.
    let mut e = prototype();
    e.action = Action::Delete;
    e.target.repository = "library/test".into();
    e.target.tag = "latest".into();
    let v1: Value = serde_json::from_slice(&e.to_json(EventsMediaType::V1)).unwrap();
    assert_eq!(
        v1["target"],
        serde_json::json!({"repository": "library/test", "tag": "latest"})
    );

    // The request's id, method and useragent are always present, the
    // actor and source objects too (Go's omitempty ignores structs).
    let mut e = Event::new(Action::Pull);
    e.id = "x".into();
    let v: Value = serde_json::from_slice(&e.to_json(EventsMediaType::V1)).unwrap();
    assert_eq!(
        v["request"],
        serde_json::json!({"id": "", "method": "", "useragent": ""})
    );
    assert_eq!(v["actor"], serde_json::json!({}));
    assert_eq!(v["source"], serde_json::json!({}));
}

#[test]
fn mount_and_references_fields() {
    let mut e = prototype();
    e.action = Action::Mount;
    e.target.repository = "team/app".into();
    e.target.from_repository = "team/base".into();
    e.target.references = vec![berth_manifest::Descriptor::new(
        "application/vnd.oci.image.config.v1+json",
        berth_digest::Digest::sha256(b"{}"),
        2,
    )];
    let v: Value = serde_json::from_slice(&e.to_json(EventsMediaType::V2)).unwrap();
    assert_eq!(v["action"], "mount");
    assert_eq!(v["target"]["fromRepository"], "team/base");
    assert_eq!(
        v["target"]["references"][0]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    assert_eq!(v["target"]["references"][0]["size"], 2);
    let back: Event = serde_json::from_value(v).unwrap();
    assert_eq!(back, e);
}

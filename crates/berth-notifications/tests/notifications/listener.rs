//! Every registry operation through the listener, on a real registry,
//! and the events that arrive for it.

use std::sync::Arc;
use std::time::Duration;

use berth_core::{CreateOptions, Created, Namespace, PutOptions};
use berth_digest::Digest;
use berth_manifest::{Manifest, ManifestRegistry};
use berth_notifications::{Action, ActorRecord, Event, Notifier, RequestContext, RequestRecord};
use berth_reference::{RepositoryName, Tag};
use berth_storage::{Registry, StorageOptions};
use bytes::Bytes;

use crate::common::*;

const BASE: &str = "https://registry.example.com";

fn ctx(id: &str, method: &str) -> RequestContext {
    RequestContext {
        request: RequestRecord {
            id: id.into(),
            addr: "192.0.2.7:41234".into(),
            host: "registry.example.com".into(),
            method: method.into(),
            user_agent: "docker/27.0".into(),
        },
        actor: ActorRecord {
            name: "alice".into(),
        },
        base_url: format!("{BASE}/"),
    }
}

fn name(s: &str) -> RepositoryName {
    RepositoryName::parse(s).unwrap()
}

fn tag(s: &str) -> Tag {
    Tag::parse(s).unwrap()
}

fn docker_manifest(config: &(Digest, usize), layer: &(Digest, usize), label: &str) -> Manifest {
    let json = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":{},"digest":"{}"}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":{},"digest":"{}"}}],"annotations":{{"label":"{label}"}}}}"#,
        config.1, config.0, layer.1, layer.0
    );
    ManifestRegistry::new()
        .parse(
            Some("application/vnd.docker.distribution.manifest.v2+json"),
            Bytes::from(json),
        )
        .expect("a valid manifest")
}

/// What an event is expected to say (the rest is checked for all).
struct Expected {
    action: Action,
    repository: &'static str,
    digest: String,
    tag: &'static str,
    from: &'static str,
    request: &'static str,
    method: &'static str,
}

fn expect(
    action: Action,
    repository: &'static str,
    digest: impl Into<String>,
    tag: &'static str,
    request: &'static str,
    method: &'static str,
) -> Expected {
    Expected {
        action,
        repository,
        digest: digest.into(),
        tag,
        from: "",
        request,
        method,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_emits_distributions_events() {
    let receiver = Receiver::start();
    let spool = tempfile::tempdir().unwrap();
    let mut options = one_endpoint(spool.path(), &receiver.url());
    options.include_references = true;
    let notifier = Notifier::start(options).await.unwrap();
    let registry: Arc<dyn Namespace> = Arc::new(Registry::new(
        Arc::new(berth_driver::InMemoryDriver::new()),
        StorageOptions {
            delete_enabled: true,
            ..StorageOptions::default()
        },
    ));
    let request = |id: &str, method: &str| notifier.wrap(registry.clone(), ctx(id, method));
    let app = name("team/app");
    let other = name("team/other");

    let config_bytes = Bytes::from_static(br#"{"architecture":"amd64","os":"linux"}"#);
    let config = (Digest::sha256(&config_bytes), config_bytes.len());
    let layer_bytes = Bytes::from(vec![7u8; 3000]);
    let layer = (Digest::sha256(&layer_bytes), layer_bytes.len());

    // Monolithic upload (POST ?digest=): create, write, commit.
    let repo = request("push-config", "POST").repository(&app).unwrap();
    let Created::Upload(mut upload) = repo.blobs().create(CreateOptions::default()).await.unwrap()
    else {
        panic!("expected an upload")
    };
    upload.write(config_bytes.clone()).await.unwrap();
    upload.commit(&config.0, None).await.unwrap();

    // Chunked upload across three requests: only the commit is a push.
    let repo = request("start-layer", "POST").repository(&app).unwrap();
    let Created::Upload(upload) = repo.blobs().create(CreateOptions::default()).await.unwrap()
    else {
        panic!("expected an upload")
    };
    let id = upload.id().to_owned();
    upload.close().await.unwrap();
    let repo = request("patch-layer", "PATCH").repository(&app).unwrap();
    let mut upload = repo.blobs().resume(&id).await.unwrap();
    upload.write(layer_bytes.slice(..1000)).await.unwrap();
    upload.close().await.unwrap();
    let repo = request("push-layer", "PUT").repository(&app).unwrap();
    let mut upload = repo.blobs().resume(&id).await.unwrap();
    upload.write(layer_bytes.slice(1000..)).await.unwrap();
    upload.commit(&layer.0, None).await.unwrap();

    // Cross-repository mount.
    let repo = request("mount", "POST").repository(&other).unwrap();
    let mount = CreateOptions {
        mount_from: Some((app.clone(), layer.0.clone())),
    };
    assert!(matches!(
        repo.blobs().create(mount).await.unwrap(),
        Created::Mounted(_)
    ));
    // A mount of a blob the source does not have falls back to an
    // upload: no event.
    let repo = request("no-mount", "POST").repository(&other).unwrap();
    let missing = CreateOptions {
        mount_from: Some((app.clone(), Digest::sha256(b"nothing"))),
    };
    let Created::Upload(upload) = repo.blobs().create(missing).await.unwrap() else {
        panic!("expected an upload")
    };
    upload.cancel().await.unwrap();

    // Manifests: by tag, then by digest.
    let m1 = docker_manifest(&config, &layer, "one");
    let m2 = docker_manifest(&config, &layer, "two");
    let repo = request("push-tag", "PUT").repository(&app).unwrap();
    let d1 = repo
        .manifests()
        .put(
            &m1,
            PutOptions {
                tag: Some(tag("v1")),
                ..PutOptions::default()
            },
        )
        .await
        .unwrap();
    let repo = request("push-digest", "PUT").repository(&app).unwrap();
    let d2 = repo
        .manifests()
        .put(&m2, PutOptions::default())
        .await
        .unwrap();

    // Pull by tag (as the handler does: resolve, then get), HEAD by digest.
    let repo = request("pull-tag", "GET").repository(&app).unwrap();
    let resolved = repo.tags().get(&tag("v1")).await.unwrap().digest;
    repo.manifests().get(&resolved).await.unwrap();
    let repo = request("head-digest", "HEAD").repository(&app).unwrap();
    repo.manifests().get(&d2).await.unwrap();

    // Blob GET (stat, no redirect here, stream) and HEAD (stat).
    let repo = request("get-blob", "GET").repository(&app).unwrap();
    let descriptor = repo.blobs().stat(&layer.0).await.unwrap();
    assert!(
        repo.blobs()
            .redirect_url_described(&descriptor)
            .await
            .unwrap()
            .is_none()
    );
    repo.blobs().open_described(descriptor, None).await.unwrap();
    let repo = request("head-blob", "HEAD").repository(&app).unwrap();
    repo.blobs().stat(&layer.0).await.unwrap();

    // Failures emit nothing.
    let repo = request("unknown", "GET").repository(&app).unwrap();
    assert!(repo.manifests().get(&Digest::sha256(b"no")).await.is_err());
    assert!(repo.blobs().stat(&Digest::sha256(b"no")).await.is_err());
    assert!(repo.tags().untag(&tag("nope")).await.is_err());

    // Tag delete; manifest delete (which removes its tags: one event each).
    let repo = request("delete-tag", "DELETE").repository(&app).unwrap();
    repo.tags().untag(&tag("v1")).await.unwrap();
    let repo = request("retag", "PUT").repository(&app).unwrap();
    repo.tags().tag(&tag("v2"), &m1.descriptor()).await.unwrap();
    let repo = request("delete-manifest", "DELETE")
        .repository(&app)
        .unwrap();
    repo.manifests().delete(&d1).await.unwrap();

    // Blob delete, repository delete.
    let repo = request("delete-blob", "DELETE").repository(&app).unwrap();
    repo.blobs().delete(&config.0).await.unwrap();
    request("delete-repo", "DELETE")
        .remove_repository(&other)
        .await
        .unwrap();

    let expected = vec![
        expect(
            Action::Push,
            "team/app",
            config.0.as_str(),
            "",
            "push-config",
            "POST",
        ),
        expect(
            Action::Push,
            "team/app",
            layer.0.as_str(),
            "",
            "push-layer",
            "PUT",
        ),
        Expected {
            from: "team/app",
            ..expect(
                Action::Mount,
                "team/other",
                layer.0.as_str(),
                "",
                "mount",
                "POST",
            )
        },
        expect(
            Action::Push,
            "team/app",
            d1.as_str(),
            "v1",
            "push-tag",
            "PUT",
        ),
        expect(
            Action::Push,
            "team/app",
            d2.as_str(),
            "",
            "push-digest",
            "PUT",
        ),
        expect(
            Action::Pull,
            "team/app",
            d1.as_str(),
            "v1",
            "pull-tag",
            "GET",
        ),
        expect(
            Action::Pull,
            "team/app",
            d2.as_str(),
            "",
            "head-digest",
            "HEAD",
        ),
        expect(
            Action::Pull,
            "team/app",
            layer.0.as_str(),
            "",
            "get-blob",
            "GET",
        ),
        expect(
            Action::Pull,
            "team/app",
            layer.0.as_str(),
            "",
            "head-blob",
            "HEAD",
        ),
        expect(Action::Delete, "team/app", "", "v1", "delete-tag", "DELETE"),
        expect(
            Action::Delete,
            "team/app",
            d1.as_str(),
            "",
            "delete-manifest",
            "DELETE",
        ),
        expect(
            Action::Delete,
            "team/app",
            "",
            "v2",
            "delete-manifest",
            "DELETE",
        ),
        expect(
            Action::Delete,
            "team/app",
            config.0.as_str(),
            "",
            "delete-blob",
            "DELETE",
        ),
        expect(
            Action::Delete,
            "team/other",
            "",
            "",
            "delete-repo",
            "DELETE",
        ),
    ];
    let events = receiver
        .wait_for_events(expected.len(), Duration::from_secs(10))
        .await;
    // Nothing more comes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let events_now = receiver.events();
    assert_eq!(
        events_now.len(),
        expected.len(),
        "events: {:#?}",
        summary(&events_now)
    );

    for (i, (event, want)) in events.iter().zip(&expected).enumerate() {
        let at = format!(
            "event {i} ({}): {:?}",
            want.request,
            summary(&events[i..=i])
        );
        assert_eq!(event.action, want.action, "{at}");
        assert_eq!(event.target.repository, want.repository, "{at}");
        assert_eq!(event.target.digest, want.digest, "{at}");
        assert_eq!(event.target.tag, want.tag, "{at}");
        assert_eq!(event.target.from_repository, want.from, "{at}");
        assert_eq!(event.request.id, want.request, "{at}");
        assert_eq!(event.request.method, want.method, "{at}");
        assert_eq!(event.request.addr, "192.0.2.7:41234", "{at}");
        assert_eq!(event.request.host, "registry.example.com", "{at}");
        assert_eq!(event.request.user_agent, "docker/27.0", "{at}");
        assert_eq!(event.actor.name, "alice", "{at}");
        assert_eq!(event.source.addr, "berth.test:5000", "{at}");
        assert_eq!(event.source.instance_id, "instance-1", "{at}");
        assert_eq!(event.id.len(), 36, "{at}");
        let is_delete = event.action == Action::Delete;
        let is_manifest = [d1.as_str(), d2.as_str()].contains(&event.target.digest.as_str());
        if is_delete {
            // Deletes carry the digest or tag and the repository only.
            assert_eq!(event.target.media_type, "", "{at}");
            assert_eq!(event.target.size, 0, "{at}");
            assert_eq!(event.target.url, "", "{at}");
        } else if is_manifest {
            let manifest = if event.target.digest == d1.as_str() {
                &m1
            } else {
                &m2
            };
            assert_eq!(event.target.media_type, manifest.media_type(), "{at}");
            assert_eq!(event.target.size, manifest.payload().len() as i64, "{at}");
            assert_eq!(event.target.length, event.target.size, "{at}");
            assert_eq!(
                event.target.url,
                format!("{BASE}/v2/team/app/manifests/{}", event.target.digest),
                "{at}"
            );
            let references: Vec<&str> = event
                .target
                .references
                .iter()
                .map(|d| d.digest.as_str())
                .collect();
            assert_eq!(references, [config.0.as_str(), layer.0.as_str()], "{at}");
        } else {
            let size = if event.target.digest == layer.0.as_str() {
                layer.1
            } else {
                config.1
            };
            assert_eq!(event.target.size, size as i64, "{at}");
            assert_eq!(event.target.length, size as i64, "{at}");
            assert_eq!(event.target.media_type, "application/octet-stream", "{at}");
            assert_eq!(
                event.target.url,
                format!(
                    "{BASE}/v2/{}/blobs/{}",
                    event.target.repository, event.target.digest
                ),
                "{at}"
            );
            assert!(event.target.references.is_empty(), "{at}");
        }
    }
    // Every event has its own id.
    let mut ids = ids(&events);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), expected.len());

    let stats = &notifier.stats()[0];
    assert_eq!(stats.delivered, expected.len() as u64);
    assert_eq!((stats.pending, stats.queue_bytes), (0, 0));
    assert_eq!(stats.last_status, Some(200));
    notifier.shutdown().await;
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_endpoints_the_namespace_is_not_wrapped() {
    let spool = tempfile::tempdir().unwrap();
    let mut options = berth_notifications::NotificationsOptions::new(spool.path().join("q"));
    let mut disabled = berth_notifications::EndpointOptions::new("off", "http://127.0.0.1:9/");
    disabled.disabled = true;
    options.endpoints.push(disabled);
    let notifier = Notifier::start(options).await.unwrap();
    assert!(!notifier.is_active());
    assert!(notifier.stats().is_empty());
    assert!(
        !spool.path().join("q").exists(),
        "no queue for a disabled endpoint"
    );
    let registry: Arc<dyn Namespace> = Arc::new(Registry::new(
        Arc::new(berth_driver::InMemoryDriver::new()),
        StorageOptions::default(),
    ));
    let wrapped = notifier.wrap(registry.clone(), RequestContext::default());
    assert!(Arc::ptr_eq(&wrapped, &registry));
    notifier.shutdown().await;
}

fn summary(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            format!(
                "{} {} digest={} tag={} from={} req={} {}",
                e.action,
                e.target.repository,
                e.target.digest,
                e.target.tag,
                e.target.from_repository,
                e.request.id,
                e.request.method
            )
        })
        .collect()
}

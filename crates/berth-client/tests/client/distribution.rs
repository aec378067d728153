//! Against Debian's `docker-registry` (CNCF Distribution 2.8): every
//! operation, for real.

use berth_client::{Client, RemoteRepository};
use berth_core::{
    CreateOptions, Created, Error, ErrorKind, Namespace, PageRequest, PutOptions, Repository,
};
use berth_digest::Digest;
use berth_manifest::{Descriptor, Manifest, ManifestRegistry, media_type};
use berth_reference::{RepositoryName, Tag};
use berth_testkit::DockerRegistry;
use bytes::Bytes;

use crate::common::{client, data, drain, stream_of, tempdir};

struct Setup {
    _dir: tempfile::TempDir,
    registry: DockerRegistry,
    client: Client,
}

fn setup() -> Option<Setup> {
    let dir = tempdir();
    let registry = DockerRegistry::start(&dir.path().join("root"))?;
    let client = client(&registry.url);
    Some(Setup {
        _dir: dir,
        registry,
        client,
    })
}

fn name(s: &str) -> RepositoryName {
    RepositoryName::parse(s).unwrap()
}

fn tag(s: &str) -> Tag {
    Tag::parse(s).unwrap()
}

/// Pushes a config and a layer; answers their descriptors.
async fn push_image_blobs(
    repo: &RemoteRepository,
    seed: u8,
    docker: bool,
) -> (Descriptor, Descriptor) {
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}},"seed":{seed}}}"#
    );
    let (config_type, layer_type) = if docker {
        (media_type::DOCKER_CONFIG, media_type::DOCKER_LAYER_GZIP)
    } else {
        (media_type::OCI_CONFIG, media_type::OCI_LAYER_GZIP)
    };
    let config = repo
        .blobs()
        .put(config_type, Bytes::from(config))
        .await
        .unwrap();
    let layer = repo
        .blobs()
        .put(layer_type, Bytes::from(data(3000, seed)))
        .await
        .unwrap();
    (config, layer)
}

fn image_manifest(
    config: &Descriptor,
    layer: &Descriptor,
    docker: bool,
    subject: Option<&Descriptor>,
) -> Manifest {
    let media = if docker {
        media_type::DOCKER_MANIFEST_V2
    } else {
        media_type::OCI_MANIFEST
    };
    let mut json = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media,
        "config": {"mediaType": config.media_type, "digest": config.digest.as_str(), "size": config.size},
        "layers": [{"mediaType": layer.media_type, "digest": layer.digest.as_str(), "size": layer.size}],
    });
    if let Some(subject) = subject {
        json["subject"] = serde_json::json!({"mediaType": subject.media_type, "digest": subject.digest.as_str(), "size": subject.size});
        json["artifactType"] = "application/vnd.example.sbom".into();
    }
    let body = serde_json::to_vec_pretty(&json).unwrap();
    ManifestRegistry::new()
        .parse(Some(media), Bytes::from(body))
        .unwrap()
}

#[tokio::test]
async fn ping_and_blob_uploads_of_every_kind() {
    let Some(s) = setup() else { return };
    s.client.ping().await.unwrap();
    let repo = s.client.repository(&name("team/app"));
    let blobs = repo.blobs();

    // Monolithic.
    let small = Bytes::from(data(1000, 1));
    let d = blobs
        .put("application/octet-stream", small.clone())
        .await
        .unwrap();
    assert_eq!(d.digest, Digest::sha256(&small));
    assert_eq!(d.size, 1000);
    assert_eq!(blobs.stat(&d.digest).await.unwrap().size, 1000);
    assert_eq!(blobs.get(&d.digest).await.unwrap(), small);
    let (status, body) = s.registry.get_blob("team/app", d.digest.as_str());
    assert_eq!((status, body), (200, small.to_vec()));

    // Chunked, through the writer.
    let big = data(70_000, 2);
    let digest = Digest::sha256(&big);
    let Created::Upload(mut writer) = blobs.create(CreateOptions::default()).await.unwrap() else {
        panic!("a new upload")
    };
    for piece in big.chunks(16_384) {
        writer.write(Bytes::copy_from_slice(piece)).await.unwrap();
    }
    assert_eq!(writer.size(), 70_000);
    let d = writer.commit(&digest, Some(70_000)).await.unwrap();
    assert_eq!((d.digest.clone(), d.size), (digest.clone(), 70_000));
    assert_eq!(s.registry.get_blob("team/app", digest.as_str()).1, big);

    // Streamed monolithic and streamed chunked.
    let streamed = data(50_000, 3);
    let sd = Digest::sha256(&streamed);
    let d = repo
        .remote_blobs()
        .upload(stream_of(&streamed, 7000), &sd, Some(50_000))
        .await
        .unwrap();
    assert_eq!(d.size, 50_000);
    assert_eq!(s.registry.get_blob("team/app", sd.as_str()).1, streamed);
    let streamed = data(45_001, 4);
    let sd = Digest::sha256(&streamed);
    let d = repo
        .remote_blobs()
        .upload(stream_of(&streamed, 4096), &sd, None)
        .await
        .unwrap();
    assert_eq!(d.size, 45_001);
    let chunked = data(33_333, 5);
    let cd = Digest::sha256(&chunked);
    let d = repo
        .remote_blobs()
        .upload_chunked(stream_of(&chunked, 5000), &cd, 10_000)
        .await
        .unwrap();
    assert_eq!(d.size, 33_333);
    assert_eq!(s.registry.get_blob("team/app", cd.as_str()).1, chunked);

    // Resume by id: write, drop the writer, resume elsewhere, finish.
    let resumed = data(20_000, 6);
    let rd = Digest::sha256(&resumed);
    let Created::Upload(mut writer) = blobs.create(CreateOptions::default()).await.unwrap() else {
        panic!("a new upload")
    };
    writer
        .write(Bytes::copy_from_slice(&resumed[..12_000]))
        .await
        .unwrap();
    let id = writer.id().to_owned();
    let started = writer.started_at();
    writer.close().await.unwrap();
    let other = s.client.repository(&name("team/app"));
    let mut writer = other.blobs().resume(&id).await.unwrap();
    assert_eq!(writer.size(), 12_000);
    let drift = started
        .duration_since(writer.started_at())
        .unwrap_or_else(|e| e.duration());
    assert!(
        drift.as_secs() < 2,
        "started_at comes from the upload state"
    );
    writer
        .write(Bytes::copy_from_slice(&resumed[12_000..]))
        .await
        .unwrap();
    writer.commit(&rd, Some(20_000)).await.unwrap();
    assert_eq!(s.registry.get_blob("team/app", rd.as_str()).1, resumed);

    // An empty upload, resumed: "0-0" is empty.
    let Created::Upload(writer) = blobs.create(CreateOptions::default()).await.unwrap() else {
        panic!("a new upload")
    };
    let id = writer.id().to_owned();
    let writer = blobs.resume(&id).await.unwrap();
    assert_eq!(writer.size(), 0);
    writer.cancel().await.unwrap();
    assert_eq!(
        blobs.resume(&id).await.err().unwrap().kind(),
        ErrorKind::BlobUploadUnknown
    );

    // Mount into another repository; an unknown one falls back to an upload.
    let target = s.client.repository(&name("team/other"));
    let created = target
        .blobs()
        .create(CreateOptions {
            mount_from: Some((name("team/app"), digest.clone())),
        })
        .await
        .unwrap();
    let Created::Mounted(descriptor) = created else {
        panic!("mounted: {created:?}")
    };
    assert_eq!(
        (descriptor.digest.clone(), descriptor.size),
        (digest.clone(), 70_000)
    );
    assert_eq!(target.blobs().get(&digest).await.unwrap(), big);
    let created = target
        .blobs()
        .create(CreateOptions {
            mount_from: Some((name("team/app"), Digest::sha256(b"nowhere"))),
        })
        .await
        .unwrap();
    let Created::Upload(writer) = created else {
        panic!("an upload: {created:?}")
    };
    writer.cancel().await.unwrap();

    // Delete.
    target.blobs().delete(&digest).await.unwrap();
    let err = target.blobs().stat(&digest).await.unwrap_err();
    assert!(
        matches!(&err, Error::BlobUnknown { digest: d } if d == &digest),
        "{err:?}"
    );
    assert_eq!(
        target.blobs().delete(&digest).await.unwrap_err().kind(),
        ErrorKind::BlobUnknown
    );
    // Still in the first repository.
    assert_eq!(blobs.stat(&digest).await.unwrap().size, 70_000);
}

#[tokio::test]
async fn ranged_and_streamed_reads() {
    let Some(s) = setup() else { return };
    let repo = s.client.repository(&name("ranges"));
    let content = data(100_000, 9);
    let d = repo
        .blobs()
        .put("application/octet-stream", Bytes::from(content.clone()))
        .await
        .unwrap();

    let whole = repo.blobs().open(&d.digest, None).await.unwrap();
    assert_eq!(whole.range, 0..100_000);
    assert_eq!(whole.descriptor.size, 100_000);
    let (bytes, err) = drain(whole.body).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(bytes, content);

    let part = repo
        .blobs()
        .open(&d.digest, Some(1000..5000))
        .await
        .unwrap();
    assert_eq!(part.range, 1000..5000);
    assert_eq!(part.descriptor.size, 100_000);
    let (bytes, err) = drain(part.body).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(bytes, &content[1000..5000]);

    // Past the end: clamped; wholly past: empty.
    let tail = repo
        .blobs()
        .open_described(d.clone(), Some(99_000..200_000))
        .await
        .unwrap();
    assert_eq!(tail.range, 99_000..100_000);
    assert_eq!(drain(tail.body).await.0, &content[99_000..]);
    let beyond = repo
        .blobs()
        .open(&d.digest, Some(150_000..160_000))
        .await
        .unwrap();
    assert_eq!(beyond.range.start, beyond.range.end);
    assert!(drain(beyond.body).await.0.is_empty());
    let empty = repo.blobs().open(&d.digest, Some(10..10)).await.unwrap();
    assert!(drain(empty.body).await.0.is_empty());

    // The whole blob as a range is verified too.
    let all = repo
        .blobs()
        .open(&d.digest, Some(0..100_000))
        .await
        .unwrap();
    let (bytes, err) = drain(all.body).await;
    assert!(err.is_none());
    assert_eq!(bytes, content);

    assert_eq!(repo.blobs().redirect_url(&d.digest).await.unwrap(), None);
    assert_eq!(
        repo.blobs()
            .redirect_url(&Digest::sha256(b"no"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::BlobUnknown
    );
}

#[tokio::test]
async fn manifests_oci_and_docker_by_tag_and_digest() {
    let Some(s) = setup() else { return };
    let repo = s.client.repository(&name("team/images"));

    let (config, layer) = push_image_blobs(&repo, 1, false).await;
    let oci = image_manifest(&config, &layer, false, None);
    let pushed = repo
        .manifests()
        .put(
            &oci,
            PutOptions {
                tag: Some(tag("v1")),
                ..PutOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(&pushed, oci.digest());

    let (config, layer) = push_image_blobs(&repo, 2, true).await;
    let docker = image_manifest(&config, &layer, true, None);
    repo.manifests()
        .put(&docker, PutOptions::default())
        .await
        .unwrap();

    // By digest: the same bytes, media type and digest.
    for m in [&oci, &docker] {
        let got = repo.manifests().get(m.digest()).await.unwrap();
        assert_eq!(got.payload(), m.payload());
        assert_eq!(got.media_type(), m.media_type());
        assert_eq!(got.digest(), m.digest());
        assert!(repo.manifests().exists(m.digest()).await.unwrap());
        let (status, content_type, body) =
            s.registry
                .get_manifest("team/images", m.digest().as_str(), m.media_type());
        assert_eq!(
            (status, content_type.as_str(), &body[..]),
            (200, m.media_type(), &m.payload()[..])
        );
    }
    assert!(
        !repo
            .manifests()
            .exists(&Digest::sha256(b"none"))
            .await
            .unwrap()
    );

    // By tag.
    let got = repo.manifest_by_tag(&tag("v1")).await.unwrap();
    assert_eq!(got.payload(), oci.payload());
    let d = repo.tags().get(&tag("v1")).await.unwrap();
    assert_eq!(
        (d.media_type.as_str(), &d.digest, d.size),
        (media_type::OCI_MANIFEST, oci.digest(), oci.size() as i64)
    );

    // Tag the Docker manifest, then move the tag.
    repo.tags()
        .tag(&tag("docker"), &docker.descriptor())
        .await
        .unwrap();
    let d = repo.tags().get(&tag("docker")).await.unwrap();
    assert_eq!(
        (d.media_type.as_str(), &d.digest),
        (media_type::DOCKER_MANIFEST_V2, docker.digest())
    );
    repo.tags()
        .tag(&tag("docker"), &oci.descriptor())
        .await
        .unwrap();
    assert_eq!(
        &repo.tags().get(&tag("docker")).await.unwrap().digest,
        oci.digest()
    );

    // Distribution 2.8 deletes manifests by digest only.
    let err = repo.tags().untag(&tag("docker")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    let err = repo.tags().lookup(oci.digest()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);

    // Delete by digest: the manifest and its tags go.
    repo.manifests().delete(oci.digest()).await.unwrap();
    assert!(!repo.manifests().exists(oci.digest()).await.unwrap());
    let err = repo.manifests().get(oci.digest()).await.unwrap_err();
    assert!(
        matches!(&err, Error::ManifestUnknown { reference } if reference == oci.digest().as_str()),
        "{err:?}"
    );
    let err = repo.tags().get(&tag("v1")).await.unwrap_err();
    assert!(
        matches!(&err, Error::ManifestUnknown { reference } if reference == "v1"),
        "{err:?}"
    );
    assert_eq!(
        repo.manifests()
            .delete(oci.digest())
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::ManifestUnknown
    );
}

#[tokio::test]
async fn tags_and_catalog_paginate() {
    let Some(s) = setup() else { return };
    let blob = Bytes::from_static(b"{}");
    for repo in ["e", "c", "a", "d", "b"] {
        s.client
            .repository(&name(repo))
            .blobs()
            .put(media_type::OCI_EMPTY, blob.clone())
            .await
            .unwrap();
    }
    let namespace = s.client.namespace();
    let mut pages = Vec::new();
    let mut last = None;
    loop {
        let page = namespace
            .catalog(PageRequest {
                last: last.clone(),
                n: Some(2),
            })
            .await
            .unwrap();
        last = page.items.last().cloned();
        pages.push((page.items, page.more));
        if !pages.last().unwrap().1 {
            break;
        }
        assert!(pages.len() < 10);
    }
    assert_eq!(
        pages,
        [
            (vec!["a".to_owned(), "b".to_owned()], true),
            (vec!["c".to_owned(), "d".to_owned()], true),
            (vec!["e".to_owned()], false),
        ]
    );
    let all = namespace.catalog(PageRequest::default()).await.unwrap();
    assert_eq!((all.items.len(), all.more), (5, false));
    // A page of 3 gathered across the registry's pages of 2? The first
    // request asks for 3: one answer.
    let three = s
        .client
        .catalog(PageRequest {
            last: Some("a".into()),
            n: Some(3),
        })
        .await
        .unwrap();
    assert_eq!(
        (three.items, three.more),
        (vec!["b".into(), "c".into(), "d".into()], true)
    );

    // Tags: Distribution 2.8 ignores n and last; pages come out right anyway.
    let repo = s.client.repository(&name("tagged"));
    let (config, layer) = push_image_blobs(&repo, 7, false).await;
    let manifest = image_manifest(&config, &layer, false, None);
    for t in ["v5", "v3", "v1", "v4", "v2"] {
        repo.manifests()
            .put(
                &manifest,
                PutOptions {
                    tag: Some(tag(t)),
                    ..PutOptions::default()
                },
            )
            .await
            .unwrap();
    }
    let mut pages = Vec::new();
    let mut last = None;
    loop {
        let page = repo
            .tags()
            .list(PageRequest {
                last: last.clone(),
                n: Some(2),
            })
            .await
            .unwrap();
        last = page.items.last().cloned();
        pages.push((page.items, page.more));
        if !pages.last().unwrap().1 {
            break;
        }
        assert!(pages.len() < 10);
    }
    assert_eq!(
        pages,
        [
            (vec!["v1".to_owned(), "v2".to_owned()], true),
            (vec!["v3".to_owned(), "v4".to_owned()], true),
            (vec!["v5".to_owned()], false),
        ]
    );
    let all = repo.tags().list(PageRequest::default()).await.unwrap();
    assert_eq!(all.items, ["v1", "v2", "v3", "v4", "v5"]);
    let err = s
        .client
        .repository(&name("missing"))
        .tags()
        .list(PageRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NameUnknown { name } if name == "missing"),
        "{err:?}"
    );
}

#[tokio::test]
async fn referrers_fall_back_to_the_tag_schema() {
    let Some(s) = setup() else { return };
    let repo = s.client.repository(&name("signed"));
    let (config, layer) = push_image_blobs(&repo, 3, false).await;
    let subject = image_manifest(&config, &layer, false, None);
    repo.manifests()
        .put(
            &subject,
            PutOptions {
                tag: Some(tag("latest")),
                ..PutOptions::default()
            },
        )
        .await
        .unwrap();

    // No referrers yet: Distribution 2.8 has no referrers API (404) and
    // there is no fallback tag.
    assert!(
        repo.referrers()
            .referrers(subject.digest(), None)
            .await
            .unwrap()
            .is_empty()
    );

    let (config, layer) = push_image_blobs(&repo, 4, false).await;
    let sbom = image_manifest(&config, &layer, false, Some(&subject.descriptor()));
    repo.manifests()
        .put(&sbom, PutOptions::default())
        .await
        .unwrap();
    // What a client without the API does: an index under sha256-<hex>.
    let entry = sbom.descriptor();
    assert_eq!(
        entry.artifact_type.as_deref(),
        Some("application/vnd.example.sbom")
    );
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": [entry],
    });
    let index = ManifestRegistry::new()
        .parse(
            Some(media_type::OCI_INDEX),
            Bytes::from(serde_json::to_vec(&index).unwrap()),
        )
        .unwrap();
    let fallback = format!("sha256-{}", subject.digest().encoded());
    repo.manifests()
        .put(
            &index,
            PutOptions {
                tag: Some(tag(&fallback)),
                ..PutOptions::default()
            },
        )
        .await
        .unwrap();

    let found = repo
        .referrers()
        .referrers(subject.digest(), None)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(&found[0].digest, sbom.digest());
    assert_eq!(
        found[0].artifact_type.as_deref(),
        Some("application/vnd.example.sbom")
    );
    let filtered = repo
        .referrers()
        .referrers(subject.digest(), Some("application/vnd.example.sbom"))
        .await
        .unwrap();
    assert_eq!(filtered.len(), 1);
    assert!(
        repo.referrers()
            .referrers(subject.digest(), Some("application/vnd.example.signature"))
            .await
            .unwrap()
            .is_empty()
    );
    // A repository that does not exist has no referrers.
    assert!(
        s.client
            .repository(&name("nowhere"))
            .referrers()
            .referrers(subject.digest(), None)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn errors_are_mapped() {
    let Some(s) = setup() else { return };
    let repo = s.client.repository(&name("errs"));
    let unknown = Digest::sha256(b"unknown");

    let err = repo.blobs().stat(&unknown).await.unwrap_err();
    assert!(
        matches!(&err, Error::BlobUnknown { digest } if digest == &unknown),
        "{err:?}"
    );
    let err = repo.blobs().get(&unknown).await.unwrap_err();
    assert!(
        matches!(&err, Error::BlobUnknown { digest } if digest == &unknown),
        "{err:?}"
    );
    let err = repo.blobs().open(&unknown, Some(0..10)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BlobUnknown);
    let err = repo.manifests().get(&unknown).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ManifestUnknown, "{err:?}");
    let err = repo.tags().get(&tag("nope")).await.unwrap_err();
    assert!(
        matches!(&err, Error::ManifestUnknown { reference } if reference == "nope"),
        "{err:?}"
    );
    let err = repo.tags().list(PageRequest::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NameUnknown);
    let err = repo
        .blobs()
        .resume("0b0c2b5c-0000-4000-8000-000000000000")
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::BlobUploadUnknown, "{err:?}");
    let err = repo
        .blobs()
        .resume("http://elsewhere.example/v2/errs/blobs/uploads/x")
        .await
        .err()
        .unwrap();
    assert_eq!(
        err.kind(),
        ErrorKind::BlobUploadUnknown,
        "another origin is refused"
    );

    // A manifest whose layer is missing.
    let (config, _) = push_image_blobs(&repo, 5, false).await;
    let ghost = Descriptor::new(media_type::OCI_LAYER_GZIP, unknown.clone(), 10);
    let manifest = image_manifest(&config, &ghost, false, None);
    let err = repo
        .manifests()
        .put(&manifest, PutOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ManifestBlobUnknown { digest } if digest == &unknown),
        "{err:?}"
    );

    // Commits that do not match: checked here, nothing stored, upload gone.
    let Created::Upload(mut writer) = repo.blobs().create(CreateOptions::default()).await.unwrap()
    else {
        panic!()
    };
    writer.write(Bytes::from_static(b"abc")).await.unwrap();
    let id = writer.id().to_owned();
    let err = writer.commit(&unknown, None).await.unwrap_err();
    assert!(
        matches!(&err, Error::DigestMismatch { given, computed } if given == &unknown && computed == &Digest::sha256(b"abc")),
        "{err:?}"
    );
    assert_eq!(
        repo.blobs().resume(&id).await.err().unwrap().kind(),
        ErrorKind::BlobUploadUnknown
    );
    assert_eq!(
        repo.blobs().stat(&unknown).await.unwrap_err().kind(),
        ErrorKind::BlobUnknown
    );
    let Created::Upload(mut writer) = repo.blobs().create(CreateOptions::default()).await.unwrap()
    else {
        panic!()
    };
    writer.write(Bytes::from_static(b"abc")).await.unwrap();
    let err = writer
        .commit(&Digest::sha256(b"abc"), Some(4))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::SizeInvalid {
                expected: 4,
                actual: 3
            }
        ),
        "{err:?}"
    );

    // A resumed upload cannot be checked here: the registry refuses it.
    let Created::Upload(mut writer) = repo.blobs().create(CreateOptions::default()).await.unwrap()
    else {
        panic!()
    };
    writer.write(Bytes::from_static(b"abc")).await.unwrap();
    let id = writer.id().to_owned();
    writer.close().await.unwrap();
    let writer = repo.blobs().resume(&id).await.unwrap();
    assert_eq!(writer.size(), 3);
    let err = writer.commit(&unknown, None).await.unwrap_err();
    assert!(
        !matches!(err.kind(), ErrorKind::Unknown | ErrorKind::Unavailable),
        "{err:?}"
    );
    assert_eq!(
        repo.blobs().stat(&unknown).await.unwrap_err().kind(),
        ErrorKind::BlobUnknown
    );

    // Streamed uploads that do not match are aborted before the registry
    // stores them.
    let content = data(30_000, 8);
    let err = repo
        .remote_blobs()
        .upload(stream_of(&content, 4096), &unknown, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::DigestMismatch { given, .. } if given == &unknown),
        "{err:?}"
    );
    let err = repo
        .remote_blobs()
        .upload(
            stream_of(&content, 4096),
            &Digest::sha256(&content),
            Some(29_999),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SizeInvalid, "{err:?}");
    assert_eq!(
        repo.blobs()
            .stat(&Digest::sha256(&content))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::BlobUnknown
    );

    // The namespace's unsupported parts say so.
    let namespace = s.client.namespace();
    assert_eq!(
        namespace
            .remove_repository(&name("errs"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Unsupported
    );
    assert_eq!(
        namespace
            .blob_statter()
            .stat(&unknown)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Unsupported
    );
    let repo = namespace.repository(&name("errs")).unwrap();
    assert_eq!(repo.name().as_str(), "errs");
}

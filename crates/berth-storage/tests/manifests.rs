//! Manifests, tags, referrers, the catalog and deletes on every driver.

mod common;

use berth_core::{BlobIngester, Error, Namespace, PageRequest, PutOptions, Repository};
use berth_digest::Digest;
use berth_manifest::{Manifest, ManifestRegistry, media_type};
use berth_reference::Tag;
use berth_storage::{Registry, paths};
use bytes::Bytes;
use common::*;
use serde_json::{Value, json};

fn tag(t: &str) -> Tag {
    Tag::parse(t).unwrap()
}

fn parse(media: &str, body: &Value) -> Manifest {
    let bytes = Bytes::from(serde_json::to_vec_pretty(body).unwrap());
    ManifestRegistry::new()
        .parse(Some(media), bytes)
        .unwrap_or_else(|e| panic!("test manifest invalid: {e}"))
}

fn descriptor(media: &str, data: &[u8]) -> Value {
    json!({"mediaType": media, "digest": Digest::sha256(data).to_string(), "size": data.len()})
}

/// Pushes a config and `layers` layers to `repo` and answers an image
/// manifest over them, of `media` (OCI or Docker), not yet pushed.
async fn image(
    registry: &Registry,
    repo_name: &str,
    media: &str,
    seed: u8,
    layers: usize,
) -> Manifest {
    let repo = registry.repository(&common::repo(repo_name));
    let oci = media == media_type::OCI_MANIFEST;
    let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":{seed}}}");
    let config_type = if oci {
        media_type::OCI_CONFIG
    } else {
        media_type::DOCKER_CONFIG
    };
    repo.blobs()
        .put(config_type, Bytes::from(config.clone()))
        .await
        .unwrap();
    let mut layer_descriptors = Vec::new();
    for i in 0..layers {
        let data = content(1000 + i * 100, seed.wrapping_add(i as u8));
        repo.blobs()
            .put("application/octet-stream", data.clone())
            .await
            .unwrap();
        let layer_type = if oci {
            media_type::OCI_LAYER_GZIP
        } else {
            media_type::DOCKER_LAYER_GZIP
        };
        layer_descriptors.push(descriptor(layer_type, &data));
    }
    parse(
        media,
        &json!({
            "schemaVersion": 2,
            "mediaType": media,
            "config": descriptor(config_type, config.as_bytes()),
            "layers": layer_descriptors,
        }),
    )
}

fn index_of(media: &str, children: &[&Manifest]) -> Manifest {
    let child_type = if media == media_type::OCI_INDEX {
        media_type::OCI_MANIFEST
    } else {
        media_type::DOCKER_MANIFEST_V2
    };
    let entries: Vec<Value> = children
        .iter()
        .zip(["amd64", "arm64"])
        .map(|(m, arch)| {
            json!({
                "mediaType": child_type,
                "digest": m.digest().to_string(),
                "size": m.payload().len(),
                "platform": {"architecture": arch, "os": "linux"}
            })
        })
        .collect();
    parse(
        media,
        &json!({"schemaVersion": 2, "mediaType": media, "manifests": entries}),
    )
}

async fn push(registry: &Registry, repo_name: &str, m: &Manifest, t: Option<&str>) -> Digest {
    registry
        .repository(&repo(repo_name))
        .manifests()
        .put(
            m,
            PutOptions {
                tag: t.map(tag),
                ..PutOptions::default()
            },
        )
        .await
        .unwrap()
}

async fn push_and_pull_each_schema(t: TestDriver) {
    let registry = t.registry();
    let name = "schemas/app";
    let oci = image(&registry, name, media_type::OCI_MANIFEST, 1, 3).await;
    let docker = image(&registry, name, media_type::DOCKER_MANIFEST_V2, 2, 2).await;
    let oci_b = image(&registry, name, media_type::OCI_MANIFEST, 3, 1).await;
    let docker_b = image(&registry, name, media_type::DOCKER_MANIFEST_V2, 4, 1).await;
    for (m, t) in [
        (&oci, "oci"),
        (&docker, "docker"),
        (&oci_b, "oci-b"),
        (&docker_b, "docker-b"),
    ] {
        push(&registry, name, m, Some(t)).await;
    }
    let index = index_of(media_type::OCI_INDEX, &[&oci, &oci_b]);
    let list = index_of(media_type::DOCKER_MANIFEST_LIST, &[&docker, &docker_b]);
    push(&registry, name, &index, Some("index")).await;
    push(&registry, name, &list, Some("list")).await;

    let repo = registry.repository(&common::repo(name));
    for (m, t) in [
        (&oci, "oci"),
        (&docker, "docker"),
        (&index, "index"),
        (&list, "list"),
    ] {
        let got = repo.manifests().get(m.digest()).await.unwrap();
        assert_eq!(got.payload(), m.payload(), "bytes verbatim");
        assert_eq!(got.media_type(), m.media_type());
        assert_eq!(got.digest(), &Digest::sha256(m.payload()));
        assert!(repo.manifests().exists(m.digest()).await.unwrap());
        let tagged = repo.tags().get(&tag(t)).await.unwrap();
        assert_eq!(&tagged.digest, m.digest());
        assert_eq!(tagged.size, m.payload().len() as i64);
    }
    // The payload is a blob; a revision link names it; no layer link.
    let d = oci.digest();
    assert!(t.driver.stat(&paths::blob_data(d)).await.is_ok());
    assert!(
        t.driver
            .stat(&paths::revision_link(&common::repo(name), d))
            .await
            .is_ok()
    );
    assert!(
        t.driver
            .stat(&paths::layer_link(&common::repo(name), d))
            .await
            .is_err()
    );
    // Unknown digests are unknown.
    let missing = Digest::sha256(b"missing");
    assert!(!repo.manifests().exists(&missing).await.unwrap());
    assert!(matches!(
        repo.manifests().get(&missing).await,
        Err(Error::ManifestUnknown { .. })
    ));
    assert!(matches!(
        repo.tags().get(&tag("nope")).await,
        Err(Error::ManifestUnknown { .. })
    ));
}

async fn schema1_is_served_but_not_accepted(t: TestDriver) {
    let registry = t.registry();
    let name = common::repo("old/schema1");
    let layer = content(500, 1);
    registry
        .blobs(&name)
        .put("application/octet-stream", layer.clone())
        .await
        .unwrap();
    let body = json!({
        "schemaVersion": 1, "name": "old/schema1", "tag": "latest", "architecture": "amd64",
        "fsLayers": [{"blobSum": Digest::sha256(&layer).to_string()}],
        "history": [{"v1Compatibility": "{\"id\":\"x\"}"}]
    });
    let bytes = Bytes::from(serde_json::to_vec(&body).unwrap());
    let manifest = ManifestRegistry::new()
        .parse_unvalidated(Some(media_type::DOCKER_SCHEMA1_MANIFEST), bytes.clone())
        .unwrap();
    let repo = registry.repository(&name);
    assert!(matches!(
        repo.manifests().put(&manifest, PutOptions::default()).await,
        Err(Error::ManifestInvalid { .. })
    ));
    // One that an older registry stored is served as it is.
    let digest = Digest::sha256(&bytes);
    t.driver
        .put_content(&paths::blob_data(&digest), bytes.clone())
        .await
        .unwrap();
    t.driver
        .put_content(
            &paths::revision_link(&name, &digest),
            Bytes::from(digest.to_string()),
        )
        .await
        .unwrap();
    let got = repo.manifests().get(&digest).await.unwrap();
    assert_eq!(got.payload(), &bytes);
    assert!(got.is_schema1());
    // A mirror (a pull-through cache) stores one it fetched.
    let mirrored = registry.repository(&common::repo("old/mirrored"));
    let mirror = PutOptions {
        mirror: true,
        ..PutOptions::default()
    };
    assert_eq!(
        mirrored.manifests().put(&manifest, mirror).await.unwrap(),
        digest
    );
    assert_eq!(
        mirrored.manifests().get(&digest).await.unwrap().payload(),
        &bytes
    );
}

async fn missing_references_are_named(t: TestDriver) {
    let registry = t.registry();
    let name = "refs/app";
    let m = image(&registry, name, media_type::OCI_MANIFEST, 9, 2).await;
    let layer = m.references().last().unwrap().digest.clone();
    // The same manifest in a repository that lacks the blobs: refused,
    // naming the first missing one (the config), even though the blobs
    // exist in the registry.
    let other = registry.repository(&common::repo("refs/other"));
    match other.manifests().put(&m, PutOptions::default()).await {
        Err(Error::ManifestBlobUnknown { digest }) => {
            assert_eq!(&digest, &m.config().unwrap().digest)
        }
        other => panic!("expected ManifestBlobUnknown, got {other:?}"),
    }
    // Remove one layer's link: that layer is named.
    registry
        .repository(&common::repo(name))
        .blobs()
        .delete(&layer)
        .await
        .unwrap();
    match registry
        .repository(&common::repo(name))
        .manifests()
        .put(&m, PutOptions::default())
        .await
    {
        Err(Error::ManifestBlobUnknown { digest }) => assert_eq!(digest, layer),
        other => panic!("expected ManifestBlobUnknown, got {other:?}"),
    }
    // An index whose child is not in the repository.
    let child = image(&registry, name, media_type::OCI_MANIFEST, 10, 1).await;
    let index = index_of(media_type::OCI_INDEX, &[&child]);
    match registry
        .repository(&common::repo(name))
        .manifests()
        .put(&index, PutOptions::default())
        .await
    {
        Err(Error::ManifestBlobUnknown { digest }) => assert_eq!(&digest, child.digest()),
        other => panic!("expected ManifestBlobUnknown, got {other:?}"),
    }
    // Nothing of the refused pushes was linked.
    assert!(
        !registry
            .repository(&common::repo(name))
            .manifests()
            .exists(index.digest())
            .await
            .unwrap()
    );
    // A mirror stores them all the same (what they reference is fetched
    // when asked for), tags and indexes them like any other.
    let mirror = |tag: Option<Tag>| PutOptions { tag, mirror: true };
    for manifest in [&m, &index] {
        other.manifests().put(manifest, mirror(None)).await.unwrap();
        assert!(other.manifests().exists(manifest.digest()).await.unwrap());
    }
    other
        .manifests()
        .put(&index, mirror(Some(tag("mirrored"))))
        .await
        .unwrap();
    assert_eq!(
        &other.tags().get(&tag("mirrored")).await.unwrap().digest,
        index.digest()
    );
}

async fn tag_moves_keep_history(t: TestDriver) {
    let registry = t.registry();
    let name = common::repo("tags/app");
    let a = image(&registry, "tags/app", media_type::OCI_MANIFEST, 1, 1).await;
    let b = image(&registry, "tags/app", media_type::OCI_MANIFEST, 2, 1).await;
    push(&registry, "tags/app", &a, Some("v1")).await;
    push(&registry, "tags/app", &a, Some("stable")).await;
    push(&registry, "tags/app", &b, Some("v1")).await;
    let repo = registry.repository(&name);
    assert_eq!(
        &repo.tags().get(&tag("v1")).await.unwrap().digest,
        b.digest()
    );
    // Distribution's history: every digest the tag ever named.
    for d in [a.digest(), b.digest()] {
        assert!(
            t.driver
                .stat(&paths::tag_index_link(&name, &tag("v1"), d))
                .await
                .is_ok()
        );
    }
    let names = |v: Vec<Tag>| v.iter().map(|t| t.as_str().to_owned()).collect::<Vec<_>>();
    assert_eq!(
        names(repo.tags().lookup(a.digest()).await.unwrap()),
        ["stable"]
    );
    assert_eq!(names(repo.tags().lookup(b.digest()).await.unwrap()), ["v1"]);
    repo.tags().untag(&tag("stable")).await.unwrap();
    assert!(repo.tags().lookup(a.digest()).await.unwrap().is_empty());
    assert!(matches!(
        repo.tags().untag(&tag("stable")).await,
        Err(Error::ManifestUnknown { .. })
    ));
    // Untagging leaves the manifest.
    assert!(repo.manifests().exists(a.digest()).await.unwrap());
}

async fn tag_pagination(t: TestDriver) {
    let registry = t.registry();
    let name = common::repo("page/app");
    let m = image(&registry, "page/app", media_type::OCI_MANIFEST, 1, 1).await;
    push(&registry, "page/app", &m, None).await;
    let repo = registry.repository(&name);
    let mut all: Vec<String> = (0..25).map(|i| format!("t{i:02}")).collect();
    all.push("Latest".into());
    all.push("_underscore".into());
    for t in &all {
        repo.tags().tag(&tag(t), &m.descriptor()).await.unwrap();
    }
    all.sort();
    let list = |last: Option<&str>, n: Option<usize>| {
        let tags = repo.tags();
        let page = PageRequest {
            last: last.map(str::to_owned),
            n,
        };
        async move { tags.list(page).await.unwrap() }
    };
    let p = list(None, None).await;
    assert_eq!((p.items.clone(), p.more), (all.clone(), false));
    let p = list(None, Some(0)).await;
    assert!(p.items.is_empty());
    let p = list(None, Some(all.len())).await;
    assert_eq!(
        (p.items.len(), p.more),
        (all.len(), false),
        "exactly one page"
    );
    let p = list(Some("zzz"), Some(10)).await;
    assert_eq!((p.items.len(), p.more), (0, false), "last beyond the end");
    // Walking by pages of 10 gives everything once, in order.
    let mut walked = Vec::new();
    let mut last: Option<String> = None;
    loop {
        let p = list(last.as_deref(), Some(10)).await;
        walked.extend(p.items.iter().cloned());
        last = p.items.last().cloned();
        if !p.more {
            break;
        }
    }
    assert_eq!(walked, all);
    // A repository with manifests but no tags lists none; an unknown one
    // is unknown.
    let untagged = common::repo("page/untagged");
    let m = image(&registry, "page/untagged", media_type::OCI_MANIFEST, 2, 1).await;
    push(&registry, "page/untagged", &m, None).await;
    let p = registry
        .repository(&untagged)
        .tags()
        .list(PageRequest::default())
        .await
        .unwrap();
    assert!(p.items.is_empty());
    assert!(matches!(
        registry
            .repository(&common::repo("page/nothing"))
            .tags()
            .list(PageRequest::default())
            .await,
        Err(Error::NameUnknown { .. })
    ));
}

/// A tag list kept by one registry follows what another process (another
/// registry on the same storage) does to the tags, even once the list has
/// been kept for a while.
async fn tag_lists_follow_other_writers(t: TestDriver) {
    let (a, b) = (t.registry(), t.registry());
    let name = common::repo("lists/app");
    let m = image(&a, "lists/app", media_type::OCI_MANIFEST, 3, 1).await;
    push(&a, "lists/app", &m, Some("t1")).await;
    push(&a, "lists/app", &m, Some("t2")).await;
    let list = |r: &Registry| {
        let tags = r.repository(&name);
        async move {
            tags.tags()
                .list(PageRequest::default())
                .await
                .map(|p| p.items)
        }
    };
    // Left alone long enough for the filesystem's listing versions.
    tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
    assert_eq!(list(&a).await.unwrap(), ["t1", "t2"]);
    assert_eq!(list(&a).await.unwrap(), ["t1", "t2"]);
    let (rb, rn) = (b.repository(&name), tag("t3"));
    rb.tags().tag(&rn, &m.descriptor()).await.unwrap();
    assert_eq!(list(&a).await.unwrap(), ["t1", "t2", "t3"]);
    tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
    assert_eq!(list(&a).await.unwrap(), ["t1", "t2", "t3"]);
    // One out, one in: as many tags as before.
    rb.tags().untag(&tag("t1")).await.unwrap();
    rb.tags().tag(&tag("t0"), &m.descriptor()).await.unwrap();
    assert_eq!(list(&a).await.unwrap(), ["t0", "t2", "t3"]);
    tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
    assert_eq!(list(&a).await.unwrap(), ["t0", "t2", "t3"]);
    b.remove_repository(&name).await.unwrap();
    assert!(matches!(list(&a).await, Err(Error::NameUnknown { .. })));
}

async fn referrers_index(t: TestDriver) {
    let registry = t.registry();
    let name = "refer/app";
    let subject = image(&registry, name, media_type::OCI_MANIFEST, 1, 1).await;
    push(&registry, name, &subject, Some("v1")).await;
    let repo = registry.repository(&common::repo(name));
    // The empty config blob artifacts use.
    repo.blobs()
        .put(media_type::OCI_EMPTY, Bytes::from_static(b"{}"))
        .await
        .unwrap();
    let mut referrers = Vec::new();
    for (i, artifact) in [
        "application/vnd.example.sbom",
        "application/vnd.example.sbom",
        "application/vnd.example.sig",
    ]
    .into_iter()
    .enumerate()
    {
        let blob = content(100 + i, i as u8);
        repo.blobs()
            .put("application/octet-stream", blob.clone())
            .await
            .unwrap();
        let m = parse(
            media_type::OCI_MANIFEST,
            &json!({
                "schemaVersion": 2,
                "mediaType": media_type::OCI_MANIFEST,
                "artifactType": artifact,
                "config": {"mediaType": media_type::OCI_EMPTY, "digest": Digest::sha256(b"{}").to_string(), "size": 2},
                "layers": [descriptor("application/vnd.example.data", &blob)],
                "subject": {"mediaType": media_type::OCI_MANIFEST, "digest": subject.digest().to_string(), "size": subject.payload().len()},
                "annotations": {"org.example.n": i.to_string()}
            }),
        );
        push(&registry, name, &m, None).await;
        referrers.push(m);
    }
    let all = repo
        .referrers()
        .referrers(subject.digest(), None)
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    for d in &all {
        let m = referrers.iter().find(|m| m.digest() == &d.digest).unwrap();
        assert_eq!(d.media_type, media_type::OCI_MANIFEST);
        assert_eq!(d.size, m.payload().len() as i64);
        assert_eq!(d.artifact_type.as_deref(), m.artifact_type());
        assert_eq!(&d.annotations, m.annotations());
    }
    let sboms = repo
        .referrers()
        .referrers(subject.digest(), Some("application/vnd.example.sbom"))
        .await
        .unwrap();
    assert_eq!(sboms.len(), 2);
    assert!(
        repo.referrers()
            .referrers(subject.digest(), Some("application/none"))
            .await
            .unwrap()
            .is_empty()
    );
    // Deleting a referrer drops it from the list.
    repo.manifests()
        .delete(referrers[0].digest())
        .await
        .unwrap();
    let left = repo
        .referrers()
        .referrers(subject.digest(), None)
        .await
        .unwrap();
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|d| &d.digest != referrers[0].digest()));
    // A subject nobody refers to (or that does not exist): empty.
    assert!(
        repo.referrers()
            .referrers(&Digest::sha256(b"nothing"), None)
            .await
            .unwrap()
            .is_empty()
    );
    // An entry whose manifest was removed behind berth's back (e.g. by
    // Distribution's garbage collection) is not listed.
    t.driver
        .delete(berth_driver::parent(&paths::revision_link(
            &common::repo(name),
            referrers[1].digest(),
        )))
        .await
        .unwrap();
    assert_eq!(
        repo.referrers()
            .referrers(subject.digest(), None)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn catalog_pages(t: TestDriver) {
    let registry = t.registry();
    // 2,000 repositories, some nested, made the cheap way: one tag link
    // each is what makes a directory a repository.
    let mut names: Vec<String> = (0..2000)
        .map(|i| match i % 4 {
            0 => format!("r{i:04}"),
            1 => format!("team-{}/app{i}", i % 7),
            2 => format!("team/{}/svc{i}", i % 5),
            _ => format!("a{}", i % 50).repeat(1) + &format!("/x{i}"),
        })
        .collect();
    names.sort();
    names.dedup();
    let link = Bytes::from(Digest::sha256(b"m").to_string());
    futures_util::future::join_all(names.iter().map(|n| {
        let path = paths::tag_current_link(&common::repo(n), &tag("latest"));
        let driver = t.driver.clone();
        let link = link.clone();
        async move { driver.put_content(&path, link).await.unwrap() }
    }))
    .await;
    // A repository with only an upload is not listed.
    let uploads_only = common::repo("only/uploads");
    let upload = start(&registry.blobs(&uploads_only)).await;
    upload.close().await.unwrap();

    names.sort_by(|a, b| berth_storage::compare_repository_names(a, b));
    let full = registry.catalog(PageRequest::default()).await.unwrap();
    assert_eq!(full.items, names);
    assert!(!full.more);
    let mut paged = Vec::new();
    let mut last: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = registry
            .catalog(PageRequest {
                last: last.clone(),
                n: Some(100),
            })
            .await
            .unwrap();
        pages += 1;
        assert!(page.items.len() <= 100);
        paged.extend(page.items.iter().cloned());
        last = page.items.last().cloned();
        if !page.more {
            break;
        }
    }
    assert_eq!(paged, names);
    assert_eq!(pages, names.len().div_ceil(100));
    // Edges: n = 0, last past the end, last not itself a repository.
    assert!(
        registry
            .catalog(PageRequest {
                last: None,
                n: Some(0)
            })
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let past = registry
        .catalog(PageRequest {
            last: Some("zzzz".into()),
            n: Some(10),
        })
        .await
        .unwrap();
    assert!(past.items.is_empty() && !past.more);
    let mid = registry
        .catalog(PageRequest {
            last: Some("team".into()),
            n: Some(1),
        })
        .await
        .unwrap();
    let expected = names
        .iter()
        .find(|n| berth_storage::compare_repository_names(n, "team").is_gt())
        .cloned();
    assert_eq!(mid.items.first().cloned(), expected);
}

async fn deletes(t: TestDriver) {
    let registry = t.registry();
    let name = common::repo("del/app");
    let nested = common::repo("del/app/nested");
    let a = image(&registry, "del/app", media_type::OCI_MANIFEST, 1, 1).await;
    let b = image(&registry, "del/app", media_type::OCI_MANIFEST, 2, 1).await;
    push(&registry, "del/app", &a, Some("one")).await;
    push(&registry, "del/app", &a, Some("two")).await;
    push(&registry, "del/app", &b, Some("three")).await;
    let n = image(&registry, "del/app/nested", media_type::OCI_MANIFEST, 3, 1).await;
    push(&registry, "del/app/nested", &n, Some("latest")).await;

    let repo = registry.repository(&name);
    // A manifest by digest: its revision and every tag naming it.
    repo.manifests().delete(a.digest()).await.unwrap();
    assert!(!repo.manifests().exists(a.digest()).await.unwrap());
    let tags = repo.tags().list(PageRequest::default()).await.unwrap();
    assert_eq!(tags.items, ["three"]);
    assert!(matches!(
        repo.manifests().delete(a.digest()).await,
        Err(Error::ManifestUnknown { .. })
    ));
    // A tag alone.
    repo.tags().untag(&tag("three")).await.unwrap();
    assert!(repo.manifests().exists(b.digest()).await.unwrap());

    // The repository: its links and uploads go; the nested one stays.
    let upload = start(&registry.blobs(&name)).await;
    upload.close().await.unwrap();
    registry.remove_repository(&name).await.unwrap();
    assert!(
        files(&*t.driver, &paths::repository(&name))
            .await
            .iter()
            .all(|f| f.contains("/del/app/nested/"))
    );
    assert!(
        registry
            .repository(&nested)
            .manifests()
            .exists(n.digest())
            .await
            .unwrap()
    );
    assert!(matches!(
        registry.remove_repository(&name).await,
        Err(Error::NameUnknown { .. })
    ));
    let catalog = registry.catalog(PageRequest::default()).await.unwrap();
    assert_eq!(catalog.items, ["del/app/nested"]);

    // With deletes off, every delete is refused and nothing changes.
    let locked = Registry::new(t.driver.clone(), berth_storage::StorageOptions::default());
    let repo = locked.repository(&nested);
    assert!(matches!(
        repo.manifests().delete(n.digest()).await,
        Err(Error::Unsupported { .. })
    ));
    assert!(matches!(
        repo.tags().untag(&tag("latest")).await,
        Err(Error::Unsupported { .. })
    ));
    assert!(matches!(
        locked.remove_repository(&nested).await,
        Err(Error::Unsupported { .. })
    ));
    assert!(repo.manifests().exists(n.digest()).await.unwrap());
}

on_every_driver!(
    push_and_pull_each_schema,
    schema1_is_served_but_not_accepted,
    missing_references_are_named,
    tag_moves_keep_history,
    tag_pagination,
    tag_lists_follow_other_writers,
    referrers_index,
    catalog_pages,
    deletes,
);

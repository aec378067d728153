//! Registries that lie: every body that claims a digest is checked, and a
//! wrong or short one ends the stream with an error.

use berth_api::headers::CONTENT_DIGEST;
use berth_api::ranges::{RangeRequest, content_range};
use berth_core::{Error, ErrorKind, Repository};
use berth_digest::Digest;
use berth_manifest::media_type;
use berth_reference::{RepositoryName, Tag};

use crate::common::{Reply, TestServer, client, data, drain};

fn repo_name() -> RepositoryName {
    RepositoryName::parse("liar/app").unwrap()
}

/// A server that answers every blob GET/HEAD with `body` (and every
/// manifest GET with `manifest`, named by `manifest_digest`).
fn liar(body: Vec<u8>, cut_after: Option<usize>) -> TestServer {
    TestServer::start(move |request| {
        if request.path().contains("/blobs/") {
            let mut reply = Reply::status(200)
                .header("Content-Type", "application/octet-stream")
                .body(body.clone());
            reply.cut_after = cut_after;
            if let Some(range) = request.header("range")
                && let RangeRequest::Part(part) = RangeRequest::parse(range, body.len() as u64)
            {
                // Honour simple ranges, lying all the same.
                let (first, end) = (part.start as usize, part.end as usize);
                return Reply::status(206)
                    .header("Content-Range", content_range(&part, body.len() as u64))
                    .body(body[first..end].to_vec());
            }
            return reply;
        }
        Reply::status(404)
    })
}

#[tokio::test]
async fn a_wrong_blob_body_ends_the_stream_with_an_error() {
    let honest = data(200_000, 1);
    let digest = Digest::sha256(&honest);
    let mut lie = honest.clone();
    lie[150_000] ^= 1;
    let server = liar(lie.clone(), None);
    let repo = client(&server.url).repository(&repo_name());

    // The stream passes every byte on, then errors instead of ending.
    let content = repo.blobs().open(&digest, None).await.unwrap();
    assert_eq!(content.descriptor.size, 200_000);
    let (bytes, err) = drain(content.body).await;
    assert_eq!(bytes.len(), 200_000);
    let err = err.expect("a mismatch is an error, never a clean end");
    assert!(
        matches!(&err, Error::DigestMismatch { given, computed } if given == &digest && computed == &Digest::sha256(&lie)),
        "{err:?}"
    );
    // Whole reads fail.
    let err = repo.blobs().get(&digest).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DigestInvalid);
    // Through open_described (after a stat) too.
    let described = repo.blobs().stat(&digest).await.unwrap();
    let content = repo.blobs().open_described(described, None).await.unwrap();
    assert!(matches!(
        drain(content.body).await.1,
        Some(Error::DigestMismatch { .. })
    ));
    // A range covering the whole blob is checked as well.
    let content = repo.blobs().open(&digest, Some(0..200_000)).await.unwrap();
    assert!(matches!(
        drain(content.body).await.1,
        Some(Error::DigestMismatch { .. })
    ));
    // A part of it cannot be: it is passed on as sent.
    let content = repo.blobs().open(&digest, Some(10..20)).await.unwrap();
    let (bytes, err) = drain(content.body).await;
    assert!(err.is_none());
    assert_eq!(bytes, &lie[10..20]);
}

#[tokio::test]
async fn a_short_blob_body_ends_the_stream_with_an_error() {
    let honest = data(100_000, 2);
    let digest = Digest::sha256(&honest);
    let server = liar(honest.clone(), Some(60_000));
    let repo = client(&server.url).repository(&repo_name());
    let content = repo.blobs().open(&digest, None).await.unwrap();
    let (bytes, err) = drain(content.body).await;
    assert!(bytes.len() <= 60_000);
    let err = err.expect("a short body is an error, never a clean end");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    assert!(repo.blobs().get(&digest).await.is_err());
}

#[tokio::test]
async fn a_registry_that_ignores_range_gets_cut_to_the_range() {
    let content = data(50_000, 3);
    let digest = Digest::sha256(&content);
    let server = {
        let content = content.clone();
        TestServer::start(move |_| Reply::status(200).body(content.clone()))
    };
    let repo = client(&server.url).repository(&repo_name());
    let part = repo
        .blobs()
        .open(&digest, Some(1000..41_000))
        .await
        .unwrap();
    assert_eq!(part.range, 1000..41_000);
    let (bytes, err) = drain(part.body).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(bytes, &content[1000..41_000]);
}

const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;

#[tokio::test]
async fn a_wrong_manifest_is_refused() {
    let honest = MANIFEST.as_bytes();
    let digest = Digest::sha256(honest);
    let lie = MANIFEST.replace("\"layers\":[]", "\"layers\":[ ]");
    let lie_digest = Digest::sha256(lie.as_bytes());
    let server = {
        let lie = lie.clone();
        let honest_digest = digest.clone();
        TestServer::start(move |request| {
            let reply = Reply::status(200)
                .header("Content-Type", media_type::OCI_MANIFEST)
                .body(lie.clone());
            match request.path() {
                // Claims the honest digest for the lie.
                "/v2/liar/app/manifests/claims" => {
                    reply.header(CONTENT_DIGEST, honest_digest.as_str())
                }
                "/v2/liar/app/manifests/silent" => reply,
                p if p.starts_with("/v2/liar/app/manifests/sha256:") => reply,
                _ => Reply::status(404),
            }
        })
    };
    let repo = client(&server.url).repository(&repo_name());
    let err = repo.manifests().get(&digest).await.unwrap_err();
    assert!(
        matches!(&err, Error::DigestMismatch { given, computed } if given == &digest && computed == &lie_digest),
        "{err:?}"
    );
    let err = repo
        .manifest_by_tag(&Tag::parse("claims").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DigestInvalid, "{err:?}");
    // Without a claim, by tag, there is nothing to check against: the
    // bytes are taken as they are, their digest computed.
    let got = repo
        .manifest_by_tag(&Tag::parse("silent").unwrap())
        .await
        .unwrap();
    assert_eq!(got.digest(), &lie_digest);
    assert_eq!(got.payload(), lie.as_bytes());
    // A HEAD without a digest header falls back to a GET.
    let d = repo
        .tags()
        .get(&Tag::parse("silent").unwrap())
        .await
        .unwrap();
    assert_eq!(d.digest, lie_digest);
}

#[tokio::test]
async fn a_manifest_too_large_is_refused() {
    let server = TestServer::start(|_| {
        Reply::status(200)
            .header("Content-Type", media_type::OCI_MANIFEST)
            .body(vec![b' '; berth_manifest::MAX_MANIFEST_SIZE + 1])
    });
    let repo = client(&server.url).repository(&repo_name());
    let err = repo
        .manifests()
        .get(&Digest::sha256(b"x"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ManifestInvalid, "{err:?}");
}

//! Every endpoint and error path, against the real binary over HTTP.

mod common;

use berth_digest::Digest;
use common::Berth;
use serde_json::json;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

#[test]
fn base_and_unknown_paths() {
    let b = Berth::start();
    let r = b.get("/v2/");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "{}");
    assert_eq!(
        r.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(b.head("/v2/").status, 200);
    assert_eq!(b.get("/v2").status, 200);
    assert_eq!(b.get("/v1/").status, 404);
    assert_eq!(b.get("/v2/a/unknown/x").status, 404);
    b.post("/v2/a/tags/list", b"")
        .assert_error(405, "UNSUPPORTED");
    b.delete("/v2/_catalog").assert_error(405, "UNSUPPORTED");
}

#[test]
fn chunked_upload_life_cycle() {
    let b = Berth::start();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let digest = Digest::sha256(&data);

    let r = b.post("/v2/team/app/blobs/uploads/", b"");
    assert_eq!(r.status, 202);
    assert_eq!(r.header("range"), Some("0-0"));
    let uuid = r.header("docker-upload-uuid").unwrap().to_owned();
    let mut location = r.header("location").unwrap().to_owned();
    assert!(location.contains(&format!("/v2/team/app/blobs/uploads/{uuid}")));
    assert!(location.contains("_state="));

    // Two chunks with Content-Range, one streamed without.
    let r = b.patch(
        &location,
        &[
            ("Content-Range", "0-99999"),
            ("Content-Type", "application/octet-stream"),
        ],
        &data[..100_000],
    );
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.header("range"), Some("0-99999"));
    location = r.header("location").unwrap().to_owned();

    // Out of order: refused, the upload intact.
    let r = b.patch(&location, &[("Content-Range", "50-60")], &data[50..61]);
    r.assert_error(416, "RANGE_INVALID");
    assert_eq!(r.header("range"), Some("0-99999"));

    // A Content-Range whose length disagrees with the body: refused with
    // the upload as it stands, nothing appended.
    for (range, body) in [
        ("100000-100099", &data[100_000..100_050]),
        ("100000-100009", &data[100_000..100_050]),
    ] {
        let r = b.patch(&location, &[("Content-Range", range)], body);
        r.assert_error(416, "RANGE_INVALID");
        assert_eq!(r.header("range"), Some("0-99999"));
        assert!(r.header("location").unwrap().contains(&uuid));
        assert!(r.message().contains("Content-Length"), "{}", r.message());
        assert_eq!(b.get(&location).header("range"), Some("0-99999"));
    }

    let r = b.patch(&location, &[], &data[100_000..200_000]);
    assert_eq!(r.status, 202);
    assert_eq!(r.header("range"), Some("0-199999"));
    location = r.header("location").unwrap().to_owned();

    // Status.
    let r = b.get(&location);
    assert_eq!(r.status, 204);
    assert_eq!(r.header("range"), Some("0-199999"));
    assert_eq!(r.header("docker-upload-uuid"), Some(uuid.as_str()));

    // The last chunk with the PUT.
    let sep = if location.contains('?') { '&' } else { '?' };
    let r = b.put(
        &format!("{location}{sep}digest={digest}"),
        &[],
        &data[200_000..],
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert!(
        r.header("location")
            .unwrap()
            .ends_with(&format!("/v2/team/app/blobs/{digest}"))
    );

    // The blob: whole, HEAD, ranges.
    let r = b.get(&format!("/v2/team/app/blobs/{digest}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, data);
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(r.header("etag"), Some(format!("\"{digest}\"").as_str()));
    let r = b.head(&format!("/v2/team/app/blobs/{digest}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("300000"));
    assert!(r.body.is_empty());
    let r = b.get_with(
        &format!("/v2/team/app/blobs/{digest}"),
        &[("Range", "bytes=10-19")],
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &data[10..20]);
    assert_eq!(r.header("content-range"), Some("bytes 10-19/300000"));
    let r = b.get_with(
        &format!("/v2/team/app/blobs/{digest}"),
        &[("Range", "bytes=-5")],
    );
    assert_eq!((r.status, r.body.as_slice()), (206, &data[299_995..]));
    let r = b.get_with(
        &format!("/v2/team/app/blobs/{digest}"),
        &[("Range", "bytes=300000-")],
    );
    r.assert_error(416, "RANGE_INVALID");
    assert_eq!(r.header("content-range"), Some("bytes */300000"));

    // The upload is gone.
    b.get(&format!("/v2/team/app/blobs/uploads/{uuid}"))
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
}

#[test]
fn monolithic_uploads_and_digest_errors() {
    let b = Berth::start();
    let data = b"monolithic blob".to_vec();
    let digest = Digest::sha256(&data);
    let r = b.post(&format!("/v2/mono/blobs/uploads/?digest={digest}"), &data);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(b.get(&format!("/v2/mono/blobs/{digest}")).body, data);

    // POST then a single PUT with the whole body.
    let r = b.post("/v2/mono/blobs/uploads/", b"");
    let location = r.header("location").unwrap().to_owned();
    let other = b"put in one go".to_vec();
    let d = Digest::sha256(&other);
    let r = b.put(&format!("{location}&digest={d}"), &[], &other);
    assert_eq!(r.status, 201);

    // Wrong digest: refused, nothing stored.
    let wrong = Digest::sha256(b"something else");
    let r = b.post(&format!("/v2/mono/blobs/uploads/?digest={wrong}"), &data);
    r.assert_error(400, "DIGEST_INVALID");
    assert!(r.message().contains("did not match"));
    b.head(&format!("/v2/mono/blobs/{wrong}"));
    assert_eq!(b.get(&format!("/v2/mono/blobs/{wrong}")).status, 404);

    // Malformed digests say why.
    let r = b.post("/v2/mono/blobs/uploads/?digest=sha256:abc", &data);
    r.assert_error(400, "DIGEST_INVALID");
    assert!(
        r.message().contains("expected 64 hex characters"),
        "{}",
        r.message()
    );
    // On a read, a malformed digest names no blob.
    let r = b.get("/v2/mono/blobs/md5:abcd");
    r.assert_error(404, "BLOB_UNKNOWN");
    assert!(
        r.message().contains("not a valid digest"),
        "{}",
        r.message()
    );
    assert_eq!(b.head("/v2/mono/blobs/sha256:xyz").status, 404);

    // PUT without a digest.
    let r = b.post("/v2/mono/blobs/uploads/", b"");
    let location = r.header("location").unwrap().to_owned();
    b.put(&location, &[], b"x")
        .assert_error(400, "DIGEST_INVALID");
}

/// Sends a PATCH whose body is in `Transfer-Encoding: chunked` pieces (no
/// `Content-Length`), answering the status and the `Range` header.
fn patch_chunked(b: &Berth, location: &str, range: &str, pieces: &[&[u8]]) -> (u16, String) {
    let url = b.url(location);
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut request = format!(
        "PATCH {path} HTTP/1.1\r\nHost: {host}\r\nContent-Range: {range}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for piece in pieces {
        request.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        request.extend_from_slice(piece);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let response = raw_exchange(b, &request);
    let status = response[9..12].parse().unwrap();
    let range = response
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("range: ")
                .map(str::to_owned)
        })
        .unwrap_or_default();
    (status, range)
}

#[test]
fn chunked_transfer_with_content_range() {
    let b = Berth::start();
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 249) as u8).collect();
    let r = b.post("/v2/te/app/blobs/uploads/", b"");
    let location = r.header("location").unwrap().to_owned();
    // Shorter and longer than the range: 416, nothing appended.
    let (status, range) = patch_chunked(&b, &location, "0-99", &[&data[..30], &data[30..50]]);
    assert_eq!((status, range.as_str()), (416, "0-0"));
    let (status, _) = patch_chunked(&b, &location, "0-99", &[&data[..60], &data[60..120]]);
    assert_eq!(status, 416);
    assert_eq!(b.get(&location).header("range"), Some("0-0"));
    // Exactly the range, in pieces: appended.
    let (status, range) = patch_chunked(&b, &location, "0-99", &[&data[..60], &data[60..100]]);
    assert_eq!((status, range.as_str()), (202, "0-99"));
    // The rest with its range, then the commit.
    let (status, range) = patch_chunked(&b, &location, "100-999", &[&data[100..1000]]);
    assert_eq!((status, range.as_str()), (202, "0-999"));
    let digest = Digest::sha256(&data);
    let r = b.put(&format!("{location}&digest={digest}"), &[], b"");
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(b.get(&format!("/v2/te/app/blobs/{digest}")).body, data);
    // A huge range without a Content-Length is refused before any read.
    let r = b.post("/v2/te/app/blobs/uploads/", b"");
    let location = r.header("location").unwrap().to_owned();
    let (status, _) = patch_chunked(&b, &location, "0-999999999", &[&data[..10]]);
    assert_eq!(status, 411);
    assert_eq!(b.get(&location).header("range"), Some("0-0"));
}

/// Sends raw bytes to the server and answers what it sent back.
fn raw_exchange(b: &Berth, bytes: &[u8]) -> String {
    use std::io::{Read, Write};
    let host = b.url.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    stream.write_all(bytes).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

#[test]
fn tls_probes_on_the_plain_port_are_not_errors() {
    // The start of a TLS 1.2/1.3 ClientHello, as podman's
    // `--tls-verify=false` probe sends it before falling back to HTTP.
    let mut hello = vec![
        0x16, 0x03, 0x01, 0x00, 0xf4, 0x01, 0x00, 0x00, 0xf0, 0x03, 0x03,
    ];
    hello.extend((0..32u8).map(|i| i.wrapping_mul(37)));
    hello.extend_from_slice(&[0x00, 0x00, 0x02, 0x13, 0x01, 0x01, 0x00]);
    for (level, shown) in [("info", false), ("debug", true)] {
        let b = Berth::start_with(&format!("log:\n  level: {level}\n"));
        let answer = raw_exchange(&b, &hello);
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
        // A real malformed request still gets its 400.
        let answer = raw_exchange(&b, b"GET /v2/ HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
        // And the server goes on serving.
        assert_eq!(b.get("/v2/").status, 200);
        let log = b.log_text();
        assert!(!log.contains("ERROR"), "{log}");
        assert_eq!(log.contains("DEBUG berth::http"), shown, "{log}");
        if shown {
            assert!(log.contains("TLS handshake"), "{log}");
        }
    }
}

#[test]
fn upload_cancel_and_state_checks() {
    let b = Berth::start();
    let r = b.post("/v2/cancel/blobs/uploads/", b"");
    let location = r.header("location").unwrap().to_owned();
    let uuid = r.header("docker-upload-uuid").unwrap().to_owned();
    assert_eq!(b.patch(&location, &[], b"some bytes").status, 202);

    // A tampered state token is refused.
    let tampered = location.replace("_state=", "_state=AAAA");
    b.get(&tampered).assert_error(400, "BLOB_UPLOAD_INVALID");
    // Another repository's URL for this upload is refused.
    let foreign = location.replace("/v2/cancel/", "/v2/other/");
    assert!(matches!(b.get(&foreign).status, 400 | 404));

    assert_eq!(b.delete(&location).status, 204);
    b.get(&format!("/v2/cancel/blobs/uploads/{uuid}"))
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    b.patch(&format!("/v2/cancel/blobs/uploads/{uuid}"), &[], b"x")
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    b.get("/v2/cancel/blobs/uploads/not-an-upload")
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
}

#[test]
fn cross_repository_mount() {
    let b = Berth::start();
    let data = b"shared layer".to_vec();
    let digest = b.push_blob("source/app", &data);
    let r = b.post(
        &format!("/v2/target/app/blobs/uploads/?mount={digest}&from=source/app"),
        b"",
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(b.get(&format!("/v2/target/app/blobs/{digest}")).body, data);

    // Not in the source: a plain upload starts instead.
    let r = b.post(
        &format!("/v2/third/app/blobs/uploads/?mount={digest}&from=empty/repo"),
        b"",
    );
    assert_eq!(r.status, 202);
    assert!(r.header("location").is_some());
    // A malformed digest or source: a plain upload too.
    for query in [
        "mount=sha256:nope&from=source/app",
        &format!("mount={digest}&from=Bad//Name"),
    ] {
        let r = b.post(&format!("/v2/third/app/blobs/uploads/?{query}"), b"");
        assert_eq!(r.status, 202, "{query}: {}", r.text());
        assert!(r.header("location").is_some());
    }
}

#[test]
fn blob_errors_and_delete() {
    let b = Berth::start();
    let digest = b.push_blob("blobs/app", b"to delete");
    b.get(&format!("/v2/other/app/blobs/{digest}"))
        .assert_error(404, "BLOB_UNKNOWN");
    assert_eq!(b.head(&format!("/v2/other/app/blobs/{digest}")).status, 404);
    assert_eq!(
        b.delete(&format!("/v2/blobs/app/blobs/{digest}")).status,
        202
    );
    b.get(&format!("/v2/blobs/app/blobs/{digest}"))
        .assert_error(404, "BLOB_UNKNOWN");
    b.delete(&format!("/v2/blobs/app/blobs/{digest}"))
        .assert_error(404, "BLOB_UNKNOWN");
    // Bad names say which rule they break.
    let r = b.post("/v2/UPPER/case/blobs/uploads/", b"");
    r.assert_error(400, "NAME_INVALID");
    assert!(r.message().contains("UPPER/case"));
    b.get("/v2/a..b/blobs/uploads/x")
        .assert_error(400, "NAME_INVALID");
}

#[test]
fn manifests_push_pull_and_errors() {
    let b = Berth::start();
    let (manifest, digest) = b.push_image("deep/nested/repo/name", "v1", 1);

    for reference in ["v1".to_owned(), digest.to_string()] {
        let r = b.get_with(
            &format!("/v2/deep/nested/repo/name/manifests/{reference}"),
            &[("Accept", OCI_MANIFEST)],
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.body, manifest);
        assert_eq!(r.header("content-type"), Some(OCI_MANIFEST));
        assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
        let etag = r.header("etag").unwrap().to_owned();
        let r = b.get_with(
            &format!("/v2/deep/nested/repo/name/manifests/{reference}"),
            &[("If-None-Match", &etag)],
        );
        assert_eq!(r.status, 304);
        let r = b.head(&format!("/v2/deep/nested/repo/name/manifests/{reference}"));
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-length"),
            Some(manifest.len().to_string().as_str())
        );
    }

    let path = "/v2/deep/nested/repo/name/manifests";
    b.get(&format!("{path}/nope"))
        .assert_error(404, "MANIFEST_UNKNOWN");
    b.get(&format!("{path}/{}", Digest::sha256(b"x")))
        .assert_error(404, "MANIFEST_UNKNOWN");
    // A reference that is neither a tag nor a digest names no manifest:
    // reads and deletes answer 404, as for any manifest that does not
    // exist; a push with it is a bad tag.
    for bad in [
        ".INVALID_MANIFEST_NAME",
        "bad!tag",
        "sha256:abc",
        "md5:0123",
    ] {
        let r = b.get(&format!("{path}/{bad}"));
        r.assert_error(404, "MANIFEST_UNKNOWN");
        assert!(
            r.message().contains("neither a valid tag"),
            "{}",
            r.message()
        );
        assert_eq!(b.head(&format!("{path}/{bad}")).status, 404);
        b.delete(&format!("{path}/{bad}"))
            .assert_error(404, "MANIFEST_UNKNOWN");
    }
    b.put(
        &format!("{path}/.INVALID_MANIFEST_NAME"),
        &[("Content-Type", OCI_MANIFEST)],
        &manifest,
    )
    .assert_error(400, "TAG_INVALID");
    // Not JSON.
    b.put(
        &format!("{path}/v2"),
        &[("Content-Type", OCI_MANIFEST)],
        b"{not json",
    )
    .assert_error(400, "MANIFEST_INVALID");
    // A missing layer is named.
    let missing = Digest::sha256(b"never pushed");
    let body = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": missing, "size": 12},
        "layers": []
    }))
    .unwrap();
    let r = b.put(
        &format!("{path}/v2"),
        &[("Content-Type", OCI_MANIFEST)],
        &body,
    );
    r.assert_error(400, "MANIFEST_BLOB_UNKNOWN");
    assert!(r.message().contains(missing.as_str()));
    // By digest, the digest must match the body.
    b.put(
        &format!("{path}/{}", Digest::sha256(b"other")),
        &[("Content-Type", OCI_MANIFEST)],
        &manifest,
    )
    .assert_error(400, "DIGEST_INVALID");
    // The Content-Type must agree with the body.
    b.put(
        &format!("{path}/v3"),
        &[(
            "Content-Type",
            "application/vnd.docker.distribution.manifest.v2+json",
        )],
        &manifest,
    )
    .assert_error(400, "MANIFEST_INVALID");
    // Too large.
    let huge = vec![b' '; 4 * 1024 * 1024 + 1];
    b.put(
        &format!("{path}/big"),
        &[("Content-Type", OCI_MANIFEST)],
        &huge,
    )
    .assert_error(413, "MANIFEST_INVALID");
    // A bad tag.
    b.put(
        &format!("{path}/-bad"),
        &[("Content-Type", OCI_MANIFEST)],
        &manifest,
    )
    .assert_error(400, "TAG_INVALID");
}

#[test]
fn manifest_deletes() {
    let b = Berth::start();
    let (_, d1) = b.push_image("del/app", "one", 1);
    let (manifest2, d2) = b.push_image("del/app", "two", 2);
    // Tag delete: the tag goes, the manifest stays.
    assert_eq!(b.delete("/v2/del/app/manifests/two").status, 202);
    b.get("/v2/del/app/manifests/two")
        .assert_error(404, "MANIFEST_UNKNOWN");
    assert_eq!(
        b.get(&format!("/v2/del/app/manifests/{d2}")).body,
        manifest2
    );
    // Digest delete: the manifest and its tags.
    assert_eq!(b.delete(&format!("/v2/del/app/manifests/{d1}")).status, 202);
    b.get("/v2/del/app/manifests/one")
        .assert_error(404, "MANIFEST_UNKNOWN");
    b.get(&format!("/v2/del/app/manifests/{d1}"))
        .assert_error(404, "MANIFEST_UNKNOWN");
    b.delete(&format!("/v2/del/app/manifests/{d1}"))
        .assert_error(404, "MANIFEST_UNKNOWN");
}

#[test]
fn deletes_disabled_and_read_only() {
    let b = Berth::start_with("storage:\n  inmemory: {}\n  delete:\n    enabled: false\n");
    let (_, digest) = b.push_image("keep/app", "v1", 1);
    b.delete(&format!("/v2/keep/app/manifests/{digest}"))
        .assert_error(405, "UNSUPPORTED");
    b.delete("/v2/keep/app/manifests/v1")
        .assert_error(405, "UNSUPPORTED");

    let b = Berth::start_with(
        "storage:\n  inmemory: {}\n  maintenance:\n    readonly:\n      enabled: true\n",
    );
    b.post("/v2/ro/app/blobs/uploads/", b"")
        .assert_error(405, "UNSUPPORTED");
    assert_eq!(b.get("/v2/_catalog").status, 200);
}

#[test]
fn index_negotiation_and_subject() {
    let b = Berth::start();
    let (m1, d1) = b.push_image("multi/app", "amd", 1);
    let (_, d2) = b.push_image("multi/app", "arm", 2);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": d1, "size": m1.len(), "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": OCI_MANIFEST, "digest": d2, "size": 300, "platform": {"architecture": "arm64", "os": "linux"}}
        ]
    }))
    .unwrap();
    let r = b.put(
        "/v2/multi/app/manifests/latest",
        &[("Content-Type", OCI_INDEX)],
        &index,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = b.get_with("/v2/multi/app/manifests/latest", &[("Accept", OCI_INDEX)]);
    assert_eq!((r.status, r.header("content-type")), (200, Some(OCI_INDEX)));
    // A client that does not take indexes gets the linux/amd64 image.
    let r = b.get_with(
        "/v2/multi/app/manifests/latest",
        &[("Accept", OCI_MANIFEST)],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, m1);
    // One that takes neither gets a clear refusal.
    b.get_with(
        "/v2/multi/app/manifests/latest",
        &[(
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json",
        )],
    )
    .assert_error(404, "MANIFEST_UNKNOWN");

    // An artifact with a subject: OCI-Subject, and the referrers API.
    let empty = b.push_blob("multi/app", b"{}");
    let data = b.push_blob("multi/app", b"signature");
    let artifact = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.sig",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/vnd.example.data", "digest": data, "size": 9}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": d1, "size": m1.len()},
        "annotations": {"org.example": "yes"}
    }))
    .unwrap();
    let ad = Digest::sha256(&artifact);
    let r = b.put(
        &format!("/v2/multi/app/manifests/{ad}"),
        &[("Content-Type", OCI_MANIFEST)],
        &artifact,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("oci-subject"), Some(d1.as_str()));

    let r = b.get(&format!("/v2/multi/app/referrers/{d1}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some(OCI_INDEX));
    let body = r.json();
    assert_eq!(body["mediaType"], OCI_INDEX);
    assert_eq!(body["manifests"][0]["digest"], ad.as_str());
    assert_eq!(
        body["manifests"][0]["artifactType"],
        "application/vnd.example.sig"
    );
    assert_eq!(body["manifests"][0]["annotations"]["org.example"], "yes");
    assert!(r.header("oci-filters-applied").is_none());
    let r = b.get(&format!(
        "/v2/multi/app/referrers/{d1}?artifactType=application/vnd.example.sig"
    ));
    assert_eq!(r.header("oci-filters-applied"), Some("artifactType"));
    assert_eq!(r.json()["manifests"].as_array().unwrap().len(), 1);
    let r = b.get(&format!(
        "/v2/multi/app/referrers/{d1}?artifactType=application/other"
    ));
    assert!(r.json()["manifests"].as_array().unwrap().is_empty());
    b.get("/v2/multi/app/referrers/sha256:nope")
        .assert_error(400, "DIGEST_INVALID");
}

#[test]
fn tags_and_catalog_pagination() {
    let b = Berth::start();
    for (i, tag) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        b.push_image("paged/app", tag, i as u8);
    }
    let r = b.get("/v2/paged/app/tags/list");
    assert_eq!(
        r.json(),
        json!({"name": "paged/app", "tags": ["a", "b", "c", "d", "e"]})
    );
    let r = b.get("/v2/paged/app/tags/list?n=2");
    assert_eq!(r.json()["tags"], json!(["a", "b"]));
    let link = r.header("link").unwrap().to_owned();
    assert_eq!(
        link,
        "</v2/paged/app/tags/list?last=b&n=2>; rel=\"next\""
            .replace("</v2", &format!("<{}/v2", b.url))
    );
    let r = b.get("/v2/paged/app/tags/list?n=2&last=d");
    assert_eq!(r.json()["tags"], json!(["e"]));
    assert!(r.header("link").is_none());
    let r = b.get("/v2/paged/app/tags/list?n=0");
    assert_eq!(r.json()["tags"], json!([]));
    b.get("/v2/paged/app/tags/list?n=abc")
        .assert_error(400, "PAGINATION_NUMBER_INVALID");
    b.get("/v2/paged/app/tags/list?n=-1")
        .assert_error(400, "PAGINATION_NUMBER_INVALID");
    b.get("/v2/nothing/here/tags/list")
        .assert_error(404, "NAME_UNKNOWN");

    for repo in ["cat/a", "cat/b", "cat/c"] {
        b.push_image(repo, "latest", 9);
    }
    let r = b.get("/v2/_catalog");
    assert_eq!(
        r.json(),
        json!({"repositories": ["cat/a", "cat/b", "cat/c", "paged/app"]})
    );
    let r = b.get("/v2/_catalog?n=2");
    assert_eq!(r.json()["repositories"], json!(["cat/a", "cat/b"]));
    assert!(
        r.header("link")
            .unwrap()
            .contains("/v2/_catalog?last=cat%2Fb&n=2")
    );
    let r = b.get("/v2/_catalog?n=2&last=cat/b");
    assert_eq!(r.json()["repositories"], json!(["cat/c", "paged/app"]));
    assert!(r.header("link").is_none());
    b.get("/v2/_catalog?n=1001")
        .assert_error(400, "PAGINATION_NUMBER_INVALID");
}

#[test]
fn prefix_relative_urls_and_forwarded_headers() {
    let b = Berth::start_with("  prefix: /registry\n  relativeurls: true\n");
    assert_eq!(b.get("/registry/v2/").status, 200);
    assert_eq!(b.get("/v2/").status, 404);
    let r = b.post("/registry/v2/pre/app/blobs/uploads/", b"");
    assert_eq!(r.status, 202);
    let location = r.header("location").unwrap();
    assert!(
        location.starts_with("/registry/v2/pre/app/blobs/uploads/"),
        "{location}"
    );

    let b = Berth::start();
    let r = common::Resp::from(
        berth_testkit::http()
            .post(&b.url("/v2/fwd/app/blobs/uploads/"))
            .header("X-Forwarded-Proto", "https")
            .header("X-Forwarded-Host", "registry.example.com")
            .send_empty()
            .unwrap(),
    );
    assert!(
        r.header("location")
            .unwrap()
            .starts_with("https://registry.example.com/v2/fwd/app/blobs/uploads/"),
        "{:?}",
        r.header("location")
    );
}

/// On S3 with redirects on, a blob GET answers 307 to a presigned URL that
/// serves the bytes; HEAD is answered directly.
#[test]
fn s3_redirects() {
    let Some(s3) = berth_testkit::s3_env("s3 redirects") else {
        return;
    };
    let b = Berth::start_with(&format!(
        "storage:\n  s3:\n    region: {}\n    regionendpoint: {}\n    forcepathstyle: true\n    bucket: {}\n    rootdirectory: {}\n    accesskey: {}\n    secretkey: {}\n  delete:\n    enabled: true\n",
        s3.region,
        s3.endpoint,
        s3.bucket,
        berth_testkit::unique_root(),
        s3.access_key,
        s3.secret_key
    ));
    let data = b"served from the bucket".to_vec();
    let digest = b.push_blob("s3/app", &data);
    let r = b.get(&format!("/v2/s3/app/blobs/{digest}"));
    assert_eq!(r.status, 307, "{}", r.text());
    let url = r.header("location").unwrap().to_owned();
    assert!(url.starts_with(&s3.endpoint), "{url}");
    assert!(url.contains("X-Amz-Signature"), "{url}");
    let fetched = common::Resp::from(berth_testkit::http().get(&url).call().unwrap());
    assert_eq!((fetched.status, fetched.body), (200, data));
    let r = b.head(&format!("/v2/s3/app/blobs/{digest}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("22"));
}

/// `log.formatter: json`: every line is a JSON object; each request has an
/// access line with its id, which the response echoes.
#[test]
fn json_logs_and_access_lines() {
    let b = Berth::start_with("log:\n  level: info\n  formatter: json\n");
    let r = b.get_with("/v2/", &[("X-Request-Id", "e2e-request-1")]);
    assert_eq!(r.header("x-request-id"), Some("e2e-request-1"));
    let r = b.get("/v2/json/app/manifests/missing");
    let generated = r.header("x-request-id").unwrap().to_owned();
    assert!(!generated.is_empty());
    // The access line is written as the response goes out.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let log = b.log_text();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["target"] == "berth::access")
        .collect();
    assert!(
        access.iter().any(|l| l["span"]["id"] == "e2e-request-1"
            && l["status"] == 200
            && l["uri"] == "/v2/")
    );
    assert!(
        access
            .iter()
            .any(|l| l["span"]["id"] == generated.as_str() && l["status"] == 404)
    );
}

#[test]
fn access_log_can_be_switched_off() {
    let b = Berth::start_with("log:\n  level: info\n  accesslog:\n    disabled: true\n");
    assert_eq!(b.get("/v2/").status, 200);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!b.log_text().contains("berth::access"), "{}", b.log_text());
}

/// The debug server: health (a storage check that fails when the store
/// cannot be written) and Prometheus metrics.
#[test]
fn debug_server_health_and_metrics() {
    let debug_port = berth_testkit::free_port();
    let downstream = Downstream::start();
    let b = Berth::start_with(&format!(
        "  debug:\n    addr: 127.0.0.1:{debug_port}\n    prometheus:\n      enabled: true\n      path: /metrics\nhealth:\n  storagedriver:\n    enabled: true\n    interval: 200ms\n    threshold: 2\n  file:\n    - file: {}/maintenance\n      interval: 200ms\n  http:\n    - uri: {}/ping\n      headers:\n        X-Check: [berth]\n      statuscode: 204\n      interval: 200ms\n      timeout: 1s\n",
        std::env::temp_dir()
            .join(format!("berth-e2e-{debug_port}"))
            .display(),
        downstream.url,
    ));
    let debug = format!("http://127.0.0.1:{debug_port}");
    berth_testkit::wait_for_http(
        &format!("{debug}/debug/health"),
        200,
        std::time::Duration::from_secs(10),
    );
    b.push_image("metrics/app", "v1", 1);
    b.get("/v2/metrics/app/manifests/v1");
    let r = common::Resp::from(
        berth_testkit::http()
            .get(&format!("{debug}/metrics"))
            .call()
            .unwrap(),
    );
    assert_eq!(r.status, 200);
    let text = r.text();
    // Parsed by an independent Prometheus text-format parser.
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .unwrap_or_else(|e| panic!("/metrics does not parse: {e}\n{text}"));
    let sample = |metric: &str, labels: &[(&str, &str)]| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .unwrap_or_else(|| panic!("no sample {metric} {labels:?} in\n{text}"))
    };
    let value = |metric: &str, labels: &[(&str, &str)]| match sample(metric, labels).value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => v,
        ref other => panic!("{metric} is not a scalar: {other:?}"),
    };
    assert_eq!(
        value(
            "berth_http_requests_total",
            &[("route", "manifest"), ("method", "PUT"), ("status", "201")]
        ),
        1.0
    );
    assert_eq!(
        value(
            "berth_http_requests_total",
            &[("route", "manifest"), ("method", "GET"), ("status", "200")]
        ),
        1.0
    );
    match &sample(
        "berth_http_request_duration_seconds",
        &[("route", "manifest"), ("method", "GET")],
    )
    .value
    {
        prometheus_parse::Value::Histogram(buckets) => {
            let inf = buckets.iter().find(|b| b.less_than == f64::INFINITY);
            assert_eq!(inf.map(|b| b.count), Some(1.0), "{buckets:?}");
        }
        other => panic!("request duration is not a histogram: {other:?}"),
    }
    assert!(value("berth_http_response_body_bytes_total", &[]) > 0.0);
    assert!(value("berth_http_request_body_bytes_total", &[]) > 0.0);
    value("berth_cache_hits_total", &[]);
    assert_eq!(value("berth_uploads_in_flight", &[]), 0.0);
    assert!(
        value(
            "berth_storage_operations_total",
            &[
                ("driver", "filesystem"),
                ("operation", "put_content"),
                ("outcome", "ok")
            ]
        ) >= 1.0
    );
    sample(
        "berth_storage_operation_duration_seconds",
        &[("driver", "filesystem")],
    );

    // The HTTP check: HEAD with the configured header; another status
    // than `statuscode` fails it, and it heals when the status is back.
    assert!(downstream.seen_header("x-check: berth"));
    downstream.answer(500);
    berth_testkit::wait_for_http(
        &format!("{debug}/debug/health"),
        503,
        std::time::Duration::from_secs(10),
    );
    let r = common::Resp::from(
        berth_testkit::http()
            .get(&format!("{debug}/debug/health"))
            .call()
            .unwrap(),
    );
    assert!(r.text().contains("unexpected status: 500"), "{}", r.text());
    downstream.answer(204);
    berth_testkit::wait_for_http(
        &format!("{debug}/debug/health"),
        200,
        std::time::Duration::from_secs(10),
    );

    // The maintenance file makes the file check fail; removing it heals.
    let flag = std::env::temp_dir().join(format!("berth-e2e-{debug_port}"));
    std::fs::create_dir_all(&flag).unwrap();
    std::fs::write(flag.join("maintenance"), b"down").unwrap();
    berth_testkit::wait_for_http(
        &format!("{debug}/debug/health"),
        503,
        std::time::Duration::from_secs(10),
    );
    let r = common::Resp::from(
        berth_testkit::http()
            .get(&format!("{debug}/debug/health"))
            .call()
            .unwrap(),
    );
    assert!(r.text().contains("maintenance"), "{}", r.text());
    std::fs::remove_dir_all(&flag).unwrap();
    berth_testkit::wait_for_http(
        &format!("{debug}/debug/health"),
        200,
        std::time::Duration::from_secs(10),
    );

    // A store that cannot be written fails the storage check: replace the
    // root with a file (permissions would not stop root).
    std::fs::remove_dir_all(&b.root).unwrap();
    std::fs::write(&b.root, b"not a directory").unwrap();
    berth_testkit::wait_for_http(
        &format!("{debug}/debug/health"),
        503,
        std::time::Duration::from_secs(10),
    );
    std::fs::remove_file(&b.root).unwrap();
    berth_testkit::wait_for_http(
        &format!("{debug}/debug/health"),
        200,
        std::time::Duration::from_secs(10),
    );
}

#[test]
fn old_uploads_are_purged() {
    let b = Berth::start_with(
        "storage:\n  inmemory: {}\n  maintenance:\n    uploadpurging:\n      enabled: true\n      age: 1s\n      interval: 1s\n      dryrun: false\n",
    );
    let r = b.post("/v2/purge/app/blobs/uploads/", b"");
    let uuid = r.header("docker-upload-uuid").unwrap().to_owned();
    let status = format!("/v2/purge/app/blobs/uploads/{uuid}");
    assert_eq!(b.get(&status).status, 204);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while b.get(&status).status != 404 {
        assert!(
            std::time::Instant::now() < deadline,
            "the upload was not purged"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    b.get(&status).assert_error(404, "BLOB_UPLOAD_UNKNOWN");
}

/// Distribution's `redirect` storage middleware: blob GETs redirect to the
/// base URL followed by the blob's storage path; HEAD is answered here.
#[test]
fn redirect_middleware() {
    let b = Berth::start_with(
        "storage:\n  inmemory: {}\nmiddleware:\n  storage:\n    - name: redirect\n      options:\n        baseurl: https://cdn.example.com/registry\n",
    );
    let data = b"served by the CDN";
    let digest = b.push_blob("cdn/app", data);
    let r = b.get(&format!("/v2/cdn/app/blobs/{digest}"));
    assert_eq!(r.status, 307);
    assert_eq!(
        r.header("location"),
        Some(
            format!(
                "https://cdn.example.com/registry/docker/registry/v2/blobs/sha256/{}/{}/data",
                &digest.encoded()[..2],
                digest.encoded()
            )
            .as_str()
        )
    );
    assert_eq!(b.head(&format!("/v2/cdn/app/blobs/{digest}")).status, 200);
    // Still only for blobs the repository has.
    b.get(&format!("/v2/other/app/blobs/{digest}"))
        .assert_error(404, "BLOB_UNKNOWN");
}

/// A loopback HTTP server answering every request with a settable status,
/// recording the request heads it saw (for `health.http`).
struct Downstream {
    url: String,
    status: std::sync::Arc<std::sync::atomic::AtomicU16>,
    heads: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Downstream {
    fn start() -> Downstream {
        use std::io::{BufRead, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let status = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(204));
        let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (s, h) = (status.clone(), heads.clone());
        // The thread ends with the test process.
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line.to_ascii_lowercase());
                }
                h.lock().unwrap().push(head);
                let code = s.load(std::sync::atomic::Ordering::SeqCst);
                let _ = write!(
                    conn,
                    "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Downstream { url, status, heads }
    }

    fn answer(&self, code: u16) {
        self.status.store(code, std::sync::atomic::Ordering::SeqCst);
    }

    fn seen_header(&self, line: &str) -> bool {
        self.heads
            .lock()
            .unwrap()
            .iter()
            .any(|h| h.starts_with("head /ping ") && h.contains(line))
    }
}

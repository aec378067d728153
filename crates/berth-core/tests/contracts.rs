//! The traits are object-safe and the errors map to the right kinds.

use std::sync::Arc;

use berth_core::{
    BlobDeleter, BlobDescriptorService, BlobIngester, BlobProvider, BlobStatter, BlobStore,
    BlobWriter, Error, ErrorKind, ManifestService, Namespace, ReferrersService, Repository,
    TagService,
};
use berth_digest::{Digest, DigestError};

/// Compiles only while every trait can be used as a trait object.
#[allow(clippy::too_many_arguments, dead_code)]
fn object_safe(
    _: Arc<dyn Namespace>,
    _: Arc<dyn Repository>,
    _: &dyn BlobStatter,
    _: &dyn BlobDescriptorService,
    _: &dyn BlobProvider,
    _: &dyn BlobIngester,
    _: &dyn BlobDeleter,
    _: &dyn BlobStore,
    _: Box<dyn BlobWriter>,
    _: &dyn ManifestService,
    _: &dyn TagService,
    _: &dyn ReferrersService,
) {
}

#[test]
fn every_variant_has_its_kind() {
    let d = Digest::sha256(b"x");
    let io = || std::io::Error::other("disk on fire");
    let cases: Vec<(Error, ErrorKind)> = vec![
        (
            Error::BlobUnknown { digest: d.clone() },
            ErrorKind::BlobUnknown,
        ),
        (
            Error::BlobUploadUnknown { id: "u".into() },
            ErrorKind::BlobUploadUnknown,
        ),
        (
            Error::BlobUploadInvalid { reason: "r".into() },
            ErrorKind::BlobUploadInvalid,
        ),
        (
            Error::digest_malformed("sha256:x", DigestError::Empty),
            ErrorKind::DigestInvalid,
        ),
        (
            Error::DigestMismatch {
                given: d.clone(),
                computed: Digest::sha256(b"y"),
            },
            ErrorKind::DigestInvalid,
        ),
        (
            Error::SizeInvalid {
                expected: 1,
                actual: 2,
            },
            ErrorKind::SizeInvalid,
        ),
        (
            Error::ManifestUnknown {
                reference: "latest".into(),
            },
            ErrorKind::ManifestUnknown,
        ),
        (
            Error::ManifestInvalid { reason: "r".into() },
            ErrorKind::ManifestInvalid,
        ),
        (
            Error::ManifestBlobUnknown { digest: d.clone() },
            ErrorKind::ManifestBlobUnknown,
        ),
        (
            Error::name_invalid("A", "uppercase"),
            ErrorKind::NameInvalid,
        ),
        (
            Error::NameUnknown { name: "n".into() },
            ErrorKind::NameUnknown,
        ),
        (
            Error::tag_invalid(".x", "leading dot"),
            ErrorKind::TagInvalid,
        ),
        (
            Error::unsupported("deletes are disabled"),
            ErrorKind::Unsupported,
        ),
        (Error::Denied { reason: "r".into() }, ErrorKind::Denied),
        (
            Error::TooManyRequests { reason: "r".into() },
            ErrorKind::TooManyRequests,
        ),
        (Error::unavailable("s3", io()), ErrorKind::Unavailable),
        (Error::backend("read /x", io()), ErrorKind::Unknown),
    ];
    for (err, kind) in cases {
        assert_eq!(err.kind(), kind, "{err}");
    }
}

#[test]
fn messages_name_the_bad_part() {
    let given = Digest::sha256(b"claimed");
    let computed = Digest::sha256(b"received");
    let err = Error::DigestMismatch {
        given: given.clone(),
        computed: computed.clone(),
    };
    assert_eq!(
        err.to_string(),
        format!(
            "provided digest did not match uploaded content: given {given}, computed {computed}"
        )
    );
    let err = Error::name_invalid(&"a".repeat(1000), "too long");
    let msg = err.to_string();
    assert!(msg.len() < 150, "client input is quoted shortened: {msg}");
    assert!(msg.ends_with("too long"));
    assert_eq!(
        Error::backend("read /docker/registry/v2/x", std::io::Error::other("EIO")).to_string(),
        "read /docker/registry/v2/x failed: EIO"
    );
}

#[test]
fn not_found_kinds() {
    assert!(
        Error::BlobUnknown {
            digest: Digest::sha256(b"")
        }
        .is_not_found()
    );
    assert!(
        Error::ManifestUnknown {
            reference: "t".into()
        }
        .is_not_found()
    );
    assert!(Error::NameUnknown { name: "n".into() }.is_not_found());
    assert!(Error::BlobUploadUnknown { id: "u".into() }.is_not_found());
    assert!(!Error::unsupported("x").is_not_found());
}

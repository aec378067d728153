//! Every error code: its wire string, status, message and body.

use berth_api::{ApiError, ErrorBody, ErrorCode};
use berth_core::{Error, ErrorKind};
use berth_digest::Digest;

#[test]
fn codes_statuses_and_messages() {
    let expected: &[(ErrorCode, &str, u16)] = &[
        (ErrorCode::BlobUnknown, "BLOB_UNKNOWN", 404),
        (ErrorCode::BlobUploadInvalid, "BLOB_UPLOAD_INVALID", 400),
        (ErrorCode::BlobUploadUnknown, "BLOB_UPLOAD_UNKNOWN", 404),
        (ErrorCode::DigestInvalid, "DIGEST_INVALID", 400),
        (ErrorCode::ManifestBlobUnknown, "MANIFEST_BLOB_UNKNOWN", 400),
        (ErrorCode::ManifestInvalid, "MANIFEST_INVALID", 400),
        (ErrorCode::ManifestUnknown, "MANIFEST_UNKNOWN", 404),
        (ErrorCode::ManifestUnverified, "MANIFEST_UNVERIFIED", 400),
        (ErrorCode::NameInvalid, "NAME_INVALID", 400),
        (ErrorCode::NameUnknown, "NAME_UNKNOWN", 404),
        (ErrorCode::SizeInvalid, "SIZE_INVALID", 400),
        (ErrorCode::RangeInvalid, "RANGE_INVALID", 416),
        (ErrorCode::TagInvalid, "TAG_INVALID", 400),
        (
            ErrorCode::PaginationNumberInvalid,
            "PAGINATION_NUMBER_INVALID",
            400,
        ),
        (ErrorCode::Unauthorized, "UNAUTHORIZED", 401),
        (ErrorCode::Denied, "DENIED", 403),
        (ErrorCode::Unsupported, "UNSUPPORTED", 405),
        (ErrorCode::Unavailable, "UNAVAILABLE", 503),
        (ErrorCode::TooManyRequests, "TOOMANYREQUESTS", 429),
        (ErrorCode::Unknown, "UNKNOWN", 500),
    ];
    assert_eq!(expected.len(), ErrorCode::ALL.len());
    for &(code, wire, status) in expected {
        assert_eq!(code.as_str(), wire);
        assert_eq!(code.status(), status, "{wire}");
        assert_eq!(ErrorCode::parse(wire), Some(code));
        assert!(!code.message().is_empty());
    }
    assert_eq!(ErrorCode::parse("NOPE"), None);
}

#[test]
fn every_core_kind_maps() {
    use ErrorKind::*;
    let pairs = [
        (BlobUnknown, ErrorCode::BlobUnknown),
        (BlobUploadUnknown, ErrorCode::BlobUploadUnknown),
        (BlobUploadInvalid, ErrorCode::BlobUploadInvalid),
        (DigestInvalid, ErrorCode::DigestInvalid),
        (SizeInvalid, ErrorCode::SizeInvalid),
        (ManifestUnknown, ErrorCode::ManifestUnknown),
        (ManifestInvalid, ErrorCode::ManifestInvalid),
        (ManifestBlobUnknown, ErrorCode::ManifestBlobUnknown),
        (NameInvalid, ErrorCode::NameInvalid),
        (NameUnknown, ErrorCode::NameUnknown),
        (TagInvalid, ErrorCode::TagInvalid),
        (Unsupported, ErrorCode::Unsupported),
        (Denied, ErrorCode::Denied),
        (TooManyRequests, ErrorCode::TooManyRequests),
        (Unavailable, ErrorCode::Unavailable),
        (Unknown, ErrorCode::Unknown),
    ];
    for (kind, code) in pairs {
        assert_eq!(ErrorCode::from(kind), code);
    }
}

#[test]
fn bodies() {
    let given = Digest::sha256(b"claimed");
    let computed = Digest::sha256(b"sent");
    let err = ApiError::from(Error::DigestMismatch {
        given: given.clone(),
        computed: computed.clone(),
    });
    assert_eq!(err.status(), 400);
    let body: serde_json::Value = serde_json::from_slice(&err.to_json()).unwrap();
    assert_eq!(body["errors"][0]["code"], "DIGEST_INVALID");
    assert_eq!(body["errors"][0]["detail"]["given"], given.as_str());
    assert_eq!(body["errors"][0]["detail"]["computed"], computed.as_str());
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(computed.as_str())
    );

    // Backend failures keep their details out of the response.
    let err = ApiError::from(Error::backend(
        "read /docker/registry/v2/secret/path",
        std::io::Error::other("EIO"),
    ));
    assert_eq!(err.status(), 500);
    assert_eq!(err.message, "unknown error");
    assert!(!String::from_utf8(err.to_json()).unwrap().contains("secret"));

    // Without detail, the key is absent.
    let err = ApiError::new(ErrorCode::Unsupported);
    assert_eq!(
        String::from_utf8(err.to_json()).unwrap(),
        r#"{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}"#
    );
    let parsed: ErrorBody = serde_json::from_slice(&err.to_json()).unwrap();
    assert_eq!(parsed, err.body());
}

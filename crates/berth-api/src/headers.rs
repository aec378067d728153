//! Header names and values of the v2 API.

/// `Docker-Distribution-API-Version`, answered on every response.
pub const API_VERSION: &str = "Docker-Distribution-API-Version";
/// Its value.
pub const API_VERSION_VALUE: &str = "registry/2.0";
/// `Docker-Content-Digest`: the digest of a blob or manifest.
pub const CONTENT_DIGEST: &str = "Docker-Content-Digest";
/// `Docker-Upload-UUID`: the id of an upload.
pub const UPLOAD_UUID: &str = "Docker-Upload-UUID";
/// `OCI-Subject`: answered on a manifest push that had a subject.
pub const OCI_SUBJECT: &str = "OCI-Subject";
/// `OCI-Filters-Applied`: the referrers filters that were applied.
pub const OCI_FILTERS_APPLIED: &str = "OCI-Filters-Applied";
/// `OCI-Chunk-Min-Length`: the smallest chunk the registry wants.
pub const OCI_CHUNK_MIN_LENGTH: &str = "OCI-Chunk-Min-Length";
/// `X-Content-Type-Options`.
pub const CONTENT_TYPE_OPTIONS: &str = "X-Content-Type-Options";
/// `X-Forwarded-Proto`.
pub const FORWARDED_PROTO: &str = "X-Forwarded-Proto";
/// `X-Forwarded-Host`.
pub const FORWARDED_HOST: &str = "X-Forwarded-Host";
/// `X-Request-Id`: the request id, echoed.
pub const REQUEST_ID: &str = "X-Request-Id";
/// The media type of an error body and of the v2 JSON documents.
pub const JSON: &str = "application/json; charset=utf-8";

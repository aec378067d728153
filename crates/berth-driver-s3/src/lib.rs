//! The S3 storage driver of the berth registry.
//!
//! ```no_run
//! use berth_driver::StorageDriver;
//! use berth_driver_s3::{S3Driver, S3Parameters};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let mut params = S3Parameters::new("registry-bucket");
//! params.region = Some("eu-west-1".into());
//! params.rootdirectory = Some("/registry".into());
//! let driver = S3Driver::new(params).await?;
//!
//! driver.put_content("/docker/registry/v2/x", "hello".into()).await?; // key registry/docker/registry/v2/x
//! assert_eq!(driver.get_content("/docker/registry/v2/x").await?, "hello");
//! # Ok(())
//! # }
//! ```
//!
//! [`S3Driver`] implements berth's [`StorageDriver`](berth_driver::StorageDriver)
//! on Amazon S3 or any S3-compatible store (Garage, MinIO, Ceph RGW, …),
//! with the parameters and the bucket layout of CNCF Distribution's `s3`
//! driver: the same bucket can be served by either.
//!
//! # Keys
//!
//! Storage path `/a/b` is the key `<rootdirectory>/a/b` without a leading
//! `/`; a directory is the prefix `<rootdirectory>/a/`, present while some
//! key lies below it.
//!
//! # Writers: multipart uploads that survive a restart
//!
//! A writer ([`S3Writer`]) buffers up to `chunksize` bytes and uploads each
//! full buffer as the next part of a multipart upload (created with its
//! first part); every part but the last is exactly `chunksize`, whatever
//! the sizes of the writes. Small content that never fills a part is one
//! `PutObject` at commit. `commit` completes the upload with each part's
//! number and ETag, and nothing else.
//!
//! S3 refuses parts smaller than 5 MiB except the last, so what is gathered
//! but less than a part when the writer is closed cannot become a part.
//! `close` stores it as a small object beside the target, `<key>~tail`
//! ([`TAIL_SUFFIX`]), whose metadata names the upload and how many parts
//! (of what total size) precede it. `~` is not allowed in a path
//! component, so the tail never appears in `list`, `stat` or `walk`.
//! `writer(path, true)` (in any process, on any node) lists the key's
//! in-progress uploads with `ListMultipartUploads` and reads the tail back,
//! then goes on from exactly where the last `close` left the writer: the
//! upload and the parts the tail names (`ListParts`), and the tail's
//! bytes. Parts uploaded after that `close` (by a writer that failed, or a
//! process that died, before its next one) are left out, and overwritten
//! as the writer goes on; other uploads of the key are aborted at
//! `commit` or `cancel`. `writer(path, false)` aborts the key's earlier
//! uploads and deletes its tail; `commit` and `cancel` remove the tail
//! too.
//!
//! So after a crash or a failed write, resuming finds the content of the
//! last `close`, however many parts went out since, and reports its size:
//! the registry, which saves its hash state at each `close`, has the state
//! for that size, and its client goes on from there. Without a tail (an
//! upload Distribution's driver left, or a writer never closed) it goes on
//! from the newest upload's parts, up to the first one under 5 MiB.
//!
//! # Checksums
//!
//! By default (`checksumcalculation` and `checksumvalidation` are
//! `when_required`) the SDK adds checksums only where an operation requires
//! one (`DeleteObjects`), so bodies go as plain signed payloads, which
//! every S3-compatible store accepts: recent AWS SDKs otherwise add CRC32
//! checksums to every upload (streaming ones `aws-chunked`, with a
//! trailer), which several stores and proxies refuse, as older Garage
//! releases did. `when_supported` turns them on where they are accepted.
//! Multipart uploads are completed with part numbers and ETags only.
//!
//! # Errors and retries
//!
//! The SDK retries throttling, 5xx and transient network errors
//! ([`MAX_ATTEMPTS`] attempts, standard mode: exponential backoff with
//! jitter). A failure is a [`DriverError::Backend`](berth_driver::DriverError::Backend)
//! naming the S3 operation and the path, with an [`S3Error`] that reads
//! `HTTP 403 AccessDenied: Access Denied (request id …)` rather than
//! "service error".

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod driver;
mod error;
mod params;
mod walk;
mod writer;

pub use driver::{MAX_ATTEMPTS, NAME, REDIRECT_EXPIRY, S3Driver};
pub use error::S3Error;
pub use params::{
    ChecksumMode, DEFAULT_CHUNK_SIZE, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MULTIPART_COPY_CHUNK_SIZE,
    DEFAULT_MULTIPART_COPY_MAX_CONCURRENCY, DEFAULT_MULTIPART_COPY_THRESHOLD_SIZE,
    DEFAULT_OBJECT_ACL, DEFAULT_OPERATION_TIMEOUT, DEFAULT_READ_TIMEOUT, DEFAULT_REGION,
    DEFAULT_STORAGE_CLASS, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, OBJECT_ACLS, PARAMETERS, ParameterError,
    S3Parameters, STORAGE_CLASSES,
};
pub use writer::{MAX_PARTS, S3Writer, TAIL_SUFFIX};

/// The README's examples, run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

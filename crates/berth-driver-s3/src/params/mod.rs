//! The driver's parameters: Distribution's `storage: s3:` keys.

use std::time::Duration;

/// The smallest part S3 accepts in a multipart upload (except the last),
/// and so the smallest `chunksize`: 5 MiB.
pub const MIN_CHUNK_SIZE: u64 = 5 << 20;
/// The largest part S3 accepts (and the largest object `CopyObject`
/// copies in one request): 5 GiB.
pub const MAX_CHUNK_SIZE: u64 = 5 << 30;
/// Default `chunksize`: 10 MiB.
pub const DEFAULT_CHUNK_SIZE: u64 = 10 << 20;
/// Default `multipartcopychunksize`: 32 MiB.
pub const DEFAULT_MULTIPART_COPY_CHUNK_SIZE: u64 = 32 << 20;
/// Default `multipartcopymaxconcurrency`: 100.
pub const DEFAULT_MULTIPART_COPY_MAX_CONCURRENCY: u64 = 100;
/// Default `multipartcopythresholdsize`: 32 MiB.
pub const DEFAULT_MULTIPART_COPY_THRESHOLD_SIZE: u64 = 32 << 20;
/// Default `storageclass`.
pub const DEFAULT_STORAGE_CLASS: &str = "STANDARD";
/// Default `objectacl`.
pub const DEFAULT_OBJECT_ACL: &str = "private";
/// The region used to sign requests when only `regionendpoint` is given.
pub const DEFAULT_REGION: &str = "us-east-1";
/// Default `connecttimeout`: 5 s to open a connection to the store.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default `readtimeout`: 60 s from the start of a request (its body
/// included) to the head of its answer.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Default `operationtimeout`: 2 min for one S3 operation, all its
/// attempts and the back-off between them included.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(120);

/// The storage classes `storageclass` accepts (and `NONE`: send none).
pub const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "GLACIER_IR",
    "DEEP_ARCHIVE",
    "OUTPOSTS",
    "EXPRESS_ONEZONE",
    "NONE",
];

/// The canned ACLs `objectacl` accepts.
pub const OBJECT_ACLS: &[&str] = &[
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
];

/// Every parameter of the driver, by its name in the configuration, in
/// the order [`S3Parameters`] writes them.
pub const PARAMETERS: &[&str] = &[
    "region",
    "regionendpoint",
    "forcepathstyle",
    "bucket",
    "rootdirectory",
    "accesskey",
    "secretkey",
    "sessiontoken",
    "secure",
    "skipverify",
    "v4auth",
    "encrypt",
    "keyid",
    "chunksize",
    "multipartcopychunksize",
    "multipartcopymaxconcurrency",
    "multipartcopythresholdsize",
    "storageclass",
    "objectacl",
    "useragent",
    "usedualstack",
    "accelerate",
    "loglevel",
    "checksumcalculation",
    "checksumvalidation",
    "connecttimeout",
    "readtimeout",
    "operationtimeout",
];

/// When the SDK adds checksums to requests, or checks them on responses
/// (`checksumcalculation`, `checksumvalidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChecksumMode {
    /// Only where the operation requires one (`DeleteObjects`): plain
    /// signed bodies, which every S3-compatible store accepts. The
    /// default.
    #[default]
    WhenRequired,
    /// Wherever the SDK supports one: uploads carry a CRC32 checksum
    /// (streaming ones `aws-chunked`, with a trailer) and downloads are
    /// checked. AWS S3 and current Garage accept this; several
    /// S3-compatible stores and proxies (and older Garage releases) do not.
    WhenSupported,
}

impl ChecksumMode {
    /// The configuration spelling: `when_required` or `when_supported`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumMode::WhenRequired => "when_required",
            ChecksumMode::WhenSupported => "when_supported",
        }
    }
}

/// A parameter with a bad or missing value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("s3 storage parameter {parameter}: {message}")]
pub struct ParameterError {
    /// The parameter (`chunksize`, `bucket`, …).
    pub parameter: &'static str,
    /// What is wrong with it, quoting the bad value.
    pub message: String,
    /// For a value of the wrong form: the value as written (strings
    /// quoted), so that a configuration reader can report it in its own
    /// words, with [`expected`](ParameterError::expected).
    pub value: Option<String>,
    /// For a value of the wrong form, or a required parameter that is not
    /// given: what it should hold.
    pub expected: Option<String>,
}

impl ParameterError {
    fn new(parameter: &'static str, message: impl Into<String>) -> ParameterError {
        ParameterError {
            parameter,
            message: message.into(),
            value: None,
            expected: None,
        }
    }

    /// `value` (as written) is not of the form `expected`.
    fn invalid(parameter: &'static str, expected: &str, value: String) -> ParameterError {
        ParameterError {
            parameter,
            message: format!("expected {expected}, got {value}"),
            value: Some(value),
            expected: Some(expected.to_owned()),
        }
    }

    /// A required parameter that is not given.
    fn missing(parameter: &'static str, expected: &str) -> ParameterError {
        ParameterError {
            parameter,
            message: "required, and not given".to_owned(),
            value: None,
            expected: Some(expected.to_owned()),
        }
    }
}

/// The parameters of the S3 driver, under the names of Distribution's
/// configuration (`storage: s3: ...`).
///
/// It deserializes (serde) from the configuration's map: keys are matched
/// case-insensitively, numbers and booleans may also be given as strings
/// (as environment overrides give them), an empty value counts as absent,
/// and keys this driver does not know are kept in
/// [`unknown`](S3Parameters::unknown) (the driver warns about them).
/// [`S3Driver::new`](crate::S3Driver::new) checks the values.
///
/// ```
/// use berth_driver_s3::S3Parameters;
///
/// let mut params = S3Parameters::new("my-bucket");
/// params.region = Some("eu-west-1".into());
/// params.rootdirectory = Some("/registry".into());
/// assert_eq!(params.chunksize, 10 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Parameters {
    /// The AWS region (`us-east-1`, …). Required unless `regionendpoint`
    /// is given; then it is only the signing region (default
    /// [`DEFAULT_REGION`]).
    pub region: Option<String>,
    /// An S3-compatible endpoint (`http://127.0.0.1:3900`,
    /// `minio.example.com:9000`). Without a scheme, `secure` picks
    /// `https://` or `http://`.
    pub regionendpoint: Option<String>,
    /// Address buckets as `endpoint/bucket/key` rather than
    /// `bucket.endpoint/key`. Default false; most S3-compatible stores
    /// behind a `regionendpoint` want true.
    pub forcepathstyle: bool,
    /// The bucket. Required.
    pub bucket: String,
    /// A key prefix everything is stored under (`/registry` stores
    /// `/docker/...` at `registry/docker/...`). Default: none.
    pub rootdirectory: Option<String>,
    /// The access key id; with `secretkey`. Without both, the default AWS
    /// credential chain (environment, profile, web identity, ECS, EC2
    /// instance metadata).
    pub accesskey: Option<String>,
    /// The secret access key; with `accesskey`.
    pub secretkey: Option<String>,
    /// A session token for temporary `accesskey`/`secretkey` credentials.
    pub sessiontoken: Option<String>,
    /// Use `https://` for the endpoint (default true). False means
    /// `http://`.
    pub secure: bool,
    /// Skip TLS certificate verification. Not supported: true is refused
    /// (trust the server's CA in the system store instead).
    pub skipverify: bool,
    /// Sign with AWS Signature Version 4. Accepted for compatibility;
    /// requests are always signed with SigV4.
    pub v4auth: bool,
    /// Server-side encryption: `aws:kms` with `keyid`, else `AES256`.
    /// Default false.
    pub encrypt: bool,
    /// The KMS key for `encrypt`.
    pub keyid: Option<String>,
    /// The size of the parts of a multipart upload, in bytes: a writer
    /// buffers this much before it uploads a part. Default
    /// [`DEFAULT_CHUNK_SIZE`], at least [`MIN_CHUNK_SIZE`], at most
    /// [`MAX_CHUNK_SIZE`].
    pub chunksize: u64,
    /// The size of the pieces of a multipart copy (`move_to` of large
    /// content). Default [`DEFAULT_MULTIPART_COPY_CHUNK_SIZE`], between
    /// [`MIN_CHUNK_SIZE`] and [`MAX_CHUNK_SIZE`].
    pub multipartcopychunksize: u64,
    /// How many pieces of a multipart copy run at once. Default
    /// [`DEFAULT_MULTIPART_COPY_MAX_CONCURRENCY`], at least 1.
    pub multipartcopymaxconcurrency: u64,
    /// Content larger than this is moved by multipart copy rather than
    /// one `CopyObject`. Default
    /// [`DEFAULT_MULTIPART_COPY_THRESHOLD_SIZE`], at most
    /// [`MAX_CHUNK_SIZE`].
    pub multipartcopythresholdsize: u64,
    /// The storage class of new objects (one of [`STORAGE_CLASSES`]);
    /// `NONE` sends none. Default [`DEFAULT_STORAGE_CLASS`].
    pub storageclass: String,
    /// The canned ACL of new objects (one of [`OBJECT_ACLS`]). Default
    /// `private`, which is what S3 does without one, so it is not sent
    /// (buckets with ACLs disabled accept the requests).
    pub objectacl: String,
    /// Appended to the `User-Agent` of every request.
    pub useragent: Option<String>,
    /// Use the dual-stack (IPv4 and IPv6) AWS endpoints. Default false.
    pub usedualstack: bool,
    /// Use S3 Transfer Acceleration endpoints. Default false.
    pub accelerate: bool,
    /// Distribution's AWS SDK log level. Accepted for compatibility; the
    /// SDK logs through `tracing` (targets `aws_*`), filtered by the log
    /// configuration.
    pub loglevel: Option<String>,
    /// When requests carry checksums. Default
    /// [`ChecksumMode::WhenRequired`].
    pub checksumcalculation: ChecksumMode,
    /// When responses' checksums are checked. Default
    /// [`ChecksumMode::WhenRequired`].
    pub checksumvalidation: ChecksumMode,
    /// How long opening a connection (TCP, and TLS for `https://`) may
    /// take before the attempt fails (and is retried). Default
    /// [`DEFAULT_CONNECT_TIMEOUT`]; zero: no limit.
    pub connecttimeout: Duration,
    /// How long one attempt may wait from the moment its request starts
    /// going out (the body included: up to `chunksize` bytes for a part)
    /// to the head of the answer; then the attempt fails and is retried.
    /// It does not limit the streaming of a body after its head (a stalled
    /// body is cut by the SDK's stalled-stream protection, after 20 s
    /// without progress). Default [`DEFAULT_READ_TIMEOUT`]; zero: no limit.
    pub readtimeout: Duration,
    /// How long one S3 operation may take, every attempt and the back-off
    /// between them included (up to the head of the answer for a
    /// download); then the operation fails, and so does the registry
    /// request that needed it. This bounds how long a store that does not
    /// answer holds a request. Default [`DEFAULT_OPERATION_TIMEOUT`];
    /// zero: no limit.
    pub operationtimeout: Duration,
    /// Keys that were given but are not parameters of this driver.
    pub unknown: Vec<String>,
}

impl Default for S3Parameters {
    fn default() -> Self {
        S3Parameters {
            region: None,
            regionendpoint: None,
            forcepathstyle: false,
            bucket: String::new(),
            rootdirectory: None,
            accesskey: None,
            secretkey: None,
            sessiontoken: None,
            secure: true,
            skipverify: false,
            v4auth: true,
            encrypt: false,
            keyid: None,
            chunksize: DEFAULT_CHUNK_SIZE,
            multipartcopychunksize: DEFAULT_MULTIPART_COPY_CHUNK_SIZE,
            multipartcopymaxconcurrency: DEFAULT_MULTIPART_COPY_MAX_CONCURRENCY,
            multipartcopythresholdsize: DEFAULT_MULTIPART_COPY_THRESHOLD_SIZE,
            storageclass: DEFAULT_STORAGE_CLASS.to_owned(),
            objectacl: DEFAULT_OBJECT_ACL.to_owned(),
            useragent: None,
            usedualstack: false,
            accelerate: false,
            loglevel: None,
            checksumcalculation: ChecksumMode::WhenRequired,
            checksumvalidation: ChecksumMode::WhenRequired,
            connecttimeout: DEFAULT_CONNECT_TIMEOUT,
            readtimeout: DEFAULT_READ_TIMEOUT,
            operationtimeout: DEFAULT_OPERATION_TIMEOUT,
            unknown: Vec::new(),
        }
    }
}

impl S3Parameters {
    /// The defaults, with `bucket` set.
    pub fn new(bucket: impl Into<String>) -> S3Parameters {
        S3Parameters {
            bucket: bucket.into(),
            ..S3Parameters::default()
        }
    }

    /// Checks the values together, as [`S3Driver::new`](crate::S3Driver::new)
    /// does before it builds a client.
    pub fn validate(&self) -> Result<(), ParameterError> {
        self.validate_storage()?;
        let present = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
        if !present(&self.region) && !present(&self.regionendpoint) {
            return Err(ParameterError::new(
                "region",
                "required unless regionendpoint is given, and neither is",
            ));
        }
        if self.skipverify {
            return Err(ParameterError::new(
                "skipverify",
                "true is not supported: this driver always verifies TLS certificates \
                 (add the server's CA certificate to the system trust store instead)",
            ));
        }
        match (present(&self.accesskey), present(&self.secretkey)) {
            (true, false) => {
                return Err(ParameterError::new(
                    "secretkey",
                    "required with accesskey, and not given",
                ));
            }
            (false, true) => {
                return Err(ParameterError::new(
                    "accesskey",
                    "required with secretkey, and not given",
                ));
            }
            _ => {}
        }
        if let Some(agent) = &self.useragent
            && !agent.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
        {
            return Err(ParameterError::new(
                "useragent",
                format!("{agent:?} has characters a User-Agent header cannot carry"),
            ));
        }
        if let Some(endpoint) = self.regionendpoint.as_deref().filter(|e| !e.is_empty()) {
            let rest = endpoint
                .strip_prefix("https://")
                .or_else(|| endpoint.strip_prefix("http://"))
                .unwrap_or(endpoint);
            if rest.is_empty() || rest.contains("://") || rest.contains(char::is_whitespace) {
                return Err(ParameterError::new(
                    "regionendpoint",
                    format!("{endpoint:?} is not a host[:port] or an http(s):// URL"),
                ));
            }
        }
        Ok(())
    }

    /// Checks the parameters about what is stored and how (not about
    /// connecting).
    pub(crate) fn validate_storage(&self) -> Result<(), ParameterError> {
        if self.bucket.is_empty() {
            return Err(ParameterError::new("bucket", "required, and not given"));
        }
        if self.chunksize < MIN_CHUNK_SIZE {
            return Err(ParameterError::new(
                "chunksize",
                format!(
                    "{} is below the minimum part size of S3 multipart uploads, {MIN_CHUNK_SIZE} (5 MiB)",
                    self.chunksize
                ),
            ));
        }
        if self.chunksize > MAX_CHUNK_SIZE {
            return Err(ParameterError::new(
                "chunksize",
                format!(
                    "{} is above the maximum part size of S3 multipart uploads, {MAX_CHUNK_SIZE} (5 GiB)",
                    self.chunksize
                ),
            ));
        }
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&self.multipartcopychunksize) {
            return Err(ParameterError::new(
                "multipartcopychunksize",
                format!(
                    "{} is outside {MIN_CHUNK_SIZE} (5 MiB) to {MAX_CHUNK_SIZE} (5 GiB)",
                    self.multipartcopychunksize
                ),
            ));
        }
        if self.multipartcopymaxconcurrency == 0 {
            return Err(ParameterError::new(
                "multipartcopymaxconcurrency",
                "0 is below the minimum, 1",
            ));
        }
        if self.multipartcopythresholdsize > MAX_CHUNK_SIZE {
            return Err(ParameterError::new(
                "multipartcopythresholdsize",
                format!(
                    "{} is above the largest object CopyObject copies, {MAX_CHUNK_SIZE} (5 GiB)",
                    self.multipartcopythresholdsize
                ),
            ));
        }
        if !STORAGE_CLASSES.contains(&self.storageclass.as_str()) {
            return Err(ParameterError::new(
                "storageclass",
                format!(
                    "{:?} is not one of {}",
                    self.storageclass,
                    STORAGE_CLASSES.join(", ")
                ),
            ));
        }
        if !OBJECT_ACLS.contains(&self.objectacl.as_str()) {
            return Err(ParameterError::new(
                "objectacl",
                format!(
                    "{:?} is not one of {}",
                    self.objectacl,
                    OBJECT_ACLS.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// The endpoint URL to use, if any: `regionendpoint` with a scheme
    /// (`secure` picks it when missing), or plain-HTTP AWS when `secure`
    /// is false.
    pub(crate) fn endpoint_url(&self) -> Option<String> {
        let scheme = if self.secure { "https" } else { "http" };
        match self.regionendpoint.as_deref().filter(|e| !e.is_empty()) {
            Some(e) if e.starts_with("http://") || e.starts_with("https://") => {
                Some(e.trim_end_matches('/').to_owned())
            }
            Some(e) => Some(format!("{scheme}://{}", e.trim_end_matches('/'))),
            None if !self.secure => Some(format!(
                "http://s3.{}.amazonaws.com",
                self.region.as_deref().unwrap_or(DEFAULT_REGION)
            )),
            None => None,
        }
    }

    /// The key prefix: `rootdirectory` without leading `/`, with one
    /// trailing `/` (empty for none).
    pub(crate) fn key_prefix(&self) -> String {
        let root = self
            .rootdirectory
            .as_deref()
            .unwrap_or("")
            .trim_matches('/');
        if root.is_empty() {
            String::new()
        } else {
            format!("{root}/")
        }
    }
}

mod read;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<S3Parameters, String> {
        serde_json::from_str::<S3Parameters>(json).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults() {
        let p = parse(r#"{"bucket": "b", "region": "us-east-1"}"#).unwrap();
        assert_eq!(p, {
            let mut want = S3Parameters::new("b");
            want.region = Some("us-east-1".into());
            want
        });
        assert!(p.validate().is_ok());
        assert!(p.secure && p.v4auth && !p.encrypt && !p.forcepathstyle);
        assert_eq!(p.chunksize, 10 << 20);
        assert_eq!(p.multipartcopychunksize, 32 << 20);
        assert_eq!(p.multipartcopymaxconcurrency, 100);
        assert_eq!(p.multipartcopythresholdsize, 32 << 20);
        assert_eq!(p.storageclass, "STANDARD");
        assert_eq!(p.objectacl, "private");
        assert_eq!(p.checksumcalculation, ChecksumMode::WhenRequired);
        assert_eq!(p.connecttimeout, Duration::from_secs(5));
        assert_eq!(p.readtimeout, Duration::from_secs(60));
        assert_eq!(p.operationtimeout, Duration::from_secs(120));
        assert_eq!(p.endpoint_url(), None);
        assert_eq!(p.key_prefix(), "");
    }

    #[test]
    fn strings_for_numbers_and_booleans() {
        let p = parse(
            r#"{"bucket": "b", "regionendpoint": "127.0.0.1:3900", "secure": "false",
                "ForcePathStyle": "true", "chunksize": "5242880", "encrypt": 1,
                "multipartcopymaxconcurrency": 4, "keyid": null, "rootdirectory": "/r/x/",
                "checksumcalculation": "WHEN_SUPPORTED", "somethingelse": 1, "region": ""}"#,
        )
        .unwrap();
        assert!(!p.secure && p.forcepathstyle);
        assert_eq!(p.chunksize, 5 << 20);
        assert_eq!(p.multipartcopymaxconcurrency, 4);
        assert_eq!(p.keyid, None);
        assert_eq!(p.region, None);
        assert_eq!(p.checksumcalculation, ChecksumMode::WhenSupported);
        assert_eq!(p.unknown, ["somethingelse"]);
        assert_eq!(p.endpoint_url().as_deref(), Some("http://127.0.0.1:3900"));
        assert_eq!(p.key_prefix(), "r/x/");
        assert!(p.validate().is_ok());
    }

    #[test]
    fn written_as_read_under_every_name() {
        let mut p = S3Parameters::new("b");
        for text in [
            &mut p.region,
            &mut p.regionendpoint,
            &mut p.rootdirectory,
            &mut p.accesskey,
            &mut p.secretkey,
            &mut p.sessiontoken,
            &mut p.keyid,
            &mut p.useragent,
            &mut p.loglevel,
        ] {
            *text = Some("x".into());
        }
        p.encrypt = true;
        p.checksumvalidation = ChecksumMode::WhenSupported;
        p.readtimeout = Duration::from_millis(1500);
        let json = serde_json::to_value(&p).unwrap();
        let mut names: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        let mut want = PARAMETERS.to_vec();
        want.sort_unstable();
        assert_eq!(names, want);
        let back: S3Parameters = serde_json::from_value(json).unwrap();
        assert_eq!(back, p);
        assert!(back.unknown.is_empty());
    }

    #[test]
    fn the_bucket_is_required() {
        let e = serde_json::from_str::<S3Parameters>(r#"{"region": "r"}"#).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("s3 storage parameter bucket: required, and not given"),
            "{e}"
        );
    }

    #[test]
    fn timeouts() {
        let p = parse(
            r#"{"bucket": "b", "connecttimeout": "1.5s", "readtimeout": "1m30s",
                "operationtimeout": 0}"#,
        )
        .unwrap();
        assert_eq!(p.connecttimeout, Duration::from_millis(1500));
        assert_eq!(p.readtimeout, Duration::from_secs(90));
        assert_eq!(p.operationtimeout, Duration::ZERO);
        for (text, want) in [
            ("300ms", Some(Duration::from_millis(300))),
            ("2h", Some(Duration::from_secs(7200))),
            ("1s500ms", Some(Duration::from_millis(1500))),
            ("10us", Some(Duration::from_micros(10))),
            ("0", Some(Duration::ZERO)),
            ("10", None),
            ("-1s", None),
            ("1d", None),
            ("", None),
            ("s", None),
        ] {
            assert_eq!(berth_duration::parse_duration(text).ok(), want, "{text:?}");
        }
        let e = parse(r#"{"bucket": "b", "readtimeout": 30}"#).unwrap_err();
        assert!(
            e.starts_with(
                "s3 storage parameter readtimeout: expected a duration such as 500ms, 10s or 2m, got 30"
            ),
            "{e}"
        );
    }

    #[test]
    fn bad_values_name_the_parameter() {
        for (json, want) in [
            (
                r#"{"bucket": "b", "encrypt": "maybe"}"#,
                r#"s3 storage parameter encrypt: expected true or false, got "maybe""#,
            ),
            (
                r#"{"bucket": "b", "chunksize": "10M"}"#,
                r#"s3 storage parameter chunksize: expected a non-negative integer, got "10M""#,
            ),
            (
                r#"{"bucket": "b", "chunksize": -1}"#,
                "s3 storage parameter chunksize: expected a non-negative integer, got -1",
            ),
            (
                r#"{"bucket": "b", "checksumvalidation": "always"}"#,
                r#"s3 storage parameter checksumvalidation: expected when_required or when_supported, got "always""#,
            ),
        ] {
            let e = parse(json).unwrap_err();
            assert!(e.starts_with(want), "{json}: {e}");
        }
    }

    #[test]
    fn validation() {
        let ok = || {
            let mut p = S3Parameters::new("b");
            p.region = Some("r".into());
            p
        };
        let check = |p: S3Parameters, want: &str| {
            assert_eq!(p.validate().unwrap_err().to_string(), want);
        };
        check(
            S3Parameters {
                region: Some("r".into()),
                ..S3Parameters::default()
            },
            "s3 storage parameter bucket: required, and not given",
        );
        check(
            S3Parameters::new("b"),
            "s3 storage parameter region: required unless regionendpoint is given, and neither is",
        );
        check(
            S3Parameters {
                chunksize: (5 << 20) - 1,
                ..ok()
            },
            "s3 storage parameter chunksize: 5242879 is below the minimum part size of S3 multipart uploads, 5242880 (5 MiB)",
        );
        check(
            S3Parameters {
                accesskey: Some("a".into()),
                ..ok()
            },
            "s3 storage parameter secretkey: required with accesskey, and not given",
        );
        check(
            S3Parameters {
                storageclass: "CHEAP".into(),
                ..ok()
            },
            "s3 storage parameter storageclass: \"CHEAP\" is not one of STANDARD, REDUCED_REDUNDANCY, \
             STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER, GLACIER_IR, DEEP_ARCHIVE, \
             OUTPOSTS, EXPRESS_ONEZONE, NONE",
        );
        check(
            S3Parameters {
                multipartcopymaxconcurrency: 0,
                ..ok()
            },
            "s3 storage parameter multipartcopymaxconcurrency: 0 is below the minimum, 1",
        );
        assert!(
            S3Parameters {
                skipverify: true,
                ..ok()
            }
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("s3 storage parameter skipverify: true is not supported")
        );
        let p = S3Parameters {
            regionendpoint: Some("minio:9000".into()),
            region: None,
            ..ok()
        };
        assert!(p.validate().is_ok());
        assert_eq!(p.endpoint_url().as_deref(), Some("https://minio:9000"));
    }
}

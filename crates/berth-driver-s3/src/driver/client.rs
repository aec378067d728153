//! Building the S3 client from the parameters: credentials, region and
//! endpoint, timeouts, retries, checksums, the user agent; and the SDK's
//! values turned into the driver's (times, copy sources, body streams).

use super::*;

/// Appends `useragent` to every request's `User-Agent` (after signing:
/// SigV4 does not sign that header).
#[derive(Debug)]
pub(super) struct UserAgentSuffix(String);

impl Intercept for UserAgentSuffix {
    fn name(&self) -> &'static str {
        "berth-s3-useragent"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        let headers = context.request_mut().headers_mut();
        let agent = match headers.get("user-agent") {
            Some(current) => format!("{current} {}", self.0),
            None => self.0.clone(),
        };
        headers.insert("user-agent", agent);
        Ok(())
    }
}

/// The SDK's timeouts from `connecttimeout`, `readtimeout` and
/// `operationtimeout` (zero: none).
pub(super) fn timeout_config(params: &S3Parameters) -> TimeoutConfig {
    // `None` disables a timeout.
    let some = |d: Duration| (!d.is_zero()).then_some(d);
    let mut builder = TimeoutConfig::builder();
    builder
        .set_connect_timeout(some(params.connecttimeout))
        .set_read_timeout(some(params.readtimeout))
        .set_operation_timeout(some(params.operationtimeout));
    builder.build()
}

pub(super) fn checksum_calculation(mode: ChecksumMode) -> RequestChecksumCalculation {
    match mode {
        ChecksumMode::WhenRequired => RequestChecksumCalculation::WhenRequired,
        ChecksumMode::WhenSupported => RequestChecksumCalculation::WhenSupported,
    }
}

pub(super) fn checksum_validation(mode: ChecksumMode) -> ResponseChecksumValidation {
    match mode {
        ChecksumMode::WhenRequired => ResponseChecksumValidation::WhenRequired,
        ChecksumMode::WhenSupported => ResponseChecksumValidation::WhenSupported,
    }
}

pub(crate) fn system_time(t: Option<&DateTime>) -> SystemTime {
    t.and_then(|t| SystemTime::try_from(*t).ok())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// `bucket/key` for `x-amz-copy-source`, percent-encoded but for `/`.
pub(super) fn copy_source(bucket: &str, key: &str) -> String {
    let mut out = String::with_capacity(bucket.len() + key.len() + 1);
    for (i, part) in [bucket, key].into_iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        for b in part.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// Streams a response body as `Bytes`, skipping its first `skip` bytes.
pub(super) fn body_stream(body: ByteStream, path: &str, skip: u64) -> ReadStream {
    struct State {
        body: ByteStream,
        path: String,
        skip: u64,
        done: bool,
    }
    let state = State {
        body,
        path: path.to_owned(),
        skip,
        done: false,
    };
    Box::pin(futures_util::stream::unfold(state, |mut s| async move {
        while !s.done {
            match s.body.next().await {
                None => s.done = true,
                Some(Ok(mut chunk)) => {
                    if s.skip > 0 {
                        let n = usize::try_from(s.skip)
                            .unwrap_or(usize::MAX)
                            .min(chunk.len());
                        let _ = chunk.split_to(n);
                        s.skip -= n as u64;
                    }
                    if !chunk.is_empty() {
                        return Some((Ok(chunk), s));
                    }
                }
                Some(Err(e)) => {
                    s.done = true;
                    let e = DriverError::backend(NAME, "GetObject", &s.path, e);
                    return Some((Err(e), s));
                }
            }
        }
        None
    }))
}

impl S3Driver {
    /// A driver for `params`: checks them, then builds an S3 client (with
    /// the default AWS credential chain unless `accesskey`/`secretkey` are
    /// given). Nothing is sent to S3 until the first operation.
    pub async fn new(params: S3Parameters) -> std::result::Result<S3Driver, ParameterError> {
        params.validate()?;
        for key in &params.unknown {
            tracing::warn!(parameter = %key, "s3 storage parameter {key} is unknown; ignored");
        }
        let region = params
            .region
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| DEFAULT_REGION.to_owned());
        let retry = RetryConfig::standard()
            .with_max_attempts(MAX_ATTEMPTS)
            .with_initial_backoff(Duration::from_millis(200));
        let timeouts = timeout_config(&params);
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region))
            .retry_config(retry.clone())
            .timeout_config(timeouts.clone());
        if let (Some(access), Some(secret)) = (&params.accesskey, &params.secretkey) {
            loader = loader.credentials_provider(Credentials::new(
                access,
                secret,
                params.sessiontoken.clone().filter(|t| !t.is_empty()),
                None,
                "berth-s3-parameters",
            ));
        }
        let sdk = loader.load().await;
        let mut config = aws_sdk_s3::config::Builder::from(&sdk)
            .retry_config(retry)
            .timeout_config(timeouts)
            .force_path_style(params.forcepathstyle)
            .use_dual_stack(params.usedualstack)
            .accelerate(params.accelerate)
            .request_checksum_calculation(checksum_calculation(params.checksumcalculation))
            .response_checksum_validation(checksum_validation(params.checksumvalidation));
        if let Some(url) = params.endpoint_url() {
            config = config.endpoint_url(url);
        }
        if let Some(agent) = params.useragent.clone().filter(|a| !a.is_empty()) {
            config = config.interceptor(UserAgentSuffix(agent));
        }
        let client = Client::from_conf(config.build());
        S3Driver::with_client(client, &params)
    }

    /// A driver on a client built elsewhere. The parameters about storage
    /// (`bucket`, `rootdirectory`, the sizes, encryption, storage class,
    /// ACL) apply; those about connecting (region, endpoint, credentials,
    /// checksums, user agent) are the client's business.
    pub fn with_client(
        client: Client,
        params: &S3Parameters,
    ) -> std::result::Result<S3Driver, ParameterError> {
        params.validate_storage()?;
        let sse = params.encrypt.then(|| {
            if params.keyid.as_deref().is_some_and(|k| !k.is_empty()) {
                ServerSideEncryption::AwsKms
            } else {
                ServerSideEncryption::Aes256
            }
        });
        let kms_key = match sse {
            Some(ServerSideEncryption::AwsKms) => params.keyid.clone(),
            _ => None,
        };
        let storage_class = (params.storageclass != "NONE")
            .then(|| StorageClass::from(params.storageclass.as_str()));
        // `private` is what S3 does without an ACL; not sending it keeps
        // buckets with ACLs disabled (the AWS default) working.
        let acl = (params.objectacl != "private")
            .then(|| ObjectCannedAcl::from(params.objectacl.as_str()));
        let too_big = |v: u64, name: &'static str| {
            usize::try_from(v).map_err(|_| ParameterError {
                parameter: name,
                message: format!("{v} is too large for this machine"),
                value: None,
                expected: None,
            })
        };
        Ok(S3Driver {
            inner: Arc::new(Inner {
                client,
                bucket: params.bucket.clone(),
                prefix: params.key_prefix(),
                chunk_size: too_big(params.chunksize, "chunksize")?,
                copy_chunk_size: params.multipartcopychunksize,
                copy_concurrency: too_big(
                    params.multipartcopymaxconcurrency,
                    "multipartcopymaxconcurrency",
                )?,
                copy_threshold: params.multipartcopythresholdsize,
                sse,
                kms_key,
                storage_class,
                acl,
            }),
        })
    }

    /// The S3 client.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.inner.bucket
    }

    /// The key of storage path `path` (which must be valid): `rootdirectory`
    /// and the path, without a leading `/`.
    pub fn key(&self, path: &str) -> String {
        self.inner.key(path)
    }

    /// The part size of writers (`chunksize`).
    pub fn chunk_size(&self) -> usize {
        self.inner.chunk_size
    }
}

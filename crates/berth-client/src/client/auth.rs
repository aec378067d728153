//! Authentication: the `Authorization` a request carries, the token
//! dance with a realm (cached per scope set), re-authentication after a
//! 401.

use super::*;

impl Inner {
    /// The `Authorization` to send preemptively: a token once the
    /// registry has named a realm, Basic once it has asked for it.
    pub(super) async fn authorization(
        &self,
        scopes: &[String],
        key: &str,
    ) -> Result<Option<HeaderValue>> {
        let realm = lock(&self.auth.realm).clone();
        if let Some(realm) = realm {
            return self.token(&realm, scopes, key, None).await.map(Some);
        }
        if self.auth.basic.load(Ordering::Relaxed)
            && let Some(credentials) = &self.credentials
        {
            return Ok(Some(credentials.basic.clone()));
        }
        Ok(None)
    }

    /// After a 401: whether the challenge says how to authenticate and the
    /// request should be sent again.
    pub(super) async fn reauthenticate(
        &self,
        headers: &HeaderMap,
        scopes: &[String],
        key: &str,
        sent: Option<HeaderValue>,
    ) -> Result<bool> {
        let challenges: Vec<Challenge> = headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(parse_www_authenticate)
            .collect();
        let bearer = challenges.iter().find_map(|c| match c {
            Challenge::Bearer(b) => Some(b),
            _ => None,
        });
        if let Some(bearer) = bearer {
            let Ok(url) = Url::parse(&bearer.realm) else {
                tracing::warn!(realm = %bearer.realm, "the registry's token realm is not a URL");
                return Ok(false);
            };
            if !matches!(url.scheme(), "http" | "https") {
                tracing::warn!(realm = %bearer.realm, "the registry's token realm is not an http(s) URL");
                return Ok(false);
            }
            let realm = Realm {
                url,
                service: bearer.service.clone(),
            };
            *lock(&self.auth.realm) = Some(realm.clone());
            let mut wanted: Vec<String> = scopes.to_vec();
            wanted.extend(bearer.scopes().map(str::to_owned));
            wanted.sort();
            wanted.dedup();
            self.token(&realm, &wanted, key, sent.as_ref()).await?;
            return Ok(true);
        }
        let basic = challenges
            .iter()
            .any(|c| matches!(c, Challenge::Basic { .. }));
        if basic && self.credentials.is_some() && !self.auth.basic.swap(true, Ordering::Relaxed) {
            return Ok(true);
        }
        Ok(false)
    }

    /// A token for `key`: the cached one unless it is `rejected` or about
    /// to expire, else a new one for `scopes`.
    pub(super) async fn token(
        &self,
        realm: &Realm,
        scopes: &[String],
        key: &str,
        rejected: Option<&HeaderValue>,
    ) -> Result<HeaderValue> {
        let cached = || {
            lock(&self.auth.tokens)
                .get(key)
                .filter(|t| t.valid_until > Instant::now() && Some(&t.header) != rejected)
                .map(|t| t.header.clone())
        };
        if let Some(header) = cached() {
            return Ok(header);
        }
        let _fetching = self.auth.fetching.lock().await;
        if let Some(header) = cached() {
            return Ok(header);
        }
        let token = self.fetch_token(realm, scopes).await?;
        let header = token.header.clone();
        let mut tokens = lock(&self.auth.tokens);
        let now = Instant::now();
        tokens.retain(|_, t| t.valid_until > now);
        tokens.insert(key.to_owned(), token);
        Ok(header)
    }

    /// `GET realm?service=…&scope=…`, with Basic credentials when
    /// configured; retried as any idempotent request.
    pub(super) async fn fetch_token(&self, realm: &Realm, scopes: &[String]) -> Result<Token> {
        let mut url = realm.url.clone();
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = &realm.service {
                query.append_pair("service", service);
            }
            for scope in scopes {
                query.append_pair("scope", scope);
            }
            if let Some(credentials) = &self.credentials {
                query.append_pair("account", &credentials.username);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let realm_host = url.host_str().unwrap_or_default().to_owned();
        let mut attempt = 0;
        let response = loop {
            attempt += 1;
            let mut request = self.http.get(url.clone()).timeout(self.timeouts.request);
            if let Some(credentials) = &self.credentials {
                request = request.header(AUTHORIZATION, credentials.basic.clone());
            }
            let may_retry = attempt < self.retries.max_attempts;
            match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    if may_retry && retryable(status) {
                        let wait = retry_after(response.headers())
                            .unwrap_or_else(|| self.retries.backoff(attempt));
                        if wait <= self.retries.max_retry_after {
                            tokio::time::sleep(wait).await;
                            continue;
                        }
                    }
                    break response;
                }
                Err(err) if may_retry => {
                    tracing::debug!(realm = %realm_host, error = %err, "token request failed; retrying");
                    tokio::time::sleep(self.retries.backoff(attempt)).await;
                }
                Err(err) => {
                    return Err(Error::unavailable(
                        format!("token server {realm_host}"),
                        err,
                    ));
                }
            }
        };
        let status = response.status();
        let path = url.path().to_owned();
        let mut response = response;
        let body = read_limited(&mut response, SMALL_BODY_LIMIT)
            .await
            .map_err(|e| Error::unavailable(format!("token server {realm_host}"), e))?;
        if !status.is_success() {
            let (code, message) = first_error(&body, status);
            let upstream = UpstreamError {
                method: "GET".to_owned(),
                path,
                status: status.as_u16(),
                code,
                message,
            };
            return Err(match status.as_u16() {
                401 | 403 => Error::Denied {
                    reason: format!("the token server refused: {upstream}"),
                },
                429 => Error::TooManyRequests {
                    reason: upstream.to_string(),
                },
                500.. => Error::unavailable(format!("token server {realm_host}"), upstream),
                _ => Error::backend(format!("get a token from {realm_host}"), upstream),
            });
        }
        #[derive(Deserialize)]
        struct TokenResponse {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            Error::backend(
                format!("read the token from {realm_host}"),
                BodyError(format!("not a token response: {e}")),
            )
        })?;
        let token = parsed
            .token
            .filter(|t| !t.is_empty())
            .or(parsed.access_token.filter(|t| !t.is_empty()))
            .ok_or_else(|| {
                Error::backend(
                    format!("read the token from {realm_host}"),
                    BodyError("the answer has neither token nor access_token".to_owned()),
                )
            })?;
        let mut header = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            Error::backend(
                format!("read the token from {realm_host}"),
                BodyError("the token has characters a header cannot carry".to_owned()),
            )
        })?;
        header.set_sensitive(true);
        // Kept a day at most, whatever the token server says.
        let ttl = Duration::from_secs(
            parsed
                .expires_in
                .filter(|&s| s > 0)
                .unwrap_or(60)
                .min(24 * 3600),
        );
        // Renew shortly before expiry: a tenth of the lifetime, at most 10 s.
        let margin = (ttl / 10).min(Duration::from_secs(10));
        tracing::debug!(realm = %realm_host, scopes = ?scopes, ttl_s = ttl.as_secs(), "fetched a registry token");
        Ok(Token {
            header,
            valid_until: Instant::now() + ttl - margin,
        })
    }
}

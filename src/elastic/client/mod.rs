//! The Elasticsearch REST client (I/O): TLS that always verifies, basic auth, per-request
//! timeouts, and retries with capped exponential backoff and jitter for what is worth
//! retrying (connection errors, 429 with `Retry-After`, 502/503/504) and nothing else.
//!
//! Errors are typed and carry Elasticsearch's own `error.type` and `error.reason`.
//! Credentials never appear in errors, logs or `Debug` output.
//!
//! `error` classifies what went wrong into [`EsError`] (and a bounded
//! [`Reason`](crate::reason::Reason));
//! `version` reads and checks the version of the cluster.

mod error;
mod version;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

pub use error::EsError;
pub use version::EsVersion;

use error::{api_error, unreachable};

/// Where and how to reach Elasticsearch.
#[derive(Clone)]
pub struct ClientConfig {
    /// Base URL, for example `https://mesh-logs-es-http.logging.svc:9200`.
    pub url: String,
    /// Basic-auth user and password.
    pub credentials: Option<Credentials>,
    /// PEM bundle of the CA(s) to trust instead of the built-in roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// Retries of retryable failures.
    pub retry: RetryPolicy,
}

impl ClientConfig {
    /// A configuration with the default timeouts and retries.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            credentials: None,
            ca_pem: None,
            request_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
        }
    }

    /// The base URL (no trailing slash) and an HTTP client for it, with the timeouts and
    /// the operator's user agent. TLS certificates are always verified: against `ca_pem`
    /// when given (it must hold a certificate), else against the built-in roots. A URL
    /// carrying credentials is refused. Elasticsearch's and Kibana's clients both start
    /// here.
    pub fn http_client(&self) -> Result<(String, reqwest::Client), String> {
        let base = self.url.trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&base).map_err(|e| format!("url: {e}"))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("the url must not carry credentials; use a credentials Secret".into());
        }
        let mut builder = reqwest::Client::builder()
            .timeout(self.request_timeout)
            .connect_timeout(self.request_timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("meshlogging-operator/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &self.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("CA bundle: {e}"))?;
            if certs.is_empty() {
                return Err("CA bundle holds no certificate".into());
            }
            builder = builder.tls_built_in_root_certs(false);
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| e.to_string())?;
        Ok((base, http))
    }
}

/// A user name and password; the password is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Capped exponential backoff with full jitter.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    /// Backoff before the second attempt (doubling after that).
    pub base_delay: Duration,
    /// Largest backoff, and largest `Retry-After` honoured.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt `attempt + 1` (attempt counts from 1), with full jitter.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(self.max_delay);
        capped.mul_f64(rand::random::<f64>())
    }
}

/// Observes each HTTP exchange (for metrics): API name, and status or `None` when no
/// answer came.
pub type Observer = Arc<dyn Fn(&'static str, Option<u16>) + Send + Sync>;

/// An HTTP answer: status and JSON body (`Null` when empty).
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Parsed body.
    pub body: Value,
}

/// What `GET /_cluster/health` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterHealth {
    /// `green`, `yellow` or `red`.
    pub status: String,
    /// Primary shards not assigned to any node (absent before 8.x).
    pub unassigned_primary_shards: Option<u64>,
}

/// The client. Cheap to clone.
#[derive(Clone)]
pub struct EsClient {
    http: reqwest::Client,
    base: String,
    credentials: Option<Credentials>,
    /// Sent instead, once per request, when the credentials are refused (401): during a
    /// rotation of the operator's password, the other of its two passwords.
    fallback: Option<Credentials>,
    retry: RetryPolicy,
    observer: Option<Observer>,
}

impl fmt::Debug for EsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EsClient")
            .field("base", &self.base)
            .field("credentials", &self.credentials)
            .finish()
    }
}

impl EsClient {
    /// Builds a client ([`ClientConfig::http_client`]).
    pub fn new(config: ClientConfig) -> Result<Self, EsError> {
        let (base, http) = config.http_client().map_err(EsError::Config)?;
        Ok(Self {
            http,
            base,
            credentials: config.credentials,
            fallback: None,
            retry: config.retry,
            observer: None,
        })
    }

    /// Sends a request refused with 401 once more at once with `fallback` (not for
    /// requests made as another user): a node that already restarted with a new file
    /// realm, or one that did not yet, still answers the operator.
    pub fn with_fallback(mut self, fallback: Credentials) -> Self {
        self.fallback = Some(fallback);
        self
    }

    /// Reports every exchange to `observer` (metrics).
    pub fn with_observer(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// `GET path`: `Some(body)`, or `None` on 404.
    pub async fn get(&self, api: &'static str, path: &str) -> Result<Option<Value>, EsError> {
        match self.send(api, Method::GET, path, None, None).await {
            Ok(answer) => Ok(Some(answer.body)),
            Err(EsError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, api: &'static str, path: &str, body: &Value) -> Result<Value, EsError> {
        Ok(self
            .send(api, Method::PUT, path, Some(body), None)
            .await?
            .body)
    }

    /// `POST path` with a JSON body.
    pub async fn post(
        &self,
        api: &'static str,
        path: &str,
        body: &Value,
    ) -> Result<Value, EsError> {
        Ok(self
            .send(api, Method::POST, path, Some(body), None)
            .await?
            .body)
    }

    /// `POST path` without a body (APIs that refuse one: `_snapshot/<repo>/_verify`,
    /// `<index>/_ilm/retry`, `/_cluster/voting_config_exclusions`).
    pub async fn post_empty(&self, api: &'static str, path: &str) -> Result<Value, EsError> {
        Ok(self.send(api, Method::POST, path, None, None).await?.body)
    }

    /// `DELETE path`: `true` when deleted, `false` when it was already gone (404).
    pub async fn delete(&self, api: &'static str, path: &str) -> Result<bool, EsError> {
        match self.send(api, Method::DELETE, path, None, None).await {
            Ok(_) => Ok(true),
            Err(EsError::Api { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
    /// Cluster health colour (`green`, `yellow`, `red`) from `GET /_cluster/health`.
    pub async fn health(&self) -> Result<String, EsError> {
        Ok(self.cluster_health().await?.status)
    }

    /// `GET /_cluster/health`: the colour and, where the cluster reports it (8.x), how many
    /// primary shards are unassigned (their indices take no writes).
    pub async fn cluster_health(&self) -> Result<ClusterHealth, EsError> {
        let body = self
            .send(
                "cluster.health",
                Method::GET,
                "/_cluster/health",
                None,
                None,
            )
            .await?
            .body;
        let status = body
            .get("status")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| EsError::Decode {
                request: "GET /_cluster/health".into(),
                detail: "no status".into(),
            })?;
        Ok(ClusterHealth {
            status,
            unassigned_primary_shards: body
                .get("unassigned_primary_shards")
                .and_then(Value::as_u64),
        })
    }

    /// Whether `credentials` authenticate (`GET /_security/_authenticate` as that user):
    /// `Ok(false)` on 401.
    pub async fn authenticates(&self, credentials: &Credentials) -> Result<bool, EsError> {
        let path = "/_security/_authenticate";
        match self
            .send(
                "security.authenticate",
                Method::GET,
                path,
                None,
                Some(credentials),
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(EsError::Unauthorized { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// One exchange with retries. `as_user` overrides the client's credentials.
    async fn send(
        &self,
        api: &'static str,
        method: Method,
        path: &str,
        body: Option<&Value>,
        as_user: Option<&Credentials>,
    ) -> Result<Answer, EsError> {
        let url = format!("{}{}", self.base, path);
        let mut credentials = as_user.or(self.credentials.as_ref());
        let mut fallback = self.fallback.as_ref().filter(|_| as_user.is_none());
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self.http.request(method.clone(), &url);
            if let Some(c) = credentials {
                request = request.basic_auth(&c.username, Some(&c.password));
            }
            if let Some(b) = body {
                request = request.json(b);
            }
            let outcome = request.send().await;
            let (retry_after, failure) = match outcome {
                Err(e) => {
                    self.observe(api, None);
                    (None, unreachable(&self.base, &e))
                }
                Ok(response) => {
                    let status = response.status();
                    self.observe(api, Some(status.as_u16()));
                    let retry_after = retry_after(&response);
                    let text = response.text().await.unwrap_or_default();
                    if status.is_success() {
                        let body = if text.trim().is_empty() {
                            Value::Null
                        } else {
                            serde_json::from_str(&text).map_err(|e| EsError::Decode {
                                request: format!("{method} {path}"),
                                detail: e.to_string(),
                            })?
                        };
                        return Ok(Answer {
                            status: status.as_u16(),
                            body,
                        });
                    }
                    if status == StatusCode::UNAUTHORIZED
                        && let Some(other) = fallback.take()
                    {
                        tracing::debug!(
                            api,
                            "credentials refused: sent again with the other password"
                        );
                        credentials = Some(other);
                        attempt -= 1;
                        continue;
                    }
                    let error = api_error(status, &text, credentials, &method, path);
                    if !retryable(status) {
                        return Err(error);
                    }
                    (retry_after, error)
                }
            };
            if attempt >= self.retry.max_attempts {
                return Err(match failure {
                    EsError::Api {
                        status,
                        kind,
                        reason,
                    } if status == 429 || status >= 500 => EsError::Unreachable {
                        url: self.base.clone(),
                        detail: format!("{status} {kind}: {reason} (after {attempt} attempts)"),
                    },
                    EsError::Unreachable { url, detail } => EsError::Unreachable {
                        url,
                        detail: format!("{detail} (after {attempt} attempts)"),
                    },
                    other => other,
                });
            }
            let delay = match retry_after {
                Some(d) => d.min(self.retry.max_delay),
                None => self.retry.backoff(attempt),
            };
            tracing::debug!(api, attempt, ?delay, error = %failure, "retrying Elasticsearch request");
            tokio::time::sleep(delay).await;
        }
    }

    fn observe(&self, api: &'static str, status: Option<u16>) {
        if let Some(o) = &self.observer {
            o(api, status);
        }
    }
}

fn retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503 | 504)
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_jittered() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(800),
        };
        for attempt in 1..10 {
            let d = p.backoff(attempt);
            assert!(d <= Duration::from_millis(800), "{attempt}: {d:?}");
        }
    }

    #[test]
    fn credentials_never_print_the_password() {
        let c = Credentials {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn urls_with_credentials_are_refused() {
        let e = EsClient::new(ClientConfig::new("https://elastic:secret@es:9200")).unwrap_err();
        assert!(!e.to_string().contains("secret"));
    }
}

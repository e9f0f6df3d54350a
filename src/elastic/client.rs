//! The Elasticsearch REST client (I/O): TLS that always verifies, basic auth, per-request
//! timeouts, and retries with capped exponential backoff and jitter for what is worth
//! retrying (connection errors, 429 with `Retry-After`, 502/503/504) and nothing else.
//!
//! Errors are typed and carry Elasticsearch's own `error.type` and `error.reason`.
//! Credentials never appear in errors, logs or `Debug` output.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

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

/// What went wrong talking to Elasticsearch.
#[derive(Debug, thiserror::Error)]
pub enum EsError {
    /// No HTTP answer (connection refused, TLS failure, timeout), or 502/503/504/429 after
    /// all retries.
    #[error("Elasticsearch at {url} is unreachable: {detail}")]
    Unreachable {
        /// The base URL (never with credentials).
        url: String,
        /// What happened on the last attempt.
        detail: String,
    },
    /// Elasticsearch answered 401: the credentials are wrong or missing.
    #[error("Elasticsearch refused the credentials of user {user:?} (401): {reason}")]
    Unauthorized {
        /// The user name tried.
        user: String,
        /// Elasticsearch's reason.
        reason: String,
    },
    /// An answer with an error status and Elasticsearch's error body.
    #[error("Elasticsearch answered {status} {kind}: {reason}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Elasticsearch's `error.type`, for example `illegal_argument_exception`.
        kind: String,
        /// Elasticsearch's `error.reason`.
        reason: String,
    },
    /// An answer that is not what the API documents.
    #[error("unexpected answer from Elasticsearch to {request}: {detail}")]
    Decode {
        /// Method and path.
        request: String,
        /// What was wrong.
        detail: String,
    },
    /// The cluster has no handler for the API (a distribution without the module that
    /// serves it, such as ILM or SLM): `no handler found` or 405 on the API's own path.
    #[error("this cluster does not serve {request} ({detail})")]
    NotSupported {
        /// Method and path asked for.
        request: String,
        /// Elasticsearch's words.
        detail: String,
    },
    /// A version the operator does not support.
    #[error("Elasticsearch {0} is not supported (8.x and 9.x are)")]
    UnsupportedVersion(String),
    /// The client could not be built (bad URL or CA bundle).
    #[error("invalid Elasticsearch client configuration: {0}")]
    Config(String),
}

impl EsError {
    /// A short, bounded label for metrics, events and condition reasons.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Unreachable { .. } => "ElasticsearchUnreachable",
            Self::Unauthorized { .. } => "Unauthorized",
            Self::Api { status: 403, .. } => "Forbidden",
            Self::Api { status: 409, .. } => "Conflict",
            Self::Api {
                status: 400..=499, ..
            } => "Rejected",
            Self::Api { .. } => "ElasticsearchError",
            Self::Decode { .. } => "UnexpectedResponse",
            Self::NotSupported { .. } => "NotSupportedByCluster",
            Self::UnsupportedVersion(_) => "UnsupportedVersion",
            Self::Config(_) => "InvalidClientConfig",
        }
    }

    /// The HTTP status Elasticsearch answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            Self::Unauthorized { .. } => Some(401),
            _ => None,
        }
    }

    /// Elasticsearch's `error.type`, if any.
    pub fn es_type(&self) -> Option<&str> {
        match self {
            Self::Api { kind, .. } => Some(kind),
            _ => None,
        }
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

/// The client. Cheap to clone.
#[derive(Clone)]
pub struct EsClient {
    http: reqwest::Client,
    base: String,
    credentials: Option<Credentials>,
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
    /// Builds a client. TLS certificates are always verified: against `ca_pem` when given,
    /// else against the built-in roots.
    pub fn new(config: ClientConfig) -> Result<Self, EsError> {
        let base = config.url.trim_end_matches('/').to_string();
        let parsed =
            reqwest::Url::parse(&base).map_err(|e| EsError::Config(format!("url: {e}")))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(EsError::Config(
                "the url must not carry credentials; use a credentials Secret".into(),
            ));
        }
        let mut builder = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("meshlogging-operator/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &config.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| EsError::Config(format!("CA bundle: {e}")))?;
            if certs.is_empty() {
                return Err(EsError::Config("CA bundle holds no certificate".into()));
            }
            builder = builder.tls_built_in_root_certs(false);
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| EsError::Config(e.to_string()))?;
        Ok(Self {
            http,
            base,
            credentials: config.credentials,
            retry: config.retry,
            observer: None,
        })
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

    /// `DELETE path`: `true` when deleted, `false` when it was already gone (404).
    pub async fn delete(&self, api: &'static str, path: &str) -> Result<bool, EsError> {
        match self.send(api, Method::DELETE, path, None, None).await {
            Ok(_) => Ok(true),
            Err(EsError::Api { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The version number from `GET /`, checked to be 8.x or 9.x. A cluster that does not
    /// serve `GET /` (a distribution without `rest-root`, or a proxy that blocks it) is
    /// asked for the version of the node that answers instead.
    pub async fn version(&self) -> Result<EsVersion, EsError> {
        let (request, number) = match self.send("info", Method::GET, "/", None, None).await {
            Ok(answer) => (
                "GET /",
                answer
                    .body
                    .pointer("/version/number")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            ),
            Err(EsError::NotSupported { .. }) => {
                let path = "/_nodes/_local?filter_path=nodes.*.version";
                let body = self
                    .send("nodes.info", Method::GET, path, None, None)
                    .await?
                    .body;
                let number = body
                    .get("nodes")
                    .and_then(Value::as_object)
                    .and_then(|nodes| nodes.values().next())
                    .and_then(|n| n.get("version"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                ("GET /_nodes/_local", number)
            }
            Err(e) => return Err(e),
        };
        let number = number.ok_or_else(|| EsError::Decode {
            request: request.into(),
            detail: "no version number".into(),
        })?;
        let number = number.as_str();
        let version = EsVersion::parse(number).ok_or_else(|| EsError::Decode {
            request: request.into(),
            detail: format!("unparsable version {number:?}"),
        })?;
        if !(8..=9).contains(&version.major) {
            return Err(EsError::UnsupportedVersion(number.to_string()));
        }
        Ok(version)
    }

    /// Cluster health colour (`green`, `yellow`, `red`) from `GET /_cluster/health`.
    pub async fn health(&self) -> Result<String, EsError> {
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
        body.get("status")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| EsError::Decode {
                request: "GET /_cluster/health".into(),
                detail: "no status".into(),
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
        let credentials = as_user.or(self.credentials.as_ref());
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

/// An Elasticsearch version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EsVersion {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch.
    pub patch: u32,
}

impl EsVersion {
    /// Parses `8.15.3` (a `-SNAPSHOT` suffix is ignored).
    pub fn parse(s: &str) -> Option<Self> {
        let core = s.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u32>().ok());
        Some(Self {
            major: parts.next()??,
            minor: parts.next().flatten().unwrap_or(0),
            patch: parts.next().flatten().unwrap_or(0),
        })
    }
}

impl fmt::Display for EsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
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

fn unreachable(base: &str, e: &reqwest::Error) -> EsError {
    // reqwest's Display names the URL; ours never carries credentials. The whole chain of
    // sources goes to the log; the error (and so the condition message) says only what
    // kind of failure it was, so a pass that fails the same way reads the same (the raw
    // text varies between attempts: "dns error ... not known", "operation timed out").
    let mut raw = e.to_string();
    let mut innermost = raw.clone();
    let mut refused = false;
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        raw = format!("{raw}: {s}");
        innermost = s.to_string();
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            refused |= io.kind() == std::io::ErrorKind::ConnectionRefused;
        }
        source = s.source();
    }
    tracing::debug!(error = %raw, "no answer from Elasticsearch");
    let lower = raw.to_lowercase();
    let detail = if e.is_timeout() || lower.contains("timed out") {
        "no answer within the request timeout".to_string()
    } else if refused || lower.contains("connection refused") {
        "connection refused".to_string()
    } else if lower.contains("dns error")
        || lower.contains("failed to lookup address")
        || lower.contains("name or service not known")
    {
        "the host name does not resolve".to_string()
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        // rustls's own words are stable ("invalid peer certificate: UnknownIssuer").
        format!("TLS failed: {innermost}")
    } else if lower.contains("reset") || lower.contains("closed") || lower.contains("eof") {
        "the connection was closed".to_string()
    } else {
        "the connection failed".to_string()
    };
    EsError::Unreachable {
        url: base.to_string(),
        detail,
    }
}

/// Maps an error answer to [`EsError`] with Elasticsearch's own type and reason.
fn api_error(
    status: StatusCode,
    text: &str,
    credentials: Option<&Credentials>,
    method: &Method,
    path: &str,
) -> EsError {
    let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    if let Some(detail) = missing_handler(status, &body, path) {
        return EsError::NotSupported {
            request: format!("{method} {}", path.split('?').next().unwrap_or(path)),
            detail,
        };
    }
    let (kind, reason) = match body.get("error") {
        Some(Value::Object(e)) => {
            let kind = e.get("type").and_then(Value::as_str).unwrap_or("unknown");
            let mut reason = e
                .get("reason")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| {
                    e.get("root_cause")
                        .map(|r| r.to_string())
                        .unwrap_or_default()
                });
            // "failed to create repository" says little without its cause.
            if let Some(cause) = e
                .get("caused_by")
                .and_then(|c| c.get("reason"))
                .and_then(Value::as_str)
            {
                reason = format!("{reason}: {cause}");
            }
            (kind.to_string(), reason)
        }
        // Some APIs answer `{"error": "alias [x] missing", "status": 404}`.
        Some(Value::String(s)) => ("error".to_string(), s.clone()),
        _ => (
            status.canonical_reason().unwrap_or("error").to_string(),
            text.chars().take(200).collect(),
        ),
    };
    if status == StatusCode::UNAUTHORIZED {
        return EsError::Unauthorized {
            user: credentials.map(|c| c.username.clone()).unwrap_or_default(),
            reason,
        };
    }
    EsError::Api {
        status: status.as_u16(),
        kind,
        reason,
    }
}

/// Elasticsearch's answer when no module serves a path: `400 no handler found for uri
/// [...]`, or `405 Incorrect HTTP method for uri [...]` when only another method matches the
/// path's shape. Both come as a plain string `error` naming the path asked for (an API's own
/// 4xx errors are objects), so a refused body is never taken for a missing API.
fn missing_handler(status: StatusCode, body: &Value, path: &str) -> Option<String> {
    if !matches!(status.as_u16(), 400 | 404 | 405) {
        return None;
    }
    let text = body.get("error")?.as_str()?;
    let uri = path.split('?').next().unwrap_or(path);
    let named = text.contains(&format!("uri [{uri}]")) || text.contains(&format!("uri [{path}]"));
    let missing = text.starts_with("no handler found for uri")
        || text.starts_with("Incorrect HTTP method for uri");
    (missing && named).then(|| text.chars().take(300).collect())
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
    fn error_bodies_keep_elasticsearch_type_and_reason() {
        let text = r#"{"error":{"root_cause":[{"type":"x","reason":"y"}],"type":"illegal_argument_exception","reason":"bad cron"},"status":400}"#;
        let e = api_error(
            StatusCode::BAD_REQUEST,
            text,
            None,
            &Method::PUT,
            "/_ilm/policy/p",
        );
        assert_eq!(e.category(), "Rejected");
        assert_eq!(e.es_type(), Some("illegal_argument_exception"));
        assert!(e.to_string().contains("bad cron"));
    }

    #[test]
    fn a_path_without_handler_is_a_missing_api_not_a_refused_body() {
        // As Elasticsearch 8.19 without the ILM module answers.
        let text = r#"{"error":"Incorrect HTTP method for uri [/_ilm/policy] and method [GET], allowed: [POST]","status":405}"#;
        let e = api_error(
            StatusCode::METHOD_NOT_ALLOWED,
            text,
            None,
            &Method::GET,
            "/_ilm/policy",
        );
        assert_eq!(e.category(), "NotSupportedByCluster");
        assert!(e.to_string().contains("GET /_ilm/policy"), "{e}");
        let text = r#"{"error":"no handler found for uri [/_slm/policy?x=1] and method [GET]","status":400}"#;
        let e = api_error(
            StatusCode::BAD_REQUEST,
            text,
            None,
            &Method::GET,
            "/_slm/policy?x=1",
        );
        assert_eq!(e.category(), "NotSupportedByCluster");
        // A 405 about another path, or an API's own error object, is not a missing API.
        let text =
            r#"{"error":"Incorrect HTTP method for uri [/other] and method [GET]","status":405}"#;
        let e = api_error(
            StatusCode::METHOD_NOT_ALLOWED,
            text,
            None,
            &Method::GET,
            "/x",
        );
        assert_ne!(e.category(), "NotSupportedByCluster");
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

    #[test]
    fn versions_parse() {
        assert_eq!(
            EsVersion::parse("9.1.0-SNAPSHOT"),
            Some(EsVersion {
                major: 9,
                minor: 1,
                patch: 0
            })
        );
        assert_eq!(EsVersion::parse("x"), None);
    }
}

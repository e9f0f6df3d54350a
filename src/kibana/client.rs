//! Kibana's REST API (I/O): `/api/status`, saved objects `_bulk_get`, `_find`, `_import`
//! (one multipart NDJSON file) and delete, with basic auth, the CA bundle, the request
//! timeout and retries of [`KibanaConfig`], and Kibana's errors classified.

use std::fmt;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::objects::{TAG, TYPES, import_ndjson};
use crate::elastic::{Credentials, RetryPolicy};

/// Where and how to reach Kibana: the same settings as for Elasticsearch (base URL, basic
/// auth, CA bundle, request timeout, retries). The user should hold only the Kibana feature
/// privileges the saved objects need.
pub type KibanaConfig = crate::elastic::ClientConfig;

/// What went wrong talking to Kibana.
#[derive(Debug, thiserror::Error)]
pub enum KibanaError {
    /// No answer, a 503 (Kibana starting), or `/api/status` saying it is not available.
    #[error("Kibana at {url} is unavailable: {detail}")]
    Unavailable {
        /// The base URL.
        url: String,
        /// What was seen, stable from one pass to the next.
        detail: String,
    },
    /// Kibana answered 401.
    #[error("Kibana refused the credentials of user {user:?} (401): {message}")]
    Unauthorized {
        /// The user name tried.
        user: String,
        /// Kibana's message.
        message: String,
    },
    /// An error answer with Kibana's error body.
    #[error("Kibana answered {status} {error}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Kibana's `error` (`Bad Request`, ...).
        error: String,
        /// Kibana's `message`.
        message: String,
    },
    /// An answer that is not what the API documents.
    #[error("unexpected answer from Kibana to {request}: {detail}")]
    Decode {
        /// Method and path.
        request: String,
        /// What was wrong.
        detail: String,
    },
    /// The client could not be built.
    #[error("invalid Kibana client configuration: {0}")]
    Config(String),
}

impl KibanaError {
    /// A short, bounded label for metrics, events and condition reasons.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Unavailable { .. } => "KibanaUnavailable",
            Self::Unauthorized { .. } => "Unauthorized",
            Self::Api { status: 403, .. } => "Forbidden",
            Self::Api {
                status: 400..=499, ..
            } => "Rejected",
            Self::Api { .. } => "KibanaError",
            Self::Decode { .. } => "UnexpectedResponse",
            Self::Config(_) => "InvalidClientConfig",
        }
    }
}

/// The Kibana client. Cheap to clone.
#[derive(Clone)]
pub struct KibanaClient {
    http: reqwest::Client,
    base: String,
    credentials: Option<Credentials>,
    retry: RetryPolicy,
}

impl fmt::Debug for KibanaClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KibanaClient")
            .field("base", &self.base)
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// A body to send.
enum Body<'a> {
    None,
    Json(&'a Value),
    Multipart { content_type: String, bytes: String },
}

impl KibanaClient {
    /// Builds a client, as Elasticsearch's ([`KibanaConfig::http_client`]): TLS certificates
    /// are always verified.
    pub fn new(config: KibanaConfig) -> Result<Self, KibanaError> {
        let (base, http) = config.http_client().map_err(KibanaError::Config)?;
        Ok(Self {
            http,
            base,
            credentials: config.credentials,
            retry: config.retry,
        })
    }

    /// Whether Kibana says it is available (`GET /api/status`): `Ok(())`, or
    /// [`KibanaError::Unavailable`] with its level.
    pub async fn available(&self) -> Result<(), KibanaError> {
        let body = match self.send(Method::GET, "/api/status", Body::None).await {
            Ok(b) => b,
            Err(KibanaError::Api {
                status: 503,
                message,
                ..
            }) => {
                return Err(self.unavailable(format!("503: {message}")));
            }
            Err(e) => return Err(e),
        };
        // 8.x/9.x: `status.overall.level`; 7.x: `status.overall.state`.
        let overall = &body["status"]["overall"];
        let level = overall["level"]
            .as_str()
            .or_else(|| overall["state"].as_str())
            .unwrap_or("unknown");
        match level {
            "available" | "degraded" | "green" | "yellow" => Ok(()),
            other => Err(self.unavailable(format!("its status is {other}"))),
        }
    }

    fn unavailable(&self, detail: String) -> KibanaError {
        KibanaError::Unavailable {
            url: self.base.clone(),
            detail,
        }
    }

    /// `POST /api/saved_objects/_bulk_get`: each object, or `None` when Kibana has none.
    pub async fn bulk_get(
        &self,
        keys: &[(String, String)],
    ) -> Result<Vec<Option<Value>>, KibanaError> {
        let body = json!(
            keys.iter()
                .map(|(t, id)| json!({"type": t, "id": id}))
                .collect::<Vec<_>>()
        );
        let answer = self
            .send(
                Method::POST,
                "/api/saved_objects/_bulk_get",
                Body::Json(&body),
            )
            .await?;
        let objects = answer["saved_objects"]
            .as_array()
            .ok_or_else(|| KibanaError::Decode {
                request: "POST /api/saved_objects/_bulk_get".into(),
                detail: "no saved_objects".into(),
            })?;
        objects
            .iter()
            .map(|o| match o.get("error") {
                None => Ok(Some(o.clone())),
                Some(e) if e["statusCode"] == 404 => Ok(None),
                Some(e) => Err(KibanaError::Api {
                    status: e["statusCode"].as_u64().unwrap_or(0) as u16,
                    error: e["error"].as_str().unwrap_or("error").to_string(),
                    message: e["message"].as_str().unwrap_or_default().to_string(),
                }),
            })
            .collect()
    }

    /// `GET /api/saved_objects/_find` of the operator's types referencing `tag_id`.
    pub async fn find_tagged(&self, tag_id: &str) -> Result<Vec<Value>, KibanaError> {
        let reference = json!({"type": TAG, "id": tag_id}).to_string();
        let mut path = String::from("/api/saved_objects/_find?per_page=10000");
        for t in TYPES {
            path.push_str("&type=");
            path.push_str(t);
        }
        path.push_str("&has_reference=");
        path.push_str(&encode(&reference));
        let answer = self.send(Method::GET, &path, Body::None).await?;
        Ok(answer["saved_objects"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// `POST /api/saved_objects/_import?overwrite=true` of `objects` as one NDJSON file.
    pub async fn import(&self, objects: &[Value]) -> Result<Value, KibanaError> {
        let ndjson = import_ndjson(objects);
        let mut boundary = format!(
            "meshlogging-{:016x}",
            crate::fingerprint::fnv1a64(ndjson.as_bytes())
        );
        while ndjson.contains(&boundary) {
            boundary.push('x');
        }
        let bytes = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"meshlogging.ndjson\"\r\nContent-Type: application/ndjson\r\n\r\n{ndjson}\r\n--{boundary}--\r\n"
        );
        let body = Body::Multipart {
            content_type: format!("multipart/form-data; boundary={boundary}"),
            bytes,
        };
        self.send(
            Method::POST,
            "/api/saved_objects/_import?overwrite=true",
            body,
        )
        .await
    }

    /// `DELETE /api/saved_objects/<type>/<id>`: `true` when deleted, `false` when gone.
    pub async fn delete(&self, kind: &str, id: &str) -> Result<bool, KibanaError> {
        let path = format!("/api/saved_objects/{}/{}", encode(kind), encode(id));
        match self.send(Method::DELETE, &path, Body::None).await {
            Ok(_) => Ok(true),
            Err(KibanaError::Api { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// One exchange, retried with backoff on no answer, 429 and 502/503/504.
    async fn send(&self, method: Method, path: &str, body: Body<'_>) -> Result<Value, KibanaError> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self
                .http
                .request(method.clone(), &url)
                .header("kbn-xsrf", "meshlogging-operator");
            if let Some(c) = &self.credentials {
                request = request.basic_auth(&c.username, Some(&c.password));
            }
            request = match &body {
                Body::None => request,
                Body::Json(v) => request.json(v),
                Body::Multipart {
                    content_type,
                    bytes,
                } => request
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(bytes.clone()),
            };
            let failure = match request.send().await {
                Err(e) => {
                    tracing::debug!(error = %e, "no answer from Kibana");
                    let detail = if e.is_timeout() {
                        "no answer within the request timeout"
                    } else {
                        "no answer (connection failed)"
                    };
                    self.unavailable(detail.to_string())
                }
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    if status.is_success() {
                        return parse_body(&method, path, &text);
                    }
                    let error = api_error(status, &text, self.credentials.as_ref());
                    if !matches!(status.as_u16(), 429 | 502 | 503 | 504) {
                        return Err(error);
                    }
                    error
                }
            };
            if attempt >= self.retry.max_attempts.max(1) {
                return Err(failure);
            }
            let exp = self
                .retry
                .base_delay
                .saturating_mul(1u32 << (attempt - 1).min(16))
                .min(self.retry.max_delay);
            tokio::time::sleep(exp.mul_f64(rand::random::<f64>())).await;
        }
    }
}

fn parse_body(method: &Method, path: &str, text: &str) -> Result<Value, KibanaError> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(text).map_err(|e| KibanaError::Decode {
        request: format!("{method} {}", path.split('?').next().unwrap_or(path)),
        detail: e.to_string(),
    })
}

fn api_error(status: StatusCode, text: &str, credentials: Option<&Credentials>) -> KibanaError {
    let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let message = body["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| text.chars().take(200).collect());
    if status == StatusCode::UNAUTHORIZED {
        return KibanaError::Unauthorized {
            user: credentials.map(|c| c.username.clone()).unwrap_or_default(),
            message,
        };
    }
    KibanaError::Api {
        status: status.as_u16(),
        error: body["error"]
            .as_str()
            .unwrap_or(status.canonical_reason().unwrap_or("error"))
            .to_string(),
        message,
    }
}

/// Percent-encodes everything but unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

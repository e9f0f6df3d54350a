//! What went wrong talking to Elasticsearch, classified: [`EsError`] keeps Elasticsearch's
//! own `error.type` and `error.reason`; [`EsError::category`] gives the bounded [`Reason`]
//! for conditions, metrics and events; transport failures read the same every time.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::Credentials;
use crate::reason::Reason;

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
    /// The bounded reason for metrics, events and condition reasons.
    pub fn category(&self) -> Reason {
        match self {
            Self::Unreachable { .. } => Reason::ElasticsearchUnreachable,
            Self::Unauthorized { .. } => Reason::Unauthorized,
            Self::Api { status: 403, .. } => Reason::Forbidden,
            Self::Api { status: 409, .. } => Reason::Conflict,
            Self::Api {
                status: 400..=499, ..
            } => Reason::Rejected,
            Self::Api { .. } => Reason::ElasticsearchError,
            Self::Decode { .. } => Reason::UnexpectedResponse,
            Self::NotSupported { .. } => Reason::NotSupportedByCluster,
            Self::UnsupportedVersion(_) => Reason::UnsupportedVersion,
            Self::Config(_) => Reason::InvalidClientConfig,
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

/// A transport failure as an [`EsError::Unreachable`] whose detail is stable: the kind of
/// failure, not the raw text.
pub(super) fn unreachable(base: &str, e: &reqwest::Error) -> EsError {
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
    // From the innermost source only: the outer texts carry the URL, whose host may hold
    // any of these words.
    let inner = innermost.to_lowercase();
    let tls = inner.contains("certificate") || inner.contains("tls") || inner.contains("handshake");
    let detail = if refused || lower.contains("connection refused") {
        "connection refused".to_string()
    } else if tls {
        // rustls's own words are stable ("invalid peer certificate: UnknownIssuer").
        format!("TLS failed: {innermost}")
    } else if e.is_connect()
        || lower.contains("dns error")
        || lower.contains("failed to lookup address")
        || lower.contains("name or service not known")
    {
        // The name not resolving and the connect timeout are one state to a user (there
        // is nothing to talk to yet) and alternate from one attempt to the next while a
        // resolver is loaded: one message, so a cluster that stays unreachable reads the
        // same in every pass.
        "no connection: the host name does not resolve or the host does not answer".to_string()
    } else if e.is_timeout() || lower.contains("timed out") {
        "no answer within the request timeout".to_string()
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
pub(super) fn api_error(
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
}

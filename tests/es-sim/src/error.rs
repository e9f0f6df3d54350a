//! Elasticsearch-shaped errors: `{"error":{"root_cause":[..],"type","reason",..},"status":N}`.
//! Pure: building the body does no I/O.

use serde_json::{Map, Value, json};

pub type EsResult<T> = Result<T, EsError>;

/// The parser token Elasticsearch's errors name for a JSON value (`VALUE_STRING`, `START_ARRAY`, ...).
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "VALUE_NULL",
        Value::Bool(_) => "VALUE_BOOLEAN",
        Value::Number(_) => "VALUE_NUMBER",
        Value::String(_) => "VALUE_STRING",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
    }
}

/// One Elasticsearch exception, rendered as ES renders it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {kind}: {reason}")]
pub struct EsError {
    pub status: u16,
    /// The snake_case exception name, e.g. `index_not_found_exception`.
    pub kind: String,
    pub reason: String,
    /// Extra fields shown next to `type`/`reason` (`index`, `resource.id`, ...).
    pub extra: Map<String, Value>,
    pub caused_by: Option<Box<EsError>>,
    /// Response headers (e.g. `WWW-Authenticate`).
    pub headers: Vec<(String, String)>,
    /// A body that is not the standard error shape (e.g. get-alias 404s).
    pub raw_body: Option<Box<Value>>,
}

impl EsError {
    pub fn new(status: u16, kind: &str, reason: impl Into<String>) -> Self {
        EsError {
            status,
            kind: kind.to_string(),
            reason: reason.into(),
            extra: Map::new(),
            caused_by: None,
            headers: Vec::new(),
            raw_body: None,
        }
    }

    /// Names the index (and its uuid, `_na_` when there is none) the way index errors do.
    pub fn on_index(self, index: &str, uuid: &str) -> Self {
        self.with("index_uuid", uuid).with("index", index)
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }

    pub fn caused_by(mut self, cause: EsError) -> Self {
        self.caused_by = Some(Box::new(cause));
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// A response with a non-standard body and the given status.
    pub fn raw(status: u16, body: Value) -> Self {
        let mut e = EsError::new(status, "raw", "");
        e.raw_body = Some(Box::new(body));
        e
    }

    pub fn illegal_argument(reason: impl Into<String>) -> Self {
        EsError::new(400, "illegal_argument_exception", reason)
    }

    pub fn illegal_state(reason: impl Into<String>) -> Self {
        EsError::new(500, "illegal_state_exception", reason)
    }

    pub fn parse(reason: impl Into<String>) -> Self {
        EsError::new(400, "x_content_parse_exception", reason)
    }

    pub fn body_required() -> Self {
        EsError::new(400, "parse_exception", "request body is required")
    }

    /// `Validation Failed: 1: a;2: b;`
    pub fn validation(errors: &[String]) -> Self {
        let mut reason = String::from("Validation Failed: ");
        for (i, e) in errors.iter().enumerate() {
            reason.push_str(&format!("{}: {};", i + 1, e));
        }
        EsError::new(400, "action_request_validation_exception", reason)
    }

    pub fn resource_not_found(reason: impl Into<String>) -> Self {
        EsError::new(404, "resource_not_found_exception", reason)
    }

    pub fn index_not_found(index: &str) -> Self {
        EsError::new(
            404,
            "index_not_found_exception",
            format!("no such index [{index}]"),
        )
        .with("resource.type", "index_or_alias")
        .with("resource.id", index)
        .on_index(index, "_na_")
    }

    pub fn index_closed(index: &str, uuid: &str) -> Self {
        EsError::new(400, "index_closed_exception", "closed").on_index(index, uuid)
    }

    pub fn already_exists(index: &str, uuid: &str) -> Self {
        EsError::new(
            400,
            "resource_already_exists_exception",
            format!("index [{index}/{uuid}] already exists"),
        )
        .on_index(index, uuid)
    }

    pub fn invalid_index_name(index: &str, why: &str) -> Self {
        EsError::new(
            400,
            "invalid_index_name_exception",
            format!("Invalid index name [{index}], {why}"),
        )
        .on_index(index, "_na_")
    }

    pub fn security(status: u16, reason: impl Into<String>) -> Self {
        EsError::new(status, "security_exception", reason)
    }

    pub fn cause_object(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), Value::String(self.kind.clone()));
        m.insert("reason".into(), Value::String(self.reason.clone()));
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        if let Some(c) = &self.caused_by {
            m.insert("caused_by".into(), c.cause_object());
        }
        Value::Object(m)
    }

    /// The JSON body Elasticsearch would send.
    pub fn body(&self) -> Value {
        if let Some(b) = &self.raw_body {
            return (**b).clone();
        }
        let mut root = Map::new();
        root.insert("type".into(), Value::String(self.kind.clone()));
        root.insert("reason".into(), Value::String(self.reason.clone()));
        for (k, v) in &self.extra {
            root.insert(k.clone(), v.clone());
        }
        let mut err = match self.cause_object() {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        // root_cause goes first, as ES prints it
        let mut ordered = Map::new();
        ordered.insert("root_cause".into(), json!([Value::Object(root)]));
        ordered.append(&mut err);
        json!({"error": Value::Object(ordered), "status": self.status})
    }

    /// An ES-shaped error for an arbitrary status (used by injected faults).
    pub fn for_status(status: u16, detail: &str) -> Self {
        let (kind, reason) = match status {
            400 => ("illegal_argument_exception", "bad request".to_string()),
            401 => ("security_exception", "unable to authenticate".to_string()),
            403 => ("security_exception", "action is unauthorized".to_string()),
            404 => ("resource_not_found_exception", "not found".to_string()),
            408 => (
                "receive_timeout_transport_exception",
                "request timed out".to_string(),
            ),
            409 => (
                "version_conflict_engine_exception",
                "version conflict".to_string(),
            ),
            429 => (
                "es_rejected_execution_exception",
                "rejected execution of coordinating operation".to_string(),
            ),
            503 => (
                "cluster_block_exception",
                "blocked by: [SERVICE_UNAVAILABLE/2/no master];".to_string(),
            ),
            _ => ("exception", "internal server error".to_string()),
        };
        EsError::new(status, kind, format!("{reason} ({detail})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_shape() {
        let e = EsError::index_not_found("foo");
        let b = e.body();
        assert_eq!(b["status"], 404);
        assert_eq!(b["error"]["type"], "index_not_found_exception");
        assert_eq!(b["error"]["root_cause"][0]["reason"], "no such index [foo]");
        assert_eq!(b["error"]["index"], "foo");
        let v = EsError::validation(&["a".into(), "b".into()]);
        assert_eq!(v.reason, "Validation Failed: 1: a;2: b;");
    }
}

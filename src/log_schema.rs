//! The structured log schema of the mesh's services (from the source recipe): the index
//! mappings and the log analyzer. Pure data.

use serde_json::{Value, json};

/// Name of the analyzer used for `msg`.
pub const LOG_ANALYZER: &str = "log_analyzer";

/// The analysis settings defining [`LOG_ANALYZER`]: standard tokens, lowercased, English
/// stop words removed.
///
/// Not stemmed, unlike the recipe's `snowball`: log messages are searched for exact terms
/// (error codes, identifiers, "connection" vs "connect"), which stemming conflates, and the
/// stemmers live in the `analysis-common` module that minimal distributions lack, where
/// they would make the template itself fail. `lowercase` and `stop` are in every build.
pub fn analysis() -> Value {
    json!({
        "analyzer": {
            LOG_ANALYZER: {
                "type": "custom",
                "tokenizer": "standard",
                "filter": ["lowercase", "stop"]
            }
        }
    })
}

fn keywords(fields: &[&str]) -> Value {
    let props: serde_json::Map<String, Value> = fields
        .iter()
        .map(|f| (f.to_string(), json!({"type": "keyword"})))
        .collect();
    json!({ "properties": props })
}

/// Key the collectors nest a JSON log line under (`render::collector::APP_KEY`).
pub const APP: &str = "app";

/// The mappings of the log indices.
///
/// The collector's own fields are at the top (`timestamp`, `kubernetes.*` from the
/// metadata filter, `stream`, `log`, `spec.collector.fields`); what a service logs as JSON
/// is nested under [`APP`], so no application can clash with them, and the mesh's log
/// schema (`level`, `msg`, `service`, ...) is mapped there.
///
/// Differences from the recipe, on purpose: `timestamp` also accepts timestamps without
/// fractions and epoch millis (services log `isoformat()` with microseconds or none), and
/// the collector's own fields are mapped so they do not fall to dynamic mapping.
pub fn mappings() -> Value {
    json!({
        "dynamic_templates": [
            {
                "strings_as_keywords": {
                    "match_mapping_type": "string",
                    "mapping": { "type": "keyword", "ignore_above": 1024 }
                }
            }
        ],
        "properties": {
            "timestamp": { "type": "date", "format": "strict_date_optional_time||epoch_millis" },
            "log": { "type": "text" },
            "stream": { "type": "keyword" },
            "kubernetes": {
                "properties": {
                    "namespace": { "type": "keyword" },
                    "namespace_name": { "type": "keyword" },
                    "pod_name": { "type": "keyword" },
                    "pod_id": { "type": "keyword" },
                    "node_name": { "type": "keyword" },
                    "host": { "type": "keyword" },
                    "container_name": { "type": "keyword" },
                    "container_image": { "type": "keyword" },
                    "labels": { "type": "object" },
                    "annotations": { "type": "object", "enabled": false }
                }
            },
            APP: { "properties": app_properties() },
        }
    })
}

/// The mesh's log schema: what its services log as JSON.
fn app_properties() -> Value {
    json!({
            "level": { "type": "keyword" },
            "msg": {
                "type": "text",
                "analyzer": LOG_ANALYZER,
                "fields": { "keyword": { "type": "keyword", "ignore_above": 256 } }
            },
            "service": keywords(&["name", "version", "environment", "instance_id"]),
            "trace": keywords(&["trace_id", "span_id", "trace_flags"]),
            "request_id": { "type": "keyword" },
            "user_id": { "type": "keyword" },
            "request": {
                "properties": {
                    "method": { "type": "keyword" },
                    "params": { "type": "object", "enabled": false },
                    "duration_ms": { "type": "float" },
                    "status": { "type": "keyword" }
                }
            },
            "exception": {
                "properties": {
                    "type": { "type": "keyword" },
                    "message": {
                        "type": "text",
                        "fields": { "keyword": { "type": "keyword", "ignore_above": 256 } }
                    },
                    "traceback": { "type": "text" }
                }
            },
            "audit": {
                "properties": {
                    "action": { "type": "keyword" },
                    "resource": { "type": "keyword" },
                    "result": { "type": "keyword" },
                    "user_id": { "type": "keyword" },
                    "timestamp": { "type": "date", "format": "strict_date_optional_time||epoch_millis" }
                }
            },
            "metrics": {
                "properties": {
                    "duration_ms": { "type": "float" },
                    "count": { "type": "long" },
                    "size_bytes": { "type": "long" }
                }
            },
            "agent": keywords(&["name", "type"]),
            "source": {
                "properties": {
                    "file": { "type": "keyword" },
                    "line": { "type": "long" },
                    "function": { "type": "keyword" }
                }
            }
    })
}

/// The mappings of the dead-letter index: records Elasticsearch refused, kept verbatim as
/// a string (never parsed into fields, so nothing in them can be refused again).
///
/// The index takes a document of any shape (`dynamic: false`: fields not listed here are
/// kept in `_source`, never mapped). What is mapped is Fluentd's shape (`timestamp`, `tag`,
/// the refused record as JSON under `record`). Other shippers' dead letters are kept, not
/// searchable by field: Filebeat's `non_indexable_policy` (the test shipper,
/// `tests/shipping.rs`) writes `@timestamp`, the event as JSON under `message` and the
/// status and Elasticsearch's reason under `error.type` and `error.message`.
pub fn deadletter_mappings() -> Value {
    json!({
        "dynamic": "false",
        "properties": {
            "timestamp": { "type": "date", "format": "strict_date_optional_time||epoch_millis" },
            "tag": { "type": "keyword" },
            "record": { "type": "text", "index": false },
        }
    })
}

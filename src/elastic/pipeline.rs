//! Whether logs arrive (I/O, reads only): the newest log in the write alias, how many
//! arrived within the threshold, and per collector node the newest log it sent; plus the
//! alias' indices' creation dates and write blocks, and the indices stuck in ILM's
//! `ERROR` step.
//!
//! ```text
//! POST <alias>/_search  size 0: max(timestamp), filter(range last threshold),
//!                       filter(range last day) > terms(kubernetes.host) > max(timestamp)
//! GET  <alias>/_settings?flat_settings=true   creation dates, index.blocks.*
//! GET  <alias>-*/_ilm/explain?only_errors=true   (only where the cluster has ILM)
//! GET  _health_report/disk?verbose=false         Elasticsearch's own disk verdict
//! ```
//!
//! Three or four reads per resource per pass, after the sync; never a write. The query is built
//! purely from the alias, the threshold and `now` ([`flow_query`]) and its answer parsed
//! purely ([`parse_flow`]), so both are tested against the real Elasticsearch and the
//! stand-in with the same bytes.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::client::{EsClient, EsError};

/// The field holding a log's time (`elastic::log_schema`).
pub const TIMESTAMP_FIELD: &str = "timestamp";
/// The field naming the node a log was collected on: both collectors' Kubernetes metadata
/// filters set `kubernetes.host` to the node name (mapped as a keyword).
pub const NODE_FIELD: &str = "kubernetes.host";
/// How far back a node counts as one that sends logs at all.
pub const NODE_LOOKBACK: Duration = Duration::from_secs(24 * 3600);
/// Most nodes listed by the `terms` aggregation.
pub const MAX_NODES: usize = 1000;

/// What the reads saw, at `checked_at`.
#[derive(Clone, Debug, PartialEq)]
pub struct LogFlow {
    /// When the reads ran (the condition is judged at this time, not later).
    pub checked_at: Timestamp,
    /// The threshold they were judged with.
    pub threshold: Duration,
    /// The newest log in the alias, if any.
    pub newest: Option<Timestamp>,
    /// Logs with a timestamp within the threshold before `checked_at`.
    pub recent: u64,
    /// Per node that sent logs within [`NODE_LOOKBACK`]: its newest log, by node name.
    pub nodes: Vec<(String, Timestamp)>,
    /// The creation time of the alias' oldest index (how long the pipeline has existed).
    pub created: Option<Timestamp>,
    /// The alias' indices with a write block (`index.blocks.write` or
    /// `index.blocks.read_only_allow_delete`, set by the disk flood-stage watermark).
    pub blocked: Vec<String>,
}

impl LogFlow {
    /// Age of the newest log at `checked_at`.
    pub fn newest_age(&self) -> Option<Duration> {
        self.newest.map(|n| age(self.checked_at, n))
    }

    /// Nodes that sent logs within [`NODE_LOOKBACK`] but none within the threshold.
    pub fn silent_nodes(&self) -> Vec<&str> {
        self.nodes
            .iter()
            .filter(|(_, newest)| age(self.checked_at, *newest) > self.threshold)
            .map(|(node, _)| node.as_str())
            .collect()
    }
}

fn age(now: Timestamp, then: Timestamp) -> Duration {
    let ms = now.as_millisecond().saturating_sub(then.as_millisecond());
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn iso(t: Timestamp) -> String {
    // Millisecond precision: what the `timestamp` mapping stores.
    Timestamp::from_millisecond(t.as_millisecond())
        .unwrap_or(t)
        .to_string()
}

/// The search body: no hits, the newest timestamp, the count within `threshold` before
/// `now`, and per node (over the last [`NODE_LOOKBACK`]) the newest timestamp. Absolute
/// bounds rather than date math, so the answer depends only on the documents.
pub fn flow_query(threshold: Duration, now: Timestamp) -> Value {
    let since = |d: Duration| {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        iso(Timestamp::from_millisecond(now.as_millisecond().saturating_sub(ms)).unwrap_or(now))
    };
    json!({
        "size": 0,
        "aggs": {
            "newest": { "max": { "field": TIMESTAMP_FIELD } },
            "recent": { "filter": { "range": { TIMESTAMP_FIELD: { "gte": since(threshold) } } } },
            "lookback": {
                "filter": { "range": { TIMESTAMP_FIELD: { "gte": since(NODE_LOOKBACK) } } },
                "aggs": {
                    "nodes": {
                        "terms": { "field": NODE_FIELD, "size": MAX_NODES },
                        "aggs": { "newest": { "max": { "field": TIMESTAMP_FIELD } } }
                    }
                }
            }
        }
    })
}

/// A `max` aggregation's value (epoch milliseconds; `null` over no documents).
fn max_value(agg: Option<&Value>) -> Option<Timestamp> {
    let ms = agg?.get("value")?.as_f64()?;
    // Epoch milliseconds of a date fit in an f64 exactly.
    #[allow(clippy::cast_possible_truncation)]
    Timestamp::from_millisecond(ms as i64).ok()
}

/// The answer to [`flow_query`].
#[derive(Clone, Debug, PartialEq)]
pub struct FlowAnswer {
    /// The newest log, if any.
    pub newest: Option<Timestamp>,
    /// Logs within the threshold.
    pub recent: u64,
    /// Per node, its newest log within [`NODE_LOOKBACK`].
    pub nodes: Vec<(String, Timestamp)>,
}

/// The answer to [`flow_query`], or what is missing from it.
pub fn parse_flow(body: &Value) -> Result<FlowAnswer, String> {
    let aggs = body.get("aggregations").ok_or("no aggregations")?;
    let newest = max_value(aggs.get("newest"));
    let recent = aggs
        .pointer("/recent/doc_count")
        .and_then(Value::as_u64)
        .ok_or("no recent.doc_count")?;
    let buckets = aggs
        .pointer("/lookback/nodes/buckets")
        .and_then(Value::as_array)
        .ok_or("no lookback.nodes.buckets")?;
    let nodes = buckets
        .iter()
        .filter_map(|b| {
            let node = b.get("key")?.as_str()?.to_string();
            Some((node, max_value(b.get("newest"))?))
        })
        .collect();
    Ok(FlowAnswer {
        newest,
        recent,
        nodes,
    })
}

/// From `GET <alias>/_settings?flat_settings=true`: the oldest creation time, and
/// `write_index` when it has a write block. Only the write index: ILM's warm actions
/// (shrink, force-merge, read-only) block writes to older indices on purpose.
pub fn parse_settings(body: &Value, write_index: Option<&str>) -> (Option<Timestamp>, Vec<String>) {
    let Some(indices) = body.as_object() else {
        return (None, Vec::new());
    };
    let mut created = None::<Timestamp>;
    let mut blocked = Vec::new();
    for (index, v) in indices {
        let setting = |key: &str| {
            v.pointer(&format!("/settings/{key}"))
                .and_then(Value::as_str)
        };
        if let Some(t) = setting("index.creation_date")
            .and_then(|s| s.parse::<i64>().ok())
            .and_then(|ms| Timestamp::from_millisecond(ms).ok())
        {
            created = Some(created.map_or(t, |c| c.min(t)));
        }
        let on = |key| setting(key) == Some("true");
        let write = write_index == Some(index.as_str());
        if write && (on("index.blocks.write") || on("index.blocks.read_only_allow_delete")) {
            blocked.push(index.clone());
        }
    }
    blocked.sort();
    (created, blocked)
}

/// Reads the flow of logs into `alias` (whose write index is `write_index`, when known)
/// at `now`: `Ok(None)` when the alias does not exist.
pub async fn read_flow(
    client: &EsClient,
    alias: &str,
    write_index: Option<&str>,
    threshold: Duration,
    now: Timestamp,
) -> Result<Option<LogFlow>, EsError> {
    let Some(settings) = client
        .get(
            "indices.get_settings",
            &format!("/{alias}/_settings?flat_settings=true"),
        )
        .await?
    else {
        return Ok(None);
    };
    let (created, blocked) = parse_settings(&settings, write_index);
    let path = format!("/{alias}/_search");
    let body = client
        .post("search", &path, &flow_query(threshold, now))
        .await?;
    let FlowAnswer {
        newest,
        recent,
        nodes,
    } = parse_flow(&body).map_err(|detail| EsError::Decode {
        request: format!("POST {path}"),
        detail,
    })?;
    Ok(Some(LogFlow {
        checked_at: now,
        threshold,
        newest,
        recent,
        nodes,
        created,
        blocked,
    }))
}

/// An index in ILM's `ERROR` step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IlmError {
    /// The index.
    pub index: String,
    /// The step that failed (`failed_step`), when Elasticsearch names it.
    pub failed_step: Option<String>,
    /// Elasticsearch's `step_info.reason` (or its type).
    pub reason: String,
}

/// The ILM explain request of the alias' backing indices (`<alias>-*`), errors only.
pub fn ilm_explain_path(alias: &str) -> String {
    format!("/{alias}-*/_ilm/explain?only_errors=true")
}

/// The indices in the `ERROR` step of an ILM explain answer, by name.
pub fn parse_ilm_errors(body: &Value) -> Vec<IlmError> {
    let Some(indices) = body.get("indices").and_then(Value::as_object) else {
        return Vec::new();
    };
    indices
        .iter()
        .filter(|(_, e)| e.get("step").and_then(Value::as_str) == Some("ERROR"))
        .map(|(index, e)| {
            let info = e.get("step_info");
            let text = |key| info.and_then(|i| i.get(key)).and_then(Value::as_str);
            IlmError {
                index: index.clone(),
                failed_step: e
                    .get("failed_step")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                reason: text("reason")
                    .or_else(|| text("type"))
                    .unwrap_or("no reason given")
                    .to_string(),
            }
        })
        .collect()
}

/// Reads the alias' backing indices in ILM's `ERROR` step.
pub async fn read_ilm_errors(client: &EsClient, alias: &str) -> Result<Vec<IlmError>, EsError> {
    let body = client
        .get("ilm.explain_lifecycle", &ilm_explain_path(alias))
        .await?;
    Ok(body.as_ref().map(parse_ilm_errors).unwrap_or_default())
}

/// Elasticsearch's disk health indicator: its watermarks and write blocks, judged by it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskIndicator {
    /// `green`, `yellow`, `red` or `unknown`.
    pub status: String,
    /// Elasticsearch's one-line summary.
    pub symptom: String,
}

/// The disk indicator of a health report, if the answer has one.
pub fn parse_disk(body: &Value) -> Option<DiskIndicator> {
    let disk = body.pointer("/indicators/disk")?;
    let text = |key| disk.get(key).and_then(Value::as_str).map(str::to_string);
    Some(DiskIndicator {
        status: text("status")?,
        symptom: text("symptom").unwrap_or_default(),
    })
}

/// Reads Elasticsearch's disk health indicator (`GET /_health_report/disk`, 8.7+):
/// `Ok(None)` when the cluster does not serve it.
pub async fn read_disk(client: &EsClient) -> Result<Option<DiskIndicator>, EsError> {
    let body = client
        .get("health_report", "/_health_report/disk?verbose=false")
        .await?;
    Ok(body.as_ref().and_then(parse_disk))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn the_query_uses_absolute_bounds() {
        let q = flow_query(Duration::from_secs(600), at("2026-01-01T00:10:00Z"));
        assert_eq!(
            q.pointer("/aggs/recent/filter/range/timestamp/gte"),
            Some(&json!("2026-01-01T00:00:00Z"))
        );
        assert_eq!(
            q.pointer("/aggs/lookback/filter/range/timestamp/gte"),
            Some(&json!("2025-12-31T00:10:00Z"))
        );
    }

    #[test]
    fn an_answer_without_documents_has_no_newest() {
        let body = json!({"aggregations": {
            "newest": {"value": null},
            "recent": {"doc_count": 0},
            "lookback": {"doc_count": 0, "nodes": {"buckets": []}}
        }});
        assert_eq!(
            parse_flow(&body),
            Ok(FlowAnswer {
                newest: None,
                recent: 0,
                nodes: Vec::new()
            })
        );
        assert!(parse_flow(&json!({})).is_err());
    }

    #[test]
    fn settings_give_the_oldest_creation_and_a_blocked_write_index() {
        let body = json!({
            "logs-000002": {"settings": {"index.creation_date": "2000", "index.blocks.read_only_allow_delete": "true"}},
            "logs-000001": {"settings": {"index.creation_date": "1000", "index.blocks.write": "true"}}
        });
        let (created, blocked) = parse_settings(&body, Some("logs-000002"));
        assert_eq!(created, Timestamp::from_millisecond(1000).ok());
        assert_eq!(
            blocked,
            ["logs-000002"],
            "a shrunk older index is blocked on purpose"
        );
        assert!(parse_settings(&body, None).1.is_empty());
    }

    #[test]
    fn ilm_errors_name_the_index_its_step_and_reason() {
        let body = json!({"indices": {
            "logs-000002": {"index": "logs-000002", "managed": true, "step": "check-rollover-ready"},
            "logs-000001": {"index": "logs-000001", "managed": true, "step": "ERROR",
                "failed_step": "shrink", "step_info": {"type": "illegal_state_exception", "reason": "no node fits"}}
        }});
        assert_eq!(
            parse_ilm_errors(&body),
            [IlmError {
                index: "logs-000001".into(),
                failed_step: Some("shrink".into()),
                reason: "no node fits".into()
            }]
        );
    }

    #[test]
    fn silent_nodes_are_the_ones_past_the_threshold() {
        let flow = LogFlow {
            checked_at: at("2026-01-01T01:00:00Z"),
            threshold: Duration::from_secs(600),
            newest: Some(at("2026-01-01T00:59:00Z")),
            recent: 3,
            nodes: vec![
                ("a".into(), at("2026-01-01T00:59:00Z")),
                ("b".into(), at("2026-01-01T00:30:00Z")),
            ],
            created: None,
            blocked: Vec::new(),
        };
        assert_eq!(flow.silent_nodes(), ["b"]);
        assert_eq!(flow.newest_age(), Some(Duration::from_secs(60)));
    }
}

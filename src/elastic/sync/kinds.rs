//! The kinds of Elasticsearch objects the operator manages, and the table of how the
//! generic apply and prune list, address, recognise and compare each of them (I/O: the
//! listing).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use super::{Abort, Failure, Pass};
use crate::elastic::client::EsError;
use crate::elastic::desired::repository_marker;
use crate::elastic::normalize;
use crate::reason::Reason;

/// The kinds of Elasticsearch objects the operator manages, in apply order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// ILM policies.
    IlmPolicy,
    /// Component templates.
    ComponentTemplate,
    /// Composable index templates.
    IndexTemplate,
    /// The bootstrap index and write alias.
    WriteAlias,
    /// The dead-letter index of refused records.
    DeadLetterIndex,
    /// Security roles.
    Role,
    /// Security users (and the `kibana_system` password).
    User,
    /// Snapshot repositories.
    SnapshotRepository,
    /// SLM policies.
    SlmPolicy,
}

impl Kind {
    /// Every kind, in apply order.
    pub const ALL: [Kind; 9] = [
        Kind::IlmPolicy,
        Kind::ComponentTemplate,
        Kind::IndexTemplate,
        Kind::WriteAlias,
        Kind::DeadLetterIndex,
        Kind::Role,
        Kind::User,
        Kind::SnapshotRepository,
        Kind::SlmPolicy,
    ];

    /// A human name, for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::IlmPolicy => "ILM policy",
            Kind::ComponentTemplate => "component template",
            Kind::IndexTemplate => "index template",
            Kind::WriteAlias => "write alias",
            Kind::DeadLetterIndex => "dead-letter index",
            Kind::Role => "role",
            Kind::User => "user",
            Kind::SnapshotRepository => "snapshot repository",
            Kind::SlmPolicy => "SLM policy",
        }
    }

    /// Whether the kind belongs to the snapshot configuration (`SnapshotsConfigured`) rather
    /// than index management (`IndexManagementApplied`).
    pub fn is_snapshot(self) -> bool {
        matches!(self, Kind::SnapshotRepository | Kind::SlmPolicy)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How to list, address, read the marker of, and compare one kind.
pub(super) struct Ops {
    /// The kind.
    pub kind: Kind,
    /// The API name (metrics).
    pub api: &'static str,
    /// Where the objects are listed; one object is at `<list_path>/<name>`.
    pub list_path: &'static str,
    /// A listing as (name, body).
    pub parse: fn(Value) -> BTreeMap<String, Value>,
    /// Where an object carries the ownership marker.
    pub marker: fn(&Value) -> Option<Value>,
    /// What a comparison ignores (defaults Elasticsearch adds, order).
    pub normalize: fn(&Value) -> Value,
    /// The part of a desired PUT body that a GET returns.
    pub comparable: fn(&Value) -> Value,
}

impl Ops {
    /// A kind whose GET returns what its PUT sends.
    const fn new(
        kind: Kind,
        api: &'static str,
        list_path: &'static str,
        parse: fn(Value) -> BTreeMap<String, Value>,
        marker: fn(&Value) -> Option<Value>,
        normalize: fn(&Value) -> Value,
    ) -> Self {
        Self {
            kind,
            api,
            list_path,
            parse,
            marker,
            normalize,
            comparable: Value::clone,
        }
    }

    /// The path of the object `name`.
    pub fn path(&self, name: &str) -> String {
        format!("{}/{}", self.list_path, encode(name))
    }
}

// The table. Columns: kind, API (metrics label), list path, listing parser, where the
// marker is, normalisation.
#[rustfmt::skip]
pub(super) const ILM: Ops = Ops { comparable: policy, ..Ops::new(Kind::IlmPolicy, "ilm", "/_ilm/policy", policies, meta, normalize::ilm_policy) };
#[rustfmt::skip]
pub(super) const COMPONENT: Ops = Ops::new(Kind::ComponentTemplate, "component_template", "/_component_template", component_templates, meta, normalize::template);
#[rustfmt::skip]
pub(super) const INDEX_TEMPLATE: Ops = Ops::new(Kind::IndexTemplate, "index_template", "/_index_template", index_templates, meta, normalize::template);
#[rustfmt::skip]
pub(super) const ROLE: Ops = Ops::new(Kind::Role, "security.role", "/_security/role", by_name, metadata, normalize::role);
#[rustfmt::skip]
pub(super) const USER: Ops = Ops::new(Kind::User, "security.user", "/_security/user", by_name, metadata, Value::clone);
#[rustfmt::skip]
pub(super) const REPOSITORY: Ops = Ops::new(Kind::SnapshotRepository, "snapshot.repository", "/_snapshot", by_name, repository_marker, normalize::repository);
#[rustfmt::skip]
pub(super) const SLM: Ops = Ops::new(Kind::SlmPolicy, "slm", "/_slm/policy", policies, slm_metadata, normalize::slm_policy);

fn meta(body: &Value) -> Option<Value> {
    body.get("_meta").cloned()
}

fn metadata(body: &Value) -> Option<Value> {
    body.get("metadata").cloned()
}

fn slm_metadata(body: &Value) -> Option<Value> {
    body.pointer("/config/metadata").cloned()
}

fn component_templates(v: Value) -> BTreeMap<String, Value> {
    named_list(v, "component_templates", "component_template")
}

fn index_templates(v: Value) -> BTreeMap<String, Value> {
    named_list(v, "index_templates", "index_template")
}

/// An ILM policy as a GET returns it: the `policy` of the PUT body.
fn policy(body: &Value) -> Value {
    body.get("policy").cloned().unwrap_or(Value::Null)
}

/// ILM and SLM listings: `{name: {"policy": body, ...}}`.
fn policies(v: Value) -> BTreeMap<String, Value> {
    by_name(v)
        .into_iter()
        .map(|(name, mut entry)| {
            let body = entry
                .get_mut("policy")
                .map(Value::take)
                .unwrap_or(Value::Null);
            (name, body)
        })
        .collect()
}

fn by_name(v: Value) -> BTreeMap<String, Value> {
    match v {
        Value::Object(map) => map.into_iter().collect(),
        _ => BTreeMap::new(),
    }
}

fn named_list(v: Value, list: &str, body: &str) -> BTreeMap<String, Value> {
    v.get(list)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    Some((
                        i.get("name")?.as_str()?.to_string(),
                        i.get(body).cloned().unwrap_or(Value::Null),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Percent-encodes a name for a URL path segment.
pub(super) fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The objects listed per kind in this pass.
#[derive(Default)]
pub(super) struct Current(BTreeMap<Kind, BTreeMap<String, Value>>);

impl Current {
    /// The objects of `kind` (none when it was not listed).
    pub fn get(&self, kind: Kind) -> &BTreeMap<String, Value> {
        static EMPTY: BTreeMap<String, Value> = BTreeMap::new();
        self.0.get(&kind).unwrap_or(&EMPTY)
    }
}

impl Pass<'_> {
    /// Lists the objects of one kind into `current`: `false` (recorded in the report) when
    /// the cluster does not serve the kind's API, so a distribution without ILM or SLM
    /// still gets everything else.
    pub(super) async fn list(&mut self, ops: &Ops) -> Result<bool, Abort> {
        let listed = match self.client.get(ops.api, ops.list_path).await {
            Ok(Some(v)) => (ops.parse)(v),
            // Some versions answer 404 to listing an empty collection.
            Ok(None) => BTreeMap::new(),
            Err(e @ EsError::NotSupported { .. }) => {
                self.report.unsupported.insert(ops.kind, e.to_string());
                return Ok(false);
            }
            Err(e) => return Err(Abort(e)),
        };
        self.current.0.insert(ops.kind, listed);
        Ok(true)
    }

    /// Records every wanted object of an unsupported kind as not applied, naming the API.
    pub(super) fn not_supported<'a>(
        &mut self,
        kind: Kind,
        wanted: impl Iterator<Item = &'a String>,
    ) {
        let why = self
            .report
            .unsupported
            .get(&kind)
            .cloned()
            .unwrap_or_default();
        let kind_report = self.report.kinds.entry(kind).or_default();
        for name in wanted {
            let message = format!("not applied: {why}");
            let failure = Failure::new(name, Reason::NotSupportedByCluster, message, false);
            kind_report.failed.push(failure);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_encoded_for_paths() {
        assert_eq!(encode("mcp-mesh-logs"), "mcp-mesh-logs");
        assert_eq!(encode("a b%"), "a%20b%25");
    }
}

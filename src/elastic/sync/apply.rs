//! The generic apply of the kinds in the table (I/O): list once, then per desired object
//! compare after normalising and PUT only what differs; never change what is not this
//! resource's.

use std::collections::BTreeMap;

use serde_json::Value;

use super::kinds::Ops;
use super::{Abort, Failure, Kind, Pass, record};
use crate::elastic::desired::marker_owner;
use crate::reason::Reason;

impl Pass<'_> {
    /// Applies `wanted` of one kind; objects named in `skip` are reported as not applied,
    /// with why. `previously` is what the kind's status recorded (ownership of unmarked
    /// objects).
    pub(super) async fn apply(
        &mut self,
        ops: &Ops,
        wanted: &BTreeMap<String, Value>,
        skip: &BTreeMap<String, String>,
        previously: &[String],
    ) -> Result<(), Abort> {
        if !self.list(ops).await? {
            self.not_supported(ops.kind, wanted.keys());
            return Ok(());
        }
        let listed = self.current.get(ops.kind);
        let kind_report = self.report.kinds.entry(ops.kind).or_default();
        for (name, body) in wanted {
            let exists = listed.contains_key(name);
            if let Some(why) = skip.get(name) {
                let failure = Failure::new(name, Reason::DependencyFailed, why.clone(), exists);
                kind_report.failed.push(failure);
                continue;
            }
            if ops.kind == Kind::IndexTemplate
                && let Some(why) = overlapping(self.owner, name, body, listed)
            {
                let failure = Failure::new(name, Reason::Conflict, why, false);
                kind_report.failed.push(failure);
                continue;
            }
            let path = ops.path(name);
            let write = self.client.put(ops.api, &path, body);
            let Some(current) = listed.get(name) else {
                record(kind_report, name, true, write).await?;
                continue;
            };
            let same = (ops.normalize)(current) == (ops.normalize)(&(ops.comparable)(body));
            let unmarked_ours = previously.iter().any(|p| p == name) || same;
            match not_ours(ops, self.owner, name, current, unmarked_ours) {
                Some(why) => {
                    let failure = Failure::new(name, Reason::Conflict, why, false);
                    kind_report.failed.push(failure);
                }
                None if same => kind_report.unchanged.push(name.clone()),
                None => record(kind_report, name, false, write).await?,
            }
        }
        Ok(())
    }
}

/// Why the existing object `name` is not this resource's to change, if it is not: it
/// carries another resource's marker, or none and `unmarked_ours` is false.
fn not_ours(
    ops: &Ops,
    owner: &str,
    name: &str,
    current: &Value,
    unmarked_ours: bool,
) -> Option<String> {
    match marker_owner((ops.marker)(current).as_ref()) {
        Some(o) if o == owner => None,
        Some(other) => Some(format!(
            "{} {name} belongs to MeshLogging {other}; not changed",
            ops.kind
        )),
        // Unmarked: ours only if we applied it before (a kind without markers, or an edit
        // that dropped the marker); an identical unmarked object is adopted as is.
        None if unmarked_ours => None,
        None => Some(format!(
            "{} {name} already exists and is not managed by this MeshLogging; not changed (rename or delete it)",
            ops.kind
        )),
    }
}

/// Another resource's index template whose patterns overlap `body`'s: two resources
/// whose index names are prefixes of each other (`logs`, `logs-prod`) would write into
/// each other's indices, and Elasticsearch refuses overlapping templates of one priority.
fn overlapping(
    owner: &str,
    name: &str,
    body: &Value,
    listed: &BTreeMap<String, Value>,
) -> Option<String> {
    let patterns = |b: &Value| -> Vec<String> {
        b.get("index_patterns")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let ours = patterns(body);
    listed.iter().find_map(|(other, found)| {
        if other == name {
            return None;
        }
        let holder = marker_owner(found.get("_meta"))?;
        if holder == owner {
            return None;
        }
        let theirs = patterns(found);
        let (a, b) = ours
            .iter()
            .flat_map(|a| theirs.iter().map(move |b| (a, b)))
            .find(|(a, b)| patterns_overlap(a, b))?;
        Some(format!(
            "index pattern {a} overlaps {b} of MeshLogging {holder} (index template {other}); choose an index.name that is not a prefix of another's, nor has one as its prefix"
        ))
    })
}

/// Whether two index patterns can match one name. Exact for patterns whose only
/// wildcard is a trailing `*` (the operator's own); otherwise Elasticsearch decides.
fn patterns_overlap(a: &str, b: &str) -> bool {
    let prefix = |p: &str| {
        p.strip_suffix('*')
            .filter(|s| !s.contains('*'))
            .map(str::to_string)
    };
    match (prefix(a), prefix(b)) {
        (Some(x), Some(y)) => x.starts_with(&y) || y.starts_with(&x),
        (Some(x), None) if !b.contains('*') => b.starts_with(&x),
        (None, Some(y)) if !a.contains('*') => a.starts_with(&y),
        (None, None) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_patterns_overlap_when_one_prefix_extends_the_other() {
        assert!(patterns_overlap("logs-*", "logs-prod-*"));
        assert!(patterns_overlap("logs-prod-*", "logs-*"));
        assert!(patterns_overlap("logs-*", "logs-000001"));
        assert!(!patterns_overlap("logs-*", "logsprod-*"));
        assert!(!patterns_overlap("app-*", "logs-*"));
        assert!(patterns_overlap("exact", "exact"));
    }
}

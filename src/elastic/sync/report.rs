//! What a sync pass did (pure): per kind, what was created, changed, deleted, kept or
//! refused, and from that the names `status.applied` records.

use std::collections::{BTreeMap, BTreeSet};

use super::Kind;
use crate::api::AppliedStatus;
use crate::elastic::client::{EsError, EsVersion};
use crate::reason::Reason;

/// One object that could not be brought to its desired state.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// Object name.
    pub name: String,
    /// Bounded reason (`Rejected`, `Conflict`, `CredentialsMissing`, ...).
    pub reason: Reason,
    /// What happened, quoting Elasticsearch's reason.
    pub message: String,
    /// The object exists in Elasticsearch and belongs to this resource.
    pub exists: bool,
}

impl Failure {
    /// `name` failed for `reason`.
    pub(super) fn new(name: &str, reason: Reason, message: String, exists: bool) -> Self {
        Self {
            name: name.to_string(),
            reason,
            message,
            exists,
        }
    }

    /// `name` failed with `e`.
    pub(super) fn of(name: &str, e: &EsError, exists: bool) -> Self {
        Self::new(name, e.category(), e.to_string(), exists)
    }
}

/// What happened to one kind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KindReport {
    /// Created by this pass.
    pub created: Vec<String>,
    /// Changed by this pass.
    pub updated: Vec<String>,
    /// Deleted by this pass (owned, no longer wanted).
    pub deleted: Vec<String>,
    /// Already as desired.
    pub unchanged: Vec<String>,
    /// Owned and no longer wanted, but kept: (name, why).
    pub retained: Vec<(String, String)>,
    /// Not brought to the desired state.
    pub failed: Vec<Failure>,
}

impl KindReport {
    /// Writes this pass made for the kind.
    pub fn writes(&self) -> usize {
        self.created.len() + self.updated.len() + self.deleted.len()
    }

    /// Names that exist in Elasticsearch and belong to this resource after the pass.
    pub fn owned(&self) -> Vec<String> {
        let mut names: BTreeSet<String> = self
            .created
            .iter()
            .chain(&self.updated)
            .chain(&self.unchanged)
            .cloned()
            .collect();
        names.extend(self.retained.iter().map(|(n, _)| n.clone()));
        names.extend(
            self.failed
                .iter()
                .filter(|f| f.exists)
                .map(|f| f.name.clone()),
        );
        names.into_iter().collect()
    }
}

/// The outcome of one sync pass.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncReport {
    /// Per kind, in apply order.
    pub kinds: BTreeMap<Kind, KindReport>,
    /// The version Elasticsearch reported.
    pub version: Option<EsVersion>,
    /// The index the write alias points to.
    pub write_index: Option<String>,
    /// Why the pass stopped early (unreachable, refused credentials), if it did.
    pub aborted: Option<Failure>,
    /// Kinds whose API this cluster does not serve, with Elasticsearch's words.
    pub unsupported: BTreeMap<Kind, String>,
}

impl SyncReport {
    /// The report of `kind` (empty when the pass never got there).
    pub fn kind(&self, kind: Kind) -> KindReport {
        self.kinds.get(&kind).cloned().unwrap_or_default()
    }

    /// Writes made in total.
    pub fn writes(&self) -> usize {
        self.kinds.values().map(KindReport::writes).sum()
    }

    /// Failures of the kinds `filter` selects, plus the abort reason.
    pub fn failures(&self, filter: impl Fn(Kind) -> bool) -> Vec<(Kind, Failure)> {
        let mut out: Vec<(Kind, Failure)> = self
            .kinds
            .iter()
            .filter(|(k, _)| filter(**k))
            .flat_map(|(k, r)| r.failed.iter().map(|f| (*k, f.clone())))
            .collect();
        if let Some(a) = &self.aborted {
            out.insert(0, (Kind::IlmPolicy, a.clone()));
        }
        out
    }

    /// The names owned after this pass, for `status.applied` (and, for repositories,
    /// as the ownership record of the next pass). A complete pass knows the whole picture:
    /// what it owns. A pass that stopped early knows only part of it: it keeps what
    /// `previous` recorded, plus what it created, minus what it deleted.
    pub fn applied(&self, alias: &str, previous: &AppliedStatus) -> AppliedStatus {
        let empty = AppliedStatus::default();
        let before = if self.aborted.is_some() {
            previous
        } else {
            &empty
        };
        // What one kind owns; a complete pass never both deletes and owns a name, so
        // with nothing before this is exactly `owned()`.
        let merge = |kind: Kind, before: &[String]| -> Vec<String> {
            let r = self.kind(kind);
            let mut names: BTreeSet<String> = before.iter().cloned().collect();
            names.extend(r.owned());
            for gone in &r.deleted {
                names.remove(gone);
            }
            names.into_iter().collect()
        };
        let alias_report = self.kind(Kind::WriteAlias);
        let alias_owned = !alias_report.owned().is_empty()
            || (before.write_alias.is_some() && alias_report.deleted.is_empty());
        AppliedStatus {
            ilm_policies: merge(Kind::IlmPolicy, &before.ilm_policies),
            component_templates: merge(Kind::ComponentTemplate, &before.component_templates),
            index_templates: merge(Kind::IndexTemplate, &before.index_templates),
            write_alias: alias_owned.then(|| alias.to_string()),
            write_index: self
                .write_index
                .clone()
                .or_else(|| before.write_index.clone()),
            snapshot_repositories: merge(Kind::SnapshotRepository, &before.snapshot_repositories),
            slm_policies: merge(Kind::SlmPolicy, &before.slm_policies),
            roles: merge(Kind::Role, &before.roles),
            users: merge(Kind::User, &before.users),
            // Kibana's, not Elasticsearch's: kept as recorded (the dashboards step of the
            // status records them).
            saved_objects: previous.saved_objects.clone(),
        }
    }
}

//! Pruning (I/O): delete what this resource owns and no longer wants, dependents first;
//! what Elasticsearch refuses to delete because it is in use is kept and reported. With
//! `deletionPolicy: Delete`, the indices behind the write alias too.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::kinds::{COMPONENT, ILM, INDEX_TEMPLATE, Ops, REPOSITORY, ROLE, SLM, USER, encode};
use super::{Abort, Kind, KindReport, Pass, fail};
use crate::api::AppliedStatus;
use crate::elastic::client::{EsClient, EsError};
use crate::elastic::desired::{DesiredConfig, marker_owner, repository_marker};

impl Pass<'_> {
    /// Deletes owned objects that are no longer desired, dependents first.
    pub(super) async fn prune_all(
        &mut self,
        desired: &DesiredConfig,
        prev: &AppliedStatus,
    ) -> Result<(), Abort> {
        let slm = self.prune(&SLM, names(&desired.slm_policies)).await?;
        // A repository is kept while any SLM policy (ours or a user's) still uses it.
        let mut used: BTreeMap<String, String> = BTreeMap::new();
        for (id, policy) in self.current.get(Kind::SlmPolicy) {
            if slm.contains(id) {
                continue;
            }
            if let Some(repo) = policy.get("repository").and_then(Value::as_str) {
                used.insert(repo.to_string(), id.clone());
            }
        }
        let wanted_repos = names(&desired.repositories);
        let owner = self.owner;
        let kind_report = self
            .report
            .kinds
            .entry(Kind::SnapshotRepository)
            .or_default();
        // Ours: carrying this resource's marker, or unmarked and applied by it before (from
        // before repositories were marked). Another resource's marker: never.
        let listed = self.current.get(Kind::SnapshotRepository);
        let ours = listed.iter().filter(|(name, body)| {
            match marker_owner(repository_marker(body).as_ref()) {
                Some(o) => o == owner,
                None => prev.snapshot_repositories.contains(name),
            }
        });
        for (name, _) in ours {
            if wanted_repos.contains(name) {
                continue;
            }
            if let Some(policy) = used.get(name) {
                let why = format!("still used by SLM policy {policy}");
                kind_report.retained.push((name.clone(), why));
                continue;
            }
            delete(self.client, &REPOSITORY, name, kind_report).await?;
        }
        for (ops, wanted) in [
            (&INDEX_TEMPLATE, names(&desired.index_templates)),
            (&COMPONENT, names(&desired.component_templates)),
            (&ILM, names(&desired.ilm_policies)),
            (&USER, names(&desired.users)),
            (&ROLE, names(&desired.roles)),
        ] {
            self.prune(ops, wanted).await?;
        }
        Ok(())
    }

    /// Deletes the objects of `ops.kind` that carry this resource's marker and are not
    /// `wanted`. Returns the names deleted.
    async fn prune(
        &mut self,
        ops: &Ops,
        wanted: BTreeSet<&String>,
    ) -> Result<BTreeSet<String>, Abort> {
        let kind_report = self.report.kinds.entry(ops.kind).or_default();
        let mut deleted = BTreeSet::new();
        for (name, body) in self.current.get(ops.kind) {
            if wanted.contains(name)
                || marker_owner((ops.marker)(body).as_ref()) != Some(self.owner)
            {
                continue;
            }
            if delete(self.client, ops, name, kind_report).await? {
                deleted.insert(name.clone());
            }
        }
        Ok(deleted)
    }

    /// Deletes the indices behind `alias` (deletionPolicy Delete), found through the alias
    /// (rolled-over indices keep it as a read alias): only indices named `<alias>-NNNNNN`
    /// whose mappings carry this resource's marker. Others are kept and reported.
    pub(super) async fn delete_backing_indices(&mut self, alias: &str) -> Result<(), Abort> {
        let client = self.client;
        let report = self.report.kinds.entry(Kind::WriteAlias).or_default();
        // No alias (never created, or removed by hand): the dead-letter index may still be
        // there.
        let mut found = match client
            .get(
                "indices.get_mapping",
                &format!("/{}/_mapping", encode(alias)),
            )
            .await
        {
            Ok(Some(found)) => found,
            Ok(None) => json!({}),
            Err(e) => return fail(report, alias, e, false),
        };
        let prefix = format!("{alias}-");
        let deadletter = format!("{alias}-deadletter");
        if let Ok(Some(Value::Object(more))) = client
            .get(
                "indices.get_mapping",
                &format!("/{}/_mapping", encode(&deadletter)),
            )
            .await
            && let Some(map) = found.as_object_mut()
        {
            map.extend(more);
        }
        let mut indices = Vec::new();
        for (index, mapping) in found.as_object().into_iter().flatten() {
            if !index.starts_with(&prefix) {
                continue;
            }
            match marker_owner(mapping.pointer("/mappings/_meta")) {
                Some(o) if o == self.owner => indices.push(index.clone()),
                Some(other) => report
                    .retained
                    .push((index.clone(), format!("belongs to MeshLogging {other}"))),
                None => report.retained.push((
                    index.clone(),
                    "not marked as this MeshLogging's; delete it by hand if it is".to_string(),
                )),
            }
        }
        if indices.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = indices.iter().map(|i| encode(i)).collect();
        match client
            .delete("indices.delete", &format!("/{}", list.join(",")))
            .await
        {
            Ok(_) => {
                report.deleted.extend(indices);
                Ok(())
            }
            Err(e) => fail(report, alias, e, true),
        }
    }
}

/// The names of a desired kind.
fn names<V>(desired: &BTreeMap<String, V>) -> BTreeSet<&String> {
    desired.keys().collect()
}

/// Deletes one object; Elasticsearch's refusal because it is in use keeps it as retained.
async fn delete(
    client: &EsClient,
    ops: &Ops,
    name: &str,
    report: &mut KindReport,
) -> Result<bool, Abort> {
    match client.delete(ops.api, &ops.path(name)).await {
        Ok(_) => {
            report.deleted.push(name.to_string());
            Ok(true)
        }
        Err(EsError::Api { status, reason, .. }) if status == 400 || status == 409 => {
            report.retained.push((name.to_string(), reason));
            Ok(false)
        }
        Err(e) => fail(report, name, e, true).map(|()| false),
    }
}

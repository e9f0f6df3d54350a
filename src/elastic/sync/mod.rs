//! Sync (I/O): bring Elasticsearch to the desired configuration and report what happened.
//!
//! ```text
//! GET /                                   version (8.x or 9.x) and reachability
//! ILM policy, component templates         list all (1 GET per kind), PUT what differs
//! index template                          (after the templates it composes)
//! write alias                             GET /_alias/<alias>; PUT <alias>-000001 once
//! roles, users                            list; PUT; passwords checked by authenticating
//! snapshot repositories, SLM policies     list; PUT (repositories first)
//! prune                                   DELETE what carries this resource's marker (or,
//!                                         unmarked, what it applied before) and is
//!                                         no longer wanted: SLM, repositories, index
//!                                         template, component templates, ILM, users, roles
//! ```
//!
//! Objects are compared after [`normalize`](super::normalize): a sync with nothing to change
//! makes no write at all (rewriting an SLM policy reschedules it). Objects without this
//! resource's marker are never changed or deleted. One failing object does not stop the
//! others; an unreachable Elasticsearch or refused credentials stop the pass.
//!
//! This module is the pass, in order; `kinds` holds the table of kinds, `apply` the
//! generic apply of one object, `alias` the write alias and dead-letter index, `users`
//! the users and their passwords, `prune` the deletes, and `report` what a pass did.

mod alias;
mod apply;
mod kinds;
mod prune;
mod report;
mod users;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

pub use kinds::Kind;
pub use report::{Failure, KindReport, SyncReport};

use super::client::{EsClient, EsError};
use super::desired::{DesiredConfig, WriteAlias};
use crate::api::AppliedStatus;
use kinds::{COMPONENT, Current, ILM, INDEX_TEMPLATE, REPOSITORY, ROLE, SLM, USER};

/// Passwords of the users the operator manages (read from their Secrets).
#[derive(Clone, PartialEq, Eq)]
pub struct Passwords {
    /// The collector user's password.
    pub collector: String,
    /// Kibana's password, when Kibana is enabled.
    pub kibana: Option<String>,
    /// The password of the operator's Kibana user, when the dashboards need it.
    pub dashboards: Option<String>,
    /// The `elastic` user's password, once a rotation changed it (managed mode).
    pub elastic: Option<String>,
}

impl fmt::Debug for Passwords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passwords(<redacted>)")
    }
}

/// What sync needs besides the desired configuration.
#[derive(Clone, Debug)]
pub struct SyncInput<'a> {
    /// Passwords of managed users.
    pub passwords: &'a Passwords,
    /// What the previous pass applied (status), the ownership record of repositories.
    pub previously_applied: &'a AppliedStatus,
    /// Repositories whose credentials Secret is missing: not applied, reported.
    pub missing_credentials: &'a BTreeMap<String, String>,
}

/// Brings Elasticsearch to `desired`.
pub async fn sync(client: &EsClient, desired: &DesiredConfig, input: SyncInput<'_>) -> SyncReport {
    let mut pass = Pass::new(client, &desired.owner);
    let result = pass.run(desired, &input).await;
    pass.finish(result)
}

/// Deletes everything `owner` owns (finalizer): SLM policies, repositories it applied,
/// templates, the ILM policy (kept while indices still use it), users and roles; with
/// `delete_indices`, the backing indices of `alias` first.
pub async fn cleanup(
    client: &EsClient,
    owner: &str,
    alias: &str,
    previously_applied: &AppliedStatus,
    delete_indices: bool,
) -> SyncReport {
    let mut pass = Pass::new(client, owner);
    let result = pass.clean(alias, previously_applied, delete_indices).await;
    pass.finish(result)
}

/// Aborts the pass: the error is not about one object.
struct Abort(EsError);

/// One pass: whose objects, what was listed, and what happened so far.
struct Pass<'a> {
    client: &'a EsClient,
    owner: &'a str,
    current: Current,
    report: SyncReport,
}

impl<'a> Pass<'a> {
    fn new(client: &'a EsClient, owner: &'a str) -> Self {
        Self {
            client,
            owner,
            current: Current::default(),
            report: SyncReport::default(),
        }
    }

    /// The report, with the reason the pass stopped early if it did.
    fn finish(mut self, result: Result<(), Abort>) -> SyncReport {
        if let Err(Abort(e)) = result {
            self.report.aborted = Some(Failure::of(self.client.url(), &e, false));
        }
        self.report
    }

    async fn run(&mut self, desired: &DesiredConfig, input: &SyncInput<'_>) -> Result<(), Abort> {
        self.report.version = Some(self.client.version().await.map_err(Abort)?);
        let prev = input.previously_applied;
        let none = BTreeMap::new();

        self.apply(&ILM, &desired.ilm_policies, &none, &prev.ilm_policies)
            .await?;
        // Without ILM the cluster refuses `index.lifecycle.*` settings: the templates go
        // without them (and the ILM policy is reported as not supported).
        let components = if self.report.unsupported.contains_key(&Kind::IlmPolicy) {
            desired.component_templates_without_lifecycle()
        } else {
            desired.component_templates.clone()
        };
        self.apply(&COMPONENT, &components, &none, &prev.component_templates)
            .await?;
        // An index template composed of component templates that did not apply would be
        // refused by Elasticsearch; say why instead.
        let templates = &desired.index_templates;
        let skip_index = self.blocked(templates, Kind::ComponentTemplate, composed_of, |m| {
            format!("not applied: component template(s) {m} failed")
        });
        self.apply(
            &INDEX_TEMPLATE,
            templates,
            &skip_index,
            &prev.index_templates,
        )
        .await?;

        let templates_ok = !desired.index_templates.is_empty()
            && self.not_applied(Kind::IndexTemplate).is_empty()
            && (self.not_applied(Kind::IlmPolicy).is_empty()
                || self.report.unsupported.contains_key(&Kind::IlmPolicy));
        let previously_ours =
            prev.write_alias.as_deref() == Some(desired.write_alias.alias.as_str());
        self.write_alias(desired, templates_ok, previously_ours)
            .await?;

        self.apply(&ROLE, &desired.roles, &none, &prev.roles)
            .await?;
        self.deadletter_index(desired).await?;

        // The collector's user exists only once the alias it writes to is this resource's:
        // before that, its writes could land in someone else's index or make one.
        let alias_ready = self.report.kind(Kind::WriteAlias).failed.is_empty();
        self.users(desired, input.passwords, &prev.users, alias_ready)
            .await?;

        let repositories: BTreeMap<String, Value> = desired
            .repositories
            .iter()
            .map(|(n, r)| (n.clone(), r.body.clone()))
            .collect();
        self.apply(
            &REPOSITORY,
            &repositories,
            input.missing_credentials,
            &prev.snapshot_repositories,
        )
        .await?;
        let policies = &desired.slm_policies;
        let skip_slm = self.blocked(policies, Kind::SnapshotRepository, repository_of, |r| {
            format!("not applied: snapshot repository {r} is not applied")
        });
        self.apply(&SLM, policies, &skip_slm, &prev.slm_policies)
            .await?;

        self.prune_all(desired, prev).await
    }

    /// The finalizer's pass: list what may be this resource's, delete it.
    async fn clean(
        &mut self,
        alias: &str,
        previously_applied: &AppliedStatus,
        delete_indices: bool,
    ) -> Result<(), Abort> {
        self.report.version = Some(self.client.version().await.map_err(Abort)?);
        if delete_indices {
            self.delete_backing_indices(alias).await?;
        }
        for ops in [
            &ILM,
            &COMPONENT,
            &INDEX_TEMPLATE,
            &ROLE,
            &USER,
            &REPOSITORY,
            &SLM,
        ] {
            self.list(ops).await?;
        }
        let nothing = DesiredConfig {
            owner: self.owner.to_string(),
            ilm_policies: BTreeMap::new(),
            component_templates: BTreeMap::new(),
            index_templates: BTreeMap::new(),
            write_alias: WriteAlias {
                alias: alias.to_string(),
                bootstrap_index: String::new(),
                body: Value::Null,
            },
            deadletter_index: String::new(),
            roles: BTreeMap::new(),
            users: BTreeMap::new(),
            repositories: BTreeMap::new(),
            slm_policies: BTreeMap::new(),
        };
        self.prune_all(&nothing, previously_applied).await
    }

    /// Desired names of `kind` that failed this pass.
    fn not_applied(&self, kind: Kind) -> BTreeSet<String> {
        self.report
            .kind(kind)
            .failed
            .into_iter()
            .map(|f| f.name)
            .collect()
    }

    /// The objects of `wanted` that use objects of `on` that failed this pass (`uses`
    /// names what one uses), with `why` they are not applied (given the failed names).
    fn blocked(
        &self,
        wanted: &BTreeMap<String, Value>,
        on: Kind,
        uses: impl Fn(&Value) -> Vec<&str>,
        why: impl Fn(&str) -> String,
    ) -> BTreeMap<String, String> {
        let failed = self.not_applied(on);
        wanted
            .iter()
            .filter_map(|(name, body)| {
                let missing: Vec<&str> = uses(body)
                    .into_iter()
                    .filter(|used| failed.contains(*used))
                    .collect();
                (!missing.is_empty()).then(|| (name.clone(), why(&missing.join(", "))))
            })
            .collect()
    }
}

/// The component templates an index template is composed of.
fn composed_of(template: &Value) -> Vec<&str> {
    template
        .get("composed_of")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The repository an SLM policy snapshots to.
fn repository_of(policy: &Value) -> Vec<&str> {
    policy
        .get("repository")
        .and_then(Value::as_str)
        .into_iter()
        .collect()
}

/// Records `e` against `name`, or aborts the pass when it is not about the object.
fn fail(report: &mut KindReport, name: &str, e: EsError, exists: bool) -> Result<(), Abort> {
    if matches!(
        e,
        EsError::Unreachable { .. } | EsError::Unauthorized { .. }
    ) {
        return Err(Abort(e));
    }
    report.failed.push(Failure::of(name, &e, exists));
    Ok(())
}

/// Records the outcome of one write of `name`: created (or, `!created`, updated), or the
/// failure (an object that existed before a failed update still does).
async fn record(
    report: &mut KindReport,
    name: &str,
    created: bool,
    write: impl Future<Output = Result<Value, EsError>>,
) -> Result<(), Abort> {
    match write.await {
        Ok(_) if created => report.created.push(name.to_string()),
        Ok(_) => report.updated.push(name.to_string()),
        Err(e) => return fail(report, name, e, !created),
    }
    Ok(())
}

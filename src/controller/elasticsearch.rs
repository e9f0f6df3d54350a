//! Step 5 of a pass: Elasticsearch, observed and configured. Health first; at yellow or
//! green the configuration is synced. Only on a change the pass depends on, or when its
//! interval is up: a child's status change (a DaemonSet rollout) is no reason to talk to
//! Elasticsearch again.

use std::time::Instant;

use kube::runtime::events::EventType;
use tracing::info;

use super::children::Applied;
use super::dereference::Dereferenced;
use super::finish::Pass;
use super::{Context, Settings};
use crate::elastic::sync::{Passwords, SyncInput};
use crate::elastic::{EsClient, SyncReport, desired, sync};
use crate::status::EsObservation;
use crate::validate::Validated;

/// What the step saw and did.
#[derive(Debug, Default)]
pub struct EsPass {
    /// Health, version, why it is unavailable.
    pub observation: EsObservation,
    /// The sync's report, when it ran (or the remembered one).
    pub report: Option<SyncReport>,
}

/// An Elasticsearch pass, kept so that reconciles caused by child status changes (a
/// collector rollout, a Kibana restart) do not repeat it.
#[derive(Clone)]
pub struct LastSync {
    /// Fingerprint of what the pass depended on: the spec's generation, the credentials,
    /// the repositories' Secrets and the Elasticsearch pods' readiness.
    inputs: String,
    at: Instant,
    health: String,
    report: SyncReport,
}

impl LastSync {
    /// Still good for a reconcile with `inputs` under `settings`: same inputs, within the
    /// resync interval (the pending one after anything but a clean pass).
    fn reusable(&self, inputs: &str, settings: &Settings) -> bool {
        let clean = self.report.aborted.is_none()
            && self.report.kinds.values().all(|k| k.failed.is_empty());
        let interval = if clean {
            settings.resync_ready
        } else {
            settings.resync_pending
        };
        self.inputs == inputs && self.at.elapsed() < interval
    }
}

/// The step. Never fails the pass: what goes wrong is observed and reported in status.
pub async fn observe_and_sync(
    ctx: &Context,
    pass: &Pass,
    v: &Validated,
    refs: &Dereferenced,
    applied: &Applied,
) -> EsPass {
    let nodes = applied.workloads.elasticsearch;
    let mut es = EsPass {
        observation: EsObservation {
            endpoint: Some(v.es_url()),
            nodes,
            ..Default::default()
        },
        report: None,
    };
    let Some(secrets) = &refs.secrets else {
        let why = refs.credentials_missing.clone().unwrap_or_default();
        es.observation.unavailable = Some(("CredentialsMissing".into(), why));
        return es;
    };
    let inputs = crate::fingerprint::of_parts([
        pass.generation.unwrap_or_default().to_string().as_str(),
        &format!("{:?}", secrets.fingerprints),
        &format!("{:?}", refs.missing_repository_credentials),
        &format!("{nodes:?}"),
    ]);
    if let Some(last) = ctx
        .last_sync(&pass.uid)
        .filter(|last| last.reusable(&inputs, &ctx.settings))
    {
        es.observation.health = Some(last.health);
        es.observation.version = last.report.version.map(|v| v.to_string());
        es.report = Some(last.report);
        return es;
    }
    let client = match ctx.es_client(v, secrets.admin.clone(), secrets.es_ca_pem.clone()) {
        Ok(client) => client,
        Err(e) => {
            es.observation.unavailable = Some((e.category().into(), e.to_string()));
            return es;
        }
    };
    let health = match client.health().await {
        Ok(health) => health,
        Err(e) => {
            es.observation.unavailable = Some((e.category().into(), e.to_string()));
            return es;
        }
    };
    es.observation.health = Some(health.clone());
    if health == "red" {
        return es;
    }
    let passwords = Passwords {
        collector: secrets.collector_password.clone(),
        kibana: secrets.kibana_password.clone(),
    };
    let report = configure(ctx, pass, v, &client, &passwords, refs).await;
    es.observation.version = report.version.map(|v| v.to_string());
    if let Some(a) = &report.aborted {
        es.observation.unavailable = Some((a.reason.into(), a.message.clone()));
    }
    ctx.remember_sync(
        &pass.uid,
        LastSync {
            inputs,
            at: Instant::now(),
            health,
            report: report.clone(),
        },
    );
    es.report = Some(report);
    es
}

/// Syncs the desired configuration and announces what changed.
async fn configure(
    ctx: &Context,
    pass: &Pass,
    v: &Validated,
    client: &EsClient,
    passwords: &Passwords,
    refs: &Dereferenced,
) -> SyncReport {
    let wanted = desired(v);
    let previously = pass
        .previous
        .as_ref()
        .and_then(|s| s.applied.clone())
        .unwrap_or_default();
    let report = sync(
        client,
        &wanted,
        SyncInput {
            passwords,
            previously_applied: &previously,
            missing_credentials: &refs.missing_repository_credentials,
        },
    )
    .await;
    announce(ctx, pass, &report).await;
    report
}

/// Events for what the sync changed, and metrics of its failures (the failures are
/// announced with the conditions).
async fn announce(ctx: &Context, pass: &Pass, report: &SyncReport) {
    let mut changes = Vec::new();
    for (kind, r) in &report.kinds {
        for (verb, names) in [
            ("created", &r.created),
            ("updated", &r.updated),
            ("deleted", &r.deleted),
        ] {
            for n in names {
                changes.push(format!("{verb} {kind} {n}"));
            }
        }
        for f in &r.failed {
            ctx.metrics.sync_failure(kind.as_str(), f.reason);
        }
    }
    if !changes.is_empty() {
        info!(changes = ?changes, "configured Elasticsearch");
        ctx.publish(
            &pass.reference,
            EventType::Normal,
            "ElasticsearchConfigured",
            changes.join(", "),
        )
        .await;
    }
}

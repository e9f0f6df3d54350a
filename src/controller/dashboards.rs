//! The Kibana step of an Elasticsearch pass (I/O): once Elasticsearch is configured (the
//! operator's Kibana user exists), keep the resource's saved objects in Kibana
//! ([`kibana::sync`]), or remove them when dashboards were turned off ([`kibana::remove`]);
//! and the same removal on deletion.
//!
//! ```text
//! ES sync done ─► dashboards wanted? ─yes─► Kibana ready? ─► sync (status, _bulk_get, _import what differs, _find)
//!                     └─no, objects recorded in status.applied ─► remove (only the resource's own)
//! ```
//!
//! Kibana down or starting is `DashboardsReady=False/KibanaUnavailable`, retried with a
//! backoff of its own ([`super::elasticsearch`]); it never holds up `Ready`.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::EventType;
use tracing::{debug, info};

use super::Context;
use crate::elastic::Credentials;
use crate::elastic::sync::{Kind, SyncReport};
use crate::kibana::{self, KibanaClient, KibanaError, KibanaReport};
use crate::reason::Reason;
use crate::status::DashboardsObservation;
use crate::validate::Validated;

/// What the Kibana step needs besides the context.
pub(super) struct DashboardsInput<'a> {
    /// The resource.
    pub v: &'a Validated,
    /// The password of the operator's Kibana user.
    pub password: Option<&'a str>,
    /// Kibana has at least one ready replica.
    pub kibana_ready: bool,
    /// `status.applied.savedObjects` before this pass.
    pub previously: &'a [String],
    /// Where events go.
    pub reference: &'a ObjectReference,
}

/// Whether the pass must keep the operator's Kibana user although dashboards are off: its
/// objects are still recorded, to be removed as that user.
pub(super) fn removal_pending(v: &Validated, previously: &[String]) -> bool {
    !v.dashboards_enabled() && v.kibana.is_some() && !previously.is_empty()
}

/// The step, after a sync that was not aborted.
pub(super) async fn step(
    ctx: &Context,
    input: DashboardsInput<'_>,
    es: &SyncReport,
) -> DashboardsObservation {
    let v = input.v;
    let remove = removal_pending(v, input.previously);
    if !v.dashboards_enabled() && !remove {
        return DashboardsObservation::Disabled;
    }
    let user = v.names.dashboards_user();
    if let Some(f) = es.kind(Kind::User).failed.iter().find(|f| f.name == user) {
        return DashboardsObservation::Failed(
            Reason::DependencyFailed,
            format!(
                "the operator's Kibana user {user} is not in Elasticsearch: {}",
                f.message
            ),
        );
    }
    if !input.kibana_ready {
        return DashboardsObservation::Waiting(
            Reason::KibanaUnavailable,
            "Kibana has no ready replica".to_string(),
        );
    }
    let credentials = input.password.map(|password| Credentials {
        username: user,
        password: password.to_string(),
    });
    let client = match kibana_client(ctx, v, credentials) {
        Ok(Some(client)) => client,
        Ok(None) => {
            return DashboardsObservation::Waiting(
                Reason::KibanaUnavailable,
                "this operator has no way to reach Kibana".to_string(),
            );
        }
        Err(e) => return failed(&e),
    };
    let desired = kibana::objects(v);
    if remove {
        return match kibana::remove(&client, &desired).await {
            Ok(report) => {
                announce(ctx, input.reference, &report).await;
                DashboardsObservation::Removed(report)
            }
            Err(e) => failed(&e),
        };
    }
    match kibana::sync(&client, &desired).await {
        Ok(report) => {
            announce(ctx, input.reference, &report).await;
            let objects = in_place(&desired, &report);
            DashboardsObservation::Synced { report, objects }
        }
        Err(e) => failed(&e),
    }
}

/// A client of `v`'s Kibana as `user`, with the operator's request timeout and retries;
/// `None` when the endpoint knows no Kibana.
pub(super) fn kibana_client(
    ctx: &Context,
    v: &Validated,
    user: Option<Credentials>,
) -> Result<Option<KibanaClient>, KibanaError> {
    let Some(mut config) = ctx.endpoint.kibana_config(v, user) else {
        return Ok(None);
    };
    config.request_timeout = ctx.settings.es_request_timeout;
    config.retry = ctx.settings.es_retry;
    KibanaClient::new(config).map(Some)
}

/// The failure as the condition shows it: a bounded reason, a stable message (the raw
/// error goes to the log).
fn failed(e: &KibanaError) -> DashboardsObservation {
    debug!(error = %e, "Kibana step failed");
    let reason = Reason::parse(e.category()).unwrap_or(Reason::KibanaError);
    DashboardsObservation::Failed(reason, e.to_string())
}

/// The desired objects Kibana holds as desired: neither refused nor someone else's.
fn in_place(desired: &kibana::DesiredObjects, report: &KibanaReport) -> Vec<String> {
    let skip = |kind: &str, id: &str| {
        report
            .failed
            .iter()
            .map(|f| &f.object)
            .chain(&report.not_owned)
            .any(|o| o.kind == kind && o.id == id)
    };
    desired
        .keys()
        .into_iter()
        .filter(|(kind, id)| !skip(kind, id))
        .map(|(kind, id)| format!("{kind}/{id}"))
        .collect()
}

/// A Normal event naming what the pass created, restored or deleted in Kibana (nothing on
/// a pass that changed nothing).
async fn announce(ctx: &Context, reference: &ObjectReference, report: &KibanaReport) {
    let mut changes = Vec::new();
    for (verb, objects) in [
        ("created", &report.created),
        ("restored", &report.updated),
        ("deleted", &report.deleted),
    ] {
        // A few are named; many (a first import, a removal) are counted.
        if objects.len() > 3 {
            changes.push(format!("{verb} {} saved objects", objects.len()));
        } else {
            changes.extend(
                objects
                    .iter()
                    .map(|o| format!("{verb} {} {}", o.kind, o.id)),
            );
        }
    }
    if changes.is_empty() {
        return;
    }
    info!(changes = ?changes, "configured Kibana");
    ctx.publish(
        reference,
        EventType::Normal,
        Reason::DashboardsConfigured,
        format!("Kibana: {}", changes.join(", ")),
    )
    .await;
}

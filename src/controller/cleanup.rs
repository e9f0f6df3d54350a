//! Deletion of a MeshLogging: its saved objects in Kibana (bounded in time; before the
//! Elasticsearch cleanup deletes the user the operator signs in to Kibana as), the
//! Elasticsearch objects it owns (bounded in time), the
//! cluster-scoped ClusterRoleBinding (only when it is this resource's), and the PVCs when
//! `deletionPolicy: Delete`. Namespaced children go with their owner reference.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{Api, DeleteParams, ListParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use tracing::info;

use super::apply::OWNER_UID_ANNOTATION;
use super::dashboards::kibana_client;
use super::{Context, secrets};
use crate::api::{DeletionPolicy, MeshLogging};
use crate::elastic::SyncReport;
use crate::elastic::sync::cleanup as es_cleanup;
use crate::error::Result;
use crate::naming as names;
use crate::reason::Reason;
use crate::render::collector::OWNER_ANNOTATION;
use crate::render::labels;
use crate::validate::validate;

/// What became of the Elasticsearch objects of a deleted resource.
#[derive(Debug)]
pub enum EsCleanup {
    /// Removed (the report says what, and what was kept and why).
    Done(SyncReport),
    /// Not removed: why (credentials gone, Elasticsearch refused or aborted).
    Incomplete(String),
    /// Elasticsearch did not answer within the bound: its objects were left in place.
    TimedOut(Duration),
    /// The spec does not validate: nothing is known to remove.
    InvalidSpec(String),
}

impl EsCleanup {
    /// The event announcing the outcome: (type, reason, note).
    pub fn event(&self) -> (EventType, Reason, String) {
        let incomplete = |note: String| (EventType::Warning, Reason::CleanupIncomplete, note);
        match self {
            Self::Done(report) => {
                let deleted: usize = report.kinds.values().map(|r| r.deleted.len()).sum();
                let kept: Vec<String> = report
                    .kinds
                    .values()
                    .flat_map(|r| r.retained.iter().map(|(n, why)| format!("{n} ({why})")))
                    .collect();
                let mut note = format!("deleted {deleted} Elasticsearch objects");
                if !kept.is_empty() {
                    note.push_str(&format!("; kept {}", kept.join(", ")));
                }
                if !report.unsupported.is_empty() {
                    let kinds: Vec<&str> = report.unsupported.keys().map(|k| k.as_str()).collect();
                    note.push_str(&format!(
                        "; this cluster does not serve: {}",
                        kinds.join(", ")
                    ));
                }
                (EventType::Normal, Reason::ElasticsearchCleanedUp, note)
            }
            Self::Incomplete(why) => {
                incomplete(format!("Elasticsearch objects were not removed: {why}"))
            }
            Self::TimedOut(bound) => incomplete(format!(
                "Elasticsearch did not answer within {bound:?}; its objects were left in place"
            )),
            Self::InvalidSpec(e) => incomplete(format!(
                "invalid spec, Elasticsearch objects were not removed: {e}"
            )),
        }
    }
}

/// The cleanup of a resource being deleted.
pub async fn cleanup(ml: Arc<MeshLogging>, ctx: &Context) -> Result<Action> {
    let ns = ml.namespace().unwrap_or_default();
    let name = ml.name_any();
    let reference = ml.object_ref(&());
    let delete_data = ml.spec.deletion_policy == DeletionPolicy::Delete;
    ctx.forget(&ml.uid().unwrap_or_default());

    if let Some((type_, reason, note)) = kibana(&ml, ctx).await {
        ctx.publish(&reference, type_, reason, note).await;
    }
    let (type_, reason, note) = elasticsearch(&ml, ctx, delete_data).await.event();
    ctx.publish(&reference, type_, reason, note).await;
    delete_bindings(&ml, ctx).await?;
    if delete_data {
        let deleted = delete_volumes(ctx, &ns, &name).await?;
        if !deleted.is_empty() {
            let note = format!(
                "deletionPolicy Delete: deleted PersistentVolumeClaims {}",
                deleted.join(", ")
            );
            ctx.publish(&reference, EventType::Normal, Reason::DataDeleted, note)
                .await;
        }
    }
    ctx.metrics.forget(&ns, &name);
    ctx.realms.forget(&format!("{ns}/{name}"));
    ctx.caches().verified.forget(&format!("{ns}/{name}"));
    ctx.logins.forget(&format!("{ns}/{name}"));
    info!("cleaned up");
    Ok(Action::await_change())
}

/// Removes the Elasticsearch objects the resource owns (its backing indices too when
/// `delete_data`), within [`super::Settings::cleanup_timeout`].
async fn elasticsearch(ml: &MeshLogging, ctx: &Context, delete_data: bool) -> EsCleanup {
    let v = match validate(ml) {
        Ok(v) => v,
        Err(e) => return EsCleanup::InvalidSpec(e.to_string()),
    };
    let previously = ml
        .status
        .as_ref()
        .and_then(|s| s.applied.clone())
        .unwrap_or_default();
    let bound = ctx.settings.cleanup_timeout;
    let run = async {
        let admin = match secrets::admin(&ctx.client, &v).await {
            Ok(Some(admin)) => admin,
            Ok(None) => return EsCleanup::Incomplete("its credentials are gone".into()),
            Err(e) => return EsCleanup::Incomplete(e.to_string()),
        };
        let (admin, ca) = admin;
        let es = match ctx.es_client(&v, Some(admin), ca) {
            Ok(es) => es,
            Err(e) => return EsCleanup::Incomplete(e.to_string()),
        };
        let alias = &v.index().name;
        let report = es_cleanup(&es, &v.owner(), alias, &previously, delete_data).await;
        match report.aborted {
            Some(a) => EsCleanup::Incomplete(a.message),
            None => EsCleanup::Done(report),
        }
    };
    tokio::time::timeout(bound, run)
        .await
        .unwrap_or(EsCleanup::TimedOut(bound))
}

/// Removes the resource's saved objects from Kibana (only its own), within
/// [`super::Settings::cleanup_timeout`], when status records any. The event announcing the
/// outcome; `None` when there was nothing to remove.
async fn kibana(ml: &MeshLogging, ctx: &Context) -> Option<(EventType, Reason, String)> {
    let recorded = ml
        .status
        .as_ref()
        .and_then(|s| s.applied.as_ref())
        .is_some_and(|a| !a.saved_objects.is_empty());
    if !recorded {
        return None;
    }
    let v = validate(ml).ok()?;
    let incomplete = |why: String| {
        let note = format!("saved objects were not removed from Kibana: {why}");
        (EventType::Warning, Reason::CleanupIncomplete, note)
    };
    let bound = ctx.settings.cleanup_timeout;
    let run = async {
        let user = match secrets::dashboards_user(&ctx.client, &v).await {
            Ok(user) => user,
            Err(e) => return incomplete(e.to_string()),
        };
        let client = match kibana_client(ctx, &v, user) {
            Ok(Some(client)) => client,
            Ok(None) => return incomplete("this operator has no way to reach Kibana".into()),
            Err(e) => return incomplete(e.to_string()),
        };
        match crate::kibana::remove(&client, &crate::kibana::objects(&v)).await {
            Ok(report) => {
                let mut note =
                    format!("deleted {} saved objects from Kibana", report.deleted.len());
                if !report.not_owned.is_empty() {
                    note.push_str(&format!(
                        "; left {} that are not this resource's",
                        report.not_owned.len()
                    ));
                }
                (EventType::Normal, Reason::DashboardsConfigured, note)
            }
            Err(e) => incomplete(e.to_string()),
        }
    };
    Some(
        tokio::time::timeout(bound, run)
            .await
            .unwrap_or_else(|_| incomplete(format!("Kibana did not answer within {bound:?}"))),
    )
}

/// Cluster-scoped children: a namespaced owner cannot own them. The binding is deleted
/// only when its annotations say it is this resource's (uid), and the delete is
/// conditional on the object read; the binding of the name used before the name became
/// unambiguous only when its owner annotation names this resource.
async fn delete_bindings(ml: &MeshLogging, ctx: &Context) -> Result<()> {
    let bindings: Api<ClusterRoleBinding> = Api::all(ctx.client.clone());
    let (ns, name) = (ml.namespace().unwrap_or_default(), ml.name_any());
    let uid = ml.uid().unwrap_or_default();
    let owner = format!("{ns}/{name}");
    for (binding, legacy) in [
        (names::collector_cluster_role_binding(&name, &ns), false),
        (
            names::legacy_collector_cluster_role_binding(&name, &ns),
            true,
        ),
    ] {
        let Some(existing) = bindings.get_opt(&binding).await? else {
            continue;
        };
        if !binding_is_ours(&existing, &uid, &owner, legacy) {
            info!(
                binding,
                "ClusterRoleBinding is not this resource's; left in place"
            );
            continue;
        }
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: existing.metadata.uid.clone(),
                resource_version: existing.metadata.resource_version.clone(),
            }),
            ..DeleteParams::default()
        };
        match bindings.delete(&binding, &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Whether a collector ClusterRoleBinding is this resource's: its uid annotation names it.
/// A binding of the legacy name predates that annotation: its `<namespace>/<name>`
/// annotation must name this resource (and a uid annotation, if any, must agree).
fn binding_is_ours(binding: &ClusterRoleBinding, uid: &str, owner: &str, legacy: bool) -> bool {
    let annotation = |key: &str| {
        binding
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .map(String::as_str)
    };
    let by_uid = annotation(OWNER_UID_ANNOTATION);
    if legacy {
        annotation(OWNER_ANNOTATION) == Some(owner) && by_uid.is_none_or(|u| u == uid)
    } else {
        !uid.is_empty() && by_uid == Some(uid)
    }
}

/// Deletes the Elasticsearch data volumes of the resource; returns the deleted claims.
async fn delete_volumes(ctx: &Context, ns: &str, name: &str) -> Result<Vec<String>> {
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), ns);
    let selector = format!(
        "{}={},{}={}",
        labels::INSTANCE,
        name,
        labels::NAME,
        labels::App::Elasticsearch.name()
    );
    let list = pvcs
        .list_metadata(&ListParams::default().labels(&selector))
        .await?;
    let mut deleted = Vec::new();
    for pvc in list.items {
        let pvc_name = pvc.metadata.name.unwrap_or_default();
        match pvcs.delete(&pvc_name, &DeleteParams::default()).await {
            Ok(_) => deleted.push(pvc_name),
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(deleted)
}

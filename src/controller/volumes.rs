//! Volume expansion of a managed cluster (I/O), run before the children are applied.
//!
//! ```text
//! spec storage.size > the live StatefulSet's claim template?
//!   └─ StorageClass (the claims' own, else the spec's) allows expansion?
//!        no  ─► nothing touched; Progressing/Ready False VolumeExpansionNotAllowed
//!        yes ─► PATCH each claim <template>-<sts>-<ordinal> below the size
//!               ─► DELETE the StatefulSet, propagationPolicy Orphan (pods kept)
//!               ─► (its deletion is watched) the normal apply creates it anew
//! ```
//!
//! A StatefulSet's volume claim templates are immutable, hence the recreation; its pods
//! and claims outlive it and the new StatefulSet adopts them. Until the old one is gone
//! the applier leaves it alone ([`Outcome::Deleting`](super::apply::Outcome::Deleting)).
//! Every step reads the cluster first, so an operator restarted half-way resumes: claims
//! already expanded are not patched again, and a StatefulSet already being deleted is
//! waited for. Nothing is read when the claim template already has the spec's size.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, Preconditions};
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::info;

use super::Context;
use super::apply::FIELD_MANAGER;
use super::finish::Pass;
use crate::api::units::quantity_value;
use crate::error::Result;
use crate::reason::Reason;
use crate::render::Child;
use crate::status::Operation;
use crate::validate::Validated;

/// The field a refusal names.
const FIELD: &str = "spec.elasticsearch.storage.size";

/// The step: expands the volumes when the spec asks for a larger size than the live
/// StatefulSet's claim template. When the expansion cannot (or must not yet) go through
/// the StatefulSet, the rendered one keeps the live claim templates, so the applier never
/// sends the immutable change.
pub async fn expand(
    ctx: &Context,
    pass: &Pass,
    v: &Validated,
    rendered: &mut [Child],
) -> Result<Option<Operation>> {
    if v.managed().is_none() {
        return Ok(None);
    }
    let Some(desired) = rendered.iter_mut().find_map(|c| match c {
        Child::StatefulSet(s) => Some(s),
        _ => None,
    }) else {
        return Ok(None);
    };
    let sts_name = desired.name_any();
    let api: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), &v.namespace);
    let cached = ctx.caches().stateful_set(&v.namespace, &sts_name);
    let live = match cached {
        Some(live) => live,
        None => match api.get_opt(&sts_name).await? {
            Some(live) => live,
            None => return Ok(None),
        },
    };
    let (Some(want), Some(have)) = (claim_size(desired), claim_size(&live)) else {
        return Ok(None);
    };
    if !larger(&want, &have) {
        return Ok(None);
    }
    // From here on the claim template is the live one until the StatefulSet is recreated.
    hold_claim_templates(desired, &live);
    let change = format!("{FIELD} {have} → {want}");
    if live.meta().deletion_timestamp.is_some() {
        return Ok(Some(Operation::in_progress(
            Reason::ExpandingVolumes,
            format!(
                "{change}: waiting for StatefulSet {sts_name} to be deleted (its pods are kept) to create it with the new volume claim template"
            ),
        )));
    }
    let template = claim_template_name(&live).unwrap_or_else(|| "data".to_string());
    let claims = claims_of(ctx, &v.namespace, &template, &sts_name).await?;
    let class = claims
        .iter()
        .find_map(|c| c.spec.as_ref()?.storage_class_name.clone())
        .or_else(|| claim_class(desired))
        .or_else(|| claim_class(&live));
    if let Some(why) = expansion_refused(ctx, class.as_deref()).await? {
        return Ok(Some(Operation::refused(
            Reason::VolumeExpansionNotAllowed,
            format!(
                "{change} needs the volumes expanded, but {why}: nothing was changed (set allowVolumeExpansion: true on the StorageClass, or restore the size)"
            ),
        )));
    }
    // Kubernetes resizes bound claims only; a pending one would later bind at the old
    // size: wait for it.
    let pending: Vec<String> = claims
        .iter()
        .filter(|c| c.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Bound"))
        .map(ResourceExt::name_any)
        .collect();
    if !pending.is_empty() {
        return Ok(Some(Operation::in_progress(
            Reason::ExpandingVolumes,
            format!(
                "{change}: waiting for PersistentVolumeClaims [{}] to be bound (a pending claim cannot be resized)",
                pending.join(", ")
            ),
        )));
    }
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &v.namespace);
    let mut expanded = Vec::new();
    for claim in &claims {
        if claim_request(claim).is_some_and(|size| !larger(&want, &size)) {
            continue;
        }
        let name = claim.name_any();
        let body = json!({"spec": {"resources": {"requests": {"storage": want}}}});
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PatchParams::default()
        };
        match pvcs.patch(&name, &params, &Patch::Merge(&body)).await {
            Ok(_) => expanded.push(name),
            // Refused (the resize admission plugin, a quota): say so, go no further.
            Err(kube::Error::Api(e)) if matches!(e.code, 403 | 422) => {
                return Ok(Some(Operation::refused(
                    Reason::VolumeExpansionNotAllowed,
                    format!(
                        "{change}: the API server refused to expand PersistentVolumeClaim {name}: {}",
                        e.message
                    ),
                )));
            }
            Err(e) => return Err(e.into()),
        }
    }
    // Orphan: the pods (and their claims) outlive the StatefulSet; the uid precondition
    // deletes this one only, never one created meanwhile.
    let delete = DeleteParams {
        preconditions: Some(Preconditions {
            uid: live.uid(),
            resource_version: None,
        }),
        ..DeleteParams::orphan()
    };
    match api.delete(&sts_name, &delete).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
        Err(e) => return Err(e.into()),
    }
    let note = format!(
        "{change}: expanded PersistentVolumeClaims [{}]; recreating StatefulSet {sts_name} for the new volume claim template (deleted with propagationPolicy Orphan: its pods keep running)",
        expanded.join(", ")
    );
    info!(statefulset = %sts_name, claims = ?expanded, "expanding volumes");
    ctx.publish(
        &pass.reference,
        EventType::Normal,
        Reason::ExpandingVolumes,
        note.clone(),
    )
    .await;
    Ok(Some(Operation::in_progress(Reason::ExpandingVolumes, note)))
}

/// Why the volumes of `class` cannot be expanded, or `None` when they can.
async fn expansion_refused(ctx: &Context, class: Option<&str>) -> Result<Option<String>> {
    let Some(class) = class else {
        return Ok(Some(
            "no StorageClass is known for the volumes (no storageClassName in the spec or on the PersistentVolumeClaims), so whether it allows expansion cannot be told".to_string(),
        ));
    };
    let classes: Api<StorageClass> = Api::all(ctx.client.clone());
    let found = match classes.get_opt(class).await {
        Ok(found) => found,
        // An installation with older RBAC: say so rather than fail the whole pass.
        Err(kube::Error::Api(e)) if e.code == 403 => {
            return Ok(Some(format!(
                "the operator may not read StorageClass {class} (its RBAC lacks get on storageclasses)"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(match found {
        None => Some(format!("StorageClass {class} does not exist")),
        Some(sc) if sc.allow_volume_expansion == Some(true) => None,
        Some(_) => Some(format!(
            "StorageClass {class} does not allow volume expansion (allowVolumeExpansion is not true)"
        )),
    })
}

/// The claims of the StatefulSet's pods, `<template>-<sts>-<ordinal>`, as its controller
/// names them (whatever labels they carry).
async fn claims_of(
    ctx: &Context,
    namespace: &str,
    template: &str,
    sts_name: &str,
) -> Result<Vec<PersistentVolumeClaim>> {
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), namespace);
    let prefix = format!("{template}-{sts_name}-");
    let mut claims: Vec<PersistentVolumeClaim> = pvcs
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|c| {
            c.name_any()
                .strip_prefix(&prefix)
                .is_some_and(|o| !o.is_empty() && o.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    claims.sort_by_key(|c| c.name_any());
    Ok(claims)
}

/// Whether quantity `a` is larger than `b` (unparsable: no).
fn larger(a: &str, b: &str) -> bool {
    match (quantity_value(a), quantity_value(b)) {
        (Some(a), Some(b)) => a > b,
        _ => false,
    }
}

fn first_template(sts: &StatefulSet) -> Option<&PersistentVolumeClaim> {
    sts.spec.as_ref()?.volume_claim_templates.as_ref()?.first()
}

fn claim_template_name(sts: &StatefulSet) -> Option<String> {
    first_template(sts)?.metadata.name.clone()
}

fn claim_class(sts: &StatefulSet) -> Option<String> {
    first_template(sts)?
        .spec
        .as_ref()?
        .storage_class_name
        .clone()
}

fn claim_size(sts: &StatefulSet) -> Option<String> {
    claim_request(first_template(sts)?)
}

/// The storage a claim requests.
fn claim_request(claim: &PersistentVolumeClaim) -> Option<String> {
    let requests = claim.spec.as_ref()?.resources.as_ref()?.requests.as_ref()?;
    requests.get("storage").map(|q| q.0.clone())
}

/// Gives `desired` the claim templates of `live`.
fn hold_claim_templates(desired: &mut StatefulSet, live: &StatefulSet) {
    let templates = live
        .spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.clone());
    if let Some(spec) = desired.spec.as_mut() {
        spec.volume_claim_templates = templates;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_compare_by_value() {
        assert!(larger("20Gi", "10Gi"));
        assert!(larger("1Ti", "1000Gi"));
        assert!(!larger("10240Mi", "10Gi"));
        assert!(!larger("10Gi", "20Gi"));
        assert!(!larger("lots", "10Gi"));
    }
}

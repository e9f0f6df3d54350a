//! `GET /_health_report/disk`: the disk indicator, as far as the stand-in knows disks. It
//! has no disks, so the indicator follows what it can see: indices with the flood-stage
//! block (`index.blocks.read_only_allow_delete`) make it red with Elasticsearch's own
//! symptom and impact; otherwise it is green. `verbose` (the default) adds the `details`
//! counts; the `diagnosis` list is not simulated.

use serde_json::json;

use super::{Ctx, Reply};
use crate::error::{EsError, EsResult};

pub fn disk(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let feature = ctx.param("feature").unwrap_or_default().to_string();
    if feature != "disk" {
        return Err(EsError::illegal_argument(format!(
            "es-sim: health indicator [{feature}] is not simulated"
        )));
    }
    let verbose = match ctx.q("verbose") {
        None => true,
        Some(_) => ctx.q_bool("verbose")?,
    };
    let state = &*ctx.state;
    let blocked: Vec<&String> = state
        .indices
        .iter()
        .filter(|(_, ix)| ix.setting("index.blocks.read_only_allow_delete") == Some("true"))
        .map(|(name, _)| name)
        .collect();
    let mut disk = if blocked.is_empty() {
        json!({"status": "green", "symptom": "The cluster has enough available disk space."})
    } else {
        let n = blocked.len();
        let what = if n == 1 { "index is" } else { "indices are" };
        let names: Vec<&str> = blocked.iter().map(|s| s.as_str()).collect();
        json!({
            "status": "red",
            "symptom": format!("{n} {what} not allowed to be updated. The cluster is recovering and ingest capabilities should be restored within a few minutes."),
            "impacts": [{
                "description": format!("Cannot insert or update documents in the affected indices [{}].", names.join(", ")),
                "id": "elasticsearch:health:disk:impact:ingest_capability_unavailable",
                "impact_areas": ["ingest"],
                "severity": 1,
            }],
        })
    };
    if verbose {
        disk["details"] = json!({
            "indices_with_readonly_block": blocked.len(),
            "nodes_over_flood_stage_watermark": 0,
            "nodes_over_high_watermark": 0,
            "nodes_with_enough_disk_space": state.nodes,
            "nodes_with_unknown_disk_status": 0,
        });
    }
    Ok(Reply::ok(json!({
        "cluster_name": state.cluster_name,
        "indicators": { "disk": disk },
    })))
}

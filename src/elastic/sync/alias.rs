//! The write alias and the dead-letter index (I/O): created once, after the templates
//! they depend on; an alias or index of that name that is not this resource's is
//! reported, never changed or used.

use serde_json::{Value, json};

use super::kinds::encode;
use super::{Abort, Failure, Kind, Pass, fail};
use crate::elastic::client::{EsClient, EsError};
use crate::elastic::desired::{DesiredConfig, marker_owner};
use crate::reason::Reason;

impl Pass<'_> {
    /// Creates the bootstrap index with the write alias once; reports an alias that points
    /// elsewhere, or whose write index belongs to someone else, instead of changing it.
    pub(super) async fn write_alias(
        &mut self,
        desired: &DesiredConfig,
        templates_ok: bool,
        previously_ours: bool,
    ) -> Result<(), Abort> {
        let client = self.client;
        let alias = &desired.write_alias.alias;
        let index = &desired.write_alias.bootstrap_index;
        let owner = self.owner;
        // `None`: no such alias; `Some(Err(why))`: an alias that is not this resource's.
        let check = async || -> Result<Option<Result<String, String>>, EsError> {
            let Some(found) = client
                .get("alias", &format!("/_alias/{}", encode(alias)))
                .await?
            else {
                return Ok(None);
            };
            let write_index = match write_index_of(&found, alias) {
                Ok(i) => i,
                Err(why) => return Ok(Some(Err(why))),
            };
            // The name proves nothing: the write index must carry this resource's marker.
            let meta = mapping_meta(client, &write_index).await?.flatten();
            Ok(Some(match marker_owner(meta.as_ref()) {
                Some(o) if o == owner => Ok(write_index),
                None if previously_ours => Ok(write_index),
                Some(other) => Err(format!(
                    "alias {alias} writes to {write_index}, which belongs to MeshLogging {other}; not changed (choose another index.name)"
                )),
                None => Err(format!(
                    "alias {alias} writes to {write_index}, which is not managed by this MeshLogging; not changed (choose another index.name)"
                )),
            }))
        };
        let kind_report = self.report.kinds.entry(Kind::WriteAlias).or_default();
        let found = match check().await {
            Err(e) => return fail(kind_report, alias, e, false),
            Ok(Some(found)) => found,
            Ok(None) if !templates_ok => {
                let message = format!(
                    "{index} not created: the ILM policy or index templates are not applied"
                );
                let failure = Failure::new(alias, Reason::DependencyFailed, message, false);
                kind_report.failed.push(failure);
                return Ok(());
            }
            Ok(None) => {
                let path = format!("/{}", encode(index));
                match client
                    .put("indices.create", &path, &desired.write_alias.body)
                    .await
                {
                    Ok(_) => {
                        kind_report.created.push(alias.clone());
                        self.report.write_index = Some(index.clone());
                        return Ok(());
                    }
                    // Created concurrently (another replica, or a pass interrupted after
                    // the PUT): success if the alias is there now.
                    Err(EsError::Api { kind, reason, .. })
                        if kind == "resource_already_exists_exception" =>
                    {
                        match check().await {
                            Err(e) => return fail(kind_report, alias, e, false),
                            Ok(Some(found)) => found,
                            Ok(None) => Err(format!(
                                "index {index} exists without the write alias {alias} ({reason}); add the alias or delete the index"
                            )),
                        }
                    }
                    Err(e) => return fail(kind_report, alias, e, false),
                }
            }
        };
        match found {
            Ok(write_index) => {
                kind_report.unchanged.push(alias.clone());
                self.report.write_index = Some(write_index);
            }
            Err(why) => {
                let failure = Failure::new(alias, Reason::Conflict, why, false);
                kind_report.failed.push(failure);
            }
        }
        Ok(())
    }

    /// Creates the dead-letter index once (the collector may not create indices), after
    /// its template; an index of that name that is not this resource's is reported, not
    /// used.
    pub(super) async fn deadletter_index(&mut self, desired: &DesiredConfig) -> Result<(), Abort> {
        let index = &desired.deadletter_index;
        let template_ok = self
            .report
            .kind(Kind::IndexTemplate)
            .owned()
            .contains(index);
        let found = mapping_meta(self.client, index).await;
        let kind_report = self.report.kinds.entry(Kind::DeadLetterIndex).or_default();
        let refused = match found {
            Err(e) => return fail(kind_report, index, e, false),
            Ok(Some(meta)) => match marker_owner(meta.as_ref()) {
                Some(o) if o == self.owner => {
                    kind_report.unchanged.push(index.clone());
                    return Ok(());
                }
                holder => Failure::new(
                    index,
                    Reason::Conflict,
                    format!(
                        "index {index} exists and belongs to {}; not used",
                        holder.map_or("no MeshLogging".to_string(), |h| format!("MeshLogging {h}"))
                    ),
                    false,
                ),
            },
            Ok(None) if !template_ok => Failure::new(
                index,
                Reason::DependencyFailed,
                format!("{index} not created: its index template is not applied"),
                false,
            ),
            Ok(None) => {
                let path = format!("/{}", encode(index));
                return match self.client.put("indices.create", &path, &json!({})).await {
                    Ok(_) => {
                        kind_report.created.push(index.clone());
                        Ok(())
                    }
                    Err(EsError::Api { kind, .. })
                        if kind == "resource_already_exists_exception" =>
                    {
                        kind_report.unchanged.push(index.clone());
                        Ok(())
                    }
                    Err(e) => fail(kind_report, index, e, false),
                };
            }
        };
        kind_report.failed.push(refused);
        Ok(())
    }
}

/// `GET /<index>/_mapping`: `None` when there is no such index, else the `_meta` of its
/// mappings (where the ownership marker is), if any.
async fn mapping_meta(client: &EsClient, index: &str) -> Result<Option<Option<Value>>, EsError> {
    let path = format!("/{}/_mapping", encode(index));
    let found = client.get("indices.get_mapping", &path).await?;
    Ok(found.map(|f| {
        f.get(index)
            .and_then(|m| m.pointer("/mappings/_meta"))
            .cloned()
    }))
}

/// The write index of `alias` from a `GET /_alias/<alias>` answer, if it is one of the
/// alias's own rollover indices (`<alias>-NNNNNN`).
fn write_index_of(found: &Value, alias: &str) -> Result<String, String> {
    let indices: Vec<(&String, bool)> = found
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(index, v)| {
                    let is_write = v
                        .pointer(&format!(
                            "/aliases/{}/is_write_index",
                            alias.replace('~', "~0").replace('/', "~1")
                        ))
                        .and_then(Value::as_bool);
                    (index, is_write.unwrap_or(m.len() == 1))
                })
                .collect()
        })
        .unwrap_or_default();
    let write: Vec<&String> = indices
        .iter()
        .filter(|(_, w)| *w)
        .map(|(i, _)| *i)
        .collect();
    let ours = |i: &str| {
        i.strip_prefix(alias)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|n| n.len() >= 6 && n.bytes().all(|b| b.is_ascii_digit()))
    };
    match write.as_slice() {
        [one] if ours(one) => Ok((*one).clone()),
        [one] => Err(format!(
            "alias {alias} exists and writes to {one}, not to a rollover index {alias}-NNNNNN; not changed"
        )),
        _ => Err(format!(
            "alias {alias} exists without a single write index ({}); not changed",
            indices
                .iter()
                .map(|(i, _)| i.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_index_must_be_a_rollover_index_of_the_alias() {
        let ok = json!({"logs-000003": {"aliases": {"logs": {"is_write_index": true}}}, "logs-000002": {"aliases": {"logs": {}}}});
        assert_eq!(write_index_of(&ok, "logs").as_deref(), Ok("logs-000003"));
        let single = json!({"logs-000001": {"aliases": {"logs": {}}}});
        assert_eq!(
            write_index_of(&single, "logs").as_deref(),
            Ok("logs-000001")
        );
        let foreign = json!({"other": {"aliases": {"logs": {"is_write_index": true}}}});
        assert!(
            write_index_of(&foreign, "logs")
                .unwrap_err()
                .contains("writes to other")
        );
    }
}

//! The writes the test API server audited (`ApiServer::audit_log`: one JSON event per
//! create/update/patch/delete), by user agent: how the tests count the operator's writes.

use crate::apiserver::ApiServer;

/// Writes (`verb resource[/subresource]/name`) by user agents for which `agent` holds.
pub fn writes_by(server: &ApiServer, agent: impl Fn(&str) -> bool) -> Vec<String> {
    let log = std::fs::read_to_string(&server.audit_log).unwrap_or_default();
    log.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|e| e["userAgent"].as_str().is_some_and(&agent) && e["stage"] == "ResponseComplete")
        .map(|e| {
            let o = &e["objectRef"];
            format!(
                "{} {}{}/{}",
                e["verb"].as_str().unwrap_or(""),
                o["resource"].as_str().unwrap_or(""),
                o["subresource"]
                    .as_str()
                    .map(|s| format!("/{s}"))
                    .unwrap_or_default(),
                o["name"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// Writes of the operator running as `identity` (its user agent ends `(identity)`).
pub fn writes(server: &ApiServer, identity: &str) -> Vec<String> {
    let needle = format!("({identity})");
    writes_by(server, |agent| agent.contains(&needle))
}

/// Writes of every operator (user agents `meshlogging-operator/...`).
pub fn operator_writes(server: &ApiServer) -> Vec<String> {
    writes_by(server, |agent| agent.starts_with("meshlogging-operator/"))
}

/// Waits until the operator running as `identity` has written nothing for 2 s (the pass
/// that changed something also announces it: an event, the status), up to 60 s, and
/// returns how many writes it made by then. A write loop never settles: the wait panics.
pub async fn settled(server: &ApiServer, identity: &str) -> usize {
    crate::process::wait_for(
        std::time::Duration::from_secs(60),
        "the operator's writes to settle",
        || async {
            let before = writes(server, identity).len();
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            let after = writes(server, identity).len();
            (after == before).then_some(after)
        },
    )
    .await
}

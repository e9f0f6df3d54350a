//! One Elasticsearch sync pass as the controller runs it, with the tests' passwords: for
//! the tests that drive `elastic::sync` directly (stand-in or real Elasticsearch).

use std::collections::BTreeMap;

use meshlogging_operator::api::AppliedStatus;
use meshlogging_operator::elastic::sync::{Passwords, SyncInput};
use meshlogging_operator::elastic::{DesiredConfig, EsClient, SyncReport, sync};

/// The collector user's password in every sync test.
pub const COLLECTOR_PASSWORD: &str = "collector-Pw-77ab20";
/// Kibana's password in every sync test.
pub const KIBANA_PASSWORD: &str = "kibana-Pw-0c4e91";
/// The password of the operator's Kibana user (dashboards) in every sync test.
pub const DASHBOARDS_PASSWORD: &str = "dashboards-Pw-5d1f08";

/// The passwords of the managed users.
pub fn passwords() -> Passwords {
    Passwords {
        collector: COLLECTOR_PASSWORD.into(),
        kibana: Some(KIBANA_PASSWORD.into()),
        dashboards: Some(DASHBOARDS_PASSWORD.into()),
        elastic: None,
    }
}

/// One pass with the ownership record of the previous one; returns the report and the
/// record for the next (what `status.applied` would say).
pub async fn pass(
    client: &EsClient,
    desired: &DesiredConfig,
    prev: &AppliedStatus,
) -> (SyncReport, AppliedStatus) {
    let no_missing = BTreeMap::new();
    let pw = passwords();
    let report = sync(
        client,
        desired,
        SyncInput {
            passwords: &pw,
            previously_applied: prev,
            missing_credentials: &no_missing,
        },
    )
    .await;
    let applied = report.applied(&desired.write_alias.alias, prev);
    (report, applied)
}

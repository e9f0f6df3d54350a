//! Tests of the status computation.

use super::*;
use crate::elastic::sync::KindReport;

fn time(secs: i64) -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(secs).expect("time"))
}

fn ready_obs() -> Observations {
    let mut report = SyncReport::default();
    report.kinds.insert(
        Kind::IlmPolicy,
        KindReport {
            unchanged: vec!["logs".into()],
            ..Default::default()
        },
    );
    report.kinds.insert(
        Kind::WriteAlias,
        KindReport {
            unchanged: vec!["logs".into()],
            ..Default::default()
        },
    );
    report.write_index = Some("logs-000001".into());
    Observations {
        generation: Some(2),
        elasticsearch: EsObservation {
            nodes: Some((3, 3)),
            health: Some("green".into()),
            ..Default::default()
        },
        kibana: Some((1, 1)),
        collector: (2, 2),
        sync: Some(report),
        alias: "logs".into(),
        ..Default::default()
    }
    .with_logs(flow(Some(5), &[]))
}

impl Observations {
    fn with_logs(mut self, flow: LogFlow) -> Self {
        self.elasticsearch.logs = Some(Ok(flow));
        self.elasticsearch.ilm.get_or_insert(Ok(Vec::new()));
        self.elasticsearch.disk.get_or_insert(Ok(Some(disk(
            "green",
            "The cluster has enough available disk space.",
        ))));
        self
    }
}

fn disk(status: &str, symptom: &str) -> DiskIndicator {
    DiskIndicator {
        status: status.into(),
        symptom: symptom.into(),
    }
}

#[test]
fn disk_pressure_is_degraded_quoting_elasticsearch() {
    let mut obs = ready_obs();
    obs.elasticsearch.disk = Some(Ok(Some(disk(
        "yellow",
        "2 data nodes are running low on disk space.",
    ))));
    let s = compute(None, &obs, &time(1));
    let c = find(&s, condition::DISK_HEALTHY);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "DiskPressure")
    );
    assert!(
        c.message.contains("yellow: 2 data nodes are running low"),
        "{}",
        c.message
    );
    assert_eq!(s.phase, Some(Phase::Degraded));

    obs.elasticsearch.disk = Some(Ok(None));
    let s = compute(None, &obs, &time(1));
    let c = find(&s, condition::DISK_HEALTHY);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("Unknown", "NotSupportedByCluster")
    );
    assert_eq!(s.phase, Some(Phase::Ready));
}

#[test]
fn red_health_counts_the_unassigned_primaries_when_the_cluster_does() {
    let mut obs = ready_obs();
    obs.elasticsearch.health = Some("red".into());
    let message = |obs: &Observations| {
        find(
            &compute(None, obs, &time(1)),
            condition::ELASTICSEARCH_READY,
        )
        .message
        .clone()
    };
    assert!(message(&obs).contains("some primary shards are unassigned"));
    obs.elasticsearch.unassigned_primaries = Some(3);
    assert!(
        message(&obs).contains("3 primary shards are unassigned"),
        "{}",
        message(&obs)
    );
}

#[test]
fn an_index_in_an_ilm_error_step_is_degraded_quoting_elasticsearch() {
    let healthy = compute(None, &ready_obs(), &time(1));
    let c = find(&healthy, condition::INDEX_LIFECYCLE_HEALTHY);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("True", "NoLifecycleErrors")
    );

    let mut obs = ready_obs();
    obs.elasticsearch.ilm = Some(Ok(vec![IlmError {
        index: "logs-000001".into(),
        failed_step: Some("check-rollover-ready".into()),
        reason: "index.lifecycle.rollover_alias [logs] does not point to index [logs-000001]"
            .into(),
    }]));
    let s = compute(Some(&healthy), &obs, &time(2));
    let c = find(&s, condition::INDEX_LIFECYCLE_HEALTHY);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "IlmStepFailed")
    );
    assert!(
        c.message.contains(
            "index logs-000001 failed check-rollover-ready: index.lifecycle.rollover_alias"
        ),
        "{}",
        c.message
    );
    assert_eq!(s.phase, Some(Phase::Degraded));
    assert_eq!(s.lifecycle_errors.len(), 1);

    // A cluster without ILM: unknown, not failed.
    let mut obs = ready_obs();
    obs.elasticsearch.ilm = None;
    let s = compute(None, &obs, &time(3));
    let c = find(&s, condition::INDEX_LIFECYCLE_HEALTHY);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("Unknown", "NotSupportedByCluster")
    );
    assert_eq!(s.phase, Some(Phase::Ready));
}

/// A read at second 1000 with a 600 s threshold: the newest log `newest` seconds old,
/// the alias created at second 0, `blocked` indices.
fn flow(newest: Option<i64>, blocked: &[&str]) -> LogFlow {
    let at = |s: i64| time(s).0;
    LogFlow {
        checked_at: at(1000),
        threshold: std::time::Duration::from_secs(600),
        newest: newest.map(|n| at(1000 - n)),
        recent: u64::from(newest.is_some_and(|n| n <= 600)),
        nodes: newest
            .map(|n| vec![("node-a".to_string(), at(1000 - n))])
            .unwrap_or_default(),
        created: Some(at(0)),
        blocked: blocked.iter().map(|b| b.to_string()).collect(),
    }
}

#[test]
fn logs_flowing_goes_false_without_recent_logs_and_back() {
    let flowing = compute(None, &ready_obs(), &time(10));
    let c = find(&flowing, condition::LOGS_FLOWING);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("True", "LogsArriving")
    );
    let logs = flowing.logs.clone().expect("status.logs");
    assert_eq!(logs.newest_timestamp, Some(time(995)));
    assert_eq!((logs.recent, logs.nodes), (Some(1), Some(1)));

    let stale = ready_obs().with_logs(flow(Some(900), &[]));
    let s = compute(Some(&flowing), &stale, &time(20));
    let c = find(&s, condition::LOGS_FLOWING);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "NoRecentLogs")
    );
    assert!(
        c.message
            .contains("since 1970-01-01T00:01:40Z (threshold 10m)"),
        "{}",
        c.message
    );
    assert_eq!(s.phase, Some(Phase::Degraded));
    assert_eq!(
        find(&s, "Ready").status,
        "True",
        "Ready says the stack exists"
    );
    assert_eq!(s.logs.as_ref().expect("logs").silent_nodes, ["node-a"]);
    // An unchanged stale read is no change.
    assert!(!changed(Some(&s), &compute(Some(&s), &stale, &time(30))));

    let back = compute(Some(&s), &ready_obs(), &time(40));
    assert_eq!(find(&back, condition::LOGS_FLOWING).status, "True");
    assert_eq!(back.phase, Some(Phase::Ready));
}

#[test]
fn no_log_yet_is_unknown_within_the_threshold_of_the_alias_creation() {
    let mut young = flow(None, &[]);
    young.created = Some(time(700).0);
    let s = compute(None, &ready_obs().with_logs(young), &time(1));
    let c = find(&s, condition::LOGS_FLOWING);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("Unknown", "AwaitingLogs")
    );
    assert_eq!(s.phase, Some(Phase::Ready));

    let s = compute(None, &ready_obs().with_logs(flow(None, &[])), &time(1));
    let c = find(&s, condition::LOGS_FLOWING);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "NoRecentLogs")
    );
    assert!(
        c.message.contains("created at 1970-01-01T00:00:00Z"),
        "{}",
        c.message
    );
}

#[test]
fn a_blocked_write_index_is_degraded_and_named() {
    let obs = ready_obs().with_logs(flow(Some(5), &["logs-000001"]));
    let s = compute(None, &obs, &time(1));
    let c = find(&s, condition::LOGS_FLOWING);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "WriteIndexBlocked")
    );
    assert!(c.message.contains("logs-000001"), "{}", c.message);
    assert_eq!(s.phase, Some(Phase::Degraded));
}

#[test]
fn logs_not_read_are_unknown_and_keep_the_last_read() {
    let flowing = compute(None, &ready_obs(), &time(10));
    let mut obs = ready_obs();
    obs.elasticsearch.logs = Some(Err("timeout".into()));
    let s = compute(Some(&flowing), &obs, &time(20));
    let c = find(&s, condition::LOGS_FLOWING);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("Unknown", "ElasticsearchError")
    );
    assert_eq!(s.logs, flowing.logs);
    assert_eq!(s.phase, Some(Phase::Ready));
}

#[test]
fn everything_ready_is_ready() {
    let s = compute(None, &ready_obs(), &time(10));
    assert_eq!(s.phase, Some(Phase::Ready));
    // Every condition True but Progressing: no operation runs.
    assert!(
        s.conditions
            .iter()
            .all(|c| (c.status == "True") != (c.type_ == condition::PROGRESSING)),
        "{:?}",
        s.conditions
    );
    let p = find(&s, condition::PROGRESSING);
    assert_eq!((p.status.as_str(), p.reason.as_str()), ("False", "Idle"));
    assert!(
        s.conditions
            .iter()
            .all(|c| c.observed_generation == Some(2))
    );
    assert_eq!(
        s.elasticsearch.and_then(|e| e.ready).as_deref(),
        Some("3/3")
    );
    assert_eq!(
        s.applied.and_then(|a| a.write_index).as_deref(),
        Some("logs-000001")
    );
}

#[test]
fn an_unchanged_pass_is_not_a_change_and_keeps_transition_times() {
    let first = compute(None, &ready_obs(), &time(10));
    let second = compute(Some(&first), &ready_obs(), &time(99));
    assert!(!changed(Some(&first), &second));
    assert_eq!(first, second, "lastTransitionTime did not move");
}

/// Issue 11 item 7: an `http://` cluster (admitted only with `insecure: true`) is shown.
#[test]
fn an_http_cluster_is_shown_as_insecure_transport() {
    let mut obs = ready_obs();
    obs.elasticsearch.endpoint = Some("https://es.example.com".into());
    let s = compute(None, &obs, &time(10));
    assert_eq!(find(&s, condition::ELASTICSEARCH_READY).reason, "Green");

    obs.elasticsearch.endpoint = Some("http://es.example.com:9200".into());
    let s = compute(None, &obs, &time(10));
    let es = find(&s, condition::ELASTICSEARCH_READY);
    assert_eq!(
        (es.status.as_str(), es.reason.as_str()),
        ("True", "InsecureTransport")
    );
    assert!(es.message.contains("cleartext"), "{}", es.message);
    assert_eq!(s.phase, Some(Phase::Ready));
}

#[test]
fn unreachable_elasticsearch_is_reported_with_its_reason() {
    let ready = compute(None, &ready_obs(), &time(10));
    let mut obs = ready_obs();
    obs.sync = None;
    obs.elasticsearch.health = None;
    obs.elasticsearch.unavailable = Some((
        Reason::ElasticsearchUnreachable,
        "connection refused".into(),
    ));
    let s = compute(Some(&ready), &obs, &time(20));
    let r = find(&s, "Ready");
    assert_eq!(
        (r.status.as_str(), r.reason.as_str()),
        ("False", "ElasticsearchUnreachable")
    );
    assert_eq!(r.last_transition_time, time(20));
    assert_eq!(s.phase, Some(Phase::Degraded));
    assert_eq!(
        s.applied, ready.applied,
        "applied objects are kept while Elasticsearch is away"
    );
}

/// The condition `type_` of `s`.
fn find<'a>(s: &'a MeshLoggingStatus, type_: &str) -> &'a Condition {
    s.conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no condition {type_}"))
}

/// Asserts that `obs` makes the stack Degraded, with Ready False for `reason` and a
/// message quoting `quoted`.
fn assert_degraded(obs: &Observations, reason: &str, quoted: &str) {
    let s = compute(None, obs, &time(1));
    let r = find(&s, "Ready");
    assert_eq!((r.status.as_str(), r.reason.as_str()), ("False", reason));
    assert!(r.message.contains(quoted), "{}", r.message);
    assert_eq!(s.phase, Some(Phase::Degraded));
}

#[test]
fn a_refused_child_makes_the_stack_degraded_with_the_api_servers_words() {
    let mut obs = ready_obs();
    obs.rejected = vec!["StatefulSet/logs-es: spec: Forbidden: updates to statefulset spec".into()];
    assert_degraded(
        &obs,
        "ApplyRejected",
        "StatefulSet/logs-es: spec: Forbidden",
    );
}

#[test]
fn an_object_of_someone_else_is_a_conflict_naming_it() {
    let mut obs = ready_obs();
    obs.conflicts = vec!["ServiceAccount/logs-collector".into()];
    assert_degraded(&obs, "Conflict", "ServiceAccount/logs-collector");
}

#[test]
fn a_rejected_object_quotes_elasticsearch() {
    let mut obs = ready_obs();
    obs.snapshots_wanted = true;
    let report = obs.sync.as_mut().expect("report");
    report.kinds.insert(
        Kind::SlmPolicy,
        KindReport {
            failed: vec![Failure {
                name: "nightly".into(),
                reason: Reason::Rejected,
                message: "Elasticsearch answered 400 x: invalid schedule".into(),
                exists: false,
            }],
            ..Default::default()
        },
    );
    let s = compute(None, &obs, &time(1));
    let c = find(&s, "SnapshotsConfigured");
    assert_eq!(c.reason, "Rejected");
    assert!(c.message.contains("SLM policy nightly") && c.message.contains("invalid schedule"));
    assert_eq!(s.phase, Some(Phase::Degraded));
}

#[test]
fn a_ready_collector_node_that_sent_nothing_is_named_silent() {
    // node-a sent 5 s before the read (second 1000, threshold 600 s); node-b's collector
    // has been Ready since second 100 and sent nothing; node-c's only since second 900,
    // too recently to be expected to have sent anything.
    let mut obs = ready_obs().with_logs(flow(Some(5), &[]));
    obs.collector_nodes = [("node-a", 0), ("node-b", 100), ("node-c", 900)]
        .into_iter()
        .map(|(n, s)| (n.to_string(), time(s).0))
        .collect();
    let s = compute(None, &obs, &time(1));
    let c = find(&s, condition::LOGS_FLOWING);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str(), c.message.as_str()),
        (
            "False",
            "NodesSilent",
            "logs arrive, but none within the last 10m from node node-b, whose collector pod is Ready"
        )
    );
    assert_eq!(s.logs.as_ref().expect("logs").silent_nodes, ["node-b"]);
    assert_eq!(s.phase, Some(Phase::Degraded));
    obs.collector_nodes.retain(|(n, _)| n != "node-b");
    let back = compute(Some(&s), &obs, &time(2));
    assert_eq!(find(&back, condition::LOGS_FLOWING).status, "True");
    assert_eq!(back.phase, Some(Phase::Ready));
}

#[test]
fn kibana_unavailable_leaves_the_stack_ready_and_its_objects_recorded() {
    let mut obs = ready_obs();
    obs.dashboards_wanted = true;
    obs.dashboards = Some(DashboardsObservation::Synced {
        report: Default::default(),
        objects: vec!["tag/t".into(), "dashboard/d".into()],
    });
    obs.dashboard_url = Some("https://k.example/app/dashboards#/view/d".into());
    let applied = compute(None, &obs, &time(1));
    let c = find(&applied, condition::DASHBOARDS_READY);
    assert_eq!((c.status.as_str(), c.reason.as_str()), ("True", "Applied"));
    let objects = &applied.applied.as_ref().expect("applied").saved_objects;
    assert_eq!(objects, &["tag/t", "dashboard/d"]);
    assert_eq!(
        applied.dashboards.as_ref().and_then(|d| d.url.as_deref()),
        Some("https://k.example/app/dashboards#/view/d")
    );

    obs.dashboards = Some(DashboardsObservation::Failed(
        Reason::KibanaUnavailable,
        "Kibana at http://k is unavailable: 503: Kibana server is not ready yet".into(),
    ));
    let down = compute(Some(&applied), &obs, &time(2));
    let c = find(&down, condition::DASHBOARDS_READY);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "KibanaUnavailable")
    );
    assert_eq!(find(&down, condition::READY).status, "True");
    assert_eq!(down.phase, Some(Phase::Ready));
    assert_eq!(
        &down.applied.as_ref().expect("applied").saved_objects,
        objects,
        "kept while Kibana cannot be asked"
    );
}

#[test]
fn a_cluster_that_formed_keeps_its_version_while_it_does_not_answer() {
    let mut obs = ready_obs();
    obs.elasticsearch.version = Some("8.15.3".into());
    let formed = compute(None, &obs, &time(1));
    let version = |s: &MeshLoggingStatus| s.elasticsearch.as_ref().and_then(|e| e.version.clone());
    assert_eq!(version(&formed).as_deref(), Some("8.15.3"));
    // Every node down: nothing answers, and rendering must still see a formed cluster.
    let mut down = ready_obs();
    down.elasticsearch = EsObservation {
        nodes: Some((3, 0)),
        ..Default::default()
    };
    let later = compute(Some(&formed), &down, &time(2));
    assert_eq!(version(&later).as_deref(), Some("8.15.3"));
    let c = find(&later, condition::ELASTICSEARCH_READY);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str(), c.message.as_str()),
        ("False", "NodesNotReady", "Elasticsearch: 0/3 nodes ready")
    );
    // A cluster that never formed has none.
    assert_eq!(version(&compute(None, &down, &time(3))), None);
}

#[test]
fn an_operation_in_progress_is_progressing_and_phase_scaling_with_ready_true() {
    let mut obs = ready_obs();
    obs.operations.push(crate::status::Operation::in_progress(
        Reason::ScalingDown,
        "moving 4 shards off logs-es-3, logs-es-4".into(),
    ));
    let s = compute(None, &obs, &time(10));
    let p = find(&s, condition::PROGRESSING);
    assert_eq!(
        (p.status.as_str(), p.reason.as_str(), p.message.as_str()),
        (
            "True",
            "ScalingDown",
            "moving 4 shards off logs-es-3, logs-es-4"
        )
    );
    assert_eq!(find(&s, condition::READY).status, "True");
    assert_eq!(s.phase, Some(Phase::Scaling));
}

#[test]
fn a_refused_operation_makes_ready_false_naming_the_field() {
    let mut obs = ready_obs();
    let message = "spec.elasticsearch.replicas 3 → 1 would leave 1 node".to_string();
    obs.operations.push(crate::status::Operation::refused(
        Reason::ScaleDownRefused,
        message.clone(),
    ));
    let s = compute(None, &obs, &time(10));
    for type_ in [condition::PROGRESSING, condition::READY] {
        let c = find(&s, type_);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str(), c.message.as_str()),
            ("False", "ScaleDownRefused", message.as_str()),
            "{type_}"
        );
    }
    assert_eq!(s.phase, Some(Phase::Degraded));
}

#[test]
fn a_rolling_upgrade_is_phase_upgrading_with_a_node_away_and_its_step_time_stays() {
    let mut obs = ready_obs();
    obs.elasticsearch.nodes = Some((3, 2));
    let mut op = crate::status::Operation::in_progress(
        Reason::Upgrading,
        "Upgrading 8.15.3 → 8.16.1: node 1/3 restarting (logs-es-2)".into(),
    );
    op.step = Some("RestartingNode logs-es-2".into());
    obs.operations.push(op.clone());
    let s = compute(None, &obs, &time(10));
    assert_eq!(
        s.phase,
        Some(Phase::Upgrading),
        "a node away is the upgrade's doing"
    );
    assert_eq!(find(&s, condition::ELASTICSEARCH_READY).status, "False");
    let o = s.operation.clone().expect("status.operation");
    assert_eq!(
        (o.type_.as_str(), o.step.as_str(), o.step_start_time.clone()),
        ("Upgrading", "RestartingNode logs-es-2", time(10))
    );
    // Same step later: the start time stays (no write for it); a new step moves it.
    let again = compute(Some(&s), &obs, &time(20));
    assert_eq!(again.operation, s.operation);
    obs.operations[0].step = Some("Recovering logs-es-2".into());
    let next = compute(Some(&again), &obs, &time(30));
    assert_eq!(
        next.operation.as_ref().map(|o| o.step_start_time.clone()),
        Some(time(30))
    );
    // Idle: gone; a refusal is no operation in progress.
    obs.operations.clear();
    obs.elasticsearch.nodes = Some((3, 3));
    let idle = compute(Some(&next), &obs, &time(40));
    assert_eq!((idle.operation, idle.phase), (None, Some(Phase::Ready)));
    obs.operations.push(crate::status::Operation::refused(
        Reason::ScaleDownRefused,
        "no".into(),
    ));
    assert_eq!(compute(None, &obs, &time(50)).operation, None);
}

//! No secret in the operator's logs or reports, at TRACE level, through a sync pass, a
//! rotated password, a retried failure and a refused login. Its own test binary: it
//! installs the global log subscriber.

use std::sync::{Arc, Mutex};

use es_sim::Fault;
use kit::desired;
use kit::example_spec;
use kit::sim::{ELASTIC_PASSWORD, client, client_as, es_sim};
use kit::sync::{COLLECTOR_PASSWORD, KIBANA_PASSWORD, pass};
use meshlogging_operator::api::AppliedStatus;
use meshlogging_testkit as kit;

const OWNER: &str = "logging/mcp-mesh-logs";

#[tokio::test]
async fn no_password_appears_in_the_logs() {
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    // The only test of this binary, so the subscriber can be global: a thread-local one
    // raced other tests' threads over tracing's per-callsite interest cache.
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let sim = es_sim(1).await;
    let desired = desired(&example_spec("production.yaml"), OWNER);
    let (first, applied) = pass(&client(&sim), &desired, &AppliedStatus::default()).await;
    // A rotated Kibana password, a failure path and a refused login, all logged.
    sim.with_state(|s| {
        if let Some(u) = s.users.get_mut("kibana_system") {
            u.password = Some("rotated".into());
        }
    });
    sim.inject(Fault::Status {
        status: 503,
        count: 1,
        path_prefix: Some("/_snapshot".into()),
    });
    let (second, _) = pass(&client(&sim), &desired, &applied).await;
    let (third, _) = pass(&client_as(&sim, "wrong-Pw-9911"), &desired, &applied).await;

    let logs = String::from_utf8(buffer.0.lock().expect("lock").clone()).expect("utf8");
    assert!(
        logs.contains("retrying Elasticsearch request"),
        "the log was captured"
    );
    let reports = format!("{first:?}{second:?}{third:?}");
    for secret in [
        ELASTIC_PASSWORD,
        COLLECTOR_PASSWORD,
        KIBANA_PASSWORD,
        "wrong-Pw-9911",
    ] {
        assert!(!logs.contains(secret), "{secret} in the logs");
        assert!(!reports.contains(secret), "{secret} in a report");
    }
    use base64::Engine as _;
    let header =
        base64::engine::general_purpose::STANDARD.encode(format!("elastic:{ELASTIC_PASSWORD}"));
    assert!(!logs.contains(&header), "basic-auth header in the logs");
}

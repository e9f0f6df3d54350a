//! Scale behaviour against the real API server: a cluster that does not answer holds no
//! worker, so every resource gets its children while Elasticsearch passes hang.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::DaemonSet;
use kube::Api;
use kube::api::PostParams;
use meshlogging_operator::api::MeshLogging;
use meshlogging_operator::controller::EsEndpoint;
use meshlogging_operator::elastic::{ClientConfig, Credentials, RetryPolicy};
use meshlogging_operator::validate::Validated;
use meshlogging_testkit as kit;
use tokio::net::TcpListener;

/// An Elasticsearch that accepts connections and never answers: every request hangs
/// until the client's request timeout (plain HTTP, so the connection is made at once and
/// only the answer is missing).
struct Silent {
    url: String,
    _task: tokio::task::JoinHandle<()>,
}

impl Silent {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        Self { url, _task: task }
    }
}

struct SilentEndpoint(String);

impl EsEndpoint for SilentEndpoint {
    fn client_config(
        &self,
        _: &Validated,
        admin: Option<Credentials>,
        _: Option<Vec<u8>>,
    ) -> ClientConfig {
        let mut config = ClientConfig::new(self.0.clone());
        config.credentials = admin;
        config
    }
    /// No Kibana runs here: no dashboards.
    fn kibana_config(&self, _: &Validated, _: Option<Credentials>) -> Option<ClientConfig> {
        None
    }
}

#[tokio::test]
async fn children_are_applied_while_elasticsearch_passes_hang() {
    let kit::Setup {
        server, client, ns, ..
    } = kit::Setup::new("scale").await;
    let silent = Silent::start().await;

    // One reconcile worker and one Elasticsearch worker; every Elasticsearch request hangs
    // for a minute. Were the pass part of the reconcile, the fourth resource would wait
    // three minutes for its children.
    let mut settings = kit::operator::settings(&ns);
    settings.concurrency = 1;
    settings.es_concurrency = 1;
    settings.es_request_timeout = Duration::from_secs(60);
    settings.es_retry = RetryPolicy {
        max_attempts: 1,
        ..settings.es_retry
    };
    let operator = kit::operator::start_with(
        server,
        settings,
        Arc::new(SilentEndpoint(silent.url.clone())),
        "scale",
    )
    .await;

    let api: Api<MeshLogging> = Api::namespaced(client.clone(), &ns);
    let names: Vec<String> = (1..=4).map(|i| format!("logs-{i}")).collect();
    for name in &names {
        let mut ml = kit::example("minimal.yaml");
        ml.metadata.name = Some(name.clone());
        api.create(&PostParams::default(), &ml)
            .await
            .expect("create");
    }

    // The nodes report Ready (a cluster with none is not probed at all), so each
    // resource's Elasticsearch pass starts and hangs.
    let kubelet = kit::Kubelet::new(&client, &ns);
    let daemonsets: Api<DaemonSet> = Api::namespaced(client.clone(), &ns);
    for name in &names {
        let collector = format!("{name}-collector");
        kit::wait_for(Duration::from_secs(45), &collector, || async {
            kubelet.mark_ready(name).await;
            daemonsets.get_opt(&collector).await.ok().flatten()
        })
        .await;
    }
    for name in &names {
        let status = kit::wait_for(Duration::from_secs(20), "nodes ready", || async {
            kubelet.mark_ready(name).await;
            let status = api.get(name).await.ok().and_then(|ml| ml.status)?;
            let es = kit::condition(&status, "ElasticsearchReady");
            (es.reason != "NodesNotReady").then_some(status)
        })
        .await;
        // Asked, and no answer yet: the pass hangs in its own queue.
        let es = kit::condition(&status, "ElasticsearchReady");
        assert_eq!(
            (es.status.as_str(), es.reason.as_str()),
            ("False", "WaitingForElasticsearch"),
            "{es:?}"
        );
    }
    operator.stop().await;
}

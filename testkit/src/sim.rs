//! The Elasticsearch stand-in (`tests/es-sim`) as the tests start it, and how the operator
//! and the tests reach it.

use std::time::Duration;

use es_sim::{EsSim, Health, SimConfig, SimUser};
use meshlogging_operator::controller::EsEndpoint;
use meshlogging_operator::elastic::{ClientConfig, Credentials, EsClient, RetryPolicy};
use meshlogging_operator::validate::Validated;

/// The password of `elastic` in every test's stand-in.
pub const ELASTIC_PASSWORD: &str = "elastic-test-Pw-41";

/// The stand-in of the tests: TLS, `elastic` with [`ELASTIC_PASSWORD`], the default S3
/// client's keys in the keystore (for examples/production.yaml) and `path.repo`
/// `/snapshots`, with `nodes` nodes.
pub async fn es_sim(nodes: u32) -> EsSim {
    EsSim::start_with(SimConfig {
        tls: true,
        users: vec![SimUser::elastic(ELASTIC_PASSWORD)],
        keystore: vec![
            "s3.client.default.access_key".into(),
            "s3.client.default.secret_key".into(),
        ],
        path_repo: vec!["/snapshots".into()],
        nodes,
        ..Default::default()
    })
    .await
}

/// A plain stand-in (TLS, `elastic` with `password`, one node) reporting health green.
pub async fn green(password: &str) -> EsSim {
    let sim = EsSim::start_with(SimConfig {
        tls: true,
        users: vec![SimUser::elastic(password)],
        ..Default::default()
    })
    .await;
    sim.set_health(Health::Green);
    sim
}

/// A client configuration for `sim` as `username` with `password`, trusting its CA, with
/// a 5 s timeout and [`fast_retry`].
pub fn client_config(sim: &EsSim, username: &str, password: &str) -> ClientConfig {
    ClientConfig {
        url: sim.url(),
        credentials: Some(Credentials {
            username: username.into(),
            password: password.into(),
        }),
        ca_pem: sim.ca_pem().map(String::into_bytes),
        request_timeout: Duration::from_secs(5),
        retry: fast_retry(),
    }
}

/// A client of `sim` as `elastic` with `password` ([`client_config`]).
pub fn client_as(sim: &EsSim, password: &str) -> EsClient {
    EsClient::new(client_config(sim, "elastic", password)).expect("client")
}

/// A client of `sim` as `elastic` with [`ELASTIC_PASSWORD`].
pub fn client(sim: &EsSim) -> EsClient {
    client_as(sim, ELASTIC_PASSWORD)
}

/// Up to 3 attempts, 10 ms apart at first, 3 s at most.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(3),
    }
}

/// Reaches the stand-in whatever the resource says (managed or external), as `elastic`:
/// the operator's own credentials and CA are not used (see `tests/managed_boot.rs` for
/// the test where they are). Kibana: none unless [`SimEndpoint::with_kibana`] names one
/// (the dashboards are then not loaded, and `DashboardsReady` says so).
pub struct SimEndpoint {
    url: String,
    ca: Option<Vec<u8>>,
    kibana: Option<String>,
}

impl SimEndpoint {
    /// Points at `sim`.
    pub fn new(sim: &EsSim) -> Self {
        Self {
            url: sim.url(),
            ca: sim.ca_pem().map(String::into_bytes),
            kibana: None,
        }
    }

    /// Also reaches Kibana at `url` (the Kibana stand-in's), whatever the resource says, as
    /// the operator's own Kibana user.
    pub fn with_kibana(mut self, url: String) -> Self {
        self.kibana = Some(url);
        self
    }
}

impl EsEndpoint for SimEndpoint {
    fn client_config(
        &self,
        _: &Validated,
        _: Option<Credentials>,
        _: Option<Vec<u8>>,
    ) -> ClientConfig {
        let mut config = ClientConfig::new(self.url.clone());
        config.credentials = Some(Credentials {
            username: "elastic".into(),
            password: ELASTIC_PASSWORD.into(),
        });
        config.ca_pem = self.ca.clone();
        config
    }

    fn kibana_config(&self, _: &Validated, user: Option<Credentials>) -> Option<ClientConfig> {
        let mut config = ClientConfig::new(self.kibana.clone()?);
        config.credentials = user;
        Some(config)
    }
}

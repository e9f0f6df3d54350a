//! Rotation on request, against the real API server and the Elasticsearch stand-in, with
//! the operator logging in as its own file-realm user (not as `elastic`, as the other
//! controller tests do): the stand-in's file realm plays the nodes' — it learns the new
//! password only when the test "restarts the nodes", as real nodes load the file realm
//! only at start.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use es_sim::EsSim;
use es_sim::state::{Realm, User};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use meshlogging_operator::api::MeshLogging;
use meshlogging_operator::controller::EsEndpoint;
use meshlogging_operator::elastic::{ClientConfig, Credentials};
use meshlogging_operator::validate::Validated;
use meshlogging_testkit::resource::{self, WAIT};
use meshlogging_testkit::{Kubelet, Setup, audit, condition, kubectl, operator, sim, wait_for};
use serde_json::json;

const NAME: &str = "mesh-logs";

/// The logs of every operator this binary runs (the operator's own at TRACE, the kube
/// client's at DEBUG), captured once for the binary: no password may appear in them.
fn logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<&'static Mutex<Vec<u8>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer: &'static Mutex<Vec<u8>> = Box::leak(Box::default());
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "info,meshlogging_operator=trace,kube=debug",
            ))
            .with_writer(move || Capture(buffer))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        buffer
    })
}

struct Capture(&'static Mutex<Vec<u8>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Asserts that no password of `passwords` (as text, or base64 as in a Secret's data)
/// appears in the captured logs, the resource's events or its status.
async fn no_secret_shown(client: &kube::Client, ns: &str, passwords: &[&String]) {
    use base64::Engine as _;
    use k8s_openapi::api::events::v1::Event;
    let logs =
        String::from_utf8_lossy(&logs().lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    assert!(
        logs.contains("rotated Secret on request"),
        "the logs were captured"
    );
    let events = Api::<Event>::namespaced(client.clone(), ns)
        .list(&Default::default())
        .await
        .expect("events");
    let events = serde_json::to_string(&events.items).expect("json");
    let ml: MeshLogging = Api::namespaced(client.clone(), ns)
        .get(NAME)
        .await
        .expect("ml");
    let status = serde_json::to_string(&ml.status).expect("json");
    for password in passwords {
        let encoded = base64::engine::general_purpose::STANDARD.encode(password.as_bytes());
        for (what, text) in [("logs", &logs), ("events", &events), ("status", &status)] {
            assert!(
                !text.contains(password.as_str()),
                "a password in the {what}"
            );
            assert!(!text.contains(&encoded), "a base64 password in the {what}");
        }
    }
}
const OPERATOR_USER: &str = "meshlogging-operator";
const CONFIG_HASH: &str = "logging.mcp-mesh.io/config-hash";

/// The stand-in at its own URL, logging in as the operator's own user (with whichever
/// password the operator chose), trusting the stand-in's own CA (`ca`) or, when `ca` is
/// `None`, the CAs the operator trusts (then the stand-in must serve the operator's HTTP
/// certificate: [`serve_http_certificate`]).
struct AsTheOperator {
    url: String,
    ca: Option<Vec<u8>>,
}

impl EsEndpoint for AsTheOperator {
    fn client_config(
        &self,
        _: &Validated,
        admin: Option<Credentials>,
        operator_ca: Option<Vec<u8>>,
    ) -> ClientConfig {
        let mut config = ClientConfig::new(self.url.clone());
        config.credentials = admin;
        config.ca_pem = self.ca.clone().or(operator_ca);
        config
    }

    fn kibana_config(&self, _: &Validated, _: Option<Credentials>) -> Option<ClientConfig> {
        None
    }
}

fn text(secret: &Secret, key: &str) -> Option<String> {
    let data = secret.data.as_ref()?;
    Some(String::from_utf8_lossy(&data.get(key)?.0).into_owned())
}

async fn secret(client: &kube::Client, ns: &str, name: &str) -> Secret {
    Api::<Secret>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .expect(name)
}

/// The nodes (re)start: the stand-in's file realm holds the operator's user with `password`.
fn nodes_load_file_realm(sim: &EsSim, password: &str) {
    sim.with_state(|s| {
        s.users.insert(
            OPERATOR_USER.to_string(),
            User {
                username: OPERATOR_USER.to_string(),
                password: Some(password.to_string()),
                roles: vec!["superuser".into()],
                full_name: None,
                email: None,
                metadata: json!({}),
                enabled: true,
                realm: Realm::File,
            },
        );
    });
}

/// The pod-template hashes of the StatefulSet, Kibana's Deployment and the collector.
async fn template_hashes(client: &kube::Client, ns: &str) -> [String; 3] {
    template_hashes_of(client, ns, NAME).await
}

/// [`template_hashes`] of the resource `name`.
async fn template_hashes_of(client: &kube::Client, ns: &str, name: &str) -> [String; 3] {
    let hash = |a: Option<&BTreeMap<String, String>>| {
        a.and_then(|a| a.get(CONFIG_HASH))
            .cloned()
            .unwrap_or_default()
    };
    let sts = Api::<StatefulSet>::namespaced(client.clone(), ns)
        .get(&format!("{name}-es"))
        .await
        .expect("sts");
    let kibana = Api::<Deployment>::namespaced(client.clone(), ns)
        .get(&format!("{name}-kibana"))
        .await
        .expect("kibana");
    let collector = Api::<DaemonSet>::namespaced(client.clone(), ns)
        .get(&format!("{name}-collector"))
        .await
        .expect("collector");
    [
        hash(
            sts.spec
                .and_then(|s| s.template.metadata)
                .and_then(|m| m.annotations)
                .as_ref(),
        ),
        hash(
            kibana
                .spec
                .and_then(|s| s.template.metadata)
                .and_then(|m| m.annotations)
                .as_ref(),
        ),
        hash(
            collector
                .spec
                .and_then(|s| s.template.metadata)
                .and_then(|m| m.annotations)
                .as_ref(),
        ),
    ]
}

async fn annotate(client: &kube::Client, ns: &str, key: &str, value: &str) {
    Api::<MeshLogging>::namespaced(client.clone(), ns)
        .patch(
            NAME,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {key: value}}})),
        )
        .await
        .expect("annotate");
}

fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

/// The requests the stand-in answered 401 to, apart from `_security/_authenticate` (the
/// probes that ask whether a password works).
fn refused(sim: &EsSim) -> Vec<String> {
    sim.requests()
        .iter()
        .filter(|r| r.status == 401 && r.path != "/_security/_authenticate")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn print_requests(what: &str, sim: &EsSim) {
    println!("--- {what}: the stand-in's requests other than reads ---");
    for r in sim.requests() {
        if r.is_write() || r.status == 401 {
            println!("{} {} -> {}", r.method, r.path, r.status);
        }
    }
}

/// The stack of `examples/minimal.yaml`, Ready, with the operator logging in as its own
/// user. Returns the sim and the operator.
async fn ready_stack(prefix: &str) -> (Setup, EsSim, operator::Running) {
    ready_stack_with(prefix, false).await
}

/// The stand-in serves the operator's HTTP certificate as it is now in its Secret (a node
/// reloading it from its files); returns the certificate.
async fn serve_http_certificate(client: &kube::Client, ns: &str, sim: &EsSim) -> String {
    let s = secret(client, ns, &format!("{NAME}-es-http-certs")).await;
    let (cert, key) = (
        text(&s, "tls.crt").expect("tls.crt"),
        text(&s, "tls.key").expect("tls.key"),
    );
    sim.serve_certificate(&cert, &key)
        .expect("serve the certificate");
    cert
}

/// [`ready_stack`]; with `operator_tls`, the stand-in serves the operator's own HTTP
/// certificate and the operator trusts only its own CAs.
async fn ready_stack_with(prefix: &str, operator_tls: bool) -> (Setup, EsSim, operator::Running) {
    logs();
    let setup = Setup::new(prefix).await;
    let (server, client, ns) = (setup.server, setup.client.clone(), setup.ns.clone());
    let sim = sim::es_sim(3).await;
    let endpoint = Arc::new(AsTheOperator {
        url: sim.url(),
        ca: (!operator_tls)
            .then(|| sim.ca_pem().map(String::into_bytes))
            .flatten(),
    });
    let op = operator::start_with(server, operator::settings(&ns), endpoint, &ns).await;
    kubectl::apply_example(server, &ns, "minimal.yaml");
    let user = wait_for(WAIT, "the operator's password", || async {
        let s = Api::<Secret>::namespaced(client.clone(), &ns)
            .get_opt(&format!("{NAME}-es-operator-user"))
            .await
            .ok()??;
        text(&s, "password")
    })
    .await;
    nodes_load_file_realm(&sim, &user);
    if operator_tls {
        wait_for(WAIT, "the HTTP certificate", || async {
            Api::<Secret>::namespaced(client.clone(), &ns)
                .get_opt(&format!("{NAME}-es-http-certs"))
                .await
                .ok()?
        })
        .await;
        serve_http_certificate(&client, &ns, &sim).await;
    }
    resource::wait_ready(&client, &ns, NAME, "Ready=True").await;
    (setup, sim, op)
}

/// Waits until `secret`'s `key` differs from `before`; returns it.
async fn changed(client: &kube::Client, ns: &str, name: &str, key: &str, before: &str) -> String {
    wait_for(WAIT, &format!("{name} rotated"), || async {
        let s = Api::<Secret>::namespaced(client.clone(), ns)
            .get_opt(name)
            .await
            .ok()??;
        let rotated = s
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key("logging.mcp-mesh.io/rotated-at"));
        text(&s, key).filter(|v| v != before && rotated)
    })
    .await
}

/// Waits out a few resyncs and returns the operator's API writes and the stand-in's
/// writes in that time.
async fn quiet_window(
    server: &meshlogging_testkit::apiserver::ApiServer,
    sim: &EsSim,
    identity: &str,
) -> (Vec<String>, Vec<String>) {
    // Let a pass in flight finish.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let api_before = audit::writes(server, identity).len();
    sim.clear_requests();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let api = audit::writes(server, identity)[api_before..].to_vec();
    let es = sim
        .write_requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    (api, es)
}

#[tokio::test]
async fn rotating_credentials_changes_every_password_once_and_never_locks_the_operator_out() {
    let started = std::time::Instant::now();
    let (setup, sim, op) = ready_stack("rot-cred").await;
    let (server, client, ns) = (setup.server, setup.client.clone(), setup.ns.clone());
    let ml: MeshLogging = Api::namespaced(client.clone(), &ns)
        .get(NAME)
        .await
        .expect("ml");
    let v = meshlogging_operator::validate::validate(&ml).expect("valid");
    let secrets = [
        (format!("{NAME}-es-operator-user"), "password"),
        (format!("{NAME}-es-elastic-user"), "elastic"),
        (format!("{NAME}-kibana-user"), "password"),
        (format!("{NAME}-collector-user"), "password"),
        (format!("{NAME}-kibana-dashboards-user"), "password"),
    ];
    let mut before = Vec::new();
    for (name, key) in &secrets {
        let s = secret(&client, &ns, name).await;
        before.push(text(&s, key).expect("password"));
    }
    let hashes = template_hashes(&client, &ns).await;

    // A bad timestamp: refused, naming the annotation; nothing rotated.
    annotate(
        &client,
        &ns,
        "logging.mcp-mesh.io/rotate-credentials",
        "yesterday",
    )
    .await;
    let api: Api<MeshLogging> = Api::namespaced(client.clone(), &ns);
    wait_for(WAIT, "RotationRefused", || async {
        let ml = api.get(NAME).await.ok()?;
        let c = condition(ml.status.as_ref()?, "Progressing");
        (c.reason == "RotationRefused").then_some(c.message)
    })
    .await
    .contains("logging.mcp-mesh.io/rotate-credentials")
    .then_some(())
    .expect("the message names the annotation");
    for ((name, key), old) in secrets.iter().zip(&before) {
        let s = secret(&client, &ns, name).await;
        assert_eq!(text(&s, key).as_ref(), Some(old), "{name} is not rotated");
    }

    // A timestamp: every password rotated once.
    sim.clear_requests();
    let api_before = audit::writes(server, &ns).len();
    let rotation_started = std::time::Instant::now();
    annotate(
        &client,
        &ns,
        "logging.mcp-mesh.io/rotate-credentials",
        &now_rfc3339(),
    )
    .await;
    let mut after = Vec::new();
    for ((name, key), old) in secrets.iter().zip(&before) {
        after.push(changed(&client, &ns, name, key, old).await);
    }
    let operator_secret = secret(&client, &ns, &secrets[0].0).await;
    assert_eq!(
        text(&operator_secret, "previous-password").as_ref(),
        Some(&before[0]),
        "the operator keeps its previous password until the nodes know the new one"
    );

    // Elasticsearch's users and the Secrets agree (the stand-in keeps the passwords).
    let users = [
        ("elastic".to_string(), &after[1]),
        ("kibana_system".to_string(), &after[2]),
        (v.names.collector_user(), &after[3]),
        (v.names.dashboards_user(), &after[4]),
    ];
    for (user, password) in &users {
        wait_for(
            WAIT,
            &format!("{user}'s new password in Elasticsearch"),
            || async {
                let known = sim.with_state(|s| s.users.get(user).and_then(|u| u.password.clone()));
                (known.as_ref() == Some(*password)).then_some(())
            },
        )
        .await;
    }
    // Kibana, the collector (they read their password at start) and the nodes (the new
    // file realm) restart: their templates change.
    let rotated = wait_for(WAIT, "every workload's template changes", || async {
        let now = template_hashes(&client, &ns).await;
        now.iter().zip(&hashes).all(|(a, b)| a != b).then_some(now)
    })
    .await;
    // Meanwhile the nodes have not restarted and know only the previous password: the
    // operator keeps using it (a few passes go by; the stack stays Ready).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let ml = api.get(NAME).await.expect("ml");
    assert!(
        meshlogging_testkit::is_ready(&ml),
        "Ready through the rotation"
    );
    assert_eq!(refused(&sim), Vec::<String>::new(), "no refused call");
    assert!(
        text(
            &secret(&client, &ns, &secrets[0].0).await,
            "previous-password"
        )
        .is_some(),
        "the previous password is kept while the nodes have not restarted"
    );

    // The nodes restart with the new file realm: the previous password is dropped.
    nodes_load_file_realm(&sim, &after[0]);
    Kubelet::new(&client, &ns).mark_ready(NAME).await;
    wait_for(WAIT, "the previous password dropped", || async {
        let s = secret(&client, &ns, &secrets[0].0).await;
        text(&s, "previous-password").is_none().then_some(())
    })
    .await;
    println!(
        "credential rotation: from the annotation to the previous password dropped in {:?}",
        rotation_started.elapsed()
    );
    assert_eq!(refused(&sim), Vec::<String>::new(), "no refused call");
    let probes = sim.requests().iter().filter(|r| r.status == 401).count();
    println!("401 answers to _security/_authenticate probes: {probes}");
    print_requests("credential rotation", &sim);
    println!("--- credential rotation: the operator's API writes ---");
    for w in &audit::writes(server, &ns)[api_before..] {
        println!("{w}");
    }
    assert_eq!(
        template_hashes(&client, &ns).await,
        rotated,
        "dropping the previous password restarts nothing"
    );

    // Steady: nothing written, to the API server or to Elasticsearch.
    let (api_writes, es_writes) = quiet_window(server, &sim, &ns).await;
    assert_eq!(
        api_writes,
        Vec::<String>::new(),
        "API writes after the rotation"
    );
    assert_eq!(
        es_writes,
        Vec::<String>::new(),
        "Elasticsearch writes after the rotation"
    );

    // An operator restart sends nothing again (the rotation is remembered on the Secrets).
    op.stop().await;
    let endpoint = Arc::new(AsTheOperator {
        url: sim.url(),
        ca: sim.ca_pem().map(String::into_bytes),
    });
    let identity = format!("{ns}-2");
    let op = operator::start_with(server, operator::settings(&ns), endpoint, &identity).await;
    resource::wait_ready(&client, &ns, NAME, "Ready after the restart").await;
    let (api_writes, es_writes) = quiet_window(server, &sim, &identity).await;
    let all = audit::writes(server, &identity);
    assert!(
        !all.iter().any(|w| w.contains("secrets/")),
        "no Secret written after the restart: {all:?}"
    );
    assert_eq!(api_writes, Vec::<String>::new());
    assert_eq!(es_writes, Vec::<String>::new());
    for ((name, key), rotated) in secrets.iter().zip(&after) {
        let s = secret(&client, &ns, name).await;
        assert_eq!(text(&s, key).as_ref(), Some(rotated), "{name} rotated once");
    }
    assert_eq!(refused(&sim), Vec::<String>::new());
    op.stop().await;
    let passwords: Vec<&String> = before.iter().chain(&after).collect();
    no_secret_shown(&client, &ns, &passwords).await;
    println!("test took {:?}", started.elapsed());
}

/// Samples `Ready` every 200 ms until `stop`; returns the samples that were not True.
fn sample_ready(
    client: kube::Client,
    ns: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<Vec<String>> {
    tokio::spawn(async move {
        let api: Api<MeshLogging> = Api::namespaced(client, &ns);
        let mut not_ready = Vec::new();
        let mut samples = 0;
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            if let Ok(ml) = api.get(NAME).await {
                samples += 1;
                if !meshlogging_testkit::is_ready(&ml) {
                    let ready = ml.status.as_ref().map(|s| condition(s, "Ready"));
                    not_ready.push(ready.map(|c| c.message).unwrap_or_default());
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        println!("Ready sampled {samples} times");
        not_ready
    })
}

/// The stand-in serves the operator's own HTTP certificate and the operator trusts only
/// its own CAs: through a CA rotation the operator's calls never fail (Ready, sampled every
/// 200 ms, stays True; no refused request), the old CA stays trusted while the node still
/// serves a certificate it signed, and is dropped only once the node serves the new one.
#[tokio::test]
async fn rotating_certificates_trusts_both_cas_until_the_new_one_serves() {
    let started = std::time::Instant::now();
    let (setup, sim, op) = ready_stack_with("rot-ca", true).await;
    let (server, client, ns) = (setup.server, setup.client.clone(), setup.ns.clone());
    let ca_name = format!("{NAME}-ca");
    let http_name = format!("{NAME}-es-http-certs");
    let old_ca = text(&secret(&client, &ns, &ca_name).await, "ca.crt").expect("ca");
    let hashes = template_hashes(&client, &ns).await;
    // Settled first (the first passes after Ready drop cluster.initial_master_nodes).
    let (_, es_writes) = quiet_window(server, &sim, &ns).await;
    assert_eq!(
        es_writes,
        Vec::<String>::new(),
        "steady before the rotation"
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = sample_ready(client.clone(), ns.clone(), stop.clone());
    sim.clear_requests();
    let api_before = audit::writes(server, &ns).len();
    let rotation_started = std::time::Instant::now();
    annotate(
        &client,
        &ns,
        "logging.mcp-mesh.io/rotate-certificates",
        &now_rfc3339(),
    )
    .await;
    let new_ca = changed(&client, &ns, &ca_name, "ca.crt", &old_ca).await;
    // The certificates are re-signed by the new CA and carry both CAs.
    for leaf in ["es-http-certs", "es-transport-certs"] {
        let name = format!("{NAME}-{leaf}");
        wait_for(WAIT, &format!("{name} carries both CAs"), || async {
            let s = secret(&client, &ns, &name).await;
            let ca = text(&s, "ca.crt")?;
            (ca.contains(new_ca.trim()) && ca.contains(old_ca.trim())).then_some(())
        })
        .await;
    }
    // The node still serves the certificate of the old CA: the operator trusts both, and
    // keeps the old one (a few passes go by).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let ca = secret(&client, &ns, &ca_name).await;
    assert_eq!(
        text(&ca, "previous-ca.crt").map(|p| p.trim().to_string()),
        Some(old_ca.trim().to_string()),
        "the old CA is kept while the node serves its certificate"
    );

    // The node reloads its certificate (signed by the new CA): the old CA is dropped, the
    // certificates carry the new one alone (and the node reloads them again).
    let served = serve_http_certificate(&client, &ns, &sim).await;
    wait_for(WAIT, "the previous CA dropped", || async {
        let s = secret(&client, &ns, &ca_name).await;
        text(&s, "previous-ca.crt").is_none().then_some(())
    })
    .await;
    for leaf in ["es-http-certs", "es-transport-certs"] {
        let name = format!("{NAME}-{leaf}");
        wait_for(WAIT, &format!("{name} carries only the new CA"), || async {
            let s = secret(&client, &ns, &name).await;
            (text(&s, "ca.crt")?.trim() == new_ca.trim()).then_some(())
        })
        .await;
    }
    let reissued = text(&secret(&client, &ns, &http_name).await, "tls.crt").expect("tls.crt");
    assert_ne!(reissued, served, "written again with the new CA alone");
    serve_http_certificate(&client, &ns, &sim).await;
    println!(
        "CA rotation: from the annotation to the previous CA dropped in {:?}",
        rotation_started.elapsed()
    );
    // Kibana and the collector read the CA at start: they restart; the nodes reload their
    // certificates live and keep running.
    let now = template_hashes(&client, &ns).await;
    assert_eq!(now[0], hashes[0], "the nodes do not restart");
    assert_ne!(now[1], hashes[1], "Kibana restarts");
    assert_ne!(now[2], hashes[2], "the collector restarts");
    resource::wait_ready(&client, &ns, NAME, "Ready through the rotation").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let not_ready = sampler.await.expect("sampler");
    assert_eq!(not_ready, Vec::<String>::new(), "Ready=True throughout");
    assert_eq!(refused(&sim), Vec::<String>::new(), "no refused call");
    print_requests("CA rotation", &sim);
    println!("--- CA rotation: the operator's API writes ---");
    for w in &audit::writes(server, &ns)[api_before..] {
        println!("{w}");
    }
    let (api_writes, es_writes) = quiet_window(server, &sim, &ns).await;
    assert_eq!(
        api_writes,
        Vec::<String>::new(),
        "API writes after the rotation"
    );
    assert_eq!(
        es_writes,
        Vec::<String>::new(),
        "Elasticsearch writes after the rotation"
    );
    op.stop().await;
    println!("test took {:?}", started.elapsed());
}

/// The keystore's password as the nodes' keystore script computes it from the mounted
/// Secrets (the digest of the secure-settings files), and its fingerprint.
async fn keystore_digest(client: &kube::Client, ns: &str, name: &str) -> (String, String) {
    use meshlogging_operator::keystore::KeystoreFiles;
    let ml: MeshLogging = Api::namespaced(client.clone(), ns)
        .get(name)
        .await
        .expect("ml");
    let v = meshlogging_operator::validate::validate(&ml).expect("valid");
    let mut files = KeystoreFiles::default();
    for source in &v.managed().expect("managed").keystore {
        let data = Api::<Secret>::namespaced(client.clone(), ns)
            .get_opt(&source.secret)
            .await
            .expect("secret")
            .and_then(|s| s.data)
            .unwrap_or_default();
        let items = source
            .items
            .clone()
            .unwrap_or_else(|| data.keys().map(|k| (k.clone(), k.clone())).collect());
        for (key, setting) in items {
            if let Some(value) = data.get(&key) {
                files.0.insert(setting, value.0.clone());
            }
        }
    }
    let digest = files.digest();
    let fingerprint = meshlogging_operator::fingerprint::of_parts([digest.as_str()]);
    (digest, fingerprint)
}

/// `status.elasticsearch.secureSettingsReloaded`.
async fn reloaded(client: &kube::Client, ns: &str, name: &str) -> Option<String> {
    let ml: MeshLogging = Api::namespaced(client.clone(), ns).get(name).await.ok()?;
    ml.status?.elasticsearch?.secure_settings_reloaded
}

/// The keystore tests' start: a namespace, a 3-node stand-in, an operator reaching it, and
/// the S3 credentials Secret the production example's repository reads (the example is
/// not applied: a test may add its own Secrets first).
async fn keystore_stack(prefix: &str) -> (Setup, EsSim, operator::Running) {
    let setup = Setup::new(prefix).await;
    let sim = sim::es_sim(3).await;
    let endpoint = Arc::new(meshlogging_testkit::sim::SimEndpoint::new(&sim));
    let op = operator::start_with(
        setup.server,
        operator::settings(&setup.ns),
        endpoint,
        &setup.ns,
    )
    .await;
    resource::production_s3_secret(&setup.client, &setup.ns).await;
    (setup, sim, op)
}

/// Waits until the status records the reload of the keystore content as it is (the first
/// pass confirms the nodes' keystore with one); returns its digest and fingerprint.
async fn first_reload_recorded(client: &kube::Client, ns: &str, name: &str) -> (String, String) {
    let (digest, fp) = keystore_digest(client, ns, name).await;
    wait_for(WAIT, "the first reload recorded", || async {
        (reloaded(client, ns, name).await.as_deref() == Some(fp.as_str())).then_some(())
    })
    .await;
    (digest, fp)
}

/// The reload requests the stand-in got: the password each was sent with, and how many
/// nodes refused it.
fn reload_requests(sim: &EsSim) -> Vec<(String, u16)> {
    sim.requests()
        .iter()
        .filter(|r| r.path == "/_nodes/reload_secure_settings")
        .map(|r| {
            let password = r
                .body
                .as_ref()
                .and_then(|b| b["secure_settings_password"].as_str())
                .unwrap_or_default()
                .to_string();
            (password, r.status)
        })
        .collect()
}

/// A repository credential rotated in its Secret is reloaded, with no restart: the
/// nodes' template does not change (nor Kibana's or the collector's) and the StatefulSet
/// is not written; the operator sends `POST _nodes/reload_secure_settings` with the new
/// keystore's digest; while some nodes' keystores are not rebuilt yet (the stand-in's nodes
/// refuse the password) it retries, showing `Progressing` (`2/3 nodes`); once every node has
/// the new keystore it records the reload in the status, with one `SecureSettingsReloaded`
/// event, and then sends nothing and writes nothing. The digest (a hash of the secret) is in
/// no log, event or status.
#[tokio::test]
async fn a_rotated_repository_credential_is_reloaded_without_a_restart() {
    use meshlogging_testkit::condition;
    logs();
    let started = std::time::Instant::now();
    let (setup, sim, op) = keystore_stack("rot-keystore").await;
    let (server, client, ns) = (setup.server, setup.client.clone(), setup.ns.clone());
    let nodes = ["es-sim-0", "es-sim-1", "es-sim-2"];
    kubectl::apply_example(server, &ns, "production.yaml");
    let name = "mcp-mesh-logs";
    resource::wait_ready(&client, &ns, name, "Ready=True").await;
    // The nodes started with the keystore of the Secret as it is: the first pass confirms
    // it with a reload (every node accepts it) and records it.
    let (first, _) = first_reload_recorded(&client, &ns, name).await;
    for node in nodes {
        sim.set_keystore_password(node, &first);
    }
    let before = template_hashes_of(&client, &ns, name).await;
    let sts_api = Api::<StatefulSet>::namespaced(client.clone(), &ns);
    let sts_version = sts_api
        .get(&format!("{name}-es"))
        .await
        .expect("sts")
        .metadata
        .resource_version;
    let (_, es_writes) = quiet_window(server, &sim, &ns).await;
    assert_eq!(es_writes, Vec::<String>::new(), "steady before the change");
    assert_eq!(
        reload_requests(&sim),
        vec![],
        "no reload when nothing changed"
    );

    let api_before = audit::writes(server, &ns).len();
    sim.clear_requests();
    let rotated_at = std::time::Instant::now();
    Api::<Secret>::namespaced(client.clone(), &ns)
        .patch(
            "s3-credentials",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"secret_key": "rotatedEXAMPLEKEY"}})),
        )
        .await
        .expect("change the repository's secret key");
    let (second, second_fp) = keystore_digest(&client, &ns, name).await;
    assert_ne!(second, first);
    // The operator does not watch users' Secrets: the change is seen at the next resync.
    // No node has rebuilt its keystore yet: each refuses, and the operator says so.
    let refused = wait_for(WAIT, "a reload refused by every node", || async {
        let ml: MeshLogging = Api::namespaced(client.clone(), &ns).get(name).await.ok()?;
        let c = condition(ml.status.as_ref()?, "Progressing");
        (c.reason == "ReloadingSecureSettings").then_some(c.message)
    })
    .await;
    assert_eq!(
        refused,
        "reloading secure settings: 0/3 nodes have the new keystore"
    );
    // Two sidecars rebuilt theirs.
    sim.set_keystore_password(nodes[0], &second);
    sim.set_keystore_password(nodes[1], &second);
    wait_for(WAIT, "2/3 nodes", || async {
        let ml: MeshLogging = Api::namespaced(client.clone(), &ns).get(name).await.ok()?;
        let c = condition(ml.status.as_ref()?, "Progressing");
        (c.message == "reloading secure settings: 2/3 nodes have the new keystore").then_some(())
    })
    .await;
    let ml: MeshLogging = Api::namespaced(client.clone(), &ns)
        .get(name)
        .await
        .expect("ml");
    let status = ml.status.expect("status");
    assert_eq!(
        status.operation.as_ref().map(|o| o.type_.as_str()),
        Some("ReloadingSecureSettings")
    );
    assert_eq!(
        status.phase,
        Some(meshlogging_operator::api::Phase::Ready),
        "a reload is not a scaling: still Ready"
    );
    sim.set_keystore_password(nodes[2], &second);
    wait_for(WAIT, "the reload recorded", || async {
        (reloaded(&client, &ns, name).await.as_deref() == Some(second_fp.as_str())).then_some(())
    })
    .await;
    println!(
        "reload: from the Secret's change to every node reloaded in {:?}",
        rotated_at.elapsed()
    );
    let requests = reload_requests(&sim);
    println!("--- reload: the stand-in's requests other than reads ---");
    for r in sim.requests().iter().filter(|r| r.is_write()) {
        println!("{} {} -> {}", r.method, r.path, r.status);
    }
    assert!(requests.len() >= 3, "refused, 2/3, done: {requests:?}");
    assert!(
        requests
            .iter()
            .all(|(password, status)| *password == second && *status == 200),
        "every reload with the new keystore's digest"
    );
    let notes = resource::event_notes(&client, &ns, "SecureSettingsReloaded").await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("on 3 nodes") && notes[0].contains(&second_fp),
        "{}",
        notes[0]
    );
    // No restart: the templates are as they were and the StatefulSet was never written.
    let after = template_hashes_of(&client, &ns, name).await;
    assert_eq!(after, before, "no template changed");
    let sts_now = sts_api.get(&format!("{name}-es")).await.expect("sts");
    assert_eq!(
        sts_now.metadata.resource_version, sts_version,
        "the StatefulSet untouched"
    );
    let written = audit::writes(server, &ns)[api_before..].to_vec();
    assert!(
        written.iter().all(|w| !w.contains("statefulsets")),
        "{written:?}"
    );
    // Steady: nothing sent again, nothing written.
    let (api_writes, es_writes) = quiet_window(server, &sim, &ns).await;
    assert_eq!(es_writes, Vec::<String>::new(), "no Elasticsearch write");
    assert_eq!(reload_requests(&sim), vec![], "no reload once done");
    assert_eq!(api_writes, Vec::<String>::new(), "steady after the reload");
    // The digest is a hash of the secret: shown nowhere.
    let logs =
        String::from_utf8_lossy(&logs().lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    assert!(
        !logs.contains(&second) && !logs.contains(&first),
        "digest in the logs"
    );
    let events = Api::<k8s_openapi::api::events::v1::Event>::namespaced(client.clone(), &ns)
        .list(&Default::default())
        .await
        .expect("events");
    let shown = serde_json::to_string(&events.items).expect("json")
        + &serde_json::to_string(
            &Api::<MeshLogging>::namespaced(client.clone(), &ns)
                .get(name)
                .await
                .expect("ml")
                .status,
        )
        .expect("json");
    assert!(!shown.contains(&second) && !shown.contains("rotatedEXAMPLEKEY"));
    // A restarted operator reads what was reloaded from the status: nothing sent again.
    op.stop().await;
    let endpoint = Arc::new(meshlogging_testkit::sim::SimEndpoint::new(&sim));
    let identity = format!("{ns}-2");
    let op = operator::start_with(server, operator::settings(&ns), endpoint, &identity).await;
    resource::wait_ready(&client, &ns, name, "Ready after the restart").await;
    sim.clear_requests();
    let (api_writes, es_writes) = quiet_window(server, &sim, &identity).await;
    assert_eq!(reload_requests(&sim), vec![], "no reload after a restart");
    assert_eq!(es_writes, Vec::<String>::new());
    assert_eq!(api_writes, Vec::<String>::new());
    op.stop().await;
    println!("test took {:?}", started.elapsed());
}

/// A node that refuses the reloaded keystore for another reason than its password (here a
/// setting it does not know) is reported: `Ready` False with `SecureSettingsReloadFailed`,
/// naming the node, Elasticsearch's reason (the setting) and the Secret; the reload is not
/// sent again for that content (one request over several resyncs). New content is reloaded
/// and the resource is Ready again.
#[tokio::test]
async fn a_reload_refused_for_a_setting_is_reported_and_not_retried() {
    let started = std::time::Instant::now();
    let (setup, sim, op) = keystore_stack("rot-reload-fail").await;
    let (server, client, ns) = (setup.server, setup.client.clone(), setup.ns.clone());
    kubectl::apply_example(server, &ns, "production.yaml");
    let name = "mcp-mesh-logs";
    resource::wait_ready(&client, &ns, name, "Ready=True").await;
    first_reload_recorded(&client, &ns, name).await;
    let why = "unknown secure setting [s3.client.default.session_token] please check that any required plugins are installed";
    sim.set_keystore_reload_error(Some(why));
    let secrets = Api::<Secret>::namespaced(client.clone(), &ns);
    secrets
        .patch(
            "s3-credentials",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"session_token": "token-1"}})),
        )
        .await
        .expect("add a session token");
    let ready = wait_for(WAIT, "Ready=False SecureSettingsReloadFailed", || async {
        let ml: MeshLogging = Api::namespaced(client.clone(), &ns).get(name).await.ok()?;
        let c = meshlogging_testkit::condition(ml.status.as_ref()?, "Ready");
        (c.reason == "SecureSettingsReloadFailed").then_some(c)
    })
    .await;
    assert_eq!(ready.status, "False");
    assert!(
        ready.message.starts_with("node es-sim-0 refused the reloaded keystore: illegal_argument_exception: unknown secure setting [s3.client.default.session_token]")
            && ready.message.ends_with("(built from Secret(s) s3-credentials)"),
        "{}",
        ready.message
    );
    // Resyncs every 2 s here: the refused content is not sent again.
    let sent = reload_requests(&sim).len();
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        reload_requests(&sim).len(),
        sent,
        "no retry of the same content"
    );
    assert_eq!(
        resource::event_notes(&client, &ns, "SecureSettingsReloadFailed")
            .await
            .len(),
        1
    );
    // Fixed (the plugin installed, say) and changed again: reloaded.
    sim.set_keystore_reload_error(None);
    secrets
        .patch(
            "s3-credentials",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"session_token": "token-2"}})),
        )
        .await
        .expect("change the session token");
    let (_, fixed_fp) = keystore_digest(&client, &ns, name).await;
    wait_for(WAIT, "the new content reloaded", || async {
        (reloaded(&client, &ns, name).await.as_deref() == Some(fixed_fp.as_str())).then_some(())
    })
    .await;
    resource::wait_ready(&client, &ns, name, "Ready again").await;
    op.stop().await;
    println!("test took {:?}", started.elapsed());
}

/// A secure setting Elasticsearch does not reload (here the HTTP key's passphrase, from
/// `spec.elasticsearch.secureSettings`) changed in its Secret restarts the nodes: their
/// template changes (Kibana's and the collector's do not).
#[tokio::test]
async fn a_changed_secure_setting_that_does_not_reload_restarts_the_nodes_only() {
    let started = std::time::Instant::now();
    let (setup, sim, op) = keystore_stack("rot-restart").await;
    let (server, client, ns) = (setup.server, setup.client.clone(), setup.ns.clone());
    let secrets = Api::<Secret>::namespaced(client.clone(), &ns);
    let setting = "xpack.security.http.ssl.secure_key_passphrase";
    assert!(!meshlogging_operator::keystore::reloadable(setting));
    secrets
        .create(
            &Default::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "es-secure"},
                "stringData": {setting: "first-passphrase"}
            }))
            .expect("secret"),
        )
        .await
        .expect("create the secure settings Secret");
    kubectl::apply_example(server, &ns, "production.yaml");
    let name = "mcp-mesh-logs";
    Api::<MeshLogging>::namespaced(client.clone(), &ns)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"elasticsearch": {"secureSettings": [{"secretName": "es-secure"}]}}})),
        )
        .await
        .expect("secure settings");
    resource::wait_ready(&client, &ns, name, "Ready=True").await;
    let before = template_hashes_of(&client, &ns, name).await;
    secrets
        .patch(
            "es-secure",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {setting: "second-passphrase"}})),
        )
        .await
        .expect("change the passphrase");
    let after = wait_for(WAIT, "the nodes' template changes", || async {
        let now = template_hashes_of(&client, &ns, name).await;
        (now[0] != before[0]).then_some(now)
    })
    .await;
    assert_eq!(after[1], before[1], "Kibana does not restart");
    assert_eq!(after[2], before[2], "the collector does not restart");
    let (api_writes, es_writes) = quiet_window(server, &sim, &ns).await;
    assert_eq!(es_writes, Vec::<String>::new(), "no Elasticsearch write");
    assert_eq!(api_writes, Vec::<String>::new(), "steady after the change");
    op.stop().await;
    println!("test took {:?}", started.elapsed());
}

/// While the nodes restart one by one, some hold the operator's new password and some the
/// previous one: a request a node refuses (401) is sent again at once with the other
/// password, and the call succeeds; a password check as another user is not.
#[tokio::test]
async fn a_refused_request_is_sent_again_with_the_other_password() {
    use meshlogging_operator::elastic::EsClient;
    let sim = EsSim::start_with(es_sim::SimConfig {
        tls: true,
        users: vec![es_sim::SimUser::new(
            OPERATOR_USER,
            "new-Pw-1",
            &["superuser"],
        )],
        ..Default::default()
    })
    .await;
    sim.set_health(es_sim::Health::Green);
    let credentials = |password: &str| Credentials {
        username: OPERATOR_USER.into(),
        password: password.into(),
    };
    let with_previous = sim::client_config(&sim, OPERATOR_USER, "previous-Pw-0");
    let alone = EsClient::new(with_previous.clone()).expect("client");
    assert!(alone.health().await.is_err(), "refused without a fallback");
    sim.clear_requests();
    let client = EsClient::new(with_previous)
        .expect("client")
        .with_fallback(credentials("new-Pw-1"));
    assert_eq!(client.health().await.expect("health"), "green");
    let answered: Vec<(String, u16, Option<String>)> = sim
        .requests()
        .iter()
        .map(|r| (r.path.clone(), r.status, r.user.clone()))
        .collect();
    assert_eq!(
        answered,
        [
            ("/_cluster/health".to_string(), 401, None),
            (
                "/_cluster/health".to_string(),
                200,
                Some(OPERATOR_USER.to_string())
            ),
        ]
    );
    // Asking whether a password works is answered as it is.
    assert!(
        !client
            .authenticates(&credentials("wrong-Pw-2"))
            .await
            .expect("answer")
    );
}

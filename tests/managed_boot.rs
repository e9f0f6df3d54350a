//! Managed mode against the real thing: what the operator renders for a node of
//! `examples/minimal.yaml` (the ConfigMap's `elasticsearch.yml`, the certificate Secrets,
//! the file-realm Secret, the keystore init script, the pod's environment) boots a real
//! Elasticsearch (the integration-test distribution of `hack/elasticsearch.sh`).
//!
//! The operator runs in-process against the test API server; there is no kubelet, so the
//! test plays it: it reads what the pod would see from the API server and lays it out in
//! an Elasticsearch config folder, changing only what one loopback node needs
//! ([`CHANGED`] lists each changed key and why), runs the init container's keystore script
//! with bash and the distribution's own `elasticsearch-keystore`, and boots the node.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kit::elasticsearch::{self, NodeSpec};
use kit::{operator, wait_for};
use kube::api::{Api, Patch, PatchParams, PostParams};
use meshlogging_operator::controller::EsEndpoint;
use meshlogging_operator::elastic::{ClientConfig, Credentials};
use meshlogging_operator::naming as names;
use meshlogging_operator::validate::Validated;
use meshlogging_testkit as kit;

const NAME: &str = "mesh-logs";

/// The keys of the rendered `elasticsearch.yml` this test changes, and why. Every other
/// key is used exactly as rendered (the test prints the full list).
const CHANGED: &[(&str, &str)] = &[
    (
        "network.host",
        "0.0.0.0 in the pod; a test binds loopback only",
    ),
    (
        "discovery.seed_hosts",
        "the headless Service name does not resolve outside the cluster: the node's own loopback transport port",
    ),
    (
        "cluster.initial_master_nodes",
        "the StatefulSet's 3 pods become the one node that runs here (its POD_NAME)",
    ),
    (
        "readiness.port",
        "8080 in the pod; a free loopback port here",
    ),
];

/// Keys whose values are paths under the image's config folder: the same files, in this
/// node's config folder (Elasticsearch 8.18+ reads SSL files only from its config folder).
const CONFIG_PATHS: &[&str] = &[
    "xpack.security.http.ssl.certificate",
    "xpack.security.http.ssl.certificate_authorities",
    "xpack.security.http.ssl.key",
    "xpack.security.transport.ssl.certificate",
    "xpack.security.transport.ssl.certificate_authorities",
    "xpack.security.transport.ssl.key",
];

/// Keys this test adds (not rendered; the pod gets them from the image's defaults).
const ADDED: &[(&str, &str)] = &[
    (
        "http.port",
        "9200 in the pod (image default); a free loopback port here",
    ),
    (
        "transport.port",
        "9300 in the pod (image default); a free loopback port here",
    ),
    (
        "path.data",
        "the image's data folder; the test's temporary folder",
    ),
    (
        "path.logs",
        "the image's logs folder; the test's temporary folder",
    ),
];

/// Why the test adds [`elasticsearch::DISK_SETTINGS`] (not rendered either).
const DISK_WHY: &str =
    "a shared test machine's disk may be past the default watermarks; unrelated to the rendering";

/// Where the pod mounts things, and where the test puts them instead.
const POD_HOME: &str = "/usr/share/elasticsearch";
const POD_SECURE_SETTINGS: &str = "/mnt/elastic-internal/secure-settings";
const POD_ELASTIC_USER: &str = "/mnt/elastic-internal/elastic-user";
const POD_KEYSTORE: &str = "/mnt/elastic-internal/keystore";

/// Reaches the node this test boots the way the controller reaches a managed cluster
/// (its own credentials and CA from the Secrets), at `https://localhost:PORT` instead of
/// the HTTP Service (no cluster DNS here; `localhost` is in the HTTP certificate).
struct LoopbackEndpoint {
    url: String,
}

impl EsEndpoint for LoopbackEndpoint {
    fn client_config(
        &self,
        _: &Validated,
        admin: Option<Credentials>,
        ca_pem: Option<Vec<u8>>,
    ) -> ClientConfig {
        let mut config = ClientConfig::new(self.url.clone());
        config.credentials = admin;
        config.ca_pem = ca_pem;
        config
    }
    /// No Kibana runs here: no dashboards (tests/dashboards.rs has them).
    fn kibana_config(&self, _: &Validated, _: Option<Credentials>) -> Option<ClientConfig> {
        None
    }
}

fn secret_data(secret: &Secret) -> BTreeMap<String, Vec<u8>> {
    secret
        .data
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect()
}

fn text(data: &BTreeMap<String, Vec<u8>>, key: &str, secret: &str) -> String {
    String::from_utf8(
        data.get(key)
            .unwrap_or_else(|| panic!("{secret} has no {key}"))
            .clone(),
    )
    .expect("utf-8")
}

/// `["a","b"]`: `items` as a YAML flow sequence of quoted strings.
fn flow_list(items: impl Iterator<Item = impl std::fmt::Display>) -> String {
    let quoted: Vec<String> = items.map(|i| format!("\"{i}\"")).collect();
    format!("[{}]", quoted.join(","))
}

/// The key of a flat `key: value` line of the rendered yml (comments and blanks: none).
fn line_key(line: &str) -> Option<String> {
    if line.trim_start().starts_with('#') || line.trim().is_empty() {
        return None;
    }
    let (key, _) = line.split_once(": ")?;
    Some(key.trim_matches('"').to_string())
}

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What the pods would see, read from the API server.
struct Rendered {
    yml: String,
    http: BTreeMap<String, Vec<u8>>,
    transport: BTreeMap<String, Vec<u8>>,
    realm: BTreeMap<String, Vec<u8>>,
    realm_name: String,
    elastic: BTreeMap<String, Vec<u8>>,
    elastic_password: String,
    operator_password: String,
    script: String,
    java_opts: String,
    mounts: BTreeMap<String, String>,
    ca_pem: String,
    /// The projected secure-settings volume, resolved: setting name → content.
    secure_files: BTreeMap<String, Vec<u8>>,
    /// The pod mounts a secure-settings volume (then the keystore is password-protected).
    secure_volume: bool,
    replicas: i32,
}

/// Starts the operator for a fresh namespace (reaching Elasticsearch at
/// `https://localhost:<http_port>`), creates the Secrets `secrets` (name, key, value) and
/// `examples/<example>`, and reads back what its node pods would see.
async fn render(
    prefix: &str,
    http_port: u16,
    example: &str,
    secrets: &[(&str, &str, &str)],
) -> (kube::Client, String, operator::Running, Rendered) {
    let started = Instant::now();
    let kit::Setup { server, client, ns } = kit::Setup::new(prefix).await;

    let endpoint = LoopbackEndpoint {
        url: format!("https://localhost:{http_port}"),
    };
    let op =
        operator::start_with(server, operator::settings(&ns), Arc::new(endpoint), prefix).await;
    for (name, key, value) in secrets {
        let secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(name.to_string()),
                ..Default::default()
            },
            string_data: Some(BTreeMap::from([(key.to_string(), value.to_string())])),
            ..Default::default()
        };
        let api: Api<Secret> = Api::namespaced(client.clone(), &ns);
        match api.get_opt(name).await.expect("get secret") {
            Some(mut existing) => {
                let mut data = existing.data.take().unwrap_or_default();
                data.insert(
                    key.to_string(),
                    k8s_openapi::ByteString(value.as_bytes().to_vec()),
                );
                existing.data = Some(data);
                api.replace(name, &PostParams::default(), &existing)
                    .await
                    .expect("update secret");
            }
            None => {
                api.create(&PostParams::default(), &secret)
                    .await
                    .expect("create secret");
            }
        }
    }
    let mut ml = kit::example(example);
    ml.metadata.name = Some(NAME.into());
    Api::<meshlogging_operator::api::MeshLogging>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &ml)
        .await
        .expect("create MeshLogging");

    // 1. What the pod would see, from the API server.
    let sts_api: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    let sts = wait_for(Duration::from_secs(60), "the StatefulSet", || async {
        sts_api.get_opt(&names::es_statefulset(NAME)).await.ok()?
    })
    .await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let secret = |name: String| {
        let secrets = secrets.clone();
        async move {
            let s = wait_for(Duration::from_secs(30), &name, || async {
                secrets.get_opt(&name).await.ok()?
            })
            .await;
            (name, secret_data(&s))
        }
    };
    let (http_name, http) = secret(names::es_http_certs_secret(NAME)).await;
    let (_, transport) = secret(names::es_transport_certs_secret(NAME)).await;
    let (ca_name, ca) = secret(names::ca_secret(NAME)).await;
    let (realm_name, realm) = secret(names::es_file_realm_secret(NAME)).await;
    let (elastic_name, elastic) = secret(names::es_elastic_user_secret(NAME)).await;
    let (operator_name, operator_user) = secret(names::es_operator_user_secret(NAME)).await;
    let cm = Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .get(&names::es_config_map(NAME))
        .await
        .expect("ConfigMap");
    let rendered_yml = cm
        .data
        .as_ref()
        .and_then(|d| d.get("elasticsearch.yml"))
        .expect("elasticsearch.yml")
        .clone();
    let pod = sts
        .spec
        .as_ref()
        .expect("sts spec")
        .template
        .spec
        .clone()
        .expect("pod spec");
    let init = pod
        .init_containers
        .as_ref()
        .and_then(|c| {
            c.iter()
                .find(|c| c.name == "elastic-internal-init-keystore")
        })
        .expect("keystore init container");
    let script = init.command.as_ref().expect("init command")[2].clone();
    let es = pod
        .containers
        .iter()
        .find(|c| c.name == "elasticsearch")
        .expect("elasticsearch container");
    let env: BTreeMap<String, _> = es
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.name.clone(), e))
        .collect();
    let java_opts = env
        .get("ES_JAVA_OPTS")
        .and_then(|e| e.value.clone())
        .expect("ES_JAVA_OPTS");
    for (var, field) in [("POD_NAME", "metadata.name"), ("POD_IP", "status.podIP")] {
        let from = env
            .get(var)
            .and_then(|e| e.value_from.as_ref())
            .and_then(|f| f.field_ref.as_ref())
            .map(|f| f.field_path.as_str());
        assert_eq!(from, Some(field), "{var} comes from the pod's {field}");
    }
    // The mounts of the node container, so the files go where the rendered yml says.
    let mounts: BTreeMap<String, String> = es
        .volume_mounts
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|m| (m.mount_path, m.name))
        .collect();
    let ca_pem = text(&http, names::CA_CERT_KEY, &http_name);
    assert_eq!(
        ca_pem.trim(),
        text(&ca, names::CA_CERT_KEY, &ca_name).trim(),
        "the HTTP Secret's ca.crt is the CA"
    );
    let operator_password = text(&operator_user, names::PASSWORD_KEY, &operator_name);
    let elastic_password = text(&elastic, names::ELASTIC_PASSWORD_KEY, &elastic_name);
    eprintln!(
        "managed-boot: children rendered after {:.1}s",
        started.elapsed().as_secs_f64()
    );

    // The projected volume as the kubelet would fill it: each source Secret's keys (or its
    // `items`, key → path), absent optional Secrets skipped.
    let mut secure_files = BTreeMap::new();
    let secure_volume = pod
        .volumes
        .iter()
        .flatten()
        .any(|v| v.name == "secure-settings");
    let sources = pod
        .volumes
        .iter()
        .flatten()
        .filter(|v| v.name == "secure-settings")
        .filter_map(|v| v.projected.as_ref()?.sources.clone())
        .flatten()
        .filter_map(|p| p.secret);
    for source in sources {
        let found = secrets.get_opt(&source.name).await.expect("get secret");
        let Some(found) = found else {
            assert_eq!(source.optional, Some(true), "{} is required", source.name);
            continue;
        };
        let data = secret_data(&found);
        match &source.items {
            Some(items) => {
                for item in items {
                    // The kubelet skips a missing key of an optional source, and fails
                    // the pod for a required one.
                    match data.get(&item.key) {
                        Some(value) => {
                            secure_files.insert(item.path.clone(), value.clone());
                        }
                        None => assert_eq!(
                            source.optional,
                            Some(true),
                            "{} has no {}: the pod would not start",
                            source.name,
                            item.key
                        ),
                    }
                }
            }
            None => secure_files.extend(data),
        }
    }
    let replicas = sts.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let rendered = Rendered {
        yml: rendered_yml,
        http,
        transport,
        realm,
        realm_name,
        elastic,
        elastic_password,
        operator_password,
        script,
        java_opts,
        mounts,
        ca_pem,
        secure_files,
        secure_volume,
        replicas,
    };
    (client, ns, op, rendered)
}

/// Lays out what the pod `pod_name` would see in `spec`'s config folder: the rendered yml
/// with only [`CHANGED`] and [`CONFIG_PATHS`] replaced (discovery: the loopback transport
/// ports `seeds`; initial masters: `masters`) and [`ADDED`] added, the mounted files, the
/// keystore the init container's script builds; the pod's environment. Returns the report
/// of every rendered key.
fn materialise(
    r: &Rendered,
    spec: &mut NodeSpec,
    pod_name: &str,
    masters: &[String],
    seeds: &[u16],
) -> Vec<String> {
    let Rendered {
        yml: rendered_yml,
        http,
        transport,
        realm,
        realm_name,
        elastic,
        script,
        secure_files,
        secure_volume,
        java_opts,
        mounts,
        ..
    } = r;
    // 2. Materialise it. Files under the config folder where the pod mounts them.
    let config = spec.dir.join("config");
    let mut files: Vec<(String, Vec<u8>)> = vec![];
    let pod_config = format!("{POD_HOME}/config/");
    for (path, volume) in mounts {
        let Some(rel) = path.strip_prefix(&pod_config) else {
            continue;
        };
        let data = match volume.as_str() {
            "http-certs" => &http,
            "transport-certs" => &transport,
            "file-realm" => {
                files.push((rel.to_string(), realm.get(rel).expect("realm file").clone()));
                continue;
            }
            _ => continue, // the yml (written below) and the keystore (built below)
        };
        for (key, value) in *data {
            if key == names::CA_KEY_KEY {
                continue;
            }
            files.push((format!("{rel}/{key}"), value.clone()));
        }
    }
    let realm_users = text(realm, names::FILE_REALM_USERS_KEY, realm_name);
    assert!(
        realm_users.starts_with(&format!("{}:", names::OPERATOR_USER)),
        "the file realm holds the operator's user"
    );
    assert!(
        !realm.contains_key(names::CA_KEY_KEY) && !http.contains_key(names::CA_KEY_KEY),
        "the CA key never reaches the nodes"
    );

    // The keystore: the init container's script, with the mounted paths mapped.
    let init_dir = spec.dir.join("init");
    let (secure, elastic_dir, keystore_dir) = (
        init_dir.join("secure-settings"),
        init_dir.join("elastic-user"),
        init_dir.join("keystore"),
    );
    for d in [&elastic_dir, &keystore_dir] {
        std::fs::create_dir_all(d).expect("init dirs");
    }
    // Mounted only where there are keystore sources (the keystore then has a password).
    if *secure_volume {
        std::fs::create_dir_all(&secure).expect("secure-settings dir");
    }
    std::fs::write(
        elastic_dir.join(names::ELASTIC_PASSWORD_KEY),
        &elastic[names::ELASTIC_PASSWORD_KEY],
    )
    .expect("elastic password file");
    for (setting, content) in secure_files {
        std::fs::write(secure.join(setting), content).expect("secure setting file");
    }
    let mapped = script
        .replace(
            &format!("{POD_HOME}/bin/"),
            &format!("{}/bin/", spec.home.display()),
        )
        .replace(&pod_config, &format!("{}/", config.display()))
        .replace(POD_SECURE_SETTINGS, &secure.display().to_string())
        .replace(POD_ELASTIC_USER, &elastic_dir.display().to_string())
        .replace(POD_KEYSTORE, &keystore_dir.display().to_string());
    assert!(
        !mapped.contains("/usr/share") && !mapped.contains("/mnt/"),
        "every pod path of the script is mapped:\n{mapped}"
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&mapped)
        .env("ES_JAVA_HOME", &spec.java_home)
        .env("ES_PATH_CONF", &config)
        .output()
        .expect("run the keystore script");
    assert!(
        out.status.success(),
        "the keystore script fails: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let keystore = std::fs::read(keystore_dir.join("elasticsearch.keystore"))
        .expect("the script leaves the keystore in the keystore volume");
    files.push(("elasticsearch.keystore".into(), keystore));
    // With secure settings, its password beside it (the node reads the keystore volume).
    if let Ok(password) = std::fs::read(keystore_dir.join("keystore-password")) {
        files.push(("keystore-password".into(), password));
    }

    // elasticsearch.yml: the rendered text, line by line, with only CHANGED replaced.
    let http_port = spec.http_port;
    let transport_port = spec.transport_port;
    let config_dir = format!("{}/", config.display());
    let replacement = |key: &str, line: &str| -> Option<String> {
        if CONFIG_PATHS.contains(&key) {
            let (_, value) = line.split_once(": ")?;
            return Some(value.replace(&pod_config, &config_dir));
        }
        Some(match key {
            "network.host" => "127.0.0.1".into(),
            "discovery.seed_hosts" => flow_list(seeds.iter().map(|p| format!("127.0.0.1:{p}"))),
            "cluster.initial_master_nodes" => flow_list(masters.iter()),
            "readiness.port" => spec.extra_port.to_string(),
            _ => return None,
        })
    };
    let mut yml = String::new();
    let mut report = vec![];
    for line in rendered_yml.lines() {
        match line_key(line) {
            Some(key) => match replacement(&key, line) {
                Some(value) => {
                    let why = CHANGED
                        .iter()
                        .find(|(k, _)| *k == key)
                        .map(|(_, why)| *why)
                        .or_else(|| {
                            CONFIG_PATHS.contains(&key.as_str()).then_some(
                                "a path in the image's config folder: the same file in this node's",
                            )
                        })
                        .expect("every replaced key is listed in CHANGED or CONFIG_PATHS");
                    report.push(format!("  changed   {line}  ->  {value}   ({why})"));
                    yml.push_str(&format!("{key}: {value}\n"));
                }
                None => {
                    report.push(format!("  as-is     {line}"));
                    yml.push_str(line);
                    yml.push('\n');
                }
            },
            None => {
                yml.push_str(line);
                yml.push('\n');
            }
        }
    }
    let rendered_keys: Vec<String> = rendered_yml.lines().filter_map(line_key).collect();
    for key in CHANGED
        .iter()
        .map(|(k, _)| *k)
        .chain(CONFIG_PATHS.iter().copied())
    {
        assert!(
            rendered_keys.iter().any(|k| k == key),
            "{key} is in CHANGED but not rendered"
        );
    }
    let d = |name: &str| spec.dir.join(name).display().to_string();
    let added = [
        ("http.port", http_port.to_string()),
        ("transport.port", transport_port.to_string()),
        ("path.data", d("data")),
        ("path.logs", d("logs")),
    ];
    let disk = elasticsearch::DISK_SETTINGS
        .iter()
        .map(|(key, value)| (*key, value.to_string(), DISK_WHY));
    let added = added.into_iter().map(|(key, value)| {
        let why = ADDED
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, w)| *w)
            .expect("listed in ADDED");
        (key, value, why)
    });
    for (key, value, why) in added.chain(disk) {
        assert!(
            !rendered_keys.iter().any(|k| k == key),
            "{key} is rendered: it must not be added"
        );
        report.push(format!("  added     {key}: {value}   ({why})"));
        yml.push_str(&format!("{key}: {value}\n"));
    }
    for (key, needs) in [
        ("xpack.ml", "the ml module"),
        ("xpack.ilm", "ILM"),
        ("xpack.slm", "SLM"),
    ] {
        assert!(
            !rendered_keys.iter().any(|k| k.starts_with(key)),
            "the rendered yml sets {key}*, which needs {needs} (absent from the distribution)"
        );
    }

    spec.elasticsearch_yml = yml;
    spec.files = files;
    spec.env = vec![
        ("POD_NAME".into(), pod_name.to_string()),
        ("POD_IP".into(), "127.0.0.1".into()),
        ("ES_JAVA_OPTS".into(), java_opts.clone()),
    ];
    spec.ca_pem = r.ca_pem.clone();
    spec.credentials = Credentials {
        username: names::OPERATOR_USER.into(),
        password: r.operator_password.clone(),
    };
    std::fs::remove_dir_all(&init_dir).expect("remove the init folders");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_node_configuration_boots_a_real_elasticsearch() {
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let mut spec = NodeSpec::new().unwrap_or_else(|e| panic!("{e}"));
    let (client, ns, op, r) = render("managed-boot", spec.http_port, "minimal.yaml", &[]).await;
    let pod_name = names::es_pod(NAME, 0);
    // 2. Materialise it.
    let seeds = [spec.transport_port];
    let report = materialise(
        &r,
        &mut spec,
        &pod_name,
        std::slice::from_ref(&pod_name),
        &seeds,
    );
    eprintln!(
        "managed-boot: the rendered elasticsearch.yml, key by key:\n{}",
        report.join("\n")
    );
    let Rendered {
        java_opts,
        ca_pem,
        operator_password,
        elastic_password,
        ..
    } = &r;
    // 3. Boot it, as the pod's environment would: POD_NAME, POD_IP, the heap.
    let (home, java_home) = (spec.home.clone(), spec.java_home.clone());
    let config = spec.dir.join("config");
    let http_port = spec.http_port;
    let boot = Instant::now();
    let node = tokio::task::spawn_blocking(move || elasticsearch::start_node(spec))
        .await
        .expect("boot thread")
        .unwrap_or_else(|e| panic!("the rendered configuration does not boot: {e}"));
    eprintln!(
        "managed-boot: node up {:.1}s after boot began ({:.1}s in all)",
        boot.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );

    // 4. Checks.
    // The operator's file-realm user, over HTTPS verified with the generated CA.
    let es = node.client();
    let who = es
        .get("test", "/_security/_authenticate")
        .await
        .expect("authenticate")
        .expect("body");
    assert_eq!(who["username"], names::OPERATOR_USER);
    assert_eq!(who["authentication_realm"]["type"], "file");
    assert!(
        who["roles"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r == "superuser")),
        "the operator's user is a superuser: {who}"
    );

    // The node runs with the rendered settings (node name from POD_NAME, TLS on both layers).
    let nodes = es
        .get("test", "/_nodes/settings,jvm")
        .await
        .expect("nodes")
        .expect("body");
    let info = nodes["nodes"]
        .as_object()
        .and_then(|n| n.values().next())
        .expect("one node")
        .clone();
    assert_eq!(info["name"], pod_name.as_str());
    assert_eq!(info["settings"]["cluster"]["name"], NAME);
    assert_eq!(
        info["settings"]["xpack"]["security"]["transport"]["ssl"]["enabled"],
        "true"
    );
    assert_eq!(info["settings"]["node"]["store"]["allow_mmap"], "false");

    // The heap the operator computed: ES_JAVA_OPTS `-Xms<h>m -Xmx<h>m`.
    let heap_mib: u64 = java_opts
        .split_whitespace()
        .find_map(|w| w.strip_prefix("-Xmx"))
        .and_then(|h| h.strip_suffix('m'))
        .and_then(|h| h.parse().ok())
        .unwrap_or_else(|| panic!("heap in {java_opts}"));
    let mem = &info["jvm"]["mem"];
    assert_eq!(mem["heap_max_in_bytes"].as_u64(), Some(heap_mib << 20));
    assert_eq!(mem["heap_init_in_bytes"].as_u64(), Some(heap_mib << 20));
    eprintln!("managed-boot: heap {heap_mib} MiB as rendered ({java_opts})");

    // `elastic` with its generated password (the keystore's bootstrap.password).
    let mut cfg = node.client_config();
    cfg.credentials = Some(Credentials {
        username: "elastic".into(),
        password: elastic_password.clone(),
    });
    let as_elastic = meshlogging_operator::elastic::EsClient::new(cfg).expect("client");
    let who = as_elastic
        .get("test", "/_security/_authenticate")
        .await
        .expect("authenticate as elastic")
        .expect("body");
    assert_eq!(who["username"], "elastic");
    assert_eq!(who["authentication_realm"]["type"], "reserved");
    // And not with another password.
    let mut cfg = node.client_config();
    cfg.credentials = Some(Credentials {
        username: "elastic".into(),
        password: format!("{elastic_password}x"),
    });
    let wrong = meshlogging_operator::elastic::EsClient::new(cfg).expect("client");
    assert!(
        wrong.get("test", "/_security/_authenticate").await.is_err(),
        "elastic with a wrong password is refused"
    );

    // The HTTP certificate verifies for every Service name the operator gives clients.
    let root = reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA");
    let mut http_names = names::es_http_dns_names(NAME, &ns);
    http_names.push("localhost".into());
    let url_host = names::es_http_url(NAME, &ns);
    let url_host = url_host
        .trim_start_matches("https://")
        .split(':')
        .next()
        .expect("host")
        .to_string();
    assert!(
        http_names.contains(&url_host),
        "the operator's own URL host"
    );
    for host in &http_names {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], http_port));
        let c = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(root.clone())
            .resolve(host, addr)
            .build()
            .expect("reqwest");
        let res = c
            .get(format!(
                "https://{host}:{http_port}/_security/_authenticate"
            ))
            .basic_auth(names::OPERATOR_USER, Some(&operator_password))
            .send()
            .await
            .unwrap_or_else(|e| panic!("HTTPS as {host}: {e:?}"));
        assert_eq!(res.status(), 200, "as {host}");
    }
    // A name the certificate does not hold is refused (the check can fail).
    let c = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(root.clone())
        .resolve(
            "elsewhere.example",
            std::net::SocketAddr::from(([127, 0, 0, 1], http_port)),
        )
        .build()
        .expect("reqwest");
    assert!(
        c.get(format!("https://elsewhere.example:{http_port}/"))
            .send()
            .await
            .is_err(),
        "a host name not in the certificate fails verification"
    );

    // The keystore holds exactly the expected entries.
    let mut list = std::process::Command::new(home.join("bin/elasticsearch-keystore"));
    list.arg("list")
        .env("POD_NAME", &pod_name)
        .env("POD_IP", "127.0.0.1")
        .env("ES_JAVA_HOME", &java_home)
        .env("ES_PATH_CONF", &config);
    let out = list.output().expect("keystore list");
    assert!(
        out.status.success(),
        "keystore list: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entries: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(entries, ["bootstrap.password", "keystore.seed"]);

    // 5. The operator's own pass reaches this node the way the controller reaches a managed
    // cluster (its file-realm user and the generated CA, read from the Secrets), once the
    // kubelet (played here) reports the pods ready.
    let synced = Instant::now();
    kit::Kubelet::new(&client, &ns).mark_ready(NAME).await;
    let mls: Api<meshlogging_operator::api::MeshLogging> = Api::namespaced(client.clone(), &ns);
    let status = wait_for(
        Duration::from_secs(90),
        "the write alias applied",
        || async {
            let s = mls.get(NAME).await.ok()?.status?;
            s.applied.as_ref()?.write_alias.as_ref()?;
            Some(s)
        },
    )
    .await;
    eprintln!(
        "managed-boot: the operator's pass landed {:.1}s after the pods were ready",
        synced.elapsed().as_secs_f64()
    );
    for c in &status.conditions {
        eprintln!(
            "managed-boot: condition {} {} {}: {}",
            c.type_, c.status, c.reason, c.message
        );
    }
    let applied = status.applied.clone().unwrap_or_default();
    let write_index = applied.write_index.clone().expect("write index");
    let alias = applied.write_alias.clone().expect("write alias");
    let found = es
        .get("test", &format!("/_alias/{alias}"))
        .await
        .expect("GET alias")
        .expect("the write alias exists on the node");
    assert_eq!(
        found[&write_index]["aliases"][&alias]["is_write_index"], true,
        "{found}"
    );
    for template in &applied.component_templates {
        assert!(
            es.get("test", &format!("/_component_template/{template}"))
                .await
                .expect("GET")
                .is_some(),
            "{template} on the node"
        );
    }
    let condition = |t: &str| kit::condition(&status, t);
    // The distribution has no ILM: said so, naming the API, as in external mode.
    let im = condition("IndexManagementApplied");
    assert_eq!(im.reason, "NotSupportedByCluster", "{im:?}");
    assert!(im.message.contains("/_ilm/policy"), "{}", im.message);

    // 6. The node refuses a login it must refuse, and the operator says so. A rotation the
    // pods have not picked up yet (no kubelet remounts the files here): the node keeps the
    // file realm and the certificates it booted with while the operator's Secrets change.
    let refused = Instant::now();
    let kubelet = kit::Kubelet::new(&client, &ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let es_ready = |want: fn(&Condition) -> bool, what: &'static str| {
        let (mls, kubelet) = (mls.clone(), kubelet.clone());
        async move {
            wait_for(Duration::from_secs(60), what, || async {
                kubelet.mark_ready(NAME).await;
                let status = mls.get(NAME).await.ok()?.status?;
                let c = kit::condition(&status, "ElasticsearchReady");
                want(&c).then_some(c)
            })
            .await
        }
    };
    // A password the node's file realm does not hold: 401, reported as Unauthorized naming
    // the operator's user and never the password.
    let wrong_password = format!("{operator_password}-not-on-the-node");
    set_operator_password(&secrets, &wrong_password).await;
    let c = es_ready(|c| c.reason == "Unauthorized", "Unauthorized").await;
    assert_eq!(c.status, "False", "{c:?}");
    assert!(c.message.contains(names::OPERATOR_USER), "{}", c.message);
    assert!(c.message.contains("401"), "{}", c.message);
    assert!(!c.message.contains(&wrong_password), "{}", c.message);
    // The password the node holds: in again.
    set_operator_password(&secrets, operator_password).await;
    es_ready(|c| c.status == "True", "ElasticsearchReady again").await;
    // A new CA (the old one deleted, as the README's rotation says): the operator trusts
    // only the new one, the node still serves the certificate of the old one.
    let ca = secrets
        .get(&names::ca_secret(NAME))
        .await
        .expect("the CA Secret");
    secrets
        .delete(&names::ca_secret(NAME), &Default::default())
        .await
        .expect("delete the CA");
    let c = es_ready(
        |c| c.reason == "ElasticsearchUnreachable",
        "ElasticsearchUnreachable",
    )
    .await;
    assert_eq!(c.status, "False", "{c:?}");
    assert!(c.message.contains("TLS failed"), "{}", c.message);
    let new_ca = secrets
        .get(&names::ca_secret(NAME))
        .await
        .expect("the new CA Secret");
    assert_ne!(new_ca.data, ca.data, "a new CA");
    eprintln!(
        "managed-boot: wrong password and wrong CA refused and reported in {:.1}s",
        refused.elapsed().as_secs_f64()
    );

    op.stop().await;
}

/// Sets the operator's password in its Secret (the operator regenerates the file-realm
/// Secret from it; the booted node keeps its files).
async fn set_operator_password(secrets: &Api<Secret>, password: &str) {
    secrets
        .patch(
            &names::es_operator_user_secret(NAME),
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({ "stringData": { (names::PASSWORD_KEY): password } })),
        )
        .await
        .expect("set the operator's password");
}

/// Two nodes of the StatefulSet (`-0` and `-1`), each with its own keystore from the init
/// script, join each other over transport TLS with the generated transport certificates
/// (`verification_mode: certificate`, as rendered); the rendered discovery maps to their
/// loopback transport ports and the initial masters to these two pods.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rendered_nodes_form_a_cluster_over_transport_tls() {
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let mut specs = [
        NodeSpec::new().unwrap_or_else(|e| panic!("{e}")),
        NodeSpec::new().unwrap_or_else(|e| panic!("{e}")),
    ];
    let (_client, _ns, op, r) =
        render("managed-boot2", specs[0].http_port, "minimal.yaml", &[]).await;
    assert!(r.replicas >= 2, "minimal.yaml renders several nodes");
    let pods: Vec<String> = (0..2).map(|i| names::es_pod(NAME, i)).collect();
    let seeds: Vec<u16> = specs.iter().map(|s| s.transport_port).collect();
    for (spec, pod) in specs.iter_mut().zip(&pods) {
        materialise(&r, spec, pod, &pods, &seeds);
    }
    let http_ports: Vec<u16> = specs.iter().map(|s| s.http_port).collect();
    let boot = Instant::now();
    // Each waits for a cluster that needs the other: boot both at once.
    let [a, b] = specs;
    let (a, b) = (
        tokio::task::spawn_blocking(move || elasticsearch::start_node(a)),
        tokio::task::spawn_blocking(move || elasticsearch::start_node(b)),
    );
    let nodes = [
        a.await
            .expect("boot thread")
            .unwrap_or_else(|e| panic!("node 0 does not boot: {e}")),
        b.await
            .expect("boot thread")
            .unwrap_or_else(|e| panic!("node 1 does not boot: {e}")),
    ];
    eprintln!(
        "managed-boot: two nodes up {:.1}s after boot began ({:.1}s in all)",
        boot.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    for (node, port) in nodes.iter().zip(&http_ports) {
        let es = node.client();
        let health = es
            .get("test", "/_cluster/health")
            .await
            .expect("health")
            .expect("body");
        assert_eq!(health["number_of_nodes"], 2, "seen from :{port}: {health}");
        assert_eq!(health["cluster_name"], NAME);
        let info = es
            .get("test", "/_nodes/_all/settings")
            .await
            .expect("nodes")
            .expect("body");
        let mut names_seen: Vec<String> = info["nodes"]
            .as_object()
            .into_iter()
            .flat_map(|n| n.values())
            .filter_map(|n| n["name"].as_str().map(str::to_string))
            .collect();
        names_seen.sort();
        assert_eq!(names_seen, pods, "both pods' names, from POD_NAME");
        for n in info["nodes"]
            .as_object()
            .into_iter()
            .flat_map(|n| n.values())
        {
            assert_eq!(
                n["settings"]["xpack"]["security"]["transport"]["ssl"]["enabled"], "true",
                "transport TLS on {}",
                n["name"]
            );
        }
    }
    op.stop().await;
}

/// `examples/production.yaml` names S3 credentials for its repository: the init script puts
/// them in the keystore beside `bootstrap.password`, under the setting names the operator
/// projects them to. (Not booted: the integration-test distribution has no
/// `repository-s3`, and Elasticsearch refuses unknown secure settings at start.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keystore_script_adds_the_repository_credentials() {
    let _serial = SERIAL.lock().await;
    let mut spec = NodeSpec::new().unwrap_or_else(|e| panic!("{e}"));
    let (_client, _ns, op, r) = render(
        "managed-keystore",
        spec.http_port,
        "production.yaml",
        &[
            ("s3-credentials", "access_key", "AKIAEXAMPLE"),
            ("s3-credentials", "secret_key", "wJalrEXAMPLEKEY"),
        ],
    )
    .await;
    let mut expected: Vec<String> = r.secure_files.keys().cloned().collect();
    assert!(
        !expected.is_empty(),
        "production.yaml projects its repository's credentials"
    );
    let pod = names::es_pod(NAME, 0);
    materialise(&r, &mut spec, &pod, std::slice::from_ref(&pod), &[1]);
    let keystore = spec
        .files
        .iter()
        .find(|(f, _)| f == "elasticsearch.keystore")
        .map(|(_, k)| k.clone())
        .expect("keystore");
    let config = spec.dir.join("config");
    std::fs::write(config.join("elasticsearch.keystore"), keystore).expect("write keystore");
    // Password-protected by the digest of the mounted settings, left beside it for the node.
    let password = spec
        .files
        .iter()
        .find(|(f, _)| f == "keystore-password")
        .map(|(_, p)| String::from_utf8_lossy(p).into_owned())
        .expect("the keystore's password file");
    let files = meshlogging_operator::keystore::KeystoreFiles(r.secure_files.clone());
    assert_eq!(password, files.digest(), "the operator's digest");
    let keystore_tool = |args: &[&str]| {
        use std::io::Write as _;
        let mut child = std::process::Command::new(spec.home.join("bin/elasticsearch-keystore"))
            .args(args)
            .env("ES_JAVA_HOME", &spec.java_home)
            .env("ES_PATH_CONF", &config)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("keystore tool");
        if let Some(mut stdin) = child.stdin.take() {
            writeln!(stdin, "{password}").expect("password");
        }
        child.wait_with_output().expect("keystore tool output")
    };
    let out = keystore_tool(&["list"]);
    // After the tool's password prompt.
    let listed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.rsplit(": ").next().unwrap_or(l).to_string())
        .filter(|l| !l.is_empty())
        .collect();
    expected.extend([
        "bootstrap.password".to_string(),
        "keystore.seed".to_string(),
    ]);
    expected.sort();
    assert_eq!(listed, expected, "{}", String::from_utf8_lossy(&out.stderr));
    eprintln!("managed-boot: production.yaml keystore: {listed:?}");
    // The values are the Secret's.
    for (setting, content) in &r.secure_files {
        let out = keystore_tool(&["show", setting]);
        let shown = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            shown
                .split_once("keystore : ")
                .map_or(shown.as_str(), |(_, v)| v)
                .trim_end(),
            String::from_utf8_lossy(content),
            "{setting}"
        );
    }
    let _ = std::fs::remove_dir_all(&spec.dir);
    op.stop().await;
}

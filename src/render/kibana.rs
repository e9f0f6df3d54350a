//! Kibana: `kibana.yml`, the Deployment, its Service and (when asked) an Ingress. Pure.
//! Rendered when `spec.kibana.enabled`, in both modes.
//!
//! Kibana logs in as `kibana_system` (managed mode; never the `elastic` superuser, which
//! Kibana 8 refuses) or as `<index>-kibana` (external mode), with the password from a
//! Secret, over TLS verified against the operator's CA (managed) or the external cluster's
//! CA when one is given (`verificationMode: full` always).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, ContainerPort, HTTPGetAction, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, Service, ServicePort, ServiceSpec, VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

use super::labels::{self, App};
use super::{
    Child, RenderContext, config_map, config_map_volume, env_secret, flat_yaml, mount,
    restricted_container, runtime_default_seccomp, secret_volume,
};
use crate::naming::{self as names, KIBANA_PORT};
use crate::validate::{ValidKibana, Validated};

/// Kibana's home in the official image.
const HOME: &str = "/usr/share/kibana";
/// Where the CA that signed Elasticsearch's certificate is mounted.
const CA_DIR: &str = "/usr/share/kibana/config/elasticsearch-ca";
/// The image's user.
const KIBANA_UID: i64 = 1000;

/// Renders Kibana's objects.
pub fn render(v: &Validated, k: &ValidKibana, ctx: &RenderContext) -> Vec<Child> {
    let mut children = vec![
        Child::ConfigMap(kibana_yml(v, k, ctx)),
        Child::Service(service(v)),
        Child::Deployment(deployment(v, k, ctx)),
    ];
    if let Some(ingress) = ingress(v, k) {
        children.push(Child::Ingress(ingress));
    }
    children
}

/// The `kibana.yml` settings.
pub fn settings(v: &Validated, k: &ValidKibana, ctx: &RenderContext) -> BTreeMap<String, Value> {
    let mut s = BTreeMap::from([
        ("server.name".to_string(), json!(names::kibana(&v.name))),
        ("server.host".to_string(), json!("0.0.0.0")),
        ("elasticsearch.hosts".to_string(), json!([ctx.es_endpoint])),
        ("elasticsearch.username".to_string(), json!(k.username)),
        (
            "elasticsearch.password".to_string(),
            json!("${ELASTICSEARCH_PASSWORD}"),
        ),
        (
            "elasticsearch.ssl.verificationMode".to_string(),
            json!("full"),
        ),
    ]);
    if super::es_ca_source(v).is_some() {
        s.insert(
            "elasticsearch.ssl.certificateAuthorities".to_string(),
            json!([format!("{CA_DIR}/{}", names::CA_CERT_KEY)]),
        );
    }
    if let Some(ingress) = &k.ingress {
        let scheme = if ingress.tls_secret_name.is_some() {
            "https"
        } else {
            "http"
        };
        s.insert(
            "server.publicBaseUrl".to_string(),
            json!(format!("{scheme}://{}", ingress.host)),
        );
    }
    s
}

fn kibana_yml(v: &Validated, k: &ValidKibana, ctx: &RenderContext) -> ConfigMap {
    let header = format!(
        "kibana.yml of MeshLogging {}/{}, managed by meshlogging-operator: edits are overwritten.",
        v.namespace, v.name
    );
    let file = ("kibana.yml", flat_yaml(&header, &settings(v, k, ctx)));
    config_map(v, names::kibana_config_map(&v.name), App::Kibana, file)
}

fn service(v: &Validated) -> Service {
    Service {
        metadata: labels::namespaced(v, names::kibana(&v.name), App::Kibana),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_string()),
            selector: Some(labels::selector(App::Kibana, &v.name)),
            ports: Some(vec![ServicePort {
                name: Some("http".to_string()),
                port: KIBANA_PORT,
                target_port: Some(IntOrString::Int(KIBANA_PORT)),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn deployment(v: &Validated, k: &ValidKibana, ctx: &RenderContext) -> Deployment {
    let n = &v.name;
    let mut env = vec![env_secret(
        "ELASTICSEARCH_PASSWORD",
        names::kibana_user_secret(n),
        names::PASSWORD_KEY,
        false,
    )];
    // The Kibana image turns XPACK_SECURITY_ENCRYPTIONKEY etc. into settings. Optional: with
    // no Secret, Kibana generates per-process keys (fine for one replica only).
    for key in names::KIBANA_ENCRYPTION_KEYS {
        let var = key.to_uppercase().replace('.', "_");
        env.push(env_secret(
            &var,
            names::kibana_encryption_keys_secret(n),
            key,
            true,
        ));
    }
    let mut volumes = vec![config_map_volume(
        "kibana-config",
        names::kibana_config_map(n),
    )];
    let mut mounts = vec![VolumeMount {
        sub_path: Some("kibana.yml".to_string()),
        ..mount("kibana-config", &format!("{HOME}/config/kibana.yml"), true)
    }];
    if let Some((secret, key)) = super::es_ca_source(v) {
        volumes.push(secret_volume(
            "elasticsearch-ca",
            secret,
            Some(&[(key.as_str(), names::CA_CERT_KEY)]),
        ));
        mounts.push(mount("elasticsearch-ca", CA_DIR, true));
    }
    let kibana = Container {
        name: "kibana".to_string(),
        image: Some(k.image.clone()),
        env: Some(env),
        ports: Some(vec![ContainerPort {
            name: Some("http".to_string()),
            container_port: KIBANA_PORT,
            ..ContainerPort::default()
        }]),
        // Unauthenticated requests get the overall level only: 200 when available, 503 not.
        readiness_probe: Some(Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/api/status".to_string()),
                port: IntOrString::Int(KIBANA_PORT),
                ..HTTPGetAction::default()
            }),
            initial_delay_seconds: Some(10),
            period_seconds: Some(10),
            timeout_seconds: Some(5),
            failure_threshold: Some(3),
            ..Probe::default()
        }),
        resources: Some(k.resources.clone()),
        security_context: Some(restricted_container(false)),
        volume_mounts: Some(mounts),
        ..Container::default()
    };
    Deployment {
        metadata: labels::namespaced(v, names::kibana(n), App::Kibana),
        spec: Some(DeploymentSpec {
            replicas: Some(k.replicas),
            selector: LabelSelector {
                match_labels: Some(labels::selector(App::Kibana, n)),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(labels::pod_template(
                    v,
                    App::Kibana,
                    &ctx.pod_annotations(App::Kibana, &settings(v, k, ctx)),
                )),
                spec: Some(PodSpec {
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    containers: vec![kibana],
                    security_context: Some(PodSecurityContext {
                        fs_group: Some(KIBANA_UID),
                        run_as_user: Some(KIBANA_UID),
                        run_as_non_root: Some(true),
                        seccomp_profile: Some(runtime_default_seccomp()),
                        ..PodSecurityContext::default()
                    }),
                    volumes: Some(volumes),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

fn ingress(v: &Validated, k: &ValidKibana) -> Option<Ingress> {
    let spec = k.ingress.as_ref()?;
    let mut metadata = labels::namespaced(v, names::kibana(&v.name), App::Kibana);
    if !spec.annotations.is_empty() {
        metadata.annotations = Some(spec.annotations.clone());
    }
    let backend = IngressBackend {
        service: Some(IngressServiceBackend {
            name: names::kibana(&v.name),
            port: Some(ServiceBackendPort {
                number: Some(KIBANA_PORT),
                ..ServiceBackendPort::default()
            }),
        }),
        ..IngressBackend::default()
    };
    Some(Ingress {
        metadata,
        spec: Some(IngressSpec {
            ingress_class_name: spec.class_name.clone(),
            rules: Some(vec![IngressRule {
                host: Some(spec.host.clone()),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some("/".to_string()),
                        path_type: "Prefix".to_string(),
                        backend,
                    }],
                }),
            }]),
            tls: spec.tls_secret_name.as_ref().map(|secret| {
                vec![IngressTLS {
                    hosts: Some(vec![spec.host.clone()]),
                    secret_name: Some(secret.clone()),
                }]
            }),
            ..IngressSpec::default()
        }),
        ..Ingress::default()
    })
}

//! `spec.kibana`: replicas, resources, image and the Ingress.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::spec::{default_one, default_true};
use super::units::K8S_NAME_PATTERN;

/// Kibana.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KibanaSpec {
    /// Deploy Kibana. Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Number of Kibana replicas. Default 1.
    #[serde(default = "default_one")]
    #[schemars(range(min = 0, max = 100))]
    pub replicas: i32,
    /// CPU and memory of each replica. Default: requests 500m / 1Gi, limits 1 CPU / 2Gi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Container image. Default `docker.elastic.co/kibana/kibana:<version>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// An Ingress for Kibana; none when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<KibanaIngress>,
}

impl KibanaSpec {
    /// The default: one Kibana replica, no ingress.
    pub fn recommended() -> Self {
        Self {
            enabled: true,
            replicas: 1,
            resources: None,
            image: None,
            ingress: None,
        }
    }
}

/// An Ingress in front of Kibana.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KibanaIngress {
    /// IngressClass, for example `nginx`; the cluster's default class when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253), pattern(K8S_NAME_PATTERN))]
    pub class_name: Option<String>,
    /// Host name Kibana is served on, for example `kibana.example.com`.
    #[schemars(pattern(
        r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
    ))]
    pub host: String,
    /// Secret with the TLS certificate for the host; plain HTTP at the ingress when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253), pattern(K8S_NAME_PATTERN))]
    pub tls_secret_name: Option<String>,
    /// Extra annotations of the Ingress (for example for cert-manager). Keys are
    /// Kubernetes qualified names (`[prefix/]name`). The operator may restrict the keys
    /// (`--allowed-ingress-annotation`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "super::schema::annotations_map")]
    #[x_kube(validation = kube::core::Rule::new(
        r"self.all(k, k.size() <= 317 && k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))"
    ).message("annotation keys must be Kubernetes qualified names: an optional DNS prefix (at most 253 characters) and '/', then at most 63 letters, digits, '-', '_' and '.'"))]
    pub annotations: BTreeMap<String, String>,
}

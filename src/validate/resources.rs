//! Resource requirements: the defaults of each workload and the check that no request
//! exceeds its limit. Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::ValidationErrors;
use crate::api::units::quantity_value;

/// The quantity `s`.
pub(super) fn quantity(s: &str) -> Quantity {
    Quantity(s.to_string())
}

fn requirements(requests: &[(&str, &str)], limits: &[(&str, &str)]) -> ResourceRequirements {
    let map = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), quantity(v)))
            .collect::<BTreeMap<_, _>>()
    };
    ResourceRequirements {
        requests: Some(map(requests)),
        limits: Some(map(limits)),
        ..ResourceRequirements::default()
    }
}

/// Default resources of an Elasticsearch node.
pub fn default_es_resources() -> ResourceRequirements {
    requirements(
        &[("cpu", "1"), ("memory", "2Gi")],
        &[("cpu", "2"), ("memory", "4Gi")],
    )
}

/// Default resources of a Kibana replica.
pub fn default_kibana_resources() -> ResourceRequirements {
    requirements(
        &[("cpu", "500m"), ("memory", "1Gi")],
        &[("cpu", "1"), ("memory", "2Gi")],
    )
}

/// Default resources of a collector pod (no CPU limit: throttling a collector only grows
/// its backlog).
pub fn default_collector_resources() -> ResourceRequirements {
    requirements(
        &[("cpu", "100m"), ("memory", "200Mi")],
        &[("memory", "512Mi")],
    )
}

/// Every resource requested must not exceed its limit (the API server would refuse the
/// pods only when the workload creates them; saying so here names the field).
pub(super) fn check_requests_within_limits(
    r: &ResourceRequirements,
    path: &str,
    errs: &mut ValidationErrors,
) {
    let (Some(requests), Some(limits)) = (&r.requests, &r.limits) else {
        return;
    };
    for (resource, request) in requests {
        let Some(limit) = limits.get(resource) else {
            continue;
        };
        let (Some(req), Some(lim)) = (quantity_value(&request.0), quantity_value(&limit.0)) else {
            for (kind, q) in [("requests", request), ("limits", limit)] {
                if quantity_value(&q.0).is_none() {
                    errs.push(
                        format!("{path}.{kind}.{resource}"),
                        format!("{:?} is not a quantity", q.0),
                    );
                }
            }
            continue;
        };
        if req > lim {
            errs.push(
                format!("{path}.requests.{resource}"),
                format!("{} exceeds the limit {}", request.0, limit.0),
            );
        }
    }
}

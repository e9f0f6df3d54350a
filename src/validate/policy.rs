//! What the cluster's administrator allows a MeshLogging to ask for (operator flags). Pure.

use super::{DEFAULT_FLUENT_BIT_IMAGE, DEFAULT_FLUENTD_IMAGE, Validated, ValidationErrors};

/// beyond the CRD (operator flags; none by default). Each entry is an exact value or a
/// prefix ending in `*`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdmissionPolicy {
    /// Collector images a MeshLogging may run on every node (`--allowed-collector-image`);
    /// the operator's own pinned images are always allowed. Any image when `None`.
    pub collector_images: Option<Vec<String>>,
    /// Ingress annotation keys a MeshLogging may set (`--allowed-ingress-annotation`);
    /// any key when `None`.
    pub ingress_annotation_keys: Option<Vec<String>>,
}

impl AdmissionPolicy {
    fn allows(list: &Option<Vec<String>>, value: &str) -> bool {
        list.as_ref().is_none_or(|list| {
            list.iter().any(|entry| match entry.strip_suffix('*') {
                Some(prefix) => value.starts_with(prefix),
                None => value == entry,
            })
        })
    }

    /// Adds to `errs` what `v` asks for beyond this policy.
    pub(super) fn check(&self, v: &Validated, errs: &mut ValidationErrors) {
        let image = &v.collector.image;
        let pinned = [DEFAULT_FLUENT_BIT_IMAGE, DEFAULT_FLUENTD_IMAGE].contains(&image.as_str());
        if !pinned && !Self::allows(&self.collector_images, image) {
            errs.push(
                "spec.collector.image",
                format!(
                    "{image:?} is not among the collector images this operator allows (--allowed-collector-image): the collector runs on every node and reads every container's logs"
                ),
            );
        }
        if let Some(ingress) = v.kibana.as_ref().and_then(|k| k.ingress.as_ref()) {
            for key in ingress.annotations.keys() {
                if !Self::allows(&self.ingress_annotation_keys, key) {
                    errs.push(
                        format!("spec.kibana.ingress.annotations[{key:?}]"),
                        "is not among the Ingress annotation keys this operator allows (--allowed-ingress-annotation)",
                    );
                }
            }
        }
    }
}

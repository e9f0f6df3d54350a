//! Property test: no spec of a valid shape makes validation or rendering panic, and every
//! accepted spec renders deterministically to objects that serialise, with an owner on
//! every namespaced object. Pure and fast (a few hundred cases).

use kit::specgen::spec;
use meshlogging_operator::api::{MeshLogging, MeshLoggingSpec};
use meshlogging_operator::render::{Child, RenderContext, render};
use meshlogging_operator::validate::validate;
use meshlogging_testkit as kit;
use proptest::prelude::*;

fn namespaced_owned(child: &Child) -> bool {
    matches!(child, Child::ClusterRoleBinding(_))
        || child
            .meta()
            .owner_references
            .as_ref()
            .is_some_and(|o| o.len() == 1)
}

fn serialises(child: &Child) -> bool {
    match child {
        Child::StatefulSet(o) => serde_json::to_string(o).is_ok(),
        Child::Deployment(o) => serde_json::to_string(o).is_ok(),
        Child::DaemonSet(o) => serde_json::to_string(o).is_ok(),
        Child::Service(o) => serde_json::to_string(o).is_ok(),
        Child::ConfigMap(o) => serde_json::to_string(o).is_ok(),
        Child::PodDisruptionBudget(o) => serde_json::to_string(o).is_ok(),
        Child::ServiceAccount(o) => serde_json::to_string(o).is_ok(),
        Child::Ingress(o) => serde_json::to_string(o).is_ok(),
        Child::ClusterRoleBinding(o) => serde_json::to_string(o).is_ok(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn validate_and_render_never_panic(
        spec in spec(),
        name in prop_oneof![4 => "[a-z]([a-z0-9-]{0,40}[a-z0-9])?", 1 => "[a-z0-9-]{0,60}"],
        bootstrapped in any::<bool>(),
    ) {
        let spec: MeshLoggingSpec = serde_json::from_value(spec).expect("valid-shaped spec");
        let mut ml = MeshLogging::new(&name, spec);
        ml.metadata.namespace = Some("ns".into());
        ml.metadata.uid = Some("uid".into());
        let Ok(v) = validate(&ml) else { return Ok(()) };
        let ctx = RenderContext { es_bootstrapped: bootstrapped, ..RenderContext::new(&v) };
        let children = render(&v, &ctx);
        prop_assert_eq!(&children, &render(&v, &ctx));
        prop_assert!(children.iter().any(|c| matches!(c, Child::DaemonSet(_))));
        prop_assert_eq!(
            children.iter().any(|c| matches!(c, Child::StatefulSet(_))),
            v.managed().is_some()
        );
        for child in &children {
            prop_assert!(namespaced_owned(child), "{} {}", child.kind(), child.name());
            prop_assert!(serialises(child));
            prop_assert!(!child.name().is_empty());
        }
    }
}

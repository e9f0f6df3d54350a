//! Rotation on request (pure, apart from the memory of verified logins): the
//! `rotate-credentials` / `rotate-certificates` annotations of a MeshLogging read into
//! timestamps, and whether a generated Secret is due for the rotation they ask for.
//!
//! ```text
//! MeshLogging                                   generated Secret
//! logging.mcp-mesh.io/rotate-credentials: T ──► rotated when T > its rotated-at (or, never
//! logging.mcp-mesh.io/rotate-certificates: T     rotated, its creationTimestamp); then
//!                                               logging.mcp-mesh.io/rotated-at: T
//! ```
//!
//! The request is remembered on the Secret it rotated, so it survives an operator restart
//! and a steady pass writes nothing. A request older than a Secret (copied from a
//! manifest applied again) rotates nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;

use crate::api::MeshLogging;

/// Annotation of a MeshLogging asking for new generated passwords (operator, `elastic`,
/// Kibana, collector, the dashboards user): an RFC 3339 timestamp.
pub const ROTATE_CREDENTIALS_ANNOTATION: &str = "logging.mcp-mesh.io/rotate-credentials";
/// Annotation of a MeshLogging asking for a new CA and node certificates: an RFC 3339
/// timestamp.
pub const ROTATE_CERTIFICATES_ANNOTATION: &str = "logging.mcp-mesh.io/rotate-certificates";
/// Annotation of a generated Secret: the request it was last rotated for.
pub const ROTATED_AT_ANNOTATION: &str = "logging.mcp-mesh.io/rotated-at";
/// Key of the operator's password Secret holding the password before a rotation, until the
/// new one is seen to log in.
pub const PREVIOUS_PASSWORD_KEY: &str = "previous-password";
/// Key of the CA Secret holding the CA before a rotation, trusted beside the new one until
/// Elasticsearch is seen serving a certificate of the new one.
pub const PREVIOUS_CA_CERT_KEY: &str = "previous-ca.crt";

/// The rotations a MeshLogging asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    /// New passwords, as of this time.
    pub credentials: Option<Timestamp>,
    /// A new CA and certificates, as of this time.
    pub certificates: Option<Timestamp>,
    /// Annotations that do not hold a timestamp, with why: nothing is rotated for them.
    pub invalid: Vec<String>,
}

impl Rotation {
    /// Reads the rotation annotations of `ml`.
    pub fn of(ml: &MeshLogging) -> Self {
        let empty = BTreeMap::new();
        Self::from_annotations(ml.metadata.annotations.as_ref().unwrap_or(&empty))
    }

    /// Reads the rotation annotations among `annotations`.
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> Self {
        let mut rotation = Self::default();
        let mut read = |key: &str| {
            let value = annotations.get(key)?;
            match value.trim().parse::<Timestamp>() {
                Ok(t) => Some(t),
                Err(_) => {
                    rotation.invalid.push(format!(
                        "annotation {key}: {value:?} is not an RFC 3339 timestamp (for example 2026-12-05T15:00:00Z); nothing rotated"
                    ));
                    None
                }
            }
        };
        let credentials = read(ROTATE_CREDENTIALS_ANNOTATION);
        let certificates = read(ROTATE_CERTIFICATES_ANNOTATION);
        rotation.credentials = credentials;
        rotation.certificates = certificates;
        rotation
    }
}

/// What makes a MeshLogging reconcile at once when only its rotation annotations change
/// (the controller otherwise reacts to generation and finalizer changes only).
pub fn annotations_predicate(ml: &MeshLogging) -> Option<u64> {
    let annotations = ml.metadata.annotations.as_ref();
    let values = [
        ROTATE_CREDENTIALS_ANNOTATION,
        ROTATE_CERTIFICATES_ANNOTATION,
    ]
    .map(|k| {
        annotations
            .and_then(|a| a.get(k))
            .map_or("", String::as_str)
    });
    Some(crate::fingerprint::fnv1a64(values.join("\0").as_bytes()))
}

/// When `secret` was last rotated: its [`ROTATED_AT_ANNOTATION`], else its creation.
fn done_at(secret: &Secret) -> Option<Timestamp> {
    let rotated = secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ROTATED_AT_ANNOTATION))
        .and_then(|t| t.parse::<Timestamp>().ok());
    rotated.or_else(|| secret.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// Whether `secret` is due for the rotation `request` asks for: the request is newer than
/// its last rotation (or creation).
pub fn due(request: Option<Timestamp>, secret: &Secret) -> bool {
    request.is_some_and(|r| done_at(secret).is_none_or(|done| r > done))
}

/// The trust bundle of the CA Secret's data: the current CA, then the previous one while a
/// rotation keeps it.
pub fn ca_bundle(current: &str, previous: Option<&str>) -> String {
    match previous {
        Some(p) if p.trim() != current.trim() => {
            format!("{}\n{}\n", current.trim_end(), p.trim_end())
        }
        _ => current.to_string(),
    }
}

/// Logins seen to work, per resource: a fingerprint of the operator's password that
/// authenticated, and of the CA Elasticsearch was reached trusting alone. The next pass
/// then drops what a rotation kept (the previous password; the previous CA). Holds
/// fingerprints only, never a password.
#[derive(Default)]
pub struct Logins(Mutex<HashMap<String, Verified>>);

/// What was seen to work for one resource (fingerprints).
#[derive(Default)]
struct Verified {
    /// The operator's password.
    password: Option<String>,
    /// The CA, trusted alone.
    ca: Option<String>,
}

impl Logins {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Verified>) -> T) -> T {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut map)
    }

    /// `password` logged in to `resource`'s cluster.
    pub fn password_works(&self, resource: &str, password: &str) {
        let key = crate::fingerprint::of_parts([password]);
        self.with(|m| m.entry(resource.to_string()).or_default().password = Some(key));
    }

    /// Whether `password` was seen to log in to `resource`'s cluster.
    pub fn password_verified(&self, resource: &str, password: &str) -> bool {
        let key = crate::fingerprint::of_parts([password]);
        self.with(|m| m.get(resource).and_then(|e| e.password.clone()) == Some(key))
    }

    /// `resource`'s cluster was reached trusting `ca_pem` alone.
    pub fn ca_works(&self, resource: &str, ca_pem: &str) {
        let key = crate::fingerprint::of_parts([ca_pem.trim()]);
        self.with(|m| m.entry(resource.to_string()).or_default().ca = Some(key));
    }

    /// Whether `resource`'s cluster was reached trusting `ca_pem` alone.
    pub fn ca_verified(&self, resource: &str, ca_pem: &str) -> bool {
        let key = crate::fingerprint::of_parts([ca_pem.trim()]);
        self.with(|m| m.get(resource).and_then(|e| e.ca.clone()) == Some(key))
    }

    /// Forgets a deleted resource.
    pub fn forget(&self, resource: &str) {
        self.with(|m| m.remove(resource));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use kube::api::ObjectMeta;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn secret(created: &str, rotated: Option<&str>) -> Secret {
        Secret {
            metadata: ObjectMeta {
                creation_timestamp: Some(Time(created.parse().expect("time"))),
                annotations: rotated.map(|r| annotations(&[(ROTATED_AT_ANNOTATION, r)])),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn annotations_are_read_and_bad_ones_named() {
        let r = Rotation::from_annotations(&annotations(&[
            (ROTATE_CREDENTIALS_ANNOTATION, "2026-12-05T15:00:00Z"),
            (ROTATE_CERTIFICATES_ANNOTATION, "yesterday"),
        ]));
        assert_eq!(
            r.credentials,
            Some("2026-12-05T15:00:00Z".parse().expect("t"))
        );
        assert_eq!(r.certificates, None);
        assert_eq!(r.invalid.len(), 1);
        assert!(
            r.invalid[0].contains(ROTATE_CERTIFICATES_ANNOTATION),
            "{:?}",
            r.invalid
        );
        assert!(r.invalid[0].contains("\"yesterday\""));
        // An offset is RFC 3339 too.
        let r = Rotation::from_annotations(&annotations(&[(
            ROTATE_CREDENTIALS_ANNOTATION,
            "2026-12-05T16:00:00+01:00",
        )]));
        assert_eq!(
            r.credentials,
            Some("2026-12-05T15:00:00Z".parse().expect("t"))
        );
        assert!(r.invalid.is_empty());
        assert_eq!(
            Rotation::from_annotations(&BTreeMap::new()),
            Rotation::default()
        );
    }

    #[test]
    fn a_request_rotates_once_and_never_an_older_secret() {
        let t = |s: &str| Some(s.parse::<Timestamp>().expect("t"));
        let created = secret("2026-12-05T14:00:00Z", None);
        assert!(due(t("2026-12-05T15:00:00Z"), &created));
        assert!(
            !due(t("2026-12-05T13:00:00Z"), &created),
            "older than the Secret"
        );
        assert!(!due(None, &created));
        let rotated = secret("2026-12-05T14:00:00Z", Some("2026-12-05T15:00:00Z"));
        assert!(!due(t("2026-12-05T15:00:00Z"), &rotated), "done");
        assert!(due(t("2026-12-05T15:00:01Z"), &rotated), "a newer request");
    }

    #[test]
    fn the_bundle_holds_both_cas_while_a_rotation_keeps_the_previous() {
        assert_eq!(ca_bundle("NEW\n", None), "NEW\n");
        assert_eq!(ca_bundle("NEW\n", Some("OLD\n")), "NEW\nOLD\n");
        assert_eq!(ca_bundle("NEW\n", Some("NEW")), "NEW\n");
    }

    #[test]
    fn logins_remember_fingerprints_per_resource() {
        let logins = Logins::default();
        logins.password_works("ns/a", "pw-1");
        assert!(logins.password_verified("ns/a", "pw-1"));
        assert!(!logins.password_verified("ns/a", "pw-2"));
        assert!(!logins.password_verified("ns/b", "pw-1"));
        logins.ca_works("ns/a", "CA\n");
        assert!(logins.ca_verified("ns/a", "CA"));
        assert!(logins.password_verified("ns/a", "pw-1"), "kept");
        logins.forget("ns/a");
        assert!(!logins.ca_verified("ns/a", "CA"));
    }
}

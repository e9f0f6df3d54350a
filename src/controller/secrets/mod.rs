//! Secrets the operator generates (I/O): passwords, the file realm, a CA and the
//! HTTP/transport certificates; and the Secrets users reference (external credentials, CA,
//! repository and secure-settings Secrets), only read.
//!
//! ```text
//! source Secrets (created when missing; rotated on request)  derived Secrets (kept consistent)
//! <n>-es-operator-user (password, previous-password) ──────►  <n>-es-file-realm (bcrypt hash)
//! <n>-ca (CA, previous-ca.crt; renewed renewBefore ahead) ─►  <n>-es-http-certs,
//!                                                             <n>-es-transport-certs (ca.crt: both CAs)
//! <n>-es-elastic-user, <n>-kibana-user, <n>-collector-user, <n>-kibana-encryption-keys,
//! <n>-kibana-dashboards-user (the operator's own Kibana user; whenever Kibana is enabled)
//! ```
//!
//! Every generated Secret is owned by the MeshLogging. The `rotate-credentials` and
//! `rotate-certificates` annotations ([`rotate`]) replace the passwords / the CA once per
//! request; the operator's previous password and the previous CA are kept until the new
//! ones are seen to work (see [`Logins`]), then dropped. Deleting a source Secret makes
//! the operator generate it anew on the next reconcile (without a kept previous value).
//! The sync then sets the matching Elasticsearch password. A derived Secret is checked
//! against its source on every pass — the hash verifies the current password; the
//! certificate is signed by the current CA, carries the trust bundle, names every wanted
//! DNS name, matches its key and is valid for longer than `renewBefore` — and replaced
//! (one `update`, guarded by its resourceVersion) when it does not. A Secret of a
//! generated name that this resource does not own is never changed: it is reported as a
//! conflict.

mod certs;
mod generated;
mod realm;
pub mod rotate;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::Api;
use kube::runtime::reflector::Store;
use rand::RngExt;

use certs::{ca_valid, leaf, leaf_matches, leaf_sans, new_ca};
use generated::Generated;
pub use realm::VerifiedRealms;
use realm::{new_file_realm, realm_matches};
pub use rotate::{Logins, Rotation};

use crate::api::{ExternalElasticsearch, SnapshotRepository};
use crate::elastic::Credentials;
use crate::error::{Error, Result};
use crate::keystore::KeystoreFiles;
use crate::naming as names;
use crate::render::SecretFingerprints;
use crate::validate::{EsMode, Validated};

/// Length of generated passwords (alphanumeric: about 143 bits).
const PASSWORD_LENGTH: usize = 24;

/// The credentials one reconcile needs, read from (or generated into) Secrets.
#[derive(Clone)]
pub struct StackSecrets {
    /// How the operator logs in to Elasticsearch.
    pub admin: Option<Credentials>,
    /// The operator's password before a rotation (managed mode), kept until the new one is
    /// seen to log in: the nodes load the new file realm only when they restart.
    pub admin_previous: Option<Credentials>,
    /// While a CA rotation keeps the previous CA: the new CA alone (PEM). The previous one
    /// is dropped once Elasticsearch is reached trusting only this one.
    pub ca_rotating: Option<String>,
    /// The `elastic` user's password, once its Secret was rotated (managed mode): then the
    /// sync sets it in Elasticsearch.
    pub elastic_rotated: Option<String>,
    /// PEM CA that signed Elasticsearch's HTTP certificate (managed: the operator's CA,
    /// with the previous one while a rotation keeps it; external: the referenced CA
    /// Secret, if any).
    pub es_ca_pem: Option<Vec<u8>>,
    /// The collector user's password.
    pub collector_password: String,
    /// Kibana's password (when Kibana is enabled).
    pub kibana_password: Option<String>,
    /// The password of the operator's own Kibana user, the dashboards' (when Kibana is
    /// enabled). Not read by any pod.
    pub dashboards_password: Option<String>,
    /// The keystore's password, the digest of the secure-settings files (managed mode
    /// with secure settings): what `POST _nodes/reload_secure_settings` is sent with.
    pub keystore_digest: Option<String>,
    /// Hashes of generated material that pods read, for pod-template annotations.
    pub fingerprints: SecretFingerprints,
    /// Generated Secrets whose name is taken by a Secret this resource does not own and
    /// that would have to change (`Secret/<name>`): left alone.
    pub conflicts: Vec<String>,
}

impl std::fmt::Debug for StackSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StackSecrets(<redacted>)")
    }
}

/// Labels of generated Secrets (the operator's owned-object watches select on them).
fn secret_labels(instance: &str) -> BTreeMap<String, String> {
    use crate::render::labels::*;
    BTreeMap::from([
        (NAME.to_string(), "meshlogging".to_string()),
        (INSTANCE.to_string(), instance.to_string()),
        (COMPONENT.to_string(), "credentials".to_string()),
        (MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
        (PART_OF.to_string(), PART_OF_VALUE.to_string()),
    ])
}

/// A random alphanumeric password.
pub fn password() -> String {
    let mut rng = rand::rng();
    (0..PASSWORD_LENGTH)
        .map(|_| {
            const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
            CHARS[rng.random_range(0..CHARS.len())] as char
        })
        .collect()
}

/// Ensures the generated Secrets of `v` exist, regenerates derived Secrets that no longer
/// match their source, and reads what the reconcile needs.
pub async fn ensure(
    client: &kube::Client,
    v: &Validated,
    owner: &OwnerReference,
    realms: &VerifiedRealms,
    cache: Option<&Store<Secret>>,
    rotation: &Rotation,
    logins: &Logins,
) -> Result<StackSecrets> {
    let ns = v.namespace.as_str();
    let name = v.name.as_str();
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let labels = secret_labels(name);
    let generated = Generated {
        api: &api,
        namespace: ns,
        owner,
        labels: &labels,
        cache,
    };
    let mut fingerprints = SecretFingerprints::default();
    let mut conflicts = Vec::new();
    let new_password = |_: Option<&BTreeMap<String, String>>| {
        Ok(BTreeMap::from([(
            names::PASSWORD_KEY.to_string(),
            password(),
        )]))
    };
    let credentials = rotation.credentials;

    let collector_password = generated
        .ensure_rotated(
            &names::collector_user_secret(name),
            credentials,
            new_password,
            &mut conflicts,
        )
        .await?
        .remove(names::PASSWORD_KEY)
        .ok_or_else(|| missing_key(&names::collector_user_secret(name), names::PASSWORD_KEY))?;
    // Passwords reach the pods as environment variables: a new one must roll them.
    fingerprints.collector_user = Some(crate::fingerprint::of_parts([collector_password.as_str()]));

    let kibana_password = if v.kibana.is_some() {
        let keys = generated
            .ensure(&names::kibana_encryption_keys_secret(name), || {
                Ok(names::KIBANA_ENCRYPTION_KEYS
                    .iter()
                    .map(|k| (k.to_string(), format!("{}{}", password(), password())))
                    .collect())
            })
            .await?;
        fingerprints.kibana_encryption_keys = Some(fingerprint(&keys));
        let mut data = generated
            .ensure_rotated(
                &names::kibana_user_secret(name),
                credentials,
                new_password,
                &mut conflicts,
            )
            .await?;
        let password = data
            .remove(names::PASSWORD_KEY)
            .ok_or_else(|| missing_key(&names::kibana_user_secret(name), names::PASSWORD_KEY))?;
        fingerprints.kibana_user = Some(crate::fingerprint::of_parts([password.as_str()]));
        Some(password)
    } else {
        None
    };
    // The operator's own Kibana user: made with Kibana, so that turning dashboards off
    // and on again keeps one password, and their removal can still sign in.
    let dashboards_password = if v.kibana.is_some() {
        let secret = names::kibana_dashboards_user_secret(name);
        Some(
            generated
                .ensure_rotated(&secret, credentials, new_password, &mut conflicts)
                .await?
                .remove(names::PASSWORD_KEY)
                .ok_or_else(|| missing_key(&secret, names::PASSWORD_KEY))?,
        )
    } else {
        None
    };

    let (mut admin_previous, mut ca_rotating, mut elastic_rotated) = (None, None, None);
    let mut keystore_digest = None;
    let (admin, es_ca_pem) = match &v.mode {
        EsMode::Managed(managed) => {
            let (elastic, elastic_marked) = generated
                .ensure_rotated_marked(
                    &names::es_elastic_user_secret(name),
                    credentials,
                    |_| {
                        Ok(BTreeMap::from([(
                            names::ELASTIC_PASSWORD_KEY.to_string(),
                            password(),
                        )]))
                    },
                    &mut conflicts,
                )
                .await?;
            // The `elastic` password reaches the nodes as the keystore's bootstrap.password,
            // for people; the operator logs in as its own file-realm superuser.
            let Some(elastic) = elastic.get(names::ELASTIC_PASSWORD_KEY) else {
                return Err(missing_key(
                    &names::es_elastic_user_secret(name),
                    names::ELASTIC_PASSWORD_KEY,
                ));
            };
            // Once rotated, the bootstrap password no longer sets it (the native realm
            // holds `elastic` since the first start): the sync does.
            elastic_rotated = elastic_marked.then(|| elastic.clone());
            let owner_id = v.owner();
            let (operator, operator_previous) = operator_password(
                &generated,
                name,
                &owner_id,
                credentials,
                logins,
                &mut conflicts,
            )
            .await?;
            let realm = generated
                .ensure_derived(
                    &names::es_file_realm_secret(name),
                    |data| realm_matches(data, &operator, &owner_id, realms),
                    || new_file_realm(&operator, &owner_id, realms),
                    &mut conflicts,
                )
                .await?;
            fingerprints.file_realm = Some(fingerprint(&realm));

            let now = time::OffsetDateTime::now_utc();
            let renew = time::Duration::try_from(v.certificate_renew_before())
                .unwrap_or(time::Duration::days(30));
            let ca = certificate_authority(
                &generated,
                name,
                &owner_id,
                rotation.certificates,
                logins,
                (now, renew),
                &mut conflicts,
            )
            .await?;
            let (ca_cert, ca_key) = match (ca.get(names::CA_CERT_KEY), ca.get(names::CA_KEY_KEY)) {
                (Some(c), Some(k)) => (c.clone(), k.clone()),
                _ => return Err(missing_key(&names::ca_secret(name), names::CA_KEY_KEY)),
            };
            let previous_ca = ca.get(rotate::PREVIOUS_CA_CERT_KEY).cloned();
            // What every client trusts: the CA, and the previous one while a rotation
            // keeps it (the nodes may still serve a certificate it signed).
            let bundle = rotate::ca_bundle(&ca_cert, previous_ca.as_deref());
            // Kibana and the collector read the CA at start: a new one must roll them.
            fingerprints.ca = Some(crate::fingerprint::of_parts([bundle.as_str()]));
            let http_names = names::es_http_dns_names(name, ns);
            let http = generated
                .ensure_derived(
                    &names::es_http_certs_secret(name),
                    |data| {
                        leaf_matches(data, &ca_cert, &bundle, &leaf_sans(&http_names), now, renew)
                    },
                    || leaf(&ca_cert, &ca_key, &bundle, name, &http_names, false),
                    &mut conflicts,
                )
                .await?;
            let mut transport_names = names::es_transport_dns_names(name, ns, managed.replicas);
            let nodes = names::es_nodes_service(name);
            transport_names.push(format!("*.{nodes}.{ns}.svc"));
            transport_names.push(format!("*.{nodes}.{ns}.svc.cluster.local"));
            let transport = generated
                .ensure_derived(
                    &names::es_transport_certs_secret(name),
                    |data| {
                        leaf_matches(
                            data,
                            &ca_cert,
                            &bundle,
                            &leaf_sans(&transport_names),
                            now,
                            renew,
                        )
                    },
                    || leaf(&ca_cert, &ca_key, &bundle, name, &transport_names, true),
                    &mut conflicts,
                )
                .await?;
            if let Some(files) = keystore_files(&api, &managed.keystore).await? {
                // Only what a node reads at start restarts it; the rest is reloaded.
                fingerprints.secure_settings = Some(files.restart_fingerprint());
                let digest = files.digest();
                fingerprints.reloadable_settings = Some(super::reload::fingerprint(&digest));
                keystore_digest = Some(digest);
            }
            fingerprints.http_certs = Some(fingerprint(&http));
            fingerprints.transport_certs = Some(fingerprint(&transport));
            let admin = Credentials {
                username: names::OPERATOR_USER.into(),
                password: operator,
            };
            admin_previous = operator_previous.map(|password| Credentials {
                username: names::OPERATOR_USER.into(),
                password,
            });
            ca_rotating = previous_ca.map(|_| ca_cert);
            (Some(admin), Some(bundle.into_bytes()))
        }
        EsMode::External(external) => external_credentials(&api, external).await?,
    };

    Ok(StackSecrets {
        admin,
        admin_previous,
        ca_rotating,
        elastic_rotated,
        es_ca_pem,
        collector_password,
        kibana_password,
        dashboards_password,
        keystore_digest,
        fingerprints,
        conflicts,
    })
}

/// How the operator logs in to Elasticsearch, read without generating anything (cleanup):
/// `None` when the Secrets are gone.
pub async fn admin(
    client: &kube::Client,
    v: &Validated,
) -> Result<Option<(Credentials, Option<Vec<u8>>)>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &v.namespace);
    match &v.mode {
        EsMode::Managed(_) => {
            let password = api
                .get_opt(&names::es_operator_user_secret(&v.name))
                .await?
                .and_then(|s| decode(&s).remove(names::PASSWORD_KEY));
            let ca = api
                .get_opt(&names::ca_secret(&v.name))
                .await?
                .and_then(|s| decode(&s).remove(names::CA_CERT_KEY));
            Ok(password.map(|password| {
                let admin = Credentials {
                    username: names::OPERATOR_USER.into(),
                    password,
                };
                (admin, ca.map(String::into_bytes))
            }))
        }
        EsMode::External(external) => match external_credentials(&api, external).await {
            Ok((Some(admin), ca)) => Ok(Some((admin, ca))),
            Ok((None, _)) | Err(Error::CredentialsMissing(_)) => Ok(None),
            Err(e) => Err(e),
        },
    }
}

/// The operator's Kibana user and its password, read without generating anything
/// (cleanup): `None` when its Secret is gone.
pub async fn dashboards_user(client: &kube::Client, v: &Validated) -> Result<Option<Credentials>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &v.namespace);
    let password = api
        .get_opt(&names::kibana_dashboards_user_secret(&v.name))
        .await?
        .and_then(|s| decode(&s).remove(names::PASSWORD_KEY));
    Ok(password.map(|password| Credentials {
        username: v.names.dashboards_user(),
        password,
    }))
}

/// Reads the credentials and CA of an external cluster.
async fn external_credentials(
    api: &Api<Secret>,
    external: &ExternalElasticsearch,
) -> Result<(Option<Credentials>, Option<Vec<u8>>)> {
    let creds = &external.credentials_secret_ref;
    let data = read(api, &creds.name).await?;
    let username = data
        .get(&creds.username_key)
        .cloned()
        .ok_or_else(|| missing_key(&creds.name, &creds.username_key))?;
    let password = data
        .get(&creds.password_key)
        .cloned()
        .ok_or_else(|| missing_key(&creds.name, &creds.password_key))?;
    let ca = match &external.ca_secret_ref {
        None => None,
        Some(r) => Some(
            read(api, &r.name)
                .await?
                .remove(&r.key)
                .ok_or_else(|| missing_key(&r.name, &r.key))?
                .into_bytes(),
        ),
    };
    Ok((Some(Credentials { username, password }), ca))
}

/// Repositories whose credentials Secret is missing or lacks the keys its type needs:
/// repository name -> why.
pub async fn missing_repository_credentials(
    client: &kube::Client,
    namespace: &str,
    repositories: &[SnapshotRepository],
) -> Result<BTreeMap<String, String>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut missing = BTreeMap::new();
    for repo in repositories {
        let Some(secret) = &repo.credentials_secret_ref else {
            continue;
        };
        let required = names::repository_credential_keys(repo.kind)
            .iter()
            .filter(|k| k.required)
            .map(|k| k.key);
        match api.get_opt(&secret.name).await? {
            None => {
                missing.insert(
                    repo.name.clone(),
                    format!("credentials Secret {} does not exist", secret.name),
                );
            }
            Some(s) => {
                let keys = s.data.unwrap_or_default();
                let absent: Vec<&str> = required.filter(|k| !keys.contains_key(*k)).collect();
                if !absent.is_empty() {
                    missing.insert(
                        repo.name.clone(),
                        format!(
                            "credentials Secret {} lacks key(s) {}",
                            secret.name,
                            absent.join(", ")
                        ),
                    );
                }
            }
        }
    }
    Ok(missing)
}

/// The operator's password (rotated on request) and the previous one while a rotation
/// keeps it. The previous password is dropped (one update) once the new one was seen to
/// log in; a rotation requested while one is still in flight keeps the oldest password,
/// the one the nodes that did not restart yet still know.
async fn operator_password(
    generated: &Generated<'_>,
    name: &str,
    owner_id: &str,
    request: Option<k8s_openapi::jiff::Timestamp>,
    logins: &Logins,
    conflicts: &mut Vec<String>,
) -> Result<(String, Option<String>)> {
    let secret = names::es_operator_user_secret(name);
    let mut data = generated
        .ensure_rotated(
            &secret,
            request,
            |old| {
                let mut data = BTreeMap::from([(names::PASSWORD_KEY.to_string(), password())]);
                let kept = old.and_then(|o| {
                    o.get(rotate::PREVIOUS_PASSWORD_KEY)
                        .or_else(|| o.get(names::PASSWORD_KEY))
                });
                if let Some(previous) = kept {
                    data.insert(rotate::PREVIOUS_PASSWORD_KEY.to_string(), previous.clone());
                }
                Ok(data)
            },
            conflicts,
        )
        .await?;
    let current = data
        .get(names::PASSWORD_KEY)
        .cloned()
        .ok_or_else(|| missing_key(&secret, names::PASSWORD_KEY))?;
    if data.contains_key(rotate::PREVIOUS_PASSWORD_KEY)
        && logins.password_verified(owner_id, &current)
    {
        data.remove(rotate::PREVIOUS_PASSWORD_KEY);
        generated.replace_data(&secret, &data).await?;
        tracing::info!(
            secret,
            "the new password logs in: the previous one is dropped"
        );
    }
    let previous = data.remove(rotate::PREVIOUS_PASSWORD_KEY);
    Ok((current, previous))
}

/// The CA: kept while valid, regenerated before it expires, rotated on request (the
/// previous CA kept beside it), and the previous CA dropped (one update) once
/// Elasticsearch was reached trusting the new one alone.
async fn certificate_authority(
    generated: &Generated<'_>,
    name: &str,
    owner_id: &str,
    request: Option<k8s_openapi::jiff::Timestamp>,
    logins: &Logins,
    (now, renew): (time::OffsetDateTime, time::Duration),
    conflicts: &mut Vec<String>,
) -> Result<BTreeMap<String, String>> {
    let secret = names::ca_secret(name);
    let rotate_ca = |old: Option<&BTreeMap<String, String>>| {
        let mut data = new_ca(name)?;
        // A rotation still in flight keeps the oldest CA: the one nodes may still serve.
        let kept = old
            .and_then(|o| {
                o.get(rotate::PREVIOUS_CA_CERT_KEY)
                    .or_else(|| o.get(names::CA_CERT_KEY))
            })
            .filter(|pem| certs::parses(pem));
        if let Some(previous) = kept {
            data.insert(rotate::PREVIOUS_CA_CERT_KEY.to_string(), previous.clone());
        }
        Ok(data)
    };
    let data = generated
        .ensure_rotated(&secret, request, rotate_ca, conflicts)
        .await?;
    let mut data = if ca_valid(&data, now, renew) {
        data
    } else {
        // Expiring (or not a CA): renewed like a rotation, the previous CA kept.
        let old = data;
        generated
            .ensure_derived(
                &secret,
                |d| ca_valid(d, now, renew),
                || rotate_ca(Some(&old)),
                conflicts,
            )
            .await?
    };
    let verified = data
        .get(names::CA_CERT_KEY)
        .is_some_and(|ca| logins.ca_verified(owner_id, ca));
    if data.contains_key(rotate::PREVIOUS_CA_CERT_KEY) && verified {
        data.remove(rotate::PREVIOUS_CA_CERT_KEY);
        generated.replace_data(&secret, &data).await?;
        tracing::info!(
            secret,
            "Elasticsearch serves the new CA's certificates: the previous CA is dropped"
        );
    }
    Ok(data)
}

/// The files of the secure-settings volume, read from their Secrets as the kubelet
/// projects them: each source's mapped keys (or all its keys) under their setting names;
/// an absent Secret or key has no file. `None` without sources.
async fn keystore_files(
    api: &Api<Secret>,
    sources: &[crate::validate::KeystoreSource],
) -> Result<Option<KeystoreFiles>> {
    if sources.is_empty() {
        return Ok(None);
    }
    let mut files = KeystoreFiles::default();
    for source in sources {
        let data = api
            .get_opt(&source.secret)
            .await?
            .and_then(|s| s.data)
            .unwrap_or_default();
        let keys: Vec<(String, String)> = match &source.items {
            Some(items) => items.clone(),
            None => data.keys().map(|k| (k.clone(), k.clone())).collect(),
        };
        for (key, setting) in keys {
            if let Some(value) = data.get(&key) {
                files.0.entry(setting).or_insert_with(|| value.0.clone());
            }
        }
    }
    Ok(Some(files))
}

fn missing_key(secret: &str, key: &str) -> Error {
    Error::CredentialsMissing(format!("Secret {secret} has no key {key}"))
}

/// Reads a Secret's data as strings.
async fn read(api: &Api<Secret>, name: &str) -> Result<BTreeMap<String, String>> {
    let secret = api
        .get_opt(name)
        .await?
        .ok_or_else(|| Error::CredentialsMissing(format!("Secret {name} does not exist")))?;
    Ok(decode(&secret))
}

pub(super) fn decode(secret: &Secret) -> BTreeMap<String, String> {
    secret
        .data
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
        .collect()
}

/// A short, stable hash of Secret data (FNV-1a over sorted keys and values): pods
/// annotated with it roll when the material they mount is regenerated. Not a secret.
fn fingerprint(data: &BTreeMap<String, String>) -> String {
    crate::fingerprint::of_parts(data.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_random_and_alphanumeric() {
        let a = password();
        assert_eq!(a.len(), PASSWORD_LENGTH);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, password());
    }
}

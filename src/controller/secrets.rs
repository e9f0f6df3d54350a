//! Secrets the operator generates (I/O): passwords, the file realm, a CA and the
//! HTTP/transport certificates; and the Secrets users reference (external credentials, CA,
//! repository credentials), only read.
//!
//! ```text
//! source Secrets (created when missing, never changed)    derived Secrets (kept consistent)
//! <n>-es-operator-user (password) ─────────────────────►  <n>-es-file-realm (bcrypt hash)
//! <n>-ca (CA; renewed 30 days before it expires) ──────►  <n>-es-http-certs, <n>-es-transport-certs
//! <n>-es-elastic-user, <n>-kibana-user, <n>-collector-user, <n>-kibana-encryption-keys
//! ```
//!
//! Every generated Secret is owned by the MeshLogging. Deleting a source Secret makes the
//! operator generate it anew on the next reconcile (the sync then resets the matching
//! Elasticsearch password). A derived Secret is checked against its source on every pass —
//! the hash verifies the current password; the certificate is signed by the current CA,
//! names every wanted DNS name, matches its key and is valid for 30 more days — and
//! replaced (one `update`, guarded by its resourceVersion) when it does not. A Secret of a
//! generated name that this resource does not own is never changed: it is reported as a
//! conflict.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, ObjectMeta, PostParams};
use rand::RngExt;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use crate::api::{ExternalElasticsearch, SnapshotRepository};
use crate::elastic::Credentials;
use crate::error::{Error, Result};
use crate::naming as names;
use crate::validate::{EsMode, Validated};

/// Length of generated passwords (alphanumeric: about 143 bits).
const PASSWORD_LENGTH: usize = 24;
/// Validity of generated certificates. See the README on rotation by deleting the Secrets.
const CERT_VALIDITY_DAYS: i64 = 3650;
/// Certificates (and the CA) expiring within this many days are regenerated.
const RENEW_BEFORE_DAYS: i64 = 30;

/// The credentials one reconcile needs, read from (or generated into) Secrets.
#[derive(Clone)]
pub struct StackSecrets {
    /// How the operator logs in to Elasticsearch.
    pub admin: Option<Credentials>,
    /// PEM CA that signed Elasticsearch's HTTP certificate (managed: the operator's CA;
    /// external: the referenced CA Secret, if any).
    pub es_ca_pem: Option<Vec<u8>>,
    /// The collector user's password.
    pub collector_password: String,
    /// Kibana's password (when Kibana is enabled).
    pub kibana_password: Option<String>,
    /// Hashes of generated material that pods mount, for pod-template annotations.
    pub fingerprints: BTreeMap<String, String>,
    /// Generated Secrets whose name is taken by a Secret this resource does not own and
    /// that would have to change (`Secret/<name>`): left alone.
    pub conflicts: Vec<String>,
}

/// File realms already verified against their password, per resource: bcrypt is slow on
/// purpose (about a quarter of a second), so each (password, realm) pair is verified once
/// per process, not on every pass. Holds fingerprints only, never a password or a hash.
#[derive(Default)]
pub struct VerifiedRealms(Mutex<HashMap<String, String>>);

impl VerifiedRealms {
    fn key(password: &str, users: &str) -> String {
        crate::fingerprint::of_parts([password, users])
    }

    fn contains(&self, resource: &str, password: &str, users: &str) -> bool {
        let key = Self::key(password, users);
        self.0
            .lock()
            .map(|m| m.get(resource) == Some(&key))
            .unwrap_or(false)
    }

    fn insert(&self, resource: &str, password: &str, users: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(resource.to_string(), Self::key(password, users));
        }
    }

    /// Forgets a deleted resource.
    pub fn forget(&self, resource: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(resource);
        }
    }
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
    };
    let mut fingerprints = BTreeMap::new();
    let mut conflicts = Vec::new();

    let collector_password = generated
        .ensure(&names::collector_user_secret(name), || {
            Ok(BTreeMap::from([(
                names::PASSWORD_KEY.to_string(),
                password(),
            )]))
        })
        .await?
        .remove(names::PASSWORD_KEY)
        .ok_or_else(|| missing_key(&names::collector_user_secret(name), names::PASSWORD_KEY))?;
    // Passwords reach the pods as environment variables: a new one must roll them.
    fingerprints.insert(
        "collector-user".into(),
        crate::fingerprint::of_parts([collector_password.as_str()]),
    );

    let kibana_password = if v.kibana.is_some() {
        let keys = generated
            .ensure(&names::kibana_encryption_keys_secret(name), || {
                Ok(names::KIBANA_ENCRYPTION_KEYS
                    .iter()
                    .map(|k| (k.to_string(), format!("{}{}", password(), password())))
                    .collect())
            })
            .await?;
        fingerprints.insert("kibana-encryption-keys".into(), fingerprint(&keys));
        let mut data = generated
            .ensure(&names::kibana_user_secret(name), || {
                Ok(BTreeMap::from([(
                    names::PASSWORD_KEY.to_string(),
                    password(),
                )]))
            })
            .await?;
        let password = data
            .remove(names::PASSWORD_KEY)
            .ok_or_else(|| missing_key(&names::kibana_user_secret(name), names::PASSWORD_KEY))?;
        fingerprints.insert(
            "kibana-user".into(),
            crate::fingerprint::of_parts([password.as_str()]),
        );
        Some(password)
    } else {
        None
    };

    let (admin, es_ca_pem) = match &v.mode {
        EsMode::Managed(managed) => {
            let elastic = generated
                .ensure(&names::es_elastic_user_secret(name), || {
                    Ok(BTreeMap::from([(
                        names::ELASTIC_PASSWORD_KEY.to_string(),
                        password(),
                    )]))
                })
                .await?;
            // The `elastic` password reaches the nodes as the keystore's bootstrap.password,
            // for people; the operator logs in as its own file-realm superuser.
            if !elastic.contains_key(names::ELASTIC_PASSWORD_KEY) {
                return Err(missing_key(
                    &names::es_elastic_user_secret(name),
                    names::ELASTIC_PASSWORD_KEY,
                ));
            }
            let operator = generated
                .ensure(&names::es_operator_user_secret(name), || {
                    Ok(BTreeMap::from([(
                        names::PASSWORD_KEY.to_string(),
                        password(),
                    )]))
                })
                .await?
                .remove(names::PASSWORD_KEY)
                .ok_or_else(|| {
                    missing_key(&names::es_operator_user_secret(name), names::PASSWORD_KEY)
                })?;
            let owner_id = v.owner();
            let realm = generated
                .ensure_derived(
                    &names::es_file_realm_secret(name),
                    |data| realm_matches(data, &operator, &owner_id, realms),
                    || file_realm(&operator),
                    &mut conflicts,
                )
                .await?;
            fingerprints.insert("file-realm".into(), fingerprint(&realm));

            let now = time::OffsetDateTime::now_utc();
            let ca = generated
                .ensure_derived(
                    &names::ca_secret(name),
                    |data| ca_valid(data, now),
                    || new_ca(name),
                    &mut conflicts,
                )
                .await?;
            let (ca_cert, ca_key) = match (ca.get(names::CA_CERT_KEY), ca.get(names::CA_KEY_KEY)) {
                (Some(c), Some(k)) => (c.clone(), k.clone()),
                _ => return Err(missing_key(&names::ca_secret(name), names::CA_KEY_KEY)),
            };
            // Kibana and the collector read the CA at start: a new one must roll them.
            fingerprints.insert(
                "ca".into(),
                crate::fingerprint::of_parts([ca_cert.as_str()]),
            );
            let http_names = names::es_http_dns_names(name, ns);
            let http = generated
                .ensure_derived(
                    &names::es_http_certs_secret(name),
                    |data| leaf_matches(data, &ca_cert, &leaf_sans(&http_names), now),
                    || leaf(&ca_cert, &ca_key, name, &http_names, false),
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
                    |data| leaf_matches(data, &ca_cert, &leaf_sans(&transport_names), now),
                    || leaf(&ca_cert, &ca_key, name, &transport_names, true),
                    &mut conflicts,
                )
                .await?;
            fingerprints.insert("http-certs".into(), fingerprint(&http));
            fingerprints.insert("transport-certs".into(), fingerprint(&transport));
            let admin = Credentials {
                username: names::OPERATOR_USER.into(),
                password: operator,
            };
            (Some(admin), Some(ca_cert.into_bytes()))
        }
        EsMode::External(external) => external_credentials(&api, external).await?,
    };

    Ok(StackSecrets {
        admin,
        es_ca_pem,
        collector_password,
        kibana_password,
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

fn decode(secret: &Secret) -> BTreeMap<String, String> {
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

struct Generated<'a> {
    api: &'a Api<Secret>,
    namespace: &'a str,
    owner: &'a OwnerReference,
    labels: &'a BTreeMap<String, String>,
}

impl Generated<'_> {
    /// Returns the Secret's data, creating it from `make` when it does not exist. An
    /// existing Secret is never changed.
    async fn ensure(
        &self,
        name: &str,
        make: impl FnOnce() -> Result<BTreeMap<String, String>>,
    ) -> Result<BTreeMap<String, String>> {
        if let Some(existing) = self.api.get_opt(name).await? {
            return Ok(decode(&existing));
        }
        let data = make()?;
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(self.namespace.to_string()),
                labels: Some(self.labels.clone()),
                owner_references: Some(vec![self.owner.clone()]),
                ..Default::default()
            },
            data: Some(to_bytes(&data)),
            type_: Some("Opaque".into()),
            ..Default::default()
        };
        match self.api.create(&PostParams::default(), &secret).await {
            Ok(_) => {
                tracing::info!(secret = name, "generated Secret");
                Ok(data)
            }
            // Created concurrently: read what won.
            Err(kube::Error::Api(e)) if e.code == 409 => {
                let existing = self.api.get(name).await?;
                Ok(decode(&existing))
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl Generated<'_> {
    /// Returns the data of a Secret derived from a source: created from `make` when
    /// missing; kept when `consistent` says it matches its source; otherwise regenerated
    /// by one `update` guarded by its resourceVersion (a concurrent change fails the pass,
    /// which retries) — only when this resource owns it. Someone else's Secret is left as
    /// it is and named in `conflicts`.
    async fn ensure_derived(
        &self,
        name: &str,
        consistent: impl FnOnce(&BTreeMap<String, String>) -> bool,
        make: impl FnOnce() -> Result<BTreeMap<String, String>>,
        conflicts: &mut Vec<String>,
    ) -> Result<BTreeMap<String, String>> {
        let Some(existing) = self.api.get_opt(name).await? else {
            return self.ensure(name, make).await;
        };
        let data = decode(&existing);
        if consistent(&data) {
            return Ok(data);
        }
        let owned = existing
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.uid == self.owner.uid);
        if !owned {
            conflicts.push(format!("Secret/{name}"));
            return Ok(data);
        }
        let fresh = make()?;
        let mut secret = existing;
        secret.data = Some(to_bytes(&fresh));
        secret.string_data = None;
        self.api
            .replace(name, &PostParams::default(), &secret)
            .await?;
        tracing::info!(
            secret = name,
            "regenerated Secret (it no longer matched its source)"
        );
        Ok(fresh)
    }
}

fn to_bytes(data: &BTreeMap<String, String>) -> BTreeMap<String, ByteString> {
    data.iter()
        .map(|(k, v)| (k.clone(), ByteString(v.clone().into_bytes())))
        .collect()
}

/// Whether the file realm holds exactly the operator's user with a hash of `password`, and
/// its superuser role. Verified pairs are remembered in `realms` (bcrypt is slow).
fn realm_matches(
    data: &BTreeMap<String, String>,
    password: &str,
    resource: &str,
    realms: &VerifiedRealms,
) -> bool {
    let user = names::OPERATOR_USER;
    let (Some(users), Some(roles)) = (
        data.get(names::FILE_REALM_USERS_KEY),
        data.get(names::FILE_REALM_USERS_ROLES_KEY),
    ) else {
        return false;
    };
    if roles.trim() != format!("superuser:{user}") {
        return false;
    }
    if realms.contains(resource, password, users) {
        return true;
    }
    let Some(hash) = users.trim().strip_prefix(&format!("{user}:")) else {
        return false;
    };
    let ok = !hash.contains('\n') && bcrypt::verify(password, hash).unwrap_or(false);
    if ok {
        realms.insert(resource, password, users);
    }
    ok
}

/// The subject alternative names a leaf certificate is generated with.
fn leaf_sans(dns_names: &[String]) -> Vec<String> {
    let mut sans = dns_names.to_vec();
    sans.push("localhost".into());
    sans.push("127.0.0.1".into());
    sans
}

/// Whether the CA Secret holds a CA certificate and its key, valid for
/// [`RENEW_BEFORE_DAYS`] more days.
fn ca_valid(data: &BTreeMap<String, String>, now: time::OffsetDateTime) -> bool {
    let (Some(cert), Some(key)) = (data.get(names::CA_CERT_KEY), data.get(names::CA_KEY_KEY))
    else {
        return false;
    };
    with_certificate(cert, |c| {
        c.is_ca() && valid_for_a_while(c, now) && key_matches(c, key)
    })
    .unwrap_or(false)
}

/// Whether a certificate Secret matches the current CA: its `ca.crt` is the CA, `tls.crt`
/// is signed by it, is valid for [`RENEW_BEFORE_DAYS`] more days, names every one of
/// `sans`, and `tls.key` is its key.
fn leaf_matches(
    data: &BTreeMap<String, String>,
    ca_pem: &str,
    sans: &[String],
    now: time::OffsetDateTime,
) -> bool {
    let (Some(ca), Some(cert), Some(key)) = (
        data.get(names::CA_CERT_KEY),
        data.get(names::TLS_CERT_KEY),
        data.get(names::TLS_KEY_KEY),
    ) else {
        return false;
    };
    if ca.trim() != ca_pem.trim() {
        return false;
    }
    with_certificate(ca_pem, |ca| {
        with_certificate(cert, |leaf| {
            leaf.verify_signature(Some(ca.public_key())).is_ok()
                && valid_for_a_while(leaf, now)
                && key_matches(leaf, key)
                && names_cover(leaf, sans)
        })
        .unwrap_or(false)
    })
    .unwrap_or(false)
}

/// Parses the first certificate of `pem` and applies `check` to it; `None` when it does
/// not parse.
fn with_certificate<T>(
    pem: &str,
    check: impl FnOnce(&x509_parser::certificate::X509Certificate<'_>) -> T,
) -> Option<T> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    let cert = pem.parse_x509().ok()?;
    Some(check(&cert))
}

fn valid_for_a_while(
    cert: &x509_parser::certificate::X509Certificate<'_>,
    now: time::OffsetDateTime,
) -> bool {
    let validity = cert.validity();
    let renew_at = now + time::Duration::days(RENEW_BEFORE_DAYS);
    validity.not_before.timestamp() <= now.unix_timestamp()
        && validity.not_after.timestamp() > renew_at.unix_timestamp()
}

fn key_matches(cert: &x509_parser::certificate::X509Certificate<'_>, key_pem: &str) -> bool {
    use rcgen::PublicKeyData as _;
    KeyPair::from_pem(key_pem)
        .is_ok_and(|key| key.subject_public_key_info() == cert.public_key().raw)
}

/// Whether the certificate's subject alternative names include every one of `wanted`
/// (DNS names, and IP addresses in their text form).
fn names_cover(cert: &x509_parser::certificate::X509Certificate<'_>, wanted: &[String]) -> bool {
    use x509_parser::extensions::GeneralName;
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return false;
    };
    let present: Vec<String> = san
        .value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some(d.to_string()),
            GeneralName::IPAddress(b) => match b.len() {
                4 => <[u8; 4]>::try_from(*b)
                    .ok()
                    .map(|a| std::net::IpAddr::from(a).to_string()),
                16 => <[u8; 16]>::try_from(*b)
                    .ok()
                    .map(|a| std::net::IpAddr::from(a).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    wanted.iter().all(|w| present.contains(w))
}

/// The file realm holding the operator's superuser: `users` (bcrypt hash) and
/// `users_roles`. The operator's login works whatever the native realm holds (for example
/// on retained data), as ECK does.
fn file_realm(password: &str) -> Result<BTreeMap<String, String>> {
    let hash = bcrypt::hash_with_result(password, bcrypt::DEFAULT_COST)
        .map_err(|e| Error::Generate(format!("bcrypt: {e}")))?
        .format_for_version(bcrypt::Version::TwoA);
    let user = names::OPERATOR_USER;
    Ok(BTreeMap::from([
        (
            names::FILE_REALM_USERS_KEY.to_string(),
            format!("{user}:{hash}\n"),
        ),
        (
            names::FILE_REALM_USERS_ROLES_KEY.to_string(),
            format!("superuser:{user}\n"),
        ),
    ]))
}

fn validity(params: &mut CertificateParams) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(CERT_VALIDITY_DAYS);
}

fn new_ca(name: &str) -> Result<BTreeMap<String, String>> {
    let gen_err = |e: rcgen::Error| Error::Generate(format!("CA: {e}"));
    let key = KeyPair::generate().map_err(gen_err)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("{name} MeshLogging CA"));
    dn.push(DnType::OrganizationName, "meshlogging-operator");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params);
    let cert = params.self_signed(&key).map_err(gen_err)?;
    Ok(BTreeMap::from([
        (names::CA_CERT_KEY.to_string(), cert.pem()),
        (names::CA_KEY_KEY.to_string(), key.serialize_pem()),
    ]))
}

fn leaf(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    name: &str,
    dns_names: &[String],
    client_auth: bool,
) -> Result<BTreeMap<String, String>> {
    let gen_err = |e: rcgen::Error| Error::Generate(format!("certificate: {e}"));
    let ca_key = KeyPair::from_pem(ca_key_pem).map_err(gen_err)?;
    let issuer = Issuer::from_ca_cert_pem(ca_cert_pem, ca_key).map_err(gen_err)?;
    let mut params = CertificateParams::new(leaf_sans(dns_names)).map_err(gen_err)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("{name}-es"));
    params.distinguished_name = dn;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = if client_auth {
        vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ]
    } else {
        vec![ExtendedKeyUsagePurpose::ServerAuth]
    };
    validity(&mut params);
    let key = KeyPair::generate().map_err(gen_err)?;
    let cert = params.signed_by(&key, &issuer).map_err(gen_err)?;
    Ok(BTreeMap::from([
        (names::CA_CERT_KEY.to_string(), ca_cert_pem.to_string()),
        (names::TLS_CERT_KEY.to_string(), cert.pem()),
        (names::TLS_KEY_KEY.to_string(), key.serialize_pem()),
    ]))
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

    #[test]
    fn the_file_realm_verifies_the_password() {
        let realm = file_realm("s3cret-pw").expect("realm");
        let line = realm[names::FILE_REALM_USERS_KEY].trim().to_string();
        let hash = line
            .strip_prefix("meshlogging-operator:")
            .expect("user line");
        assert!(hash.starts_with("$2a$"));
        assert!(bcrypt::verify("s3cret-pw", hash).expect("verify"));
        assert!(!line.contains("s3cret-pw"));
    }

    #[test]
    fn certificates_chain_to_the_ca_and_name_the_service() {
        let ca = new_ca("logs").expect("ca");
        let leaf = leaf(
            &ca[names::CA_CERT_KEY],
            &ca[names::CA_KEY_KEY],
            "logs",
            &names::es_http_dns_names("logs", "ns"),
            false,
        )
        .expect("leaf");
        assert!(leaf[names::TLS_CERT_KEY].starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(leaf[names::TLS_KEY_KEY].contains("PRIVATE KEY"));
        assert_eq!(leaf[names::CA_CERT_KEY], ca[names::CA_CERT_KEY]);
    }

    fn now() -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc()
    }

    #[test]
    fn a_realm_matches_only_the_password_it_was_made_from() {
        let realms = VerifiedRealms::default();
        let realm = file_realm("first-password").expect("realm");
        assert!(!realm_matches(&realm, "new-password", "ns/logs", &realms));
        assert!(realm_matches(&realm, "first-password", "ns/logs", &realms));
        // Remembered, but only for this exact pair.
        assert!(realms.contains("ns/logs", "first-password", &realm["users"]));
        assert!(!realm_matches(&realm, "new-password", "ns/logs", &realms));
        let mut other_user = realm.clone();
        other_user.insert(
            "users".into(),
            realm["users"].replace("meshlogging-operator:", "someone:"),
        );
        assert!(!realm_matches(
            &other_user,
            "first-password",
            "ns/x",
            &realms
        ));
        assert!(!realm_matches(
            &BTreeMap::new(),
            "first-password",
            "ns/y",
            &realms
        ));
    }

    #[test]
    fn a_certificate_matches_only_its_current_ca_names_and_key() {
        let ca = new_ca("logs").expect("ca");
        let (ca_cert, ca_key) = (&ca[names::CA_CERT_KEY], &ca[names::CA_KEY_KEY]);
        assert!(ca_valid(&ca, now()));
        let wanted = names::es_http_dns_names("logs", "ns");
        let http = leaf(ca_cert, ca_key, "logs", &wanted, false).expect("leaf");
        assert!(leaf_matches(&http, ca_cert, &leaf_sans(&wanted), now()));

        // A new CA (the old one's Secret was deleted): the certificate no longer matches,
        // even with ca.crt edited to name the new CA.
        let new = new_ca("logs").expect("new ca");
        assert!(!leaf_matches(
            &http,
            &new[names::CA_CERT_KEY],
            &leaf_sans(&wanted),
            now()
        ));
        let mut relabelled = http.clone();
        relabelled.insert(names::CA_CERT_KEY.into(), new[names::CA_CERT_KEY].clone());
        assert!(!leaf_matches(
            &relabelled,
            &new[names::CA_CERT_KEY],
            &leaf_sans(&wanted),
            now()
        ));

        // A wanted name it does not cover; another certificate's key.
        let more = names::es_http_dns_names("logs", "other-ns");
        assert!(!leaf_matches(&http, ca_cert, &leaf_sans(&more), now()));
        let other = leaf(ca_cert, ca_key, "logs", &wanted, false).expect("leaf");
        let mut swapped = http.clone();
        swapped.insert(names::TLS_KEY_KEY.into(), other[names::TLS_KEY_KEY].clone());
        assert!(!leaf_matches(&swapped, ca_cert, &leaf_sans(&wanted), now()));

        // Valid today, but not in 31 days: renewed now.
        let near_expiry = now() + time::Duration::days(CERT_VALIDITY_DAYS - 29);
        assert!(!leaf_matches(
            &http,
            ca_cert,
            &leaf_sans(&wanted),
            near_expiry
        ));
        assert!(!ca_valid(&ca, near_expiry));
        assert!(!ca_valid(&http, now()), "a leaf is no CA");
    }
}

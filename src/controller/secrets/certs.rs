//! The operator's CA and the HTTP/transport certificates it signs (rcgen), and the checks
//! that keep them consistent: a certificate must be signed by the current CA, name every
//! wanted DNS name, match its key and stay valid for longer than the renewal margin
//! (`spec.security.certificates.renewBefore`, default 30 days).

use std::collections::BTreeMap;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use crate::error::{Error, Result};
use crate::naming as names;

/// Validity of generated certificates (the CRD's `renewBefore` rule and
/// [`crate::validate::CERTIFICATE_VALIDITY`] say the same). See the README on rotation.
pub(super) const CERT_VALIDITY_DAYS: i64 = 3650;

/// The subject alternative names a leaf certificate is generated with.
pub(super) fn leaf_sans(dns_names: &[String]) -> Vec<String> {
    let mut sans = dns_names.to_vec();
    sans.push("localhost".into());
    sans.push("127.0.0.1".into());
    sans
}

/// Whether the CA Secret holds a CA certificate and its key, valid for longer than
/// `renew_before` from `now`.
pub(super) fn ca_valid(
    data: &BTreeMap<String, String>,
    now: time::OffsetDateTime,
    renew_before: time::Duration,
) -> bool {
    let (Some(cert), Some(key)) = (data.get(names::CA_CERT_KEY), data.get(names::CA_KEY_KEY))
    else {
        return false;
    };
    with_certificate(cert, |c| {
        c.is_ca() && valid_for_a_while(c, now, renew_before) && key_matches(c, key)
    })
    .unwrap_or(false)
}

/// Whether a certificate Secret matches the current CA: its `ca.crt` is the trust `bundle`
/// (the CA, and the previous one while a rotation keeps it), `tls.crt`
/// is signed by it, is valid for longer than `renew_before`, names every one of
/// `sans`, and `tls.key` is its key.
pub(super) fn leaf_matches(
    data: &BTreeMap<String, String>,
    ca_pem: &str,
    bundle: &str,
    sans: &[String],
    now: time::OffsetDateTime,
    renew_before: time::Duration,
) -> bool {
    let (Some(ca), Some(cert), Some(key)) = (
        data.get(names::CA_CERT_KEY),
        data.get(names::TLS_CERT_KEY),
        data.get(names::TLS_KEY_KEY),
    ) else {
        return false;
    };
    if ca.trim() != bundle.trim() {
        return false;
    }
    with_certificate(ca_pem, |ca| {
        with_certificate(cert, |leaf| {
            leaf.verify_signature(Some(ca.public_key())).is_ok()
                && valid_for_a_while(leaf, now, renew_before)
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

/// Whether `pem` holds a certificate that parses.
pub(super) fn parses(pem: &str) -> bool {
    with_certificate(pem, |_| ()).is_some()
}

fn valid_for_a_while(
    cert: &x509_parser::certificate::X509Certificate<'_>,
    now: time::OffsetDateTime,
    renew_before: time::Duration,
) -> bool {
    let validity = cert.validity();
    let renew_at = now + renew_before;
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

fn validity(params: &mut CertificateParams) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(CERT_VALIDITY_DAYS);
}

pub(super) fn new_ca(name: &str) -> Result<BTreeMap<String, String>> {
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

pub(super) fn leaf(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    bundle: &str,
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
        (names::CA_CERT_KEY.to_string(), bundle.to_string()),
        (names::TLS_CERT_KEY.to_string(), cert.pem()),
        (names::TLS_KEY_KEY.to_string(), key.serialize_pem()),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_chain_to_the_ca_and_name_the_service() {
        let ca = new_ca("logs").expect("ca");
        let leaf = leaf(
            &ca[names::CA_CERT_KEY],
            &ca[names::CA_KEY_KEY],
            &ca[names::CA_CERT_KEY],
            "logs",
            &names::es_http_dns_names("logs", "ns"),
            false,
        )
        .expect("leaf");
        assert!(leaf[names::TLS_CERT_KEY].starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(leaf[names::TLS_KEY_KEY].contains("PRIVATE KEY"));
        assert_eq!(leaf[names::CA_CERT_KEY], ca[names::CA_CERT_KEY]);
    }

    const RENEW: time::Duration = time::Duration::days(30);

    fn now() -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc()
    }

    #[test]
    fn a_certificate_matches_only_its_current_ca_names_and_key() {
        let ca = new_ca("logs").expect("ca");
        let (ca_cert, ca_key) = (&ca[names::CA_CERT_KEY], &ca[names::CA_KEY_KEY]);
        assert!(ca_valid(&ca, now(), RENEW));
        let wanted = names::es_http_dns_names("logs", "ns");
        let http = leaf(ca_cert, ca_key, ca_cert, "logs", &wanted, false).expect("leaf");
        assert!(leaf_matches(
            &http,
            ca_cert,
            ca_cert,
            &leaf_sans(&wanted),
            now(),
            RENEW
        ));

        // A new CA (the old one's Secret was deleted): the certificate no longer matches,
        // even with ca.crt edited to name the new CA.
        let new = new_ca("logs").expect("new ca");
        assert!(!leaf_matches(
            &http,
            &new[names::CA_CERT_KEY],
            &new[names::CA_CERT_KEY],
            &leaf_sans(&wanted),
            now(),
            RENEW
        ));
        let mut relabelled = http.clone();
        relabelled.insert(names::CA_CERT_KEY.into(), new[names::CA_CERT_KEY].clone());
        assert!(!leaf_matches(
            &relabelled,
            &new[names::CA_CERT_KEY],
            &new[names::CA_CERT_KEY],
            &leaf_sans(&wanted),
            now(),
            RENEW
        ));

        // A wanted name it does not cover; another certificate's key.
        let more = names::es_http_dns_names("logs", "other-ns");
        assert!(!leaf_matches(
            &http,
            ca_cert,
            ca_cert,
            &leaf_sans(&more),
            now(),
            RENEW
        ));
        let other = leaf(ca_cert, ca_key, ca_cert, "logs", &wanted, false).expect("leaf");
        let mut swapped = http.clone();
        swapped.insert(names::TLS_KEY_KEY.into(), other[names::TLS_KEY_KEY].clone());
        assert!(!leaf_matches(
            &swapped,
            ca_cert,
            ca_cert,
            &leaf_sans(&wanted),
            now(),
            RENEW
        ));

        // Valid today, but not in 31 days: renewed now.
        let near_expiry = now() + time::Duration::days(CERT_VALIDITY_DAYS - 29);
        assert!(!leaf_matches(
            &http,
            ca_cert,
            ca_cert,
            &leaf_sans(&wanted),
            near_expiry,
            RENEW
        ));
        assert!(!ca_valid(&ca, near_expiry, RENEW));
        assert!(!ca_valid(&http, now(), RENEW), "a leaf is no CA");
    }

    #[test]
    fn during_a_ca_rotation_the_leaves_carry_both_cas_and_are_signed_by_the_new_one() {
        let old = new_ca("logs").expect("ca");
        let new = new_ca("logs").expect("new ca");
        let (new_cert, new_key) = (&new[names::CA_CERT_KEY], &new[names::CA_KEY_KEY]);
        let bundle = super::super::rotate::ca_bundle(new_cert, Some(&old[names::CA_CERT_KEY]));
        let wanted = names::es_http_dns_names("logs", "ns");
        let http = leaf(new_cert, new_key, &bundle, "logs", &wanted, false).expect("leaf");
        assert_eq!(http[names::CA_CERT_KEY], bundle);
        assert!(leaf_matches(
            &http,
            new_cert,
            &bundle,
            &leaf_sans(&wanted),
            now(),
            RENEW
        ));
        // The old CA dropped from the bundle: the leaf's ca.crt must follow.
        assert!(!leaf_matches(
            &http,
            new_cert,
            new_cert,
            &leaf_sans(&wanted),
            now(),
            RENEW
        ));
        // A leaf of the old CA carrying the bundle is not kept.
        let (old_cert, old_key) = (&old[names::CA_CERT_KEY], &old[names::CA_KEY_KEY]);
        let stale = leaf(old_cert, old_key, &bundle, "logs", &wanted, false).expect("leaf");
        assert!(!leaf_matches(
            &stale,
            new_cert,
            &bundle,
            &leaf_sans(&wanted),
            now(),
            RENEW
        ));
        assert!(parses(&bundle) && !parses("not a certificate"));
    }
}

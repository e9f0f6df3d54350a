//! Self-signed TLS: a throw-away CA and a server certificate for
//! `localhost` / `127.0.0.1`, built in memory with rcgen; and the certificate served,
//! which a test can replace as a node reloads its HTTP certificate from its files.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

use crate::SimError;

pub struct TlsMaterial {
    pub ca_pem: String,
    pub config: Arc<rustls::ServerConfig>,
    /// What the server presents: replaceable while it runs.
    pub served: Arc<Served>,
}

/// The certificate the server presents to new connections.
#[derive(Debug)]
pub struct Served(std::sync::RwLock<Arc<CertifiedKey>>);

impl Served {
    /// Presents `cert_pem` (the chain, leaf first) with `key_pem` to new connections.
    pub fn replace(&self, cert_pem: &str, key_pem: &str) -> Result<(), SimError> {
        use rustls::pki_types::pem::PemObject;
        let pem = |e: rustls::pki_types::pem::Error| SimError::Tls(format!("PEM: {e}"));
        let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(pem)?;
        if chain.is_empty() {
            return Err(SimError::Tls("no certificate in the PEM".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(pem)?;
        let certified = certified(chain, key)?;
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(certified);
        Ok(())
    }
}

impl rustls::server::ResolvesServerCert for Served {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

fn certified(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<CertifiedKey, SimError> {
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| SimError::Tls(e.to_string()))?;
    Ok(CertifiedKey::new(chain, signing))
}

pub fn self_signed() -> Result<TlsMaterial, SimError> {
    let tls = |e: rcgen::Error| SimError::Tls(e.to_string());
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "es-sim test CA");
    let ca_key = KeyPair::generate().map_err(tls)?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(tls)?;

    let mut leaf_params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .map_err(tls)?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "es-sim");
    let leaf_key = KeyPair::generate().map_err(tls)?;
    let leaf_cert = leaf_params
        .signed_by(&leaf_key, &ca_cert, &ca_key)
        .map_err(tls)?;

    let chain = vec![
        CertificateDer::from(leaf_cert.der().to_vec()),
        CertificateDer::from(ca_cert.der().to_vec()),
    ];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let served = Arc::new(Served(std::sync::RwLock::new(Arc::new(certified(
        chain, key,
    )?))));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SimError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(served.clone());
    Ok(TlsMaterial {
        ca_pem: ca_cert.pem(),
        config: Arc::new(config),
        served,
    })
}

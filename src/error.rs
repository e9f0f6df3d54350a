//! The crate's error type: what a reconcile can fail with, each with a bounded category for
//! metrics, events and condition reasons.

use crate::elastic::EsError;
use crate::reason::Reason;

/// What went wrong in a reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// A referenced Secret or key is missing.
    #[error("credentials missing: {0}")]
    CredentialsMissing(String),
    /// Generating a password, hash or certificate failed.
    #[error("generating credentials: {0}")]
    Generate(String),
    /// Talking to Elasticsearch failed.
    #[error(transparent)]
    Elastic(#[from] EsError),
    /// Adding or removing the finalizer failed, or cleanup failed.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
}

impl Error {
    /// The bounded reason (metrics, events, logs).
    pub fn category(&self) -> Reason {
        match self {
            Self::Kube(_) => Reason::KubernetesApi,
            Self::CredentialsMissing(_) => Reason::CredentialsMissing,
            Self::Generate(_) => Reason::GenerateCredentials,
            Self::Elastic(e) => e.category(),
            Self::Finalizer(_) => Reason::Finalizer,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

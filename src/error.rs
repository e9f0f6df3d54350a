//! The crate's error type: what a reconcile can fail with, each with a bounded category for
//! metrics, events and condition reasons.

use crate::elastic::EsError;

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
    /// A short, bounded label (metrics, events).
    pub fn category(&self) -> &'static str {
        match self {
            Self::Kube(_) => "KubernetesApi",
            Self::CredentialsMissing(_) => "CredentialsMissing",
            Self::Generate(_) => "GenerateCredentials",
            Self::Elastic(e) => e.category(),
            Self::Finalizer(_) => "Finalizer",
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

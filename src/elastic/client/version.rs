//! The version of the cluster: read once per pass, checked to be one the operator supports.

use std::fmt;

use reqwest::Method;
use serde_json::Value;

use super::{EsClient, EsError};

/// An Elasticsearch version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EsVersion {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch.
    pub patch: u32,
}

impl EsVersion {
    /// Parses `8.15.3` (a `-SNAPSHOT` suffix is ignored).
    pub fn parse(s: &str) -> Option<Self> {
        let core = s.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u32>().ok());
        Some(Self {
            major: parts.next()??,
            minor: parts.next().flatten().unwrap_or(0),
            patch: parts.next().flatten().unwrap_or(0),
        })
    }
}

impl fmt::Display for EsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl EsClient {
    /// The version number from `GET /`, checked to be 8.x or 9.x. A cluster that does not
    /// serve `GET /` (a distribution without `rest-root`, or a proxy that blocks it) is
    /// asked for the version of the node that answers instead.
    pub async fn version(&self) -> Result<EsVersion, EsError> {
        let (request, number) = match self.send("info", Method::GET, "/", None, None).await {
            Ok(answer) => (
                "GET /",
                answer
                    .body
                    .pointer("/version/number")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            ),
            Err(EsError::NotSupported { .. }) => {
                let path = "/_nodes/_local?filter_path=nodes.*.version";
                let body = self
                    .send("nodes.info", Method::GET, path, None, None)
                    .await?
                    .body;
                let number = body
                    .get("nodes")
                    .and_then(Value::as_object)
                    .and_then(|nodes| nodes.values().next())
                    .and_then(|n| n.get("version"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                ("GET /_nodes/_local", number)
            }
            Err(e) => return Err(e),
        };
        let number = number.ok_or_else(|| EsError::Decode {
            request: request.into(),
            detail: "no version number".into(),
        })?;
        let number = number.as_str();
        let version = EsVersion::parse(number).ok_or_else(|| EsError::Decode {
            request: request.into(),
            detail: format!("unparsable version {number:?}"),
        })?;
        if !(8..=9).contains(&version.major) {
            return Err(EsError::UnsupportedVersion(number.to_string()));
        }
        Ok(version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(
            EsVersion::parse("9.1.0-SNAPSHOT"),
            Some(EsVersion {
                major: 9,
                minor: 1,
                patch: 0
            })
        );
        assert_eq!(EsVersion::parse("x"), None);
    }
}

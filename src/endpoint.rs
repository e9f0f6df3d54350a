//! The parts of an Elasticsearch URL that collector configurations need separately
//! (Fluent Bit and Fluentd take host, port, scheme and path as distinct settings). Pure.

/// A parsed `http(s)://host[:port][/path]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `https` (true) or `http`.
    pub tls: bool,
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// Port; the scheme's default when the URL has none.
    pub port: u16,
    /// Path prefix without a trailing `/` (empty for none).
    pub path: String,
}

impl Endpoint {
    /// Parses `url`; `None` when it is not an http(s) URL with a host.
    pub fn parse(url: &str) -> Option<Self> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else {
            (false, url.strip_prefix("http://")?)
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']')?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().ok()?,
                None if after.is_empty() => default_port,
                None => return None,
            };
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, port.parse().ok()?),
                None => (authority, default_port),
            }
        };
        let valid_host = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'));
        // The same characters as the CRD's rule on the URL: nothing any collector
        // configuration format gives a meaning (`$`, `#`, `{`, quotes, spaces).
        let valid_path = path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '%' | '/' | '-'));
        (valid_host && valid_path).then(|| Self {
            tls,
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }

    /// `https` or `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let e = Endpoint::parse("https://logs-es-http.ns.svc:9200").expect("url");
        assert_eq!(
            (e.tls, e.host.as_str(), e.port, e.path.as_str()),
            (true, "logs-es-http.ns.svc", 9200, "")
        );
        let e = Endpoint::parse("http://es.example.com/prefix/").expect("url");
        assert_eq!((e.tls, e.port, e.path.as_str()), (false, 80, "/prefix"));
        let e = Endpoint::parse("https://[::1]").expect("url");
        assert_eq!((e.host.as_str(), e.port), ("::1", 443));
        assert_eq!(Endpoint::parse("ftp://x"), None);
        assert_eq!(Endpoint::parse("https://"), None);
        assert_eq!(Endpoint::parse("https://host:port"), None);
        assert_eq!(Endpoint::parse("https://user:pass@host"), None);
        assert_eq!(Endpoint::parse("https://host/${COLLECTOR_PASSWORD}"), None);
        assert_eq!(Endpoint::parse("https://host/#{1}"), None);
    }
}

//! The keystore's content as the nodes see it, and what follows from it. Pure.
//!
//! ```text
//! source Secrets ──(controller reads)──► KeystoreFiles: setting name -> bytes
//!                                          │ (exactly the files of the projected volume)
//!   restart_fingerprint(): the NON-reloadable entries ──► pod-template hash (a change rolls)
//!   digest(): SHA-256 of every entry ──► the keystore's password; sent with
//!             POST _nodes/reload_secure_settings (a node built from other content refuses it)
//! ```
//!
//! The same digest is computed in the pod by the keystore script's `digest` function
//! ([`crate::render::elasticsearch::keystore_script`]) over the mounted directory: sorted
//! file names (byte order), each `name NUL content NUL`, hashed with `sha256sum`. A unit
//! test runs that shell function and compares.

use std::collections::BTreeMap;

/// Secure settings Elasticsearch re-reads on `POST _nodes/reload_secure_settings`, as
/// name patterns (`*` is one dotted component: a client, realm, account or alias name).
///
/// From the reference, "Secure settings" → "Reloadable secure settings" (8.19,
/// <https://www.elastic.co/guide/en/elasticsearch/reference/8.19/secure-settings.html#reloadable-secure-settings>):
/// the Azure, GCS and S3 repository clients, EC2 discovery, the monitoring exporters'
/// `auth.secure_password`, Watcher's notification accounts (`xpack.notification.*`), the
/// JWT realm's secrets, the LDAP and Active Directory realms' bind passwords, and the
/// remote clusters' API-key credentials. Anything else restarts the nodes.
pub const RELOADABLE: &[&str] = &[
    "azure.client.*.account",
    "azure.client.*.key",
    "azure.client.*.sas_token",
    "gcs.client.*.credentials_file",
    "s3.client.*.access_key",
    "s3.client.*.secret_key",
    "s3.client.*.session_token",
    "discovery.ec2.access_key",
    "discovery.ec2.secret_key",
    "discovery.ec2.session_token",
    "discovery.ec2.proxy.username",
    "discovery.ec2.proxy.password",
    "xpack.monitoring.exporters.*.auth.secure_password",
    "xpack.notification.**",
    "xpack.security.authc.realms.jwt.*.hmac_key",
    "xpack.security.authc.realms.jwt.*.hmac_jwkset",
    "xpack.security.authc.realms.jwt.*.client_authentication.shared_secret",
    "xpack.security.authc.realms.ldap.*.secure_bind_password",
    "xpack.security.authc.realms.active_directory.*.secure_bind_password",
    "cluster.remote.*.credentials",
];

/// Whether Elasticsearch applies a changed `setting` on a reload, without a restart
/// ([`RELOADABLE`]).
pub fn reloadable(setting: &str) -> bool {
    RELOADABLE.iter().any(|p| matches(p, setting))
}

/// `pattern` against a dotted `name`: `*` matches one non-empty component, a trailing
/// `**` one or more.
fn matches(pattern: &str, name: &str) -> bool {
    let mut names = name.split('.');
    let mut patterns = pattern.split('.').peekable();
    while let Some(p) = patterns.next() {
        if p == "**" && patterns.peek().is_none() {
            return names.next().is_some_and(|n| !n.is_empty());
        }
        match names.next() {
            Some(n) if !n.is_empty() && (p == "*" || p == n) => {}
            _ => return false,
        }
    }
    names.next().is_none()
}

/// The files of the secure-settings volume: setting name → content, as the kubelet
/// projects them (absent Secrets and keys have no file).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KeystoreFiles(pub BTreeMap<String, Vec<u8>>);

impl std::fmt::Debug for KeystoreFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: the values are secrets.
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl KeystoreFiles {
    /// The keystore's password: SHA-256 (hex) of `name NUL content NUL` per file in name
    /// order, as the script's `digest` computes it over the mounted directory. A hash of
    /// secret material: never logged, never in status or events.
    pub fn digest(&self) -> String {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        for (name, content) in &self.0 {
            ctx.update(name.as_bytes());
            ctx.update(&[0]);
            ctx.update(content);
            ctx.update(&[0]);
        }
        ctx.finish()
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// A fingerprint of the entries a node reads only at start (names and values of the
    /// settings that are not [`reloadable`]): what goes into the pod-template hash. A change
    /// limited to reloadable entries, adding or removing one included, leaves it as it is.
    pub fn restart_fingerprint(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        for (name, content) in self.0.iter().filter(|(n, _)| !reloadable(n)) {
            parts.push(name.clone());
            parts.push(String::from_utf8_lossy(content).into_owned());
        }
        crate::fingerprint::of_parts(parts.iter().map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_reloadable_settings_are_recognised() {
        for s in [
            "s3.client.default.access_key",
            "s3.client.backup.secret_key",
            "s3.client.default.session_token",
            "gcs.client.default.credentials_file",
            "azure.client.secondary.sas_token",
            "discovery.ec2.secret_key",
            "xpack.notification.email.account.work.smtp.secure_password",
            "xpack.notification.slack.account.ops.secure_url",
            "xpack.monitoring.exporters.remote.auth.secure_password",
            "xpack.security.authc.realms.ldap.ldap1.secure_bind_password",
            "xpack.security.authc.realms.active_directory.ad1.secure_bind_password",
            "xpack.security.authc.realms.jwt.jwt1.hmac_key",
            "cluster.remote.backup.credentials",
        ] {
            assert!(reloadable(s), "{s}");
        }
        for s in [
            "bootstrap.password",
            "xpack.security.http.ssl.secure_key_passphrase",
            "xpack.security.transport.ssl.keystore.secure_password",
            "s3.client.default.access_key.extra",
            "s3.client..access_key",
            "s3.client.access_key",
            "xpack.notification",
            "xpack.security.authc.realms.saml.saml1.encryption.secure_key_passphrase",
            "xpack.security.authc.realms.oidc.oidc1.rp.client_secret",
        ] {
            assert!(!reloadable(s), "{s}");
        }
    }

    fn files(entries: &[(&str, &str)]) -> KeystoreFiles {
        KeystoreFiles(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
        )
    }

    #[test]
    fn only_non_reloadable_entries_reach_the_restart_fingerprint() {
        let base = files(&[
            ("s3.client.default.access_key", "AK1"),
            ("xpack.security.http.ssl.secure_key_passphrase", "p"),
        ]);
        let rotated = files(&[
            ("s3.client.default.access_key", "AK2"),
            ("s3.client.default.session_token", "added"),
            ("xpack.security.http.ssl.secure_key_passphrase", "p"),
        ]);
        assert_eq!(base.restart_fingerprint(), rotated.restart_fingerprint());
        assert_ne!(base.digest(), rotated.digest());
        let restart = files(&[
            ("s3.client.default.access_key", "AK1"),
            ("xpack.security.http.ssl.secure_key_passphrase", "q"),
        ]);
        assert_ne!(base.restart_fingerprint(), restart.restart_fingerprint());
        assert_eq!(
            format!("{base:?}"),
            "{\"s3.client.default.access_key\", \"xpack.security.http.ssl.secure_key_passphrase\"}"
        );
    }

    /// The script's shell `digest`, run by bash on a directory with the same files, gives
    /// the Rust digest (names sorted by byte, contents with newlines and binary bytes).
    #[test]
    fn the_shell_digest_is_the_rust_digest() {
        let dir = std::env::temp_dir().join(format!("ks-digest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let entries: &[(&str, &[u8])] = &[
            ("s3.client.default.secret_key", b"wJalr/K7MDENG\n"),
            ("s3.client.default.access_key", b"AKIA"),
            ("S3.upper.first", b"\x00\xff binary"),
            ("azure.client.default.account", b""),
        ];
        let mut files = KeystoreFiles::default();
        for (name, content) in entries {
            std::fs::write(dir.join(name), content).expect("file");
            files.0.insert(name.to_string(), content.to_vec());
        }
        // What the kubelet leaves beside the files of a projected volume: not settings.
        std::fs::create_dir_all(dir.join("..2026_12_05_18_00_00.1")).expect("dotdir");
        let script = crate::render::elasticsearch::keystore_script();
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("{script}\ndigest {}", dir.display()))
            .arg("keystore")
            .arg("functions")
            .output()
            .expect("bash");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), files.digest());
        assert_eq!(KeystoreFiles::default().digest().len(), 64);
    }
}

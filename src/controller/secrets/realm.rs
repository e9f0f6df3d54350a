//! The operator's own login to a managed cluster: a file realm holding one superuser,
//! derived from the operator's password Secret, and the memory of realms already verified
//! (bcrypt is slow on purpose).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// bcrypt cost of the file realm's hash: 4, the lowest Elasticsearch reads (`bcrypt4`).
/// bcrypt's cost slows the guessing of passwords people choose; this one is 24 random
/// alphanumerics (about 143 bits), which no cost makes more or less guessable. What the
/// cost does buy is CPU: at 10 (ECK's, Go's `bcrypt.DefaultCost`) each new cluster spent
/// about 60 ms of operator CPU hashing, three quarters of all the operator's CPU while a
/// hundred clusters bootstrapped (`perf`), and it held back their workloads. Realms hashed
/// at another cost still verify (the cost is part of the hash), and are not rewritten.
const HASH_COST: u32 = 4;
use crate::naming as names;

/// File realms already verified against their password, per resource: bcrypt is slow on
/// purpose (tens of milliseconds at cost 10, as realms from older versions are), so each
/// (password, realm) pair is verified once per process, not on every pass. Holds
/// fingerprints only, never a password or a hash.
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

/// Whether the file realm holds exactly the operator's user with a hash of `password`, and
/// its superuser role. Verified pairs are remembered in `realms` (bcrypt is slow).
pub(super) fn realm_matches(
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

/// [`file_realm`], remembered as verified for `resource`: the pass that reads it back does
/// not spend a second bcrypt on the hash it just made. (Should another process's realm win
/// the race to create the Secret, its `users` differ and are verified as usual.)
pub(super) fn new_file_realm(
    password: &str,
    resource: &str,
    realms: &VerifiedRealms,
) -> Result<BTreeMap<String, String>> {
    let realm = file_realm(password)?;
    if let Some(users) = realm.get(names::FILE_REALM_USERS_KEY) {
        realms.insert(resource, password, users);
    }
    Ok(realm)
}

/// The file realm holding the operator's superuser: `users` (bcrypt hash) and
/// `users_roles`. The operator's login works whatever the native realm holds (for example
/// on retained data), as ECK does.
pub(super) fn file_realm(password: &str) -> Result<BTreeMap<String, String>> {
    let hash = bcrypt::hash_with_result(password, HASH_COST)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_realm_is_known_without_verifying_it_again() {
        let realms = VerifiedRealms::default();
        let realm = new_file_realm("pw-1", "ns/a", &realms).expect("realm");
        let users = &realm[names::FILE_REALM_USERS_KEY];
        assert!(realms.contains("ns/a", "pw-1", users));
        assert!(!realms.contains("ns/a", "pw-2", users), "another password");
        assert!(!realms.contains("ns/b", "pw-1", users), "another resource");
        assert!(realm_matches(&realm, "pw-1", "ns/a", &realms));
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
        assert!(hash.starts_with("$2a$04$"), "{hash}");
        assert!(!line.contains("s3cret-pw"));
    }

    #[test]
    fn a_realm_hashed_at_the_former_cost_still_matches() {
        let hash = bcrypt::hash_with_result("old-pw", 10)
            .expect("hash")
            .format_for_version(bcrypt::Version::TwoA);
        let realm = BTreeMap::from([
            (
                names::FILE_REALM_USERS_KEY.to_string(),
                format!("{}:{hash}\n", names::OPERATOR_USER),
            ),
            (
                names::FILE_REALM_USERS_ROLES_KEY.to_string(),
                format!("superuser:{}\n", names::OPERATOR_USER),
            ),
        ]);
        let realms = VerifiedRealms::default();
        assert!(realm_matches(&realm, "old-pw", "ns/a", &realms));
        assert!(!realm_matches(&realm, "new-pw", "ns/b", &realms));
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
}

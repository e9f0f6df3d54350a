//! Users (I/O): created with their password; an existing user's password is checked by
//! authenticating as it, and reset only when that fails (a reset on every pass would be
//! a write on every pass).

use serde_json::{Value, json};

use super::kinds::USER;
use super::{Abort, Failure, KindReport, Pass, Passwords, fail, record};
use crate::elastic::client::{Credentials, EsClient};
use crate::elastic::desired::{DesiredConfig, DesiredUser, PasswordRef, marker_owner};
use crate::reason::Reason;

impl Pass<'_> {
    /// Applies the desired users. The collector's user waits for the write alias
    /// (`alias_ready`); `previously` is what status recorded (ownership of unmarked users).
    pub(super) async fn users(
        &mut self,
        desired: &DesiredConfig,
        passwords: &Passwords,
        previously: &[String],
        alias_ready: bool,
    ) -> Result<(), Abort> {
        if !self.list(&USER).await? {
            self.not_supported(USER.kind, desired.users.keys());
            return Ok(());
        }
        let listed = self.current.get(USER.kind);
        let kind_report = self.report.kinds.entry(USER.kind).or_default();
        for (name, user) in &desired.users {
            if user.password == PasswordRef::Collector && !alias_ready {
                let message = format!(
                    "not created: the write alias {} is not applied",
                    desired.write_alias.alias
                );
                let exists = listed.contains_key(name);
                let failure = Failure::new(name, Reason::DependencyFailed, message, exists);
                kind_report.failed.push(failure);
                continue;
            }
            let password = match user.password {
                PasswordRef::Collector => Some(&passwords.collector),
                PasswordRef::Kibana => passwords.kibana.as_ref(),
                PasswordRef::Dashboards => passwords.dashboards.as_ref(),
                PasswordRef::Elastic => passwords.elastic.as_ref(),
            };
            let Some(password) = password else {
                let message = format!("no password for user {name}");
                let failure = Failure::new(name, Reason::CredentialsMissing, message, false);
                kind_report.failed.push(failure);
                continue;
            };
            let one = OneUser {
                client: self.client,
                name,
                credentials: Credentials {
                    username: name.to_string(),
                    password: password.to_string(),
                },
            };
            let owned = match listed.get(name) {
                None => None,
                Some(current) => match marker_owner(current.get("metadata")) {
                    Some(o) if o == self.owner => Some(Ok(current)),
                    None if previously.iter().any(|p| p == name) => Some(Ok(current)),
                    Some(other) => Some(Err(format!(
                        "user {name} belongs to MeshLogging {other}; not changed"
                    ))),
                    None => Some(Err(format!(
                        "user {name} already exists and is not managed by this MeshLogging; not changed"
                    ))),
                },
            };
            match owned {
                _ if user.builtin => one.password(kind_report).await?,
                None => one.put(user, true, kind_report).await?,
                Some(Ok(current)) => one.update(user, current, kind_report).await?,
                Some(Err(why)) => {
                    let failure = Failure::new(name, Reason::Conflict, why, false);
                    kind_report.failed.push(failure);
                }
            }
        }
        Ok(())
    }
}

/// One user and its password.
struct OneUser<'a> {
    client: &'a EsClient,
    name: &'a str,
    credentials: Credentials,
}

impl OneUser<'_> {
    fn path(&self) -> String {
        USER.path(self.name)
    }

    /// The desired body, with its roles and (`with_password`) its password.
    fn body(&self, user: &DesiredUser, with_password: bool) -> Value {
        let mut body = user.body.clone();
        body["roles"] = json!(user.roles);
        if with_password {
            body["password"] = json!(self.credentials.password);
        }
        body
    }

    /// Writes the user with its password: created, or (`!created`) updated.
    async fn put(
        &self,
        user: &DesiredUser,
        created: bool,
        report: &mut KindReport,
    ) -> Result<(), Abort> {
        let (path, body) = (self.path(), self.body(user, true));
        let write = self.client.put("security.user", &path, &body);
        record(report, self.name, created, write).await
    }

    /// Rewrites a user whose roles, name or metadata differ (with the password, which a
    /// GET never shows); otherwise checks the password.
    async fn update(
        &self,
        user: &DesiredUser,
        current: &Value,
        report: &mut KindReport,
    ) -> Result<(), Abort> {
        if comparable(current) == comparable(&self.body(user, false)) {
            return self.password(report).await;
        }
        self.put(user, false, report).await
    }

    /// Resets the password only when it does not authenticate.
    async fn password(&self, report: &mut KindReport) -> Result<(), Abort> {
        match self.client.authenticates(&self.credentials).await {
            Ok(true) => {
                report.unchanged.push(self.name.to_string());
                Ok(())
            }
            Ok(false) => {
                let body = json!({ "password": self.credentials.password });
                let path = format!("{}/_password", self.path());
                let write = self.client.post("security.password", &path, &body);
                record(report, self.name, false, write).await
            }
            Err(e) => fail(report, self.name, e, true),
        }
    }
}

/// The part of a user a GET returns and the operator sets.
fn comparable(v: &Value) -> Value {
    let mut roles: Vec<String> = v
        .get("roles")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    json!({
        "roles": roles,
        "full_name": v.get("full_name").cloned().unwrap_or(Value::Null),
        "metadata": v.get("metadata").cloned().unwrap_or(json!({})),
    })
}

//! Generated Secrets: created once from a source, or derived from one and replaced when they
//! no longer match it; never someone else's.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};

use super::decode;
use super::rotate::{ROTATED_AT_ANNOTATION, due};
use crate::error::Result;
use k8s_openapi::jiff::Timestamp;

/// Where and as whose the generated Secrets of one resource are made.
pub(super) struct Generated<'a> {
    /// The resource's namespace's Secrets.
    pub api: &'a Api<Secret>,
    /// The resource's namespace.
    pub namespace: &'a str,
    /// The owner reference every generated Secret carries.
    pub owner: &'a OwnerReference,
    /// The labels every generated Secret carries.
    pub labels: &'a BTreeMap<String, String>,
    /// The store of generated Secrets, when the controller keeps one.
    pub cache: Option<&'a Store<Secret>>,
}

impl Generated<'_> {
    /// The Secret `name` as the cache holds it; `None` without a cache. The store keeps
    /// no labels (see `apply::Trim`): the copy gets the ones every generated Secret
    /// carries, so an update of it sends them.
    fn cached(&self, name: &str) -> Option<Secret> {
        let key = ObjectRef::new(name).within(self.namespace);
        let mut secret = (*self.cache?.get(&key)?).clone();
        secret.metadata.labels = Some(self.labels.clone());
        Some(secret)
    }

    /// The Secret `name`, or `None`: not in the synced cache (then the create tells
    /// whether it exists), or not there at all (read, without a synced cache).
    async fn lookup(&self, name: &str) -> Result<Option<Secret>> {
        if let Some(cached) = self.cached(name) {
            return Ok(Some(cached));
        }
        // A miss in a synced cache: missing, or made a moment ago, or someone else's (the
        // cache holds only Secrets labelled as ours); the create tells which, so a new
        // resource's Secrets cost one request each, not two. Without a cache, or before it
        // synced (the operator starting), a read.
        let synced = self.cache.is_some_and(|c| {
            futures::FutureExt::now_or_never(c.wait_until_ready()).is_some_and(|r| r.is_ok())
        });
        if synced {
            return Ok(None);
        }
        Ok(self.api.get_opt(name).await?)
    }

    /// Creates the Secret `name` holding `data`; `Err(existing)` when one exists already
    /// (made a moment ago, or someone else's).
    async fn create(
        &self,
        name: &str,
        data: &BTreeMap<String, String>,
    ) -> Result<std::result::Result<(), Secret>> {
        self.create_annotated(name, data, None).await
    }

    /// [`Self::create`], with `annotations`.
    async fn create_annotated(
        &self,
        name: &str,
        data: &BTreeMap<String, String>,
        annotations: Option<BTreeMap<String, String>>,
    ) -> Result<std::result::Result<(), Secret>> {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(self.namespace.to_string()),
                labels: Some(self.labels.clone()),
                annotations,
                owner_references: Some(vec![self.owner.clone()]),
                ..Default::default()
            },
            data: Some(to_bytes(data)),
            type_: Some("Opaque".into()),
            ..Default::default()
        };
        match self.api.create(&PostParams::default(), &secret).await {
            Ok(_) => {
                tracing::info!(secret = name, "generated Secret");
                Ok(Ok(()))
            }
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(Err(self.api.get(name).await?)),
            Err(e) => Err(e.into()),
        }
    }

    /// Returns the Secret's data, creating it from `make` when it does not exist. An
    /// existing Secret is never changed.
    pub(super) async fn ensure(
        &self,
        name: &str,
        make: impl FnOnce() -> Result<BTreeMap<String, String>>,
    ) -> Result<BTreeMap<String, String>> {
        if let Some(existing) = self.lookup(name).await? {
            return Ok(decode(&existing));
        }
        let data = make()?;
        match self.create(name, &data).await? {
            Ok(()) => Ok(data),
            Err(existing) => Ok(decode(&existing)),
        }
    }

    /// [`Self::ensure`] for a source Secret that can be rotated on request: created from
    /// `make(None)` when missing (marked as rotated for `request`, so a request older than
    /// the Secret rotates nothing); replaced by `make(Some(current data))` — one `update`
    /// guarded by its resourceVersion, marked [`ROTATED_AT_ANNOTATION`] — when `request`
    /// is newer than its last rotation and this resource owns it. Someone else's Secret is
    /// left as it is and named in `conflicts`.
    pub(super) async fn ensure_rotated(
        &self,
        name: &str,
        request: Option<Timestamp>,
        make: impl Fn(Option<&BTreeMap<String, String>>) -> Result<BTreeMap<String, String>>,
        conflicts: &mut Vec<String>,
    ) -> Result<BTreeMap<String, String>> {
        Ok(self
            .ensure_rotated_marked(name, request, make, conflicts)
            .await?
            .0)
    }

    /// [`Self::ensure_rotated`], also telling whether the Secret was ever rotated on
    /// request (it carries [`ROTATED_AT_ANNOTATION`]).
    pub(super) async fn ensure_rotated_marked(
        &self,
        name: &str,
        request: Option<Timestamp>,
        make: impl Fn(Option<&BTreeMap<String, String>>) -> Result<BTreeMap<String, String>>,
        conflicts: &mut Vec<String>,
    ) -> Result<(BTreeMap<String, String>, bool)> {
        let marker =
            |t: Timestamp| BTreeMap::from([(ROTATED_AT_ANNOTATION.to_string(), t.to_string())]);
        let existing = match self.lookup(name).await? {
            Some(existing) => existing,
            None => {
                let data = make(None)?;
                match self
                    .create_annotated(name, &data, request.map(marker))
                    .await?
                {
                    // Made with this rotation's password: nothing to set anywhere else.
                    Ok(()) => return Ok((data, false)),
                    Err(existing) => existing,
                }
            }
        };
        let data = decode(&existing);
        let marked = existing
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(ROTATED_AT_ANNOTATION));
        let Some(request) = request.filter(|_| due(request, &existing)) else {
            return Ok((data, marked));
        };
        if !self.owns(&existing) {
            conflicts.push(format!("Secret/{name}"));
            return Ok((data, marked));
        }
        let fresh = make(Some(&data))?;
        let mut secret = existing;
        secret.data = Some(to_bytes(&fresh));
        secret.string_data = None;
        secret
            .metadata
            .annotations
            .get_or_insert_default()
            .extend(marker(request));
        self.api
            .replace(name, &PostParams::default(), &secret)
            .await?;
        tracing::info!(secret = name, requested = %request, "rotated Secret on request");
        Ok((fresh, true))
    }

    /// Replaces the data of the existing Secret `name` (read from the cache or the API
    /// server) by `data`: one `update`, guarded by its resourceVersion. For the end of a
    /// rotation (what it kept is dropped).
    pub(super) async fn replace_data(
        &self,
        name: &str,
        data: &BTreeMap<String, String>,
    ) -> Result<()> {
        let Some(mut secret) = self.lookup(name).await? else {
            return Ok(());
        };
        secret.data = Some(to_bytes(data));
        secret.string_data = None;
        self.api
            .replace(name, &PostParams::default(), &secret)
            .await?;
        Ok(())
    }

    /// Whether this resource owns `secret`.
    fn owns(&self, secret: &Secret) -> bool {
        secret
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.uid == self.owner.uid)
    }

    /// Returns the data of a Secret derived from a source: created from `make` when
    /// missing; kept when `consistent` says it matches its source; otherwise regenerated
    /// by one `update` guarded by its resourceVersion (a concurrent change fails the pass,
    /// which retries) — only when this resource owns it. Someone else's Secret is left as
    /// it is and named in `conflicts`.
    pub(super) async fn ensure_derived(
        &self,
        name: &str,
        consistent: impl FnOnce(&BTreeMap<String, String>) -> bool,
        make: impl Fn() -> Result<BTreeMap<String, String>>,
        conflicts: &mut Vec<String>,
    ) -> Result<BTreeMap<String, String>> {
        let existing = match self.lookup(name).await? {
            Some(existing) => existing,
            None => {
                let data = make()?;
                match self.create(name, &data).await? {
                    Ok(()) => return Ok(data),
                    Err(existing) => existing,
                }
            }
        };
        let data = decode(&existing);
        if consistent(&data) {
            return Ok(data);
        }
        if !self.owns(&existing) {
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

//! Step 2 of a pass: everything the spec refers to, read — the generated Secrets (created
//! or kept consistent on the way) and the Secrets the user references (external
//! credentials and CA, snapshot repositories' credentials). Rotations asked for by
//! annotation happen here.

use std::collections::BTreeMap;

use super::Context;
use super::secrets::{self, StackSecrets};
use crate::error::{Error, Result};
use crate::render::labels;
use crate::validate::Validated;

/// What the spec refers to, read.
#[derive(Debug)]
pub struct Dereferenced {
    /// The stack's credentials; `None` when a referenced Secret is missing (then
    /// [`Self::credentials_missing`] says which).
    pub secrets: Option<StackSecrets>,
    /// Why the operator cannot log in to Elasticsearch yet.
    pub credentials_missing: Option<String>,
    /// Repositories whose credentials Secret is missing or incomplete: name -> why.
    pub missing_repository_credentials: BTreeMap<String, String>,
}

/// Reads (and generates where needed) every Secret `v` refers to. A missing referenced
/// Secret is an observation, not an error: the rest of the stack is still applied.
pub async fn dereference(
    ctx: &Context,
    v: &Validated,
    rotation: &secrets::Rotation,
) -> Result<Dereferenced> {
    let owner = labels::owner_reference(v);
    let (secrets, credentials_missing) = match secrets::ensure(
        &ctx.client,
        v,
        &owner,
        &ctx.realms,
        ctx.caches().secrets.as_ref(),
        rotation,
        &ctx.logins,
    )
    .await
    {
        Ok(s) => (Some(s), None),
        Err(Error::CredentialsMissing(why)) => (None, Some(why)),
        Err(e) => return Err(e),
    };
    let missing_repository_credentials =
        secrets::missing_repository_credentials(&ctx.client, &v.namespace, v.repositories())
            .await?;
    Ok(Dereferenced {
        secrets,
        credentials_missing,
        missing_repository_credentials,
    })
}

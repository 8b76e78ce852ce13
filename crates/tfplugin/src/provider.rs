//! The traits a provider implements. The server translates every tfplugin6
//! call into one of these; nothing here knows what the provider manages.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use tfvalue::{AttributePath, Value};
use tokio_util::sync::CancellationToken;

use crate::diagnostics::Diagnostics;
use crate::schema::{IdentitySchema, Schema};

/// What every long operation receives: cancelled when Terraform calls
/// `StopProvider` (Ctrl-C) or the process shuts down.
#[derive(Clone, Debug, Default)]
pub struct Ctx {
    pub cancel: CancellationToken,
}

impl Ctx {
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The provider block's schema.
    fn schema(&self) -> Schema;
    fn resources(&self) -> Vec<Arc<dyn Resource>>;
    fn ephemeral_resources(&self) -> Vec<Arc<dyn EphemeralResource>>;
    fn validate(&self, _config: &Value) -> Diagnostics {
        Diagnostics::new()
    }
    /// `terraform_version` is what the client reports (OpenTofu sends its own version).
    async fn configure(&self, terraform_version: &str, config: &Value) -> Diagnostics;
}

pub struct PlanRequest<'a> {
    pub prior: &'a Value,
    pub proposed: &'a Value,
    pub config: &'a Value,
    pub prior_private: &'a [u8],
}

/// The result of the shared plan rules, which a resource may refine.
#[derive(Debug, Clone)]
pub struct Plan {
    pub planned: Value,
    pub requires_replace: Vec<AttributePath>,
    pub private: Vec<u8>,
    pub diagnostics: Diagnostics,
}

#[derive(Debug, Clone, Default)]
pub struct StateOutcome {
    /// `Value::Null` means the object is gone.
    pub state: Value,
    pub private: Vec<u8>,
    pub diagnostics: Diagnostics,
}

impl StateOutcome {
    pub fn failed(diagnostics: Diagnostics) -> Self {
        StateOutcome {
            state: Value::Null,
            private: Vec::new(),
            diagnostics,
        }
    }
}

#[async_trait]
pub trait Resource: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;

    /// Resource identity (protocol 6.9+). Clients before Terraform 1.12 ignore it.
    fn identity_schema(&self) -> Option<IdentitySchema> {
        None
    }
    /// The identity of a (known) state, when the resource has one.
    fn identity(&self, _state: &Value) -> Option<Value> {
        None
    }
    /// Turns an identity given to `terraform import` into the import ID.
    fn import_id_from_identity(&self, _identity: &Value) -> Result<String, Diagnostics> {
        let mut d = Diagnostics::new();
        d.error(
            "Import by identity is not supported",
            format!("{} is imported by ID.", self.type_name()),
        );
        Err(d)
    }

    /// Plan-time checks. Unknown values are not errors.
    fn validate(&self, config: &Value) -> Diagnostics;
    fn modify_plan(&self, _request: &PlanRequest<'_>, _plan: &mut Plan) {}

    async fn create(&self, ctx: &Ctx, planned: Value, config: Value) -> StateOutcome;
    async fn update(
        &self,
        ctx: &Ctx,
        prior: Value,
        planned: Value,
        config: Value,
        private: Vec<u8>,
    ) -> StateOutcome;
    async fn delete(&self, ctx: &Ctx, prior: Value, private: Vec<u8>) -> Diagnostics;
    async fn read(&self, ctx: &Ctx, state: Value, private: Vec<u8>) -> StateOutcome;
    async fn import(&self, ctx: &Ctx, id: &str) -> StateOutcome;
}

#[derive(Debug, Clone, Default)]
pub struct OpenOutcome {
    pub result: Value,
    pub private: Option<Vec<u8>>,
    pub renew_at: Option<SystemTime>,
    pub diagnostics: Diagnostics,
}

#[derive(Debug, Clone, Default)]
pub struct RenewOutcome {
    pub private: Option<Vec<u8>>,
    pub renew_at: Option<SystemTime>,
    pub diagnostics: Diagnostics,
}

#[async_trait]
pub trait EphemeralResource: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    fn validate(&self, config: &Value) -> Diagnostics;
    async fn open(&self, ctx: &Ctx, config: Value) -> OpenOutcome;
    async fn renew(&self, _ctx: &Ctx, private: Option<Vec<u8>>) -> RenewOutcome {
        RenewOutcome {
            private,
            ..Default::default()
        }
    }
    async fn close(&self, ctx: &Ctx, private: Option<Vec<u8>>) -> Diagnostics;
}

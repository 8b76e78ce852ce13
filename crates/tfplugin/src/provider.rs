//! The traits a provider implements. The server translates every tfplugin6
//! call into one of these; nothing here knows what the provider manages.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use tfvalue::{AttributePath, Value};
use tokio::sync::mpsc;
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
    /// Actions (protocol 6.10, Terraform 1.14+): `action` blocks and `terraform apply -invoke`.
    fn actions(&self) -> Vec<Arc<dyn Action>> {
        Vec::new()
    }
    /// List resources (protocol 6.10, Terraform 1.14+): `list` blocks in `terraform query`.
    fn list_resources(&self) -> Vec<Arc<dyn ListResource>> {
        Vec::new()
    }
    /// Data sources: `data` blocks.
    fn data_sources(&self) -> Vec<Arc<dyn DataSource>> {
        Vec::new()
    }
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

/// Reads something that exists outside Terraform: a `data` block. Terraform
/// reads it during plan once its configuration is wholly known (during apply
/// otherwise), and keeps no history of it.
#[async_trait]
pub trait DataSource: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    /// Plan-time checks. Unknown values are not errors.
    fn validate(&self, config: &Value) -> Diagnostics;
    /// The object read: the configuration as given, computed attributes filled
    /// in. Ignored when the diagnostics hold an error.
    async fn read(&self, ctx: &Ctx, config: Value) -> StateOutcome;
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

/// What the client says it can handle (`ClientCapabilities` in the protocol).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientCapabilities {
    /// The client accepts a [`Deferral`] instead of a plan.
    pub deferral_allowed: bool,
    pub write_only_attributes_allowed: bool,
}

/// Why an action cannot be planned yet. Only answered when the client
/// allows deferrals; the server turns a deferral the client cannot take into
/// an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deferral {
    ResourceConfigUnknown,
    ProviderConfigUnknown,
    AbsentPrerequisite,
}

#[derive(Debug, Clone, Default)]
pub struct ActionPlan {
    pub diagnostics: Diagnostics,
    pub deferral: Option<Deferral>,
}

/// Where a running action reports progress; each message is shown to the
/// user as it is sent.
#[derive(Debug, Clone)]
pub struct Progress {
    messages: mpsc::Sender<String>,
}

impl Progress {
    /// A handle and the receiving end of its messages (the server's side; tests use it too).
    pub fn channel(capacity: usize) -> (Progress, mpsc::Receiver<String>) {
        let (messages, receiver) = mpsc::channel(capacity);
        (Progress { messages }, receiver)
    }

    /// Waits while Terraform is slower to read than the action is to report.
    /// Progress is best effort: once Terraform stopped listening the message
    /// is dropped (the action's [`Ctx`] is cancelled then).
    pub async fn send(&self, message: impl Into<String>) {
        let _ = self.messages.send(message.into()).await;
    }

    /// Terraform no longer listens (it dropped the call).
    pub fn is_closed(&self) -> bool {
        self.messages.is_closed()
    }

    /// Resolves once Terraform no longer listens.
    pub async fn closed(&self) {
        self.messages.closed().await
    }
}

#[async_trait]
pub trait Action: Send + Sync {
    fn type_name(&self) -> &'static str;
    /// The action's configuration (the `config` block of an `action` block).
    fn schema(&self) -> Schema;
    /// Plan-time checks. Unknown values are not errors.
    fn validate(&self, config: &Value) -> Diagnostics;
    /// Called during `terraform plan` for every action the plan would invoke.
    async fn plan(
        &self,
        _ctx: &Ctx,
        _config: &Value,
        _capabilities: ClientCapabilities,
    ) -> ActionPlan {
        ActionPlan::default()
    }
    /// Runs the action. Messages sent to `progress` reach the user as they
    /// are sent; the diagnostics returned end the invocation (errors mean it
    /// failed). `ctx` is cancelled on `StopProvider` and when Terraform
    /// drops the call.
    async fn invoke(&self, ctx: &Ctx, config: Value, progress: Progress) -> Diagnostics;
}

/// What Terraform asks a list resource for.
#[derive(Debug, Clone)]
pub struct ListRequest {
    /// The `config` block of the `list` block, typed by [`ListResource::schema`].
    pub config: Value,
    /// Whether results should carry the whole resource object, not only its identity.
    /// The server drops objects Terraform did not ask for, but fetching them is the
    /// list resource's cost to skip.
    pub include_resource_object: bool,
    /// The most results Terraform wants; the server ends the stream there.
    /// Zero or less means no limit was given.
    pub limit: i64,
}

/// One object a list resource found.
#[derive(Debug, Clone, Default)]
pub struct ListResult {
    /// Typed by the managed resource's identity schema. `Value::Null` for a
    /// result that only carries diagnostics (it does not count towards the limit).
    pub identity: Value,
    /// A label for people, e.g. the host address.
    pub display_name: String,
    /// Typed by the managed resource's schema; sent only when Terraform asked for it.
    pub resource_object: Option<Value>,
    pub diagnostics: Diagnostics,
}

impl ListResult {
    pub fn found(identity: Value, display_name: impl Into<String>) -> Self {
        ListResult {
            identity,
            display_name: display_name.into(),
            ..Default::default()
        }
    }

    pub fn with_resource_object(mut self, object: Value) -> Self {
        self.resource_object = Some(object);
        self
    }

    /// A result that reports a problem rather than an object.
    pub fn failed(diagnostics: Diagnostics) -> Self {
        ListResult {
            diagnostics,
            ..Default::default()
        }
    }
}

/// Terraform takes no more results: it reached its limit or dropped the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Terraform takes no more list results")]
pub struct ListingStopped;

/// Where a list resource sends what it finds; each result reaches Terraform
/// as it is sent.
#[derive(Debug, Clone)]
pub struct ListResults {
    results: mpsc::Sender<ListResult>,
}

impl ListResults {
    /// A handle and the receiving end of its results (the server's side; tests use it too).
    pub fn channel(capacity: usize) -> (ListResults, mpsc::Receiver<ListResult>) {
        let (results, receiver) = mpsc::channel(capacity);
        (ListResults { results }, receiver)
    }

    /// `Err` once Terraform takes no more: stop listing then.
    pub async fn send(&self, result: ListResult) -> Result<(), ListingStopped> {
        self.results.send(result).await.map_err(|_| ListingStopped)
    }

    pub fn is_closed(&self) -> bool {
        self.results.is_closed()
    }
}

/// Finds existing objects of a managed resource type for `terraform query`.
/// Results are encoded with that resource's identity schema and schema.
#[async_trait]
pub trait ListResource: Send + Sync {
    /// The managed resource type whose objects this lists; the provider must
    /// offer a resource of that name, with an identity schema.
    fn type_name(&self) -> &'static str;
    /// The `config` block of a `list` block.
    fn schema(&self) -> Schema;
    /// Plan-time checks. Unknown values are not errors.
    fn validate(&self, config: &Value) -> Diagnostics;
    /// Sends what it finds to `results`, stopping when a send fails (the
    /// limit is reached or Terraform dropped the call; `ctx` is cancelled
    /// then too). Diagnostics returned are sent after the last result.
    async fn list(&self, ctx: &Ctx, request: ListRequest, results: ListResults) -> Diagnostics;
}

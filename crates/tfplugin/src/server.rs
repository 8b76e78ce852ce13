//! The tfplugin6 `Provider` service: decodes each call, hands it to the
//! [`Provider`] / [`Resource`] / [`EphemeralResource`] / [`Action`] /
//! [`ListResource`] traits and encodes the answer. Every 6.10 RPC is
//! answered; features this crate has no trait for (functions, state stores,
//! data sources), and actions or list resources a provider registers none
//! of, answer empty at discovery and with an error diagnostic when called.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tfvalue::{Type, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};

use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::plan::plan_resource;
use crate::proto::tfplugin6 as pb;
use crate::proto::tfplugin6::provider_server::Provider as ProviderService;
use crate::provider::{
    Action, ClientCapabilities, Ctx, DataSource, Deferral, EphemeralResource, ListRequest,
    ListResource, ListResult, ListResults, Plan, PlanRequest, Progress, Provider, Resource,
};

type RpcResult<T> = Result<Response<T>, Status>;
type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// How many progress messages or list results may wait for Terraform to read them.
const STREAM_BUFFER: usize = 16;

pub struct ProviderServer {
    provider: Arc<dyn Provider>,
    /// How messages name the provider ("The mke provider has no ...").
    provider_name: String,
    resources: HashMap<&'static str, Arc<dyn Resource>>,
    ephemeral: HashMap<&'static str, Arc<dyn EphemeralResource>>,
    actions: HashMap<&'static str, Arc<dyn Action>>,
    list_resources: HashMap<&'static str, Arc<dyn ListResource>>,
    data_sources: HashMap<&'static str, Arc<dyn DataSource>>,
    stop: Mutex<CancellationToken>,
}

impl ProviderServer {
    /// `provider_name` is the provider's type name, `mke` in `provider "mke" {}`.
    pub fn new(provider: Arc<dyn Provider>, provider_name: impl Into<String>) -> Self {
        let resources = provider
            .resources()
            .into_iter()
            .map(|r| (r.type_name(), r))
            .collect();
        let ephemeral = provider
            .ephemeral_resources()
            .into_iter()
            .map(|r| (r.type_name(), r))
            .collect();
        let actions = provider
            .actions()
            .into_iter()
            .map(|a| (a.type_name(), a))
            .collect();
        let list_resources = provider
            .list_resources()
            .into_iter()
            .map(|l| (l.type_name(), l))
            .collect();
        let data_sources = provider
            .data_sources()
            .into_iter()
            .map(|d| (d.type_name(), d))
            .collect();
        ProviderServer {
            provider,
            provider_name: provider_name.into(),
            resources,
            ephemeral,
            actions,
            list_resources,
            data_sources,
            stop: Mutex::new(CancellationToken::new()),
        }
    }

    fn ctx(&self) -> Ctx {
        Ctx {
            cancel: self.stop.lock().expect("stop token lock").child_token(),
        }
    }

    fn resource(&self, type_name: &str) -> Result<&Arc<dyn Resource>, Diagnostics> {
        self.resources
            .get(type_name)
            .ok_or_else(|| self.unknown_type("resource type", type_name))
    }

    fn ephemeral(&self, type_name: &str) -> Result<&Arc<dyn EphemeralResource>, Diagnostics> {
        self.ephemeral
            .get(type_name)
            .ok_or_else(|| self.unknown_type("ephemeral resource type", type_name))
    }

    fn action(&self, name: &str) -> Result<&Arc<dyn Action>, Diagnostics> {
        self.actions.get(name).ok_or_else(|| {
            if self.actions.is_empty() {
                self.not_offered("action", name)
            } else {
                self.unknown_type("action", name)
            }
        })
    }

    fn data_source(&self, type_name: &str) -> Result<&Arc<dyn DataSource>, Diagnostics> {
        self.data_sources.get(type_name).ok_or_else(|| {
            if self.data_sources.is_empty() {
                self.not_offered("data source", type_name)
            } else {
                self.unknown_type("data source type", type_name)
            }
        })
    }

    fn list_resource(&self, type_name: &str) -> Result<&Arc<dyn ListResource>, Diagnostics> {
        self.list_resources.get(type_name).ok_or_else(|| {
            if self.list_resources.is_empty() {
                self.not_offered("list resource", type_name)
            } else {
                self.unknown_type("list resource type", type_name)
            }
        })
    }

    /// How a list resource's results are encoded: by the managed resource of
    /// the same name (its identity schema and schema).
    fn list_encoding(&self, type_name: &str) -> Result<ListEncoding, Diagnostics> {
        let bug = |why: &str| -> Diagnostics {
            Diagnostic::error(
                "List resource without a matching managed resource",
                format!(
                    "This is a bug in the {} provider: the list resource \"{type_name}\" {why}.",
                    self.provider_name
                ),
            )
            .into()
        };
        let resource = self
            .resources
            .get(type_name)
            .ok_or_else(|| bug("has no managed resource type of that name"))?;
        let identity = resource
            .identity_schema()
            .ok_or_else(|| bug("lists a resource type that has no identity schema"))?;
        Ok(ListEncoding {
            provider_name: self.provider_name.clone(),
            identity: identity.value_type(),
            object: resource.schema().value_type(),
        })
    }

    fn prepare_invocation(
        &self,
        req: &pb::invoke_action::Request,
    ) -> Result<(Arc<dyn Action>, Value), Diagnostics> {
        let action = self.action(&req.action_type)?.clone();
        let ty = action.schema().value_type();
        let config = decode(req.config.as_ref(), &ty, "action configuration")?;
        Ok((action, config))
    }

    fn prepare_listing(
        &self,
        req: &pb::list_resource::Request,
    ) -> Result<(Arc<dyn ListResource>, ListEncoding, Value), Diagnostics> {
        let list = self.list_resource(&req.type_name)?.clone();
        let encoding = self.list_encoding(&req.type_name)?;
        let ty = list.schema().value_type();
        let config = decode(req.config.as_ref(), &ty, "list configuration")?;
        Ok((list, encoding, config))
    }

    fn unknown_type(&self, kind: &str, name: &str) -> Diagnostics {
        Diagnostic::error(
            format!("Unknown {kind}"),
            format!(
                "The {} provider has no {kind} named \"{name}\".",
                self.provider_name
            ),
        )
        .into()
    }

    fn not_offered(&self, what: &str, name: &str) -> Diagnostics {
        Diagnostic::error(
            format!("This provider has no {what} \"{name}\""),
            format!(
                "The {} provider offers no {what}s; \"{name}\" cannot be used with it.",
                self.provider_name
            ),
        )
        .into()
    }

    fn encode(&self, value: &Value, ty: &Type) -> Result<pb::DynamicValue, Diagnostics> {
        encode(value, ty, &self.provider_name)
    }

    fn server_capabilities() -> pb::ServerCapabilities {
        pb::ServerCapabilities {
            plan_destroy: true,
            get_provider_schema_optional: true,
            move_resource_state: false,
            generate_resource_config: false,
        }
    }

    fn identity_data(resource: &dyn Resource, state: &Value) -> Option<pb::ResourceIdentityData> {
        let schema = resource.identity_schema()?;
        if state.is_null() {
            return None;
        }
        let identity = resource.identity(state)?;
        let msgpack = identity.to_msgpack(&schema.value_type()).ok()?;
        Some(pb::ResourceIdentityData {
            identity_data: Some(pb::DynamicValue {
                msgpack,
                json: Vec::new(),
            }),
        })
    }
}

fn encode(value: &Value, ty: &Type, provider_name: &str) -> Result<pb::DynamicValue, Diagnostics> {
    value
        .to_msgpack(ty)
        .map(|msgpack| pb::DynamicValue {
            msgpack,
            json: Vec::new(),
        })
        .map_err(|e| {
            Diagnostic::error(
                "Provider produced a value it cannot encode",
                format!("This is a bug in the {provider_name} provider: {e}"),
            )
            .into()
        })
}

/// The types list results are encoded with, owned so a listing can run on its own task.
struct ListEncoding {
    provider_name: String,
    identity: Type,
    object: Type,
}

impl ListEncoding {
    fn event(&self, result: ListResult, include_resource_object: bool) -> pb::list_resource::Event {
        let mut diagnostics = result.diagnostics;
        let identity = if result.identity.is_null() {
            None
        } else {
            match encode(&result.identity, &self.identity, &self.provider_name) {
                Ok(identity_data) => Some(pb::ResourceIdentityData {
                    identity_data: Some(identity_data),
                }),
                Err(d) => {
                    diagnostics.extend(d);
                    None
                }
            }
        };
        let resource_object = match result.resource_object {
            Some(object) if include_resource_object => {
                match encode(&object, &self.object, &self.provider_name) {
                    Ok(object) => Some(object),
                    Err(d) => {
                        diagnostics.extend(d);
                        None
                    }
                }
            }
            _ => None,
        };
        pb::list_resource::Event {
            identity,
            display_name: result.display_name,
            resource_object,
            diagnostic: diagnostics.to_proto(),
        }
    }
}

fn list_diagnostics_event(diagnostics: Diagnostics) -> pb::list_resource::Event {
    pb::list_resource::Event {
        diagnostic: diagnostics.to_proto(),
        ..Default::default()
    }
}

fn action_completed(diagnostics: Diagnostics) -> pb::invoke_action::Event {
    pb::invoke_action::Event {
        r#type: Some(pb::invoke_action::event::Type::Completed(
            pb::invoke_action::event::Completed {
                diagnostics: diagnostics.to_proto(),
            },
        )),
    }
}

fn action_progress(message: String) -> pb::invoke_action::Event {
    pb::invoke_action::Event {
        r#type: Some(pb::invoke_action::event::Type::Progress(
            pb::invoke_action::event::Progress { message },
        )),
    }
}

fn client_capabilities(c: Option<pb::ClientCapabilities>) -> ClientCapabilities {
    let c = c.unwrap_or_default();
    ClientCapabilities {
        deferral_allowed: c.deferral_allowed,
        write_only_attributes_allowed: c.write_only_attributes_allowed,
    }
}

fn deferred(deferral: Deferral) -> pb::Deferred {
    use pb::deferred::Reason;
    pb::Deferred {
        reason: match deferral {
            Deferral::ResourceConfigUnknown => Reason::ResourceConfigUnknown,
            Deferral::ProviderConfigUnknown => Reason::ProviderConfigUnknown,
            Deferral::AbsentPrerequisite => Reason::AbsentPrereq,
        } as i32,
    }
}

fn panicked(what: &str, provider_name: &str) -> Diagnostics {
    Diagnostic::error(
        format!("The {what} stopped unexpectedly"),
        format!("This is a bug in the {provider_name} provider: the {what} panicked; its log has the details."),
    )
    .into()
}

fn decode(value: Option<&pb::DynamicValue>, ty: &Type, what: &str) -> Result<Value, Diagnostics> {
    let Some(v) = value else {
        return Ok(Value::Null);
    };
    let decoded = if !v.msgpack.is_empty() {
        Value::from_msgpack(&v.msgpack, ty)
    } else if !v.json.is_empty() {
        Value::from_json(&v.json, ty)
    } else {
        return Ok(Value::Null);
    };
    decoded.map_err(|e| {
        Diagnostic::error(
            format!("Invalid {what} received from Terraform"),
            format!("The provider could not decode the {what}: {e}"),
        )
        .into()
    })
}

fn timestamp(t: std::time::SystemTime) -> prost_types::Timestamp {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    prost_types::Timestamp {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

/// Runs `body`, turning an early `Err(diagnostics)` into the response's diagnostics.
macro_rules! answer {
    ($resp:ty, $body:expr) => {{
        let result: Result<$resp, Diagnostics> = async { $body }.await;
        Ok(Response::new(match result {
            Ok(r) => r,
            Err(d) => <$resp>::default().with_diagnostics(d),
        }))
    }};
}

trait WithDiagnostics {
    fn with_diagnostics(self, d: Diagnostics) -> Self;
}

macro_rules! with_diagnostics {
    ($($t:ty),* $(,)?) => {$(
        impl WithDiagnostics for $t {
            fn with_diagnostics(mut self, d: Diagnostics) -> Self {
                self.diagnostics.extend(d.to_proto());
                self
            }
        }
    )*};
}

with_diagnostics!(
    pb::get_provider_schema::Response,
    pb::validate_provider_config::Response,
    pb::validate_resource_config::Response,
    pb::validate_data_resource_config::Response,
    pb::upgrade_resource_state::Response,
    pb::get_resource_identity_schemas::Response,
    pb::upgrade_resource_identity::Response,
    pb::configure_provider::Response,
    pb::read_resource::Response,
    pb::plan_resource_change::Response,
    pb::apply_resource_change::Response,
    pb::import_resource_state::Response,
    pb::move_resource_state::Response,
    pb::read_data_source::Response,
    pb::generate_resource_config::Response,
    pb::validate_ephemeral_resource_config::Response,
    pb::open_ephemeral_resource::Response,
    pb::renew_ephemeral_resource::Response,
    pb::close_ephemeral_resource::Response,
    pb::get_functions::Response,
    pb::validate_list_resource_config::Response,
    pb::validate_action_config::Response,
    pb::plan_action::Response,
    pb::validate_state_store_config::Response,
    pb::configure_state_store::Response,
    pb::write_state_bytes::Response,
    pb::lock_state::Response,
    pb::unlock_state::Response,
    pb::get_states::Response,
    pb::delete_state::Response,
);

#[tonic::async_trait]
impl ProviderService for ProviderServer {
    async fn get_metadata(
        &self,
        _request: Request<pb::get_metadata::Request>,
    ) -> RpcResult<pb::get_metadata::Response> {
        let mut resources: Vec<_> = self.resources.keys().collect();
        resources.sort();
        let mut ephemeral: Vec<_> = self.ephemeral.keys().collect();
        ephemeral.sort();
        let mut actions: Vec<_> = self.actions.keys().collect();
        actions.sort();
        let mut list_resources: Vec<_> = self.list_resources.keys().collect();
        list_resources.sort();
        let mut data_sources: Vec<_> = self.data_sources.keys().collect();
        data_sources.sort();
        Ok(Response::new(pb::get_metadata::Response {
            server_capabilities: Some(Self::server_capabilities()),
            resources: resources
                .into_iter()
                .map(|t| pb::get_metadata::ResourceMetadata {
                    type_name: t.to_string(),
                })
                .collect(),
            ephemeral_resources: ephemeral
                .into_iter()
                .map(|t| pb::get_metadata::EphemeralResourceMetadata {
                    type_name: t.to_string(),
                })
                .collect(),
            actions: actions
                .into_iter()
                .map(|t| pb::get_metadata::ActionMetadata {
                    type_name: t.to_string(),
                })
                .collect(),
            list_resources: list_resources
                .into_iter()
                .map(|t| pb::get_metadata::ListResourceMetadata {
                    type_name: t.to_string(),
                })
                .collect(),
            data_sources: data_sources
                .into_iter()
                .map(|t| pb::get_metadata::DataSourceMetadata {
                    type_name: t.to_string(),
                })
                .collect(),
            ..Default::default()
        }))
    }

    async fn get_provider_schema(
        &self,
        _request: Request<pb::get_provider_schema::Request>,
    ) -> RpcResult<pb::get_provider_schema::Response> {
        Ok(Response::new(pb::get_provider_schema::Response {
            provider: Some(self.provider.schema().to_proto()),
            resource_schemas: self
                .resources
                .iter()
                .map(|(name, r)| (name.to_string(), r.schema().to_proto()))
                .collect(),
            ephemeral_resource_schemas: self
                .ephemeral
                .iter()
                .map(|(name, r)| (name.to_string(), r.schema().to_proto()))
                .collect(),
            action_schemas: self
                .actions
                .iter()
                .map(|(name, a)| {
                    let schema = Some(a.schema().to_proto());
                    (name.to_string(), pb::ActionSchema { schema })
                })
                .collect(),
            list_resource_schemas: self
                .list_resources
                .iter()
                .map(|(name, l)| (name.to_string(), l.schema().to_proto()))
                .collect(),
            data_source_schemas: self
                .data_sources
                .iter()
                .map(|(name, d)| (name.to_string(), d.schema().to_proto()))
                .collect(),
            server_capabilities: Some(Self::server_capabilities()),
            ..Default::default()
        }))
    }

    async fn get_resource_identity_schemas(
        &self,
        _request: Request<pb::get_resource_identity_schemas::Request>,
    ) -> RpcResult<pb::get_resource_identity_schemas::Response> {
        Ok(Response::new(pb::get_resource_identity_schemas::Response {
            identity_schemas: self
                .resources
                .iter()
                .filter_map(|(name, r)| {
                    r.identity_schema()
                        .map(|s| (name.to_string(), s.to_proto()))
                })
                .collect(),
            diagnostics: Vec::new(),
        }))
    }

    async fn validate_provider_config(
        &self,
        request: Request<pb::validate_provider_config::Request>,
    ) -> RpcResult<pb::validate_provider_config::Response> {
        let req = request.into_inner();
        answer!(pb::validate_provider_config::Response, {
            let ty = self.provider.schema().value_type();
            let config = decode(req.config.as_ref(), &ty, "provider configuration")?;
            Ok(pb::validate_provider_config::Response {
                diagnostics: self.provider.validate(&config).to_proto(),
            })
        })
    }

    async fn validate_resource_config(
        &self,
        request: Request<pb::validate_resource_config::Request>,
    ) -> RpcResult<pb::validate_resource_config::Response> {
        let req = request.into_inner();
        answer!(pb::validate_resource_config::Response, {
            let resource = self.resource(&req.type_name)?;
            let ty = resource.schema().value_type();
            let config = decode(req.config.as_ref(), &ty, "resource configuration")?;
            Ok(pb::validate_resource_config::Response {
                diagnostics: resource.validate(&config).to_proto(),
            })
        })
    }

    async fn validate_data_resource_config(
        &self,
        request: Request<pb::validate_data_resource_config::Request>,
    ) -> RpcResult<pb::validate_data_resource_config::Response> {
        let req = request.into_inner();
        answer!(pb::validate_data_resource_config::Response, {
            let source = self.data_source(&req.type_name)?;
            let ty = source.schema().value_type();
            let config = decode(req.config.as_ref(), &ty, "data source configuration")?;
            Ok(pb::validate_data_resource_config::Response {
                diagnostics: source.validate(&config).to_proto(),
            })
        })
    }

    async fn upgrade_resource_state(
        &self,
        request: Request<pb::upgrade_resource_state::Request>,
    ) -> RpcResult<pb::upgrade_resource_state::Response> {
        let req = request.into_inner();
        answer!(pb::upgrade_resource_state::Response, {
            let resource = self.resource(&req.type_name)?;
            let schema = resource.schema();
            let ty = schema.value_type();
            if req.version > schema.version {
                return Err(Diagnostic::error(
                    "State written by a newer provider",
                    format!(
                        "This {} state has schema version {}, but this provider knows versions up to {}. Upgrade the {} provider.",
                        req.type_name, req.version, schema.version, self.provider_name
                    ),
                )
                .into());
            }
            let raw = req.raw_state.unwrap_or_default();
            if raw.json.is_empty() {
                return Err(Diagnostic::error(
                    "Unsupported state format",
                    "The state has no JSON form (flatmap state comes from protocol 5 providers).",
                )
                .into());
            }
            let state = Value::from_json(&raw.json, &ty).map_err(|e| {
                Diagnostics::from(Diagnostic::error(
                    "Invalid stored state",
                    format!("The {} state could not be read: {e}", req.type_name),
                ))
            })?;
            Ok(pb::upgrade_resource_state::Response {
                upgraded_state: Some(self.encode(&state, &ty)?),
                diagnostics: Vec::new(),
            })
        })
    }

    async fn upgrade_resource_identity(
        &self,
        request: Request<pb::upgrade_resource_identity::Request>,
    ) -> RpcResult<pb::upgrade_resource_identity::Response> {
        let req = request.into_inner();
        answer!(pb::upgrade_resource_identity::Response, {
            let resource = self.resource(&req.type_name)?;
            let Some(schema) = resource.identity_schema() else {
                return Err(self.unknown_type("resource identity", &req.type_name));
            };
            let ty = schema.value_type();
            let raw = req.raw_identity.unwrap_or_default();
            let identity = Value::from_json(&raw.json, &ty).map_err(|e| {
                Diagnostics::from(Diagnostic::error(
                    "Invalid stored identity",
                    format!("The {} identity could not be read: {e}", req.type_name),
                ))
            })?;
            Ok(pb::upgrade_resource_identity::Response {
                upgraded_identity: Some(pb::ResourceIdentityData {
                    identity_data: Some(self.encode(&identity, &ty)?),
                }),
                diagnostics: Vec::new(),
            })
        })
    }

    async fn configure_provider(
        &self,
        request: Request<pb::configure_provider::Request>,
    ) -> RpcResult<pb::configure_provider::Response> {
        let req = request.into_inner();
        answer!(pb::configure_provider::Response, {
            let ty = self.provider.schema().value_type();
            let config = decode(req.config.as_ref(), &ty, "provider configuration")?;
            let diagnostics = self
                .provider
                .configure(&req.terraform_version, &config)
                .await;
            Ok(pb::configure_provider::Response {
                diagnostics: diagnostics.to_proto(),
            })
        })
    }

    async fn read_resource(
        &self,
        request: Request<pb::read_resource::Request>,
    ) -> RpcResult<pb::read_resource::Response> {
        let req = request.into_inner();
        answer!(pb::read_resource::Response, {
            let resource = self.resource(&req.type_name)?;
            let ty = resource.schema().value_type();
            let state = decode(req.current_state.as_ref(), &ty, "current state")?;
            let outcome = resource.read(&self.ctx(), state, req.private).await;
            let new_identity =
                Self::identity_data(resource.as_ref(), &outcome.state).or(req.current_identity);
            Ok(pb::read_resource::Response {
                new_state: Some(self.encode(&outcome.state, &ty)?),
                diagnostics: outcome.diagnostics.to_proto(),
                private: outcome.private,
                deferred: None,
                new_identity,
            })
        })
    }

    async fn plan_resource_change(
        &self,
        request: Request<pb::plan_resource_change::Request>,
    ) -> RpcResult<pb::plan_resource_change::Response> {
        let req = request.into_inner();
        answer!(pb::plan_resource_change::Response, {
            let resource = self.resource(&req.type_name)?;
            let schema = resource.schema();
            let ty = schema.value_type();
            let prior = decode(req.prior_state.as_ref(), &ty, "prior state")?;
            let proposed = decode(req.proposed_new_state.as_ref(), &ty, "proposed state")?;
            let config = decode(req.config.as_ref(), &ty, "configuration")?;
            if proposed.is_null() {
                // Destroy: nothing to plan, but the answer must carry a null state.
                return Ok(pb::plan_resource_change::Response {
                    planned_state: Some(self.encode(&Value::Null, &ty)?),
                    planned_private: req.prior_private,
                    planned_identity: req.prior_identity,
                    ..Default::default()
                });
            }
            let generic = plan_resource(&schema, &prior, &config);
            let mut plan = Plan {
                planned: generic.planned,
                requires_replace: generic.requires_replace,
                private: req.prior_private.clone(),
                diagnostics: Diagnostics::new(),
            };
            resource.modify_plan(
                &PlanRequest {
                    prior: &prior,
                    proposed: &proposed,
                    config: &config,
                    prior_private: &req.prior_private,
                },
                &mut plan,
            );
            let planned_identity = if plan.planned.is_wholly_known() {
                Self::identity_data(resource.as_ref(), &plan.planned)
            } else {
                None
            }
            .or(req.prior_identity);
            Ok(pb::plan_resource_change::Response {
                planned_state: Some(self.encode(&plan.planned, &ty)?),
                requires_replace: plan
                    .requires_replace
                    .iter()
                    .map(crate::diagnostics::path_to_proto)
                    .collect(),
                planned_private: plan.private,
                diagnostics: plan.diagnostics.to_proto(),
                legacy_type_system: false,
                deferred: None,
                planned_identity,
            })
        })
    }

    async fn apply_resource_change(
        &self,
        request: Request<pb::apply_resource_change::Request>,
    ) -> RpcResult<pb::apply_resource_change::Response> {
        let req = request.into_inner();
        answer!(pb::apply_resource_change::Response, {
            let resource = self.resource(&req.type_name)?;
            let ty = resource.schema().value_type();
            let prior = decode(req.prior_state.as_ref(), &ty, "prior state")?;
            let planned = decode(req.planned_state.as_ref(), &ty, "planned state")?;
            let config = decode(req.config.as_ref(), &ty, "configuration")?;
            let ctx = self.ctx();
            let outcome = if planned.is_null() {
                let diagnostics = resource
                    .delete(&ctx, prior.clone(), req.planned_private.clone())
                    .await;
                // A failed delete keeps the object in state, private data
                // included (what the resource proves ownership with), so a
                // rerun retries it.
                let (state, private) = if diagnostics.has_errors() {
                    (prior, req.planned_private)
                } else {
                    (Value::Null, Vec::new())
                };
                crate::provider::StateOutcome {
                    state,
                    private,
                    diagnostics,
                }
            } else if prior.is_null() {
                resource.create(&ctx, planned, config).await
            } else {
                resource
                    .update(&ctx, prior, planned, config, req.planned_private)
                    .await
            };
            let new_identity = Self::identity_data(resource.as_ref(), &outcome.state);
            Ok(pb::apply_resource_change::Response {
                new_state: Some(self.encode(&outcome.state, &ty)?),
                private: outcome.private,
                diagnostics: outcome.diagnostics.to_proto(),
                legacy_type_system: false,
                new_identity,
            })
        })
    }

    async fn import_resource_state(
        &self,
        request: Request<pb::import_resource_state::Request>,
    ) -> RpcResult<pb::import_resource_state::Response> {
        let req = request.into_inner();
        answer!(pb::import_resource_state::Response, {
            let resource = self.resource(&req.type_name)?;
            let ty = resource.schema().value_type();
            let id = match (&req.identity, req.id.is_empty()) {
                (Some(identity), true) => {
                    let schema = resource
                        .identity_schema()
                        .ok_or_else(|| self.unknown_type("resource identity", &req.type_name))?;
                    let identity = decode(
                        identity.identity_data.as_ref(),
                        &schema.value_type(),
                        "resource identity",
                    )?;
                    resource.import_id_from_identity(&identity)?
                }
                _ => req.id.clone(),
            };
            let outcome = resource.import(&self.ctx(), &id).await;
            if outcome.diagnostics.has_errors() || outcome.state.is_null() {
                return Ok(pb::import_resource_state::Response {
                    diagnostics: outcome.diagnostics.to_proto(),
                    ..Default::default()
                });
            }
            let identity = Self::identity_data(resource.as_ref(), &outcome.state);
            Ok(pb::import_resource_state::Response {
                imported_resources: vec![pb::import_resource_state::ImportedResource {
                    type_name: req.type_name.clone(),
                    state: Some(self.encode(&outcome.state, &ty)?),
                    private: outcome.private,
                    identity,
                }],
                diagnostics: outcome.diagnostics.to_proto(),
                deferred: None,
            })
        })
    }

    async fn move_resource_state(
        &self,
        request: Request<pb::move_resource_state::Request>,
    ) -> RpcResult<pb::move_resource_state::Response> {
        let req = request.into_inner();
        Ok(Response::new(
            pb::move_resource_state::Response::default().with_diagnostics(
                Diagnostic::error(
                    "Moving state into this resource type is not supported",
                    format!(
                        "{} cannot take over state from {} ({}).",
                        req.target_type_name, req.source_type_name, req.source_provider_address
                    ),
                )
                .into(),
            ),
        ))
    }

    async fn read_data_source(
        &self,
        request: Request<pb::read_data_source::Request>,
    ) -> RpcResult<pb::read_data_source::Response> {
        let req = request.into_inner();
        answer!(pb::read_data_source::Response, {
            let source = self.data_source(&req.type_name)?;
            let ty = source.schema().value_type();
            let config = decode(req.config.as_ref(), &ty, "data source configuration")?;
            let outcome = source.read(&self.ctx(), config).await;
            let state = if outcome.diagnostics.has_errors() {
                None
            } else {
                Some(self.encode(&outcome.state, &ty)?)
            };
            Ok(pb::read_data_source::Response {
                state,
                diagnostics: outcome.diagnostics.to_proto(),
                deferred: None,
            })
        })
    }

    async fn generate_resource_config(
        &self,
        request: Request<pb::generate_resource_config::Request>,
    ) -> RpcResult<pb::generate_resource_config::Response> {
        let name = request.into_inner().type_name;
        Ok(Response::new(
            pb::generate_resource_config::Response::default().with_diagnostics(
                Diagnostic::error(
                    "Configuration generation is not supported",
                    format!("Write the configuration of {name} by hand; see the import docs."),
                )
                .into(),
            ),
        ))
    }

    async fn validate_ephemeral_resource_config(
        &self,
        request: Request<pb::validate_ephemeral_resource_config::Request>,
    ) -> RpcResult<pb::validate_ephemeral_resource_config::Response> {
        let req = request.into_inner();
        answer!(pb::validate_ephemeral_resource_config::Response, {
            let resource = self.ephemeral(&req.type_name)?;
            let ty = resource.schema().value_type();
            let config = decode(req.config.as_ref(), &ty, "configuration")?;
            Ok(pb::validate_ephemeral_resource_config::Response {
                diagnostics: resource.validate(&config).to_proto(),
            })
        })
    }

    async fn open_ephemeral_resource(
        &self,
        request: Request<pb::open_ephemeral_resource::Request>,
    ) -> RpcResult<pb::open_ephemeral_resource::Response> {
        let req = request.into_inner();
        answer!(pb::open_ephemeral_resource::Response, {
            let resource = self.ephemeral(&req.type_name)?;
            let ty = resource.schema().value_type();
            let config = decode(req.config.as_ref(), &ty, "configuration")?;
            let outcome = resource.open(&self.ctx(), config).await;
            let result = if outcome.diagnostics.has_errors() {
                None
            } else {
                Some(self.encode(&outcome.result, &ty)?)
            };
            Ok(pb::open_ephemeral_resource::Response {
                diagnostics: outcome.diagnostics.to_proto(),
                renew_at: outcome.renew_at.map(timestamp),
                result,
                private: outcome.private,
                deferred: None,
            })
        })
    }

    async fn renew_ephemeral_resource(
        &self,
        request: Request<pb::renew_ephemeral_resource::Request>,
    ) -> RpcResult<pb::renew_ephemeral_resource::Response> {
        let req = request.into_inner();
        answer!(pb::renew_ephemeral_resource::Response, {
            let resource = self.ephemeral(&req.type_name)?;
            let outcome = resource.renew(&self.ctx(), req.private).await;
            Ok(pb::renew_ephemeral_resource::Response {
                diagnostics: outcome.diagnostics.to_proto(),
                renew_at: outcome.renew_at.map(timestamp),
                private: outcome.private,
            })
        })
    }

    async fn close_ephemeral_resource(
        &self,
        request: Request<pb::close_ephemeral_resource::Request>,
    ) -> RpcResult<pb::close_ephemeral_resource::Response> {
        let req = request.into_inner();
        answer!(pb::close_ephemeral_resource::Response, {
            let resource = self.ephemeral(&req.type_name)?;
            let diagnostics = resource.close(&self.ctx(), req.private).await;
            Ok(pb::close_ephemeral_resource::Response {
                diagnostics: diagnostics.to_proto(),
            })
        })
    }

    type ListResourceStream = BoxStream<pb::list_resource::Event>;

    async fn list_resource(
        &self,
        request: Request<pb::list_resource::Request>,
    ) -> RpcResult<Self::ListResourceStream> {
        let req = request.into_inner();
        let (list, encoding, config) = match self.prepare_listing(&req) {
            Ok(prepared) => prepared,
            Err(d) => {
                let event = list_diagnostics_event(d);
                return Ok(Response::new(Box::pin(tokio_stream::once(Ok(event)))));
            }
        };
        let request = ListRequest {
            config,
            include_resource_object: req.include_resource_object,
            limit: req.limit,
        };
        let (events, stream) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(stream_list(list, self.ctx(), request, encoding, events));
        Ok(Response::new(Box::pin(ReceiverStream::new(stream))))
    }

    async fn validate_list_resource_config(
        &self,
        request: Request<pb::validate_list_resource_config::Request>,
    ) -> RpcResult<pb::validate_list_resource_config::Response> {
        let req = request.into_inner();
        answer!(pb::validate_list_resource_config::Response, {
            let list = self.list_resource(&req.type_name)?;
            // Caught here rather than at the first `terraform query`.
            self.list_encoding(&req.type_name)?;
            let ty = list.schema().value_type();
            let config = decode(req.config.as_ref(), &ty, "list configuration")?;
            Ok(pb::validate_list_resource_config::Response {
                diagnostics: list.validate(&config).to_proto(),
            })
        })
    }

    async fn get_functions(
        &self,
        _request: Request<pb::get_functions::Request>,
    ) -> RpcResult<pb::get_functions::Response> {
        Ok(Response::new(pb::get_functions::Response::default()))
    }

    async fn call_function(
        &self,
        request: Request<pb::call_function::Request>,
    ) -> RpcResult<pb::call_function::Response> {
        let name = request.into_inner().name;
        Ok(Response::new(pb::call_function::Response {
            result: None,
            error: Some(pb::FunctionError {
                text: format!(
                    "The {} provider has no function named \"{name}\".",
                    self.provider_name
                ),
                function_argument: None,
            }),
        }))
    }

    async fn validate_action_config(
        &self,
        request: Request<pb::validate_action_config::Request>,
    ) -> RpcResult<pb::validate_action_config::Response> {
        let req = request.into_inner();
        answer!(pb::validate_action_config::Response, {
            let action = self.action(&req.action_type)?;
            let ty = action.schema().value_type();
            let config = decode(req.config.as_ref(), &ty, "action configuration")?;
            Ok(pb::validate_action_config::Response {
                diagnostics: action.validate(&config).to_proto(),
            })
        })
    }

    async fn plan_action(
        &self,
        request: Request<pb::plan_action::Request>,
    ) -> RpcResult<pb::plan_action::Response> {
        let req = request.into_inner();
        answer!(pb::plan_action::Response, {
            let action = self.action(&req.action_type)?;
            let ty = action.schema().value_type();
            let config = decode(req.config.as_ref(), &ty, "action configuration")?;
            let capabilities = client_capabilities(req.client_capabilities);
            let mut plan = action.plan(&self.ctx(), &config, capabilities).await;
            if plan.deferral.is_some() && !capabilities.deferral_allowed {
                plan.deferral = None;
                plan.diagnostics.error(
                    "Action deferred, but the client cannot defer",
                    format!(
                        "The {} action \"{}\" asked to be deferred; this Terraform does not allow deferrals. This is a bug in the {} provider.",
                        self.provider_name, req.action_type, self.provider_name
                    ),
                );
            }
            Ok(pb::plan_action::Response {
                diagnostics: plan.diagnostics.to_proto(),
                deferred: plan.deferral.map(deferred),
            })
        })
    }

    type InvokeActionStream = BoxStream<pb::invoke_action::Event>;

    async fn invoke_action(
        &self,
        request: Request<pb::invoke_action::Request>,
    ) -> RpcResult<Self::InvokeActionStream> {
        let req = request.into_inner();
        let (action, config) = match self.prepare_invocation(&req) {
            Ok(prepared) => prepared,
            Err(d) => {
                let event = action_completed(d);
                return Ok(Response::new(Box::pin(tokio_stream::once(Ok(event)))));
            }
        };
        let (events, stream) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(stream_invocation(
            action,
            self.ctx(),
            config,
            events,
            self.provider_name.clone(),
        ));
        Ok(Response::new(Box::pin(ReceiverStream::new(stream))))
    }

    async fn validate_state_store_config(
        &self,
        request: Request<pb::validate_state_store_config::Request>,
    ) -> RpcResult<pb::validate_state_store_config::Response> {
        let name = request.into_inner().type_name;
        Ok(Response::new(
            pb::validate_state_store_config::Response::default()
                .with_diagnostics(self.not_offered("state store", &name)),
        ))
    }

    async fn configure_state_store(
        &self,
        request: Request<pb::configure_state_store::Request>,
    ) -> RpcResult<pb::configure_state_store::Response> {
        let name = request.into_inner().type_name;
        Ok(Response::new(
            pb::configure_state_store::Response::default()
                .with_diagnostics(self.not_offered("state store", &name)),
        ))
    }

    type ReadStateBytesStream = BoxStream<pb::read_state_bytes::ResponseChunk>;

    async fn read_state_bytes(
        &self,
        request: Request<pb::read_state_bytes::Request>,
    ) -> RpcResult<Self::ReadStateBytesStream> {
        let name = request.into_inner().type_name;
        let chunk = pb::read_state_bytes::ResponseChunk {
            diagnostics: self.not_offered("state store", &name).to_proto(),
            ..Default::default()
        };
        Ok(Response::new(Box::pin(tokio_stream::once(Ok(chunk)))))
    }

    async fn write_state_bytes(
        &self,
        request: Request<Streaming<pb::write_state_bytes::RequestChunk>>,
    ) -> RpcResult<pb::write_state_bytes::Response> {
        let mut stream = request.into_inner();
        let mut name = String::new();
        while let Some(chunk) = stream.message().await? {
            if let Some(meta) = chunk.meta {
                name = meta.type_name;
            }
        }
        Ok(Response::new(
            pb::write_state_bytes::Response::default()
                .with_diagnostics(self.not_offered("state store", &name)),
        ))
    }

    async fn lock_state(
        &self,
        request: Request<pb::lock_state::Request>,
    ) -> RpcResult<pb::lock_state::Response> {
        let name = request.into_inner().type_name;
        Ok(Response::new(
            pb::lock_state::Response::default()
                .with_diagnostics(self.not_offered("state store", &name)),
        ))
    }

    async fn unlock_state(
        &self,
        request: Request<pb::unlock_state::Request>,
    ) -> RpcResult<pb::unlock_state::Response> {
        let name = request.into_inner().type_name;
        Ok(Response::new(
            pb::unlock_state::Response::default()
                .with_diagnostics(self.not_offered("state store", &name)),
        ))
    }

    async fn get_states(
        &self,
        request: Request<pb::get_states::Request>,
    ) -> RpcResult<pb::get_states::Response> {
        let name = request.into_inner().type_name;
        Ok(Response::new(
            pb::get_states::Response::default()
                .with_diagnostics(self.not_offered("state store", &name)),
        ))
    }

    async fn delete_state(
        &self,
        request: Request<pb::delete_state::Request>,
    ) -> RpcResult<pb::delete_state::Response> {
        let name = request.into_inner().type_name;
        Ok(Response::new(
            pb::delete_state::Response::default()
                .with_diagnostics(self.not_offered("state store", &name)),
        ))
    }

    async fn stop_provider(
        &self,
        _request: Request<pb::stop_provider::Request>,
    ) -> RpcResult<pb::stop_provider::Response> {
        tracing::info!("Terraform asked the provider to stop; cancelling work in progress");
        let mut token = self.stop.lock().expect("stop token lock");
        token.cancel();
        // Later calls (in debug mode the process lives on) get a fresh token.
        *token = CancellationToken::new();
        Ok(Response::new(pb::stop_provider::Response::default()))
    }
}

/// Runs an action on its own task and streams what it reports: each progress
/// message as it is sent, then one Completed. When Terraform drops the call,
/// the action's ctx is cancelled and the action is still awaited, so it can
/// stop cleanly.
async fn stream_invocation(
    action: Arc<dyn Action>,
    ctx: Ctx,
    config: Value,
    events: mpsc::Sender<Result<pb::invoke_action::Event, Status>>,
    provider_name: String,
) {
    let (progress, mut messages) = Progress::channel(STREAM_BUFFER);
    let cancel = ctx.cancel.clone();
    let type_name = action.type_name();
    let mut invocation = tokio::spawn(async move { action.invoke(&ctx, config, progress).await });
    let mut outcome = None;
    loop {
        tokio::select! {
            Some(message) = messages.recv() => {
                if events.send(Ok(action_progress(message))).await.is_err() {
                    break;
                }
            }
            result = &mut invocation => {
                outcome = Some(result);
                break;
            }
            () = events.closed() => break,
        }
    }
    let result = match outcome {
        Some(result) => {
            // What the action sent just before returning is still buffered.
            while let Ok(message) = messages.try_recv() {
                if events.send(Ok(action_progress(message))).await.is_err() {
                    break;
                }
            }
            result
        }
        None => {
            tracing::debug!(
                action = type_name,
                "Terraform dropped the action invocation; cancelling it"
            );
            cancel.cancel();
            // Its progress sends must not wait for a reader that is gone.
            drop(messages);
            invocation.await
        }
    };
    let diagnostics = result.unwrap_or_else(|_| panicked("action", &provider_name));
    let _ = events.send(Ok(action_completed(diagnostics))).await;
}

/// Runs a listing on its own task and streams its results as they come,
/// ending the stream after `limit` found objects (the listing's ctx is
/// cancelled then, as when Terraform drops the call).
async fn stream_list(
    list: Arc<dyn ListResource>,
    ctx: Ctx,
    request: ListRequest,
    encoding: ListEncoding,
    events: mpsc::Sender<Result<pb::list_resource::Event, Status>>,
) {
    let include_resource_object = request.include_resource_object;
    let limit = (request.limit > 0).then_some(request.limit);
    let (results, mut found) = ListResults::channel(STREAM_BUFFER);
    let cancel = ctx.cancel.clone();
    let listing = tokio::spawn(async move { list.list(&ctx, request, results).await });
    let mut sent: i64 = 0;
    // Ends when the listing dropped its handle (it returned), Terraform
    // dropped the stream, or the limit is reached.
    loop {
        if limit.is_some_and(|limit| sent >= limit) {
            break;
        }
        let result = tokio::select! {
            result = found.recv() => result,
            () = events.closed() => None,
        };
        let Some(result) = result else { break };
        let counts = !result.identity.is_null();
        let event = encoding.event(result, include_resource_object);
        if events.send(Ok(event)).await.is_err() {
            break;
        }
        sent += i64::from(counts);
    }
    // Nothing more is read: pending and later sends fail, telling the listing to stop.
    drop(found);
    if events.is_closed() || limit.is_some_and(|limit| sent >= limit) {
        // The stream ends now (`events` is dropped); the listing winds down on its own.
        cancel.cancel();
        return;
    }
    let diagnostics = listing
        .await
        .unwrap_or_else(|_| panicked("listing", &encoding.provider_name));
    if !diagnostics.is_empty() {
        let _ = events.send(Ok(list_diagnostics_event(diagnostics))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::Diagnostics;
    use crate::provider::{EphemeralResource, Provider, Resource};
    use crate::schema::{Block, Schema};

    struct Empty;

    #[async_trait::async_trait]
    impl Provider for Empty {
        fn schema(&self) -> Schema {
            Schema::new(0, Block::new("test", vec![]))
        }
        fn resources(&self) -> Vec<Arc<dyn Resource>> {
            Vec::new()
        }
        fn ephemeral_resources(&self) -> Vec<Arc<dyn EphemeralResource>> {
            Vec::new()
        }
        async fn configure(&self, _v: &str, _c: &Value) -> Diagnostics {
            Diagnostics::new()
        }
    }

    #[tokio::test]
    async fn stop_provider_cancels_work_in_flight_and_later_work_starts_fresh() {
        let server = ProviderServer::new(Arc::new(Empty), "test");
        let in_flight = server.ctx();
        assert!(!in_flight.is_cancelled());
        server
            .stop_provider(Request::new(pb::stop_provider::Request {}))
            .await
            .unwrap();
        assert!(in_flight.is_cancelled(), "work in progress sees the stop");
        assert!(
            !server.ctx().is_cancelled(),
            "a later call is not born cancelled"
        );
    }

    #[tokio::test]
    async fn unknown_resource_types_answer_a_diagnostic_naming_them() {
        let server = ProviderServer::new(Arc::new(Empty), "test");
        let response = server
            .validate_resource_config(Request::new(pb::validate_resource_config::Request {
                type_name: "mke_nope".into(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            response.diagnostics[0].detail,
            "The test provider has no resource type named \"mke_nope\"."
        );
    }
}

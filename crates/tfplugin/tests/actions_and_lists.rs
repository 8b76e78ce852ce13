//! Actions and list resources through the generated tfplugin6 client, as
//! Terraform 1.14+ calls them: a test provider served over loopback gRPC.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tfplugin::proto::tfplugin6 as pb;
use tfplugin::proto::tfplugin6::provider_client::ProviderClient;
use tfplugin::proto::tfplugin6::provider_server::ProviderServer as ProviderService;
use tfplugin::server::ProviderServer;
use tfplugin::tfvalue::{Type, Value};
use tfplugin::{
    Action, ActionPlan, Attribute, Block, ClientCapabilities, Ctx, Deferral, Diagnostics,
    EphemeralResource, IdentityAttribute, IdentitySchema, ListRequest, ListResource, ListResult,
    ListResults, Progress, Provider, Resource, Schema, StateOutcome,
};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// Guards awaits that a bug would leave hanging; never used to wait for work.
const HANG_GUARD: Duration = Duration::from_secs(10);

fn host_schema() -> Schema {
    Schema::new(
        0,
        Block::new(
            "A host.",
            vec![
                Attribute::string("address").required(),
                Attribute::number("port").optional(),
            ],
        ),
    )
}

fn host_identity_schema() -> IdentitySchema {
    IdentitySchema {
        version: 0,
        attributes: vec![IdentityAttribute {
            name: "address".into(),
            ty: Type::String,
            required_for_import: true,
            description: String::new(),
        }],
    }
}

fn object(fields: &[(&str, Value)]) -> Value {
    Value::Object(
        fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
    )
}

struct HostResource;

#[async_trait::async_trait]
impl Resource for HostResource {
    fn type_name(&self) -> &'static str {
        "test_host"
    }
    fn schema(&self) -> Schema {
        host_schema()
    }
    fn identity_schema(&self) -> Option<IdentitySchema> {
        Some(host_identity_schema())
    }
    fn validate(&self, _config: &Value) -> Diagnostics {
        Diagnostics::new()
    }
    async fn create(&self, _ctx: &Ctx, planned: Value, _config: Value) -> StateOutcome {
        StateOutcome {
            state: planned,
            ..Default::default()
        }
    }
    async fn update(
        &self,
        _ctx: &Ctx,
        _prior: Value,
        planned: Value,
        _config: Value,
        private: Vec<u8>,
    ) -> StateOutcome {
        StateOutcome {
            state: planned,
            private,
            ..Default::default()
        }
    }
    async fn delete(&self, _ctx: &Ctx, _prior: Value, _private: Vec<u8>) -> Diagnostics {
        Diagnostics::new()
    }
    async fn read(&self, _ctx: &Ctx, state: Value, private: Vec<u8>) -> StateOutcome {
        StateOutcome {
            state,
            private,
            ..Default::default()
        }
    }
    async fn import(&self, _ctx: &Ctx, _id: &str) -> StateOutcome {
        StateOutcome::default()
    }
}

fn restart_schema() -> Schema {
    Schema::new(
        0,
        Block::new(
            "Restarts a host.",
            vec![Attribute::string("host").required()],
        ),
    )
}

/// Reports two steps, then completes.
struct RestartAction;

#[async_trait::async_trait]
impl Action for RestartAction {
    fn type_name(&self) -> &'static str {
        "test_restart"
    }
    fn schema(&self) -> Schema {
        restart_schema()
    }
    fn validate(&self, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        if config.get_attr("host").as_str() == Some("") {
            d.error("Empty host", "host must name a host.");
        }
        d
    }
    async fn plan(
        &self,
        _ctx: &Ctx,
        config: &Value,
        _capabilities: ClientCapabilities,
    ) -> ActionPlan {
        ActionPlan {
            diagnostics: Diagnostics::new(),
            deferral: config
                .get_attr("host")
                .is_unknown()
                .then_some(Deferral::ResourceConfigUnknown),
        }
    }
    async fn invoke(&self, _ctx: &Ctx, config: Value, progress: Progress) -> Diagnostics {
        let host = config.get_attr("host").as_str().unwrap_or("?").to_string();
        progress.send(format!("stopping {host}")).await;
        progress.send(format!("starting {host}")).await;
        Diagnostics::new()
    }
}

/// Reports once, then waits to be cancelled and says so on `cancelled`.
struct WaitAction {
    cancelled: mpsc::Sender<()>,
}

#[async_trait::async_trait]
impl Action for WaitAction {
    fn type_name(&self) -> &'static str {
        "test_wait"
    }
    fn schema(&self) -> Schema {
        Schema::new(0, Block::new("Waits.", vec![]))
    }
    fn validate(&self, _config: &Value) -> Diagnostics {
        Diagnostics::new()
    }
    async fn invoke(&self, ctx: &Ctx, _config: Value, progress: Progress) -> Diagnostics {
        progress.send("waiting").await;
        ctx.cancel.cancelled().await;
        let _ = self.cancelled.send(()).await;
        Diagnostics::new()
    }
}

/// Finds five hosts, `10.0.0.1` to `10.0.0.5` (with their objects), and warns when done.
struct HostList {
    /// The ctx of the latest listing, so tests can see it cancelled.
    last_ctx: Mutex<Option<CancellationToken>>,
}

#[async_trait::async_trait]
impl ListResource for HostList {
    fn type_name(&self) -> &'static str {
        "test_host"
    }
    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new("Hosts.", vec![Attribute::string("subnet").optional()]),
        )
    }
    fn validate(&self, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        if config.get_attr("subnet").as_str() == Some("nope") {
            d.error("Bad subnet", "\"nope\" is not a subnet.");
        }
        d
    }
    async fn list(&self, ctx: &Ctx, _request: ListRequest, results: ListResults) -> Diagnostics {
        *self.last_ctx.lock().unwrap() = Some(ctx.cancel.clone());
        for i in 1..=5 {
            let address = format!("10.0.0.{i}");
            // Sent whatever `include_resource_object` says: the server drops
            // what Terraform did not ask for.
            let result = ListResult::found(
                object(&[("address", Value::from(address.as_str()))]),
                format!("host {address}"),
            )
            .with_resource_object(object(&[
                ("address", Value::from(address.as_str())),
                ("port", Value::Number(22.into())),
            ]));
            if results.send(result).await.is_err() {
                return Diagnostics::new();
            }
        }
        let mut d = Diagnostics::new();
        d.warning("Listing done", "All five hosts were found.");
        d
    }
}

struct TestProvider {
    actions: Vec<Arc<dyn Action>>,
    list: Arc<HostList>,
}

#[async_trait::async_trait]
impl Provider for TestProvider {
    fn schema(&self) -> Schema {
        Schema::new(0, Block::new("test", vec![]))
    }
    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        vec![Arc::new(HostResource)]
    }
    fn ephemeral_resources(&self) -> Vec<Arc<dyn EphemeralResource>> {
        Vec::new()
    }
    fn actions(&self) -> Vec<Arc<dyn Action>> {
        self.actions.clone()
    }
    fn list_resources(&self) -> Vec<Arc<dyn ListResource>> {
        vec![self.list.clone()]
    }
    async fn configure(&self, _version: &str, _config: &Value) -> Diagnostics {
        Diagnostics::new()
    }
}

/// Only what every provider must have: no actions, no list resources.
struct BareProvider;

#[async_trait::async_trait]
impl Provider for BareProvider {
    fn schema(&self) -> Schema {
        Schema::new(0, Block::new("test", vec![]))
    }
    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        Vec::new()
    }
    fn ephemeral_resources(&self) -> Vec<Arc<dyn EphemeralResource>> {
        Vec::new()
    }
    async fn configure(&self, _version: &str, _config: &Value) -> Diagnostics {
        Diagnostics::new()
    }
}

struct Fixture {
    client: ProviderClient<Channel>,
    list: Arc<HostList>,
    wait_cancelled: mpsc::Receiver<()>,
}

async fn fixture() -> Fixture {
    let (cancelled, wait_cancelled) = mpsc::channel(1);
    let list = Arc::new(HostList {
        last_ctx: Mutex::new(None),
    });
    let provider = TestProvider {
        actions: vec![Arc::new(RestartAction), Arc::new(WaitAction { cancelled })],
        list: list.clone(),
    };
    Fixture {
        client: serve(Arc::new(provider)).await,
        list,
        wait_cancelled,
    }
}

/// Serves `provider` on a loopback port and connects the generated client to it.
async fn serve(provider: Arc<dyn Provider>) -> ProviderClient<Channel> {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("local address");
    let (connections, incoming) = mpsc::channel(4);
    tokio::spawn(async move {
        loop {
            let accepted = listener.accept().await.map(|(stream, _)| stream);
            if connections.send(accepted).await.is_err() {
                break;
            }
        }
    });
    let service = ProviderService::new(ProviderServer::new(provider, "test"));
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(ReceiverStream::new(incoming)),
    );
    ProviderClient::connect(format!("http://{address}"))
        .await
        .expect("connect")
}

fn dynamic(value: &Value, schema: &Schema) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue {
        msgpack: value.to_msgpack(&schema.value_type()).expect("encode"),
        json: Vec::new(),
    })
}

fn restart_config(host: Value) -> Option<pb::DynamicValue> {
    dynamic(&object(&[("host", host)]), &restart_schema())
}

fn invoke_request(
    action_type: &str,
    config: Option<pb::DynamicValue>,
) -> pb::invoke_action::Request {
    pb::invoke_action::Request {
        action_type: action_type.into(),
        config,
        client_capabilities: None,
    }
}

/// What the user would see of an invocation: progress messages, then the completion's diagnostics.
#[derive(Debug, PartialEq)]
enum Seen {
    Progress(String),
    Completed(Vec<(String, String)>),
}

async fn invoke(
    client: &mut ProviderClient<Channel>,
    request: pb::invoke_action::Request,
) -> Vec<Seen> {
    let mut stream = client.invoke_action(request).await.unwrap().into_inner();
    let mut seen = Vec::new();
    while let Some(event) = tokio::time::timeout(HANG_GUARD, stream.message())
        .await
        .expect("the stream ends")
        .unwrap()
    {
        use pb::invoke_action::event::Type;
        seen.push(match event.r#type.expect("an event type") {
            Type::Progress(p) => Seen::Progress(p.message),
            Type::Completed(c) => Seen::Completed(summaries(&c.diagnostics)),
        });
    }
    seen
}

fn summaries(diagnostics: &[pb::Diagnostic]) -> Vec<(String, String)> {
    diagnostics
        .iter()
        .map(|d| (d.summary.clone(), d.detail.clone()))
        .collect()
}

fn list_request(limit: i64, include_resource_object: bool) -> pb::list_resource::Request {
    let schema = Schema::new(
        0,
        Block::new("", vec![Attribute::string("subnet").optional()]),
    );
    pb::list_resource::Request {
        type_name: "test_host".into(),
        config: dynamic(&object(&[("subnet", Value::Null)]), &schema),
        include_resource_object,
        limit,
    }
}

async fn list(
    client: &mut ProviderClient<Channel>,
    request: pb::list_resource::Request,
) -> Vec<pb::list_resource::Event> {
    let mut stream = client.list_resource(request).await.unwrap().into_inner();
    let mut events = Vec::new();
    while let Some(event) = tokio::time::timeout(HANG_GUARD, stream.message())
        .await
        .expect("the stream ends")
        .unwrap()
    {
        events.push(event);
    }
    events
}

fn identity_address(event: &pb::list_resource::Event) -> String {
    let data = event
        .identity
        .as_ref()
        .and_then(|i| i.identity_data.as_ref())
        .expect("an identity");
    let identity = Value::from_msgpack(&data.msgpack, &host_identity_schema().value_type())
        .expect("identity decodes with the resource's identity schema");
    identity.get_attr("address").as_str().unwrap().to_string()
}

#[tokio::test]
async fn an_action_streams_its_progress_then_completes() {
    let mut f = fixture().await;
    let seen = invoke(
        &mut f.client,
        invoke_request("test_restart", restart_config("10.0.0.7".into())),
    )
    .await;
    assert_eq!(
        seen,
        vec![
            Seen::Progress("stopping 10.0.0.7".into()),
            Seen::Progress("starting 10.0.0.7".into()),
            Seen::Completed(vec![]),
        ]
    );
}

#[tokio::test]
async fn an_unknown_action_completes_with_a_diagnostic_naming_it() {
    let mut f = fixture().await;
    let seen = invoke(&mut f.client, invoke_request("test_nope", None)).await;
    assert_eq!(
        seen,
        vec![Seen::Completed(vec![(
            "Unknown action".into(),
            "The test provider has no action named \"test_nope\".".into()
        )])]
    );
    let validated = f
        .client
        .validate_action_config(pb::validate_action_config::Request {
            action_type: "test_nope".into(),
            config: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        summaries(&validated.diagnostics),
        vec![(
            "Unknown action".into(),
            "The test provider has no action named \"test_nope\".".into()
        )]
    );
}

#[tokio::test]
async fn a_provider_without_actions_or_lists_says_it_offers_none() {
    let mut client = serve(Arc::new(BareProvider)).await;
    let seen = invoke(&mut client, invoke_request("test_restart", None)).await;
    assert_eq!(
        seen,
        vec![Seen::Completed(vec![(
            "This provider has no action \"test_restart\"".into(),
            "The test provider offers no actions; \"test_restart\" cannot be used with it.".into()
        )])]
    );
    let events = list(&mut client, list_request(3, false)).await;
    assert_eq!(events.len(), 1);
    assert!(events[0].identity.is_none());
    assert_eq!(
        summaries(&events[0].diagnostic),
        vec![(
            "This provider has no list resource \"test_host\"".into(),
            "The test provider offers no list resources; \"test_host\" cannot be used with it."
                .into()
        )]
    );
}

#[tokio::test]
async fn action_validation_reaches_the_action() {
    let mut f = fixture().await;
    let response = f
        .client
        .validate_action_config(pb::validate_action_config::Request {
            action_type: "test_restart".into(),
            config: restart_config("".into()),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        summaries(&response.diagnostics),
        vec![("Empty host".into(), "host must name a host.".into())]
    );
}

#[tokio::test]
async fn an_action_defers_only_where_the_client_allows_it() {
    let f = fixture().await;
    let plan = |deferral_allowed| {
        let request = pb::plan_action::Request {
            action_type: "test_restart".into(),
            config: restart_config(Value::Unknown),
            client_capabilities: Some(pb::ClientCapabilities {
                deferral_allowed,
                write_only_attributes_allowed: false,
            }),
        };
        let mut client = f.client.clone();
        async move { client.plan_action(request).await.unwrap().into_inner() }
    };
    let allowed = plan(true).await;
    assert!(allowed.diagnostics.is_empty(), "{:?}", allowed.diagnostics);
    assert_eq!(
        allowed.deferred.map(|d| d.reason),
        Some(pb::deferred::Reason::ResourceConfigUnknown as i32)
    );
    let refused = plan(false).await;
    assert_eq!(refused.deferred, None);
    assert_eq!(
        refused.diagnostics[0].summary,
        "Action deferred, but the client cannot defer"
    );
}

#[tokio::test]
async fn dropping_an_invocation_cancels_the_action() {
    let mut f = fixture().await;
    let mut stream = f
        .client
        .invoke_action(invoke_request(
            "test_wait",
            dynamic(&object(&[]), &Schema::new(0, Block::new("", vec![]))),
        ))
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().expect("a progress event");
    assert_eq!(
        first.r#type,
        Some(pb::invoke_action::event::Type::Progress(
            pb::invoke_action::event::Progress {
                message: "waiting".into()
            }
        ))
    );
    drop(stream);
    tokio::time::timeout(HANG_GUARD, f.wait_cancelled.recv())
        .await
        .expect("the action sees the cancellation")
        .expect("the action reports it");
}

#[tokio::test]
async fn a_list_stops_at_the_limit_and_the_listing_is_told_to_stop() {
    let mut f = fixture().await;
    let events = list(&mut f.client, list_request(3, true)).await;
    let addresses: Vec<_> = events.iter().map(identity_address).collect();
    assert_eq!(addresses, ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    assert_eq!(events[0].display_name, "host 10.0.0.1");
    let object = Value::from_msgpack(
        &events[0]
            .resource_object
            .as_ref()
            .expect("an object")
            .msgpack,
        &host_schema().value_type(),
    )
    .expect("the object decodes with the resource's schema");
    assert_eq!(object.get_attr("port"), &Value::Number(22.into()));
    let ctx = f.list.last_ctx.lock().unwrap().clone().expect("listed");
    tokio::time::timeout(HANG_GUARD, ctx.cancelled())
        .await
        .expect("the listing's ctx is cancelled at the limit");
}

#[tokio::test]
async fn a_list_without_resource_objects_sends_identities_only() {
    let mut f = fixture().await;
    let events = list(&mut f.client, list_request(5, false)).await;
    assert_eq!(events.len(), 5);
    assert!(events.iter().all(|e| e.resource_object.is_none()));
    assert_eq!(identity_address(&events[4]), "10.0.0.5");
}

#[tokio::test]
async fn a_list_without_a_limit_sends_everything_then_the_listings_diagnostics() {
    let mut f = fixture().await;
    let events = list(&mut f.client, list_request(0, false)).await;
    assert_eq!(events.len(), 6);
    let last = &events[5];
    assert!(last.identity.is_none());
    assert_eq!(
        summaries(&last.diagnostic),
        vec![("Listing done".into(), "All five hosts were found.".into())]
    );
}

#[tokio::test]
async fn list_validation_reaches_the_list_resource() {
    let mut f = fixture().await;
    let schema = Schema::new(
        0,
        Block::new("", vec![Attribute::string("subnet").optional()]),
    );
    let response = f
        .client
        .validate_list_resource_config(pb::validate_list_resource_config::Request {
            type_name: "test_host".into(),
            config: dynamic(&object(&[("subnet", "nope".into())]), &schema),
            include_resource_object: None,
            limit: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        summaries(&response.diagnostics),
        vec![("Bad subnet".into(), "\"nope\" is not a subnet.".into())]
    );
}

#[tokio::test]
async fn actions_and_list_resources_appear_in_schema_and_metadata() {
    let mut f = fixture().await;
    let schema = f
        .client
        .get_provider_schema(pb::get_provider_schema::Request {})
        .await
        .unwrap()
        .into_inner();
    let mut actions: Vec<_> = schema.action_schemas.keys().cloned().collect();
    actions.sort();
    assert_eq!(actions, ["test_restart", "test_wait"]);
    let restart = schema.action_schemas["test_restart"]
        .schema
        .as_ref()
        .and_then(|s| s.block.as_ref())
        .expect("the action's schema");
    assert_eq!(restart.attributes[0].name, "host");
    assert!(restart.attributes[0].required);
    let list = schema.list_resource_schemas["test_host"]
        .block
        .as_ref()
        .expect("the list's schema");
    assert_eq!(list.attributes[0].name, "subnet");
    assert_eq!(schema.list_resource_schemas.len(), 1);

    let metadata = f
        .client
        .get_metadata(pb::get_metadata::Request {})
        .await
        .unwrap()
        .into_inner();
    let actions: Vec<_> = metadata.actions.into_iter().map(|a| a.type_name).collect();
    assert_eq!(actions, ["test_restart", "test_wait"]);
    let lists: Vec<_> = metadata
        .list_resources
        .into_iter()
        .map(|l| l.type_name)
        .collect();
    assert_eq!(lists, ["test_host"]);
}

/// A list resource registered without the managed resource it lists.
struct OrphanListProvider;

#[async_trait::async_trait]
impl Provider for OrphanListProvider {
    fn schema(&self) -> Schema {
        Schema::new(0, Block::new("test", vec![]))
    }
    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        Vec::new()
    }
    fn ephemeral_resources(&self) -> Vec<Arc<dyn EphemeralResource>> {
        Vec::new()
    }
    fn list_resources(&self) -> Vec<Arc<dyn ListResource>> {
        vec![Arc::new(HostList {
            last_ctx: Mutex::new(None),
        })]
    }
    async fn configure(&self, _version: &str, _config: &Value) -> Diagnostics {
        Diagnostics::new()
    }
}

#[tokio::test]
async fn a_list_resource_without_its_managed_resource_is_reported_as_a_provider_bug() {
    let mut client = serve(Arc::new(OrphanListProvider)).await;
    let expected = vec![(
        "List resource without a matching managed resource".to_string(),
        "This is a bug in the test provider: the list resource \"test_host\" has no managed resource type of that name."
            .to_string(),
    )];
    let validated = client
        .validate_list_resource_config(pb::validate_list_resource_config::Request {
            type_name: "test_host".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(summaries(&validated.diagnostics), expected);
    let events = list(&mut client, list_request(3, false)).await;
    assert_eq!(events.len(), 1);
    assert_eq!(summaries(&events[0].diagnostic), expected);
}

#[tokio::test]
async fn an_unknown_list_resource_type_is_named() {
    let mut f = fixture().await;
    let mut request = list_request(3, false);
    request.type_name = "test_nope".into();
    let events = list(&mut f.client, request).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        summaries(&events[0].diagnostic),
        vec![(
            "Unknown list resource type".into(),
            "The test provider has no list resource type named \"test_nope\".".into()
        )]
    );
}

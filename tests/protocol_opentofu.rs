//! The plugin as an OpenTofu client sees it, without OpenTofu (no `tofu`
//! build can be installed here). The client says what OpenTofu says: its
//! own version in `ConfigureProvider` (1.6 onwards), no deferral allowed and
//! no write-only attributes (`ClientCapabilities`), and no resource identity
//! in what it sends (OpenTofu stores none before 1.12). Every call must
//! answer with a result or a diagnostic a person can act on: never a gRPC
//! error, never a deferral, never a dead plugin.
//!
//! The features the provider uses and the first OpenTofu version with each
//! are listed in `docs/index.md` (OpenTofu section); this test is what keeps
//! that list honest. Hosts are named by loopback addresses only: a read or
//! an import that connects finds a closed port at once.

mod support;

use std::collections::BTreeMap;

use support::plugin::{self, ClientCert, Plugin};
use tfplugin::proto::tfplugin6 as pb;
use tfplugin::proto::tfplugin6::provider_client::ProviderClient;
use tfplugin::tfvalue::{Type, Value};
use tonic::transport::Channel;

/// What OpenTofu sends (1.11.4 and later; 1.6 to 1.10 send none, which
/// reads the same): the provider may not defer, and no schema may use
/// write-only attributes.
const OPENTOFU: pb::ClientCapabilities = pb::ClientCapabilities {
    deferral_allowed: false,
    write_only_attributes_allowed: false,
};

/// A loopback port nothing listens on: connecting fails at once.
const CLOSED: &str = "127.0.0.1:1";

struct Tofu {
    plugin: Plugin,
    provider: ProviderClient<Channel>,
}

fn string(s: &str) -> Value {
    Value::String(s.to_string())
}

fn object(fields: &[(&str, Value)]) -> Value {
    Value::Object(
        fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

fn dynamic(value: &Value, ty: &Type) -> Option<pb::DynamicValue> {
    Some(plugin::dynamic_value(value, ty))
}

fn cluster_type() -> Type {
    terraform_provider_mke::resources::cluster::schema().value_type()
}

fn node_type() -> Type {
    terraform_provider_mke::resources::node::schema().value_type()
}

/// `controllers` with one controller `c1` at `127.0.0.1`, port 1.
fn loopback_controllers() -> Value {
    Value::Map(BTreeMap::from([(
        "c1".to_string(),
        object(&[
            ("address", string("127.0.0.1")),
            ("port", Value::Number(1i64.into())),
        ]),
    )]))
}

/// `value` with every unknown part null: what a planned state looks like
/// once stored, for the attributes an apply never got to fill.
fn known_or_null(value: Value) -> Value {
    match value {
        Value::Unknown => Value::Null,
        Value::List(v) => Value::List(v.into_iter().map(known_or_null).collect()),
        Value::Set(v) => Value::Set(v.into_iter().map(known_or_null).collect()),
        Value::Tuple(v) => Value::Tuple(v.into_iter().map(known_or_null).collect()),
        Value::Map(m) => Value::Map(m.into_iter().map(|(k, v)| (k, known_or_null(v))).collect()),
        Value::Object(m) => {
            Value::Object(m.into_iter().map(|(k, v)| (k, known_or_null(v))).collect())
        }
        other => other,
    }
}

/// Every diagnostic says what happened and what to look at: a summary and a
/// detail, and no sign of an internal failure.
fn assert_clear(what: &str, diagnostics: &[pb::Diagnostic]) {
    for d in diagnostics {
        assert!(
            !d.summary.trim().is_empty() && !d.detail.trim().is_empty(),
            "{what}: a diagnostic without summary or detail: {d:?}"
        );
        let text = format!("{} {}", d.summary, d.detail).to_lowercase();
        for sign in ["panic", "this is a bug", "unwrap", "internal error"] {
            assert!(
                !text.contains(sign),
                "{what}: the diagnostic reads like a crash: {d:?}"
            );
        }
    }
}

fn errors(diagnostics: &[pb::Diagnostic]) -> Vec<&pb::Diagnostic> {
    diagnostics
        .iter()
        .filter(|d| d.severity == pb::diagnostic::Severity::Error as i32)
        .collect()
}

impl Tofu {
    /// A plugin configured by "OpenTofu `version`" with [`OPENTOFU`]'s capabilities.
    async fn start(version: &str) -> (Tofu, Vec<pb::Diagnostic>) {
        let cert: ClientCert = plugin::client_cert();
        let plugin = plugin::start(Some(&cert));
        let channel = plugin::connect(&plugin.handshake, Some(&cert))
            .await
            .expect("connect to the plugin");
        let mut provider = plugin::provider_client(channel);
        let schema = terraform_provider_mke::provider::schema();
        let config = object(&[("ssh", object(&[("timeout", string("5s"))]))]);
        let diagnostics = provider
            .configure_provider(pb::configure_provider::Request {
                terraform_version: version.into(),
                config: dynamic(&config, &schema.value_type()),
                client_capabilities: Some(OPENTOFU),
            })
            .await
            .expect("ConfigureProvider answers")
            .into_inner()
            .diagnostics;
        (Tofu { plugin, provider }, diagnostics)
    }

    async fn configured(version: &str) -> Tofu {
        let (tofu, diagnostics) = Tofu::start(version).await;
        assert!(
            diagnostics.is_empty(),
            "OpenTofu {version} is refused: {diagnostics:?}"
        );
        tofu
    }

    fn client(&self) -> ProviderClient<Channel> {
        self.provider.clone()
    }

    /// A create plan as OpenTofu asks for it: no prior state, no prior identity.
    async fn plan_create(
        &self,
        type_name: &str,
        ty: &Type,
        config: &Value,
    ) -> pb::plan_resource_change::Response {
        self.client()
            .plan_resource_change(pb::plan_resource_change::Request {
                type_name: type_name.into(),
                prior_state: dynamic(&Value::Null, ty),
                proposed_new_state: dynamic(config, ty),
                config: dynamic(config, ty),
                prior_private: Vec::new(),
                provider_meta: None,
                client_capabilities: Some(OPENTOFU),
                prior_identity: None,
            })
            .await
            .unwrap_or_else(|status| panic!("PlanResourceChange({type_name}): {status}"))
            .into_inner()
    }

    /// The plugin process is still there and still answers.
    async fn assert_alive(&mut self) {
        assert!(
            self.plugin.child.try_wait().unwrap().is_none(),
            "the plugin exited"
        );
        let schema = self
            .client()
            .get_provider_schema(pb::get_provider_schema::Request {})
            .await
            .expect("the plugin still answers")
            .into_inner();
        assert!(schema.resource_schemas.contains_key("mke_cluster"));
    }
}

fn write_only_attributes(block: &pb::schema::Block, path: &str, found: &mut Vec<String>) {
    for attribute in &block.attributes {
        let here = format!("{path}.{}", attribute.name);
        if attribute.write_only {
            found.push(here.clone());
        }
        if let Some(nested) = &attribute.nested_type {
            let inner = pb::schema::Block {
                attributes: nested.attributes.clone(),
                ..Default::default()
            };
            write_only_attributes(&inner, &here, found);
        }
    }
    for nested in &block.block_types {
        if let Some(inner) = &nested.block {
            write_only_attributes(inner, &format!("{path}.{}", nested.type_name), found);
        }
    }
}

#[tokio::test]
async fn the_schema_asks_an_opentofu_client_for_nothing_it_lacks() {
    let tofu = Tofu::configured("1.6.0").await;
    let schema = tofu
        .client()
        .get_provider_schema(pb::get_provider_schema::Request {})
        .await
        .unwrap()
        .into_inner();
    assert!(schema.diagnostics.is_empty(), "{:?}", schema.diagnostics);

    // Write-only attributes need OpenTofu 1.11 and a client that allows them.
    let mut write_only = Vec::new();
    let provider = schema.provider.as_ref().and_then(|s| s.block.as_ref());
    write_only_attributes(provider.unwrap(), "provider", &mut write_only);
    for (kind, schemas) in [
        ("resource", &schema.resource_schemas),
        ("ephemeral", &schema.ephemeral_resource_schemas),
    ] {
        for (name, s) in schemas {
            if let Some(block) = &s.block {
                write_only_attributes(block, &format!("{kind} {name}"), &mut write_only);
            }
        }
    }
    assert!(
        write_only.is_empty(),
        "write-only attributes break OpenTofu before 1.11 and any client that does not allow them: {write_only:?}"
    );

    // OpenTofu has no list resources, actions or state stores (as of 1.12):
    // the provider offers only the `mke_backup` action and the `mke_node` and
    // `mke_cluster` list resources, in fields OpenTofu's copy of the protocol
    // lacks, so its decoder skips them (unknown protobuf fields). Nothing
    // else depends on them.
    let mut lists: Vec<&String> = schema.list_resource_schemas.keys().collect();
    lists.sort();
    assert_eq!(lists, ["mke_cluster", "mke_node"]);
    let actions: Vec<&String> = schema.action_schemas.keys().collect();
    assert_eq!(actions, ["mke_backup"]);
    assert!(schema.state_store_schemas.is_empty());
    assert!(schema.functions.is_empty());
    // Ephemeral resources reach OpenTofu 1.11 and later; older clients skip the field.
    let mut ephemeral: Vec<&String> = schema.ephemeral_resource_schemas.keys().collect();
    ephemeral.sort();
    assert_eq!(ephemeral, ["mke_kubeconfig"]);
    let caps = schema.server_capabilities.unwrap();
    assert!(
        !caps.move_resource_state && !caps.generate_resource_config,
        "capabilities OpenTofu would act on: {caps:?}"
    );
}

#[tokio::test]
async fn every_opentofu_version_is_accepted_and_terraform_1_4_still_refused() {
    for version in ["1.6.0", "1.7.10", "1.8.0", "1.10.6", "1.11.4", "1.12.0"] {
        let (mut tofu, diagnostics) = Tofu::start(version).await;
        assert!(
            diagnostics.is_empty(),
            "OpenTofu {version} is refused: {diagnostics:?}"
        );
        tofu.assert_alive().await;
    }
    let (mut old, diagnostics) = Tofu::start("1.4.7").await;
    assert_clear("ConfigureProvider 1.4.7", &diagnostics);
    let refusal = errors(&diagnostics);
    assert_eq!(refusal.len(), 1, "{diagnostics:?}");
    assert!(
        refusal[0].detail.contains("1.4.7") || refusal[0].summary.contains("1.4.7"),
        "the refusal names the version: {refusal:?}"
    );
    old.assert_alive().await;
}

#[tokio::test]
async fn values_unknown_until_apply_are_planned_never_deferred() {
    let tofu = Tofu::configured("1.6.0").await;

    // The whole controllers map comes from elsewhere (a module output).
    let cluster = object(&[("name", string("tofu")), ("controllers", Value::Unknown)]);
    let plan = tofu
        .plan_create("mke_cluster", &cluster_type(), &cluster)
        .await;
    assert!(plan.deferred.is_none(), "deferred: {:?}", plan.deferred);
    assert_clear("plan of mke_cluster", &plan.diagnostics);
    assert!(
        errors(&plan.diagnostics).is_empty(),
        "{:?}",
        plan.diagnostics
    );
    let planned = plugin::decode_value(plan.planned_state.as_ref(), &cluster_type());
    assert!(
        planned.get_attr("id").is_unknown(),
        "id is known after apply: {planned:?}"
    );

    // A worker of a cluster created in the same run: everything it takes
    // from the cluster is unknown at plan time.
    let node = object(&[
        ("cluster_id", Value::Unknown),
        ("controllers", Value::Unknown),
        ("k0s_version", Value::Unknown),
        ("address", string("127.0.0.1")),
    ]);
    let plan = tofu.plan_create("mke_node", &node_type(), &node).await;
    assert!(plan.deferred.is_none(), "deferred: {:?}", plan.deferred);
    assert_clear("plan of mke_node", &plan.diagnostics);
    assert!(
        errors(&plan.diagnostics).is_empty(),
        "{:?}",
        plan.diagnostics
    );
    assert!(plan.planned_state.is_some());
}

#[tokio::test]
async fn state_without_identity_reads_and_imports_by_id_with_clear_diagnostics() {
    let tofu = Tofu::configured("1.8.0").await;
    let ty = cluster_type();

    // A state as OpenTofu before 1.12 keeps it: no identity next to it.
    let config = object(&[
        ("name", string("tofu")),
        ("controllers", loopback_controllers()),
    ]);
    let plan = tofu.plan_create("mke_cluster", &ty, &config).await;
    assert!(
        errors(&plan.diagnostics).is_empty(),
        "{:?}",
        plan.diagnostics
    );
    let state = known_or_null(plugin::decode_value(plan.planned_state.as_ref(), &ty));
    let read = tofu
        .client()
        .read_resource(pb::read_resource::Request {
            type_name: "mke_cluster".into(),
            current_state: dynamic(&state, &ty),
            private: Vec::new(),
            provider_meta: None,
            client_capabilities: Some(OPENTOFU),
            current_identity: None,
        })
        .await
        .expect("ReadResource answers")
        .into_inner();
    assert!(read.deferred.is_none(), "deferred: {:?}", read.deferred);
    assert_clear("read of an unreachable controller", &read.diagnostics);
    assert!(
        read.diagnostics
            .iter()
            .any(|d| format!("{} {}", d.summary, d.detail).contains("127.0.0.1")),
        "the diagnostics name the controller: {:?}",
        read.diagnostics
    );
    assert!(read.new_state.is_some(), "the state comes back");

    // Import by ID: the only way before OpenTofu 1.12.
    let import = tofu
        .client()
        .import_resource_state(pb::import_resource_state::Request {
            type_name: "mke_cluster".into(),
            id: format!("c1={CLOSED}"),
            client_capabilities: Some(OPENTOFU),
            identity: None,
        })
        .await
        .expect("ImportResourceState answers")
        .into_inner();
    assert!(import.deferred.is_none(), "deferred: {:?}", import.deferred);
    assert!(import.imported_resources.is_empty());
    assert_clear("import of an unreachable controller", &import.diagnostics);
    let failed = errors(&import.diagnostics);
    assert!(
        failed
            .iter()
            .any(|d| format!("{} {}", d.summary, d.detail).contains("127.0.0.1")),
        "the error names the controller: {:?}",
        import.diagnostics
    );

    // Neither an ID nor an identity: a diagnostic, not a crash.
    let empty = tofu
        .client()
        .import_resource_state(pb::import_resource_state::Request {
            type_name: "mke_node".into(),
            id: String::new(),
            client_capabilities: Some(OPENTOFU),
            identity: None,
        })
        .await
        .expect("ImportResourceState answers")
        .into_inner();
    assert!(empty.imported_resources.is_empty());
    assert_clear("import without an ID", &empty.diagnostics);
    assert!(
        !errors(&empty.diagnostics).is_empty(),
        "{:?}",
        empty.diagnostics
    );
}

#[tokio::test]
async fn mke_kubeconfig_answers_an_opentofu_client_without_deferring() {
    let tofu = Tofu::configured("1.11.4").await;
    let ty = terraform_provider_mke::resources::kubeconfig::schema().value_type();

    // Unknown at validate time (the cluster is created in the same run).
    let unknown = object(&[("controllers", Value::Unknown)]);
    let validate = tofu
        .client()
        .validate_ephemeral_resource_config(pb::validate_ephemeral_resource_config::Request {
            type_name: "mke_kubeconfig".into(),
            config: dynamic(&unknown, &ty),
        })
        .await
        .expect("ValidateEphemeralResourceConfig answers")
        .into_inner();
    assert!(
        errors(&validate.diagnostics).is_empty(),
        "{:?}",
        validate.diagnostics
    );

    // A controller without a pinned host key is refused at open, in words.
    let config = object(&[("controllers", loopback_controllers())]);
    let open = tofu
        .client()
        .open_ephemeral_resource(pb::open_ephemeral_resource::Request {
            type_name: "mke_kubeconfig".into(),
            config: dynamic(&config, &ty),
            client_capabilities: Some(OPENTOFU),
        })
        .await
        .expect("OpenEphemeralResource answers")
        .into_inner();
    assert!(open.deferred.is_none(), "deferred: {:?}", open.deferred);
    assert!(open.result.is_none());
    assert_clear("open without host keys", &open.diagnostics);
    assert!(
        !errors(&open.diagnostics).is_empty(),
        "{:?}",
        open.diagnostics
    );
}

#[tokio::test]
async fn calls_for_what_opentofu_or_the_provider_lacks_answer_a_diagnostic() {
    let mut tofu = Tofu::configured("1.10.6").await;
    let mut c = tofu.client();

    let identity = c
        .upgrade_resource_identity(pb::upgrade_resource_identity::Request {
            type_name: "mke_cluster".into(),
            version: 0,
            raw_identity: Some(pb::RawState {
                json: b"{\"not\":\"an identity\"}".to_vec(),
                flatmap: Default::default(),
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_clear("UpgradeResourceIdentity", &identity.diagnostics);
    assert!(!errors(&identity.diagnostics).is_empty());

    let moved = c
        .move_resource_state(pb::move_resource_state::Request {
            source_provider_address: "registry.opentofu.org/other/other".into(),
            source_type_name: "other_thing".into(),
            target_type_name: "mke_cluster".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_clear("MoveResourceState", &moved.diagnostics);
    assert!(!errors(&moved.diagnostics).is_empty());

    let generated = c
        .generate_resource_config(pb::generate_resource_config::Request {
            type_name: "mke_node".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_clear("GenerateResourceConfig", &generated.diagnostics);
    assert!(!errors(&generated.diagnostics).is_empty());

    let data = c
        .read_data_source(pb::read_data_source::Request {
            type_name: "mke_cluster".into(),
            client_capabilities: Some(OPENTOFU),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(data.deferred.is_none());
    assert_clear("ReadDataSource", &data.diagnostics);
    assert!(!errors(&data.diagnostics).is_empty());

    let mut listed = c
        .list_resource(pb::list_resource::Request {
            type_name: "mke_node".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let event = listed
        .message()
        .await
        .expect("a well-formed stream")
        .expect("one event");
    assert_clear("ListResource", &event.diagnostic);
    assert!(!errors(&event.diagnostic).is_empty());

    let action = c
        .plan_action(pb::plan_action::Request {
            action_type: "mke_drain".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_clear("PlanAction", &action.diagnostics);
    assert!(!errors(&action.diagnostics).is_empty());

    tofu.assert_alive().await;
}

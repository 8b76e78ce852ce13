//! The plugin protocol without Terraform: handshake, AutoMTLS, schema,
//! health, shutdown, and the refusals.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::plugin::{self, COOKIE};
use tfplugin::proto::plugin::grpc_controller_client::GrpcControllerClient;
use tfplugin::proto::plugin::Empty;
use tfplugin::proto::tfplugin6 as pb;

#[test]
fn without_the_cookie_it_explains_itself_and_exits_1() {
    let out = Command::new(plugin::binary())
        .env_remove(COOKIE.0)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "nothing on stdout");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("This binary is a Terraform plugin"), "{err}");
}

#[test]
fn a_client_without_protocol_6_is_refused() {
    let out = Command::new(plugin::binary())
        .env(COOKIE.0, COOKIE.1)
        .env("PLUGIN_PROTOCOL_VERSIONS", "4,5")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("speaks only version 6"));
}

#[test]
fn version_flag_prints_the_version() {
    let out = Command::new(plugin::binary())
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("terraform-provider-mke {}", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn handshake_mtls_schema_health_and_shutdown() {
    let client = plugin::client_cert();
    let mut p = plugin::start(Some(&client));
    let line = &p.handshake.line;
    assert!(line.starts_with("1|6|unix|"), "{line}");
    assert!(
        !line.contains('='),
        "the certificate is base64 without padding: {line}"
    );
    let cert = p
        .handshake
        .server_cert
        .clone()
        .expect("a server certificate in the handshake");
    assert!(!cert.is_empty());

    let channel = plugin::connect(&p.handshake, Some(&client))
        .await
        .expect("mTLS connect");
    let mut provider = plugin::provider_client(channel.clone());
    let schema = provider
        .get_provider_schema(pb::get_provider_schema::Request {})
        .await
        .unwrap()
        .into_inner();
    assert!(schema.diagnostics.is_empty());
    let mut types: Vec<_> = schema.resource_schemas.keys().cloned().collect();
    types.sort();
    assert_eq!(types, vec!["mke_cluster", "mke_node"]);
    let caps = schema.server_capabilities.unwrap();
    assert!(caps.plan_destroy && caps.get_provider_schema_optional);

    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "plugin".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    // Calls for things the provider does not have answer with a clear error.
    let functions = provider
        .get_functions(pb::get_functions::Request {})
        .await
        .unwrap()
        .into_inner();
    assert!(functions.functions.is_empty());
    let call = provider
        .call_function(pb::call_function::Request {
            name: "nope".into(),
            arguments: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(call
        .error
        .unwrap()
        .text
        .contains("no function named \"nope\""));
    let data = provider
        .read_data_source(pb::read_data_source::Request {
            type_name: "mke_whatever".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(data.diagnostics[0].summary, "Unknown data source type");
    assert!(data.diagnostics[0]
        .detail
        .contains("no data source type named \"mke_whatever\""));

    let started = Instant::now();
    GrpcControllerClient::new(channel)
        .shutdown(Empty {})
        .await
        .unwrap();
    let status = loop {
        if let Some(s) = p.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the plugin did not exit after Shutdown"
        );
        tokio::task::yield_now().await;
        std::thread::yield_now();
    };
    assert!(status.success());
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "exit took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_wrong_client_certificate_is_refused() {
    let announced = plugin::client_cert();
    let intruder = plugin::client_cert();
    let p = plugin::start(Some(&announced));
    let result = async {
        let channel = plugin::connect(&p.handshake, Some(&intruder)).await?;
        plugin::provider_client(channel)
            .get_provider_schema(pb::get_provider_schema::Request {})
            .await
            .map_err(|s| s.to_string())
            .map(|_| ())
            .map_err(|e| -> Box<dyn std::error::Error> { e.into() })?;
        Ok::<(), Box<dyn std::error::Error>>(())
    }
    .await;
    assert!(
        result.is_err(),
        "a client with another certificate must not be served"
    );
}

#[tokio::test]
async fn plan_of_a_bad_config_returns_diagnostics_with_attribute_paths() {
    let client = plugin::client_cert();
    let p = plugin::start(Some(&client));
    let channel = plugin::connect(&p.handshake, Some(&client)).await.unwrap();
    let mut provider = plugin::provider_client(channel);
    let schema = terraform_provider_mke::resources::cluster::schema();
    let ty = schema.value_type();
    let mut config = tfplugin::tfvalue::Value::Object(Default::default());
    if let tfplugin::tfvalue::Value::Object(f) = &mut config {
        f.insert("name".into(), tfplugin::tfvalue::Value::String("x".into()));
        f.insert(
            "k0s_version".into(),
            tfplugin::tfvalue::Value::String("latest".into()),
        );
        f.insert("controllers".into(), tfplugin::tfvalue::Value::Unknown);
    }
    let response = provider
        .validate_resource_config(
            pb::ValidateResourceConfig {}.request("mke_cluster", config.to_msgpack(&ty).unwrap()),
        )
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.diagnostics.len(), 1, "{:?}", response.diagnostics);
    let d = &response.diagnostics[0];
    assert_eq!(d.summary, "Invalid k0s version");
    let step = &d.attribute.as_ref().unwrap().steps[0];
    assert_eq!(
        step.selector,
        Some(pb::attribute_path::step::Selector::AttributeName(
            "k0s_version".into()
        ))
    );
}

trait ValidateRequest {
    fn request(self, type_name: &str, msgpack: Vec<u8>) -> pb::validate_resource_config::Request;
}
impl ValidateRequest for pb::ValidateResourceConfig {
    fn request(self, type_name: &str, msgpack: Vec<u8>) -> pb::validate_resource_config::Request {
        pb::validate_resource_config::Request {
            type_name: type_name.into(),
            config: Some(pb::DynamicValue {
                msgpack,
                json: vec![],
            }),
            client_capabilities: None,
        }
    }
}

#[tokio::test]
async fn debug_mode_prints_reattach_settings_that_a_client_can_use() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(plugin::binary())
        .arg("--debug")
        .env_remove(COOKIE.0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut reattach = None;
    for _ in 0..10 {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(v) = line.trim().strip_prefix("TF_REATTACH_PROVIDERS='") {
            reattach = Some(v.trim_end_matches('\'').to_string());
            break;
        }
    }
    let reattach: serde_json::Value =
        serde_json::from_str(&reattach.expect("TF_REATTACH_PROVIDERS line")).unwrap();
    let entry = &reattach["registry.terraform.io/mke/mke"];
    assert_eq!(entry["ProtocolVersion"], 6);
    assert_eq!(entry["Addr"]["Network"], "unix");
    assert_eq!(entry["Pid"], child.id());
    let handshake = plugin::Handshake {
        line: String::new(),
        socket: entry["Addr"]["String"].as_str().unwrap().to_string(),
        server_cert: None,
        elapsed: Duration::ZERO,
    };
    let channel = plugin::connect(&handshake, None)
        .await
        .expect("plain connection in debug mode");
    let schema = plugin::provider_client(channel)
        .get_provider_schema(pb::get_provider_schema::Request {})
        .await
        .unwrap()
        .into_inner();
    assert!(schema.resource_schemas.contains_key("mke_cluster"));
    child.kill().unwrap();
    child.wait().unwrap();
}

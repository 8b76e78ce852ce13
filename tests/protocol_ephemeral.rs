//! `mke_kubeconfig` at the protocol level, without Terraform: Validate, Open
//! and Close called over the plugin's gRPC socket, against a k0s controller
//! (the k0s stand-in, a test double) started by hand on a test-bed host.

mod support;

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value as Json;
use support::kube::{api_status, kubectl_items, kubectl_json};
use support::plugin::{self, ClientCert, Plugin};
use support::standin::{self, K0S};
use support::testbed::{self, TestBed, TestHost};
use terraform_provider_mke::ops::kubeconfig::{
    parse_rfc3339, CloseHandle, DURATION_ANNOTATION, EXPIRES_ANNOTATION, MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
};
use terraform_provider_mke::resources::kubeconfig::schema;
use tfplugin::proto::tfplugin6 as pb;
use tfplugin::proto::tfplugin6::provider_client::ProviderClient;
use tfplugin::tfvalue::{Type, Value};
use tonic::transport::Channel;

const TYPE: &str = "mke_kubeconfig";
const KUBECTL: &str = "/usr/local/bin/k0s kubectl";

fn ty() -> Type {
    schema().value_type()
}

/// A bed of one host, `c1`, running a k0s controller (the stand-in, started
/// by hand); `None` (after saying why) where the machine cannot run a bed.
fn bed_with_a_controller() -> Option<TestBed> {
    if !testbed::require_root_or_fail(
        "the ephemeral protocol tests need root for network namespaces",
    ) {
        return None;
    }
    let bed = TestBed::new(&["c1"]).expect("test bed");
    start_controller(bed.host("c1"));
    Some(bed)
}

/// Installs the stand-in as k0s on `host`, starts a controller and waits
/// (polling, at most 30 s) until its API answers.
fn start_controller(host: &TestHost) {
    // Through stdin: the checkout may live where hosts cannot see it (their own /tmp).
    host.put_file(K0S, &standin::bytes(), 0o755);
    host.exec_ok(&format!(
        "mkdir -p /etc/k0s && \
         {K0S} config create > /etc/k0s/k0s.yaml && \
         {K0S} install controller --config=/etc/k0s/k0s.yaml && \
         {K0S} start"
    ));
    host.exec_ok(&format!(
        "for i in $(seq 150); do {KUBECTL} get --raw=/readyz >/dev/null 2>&1 && exit 0; \
         sleep 0.2; done; echo 'the API never became ready' >&2; exit 1"
    ));
}

struct Session {
    // Keeps the plugin process alive for the client.
    _plugin: Plugin,
    provider: ProviderClient<Channel>,
}

async fn session(private_key: &str) -> Session {
    let cert: ClientCert = plugin::client_cert();
    let p = plugin::start(Some(&cert));
    let channel = plugin::connect(&p.handshake, Some(&cert))
        .await
        .expect("connect to the plugin");
    let mut provider = plugin::provider_client(channel);
    let d = plugin::configure_ssh(&mut provider, "1.15.0", private_key, "5s").await;
    assert!(d.is_empty(), "ConfigureProvider: {d:?}");
    Session {
        _plugin: p,
        provider,
    }
}

fn controller(address: &str, host_key: Option<&str>) -> Value {
    Value::Object(BTreeMap::from([
        ("address".into(), Value::String(address.into())),
        ("private_address".into(), Value::Null),
        ("port".into(), Value::Null),
        ("user".into(), Value::Null),
        (
            "host_key".into(),
            host_key
                .map(|k| Value::String(k.into()))
                .unwrap_or_default(),
        ),
        ("workloads".into(), Value::Null),
    ]))
}

/// A configuration: `controllers` by key, and the given inputs (others null).
fn config(controllers: Vec<(&str, Value)>, inputs: &[(&str, &str)]) -> Value {
    let mut fields: BTreeMap<String, Value> = schema()
        .block
        .attributes
        .iter()
        .map(|a| (a.name.clone(), Value::Null))
        .collect();
    fields.insert(
        "controllers".into(),
        Value::Map(
            controllers
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        ),
    );
    for (name, value) in inputs {
        fields.insert(name.to_string(), Value::String(value.to_string()));
    }
    Value::Object(fields)
}

impl Session {
    async fn validate(&self, config: &Value) -> Vec<pb::Diagnostic> {
        self.provider
            .clone()
            .validate_ephemeral_resource_config(pb::validate_ephemeral_resource_config::Request {
                type_name: TYPE.into(),
                config: Some(plugin::dynamic_value(config, &ty())),
            })
            .await
            .unwrap()
            .into_inner()
            .diagnostics
    }

    async fn open(&self, config: &Value) -> pb::open_ephemeral_resource::Response {
        self.provider
            .clone()
            .open_ephemeral_resource(pb::open_ephemeral_resource::Request {
                type_name: TYPE.into(),
                config: Some(plugin::dynamic_value(config, &ty())),
                client_capabilities: None,
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// Opens and expects success; returns the result and the private data.
    async fn open_ok(&self, config: &Value) -> (Value, Vec<u8>) {
        let r = self.open(config).await;
        let errors: Vec<_> = r
            .diagnostics
            .iter()
            .filter(|d| d.severity == pb::diagnostic::Severity::Error as i32)
            .collect();
        assert!(errors.is_empty(), "Open failed: {errors:?}");
        (
            plugin::decode_value(r.result.as_ref(), &ty()),
            r.private.expect("private data for Close"),
        )
    }

    async fn close(&self, private: &[u8]) -> Vec<pb::Diagnostic> {
        self.provider
            .clone()
            .close_ephemeral_resource(pb::close_ephemeral_resource::Request {
                type_name: TYPE.into(),
                private: Some(private.to_vec()),
            })
            .await
            .unwrap()
            .into_inner()
            .diagnostics
    }
}

fn text(v: &Value, name: &str) -> String {
    v.get_attr(name)
        .as_str()
        .unwrap_or_else(|| panic!("{name} is not a known string in {v:?}"))
        .to_string()
}

fn attribute_names(d: &pb::Diagnostic) -> Vec<String> {
    use pb::attribute_path::step::Selector;
    d.attribute
        .as_ref()
        .map(|p| {
            p.steps
                .iter()
                .map(|s| match &s.selector {
                    Some(Selector::AttributeName(n)) => n.clone(),
                    Some(Selector::ElementKeyString(k)) => format!("[{k}]"),
                    other => format!("{other:?}"),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn managed_secrets(host: &TestHost) -> BTreeMap<String, Json> {
    kubectl_items(
        host,
        &format!("get secrets -n kube-system -l {MANAGED_BY_KEY}={MANAGED_BY_VALUE}"),
    )
    .iter()
    .map(|s| {
        (
            s["metadata"]["name"].as_str().unwrap().to_string(),
            s.clone(),
        )
    })
    .collect()
}

fn secret_exists(host: &TestHost, name: &str) -> bool {
    !host
        .exec_ok(&format!(
            "{KUBECTL} get secret {name} -n kube-system -o name --ignore-not-found"
        ))
        .trim()
        .is_empty()
}

fn create_secret(host: &TestHost, name: &str, labelled: bool, duration: &str) {
    let labels = if labelled {
        format!("\"labels\":{{\"{MANAGED_BY_KEY}\":\"{MANAGED_BY_VALUE}\"}},")
    } else {
        String::new()
    };
    host.exec_ok(&format!(
        "echo '{{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{{\"name\":\"{name}\",\
         \"namespace\":\"kube-system\",{labels}\"annotations\":{{\"{DURATION_ANNOTATION}\":\"{duration}\"}}}}}}' \
         | {KUBECTL} create -f -"
    ));
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn validate_names_the_attribute_and_open_refuses_unpinned_controllers() {
    let s = session("unused").await;
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    let pinned = || vec![("cp1", controller("192.0.2.11", Some(key)))];

    for (duration, why) in [("5m", "shorter than 10m"), ("72h", "longer than 48h")] {
        let d = s
            .validate(&config(pinned(), &[("duration", duration)]))
            .await;
        assert_eq!(d.len(), 1, "{duration}: {d:?}");
        assert_eq!(d[0].severity, pb::diagnostic::Severity::Error as i32);
        assert_eq!(attribute_names(&d[0]), vec!["duration"], "{d:?}");
        assert!(d[0].detail.contains(why), "{duration}: {}", d[0].detail);
    }
    for duration in ["10m", "48h"] {
        let d = s
            .validate(&config(pinned(), &[("duration", duration)]))
            .await;
        assert!(d.is_empty(), "{duration} is allowed: {d:?}");
    }

    // Unknown inputs are not errors: Terraform defers the resource.
    let mut unknown = config(pinned(), &[]);
    if let Value::Object(f) = &mut unknown {
        f.insert("controllers".into(), Value::Unknown);
        f.insert("duration".into(), Value::Unknown);
    }
    assert!(s.validate(&unknown).await.is_empty());

    let unpinned = config(vec![("cp1", controller("192.0.2.11", None))], &[]);
    let d = s.validate(&unpinned).await;
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(
        attribute_names(&d[0]),
        vec!["controllers", "[cp1]", "host_key"]
    );
    // Open checks again without touching any host.
    let r = s.open(&unpinned).await;
    assert!(r.result.is_none() && r.private.is_none());
    assert_eq!(r.diagnostics.len(), 1, "{:?}", r.diagnostics);
    assert_eq!(r.diagnostics[0].summary, "Controller without host_key");
    assert_eq!(
        attribute_names(&r.diagnostics[0]),
        vec!["controllers", "[cp1]", "host_key"]
    );
}

#[tokio::test]
async fn open_mints_a_token_the_api_accepts_and_close_revokes_it() {
    let Some(bed) = bed_with_a_controller() else {
        return;
    };
    let c1 = bed.host("c1");
    let endpoint = format!("https://{}:6443", c1.address);
    let hosts = || vec![("c1", controller(&c1.address, Some(&c1.host_key("ed25519"))))];

    // Leftovers of runs whose Close never came: only labelled Secrets past
    // their duration are removed.
    create_secret(c1, "mke-kubeconfig-expired", true, "0s");
    create_secret(c1, "mke-kubeconfig-current", true, "1h0m0s");
    create_secret(c1, "someone-elses", false, "0s");

    let s = session(&bed.client_private_key()).await;
    let opened_at = now_unix();
    // Two instances opened at once (as with for_each) both create the
    // account and binding; both succeed and each gets its own Secret.
    let defaults = config(hosts(), &[]);
    let ((first, private), (twin, twin_private)) =
        tokio::join!(s.open_ok(&defaults), s.open_ok(&defaults));

    // Defaults are filled in, as Terraform checks the result against them.
    assert_eq!(text(&first, "service_account"), "mke-terraform");
    assert_eq!(text(&first, "cluster_role"), "cluster-admin");
    assert_eq!(text(&first, "duration"), "1h");
    assert_eq!(text(&first, "api_endpoint"), endpoint);
    assert_eq!(text(&first, "host"), endpoint);
    let token = text(&first, "token");
    let ca = text(&first, "cluster_ca_certificate");
    assert!(ca.contains("BEGIN CERTIFICATE"), "{ca}");
    assert_eq!(ca, c1.exec_ok("cat /var/lib/k0s/pki/ca.crt"));
    let expires = parse_rfc3339(&text(&first, "expires_at")).expect("RFC 3339");
    assert!(
        (expires - (opened_at + 3600)).abs() <= 60,
        "expires_at {expires} is not an hour after {opened_at}"
    );
    let kubeconfig = mke_k0s::parse_kubeconfig(&text(&first, "kubeconfig")).unwrap();
    assert_eq!(kubeconfig.server, endpoint);
    assert_eq!(kubeconfig.ca_certificate, ca);
    assert_eq!(kubeconfig.token(), Some(token.as_str()));

    // The private data names the Secret and holds no credential.
    assert!(!String::from_utf8_lossy(&private).contains(&token));
    let handle = CloseHandle::decode(&private).unwrap();
    assert_eq!(handle.controllers[0].key, "c1");
    let twin_handle = CloseHandle::decode(&twin_private).unwrap();
    let secrets = managed_secrets(c1);
    let mut expected = vec![
        handle.secret.clone(),
        twin_handle.secret.clone(),
        "mke-kubeconfig-current".to_string(),
    ];
    expected.sort();
    assert_eq!(
        secrets.keys().cloned().collect::<Vec<_>>(),
        expected,
        "the expired leftover is gone, the current one stays"
    );
    assert!(
        secret_exists(c1, "someone-elses"),
        "unlabelled Secrets are not ours"
    );
    let ours = &secrets[&handle.secret]["metadata"];
    assert_eq!(ours["annotations"][DURATION_ANNOTATION], "1h0m0s");
    assert!(ours["annotations"][EXPIRES_ANNOTATION].is_string());

    assert_eq!(
        api_status(&endpoint, &ca, &token),
        200,
        "the token works while open"
    );
    let twin_token = text(&twin, "token");
    assert_ne!(twin_token, token);
    assert_eq!(api_status(&endpoint, &ca, &twin_token), 200);
    assert!(s.close(&twin_private).await.is_empty());
    assert_eq!(api_status(&endpoint, &ca, &twin_token), 401);
    assert_eq!(
        api_status(&endpoint, &ca, &token),
        200,
        "one Close ends one token"
    );
    let d = s.close(&private).await;
    assert!(d.is_empty(), "Close: {d:?}");
    assert!(
        !secret_exists(c1, &handle.secret),
        "Close deletes the Secret"
    );
    assert_eq!(
        api_status(&endpoint, &ca, &token),
        401,
        "and the token is dead"
    );

    // A second Open reuses the account and its binding, and mints a new token.
    let account = kubectl_json(c1, "get serviceaccount mke-terraform -n kube-system");
    let (second, private2) = s.open_ok(&config(hosts(), &[("duration", "10m")])).await;
    let token2 = text(&second, "token");
    assert_ne!(token2, token);
    assert_eq!(
        kubectl_json(c1, "get serviceaccount mke-terraform -n kube-system")["metadata"]["uid"],
        account["metadata"]["uid"]
    );
    let expires2 = parse_rfc3339(&text(&second, "expires_at")).unwrap();
    assert!((expires2 - (now_unix() + 600)).abs() <= 60, "a 10m token");
    assert_eq!(api_status(&endpoint, &ca, &token2), 200);
    assert!(s.close(&private2).await.is_empty());
    assert_eq!(api_status(&endpoint, &ca, &token2), 401);

    // Another role replaces the binding: roleRef cannot change in place, and
    // the account must not keep its old rights.
    let (third, private3) = s
        .open_ok(&config(hosts(), &[("cluster_role", "view")]))
        .await;
    let bindings = kubectl_items(
        c1,
        &format!("get clusterrolebindings -l {MANAGED_BY_KEY}={MANAGED_BY_VALUE}"),
    );
    assert_eq!(bindings.len(), 1, "{bindings:?}");
    assert_eq!(bindings[0]["roleRef"]["name"], "view");
    assert_eq!(
        bindings[0]["metadata"]["name"],
        "terraform-provider-mke:mke-terraform"
    );
    assert_eq!(text(&third, "cluster_role"), "view");
    assert!(s.close(&private3).await.is_empty());
    let accounts = kubectl_items(c1, "get serviceaccounts -n kube-system")
        .iter()
        .filter(|a| a["metadata"]["name"] == "mke-terraform")
        .count();
    assert_eq!(accounts, 1);

    // No token ever appeared in a command line on the host.
    let calls = c1.exec_ok("cat /var/log/k0s-standin/calls.jsonl");
    assert!(calls.contains("create"), "the calls were logged: {calls}");
    for t in [&token, &twin_token, &token2, &text(&third, "token")] {
        assert!(
            !calls.contains(t.as_str()),
            "a token reached a command line"
        );
    }
}

#[tokio::test]
async fn unanswering_controllers_are_skipped_at_open_and_only_warned_about_at_close() {
    let Some(bed) = bed_with_a_controller() else {
        return;
    };
    let c1 = bed.host("c1");
    let key = c1.host_key("ed25519");
    // No machine has this address in the bed's network; it sorts first.
    let nowhere = format!("10.231.{}.250", bed.slot());
    let hosts = vec![
        ("a-gone", controller(&nowhere, Some(&key))),
        ("c1", controller(&c1.address, Some(&key))),
    ];

    let opener = session(&bed.client_private_key()).await;
    let (result, private) = opener.open_ok(&config(hosts, &[])).await;
    assert_eq!(
        text(&result, "api_endpoint"),
        format!("https://{nowhere}:6443"),
        "the default endpoint is the first controller's"
    );
    let handle = CloseHandle::decode(&private).unwrap();
    let order: Vec<&str> = handle.controllers.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(
        order,
        vec!["c1", "a-gone"],
        "Close tries the controller that worked first"
    );
    assert!(secret_exists(c1, &handle.secret));

    // A Close that reaches no controller warns, naming the Secret and how
    // long the token stays valid; it does not fail the run.
    c1.set_link(false);
    let closer = session(&bed.client_private_key()).await;
    let d = closer.close(&private).await;
    c1.set_link(true);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].severity, pb::diagnostic::Severity::Warning as i32);
    assert!(d[0].summary.contains(&handle.secret), "{}", d[0].summary);
    assert!(
        d[0].detail
            .contains(&format!("stays valid until {}", handle.expires_at)),
        "{}",
        d[0].detail
    );
    assert!(secret_exists(c1, &handle.secret));

    // Once a controller answers again, Close deletes it.
    let d = closer.close(&private).await;
    assert!(d.is_empty(), "{d:?}");
    assert!(!secret_exists(c1, &handle.secret));

    // A cluster destroyed during the run took the Secret with it: Close,
    // which Terraform calls after the destroy, has nothing to warn about.
    let (_, private) = closer
        .open_ok(&config(
            vec![("c1", controller(&c1.address, Some(&key)))],
            &[],
        ))
        .await;
    c1.exec_ok("/usr/local/bin/k0s stop && rm -rf /usr/local/bin/k0s /var/lib/k0s");
    let d = closer.close(&private).await;
    assert!(d.is_empty(), "{d:?}");
}

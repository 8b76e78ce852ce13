//! `mke_kubeconfig`: an ephemeral resource (Terraform 1.10+) that hands the
//! `kubernetes` and `helm` providers a short-lived token, never written to
//! state or plan files. This file is the Terraform side: schema, plan-time
//! validation, defaults and the opened result. The host work lives in
//! `crate::ops::kubeconfig`.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use tfplugin::tfvalue::{AttributePath, Value};
use tfplugin::{Attribute, Block, Ctx, Diagnostics, EphemeralResource, OpenOutcome, Schema};

use super::controllers::{self, ControllersModel};
use crate::ops::kubeconfig::{self as ops, CloseHandle, Minted, TokenRequest};
use crate::ops::ControllerHost;
use crate::resources::validate::check_positive_duration;
use crate::resources::{diagnose, runtime, SharedRuntime};

pub const TYPE_NAME: &str = "mke_kubeconfig";
pub const DEFAULT_SERVICE_ACCOUNT: &str = "mke-terraform";
pub const DEFAULT_CLUSTER_ROLE: &str = "cluster-admin";
pub const DEFAULT_DURATION: &str = "1h";
/// Kubernetes refuses token requests shorter than 10 minutes.
pub const MIN_DURATION: Duration = Duration::from_secs(10 * 60);
/// A run that needs longer should not hold one credential for it.
pub const MAX_DURATION: Duration = Duration::from_secs(48 * 3600);

/// Inputs Terraform checks against the opened result, in schema order.
const INPUTS: [&str; 5] = [
    "controllers",
    "api_endpoint",
    "service_account",
    "cluster_role",
    "duration",
];

pub struct KubeconfigResource {
    pub runtime: SharedRuntime,
}

pub fn schema() -> Schema {
    Schema::new(
        0,
        Block::new(
            "Short-lived credentials for the cluster, for the `kubernetes` and `helm` providers. \
             Needs **Terraform 1.10 or later** (ephemeral resources); nothing of it is written to \
             state or plan files.\n\n\
             Open, on the first controller that answers over SSH: makes sure the service account \
             exists in `kube-system` and is bound to `cluster_role` (reused by every run), creates \
             a Secret for this run, mints a token bound to that Secret (`k0s kubectl create token \
             --bound-object-kind=Secret --duration=...`) and reads the cluster CA. Close deletes \
             the Secret, which invalidates the token at once. If Close never comes (a killed run, \
             an unreachable controller), `duration` still caps the token, and the next Open \
             deletes such leftover Secrets.\n\n\
             There is no renewal: a run that outlives `duration` gets `401 Unauthorized` from the \
             API for whatever it still does there. Raise `duration` (up to `48h`) for runs that \
             may take longer than an hour.\n\n\
             **Terraform 1.5 to 1.9** have no ephemeral resources. The provider still loads there; \
             use `mke_cluster.<name>.kubeconfig` (an admin kubeconfig, sensitive, kept in state) \
             instead.",
            vec![
                controllers::attribute(
                    "How to reach the controllers over SSH: pass `mke_cluster.<name>.controllers`. \
                     Every controller must carry `host_key` (the cluster's attribute has the keys \
                     it pinned): an ephemeral resource has no state to record a key in.",
                ),
                Attribute::string("api_endpoint").optional_computed().description(
                    "The server written into the kubeconfig and returned as `host`, e.g. \
                     `mke_cluster.<name>.api_endpoint`. Default `https://<address of the first \
                     controller>:6443`.",
                ),
                Attribute::string("service_account")
                    .default(DEFAULT_SERVICE_ACCOUNT)
                    .description(
                        "Service account in `kube-system` that the token is issued for; created \
                         when missing and reused afterwards. Default `mke-terraform`.",
                    ),
                Attribute::string("cluster_role")
                    .default(DEFAULT_CLUSTER_ROLE)
                    .description(
                        "ClusterRole bound to the service account (ClusterRoleBinding \
                         `terraform-provider-mke:<service_account>`). Default `cluster-admin`.",
                    ),
                Attribute::string("duration")
                    .default(DEFAULT_DURATION)
                    .description(
                        "Upper bound of the token's life, from `10m` to `48h`, in whole seconds. \
                         Default `1h`. Close ends the token earlier, when the run ends.",
                    ),
                Attribute::string("kubeconfig")
                    .computed()
                    .sensitive()
                    .description(
                        "A kubeconfig (YAML) with token authentication and server = `api_endpoint`.",
                    ),
                Attribute::string("host")
                    .computed()
                    .description("The API server URL (`api_endpoint`), for the providers' `host`."),
                Attribute::string("cluster_ca_certificate")
                    .computed()
                    .description("The cluster CA certificate, PEM."),
                Attribute::string("token")
                    .computed()
                    .sensitive()
                    .description("The service account token (a bearer token)."),
                Attribute::string("expires_at")
                    .computed()
                    .description("When the token expires at the latest, RFC 3339 (UTC)."),
            ],
        ),
    )
}

pub fn validate_config(config: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    let root = AttributePath::root();
    let hosts = config.get_attr(controllers::ATTRIBUTE);
    controllers::validate_pinned(&mut d, hosts, "mke_kubeconfig");
    if let Some(endpoint) = config.get_attr("api_endpoint").as_str() {
        if let Err(e) = check_api_endpoint(endpoint) {
            d.error_at(
                root.clone().attribute("api_endpoint"),
                "Invalid API endpoint",
                e,
            );
        }
    }
    if let Some(name) = config.get_attr("service_account").as_str() {
        if let Err(e) = check_service_account(name) {
            d.error_at(
                root.clone().attribute("service_account"),
                "Invalid service account name",
                e,
            );
        }
    }
    if let Some(name) = config.get_attr("cluster_role").as_str() {
        if let Err(e) = check_cluster_role(name) {
            d.error_at(
                root.clone().attribute("cluster_role"),
                "Invalid ClusterRole name",
                e,
            );
        }
    }
    let duration_path = root.attribute("duration");
    if let (Some(text), Some(duration)) = (
        config.get_attr("duration").as_str(),
        check_positive_duration(&mut d, duration_path.clone(), config.get_attr("duration")),
    ) {
        if let Err(e) = check_token_duration(text, duration) {
            d.error_at(duration_path, "Invalid token duration", e);
        }
    }
    d
}

fn check_api_endpoint(endpoint: &str) -> Result<(), String> {
    let host = endpoint.strip_prefix("https://").unwrap_or_default();
    if host.is_empty() || endpoint.chars().any(char::is_whitespace) {
        return Err(format!(
            "\"{endpoint}\" is not an HTTPS URL of the Kubernetes API, such as \
             https://192.0.2.11:6443."
        ));
    }
    Ok(())
}

/// Kubernetes names service accounts as DNS subdomains.
fn check_service_account(name: &str) -> Result<(), String> {
    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if name.len() <= 253 && name.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(format!(
            "\"{name}\" is not a Kubernetes object name: use lowercase letters, digits, '-' and \
             '.', starting and ending with a letter or digit (at most 253 characters)."
        ))
    }
}

/// RBAC objects are named by any path segment.
fn check_cluster_role(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '%']) {
        Err(format!(
            "\"{name}\" is not a ClusterRole name: it may not be empty, \".\" or \"..\", nor \
             contain '/' or '%'."
        ))
    } else {
        Ok(())
    }
}

fn check_token_duration(text: &str, duration: Duration) -> Result<(), String> {
    if duration < MIN_DURATION {
        return Err(format!(
            "\"{text}\" is shorter than 10m: Kubernetes issues service account tokens for at \
             least 10 minutes."
        ));
    }
    if duration > MAX_DURATION {
        return Err(format!(
            "\"{text}\" is longer than 48h: a token lives at most 48 hours. Runs need far less; \
             Close ends the token when the run ends."
        ));
    }
    if duration.subsec_nanos() != 0 {
        return Err(format!(
            "\"{text}\" is not a whole number of seconds, which `kubectl create token` requires."
        ));
    }
    Ok(())
}

/// The configuration with the defaults filled in, as Open works from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    pub controllers: BTreeMap<String, ControllerHost>,
    pub api_endpoint: String,
    pub service_account: String,
    pub cluster_role: String,
    pub duration_text: String,
    pub duration: Duration,
}

/// Reads a wholly known configuration; `Err` carries what makes it unusable
/// (Open repeats the plan-time checks: it must not rely on them).
pub fn inputs(config: &Value) -> Result<Inputs, Diagnostics> {
    let d = validate_config(config);
    if d.has_errors() {
        return Err(d);
    }
    let hosts =
        tfplugin::tfvalue::from_value::<ControllersModel>(config.get_attr(controllers::ATTRIBUTE))
            .ok()
            .map(|m| controllers::hosts(&m))
            .filter(|h| !h.is_empty())
            .ok_or_else(|| {
                let mut d = Diagnostics::new();
                d.error_at(
                    AttributePath::root().attribute(controllers::ATTRIBUTE),
                    "No controllers",
                    "mke_kubeconfig needs at least one controller with a known address.",
                );
                d
            })?;
    let text = |name: &str, default: &str| {
        config
            .get_attr(name)
            .as_str()
            .unwrap_or(default)
            .to_string()
    };
    let first_address = &hosts.values().next().expect("non-empty").address;
    let duration_text = text("duration", DEFAULT_DURATION);
    let duration = mke_k0s::parse_duration(&duration_text).expect("validated above");
    Ok(Inputs {
        api_endpoint: text(
            "api_endpoint",
            &format!("https://{first_address}:{}", mke_k0s::model::KUBE_API_PORT),
        ),
        service_account: text("service_account", DEFAULT_SERVICE_ACCOUNT),
        cluster_role: text("cluster_role", DEFAULT_CLUSTER_ROLE),
        duration_text,
        duration,
        controllers: hosts,
    })
}

/// The opened value: the configuration as given (Terraform checks that it
/// was kept), defaults where it left inputs null, and the credentials.
pub fn result_value(config: &Value, inputs: &Inputs, minted: &Minted) -> Value {
    let mut fields = match config {
        Value::Object(f) => f.clone(),
        _ => BTreeMap::new(),
    };
    let mut fill = |name: &str, value: &str| {
        let slot = fields.entry(name.to_string()).or_insert(Value::Null);
        if slot.is_null() {
            *slot = Value::String(value.to_string());
        }
    };
    fill("api_endpoint", &inputs.api_endpoint);
    fill("service_account", &inputs.service_account);
    fill("cluster_role", &inputs.cluster_role);
    fill("duration", &inputs.duration_text);
    let mut set = |name: &str, value: String| {
        fields.insert(name.to_string(), Value::String(value));
    };
    set(
        "kubeconfig",
        ops::kubeconfig_yaml(
            &inputs.api_endpoint,
            &minted.ca_certificate,
            &inputs.service_account,
            minted.token.expose(),
        ),
    );
    set("host", inputs.api_endpoint.clone());
    set("cluster_ca_certificate", minted.ca_certificate.clone());
    set("token", minted.token.expose().to_string());
    set("expires_at", ops::rfc3339(minted.expires_at));
    Value::Object(fields)
}

/// What Terraform gets for a configuration not yet wholly known: inputs as
/// given and every result unknown. (Terraform itself defers such an Open.)
fn unknown_result(config: &Value) -> Value {
    let mut fields = match config {
        Value::Object(f) => f.clone(),
        _ => BTreeMap::new(),
    };
    for a in schema().block.attributes {
        let is_input = INPUTS.contains(&a.name.as_str());
        let left_to_provider = fields.get(&a.name).is_none_or(Value::is_null);
        if !is_input || (left_to_provider && a.presence.is_computed()) {
            fields.insert(a.name, Value::Unknown);
        }
    }
    Value::Object(fields)
}

#[async_trait]
impl EphemeralResource for KubeconfigResource {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        schema()
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        validate_config(config)
    }

    async fn open(&self, ctx: &Ctx, config: Value) -> OpenOutcome {
        if !config.is_wholly_known() {
            return OpenOutcome {
                result: unknown_result(&config),
                ..Default::default()
            };
        }
        let inputs = match inputs(&config) {
            Ok(i) => i,
            Err(diagnostics) => {
                return OpenOutcome {
                    diagnostics,
                    ..Default::default()
                }
            }
        };
        let request = TokenRequest {
            controllers: inputs.controllers.clone().into_iter().collect(),
            service_account: inputs.service_account.clone(),
            cluster_role: inputs.cluster_role.clone(),
            duration: inputs.duration,
        };
        let opened = match runtime(&self.runtime) {
            Ok(rt) => ops::open(rt, &ctx.cancel, &request).await,
            Err(e) => Err(e.into()),
        };
        match opened {
            Ok((minted, warnings)) => {
                let mut diagnostics = Diagnostics::new();
                diagnose::warnings(&mut diagnostics, &warnings);
                OpenOutcome {
                    result: result_value(&config, &inputs, &minted),
                    private: Some(minted.handle.encode()),
                    renew_at: None,
                    diagnostics,
                }
            }
            Err(e) => OpenOutcome {
                diagnostics: diagnose::kubeconfig_error("Cannot open mke_kubeconfig", &e),
                ..Default::default()
            },
        }
    }

    async fn close(&self, _ctx: &Ctx, private: Option<Vec<u8>>) -> Diagnostics {
        let Some(bytes) = private.filter(|b| !b.is_empty()) else {
            return Diagnostics::new();
        };
        match CloseHandle::decode(&bytes) {
            Ok(handle) => {
                let mut d = Diagnostics::new();
                match runtime(&self.runtime) {
                    Ok(rt) => diagnose::warnings(&mut d, &ops::close(rt, &handle).await),
                    Err(e) => d.warning(
                        "mke_kubeconfig: the token's Secret was not deleted",
                        format!(
                            "{e}\n\nThe token stays valid until {}. To end it now, run on a controller: {}",
                            handle.expires_at,
                            ops::manual_close(&handle)
                        ),
                    ),
                }
                d
            }
            Err(e) => {
                let mut d = Diagnostics::new();
                d.warning(
                    "mke_kubeconfig: cannot read what Open left for Close",
                    format!(
                        "{e}. The token's Secret was not deleted; it stops working when its \
                         duration ends, and a later Open deletes the Secret."
                    ),
                );
                d
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(address: &str, host_key: Option<&str>) -> Value {
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

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";

    fn config(duration: Option<&str>) -> Value {
        let mut fields: BTreeMap<String, Value> = schema()
            .block
            .attributes
            .iter()
            .map(|a| (a.name.clone(), Value::Null))
            .collect();
        fields.insert(
            "controllers".into(),
            Value::Map(BTreeMap::from([
                ("cp2".into(), host("192.0.2.12", Some(KEY))),
                ("cp1".into(), host("192.0.2.11", Some(KEY))),
            ])),
        );
        if let Some(d) = duration {
            fields.insert("duration".into(), Value::String(d.into()));
        }
        Value::Object(fields)
    }

    fn errors_at(d: &Diagnostics, attribute: &str) -> Vec<String> {
        d.iter()
            .filter(|x| {
                x.attribute
                    .as_ref()
                    .and_then(|p| p.steps().first().cloned())
                    .is_some_and(|s| {
                        s == tfplugin::tfvalue::PathStep::Attribute(attribute.to_string())
                    })
            })
            .map(|x| x.detail.clone())
            .collect()
    }

    #[test]
    fn durations_between_10m_and_48h_in_whole_seconds() {
        for ok in ["10m", "1h", "90m", "48h", "1h30m"] {
            assert!(
                validate_config(&config(Some(ok))).is_empty(),
                "{ok} should be accepted"
            );
        }
        for (bad, why) in [
            ("5m", "shorter than 10m"),
            ("72h", "longer than 48h"),
            ("10m0.5s", "whole number of seconds"),
            ("soon", "not a duration"),
            ("0s", "must be longer than zero"),
            ("-1h", "must be longer than zero"),
        ] {
            let d = validate_config(&config(Some(bad)));
            let found = errors_at(&d, "duration");
            assert!(
                found.iter().any(|m| m.contains(why)),
                "{bad}: expected \"{why}\" on duration, got {found:?}"
            );
        }
    }

    #[test]
    fn defaults_fill_the_inputs_and_the_endpoint_is_the_first_controller() {
        let i = inputs(&config(None)).unwrap();
        assert_eq!(i.api_endpoint, "https://192.0.2.11:6443");
        assert_eq!(i.service_account, "mke-terraform");
        assert_eq!(i.cluster_role, "cluster-admin");
        assert_eq!(i.duration, Duration::from_secs(3600));
        assert_eq!(i.duration_text, "1h");
    }

    #[test]
    fn a_controller_without_host_key_is_named() {
        let mut c = config(None);
        if let Value::Object(f) = &mut c {
            f.insert(
                "controllers".into(),
                Value::Map(BTreeMap::from([("cp1".into(), host("192.0.2.11", None))])),
            );
        }
        let d = inputs(&c).unwrap_err();
        let message = d.iter().next().unwrap();
        assert_eq!(message.summary, "Controller without host_key");
        assert_eq!(
            message.attribute.as_ref().unwrap().to_string(),
            "controllers[\"cp1\"].host_key"
        );
    }

    #[test]
    fn names_and_endpoint_are_checked() {
        let mut c = config(None);
        if let Value::Object(f) = &mut c {
            f.insert("service_account".into(), Value::String("Terraform".into()));
            f.insert("cluster_role".into(), Value::String("a/b".into()));
            f.insert(
                "api_endpoint".into(),
                Value::String("192.0.2.11:6443".into()),
            );
        }
        let d = validate_config(&c);
        assert_eq!(errors_at(&d, "service_account").len(), 1);
        assert_eq!(errors_at(&d, "cluster_role").len(), 1);
        assert_eq!(errors_at(&d, "api_endpoint").len(), 1);
    }

    #[test]
    fn unknown_inputs_are_not_errors_and_give_an_unknown_result() {
        let mut c = config(None);
        if let Value::Object(f) = &mut c {
            f.insert("controllers".into(), Value::Unknown);
            f.insert("duration".into(), Value::Unknown);
        }
        assert!(validate_config(&c).is_empty());
        let r = unknown_result(&c);
        assert!(r.get_attr("token").is_unknown());
        assert!(r.get_attr("service_account").is_unknown());
    }
}

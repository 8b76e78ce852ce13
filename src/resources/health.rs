//! `mke_cluster_health`: a data source made for `check` blocks and for gating
//! workload providers. The Terraform side: schema, validation, and the object
//! built from what `crate::ops::health` saw. An unhealthy cluster is data; a
//! refused login or a changed host key is an error.

use std::collections::BTreeMap;

use async_trait::async_trait;
use tfplugin::tfvalue::{Number, Value};
use tfplugin::{Attribute, Block, Ctx, DataSource, Diagnostics, Nesting, Schema, StateOutcome};

use super::controllers::{self, ControllersModel};
use crate::ops::health::{self as ops, ClusterHealth};
use crate::resources::{diagnose, runtime, SharedRuntime};

pub const TYPE_NAME: &str = "mke_cluster_health";

pub struct HealthDataSource {
    pub runtime: SharedRuntime,
}

pub fn schema() -> Schema {
    Schema::new(
        0,
        Block::new(
            "How a running cluster is doing, for `check` blocks and for gating the providers that \
             deploy onto it. Reads only; changes nothing.\n\n\
             On every controller, in parallel, one SSH round trip reads whether k0s runs, its \
             version, and the certificates under `/var/lib/k0s/pki` (`*.crt` files only, never \
             keys). Then, on the first controller (by key) where k0s runs, `k0s etcd member-list` \
             and `k0s kubectl get nodes -o json`.\n\n\
             An unhealthy cluster is data, never an error: a controller that does not answer is \
             reported as not reachable and not running, with a warning saying why. A refused SSH \
             login, a changed host key, or a controller without `host_key` is an error.",
            vec![
                controllers::attribute(
                    "How to reach the controllers over SSH: pass `mke_cluster.<name>.controllers`. \
                     Every controller must carry `host_key` (the cluster's attribute has the keys \
                     it pinned): a data source keeps no state to record a key in.",
                ),
                Attribute::nested(
                    "controller_health",
                    Nesting::Map,
                    vec![
                        Attribute::bool("reachable")
                            .computed()
                            .description("The controller answered over SSH."),
                        Attribute::bool("running")
                            .computed()
                            .description("k0s answers `k0s status` there."),
                        Attribute::string("version").computed().description(
                            "The k0s version it runs (else that of its binary); empty when unknown.",
                        ),
                        Attribute::bool("etcd_member_healthy").computed().description(
                            "k0s runs there and the controller is a member of etcd.",
                        ),
                    ],
                )
                .computed()
                .description("Each controller, by its key in `controllers`."),
                Attribute::nested(
                    "nodes",
                    Nesting::Map,
                    vec![
                        Attribute::bool("ready")
                            .computed()
                            .description("The Node's `Ready` condition is `True`."),
                        Attribute::string("version")
                            .computed()
                            .description("The kubelet's version, e.g. `v1.29.3+k0s`."),
                        Attribute::number("heartbeat_age_seconds").computed().description(
                            "Seconds since the kubelet last reported its `Ready` condition; null \
                             when it never did.",
                        ),
                    ],
                )
                .computed()
                .description(
                    "Every Node registered in the cluster (controllers with workloads included), \
                     by name. Empty when no controller could list them.",
                ),
                Attribute::bool("healthy").computed().description(
                    "Every controller runs k0s and is a healthy etcd member, and every Node is \
                     Ready.",
                ),
                Attribute::string("certificates_expire_at").computed().description(
                    "When the first control-plane certificate under `/var/lib/k0s/pki` expires, \
                     RFC 3339 (UTC), over every controller that answered; null when none was \
                     read. The provider's `certificate_warning_days` makes `mke_cluster` refreshes \
                     warn ahead of it.",
                ),
            ],
        ),
    )
}

pub fn validate_config(config: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    let hosts = config.get_attr(controllers::ATTRIBUTE);
    controllers::validate_pinned(&mut d, hosts, TYPE_NAME);
    d
}

fn number(n: i64) -> Value {
    Value::Number(Number::from(n))
}

/// The object Terraform gets: the configuration as given, and what was seen.
pub fn state_value(config: &Value, health: &ClusterHealth) -> Value {
    let mut fields = match config {
        Value::Object(f) => f.clone(),
        _ => BTreeMap::new(),
    };
    let controller_health = health
        .controllers
        .iter()
        .map(|(key, c)| {
            let object = BTreeMap::from([
                ("reachable".to_string(), Value::Bool(c.reachable)),
                ("running".to_string(), Value::Bool(c.running)),
                ("version".to_string(), Value::String(c.version.clone())),
                (
                    "etcd_member_healthy".to_string(),
                    Value::Bool(c.etcd_member_healthy),
                ),
            ]);
            (key.clone(), Value::Object(object))
        })
        .collect();
    let nodes = health
        .nodes
        .iter()
        .map(|(name, n)| {
            let object = BTreeMap::from([
                ("ready".to_string(), Value::Bool(n.ready)),
                ("version".to_string(), Value::String(n.version.clone())),
                (
                    "heartbeat_age_seconds".to_string(),
                    n.heartbeat_age_seconds.map(number).unwrap_or(Value::Null),
                ),
            ]);
            (name.clone(), Value::Object(object))
        })
        .collect();
    fields.insert(
        "controller_health".to_string(),
        Value::Map(controller_health),
    );
    fields.insert("nodes".to_string(), Value::Map(nodes));
    fields.insert("healthy".to_string(), Value::Bool(health.healthy()));
    fields.insert(
        "certificates_expire_at".to_string(),
        health
            .certificates_expire_at()
            .map(Value::String)
            .unwrap_or(Value::Null),
    );
    Value::Object(fields)
}

#[async_trait]
impl DataSource for HealthDataSource {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        schema()
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        validate_config(config)
    }

    async fn read(&self, _ctx: &Ctx, config: Value) -> StateOutcome {
        let mut d = validate_config(&config);
        if d.has_errors() {
            return StateOutcome::failed(d);
        }
        let hosts = tfplugin::tfvalue::from_value::<ControllersModel>(
            config.get_attr(controllers::ATTRIBUTE),
        )
        .map(|m| controllers::hosts(&m))
        .unwrap_or_default();
        let checked = match runtime(&self.runtime) {
            Ok(rt) => ops::check(rt, &hosts).await,
            Err(e) => Err(e),
        };
        match checked {
            Ok(health) => {
                diagnose::warnings(&mut d, &health.warnings);
                StateOutcome {
                    state: state_value(&config, &health),
                    private: Vec::new(),
                    diagnostics: d,
                }
            }
            Err(e) => {
                StateOutcome::failed(diagnose::error("Cannot check the cluster's health", &e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::health::{ControllerHealth, NodeHealth};

    fn config(host_key: Option<&str>) -> Value {
        let mut entry = BTreeMap::from([("address".to_string(), Value::from("192.0.2.11"))]);
        entry.insert(
            "host_key".to_string(),
            host_key.map(Value::from).unwrap_or(Value::Null),
        );
        Value::Object(BTreeMap::from([(
            "controllers".to_string(),
            Value::Map(BTreeMap::from([("cp1".to_string(), Value::Object(entry))])),
        )]))
    }

    #[test]
    fn a_controller_without_host_key_is_refused_at_validation() {
        let d = validate_config(&config(None));
        let found: Vec<String> = d
            .iter()
            .map(|x| x.attribute.as_ref().unwrap().to_string())
            .collect();
        assert_eq!(found, ["controllers[\"cp1\"].host_key"]);
        assert!(validate_config(&config(Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"))).is_empty());
    }

    #[test]
    fn the_state_keeps_the_configuration_and_fits_the_schema() {
        let health = ClusterHealth {
            controllers: BTreeMap::from([(
                "cp1".to_string(),
                ControllerHealth {
                    reachable: true,
                    running: true,
                    version: "v1.29.3+k0s.0".into(),
                    etcd_member_healthy: true,
                },
            )]),
            nodes: BTreeMap::from([(
                "w1".to_string(),
                NodeHealth {
                    ready: false,
                    version: "v1.29.3+k0s".into(),
                    heartbeat_age_seconds: Some(42),
                },
            )]),
            nodes_listed: true,
            ..Default::default()
        };
        let given = config(Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"));
        let state = state_value(&given, &health);
        assert_eq!(state.get_attr("controllers"), given.get_attr("controllers"));
        assert_eq!(state.get_attr("healthy"), &Value::Bool(false));
        assert!(state.get_attr("certificates_expire_at").is_null());
        let Value::Map(nodes) = state.get_attr("nodes") else {
            panic!("nodes is a map: {state:?}")
        };
        assert_eq!(nodes["w1"].get_attr("heartbeat_age_seconds"), &number(42));
        // Encodable with the schema's type: what the server sends Terraform.
        let ty = schema().value_type();
        let mut full = state.clone();
        if let Value::Object(f) = &mut full {
            let c = f.get_mut("controllers").unwrap();
            if let Value::Map(m) = c {
                for entry in m.values_mut() {
                    if let Value::Object(e) = entry {
                        for name in ["private_address", "port", "user", "workloads"] {
                            e.entry(name.to_string()).or_insert(Value::Null);
                        }
                    }
                }
            }
        }
        full.to_msgpack(&ty)
            .expect("the state encodes with the schema's type");
    }
}

//! Plan time: validation of an `mke_node` configuration, each check on its
//! attribute.

use tfplugin::tfvalue::{AttributePath, Value};
use tfplugin::Diagnostics;

use crate::resources::cluster::validate_timeouts;
use crate::resources::controllers;
use crate::resources::validate::{check_address, check_duration, check_k0s_version, check_port};

pub fn validate_config(config: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    let root = AttributePath::root();
    controllers::validate(&mut d, config.get_attr("controllers"));
    check_k0s_version(
        &mut d,
        root.clone().attribute("k0s_version"),
        config.get_attr("k0s_version"),
    );
    check_address(
        &mut d,
        root.clone().attribute("address"),
        config.get_attr("address"),
    );
    check_address(
        &mut d,
        root.clone().attribute("private_address"),
        config.get_attr("private_address"),
    );
    check_port(
        &mut d,
        root.clone().attribute("port"),
        config.get_attr("port"),
    );
    check_duration(
        &mut d,
        root.clone().attribute("drain_timeout"),
        config.get_attr("drain_timeout"),
    );
    if let Value::Map(labels) = config.get_attr("labels") {
        for key in labels.keys() {
            if let Err(e) = mke_k0s::validate::check_label_key(key) {
                d.error_at(
                    root.clone().attribute("labels").key(key.clone()),
                    "Invalid label",
                    e.to_string(),
                );
            }
        }
    }
    if let Value::List(taints) = config.get_attr("taints") {
        for (i, t) in taints.iter().enumerate() {
            if let Some(t) = t.as_str() {
                if let Err(e) = mke_k0s::validate::parse_taint(t) {
                    d.error_at(
                        root.clone().attribute("taints").index(i as i64),
                        "Invalid taint",
                        e.to_string(),
                    );
                }
            }
        }
    }
    validate_timeouts(&mut d, config);
    d
}

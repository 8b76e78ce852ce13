//! Plan time: validation of an `mke_node` configuration, each check on its
//! attribute, and the checks that need the prior state.

use std::collections::BTreeMap;

use tfplugin::tfvalue::{AttributePath, Value};
use tfplugin::{Diagnostics, Plan, PlanRequest};

use crate::resources::cluster::{plan_binary_source, validate_binary_source, validate_timeouts};
use crate::resources::controllers;
use crate::resources::validate::{
    check_address, check_k0s_version, check_port, check_positive_duration, check_private_address,
    check_upgrade_in_place,
};

pub fn validate_config(config: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    let root = AttributePath::root();
    controllers::validate(&mut d, config.get_attr("controllers"));
    check_k0s_version(
        &mut d,
        root.clone().attribute("k0s_version"),
        config.get_attr("k0s_version"),
    );
    validate_binary_source(&mut d, config);
    check_address(
        &mut d,
        root.clone().attribute("address"),
        config.get_attr("address"),
    );
    check_private_address(
        &mut d,
        root.clone().attribute("private_address"),
        config.get_attr("private_address"),
    );
    check_not_a_controller(&mut d, config);
    check_port(
        &mut d,
        root.clone().attribute("port"),
        config.get_attr("port"),
    );
    check_positive_duration(
        &mut d,
        root.clone().attribute("drain_timeout"),
        config.get_attr("drain_timeout"),
    );
    check_labels(&mut d, config.get_attr("labels"));
    check_taints(&mut d, config.get_attr("taints"));
    validate_timeouts(&mut d, config);
    d
}

/// The checks that need the prior state (a `k0s_version` change the node
/// cannot make in place) or values known only at plan (the download URL
/// when it comes from another resource).
pub fn plan_node(request: &PlanRequest<'_>, plan: &mut Plan) {
    crate::resources::private::plan(&mut plan.planned);
    check_upgrade_in_place(request, plan, "node");
    plan_binary_source(request, plan);
    warn_of_reinstall_without_unmanaged_flags(request, plan);
    if request.prior.is_null() {
        // Only an import adopts: a node this provider joins has neither.
        if let Value::Object(fields) = &mut plan.planned {
            fields.insert("adopted_ca_sha256".into(), Value::Null);
            fields.insert("unmanaged_install_flags".into(), Value::Null);
        }
    }
}

/// An adopted node whose unit carries flags no attribute expresses: a plan
/// that reinstalls the unit (a new version, labels or taints) drops them.
fn warn_of_reinstall_without_unmanaged_flags(request: &PlanRequest<'_>, plan: &mut Plan) {
    let Value::List(flags) = request.prior.get_attr("unmanaged_install_flags") else {
        return;
    };
    let flags: Vec<&str> = flags.iter().filter_map(Value::as_str).collect();
    if flags.is_empty() {
        return;
    }
    let changed = |name: &str| plan.planned.get_attr(name) != request.prior.get_attr(name);
    if changed("k0s_version") || changed("labels") || changed("taints") {
        plan.diagnostics.warning(
            "This change reinstalls k0s without flags it was installed with",
            format!(
                "The node's k0s unit carries {}, which no attribute of mke_node expresses (it was \
                 installed by another tool). This change reinstalls the unit, and the flags are \
                 gone after it.",
                flags.join(" ")
            ),
        );
    }
}

/// A node whose `address` or `private_address` is one of its own
/// controllers: joining it as a worker would reinstall that controller.
fn check_not_a_controller(d: &mut Diagnostics, config: &Value) {
    let Value::Map(entries) = config.get_attr(controllers::ATTRIBUTE) else {
        return;
    };
    for field in ["address", "private_address"] {
        let Some(node_address) = config.get_attr(field).as_str() else {
            continue;
        };
        let controller = entries.iter().find_map(|(key, entry)| {
            ["address", "private_address"].into_iter().find_map(|f| {
                let a = entry.get_attr(f).as_str()?;
                a.eq_ignore_ascii_case(node_address).then_some((key, f))
            })
        });
        if let Some((key, controller_field)) = controller {
            d.error_at(
                AttributePath::root().attribute(field),
                "Node aimed at its own controller",
                format!(
                    "{node_address} is controller \"{key}\" of this cluster \
                     (controllers.{key}.{controller_field}). mke_node makes a machine a worker, \
                     and doing that to a controller takes it down. Set `{field}` to a machine \
                     that is not in `controllers`; to run workloads on a controller, set \
                     `workloads = true` on its entry in the mke_cluster's `controllers` instead."
                ),
            );
        }
    }
}

fn check_labels(d: &mut Diagnostics, labels: &Value) {
    let Value::Map(labels) = labels else { return };
    let path = |key: &str| AttributePath::root().attribute("labels").key(key);
    for (key, value) in labels {
        if let Err(e) = mke_k0s::validate::check_label_key(key) {
            d.error_at(path(key), "Invalid label", e.to_string());
        }
        if let Some(value) = value.as_str() {
            if let Err(e) = mke_k0s::validate::check_label_value(value) {
                d.error_at(path(key), "Invalid label", format!("label \"{key}\": {e}"));
            }
        }
    }
}

fn check_taints(d: &mut Diagnostics, taints: &Value) {
    let Value::List(items) = taints else { return };
    let path = |i: usize| AttributePath::root().attribute("taints").index(i as i64);
    let mut parsed = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let Some(text) = item.as_str() else { continue };
        match mke_k0s::validate::parse_taint(text) {
            Ok(taint) => {
                parsed.insert(i, taint);
            }
            Err(e) => d.error_at(path(i), "Invalid taint", e.to_string()),
        }
    }
    let (positions, taints): (Vec<usize>, Vec<_>) = parsed.into_iter().unzip();
    for (first, later) in mke_k0s::validate::duplicate_taints(&taints) {
        let (first, later) = (positions[first], positions[later]);
        d.error_at(
            path(later),
            "Duplicate taint",
            format!(
                "taints[{later}] and taints[{first}] have the same key and effect; Kubernetes \
                 allows one taint per key and effect on a node. Keep one of them."
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::node::schema;

    fn object(entries: &[(&str, Value)]) -> Value {
        Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    fn controllers() -> Value {
        Value::Map(BTreeMap::from([(
            "cp1".to_string(),
            object(&[
                ("address", Value::from("192.0.2.11")),
                ("private_address", Value::from("10.0.0.11")),
            ]),
        )]))
    }

    fn config(extra: &[(&str, Value)]) -> Value {
        let mut c = object(&[
            ("cluster_id", Value::from("c1")),
            ("controllers", controllers()),
            ("address", Value::from("192.0.2.21")),
        ]);
        if let Value::Object(f) = &mut c {
            for (k, v) in extra {
                f.insert(k.to_string(), v.clone());
            }
        }
        c
    }

    /// (attribute path, summary, detail) of each error.
    fn errors(d: &Diagnostics) -> Vec<(String, String, String)> {
        d.iter()
            .map(|x| {
                (
                    x.attribute
                        .as_ref()
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                    x.summary.clone(),
                    x.detail.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn a_plain_node_is_valid() {
        let d = validate_config(&config(&[
            ("private_address", Value::from("10.0.0.21")),
            ("drain_timeout", Value::from("2m")),
        ]));
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn a_node_aimed_at_its_own_controller_is_refused() {
        let d = validate_config(&config(&[("address", Value::from("192.0.2.11"))]));
        let found = errors(&d);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "address");
        assert_eq!(found[0].1, "Node aimed at its own controller");
        assert!(
            found[0].2.starts_with(
                "192.0.2.11 is controller \"cp1\" of this cluster (controllers.cp1.address)."
            ),
            "{found:?}"
        );
        assert!(found[0].2.contains("`workloads = true`"), "{found:?}");

        let d = validate_config(&config(&[("private_address", Value::from("10.0.0.11"))]));
        let found = errors(&d);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "private_address");
        assert!(
            found[0].2.contains("(controllers.cp1.private_address)"),
            "{found:?}"
        );

        // A node address that is a controller's private address, too.
        let d = validate_config(&config(&[("address", Value::from("10.0.0.11"))]));
        assert_eq!(errors(&d)[0].0, "address");
    }

    #[test]
    fn a_private_address_must_be_an_ip() {
        let d = validate_config(&config(&[("private_address", Value::from("w1.internal"))]));
        let found = errors(&d);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "private_address");
        assert!(found[0].2.contains("is not an IPv4 address"), "{found:?}");
    }

    #[test]
    fn label_values_and_taints_follow_kubernetes() {
        let labels = Value::Map(BTreeMap::from([
            ("tier".to_string(), Value::from("web")),
            ("zone".to_string(), Value::from("eu west")),
        ]));
        let d = validate_config(&config(&[("labels", labels)]));
        let found = errors(&d);
        assert_eq!(
            found,
            [(
                "labels[\"zone\"]".to_string(),
                "Invalid label".to_string(),
                "label \"zone\": \"eu west\" is not a Kubernetes label value: use up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit".to_string()
            )]
        );

        let taints = Value::List(vec![
            Value::from("dedicated=web:NoSchedule"),
            Value::from("gpu:Sometimes"),
            Value::from("dedicated=db:NoSchedule"),
        ]);
        let d = validate_config(&config(&[("taints", taints)]));
        let found = errors(&d);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].0, "taints[1]");
        assert!(found[0].2.contains("is not a taint effect"), "{found:?}");
        assert_eq!(found[1].0, "taints[2]");
        assert_eq!(found[1].1, "Duplicate taint");
        assert!(
            found[1]
                .2
                .starts_with("taints[2] and taints[0] have the same key and effect"),
            "{found:?}"
        );
    }

    #[test]
    fn time_limits_of_zero_are_refused() {
        let timeouts = object(&[("delete", Value::from("0s"))]);
        let d = validate_config(&config(&[
            ("drain_timeout", Value::from("0s")),
            ("timeouts", timeouts),
        ]));
        let found = errors(&d);
        let paths: Vec<&str> = found.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(paths, ["drain_timeout", "timeouts.delete"], "{found:?}");
        assert!(found
            .iter()
            .all(|(_, _, detail)| detail.contains("must be longer than zero")));
    }

    /// The plan Terraform would get for `config` over `prior`.
    fn plan(prior: &Value, config: &Value) -> Plan {
        crate::resources::plan_for(&schema(), prior, config, plan_node)
    }

    fn version(v: &str) -> (&'static str, Value) {
        ("k0s_version", Value::from(v))
    }

    #[test]
    fn in_place_version_changes_go_forward_one_minor_at_a_time() {
        let prior = plan(&Value::Null, &config(&[version("v1.30.2+k0s.0")])).planned;

        for fine in [
            "v1.30.2+k0s.0",
            "v1.30.4+k0s.0",
            "v1.31.0+k0s.0",
            "v1.30.1+k0s.0",
        ] {
            let p = plan(&prior, &config(&[version(fine)]));
            assert!(!p.diagnostics.has_errors(), "{fine}: {:?}", p.diagnostics);
        }

        let p = plan(&prior, &config(&[version("v1.29.3+k0s.0")]));
        let found = errors(&p.diagnostics);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "k0s_version");
        assert_eq!(found[0].1, "Unsupported k0s version change");
        assert!(
            found[0]
                .2
                .starts_with("v1.30.2+k0s.0 cannot be downgraded to v1.29.3+k0s.0 in place"),
            "{found:?}"
        );
        assert!(found[0].2.contains("new node"), "{found:?}");

        let p = plan(&prior, &config(&[version("v1.32.0+k0s.0")]));
        let found = errors(&p.diagnostics);
        assert!(
            found[0].2.ends_with(
                "Set k0s_version to a v1.31 release and apply, then go on to v1.32.0+k0s.0."
            ),
            "{found:?}"
        );
    }

    #[test]
    fn a_replacement_or_a_create_may_pick_any_version() {
        let prior = plan(&Value::Null, &config(&[version("v1.30.2+k0s.0")])).planned;
        let p = plan(
            &prior,
            &config(&[
                version("v1.29.3+k0s.0"),
                ("address", Value::from("192.0.2.22")),
            ]),
        );
        assert!(!p.requires_replace.is_empty());
        assert!(!p.diagnostics.has_errors(), "{:?}", p.diagnostics);

        let p = plan(&Value::Null, &config(&[version("v1.29.3+k0s.0")]));
        assert!(!p.diagnostics.has_errors(), "{:?}", p.diagnostics);
    }

    #[test]
    fn an_unknown_version_is_checked_later() {
        let prior = plan(&Value::Null, &config(&[version("v1.30.2+k0s.0")])).planned;
        let p = plan(&prior, &config(&[("k0s_version", Value::Unknown)]));
        assert!(!p.diagnostics.has_errors(), "{:?}", p.diagnostics);
    }

    #[test]
    fn the_download_url_and_checksum_are_checked_as_on_the_cluster() {
        let found = errors(&validate_config(&config(&[
            (
                "k0s_download_url",
                Value::from("http://mirror.internal/k0s"),
            ),
            ("k0s_sha256", Value::from("abc")),
        ])));
        let attributes: Vec<&str> = found.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(
            attributes,
            vec!["k0s_sha256", "k0s_download_url"],
            "{found:?}"
        );
    }
}

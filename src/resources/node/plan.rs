//! Plan time: validation of an `mke_node` configuration, each check on its
//! attribute.

use tfplugin::tfvalue::{AttributePath, Value};
use tfplugin::Diagnostics;

use crate::resources::cluster::validate_timeouts;
use crate::resources::controllers;
use crate::resources::validate::{check_address, check_duration, check_k0s_version, check_port};

const TAINT_EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

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
            if let Err(e) = check_label_key(key) {
                d.error_at(
                    root.clone().attribute("labels").key(key.clone()),
                    "Invalid label",
                    e,
                );
            }
        }
    }
    if let Value::List(taints) = config.get_attr("taints") {
        for (i, t) in taints.iter().enumerate() {
            if let Some(t) = t.as_str() {
                if let Err(e) = parse_taint(t) {
                    d.error_at(
                        root.clone().attribute("taints").index(i as i64),
                        "Invalid taint",
                        e,
                    );
                }
            }
        }
    }
    validate_timeouts(&mut d, config);
    d
}

fn check_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.".contains(c))
    });
    if name_ok && prefix_ok {
        Ok(())
    } else {
        Err(format!("\"{key}\" is not a Kubernetes label key: use [prefix/]name, where name is up to 63 letters, digits, '-', '_' or '.'"))
    }
}

/// `key[=value]:Effect` → (key, value, effect).
pub fn parse_taint(taint: &str) -> Result<(String, String, String), String> {
    let (kv, effect) = taint
        .rsplit_once(':')
        .ok_or_else(|| format!("\"{taint}\" has no effect: write key=value:Effect"))?;
    if !TAINT_EFFECTS.contains(&effect) {
        return Err(format!(
            "\"{effect}\" in \"{taint}\" is not a taint effect: use NoSchedule, PreferNoSchedule or NoExecute"
        ));
    }
    let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
    check_label_key(key).map_err(|e| format!("taint \"{taint}\": {e}"))?;
    Ok((key.to_string(), value.to_string(), effect.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taints_need_a_known_effect() {
        assert_eq!(
            parse_taint("dedicated=web:NoSchedule").unwrap(),
            ("dedicated".into(), "web".into(), "NoSchedule".into())
        );
        assert!(parse_taint("gpu:NoExecute").is_ok());
        assert!(parse_taint("dedicated=web")
            .unwrap_err()
            .contains("no effect"));
        assert!(parse_taint("a=b:Sometimes")
            .unwrap_err()
            .contains("not a taint effect"));
    }
}

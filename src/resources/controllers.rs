//! `controllers`: one nested type shared by `mke_cluster`, `mke_node` and
//! `mke_kubeconfig`, so the cluster's attribute (with the host keys it
//! pinned) passes straight through to the others.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tfplugin::tfvalue::{AttributePath, Unknowable, Value};
use tfplugin::{Attribute, Diagnostics, Nesting};

use super::validate::{check_address, check_port, check_private_address, check_unique_addresses};
use crate::ops::ControllerHost;

pub const ATTRIBUTE: &str = "controllers";

/// One entry of `controllers`, as Terraform holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerModel {
    pub address: String,
    pub private_address: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// Unknown in a plan until first contact records it.
    pub host_key: Unknowable<Option<String>>,
    pub workloads: Option<bool>,
}

impl ControllerModel {
    pub fn host(&self) -> ControllerHost {
        ControllerHost {
            address: self.address.clone(),
            private_address: self.private_address.clone(),
            port: self.port,
            user: self.user.clone(),
            host_key: self.host_key.known().cloned().flatten(),
            workloads: self.workloads.unwrap_or(false),
        }
    }
}

pub type ControllersModel = BTreeMap<String, ControllerModel>;

/// The typed controllers of a model.
pub fn hosts(models: &ControllersModel) -> BTreeMap<String, ControllerHost> {
    models.iter().map(|(k, m)| (k.clone(), m.host())).collect()
}

/// Records host keys learned on first contact where none was known.
pub fn record_host_keys(models: &mut ControllersModel, keys: &BTreeMap<String, String>) {
    for (key, host_key) in keys {
        if let Some(m) = models.get_mut(key) {
            if !matches!(m.host_key, Unknowable::Known(Some(_))) {
                m.host_key = Unknowable::Known(Some(host_key.clone()));
            }
        }
    }
}

pub fn host_attributes() -> Vec<Attribute> {
    vec![
        Attribute::string("address")
            .required()
            .description("Address (IPv4 or DNS name) the provider reaches the machine at over SSH."),
        Attribute::string("private_address").optional().description(
            "IPv4 address the machine uses inside the cluster (API, etcd peers); not a DNS name, \
             since k0s needs an IP there. When set, it becomes `spec.api.address` and \
             `spec.storage.etcd.peerAddress` on that host.",
        ),
        Attribute::number("port")
            .optional()
            .description("SSH port. Null uses the provider's `ssh.port` (22 by default)."),
        Attribute::string("user").optional().description(
            "SSH user. Null uses the provider's `ssh.user` (`root` by default). A user other than \
             root runs every command through `sudo -n`.",
        ),
        Attribute::string("host_key")
            .optional_computed()
            .recompute_on_change_of(&["address", "port"])
            .description(
                "The machine's SSH host key, as `<type> <base64>` (for example the contents of \
                 `/etc/ssh/ssh_host_ed25519_key.pub`). When set, it is checked strictly. When \
                 null, the key presented on first contact is recorded here and pinned from then on.",
            ),
        Attribute::bool("workloads").default(false).description(
            "Also run workloads on this controller (`--enable-worker --no-taints`). Default `false`.",
        ),
    ]
}

pub fn attribute(description: &str) -> Attribute {
    Attribute::nested(ATTRIBUTE, Nesting::Map, host_attributes())
        .required()
        .description(description)
}

/// Checks a `controllers` map: at least one entry, valid addresses (the
/// private ones IPv4) and ports, no machine twice.
/// [`validate`], and every controller must carry its `host_key`: for the types that connect
/// only to pinned hosts, because they keep no state to record a key seen on first contact.
/// `who` names the type in the message (`mke_backup`, "A listing", …).
pub fn validate_pinned(d: &mut Diagnostics, value: &Value, who: &str) {
    validate(d, value);
    let Value::Map(entries) = value else { return };
    for (key, entry) in entries {
        if entry.is_known() && entry.get_attr("host_key").is_null() {
            d.error_at(
                AttributePath::root()
                    .attribute(ATTRIBUTE)
                    .key(key.clone())
                    .attribute("host_key"),
                "Controller without host_key",
                format!(
                    "Controller \"{key}\" has no host_key. {who} keeps no state to record a key \
                     seen on first contact, so every controller must come with its pinned key: \
                     pass `mke_cluster.<name>.controllers`, or set host_key to the machine's key \
                     (`<type> <base64>`, e.g. from /etc/ssh/ssh_host_ed25519_key.pub)."
                ),
            );
        }
    }
}

pub fn validate(d: &mut Diagnostics, value: &Value) {
    let path = AttributePath::root().attribute(ATTRIBUTE);
    let Value::Map(entries) = value else { return };
    if entries.is_empty() {
        d.error_at(
            path,
            "No controllers",
            "`controllers` needs at least one machine: a cluster cannot run without a controller.",
        );
        return;
    }
    for (key, entry) in entries {
        let p = path.clone().key(key.clone());
        check_address(d, p.clone().attribute("address"), entry.get_attr("address"));
        check_private_address(
            d,
            p.clone().attribute("private_address"),
            entry.get_attr("private_address"),
        );
        check_port(d, p.clone().attribute("port"), entry.get_attr("port"));
        if let Some(key_text) = entry.get_attr("host_key").as_str() {
            if !looks_like_public_key(key_text) {
                d.error_at(
                    p.clone().attribute("host_key"),
                    "Invalid host key",
                    format!(
                        "\"{key_text}\" is not an SSH public key: expected `<type> <base64>`, \
                         for example `ssh-ed25519 AAAAC3...`."
                    ),
                );
            }
        }
    }
    check_unique_addresses(d, &path, entries);
}

/// `<type> <base64> [comment]`, as in a `.pub` file or known_hosts.
fn looks_like_public_key(text: &str) -> bool {
    use base64::Engine as _;
    let mut fields = text.split_whitespace();
    let (Some(kind), Some(blob)) = (fields.next(), fields.next()) else {
        return false;
    };
    let known_kind =
        kind.starts_with("ssh-") || kind.starts_with("ecdsa-sha2-") || kind.starts_with("sk-");
    known_kind
        && base64::engine::general_purpose::STANDARD
            .decode(blob)
            .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(address: &str, private_address: Option<&str>) -> Value {
        let mut fields = BTreeMap::from([("address".to_string(), Value::from(address))]);
        if let Some(p) = private_address {
            fields.insert("private_address".to_string(), Value::from(p));
        }
        Value::Object(fields)
    }

    #[test]
    fn a_private_address_must_be_an_ip_and_no_machine_appears_twice() {
        let value = Value::Map(BTreeMap::from([
            (
                "cp1".to_string(),
                entry("cp1.example.com", Some("cp1.internal")),
            ),
            ("cp2".to_string(), entry("192.0.2.12", Some("10.0.0.12"))),
            ("cp3".to_string(), entry("10.0.0.12", None)),
        ]));
        let mut d = Diagnostics::new();
        validate(&mut d, &value);
        let found: Vec<(String, String, String)> = d
            .iter()
            .map(|x| {
                (
                    x.attribute.as_ref().unwrap().to_string(),
                    x.summary.clone(),
                    x.detail.clone(),
                )
            })
            .collect();
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].0, "controllers[\"cp1\"].private_address");
        assert_eq!(found[0].1, "Invalid private_address");
        assert!(found[0].2.contains("is not an IPv4 address"), "{found:?}");
        assert_eq!(found[1].0, "controllers[\"cp3\"].address");
        assert_eq!(
            found[1].2,
            "10.0.0.12 is used by both \"cp2\" and \"cp3\"; each machine must appear once."
        );
    }
}

//! `controllers`: one nested type shared by `mke_cluster`, `mke_node` and
//! `mke_kubeconfig`, so the cluster's attribute (with the host keys it
//! pinned) passes straight through to the others.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tfplugin::tfvalue::{AttributePath, Value};
use tfplugin::{Attribute, Diagnostics, Nesting};

use crate::validate::{self, attr, check_address, check_port, check_unique_addresses};

pub const ATTRIBUTE: &str = "controllers";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerHost {
    pub address: String,
    pub private_address: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub host_key: Option<String>,
    pub workloads: Option<bool>,
}

impl ControllerHost {
    pub fn workloads(&self) -> bool {
        self.workloads.unwrap_or(false)
    }
}

pub fn host_attributes() -> Vec<Attribute> {
    vec![
        Attribute::string("address")
            .required()
            .description("Address (IPv4 or DNS name) the provider reaches the machine at over SSH."),
        Attribute::string("private_address").optional().description(
            "Address the machine uses inside the cluster (API, etcd peers). When set, it becomes \
             `spec.api.address` and `spec.storage.etcd.peerAddress` on that host.",
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

/// Checks a `controllers` map: at least one entry, valid addresses and
/// ports, no machine twice.
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
        check_address(d, p.clone().attribute("address"), attr(entry, "address"));
        check_address(
            d,
            p.clone().attribute("private_address"),
            attr(entry, "private_address"),
        );
        check_port(d, p.clone().attribute("port"), attr(entry, "port"));
        if let Some(key_text) = validate::known_str(attr(entry, "host_key")) {
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

pub fn from_value(value: &Value) -> Result<BTreeMap<String, ControllerHost>, String> {
    tfplugin::tfvalue::from_value(value).map_err(|e| e.to_string())
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

/// The controllers of a planned or stored value. A host key not yet known
/// (planned unknown) reads as `None`: it is learned on first contact.
pub fn hosts_from(value: &Value) -> Option<BTreeMap<String, ControllerHost>> {
    let Value::Map(entries) = value else {
        return None;
    };
    let mut out = BTreeMap::new();
    for (key, e) in entries {
        let text = |name: &str| validate::known_str(attr(e, name)).map(str::to_string);
        out.insert(
            key.clone(),
            ControllerHost {
                address: text("address")?,
                private_address: text("private_address"),
                port: validate::known_i64(attr(e, "port")).map(|p| p as u16),
                user: text("user"),
                host_key: text("host_key"),
                workloads: match attr(e, "workloads") {
                    Value::Bool(b) => Some(*b),
                    _ => None,
                },
            },
        );
    }
    Some(out)
}

/// Writes the host keys learned on first contact into a controllers value.
pub fn record_host_keys(value: &mut Value, keys: &BTreeMap<String, String>) {
    let Value::Map(entries) = value else { return };
    for (key, host_key) in keys {
        if let Some(Value::Object(fields)) = entries.get_mut(key) {
            let current = fields.get("host_key");
            if !matches!(current, Some(Value::String(_))) {
                fields.insert("host_key".into(), Value::String(host_key.clone()));
            }
        }
    }
}

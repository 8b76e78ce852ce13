//! `mke_node`: one machine joined to a cluster as a worker. Terraform side
//! only; the host work lives in `crate::ops::node`.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use tfplugin::tfvalue::{AttributePath, Value};
use tfplugin::{
    Attribute, Block, Ctx, Diagnostics, IdentityAttribute, IdentitySchema, Plan, PlanRequest,
    Resource, Schema, StateOutcome,
};

use super::cluster::{timeouts_attribute, validate_timeouts};
use super::controllers;
use crate::provider::ProviderState;
use crate::validate::{
    attr, check_address, check_duration, check_k0s_version, check_port, known_str,
};

pub const TYPE_NAME: &str = "mke_node";
const TAINT_EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

pub struct NodeResource {
    pub state: Arc<ProviderState>,
}

pub fn schema() -> Schema {
    Schema::new(
        0,
        Block::new(
            "One machine joined to an MKE 4 cluster as a worker. Create one per machine with \
             `for_each`; deleting it drains the node, removes it from Kubernetes and wipes k0s \
             from the machine.",
            vec![
                Attribute::string("cluster_id")
                    .required()
                    .requires_replace()
                    .description("The cluster to join: `mke_cluster.<name>.id`. Changing it replaces the node."),
                controllers::attribute(
                    "How to reach the cluster's controllers over SSH, to mint a join token, label, \
                     taint, drain and delete the node. Pass `mke_cluster.<name>.controllers` so the \
                     host keys the cluster pinned come along. A change is only recorded.",
                ),
                Attribute::string("k0s_version")
                    .default(mke_k0s::DEFAULT_K0S_VERSION)
                    .description(
                        "k0s release to run. Pass `mke_cluster.<name>.k0s_version` so workers follow \
                         the cluster; a change drains the node and upgrades it in place.",
                    ),
                Attribute::string("k0s_binary_path")
                    .optional()
                    .description("Local k0s binary to upload, as on `mke_cluster`."),
                Attribute::string("k0s_download_url")
                    .default(mke_k0s::DEFAULT_DOWNLOAD_URL)
                    .description("URL template to download k0s from, as on `mke_cluster`."),
                Attribute::string("address")
                    .required()
                    .requires_replace()
                    .description("Address the provider reaches the machine at over SSH. Changing it replaces the node."),
                Attribute::string("private_address")
                    .optional()
                    .requires_replace()
                    .description("Address the kubelet registers with (`--node-ip`). Changing it replaces the node."),
                Attribute::number("port")
                    .optional()
                    .description("SSH port. Null uses the provider's `ssh.port`."),
                Attribute::string("user")
                    .optional()
                    .description("SSH user. Null uses the provider's `ssh.user`; a user other than root uses `sudo -n`."),
                Attribute::string("host_key")
                    .optional_computed()
                    .recompute_on_change_of(&["address", "port"])
                    .description(
                        "The machine's SSH host key (`<type> <base64>`). Checked strictly when set; \
                         when null, the key seen on first contact is recorded and pinned.",
                    ),
                Attribute::string_map("labels")
                    .optional()
                    .description("Kubernetes labels of the node. Changed in place; only these keys are managed."),
                Attribute::string_list("taints").optional().description(
                    "Taints of the node, as `key=value:Effect` or `key:Effect` (Effect is \
                     `NoSchedule`, `PreferNoSchedule` or `NoExecute`). Changed in place.",
                ),
                Attribute::string("drain_timeout")
                    .default("5m")
                    .description("How long a drain may take before the operation fails. Default `5m`."),
                timeouts_attribute("20m", "30m", "20m"),
                Attribute::string("id")
                    .computed()
                    .stable()
                    .description("`<cluster_id>/<node_name>`."),
                Attribute::string("node_name")
                    .computed()
                    .stable()
                    .description("The Kubernetes node name (the machine's hostname)."),
                Attribute::string("status").computed().description(
                    "What the last refresh saw: `running`, `stopped`, `absent`, `unreachable`, or \
                     `unregistered` (k0s runs but the Node object is missing). Plans propose \
                     `running`, so drift shows as a change.",
                ),
            ],
        ),
    )
}

pub fn validate_config(config: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    let root = AttributePath::root();
    controllers::validate(&mut d, attr(config, "controllers"));
    check_k0s_version(
        &mut d,
        root.clone().attribute("k0s_version"),
        attr(config, "k0s_version"),
    );
    check_address(
        &mut d,
        root.clone().attribute("address"),
        attr(config, "address"),
    );
    check_address(
        &mut d,
        root.clone().attribute("private_address"),
        attr(config, "private_address"),
    );
    check_port(&mut d, root.clone().attribute("port"), attr(config, "port"));
    check_duration(
        &mut d,
        root.clone().attribute("drain_timeout"),
        attr(config, "drain_timeout"),
    );
    if let Value::Map(labels) = attr(config, "labels") {
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
    if let Value::List(taints) = attr(config, "taints") {
        for (i, t) in taints.iter().enumerate() {
            if let Some(t) = known_str(t) {
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

pub fn import_id(state: &Value) -> Option<String> {
    let address = known_str(attr(state, "address"))?;
    Some(match crate::validate::known_i64(attr(state, "port")) {
        Some(port) => format!("{address}:{port}"),
        None => address.to_string(),
    })
}

#[async_trait]
impl Resource for NodeResource {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }
    fn schema(&self) -> Schema {
        schema()
    }
    fn identity_schema(&self) -> Option<IdentitySchema> {
        Some(IdentitySchema {
            version: 0,
            attributes: vec![IdentityAttribute {
                name: "address".into(),
                ty: tfplugin::tfvalue::Type::String,
                required_for_import: true,
                description: "The machine, as `<address>[:<port>]`.".into(),
            }],
        })
    }
    fn identity(&self, state: &Value) -> Option<Value> {
        let id = import_id(state)?;
        Some(Value::Object(BTreeMap::from([(
            "address".to_string(),
            Value::String(id),
        )])))
    }
    fn import_id_from_identity(&self, identity: &Value) -> Result<String, Diagnostics> {
        known_str(attr(identity, "address"))
            .map(str::to_string)
            .ok_or_else(|| {
                let mut d = Diagnostics::new();
                d.error("Invalid identity", "`address` must be a known string.");
                d
            })
    }
    fn validate(&self, config: &Value) -> Diagnostics {
        validate_config(config)
    }
    fn modify_plan(&self, _request: &PlanRequest<'_>, plan: &mut Plan) {
        if let Value::Object(fields) = &mut plan.planned {
            fields.insert("status".into(), Value::String("running".into()));
        }
    }
    async fn create(&self, ctx: &Ctx, planned: Value, _config: Value) -> StateOutcome {
        crate::ops::node::create(&self.state, ctx, planned).await
    }
    async fn update(
        &self,
        ctx: &Ctx,
        prior: Value,
        planned: Value,
        _config: Value,
        _private: Vec<u8>,
    ) -> StateOutcome {
        crate::ops::node::update(&self.state, ctx, prior, planned).await
    }
    async fn delete(&self, ctx: &Ctx, prior: Value, _private: Vec<u8>) -> Diagnostics {
        crate::ops::node::delete(&self.state, ctx, prior).await
    }
    async fn read(&self, ctx: &Ctx, state: Value, private: Vec<u8>) -> StateOutcome {
        crate::ops::node::read(&self.state, ctx, state, private).await
    }
    async fn import(&self, ctx: &Ctx, id: &str) -> StateOutcome {
        crate::ops::node::import(&self.state, ctx, id).await
    }
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

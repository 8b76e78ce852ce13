//! `mke_backup`: an action (Terraform 1.14+) that takes a backup of the
//! cluster's control plane now, for `terraform apply -invoke=...` and for
//! `action_trigger` in a resource's `lifecycle`. This file is the Terraform
//! side: schema, plan-time checks and progress; the host work lives in
//! `crate::ops::backup`.

use std::path::PathBuf;

use async_trait::async_trait;
use tfplugin::schema::{Presence, Recompute};
use tfplugin::tfvalue::{AttributePath, Value};
use tfplugin::{Action, Attribute, Block, Ctx, Diagnostics, Nesting, Progress, Schema};

use super::controllers::{self, ControllersModel};
use super::validate::check_range;
use crate::ops::backup::{self as ops, BackupRequest};
use crate::resources::{diagnose, runtime, SharedRuntime};

pub const TYPE_NAME: &str = "mke_backup";
pub const DEFAULT_DIRECTORY: &str = "./backups";
pub const DEFAULT_KEEP: i64 = 10;
/// Far more than anyone keeps; the bound only catches typos.
const MAX_KEEP: i64 = 10_000;

pub struct BackupAction {
    pub runtime: SharedRuntime,
}

/// The controllers' attributes as an action takes them: an action's
/// configuration is only ever given, so nothing in it is computed.
fn action_host_attributes() -> Vec<Attribute> {
    controllers::host_attributes()
        .into_iter()
        .map(|mut a| {
            if a.presence.is_computed() {
                a.presence = Presence::Optional;
            }
            a.default = None;
            a.recompute = Recompute::OnAnyChange;
            if a.name == "host_key" {
                a.description = "The machine's SSH host key, as `<type> <base64>`. Required for \
                                 every controller (the cluster's `controllers` carry the keys it \
                                 pinned): an action has no state to record a key seen on first \
                                 contact, so it connects to pinned hosts only."
                    .to_string();
            }
            if a.name == "workloads" {
                a.description = "Accepted so that `mke_cluster.<name>.controllers` passes \
                                 through; a backup does not use it."
                    .to_string();
            }
            a
        })
        .collect()
}

pub fn schema() -> Schema {
    Schema::new(
        0,
        Block::new(
            "Takes a backup of the cluster's control plane now and writes it on the machine \
             running Terraform. Needs **Terraform 1.14 or later** (actions): run it with \
             `terraform apply -invoke=action.mke_backup.<name>`, or from an `action_trigger` \
             in a resource's `lifecycle` (for example before every update of `mke_cluster`).\n\n\
             On the first controller (in key order) that answers over SSH and runs k0s, it runs \
             `k0s backup --save-path=-` and streams the archive into `directory`: nothing stays \
             on the host. The archive is read back and verified (gzip intact, a storage \
             snapshot, the cluster CA and `k0s.yaml`), renamed into place atomically as \
             `mke_backup_<cluster id>_<UTC time>_<n>.tar.gz` (the cluster id is the UID of the \
             `kube-system` namespace; the time has millisecond resolution and `<n>` tells \
             apart names made in the same millisecond), and its SHA-256 written beside it in \
             `<archive>.sha256`, as `sha256sum` prints it. Then that cluster's archives beyond \
             the newest `keep` are deleted, with their `.sha256` files; other files and other \
             clusters' archives are never touched.\n\n\
             An archive holds what `k0s restore` brings back: the etcd snapshot (every \
             Kubernetes object, Secrets included: keep archives private), the PKI under \
             `/var/lib/k0s/pki` and the controller's `/etc/k0s/k0s.yaml`. It does **not** hold \
             workloads' volumes or any data on the nodes, the kubelet's or workers' \
             configuration, the k0s binary, nor the install flags of the k0s service. A \
             controller without `/etc/k0s/k0s.yaml` cannot be backed up (k0s archives that \
             file); the action says so.",
            vec![
                Attribute::nested(
                    controllers::ATTRIBUTE,
                    Nesting::Map,
                    action_host_attributes(),
                )
                .required()
                .description(
                    "How to reach the controllers over SSH: pass `mke_cluster.<name>.controllers` \
                     (see the note on cycles below for `action_trigger`). Every controller must \
                     carry `host_key`. They are tried in key order; the backup is taken on the \
                     first that answers and runs k0s as a controller.",
                ),
                Attribute::string("directory").optional().description(
                    "Where archives are written, created if missing. A relative path is relative \
                     to Terraform's working directory. Default `./backups`.",
                ),
                Attribute::number("keep").optional().description(
                    "How many archives of this cluster to keep in `directory`, the new one \
                     included; older ones are deleted with their `.sha256`. At least 1. \
                     Default `10`.",
                ),
            ],
        ),
    )
}

pub fn validate_config(config: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    let root = AttributePath::root();
    let hosts = config.get_attr(controllers::ATTRIBUTE);
    controllers::validate_pinned(&mut d, hosts, "mke_backup");
    if let Some(directory) = config.get_attr("directory").as_str() {
        if directory.trim().is_empty() {
            d.error_at(
                root.clone().attribute("directory"),
                "Invalid backup directory",
                "`directory` is empty: name a directory, or leave it out for `./backups`.",
            );
        }
    }
    check_range(
        &mut d,
        root.attribute("keep"),
        config.get_attr("keep"),
        1,
        MAX_KEEP,
        "keep",
    );
    d
}

/// Reads a wholly known configuration, defaults applied; the plan-time
/// checks run again, since invoke must not rely on them.
pub fn request(config: &Value) -> Result<BackupRequest, Diagnostics> {
    let d = validate_config(config);
    if d.has_errors() {
        return Err(d);
    }
    let models: ControllersModel =
        tfplugin::tfvalue::from_value(config.get_attr(controllers::ATTRIBUTE)).map_err(|e| {
            let mut d = Diagnostics::new();
            d.error_at(
                AttributePath::root().attribute(controllers::ATTRIBUTE),
                "Invalid controllers",
                e.to_string(),
            );
            d
        })?;
    let keep = match config.get_attr("keep") {
        Value::Number(n) => n.as_i64().unwrap_or(DEFAULT_KEEP),
        _ => DEFAULT_KEEP,
    };
    Ok(BackupRequest {
        // Key order: the order `mke_cluster` picks its first leader in.
        controllers: controllers::hosts(&models).into_iter().collect(),
        directory: PathBuf::from(
            config
                .get_attr("directory")
                .as_str()
                .unwrap_or(DEFAULT_DIRECTORY),
        ),
        keep: usize::try_from(keep).unwrap_or(1),
    })
}

#[async_trait]
impl Action for BackupAction {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        schema()
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        validate_config(config)
    }

    async fn invoke(&self, ctx: &Ctx, config: Value, progress: Progress) -> Diagnostics {
        if !config.is_wholly_known() {
            let mut d = Diagnostics::new();
            d.error(
                "mke_backup: configuration not known",
                "Some of the action's configuration is still unknown when it runs; it can only \
                 back up a cluster whose controllers are known.",
            );
            return d;
        }
        let request = match request(&config) {
            Ok(r) => r,
            Err(d) => return d,
        };
        let rt = match runtime(&self.runtime) {
            Ok(rt) => rt,
            Err(e) => return diagnose::error("Backup failed", &e),
        };
        // `take` reports through a plain callback; Terraform's stream is
        // async, so messages pass through a channel read beside the work.
        let (sender, mut messages) = tokio::sync::mpsc::unbounded_channel::<String>();
        let work = async move {
            let report = move |message: String| {
                let _ = sender.send(message);
            };
            ops::take(rt, &ctx.cancel, &request, &report).await
        };
        let forward = async {
            while let Some(message) = messages.recv().await {
                progress.send(message).await;
            }
        };
        let (taken, ()) = tokio::join!(work, forward);
        match taken {
            Ok(record) => {
                tracing::info!(
                    path = %record.path.display(),
                    bytes = record.bytes,
                    sha256 = record.sha256.as_str(),
                    controller = record.controller.as_str(),
                    "mke_backup: wrote {}",
                    record.path.display()
                );
                Diagnostics::new()
            }
            Err(e) => diagnose::error("Backup failed", &e),
        }
    }
}

/// The schema of a nested attribute's entries, for tests.
#[cfg(test)]
fn nested_attributes(schema: &Schema, name: &str) -> Vec<Attribute> {
    schema
        .block
        .attributes
        .iter()
        .find(|a| a.name == name)
        .map(|a| match &a.kind {
            tfplugin::schema::AttributeKind::Nested { attributes, .. } => attributes.clone(),
            tfplugin::schema::AttributeKind::Primitive(_) => Vec::new(),
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";

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

    fn config(controllers: Value, directory: Value, keep: Value) -> Value {
        Value::Object(BTreeMap::from([
            ("controllers".into(), controllers),
            ("directory".into(), directory),
            ("keep".into(), keep),
        ]))
    }

    fn two_controllers() -> Value {
        Value::Map(BTreeMap::from([
            ("cp2".into(), host("192.0.2.12", Some(KEY))),
            ("cp1".into(), host("192.0.2.11", Some(KEY))),
        ]))
    }

    fn summaries(d: &Diagnostics) -> Vec<(String, String)> {
        d.iter()
            .map(|x| {
                (
                    x.attribute
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    x.summary.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn defaults_apply_and_controllers_are_tried_in_key_order() {
        let r = request(&config(two_controllers(), Value::Null, Value::Null)).unwrap();
        assert_eq!(r.directory, PathBuf::from("./backups"));
        assert_eq!(r.keep, 10);
        let keys: Vec<&str> = r.controllers.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["cp1", "cp2"]);
        let r = request(&config(
            two_controllers(),
            Value::from("/srv/backups"),
            Value::from(2),
        ))
        .unwrap();
        assert_eq!((r.directory, r.keep), (PathBuf::from("/srv/backups"), 2));
    }

    #[test]
    fn keep_below_one_an_empty_directory_and_no_controllers_are_refused() {
        let d = validate_config(&config(two_controllers(), Value::from(" "), Value::from(0)));
        assert_eq!(
            summaries(&d),
            [
                (
                    "directory".to_string(),
                    "Invalid backup directory".to_string()
                ),
                ("keep".to_string(), "Invalid keep".to_string()),
            ]
        );
        let d = validate_config(&config(
            Value::Map(BTreeMap::new()),
            Value::Null,
            Value::Null,
        ));
        assert_eq!(
            summaries(&d),
            [("controllers".to_string(), "No controllers".to_string())]
        );
    }

    #[test]
    fn a_controller_without_host_key_is_named_and_unknown_values_are_not_errors() {
        let controllers = Value::Map(BTreeMap::from([("cp1".into(), host("192.0.2.11", None))]));
        let d = validate_config(&config(controllers, Value::Null, Value::Null));
        assert_eq!(
            summaries(&d),
            [(
                "controllers[\"cp1\"].host_key".to_string(),
                "Controller without host_key".to_string()
            )]
        );
        assert!(
            validate_config(&config(Value::Unknown, Value::Unknown, Value::Unknown)).is_empty()
        );
        let mut unknown_key = host("192.0.2.11", None);
        if let Value::Object(f) = &mut unknown_key {
            f.insert("host_key".into(), Value::Unknown);
        }
        let controllers = Value::Map(BTreeMap::from([("cp1".into(), unknown_key)]));
        assert!(validate_config(&config(controllers, Value::Null, Value::Null)).is_empty());
    }

    #[test]
    fn nothing_in_the_configuration_is_computed() {
        let s = schema();
        for a in s
            .block
            .attributes
            .iter()
            .chain(nested_attributes(&s, "controllers").iter())
        {
            assert!(!a.presence.is_computed(), "{} is computed", a.name);
            assert!(a.default.is_none(), "{} has a default", a.name);
        }
    }
}

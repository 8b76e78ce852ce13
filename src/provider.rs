//! The `mke` provider block: SSH defaults, parallelism, and the client check.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use tfplugin::tfvalue::{from_value, AttributePath, Value};
use tfplugin::{
    Action, Attribute, Block, DataSource, Diagnostics, EphemeralResource, ListResource,
    NestedBlock, Provider, Resource, Schema,
};

use crate::ops::{BastionSettings, Runtime, Settings, SshSettings};
use crate::resources::cluster::nulls_for_unknowns;
use crate::resources::validate::{
    check_address, check_duration, check_port, check_positive_duration, check_range,
};
use crate::resources::SharedRuntime;
use crate::resources::{
    backup::BackupAction,
    cluster::{ClusterList, ClusterResource},
    health::HealthDataSource,
    kubeconfig::KubeconfigResource,
    node::{NodeList, NodeResource},
};

pub const ADDRESS: &str = "registry.terraform.io/mke/mke";
/// Terraform 1.0–1.4 mishandle nested attributes, which every resource here uses.
const MINIMUM_CLIENT: (u64, u64) = (1, 5);

#[derive(Default)]
pub struct MkeProvider {
    runtime: SharedRuntime,
}

pub fn schema() -> Schema {
    let ssh = Block::new(
        "Defaults for reaching every host over SSH. Per-host `port` and `user` override them.",
        vec![
            Attribute::string("user").optional().description("SSH user. Default `root`; any other user runs commands through `sudo -n`."),
            Attribute::number("port").optional().description("SSH port. Default `22`."),
            Attribute::string("private_key").optional().sensitive().description(
                "Private key (PEM/OpenSSH text, e.g. `file(\"~/.ssh/id_ed25519\")`). Never written \
                 to state. When null, the ssh-agent (`SSH_AUTH_SOCK`) and your default keys are used.",
            ),
            Attribute::string("timeout").optional().description(
                "How long create waits for a host to answer, and for a refused login to be \
                 accepted (a fresh machine whose keys arrive late); longer than zero. Default \
                 `5m`. Read and delete give up on an unreachable host after 30s at most, and \
                 never retry a refused login.",
            ),
            Attribute::string("persist").optional().description(
                "How long the SSH connection to a host stays open after the provider exits, so that \
                 the next run (the `apply` after a `plan`) reuses it instead of logging in again. \
                 Default `60s`; `0s` closes every connection when the provider exits. Only \
                 connections to hosts with a known key (`host_key`, or the key recorded in state) \
                 persist, and a connection is reused only for the same user, address, port, \
                 bastion, private key and host key. While one lives, any process of your local \
                 user can run commands on that host through its socket (see the provider docs).",
            ),
            Attribute::string("bastion_host").optional().description("Jump host (ProxyJump) in front of every host."),
            Attribute::string("bastion_user").optional().description("User on the jump host. Defaults to `user`."),
            Attribute::number("bastion_port").optional().description("SSH port of the jump host. Default `22`."),
            Attribute::string("bastion_private_key").optional().sensitive().description(
                "Private key for the jump host. Defaults to `private_key`. Never written to state.",
            ),
            Attribute::string("bastion_host_key").optional().description(
                "Host key of the jump host (`<type> <base64>`). When null, the jump host must be in \
                 `~/.ssh/known_hosts`.",
            ),
        ],
    );
    Schema::new(
        0,
        Block::new(
            "Installs and manages Mirantis Kubernetes Engine 4 (k0s with Calico) on your own \
             machines over SSH.",
            vec![
                Attribute::number("parallelism")
                    .optional()
                    .description("Hosts worked on at once inside one resource. Default `10`."),
                Attribute::number("drain_concurrency")
                    .optional()
                    .description(
                    "Nodes drained at once across all `mke_node` resources of a run. Default `1`.",
                ),
                Attribute::number("certificate_warning_days")
                    .optional()
                    .description(
                    "Refreshing `mke_cluster` warns about every control-plane certificate under \
                     `/var/lib/k0s/pki` that expires within this many days, naming the file, the \
                     host, the date and what renews it. Default `30`; `0` turns the warning off.",
                ),
            ],
        )
        .with_block(NestedBlock::single("ssh", ssh)),
    )
}

/// Accepts Terraform 1.5+ and OpenTofu (whose versions start at 1.6).
pub fn check_client_version(version: &str) -> Result<(), String> {
    let mut parts = version.trim().trim_start_matches('v').split(['.', '-']);
    let major = parts.next().and_then(|p| p.parse::<u64>().ok());
    let minor = parts.next().and_then(|p| p.parse::<u64>().ok());
    match (major, minor) {
        (Some(major), Some(minor)) if (major, minor) < MINIMUM_CLIENT => Err(format!(
            "Terraform {version} is too old for the mke provider: it needs Terraform 1.5 or later \
             (or OpenTofu 1.6 or later)."
        )),
        _ => Ok(()),
    }
}

fn validate_provider(config: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    let ssh = config.get_attr("ssh");
    let p = AttributePath::root().attribute("ssh");
    check_port(&mut d, p.clone().attribute("port"), ssh.get_attr("port"));
    check_port(
        &mut d,
        p.clone().attribute("bastion_port"),
        ssh.get_attr("bastion_port"),
    );
    check_positive_duration(
        &mut d,
        p.clone().attribute("timeout"),
        ssh.get_attr("timeout"),
    );
    check_duration(
        &mut d,
        p.clone().attribute("persist"),
        ssh.get_attr("persist"),
    );
    check_address(
        &mut d,
        p.attribute("bastion_host"),
        ssh.get_attr("bastion_host"),
    );
    check_range(
        &mut d,
        AttributePath::root().attribute("parallelism"),
        config.get_attr("parallelism"),
        1,
        1000,
        "parallelism",
    );
    check_range(
        &mut d,
        AttributePath::root().attribute("drain_concurrency"),
        config.get_attr("drain_concurrency"),
        1,
        1000,
        "drain_concurrency",
    );
    check_range(
        &mut d,
        AttributePath::root().attribute("certificate_warning_days"),
        config.get_attr("certificate_warning_days"),
        0,
        36_500,
        "certificate_warning_days",
    );
    d
}

/// The provider block as Terraform holds it.
#[derive(Debug, Default, Deserialize)]
struct ProviderModel {
    parallelism: Option<usize>,
    drain_concurrency: Option<usize>,
    certificate_warning_days: Option<u64>,
    ssh: Option<SshModel>,
}

#[derive(Debug, Default, Deserialize)]
struct SshModel {
    user: Option<String>,
    port: Option<u16>,
    private_key: Option<String>,
    timeout: Option<String>,
    persist: Option<String>,
    bastion_host: Option<String>,
    bastion_user: Option<String>,
    bastion_port: Option<u16>,
    bastion_private_key: Option<String>,
    bastion_host_key: Option<String>,
}

/// The settings of host work, defaults applied. Called after validation.
fn settings(config: &Value) -> Settings {
    // What is not known yet (during plan) takes its default, as if unset.
    let mut known = config.clone();
    nulls_for_unknowns(&mut known);
    let model: ProviderModel = from_value(&known).unwrap_or_default();
    let defaults = Settings::default();
    let ssh = model.ssh.unwrap_or_default();
    let user = ssh.user.unwrap_or(defaults.ssh.user);
    let private_key = ssh.private_key.map(mke_ssh::Secret::new);
    let bastion = ssh.bastion_host.map(|host| BastionSettings {
        host,
        user: ssh.bastion_user.unwrap_or_else(|| user.clone()),
        port: ssh.bastion_port.unwrap_or(22),
        private_key: ssh
            .bastion_private_key
            .map(mke_ssh::Secret::new)
            .or_else(|| private_key.clone()),
        host_key: ssh.bastion_host_key,
    });
    Settings {
        ssh: SshSettings {
            port: ssh.port.unwrap_or(defaults.ssh.port),
            private_key,
            timeout: ssh
                .timeout
                .and_then(|t| mke_k0s::parse_duration(&t).ok())
                .unwrap_or(defaults.ssh.timeout),
            bastion,
            user,
            persist: ssh
                .persist
                .and_then(|t| mke_k0s::parse_duration(&t).ok())
                .unwrap_or(defaults.ssh.persist),
        },
        parallelism: model.parallelism.unwrap_or(defaults.parallelism),
        drain_concurrency: model
            .drain_concurrency
            .unwrap_or(defaults.drain_concurrency),
        certificate_warning_days: model
            .certificate_warning_days
            .unwrap_or(defaults.certificate_warning_days),
    }
}

#[async_trait]
impl Provider for MkeProvider {
    fn schema(&self) -> Schema {
        schema()
    }

    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        vec![
            Arc::new(ClusterResource {
                runtime: self.runtime.clone(),
            }),
            Arc::new(NodeResource {
                runtime: self.runtime.clone(),
            }),
        ]
    }

    fn ephemeral_resources(&self) -> Vec<Arc<dyn EphemeralResource>> {
        vec![Arc::new(KubeconfigResource {
            runtime: self.runtime.clone(),
        })]
    }

    fn actions(&self) -> Vec<Arc<dyn Action>> {
        vec![Arc::new(BackupAction {
            runtime: self.runtime.clone(),
        })]
    }

    fn data_sources(&self) -> Vec<Arc<dyn DataSource>> {
        vec![Arc::new(HealthDataSource {
            runtime: self.runtime.clone(),
        })]
    }

    fn list_resources(&self) -> Vec<Arc<dyn ListResource>> {
        vec![
            Arc::new(ClusterList {
                runtime: self.runtime.clone(),
            }),
            Arc::new(NodeList {
                runtime: self.runtime.clone(),
            }),
        ]
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        validate_provider(config)
    }

    async fn configure(&self, terraform_version: &str, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        if let Err(message) = check_client_version(terraform_version) {
            d.error("Terraform version not supported", message);
            return d;
        }
        d.extend(validate_provider(config));
        if d.has_errors() {
            return d;
        }
        let _ = self.runtime.set(Runtime::new(settings(config)));
        tracing::debug!(client = terraform_version, "provider configured");
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn clients_below_terraform_1_5_are_refused_by_version() {
        let err = check_client_version("1.0.3").unwrap_err();
        assert_eq!(
            err,
            "Terraform 1.0.3 is too old for the mke provider: it needs Terraform 1.5 or later (or OpenTofu 1.6 or later)."
        );
        assert!(check_client_version("1.4.7").is_err());
        for ok in [
            "1.5.0",
            "1.11.4",
            "1.15.2",
            "1.6.0",
            "1.12.0-beta1",
            "2.0.0",
            "",
        ] {
            assert!(check_client_version(ok).is_ok(), "{ok}");
        }
    }

    fn ssh_block(name: &str, value: &str) -> Value {
        Value::Object(std::collections::BTreeMap::from([(
            "ssh".to_string(),
            Value::Object(std::collections::BTreeMap::from([(
                name.to_string(),
                Value::from(value),
            )])),
        )]))
    }

    #[test]
    fn ssh_persist_defaults_to_a_minute_and_zero_turns_it_off() {
        let persist = |config: &Value| settings(config).ssh.persist;
        assert_eq!(persist(&Value::Null), Duration::from_secs(60));
        assert_eq!(persist(&ssh_block("persist", "0s")), Duration::ZERO);
        assert_eq!(
            persist(&ssh_block("persist", "5m")),
            Duration::from_secs(300)
        );
        assert!(validate_provider(&ssh_block("persist", "0s")).is_empty());
        for bad in ["-1s", "soon"] {
            let d = validate_provider(&ssh_block("persist", bad));
            let found: Vec<String> = d
                .iter()
                .map(|x| x.attribute.as_ref().unwrap().to_string())
                .collect();
            assert_eq!(found, ["ssh.persist"], "{bad}");
        }
    }

    #[test]
    fn certificate_warning_days_defaults_to_30_and_zero_is_allowed() {
        let config = |days: i64| {
            Value::Object(std::collections::BTreeMap::from([(
                "certificate_warning_days".to_string(),
                Value::Number(days.into()),
            )]))
        };
        assert_eq!(settings(&Value::Null).certificate_warning_days, 30);
        assert_eq!(settings(&config(0)).certificate_warning_days, 0);
        assert!(validate_provider(&config(0)).is_empty());
        let d = validate_provider(&config(-1));
        let found: Vec<String> = d
            .iter()
            .map(|x| x.attribute.as_ref().unwrap().to_string())
            .collect();
        assert_eq!(found, ["certificate_warning_days"]);
    }

    #[test]
    fn the_ssh_timeout_must_be_longer_than_zero() {
        let config = |timeout: &str| ssh_block("timeout", timeout);
        assert!(validate_provider(&config("30s")).is_empty());
        for bad in ["0s", "-10s"] {
            let d = validate_provider(&config(bad));
            let found: Vec<(String, String)> = d
                .iter()
                .map(|x| (x.attribute.as_ref().unwrap().to_string(), x.detail.clone()))
                .collect();
            assert_eq!(found.len(), 1, "{bad}: {found:?}");
            assert_eq!(found[0].0, "ssh.timeout");
            assert!(found[0].1.contains("must be longer than zero"), "{found:?}");
        }
    }
}

//! The `mke` provider block: SSH defaults, parallelism, and the client check.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use tfplugin::tfvalue::{AttributePath, Value};
use tfplugin::{
    Attribute, Block, Diagnostics, EphemeralResource, NestedBlock, Provider, Resource, Schema,
};

use crate::resources::{
    cluster::ClusterResource, kubeconfig::KubeconfigResource, node::NodeResource,
};
use crate::validate::{
    attr, check_address, check_duration, check_port, check_range, known_i64, known_str,
};

pub const ADDRESS: &str = "registry.terraform.io/mke/mke";
/// Terraform 1.0–1.4 mishandle nested attributes, which every resource here uses.
const MINIMUM_CLIENT: (u64, u64) = (1, 5);

/// What `ConfigureProvider` learned, shared by every resource of the run.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub ssh: SshSettings,
    pub parallelism: usize,
    pub drain_concurrency: usize,
}

#[derive(Debug, Clone)]
pub struct SshSettings {
    pub user: String,
    pub port: u16,
    /// Never logged (its Debug prints `<redacted>`) and never written to state.
    pub private_key: Option<mke_ssh::Secret>,
    pub timeout: Duration,
    pub bastion: Option<BastionSettings>,
}

#[derive(Debug, Clone)]
pub struct BastionSettings {
    pub host: String,
    pub user: String,
    pub port: u16,
    pub private_key: Option<mke_ssh::Secret>,
    pub host_key: Option<String>,
}

#[derive(Default)]
pub struct ProviderState {
    config: OnceLock<ProviderConfig>,
    /// One SSH pool per provider process: every resource of the run reuses
    /// the same multiplexed connection to a host.
    pool: OnceLock<mke_ssh::Pool>,
    locks: Arc<crate::ops::hosts::Locks>,
    drains: OnceLock<Arc<tokio::sync::Semaphore>>,
    node_lists: crate::ops::node::NodeLists,
}

impl ProviderState {
    pub fn config(&self) -> Option<&ProviderConfig> {
        self.config.get()
    }
    pub fn pool(&self) -> Option<&mke_ssh::Pool> {
        self.pool.get()
    }
    pub fn locks(&self) -> Arc<crate::ops::hosts::Locks> {
        self.locks.clone()
    }
    pub fn node_lists(&self) -> &crate::ops::node::NodeLists {
        &self.node_lists
    }
    /// Drains across every `mke_node` of the run wait here (`drain_concurrency`).
    pub fn drains(&self) -> Arc<tokio::sync::Semaphore> {
        self.drains
            .get_or_init(|| {
                let n = self.config().map(|c| c.drain_concurrency).unwrap_or(1);
                Arc::new(tokio::sync::Semaphore::new(n.max(1)))
            })
            .clone()
    }
}

fn ssh_defaults(config: &ProviderConfig) -> mke_ssh::SshDefaults {
    let ssh = &config.ssh;
    mke_ssh::SshDefaults {
        user: ssh.user.clone(),
        port: ssh.port,
        private_key: ssh.private_key.clone(),
        connect_timeout: ssh.timeout,
        bastion: ssh.bastion.as_ref().map(|b| mke_ssh::Bastion {
            host: b.host.clone(),
            port: b.port,
            user: b.user.clone(),
            private_key: b.private_key.clone(),
            host_key: b.host_key.clone(),
        }),
        ..Default::default()
    }
}

#[derive(Default)]
pub struct MkeProvider {
    state: Arc<ProviderState>,
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
                "How long create waits for a host to answer. Default `5m`. Read and delete give \
                 up on an unreachable host after 30s at most.",
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
    let ssh = attr(config, "ssh");
    let p = AttributePath::root().attribute("ssh");
    check_port(&mut d, p.clone().attribute("port"), attr(ssh, "port"));
    check_port(
        &mut d,
        p.clone().attribute("bastion_port"),
        attr(ssh, "bastion_port"),
    );
    check_duration(&mut d, p.clone().attribute("timeout"), attr(ssh, "timeout"));
    check_address(
        &mut d,
        p.attribute("bastion_host"),
        attr(ssh, "bastion_host"),
    );
    check_range(
        &mut d,
        AttributePath::root().attribute("parallelism"),
        attr(config, "parallelism"),
        1,
        1000,
        "parallelism",
    );
    check_range(
        &mut d,
        AttributePath::root().attribute("drain_concurrency"),
        attr(config, "drain_concurrency"),
        1,
        1000,
        "drain_concurrency",
    );
    d
}

fn provider_config(config: &Value) -> ProviderConfig {
    let ssh = attr(config, "ssh");
    let string = |name: &str| known_str(attr(ssh, name)).map(str::to_string);
    let user = string("user").unwrap_or_else(|| "root".to_string());
    let private_key = string("private_key").map(mke_ssh::Secret::new);
    let bastion = string("bastion_host").map(|host| BastionSettings {
        host,
        user: string("bastion_user").unwrap_or_else(|| user.clone()),
        port: known_i64(attr(ssh, "bastion_port"))
            .map(|p| p as u16)
            .unwrap_or(22),
        private_key: string("bastion_private_key")
            .map(mke_ssh::Secret::new)
            .or_else(|| private_key.clone()),
        host_key: string("bastion_host_key"),
    });
    ProviderConfig {
        ssh: SshSettings {
            port: known_i64(attr(ssh, "port")).map(|p| p as u16).unwrap_or(22),
            private_key,
            timeout: string("timeout")
                .and_then(|t| mke_k0s::parse_duration(&t).ok())
                .unwrap_or(Duration::from_secs(300)),
            bastion,
            user,
        },
        parallelism: known_i64(attr(config, "parallelism"))
            .map(|n| n as usize)
            .unwrap_or(10),
        drain_concurrency: known_i64(attr(config, "drain_concurrency"))
            .map(|n| n as usize)
            .unwrap_or(1),
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
                state: self.state.clone(),
            }),
            Arc::new(NodeResource {
                state: self.state.clone(),
            }),
        ]
    }

    fn ephemeral_resources(&self) -> Vec<Arc<dyn EphemeralResource>> {
        vec![Arc::new(KubeconfigResource {
            state: self.state.clone(),
        })]
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
        let config = provider_config(config);
        let _ = self
            .state
            .pool
            .set(mke_ssh::Pool::new(ssh_defaults(&config)));
        let _ = self.state.config.set(config);
        tracing::debug!(client = terraform_version, "provider configured");
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

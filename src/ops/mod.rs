//! Host work: what each resource does on its machines over SSH, on typed
//! values. Resources hand in a typed plan (`cluster::ClusterPlan`,
//! `node::NodePlan`, `kubeconfig::TokenRequest`) and get back a typed
//! outcome, or an [`OpError`] with the state the hosts reached
//! ([`Partial`]). Nothing here knows Terraform's values or diagnostics.
//!
//! - [`runtime`]: what one provider process shares (settings, SSH pool,
//!   locks, drain limit, node listings).
//! - [`phase`]: the phases, one file each.
//! - [`cluster`], [`node`], [`kubeconfig`], [`backup`]: one file per
//!   operation, each listing its phases in order.

pub mod backup;
pub mod cluster;
mod controller_view;
mod error;
pub mod health;
pub mod kubeconfig;
pub mod node;
mod node_list;
mod node_watch;
pub mod phase;
mod progress;
pub mod runtime;

use mke_ssh::Target;

pub use error::{OpError, Partial, Warning};
pub use progress::{wait_for, within_limit, within_limit_keeping, Step};
pub use runtime::{BastionSettings, Runtime, Settings, SshSettings};

/// Cancelled when Terraform asks the provider to stop (Ctrl-C).
pub type Cancel = tokio_util::sync::CancellationToken;

/// A controller as resources name it: how to reach it and what it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerHost {
    pub address: String,
    /// The address the machine uses inside the cluster (API, etcd peers).
    pub private_address: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// `None` until learned on first contact.
    pub host_key: Option<String>,
    /// Also runs workloads (`--enable-worker --no-taints`).
    pub workloads: bool,
}

impl ControllerHost {
    pub fn target(&self) -> Target {
        runtime::target(
            &self.address,
            self.port,
            self.user.as_deref(),
            self.host_key.as_deref(),
        )
    }
}

/// What Read saw on a host, as `host_status` and `status` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostStatus {
    Running,
    Stopped,
    Absent,
    Unreachable,
    /// k0s runs on a worker, but its Node object is missing.
    Unregistered,
}

impl HostStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HostStatus::Running => "running",
            HostStatus::Stopped => "stopped",
            HostStatus::Absent => "absent",
            HostStatus::Unreachable => "unreachable",
            HostStatus::Unregistered => "unregistered",
        }
    }
}

/// Seconds since the epoch, now.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// RFC 3339 (UTC) of seconds since the epoch.
pub(crate) fn rfc3339_of(secs: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
    mke_k0s::kube::rfc3339(at)
}

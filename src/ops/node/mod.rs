//! `mke_node` on the hosts: one file per operation, each listing its phases
//! in order.
//!
//! - [`create`]: connect the node and a controller → lock → probe → check the
//!   cluster → preflight → stage → mark → join → Ready.
//! - [`read`]: probe the host (one round trip) and look the Node up in the
//!   listing shared by the whole refresh.
//! - [`update`]: labels and taints through kubectl; a new version drains,
//!   upgrades and uncordons; a stopped or unregistered node is brought back.
//! - [`delete`]: drain and delete the Node, wipe the host.
//! - [`import`]: probe the host → what it runs.
//! - [`list_workers`]: the workers' Nodes, for `terraform query`.

use std::collections::BTreeMap;
use std::time::Duration;

use mke_k0s::{InstallFlags, Role};
use mke_ssh::Target;

use super::phase::marker::Marker;
use super::phase::ownership::Claim;
use super::phase::probe::HostFacts;
use super::phase::stage::BinarySource;
use super::runtime::target;
use super::{ControllerHost, HostStatus};

mod create;
mod delete;
mod import;
mod list;
mod read;
mod update;

pub use create::create;
pub use delete::{delete, Deleted};
pub use import::{import, parse_import_id, ImportedNode};
pub use list::{list_workers, ListedWorker};
pub use read::{read, NodeObserved, NodeSeen};
pub use update::update;

/// How long a joining or restarted worker may take to become Ready.
const READY_TIMEOUT: Duration = Duration::from_secs(600);

/// What a node operation works from: the planned (or stored) node.
#[derive(Debug, Clone)]
pub struct NodePlan {
    pub cluster_id: String,
    pub version: String,
    pub source: BinarySource,
    pub address: String,
    pub private_address: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub host_key: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<String>,
    pub drain_timeout: Duration,
    pub controllers: BTreeMap<String, ControllerHost>,
    /// Known once the node has joined.
    pub node_name: Option<String>,
    /// What the last refresh saw.
    pub status: Option<String>,
    /// The resource's instance id, written into the marker; `None` only for
    /// a resource saved before instance ids, until its next change.
    pub instance: Option<String>,
    /// For a node adopted from another tool: the fingerprint of its
    /// cluster's CA, which owns the machine until its marker is written.
    pub adopted_ca: Option<String>,
}

impl NodePlan {
    pub fn target(&self) -> Target {
        target(
            &self.address,
            self.port,
            self.user.as_deref(),
            self.host_key.as_deref(),
        )
    }

    fn install_flags(&self) -> InstallFlags {
        let mut f = InstallFlags::new(Role::Worker);
        f.labels = self.labels.clone();
        f.taints = self.taints.clone();
        f.kubelet_extra_args = self
            .private_address
            .as_ref()
            .map(|ip| format!("--node-ip={ip}"));
        f
    }

    fn name(&self) -> &str {
        self.node_name.as_deref().unwrap_or_default()
    }

    pub fn claim(&self) -> Claim<'_> {
        Claim {
            cluster_id: &self.cluster_id,
            role: "worker",
            instance: self.instance.as_deref(),
            resource: "mke_node",
            adopted_ca: self.adopted_ca.as_deref(),
        }
    }

    fn marker(&self, cluster_name: &str) -> Marker {
        Marker {
            cluster: cluster_name.to_string(),
            id: self.cluster_id.clone(),
            role: "worker".into(),
            instance: self.instance.clone().unwrap_or_default(),
            controllers: Vec::new(),
        }
    }
}

/// What the hosts hold after a create or update.
#[derive(Debug, Clone, Default)]
pub struct NodeReached {
    /// The node's host key, when learned on first contact.
    pub host_key: Option<String>,
    /// Host keys of the controllers contacted, by controller key.
    pub controller_keys: BTreeMap<String, String>,
    pub node_name: Option<String>,
    pub status: Option<HostStatus>,
    /// Something was written to the node: a failure must save it.
    pub changed: bool,
}

/// The Kubernetes node name: the lowercased hostname, as the kubelet
/// registers it. A hostname Kubernetes would refuse is refused here, before
/// it reaches a command line.
fn node_name(facts: &HostFacts, host: &str) -> Result<String, super::OpError> {
    mke_k0s::validate::node_name_from_hostname(&facts.hostname).map_err(|e| {
        super::OpError::host(
            host,
            e.to_string(),
            "Give the machine a hostname Kubernetes accepts (`hostnamectl set-hostname`), then apply again.",
        )
    })
}

//! `mke_cluster` on the hosts: one file per operation, each listing its
//! phases in order.
//!
//! - [`create`]: connect → lock → probe → preflight → stage, configure, mark
//!   (every host) → install the leader → join the others one at a time →
//!   outputs.
//! - [`read`]: probe every controller (one round trip each) → drift.
//! - [`update`]: connect → lock → probe → preflight → reconcile installed
//!   controllers one at a time → rejoin or join the others → remove the
//!   controllers that left → outputs.
//! - [`delete`]: lock → wipe, on every controller.
//! - [`import`]: probe the listed controllers → what they run.

use std::collections::BTreeMap;
use std::time::Duration;

use mke_k0s::{InstallFlags, Role};

use super::phase::outputs::ClusterAccess;
use super::phase::stage::BinarySource;
use super::{ControllerHost, HostStatus};

mod create;
mod delete;
mod import;
mod read;
mod steps;
mod update;

pub use create::create;
pub use delete::delete;
pub use import::{import, parse_import_id, ImportedCluster, ImportedController};
pub use read::{read, ControllerSeen, Seen};
pub use update::{update, ControllerChange, Update};

const CONTROLLER_TOKEN_EXPIRY: Duration = Duration::from_secs(3600);

/// What a cluster operation works from: the planned (or stored) cluster.
#[derive(Debug, Clone)]
pub struct ClusterPlan {
    pub name: String,
    pub version: String,
    pub source: BinarySource,
    pub controllers: BTreeMap<String, ControllerHost>,
    /// Controller keys, the leader first.
    pub order: Vec<String>,
    /// The cluster-wide ClusterConfig; each host adds its own addresses.
    pub k0s_config: String,
    pub api_endpoint: String,
}

impl ClusterPlan {
    pub fn leader_key(&self) -> &str {
        &self.order[0]
    }
}

/// What the hosts hold after a create or update, for the resource to write
/// into state. `None` where the operation did not get that far.
#[derive(Debug, Clone, Default)]
pub struct ClusterReached {
    /// Host keys presented on first contact, by controller key.
    pub host_keys: BTreeMap<String, String>,
    pub id: Option<String>,
    pub host_status: Option<BTreeMap<String, HostStatus>>,
    pub access: Option<ClusterAccess>,
}

fn install_flags(c: &ControllerHost) -> InstallFlags {
    let mut f = InstallFlags::new(Role::Controller);
    f.config = Some(mke_k0s::K0S_CONFIG_PATH.to_string());
    f.enable_worker = c.workloads;
    f.no_taints = c.workloads;
    f
}

fn controller_marker(name: &str, id: &str) -> super::phase::marker::Marker {
    super::phase::marker::Marker {
        cluster: name.to_string(),
        id: id.to_string(),
        role: "controller".into(),
    }
}

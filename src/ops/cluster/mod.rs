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
//! - [`find_clusters`]: probe given hosts → the clusters whose controllers
//!   they are, for `terraform query`.
//!
//! A create with `restore_from` checks the archive before it touches a host,
//! and restores it on the leader between staging and installing k0s.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use mke_k0s::{InstallFlags, Role};

use super::phase::marker::Marker;
use super::phase::outputs::ClusterAccess;
use super::phase::ownership::Claim;
use super::phase::stage::BinarySource;
use super::{ControllerHost, HostStatus};

mod create;
mod delete;
mod import;
mod list;
mod read;
mod steps;
mod update;

pub use create::create;
pub use delete::{delete, Owner};
pub use import::{
    import, parse_import_id, unmanaged_flags_warning, ImportedCluster, ImportedController,
};
pub use list::{find_clusters, Found, FoundCluster};
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
    /// The cluster id in state; empty before the first controller runs.
    pub id: String,
    /// The resource's instance id, written into every marker; `None` only
    /// for a resource saved before instance ids, until its next change.
    pub instance: Option<String>,
    /// For a cluster adopted from another tool: the fingerprint of its CA,
    /// which owns its controllers until their markers are written.
    pub adopted_ca: Option<String>,
    /// Create only: the first controller starts from this backup archive.
    pub restore_from: Option<std::path::PathBuf>,
    /// Update only: take a backup before the first controller is stopped.
    /// `None` when the plan expects none (`last_backup` keeps its value).
    pub backup: Option<BackupPolicy>,
}

/// Where backups taken before a change go, and how many of the cluster's stay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupPolicy {
    pub directory: std::path::PathBuf,
    pub keep: usize,
}

impl ClusterPlan {
    pub fn leader_key(&self) -> &str {
        &self.order[0]
    }

    /// Every controller address, sorted: what an unfinished create's marker records.
    pub fn addresses(&self) -> Vec<String> {
        let mut a: Vec<String> = self
            .controllers
            .values()
            .map(|c| c.address.clone())
            .collect();
        a.sort();
        a
    }

    pub fn claim<'a>(&'a self, id: &'a str) -> Claim<'a> {
        Claim {
            cluster_id: id,
            role: "controller",
            instance: self.instance.as_deref(),
            resource: "mke_cluster",
            adopted_ca: self.adopted_ca.as_deref(),
        }
    }

    /// The marker of a controller of this cluster: with `id` once the
    /// cluster runs; before that, with the create's controllers.
    fn marker(&self, id: &str) -> Marker {
        Marker {
            cluster: self.name.clone(),
            id: id.to_string(),
            role: "controller".into(),
            instance: self.instance.clone().unwrap_or_default(),
            controllers: if id.is_empty() {
                self.addresses()
            } else {
                Vec::new()
            },
        }
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
    /// Controllers (by key) on which something was written: only these may
    /// be saved after a failure, so that nothing else is ever destroyed.
    pub changed: BTreeSet<String>,
    /// Addresses of removed controllers whose removal finished.
    pub removed: BTreeSet<String>,
    /// The backup taken before the change, if one was.
    pub backup: Option<super::phase::backup::BackupRecord>,
}

fn install_flags(c: &ControllerHost) -> InstallFlags {
    let mut f = InstallFlags::new(Role::Controller);
    f.config = Some(mke_k0s::K0S_CONFIG_PATH.to_string());
    f.enable_worker = c.workloads;
    f.no_taints = c.workloads;
    f
}

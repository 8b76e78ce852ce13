//! Read: the host and a controller are asked at the same time. The host is
//! probed (one round trip); the Node object comes from the listing shared by
//! every `mke_node` of the refresh. Only the label and taint keys the node
//! manages are compared.
//!
//! Only an address that does not answer at all is `unreachable` (a warning,
//! state kept). A host or controller that refuses the login or the
//! connection, presents another host key, or cannot be reached through the
//! bastion fails the read: the machine may be running, so nothing about it
//! may be taken for drift or for gone.

use std::collections::BTreeMap;

use mke_k0s::NodeInfo;

use super::NodePlan;
use crate::ops::phase::connect::first_controller;
use crate::ops::phase::probe;
use crate::ops::{HostStatus, OpError, Runtime, Warning};

pub enum NodeSeen {
    /// The host answered without k0s: the node is gone.
    Gone,
    Present(NodeObserved),
}

#[derive(Debug, Default)]
pub struct NodeObserved {
    pub status: Option<HostStatus>,
    /// The version it runs, when that differs from the plan.
    pub version: Option<String>,
    /// Host keys of the controllers contacted.
    pub controller_keys: BTreeMap<String, String>,
    /// The managed labels the Node has (`None`: the Node was not seen).
    pub labels: Option<BTreeMap<String, String>>,
    /// The managed taints the Node has.
    pub taints: Option<Vec<String>>,
    pub warnings: Vec<Warning>,
}

/// Why the cluster side learned nothing.
enum ClusterSide {
    /// No controller's address answered.
    Unanswered(OpError),
    /// A controller answered, but listing the Nodes failed.
    Lookup(OpError),
    /// A controller refused us or must not be trusted.
    Failed(OpError),
}

pub async fn read(rt: &Runtime, plan: &NodePlan) -> Result<NodeSeen, OpError> {
    let name = plan.name().to_string();
    let host_side = async {
        let host = rt.connect(&plan.target(), rt.quick()).await?;
        probe::probe(&host).await
    };
    let cluster_side = async {
        if plan.controllers.is_empty() || name.is_empty() {
            return Ok(None);
        }
        let mut keys = BTreeMap::new();
        let controller =
            first_controller(rt, &plan.controllers, rt.quick(), &mut keys, &plan.address)
                .await
                .map_err(|e| {
                    if e.is_unreachable() {
                        ClusterSide::Unanswered(e)
                    } else {
                        ClusterSide::Failed(e)
                    }
                })?;
        let info = rt
            .node_lists()
            .lookup(&controller, &name)
            .await
            .map_err(ClusterSide::Lookup)?;
        Ok(Some((info, keys)))
    };
    let (facts, seen) = tokio::join!(host_side, cluster_side);
    let mut observed = NodeObserved::default();
    let status = match facts {
        Err(e) if !e.is_unreachable() => return Err(e),
        Err(e) => {
            observed.warnings.push(Warning::because(
                format!("Node {} is unreachable", plan.address),
                e,
                "Its state is kept; the plan shows it as `unreachable`.",
            ));
            HostStatus::Unreachable
        }
        Ok(f) if !f.has_k0s() => {
            tracing::info!(
                host = plan.address.as_str(),
                "k0s is gone from the host; removing mke_node from state"
            );
            return Ok(NodeSeen::Gone);
        }
        Ok(f) => {
            observed.version = f.running_version().filter(|v| *v != plan.version);
            f.status()
        }
    };
    let status = match seen {
        Ok(Some((found, keys))) => {
            observed.controller_keys = keys;
            match found {
                Some(info) => {
                    managed(plan, &info, &mut observed);
                    status
                }
                None if status == HostStatus::Running => HostStatus::Unregistered,
                None => status,
            }
        }
        Ok(None) => status,
        Err(ClusterSide::Failed(e)) => return Err(e),
        Err(ClusterSide::Unanswered(e)) => {
            observed.warnings.push(Warning::because(
                "No controller answered",
                e,
                "Labels, taints and registration were not checked.",
            ));
            status
        }
        Err(ClusterSide::Lookup(e)) => {
            observed.warnings.push(Warning::because(
                format!("The Node object of {} could not be read", plan.address),
                e,
                "Labels, taints and registration were not checked.",
            ));
            status
        }
    };
    observed.status = Some(status);
    Ok(NodeSeen::Present(observed))
}

/// The labels and taints of the keys this resource manages.
fn managed(plan: &NodePlan, info: &NodeInfo, observed: &mut NodeObserved) {
    observed.labels = Some(
        plan.labels
            .keys()
            .filter_map(|k| info.labels.get(k).map(|v| (k.clone(), v.clone())))
            .collect(),
    );
    let present: Vec<String> = info.taints.iter().map(|t| t.to_string()).collect();
    observed.taints = Some(
        plan.taints
            .iter()
            .filter(|t| present.contains(t))
            .cloned()
            .collect(),
    );
}

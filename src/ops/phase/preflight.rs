//! Phase `preflight`: before anything is written to a host, refuse one that
//! belongs to someone else (another cluster, another resource, another tool)
//! or has an architecture k0s does not support.

use mke_ssh::Host;

use super::marker::MARKER_PATH;
use super::ownership::{not_ours, Belonging, Claim};
use super::probe::HostFacts;
use crate::ops::OpError;

/// What the operation is about to do with the host.
#[derive(Debug, Clone, Copy)]
pub enum Expected<'a> {
    /// A controller for a cluster being created. An unfinished marker of a
    /// create with the same name and the same controllers may be taken over
    /// (that create crashed and is being run again).
    NewController {
        name: &'a str,
        /// Every controller address of the create, sorted.
        addresses: &'a [String],
        claim: Claim<'a>,
    },
    /// A controller of an existing cluster: ours, or a machine without k0s.
    Controller(Claim<'a>),
    /// A worker joining: ours, a machine without k0s, or a worker of the
    /// same cluster whose join never finished.
    NewWorker(Claim<'a>),
}

pub fn preflight(host: &Host, facts: &HostFacts, expected: Expected<'_>) -> Result<(), OpError> {
    let claim = match expected {
        Expected::NewController { claim, .. }
        | Expected::Controller(claim)
        | Expected::NewWorker(claim) => claim,
    };
    if let (Some(m), Expected::NewWorker(_)) = (&facts.marker, expected) {
        if m.role == "controller" {
            return Err(OpError::host(
                host.name(),
                format!(
                    "the host is a controller of the MKE cluster \"{}\" ({MARKER_PATH})",
                    m.cluster
                ),
                "An mke_node cannot run on a controller. Use `workloads = true` on the \
                 controller to run workloads there, or pick another machine.",
            ));
        }
    }
    match claim.judge(
        facts.marker.as_ref(),
        facts.has_k0s(),
        facts.ca_sha256.as_deref(),
    ) {
        Belonging::Ours | Belonging::Nobody | Belonging::Adopted => {}
        Belonging::Foreign(whose) => {
            let marker = facts.marker.as_ref();
            let allowed = match (expected, marker) {
                (
                    Expected::NewController {
                        name, addresses, ..
                    },
                    Some(m),
                ) => {
                    m.id.is_empty()
                        && m.role == "controller"
                        && m.cluster == name
                        && m.controllers == addresses
                }
                (Expected::NewWorker(claim), Some(m)) => {
                    m.role == "worker" && m.id == claim.cluster_id && !facts.installed()
                }
                _ => false,
            };
            if !allowed {
                if marker.is_none() {
                    let import = match expected {
                        Expected::NewWorker(_) => {
                            "import it as an mke_node (`import` block or `terraform import` with \
                             the worker's address); the node's cluster must be imported too"
                        }
                        _ => {
                            "import its cluster as an mke_cluster (`import` block or \
                             `terraform import` with the ID `<key>=<address>,…` listing every \
                             controller), then each worker as an mke_node"
                        }
                    };
                    return Err(OpError::host(
                        host.name(),
                        "k0s is already installed on this host, by something other than this \
                         provider (k0sctl or mkectl, or by hand); nothing was changed on it",
                        format!(
                            "To manage that cluster with this provider, {import}: import takes \
                             over clusters built by k0sctl or mkectl without restarting them. \
                             To use the machine for a new cluster instead, wipe it first \
                             (`k0s stop; k0s reset`)."
                        ),
                    ));
                }
                if let (Expected::NewWorker(_), Some(m)) = (expected, marker) {
                    if m.role == "worker" && m.id == claim.cluster_id {
                        return Err(OpError::host(
                            host.name(),
                            "the host is already a worker of this cluster, joined by another mke_node resource",
                            "Each machine needs exactly one mke_node: remove the duplicate resource (two resources with one address?), or import this node instead.",
                        ));
                    }
                }
                return Err(not_ours(host, &whose, &claim));
            }
        }
    }
    if mke_k0s::download_arch(&facts.arch).is_none() {
        return Err(OpError::host(
            host.name(),
            format!("unsupported architecture {:?}", facts.arch),
            "k0s runs on x86_64, aarch64 and armv7l.",
        ));
    }
    Ok(())
}

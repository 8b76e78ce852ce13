//! Phase `preflight`: before anything is written to a host, refuse one that
//! belongs to another cluster, runs k0s this provider did not install, or has
//! an architecture k0s does not support.

use mke_ssh::Host;

use super::marker::MARKER_PATH;
use super::probe::HostFacts;
use crate::ops::OpError;

/// Which cluster the operation works for, as far as the host's marker can tell.
#[derive(Debug, Clone, Copy)]
pub enum Expected<'a> {
    /// A controller of the cluster with this name.
    ClusterNamed(&'a str),
    /// A worker of the cluster with this id.
    ClusterId(&'a str),
}

pub fn preflight(host: &Host, facts: &HostFacts, expected: Expected<'_>) -> Result<(), OpError> {
    let foreign = facts.marker.as_ref().filter(|m| match expected {
        Expected::ClusterNamed(name) => m.cluster != name,
        Expected::ClusterId(id) => m.id != id,
    });
    if let Some(m) = foreign {
        return Err(OpError::host(
            host.name(),
            format!(
                "the host belongs to the MKE cluster \"{}\" ({MARKER_PATH})",
                m.cluster
            ),
            "Remove it from that cluster first, or pick another machine.",
        ));
    }
    if facts.marker.is_none() && (facts.installed() || facts.running()) {
        let import = match expected {
            Expected::ClusterNamed(_) => "import the existing cluster with `terraform import`",
            Expected::ClusterId(_) => "import the node",
        };
        return Err(OpError::host(
            host.name(),
            "k0s is already installed on this host, by something other than this provider",
            format!("Wipe it (`k0s stop; k0s reset`) or {import}."),
        ));
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

//! Import of a worker, `<address>[:<port>]`: probe the host → the marker
//! gives the cluster id, the unit its labels, taints and `--node-ip`.
//!
//! A worker another tool joined (k0sctl, mkectl: no `/etc/k0s/mke.json`) is
//! adopted: its unit's flags, its k0s version, its CA
//! (`/var/lib/k0s/pki/ca.crt`) and its join address (the `server` of
//! `/var/lib/k0s/kubelet.conf`) are read; through SSH to that address, the
//! controller there must hold the same CA, and gives the cluster id. Nothing
//! is written to either host.

use super::node_name;
use crate::ops::cluster::unmanaged_flags_warning;
use crate::ops::phase::probe::{self, HostFacts};
use crate::ops::runtime::target;
use crate::ops::{HostStatus, OpError, Runtime, Warning};

/// `<address>[:<port>]`
pub fn parse_import_id(id: &str) -> Result<(String, Option<u16>), String> {
    let id = id.trim();
    if id.is_empty() || id.contains(',') || id.contains('=') {
        return Err(format!("\"{id}\" is not <address>[:<port>]"));
    }
    match id.rsplit_once(':') {
        Some((a, p)) => Ok((
            a.to_string(),
            Some(p.parse().map_err(|_| format!("\"{p}\" is not a port"))?),
        )),
        None => Ok((id.to_string(), None)),
    }
}

/// What the worker runs.
#[derive(Debug)]
pub struct ImportedNode {
    pub cluster_id: String,
    pub version: String,
    pub address: String,
    pub port: Option<u16>,
    pub private_address: Option<String>,
    pub host_key: String,
    pub labels: std::collections::BTreeMap<String, String>,
    pub taints: Vec<String>,
    pub node_name: String,
    pub status: HostStatus,
    /// The instance id in the marker, kept as the resource's.
    pub instance: Option<String>,
    /// For a worker without marker (adopted): its cluster's CA fingerprint.
    pub adopted_ca: Option<String>,
    /// Flags of the k0s unit no attribute expresses (`--name=value`).
    pub unmanaged_flags: Vec<String>,
    /// What the import found that the resource cannot express.
    pub warnings: Vec<Warning>,
}

pub async fn import(
    rt: &Runtime,
    address: &str,
    port: Option<u16>,
) -> Result<ImportedNode, OpError> {
    let host = rt
        .connect(&target(address, port, None, None), rt.patient())
        .await?;
    let f = probe::probe(&host).await?;
    let is_worker = f
        .unit
        .as_ref()
        .is_some_and(|u| u.role == mke_k0s::Role::Worker);
    let (cluster_id, instance, adopted_ca) = match &f.marker {
        Some(m) if m.role == "worker" => (
            m.id.clone(),
            Some(m.instance.clone()).filter(|i| !i.is_empty()),
            None,
        ),
        None if is_worker => {
            let (id, ca) = adopted_cluster(rt, &host, &f).await?;
            (id, None, Some(ca))
        }
        _ => {
            return Err(OpError::host(
                host.name(),
                "this host runs no k0s worker (/etc/k0s/mke.json names none, and no k0sworker \
                 unit is installed)",
                "Check the address.",
            ))
        }
    };
    let unit = f.unit.as_ref();
    let unmanaged_flags: Vec<String> = if adopted_ca.is_some() {
        unit.map(mke_k0s::adopt::unexpressed_install_flags)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let warnings = if unmanaged_flags.is_empty() {
        Vec::new()
    } else {
        vec![unmanaged_flags_warning(
            &format!("the worker {address}"),
            &unmanaged_flags,
        )]
    };
    let private_address = unit.and_then(|u| u.kubelet_extra_args()).and_then(|a| {
        a.split_whitespace()
            .find_map(|w| w.strip_prefix("--node-ip=").map(str::to_string))
    });
    Ok(ImportedNode {
        instance,
        adopted_ca,
        unmanaged_flags,
        warnings,
        cluster_id,
        version: f.running_version().unwrap_or_default(),
        address: address.to_string(),
        port,
        private_address,
        host_key: host.host_key().to_string(),
        labels: unit.map(|u| u.labels()).unwrap_or_default(),
        taints: unit.map(|u| u.taints()).unwrap_or_default(),
        node_name: node_name(&f, host.name())?,
        status: f.status(),
    })
}

/// The cluster id and CA fingerprint of a worker another tool joined, from
/// the controller at its join address (over SSH, with the provider's
/// credentials): that controller must hold the worker's CA.
async fn adopted_cluster(
    rt: &Runtime,
    host: &mke_ssh::Host,
    f: &HostFacts,
) -> Result<(String, String), OpError> {
    let ca = f.ca_sha256.clone().ok_or_else(|| {
        OpError::host(
            host.name(),
            format!("no cluster CA at {}", mke_k0s::adopt::CA_CERT_PATH),
            "Check that the worker has joined its cluster.",
        )
    })?;
    let server = f.join_server.clone().ok_or_else(|| {
        OpError::host(
            host.name(),
            format!(
                "no join address in {}",
                mke_k0s::adopt::KUBELET_KUBECONFIG_PATH
            ),
            "Check that the worker has joined its cluster.",
        )
    })?;
    let join_host = mke_k0s::peer_host(&server);
    let controller = rt
        .connect(&target(&join_host, None, None, None), rt.patient())
        .await
        .map_err(|e| {
            OpError::host(
                host.name(),
                format!("the worker joined through {server}, and that controller cannot be reached over SSH: {e}"),
                "Import the node from a machine that can reach the controller it joined over SSH (a load balancer address cannot be).",
            )
        })?;
    let cf = probe::probe(&controller).await?;
    if cf.ca_sha256.as_deref() != Some(ca.as_str()) || !cf.running() {
        return Err(OpError::host(
            host.name(),
            format!(
                "the worker's CA is not the one of a running controller at its join address {join_host}"
            ),
            "Check that the worker still belongs to that cluster.",
        ));
    }
    let out = controller
        .check(&mke_ssh::Command::new(mke_k0s::cli::kube_system_uid()))
        .await?;
    let id = out.trim().to_string();
    if id.is_empty() {
        return Err(OpError::host(
            controller.name(),
            "kube-system has no UID",
            "Check that the Kubernetes API answers on that controller.",
        ));
    }
    Ok((id, ca))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_id_is_one_address_with_an_optional_port() {
        assert_eq!(
            parse_import_id("10.0.0.5").unwrap(),
            ("10.0.0.5".into(), None)
        );
        assert_eq!(
            parse_import_id("10.0.0.5:2222").unwrap(),
            ("10.0.0.5".into(), Some(2222))
        );
        assert!(parse_import_id("w1=10.0.0.5").is_err());
        assert!(parse_import_id("10.0.0.5:x")
            .unwrap_err()
            .contains("not a port"));
    }
}

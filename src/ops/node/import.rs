//! Import of a worker, `<address>[:<port>]`: probe the host → the marker
//! gives the cluster id, the unit its labels, taints and `--node-ip`.

use super::node_name;
use crate::ops::phase::probe;
use crate::ops::runtime::target;
use crate::ops::{HostStatus, OpError, Runtime};

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
#[derive(Debug, Clone)]
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
    let marker = f
        .marker
        .clone()
        .filter(|m| m.role == "worker")
        .ok_or_else(|| {
            OpError::host(
                host.name(),
                "this host has no worker installed by the mke provider (/etc/k0s/mke.json)",
                "Check the address.",
            )
        })?;
    let unit = f.unit.as_ref();
    let private_address = unit.and_then(|u| u.kubelet_extra_args()).and_then(|a| {
        a.split_whitespace()
            .find_map(|w| w.strip_prefix("--node-ip=").map(str::to_string))
    });
    Ok(ImportedNode {
        instance: Some(marker.instance.clone()).filter(|i| !i.is_empty()),
        cluster_id: marker.id,
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

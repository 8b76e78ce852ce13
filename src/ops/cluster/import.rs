//! Import of an existing cluster, `<key>=<address>[:<port>],…`: probe each
//! listed controller → the marker gives `name` and `id`, `k0s.yaml` the
//! network settings → the admin kubeconfig from a running controller.

use std::collections::BTreeMap;
use std::sync::Arc;

use mke_k0s::ObservedSettings;
use mke_ssh::Host;

use crate::ops::phase::outputs::{admin_access, ClusterAccess};
use crate::ops::phase::probe::{self, HostFacts};
use crate::ops::runtime::target;
use crate::ops::{HostStatus, OpError, Runtime};

/// `<key>=<address>[:<port>],…`
pub fn parse_import_id(id: &str) -> Result<BTreeMap<String, (String, Option<u16>)>, String> {
    let mut out = BTreeMap::new();
    for part in id.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, target) = part
            .split_once('=')
            .ok_or_else(|| format!("\"{part}\" is not <key>=<address>[:<port>]"))?;
        let (address, port) = match target.rsplit_once(':') {
            Some((a, p)) => (
                a.to_string(),
                Some(
                    p.parse::<u16>()
                        .map_err(|_| format!("\"{p}\" in \"{part}\" is not a port"))?,
                ),
            ),
            None => (target.to_string(), None),
        };
        if key.is_empty() || address.is_empty() {
            return Err(format!("\"{part}\" is not <key>=<address>[:<port>]"));
        }
        out.insert(key.to_string(), (address, port));
    }
    if out.is_empty() {
        return Err("the ID lists no controller".into());
    }
    Ok(out)
}

/// What the listed controllers run.
#[derive(Debug, Clone)]
pub struct ImportedCluster {
    pub name: String,
    pub id: String,
    pub version: String,
    pub controllers: BTreeMap<String, ImportedController>,
    /// Addresses in the order of the import ID.
    pub controller_addresses: Vec<String>,
    pub settings: ObservedSettings,
    /// The cluster-wide part of `k0s.yaml`.
    pub k0s_config: String,
    pub api_endpoint: String,
    pub access: ClusterAccess,
    /// The instance id in the controllers' markers, kept as the resource's.
    pub instance: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ImportedController {
    pub address: String,
    pub port: Option<u16>,
    pub private_address: Option<String>,
    pub host_key: String,
    pub workloads: bool,
    pub status: HostStatus,
}

pub async fn import(
    rt: &Runtime,
    targets: &BTreeMap<String, (String, Option<u16>)>,
) -> Result<ImportedCluster, OpError> {
    let mut found: Vec<(String, Arc<Host>, HostFacts)> = Vec::new();
    for (key, (address, port)) in targets {
        let host = rt
            .connect(&target(address, *port, None, None), rt.patient())
            .await?;
        let f = probe::probe(&host).await?;
        found.push((key.clone(), host, f));
    }
    let (_, first_host, first) = found
        .iter()
        .find(|(_, _, f)| f.marker.is_some() && f.running())
        .ok_or_else(|| {
            OpError::host(
                &targets.values().next().expect("a target").0,
                "no listed controller runs k0s installed by this provider (/etc/k0s/mke.json)",
                "Check the addresses in the import ID.",
            )
        })?;
    let marker = first.marker.clone().expect("marker");
    for (key, host, f) in &found {
        if f.marker
            .as_ref()
            .is_some_and(|m| m.id != marker.id && !m.id.is_empty())
        {
            return Err(OpError::host(
                host.name(),
                format!("controller {key} belongs to another cluster"),
                "List only the controllers of one cluster.",
            ));
        }
    }
    let config_text = first.config.clone().unwrap_or_default();
    let k0s_config = mke_k0s::strip_host_keys(&config_text).unwrap_or(config_text.clone());
    let settings = mke_k0s::observed_settings(&k0s_config).map_err(|e| {
        OpError::host(
            first_host.name(),
            format!("cannot read /etc/k0s/k0s.yaml: {e}"),
            "Check the file.",
        )
    })?;
    let controllers = found
        .iter()
        .map(|(key, host, f)| {
            let (address, port) = targets[key].clone();
            // private_address is what host_config added there.
            let private_address = f
                .config
                .as_ref()
                .and_then(|cfg| mke_k0s::observed_private_address(cfg).ok())
                .flatten();
            let c = ImportedController {
                address,
                port,
                private_address,
                host_key: host.host_key().to_string(),
                workloads: f.unit.as_ref().is_some_and(|u| u.workloads()),
                status: f.status(),
            };
            (key.clone(), c)
        })
        .collect();
    let controller_addresses: Vec<String> = targets.values().map(|(a, _)| a.clone()).collect();
    let endpoint_host = settings
        .api
        .external_address
        .clone()
        .unwrap_or_else(|| controller_addresses[0].clone());
    let api_endpoint = format!("https://{endpoint_host}:{}", mke_k0s::model::KUBE_API_PORT);
    let access = admin_access(first_host, &api_endpoint).await?;
    Ok(ImportedCluster {
        name: marker.cluster.clone(),
        id: marker.id.clone(),
        version: first.running_version().unwrap_or_default(),
        controllers,
        controller_addresses,
        settings,
        k0s_config,
        api_endpoint,
        access,
        instance: Some(marker.instance.clone()).filter(|i| !i.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_ids_list_every_controller() {
        let t = parse_import_id("cp1=10.0.0.1,cp2=10.0.0.2:2222").unwrap();
        assert_eq!(t["cp1"], ("10.0.0.1".to_string(), None));
        assert_eq!(t["cp2"], ("10.0.0.2".to_string(), Some(2222)));
        assert!(parse_import_id("10.0.0.1")
            .unwrap_err()
            .contains("<key>=<address>"));
        assert!(parse_import_id("a=10.0.0.1:ssh")
            .unwrap_err()
            .contains("not a port"));
        assert!(parse_import_id("").is_err());
    }
}

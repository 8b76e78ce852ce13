//! Import of an existing cluster, `<key>=<address>[:<port>],…`: probe each
//! listed controller → the marker gives `name` and `id`, `k0s.yaml` the
//! network settings → the admin kubeconfig from a running controller.
//!
//! A cluster another tool built (k0sctl, mkectl: k0s installed without
//! `/etc/k0s/mke.json`) is adopted: on each controller the unit file's flags,
//! `/etc/k0s/k0s.yaml`, the k0s version (`k0s status`) and the CA
//! (`/var/lib/k0s/pki/ca.crt`) are read; on one running controller the
//! cluster id (the UID of `kube-system`) and the etcd members. The CA's
//! fingerprint is what owns the controllers until the first change writes
//! their markers. Nothing is written to any host.

use std::collections::BTreeMap;
use std::sync::Arc;

use mke_k0s::ObservedSettings;
use mke_ssh::Host;

use crate::ops::phase::outputs::{admin_access, ClusterAccess};
use crate::ops::phase::probe::{self, HostFacts};
use crate::ops::runtime::target;
use crate::ops::{HostStatus, OpError, Runtime, Warning};

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
#[derive(Debug)]
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
    /// For a cluster without markers (adopted): its CA fingerprint.
    pub adopted_ca: Option<String>,
    /// What the import found that the resource cannot express.
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Clone)]
pub struct ImportedController {
    pub address: String,
    pub port: Option<u16>,
    pub private_address: Option<String>,
    pub host_key: String,
    pub workloads: bool,
    pub status: HostStatus,
    /// Flags of the k0s unit no attribute expresses (`--name=value`).
    pub unmanaged_flags: Vec<String>,
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
    let marked = found
        .iter()
        .find(|(_, _, f)| f.marker.is_some() && f.running());
    let adopting = marked.is_none();
    let (_, first_host, first) = match marked {
        Some(m) => m,
        None => found
            .iter()
            .find(|(_, _, f)| f.running() && f.unit.as_ref().is_some_and(is_controller))
            .ok_or_else(|| {
                OpError::host(
                    &targets.values().next().expect("a target").0,
                    "no listed controller runs k0s as a controller",
                    "Check the addresses in the import ID, and start k0s (`k0s start`) on at \
                     least one controller.",
                )
            })?,
    };
    let (name, id, instance, adopted_ca) = if adopting {
        adoptable(first_host, first)?;
        let ca = first.ca_sha256.clone();
        for (key, host, f) in &found {
            let foreign = f.marker.is_some()
                || (f.has_k0s() && f.ca_sha256 != ca)
                || f.unit.as_ref().is_some_and(|u| !is_controller(u));
            if foreign {
                return Err(OpError::host(
                    host.name(),
                    format!(
                        "controller {key} is not a controller of the same cluster as {} (another \
                         CA, a marker, or a worker)",
                        first_host.name()
                    ),
                    "List only the controllers of one cluster.",
                ));
            }
        }
        let settings_name = first
            .config
            .as_deref()
            .and_then(|c| mke_k0s::observed_settings(c).ok())
            .and_then(|s| s.name)
            .unwrap_or_else(|| "k0s".to_string());
        let id = cluster_uid(first_host).await?;
        (settings_name, id, None, ca)
    } else {
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
        let instance = Some(marker.instance.clone()).filter(|i| !i.is_empty());
        (marker.cluster, marker.id, instance, None)
    };
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
                unmanaged_flags: f
                    .unit
                    .as_ref()
                    .map(mke_k0s::adopt::unexpressed_install_flags)
                    .unwrap_or_default(),
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
    let mut warnings = Vec::new();
    if adopting {
        check_etcd_members(first_host, &controllers, &found).await?;
        for (key, c) in &controllers {
            if !c.unmanaged_flags.is_empty() {
                warnings.push(unmanaged_flags_warning(
                    &format!("controller {key}"),
                    &c.unmanaged_flags,
                ));
            }
        }
    }
    let access = admin_access(first_host, &api_endpoint).await?;
    Ok(ImportedCluster {
        name,
        id,
        version: first.running_version().unwrap_or_default(),
        controllers,
        controller_addresses,
        settings,
        k0s_config,
        api_endpoint,
        access,
        instance,
        adopted_ca,
        warnings,
    })
}

fn is_controller(unit: &mke_k0s::InstalledUnit) -> bool {
    unit.role == mke_k0s::Role::Controller
}

/// What an adopted cluster must be: MKE 4 (Calico), configured from
/// `/etc/k0s/k0s.yaml` (what every later change writes), with a CA to own
/// its hosts by.
fn adoptable(host: &Host, facts: &HostFacts) -> Result<(), OpError> {
    let path = mke_k0s::K0S_CONFIG_PATH;
    let config = facts.config.as_deref().ok_or_else(|| {
        OpError::host(
            host.name(),
            format!("k0s runs without {path}: the provider manages k0s through that file"),
            format!("Write the cluster's ClusterConfig to {path} and reinstall k0s with `--config={path}`, or manage this cluster with the tool that built it."),
        )
    })?;
    let provider = mke_k0s::adopt::network_provider(config).map_err(|e| {
        OpError::host(
            host.name(),
            format!("cannot read {path}: {e}"),
            "Check the file.",
        )
    })?;
    if provider != "calico" {
        return Err(OpError::host(
            host.name(),
            format!(
                "the cluster's network provider is \"{provider}\" (spec.network.provider in \
                 {path}), not Calico: it is not an MKE 4 cluster; nothing was changed"
            ),
            "This provider manages MKE 4 clusters, which run Calico. Manage this cluster with \
             the tool that built it.",
        ));
    }
    let unit_config = facts.unit.as_ref().and_then(|u| u.config());
    if unit_config != Some(path) {
        return Err(OpError::host(
            host.name(),
            format!(
                "k0s was installed with {}, not --config={path}",
                unit_config.map_or("no --config".to_string(), |c| format!("--config={c}"))
            ),
            format!("The provider manages k0s through {path}: reinstall k0s with `--config={path}` first."),
        ));
    }
    if facts.ca_sha256.is_none() {
        return Err(OpError::host(
            host.name(),
            format!("no cluster CA at {}", mke_k0s::adopt::CA_CERT_PATH),
            "Check that k0s runs as a controller there.",
        ));
    }
    Ok(())
}

/// The UID of `kube-system`: the cluster id.
async fn cluster_uid(host: &Host) -> Result<String, OpError> {
    let out = host
        .check(&mke_ssh::Command::new(mke_k0s::cli::kube_system_uid()))
        .await?;
    let uid = out.trim().to_string();
    if uid.is_empty() {
        return Err(OpError::host(
            host.name(),
            "kube-system has no UID",
            "Check that the Kubernetes API answers on that controller.",
        ));
    }
    Ok(uid)
}

/// Every etcd member must be one of the listed controllers: one left out
/// would be a member the provider's quorum checks cannot see.
async fn check_etcd_members(
    host: &Host,
    controllers: &BTreeMap<String, ImportedController>,
    found: &[(String, Arc<Host>, HostFacts)],
) -> Result<(), OpError> {
    let list = host
        .check(&mke_ssh::Command::new(mke_k0s::cli::etcd_member_list()))
        .await?;
    let members = mke_k0s::parse_member_list(&list).map_err(|e| {
        OpError::host(
            host.name(),
            format!("unexpected etcd member list: {e}"),
            "Check etcd on that controller.",
        )
    })?;
    let unlisted: Vec<String> = members
        .iter()
        .filter(|(name, peer)| {
            let peer = mke_k0s::peer_host(peer);
            !controllers.iter().any(|(key, c)| {
                let hostname = found
                    .iter()
                    .find(|(k, _, _)| k == key)
                    .map(|(_, _, f)| f.hostname.as_str())
                    .unwrap_or("");
                (!hostname.is_empty() && *name == hostname)
                    || peer == c.address
                    || Some(peer.as_str()) == c.private_address.as_deref()
            })
        })
        .map(|(name, peer)| format!("{name} ({peer})"))
        .collect();
    if !unlisted.is_empty() {
        return Err(OpError::host(
            host.name(),
            format!(
                "etcd has members the import ID does not list: {}",
                unlisted.join(", ")
            ),
            "List every controller of the cluster in the import ID.",
        ));
    }
    Ok(())
}

/// A warning naming install flags no attribute expresses.
pub fn unmanaged_flags_warning(what: &str, flags: &[String]) -> Warning {
    Warning::new(
        format!("k0s on {what} was installed with flags the provider cannot express"),
        format!(
            "{} {}. They stay while k0s is only restarted; a change that reinstalls the k0s \
             unit (an upgrade{}) installs it without them.",
            flags.join(" "),
            if flags.len() == 1 {
                "has no attribute"
            } else {
                "have no attribute"
            },
            if what.starts_with("controller") {
                ", or a change of `workloads`"
            } else {
                ", or a change of labels or taints"
            }
        ),
    )
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

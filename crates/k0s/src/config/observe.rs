//! What a ClusterConfig found on a host says, for import: the settings `mke_cluster` manages and
//! the private address a controller's file carries.

use super::ConfigError;

/// What a ClusterConfig on a host says about the settings `mke_cluster`
/// manages; import uses it to fill the state it cannot ask the user for.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedSettings {
    pub name: Option<String>,
    pub network: crate::model::NetworkSpec,
    pub api: crate::model::ApiSpec,
}

pub fn observed_settings(yaml: &str) -> Result<ObservedSettings, ConfigError> {
    let document: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(yaml).map_err(|e| ConfigError::InvalidYaml {
            message: e.to_string(),
        })?;
    let text = |v: &serde_yaml_ng::Value| v.as_str().map(str::to_string);
    let spec = &document["spec"];
    let net = &spec["network"];
    let calico = &net["calico"];
    let defaults = crate::model::NetworkSpec::default();
    let number = |v: &serde_yaml_ng::Value| v.as_u64();
    let network = crate::model::NetworkSpec {
        pod_cidr: text(&net["podCIDR"]).unwrap_or(defaults.pod_cidr.clone()),
        service_cidr: text(&net["serviceCIDR"]).unwrap_or(defaults.service_cidr.clone()),
        cluster_domain: text(&net["clusterDomain"]).unwrap_or(defaults.cluster_domain.clone()),
        kube_proxy_mode: text(&net["kubeProxy"]["mode"])
            .and_then(|m| m.parse().ok())
            .unwrap_or(defaults.kube_proxy_mode),
        calico: crate::model::CalicoSpec {
            mode: text(&calico["mode"])
                .and_then(|m| m.parse().ok())
                .unwrap_or(defaults.calico.mode),
            vxlan_port: number(&calico["vxlanPort"])
                .map(|n| n as u16)
                .unwrap_or(defaults.calico.vxlan_port),
            vxlan_vni: number(&calico["vxlanVNI"])
                .map(|n| n as u32)
                .unwrap_or(defaults.calico.vxlan_vni),
            mtu: number(&calico["mtu"])
                .map(|n| n as u32)
                .unwrap_or(defaults.calico.mtu),
            wireguard: calico["wireguard"]
                .as_bool()
                .unwrap_or(defaults.calico.wireguard),
        },
    };
    let api = crate::model::ApiSpec {
        external_address: text(&spec["api"]["externalAddress"]).filter(|s| !s.is_empty()),
        sans: Vec::new(),
    };
    Ok(ObservedSettings {
        name: text(&document["metadata"]["name"]),
        network,
        api,
    })
}

/// The `spec.api.address` a host's k0s.yaml carries (what `host_config` adds
/// for a controller's `private_address`).
pub fn observed_private_address(host_yaml: &str) -> Result<Option<String>, ConfigError> {
    let document: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(host_yaml).map_err(|e| ConfigError::InvalidYaml {
            message: e.to_string(),
        })?;
    Ok(document["spec"]["api"]["address"]
        .as_str()
        .map(str::to_string))
}

//! What a ClusterConfig found on a host says, to rebuild a cluster's settings from its hosts: the
//! settings the provider manages and the private address a controller's file carries.

use super::ConfigError;

/// What a ClusterConfig on a host says about the settings the provider manages, for a cluster
/// taken over from its hosts rather than described by the user.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CalicoMode, KubeProxyMode, NetworkSpec};

    #[test]
    fn settings_missing_from_the_file_read_as_the_mke4_defaults() {
        let observed = observed_settings(
            "metadata: {name: demo}\nspec:\n  api: {externalAddress: k8s.example.com}\n  network:\n    podCIDR: 10.32.0.0/16\n    kubeProxy: {mode: ipvs}\n    calico: {mode: ipip, mtu: 1400}\n",
        )
        .unwrap();
        assert_eq!(observed.name.as_deref(), Some("demo"));
        assert_eq!(
            observed.api.external_address.as_deref(),
            Some("k8s.example.com")
        );
        assert_eq!(observed.network.pod_cidr, "10.32.0.0/16");
        assert_eq!(
            observed.network.service_cidr,
            NetworkSpec::default().service_cidr
        );
        assert_eq!(observed.network.kube_proxy_mode, KubeProxyMode::Ipvs);
        assert_eq!(observed.network.calico.mode, CalicoMode::Ipip);
        assert_eq!(observed.network.calico.mtu, 1400);
        assert_eq!(observed.network.calico.vxlan_port, 4789);
        assert_eq!(
            observed_settings("").unwrap().network,
            NetworkSpec::default()
        );
        assert!(observed_settings("{unclosed").is_err());
    }

    #[test]
    fn the_private_address_is_spec_api_address() {
        assert_eq!(
            observed_private_address("spec: {api: {address: 192.168.0.11}}").unwrap(),
            Some("192.168.0.11".to_owned())
        );
        assert_eq!(observed_private_address("spec: {api: {}}").unwrap(), None);
    }
}

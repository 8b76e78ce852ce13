//! The typed domain model of an MKE 4 cluster, with the MKE 4 defaults.

use std::fmt;
use std::str::FromStr;

/// The k0s release MKE 4 installs unless told otherwise.
pub const DEFAULT_K0S_VERSION: &str = "v1.29.3+k0s.0";
pub const DEFAULT_POD_CIDR: &str = "10.244.0.0/16";
pub const DEFAULT_SERVICE_CIDR: &str = "10.96.0.0/12";
pub const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";
pub const DEFAULT_VXLAN_PORT: u16 = 4789;
pub const DEFAULT_VXLAN_VNI: u32 = 4096;
/// 0 lets Calico detect the MTU.
pub const DEFAULT_CALICO_MTU: u32 = 0;
/// The kube-apiserver port; the overrides may not change it.
pub const KUBE_API_PORT: u16 = 6443;
/// VXLAN network identifiers are 24 bits wide.
pub const MAX_VXLAN_VNI: u32 = (1 << 24) - 1;

/// The error of parsing one of the enumerations below from its k0s spelling.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}; expected one of: {expected}")]
pub struct UnknownVariant {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

macro_rules! k0s_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($variant:ident => $spelling:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling k0s uses.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $spelling),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownVariant;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($spelling => Ok($name::$variant),)+
                    _ => Err(UnknownVariant {
                        what: $what,
                        value: s.to_owned(),
                        expected: concat!($($spelling, ", "),+).trim_end_matches(", "),
                    }),
                }
            }
        }
    };
}

k0s_enum!(
    /// What a k0s service runs as.
    Role, "k0s role", { Controller => "controller", Worker => "worker" }
);
k0s_enum!(
    /// `spec.network.kubeProxy.mode`.
    KubeProxyMode, "kube-proxy mode", { Iptables => "iptables", Ipvs => "ipvs" }
);
k0s_enum!(
    /// `spec.network.calico.mode`.
    CalicoMode, "calico mode", { Vxlan => "vxlan", Ipip => "ipip", Bird => "bird" }
);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    /// `metadata.name` of the ClusterConfig.
    pub name: String,
    /// Sorted by key, leader first.
    pub controllers: Vec<ControllerSpec>,
    pub api: ApiSpec,
    pub network: NetworkSpec,
    /// YAML deep-merged over the generated ClusterConfig.
    pub overrides_yaml: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerSpec {
    pub key: String,
    /// Where SSH reaches the host; an IP address or a DNS name.
    pub address: String,
    /// The address the control plane binds to and etcd peers over; must be an IP address.
    pub private_address: Option<String>,
    /// Controller+worker (`--enable-worker --no-taints`).
    pub workloads: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiSpec {
    pub external_address: Option<String>,
    pub sans: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSpec {
    pub pod_cidr: String,
    pub service_cidr: String,
    pub cluster_domain: String,
    pub kube_proxy_mode: KubeProxyMode,
    pub calico: CalicoSpec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalicoSpec {
    pub mode: CalicoMode,
    pub vxlan_port: u16,
    pub vxlan_vni: u32,
    pub mtu: u32,
    pub wireguard: bool,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            pod_cidr: DEFAULT_POD_CIDR.to_owned(),
            service_cidr: DEFAULT_SERVICE_CIDR.to_owned(),
            cluster_domain: DEFAULT_CLUSTER_DOMAIN.to_owned(),
            kube_proxy_mode: KubeProxyMode::Iptables,
            calico: CalicoSpec::default(),
        }
    }
}

impl Default for CalicoSpec {
    fn default() -> Self {
        CalicoSpec {
            mode: CalicoMode::Vxlan,
            vxlan_port: DEFAULT_VXLAN_PORT,
            vxlan_vni: DEFAULT_VXLAN_VNI,
            mtu: DEFAULT_CALICO_MTU,
            wireguard: false,
        }
    }
}

impl ClusterSpec {
    /// The controller that starts the cluster; the others join it.
    pub fn leader(&self) -> Option<&ControllerSpec> {
        self.controllers.first()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_mke4_defaults() {
        let network = NetworkSpec::default();
        assert_eq!(network.pod_cidr, "10.244.0.0/16");
        assert_eq!(network.service_cidr, "10.96.0.0/12");
        assert_eq!(network.cluster_domain, "cluster.local");
        assert_eq!(network.kube_proxy_mode.to_string(), "iptables");
        assert_eq!(
            network.calico,
            CalicoSpec {
                mode: CalicoMode::Vxlan,
                vxlan_port: 4789,
                vxlan_vni: 4096,
                mtu: 0,
                wireguard: false
            }
        );
        assert_eq!(DEFAULT_K0S_VERSION, "v1.29.3+k0s.0");
    }

    #[test]
    fn enums_use_k0s_spellings_both_ways() {
        for mode in CalicoMode::ALL {
            assert_eq!(mode.to_string().parse::<CalicoMode>(), Ok(*mode));
        }
        for mode in KubeProxyMode::ALL {
            assert_eq!(mode.to_string().parse::<KubeProxyMode>(), Ok(*mode));
        }
        assert_eq!("worker".parse::<Role>(), Ok(Role::Worker));
        let error = "VXLAN".parse::<CalicoMode>().unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"unknown calico mode "VXLAN"; expected one of: vxlan, ipip, bird"#
        );
        let error = "userspace".parse::<KubeProxyMode>().unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"unknown kube-proxy mode "userspace"; expected one of: iptables, ipvs"#
        );
    }
}

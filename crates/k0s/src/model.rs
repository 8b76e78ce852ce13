//! The typed domain model of an MKE 4 cluster, with the MKE 4 defaults.

use crate::config::{is_dns_name, is_ip_or_dns_name};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
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
/// The kube-apiserver port; `k0s_config_overrides` may not change it.
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

    /// Every problem plan-time validation should report, each with the attribute it is about.
    /// The overrides are not looked at here: see [`crate::config::check_overrides`].
    pub fn validate(&self) -> Vec<SpecError> {
        let mut errors = Vec::new();
        if self.name.trim().is_empty() {
            errors.push(SpecError::new(
                vec![PathStep::attr("name")],
                "must not be empty",
            ));
        }
        if self.controllers.is_empty() {
            errors.push(SpecError::new(
                vec![PathStep::attr("controllers")],
                "at least one controller is required",
            ));
        }
        // Each address may belong to one controller only; a controller may repeat its own.
        let mut owners: Vec<(&str, &str)> = Vec::new();
        for controller in &self.controllers {
            let at = |attr: &'static str| {
                vec![
                    PathStep::attr("controllers"),
                    PathStep::key(&controller.key),
                    PathStep::attr(attr),
                ]
            };
            if !is_ip_or_dns_name(&controller.address) {
                errors.push(SpecError::new(
                    at("address"),
                    format!(
                        "{:?} is neither an IP address nor a DNS name",
                        controller.address
                    ),
                ));
            }
            let mut own = vec![("address", controller.address.as_str())];
            if let Some(private) = &controller.private_address {
                if private.parse::<IpAddr>().is_err() {
                    errors.push(SpecError::new(
                        at("private_address"),
                        format!("{private:?} is not an IP address (k0s binds the API server and etcd to it)"),
                    ));
                }
                if *private != controller.address {
                    own.push(("private_address", private));
                }
            }
            for (attr, address) in own {
                match owners.iter().find(|(owned, _)| *owned == address) {
                    Some((_, other)) => errors.push(SpecError::new(
                        at(attr),
                        format!("address {address:?} is already used by controller {other:?}"),
                    )),
                    None => owners.push((address, &controller.key)),
                }
            }
        }
        if let Some(external) = &self.api.external_address {
            if !is_ip_or_dns_name(external) {
                errors.push(SpecError::new(
                    vec![PathStep::attr("api"), PathStep::attr("external_address")],
                    format!("{external:?} is neither an IP address nor a DNS name"),
                ));
            }
        }
        for (index, san) in self.api.sans.iter().enumerate() {
            if !is_ip_or_dns_name(san) {
                errors.push(SpecError::new(
                    vec![
                        PathStep::attr("api"),
                        PathStep::attr("sans"),
                        PathStep::Index(index),
                    ],
                    format!("{san:?} is neither an IP address nor a DNS name"),
                ));
            }
        }
        errors.extend(self.network.validate().into_iter().map(|mut error| {
            error.path.insert(0, PathStep::attr("network"));
            error
        }));
        errors
    }
}

impl NetworkSpec {
    /// Problems with the network settings; paths are relative to the `network` attribute.
    pub fn validate(&self) -> Vec<SpecError> {
        let mut errors = Vec::new();
        let pod = Ipv4Cidr::parse(&self.pod_cidr);
        let service = Ipv4Cidr::parse(&self.service_cidr);
        if let Err(message) = &pod {
            errors.push(SpecError::new(
                vec![PathStep::attr("pod_cidr")],
                message.clone(),
            ));
        }
        match &service {
            Err(message) => errors.push(SpecError::new(
                vec![PathStep::attr("service_cidr")],
                message.clone(),
            )),
            // The API server allocates service IPs from a bitmap limited to 2^20 entries.
            Ok(cidr) if cidr.prefix < 12 => errors.push(SpecError::new(
                vec![PathStep::attr("service_cidr")],
                format!(
                    "{:?} is too large: an IPv4 service CIDR needs a prefix of /12 or longer",
                    self.service_cidr
                ),
            )),
            Ok(_) => {}
        }
        if let (Ok(pod), Ok(service)) = (&pod, &service) {
            if pod.overlaps(service) {
                errors.push(SpecError::new(
                    vec![PathStep::attr("service_cidr")],
                    format!(
                        "{:?} overlaps the pod CIDR {:?}",
                        self.service_cidr, self.pod_cidr
                    ),
                ));
            }
        }
        if !is_dns_name(&self.cluster_domain) {
            errors.push(SpecError::new(
                vec![PathStep::attr("cluster_domain")],
                format!("{:?} is not a DNS name", self.cluster_domain),
            ));
        }
        let calico = |attr: &'static str| vec![PathStep::attr("calico"), PathStep::attr(attr)];
        if self.calico.vxlan_port == 0 {
            errors.push(SpecError::new(
                calico("vxlan_port"),
                "must be between 1 and 65535",
            ));
        }
        if self.calico.vxlan_vni == 0 || self.calico.vxlan_vni > MAX_VXLAN_VNI {
            errors.push(SpecError::new(
                calico("vxlan_vni"),
                format!("must be between 1 and {MAX_VXLAN_VNI} (24 bits)"),
            ));
        }
        errors
    }
}

/// One step of a Terraform attribute path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    Attribute(String),
    /// A key of a map attribute.
    Key(String),
    Index(usize),
}

impl PathStep {
    fn attr(name: &str) -> Self {
        PathStep::Attribute(name.to_owned())
    }

    fn key(key: &str) -> Self {
        PathStep::Key(key.to_owned())
    }
}

/// A problem with a [`ClusterSpec`], found before anything touches a host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", display_path(path))]
pub struct SpecError {
    pub path: Vec<PathStep>,
    pub message: String,
}

impl SpecError {
    fn new(path: Vec<PathStep>, message: impl Into<String>) -> Self {
        SpecError {
            path,
            message: message.into(),
        }
    }
}

fn display_path(path: &[PathStep]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            PathStep::Attribute(name) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(name);
            }
            PathStep::Key(key) => out.push_str(&format!("[{key:?}]")),
            PathStep::Index(index) => out.push_str(&format!("[{index}]")),
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ipv4Cidr {
    network: u32,
    prefix: u8,
}

impl Ipv4Cidr {
    /// Accepts host bits like Go's `net.ParseCIDR` does, so anything k0s accepts passes.
    fn parse(text: &str) -> Result<Self, String> {
        let invalid = || format!("{text:?} is not a CIDR like 10.244.0.0/16");
        let (address, prefix) = text.split_once('/').ok_or_else(invalid)?;
        if address.parse::<std::net::Ipv6Addr>().is_ok() {
            return Err(format!(
                "{text:?} is an IPv6 CIDR; MKE 4 clusters are IPv4 only"
            ));
        }
        let address: Ipv4Addr = address.parse().map_err(|_| invalid())?;
        if prefix.is_empty() || prefix.len() > 2 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
        if prefix > 32 {
            return Err(invalid());
        }
        Ok(Ipv4Cidr {
            network: u32::from(address) & Self::mask(prefix),
            prefix,
        })
    }

    fn mask(prefix: u8) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
    }

    fn overlaps(&self, other: &Ipv4Cidr) -> bool {
        let shorter = self.prefix.min(other.prefix);
        self.network & Self::mask(shorter) == other.network & Self::mask(shorter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ClusterSpec {
        ClusterSpec {
            name: "demo".into(),
            controllers: vec![ControllerSpec {
                key: "cp1".into(),
                address: "10.0.0.11".into(),
                private_address: None,
                workloads: false,
            }],
            api: ApiSpec::default(),
            network: NetworkSpec::default(),
            overrides_yaml: None,
        }
    }

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

    #[test]
    fn default_spec_is_valid() {
        assert_eq!(spec().validate(), vec![]);
    }

    #[test]
    fn bad_cidrs_are_reported_with_their_attribute() {
        let mut spec = spec();
        spec.network.pod_cidr = "10.244.0.0".into();
        spec.network.service_cidr = "fd00::/108".into();
        let messages: Vec<String> = spec.validate().iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            vec![
                r#"network.pod_cidr: "10.244.0.0" is not a CIDR like 10.244.0.0/16"#.to_owned(),
                r#"network.service_cidr: "fd00::/108" is an IPv6 CIDR; MKE 4 clusters are IPv4 only"#.to_owned(),
            ]
        );
    }

    #[test]
    fn overlapping_cidrs_are_rejected() {
        let mut spec = spec();
        spec.network.service_cidr = "10.244.128.0/17".into();
        let errors = spec.validate();
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].to_string(),
            r#"network.service_cidr: "10.244.128.0/17" overlaps the pod CIDR "10.244.0.0/16""#
        );
        spec.network.service_cidr = "10.245.0.0/16".into();
        assert_eq!(spec.validate(), vec![]);
    }

    #[test]
    fn service_cidr_larger_than_a_slash_12_is_rejected() {
        let mut spec = spec();
        spec.network.service_cidr = "10.64.0.0/10".into();
        assert!(spec.validate()[0].message.contains("/12 or longer"));
    }

    #[test]
    fn duplicate_addresses_name_the_other_controller() {
        let mut spec = spec();
        spec.controllers.push(ControllerSpec {
            key: "cp2".into(),
            address: "10.0.0.12".into(),
            private_address: Some("10.0.0.11".into()),
            workloads: false,
        });
        let errors = spec.validate();
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].to_string(),
            r#"controllers["cp2"].private_address: address "10.0.0.11" is already used by controller "cp1""#
        );
    }

    #[test]
    fn private_address_equal_to_own_address_is_fine_but_must_be_an_ip() {
        let mut spec = spec();
        spec.controllers[0].private_address = Some("10.0.0.11".into());
        assert_eq!(spec.validate(), vec![]);
        spec.controllers[0].private_address = Some("cp1.internal".into());
        assert_eq!(
            spec.validate()[0].path[2],
            PathStep::Attribute("private_address".into())
        );
    }

    #[test]
    fn calico_ranges_and_domain() {
        let mut spec = spec();
        spec.network.calico.vxlan_vni = 1 << 24;
        spec.network.calico.vxlan_port = 0;
        spec.network.cluster_domain = "cluster..local".into();
        let messages: Vec<String> = spec.validate().iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            vec![
                r#"network.cluster_domain: "cluster..local" is not a DNS name"#.to_owned(),
                "network.calico.vxlan_port: must be between 1 and 65535".to_owned(),
                "network.calico.vxlan_vni: must be between 1 and 16777215 (24 bits)".to_owned(),
            ]
        );
    }
}

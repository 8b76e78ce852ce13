//! The rules a cluster's and a node's settings must follow, one field at a time, checked before
//! anything reaches a host. Each check returns a typed error whose message tells the user what
//! is wrong with the value and what a good one looks like; the caller says which setting it was.
//!
//! These rules are MKE 4's, sometimes stricter than k0s's own (see [`crate::config`] for what k0s
//! itself accepts in a ClusterConfig): IPv4 only, CIDR blocks without host bits, host names
//! without `_`.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use std::str::FromStr;

use crate::status::{parse_k0s_version, K0sVersion};

/// An IPv4 network: its address with the host bits clear, and the prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Cidr {
    pub network: u32,
    pub prefix: u8,
}

impl Ipv4Cidr {
    fn mask(self) -> u32 {
        mask(self.prefix)
    }

    /// Whether the two networks share an address.
    pub fn overlaps(self, other: Ipv4Cidr) -> bool {
        let shorter = mask(self.prefix.min(other.prefix));
        self.network & shorter == other.network & shorter
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.network), self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("\"{input}\" is not a CIDR block: expected the form 10.244.0.0/16")]
    NoPrefix { input: String },
    #[error("\"{input}\" is an IPv6 block; MKE 4 supports IPv4 only")]
    Ipv6 { input: String },
    #[error("\"{input}\" is not a CIDR block: \"{address}\" is not an IPv4 address")]
    BadAddress { input: String, address: String },
    #[error("\"{input}\" is not a CIDR block: the prefix length must be 0 to 32")]
    BadPrefixLength { input: String },
    #[error(
        "\"{input}\" has host bits set: the network address of a /{prefix} there is {network}"
    )]
    HostBitsSet {
        input: String,
        prefix: u8,
        network: Ipv4Addr,
    },
}

/// An IPv4 CIDR block such as `10.244.0.0/16`. MKE 4 is IPv4 only, and a block with host bits
/// set (`10.244.1.0/16`) is refused rather than silently widened, as Go's `net.ParseCIDR` would.
pub fn parse_ipv4_cidr(text: &str) -> Result<Ipv4Cidr, CidrError> {
    let input = || text.to_owned();
    let (address, prefix) = text
        .split_once('/')
        .ok_or_else(|| CidrError::NoPrefix { input: input() })?;
    let ip: Ipv4Addr = address.parse().map_err(|_| {
        if address.contains(':') {
            CidrError::Ipv6 { input: input() }
        } else {
            CidrError::BadAddress {
                input: input(),
                address: address.to_owned(),
            }
        }
    })?;
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= 32)
        .ok_or_else(|| CidrError::BadPrefixLength { input: input() })?;
    let cidr = Ipv4Cidr {
        network: u32::from(ip),
        prefix,
    };
    if cidr.network & !cidr.mask() != 0 {
        return Err(CidrError::HostBitsSet {
            input: input(),
            prefix,
            network: Ipv4Addr::from(cidr.network & cidr.mask()),
        });
    }
    Ok(cidr)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostAddressError {
    #[error("\"{input}\" is not a host address. MKE 4 supports IPv4 only.")]
    Ipv6 { input: String },
    #[error("\"{input}\" is not a host address. Use an IPv4 address or a DNS name, without scheme or port.")]
    Invalid { input: String },
}

/// Where a host is reached: an IPv4 address or a DNS name (labels of letters, digits and `-`,
/// none starting or ending with `-`, at most 253 characters in all).
pub fn check_host_address(text: &str) -> Result<(), HostAddressError> {
    let valid_name = !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if text.parse::<Ipv4Addr>().is_ok() || valid_name {
        Ok(())
    } else if text.parse::<Ipv6Addr>().is_ok() {
        Err(HostAddressError::Ipv6 {
            input: text.to_owned(),
        })
    } else {
        Err(HostAddressError::Invalid {
            input: text.to_owned(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrivateAddressError {
    #[error("\"{input}\" is not an IPv4 address. k0s uses this address as the node IP (--node-ip) and, on a controller, as spec.api.address and the etcd peer address, and none of them takes a DNS name. Use the machine's IPv4 address inside the cluster network, such as 10.0.0.11.")]
    NotAnIp { input: String },
    #[error("\"{input}\" is an IPv6 address. MKE 4 supports IPv4 only: use the machine's IPv4 address inside the cluster network, such as 10.0.0.11.")]
    Ipv6 { input: String },
}

/// The address a machine uses inside the cluster: k0s puts it where only an IP is accepted
/// (the kubelet's `--node-ip`, `spec.api.address`, `spec.storage.etcd.peerAddress`), so, unlike
/// [`check_host_address`], a DNS name is refused.
pub fn check_private_address(text: &str) -> Result<Ipv4Addr, PrivateAddressError> {
    text.parse::<Ipv4Addr>().map_err(|_| {
        if text.parse::<Ipv6Addr>().is_ok() {
            PrivateAddressError::Ipv6 {
                input: text.to_owned(),
            }
        } else {
            PrivateAddressError::NotAnIp {
                input: text.to_owned(),
            }
        }
    })
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{shown} is not a TCP port: use a whole number from 1 to 65535.")]
pub struct PortError {
    pub shown: String,
}

/// A TCP port, 1 to 65535. `whole` is the number when it is whole (and fits an `i64`); `shown`
/// is how the number is written, for the message.
pub fn check_port(whole: Option<i64>, shown: impl fmt::Display) -> Result<u16, PortError> {
    whole
        .filter(|port| (1..=65535).contains(port))
        .map(|port| port as u16)
        .ok_or_else(|| PortError {
            shown: shown.to_string(),
        })
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{shown} is out of range: {what} must be a whole number from {min} to {max}.")]
pub struct RangeError {
    pub shown: String,
    pub what: String,
    pub min: i64,
    pub max: i64,
}

/// A whole number from `min` to `max`; `what` names it in the message ("MTU"). `whole` and
/// `shown` are as for [`check_port`].
pub fn check_range(
    whole: Option<i64>,
    shown: impl fmt::Display,
    min: i64,
    max: i64,
    what: &str,
) -> Result<i64, RangeError> {
    whole
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| RangeError {
            shown: shown.to_string(),
            what: what.to_owned(),
            min,
            max,
        })
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "\"{input}\" is not a k0s release: expected the form vX.Y.Z+k0s.N, for example v1.29.3+k0s.0."
)]
pub struct K0sReleaseError {
    pub input: String,
}

/// A k0s release as k0s names it, `v1.29.3+k0s.0`.
pub fn check_k0s_version(text: &str) -> Result<K0sVersion, K0sReleaseError> {
    parse_k0s_version(text).map_err(|_| K0sReleaseError {
        input: text.to_owned(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionSkewError {
    #[error("{from} cannot be downgraded to {to} in place: k0s and etcd do not support going back to an older minor release.")]
    Downgrade { from: K0sVersion, to: K0sVersion },
    #[error("{from} cannot be upgraded to {to} in one step: Kubernetes upgrades one minor version at a time, so go to v{}.{}.x first.", .from.major, .from.minor + 1)]
    MinorSkip { from: K0sVersion, to: K0sVersion },
}

/// Whether a running k0s may be changed from `from` to `to` in place: never to an older minor
/// release (etcd and the API server's stored objects do not go back), and at most one minor
/// version up (the Kubernetes version skew policy). Within one minor, patch and `+k0s.N` changes
/// go either way: that is how a host upgraded by hand is put back to the release of the others.
pub fn check_upgrade(from: &K0sVersion, to: &K0sVersion) -> Result<(), VersionSkewError> {
    if (to.major, to.minor) < (from.major, from.minor) {
        return Err(VersionSkewError::Downgrade {
            from: from.clone(),
            to: to.clone(),
        });
    }
    if to.major != from.major || to.minor > from.minor + 1 {
        return Err(VersionSkewError::MinorSkip {
            from: from.clone(),
            to: to.clone(),
        });
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{key}\" is not a Kubernetes label key: use [prefix/]name, where name is up to 63 letters, digits, '-', '_' or '.'")]
pub struct LabelKeyError {
    pub key: String,
}

/// A label (or taint) key as the API server checks it: `[prefix/]name`, the prefix a lowercase
/// DNS subdomain of at most 253 characters, the name 1 to 63 letters, digits, `-`, `_` or `.`,
/// starting and ending with a letter or digit.
pub fn check_label_key(key: &str) -> Result<(), LabelKeyError> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(is_dns_subdomain);
    if prefix_ok && !name.is_empty() && is_label_value(name) {
        Ok(())
    } else {
        Err(LabelKeyError {
            key: key.to_owned(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{value}\" is not a Kubernetes label value: use up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit")]
pub struct LabelValueError {
    pub value: String,
}

/// A label (or taint) value as the API server checks it: empty, or what a key's name may be.
pub fn check_label_value(value: &str) -> Result<(), LabelValueError> {
    if is_label_value(value) {
        Ok(())
    } else {
        Err(LabelValueError {
            value: value.to_owned(),
        })
    }
}

fn is_dns_subdomain(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn is_label_value(value: &str) -> bool {
    value.is_empty()
        || (value.len() <= 63
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaintError {
    #[error("\"{taint}\" has no effect: write key=value:Effect")]
    NoEffect { taint: String },
    #[error("\"{effect}\" in \"{taint}\" is not a taint effect: use NoSchedule, PreferNoSchedule or NoExecute")]
    UnknownEffect { taint: String, effect: String },
    #[error("taint \"{taint}\": {source}")]
    Key {
        taint: String,
        source: LabelKeyError,
    },
    #[error("taint \"{taint}\": {source}")]
    Value {
        taint: String,
        source: LabelValueError,
    },
}

/// A taint written `key=value:Effect` or `key:Effect`, as kubectl and k0s's `--taints` take it.
pub fn parse_taint(text: &str) -> Result<Taint, TaintError> {
    let taint = || text.to_owned();
    let (key_value, effect) = text
        .rsplit_once(':')
        .ok_or_else(|| TaintError::NoEffect { taint: taint() })?;
    let effect = match effect {
        "NoSchedule" => TaintEffect::NoSchedule,
        "PreferNoSchedule" => TaintEffect::PreferNoSchedule,
        "NoExecute" => TaintEffect::NoExecute,
        other => {
            return Err(TaintError::UnknownEffect {
                taint: taint(),
                effect: other.to_owned(),
            })
        }
    };
    let (key, value) = key_value.split_once('=').unwrap_or((key_value, ""));
    check_label_key(key).map_err(|source| TaintError::Key {
        taint: taint(),
        source,
    })?;
    check_label_value(value).map_err(|source| TaintError::Value {
        taint: taint(),
        source,
    })?;
    Ok(Taint {
        key: key.to_owned(),
        value: value.to_owned(),
        effect,
    })
}

/// Pairs of positions `(first, later)` of taints with the same key and effect, which the API
/// server refuses on one Node.
pub fn duplicate_taints(taints: &[Taint]) -> Vec<(usize, usize)> {
    let mut pairs = Vec::new();
    for (later, taint) in taints.iter().enumerate() {
        if let Some(first) = taints[..later]
            .iter()
            .position(|t| t.key == taint.key && t.effect == taint.effect)
        {
            pairs.push((first, later));
        }
    }
    pairs
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl TaintEffect {
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }
}

/// A node taint, written `key=value:Effect` or `key:Effect` as kubectl and k0s's `--taints` take it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Taint {
    pub key: String,
    /// Empty when the taint has no value.
    pub value: String,
    pub effect: TaintEffect,
}

impl fmt::Display for Taint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "{}:{}", self.key, self.effect.as_str())
        } else {
            write!(f, "{}={}:{}", self.key, self.value, self.effect.as_str())
        }
    }
}

impl FromStr for Taint {
    type Err = TaintError;

    /// See [`parse_taint`].
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_taint(text)
    }
}

/// A hostname that cannot be a Node's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the hostname {hostname:?} cannot be a Kubernetes node name: use lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit")]
pub struct NodeNameError {
    pub hostname: String,
}

/// The Node name the kubelet registers with: the hostname, lowercased. It must be a DNS-1123
/// subdomain, as the API server requires; anything else (a name starting with `-`, say) would
/// otherwise reach kubectl command lines.
pub fn node_name_from_hostname(hostname: &str) -> Result<String, NodeNameError> {
    let name = hostname.trim().to_ascii_lowercase();
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(NodeNameError {
            hostname: hostname.to_owned(),
        });
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr_message(text: &str) -> String {
        parse_ipv4_cidr(text).unwrap_err().to_string()
    }

    #[test]
    fn cidrs_are_ipv4_networks() {
        assert_eq!(
            parse_ipv4_cidr("10.244.0.0/16").unwrap().to_string(),
            "10.244.0.0/16"
        );
        assert_eq!(
            cidr_message("10.244.0.0"),
            "\"10.244.0.0\" is not a CIDR block: expected the form 10.244.0.0/16"
        );
        assert_eq!(
            cidr_message("10.244.0.0/33"),
            "\"10.244.0.0/33\" is not a CIDR block: the prefix length must be 0 to 32"
        );
        assert_eq!(
            cidr_message("10.244.0/16"),
            "\"10.244.0/16\" is not a CIDR block: \"10.244.0\" is not an IPv4 address"
        );
        assert_eq!(
            cidr_message("10.244.1.0/16"),
            "\"10.244.1.0/16\" has host bits set: the network address of a /16 there is 10.244.0.0"
        );
        assert_eq!(
            cidr_message("fd00::/64"),
            "\"fd00::/64\" is an IPv6 block; MKE 4 supports IPv4 only"
        );
        assert_eq!(parse_ipv4_cidr("0.0.0.0/0").unwrap().prefix, 0);
        assert!(parse_ipv4_cidr("10.0.0.1/32").is_ok());
    }

    #[test]
    fn overlap_is_symmetric() {
        let pods = parse_ipv4_cidr("10.244.0.0/16").unwrap();
        let services = parse_ipv4_cidr("10.96.0.0/12").unwrap();
        let inside = parse_ipv4_cidr("10.244.8.0/24").unwrap();
        let everything = parse_ipv4_cidr("0.0.0.0/0").unwrap();
        assert!(!pods.overlaps(services) && !services.overlaps(pods));
        assert!(pods.overlaps(inside) && inside.overlaps(pods));
        assert!(everything.overlaps(services));
    }

    #[test]
    fn host_addresses_are_ipv4_or_dns_names() {
        for good in ["10.0.0.11", "cp1", "cp-1.example.com"] {
            assert_eq!(check_host_address(good), Ok(()), "{good}");
        }
        assert_eq!(
            check_host_address("fd00::1").unwrap_err().to_string(),
            "\"fd00::1\" is not a host address. MKE 4 supports IPv4 only."
        );
        for bad in [
            "",
            "cp_1.example.com",
            "-cp1",
            "ssh://cp1",
            "cp1:22",
            "a..b",
        ] {
            assert_eq!(
                check_host_address(bad).unwrap_err().to_string(),
                format!("\"{bad}\" is not a host address. Use an IPv4 address or a DNS name, without scheme or port."),
            );
        }
    }

    #[test]
    fn private_addresses_are_ipv4_addresses_never_names() {
        assert_eq!(
            check_private_address("10.0.0.11"),
            Ok(Ipv4Addr::new(10, 0, 0, 11))
        );
        assert_eq!(
            check_private_address("cp1.internal").unwrap_err().to_string(),
            "\"cp1.internal\" is not an IPv4 address. k0s uses this address as the node IP (--node-ip) and, on a controller, as spec.api.address and the etcd peer address, and none of them takes a DNS name. Use the machine's IPv4 address inside the cluster network, such as 10.0.0.11."
        );
        assert!(matches!(
            check_private_address("fd00::1"),
            Err(PrivateAddressError::Ipv6 { .. })
        ));
        for bad in ["", "10.0.0", "10.0.0.11/24", "10.0.0.11:22"] {
            assert!(check_private_address(bad).is_err(), "{bad}");
        }
    }

    fn version(text: &str) -> K0sVersion {
        check_k0s_version(text).unwrap()
    }

    #[test]
    fn upgrades_go_forward_one_minor_version_at_a_time() {
        let from = version("v1.29.3+k0s.0");
        for fine in [
            "v1.29.3+k0s.0",
            "v1.29.3+k0s.1",
            "v1.29.9+k0s.0",
            "v1.30.0+k0s.0",
            "v1.30.4+k0s.2",
            "v1.30.0-rc.1+k0s.0",
        ] {
            assert_eq!(check_upgrade(&from, &version(fine)), Ok(()), "{fine}");
        }
        assert_eq!(
            check_upgrade(&from, &version("v1.28.9+k0s.0"))
                .unwrap_err()
                .to_string(),
            "v1.29.3+k0s.0 cannot be downgraded to v1.28.9+k0s.0 in place: k0s and etcd do not support going back to an older minor release."
        );
        assert!(matches!(
            check_upgrade(&version("v1.30.0+k0s.0"), &version("v1.29.9+k0s.0")),
            Err(VersionSkewError::Downgrade { .. })
        ));
        // Within one minor, back is fine: a host upgraded by hand is put back.
        for back in ["v1.29.2+k0s.0", "v1.29.3-rc.1+k0s.0"] {
            assert_eq!(check_upgrade(&from, &version(back)), Ok(()), "{back}");
        }
        assert_eq!(
            check_upgrade(&version("v1.29.3+k0s.1"), &version("v1.29.3+k0s.0")),
            Ok(())
        );
        assert_eq!(
            check_upgrade(&from, &version("v1.31.1+k0s.0"))
                .unwrap_err()
                .to_string(),
            "v1.29.3+k0s.0 cannot be upgraded to v1.31.1+k0s.0 in one step: Kubernetes upgrades one minor version at a time, so go to v1.30.x first."
        );
        assert!(matches!(
            check_upgrade(&from, &version("v2.0.0+k0s.0")),
            Err(VersionSkewError::MinorSkip { .. })
        ));
    }

    #[test]
    fn ports_and_ranges_are_whole_numbers_within_bounds() {
        assert_eq!(check_port(Some(22), 22), Ok(22));
        assert_eq!(check_port(Some(65535), 65535), Ok(65535));
        assert_eq!(
            check_port(Some(0), 0).unwrap_err().to_string(),
            "0 is not a TCP port: use a whole number from 1 to 65535."
        );
        assert_eq!(
            check_port(None, "22.5").unwrap_err().to_string(),
            "22.5 is not a TCP port: use a whole number from 1 to 65535."
        );
        assert!(check_port(Some(65536), 65536).is_err());
        assert_eq!(check_range(Some(0), 0, 0, 9000, "MTU"), Ok(0));
        assert_eq!(
            check_range(Some(16_777_216), 16_777_216, 1, 16_777_215, "VXLAN VNI")
                .unwrap_err()
                .to_string(),
            "16777216 is out of range: VXLAN VNI must be a whole number from 1 to 16777215."
        );
    }

    #[test]
    fn k0s_versions_name_a_release() {
        assert_eq!(
            check_k0s_version("v1.29.3+k0s.0").unwrap().to_string(),
            "v1.29.3+k0s.0"
        );
        assert_eq!(
            check_k0s_version("1.29.3").unwrap_err().to_string(),
            "\"1.29.3\" is not a k0s release: expected the form vX.Y.Z+k0s.N, for example v1.29.3+k0s.0."
        );
    }

    #[test]
    fn label_keys_follow_the_api_server() {
        for good in [
            "tier",
            "example.com/tier",
            "node.kubernetes.io/exclude-from-external-load-balancers",
            "a_b.c-d",
        ] {
            assert_eq!(check_label_key(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "-tier",
            "Example.com/tier",
            "example..com/tier",
            "-example.com/tier",
            "example.com/",
            "/tier",
            "a/b/c",
            &"x".repeat(64),
        ] {
            assert_eq!(
                check_label_key(bad).unwrap_err().to_string(),
                format!("\"{bad}\" is not a Kubernetes label key: use [prefix/]name, where name is up to 63 letters, digits, '-', '_' or '.'"),
            );
        }
        assert_eq!(check_label_value(""), Ok(()));
        assert_eq!(check_label_value("web-1"), Ok(()));
        assert_eq!(
            check_label_value("-web").unwrap_err().to_string(),
            "\"-web\" is not a Kubernetes label value: use up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        );
    }

    #[test]
    fn taints_need_a_known_effect_and_a_valid_key() {
        assert_eq!(
            parse_taint("dedicated=web:NoSchedule").unwrap(),
            Taint {
                key: "dedicated".into(),
                value: "web".into(),
                effect: TaintEffect::NoSchedule
            }
        );
        assert_eq!(parse_taint("gpu:NoExecute").unwrap().value, "");
        let message = |text: &str| parse_taint(text).unwrap_err().to_string();
        assert_eq!(
            message("dedicated=web"),
            "\"dedicated=web\" has no effect: write key=value:Effect"
        );
        assert_eq!(
            message("a=b:Sometimes"),
            "\"Sometimes\" in \"a=b:Sometimes\" is not a taint effect: use NoSchedule, PreferNoSchedule or NoExecute"
        );
        assert_eq!(
            message("=b:NoSchedule"),
            "taint \"=b:NoSchedule\": \"\" is not a Kubernetes label key: use [prefix/]name, where name is up to 63 letters, digits, '-', '_' or '.'"
        );
        assert_eq!(
            message("a=b c:NoSchedule"),
            "taint \"a=b c:NoSchedule\": \"b c\" is not a Kubernetes label value: use up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        );
    }

    #[test]
    fn a_taint_key_may_appear_once_per_effect() {
        let taints: Vec<Taint> = [
            "dedicated=web:NoSchedule",
            "dedicated=api:NoExecute",
            "gpu:NoSchedule",
            "dedicated=db:NoSchedule",
        ]
        .iter()
        .map(|t| parse_taint(t).unwrap())
        .collect();
        assert_eq!(duplicate_taints(&taints), vec![(0, 3)]);
        assert!(duplicate_taints(&taints[..3]).is_empty());
    }

    #[test]
    fn node_names_come_from_hostnames_that_kubernetes_accepts() {
        assert_eq!(
            node_name_from_hostname("Worker-1.Example").unwrap(),
            "worker-1.example"
        );
        for bad in ["--selector=x", "-w1", "w_1", "", "a..b"] {
            assert!(node_name_from_hostname(bad).is_err(), "{bad}");
        }
    }
}

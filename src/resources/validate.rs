//! Plan-time checks shared by the resources. Each takes the configured
//! value, skips what is null or not yet known, and reports an error on the
//! attribute's path.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use tfplugin::tfvalue::{AttributePath, Value};
use tfplugin::Diagnostics;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Cidr {
    pub network: u32,
    pub prefix: u8,
}

impl Ipv4Cidr {
    fn mask(self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }
    pub fn overlaps(self, other: Ipv4Cidr) -> bool {
        let shorter = self.prefix.min(other.prefix);
        let mask = Ipv4Cidr {
            network: 0,
            prefix: shorter,
        }
        .mask();
        self.network & mask == other.network & mask
    }
}

/// MKE 4 is IPv4 only, so only IPv4 CIDRs are accepted.
pub fn parse_ipv4_cidr(s: &str) -> Result<Ipv4Cidr, String> {
    let (ip, prefix) = s
        .split_once('/')
        .ok_or_else(|| format!("\"{s}\" is not a CIDR block: expected the form 10.244.0.0/16"))?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| {
        if ip.contains(':') {
            format!("\"{s}\" is an IPv6 block; MKE 4 supports IPv4 only")
        } else {
            format!("\"{s}\" is not a CIDR block: \"{ip}\" is not an IPv4 address")
        }
    })?;
    let prefix: u8 =
        prefix.parse().ok().filter(|p| *p <= 32).ok_or_else(|| {
            format!("\"{s}\" is not a CIDR block: the prefix length must be 0 to 32")
        })?;
    let cidr = Ipv4Cidr {
        network: u32::from(ip),
        prefix,
    };
    if cidr.network & !cidr.mask() != 0 {
        let base = Ipv4Addr::from(cidr.network & cidr.mask());
        return Err(format!(
            "\"{s}\" has host bits set: the network address of a /{prefix} there is {base}"
        ));
    }
    Ok(cidr)
}

pub fn check_cidr(d: &mut Diagnostics, path: AttributePath, v: &Value) -> Option<Ipv4Cidr> {
    let s = v.as_str()?;
    match parse_ipv4_cidr(s) {
        Ok(c) => Some(c),
        Err(e) => {
            d.error_at(path, "Invalid CIDR block", e);
            None
        }
    }
}

pub fn check_port(d: &mut Diagnostics, path: AttributePath, v: &Value) {
    if let Value::Number(n) = v {
        let ok = n.as_i64().is_some_and(|p| (1..=65535).contains(&p));
        if !ok {
            d.error_at(
                path,
                "Invalid port",
                format!("{n} is not a TCP port: use a whole number from 1 to 65535."),
            );
        }
    }
}

pub fn check_range(
    d: &mut Diagnostics,
    path: AttributePath,
    v: &Value,
    min: i64,
    max: i64,
    what: &str,
) {
    if let Value::Number(n) = v {
        if !n.as_i64().is_some_and(|x| (min..=max).contains(&x)) {
            d.error_at(
                path,
                format!("Invalid {what}"),
                format!("{n} is out of range: {what} must be a whole number from {min} to {max}."),
            );
        }
    }
}

pub fn check_one_of(
    d: &mut Diagnostics,
    path: AttributePath,
    v: &Value,
    allowed: &[&str],
    what: &str,
) {
    if let Some(s) = v.as_str() {
        if !allowed.contains(&s) {
            d.error_at(
                path,
                format!("Unknown {what}"),
                format!(
                    "\"{s}\" is not a {what}. Use one of: {}.",
                    allowed
                        .iter()
                        .map(|a| format!("\"{a}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
}

pub fn check_duration(
    d: &mut Diagnostics,
    path: AttributePath,
    v: &Value,
) -> Option<std::time::Duration> {
    let s = v.as_str()?;
    match mke_k0s::parse_duration(s) {
        Ok(dur) => Some(dur),
        Err(e) => {
            d.error_at(
                path,
                "Invalid duration",
                format!(
                    "\"{s}\" is not a duration ({e}). Write it like \"30s\", \"5m\" or \"1h30m\"."
                ),
            );
            None
        }
    }
}

pub fn check_k0s_version(d: &mut Diagnostics, path: AttributePath, v: &Value) {
    if let Some(s) = v.as_str() {
        if mke_k0s::parse_k0s_version(s).is_err() {
            d.error_at(
                path,
                "Invalid k0s version",
                format!("\"{s}\" is not a k0s release: expected the form vX.Y.Z+k0s.N, for example v1.29.3+k0s.0."),
            );
        }
    }
}

/// A host address: an IPv4 address or a DNS name.
pub fn check_address(d: &mut Diagnostics, path: AttributePath, v: &Value) {
    let Some(s) = v.as_str() else { return };
    let valid_name = !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if s.parse::<Ipv4Addr>().is_err() && !valid_name {
        let hint = if s.parse::<std::net::Ipv6Addr>().is_ok() {
            "MKE 4 supports IPv4 only."
        } else {
            "Use an IPv4 address or a DNS name, without scheme or port."
        };
        d.error_at(
            path,
            "Invalid address",
            format!("\"{s}\" is not a host address. {hint}"),
        );
    }
}

/// Reports every address used by more than one map entry.
pub fn check_unique_addresses(
    d: &mut Diagnostics,
    path: &AttributePath,
    entries: &BTreeMap<String, Value>,
) {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (key, entry) in entries {
        for field in ["address", "private_address"] {
            let Some(addr) = entry.get_attr(field).as_str() else {
                continue;
            };
            if let Some(first) = seen.get(addr) {
                if *first != key.as_str() {
                    d.error_at(
                        path.clone().key(key.clone()).attribute(field),
                        "Duplicate address",
                        format!("{addr} is used by both \"{first}\" and \"{key}\"; each machine must appear once."),
                    );
                }
            } else {
                seen.insert(addr, key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_are_ipv4_networks() {
        assert!(parse_ipv4_cidr("10.244.0.0/16").is_ok());
        assert!(parse_ipv4_cidr("10.244.0.0").unwrap_err().contains("form"));
        assert!(parse_ipv4_cidr("10.244.0.0/33")
            .unwrap_err()
            .contains("prefix"));
        assert!(parse_ipv4_cidr("10.244.1.0/16")
            .unwrap_err()
            .contains("host bits"));
        assert!(parse_ipv4_cidr("fd00::/64")
            .unwrap_err()
            .contains("IPv4 only"));
    }

    #[test]
    fn overlap_is_symmetric() {
        let pods = parse_ipv4_cidr("10.244.0.0/16").unwrap();
        let services = parse_ipv4_cidr("10.96.0.0/12").unwrap();
        let inside = parse_ipv4_cidr("10.244.8.0/24").unwrap();
        assert!(!pods.overlaps(services));
        assert!(pods.overlaps(inside) && inside.overlaps(pods));
    }
}

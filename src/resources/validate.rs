//! Plan-time checks shared by the resources. Each takes the configured
//! value, skips what is null or not yet known, and reports an error on the
//! attribute's path.

use std::collections::BTreeMap;

use tfplugin::tfvalue::{AttributePath, Value};
use tfplugin::Diagnostics;

pub use mke_k0s::validate::Ipv4Cidr;

/// MKE 4 is IPv4 only, so only IPv4 CIDRs are accepted.
pub fn parse_ipv4_cidr(s: &str) -> Result<Ipv4Cidr, String> {
    mke_k0s::validate::parse_ipv4_cidr(s).map_err(|e| e.to_string())
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
        if let Err(e) = mke_k0s::validate::check_port(n.as_i64(), n) {
            d.error_at(path, "Invalid port", e.to_string());
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
        if let Err(e) = mke_k0s::validate::check_range(n.as_i64(), n, min, max, what) {
            d.error_at(path, format!("Invalid {what}"), e.to_string());
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
        if let Err(e) = mke_k0s::validate::check_k0s_version(s) {
            d.error_at(path, "Invalid k0s version", e.to_string());
        }
    }
}

/// A host address: an IPv4 address or a DNS name.
pub fn check_address(d: &mut Diagnostics, path: AttributePath, v: &Value) {
    let Some(s) = v.as_str() else { return };
    if let Err(e) = mke_k0s::validate::check_host_address(s) {
        d.error_at(path, "Invalid address", e.to_string());
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

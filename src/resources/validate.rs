//! Plan-time checks shared by the resources. Each takes the configured
//! value, skips what is null or not yet known, and reports an error on the
//! attribute's path.

use std::collections::BTreeMap;

use tfplugin::tfvalue::{AttributePath, Value};
use tfplugin::{Diagnostics, Plan, PlanRequest};

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

/// A duration; zero is allowed, for settings where zero means "off".
pub fn check_duration(
    d: &mut Diagnostics,
    path: AttributePath,
    v: &Value,
) -> Option<std::time::Duration> {
    parse_duration(d, path, v, "a duration must be zero or longer")
}

/// A time limit: a duration longer than zero, since a limit of zero would
/// fail every operation before it starts.
pub fn check_positive_duration(
    d: &mut Diagnostics,
    path: AttributePath,
    v: &Value,
) -> Option<std::time::Duration> {
    const RULE: &str = "a time limit must be longer than zero";
    let dur = parse_duration(d, path.clone(), v, RULE)?;
    if dur.is_zero() {
        d.error_at(path, "Invalid duration", out_of_range(v.as_str()?, RULE));
        return None;
    }
    Some(dur)
}

fn parse_duration(
    d: &mut Diagnostics,
    path: AttributePath,
    v: &Value,
    rule: &str,
) -> Option<std::time::Duration> {
    let s = v.as_str()?;
    match mke_k0s::parse_duration(s) {
        Ok(dur) => Some(dur),
        Err(mke_k0s::DurationError::Negative { .. }) => {
            d.error_at(path, "Invalid duration", out_of_range(s, rule));
            None
        }
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

fn out_of_range(s: &str, rule: &str) -> String {
    format!(
        "\"{s}\" cannot be used here: {rule}. Write it like \"30s\", \"5m\" or \"1h30m\", or \
         leave it out for the default."
    )
}

pub fn check_k0s_version(d: &mut Diagnostics, path: AttributePath, v: &Value) {
    if let Some(s) = v.as_str() {
        if let Err(e) = mke_k0s::validate::check_k0s_version(s) {
            d.error_at(path, "Invalid k0s version", e.to_string());
        }
    }
}

/// Refuses a `k0s_version` change that k0s cannot make in place: to an older minor release, or
/// a jump of more than one minor version. Only in-place updates are checked: a create, or a plan that replaces
/// the resource anyway (a rebuild, a recovery with an older release), may pick any version.
/// `what` names the resource ("cluster", "node") in the advice.
pub fn check_upgrade_in_place(request: &PlanRequest<'_>, plan: &mut Plan, what: &str) {
    if request.prior.is_null() || !plan.requires_replace.is_empty() {
        return;
    }
    let version = |v: &Value| v.get_attr("k0s_version").as_str()?.parse().ok();
    let (Some(from), Some(to)) = (version(request.prior), version(&plan.planned)) else {
        return;
    };
    let Err(e) = mke_k0s::validate::check_upgrade(&from, &to) else {
        return;
    };
    let advice = match &e {
        mke_k0s::validate::VersionSkewError::Downgrade { from, .. } => format!(
            "The state records {from} as running (as applied, or as the last refresh found \
             it). Keep k0s_version at v{}.{} or later. Running an older minor release needs a \
             new {what}: mark it with `terraform taint <address>` and apply, which rebuilds it.",
            from.major, from.minor
        ),
        mke_k0s::validate::VersionSkewError::MinorSkip { from, to } => format!(
            "Set k0s_version to a v{}.{} release and apply, then go on to {to}.",
            from.major,
            from.minor + 1
        ),
    };
    plan.diagnostics.error_at(
        AttributePath::root().attribute("k0s_version"),
        "Unsupported k0s version change",
        format!("{e}\n\n{advice}"),
    );
}

/// A host address: an IPv4 address or a DNS name.
pub fn check_address(d: &mut Diagnostics, path: AttributePath, v: &Value) {
    let Some(s) = v.as_str() else { return };
    if let Err(e) = mke_k0s::validate::check_host_address(s) {
        d.error_at(path, "Invalid address", e.to_string());
    }
}

/// A machine's address inside the cluster: an IPv4 address, never a DNS name (k0s uses it
/// where only an IP is accepted).
pub fn check_private_address(d: &mut Diagnostics, path: AttributePath, v: &Value) {
    let Some(s) = v.as_str() else { return };
    if let Err(e) = mke_k0s::validate::check_private_address(s) {
        d.error_at(path, "Invalid private_address", e.to_string());
    }
}

/// Reports every address used by more than one map entry, whether as `address` or
/// `private_address`: one machine under two keys would be installed twice.
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

    fn object(entries: &[(&str, &str)]) -> Value {
        Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), Value::from(*v)))
                .collect(),
        )
    }

    fn details(d: &Diagnostics) -> Vec<(String, String)> {
        d.iter()
            .map(|x| {
                (
                    x.attribute
                        .as_ref()
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                    x.detail.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn time_limits_must_be_longer_than_zero() {
        let path = || AttributePath::root().attribute("drain_timeout");
        for zero in ["0s", "0", "0m", "-0s"] {
            let mut d = Diagnostics::new();
            assert_eq!(
                check_positive_duration(&mut d, path(), &Value::from(zero)),
                None
            );
            assert_eq!(
                details(&d),
                [(
                    "drain_timeout".to_string(),
                    format!("\"{zero}\" cannot be used here: a time limit must be longer than zero. Write it like \"30s\", \"5m\" or \"1h30m\", or leave it out for the default.")
                )],
            );
        }
        let mut d = Diagnostics::new();
        check_positive_duration(&mut d, path(), &Value::from("-5m"));
        assert!(
            details(&d)[0].1.contains("must be longer than zero"),
            "{d:?}"
        );

        let mut d = Diagnostics::new();
        assert_eq!(
            check_positive_duration(&mut d, path(), &Value::from("90s")),
            Some(std::time::Duration::from_secs(90))
        );
        assert_eq!(
            check_positive_duration(&mut d, path(), &Value::Unknown),
            None
        );
        assert_eq!(check_positive_duration(&mut d, path(), &Value::Null), None);
        assert!(d.is_empty(), "{d:?}");

        // Where zero means "off", it stays allowed; below zero it is not.
        assert_eq!(
            check_duration(&mut d, path(), &Value::from("0s")),
            Some(std::time::Duration::ZERO)
        );
        assert!(d.is_empty(), "{d:?}");
        check_duration(&mut d, path(), &Value::from("-1s"));
        assert!(
            details(&d)[0]
                .1
                .contains("a duration must be zero or longer"),
            "{d:?}"
        );
    }

    #[test]
    fn private_addresses_must_be_ipv4_addresses() {
        let path = || AttributePath::root().attribute("private_address");
        let mut d = Diagnostics::new();
        check_private_address(&mut d, path(), &Value::from("10.0.0.21"));
        check_private_address(&mut d, path(), &Value::Unknown);
        assert!(d.is_empty());
        check_private_address(&mut d, path(), &Value::from("w1.internal"));
        let found = details(&d);
        assert_eq!(found[0].0, "private_address");
        assert!(
            found[0]
                .1
                .starts_with("\"w1.internal\" is not an IPv4 address."),
            "{found:?}"
        );
    }

    #[test]
    fn an_address_of_one_entry_may_not_be_the_private_address_of_another() {
        let entries = BTreeMap::from([
            (
                "a".to_string(),
                object(&[("address", "192.0.2.11"), ("private_address", "192.0.2.11")]),
            ),
            (
                "b".to_string(),
                object(&[("address", "192.0.2.12"), ("private_address", "192.0.2.11")]),
            ),
        ]);
        let mut d = Diagnostics::new();
        check_unique_addresses(
            &mut d,
            &AttributePath::root().attribute("controllers"),
            &entries,
        );
        assert_eq!(
            details(&d),
            [(
                "controllers[\"b\"].private_address".to_string(),
                "192.0.2.11 is used by both \"a\" and \"b\"; each machine must appear once."
                    .to_string()
            )]
        );
    }
}

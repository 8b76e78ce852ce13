//! Read: every controller is probed in parallel, one SSH round trip each
//! (which also prints the certificates under k0s's pki directory, `*.crt`
//! only), and compared with the stored cluster. A control-plane certificate
//! that expires within the provider's `certificate_warning_days` is a warning. Only a host whose address does not
//! answer at all is reported as unreachable; any other failure (a refused
//! login or connection, a changed host key, a failing bastion, sudo asking
//! for a password, a probe that fails) is an error: the machine may well be
//! running, so nothing about it may be taken for drift or for gone.

use std::collections::BTreeMap;

use mke_k0s::pki::{CertificateFacts, CertificateReport};

use super::ClusterPlan;
use crate::ops::phase::probe::{self, HostFacts};
use crate::ops::{rfc3339_of, unix_now, ControllerHost, HostStatus, OpError, Runtime, Warning};

/// One controller as Read saw it.
pub enum Seen {
    /// Nothing answered at its address.
    Unreachable(OpError),
    /// It could not be read: an error, neither drift nor gone.
    Failed(OpError),
    Found(ControllerSeen),
}

/// What differs from the stored cluster on one controller; `None` where it
/// matches.
#[derive(Debug, Clone)]
pub struct ControllerSeen {
    pub status: HostStatus,
    /// k0s is installed, or at least its binary is there.
    pub has_k0s: bool,
    pub version: Option<String>,
    /// The cluster-wide part of its `k0s.yaml`.
    pub k0s_config: Option<String>,
    pub workloads: Option<bool>,
    /// Control-plane certificates that expire within `certificate_warning_days`.
    pub expiring_certificates: Vec<ExpiringCertificate>,
}

/// A certificate on a controller that expires soon (or has expired).
#[derive(Debug, Clone)]
pub struct ExpiringCertificate {
    /// The controller's address.
    pub host: String,
    pub certificate: CertificateFacts,
    /// When it was seen, in seconds since the epoch.
    pub seen_at: i64,
}

impl ExpiringCertificate {
    /// Names the file, the host, the date, and what renews it.
    pub fn warning(&self) -> Warning {
        expiry_warning(&self.host, &self.certificate, self.seen_at)
    }
}

impl ControllerSeen {
    fn compare(facts: &HostFacts, plan: &ClusterPlan, c: &ControllerHost) -> ControllerSeen {
        let version = facts
            .running_version()
            .filter(|v| facts.installed() && *v != plan.version);
        let k0s_config = facts
            .config
            .as_ref()
            .and_then(|found| mke_k0s::strip_host_keys(found).ok())
            .filter(|stripped| !mke_k0s::configs_equal(stripped, &plan.k0s_config));
        let workloads = facts
            .unit
            .as_ref()
            .map(|u| u.workloads())
            .filter(|w| *w != c.workloads);
        ControllerSeen {
            status: facts.status(),
            has_k0s: facts.has_k0s(),
            version,
            k0s_config,
            workloads,
            expiring_certificates: Vec::new(),
        }
    }

    /// One warning per certificate in [`Self::expiring_certificates`].
    pub fn warnings(&self) -> Vec<Warning> {
        self.expiring_certificates
            .iter()
            .map(ExpiringCertificate::warning)
            .collect()
    }
}

/// The certificates on `host` that expire within `days` of `now`; none when `days` is 0.
pub fn expiring(
    host: &str,
    report: &CertificateReport,
    now: i64,
    days: u64,
) -> Vec<ExpiringCertificate> {
    if days == 0 {
        return Vec::new();
    }
    report
        .expiring_within(now, days)
        .into_iter()
        .map(|c| ExpiringCertificate {
            host: host.to_string(),
            certificate: c.clone(),
            seen_at: now,
        })
        .collect()
}

fn expiry_warning(host: &str, c: &CertificateFacts, now: i64) -> Warning {
    let when = if c.not_after <= now {
        format!("expired on {}", rfc3339_of(c.not_after))
    } else {
        // Rounded: a certificate issued for 5 days reads "in 5 days" a moment later.
        let days = (c.not_after - now + 43_200) / 86_400;
        format!("expires on {} (in {days} days)", rfc3339_of(c.not_after))
    };
    let subject = if c.common_name.is_empty() {
        String::new()
    } else {
        format!(" (CN={})", c.common_name)
    };
    Warning::new(
        format!("Certificate on {host} expires soon"),
        format!(
            "{path}{subject} on {host} {when}.\n\n{renewal}",
            path = c.path,
            renewal = c.renewal().explain()
        ),
    )
}

fn seen_after(e: OpError) -> Seen {
    if e.is_unreachable() {
        Seen::Unreachable(e)
    } else {
        Seen::Failed(e)
    }
}

async fn look(rt: &Runtime, plan: &ClusterPlan, c: &ControllerHost) -> Seen {
    let host = match rt.connect(&c.target(), rt.quick()).await {
        Ok(h) => h,
        Err(e) => return seen_after(e),
    };
    match probe::probe_with_certificates(&host).await {
        Ok((facts, certificates)) => {
            let mut seen = ControllerSeen::compare(&facts, plan, c);
            seen.expiring_certificates = expiring(
                &c.address,
                &certificates,
                unix_now(),
                rt.settings().certificate_warning_days,
            );
            Seen::Found(seen)
        }
        Err(e) => seen_after(e),
    }
}

/// Every controller, probed in parallel.
pub async fn read(rt: &Runtime, plan: &ClusterPlan) -> BTreeMap<String, Seen> {
    let items: Vec<(String, ControllerHost)> = plan.controllers.clone().into_iter().collect();
    rt.each(items, |(key, c)| async move {
        let seen = look(rt, plan, &c).await;
        (key, seen)
    })
    .await
    .into_iter()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expiry_warnings(
        host: &str,
        report: &CertificateReport,
        now: i64,
        days: u64,
    ) -> Vec<Warning> {
        expiring(host, report, now, days)
            .iter()
            .map(ExpiringCertificate::warning)
            .collect()
    }

    fn cert(path: &str, issuer: &str, is_ca: bool, not_after: i64) -> CertificateFacts {
        CertificateFacts {
            path: path.into(),
            common_name: "k0s-api".into(),
            issuer: issuer.into(),
            is_ca,
            not_after,
        }
    }

    const NOW: i64 = 1_735_689_600; // 2025-01-01T00:00:00Z

    #[test]
    fn a_certificate_expiring_within_the_window_warns_with_file_host_date_and_renewal() {
        let report = CertificateReport {
            certificates: vec![
                cert(
                    "/var/lib/k0s/pki/k0s-api.crt",
                    "kubernetes-ca",
                    false,
                    NOW + 5 * 86_400,
                ),
                cert(
                    "/var/lib/k0s/pki/ca.crt",
                    "kubernetes-ca",
                    true,
                    NOW + 3650 * 86_400,
                ),
            ],
            unreadable: Vec::new(),
        };
        let warnings = expiry_warnings("192.0.2.11", &report, NOW, 30);
        assert_eq!(warnings.len(), 1);
        assert_eq!(
            warnings[0].summary,
            "Certificate on 192.0.2.11 expires soon"
        );
        let detail = &warnings[0].detail;
        assert!(
            detail.starts_with(
                "/var/lib/k0s/pki/k0s-api.crt (CN=k0s-api) on 192.0.2.11 expires on \
                 2025-01-06T00:00:00Z (in 5 days)."
            ),
            "{detail}"
        );
        assert!(detail.contains("restart k0s there"), "{detail}");
        assert!(expiry_warnings("192.0.2.11", &report, NOW, 0).is_empty());
        assert!(expiry_warnings("192.0.2.11", &report, NOW, 5).is_empty());
    }

    #[test]
    fn an_expired_ca_says_so_and_that_k0s_does_not_renew_it() {
        let report = CertificateReport {
            certificates: vec![cert(
                "/var/lib/k0s/pki/ca.crt",
                "kubernetes-ca",
                true,
                NOW - 86_400,
            )],
            unreadable: Vec::new(),
        };
        let detail = &expiry_warnings("c1", &report, NOW, 30)[0].detail;
        assert!(
            detail.contains("expired on 2024-12-31T00:00:00Z"),
            "{detail}"
        );
        assert!(detail.contains("k0s never renews a CA"), "{detail}");
    }
}

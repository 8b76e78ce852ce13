//! Phase `probe`: what a host looks like, learned in one SSH round trip: the
//! basis of preflight checks and of drift detection in Read.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mke_k0s::pki::CertificateReport;
use mke_k0s::{InstalledUnit, K0sStatus};
use mke_ssh::{Command, Host};

use super::marker::{Marker, MARKER_PATH};
use crate::ops::{HostStatus, OpError, Runtime};

const SECTION: &str = "=====mke:";

#[derive(Debug, Clone, Default)]
pub struct HostFacts {
    pub hostname: String,
    pub arch: String,
    /// `k0s version` of the installed binary.
    pub binary_version: Option<String>,
    pub unit: Option<InstalledUnit>,
    /// `None` when k0s is not running (or did not answer in time).
    pub status: Option<K0sStatus>,
    pub config: Option<String>,
    pub marker: Option<Marker>,
    /// Fingerprint of the cluster CA k0s keeps on the host: who owns a host
    /// without marker (see `ownership`).
    pub ca_sha256: Option<String>,
    /// A worker's join address: the `server` of its kubelet's kubeconfig.
    pub join_server: Option<String>,
}

impl HostFacts {
    pub fn installed(&self) -> bool {
        self.unit.is_some()
    }
    pub fn running(&self) -> bool {
        self.status.is_some()
    }
    /// The version k0s runs, or else the version of the installed binary.
    pub fn running_version(&self) -> Option<String> {
        self.status
            .as_ref()
            .map(|s| s.version.clone())
            .or_else(|| self.binary_version.clone())
    }
    /// k0s is installed as a service, or at least its binary is there.
    pub fn has_k0s(&self) -> bool {
        self.installed() || self.binary_version.is_some()
    }
    /// `running`, `stopped` or `absent`.
    pub fn status(&self) -> HostStatus {
        if self.running() {
            HostStatus::Running
        } else if self.installed() {
            HostStatus::Stopped
        } else {
            HostStatus::Absent
        }
    }
}

/// The marker is written without a final newline: an `echo` after it keeps
/// the next section's header on a line of its own.
fn script() -> String {
    let k0s = mke_k0s::K0S_BINARY_PATH;
    format!(
        "echo '{SECTION}hostname'; hostname; \
         echo '{SECTION}arch'; uname -m; \
         echo '{SECTION}unit'; cat /etc/systemd/system/k0scontroller.service /etc/systemd/system/k0sworker.service 2>/dev/null; \
         echo '{SECTION}status'; s=''; if [ -x {k0s} ]; then s=$(timeout 10 {k0s} status -o json 2>/dev/null) || s=''; fi; \
         [ -n \"$s\" ] && printf '%s\\n' \"$s\"; \
         echo '{SECTION}version'; [ -z \"$s\" ] && [ -x {k0s} ] && {k0s} version 2>/dev/null; \
         echo '{SECTION}config'; cat {config} 2>/dev/null; \
         echo '{SECTION}marker'; cat {MARKER_PATH} 2>/dev/null; echo; \
         echo '{SECTION}ca'; cat {ca} 2>/dev/null; echo; \
         echo '{SECTION}kubelet'; grep -m1 'server:' {kubelet} 2>/dev/null; \
         true",
        config = mke_k0s::K0S_CONFIG_PATH,
        ca = mke_k0s::adopt::CA_CERT_PATH,
        kubelet = mke_k0s::adopt::KUBELET_KUBECONFIG_PATH,
    )
}

/// [`script`], then every certificate under k0s's pki directory (`*.crt` only, never a key).
fn script_with_certificates() -> String {
    format!(
        // The `echo` ends the marker's last line when the file has no newline at its end.
        "{}; echo; echo '{SECTION}certificates'; {}",
        script(),
        mke_k0s::pki::read_certificates_command()
    )
}

/// The certificates section of [`script_with_certificates`]'s output.
fn parse_certificates(output: &str) -> CertificateReport {
    let header = format!("{SECTION}certificates");
    let section = output
        .split_once(&format!("{header}\n"))
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    mke_k0s::pki::parse_certificates(section)
}

pub fn parse(output: &str) -> HostFacts {
    let mut sections = std::collections::BTreeMap::new();
    let mut current: Option<String> = None;
    for line in output.lines() {
        if let Some(name) = line.strip_prefix(SECTION) {
            current = Some(name.to_string());
            sections.insert(name.to_string(), String::new());
        } else if let Some(name) = &current {
            let text = sections.get_mut(name).expect("section");
            text.push_str(line);
            text.push('\n');
        }
    }
    let get = |name: &str| {
        sections
            .get(name)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let status = get("status").and_then(|s| mke_k0s::parse_status_json(&s).ok());
    HostFacts {
        hostname: get("hostname").unwrap_or_default(),
        arch: get("arch").unwrap_or_default(),
        // While k0s runs, its status carries the version: `k0s version` (another
        // process start on the host) runs only when it does not.
        binary_version: get("version")
            .and_then(|v| mke_k0s::parse_version(&v).ok())
            .map(|v| v.to_string())
            .or_else(|| status.as_ref().map(|s| s.version.clone())),
        unit: get("unit").and_then(|u| mke_k0s::parse_unit_exec_start(&u)),
        status,
        config: sections
            .get("config")
            .filter(|c| !c.trim().is_empty())
            .cloned(),
        marker: get("marker").and_then(|m| serde_json::from_str(&m).ok()),
        ca_sha256: get("ca").and_then(|pem| mke_k0s::adopt::ca_fingerprint(&pem)),
        join_server: get("kubelet").and_then(|k| mke_k0s::adopt::kubeconfig_server(&k)),
    }
}

pub async fn probe(host: &Host) -> Result<HostFacts, OpError> {
    let out = host
        .check(
            &Command::new(script())
                .timeout(Duration::from_secs(30))
                .display("inspect k0s on the host"),
        )
        .await?;
    Ok(parse(&out))
}

/// [`probe`], and the control plane's certificates in the same round trip.
pub async fn probe_with_certificates(
    host: &Host,
) -> Result<(HostFacts, CertificateReport), OpError> {
    let out = host
        .check(
            &Command::new(script_with_certificates())
                .timeout(Duration::from_secs(30))
                .display("inspect k0s and its certificates on the host"),
        )
        .await?;
    Ok((parse(&out), parse_certificates(&out)))
}

/// Probes every host in parallel (at most `parallelism` at once).
pub async fn probe_each(
    rt: &Runtime,
    hosts: &BTreeMap<String, Arc<Host>>,
) -> Result<BTreeMap<String, HostFacts>, OpError> {
    let items: Vec<(String, Arc<Host>)> = hosts.clone().into_iter().collect();
    let results = rt
        .each(
            items,
            |(key, host)| async move { (key, probe(&host).await) },
        )
        .await;
    let mut out = BTreeMap::new();
    for (key, r) in results {
        out.insert(key, r?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_split_and_missing_ones_are_none() {
        let out = format!(
            "{SECTION}hostname\nc1\n{SECTION}arch\nx86_64\n{SECTION}version\nv1.29.3+k0s.0\n{SECTION}unit\n{SECTION}status\n{SECTION}config\napiVersion: x\n{SECTION}marker\n{{\"cluster\":\"demo\",\"id\":\"u-1\",\"role\":\"controller\"}}\n"
        );
        let facts = parse(&out);
        assert_eq!(facts.hostname, "c1");
        assert_eq!(facts.arch, "x86_64");
        assert_eq!(facts.binary_version.as_deref(), Some("v1.29.3+k0s.0"));
        assert!(!facts.installed() && !facts.running());
        assert_eq!(facts.status(), HostStatus::Absent);
        assert_eq!(facts.config.as_deref(), Some("apiVersion: x\n"));
        assert_eq!(facts.marker.unwrap().id, "u-1");
    }

    #[test]
    fn a_running_k0s_gives_its_version_through_its_status() {
        let status = r#"{"Version":"v1.29.3+k0s.0","Pid":7,"Role":"controller","Workloads":false,"SysInit":"linux-systemd","StubFile":"","Output":"","Args":[],"ClusterConfig":null,"K0sVars":{}}"#;
        let out = format!(
            "{SECTION}hostname\nc1\n{SECTION}arch\nx86_64\n{SECTION}unit\n{SECTION}status\n{status}\n{SECTION}version\n{SECTION}config\n{SECTION}marker\n"
        );
        let facts = parse(&out);
        assert!(facts.running(), "the status must parse");
        assert_eq!(facts.binary_version.as_deref(), Some("v1.29.3+k0s.0"));
        assert!(
            script().contains("[ -z \"$s\" ]"),
            "k0s version runs only without a status"
        );
    }

    #[test]
    fn certificates_come_after_the_facts_and_leave_them_as_they_were() {
        // A file whose PEM is broken: enough to see the section reach the parser.
        let out = format!(
            "{SECTION}hostname\nc1\n{SECTION}marker\n{SECTION}certificates\n\
             =====mke-crt:/var/lib/k0s/pki/ca.crt\nnot pem\n"
        );
        let facts = parse(&out);
        assert_eq!(facts.hostname, "c1");
        assert!(facts.marker.is_none());
        let report = parse_certificates(&out);
        let paths: Vec<&str> = report.unreadable.iter().map(|u| u.path.as_str()).collect();
        assert_eq!(paths, ["/var/lib/k0s/pki/ca.crt"]);
        assert!(parse_certificates(&format!("{SECTION}hostname\nc1\n"))
            .unreadable
            .is_empty());
        let both = script_with_certificates();
        assert!(both.starts_with(&script()));
        assert!(both.ends_with(&mke_k0s::pki::read_certificates_command()));
    }

    #[test]
    fn the_ca_and_the_join_address_are_read() {
        let out = format!(
            "{SECTION}hostname\nw1\n{SECTION}marker\n{SECTION}ca\n-----BEGIN CERTIFICATE-----\nAAECAw==\n-----END CERTIFICATE-----\n{SECTION}kubelet\n    server: https://10.0.0.1:6443\n"
        );
        let facts = parse(&out);
        assert_eq!(
            facts.ca_sha256.as_deref(),
            Some("054edec1d0211f624fed0cbca9d4f9400b0e491c43742af2c5b0abebf0c990d8")
        );
        assert_eq!(facts.join_server.as_deref(), Some("https://10.0.0.1:6443"));
        assert!(script().contains(mke_k0s::adopt::CA_CERT_PATH));
        assert!(
            script().contains(&format!("cat {MARKER_PATH} 2>/dev/null; echo;")),
            "a marker without final newline must not swallow the next section"
        );
    }
}

//! What a host looks like, learned in one SSH round trip: the basis of
//! preflight checks and of drift detection in Read.

use std::time::Duration;

use mke_k0s::{InstalledUnit, K0sStatus};
use mke_ssh::{Command, Host};
use serde::{Deserialize, Serialize};

use super::OpError;

pub const MARKER_PATH: &str = "/etc/k0s/mke.json";
const SECTION: &str = "=====mke:";

/// `/etc/k0s/mke.json`: which cluster a host belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    pub cluster: String,
    #[serde(default)]
    pub id: String,
    pub role: String,
}

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
}

impl HostFacts {
    pub fn installed(&self) -> bool {
        self.unit.is_some()
    }
    pub fn running(&self) -> bool {
        self.status.is_some()
    }
    /// `running`, `stopped` or `absent`, as `host_status` and `status` report it.
    pub fn status_word(&self) -> &'static str {
        if self.running() {
            "running"
        } else if self.installed() {
            "stopped"
        } else {
            "absent"
        }
    }
}

fn script() -> String {
    let k0s = mke_k0s::K0S_BINARY_PATH;
    format!(
        "echo '{SECTION}hostname'; hostname; \
         echo '{SECTION}arch'; uname -m; \
         echo '{SECTION}version'; [ -x {k0s} ] && {k0s} version 2>/dev/null; \
         echo '{SECTION}unit'; cat /etc/systemd/system/k0scontroller.service /etc/systemd/system/k0sworker.service 2>/dev/null; \
         echo '{SECTION}status'; [ -x {k0s} ] && timeout 10 {k0s} status -o json 2>/dev/null; \
         echo '{SECTION}config'; cat {config} 2>/dev/null; \
         echo '{SECTION}marker'; cat {MARKER_PATH} 2>/dev/null; \
         true",
        config = mke_k0s::K0S_CONFIG_PATH,
    )
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
    HostFacts {
        hostname: get("hostname").unwrap_or_default(),
        arch: get("arch").unwrap_or_default(),
        binary_version: get("version")
            .and_then(|v| mke_k0s::parse_version(&v).ok())
            .map(|v| v.to_string()),
        unit: get("unit").and_then(|u| mke_k0s::parse_unit_exec_start(&u)),
        status: get("status").and_then(|s| mke_k0s::parse_status_json(&s).ok()),
        config: sections
            .get("config")
            .filter(|c| !c.trim().is_empty())
            .cloned(),
        marker: get("marker").and_then(|m| serde_json::from_str(&m).ok()),
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

/// Writes `/etc/k0s/mke.json`.
pub async fn write_marker(host: &Host, marker: &Marker) -> Result<(), OpError> {
    let json = serde_json::to_vec(marker).expect("marker JSON");
    host.check(
        &Command::new(format!(
            "mkdir -p /etc/k0s && cat > {MARKER_PATH}.tmp && mv -f {MARKER_PATH}.tmp {MARKER_PATH}"
        ))
        .stdin(json)
        .display(format!("write {MARKER_PATH}")),
    )
    .await?;
    Ok(())
}

/// `/etc/k0s/mke.json` alone: which cluster a controller serves.
pub async fn read_marker(host: &Host) -> Result<Option<Marker>, OpError> {
    let out = host
        .check(
            &Command::new(format!("cat {MARKER_PATH} 2>/dev/null || true"))
                .display(format!("cat {MARKER_PATH}")),
        )
        .await?;
    Ok(serde_json::from_str(out.trim()).ok())
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
        assert_eq!(facts.status_word(), "absent");
        assert_eq!(facts.config.as_deref(), Some("apiVersion: x\n"));
        assert_eq!(facts.marker.unwrap().id, "u-1");
    }
}

//! The marker `/etc/k0s/mke.json`: which resource of this provider installed
//! k0s on a host. Preflight refuses hosts whose marker names someone else;
//! ownership for destructive steps is read from it (see [`super::ownership`]).

use mke_ssh::{Command, Host};
use serde::{Deserialize, Serialize};

use crate::ops::OpError;

pub const MARKER_PATH: &str = "/etc/k0s/mke.json";

/// `/etc/k0s/mke.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// The cluster's name.
    pub cluster: String,
    /// The cluster id (UID of `kube-system`); empty while a create is
    /// installing the first controller.
    #[serde(default)]
    pub id: String,
    /// `controller` or `worker`.
    pub role: String,
    /// The id of the resource that wrote it (random, kept in the resource's
    /// private state). Empty in markers written before instance ids existed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub instance: String,
    /// For a controller whose cluster create has not finished: the addresses
    /// of every controller of that create, sorted, so a rerun of the same
    /// create (after a crash) may take the host over and nothing else may.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controllers: Vec<String>,
}

impl Marker {
    pub fn describe(&self) -> String {
        if self.id.is_empty() {
            format!(
                "an unfinished create of the MKE cluster \"{}\" ({})",
                self.cluster, self.role
            )
        } else {
            format!(
                "the MKE cluster \"{}\" (id {}, {})",
                self.cluster, self.id, self.role
            )
        }
    }
}

/// Writes `/etc/k0s/mke.json` atomically.
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

/// A new instance id: 128 random bits, hex.
pub fn new_instance() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_written_before_instance_ids_still_read() {
        let m: Marker =
            serde_json::from_str(r#"{"cluster":"demo","id":"u-1","role":"worker"}"#).unwrap();
        assert_eq!(m.instance, "");
        assert!(m.controllers.is_empty());
        let written = serde_json::to_string(&m).unwrap();
        assert_eq!(written, r#"{"cluster":"demo","id":"u-1","role":"worker"}"#);
    }

    #[test]
    fn instance_ids_differ() {
        let a = new_instance();
        assert_eq!(a.len(), 32);
        assert_ne!(a, new_instance());
    }
}

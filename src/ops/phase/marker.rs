//! The marker `/etc/k0s/mke.json`: which cluster (and role) a host was
//! installed for by this provider. Preflight refuses hosts whose marker names
//! another cluster; ownership of a host for destructive steps is read from it.

use mke_ssh::{Command, Host};
use serde::{Deserialize, Serialize};

use crate::ops::OpError;

pub const MARKER_PATH: &str = "/etc/k0s/mke.json";

/// `/etc/k0s/mke.json`: which cluster a host belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    pub cluster: String,
    #[serde(default)]
    pub id: String,
    pub role: String,
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

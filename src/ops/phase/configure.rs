//! Phase `configure`: write a controller's `/etc/k0s/k0s.yaml` (the cluster's
//! ClusterConfig with this host's own addresses) atomically.

use mke_ssh::{Command, Host};

use crate::ops::OpError;

pub async fn write_config(
    host: &Host,
    cluster_config: &str,
    private_address: Option<&str>,
) -> Result<(), OpError> {
    let yaml = mke_k0s::host_config(cluster_config, private_address).map_err(|e| {
        OpError::host(
            host.name(),
            format!("cannot build its k0s.yaml: {e}"),
            "Check k0s_config_overrides.",
        )
    })?;
    let path = mke_k0s::K0S_CONFIG_PATH;
    host.check(
        &Command::new(format!(
            "mkdir -p /etc/k0s && cat > {path}.tmp && mv -f {path}.tmp {path}"
        ))
        .stdin(yaml.into_bytes())
        .display(format!("write {path}")),
    )
    .await?;
    Ok(())
}

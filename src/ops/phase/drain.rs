//! Phase `drain`: cordon a node and evict its pods, within `drain_timeout`.

use std::time::Duration;

use mke_ssh::{Command, Host};

use crate::ops::OpError;

pub async fn cordon(controller: &Host, name: &str) -> Result<(), OpError> {
    controller
        .check(&Command::new(mke_k0s::cli::kubectl_cordon(name)))
        .await?;
    Ok(())
}

pub async fn uncordon(controller: &Host, name: &str) -> Result<(), OpError> {
    controller
        .check(&Command::new(mke_k0s::cli::kubectl_uncordon(name)))
        .await?;
    Ok(())
}

pub async fn drain(controller: &Host, name: &str, timeout: Duration) -> Result<(), OpError> {
    let cmd = Command::new(mke_k0s::cli::kubectl_drain(name, timeout))
        .timeout(timeout + Duration::from_secs(60));
    match controller.check(&cmd).await {
        Ok(_) => Ok(()),
        Err(mke_ssh::SshError::CommandFailed { stderr_tail, .. }) => Err(OpError::host(
            controller.name(),
            format!("draining node {name} did not finish within drain_timeout: {}", stderr_tail.trim()),
            format!(
                "Pods that cannot be evicted (PodDisruptionBudgets, unreplicated pods) block the drain. \
                 Raise `drain_timeout`, or move those pods yourself (`k0s kubectl drain {name} --disable-eviction --force` \
                 on a controller), then apply again. The node stays in state until it is removed."
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

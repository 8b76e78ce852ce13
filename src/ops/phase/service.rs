//! The k0s service on a host: install (or reinstall) its unit, start, stop,
//! and wait until a controller's API answers.

use std::time::Duration;

use mke_k0s::InstallFlags;
use mke_ssh::{Command, Host};

use crate::ops::{wait_for, Cancel, OpError};

/// How long a controller may take to serve its API after a start.
pub const READY_TIMEOUT: Duration = Duration::from_secs(600);

/// `k0s install <role> …`: writes the service unit (with `--force`, over an
/// existing one).
pub async fn install(host: &Host, flags: &InstallFlags) -> Result<(), OpError> {
    host.check(&Command::new(mke_k0s::install_command(flags)))
        .await?;
    Ok(())
}

/// `k0s start`, where "already running" is success.
pub async fn start(host: &Host) -> Result<(), OpError> {
    use mke_k0s::outcome::{start_outcome, StartOutcome};
    let out = host.run(&Command::new(mke_k0s::cli::start())).await?;
    if let StartOutcome::Started | StartOutcome::AlreadyRunning =
        start_outcome(out.status, &out.stderr)
    {
        return Ok(());
    }
    Err(OpError::host(
        host.name(),
        format!("`k0s start` failed: {}", out.stderr.trim()),
        "Look at the k0s service log on the host (journalctl -u k0scontroller).",
    ))
}

/// `k0s stop`, where "already stopped" is success.
pub async fn stop(host: &Host) -> Result<(), OpError> {
    use mke_k0s::outcome::{stop_outcome, StopOutcome};
    let out = host.run(&Command::new(mke_k0s::cli::stop())).await?;
    if let StopOutcome::Stopped | StopOutcome::AlreadyStopped | StopOutcome::FailedState =
        stop_outcome(out.status, &out.stderr)
    {
        return Ok(());
    }
    Err(OpError::host(
        host.name(),
        format!("`k0s stop` failed: {}", out.stderr.trim()),
        "Stop k0s by hand, then apply again.",
    ))
}

/// Waits until `k0s status` answers on the host: k0s runs again after a start.
pub async fn wait_k0s_answers(cancel: &Cancel, host: &Host) -> Result<(), OpError> {
    let probe = format!(
        "timeout 20 {} status -o json >/dev/null 2>&1",
        mke_k0s::K0S_BINARY_PATH
    );
    wait_for(cancel, host.name(), "k0s to answer", READY_TIMEOUT, || {
        let cmd = Command::new(probe.clone())
            .timeout(Duration::from_secs(30))
            .display("k0s status");
        async move { Ok(host.run(&cmd).await?.success().then_some(())) }
    })
    .await
}

/// Waits until k0s answers on the controller and its API server is ready.
pub async fn wait_controller_ready(cancel: &Cancel, host: &Host) -> Result<(), OpError> {
    let script = format!(
        "timeout 20 {k0s} status -o json >/dev/null 2>&1 && {readyz}",
        k0s = mke_k0s::K0S_BINARY_PATH,
        readyz = mke_k0s::cli::kubectl_readyz()
    );
    wait_for(
        cancel,
        host.name(),
        "the Kubernetes API to be ready",
        READY_TIMEOUT,
        || {
            let cmd = Command::new(script.clone())
                .timeout(Duration::from_secs(40))
                .display("k0s status && readyz");
            async move {
                let out = host.run(&cmd).await?;
                Ok((out.status == 0 && out.stdout.trim() == "ok").then_some(()))
            }
        },
    )
    .await
}

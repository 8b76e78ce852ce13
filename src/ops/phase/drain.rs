//! Phase `drain`: cordon a node and evict its pods, within `drain_timeout`.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use mke_ssh::{shell_quote, Command, Host};

use crate::ops::progress::unless_cancelled;
use crate::ops::{Cancel, OpError};

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

/// Evicts the pods of node `name` through `controller`, within `timeout`
/// (`drain_timeout`). Stops with [`OpError::Cancelled`] when `cancel` fires
/// (Ctrl-C, or a lock lost: see [`super::lock::watch`]), stopping the drain
/// on the controller too; the node then stays cordoned, as the drain left it.
pub async fn drain(
    cancel: &Cancel,
    controller: &Host,
    name: &str,
    timeout: Duration,
) -> Result<(), OpError> {
    let files = StopFiles::new();
    let cmd = Command::new(files.stoppable(&mke_k0s::cli::kubectl_drain(name, timeout)))
        .timeout(timeout + Duration::from_secs(60))
        .display(format!("k0s kubectl drain {name}"));
    let drained = unless_cancelled(
        cancel,
        controller.name(),
        &format!("draining node {name}"),
        async { Ok(controller.check(&cmd).await) },
    )
    .await;
    let drained = match drained {
        Ok(drained) => drained,
        Err(stopped) => {
            files.stop(controller).await;
            return Err(stopped);
        }
    };
    match drained {
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

/// A long command that can be stopped on the host: it runs in the
/// background of a small script that records its pid in `/run` (writable by
/// root only) and ends it when a stop file appears. Stopping writes the stop
/// file, then ends the recorded pid, so whichever of the two comes first,
/// the command does not outlive the stop.
struct StopFiles {
    pid: String,
    stop: String,
}

impl StopFiles {
    fn new() -> StopFiles {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        let base = format!("/run/mke-provider.{:016x}", hasher.finish());
        StopFiles {
            pid: format!("{base}.pid"),
            stop: format!("{base}.stop"),
        }
    }

    fn stoppable(&self, command: &str) -> String {
        let (pid, stop) = (shell_quote(&self.pid), shell_quote(&self.stop));
        format!(
            "{command} &\nchild=$!\necho \"$child\" > {pid}\n[ -e {stop} ] && kill -TERM \"$child\"\n\
             wait \"$child\"; rc=$?\nrm -f {pid} {stop}\nexit $rc"
        )
    }

    /// Best effort: a drain that is not stopped still ends at its timeout.
    async fn stop(&self, host: &Host) {
        let (pid, stop) = (shell_quote(&self.pid), shell_quote(&self.stop));
        let cmd = Command::new(format!(
            ": > {stop}; if [ -f {pid} ]; then kill -TERM \"$(cat {pid})\" 2>/dev/null; fi; true"
        ))
        .timeout(Duration::from_secs(10))
        .display("stop the drain");
        if let Err(e) = host.run(&cmd).await {
            tracing::warn!(host = %host.name(), "{}: could not stop the drain: {e}", host.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stoppable_command_records_its_pid_then_checks_for_a_stop() {
        let files = StopFiles {
            pid: "/run/mke-provider.ab.pid".into(),
            stop: "/run/mke-provider.ab.stop".into(),
        };
        let script = files.stoppable("/usr/local/bin/k0s kubectl drain w1");
        let record = script
            .find("echo \"$child\" > /run/mke-provider.ab.pid")
            .unwrap();
        let check = script
            .find("[ -e /run/mke-provider.ab.stop ] && kill -TERM \"$child\"")
            .unwrap();
        assert!(script.starts_with("/usr/local/bin/k0s kubectl drain w1 &\n"));
        assert!(record < check, "{script}");
        assert!(
            script.ends_with("rm -f /run/mke-provider.ab.pid /run/mke-provider.ab.stop\nexit $rc")
        );
    }

    #[test]
    fn stop_files_differ_per_command() {
        assert_ne!(StopFiles::new().pid, StopFiles::new().pid);
    }
}

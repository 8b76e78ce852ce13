//! Restore: the first controller of a cluster created from a backup gets the archive's etcd
//! data and PKI before k0s is installed there, so that it starts as the old cluster (same
//! `kube-system` UID, objects, Secrets and CA). `k0s restore -` reads the archive on stdin,
//! streamed from this machine; it wants k0s stopped and `/var/lib/k0s/etcd` empty, which a
//! host that passed the create preflight is. The storage type and the etcd peer address come
//! from the host's `/etc/k0s/k0s.yaml`, so the planned config is written before.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::time::Duration;

use mke_k0s::backup::{
    archived_settings, restore_from_stdin, restore_outcome, verify_archive, ArchiveSummary,
    NetworkDifference,
};
use mke_ssh::{Command, Host};

use crate::ops::{OpError, Step};

/// Where `k0s restore` writes the archived ClusterConfig: inside k0s's data dir, which a
/// reset removes, kept for comparison. The host runs the planned config from /etc/k0s.
pub const ARCHIVED_CONFIG: &str = "/var/lib/k0s/restored-k0s.yaml";

/// The time a restore may take: the archive is streamed over SSH as k0s unpacks it.
const RESTORE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Reads the whole archive on this machine: it must be one `k0s backup` wrote, intact.
pub fn check_archive(path: &Path) -> Result<ArchiveSummary, OpError> {
    let archive_error = |message: String| OpError::BackupArchive {
        path: path.display().to_string(),
        message,
    };
    let file = File::open(path).map_err(|e| archive_error(format!("cannot open it: {e}")))?;
    verify_archive(BufReader::new(file)).map_err(|e| archive_error(e.to_string()))
}

/// The network settings of `planned_config` (the rendered ClusterConfig) that differ from the
/// archive's: the restored objects were allocated from the archive's.
pub fn network_differences(
    archive: &ArchiveSummary,
    planned_config: &str,
) -> Result<Vec<NetworkDifference>, String> {
    let archived = archived_settings(&archive.k0s_yaml)
        .map_err(|e| format!("the archived k0s.yaml cannot be read: {e}"))?;
    let planned = archived_settings(planned_config)
        .map_err(|e| format!("the planned k0s config cannot be read: {e}"))?;
    Ok(archived.network.differences(&planned.network))
}

/// Streams the archive into `k0s restore -` on `host`.
pub async fn restore(host: &Host, archive: &Path) -> Result<(), OpError> {
    let step = Step::start(host.name(), "restore from backup");
    tracing::info!(
        host = host.name(),
        "{}: restoring etcd data and PKI from {}",
        host.name(),
        archive.display()
    );
    let command = Command::new(restore_from_stdin(ARCHIVED_CONFIG))
        .stdin_file(archive)
        .timeout(RESTORE_TIMEOUT)
        .display("k0s restore -");
    let out = host.run(&command).await?;
    restore_outcome(out.status, &out.stderr).map_err(|failure| {
        OpError::host(
            host.name(),
            format!("`k0s restore -` of {} failed: {failure}", archive.display()),
            "Check the archive, then run `terraform apply` again: the failed cluster is saved \
             tainted and replaced, and its hosts (which carry this resource's marker) are reset \
             first.",
        )
    })?;
    step.done();
    Ok(())
}

//! Phase `backup`: `k0s backup --save-path=-` on a running controller, its
//! archive streamed to a local directory. Nothing stays on the host.
//!
//! On the machine running the provider, in `directory`:
//! 1. stream stdout into a dot-named temporary file (never taken for an
//!    archive), hashing it (sha256) as it is written;
//! 2. read k0s' exit status and stderr (`backup_outcome`): with
//!    `--save-path=-` k0s prints an archive even when it then fails;
//! 3. read the whole file back (`verify_archive`: gzip intact, a storage
//!    snapshot, the CA and `k0s.yaml`);
//! 4. rename it to `mke_backup_<cluster id>_<UTC stamp>_<n>.tar.gz` (atomic:
//!    same directory) and write `<name>.sha256` beside it, in `sha256sum`
//!    format so that `sha256sum -c` checks it;
//! 5. delete that cluster's archives (and their `.sha256`) beyond the newest
//!    `keep`.
//!
//! Any failure before the rename removes the temporary file: the directory
//! holds complete, verified archives only.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mke_k0s::backup::{
    archive_name, backup_outcome, backup_to_stdout, prune_plan, verify_archive, BackupFailure,
};
use mke_ssh::{Command, Host};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::ops::progress::unless_cancelled;
use crate::ops::{Cancel, OpError, Step};

/// Where a backup went and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRecord {
    /// `directory/<archive name>`, as the directory was given (relative stays relative).
    pub path: PathBuf,
    /// When `k0s backup` was started: the moment the archive's name carries.
    pub taken_at: SystemTime,
    /// Lowercase hex of the archive's SHA-256, as in `<path>.sha256`.
    pub sha256: String,
    pub bytes: u64,
    /// The host it was taken on, `user@address:port`.
    pub controller: String,
}

impl BackupRecord {
    /// The file beside the archive that records its checksum.
    pub fn sha256_path(&self) -> PathBuf {
        sha256_path_of(&self.path)
    }
}

/// Etcd snapshots of large clusters run to gigabytes; a stalled stream still ends.
const BACKUP_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const CONFIG_PATH: &str = mke_k0s::K0S_CONFIG_PATH;

/// Takes a backup on `controller` (connected, running k0s as a controller)
/// and writes it into `directory`, created if missing. Keeps the newest
/// `keep` archives of `cluster_id` there (at least this one).
pub async fn save(
    cancel: &Cancel,
    controller: &Host,
    cluster_id: &str,
    directory: &Path,
    keep: usize,
) -> Result<BackupRecord, OpError> {
    // A bad id must fail before k0s runs, not after the archive arrived.
    archive_name(cluster_id, UNIX_EPOCH).map_err(|e| {
        OpError::host(
            controller.name(),
            e.to_string(),
            "The cluster id is the UID of the kube-system namespace; check that this host \
             belongs to the cluster.",
        )
    })?;
    tokio::fs::create_dir_all(directory)
        .await
        .map_err(|source| OpError::local_file(directory, "create the backup directory", source))?;
    let temp = directory.join(temp_name());
    let result = save_through(cancel, controller, cluster_id, directory, &temp).await;
    if result.is_err() {
        match tokio::fs::remove_file(&temp).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(
                path = %temp.display(),
                error = %e,
                "could not remove the unfinished backup {}: {e}",
                temp.display()
            ),
        }
    }
    let record = result?;
    prune(directory, cluster_id, keep).await;
    Ok(record)
}

async fn save_through(
    cancel: &Cancel,
    controller: &Host,
    cluster_id: &str,
    directory: &Path,
    temp: &Path,
) -> Result<BackupRecord, OpError> {
    let host = controller.name();
    let step = Step::start(host, "k0s backup");
    let taken_at = SystemTime::now();
    let started = Instant::now();
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(temp)
        .await
        .map_err(|source| OpError::local_file(temp, "create", source))?;
    let mut sink = Hashing::new(file);
    let command = Command::new(backup_to_stdout())
        .timeout(BACKUP_TIMEOUT)
        .display("k0s backup --save-path=-");
    let streamed = unless_cancelled(cancel, host, "taking a backup", async {
        Ok(controller.run_stdout_to(&command, &mut sink).await?)
    })
    .await?;
    backup_outcome(streamed.status, &streamed.stderr)
        .map_err(|failure| backup_failed(host, streamed.status, &failure))?;
    let (mut file, sha256, bytes) = sink.finish();
    let synced = async {
        file.flush().await?;
        file.sync_all().await
    };
    synced
        .await
        .map_err(|source| OpError::local_file(temp, "write", source))?;
    drop(file);
    tracing::info!(
        host,
        bytes,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "{host}: received a {} archive from k0s backup",
        human_bytes(bytes)
    );

    let verify_path = temp.to_path_buf();
    let summary = tokio::task::spawn_blocking(move || {
        std::fs::File::open(&verify_path).map(|f| verify_archive(std::io::BufReader::new(f)))
    })
    .await
    .expect("archive verification does not panic")
    .map_err(|source| OpError::local_file(temp, "read back", source))?
    .map_err(|e| {
        OpError::host(
            host,
            format!(
                "`k0s backup --save-path=-` exited 0, but what it printed would not restore: {e}"
            ),
            "Run `k0s backup --save-path=/tmp` on the controller and read its output; the \
             archive must hold a storage snapshot, pki/ca.crt, pki/ca.key and k0s.yaml.",
        )
    })?;

    let name = archive_name(cluster_id, taken_at).expect("the cluster id was checked");
    let path = directory.join(&name);
    tokio::fs::rename(temp, &path)
        .await
        .map_err(|source| OpError::local_file(&path, "rename the finished backup to", source))?;
    if let Err(e) = write_sha256_file(&path, &name, &sha256).await {
        // An archive without its checksum file would look finished: remove both.
        let _ = tokio::fs::remove_file(&path).await;
        return Err(e);
    }
    tracing::info!(
        host,
        path = %path.display(),
        bytes,
        sha256 = sha256.as_str(),
        entries = summary.entries,
        "{host}: wrote backup {} ({}, {} entries), sha256 {sha256}",
        path.display(),
        human_bytes(bytes),
        summary.entries
    );
    step.done();
    Ok(BackupRecord {
        path,
        taken_at,
        sha256,
        bytes,
        controller: host.to_string(),
    })
}

fn backup_failed(host: &str, status: i32, failure: &BackupFailure) -> OpError {
    let stderr = failure.stderr().trim();
    let (message, hint) = match failure {
        BackupFailure::ConfigFileMissing { .. } => (
            format!(
                "k0s cannot back up this controller: {CONFIG_PATH} does not exist, and `k0s \
                 backup` archives the controller's config file \
                 (`k0s backup --save-path=-` exited {status}: {stderr})"
            ),
            format!(
                "Put the controller's config back at {CONFIG_PATH} (the one it was installed \
                 with), or take the backup from another controller that has it."
            ),
        ),
        BackupFailure::NotRunning { .. } => (
            format!("k0s does not run here (`k0s backup --save-path=-` exited {status}: {stderr})"),
            "Start k0s on this controller (`systemctl start k0scontroller`), or take the backup \
             from another controller."
                .to_string(),
        ),
        BackupFailure::NotAController { .. } => (
            format!(
                "this host is not a k0s controller (`k0s backup --save-path=-` exited {status}: \
                 {stderr})"
            ),
            "Back up from a controller of the cluster.".to_string(),
        ),
        BackupFailure::ExternalEtcd { .. } => (
            format!(
                "the cluster keeps its state in an external etcd, which k0s does not back up \
                 (`k0s backup --save-path=-` exited {status}: {stderr})"
            ),
            "Back up the external etcd with its own tools (`etcdctl snapshot save`).".to_string(),
        ),
        BackupFailure::NotRoot { .. } => (
            format!("`k0s backup --save-path=-` must run as root (exited {status}: {stderr})"),
            "Connect as root, or as a user allowed `sudo -n` without a password.".to_string(),
        ),
        _ => (
            format!("`k0s backup --save-path=-` exited {status}: {stderr}"),
            "Read k0s' message above and the controller's log (`journalctl -u k0scontroller`)."
                .to_string(),
        ),
    };
    OpError::host(host, message, hint)
}

/// `<archive>.sha256`.
pub fn sha256_path_of(archive: &Path) -> PathBuf {
    let mut name = archive.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// One line as `sha256sum` prints it (two spaces: text mode), the name
/// relative, so that `sha256sum -c` works inside the directory.
pub fn sha256_line(sha256: &str, name: &str) -> String {
    format!("{sha256}  {name}\n")
}

/// Writes the checksum file through a temporary name, so it is whole or absent.
async fn write_sha256_file(archive: &Path, name: &str, sha256: &str) -> Result<(), OpError> {
    let target = sha256_path_of(archive);
    let directory = archive.parent().unwrap_or(Path::new("."));
    let temp = directory.join(temp_name());
    let written = async {
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .await?;
        file.write_all(sha256_line(sha256, name).as_bytes()).await?;
        file.sync_all().await?;
        tokio::fs::rename(&temp, &target).await
    }
    .await;
    written.map_err(|source| {
        let _ = std::fs::remove_file(&temp);
        OpError::local_file(&target, "write", source)
    })
}

/// Deletes the archives of `cluster_id` beyond the newest `keep`, and their
/// checksum files. A file that cannot be deleted is logged and left: the
/// backup just taken is complete either way.
async fn prune(directory: &Path, cluster_id: &str, keep: usize) {
    let names = match list_names(directory).await {
        Ok(names) => names,
        Err(e) => {
            tracing::warn!(
                directory = %directory.display(),
                error = %e,
                "cannot list {} to delete old backups: {e}",
                directory.display()
            );
            return;
        }
    };
    for name in prune_plan(&names, cluster_id, keep.max(1)) {
        let archive = directory.join(&name);
        for path in [sha256_path_of(&archive), archive] {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => tracing::info!(
                    path = %path.display(),
                    "deleted old backup {} (keep = {keep})",
                    path.display()
                ),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(
                    path = %path.display(),
                    error = %e,
                    "cannot delete old backup {}: {e}",
                    path.display()
                ),
            }
        }
    }
}

async fn list_names(directory: &Path) -> std::io::Result<Vec<String>> {
    let mut entries = tokio::fs::read_dir(directory).await?;
    let mut names = Vec::new();
    while let Some(entry) = entries.next_entry().await? {
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_string());
        }
    }
    Ok(names)
}

/// `.mke_backup-<pid>-<n>.partial`: hidden, and never parsed as an archive name.
fn temp_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        ".mke_backup-{}-{}.partial",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// `1.2 MiB`, for messages.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Writes through to `inner`, hashing and counting exactly the bytes `inner` accepted.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W> Hashing<W> {
    fn new(inner: W) -> Hashing<W> {
        Hashing {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// The writer, the lowercase hex digest and the byte count.
    fn finish(self) -> (W, String, u64) {
        let digest = self.hasher.finalize();
        let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
        (self.inner, hex, self.written)
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Hashing<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            this.hasher.update(&buf[..n]);
            this.written += n as u64;
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mke_k0s::backup::{archive_name_with_sequence, parse_archive_name};

    const UID: &str = "6c1f9a3e-2b1d-4f0e-9a57-3f2c8e1d0b4a";

    #[tokio::test]
    async fn the_digest_covers_exactly_the_bytes_written() {
        let mut sink = Hashing::new(Vec::new());
        sink.write_all(b"hello ").await.unwrap();
        sink.write_all(b"world").await.unwrap();
        let (inner, hex, bytes) = sink.finish();
        assert_eq!(inner, b"hello world");
        assert_eq!(bytes, 11);
        // sha256("hello world"), as sha256sum prints it
        assert_eq!(
            hex,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
    }

    #[test]
    fn the_checksum_file_reads_as_sha256sum_writes_it() {
        assert_eq!(
            sha256_line("ab12", "mke_backup_x.tar.gz"),
            "ab12  mke_backup_x.tar.gz\n"
        );
        assert_eq!(
            sha256_path_of(Path::new("./backups/a.tar.gz")),
            PathBuf::from("./backups/a.tar.gz.sha256")
        );
    }

    #[test]
    fn unfinished_files_are_hidden_and_never_archives() {
        let (a, b) = (temp_name(), temp_name());
        assert_ne!(a, b);
        assert!(a.starts_with('.'), "{a}");
        assert_eq!(parse_archive_name(&a), None);
        assert!(prune_plan(&[a], UID, 0).is_empty());
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(1_258_291), "1.2 MiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }

    #[tokio::test]
    async fn pruning_keeps_the_newest_and_their_checksums_and_nothing_else_goes() {
        let dir = tempfile::tempdir().unwrap();
        let at = |ms| UNIX_EPOCH + Duration::from_millis(ms);
        let names: Vec<String> = [1_000u64, 2_000, 3_000]
            .iter()
            .map(|ms| archive_name_with_sequence(UID, at(*ms), 0).unwrap())
            .collect();
        let other = archive_name_with_sequence("other", at(500), 0).unwrap();
        for name in names.iter().chain([&other]) {
            std::fs::write(dir.path().join(name), b"x").unwrap();
            std::fs::write(dir.path().join(format!("{name}.sha256")), b"x").unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        prune(dir.path(), UID, 2).await;
        let mut left = list_names(dir.path()).await.unwrap();
        left.sort();
        let mut expected = vec![
            names[1].clone(),
            format!("{}.sha256", names[1]),
            names[2].clone(),
            format!("{}.sha256", names[2]),
            other.clone(),
            format!("{other}.sha256"),
            "notes.txt".to_string(),
        ];
        expected.sort();
        assert_eq!(left, expected);
    }
}

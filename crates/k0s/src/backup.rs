//! `k0s backup` and `k0s restore`: their command lines, what their stderr means, the names the
//! provider gives archives, and what an archive must hold to be restorable.
//!
//! The facts are those of k0s v1.29.3+k0s.0 (`cmd/backup`, `cmd/restore`, `pkg/backup`): a backup
//! is a gzipped tar whose entries carry no `./` prefix, holding the storage snapshot
//! (`etcd-snapshot.db`, or `kine-state-backup.db` for kine/SQLite), `pki/…` from the data dir and
//! the controller's config file (`k0s.yaml`). A restore rebuilds etcd as a new one-member cluster
//! and needs k0s stopped and `<data-dir>/etcd` absent or empty.
//!
//! Like the rest of the crate this does no I/O: the archive is read from a reader the caller
//! gives, and the caller gives the time an archive is named after.

use crate::cli::k0s;
use crate::kube::time::{civil_from_days, days_from_civil};
use crate::model::CalicoMode;
use std::io::Read;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The archive entry of an etcd snapshot.
pub const ETCD_SNAPSHOT_ENTRY: &str = "etcd-snapshot.db";
/// The archive entry of a kine/SQLite copy.
pub const KINE_SNAPSHOT_ENTRY: &str = "kine-state-backup.db";
/// The entries besides the storage snapshot that a restore of a controller cannot do without.
pub const REQUIRED_ENTRIES: [&str; 3] = ["pki/ca.crt", "pki/ca.key", "k0s.yaml"];

// ---------------------------------------------------------------------------------------------
// Command lines
// ---------------------------------------------------------------------------------------------

/// `k0s backup --save-path=-`: the archive goes to stdout, logs to stderr. Run on a running
/// controller whose config file exists (k0s archives it and fails without it).
pub fn backup_to_stdout() -> String {
    k0s(["backup", "--save-path=-"])
}

/// `k0s restore - --config-out=<path>`: reads the archive from stdin and writes the archived
/// `k0s.yaml` to `config_out`, whose directory must exist. k0s must be stopped and
/// `<data-dir>/etcd` absent or empty. The valued flag uses the `--name=value` form, as
/// [`crate::install_command`] does, so a path can never be read as a flag.
pub fn restore_from_stdin(config_out: &str) -> String {
    k0s([
        "restore".to_owned(),
        "-".to_owned(),
        format!("--config-out={config_out}"),
    ])
}

// ---------------------------------------------------------------------------------------------
// What a failed backup or restore printed
// ---------------------------------------------------------------------------------------------

/// Why `k0s backup` failed, read by [`backup_outcome`]; each variant keeps k0s' stderr.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackupFailure {
    /// The controller runs without a config file (defaults), which k0s cannot archive.
    #[error("k0s backup: the controller's config file does not exist: {stderr}")]
    ConfigFileMissing { stderr: String },
    /// k0s does not answer on its status socket.
    #[error("k0s backup: k0s is not running: {stderr}")]
    NotRunning { stderr: String },
    /// The host runs a worker only.
    #[error("k0s backup: the host is not a controller: {stderr}")]
    NotAController { stderr: String },
    #[error("k0s backup: the cluster uses an external etcd, which k0s does not back up: {stderr}")]
    ExternalEtcd { stderr: String },
    #[error("k0s backup: not run as root: {stderr}")]
    NotRoot { stderr: String },
    #[error("k0s backup: the save path is not a directory: {stderr}")]
    SavePathMissing { stderr: String },
    #[error("k0s backup: the data dir does not exist: {stderr}")]
    DataDirMissing { stderr: String },
    /// A backup step failed, e.g. `etcd` when etcd does not answer.
    #[error("k0s backup: step {step} failed: {stderr}")]
    StepFailed { step: String, stderr: String },
    #[error("k0s backup failed: {stderr}")]
    Other { stderr: String },
}

impl BackupFailure {
    pub fn stderr(&self) -> &str {
        match self {
            BackupFailure::ConfigFileMissing { stderr }
            | BackupFailure::NotRunning { stderr }
            | BackupFailure::NotAController { stderr }
            | BackupFailure::ExternalEtcd { stderr }
            | BackupFailure::NotRoot { stderr }
            | BackupFailure::SavePathMissing { stderr }
            | BackupFailure::DataDirMissing { stderr }
            | BackupFailure::StepFailed { stderr, .. }
            | BackupFailure::Other { stderr } => stderr,
        }
    }
}

/// Reads the exit status and stderr of [`backup_to_stdout`]. With `--save-path=-`, k0s prints
/// an archive even when it then fails on the missing config file, so only status 0 is success.
pub fn backup_outcome(status: i32, stderr: &str) -> Result<(), BackupFailure> {
    if status == 0 {
        return Ok(());
    }
    let s = stderr.to_owned();
    Err(if stderr.contains("failed to add file to backup archive") {
        BackupFailure::ConfigFileMissing { stderr: s }
    } else if stderr.contains("does not support external etcd cluster") {
        BackupFailure::ExternalEtcd { stderr: s }
    } else if stderr.contains("this command must be run as root") {
        BackupFailure::NotRoot { stderr: s }
    } else if stderr.contains("the save-path directory (") {
        BackupFailure::SavePathMissing { stderr: s }
    } else if stderr.contains("cannot find data-dir (") {
        BackupFailure::DataDirMissing { stderr: s }
    } else if stderr.contains("unable to detect cluster status") {
        BackupFailure::NotRunning { stderr: s }
    } else if stderr.contains("backup command must be run on the controller node") {
        BackupFailure::NotAController { stderr: s }
    } else if let Some(step) = step_name(stderr, "failed to create backup on step `") {
        BackupFailure::StepFailed { step, stderr: s }
    } else {
        BackupFailure::Other { stderr: s }
    })
}

/// Why `k0s restore` failed, read by [`restore_outcome`]; each variant keeps k0s' stderr.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreFailure {
    /// Not exactly one archive argument.
    #[error("k0s restore: wrong arguments: {stderr}")]
    WrongArguments { stderr: String },
    #[error("k0s restore: not run as root: {stderr}")]
    NotRoot { stderr: String },
    /// k0s answers on its status socket; it must be stopped during a restore.
    #[error("k0s restore: k0s is running: {stderr}")]
    K0sRunning { stderr: String },
    #[error("k0s restore: the archive file does not exist: {stderr}")]
    ArchiveMissing { stderr: String },
    #[error("k0s restore: the archive is not gzip-compressed: {stderr}")]
    NotGzip { stderr: String },
    #[error("k0s restore: the archive is empty: {stderr}")]
    EmptyArchive { stderr: String },
    /// An entry would land outside the unpack directory (this includes a `./` entry).
    #[error("k0s restore: the archive holds an illegal path: {stderr}")]
    IllegalPath { stderr: String },
    /// Any other unpack error, e.g. a truncated archive.
    #[error("k0s restore: the archive cannot be unpacked: {stderr}")]
    CorruptArchive { stderr: String },
    /// `<data-dir>/etcd` holds data; k0s restores etcd only into an empty directory.
    #[error("k0s restore: the etcd data dir is not empty: {stderr}")]
    EtcdDataDirNotEmpty { stderr: String },
    /// The archive lacks the snapshot of the storage this host's `/etc/k0s/k0s.yaml` names
    /// (e.g. a kine archive on a host configured for etcd).
    #[error("k0s restore: the archive has no snapshot for this host's storage: {stderr}")]
    SnapshotNotFound { stderr: String },
    /// This host's `/etc/k0s/k0s.yaml` cannot be parsed.
    #[error("k0s restore: the host's config file cannot be parsed: {stderr}")]
    HostConfigInvalid { stderr: String },
    /// The restored config could not be written, e.g. its directory does not exist.
    #[error("k0s restore: the config could not be written: {stderr}")]
    ConfigOutFailed { stderr: String },
    #[error("k0s restore: step {step} failed: {stderr}")]
    StepFailed { step: String, stderr: String },
    #[error("k0s restore failed: {stderr}")]
    Other { stderr: String },
}

impl RestoreFailure {
    pub fn stderr(&self) -> &str {
        match self {
            RestoreFailure::WrongArguments { stderr }
            | RestoreFailure::NotRoot { stderr }
            | RestoreFailure::K0sRunning { stderr }
            | RestoreFailure::ArchiveMissing { stderr }
            | RestoreFailure::NotGzip { stderr }
            | RestoreFailure::EmptyArchive { stderr }
            | RestoreFailure::IllegalPath { stderr }
            | RestoreFailure::CorruptArchive { stderr }
            | RestoreFailure::EtcdDataDirNotEmpty { stderr }
            | RestoreFailure::SnapshotNotFound { stderr }
            | RestoreFailure::HostConfigInvalid { stderr }
            | RestoreFailure::ConfigOutFailed { stderr }
            | RestoreFailure::StepFailed { stderr, .. }
            | RestoreFailure::Other { stderr } => stderr,
        }
    }
}

/// Reads the exit status and stderr of [`restore_from_stdin`].
pub fn restore_outcome(status: i32, stderr: &str) -> Result<(), RestoreFailure> {
    if status == 0 {
        return Ok(());
    }
    let s = stderr.to_owned();
    let unpack = stderr.contains("failed to unpack backup archive");
    Err(if stderr.contains("accepts 1 arg(s)") {
        RestoreFailure::WrongArguments { stderr: s }
    } else if stderr.contains("this command must be run as root") {
        RestoreFailure::NotRoot { stderr: s }
    } else if stderr.contains("k0s seems to be running!") {
        RestoreFailure::K0sRunning { stderr: s }
    } else if stderr.contains("given file ") && stderr.contains(" does not exist") {
        RestoreFailure::ArchiveMissing { stderr: s }
    } else if unpack && stderr.contains("gzip: invalid header") {
        RestoreFailure::NotGzip { stderr: s }
    } else if unpack && stderr.contains("illegal file path") {
        RestoreFailure::IllegalPath { stderr: s }
    } else if unpack && stderr.trim_end().ends_with(": EOF") {
        RestoreFailure::EmptyArchive { stderr: s }
    } else if unpack {
        RestoreFailure::CorruptArchive { stderr: s }
    } else if stderr.contains("not empty or could not be read") {
        RestoreFailure::EtcdDataDirNotEmpty { stderr: s }
    } else if stderr.contains("snapshot not found at") {
        RestoreFailure::SnapshotNotFound { stderr: s }
    } else if stderr.contains("failed to parse backed-up configuration file") {
        RestoreFailure::HostConfigInvalid { stderr: s }
    } else if stderr.contains("failed to restore on step `k0s-config`") {
        RestoreFailure::ConfigOutFailed { stderr: s }
    } else if let Some(step) = step_name(stderr, "failed to restore on step `") {
        RestoreFailure::StepFailed { step, stderr: s }
    } else {
        RestoreFailure::Other { stderr: s }
    })
}

/// The step named between backquotes after `prefix`; a step name may hold backquotes itself
/// (``filesystem path `/var/lib/k0s/pki` ``), so it ends at the backquote before `: `.
fn step_name(stderr: &str, prefix: &str) -> Option<String> {
    let rest = &stderr[stderr.find(prefix)? + prefix.len()..];
    Some(rest[..rest.find("`: ")?].to_owned())
}

// ---------------------------------------------------------------------------------------------
// Archive names
// ---------------------------------------------------------------------------------------------

const NAME_PREFIX: &str = "mke_backup_";
const NAME_SUFFIX: &str = ".tar.gz";
/// `YYYYMMDDTHHMMSS.mmmZ`
const STAMP_LEN: usize = 20;

/// Numbers the archives this process names, so two named in the same millisecond differ.
static NAME_SEQUENCE: AtomicU16 = AtomicU16::new(0);

/// Why a cluster id cannot go into an archive name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cluster id {cluster_id:?} cannot name a backup archive: it must be non-empty and made of letters, digits and '-' only")]
pub struct ClusterIdError {
    pub cluster_id: String,
}

/// What an archive name of ours says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveName {
    /// The kube-system namespace UID of the cluster backed up.
    pub cluster_id: String,
    /// When it was taken, to the millisecond.
    pub taken_at: SystemTime,
    /// Tells apart archives named in the same millisecond by one process.
    pub sequence: u16,
}

/// `mke_backup_<cluster id>_<YYYYMMDD>T<HHMMSS>.<mmm>Z_<ssss>.tar.gz`, at `taken_at` in UTC.
///
/// The name sorts lexically by time for one cluster: the stamp is fixed-width, biggest unit
/// first, in UTC (so no daylight-saving step reorders it) and carries no `:` (which scp and some
/// file systems treat specially). Unlike k0s' own name (local time, whole seconds, so a second
/// backup within a second replaces the first), two archives named by one process cannot collide:
/// the 4-hex-digit suffix counts the names this process made, so it differs between names made
/// in the same millisecond (it wraps after 65 536 names, which no millisecond sees).
pub fn archive_name(cluster_id: &str, taken_at: SystemTime) -> Result<String, ClusterIdError> {
    let sequence = NAME_SEQUENCE.fetch_add(1, Ordering::Relaxed);
    archive_name_with_sequence(cluster_id, taken_at, sequence)
}

/// [`archive_name`] with a given suffix, for callers (and tests) that number names themselves.
pub fn archive_name_with_sequence(
    cluster_id: &str,
    taken_at: SystemTime,
    sequence: u16,
) -> Result<String, ClusterIdError> {
    if !valid_cluster_id(cluster_id) {
        return Err(ClusterIdError {
            cluster_id: cluster_id.to_owned(),
        });
    }
    let since_epoch = taken_at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs() as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    Ok(format!(
        "{NAME_PREFIX}{cluster_id}_{y:04}{m:02}{d:02}T{:02}{:02}{:02}.{:03}Z_{sequence:04x}{NAME_SUFFIX}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        since_epoch.subsec_millis(),
    ))
}

/// A kube-system UID is a UUID; anything that could break the name apart (`_`, `/`, `.`) is
/// refused.
fn valid_cluster_id(cluster_id: &str) -> bool {
    !cluster_id.is_empty()
        && cluster_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// What a file name made by [`archive_name`] says; `None` for any other name.
pub fn parse_archive_name(name: &str) -> Option<ArchiveName> {
    let body = name.strip_prefix(NAME_PREFIX)?.strip_suffix(NAME_SUFFIX)?;
    let (rest, sequence) = body.rsplit_once('_')?;
    let (cluster_id, stamp) = rest.rsplit_once('_')?;
    let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if sequence.len() != 4
        || !sequence.bytes().all(lower_hex)
        || !valid_cluster_id(cluster_id)
        || stamp.len() != STAMP_LEN
    {
        return None;
    }
    let sequence = u16::from_str_radix(sequence, 16).ok()?;
    let b = stamp.as_bytes();
    if b[8] != b'T' || b[15] != b'.' || b[19] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = stamp.get(range)?;
        digits
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, s, ms) = (num(9..11)?, num(11..13)?, num(13..15)?, num(16..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s;
    let taken_at = UNIX_EPOCH
        + Duration::from_secs(u64::try_from(secs).ok()?)
        + Duration::from_millis(ms as u64);
    Some(ArchiveName {
        cluster_id: cluster_id.to_owned(),
        taken_at,
        sequence,
    })
}

/// The files to delete so that only the `keep` newest archives of `cluster_id` remain, oldest
/// first. Files that are not our archives, and archives of other clusters, are never listed.
pub fn prune_plan<S: AsRef<str>>(file_names: &[S], cluster_id: &str, keep: usize) -> Vec<String> {
    let mut ours: Vec<(SystemTime, u16, &str)> = file_names
        .iter()
        .map(AsRef::as_ref)
        .filter_map(|name| {
            let parsed = parse_archive_name(name)?;
            (parsed.cluster_id == cluster_id).then_some((parsed.taken_at, parsed.sequence, name))
        })
        .collect();
    ours.sort();
    ours.dedup_by(|a, b| a.2 == b.2);
    let surplus = ours.len().saturating_sub(keep);
    ours.into_iter()
        .take(surplus)
        .map(|(_, _, name)| name.to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Archive verification
// ---------------------------------------------------------------------------------------------

/// Which storage an archive holds a snapshot of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    /// `etcd-snapshot.db`
    Etcd,
    /// `kine-state-backup.db`
    KineSqlite,
}

/// What a verified archive holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSummary {
    /// Every file and directory entry.
    pub entries: usize,
    pub storage: StorageKind,
    /// The archived ClusterConfig, as the restored controller will be installed with.
    pub k0s_yaml: String,
}

/// Why an archive would not restore a controller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    #[error("the backup archive is empty")]
    Empty,
    #[error("the backup archive is not gzip-compressed")]
    NotGzip,
    /// The gzip stream or the tar inside it is damaged or cut short.
    #[error("the backup archive is corrupt: {message}")]
    Corrupt { message: String },
    /// An entry k0s restore refuses: absolute, with `..`, or `./`-prefixed.
    #[error("the backup archive holds an entry k0s restore refuses: {name:?}")]
    IllegalPath { name: String },
    #[error("the backup archive holds both {ETCD_SNAPSHOT_ENTRY} and {KINE_SNAPSHOT_ENTRY}")]
    TwoSnapshots,
    /// Required entries that are absent; the storage snapshot reads as
    /// `etcd-snapshot.db or kine-state-backup.db`.
    #[error("the backup archive lacks {}", missing.join(", "))]
    Missing { missing: Vec<String> },
    #[error("the backup archive's k0s.yaml is not UTF-8")]
    ConfigNotText,
}

/// Reads a whole archive from `reader` and checks it is a gzipped tar that a restore can bring a
/// controller back from: a storage snapshot, `pki/ca.crt`, `pki/ca.key` and `k0s.yaml`. The
/// stream is read to its end, so a damaged or truncated archive fails the gzip checksum.
pub fn verify_archive<R: Read>(mut reader: R) -> Result<ArchiveSummary, ArchiveError> {
    let corrupt = |e: std::io::Error| ArchiveError::Corrupt {
        message: e.to_string(),
    };
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < magic.len() {
        match reader.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(corrupt(e)),
        }
    }
    match got {
        0 => return Err(ArchiveError::Empty),
        _ if magic[..got] != [0x1f, 0x8b][..got] || got < 2 => return Err(ArchiveError::NotGzip),
        _ => {}
    }
    let gzip = flate2::read::GzDecoder::new(std::io::Cursor::new(magic).chain(reader));
    let mut archive = tar::Archive::new(gzip);
    let mut entries = 0;
    let mut names = std::collections::BTreeSet::new();
    let mut k0s_yaml = None;
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = raw.trim_end_matches('/').to_owned();
        let illegal = name.is_empty()
            || name.starts_with('/')
            || name.split('/').any(|part| part == ".." || part == ".");
        if illegal {
            return Err(ArchiveError::IllegalPath { name: raw });
        }
        entries += 1;
        if name == "k0s.yaml" && entry.header().entry_type().is_file() {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(corrupt)?;
            k0s_yaml = Some(String::from_utf8(bytes).map_err(|_| ArchiveError::ConfigNotText)?);
        }
        names.insert(name);
    }
    // Past the end-of-archive blocks: read what is left so the gzip trailer is checked
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink()).map_err(corrupt)?;
    let storage = match (
        names.contains(ETCD_SNAPSHOT_ENTRY),
        names.contains(KINE_SNAPSHOT_ENTRY),
    ) {
        (true, true) => return Err(ArchiveError::TwoSnapshots),
        (true, false) => Some(StorageKind::Etcd),
        (false, true) => Some(StorageKind::KineSqlite),
        (false, false) => None,
    };
    let mut missing = Vec::new();
    if storage.is_none() {
        missing.push(format!("{ETCD_SNAPSHOT_ENTRY} or {KINE_SNAPSHOT_ENTRY}"));
    }
    missing.extend(
        REQUIRED_ENTRIES
            .iter()
            .filter(|required| !names.contains(**required))
            .map(|required| required.to_string()),
    );
    match (storage, k0s_yaml) {
        (Some(storage), Some(k0s_yaml)) if missing.is_empty() => Ok(ArchiveSummary {
            entries,
            storage,
            k0s_yaml,
        }),
        _ => Err(ArchiveError::Missing { missing }),
    }
}

// ---------------------------------------------------------------------------------------------
// What the archived k0s.yaml says a restore must match
// ---------------------------------------------------------------------------------------------

/// The network settings of an archived ClusterConfig that the cluster a backup is restored into
/// must keep: Pods, Services and DNS names in the snapshot were allocated from them. A setting
/// the file leaves out is `None` (k0s' default applied), rather than a default filled in here,
/// so a comparison can tell "absent" from "set".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ArchivedNetwork {
    pub pod_cidr: Option<String>,
    pub service_cidr: Option<String>,
    /// `spec.network.provider`, e.g. `calico`.
    pub provider: Option<String>,
    pub cluster_domain: Option<String>,
    pub calico_mode: Option<CalicoMode>,
}

/// What an archived ClusterConfig says a restore must match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ArchivedSettings {
    pub network: ArchivedNetwork,
    pub external_address: Option<String>,
    pub address: Option<String>,
}

impl ArchivedSettings {
    /// The API address workers joined with: `spec.api.externalAddress`, else `spec.api.address`.
    /// Workers reconnect to a restored controller only if it is unchanged.
    pub fn api_address(&self) -> Option<&str> {
        self.external_address.as_deref().or(self.address.as_deref())
    }
}

/// Reads [`ArchivedSettings`] from an archive's `k0s.yaml` (see [`ArchiveSummary::k0s_yaml`]).
/// Unlike [`crate::observed_settings`], which fills the provider's defaults in for a cluster
/// taken over, absent keys stay `None` here.
pub fn archived_settings(k0s_yaml: &str) -> Result<ArchivedSettings, crate::ConfigError> {
    let document: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(k0s_yaml).map_err(|e| crate::ConfigError::InvalidYaml {
            message: e.to_string(),
        })?;
    let text = |v: &serde_yaml_ng::Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    let spec = &document["spec"];
    let network = &spec["network"];
    let calico_mode = match text(&network["calico"]["mode"]) {
        None => None,
        Some(mode) => {
            Some(
                mode.parse::<CalicoMode>()
                    .map_err(|e| crate::ConfigError::Invalid {
                        path: "spec.network.calico.mode".to_owned(),
                        message: e.to_string(),
                    })?,
            )
        }
    };
    Ok(ArchivedSettings {
        network: ArchivedNetwork {
            pod_cidr: text(&network["podCIDR"]),
            service_cidr: text(&network["serviceCIDR"]),
            provider: text(&network["provider"]),
            cluster_domain: text(&network["clusterDomain"]),
            calico_mode,
        },
        external_address: text(&spec["api"]["externalAddress"]),
        address: text(&spec["api"]["address"]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;

    const UID: &str = "6c1f9a3e-2b1d-4f0e-9a57-3f2c8e1d0b4a";

    /// Whether a failure is the expected kind.
    type IsBackupFailure = fn(&BackupFailure) -> bool;
    type IsRestoreFailure = fn(&RestoreFailure) -> bool;

    /// A .tar.gz from (name, Some(content)) files and (name, None) directories, names as given.
    fn archive(entries: &[(&str, Option<&str>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
        for (name, content) in entries {
            let mut header = tar::Header::new_gnu();
            let data = content.unwrap_or("").as_bytes();
            header.set_entry_type(if content.is_some() {
                tar::EntryType::Regular
            } else {
                tar::EntryType::Directory
            });
            header.set_size(data.len() as u64);
            header.set_mode(0o600);
            // set_path refuses `..`; write the raw name, as a hostile or repacked archive could
            let bytes = name.as_bytes();
            header.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
            header.set_cksum();
            builder.append(&header, data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    fn complete() -> Vec<(&'static str, Option<&'static str>)> {
        vec![
            ("etcd-snapshot.db", Some("snapshot")),
            ("pki", None),
            ("pki/ca.crt", Some("CERT")),
            ("pki/ca.key", Some("KEY")),
            ("k0s.yaml", Some("spec: {}\n")),
        ]
    }

    #[test]
    fn command_lines_read_from_stdout_and_stdin() {
        assert_eq!(
            backup_to_stdout(),
            "/usr/local/bin/k0s backup --save-path=-"
        );
        assert_eq!(
            restore_from_stdin("/root/restored k0s.yaml"),
            "/usr/local/bin/k0s restore - '--config-out=/root/restored k0s.yaml'"
        );
    }

    #[test]
    fn a_complete_archive_verifies_and_gives_its_config() {
        let summary = verify_archive(archive(&complete()).as_slice()).unwrap();
        assert_eq!(
            summary,
            ArchiveSummary {
                entries: 5,
                storage: StorageKind::Etcd,
                k0s_yaml: "spec: {}\n".to_owned()
            }
        );
        let mut kine = complete();
        kine[0].0 = "kine-state-backup.db";
        let summary = verify_archive(archive(&kine).as_slice()).unwrap();
        assert_eq!(summary.storage, StorageKind::KineSqlite);
    }

    #[test]
    fn missing_entries_are_all_named() {
        let only_pki = archive(&[("pki", None), ("pki/ca.crt", Some("CERT"))]);
        assert_eq!(
            verify_archive(only_pki.as_slice()).unwrap_err(),
            ArchiveError::Missing {
                missing: vec![
                    "etcd-snapshot.db or kine-state-backup.db".to_owned(),
                    "pki/ca.key".to_owned(),
                    "k0s.yaml".to_owned()
                ]
            }
        );
        let mut both = complete();
        both.push(("kine-state-backup.db", Some("db")));
        assert_eq!(
            verify_archive(archive(&both).as_slice()).unwrap_err(),
            ArchiveError::TwoSnapshots
        );
    }

    #[test]
    fn damaged_archives_are_told_apart() {
        assert_eq!(verify_archive(&b""[..]).unwrap_err(), ArchiveError::Empty);
        assert_eq!(
            verify_archive(&b"not gzip at all"[..]).unwrap_err(),
            ArchiveError::NotGzip
        );
        assert_eq!(
            verify_archive(&b"\x1f"[..]).unwrap_err(),
            ArchiveError::NotGzip
        );
        let whole = archive(&complete());
        let cut = &whole[..whole.len() / 2];
        assert!(matches!(
            verify_archive(cut).unwrap_err(),
            ArchiveError::Corrupt { .. }
        ));
        let mut flipped = whole.clone();
        let last = flipped.len() - 5; // inside the CRC-32 of the gzip trailer
        flipped[last] ^= 0xff;
        assert!(matches!(
            verify_archive(flipped.as_slice()).unwrap_err(),
            ArchiveError::Corrupt { .. }
        ));
        let plain_tar = {
            let mut builder = tar::Builder::new(Vec::new());
            builder.append_dir("pki", ".").ok();
            builder.into_inner().unwrap()
        };
        assert_eq!(
            verify_archive(plain_tar.as_slice()).unwrap_err(),
            ArchiveError::NotGzip
        );
    }

    #[test]
    fn entries_k0s_restore_refuses_are_reported() {
        for name in ["./", "./k0s.yaml", "../evil", "pki/../../x", "/etc/passwd"] {
            let mut entries = complete();
            entries.push((name, Some("x")));
            assert_eq!(
                verify_archive(archive(&entries).as_slice()).unwrap_err(),
                ArchiveError::IllegalPath {
                    name: name.to_owned()
                },
                "{name}"
            );
        }
    }

    #[test]
    fn names_carry_the_cluster_and_the_millisecond_and_parse_back() {
        let at = UNIX_EPOCH + Duration::from_millis(1_712_657_730_123);
        let name = archive_name_with_sequence(UID, at, 0x2a).unwrap();
        assert_eq!(
            name,
            format!("mke_backup_{UID}_20240409T101530.123Z_002a.tar.gz")
        );
        assert_eq!(
            parse_archive_name(&name),
            Some(ArchiveName {
                cluster_id: UID.to_owned(),
                taken_at: at,
                sequence: 0x2a
            })
        );
        for other in [
            "k0s_backup_2024-04-09T10_15_30_000Z.tar.gz",
            "mke_backup_x_20240409T101530.123Z_002a.tar",
            "mke_backup__20240409T101530.123Z_002a.tar.gz",
            "mke_backup_x_20241309T101530.123Z_002a.tar.gz",
            "mke_backup_x_20240409T101530.12Z_002a.tar.gz",
            "mke_backup_x_20240409T101530.123Z_2a.tar.gz",
            "mke_backup_x_20240409T101530.123Z_002A.tar.gz",
            "notes.txt",
        ] {
            assert_eq!(parse_archive_name(other), None, "{other}");
        }
        assert!(archive_name("a_b", at).is_err());
        assert!(archive_name("", at).is_err());
    }

    #[test]
    fn names_sort_by_time_and_never_repeat_in_a_process() {
        let at = |ms| UNIX_EPOCH + Duration::from_millis(ms);
        let mut names: Vec<String> = [1_712_657_730_123u64, 1_712_657_730_999, 1_712_657_731_000]
            .iter()
            .map(|ms| archive_name(UID, at(*ms)).unwrap())
            .collect();
        let in_time_order = names.clone();
        names.sort();
        assert_eq!(names, in_time_order);
        let same_moment: std::collections::BTreeSet<String> = (0..100)
            .map(|_| archive_name(UID, at(1_712_657_730_123)).unwrap())
            .collect();
        assert_eq!(same_moment.len(), 100);
    }

    #[test]
    fn pruning_deletes_only_this_clusters_oldest_archives() {
        let at = |ms| UNIX_EPOCH + Duration::from_millis(ms);
        let old = archive_name_with_sequence(UID, at(1_000), 9).unwrap();
        let middle = archive_name_with_sequence(UID, at(2_000), 0).unwrap();
        let same_ms_later = archive_name_with_sequence(UID, at(2_000), 1).unwrap();
        let newest = archive_name_with_sequence(UID, at(3_000), 0).unwrap();
        let other_cluster = archive_name_with_sequence("other-uid", at(500), 0).unwrap();
        let files = vec![
            newest.clone(),
            "k0s_backup_1970-01-01T00_00_01_000Z.tar.gz".to_owned(),
            same_ms_later.clone(),
            other_cluster,
            old.clone(),
            "README".to_owned(),
            middle.clone(),
        ];
        assert_eq!(prune_plan(&files, UID, 2), vec![old.clone(), middle]);
        assert_eq!(prune_plan(&files, UID, 4), Vec::<String>::new());
        assert_eq!(prune_plan(&files, UID, 0).len(), 4);
        assert_eq!(prune_plan(&files, "nobody", 0), Vec::<String>::new());
    }

    #[test]
    fn backup_failures_are_classified() {
        let cases: Vec<(&str, IsBackupFailure)> = vec![
            ("time=\"x\" level=fatal msg=\"error creating archive: failed to add file to backup archive: failed to open file: open /etc/k0s/k0s.yaml: no such file or directory\"\n",
             |f| matches!(f, BackupFailure::ConfigFileMissing { .. })),
            ("Error: unable to detect cluster status status: can't get \"status\" via \"/run/k0s/status.sock\": Get \"http://localhost/status\": dial unix /run/k0s/status.sock: connect: no such file or directory\n",
             |f| matches!(f, BackupFailure::NotRunning { .. })),
            ("Error: backup command must be run on the controller node, have `worker`\n",
             |f| matches!(f, BackupFailure::NotAController { .. })),
            ("Error: command 'k0s backup' does not support external etcd cluster\n",
             |f| matches!(f, BackupFailure::ExternalEtcd { .. })),
            ("time=\"x\" level=fatal msg=\"this command must be run as root!\"\n",
             |f| matches!(f, BackupFailure::NotRoot { .. })),
            ("Error: the save-path directory () does not exist\n",
             |f| matches!(f, BackupFailure::SavePathMissing { .. })),
            ("Error: cannot find data-dir (/var/lib/k0s). check your environment and/or command input and try again\n",
             |f| matches!(f, BackupFailure::DataDirMissing { .. })),
            ("Error: failed to create backup on step `etcd`: context deadline exceeded\n",
             |f| matches!(f, BackupFailure::StepFailed { step, .. } if step == "etcd")),
            ("Error: something new\n", |f| matches!(f, BackupFailure::Other { .. })),
        ];
        for (stderr, expected) in cases {
            let failure = backup_outcome(1, stderr).unwrap_err();
            assert!(expected(&failure), "{stderr} -> {failure:?}");
            assert_eq!(failure.stderr(), stderr);
        }
        assert_eq!(backup_outcome(0, "level=warning msg=x"), Ok(()));
    }

    #[test]
    fn restore_failures_are_classified() {
        let cases: Vec<(&str, IsRestoreFailure)> = vec![
            ("Error: accepts 1 arg(s), received 0\n", |f| matches!(f, RestoreFailure::WrongArguments { .. })),
            ("Error: this command must be run as root\n", |f| matches!(f, RestoreFailure::NotRoot { .. })),
            ("time=\"x\" level=fatal msg=\"k0s seems to be running! k0s must be down during the restore operation.\"\n",
             |f| matches!(f, RestoreFailure::K0sRunning { .. })),
            ("Error: given file /root/x.tar.gz does not exist\n", |f| matches!(f, RestoreFailure::ArchiveMissing { .. })),
            ("Error: failed to unpack backup archive `-`: gzip: invalid header\n", |f| matches!(f, RestoreFailure::NotGzip { .. })),
            ("Error: failed to unpack backup archive `-`: EOF\n", |f| matches!(f, RestoreFailure::EmptyArchive { .. })),
            ("Error: failed to unpack backup archive `-`: ./: illegal file path\n", |f| matches!(f, RestoreFailure::IllegalPath { .. })),
            ("Error: failed to unpack backup archive `-`: unexpected EOF\n", |f| matches!(f, RestoreFailure::CorruptArchive { .. })),
            ("Error: failed to restore on step `etcd`: data-dir \"/var/lib/k0s/etcd\" not empty or could not be read\n",
             |f| matches!(f, RestoreFailure::EtcdDataDirNotEmpty { .. })),
            ("Error: failed to restore on step `etcd`: etcd snapshot not found at /tmp/k0s-backup1/etcd-snapshot.db\n",
             |f| matches!(f, RestoreFailure::SnapshotNotFound { .. })),
            ("Error: failed to parse backed-up configuration file, check the backup archive: x\n",
             |f| matches!(f, RestoreFailure::HostConfigInvalid { .. })),
            ("Error: failed to restore on step `k0s-config`: open /nowhere/.k0s.yaml.1.tmp: no such file or directory\n",
             |f| matches!(f, RestoreFailure::ConfigOutFailed { .. })),
            ("Error: failed to restore on step `filesystem path `/var/lib/k0s/pki``: permission denied\n",
             |f| matches!(f, RestoreFailure::StepFailed { step, .. } if step == "filesystem path `/var/lib/k0s/pki`")),
            ("Error: boom\n", |f| matches!(f, RestoreFailure::Other { .. })),
        ];
        for (stderr, expected) in cases {
            let failure = restore_outcome(1, stderr).unwrap_err();
            assert!(expected(&failure), "{stderr} -> {failure:?}");
            assert_eq!(failure.stderr(), stderr);
        }
        assert_eq!(restore_outcome(0, ""), Ok(()));
    }

    #[test]
    fn the_archived_config_gives_the_network_and_the_api_address() {
        let settings = archived_settings(
            "spec:\n  api:\n    address: 10.0.0.5\n    externalAddress: k8s.example.com\n  network:\n    podCIDR: 10.244.0.0/16\n    serviceCIDR: 10.96.0.0/12\n    provider: calico\n    calico:\n      mode: vxlan\n",
        )
        .unwrap();
        assert_eq!(
            settings.network,
            ArchivedNetwork {
                pod_cidr: Some("10.244.0.0/16".to_owned()),
                service_cidr: Some("10.96.0.0/12".to_owned()),
                provider: Some("calico".to_owned()),
                cluster_domain: None,
                calico_mode: Some(CalicoMode::Vxlan),
            }
        );
        assert_eq!(settings.api_address(), Some("k8s.example.com"));
        let internal = archived_settings(
            "spec: {api: {address: 10.0.0.5}, network: {clusterDomain: corp.local}}",
        )
        .unwrap();
        assert_eq!(internal.api_address(), Some("10.0.0.5"));
        assert_eq!(
            internal.network.cluster_domain.as_deref(),
            Some("corp.local")
        );
        assert_eq!(archived_settings("").unwrap(), ArchivedSettings::default());
        assert!(matches!(
            archived_settings("spec: {network: {calico: {mode: geneve}}}").unwrap_err(),
            crate::ConfigError::Invalid { .. }
        ));
        assert!(archived_settings("{unclosed").is_err());
    }
}

//! Phase `stage`: getting the right k0s binary onto a host: upload a local file (air-gapped
//! hosts) or download it on the host, then check `k0s version`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use mke_ssh::{shell_quote, Command, Host};
use sha2::{Digest, Sha256};

use super::probe::HostFacts;
use crate::ops::progress::unless_cancelled;
use crate::ops::{Cancel, OpError, Step};

#[derive(Debug, Clone)]
pub enum BinarySource {
    Upload(PathBuf),
    Download { url_template: String },
}

impl BinarySource {
    pub fn new(binary_path: Option<&str>, download_url: Option<&str>) -> BinarySource {
        match binary_path {
            Some(p) => BinarySource::Upload(PathBuf::from(p)),
            None => BinarySource::Download {
                url_template: download_url
                    .unwrap_or(mke_k0s::DEFAULT_DOWNLOAD_URL)
                    .to_string(),
            },
        }
    }
}

/// What staging did, for logs and benchmarks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Staged {
    pub bytes_uploaded: u64,
    pub skipped: bool,
}

/// sha256 of local files, computed once per process.
fn local_checksums() -> &'static Mutex<HashMap<PathBuf, (std::time::SystemTime, String)>> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, (std::time::SystemTime, String)>>> =
        OnceLock::new();
    CACHE.get_or_init(Default::default)
}

pub async fn local_sha256(path: &PathBuf) -> Result<String, OpError> {
    let err = |source| OpError::LocalBinary {
        path: path.display().to_string(),
        source,
    };
    let modified = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(err)?;
    if let Some((when, sum)) = local_checksums().lock().expect("checksums").get(path) {
        if *when == modified {
            return Ok(sum.clone());
        }
    }
    let p = path.clone();
    let sum = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        let mut file = std::fs::File::open(&p)?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut file, &mut hasher)?;
        Ok(format!("{:x}", hasher.finalize()))
    })
    .await
    .expect("checksum task")
    .map_err(err)?;
    local_checksums()
        .lock()
        .expect("checksums")
        .insert(path.clone(), (modified, sum.clone()));
    Ok(sum)
}

/// Puts k0s `version` at `/usr/local/bin/k0s`, skipping the transfer when
/// the host already has it, and checks what `k0s version` says. `cancel`
/// returns at once with [`OpError::Cancelled`]. A stopped upload ends on the
/// host too (its input ends) and its temporary file is removed; a download
/// runs on there until it finishes or times out, and only a complete file
/// is renamed into place.
pub async fn stage_k0s(
    cancel: &Cancel,
    host: &Arc<Host>,
    facts: &HostFacts,
    version: &str,
    source: &BinarySource,
    timeout: Duration,
) -> Result<Staged, OpError> {
    let step = Step::start(host.name(), "stage k0s binary");
    let target = mke_k0s::K0S_BINARY_PATH;
    let mut staged = Staged::default();
    match source {
        BinarySource::Upload(path) => {
            let sum = local_sha256(path).await?;
            // Only a binary of the wanted version can be the same file, so
            // the host checksums its binary (hundreds of MB for real k0s)
            // only then.
            let same_version = facts.binary_version.as_deref() == Some(version);
            let installed = if same_version {
                Some(remote_sha256(host).await?)
            } else {
                None
            };
            if installed.as_deref() == Some(sum.as_str()) {
                staged.skipped = true;
            } else {
                staged.bytes_uploaded =
                    unless_cancelled(cancel, host.name(), "uploading k0s", async {
                        Ok(host.upload(path, target, 0o755).await?)
                    })
                    .await?;
                let remote = remote_sha256(host).await?;
                if remote != sum {
                    return Err(OpError::host(
                        host.name(),
                        format!(
                            "the uploaded k0s binary has sha256 {remote} but the local file has {sum}"
                        ),
                        "The transfer was corrupted; run `terraform apply` again.",
                    ));
                }
            }
        }
        BinarySource::Download { url_template } => {
            if facts.binary_version.as_deref() == Some(version) {
                staged.skipped = true;
            } else {
                let arch = mke_k0s::download_arch(&facts.arch).ok_or_else(|| {
                    OpError::host(
                        host.name(),
                        format!("k0s has no release for the architecture {:?}", facts.arch),
                        "k0s runs on x86_64, aarch64 and armv7l.",
                    )
                })?;
                let url = mke_k0s::download_url(url_template, version, arch);
                let q = shell_quote(&url);
                let script = format!(
                    "set -e; tmp=$(mktemp {target}.XXXXXX); trap 'rm -f \"$tmp\"' EXIT; \
                     if command -v curl >/dev/null 2>&1; then curl -fsSL --retry 3 -o \"$tmp\" {q}; \
                     elif command -v wget >/dev/null 2>&1; then wget -q -O \"$tmp\" {q}; \
                     else echo 'neither curl nor wget is installed' >&2; exit 127; fi; \
                     chmod 755 \"$tmp\"; mv -f \"$tmp\" {target}; trap - EXIT"
                );
                let download = Command::new(script)
                    .timeout(timeout)
                    .display(format!("download k0s from {url}"));
                unless_cancelled(cancel, host.name(), "downloading k0s", async { Ok(host.check(&download).await) })
                    .await?
                    .map_err(|e| match e {
                        mke_ssh::SshError::CommandFailed { stderr_tail, .. } => OpError::host(
                            host.name(),
                            format!("downloading k0s from {url} failed: {}", stderr_tail.trim()),
                            "Check that the host can reach that URL, or set `k0s_binary_path` to upload a local binary (air-gapped hosts).",
                        ),
                        other => other.into(),
                    })?;
            }
        }
    }
    let reported = host
        .check(&Command::new(format!("{target} version")).display("k0s version"))
        .await?;
    if reported.trim() != version {
        return Err(OpError::host(
            host.name(),
            format!(
                "k0s at {target} reports version {}, not {version}",
                reported.trim()
            ),
            "Make `k0s_version` match the binary (`k0s_binary_path`) or the download.",
        ));
    }
    step.done();
    Ok(staged)
}

async fn remote_sha256(host: &Host) -> Result<String, OpError> {
    let target = mke_k0s::K0S_BINARY_PATH;
    let out = host
        .check(
            &Command::new(format!("sha256sum {target} | cut -d' ' -f1"))
                .timeout(Duration::from_secs(300))
                .display(format!("sha256sum {target}")),
        )
        .await?;
    Ok(out.trim().to_string())
}

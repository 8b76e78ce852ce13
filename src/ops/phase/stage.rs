//! Phase `stage`: getting the right k0s binary onto a host: upload a local file (air-gapped
//! hosts) or download it on the host, check its sha256 when one is configured, then check
//! `k0s version`. A download URL may carry credentials: it reaches the host on stdin, never on
//! a command line, and every message shows it redacted.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use mke_k0s::status::{DownloadTemplate, DownloadUrl, DownloadUrlError, UrlScheme};
use mke_ssh::{shell_quote, Command, Host};
use sha2::{Digest, Sha256};

use super::probe::HostFacts;
use crate::ops::progress::unless_cancelled;
use crate::ops::{Cancel, OpError, Step};

/// Where the k0s binary comes from, and the sha256 it must have.
#[derive(Debug, Clone)]
pub struct BinarySource {
    pub origin: BinaryOrigin,
    /// `k0s_sha256`, in lower case: checked against the local file before an upload, and on
    /// the host after a download, before the binary replaces the installed one.
    pub sha256: Option<String>,
}

#[derive(Debug, Clone)]
pub enum BinaryOrigin {
    Upload(PathBuf),
    /// The URL template; a template plan-time validation refused is refused here again.
    Download(Result<DownloadTemplate, DownloadUrlError>),
}

impl BinarySource {
    /// A local file when `binary_path` is set, else a download over `https://` or `file://`
    /// from `download_url` (the k0s releases when null); no checksum.
    pub fn new(binary_path: Option<&str>, download_url: Option<&str>) -> BinarySource {
        BinarySource::configured(binary_path, download_url, false, None)
    }

    /// [`new`](BinarySource::new), also allowing plain `http://` when `allow_http`, and
    /// requiring `sha256`.
    pub fn configured(
        binary_path: Option<&str>,
        download_url: Option<&str>,
        allow_http: bool,
        sha256: Option<&str>,
    ) -> BinarySource {
        let origin = match binary_path {
            Some(p) => BinaryOrigin::Upload(PathBuf::from(p)),
            None => BinaryOrigin::Download(DownloadTemplate::parse(
                download_url.unwrap_or(mke_k0s::DEFAULT_DOWNLOAD_URL),
                allow_http,
            )),
        };
        BinarySource {
            origin,
            sha256: sha256.map(|s| s.trim().to_ascii_lowercase()),
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
    let expected = source.sha256.as_deref();
    // Only a binary of the wanted version can be the right file, so the host
    // checksums its binary (hundreds of MB for real k0s) only then.
    let same_version = facts.binary_version.as_deref() == Some(version);
    let mut staged = Staged::default();
    match &source.origin {
        BinaryOrigin::Upload(path) => {
            let sum = local_sha256(path).await?;
            if let Some(expected) = expected.filter(|e| *e != sum) {
                return Err(OpError::host(
                    host.name(),
                    format!(
                        "the local k0s binary {} has sha256 {sum}, but k0s_sha256 is {expected}; \
                         nothing was uploaded",
                        path.display()
                    ),
                    "Point `k0s_binary_path` at the binary you mean to install, or set \
                     `k0s_sha256` to its checksum (`sha256sum <file>`).",
                ));
            }
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
        BinaryOrigin::Download(template) => {
            let template = template.as_ref().map_err(|e| {
                OpError::host(
                    host.name(),
                    format!("the k0s download URL is refused: {e}"),
                    "Fix `k0s_download_url`, or set `k0s_binary_path` to upload a local binary.",
                )
            })?;
            let installed_ok = match (same_version, expected) {
                (false, _) => false,
                (true, None) => true,
                (true, Some(expected)) => remote_sha256(host).await? == expected,
            };
            if installed_ok {
                staged.skipped = true;
            } else {
                let arch = mke_k0s::download_arch(&facts.arch).ok_or_else(|| {
                    OpError::host(
                        host.name(),
                        format!("k0s has no release for the architecture {:?}", facts.arch),
                        "k0s runs on x86_64, aarch64 and armv7l.",
                    )
                })?;
                let url = template.render(version, arch);
                unless_cancelled(cancel, host.name(), "downloading k0s", async {
                    Ok(download(host, &url, expected, timeout).await)
                })
                .await?
                .map_err(|failure| failure.into_error(host.name(), &url, version, arch))?;
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

/// What the download script prints on stdout before comparing checksums.
const SHA256_LINE: &str = "sha256 ";

enum DownloadFailure {
    Ssh(mke_ssh::SshError),
    /// The tool (or `cp`) failed; its stderr, not yet redacted.
    Fetch {
        status: i32,
        stderr: String,
    },
    /// The file arrived with another checksum and was thrown away.
    Checksum {
        expected: String,
        found: String,
    },
}

impl DownloadFailure {
    fn into_error(self, host: &str, url: &DownloadUrl, version: &str, arch: &str) -> OpError {
        match self {
            DownloadFailure::Ssh(e) => e.into(),
            DownloadFailure::Fetch { status, stderr } => {
                let lines: Vec<&str> = stderr.trim().lines().collect();
                let tail = lines[lines.len().saturating_sub(5)..].join("\n");
                let why = if tail.is_empty() {
                    format!("with exit status {status}")
                } else {
                    format!("with exit status {status}: {}", url.redact_in(&tail))
                };
                OpError::host(
                    host,
                    format!("downloading k0s from {url} failed {why}"),
                    "Check that the host can reach that URL, or set `k0s_binary_path` to upload \
                     a local binary (air-gapped hosts).",
                )
            }
            DownloadFailure::Checksum { expected, found } => OpError::host(
                host,
                format!(
                    "the k0s binary downloaded from {url} has sha256 {found}, but k0s_sha256 is \
                     {expected}; it was discarded and {} was left as it was",
                    mke_k0s::K0S_BINARY_PATH
                ),
                format!(
                    "Set `k0s_sha256` to the checksum of k0s {version} for {arch} (the release \
                     publishes it next to the binary), or check what the URL serves."
                ),
            ),
        }
    }
}

/// Fetches `url` on the host into a temporary file next to the binary, checks its sha256
/// against `expected`, and only then moves it into place.
async fn download(
    host: &Host,
    url: &DownloadUrl,
    expected: Option<&str>,
    timeout: Duration,
) -> Result<(), DownloadFailure> {
    let mut cmd = Command::new(download_script(url, expected))
        .timeout(timeout)
        .display(format!("download k0s from {url}"));
    if url.scheme() != UrlScheme::File {
        cmd = cmd.stdin(format!("{}\n", url.expose()));
    }
    let out = host.run(&cmd).await.map_err(DownloadFailure::Ssh)?;
    if out.status == 0 {
        return Ok(());
    }
    let found = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix(SHA256_LINE))
        .map(str::trim);
    match (expected, found) {
        (Some(expected), Some(found)) if found != expected => Err(DownloadFailure::Checksum {
            expected: expected.to_string(),
            found: found.to_string(),
        }),
        _ => Err(DownloadFailure::Fetch {
            status: out.status,
            stderr: out.stderr,
        }),
    }
}

/// The script that downloads `url`. For `http(s)://` it reads the URL from its stdin into a
/// shell variable and hands it to curl as a config file (`-K -`) or to wget as a list of URLs
/// (`-i -`) through the shell's own `printf`, so the URL is on no command line; curl is also
/// told not to follow a redirect to another scheme. A `file://` URL carries no credentials
/// (the template check refuses them) and is copied with `cp`.
fn download_script(url: &DownloadUrl, expected: Option<&str>) -> String {
    let target = mke_k0s::K0S_BINARY_PATH;
    let fetch = match url.file_path() {
        Some(path) => format!("cp -- {} \"$tmp\"", shell_quote(&path)),
        None => {
            let protocols = match url.scheme() {
                UrlScheme::Http => "=http,https",
                _ => "=https",
            };
            format!(
                "IFS= read -r url; \
                 if command -v curl >/dev/null 2>&1; then \
                 printf 'url = \"%s\"\\n' \"$url\" | curl -fsSL --retry 3 --proto {protocols} \
                 --proto-redir {protocols} -K - -o \"$tmp\"; \
                 elif command -v wget >/dev/null 2>&1; then \
                 printf '%s\\n' \"$url\" | wget -nv -O \"$tmp\" -i -; \
                 else echo 'neither curl nor wget is installed' >&2; exit 127; fi"
            )
        }
    };
    let check = match expected {
        Some(expected) => format!(
            "sum=$(sha256sum \"$tmp\" | cut -d' ' -f1); echo \"{SHA256_LINE}$sum\"; \
             [ \"$sum\" = {} ]; ",
            shell_quote(expected)
        ),
        None => String::new(),
    };
    format!(
        "set -e; tmp=$(mktemp {target}.XXXXXX); trap 'rm -f \"$tmp\"' EXIT; {fetch}; {check}\
         chmod 755 \"$tmp\"; mv -f \"$tmp\" {target}; trap - EXIT"
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    const SUM: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn url(template: &str) -> DownloadUrl {
        DownloadTemplate::parse(template, true)
            .unwrap()
            .render("v1.29.3+k0s.0", "amd64")
    }

    #[test]
    fn a_url_with_credentials_is_on_no_command_line() {
        let url = url("https://deploy:pa55word@mirror.example/k0s-{version}?token=t0ken");
        let script = download_script(&url, Some(SUM));
        for secret in ["deploy", "pa55word", "t0ken", "mirror.example"] {
            assert!(!script.contains(secret), "{secret} in {script}");
        }
        assert!(script.contains("curl -fsSL --retry 3 --proto =https --proto-redir =https -K -"));
        assert!(script.contains("wget -nv -O \"$tmp\" -i -"));
        // The checksum is compared before the binary is moved into place.
        let check = script.find(&format!("[ \"$sum\" = {SUM} ]")).unwrap();
        assert!(check < script.find("mv -f").unwrap(), "{script}");
    }

    #[test]
    fn plain_http_is_allowed_to_curl_only_when_opted_in() {
        let script = download_script(&url("http://mirror.internal/k0s"), None);
        assert!(script.contains("--proto =http,https --proto-redir =http,https"));
        assert!(!script.contains("sha256sum"), "{script}");
    }

    #[test]
    fn a_file_url_is_copied_from_its_decoded_path() {
        let script = download_script(&url("file:///opt/k0s%20bin/k0s-{version}"), None);
        assert!(
            script.contains("cp -- '/opt/k0s bin/k0s-v1.29.3+k0s.0' \"$tmp\""),
            "{script}"
        );
        assert!(!script.contains("curl"), "{script}");
    }

    #[test]
    fn the_source_keeps_a_refused_template_for_apply_and_never_shows_credentials() {
        let source = BinarySource::configured(
            None,
            Some("http://u:secret@mirror.internal/k0s"),
            false,
            Some(&SUM.to_ascii_uppercase()),
        );
        assert_eq!(source.sha256.as_deref(), Some(SUM));
        assert!(matches!(
            source.origin,
            BinaryOrigin::Download(Err(DownloadUrlError::PlainHttp))
        ));
        let allowed = BinarySource::configured(
            None,
            Some("http://u:secret@mirror.internal/k0s"),
            true,
            None,
        );
        let shown = format!("{allowed:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(matches!(
            BinarySource::new(None, None).origin,
            BinaryOrigin::Download(Ok(t)) if t.scheme() == UrlScheme::Https
        ));
    }
}
